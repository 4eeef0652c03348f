#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Re-layout cost through kerf's NVML backend and actuator, against the simulated library: NVML calls per
# `kerf apply` and wall time per apply (process start, dlopen, reads, journal fsyncs, changes). The
# simulator answers in microseconds, so this measures kerf's own overhead and call counts, not a driver's
# latency (GI destroy is reported as O(1 s) on real GPUs; see the fact sheet, section 3.4).
# usage: bench/nvml/run.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
kerf=$build/src/cli/kerf ctl=$build/tests/fakenvml/fakenvml-ctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kerf-bench-nvml-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export KERF_NVML_LIBRARY=$build/tests/fakenvml/libnvidia-ml.so.1 KERF_FAKENVML_STATE=$tmp/gpus
export KERF_STATE_DIR=$tmp/journal
rounds=${ROUNDS:-20}

now_ms() { date +%s%3N; }

# layout pairs that a planner typically alternates between on an H100 80GB
a="7g.80gb@0"
b="1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6"
c="3g.40gb@0,2g.20gb@4,1g.10gb@6"

"$ctl" init H100-80GB-SXM >/dev/null
"$kerf" apply --pod-resources none --gpu 0 --layout "$a" >/dev/null

measure() { # measure NAME FROM TO: average over $rounds round trips
	local name=$1 from=$2 to=$3 t0 t1 calls
	"$ctl" trace on
	"$kerf" apply --pod-resources none --gpu 0 --layout "$to" >/dev/null
	calls=$("$ctl" calls | awk '{ s += $2 } END { print s }')
	"$ctl" trace off
	"$kerf" apply --pod-resources none --gpu 0 --layout "$from" >/dev/null
	t0=$(now_ms)
	for _ in $(seq "$rounds"); do
		"$kerf" apply --pod-resources none --gpu 0 --layout "$to" >/dev/null
		"$kerf" apply --pod-resources none --gpu 0 --layout "$from" >/dev/null
	done
	t1=$(now_ms)
	printf "%-40s %5d NVML calls  %7.1f ms per apply\n" "$name" "$calls" "$(echo "($t1 - $t0) / (2 * $rounds)" | bc -l)"
}

measure "7g -> 7x 1g (1 destroy, 7 creates)" "$a" "$b"
measure "7g -> 3g+2g+1g (1 destroy, 3 creates)" "$a" "$c"
"$kerf" apply --pod-resources none --gpu 0 --layout "$c" >/dev/null
"$ctl" trace on
"$kerf" apply --pod-resources none --gpu 0 --layout "$c" >/dev/null
printf "%-40s %5d NVML calls (nothing to do)\n" "same layout again" "$("$ctl" calls | awk '{ s += $2 } END { print s }')"
t0=$(now_ms)
for _ in $(seq "$rounds"); do "$kerf" status >/dev/null; done
t1=$(now_ms)
printf "%-40s %7.1f ms per status\n" "kerf status (1 GPU, 3 instances)" "$(echo "($t1 - $t0) / $rounds" | bc -l)"
