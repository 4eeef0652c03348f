#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libFuzzer target (fuzz_decode.c) for a bounded time: a clang build of the project with every object
# instrumented (-DKERF_FUZZ=ON) in BUILD_DIR/fuzz, then KERF_FUZZ_SECONDS (30) of fuzzing from the corpus kept
# in BUILD_DIR/fuzz/corpus, which grows from run to run. A crash, a leak or an ASan/UBSan report fails the test.
# Without clang the test is reported as skipped (exit 77) with the reason: gcc has no libFuzzer.
# Usage: fuzz_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
out=$2/fuzz
seconds=${KERF_FUZZ_SECONDS:-30}
. "${0%/*}/../lib.sh"

clang=$(command -v clang || true)
[ -n "$clang" ] || t_skip "clang not found: the libFuzzer target cannot be built (scripts/deps.d/kubelet.txt installs it)"
cmake -S "$src" -B "$out" -DCMAKE_C_COMPILER="$clang" -DCMAKE_BUILD_TYPE=Debug -DKERF_FUZZ=ON >"$out.configure.log" 2>&1 ||
	{ tail -20 "$out.configure.log"; exit 1; }
cmake --build "$out" --target fuzz_kubelet_decode >"$out.build.log" 2>&1 || { tail -30 "$out.build.log"; exit 1; }
mkdir -p "$out/corpus"
before=$(find "$out/corpus" -type f | wc -l)
"$out/tests/kubelet/fuzz_kubelet_decode" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
	"$out/corpus" >"$out/run.log" 2>&1 || { tail -40 "$out/run.log"; exit 1; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/run.log")
echo "fuzz_kubelet_decode: ${runs:-?} inputs in ${seconds} s, corpus $before -> $(find "$out/corpus" -type f | wc -l)"
[ "${runs:-0}" -gt 0 ]
