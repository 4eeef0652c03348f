# SPDX-License-Identifier: Apache-2.0
# Shared by the real-cluster tests (sourced): a cluster of their own in a fresh folder, checks that count,
# pods, and what the container runtime and the simulated NVML library saw. Each test sources this, calls cl_up
# with its node SPEC, and ends with cl_finish (which prints "NAME: N checks, M failed" and sets the exit status).
# The checks, skips and the summary are tests/lib.sh's, as in every shell test.
#
# The runtime is containerd, with kerf installed by its Helm chart from the image the Dockerfile builds, unless
# KERF_TEST_RUNTIME=fake: then the fake CRI runs the containers and kerf's daemons run as processes, which is
# how the sanitized suite runs them (its ASan+UBSan binaries cannot go in the image).
cl_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$cl_root/tests/lib.sh"
cluster=$cl_root/scripts/cluster.sh
# Socket paths must stay short (108 bytes), so the state lives under /tmp, not in the build folder.
KERF_CLUSTER_DIR=$(mktemp -d /tmp/kerf-clt.XXXXXX)
export KERF_CLUSTER_DIR

cl_cleanup() {
	if [ "$t_fails" -gt 0 ] || [ "${KERF_KEEP_LOGS:-}" = 1 ]; then
		echo "--- logs of the failed run (last lines):"
		for f in "$KERF_CLUSTER_DIR"/logs/*.log "$KERF_CLUSTER_DIR"/nodes/*/logs/*.log \
			"$KERF_CLUSTER_DIR"/nodes/*/pods-logs/kerf-system_*/*/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f"
			tail -n 15 "$f"
		done
	fi
	if [ "${KERF_CLUSTER_KEEP:-}" = 1 ]; then
		echo "KERF_CLUSTER_KEEP=1: the cluster stays up (KERF_CLUSTER_DIR=$KERF_CLUSTER_DIR scripts/cluster.sh down)"
		return
	fi
	"$cluster" down
}
t_on_exit cl_cleanup

eventually() { # SECONDS COMMAND...: the command succeeds within SECONDS (tried every quarter second)
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt $end ] || return 1
		sleep 0.25
	done
}

# kerf's daemons stop (SIGTERM) and their logs must hold no sanitizer report: in the sanitized build they run
# with ASan and UBSan, and a leak is reported at exit.
sanitizer_silent() { ! grep -slE 'AddressSanitizer|LeakSanitizer|runtime error:' "$KERF_CLUSTER_DIR"/logs/agent-*.log \
	"$KERF_CLUSTER_DIR"/logs/controller-*.log; }

cl_finish() {
	if [ "$KERF_CLUSTER_RUNTIME" = fake ]; then
		"$cluster" stop kerf
		check "kerf's daemons stopped with no sanitizer report in their logs" sanitizer_silent
	fi
	t_finish "${0##*/}"
}

cl_up() { # SPEC [more up options]
	local spec=$1
	shift
	# Where no kubelet can run, say so and skip (CTest's SKIP_RETURN_CODE), never pass silently.
	[ "$(id -u)" = 0 ] || t_skip "a kubelet needs root (mount namespaces and bind mounts); this is $(id -un)"
	unshare -m --propagation private true 2>/dev/null ||
		t_skip "this machine refuses mount namespaces (unshare -m), which keep the kubelet off the host"
	check "the cluster came up" "$cluster" up --nodes "$spec" ${KERF_TEST_RUNTIME:+--runtime "$KERF_TEST_RUNTIME"} "$@" ||
		t_finish "${0##*/}"
	# shellcheck disable=SC1091
	. "$KERF_CLUSTER_DIR/env"
}

k() { "$KERF_CP_BIN/kubectl" --kubeconfig "$KERF_CLUSTER_DIR/admin.kubeconfig" "$@"; }

fakectl() { # NODE ARGS...: fakenvml-ctl on that node's simulated GPUs
	local node=$1
	shift
	"$FAKENVML_CTL" --state "$KERF_CLUSTER_DIR/nodes/$node/sim/fakenvml.state" "$@"
}

pod_yaml() { # NAME RESOURCE [LABEL]: a pod in namespace demo asking for one nvidia.com/RESOURCE, as YAML
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: demo, labels: {test: "${3:-none}"}}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: work
    image: kerf.local/workload:test
    resources: {limits: {nvidia.com/$2: 1}}
EOF
}

mig_pod() { pod_yaml "$@" | k apply -f - >/dev/null; } # NAME RESOURCE [LABEL]: create that pod

wait_running() { # POD SECONDS
	k wait -n demo --for=jsonpath='{.status.phase}'=Running "pod/$1" --timeout="${2}s" >/dev/null 2>&1
}

# The MIG devices a pod's container was started with: its NVIDIA_VISIBLE_DEVICES as the container printed it
# (containerd: the workload prints its environment to its log), or as the fake CRI logged it.
pod_devices() { # POD
	local node log
	node=$(k get pod -n demo "$1" -o jsonpath='{.spec.nodeName}')
	[ -n "$node" ] || return 1
	if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
		log=$(ls "$KERF_CLUSTER_DIR/nodes/$node/pods-logs/demo_$1_"*/work/*.log 2>/dev/null | sort -V | tail -n 1)
		[ -n "$log" ] && sed -n 's/.* stdout F NVIDIA_VISIBLE_DEVICES=//p' "$log" | tail -n 1
		return
	fi
	grep '"event":"start"' "$KERF_CLUSTER_DIR/nodes/$node/containers.jsonl" | grep "\"pod\":\"$1\"" | tail -n 1 |
		sed -n 's/.*"NVIDIA_VISIBLE_DEVICES":"\([^"]*\)".*/\1/p'
}

# How many times a container of POD was started (1 for a pod never restarted): containerd's GPU hook logs each
# start of a container with MIG devices (scripts/cluster-gpu-hook.sh), the fake CRI each start.
pod_starts() { # POD
	if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
		cat "$KERF_CLUSTER_DIR"/nodes/*/logs/gpu-hook.log 2>/dev/null | grep -c " start demo/$1/"
		return
	fi
	cat "$KERF_CLUSTER_DIR"/nodes/*/containers.jsonl | grep '"event":"start"' | grep -c "\"pod\":\"$1\""
}

no_violations() { # every node's simulated library: no destroy ever hit an instance with a process
	local n v ok=0
	for n in $(cat "$KERF_CLUSTER_DIR/nodes.list"); do
		v=$(fakectl "$n" violations)
		[ "$v" = 0 ] || { echo "node $n: $v destroys hit a busy instance"; ok=1; }
	done
	return $ok
}
