#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kerf simulate` end to end: options, exit statuses, the table, JSON, plots, scenarios, --show, determinism.
# Usage: cli_test.sh KERF_BINARY SOURCE_DIR
set -uo pipefail
kerf=$1
src=$2
. "${0%/*}/../lib.sh"
small=(--pods 300 --cluster 2x2xH100-80GB-SXM --no-progress)

"$kerf" simulate --help >"$tmp/help" 2>&1
check "--help exits 0 and lists --compare" grep -q -- "--compare" "$tmp/help"

"$kerf" simulate --bogus >"$tmp/out" 2>"$tmp/err"
check "an unknown option exits 2" test $? -eq 2
check "... and names it on stderr, nothing on stdout" bash -c "grep -q -- '--bogus' '$tmp/err' && ! test -s '$tmp/out'"

"$kerf" simulate --policy best "${small[@]}" >/dev/null 2>"$tmp/err"
check "an unknown policy exits 2 and names it" bash -c "test $? -eq 2 && grep -q '\"best\"' '$tmp/err'"

printf '1,2,2g.20gb\n1,-5,1g.10gb\n' >"$tmp/bad.csv"
"$kerf" simulate --trace "$tmp/bad.csv" --cluster 1x1xH100-80GB-SXM >/dev/null 2>"$tmp/err"
check "a bad trace exits 2 and names the line" bash -c "test $? -eq 2 && grep -q 'bad.csv:2: duration' '$tmp/err'"

"$kerf" simulate --compare "${small[@]}" --json "$tmp/r.json" --plots "$tmp/plots" >"$tmp/table"
rc=$?
check "--compare with --json and --plots exits 0" test $rc -eq 0
for p in kerf nos first-fit static:all-1g static:all-balanced static:all-7g repack; do
	check "the table has a row for $p" grep -q "^$p " "$tmp/table"
done
rows=$(awk '/^POLICY/ { n++; next } n == 1 && NF == 0 { exit } n == 1 { c++ } END { print c + 0 }' "$tmp/table")
check "the JSON has a result per row of the table ($rows)" test "$(grep -c '"policy":' "$tmp/r.json")" -eq "$rows"
if command -v python3 >/dev/null; then
	check "the JSON parses" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['results'][0]['pods'] == 300" "$tmp/r.json"
else
	echo "SKIP the JSON parses: python3 not found"
fi
# gnuplot is one of the project's dependencies (scripts/deps.d/sim.txt): without it this fails, not skips.
for f in utilisation.png pending.png pending-by-profile.png; do
	check "--plots drew $f (a PNG)" bash -c "head -c 8 '$tmp/plots/$f' | od -An -c | grep -q 'P   N   G'"
done

"$kerf" simulate --compare "${small[@]}" >"$tmp/table2"
check "two runs print the same table" cmp -s "$tmp/table" "$tmp/table2"
"$kerf" simulate --compare "${small[@]}" --seed 9 >"$tmp/table3"
check "another seed gives another workload" bash -c "! cmp -s '$tmp/table' '$tmp/table3'"

"$kerf" simulate --policy first-fit --scenario "$src/scenarios/sample-trace.scn" --no-progress >"$tmp/trace"
check "the sample-trace scenario finds its trace next to it" grep -q "trace: .*sample-trace.csv (1500 pods)" "$tmp/trace"

"$kerf" simulate --policy nos "${small[@]::2}" --progress >/dev/null 2>"$tmp/err"
check "--progress draws a bar on stderr" grep -q "100%" "$tmp/err"
"$kerf" simulate --policy nos "${small[@]}" >/dev/null 2>"$tmp/err"
check "--no-progress keeps stderr quiet" test ! -s "$tmp/err"

"$kerf" simulate --show --policy first-fit >"$tmp/show"
check "--show exits 0 and draws GPUs" grep -q "node0/gpu1 |" "$tmp/show"
check "--show fits about two screens" test "$(wc -l <"$tmp/show")" -le 60
check "--show ends with a summary" grep -q "running pods disturbed" "$tmp/show"

t_finish sim-cli
