#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real Kubernetes cluster on this one machine, for trying kerf and for its end-to-end tests: etcd,
# kube-apiserver, kube-scheduler and kube-controller-manager (scripts/controlplane), and one real kubelet per
# node, each node with its own simulated GPUs (tests/fakenvml: a libnvidia-ml.so.1 with the real MIG rules).
# Every Kubernetes binary is built from the pin in tools/controlplane/go.mod and cached in .cache/.
#
# The container runtime is Debian's containerd (with runc), one per node, and kerf is installed by its Helm chart
# from the image scripts/build-image.sh makes of the Dockerfile (imported into every node's containerd). Where
# containerd, runc or buildah is missing, or with `--runtime fake`, it is Kubernetes' own fake CRI instead
# (tools/controlplane/fakecri): the kubelet, its device manager, kerf's device plugin, Allocate, pod-resources
# and scheduling are all real, but containers run no process, and kerf runs as processes beside each kubelet
# (one `kerf agent` per node, two `kerf controller` replicas, each with its own service account from deploy/),
# which is how the sanitized suite runs it. Either way a started container's MIG devices get a "process" in the
# simulated NVML library, as a CUDA program would show (with containerd through scripts/cluster-gpu-hook.sh).
#
# The host is left as it was: each kubelet runs in its own mount namespace (unshare -m), where its node's
# folders are bound over /var/lib/kubelet, /var/log/pods and /var/log/containers, and regular files over the
# /proc/sys entries it would write; everything listens on 127.0.0.1; pods use hostNetwork (no CNI, no
# kube-proxy, no Service traffic). `down` stops only the processes whose pid files `up` wrote.
#
# Usage: scripts/cluster.sh COMMAND [ARGS]   (state in $KERF_CLUSTER_DIR, default /tmp/kerf-cluster)
#   up [--nodes SPEC] [--no-kerf] [--runtime containerd|fake] [--status-every DURATION]
#                          start everything; the last line printed is the admin kubeconfig's path
#   down                   stop everything and remove the state folder
#   kubectl ARGS...        kubectl (same pin) with the admin kubeconfig
#   env                    the shell-sourceable environment of the running cluster
#   pid NAMESPACE POD      the host PID of the pod's running container (containerd)
#   stop|start agent NODE | kubelet NODE | controller N     one component (for tests and experiments)
#   stop kerf                                               every kerf agent and controller
#   kill agent NODE | controller N                          SIGKILL it
#
# SPEC: nodes separated by spaces, each NAME=GPU[/GPU...], each GPU MODEL[:LAYOUT] with MODEL as `kerf models`
# names it and LAYOUT as `kerf apply --layout` takes it. The default is the README's example and three more
# models:
#   h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6 a100=A100-40GB a30=A30-24GB h200=H200-141GB-SXM
# Binaries: $KERF_BIN, $FAKENVML_LIB, $FAKENVML_CTL (default: the plain build in build/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/controlplane/lib.sh"
root=$cp_root
D=${KERF_CLUSTER_DIR:-/tmp/kerf-cluster}
default_nodes="h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6 a100=A100-40GB a30=A30-24GB h200=H200-141GB-SXM"
KERF_BIN=${KERF_BIN:-$root/build/src/cli/kerf}
FAKENVML_LIB=${FAKENVML_LIB:-$root/build/tests/fakenvml/libnvidia-ml.so.1}
FAKENVML_CTL=${FAKENVML_CTL:-$root/build/tests/fakenvml/fakenvml-ctl}
# Host folders the kubelet insists on; each is a mount point inside a kubelet's namespace only.
host_mountpoints=(/var/lib/kubelet /var/log/pods /var/log/containers)
# /proc/sys entries the kubelet's container manager checks and would write, with the values it wants.
sysctls="kernel/panic=10 kernel/panic_on_oops=1 vm/overcommit_memory=1 vm/panic_on_oom=0
kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000"

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

usage() { sed -n '/^# Usage:/,/^# Binaries:/p' "$0" | sed 's/^# \{0,1\}//'; }

load_env() {
	[ -f "$D/env" ] || die "no cluster at $D (run: scripts/cluster.sh up)"
	# shellcheck disable=SC1091
	. "$D/env"
	RUNTIME=${KERF_CLUSTER_RUNTIME:-fake}
}

kc() { "$KERF_CP_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" "$@"; }

# ---- nodes ----

node_names() { cat "$D/nodes.list"; }

node_setup() { # NAME GPUS: the node's folders, simulated GPUs, certificates and kubelet configuration
	local name=$1 gpus=$2 nd=$D/nodes/$1 models=() layouts=() g i port hport
	mkdir -p "$nd"/{kubelet,pods-logs,containers-logs,sys,sim/kerf-state,logs}
	IFS=/ read -r -a g <<<"$gpus"
	for i in "${!g[@]}"; do
		models+=("${g[$i]%%:*}")
		if [[ ${g[$i]} == *:* ]]; then layouts+=("${g[$i]#*:}"); else layouts+=(""); fi
	done
	"$FAKENVML_CTL" --state "$nd/sim/fakenvml.state" init "${models[@]}" ||
		die "node $name: cannot simulate GPUs \"$gpus\" (models as \`kerf models\` names them)"
	for i in "${!layouts[@]}"; do
		[ -n "${layouts[$i]}" ] || continue
		"$FAKENVML_CTL" --state "$nd/sim/fakenvml.state" create "$i" "${layouts[$i]}" ||
			die "node $name GPU $i: layout \"${layouts[$i]}\" refused"
	done
	local kv
	for kv in $sysctls; do printf '%s\n' "${kv#*=}" >"$nd/sys/$(echo "${kv%%=*}" | tr / _)"; done

	printf 'extendedKeyUsage=clientAuth\n' >"$nd/client.ext"
	cp_cert "$D/cp/pki" "node-$name" "/O=system:nodes/CN=system:node:$name" "$nd/client.ext"
	cp_write_kubeconfig "$nd/kubelet.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" \
		"client-certificate: $D/cp/pki/node-$name.crt
    client-key: $D/cp/pki/node-$name.key" "system:node:$name"
	port=$(cp_free_port) hport=$(cp_free_port "$port")
	cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 machines, no cgroup of the kubelet's own making, nothing bound beyond loopback
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
address: 127.0.0.1
port: $port
healthzBindAddress: 127.0.0.1
healthzPort: $hport
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $D/cp/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$nd/cri.sock
imageServiceEndpoint: unix://$nd/cri.sock
evictionHard: {memory.available: 1Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
nodeStatusUpdateFrequency: ${STATUS_EVERY:-10s}
resolvConf: ""
EOF
	echo "$port $hport" >"$nd/ports"
}

# The node's container runtime. It outlives kubelet restarts, as containerd does, so running containers do too.
fakecri_start() { # NAME
	local name=$1 nd=$D/nodes/$1
	"$KERF_CP_BIN/fakecri" --listen "$nd/cri.sock" --events "$nd/containers.jsonl" \
		--fakenvml-ctl "$FAKENVML_CTL" --fakenvml-state "$nd/sim/fakenvml.state" --image-fs / \
		>>"$nd/logs/fakecri.log" 2>&1 </dev/null &
	echo "$! $KERF_CP_BIN/fakecri" >"$D/pids/fakecri-$name.pid"
	for _ in $(seq 1 100); do [ -S "$nd/cri.sock" ] && break; sleep 0.1; done
	[ -S "$nd/cri.sock" ] || die "node $name: fakecri did not start (see $nd/logs/fakecri.log)"
}

# ---- containerd (the default runtime where Debian's containerd and runc are installed) ----

# Its configuration: every path under the node's folder (root, state, sockets), overlayfs, no plugin that
# writes outside it (opt would make /opt/containerd), restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE),
# the workload image as the sandbox image (no registry), a loopback-only CNI configuration (pods use
# hostNetwork; the CRI plugin reports the network ready only when one exists), and a base OCI spec whose hooks
# play the NVIDIA container toolkit's part for the simulated GPUs: scripts/cluster-gpu-hook.sh gives a started
# container's MIG devices its process, and takes them back when it ends.
containerd_setup() { # NAME
	local name=$1 nd=$D/nodes/$1 hook hooks
	mkdir -p "$nd"/{containerd,run-containerd,cni/conf,cni/bin}
	cp "$FAKENVML_LIB" "$nd/sim/libnvidia-ml.so.1"
	echo '{"cniVersion": "0.4.0", "name": "kerf-hostnetwork", "plugins": [{"type": "loopback"}]}' \
		>"$nd/cni/conf/10-kerf-loopback.conflist"
	hook='{"path": "'$here/cluster-gpu-hook.sh'", "args": ["cluster-gpu-hook", "%s"], "env": ["FAKENVML_CTL='$FAKENVML_CTL'", "FAKENVML_STATE='$nd/sim/fakenvml.state'", "HOOK_LOG='$nd/logs/gpu-hook.log'"]}'
	# shellcheck disable=SC2059
	hooks="\"hooks\": {\"poststart\": [$(printf "$hook" start)], \"poststop\": [$(printf "$hook" stop)]},"
	# ctr's default spec, less its cgroupsPath (the CRI plugin sets one per container), plus the hooks.
	ctr oci spec | sed '/"cgroupsPath"/d' | awk -v h="    $hooks" 'NR == 1 { print; print h; next } { print }' \
		>"$nd/containerd/base-spec.json"
	cat >"$nd/containerd/config.toml" <<EOF
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$nd/cri.sock"
[ttrpc]
  address = "$nd/cri.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "kerf.local/workload:test"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      base_runtime_spec = "$nd/containerd/base-spec.json"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$nd/cni/bin"
    conf_dir = "$nd/cni/conf"
EOF
}

# containerd in a mount namespace of its own that holds the node's mounts; the kubelet joins it. It outlives
# kubelet restarts, so running containers do too.
containerd_start() { # NAME
	local name=$1 nd=$D/nodes/$1
	setsid unshare -m --propagation private /bin/sh -c "$(node_mounts "$name") exec containerd --config $nd/containerd/config.toml" \
		>>"$nd/logs/containerd.log" 2>&1 </dev/null &
	echo "$! containerd" >"$D/pids/containerd-$name.pid"
	for _ in $(seq 1 100); do [ -S "$nd/cri.sock" ] && break; sleep 0.1; done
	[ -S "$nd/cri.sock" ] || { tail -n 20 "$nd/logs/containerd.log" >&2; die "node $name: containerd did not start"; }
}

nctr() { # NAME ARGS...: ctr on that node's containerd, in the CRI plugin's namespace
	local name=$1
	shift
	ctr --address "$D/nodes/$name/cri.sock" --namespace k8s.io "$@"
}

containerd_import() { # NAME ARCHIVE...
	local name=$1 a
	shift
	for a in "$@"; do
		nctr "$name" images import "$a" >>"$D/nodes/$name/logs/import.log" 2>&1 ||
			{ tail -n 5 "$D/nodes/$name/logs/import.log" >&2; die "node $name: ctr images import $a failed"; }
	done
}

# Every container of the node killed and deleted (runc removes their cgroups then), containerd stopped, and
# any shim it left killed.
containerd_stop() { # NAME
	local name=$1 nd=$D/nodes/$1 id p
	if cp_alive "$D" "containerd-$name"; then
		for id in $(nctr "$name" tasks ls -q 2>/dev/null); do
			nctr "$name" tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
		done
		for id in $(nctr "$name" tasks ls -q 2>/dev/null); do
			nctr "$name" tasks delete --force "$id" >/dev/null 2>&1 || true
		done
	fi
	cp_stop "$D" "containerd-$name" TERM
	for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io .*-address $nd/cri.sock" || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# The node's bind mounts, as shell commands each ending in "&&": its folders over the paths the kubelet and
# containerd hard-code, regular files over the /proc/sys entries the kubelet writes, and with containerd its
# runtime folder and the node's simulated-GPU folder at /run/kerf-sim, where the agent pod finds them.
node_mounts() { # NAME
	local nd=$D/nodes/$1 kv f m
	m="mount --bind $nd/kubelet /var/lib/kubelet && mount --bind $nd/pods-logs /var/log/pods &&"
	m="$m mount --bind $nd/containers-logs /var/log/containers &&"
	for kv in $sysctls; do
		f=${kv%%=*}
		m="$m mount --bind $nd/sys/$(echo "$f" | tr / _) /proc/sys/$f &&"
	done
	[ "$RUNTIME" = containerd ] &&
		m="$m mount --bind $nd/run-containerd /run/containerd && mount --bind $nd/sim /run/kerf-sim &&"
	echo "$m"
}

kubelet_start() { # NAME
	local name=$1 nd=$D/nodes/$1 enter mounts=""
	# With the fake CRI, unshare execs sh, which execs the kubelet: the pid recorded is the kubelet's, and its
	# mounts live and die with it. With containerd, the kubelet joins containerd's namespace (nsenter execs it
	# too): both must see the same mounts, the kubelet's tmpfs volumes included. The node name is the kubelet's
	# hostname-override; its labels opt it in to kerf.
	if [ "$RUNTIME" = containerd ]; then
		enter="nsenter -t $(cut -d' ' -f1 "$D/pids/containerd-$name.pid") -m"
	else
		enter="unshare -m --propagation private"
		mounts=$(node_mounts "$name")
	fi
	setsid $enter /bin/sh -c "$mounts exec $KERF_CP_BIN/kubelet --config $nd/kubelet.yaml \
		--kubeconfig $nd/kubelet.kubeconfig --root-dir /var/lib/kubelet --hostname-override $name \
		--node-labels kerf.dev/mig=true --v 1" >>"$nd/logs/kubelet.log" 2>&1 </dev/null &
	echo "$! $KERF_CP_BIN/kubelet" >"$D/pids/kubelet-$name.pid"
}

kubelet_wait() { # NAME: healthy, and its Node Ready without the not-ready taint
	local name=$1 hport i
	hport=$(cut -d' ' -f2 "$D/nodes/$name/ports")
	for i in $(seq 1 240); do
		curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$hport/healthz" && break
		cp_alive "$D" "kubelet-$name" || [ "$i" -lt 10 ] ||
			{ tail -n 20 "$D/nodes/$name/logs/kubelet.log" >&2; die "node $name: the kubelet exited"; }
		sleep 0.25
	done
	for i in $(seq 1 240); do kc get node "$name" >/dev/null 2>&1 && break; sleep 0.25; done
	kc wait --for=condition=Ready "node/$name" --timeout=120s >/dev/null ||
		die "node $name: not Ready (see $D/nodes/$name/logs/kubelet.log)"
	for i in $(seq 1 240); do
		kc get node "$name" -o jsonpath='{.spec.taints[*].key}' | grep -q not-ready || return 0
		sleep 0.25
	done
	die "node $name: the not-ready taint stayed (is kube-controller-manager running? $D/cp/logs/controller-manager.log)"
}

# ---- kube-controller-manager ----

kcm_start() {
	printf 'extendedKeyUsage=clientAuth\n' >"$D/cp/pki/kcm.ext"
	cp_cert "$D/cp/pki" kcm "/CN=system:kube-controller-manager" "$D/cp/pki/kcm.ext"
	cp_write_kubeconfig "$D/cp/kcm.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" \
		"client-certificate: $D/cp/pki/kcm.crt
    client-key: $D/cp/pki/kcm.key" system:kube-controller-manager
	local port
	port=$(cp_free_port "$KERF_CP_API_PORT" "$KERF_CP_SCHED_PORT")
	cp_launch "$D/cp" controller-manager "$KERF_CP_BIN/kube-controller-manager" \
		--kubeconfig "$D/cp/kcm.kubeconfig" --authentication-kubeconfig "$D/cp/kcm.kubeconfig" \
		--authorization-kubeconfig "$D/cp/kcm.kubeconfig" --bind-address 127.0.0.1 --secure-port "$port" \
		--leader-elect=false --use-service-account-credentials=true \
		--service-account-private-key-file "$D/cp/pki/sa.key" --root-ca-file "$D/cp/pki/ca.crt" --v 1
	cp_wait_http "$D/cp" controller-manager "https://127.0.0.1:$port/healthz" 120 insecure
}

# ---- kerf, as processes beside the kubelets ----

kerf_login() { # ACCOUNT: a kubeconfig with a day-long TokenRequest token for kerf-system/ACCOUNT
	local token
	token=$(kc create token -n kerf-system "$1" --duration=24h)
	cp_write_kubeconfig "$D/$1.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" "token: $token" "$1"
}

# deploy/kerf.yaml (rendered from the Helm chart) without its DaemonSet and Deployment: the namespace, service
# accounts and RBAC the daemons run with here. The CRD is the control plane's already.
kerf_install() {
	awk '/^---/ { if (keep) printf "%s", doc; doc = ""; keep = 1 } /^kind: (DaemonSet|Deployment)$/ { keep = 0 }
		{ doc = doc $0 "\n" } END { if (keep) printf "%s", doc }' "$root/deploy/kerf.yaml" | kc apply -f - >/dev/null
	kerf_login kerf-agent
	kerf_login kerf-controller
}

agent_start() { # NODE
	local nd=$D/nodes/$1
	KERF_FAKENVML_STATE=$nd/sim/fakenvml.state cp_launch "$D" "agent-$1" "$KERF_BIN" agent --node "$1" \
		--kubeconfig "$D/kerf-agent.kubeconfig" --nvml-library "$FAKENVML_LIB" --state-dir "$nd/sim/kerf-state" \
		--plugin-dir "$nd/kubelet/device-plugins" --pod-resources "$nd/kubelet/pod-resources/kubelet.sock" \
		--interval 1000 --listen ''
}

controller_start() { # N
	POD_NAME=kerf-controller-$1 POD_NAMESPACE=kerf-system cp_launch "$D" "controller-$1" "$KERF_BIN" controller \
		--kubeconfig "$D/kerf-controller.kubeconfig" --listen ''
}

agent_wait() { # NODE: its MIG devices are on the Node's allocatable (or it has none to offer)
	local i
	for i in $(seq 1 240); do
		kc get node "$1" -o jsonpath='{.status.allocatable}' | grep -q 'nvidia.com/mig-' && return 0
		kc get miglayout "$1" -o jsonpath='{.status.observedGeneration}' >/dev/null 2>&1 &&
			! "$FAKENVML_CTL" --state "$D/nodes/$1/sim/fakenvml.state" show | grep -q ' ci ' && return 0
		[ "$RUNTIME" = containerd ] || cp_alive "$D" "agent-$1" ||
			{ tail -n 20 "$D/logs/agent-$1.log" >&2; die "node $1: kerf agent exited"; }
		sleep 0.25
	done
	die "node $1: no MIG device reached the Node's allocatable (see $D/logs/agent-$1.log)"
}

# ---- kerf, installed by its Helm chart (containerd) ----

# The checkout's chart and image: the image as scripts/build-image.sh made it from the Dockerfile (imported into
# every node's containerd, so pullPolicy Never), the API server at its loopback address, host networking, and
# each node's simulated GPUs at /run/kerf-sim (bound there in the node's namespace) in place of the driver's
# libnvidia-ml.so.1.
helm_install() {
	"$here/helm.sh" install kerf "$root/deploy/helm/kerf" --kubeconfig "$D/admin.kubeconfig" \
		--namespace kerf-system --create-namespace --set image.pullPolicy=Never \
		--set apiServer="127.0.0.1:$KERF_CP_API_PORT" --set hostNetwork=true --set agent.interval=1000 \
		--set agent.listen= --set controller.listen= \
		--set agent.stateDir=/run/kerf-sim/kerf-state --set agent.nvmlLibrary=/run/kerf-sim/libnvidia-ml.so.1 \
		--set 'agent.extraHostPaths[0].name=kerf-sim' --set 'agent.extraHostPaths[0].path=/run/kerf-sim' \
		--set 'agent.extraEnv[0].name=KERF_FAKENVML_STATE' \
		--set 'agent.extraEnv[0].value=/run/kerf-sim/fakenvml.state' \
		--wait --timeout 180s >"$D/logs/helm.log" 2>&1 ||
		{ tail -n 20 "$D/logs/helm.log" >&2; die "helm install kerf failed (see $D/logs/helm.log)"; }
}

# The host PID of a pod's running container (containerd), for tests that kill or freeze a process in a pod.
container_pid() { # NAMESPACE POD: the host PID of the pod's first container
	local node id
	node=$(kc get pod -n "$1" "$2" -o jsonpath='{.spec.nodeName}')
	id=$(kc get pod -n "$1" "$2" -o jsonpath='{.status.containerStatuses[0].containerID}')
	[ -n "$node" ] && [ -n "$id" ] || return 1
	nctr "$node" tasks ls | awk -v id="${id#containerd://}" '$1 == id && $3 == "RUNNING" { print $2 }'
}

# ---- the host folders clusters share ----

# The mount points (host_mountpoints) must exist on the host, and runc makes a k8s.io/ folder in every cgroup
# hierarchy (each container's cgroup goes under it and is removed with the container). Whichever cluster makes
# one records it in $host_registry/made; each cluster up is a file in $host_registry/users; the last one down
# removes what was made. Removing a mount point while another cluster's namespace uses it would detach that
# cluster's mounts, hence the count. Under a lock file that is never removed, so two callers never hold two locks.
host_registry=/tmp/kerf-cluster-host
host_lock=/tmp/kerf-cluster-host.lock

host_user() { echo "$host_registry/users/$(echo "$D" | md5sum | cut -c1-16)"; }

host_take() {
	local f
	exec 8>>"$host_lock"
	flock 8
	mkdir -p "$host_registry/users"
	echo "$D" >"$(host_user)"
	for f in "${host_mountpoints[@]}"; do
		[ -d "$f" ] || { mkdir -p "$f" && echo "$f" >>"$host_registry/made"; }
	done
	if [ "$RUNTIME" = containerd ]; then
		for f in /sys/fs/cgroup/*/; do
			[ -d "${f}k8s.io" ] || grep -qxF "${f}k8s.io" "$host_registry/made" 2>/dev/null ||
				echo "${f}k8s.io" >>"$host_registry/made"
		done
	fi
	exec 8>&-
}

host_release() {
	local u p
	[ -d "$host_registry" ] || return 0
	exec 8>>"$host_lock"
	flock 8
	rm -f "$(host_user)"
	for u in "$host_registry"/users/*; do # a cluster whose folder is gone went without `down`
		[ -e "$u" ] && { [ -f "$(cat "$u")/env" ] || rm -f "$u"; }
	done
	if [ -z "$(ls -A "$host_registry/users")" ]; then
		if [ -f "$host_registry/made" ]; then
			tac "$host_registry/made" | while read -r p; do rmdir "$p" 2>/dev/null || true; done
		fi
		rm -rf "$host_registry"
	fi
	exec 8>&-
}

# ---- up / down ----

cmd_up() {
	local spec=$default_nodes kerf=1 n name gpus images=()
	RUNTIME=
	while [ $# -gt 0 ]; do
		case $1 in
		--nodes) spec=${2:?--nodes needs a SPEC}; shift 2 ;;
		--no-kerf) kerf=0; shift ;;
		--runtime) RUNTIME=${2:?--runtime needs containerd or fake}; shift 2 ;;
		--status-every) STATUS_EVERY=${2:?--status-every needs a duration such as 1s}; shift 2 ;;
		-h | --help) usage; exit 0 ;;
		*) die "up: unknown option \"$1\" (see scripts/cluster.sh --help)" ;;
		esac
	done
	[ "$(id -u)" = 0 ] || die "a kubelet needs root (mount namespaces, bind mounts); this user is $(id -un)"
	unshare -m --propagation private true 2>/dev/null || die "this machine does not allow mount namespaces (unshare -m)"
	for f in "$KERF_BIN" "$FAKENVML_LIB" "$FAKENVML_CTL"; do
		[ -e "$f" ] || die "$f is missing: build kerf first (make build), or set KERF_BIN, FAKENVML_LIB, FAKENVML_CTL"
	done
	if [ -z "$RUNTIME" ]; then
		RUNTIME=containerd
		for f in containerd containerd-shim-runc-v2 runc ctr buildah; do
			command -v $f >/dev/null && continue
			say "no $f here (Debian: apt-get install containerd runc buildah): the fake CRI runs the containers"
			RUNTIME=fake
			break
		done
	fi
	case $RUNTIME in
	containerd) host_mountpoints+=(/run/containerd /run/kerf-sim) ;;
	fake) ;;
	*) die "--runtime: \"$RUNTIME\" is not containerd or fake" ;;
	esac
	[ -f "$D/env" ] && { say "a cluster is already up at $D: stopping it first"; cmd_down; }
	mkdir -p "$D"/{logs,pids,nodes}
	bin=$("$here/controlplane/build.sh" cluster | tail -n 1)
	if [ "$RUNTIME" = containerd ]; then
		say "images: kerf.local/workload:test$([ $kerf = 1 ] && echo ' and kerf (scripts/build-image.sh)')"
		images+=("$("$root/tests/cluster/workload/build.sh" | tail -n 1)") || die "the workload image did not build"
		if [ $kerf = 1 ]; then
			images+=("$("$here/build-image.sh" 2>"$D/logs/build-image.log" | tail -n 1)") ||
				{ tail -n 20 "$D/logs/build-image.log" >&2; die "kerf's image did not build"; }
		fi
	fi

	say "control plane"
	KERF_CP_SA_ADMISSION=1 "$here/controlplane/start.sh" "$D/cp" >"$D/logs/controlplane.log" 2>&1 ||
		{ tail -n 20 "$D/logs/controlplane.log" >&2; die "the control plane did not start"; }
	# shellcheck disable=SC1091
	. "$D/cp/env"
	cat >"$D/env" <<EOF
KERF_CLUSTER_DIR=$D
KERF_CP_DIR=$D/cp
KERF_CP_BIN=$bin
KERF_CP_SERVER=$KERF_CP_SERVER
KERF_CP_API_PORT=$KERF_CP_API_PORT
KERF_CP_SCHED_PORT=$KERF_CP_SCHED_PORT
KUBECONFIG=$D/admin.kubeconfig
KERF_BIN=$KERF_BIN
FAKENVML_LIB=$FAKENVML_LIB
FAKENVML_CTL=$FAKENVML_CTL
KERF_CLUSTER_KERF=$kerf
KERF_CLUSTER_RUNTIME=$RUNTIME
EOF
	KERF_CP_BIN=$bin
	cp "$D/cp/admin.kubeconfig" "$D/admin.kubeconfig"
	# The kubelets' client certificates name them system:node:NAME in group system:nodes; the API server
	# authorizes with RBAC alone, so that group gets the kubelet's bootstrap role.
	kc create clusterrolebinding kerf-cluster-nodes --clusterrole=system:node --group=system:nodes >/dev/null
	say "kube-controller-manager"
	kcm_start

	: >"$D/nodes.list"
	host_take
	for n in $spec; do
		name=${n%%=*} gpus=${n#*=}
		[[ $n == *=* && $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] ||
			die "--nodes: \"$n\" is not NAME=MODEL[:LAYOUT][/MODEL[:LAYOUT]...] with a DNS-label NAME"
		echo "$name" >>"$D/nodes.list"
		node_setup "$name" "$gpus"
		if [ "$RUNTIME" = containerd ]; then
			containerd_setup "$name"
			containerd_start "$name"
			containerd_import "$name" "${images[@]}"
		else
			fakecri_start "$name"
		fi
		kubelet_start "$name"
	done
	for name in $(node_names); do
		kubelet_wait "$name"
		say "node $name Ready"
	done
	if [ $kerf = 1 ] && [ "$RUNTIME" = containerd ]; then
		say "kerf: helm install (an agent pod per node, two controller pods)"
		helm_install
		for name in $(node_names); do agent_wait "$name"; done
	elif [ $kerf = 1 ]; then
		say "kerf (agents and two controller replicas, as processes)"
		kerf_install
		for name in $(node_names); do agent_start "$name"; done
		controller_start 0
		controller_start 1
		for name in $(node_names); do agent_wait "$name"; done
	fi
	kc create namespace demo >/dev/null 2>&1 || true
	# Pods are admitted only once kube-controller-manager has made the namespace's service account.
	for _ in $(seq 1 120); do kc get serviceaccount -n demo default >/dev/null 2>&1 && break; sleep 0.25; done
	say "up: $(node_names | wc -l) nodes; scripts/cluster.sh kubectl get nodes,miglayouts; scripts/cluster.sh down"
	echo "$D/admin.kubeconfig"
}

cmd_down() {
	[ -d "$D" ] || return 0
	local p
	stop_kerf
	for p in "$D"/pids/kubelet-*.pid "$D"/pids/fakecri-*.pid; do
		[ -e "$p" ] && cp_stop "$D" "$(basename "$p" .pid)" TERM
	done
	for p in "$D"/pids/containerd-*.pid; do
		[ -e "$p" ] && containerd_stop "$(basename "$p" .pid | sed 's/^containerd-//')"
	done
	[ -d "$D/cp/pids" ] && cp_stop "$D/cp" controller-manager TERM
	[ -f "$D/cp/env" ] && "$here/controlplane/stop.sh" "$D/cp" >/dev/null 2>&1
	host_release
	rm -rf "$D"
	say "down"
}

# Stops every kerf daemon (SIGTERM): a daemon built with the sanitizers writes its leak report to its log then.
stop_kerf() {
	local p
	for p in "$D"/pids/controller-*.pid "$D"/pids/agent-*.pid; do
		[ -e "$p" ] && cp_stop "$D" "$(basename "$p" .pid)" TERM
	done
	return 0
}

cmd_component() { # start|stop|kill WHAT NAME
	local op=$1 what=${2:-} name=${3:-} sig=TERM
	load_env
	[ "$op/$what" = stop/kerf ] && { stop_kerf; return; }
	[ -n "$what" ] && [ -n "$name" ] || die "$op: want agent NODE, kubelet NODE or controller N"
	[ "$op" = kill ] && sig=KILL
	[ "$RUNTIME/$what" = containerd/agent ] || [ "$RUNTIME/$what" = containerd/controller ] &&
		die "$op $what: kerf runs as pods on this cluster (the kubelet restarts them); see: pid NAMESPACE POD"
	case $op/$what in
	start/agent) agent_start "$name" ;;
	start/kubelet) kubelet_start "$name" ;;
	start/controller) controller_start "$name" ;;
	stop/agent | kill/agent) cp_stop "$D" "agent-$name" $sig ;;
	stop/kubelet) cp_stop "$D" "kubelet-$name" TERM ;;
	stop/controller | kill/controller) cp_stop "$D" "controller-$name" $sig ;;
	*) die "$op $what: not a component command (see scripts/cluster.sh --help)" ;;
	esac
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down ;;
kubectl) load_env; kc "$@" ;;
pid)
	load_env
	[ "$KERF_CLUSTER_RUNTIME" = containerd ] || die "pid: only with --runtime containerd (the fake CRI runs no process)"
	container_pid "${1:?pid NAMESPACE POD}" "${2:?pid NAMESPACE POD}"
	;;
env) load_env; cat "$D/env" ;;
start | stop | kill) cmd_component "$cmd" "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
