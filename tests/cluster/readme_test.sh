#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's example on a real cluster (scripts/cluster.sh: real kube-scheduler, kube-controller-manager and
# kubelet; kerf's agent and controller as processes): an H100 cut 4g.40gb + 3 x 1g.10gb, a running pod on the
# 4g.40gb, and a pod asking for 2g.20gb. The scheduler refuses it, kerf re-cuts two free 1g.10gb into a
# 2g.20gb, the kubelet gets the device from kerf's plugin, and the pod runs with the new MIG device; the first
# pod is never restarted and keeps its device.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cl_up "h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6"

# The simulated H100's instance that starts at slice START is PROFILE with MIG UUID DEV, and (with "process")
# a container runs on it.
instance_is() { # PROFILE@START DEV [process]
	fakectl h100 show | grep -A1 " $1 " | grep -q -- "$2${3:+ $3}\$"
}
scheduler_refused() { k get events -n demo --field-selector "involvedObject.name=$1,reason=FailedScheduling" -o name | grep -q .; }
is_new() { ! printf '%s\n' "$before" | grep -qx -- "$1"; }
status_used() { # DEV: the MigLayout status lists DEV as a used 2g.20gb
	[ "$(k get miglayout h100 -o jsonpath="{.status.gpus[0].instances[?(@.uuid==\"$1\")]['profile','used']}")" = \
		"2g.20gb true" ]
}
never_restarted() { # POD UID
	[ "$(k get pod -n demo "$1" -o jsonpath='{.metadata.uid} {.status.containerStatuses[0].restartCount}')" = "$2 0" ] &&
		[ "$(pod_starts "$1")" = 1 ]
}

mig_pod holder mig-4g.40gb
check "a pod asking for mig-4g.40gb runs" wait_running holder 90
holder_dev=$(pod_devices holder)
holder_uid=$(k get pod -n demo holder -o jsonpath='{.metadata.uid}')
check "its container sees the 4g.40gb's MIG UUID ($holder_dev), where its process now runs" \
	instance_is 4g.40gb@0 "$holder_dev" process
before=$(fakectl h100 show | grep -o 'MIG-[0-9a-f-]*' | sort)
last_1g=$(fakectl h100 show | grep -A1 ' 1g.10gb@6 ' | grep -o 'MIG-[0-9a-f-]*')

mig_pod wants-2g mig-2g.20gb
check "the 2g.20gb pod runs" wait_running wants-2g 90
check "kube-scheduler first found no 2g.20gb for it (FailedScheduling)" scheduler_refused wants-2g
new_dev=$(pod_devices wants-2g)
check "its container sees a MIG UUID ($new_dev)" test -n "$new_dev"
check "that UUID is a new instance" is_new "$new_dev"
check "a 2g.20gb at slice 4 (where two free 1g.10gb were), with the pod's process" \
	instance_is 2g.20gb@4 "$new_dev" process
check "the 4g.40gb is untouched" instance_is 4g.40gb@0 "$holder_dev" process
check "so is the free 1g.10gb at slice 6" instance_is 1g.10gb@6 "$last_1g"
# The agent's status follows use at its --interval (1 s here).
check "the MigLayout's status shows the new 2g.20gb in use" eventually 15 status_used "$new_dev"
check "the first pod was never restarted (same uid, one container start, restartCount 0)" \
	never_restarted holder "$holder_uid"
check "and it keeps its MIG device" test "$(pod_devices holder)" = "$holder_dev"
check "no destroy ever hit an instance in use (simulated library's violation counter)" no_violations

# The MigLayout is owned by its Node: when the node is removed, kube-controller-manager's garbage collector
# removes the MigLayout too, so no stale object keeps attracting pods.
ml_uid=$(k get miglayout h100 -o jsonpath='{.metadata.uid}')
"$cluster" stop agent h100
k delete node h100 --wait=true >/dev/null
ml_gone() { [ "$(k get miglayout h100 -o jsonpath='{.metadata.uid}' 2>/dev/null)" != "$ml_uid" ]; }
check "deleting the Node garbage-collects its MigLayout" eventually 60 ml_gone
cl_finish
