#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kerf models` from the outside: the catalog listing with every model's placements, one model's picture,
# and the errors (exit 2, the reason on stderr, nothing on stdout).
# Usage: cli_models_test.sh KERF
set -uo pipefail
kerf=$1
. "${0%/*}/../lib.sh"

run "list" 0 "$kerf" models
# Every model of the fact sheet, each with the NVML name it is recognised by.
for m in A30-24GB A100-40GB A100-80GB H100-80GB-SXM H100-80GB-PCIe H100-NVL-94GB H100-96GB GH200-144GB \
	H200-141GB-SXM H200-141GB-NVL B200-180GB GB200-186GB RTX-PRO-6000-Blackwell; do
	check "list: a line starts with $m" grep -q "^$m " "$tmp/out"
done
has out "NVIDIA H100 80GB HBM3" "list"
# Placements, in the form `kerf apply --layout` takes.
has out "2g.20gb@0,2,4" "list (H100 2g placements)"
has out "1g.10gb@0,1,2,3,4,5,6" "list (H100 1g placements)"
has out "7g.80gb@0" "list (H100 7g placement)"
has out "1g.6gb@0,1,2,3" "list (A30 1g placements)"
check "list: stderr empty" test ! -s "$tmp/err"

run "one model by NVML name" 0 "$kerf" models "NVIDIA H100 80GB HBM3"
has out "H100-80GB-SXM" "one model"
has out "nvidia.com/mig-1g.10gb.me" "one model (+me resource name)"
check "one model: a 3g.40gb row with 3 compute and 4 memory slices" grep -E -q '^ +3g\.40gb +[0-9]+ +3 +4 +' "$tmp/out"
# The picture: 3g.40gb starts at 0 and 4, so its row reads "0 0 0 0|4 4 4 4".
picture() { grep -E '^ +3g\.40gb ' "$tmp/out" | grep -qF ' 0 0 0 0|4 4 4 4'; }
check "one model: the 3g.40gb picture is ' 0 0 0 0|4 4 4 4'" picture

run "one model by short name" 0 "$kerf" models A30-24GB
has out "1g.6gb" "A30"

run "unknown model" 2 "$kerf" models "NVIDIA GeForce RTX 4090"
check "unknown model: stdout empty" test ! -s "$tmp/out"
has err "NVIDIA GeForce RTX 4090" "unknown model names the model"

run "too many arguments" 2 "$kerf" models A30-24GB extra
check "too many arguments: stdout empty" test ! -s "$tmp/out"

run "help" 0 "$kerf" models --help
has out "usage: kerf models" "help"

t_finish cli_models
