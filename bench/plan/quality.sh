#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How far `kerf plan` is from the optimum of objective 1 (most pods placed, higher priority first), against an
# exact integer program solved by GLPK (plan_quality.c says how), on seeded generated clusters of three sizes.
# small clusters are inside the exact search's limits: there kerf and the ILP must agree (the ILP's own test).
# Usage: bench/plan/quality.sh BUILD_DIR [N_SMALL N_MEDIUM N_LARGE [TMLIM]]
#   defaults 500 100 30 clusters, 10 s per glpsol solve (a cluster whose solve hits it is reported unknown).
set -euo pipefail
build=${1:-build}
bin="$build/bench/plan/plan_quality"
[ -x "$bin" ] || { echo "quality.sh: $bin not built (make build)" >&2; exit 1; }
if ! command -v glpsol >/dev/null; then
	# Debian's GLPK, as scripts/install-deps.sh installs other packages.
	apt-get install -y glpk-utils >/dev/null || { echo "quality.sh: needs glpsol (apt-get install glpk-utils)" >&2; exit 1; }
fi
tmlim=${5:-10}
"$bin" report small "${2:-500}" "$tmlim"
"$bin" report medium "${3:-100}" "$tmlim"
"$bin" report large "${4:-30}" "$tmlim"
