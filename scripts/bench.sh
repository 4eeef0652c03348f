#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark: each subsystem's bench/<subsystem>/run.sh, given the build folder as $1.
# Figures go to stdout; each subsystem's page in docs/ records them with the command that produced them
# (docs/testing.md, "Benchmarks", lists them all).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
for r in bench/*/run.sh; do
	[ -x "$r" ] || continue
	echo "=== $r"
	"$r" "$build"
done
