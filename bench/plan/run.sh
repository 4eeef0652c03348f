#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The planner's benchmark: plan_run() on 100 x 8 and 1,000 x 8 GPU clusters with 100 / 1,000 pending
# pods (the targets: <= 5 ms and <= 50 ms median on one core), then an overloaded 1,000 x 8 cluster with
# 12,000 pending pods, a quarter of which cannot be placed; then 8 x 8 with 20 pods, the largest input the
# exact search takes on; then 1,000 x 8 with 1,000 pods where GPU states rarely repeat (--diverse: a
# random model, layout and used flags per GPU; targets: planning <= 50 ms, the whole `kerf plan` <= 100 ms
# of CPU), planned again with a plan_cache as the controller's next round would (--cached), and
# `kerf plan --output json` itself timed on one such cluster; then the planner without its whole-input
# exact search (greedy, passes, repair) against the exhaustive optimum on the exhaustive test's 3,000
# random small clusters. docs/planner.md records the figures; bench/plan/quality.sh measures quality
# against an exact ILP on larger clusters.
# Usage: bench/plan/run.sh BUILD_DIR (a RelWithDebInfo build, e.g. `make build`).
set -euo pipefail
build=${1:-build}
bin="$build/bench/plan/bench_plan"
[ -x "$bin" ] || { echo "run.sh: $bin not built (make build)" >&2; exit 1; }
"$bin" 100 8 100 200
"$bin" 1000 8 1000 50
"$bin" 1000 8 12000 5
"$bin" 8 8 20 500
"$bin" --diverse --cached 1000 8 1000 20
kerf="$build/src/cli/kerf"
if [ -x "$kerf" ]; then
	input=$(mktemp)
	trap 'rm -f "$input"' EXIT
	"$bin" --diverse --json "$input" 1000 8 1000 1 >/dev/null
	for i in 1 2 3 4 5; do
		/usr/bin/time -f "kerf plan --output json, diverse 1000 x 8, 1000 pods: %U s user, %S s system, %e s wall, peak RSS %M KiB" \
			"$kerf" plan --input "$input" --output json >/dev/null
	done
fi
gap="$build/bench/plan/bench_plan_gap"
if [ -x "$gap" ]; then
	echo "without the whole-input exact search (greedy, passes and repair; KERF_PLAN_GREEDY_ONLY):"
	"$gap" --report 3000
fi
