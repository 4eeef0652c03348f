#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13's target, on every bundled workload: kerf's overall p95 and p99 and every profile's p99 no worse
# than the best of nos and first-fit, with churn no worse than before. Runs `kerf simulate --compare` on each
# scenarios/*.scn (extra options, e.g. --hold 300, go to every run) and prints, per workload, kerf's, nos's and
# first-fit's pending times (s), instances created and destroyed per placed pod, and which targets kerf misses.
# Usage: bench/sim/starve.sh BUILD_DIR [kerf simulate options...]. Simulated seconds; deterministic.
set -euo pipefail
build=${1:-build}
shift || true
kerf=$build/src/cli/kerf
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$kerf" ] || { echo "bench/sim: $kerf not built" >&2; exit 1; }
for scn in "$root"/scenarios/*.scn; do
	echo "== $(basename "$scn" .scn)"
	"$kerf" simulate --compare --scenario "$scn" --no-progress "$@" | awk '
		/^POLICY/ && !byprof { next }
		/^pending time by profile/ { byprof = 1; next }
		byprof && /^POLICY/ { np = NF - 1; for (i = 2; i <= NF; i++) prof[i - 1] = $i; next }
		!byprof && ($1 == "kerf" || $1 == "nos" || $1 == "first-fit") && $2 ~ /^[0-9]+$/ {
			p50[$1] = $4; p95[$1] = $5; p99[$1] = $6; nw[$1] = $10; dl[$1] = $11 }
		byprof && ($1 == "kerf" || $1 == "nos" || $1 == "first-fit") {
			for (i = 1; i <= np; i++) { split($(2 * i), v, "/"); pp[$1, i] = (v[1] == "-" ? "-" : v[3]) } }
		function best(a, b) { return a == "-" ? b : b == "-" ? a : (a + 0 < b + 0 ? a : b) }
		END {
			printf "%-10s %8s %8s %8s", "policy", "p50", "p95", "p99"
			for (i = 1; i <= np; i++) printf " %9s", prof[i]
			printf " %8s %8s\n", "new/pod", "del/pod"
			split("kerf nos first-fit", pol, " ")
			for (k = 1; k <= 3; k++) {
				q = pol[k]; printf "%-10s %8s %8s %8s", q, p50[q], p95[q], p99[q]
				for (i = 1; i <= np; i++) printf " %9s", pp[q, i]
				printf " %8s %8s\n", nw[q], dl[q]
			}
			miss = ""
			if (p95["kerf"] + 0 > best(p95["nos"], p95["first-fit"]) + 0) miss = miss " p95"
			if (p99["kerf"] + 0 > best(p99["nos"], p99["first-fit"]) + 0) miss = miss " p99"
			for (i = 1; i <= np; i++)
				if (pp["kerf", i] != "-" && pp["kerf", i] + 0 > best(pp["nos", i], pp["first-fit", i]) + 0)
					miss = miss " " prof[i] "-p99"
			print "kerf misses:" (miss == "" ? " nothing" : miss)
		}'
done
