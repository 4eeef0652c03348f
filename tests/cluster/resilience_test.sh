#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kerf's processes and the kubelet fail under a running pod, on a real cluster (scripts/cluster.sh):
#   1. the agent is SIGKILLed in the middle of a re-cut (between its destroys and its create), restarted (by the
#      kubelet where it is a pod, by the test where it is a process), and finishes the re-cut from its journal;
#   2. the kubelet is restarted: kerf's plugin registers again and pods keep their devices;
#   3. the controller replica that holds the Lease dies without a goodbye: the other takes over and re-cuts for
#      the next pod. As a process it is SIGKILLed; as a pod it is first frozen (SIGSTOP: it holds the Lease but
#      renews nothing, the harder case), then SIGKILLed once the other has taken over, and the kubelet restarts it.
# Through all of it, a pod on the 4g.40gb runs undisturbed and no destroy ever hits an instance in use.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cl_up "h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6"

alive() { grep -q . <(cat "/proc/$(cut -d' ' -f1 "$KERF_CLUSTER_DIR/pids/$1.pid")/cmdline" 2>/dev/null); }
agent_killed() { # the agent process died of SIGKILL
	if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
		[ "$(k get pods -n kerf-system -l app.kubernetes.io/name=kerf-agent \
			-o jsonpath='{.items[0].status.containerStatuses[0].lastState.terminated.exitCode}')" = 137 ]
	else
		! alive agent-h100
	fi
}
undisturbed() { # POD DEV: the pod still runs, was started once, and its device has its process
	[ "$(k get pod -n demo "$1" -o jsonpath='{.status.phase} {.status.containerStatuses[0].restartCount}')" = "Running 0" ] &&
		[ "$(pod_starts "$1")" = 1 ] && fakectl h100 show | grep -q -- "$2 process\$"
}
recut_half_done() { ! fakectl h100 show | grep -Eq ' (1g.10gb@[45]|2g.20gb@4) '; }
kubelet_back() { # Ready again, and a plugin registered with this kubelet process
	[ "$(k get node h100 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] &&
		tail -n "+$((log_lines + 1))" "$KERF_CLUSTER_DIR/nodes/h100/logs/kubelet.log" |
		grep -q 'Got registration request from device plugin'
}
advertised() { # RESOURCE: the Node's allocatable offers it
	k get node h100 -o jsonpath='{.status.allocatable}' | grep -q "\"nvidia.com/$1\""
}

mig_pod holder mig-4g.40gb
check "a pod holds the 4g.40gb" wait_running holder 90
holder_dev=$(pod_devices holder)

# 1. The agent dies at its first GPU-instance create: the two free 1g.10gb are gone, the 2g.20gb not yet made.
# The kubelet restarts an agent pod at once, so it is killed at its next few creates too, until the faults
# are cleared.
for nth in 1 2 3 4; do fakectl h100 kill nvmlDeviceCreateGpuInstanceWithPlacement $nth; done
mig_pod wants-2g mig-2g.20gb
check "the agent is killed in the middle of the re-cut" eventually 60 agent_killed
check "at that point the free 1g.10gb at 4 and 5 are destroyed and nothing is created yet" recut_half_done
fakectl h100 clear-faults
[ "$KERF_CLUSTER_RUNTIME" = containerd ] || "$cluster" start agent h100
check "the restarted agent finishes the re-cut: the 2g.20gb pod runs" wait_running wants-2g 90
check "the first pod was not disturbed" undisturbed holder "$holder_dev"
two_dev=$(pod_devices wants-2g)

# 2. The kubelet restarts; it wipes its device-plugin folder, so kerf's plugin must register again.
log_lines=$(wc -l <"$KERF_CLUSTER_DIR/nodes/h100/logs/kubelet.log")
"$cluster" stop kubelet h100
"$cluster" start kubelet h100
check "the kubelet is back and Ready, and kerf's plugin registered with it" eventually 90 kubelet_back
check "kerf's plugin registered again (the free 1g.10gb is offered)" eventually 60 advertised mig-1g.10gb
check "the first pod kept its device and was not restarted" undisturbed holder "$holder_dev"
check "so did the 2g.20gb pod" undisturbed wants-2g "$two_dev"
mig_pod wants-1g20 mig-1g.20gb
check "a pod needing a re-cut after the restart runs (1g.10gb@6 -> 1g.20gb@6)" wait_running wants-1g20 90

# 3. The controller that holds the Lease dies without a goodbye; the other replica waits out the lease.
leader=$(k get lease -n kerf-system kerf-controller -o jsonpath='{.spec.holderIdentity}')
check "one controller replica leads ($leader)" test -n "$leader"
if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
	leader_pid=$("$cluster" pid kerf-system "$leader")
	check "the leader's process is found ($leader_pid)" test -n "$leader_pid"
	kill -STOP "$leader_pid"
else
	"$cluster" kill controller "${leader##*-}"
fi
k delete pod -n demo wants-1g20 --wait=true >/dev/null
mig_pod wants-1g mig-1g.10gb
check "with the leader dead, the other replica re-cuts for the next pod (1g.20gb@6 -> 1g.10gb@6)" wait_running wants-1g 90
check "and holds the Lease now" test "$(k get lease -n kerf-system kerf-controller -o jsonpath='{.spec.holderIdentity}')" != "$leader"
if [ "$KERF_CLUSTER_RUNTIME" = containerd ]; then
	kill -KILL "$leader_pid"
	restarted() { [ "$(k get pod -n kerf-system "$leader" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.phase}')" = "1 Running" ]; }
	check "the kubelet restarts the killed replica" eventually 60 restarted
else
	"$cluster" start controller "${leader##*-}"
fi

check "the first pod ran undisturbed through all of it" undisturbed holder "$holder_dev"
check "no destroy ever hit an instance in use (simulated library's violation counter)" no_violations
cl_finish
