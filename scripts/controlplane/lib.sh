# SPDX-License-Identifier: Apache-2.0
# Shared by the controlplane scripts (sourced, not run).
cp_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The Kubernetes release is whatever tools/controlplane/go.mod requires.
cp_k8s_version() {
	sed -n 's/^[[:space:]]*k8s.io\/kubernetes v\([0-9.]*\).*$/\1/p' "$cp_root/tools/controlplane/go.mod"
}

# etcd's release is whatever tools/controlplane/etcd/go.mod requires.
cp_etcd_version() {
	sed -n 's/^[[:space:]]*go.etcd.io\/etcd\/server\/v3 v\([0-9.]*\).*$/\1/p' "$cp_root/tools/controlplane/etcd/go.mod"
}

# Keyed by both versions: changing either pin builds afresh, next to the old folder.
cp_bin_dir() {
	echo "${KERF_CP_CACHE:-$cp_root/.cache/controlplane}/k8s-$(cp_k8s_version)-etcd-$(cp_etcd_version)"
}

# A Go new enough for the pinned release: $GO, then PATH, then the usual install folder.
cp_find_go() {
	local g
	for g in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
		[ -n "$g" ] && [ -x "$g" ] && { echo "$g"; return 0; }
	done
	echo "controlplane: no Go toolchain found (set GO=/path/to/go; the pinned release needs go $(sed -n 's/^go //p' "$cp_root/tools/controlplane/go.mod"))" >&2
	return 1
}

# etcd: $KERF_CP_ETCD overrides the one build.sh built.
cp_find_etcd() {
	local e=${KERF_CP_ETCD:-$(cp_bin_dir)/etcd}
	[ -x "$e" ] && { echo "$e"; return 0; }
	echo "controlplane: no etcd at $e (run scripts/controlplane/build.sh, or set KERF_CP_ETCD)" >&2
	return 1
}

# A TCP port nobody listens on, below the kernel's ephemeral range so outgoing connections cannot take it
# between now and the bind. Arguments are ports already handed out in this run.
cp_free_port() {
	local p taken i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		taken=0
		for q in "$@"; do [ "$q" = "$p" ] && taken=1; done
		[ $taken = 0 ] && [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
	echo "controlplane: no free port found" >&2
	return 1
}

cp_cert() { # name subject ext-file-or-empty: key + certificate signed by the test CA
	local d=$1 name=$2 subj=$3 ext=${4:-}
	openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
	if [ -n "$ext" ]; then
		openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
			-extfile "$ext" -out "$d/$name.crt" 2>/dev/null
	else
		openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
			-out "$d/$name.crt" 2>/dev/null
	fi
	rm -f "$d/$name.csr"
}

cp_make_pki() {
	local d=$1
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$d/ca.key" -days 30 -subj "/CN=kerf-test-ca" \
		-out "$d/ca.crt" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
		> "$d/server.ext"
	printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
	cp_cert "$d" apiserver "/CN=kube-apiserver" "$d/server.ext"
	cp_cert "$d" admin "/O=system:masters/CN=kerf-admin" "$d/client.ext"
	cp_cert "$d" scheduler "/CN=system:kube-scheduler" "$d/client.ext"
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

cp_write_kubeconfig() { # file server ca-file user-lines user-name
	cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kerf-test
  cluster:
    server: $2
    certificate-authority: $3
users:
- name: $5
  user:
    $4
contexts:
- name: kerf-test
  context:
    cluster: kerf-test
    user: $5
current-context: kerf-test
KC
}

# Launches a daemon detached from the caller's terminal and pipes (CTest waits for a test's pipes to close),
# recording "pid binary" so that cp_stop can check the pid still belongs to it.
# Starts binary in the background, recording its pid. Returns once the pid runs binary (or is gone): until the
# forked shell has exec'd setsid and setsid the binary, cp_alive would take the process for a dead one, which
# a loaded machine made a spurious "exited" at start.
cp_launch() {
	local d=$1 name=$2 binary=$3 pid i
	shift 3
	setsid "$binary" "$@" >>"$d/logs/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid $binary" > "$d/pids/$name.pid"
	for i in $(seq 1 100); do
		cp_alive "$d" "$name" || [ ! -d "/proc/$pid" ] && return 0
		sleep 0.05
	done
}

cp_alive() { # dir name: is the recorded process still ours and running
	local pid binary
	[ -f "$1/pids/$2.pid" ] || return 1
	read -r pid binary < "$1/pids/$2.pid"
	[ -r "/proc/$pid/cmdline" ] && tr '\0' '\n' < "/proc/$pid/cmdline" | head -n 1 | grep -qxF "$binary"
}

cp_stop() { # dir name signal
	local d=$1 name=$2 sig=$3 pid binary i
	cp_alive "$d" "$name" || { rm -f "$d/pids/$name.pid"; return 0; }
	read -r pid binary < "$d/pids/$name.pid"
	kill "-$sig" "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		cp_alive "$d" "$name" || break
		sleep 0.1
	done
	cp_alive "$d" "$name" && kill -KILL "$pid" 2>/dev/null
	for i in $(seq 1 50); do cp_alive "$d" "$name" || break; sleep 0.1; done
	rm -f "$d/pids/$name.pid"
}

cp_wait_http() { # dir name url seconds [insecure]
	local d=$1 name=$2 url=$3 secs=$4 tls i
	if [ "${5:-}" = insecure ]; then tls=(-k); else tls=(--cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" --key "$d/pki/admin.key"); fi
	for i in $(seq 1 $((secs * 4))); do
		curl -sf -o /dev/null --max-time 2 "${tls[@]}" "$url" && return 0
		if ! cp_alive "$d" "$name"; then
			echo "controlplane: $name exited; last lines of $d/logs/$name.log:" >&2
			tail -n 20 "$d/logs/$name.log" >&2
			return 1
		fi
		sleep 0.25
	done
	echo "controlplane: $name not healthy at $url after ${secs}s; see $d/logs/$name.log" >&2
	return 1
}

cp_admin_apply() { # dir path content-type body: create with the admin client certificate (idempotent)
	local d=$1 out code
	out=$(mktemp)
	code=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" \
		--key "$d/pki/admin.key" -X POST -H "Content-Type: $3" --data-binary "$4" \
		"https://127.0.0.1:$KERF_CP_API_PORT$2" || true)
	case $code in
	201 | 409) rm -f "$out" ;;
	*) echo "controlplane: POST $2 answered $code: $(cat "$out")" >&2; rm -f "$out"; return 1 ;;
	esac
}

cp_wait_crds_established() { # as many CRDs report Established=True as the chart's crds/ holds
	local d=$1 i total est list
	for i in $(seq 1 120); do
		list=$(curl -sf --max-time 5 --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" \
			"https://127.0.0.1:$KERF_CP_API_PORT/apis/apiextensions.k8s.io/v1/customresourcedefinitions" |
			tr -d ' \n' || true)
		total=$(find "$cp_root/deploy/helm/kerf/crds" -name '*.yaml' 2>/dev/null | wc -l)
		est=$(printf '%s' "$list" | { grep -o '"type":"Established","status":"True"' || true; } | wc -l)
		[ -n "$list" ] && [ "$total" = "$est" ] && return 0
		sleep 0.25
	done
	echo "controlplane: CRDs not established" >&2
	return 1
}
