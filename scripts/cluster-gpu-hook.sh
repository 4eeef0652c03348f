#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# An OCI hook for the local cluster's containerd (scripts/cluster.sh): what the NVIDIA container toolkit's hook
# does on a GPU node, done for the simulated GPUs. runc runs it with the container's state (JSON) on stdin:
#   poststart: each MIG device in the container's NVIDIA_VISIBLE_DEVICES gets the container's PID as its
#              process in the simulated NVML library, as a CUDA program would show there;
#   poststop:  those devices' processes are cleared, as when the program ends.
# Each is logged as a line "TIME start|stop NAMESPACE/POD/CONTAINER PID DEVICES" (the tests count a pod's starts
# there, as the fake CRI's event log lets them).
# Environment (from the node's base OCI spec): FAKENVML_CTL, FAKENVML_STATE, HOOK_LOG.
set -u
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p')
bundle=$(printf '%s' "$state" | sed -n 's/.*"bundle": *"\([^"]*\)".*/\1/p')
[ -n "$bundle" ] && [ -f "$bundle/config.json" ] || exit 0
spec=$bundle/config.json
devices=$(grep -o '"NVIDIA_VISIBLE_DEVICES=[^"]*"' "$spec" | head -n 1 | sed 's/^"[^=]*=//; s/"$//')
annotation() { grep -o "\"io.kubernetes.cri.$1\": *\"[^\"]*\"" "$spec" | head -n 1 | sed 's/.*: *"//; s/"$//'; }
case ${1:-} in
start) p=${pid:-0} ;;
stop) p=0 ;;
*) echo "cluster-gpu-hook: want start or stop, not \"${1:-}\"" >&2; exit 2 ;;
esac
rc=0 mig=""
for uuid in $(printf '%s' "$devices" | tr ',' ' '); do
	case $uuid in MIG-*) ;; *) continue ;; esac
	mig="$mig${mig:+,}$uuid"
	"$FAKENVML_CTL" --state "$FAKENVML_STATE" process-uuid "$uuid" "$p" >>"$HOOK_LOG" 2>&1 || rc=1
done
[ -n "$mig" ] || exit 0
echo "$(date -u +%FT%T.%3NZ) $1 $(annotation sandbox-namespace)/$(annotation sandbox-name)/$(annotation container-name)" \
	"${pid:-0} $mig$([ $rc = 0 ] || echo ' FAILED')" >>"$HOOK_LOG"
exit $rc
