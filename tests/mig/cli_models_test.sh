#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kerf models` from the outside: the catalog listing with every model's placements, one model's picture,
# and the errors (exit 2, the reason on stderr, nothing on stdout).
# Usage: cli_models_test.sh KERF
set -uo pipefail
kerf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run NAME WANT_RC COMMAND... : runs it, checks the exit status; stdout in $tmp/out, stderr in $tmp/err
run() {
	local name=$1 want=$2; shift 2
	n=$((n + 1))
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq "$want" ] || fail "$name: exit $rc, want $want ($(head -c 300 "$tmp/err"))"
}
has() { grep -qF -- "$2" "$tmp/$1" || fail "$3: $1 lacks \"$2\""; }

run "list" 0 "$kerf" models
# Every model of the fact sheet, each with the NVML name it is recognised by.
for m in A30-24GB A100-40GB A100-80GB H100-80GB-SXM H100-80GB-PCIe H100-NVL-94GB H100-96GB GH200-144GB \
	H200-141GB-SXM H200-141GB-NVL B200-180GB GB200-186GB RTX-PRO-6000-Blackwell; do
	grep -q "^$m " "$tmp/out" || fail "list: no line starts with $m"
done
has out "NVIDIA H100 80GB HBM3" "list"
# Placements, in the form `kerf apply --layout` takes.
has out "2g.20gb@0,2,4" "list (H100 2g placements)"
has out "1g.10gb@0,1,2,3,4,5,6" "list (H100 1g placements)"
has out "7g.80gb@0" "list (H100 7g placement)"
has out "1g.6gb@0,1,2,3" "list (A30 1g placements)"
[ ! -s "$tmp/err" ] || fail "list: stderr not empty"

run "one model by NVML name" 0 "$kerf" models "NVIDIA H100 80GB HBM3"
has out "H100-80GB-SXM" "one model"
has out "nvidia.com/mig-1g.10gb.me" "one model (+me resource name)"
grep -E -q '^ +3g\.40gb +[0-9]+ +3 +4 +' "$tmp/out" || fail "one model: no 3g.40gb row with 3 compute and 4 memory slices"
# The picture: 3g.40gb starts at 0 and 4, so its row reads "0 0 0 0|4 4 4 4".
grep -E '^ +3g\.40gb ' "$tmp/out" | grep -qF ' 0 0 0 0|4 4 4 4' || fail "one model: 3g.40gb picture is not ' 0 0 0 0|4 4 4 4'"

run "one model by short name" 0 "$kerf" models A30-24GB
has out "1g.6gb" "A30"

run "unknown model" 2 "$kerf" models "NVIDIA GeForce RTX 4090"
[ ! -s "$tmp/out" ] || fail "unknown model: stdout not empty"
has err "NVIDIA GeForce RTX 4090" "unknown model names the model"

run "too many arguments" 2 "$kerf" models A30-24GB extra
[ ! -s "$tmp/out" ] || fail "too many arguments: stdout not empty"

run "help" 0 "$kerf" models --help
has out "usage: kerf models" "help"

echo "cli_models: $n commands run, $fails failed checks"
[ $fails -eq 0 ]
