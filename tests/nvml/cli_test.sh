#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `kerf status` and `kerf apply` against the simulated NVML library, as docs/nvml.md shows them.
# usage: cli_test.sh KERF FAKENVML_CTL FAKE_LIBNVML OLD_FAKE_LIBNVML
set -u
kerf=$1 ctl=$2 lib=$3 oldlib=$4
. "${0%/*}/../lib.sh"
export KERF_FAKENVML_STATE="$tmp/gpus" KERF_NVML_LIBRARY="$lib" KERF_STATE_DIR="$tmp/journal"

"$ctl" init H100-80GB-SXM A30-24GB || exit 1
"$ctl" create 0 "2g.20gb@0,1g.10gb@2,3g.40gb@4" || exit 1
"$ctl" process 0 2 4242 || exit 1

run "status shows the slots" 0 "$kerf" status
has out "layout  |= =|#|.|= = = =|" "status picture"
has out "used  (running a process)" "status busy instance"
has out "GPU 1  NVIDIA A30" "status second GPU"

run "status compares the catalog" 0 "$kerf" status --gpu 0 --compare-catalog
has out "catalog: 0 disagreement(s) with the built-in table for H100-80GB-SXM" "catalog agreement"

run "without a kubelet socket, a dry run still runs" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run
# Where no kubelet socket is at the default path (this machine: the test clusters keep theirs in their own mount
# namespaces), a real apply must refuse rather than destroy without asking anyone.
if [ -S /var/lib/kubelet/pod-resources/kubelet.sock ]; then
	fail "a kubelet socket exists at the default path on this machine: the refusal cannot be checked here"
else
	has err "a real apply would stop here" "the dry run notes that a real apply would stop"
	run "without a kubelet socket, apply refuses (cannot tell what pods hold)" 1 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4"
	has err "--pod-resources none" "the refusal says what to give"
	run "and nothing changed" 0 "$kerf" status --gpu 0
	has out "layout  |= =|#|.|= = = =|" "the layout as it was"
fi
run "--pod-resources none: no kubelet, no note" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run --pod-resources none
check "--pod-resources none: stderr empty" test ! -s "$tmp/err"
run "--pod-resources that is not a socket is a usage error" 2 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run --pod-resources "$tmp/nothing.sock"
has err "--pod-resources" "--pod-resources error names the option"
run "dry run lists operations" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run
has out "destroy 2g.20gb@0" "dry run destroy"
has out "create 1g.20gb@0" "dry run create"
run "dry run changed nothing" 0 "$kerf" status --gpu 0
has out "layout  |= =|#|.|= = = =|" "dry run layout"

run "refuses to destroy a busy instance" 1 "$kerf" apply --gpu 0 --layout "4g.40gb@0,3g.40gb@4" --pod-resources none
has err "1g.10gb@2 is in use" "refusal reason"

uuid=$("$kerf" status --gpu 0 | awk '/^  3g.40gb@4/ { print $NF }')
run "refuses to destroy an allocated instance" 1 "$kerf" apply --gpu 0 --layout "2g.20gb@0,1g.10gb@2" --allocated "$uuid" --pod-resources none
has err "allocated to a pod" "allocated reason"

run "rejects an illegal layout" 2 "$kerf" apply --gpu 0 --layout "2g.20gb@1" --pod-resources none
has err "not a legal start" "illegal layout reason"

run "applies a new layout" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6" --pod-resources none
has out "applied (5 change(s))" "applied"
has out "layout  |= =|#|.|= =|=|.|" "applied picture"
run "applying again changes nothing" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6" --pod-resources none
has out "unchanged (0 change(s))" "unchanged"

"$ctl" fail nvmlDeviceCreateGpuInstanceWithPlacement 2 INSUFFICIENT_RESOURCES
run "a failed step rolls back" 1 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
has err "rolled back: GPU 0 is back at 1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6" "rollback reported"
"$ctl" clear-faults

"$ctl" kill nvmlDeviceCreateGpuInstanceWithPlacement 1 after
run "killed half way (create)" 137 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
"$ctl" clear-faults
run "the next run finishes the killed one" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
has out "an interrupted earlier run was finished first" "recovery reported"
run "violations" 0 "$ctl" violations

KERF_NVML_LIBRARY="$oldlib" run "an old driver is named" 1 "$kerf" status
has err "too old" "old driver"
KERF_FAKENVML_STATE="$tmp/none" run "no driver is named" 1 "$kerf" status
has err "driver is not loaded" "no driver"

t_finish nvml_cli
