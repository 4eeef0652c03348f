#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `kerf status` and `kerf apply` against the simulated NVML library, as docs/nvml.md shows them.
# usage: cli_test.sh KERF FAKENVML_CTL FAKE_LIBNVML OLD_FAKE_LIBNVML
set -u
kerf=$1 ctl=$2 lib=$3 oldlib=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kerf-cli-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export KERF_FAKENVML_STATE="$tmp/gpus" KERF_NVML_LIBRARY="$lib" KERF_STATE_DIR="$tmp/journal"
fails=0

check() { # check NAME EXPECTED_RC COMMAND... ; output in $tmp/out, stderr in $tmp/err
	name=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL $name: exit $rc, expected $want"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
	else
		echo "ok   $name"
	fi
}
has() { # has NAME FILE TEXT
	if ! grep -qF -- "$3" "$2"; then
		echo "FAIL $1: \"$3\" not in output:"; cat "$2"; fails=$((fails + 1))
	fi
}

"$ctl" init H100-80GB-SXM A30-24GB || exit 1
"$ctl" create 0 "2g.20gb@0,1g.10gb@2,3g.40gb@4" || exit 1
"$ctl" process 0 2 4242 || exit 1

check "status shows the slots" 0 "$kerf" status
has "status picture" "$tmp/out" "layout  |= =|#|.|= = = =|"
has "status busy instance" "$tmp/out" "used  (running a process)"
has "status second GPU" "$tmp/out" "GPU 1  NVIDIA A30"

check "status compares the catalog" 0 "$kerf" status --gpu 0 --compare-catalog
has "catalog agreement" "$tmp/out" "catalog: 0 disagreement(s) with the built-in table for H100-80GB-SXM"

check "without a kubelet socket, a dry run still runs" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run
# Where no kubelet socket is at the default path (this machine: the test clusters keep theirs in their own mount
# namespaces), a real apply must refuse rather than destroy without asking anyone.
if [ -S /var/lib/kubelet/pod-resources/kubelet.sock ]; then
	echo "FAIL a kubelet socket exists at the default path on this machine: the refusal cannot be checked here"
	fails=$((fails + 1))
else
	has "the dry run notes that a real apply would stop" "$tmp/err" "a real apply would stop here"
	check "without a kubelet socket, apply refuses (cannot tell what pods hold)" 1 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4"
	has "the refusal says what to give" "$tmp/err" "--pod-resources none"
	check "and nothing changed" 0 "$kerf" status --gpu 0
	has "the layout as it was" "$tmp/out" "layout  |= =|#|.|= = = =|"
fi
check "--pod-resources none: no kubelet, no note" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run --pod-resources none
if [ -s "$tmp/err" ]; then echo "FAIL --pod-resources none printed on stderr:"; cat "$tmp/err"; fails=$((fails + 1)); fi
check "--pod-resources that is not a socket is a usage error" 2 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run --pod-resources "$tmp/nothing.sock"
has "--pod-resources error names the option" "$tmp/err" "--pod-resources"
check "dry run lists operations" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,3g.40gb@4" --dry-run
has "dry run destroy" "$tmp/out" "destroy 2g.20gb@0"
has "dry run create" "$tmp/out" "create 1g.20gb@0"
check "dry run changed nothing" 0 "$kerf" status --gpu 0
has "dry run layout" "$tmp/out" "layout  |= =|#|.|= = = =|"

check "refuses to destroy a busy instance" 1 "$kerf" apply --gpu 0 --layout "4g.40gb@0,3g.40gb@4" --pod-resources none
has "refusal reason" "$tmp/err" "1g.10gb@2 is in use"

uuid=$("$kerf" status --gpu 0 | awk '/^  3g.40gb@4/ { print $NF }')
check "refuses to destroy an allocated instance" 1 "$kerf" apply --gpu 0 --layout "2g.20gb@0,1g.10gb@2" --allocated "$uuid" --pod-resources none
has "allocated reason" "$tmp/err" "allocated to a pod"

check "rejects an illegal layout" 2 "$kerf" apply --gpu 0 --layout "2g.20gb@1" --pod-resources none
has "illegal layout reason" "$tmp/err" "not a legal start"

check "applies a new layout" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6" --pod-resources none
has "applied" "$tmp/out" "applied (5 change(s))"
has "applied picture" "$tmp/out" "layout  |= =|#|.|= =|=|.|"
check "applying again changes nothing" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6" --pod-resources none
has "unchanged" "$tmp/out" "unchanged (0 change(s))"

"$ctl" fail nvmlDeviceCreateGpuInstanceWithPlacement 2 INSUFFICIENT_RESOURCES
check "a failed step rolls back" 1 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
has "rollback reported" "$tmp/err" "rolled back: GPU 0 is back at 1g.20gb@0,1g.10gb@2,2g.20gb@4,1g.10gb@6"
"$ctl" clear-faults

"$ctl" kill nvmlDeviceCreateGpuInstanceWithPlacement 1 after
check "killed half way (create)" 137 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
"$ctl" clear-faults
check "the next run finishes the killed one" 0 "$kerf" apply --gpu 0 --layout "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" --pod-resources none
has "recovery reported" "$tmp/out" "an interrupted earlier run was finished first"
check "violations" 0 "$ctl" violations

KERF_NVML_LIBRARY="$oldlib" check "an old driver is named" 1 "$kerf" status
has "old driver" "$tmp/err" "too old"
KERF_FAKENVML_STATE="$tmp/none" check "no driver is named" 1 "$kerf" status
has "no driver" "$tmp/err" "driver is not loaded"

[ "$fails" -eq 0 ] && echo "all kerf status/apply checks passed"
exit "$fails"
