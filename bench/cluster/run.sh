#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod created -> Running on a real cluster (scripts/cluster.sh), for pods that need a re-layout, split by stage.
# A benchmark: it reports, it asserts nothing (docs/cluster.md has the figures and this command).
#
# Two nodes of seven simulated H100s each, every GPU cut into seven free 1g.10gb. Pods are created one at a
# time, each waiting for the last to run, asking in turn for 1g.20gb and 2g.20gb: neither exists, so every pod
# needs kerf to destroy free 1g.10gb and create its instance. Each stage is read from a clock on this machine:
#   created       the benchmark's clock just before `kubectl create`
#   planned       the controller's log line msg=planned (debounce, the round's snapshot, the plan)
#   spec written  the controller's log line msg="spec written" node=N (the spec's conditional write)
#   applied       the agent's log line msg="layout applied" result=applied (withdraw, destroy, create through NVML)
#   sent          the agent's log line msg="published MIG devices" (the kubelet has the new device list)
#   allocatable   a Node watch event showing one more of the pod's resource (the kubelet's node status)
#   bound         a Pod watch event with spec.nodeName (kube-scheduler)
#   running       a Pod watch event with phase Running (the kubelet: Allocate, container start, pod status)
# The daemons' lines come from their log files (fake CRI: kerf as processes) or their pods' logs (containerd).
#
# Usage: bench/cluster/run.sh [BUILD_DIR] [--pods N] [--status-every DURATION] [--runtime containerd|fake]
#        (default: build/, 50 pods, the kubelet's default status period of 10 s, containerd where installed)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pods=50 every="" build=$root/build runtime=""
while [ $# -gt 0 ]; do
	case $1 in
	--pods) pods=$2; shift 2 ;;
	--status-every) every=$2; shift 2 ;;
	--runtime) runtime=$2; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "bench/cluster: unknown option \"$1\"" >&2; exit 2 ;;
	*) build=$(cd "$1" && pwd); shift ;;
	esac
done
export KERF_CLUSTER_DIR=${KERF_CLUSTER_DIR:-/tmp/kerf-bench-cluster}
export KERF_BIN=$build/src/cli/kerf FAKENVML_LIB=$build/tests/fakenvml/libnvidia-ml.so.1 \
	FAKENVML_CTL=$build/tests/fakenvml/fakenvml-ctl
D=$KERF_CLUSTER_DIR
cluster=$root/scripts/cluster.sh
gpu="H100-80GB-SXM:1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6"
spec="n1=$gpu/$gpu/$gpu/$gpu/$gpu/$gpu/$gpu n2=$gpu/$gpu/$gpu/$gpu/$gpu/$gpu/$gpu"
"$cluster" up --nodes "$spec" ${every:+--status-every "$every"} ${runtime:+--runtime "$runtime"} >/dev/null || exit 1
trap '"$cluster" down' EXIT
. "$D/env"
k() { "$KERF_CP_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" "$@"; }

# Watch events as "EPOCH|field|field|...", stamped the moment kubectl prints them.
stamp() { while IFS= read -r line; do echo "$EPOCHREALTIME|$line"; done; }
k get pods -n demo -w -o jsonpath='{.metadata.name}|{.spec.nodeName}|{.status.phase}{"\n"}' | stamp >"$D/pods.w" &
k get nodes -w -o jsonpath='{.metadata.name}|{.status.allocatable.nvidia\.com/mig-1g\.20gb}|{.status.allocatable.nvidia\.com/mig-2g\.20gb}{"\n"}' |
	stamp >"$D/nodes.w" &
sleep 2

profiles=(1g.20gb 2g.20gb)
: >"$D/created"
for i in $(seq 1 "$pods"); do
	p=${profiles[$((i % 2))]}
	echo "b$i $p $EPOCHREALTIME" >>"$D/created"
	k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: b$i, namespace: demo}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - {name: work, image: kerf.local/workload:test, resources: {limits: {nvidia.com/mig-$p: 1}}}
EOF
	k wait -n demo --for=jsonpath='{.status.phase}'=Running "pod/b$i" --timeout=120s >/dev/null ||
		echo "bench/cluster: pod b$i did not run within 120 s" >&2
done
sleep 1

# The daemons' logs with epoch seconds in front: "EPOCH who line", who being controller-* or agent-NODE. A pod's
# log lines carry the runtime's "TIME stderr F " in front of the daemon's own.
epoch_logs() {
	local f who
	for f in "$D"/logs/controller-*.log "$D"/logs/agent-*.log "$D"/nodes/*/pods-logs/kerf-system_kerf-*/*/*.log; do
		[ -f "$f" ] || continue
		case $f in
		*/pods-logs/*/agent/*) who=agent-$(echo "$f" | sed 's|.*/nodes/\([^/]*\)/pods-logs/.*|\1|') ;;
		*/pods-logs/*) who=controller-$(basename "$(dirname "$(dirname "$f")")") ;;
		*) who=$(basename "$f" .log) ;;
		esac
		while IFS= read -r line; do
			ts=${line%% *}
			echo "$(date -d "${ts#ts=}" +%s.%N) $who ${line#* }"
		done < <(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$f" |
			grep -E 'msg=planned |msg="spec written"|msg="layout applied" .*result=applied|msg="published MIG devices"')
	done | sort -n
}
epoch_logs >"$D/events"

# For each pod, the first time of each stage after the one before it; pods whose node got no new layout between
# their creation and their binding did not need a re-layout and are left out.
awk -v created="$D/created" -v pw="$D/pods.w" -v nw="$D/nodes.w" -v ev="$D/events" '
function first_ev(who, pat, after,   i) {
	for (i = 1; i <= ne; i++) if (et[i] >= after && ew[i] ~ who && el[i] ~ pat) return et[i]
	return -1
}
BEGIN {
	while ((getline line < created) > 0) { split(line, a, " "); np++; name[np] = a[1]; prof[np] = a[2]; tc[np] = a[3] }
	while ((getline line < ev) > 0) { ne++; split(line, a, " "); et[ne] = a[1]; ew[ne] = a[2]; el[ne] = line }
	while ((getline line < pw) > 0) { split(line, a, "|")
		if (a[3] != "" && !(a[2] in bound)) bound[a[2]] = a[1]
		if (a[3] != "" && !(a[2] in node)) node[a[2]] = a[3]
		if (a[4] == "Running" && !(a[2] in running)) running[a[2]] = a[1] }
	while ((getline line < nw) > 0) { nn++; split(line, a, "|"); nt[nn] = a[1]; nnode[nn] = a[2]; n1[nn] = a[3] + 0; n2[nn] = a[4] + 0 }
	for (i = 1; i <= np; i++) {
		p = name[i]; n = node[p]
		if (!(p in running) || n == "") continue
		tq = first_ev("controller", "msg=planned ", tc[i])
		ts = first_ev("controller", "msg=\"spec written\" node=" n " ", tq)
		if (tq < 0 || ts < 0 || ts > bound[p]) continue
		ta = first_ev("agent-" n, "msg=\"layout applied\"", ts)
		tp = first_ev("agent-" n, "msg=\"published MIG devices\"", ta)
		# allocatable: the first Node event after sent whose count of the pod resource exceeds the last one before
		before = -1; tl = -1
		for (j = 1; j <= nn; j++) if (nnode[j] == n) {
			cnt = prof[i] == "1g.20gb" ? n1[j] : n2[j]
			if (nt[j] < tp) before = cnt
			else if (cnt > before) { tl = nt[j]; break }
		}
		if (ta < 0 || tp < 0 || tl < 0) continue
		m++
		s[1, m] = tq - tc[i]; s[2, m] = ts - tq; s[3, m] = ta - ts; s[4, m] = tp - ta; s[5, m] = tl - tp
		s[6, m] = bound[p] - tl; s[7, m] = running[p] - bound[p]; s[8, m] = running[p] - tc[i]
	}
	split("created -> planned|planned -> spec written|spec written -> applied|applied -> sent to the kubelet|sent -> node allocatable|allocatable -> bound|bound -> running|created -> running (total)", label, "|")
	printf "%d of %d pods needed a re-layout and ran\n", m, np
	printf "%-32s %9s %9s %9s\n", "stage", "p50 ms", "p95 ms", "max ms"
	for (k = 1; k <= 8; k++) {
		for (j = 1; j <= m; j++) v[j] = s[k, j]
		# insertion sort: m is small
		for (j = 2; j <= m; j++) { x = v[j]; for (q = j - 1; q >= 1 && v[q] > x; q--) v[q + 1] = v[q]; v[q + 1] = x }
		printf "%-32s %9.0f %9.0f %9.0f\n", label[k], 1000 * v[int((m - 1) * 0.50) + 1], 1000 * v[int((m - 1) * 0.95) + 1], 1000 * v[m]
	}
}'
