#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make cluster-demo`: kerf on a real cluster on this machine. Brings up scripts/cluster.sh's default cluster
# (four nodes: H100 cut as in the README, A100, A30, H200), submits a stream of MIG pods that each run for a
# while and finish, and shows each node's GPUs as kerf re-cuts them. Ends with a summary: pods that ran, time
# from creation to the container's start, re-layouts, and running pods disturbed (which must be 0).
#
# Usage: scripts/cluster-demo.sh [--pods N] [--keep]
#   --pods N   how many pods to submit (default 30)
#   --keep     leave the cluster up afterwards (scripts/cluster.sh kubectl ..., scripts/cluster.sh down)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KERF_CLUSTER_DIR=${KERF_CLUSTER_DIR:-/tmp/kerf-cluster}
D=$KERF_CLUSTER_DIR
cluster=$here/cluster.sh
pods=30 keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--pods) pods=${2:?--pods needs a number}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "cluster-demo: unknown option \"$1\"" >&2; exit 2 ;;
	esac
done
[[ $pods =~ ^[1-9][0-9]*$ ]] || { echo "cluster-demo: --pods wants a positive number, not \"$pods\"" >&2; exit 2; }
if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "cluster-demo: a real kubelet needs root and mount namespaces (unshare -m), which this machine does not" >&2
	echo "give; \`make demo\` shows kerf's planning on the simulated GPUs alone." >&2
	exit 1
fi

echo "== bringing up a cluster (the first run builds the kubelet and friends from Go modules: minutes)"
"$cluster" up --status-every 1s >/dev/null
[ $keep = 1 ] || trap '"$cluster" down' EXIT
. "$D/env"
k() { "$KERF_CP_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" "$@"; }

# Profiles of the four default nodes' models; each pod runs 10-40 s and finishes: the workload exits (containerd),
# or the fake CRI ends the container.
profiles=(1g.10gb 2g.20gb 3g.40gb 1g.5gb 2g.10gb 1g.6gb 2g.12gb 1g.18gb 2g.35gb 1g.10gb 1g.18gb 4g.71gb)
submit() {
	local i p secs
	for i in $(seq 1 "$pods"); do
		p=${profiles[$((RANDOM % ${#profiles[@]}))]}
		secs=$((10 + RANDOM % 30))
		echo "$i $(date +%s.%N)" >>"$D/demo-created"
		k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: demo-$i, namespace: demo, labels: {app: kerf-demo}}
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: work
    image: kerf.local/workload:test
    env:
    - {name: KERF_WORKLOAD_EXIT_AFTER, value: "$secs"}
    - {name: KERF_FAKECRI_EXIT_AFTER, value: "${secs}s"}
    resources: {limits: {nvidia.com/mig-$p: 1}}
EOF
		sleep "0.$((RANDOM % 9 + 1))"
	done
}

# One line per node whose layout changed: each GPU's instances, * marking those in use.
layouts() {
	k get miglayouts -o jsonpath='{range .items[*]}{.metadata.name}{range .status.gpus[*]}{"  GPU"}{.index}{":"}{range .instances[*]}{" "}{.profile}{"@"}{.start}{.used}{end}{end}{"\n"}{end}' |
		sed -e 's/true/*/g' -e 's/false//g'
}

: >"$D/demo-created"
submit &
submitter=$!
echo "== submitting $pods MIG pods; each node's GPUs as kerf re-cuts them (* = in use)"
t0=$(date +%s)
prev=""
while :; do
	now=$(layouts)
	if [ "$now" != "$prev" ]; then
		diff <(printf '%s\n' "$prev") <(printf '%s\n' "$now") | sed -n "s/^> /+$(($(date +%s) - t0))s  /p" || true
		prev=$now
	fi
	done_n=$(k get pods -n demo -l app=kerf-demo --field-selector status.phase=Succeeded -o name | wc -l)
	if ! kill -0 $submitter 2>/dev/null && [ "$done_n" -ge "$pods" ]; then break; fi
	[ $(($(date +%s) - t0)) -gt $((pods * 4 + 240)) ] && { echo "(stopping the watch: time is up)"; break; }
	sleep 1
done
wait $submitter 2>/dev/null || true

# Summary: each demo container's starts ("POD TIME" lines: containerd's GPU hook log, or the fake CRI's events)
# against the creation times recorded above.
if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
	starts=$(cat "$D"/nodes/*/logs/gpu-hook.log 2>/dev/null | awk '$2 == "start" { split($3, p, "/"); print p[2], $1 }')
else
	starts=$(cat "$D"/nodes/*/containers.jsonl | grep '"event":"start"' |
		sed -n 's/.*"pod":"\([^"]*\)".*"time":"\([^"]*\)".*/\1 \2/p')
fi
ran=0 disturbed=0 waits=()
for i in $(seq 1 "$pods"); do
	s=$(printf '%s\n' "$starts" | grep -c "^demo-$i " || true)
	[ "$s" -ge 1 ] || continue
	ran=$((ran + 1))
	[ "$s" = 1 ] || disturbed=$((disturbed + 1))
	created=$(awk -v i="$i" '$1 == i {print $2}' "$D/demo-created")
	started=$(printf '%s\n' "$starts" | awk -v p="demo-$i" '$1 == p { print $2; exit }')
	waits+=("$(awk -v a="$(date -d "$started" +%s.%N)" -v b="$created" 'BEGIN {printf "%.3f", a - b}')")
done
violations=0
for n in $(cat "$D/nodes.list"); do
	violations=$((violations + $("$FAKENVML_CTL" --state "$D/nodes/$n/sim/fakenvml.state" violations || true)))
done
relayouts=$(k get miglayouts -o jsonpath='{range .items[*]}{.metadata.generation}{"\n"}{end}' | awk '{s += $1 - 1} END {print s + 0}')
pct() { printf '%s\n' "${waits[@]}" | sort -n | awk -v p="$1" '{a[NR] = $1} END {i = int((NR - 1) * p / 100) + 1; printf "%.1f", a[i]}'; }
echo "== summary"
echo "pods that ran:               $ran of $pods"
[ $ran -gt 0 ] && echo "created -> container start:  p50 $(pct 50) s, p95 $(pct 95) s (kubelet status every 1 s)"
echo "re-layouts (spec changes):   $relayouts"
echo "running pods disturbed:      $((disturbed + violations))"
[ $keep = 1 ] && echo "the cluster is still up: scripts/cluster.sh kubectl get pods -A; scripts/cluster.sh down"
exit 0
