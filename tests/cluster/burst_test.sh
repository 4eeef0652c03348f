#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A burst of 50 MIG pods of mixed profiles, created at once, on four nodes of different models (two GPUs each,
# MIG on, nothing cut). The GPUs hold 50 compute slices and the pods ask for more, so not all can run: every
# pod must end Running or be told why by kerf's Event, no running pod may be restarted or lose its device, and
# no destroy may ever hit an instance in use.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cl_up "h100=H100-80GB-SXM/H100-80GB-SXM a100=A100-40GB/A100-40GB a30=A30-24GB/A30-24GB h200=H200-141GB-SXM/H200-141GB-SXM"

# Small profiles dominate, as they do in practice; each model's profiles appear.
profiles=(1g.10gb 1g.5gb 1g.6gb 1g.18gb 2g.20gb 1g.10gb 2g.10gb 2g.12gb 1g.18gb 3g.40gb 1g.5gb 1g.6gb 2g.35gb
	1g.20gb 3g.20gb 1g.18gb 4g.71gb)
n=50
{
	for i in $(seq 0 $((n - 1))); do
		pod_yaml "burst-$i" "mig-${profiles[$((i % ${#profiles[@]}))]}" burst
	done
} >"$KERF_CLUSTER_DIR/burst.yaml"
start=$(date +%s)
k apply -f "$KERF_CLUSTER_DIR/burst.yaml" >/dev/null

# settled: every pod Running, or the subject of kerf's MIGLayoutUnavailable Event.
settled() {
	local running explained
	running=$(k get pods -n demo -l test=burst --field-selector status.phase=Running -o name | sed 's|pod/||' | sort)
	explained=$(k get events -n demo --field-selector reason=MIGLayoutUnavailable \
		-o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}' | sort -u)
	n_running=$(printf '%s\n' "$running" | grep -c .)
	[ "$(printf '%s\n%s\n' "$running" "$explained" | grep . | sort -u | wc -l)" = $n ]
}
for _ in $(seq 1 300); do settled && break; sleep 1; done
echo "after $(($(date +%s) - start)) s: $n_running of $n pods Running, the rest told why by kerf"
check "every pod is Running or explained by a MIGLayoutUnavailable Event" settled
check "kerf re-cut for most of them (at least 20 Running; the GPUs started empty)" test "$n_running" -ge 20

devices_held() { # every Running pod's MIG device exists on its node with a process, started once
	local p node dev ok=0
	for p in $(k get pods -n demo -l test=burst --field-selector status.phase=Running -o name | sed 's|pod/||'); do
		node=$(k get pod -n demo "$p" -o jsonpath='{.spec.nodeName}')
		dev=$(pod_devices "$p")
		if [ -z "$dev" ] || ! fakectl "$node" show | grep -q -- "$dev process\$"; then
			echo "pod $p on $node: device \"$dev\" is not held"
			ok=1
		fi
		[ "$(pod_starts "$p")" = 1 ] || { echo "pod $p was started $(pod_starts "$p") times"; ok=1; }
	done
	return $ok
}
check "every Running pod still holds the device it started with, and was started once" devices_held
check "no destroy ever hit an instance in use (simulated library's violation counter)" no_violations
cl_finish
