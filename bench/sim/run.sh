#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Simulator throughput: wall time of `kerf simulate` per policy, on the default workload (10,000 pods on
# 100 H100s, balanced mix, 90 % load) and on one ten times larger (100,000 pods on 1,000 GPUs).
# Usage: bench/sim/run.sh BUILD_DIR. Figures only; nothing is asserted (shared machines vary).
set -euo pipefail
build=${1:-build}
kerf=$build/src/cli/kerf
[ -x "$kerf" ] || { echo "bench/sim: $kerf not built" >&2; exit 1; }
policies=$("$kerf" simulate --help >/dev/null && for p in kerf nos first-fit static:all-balanced repack; do
	"$kerf" simulate --policy "$p" --pods 10 --cluster 1x1xH100-80GB-SXM --quiet --no-progress 2>/dev/null && echo "$p"; done)
printf '%-22s %-34s %10s %8s\n' policy workload wall_s placed
for size in "10000 25x4xH100-80GB-SXM" "100000 250x4xH100-80GB-SXM"; do
	set -- $size
	for p in $policies; do
		start=$(date +%s.%N)
		placed=$("$kerf" simulate --policy "$p" --pods "$1" --cluster "$2" --no-progress | awk -v p="$p" '$1 == p && $2 ~ /^[0-9]+$/ { print $2; exit }')
		end=$(date +%s.%N)
		printf '%-22s %-34s %10s %8s\n' "$p" "$1 pods, $2" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')" "$placed"
	done
done
