#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# controller/ benchmark: one round of the controller with 5,000 nodes (8 H100 GPUs each, MigLayouts reported by
# their agents) and 50,000 pending MIG pods on a real kube-apiserver: load rate, informer sync, the round's
# phases, specs written, Events, memory; then a second round, planned from the specs the first wrote (no agent
# applies them), which is what every later round costs while nothing changes.
# Usage: bench/controller/run.sh BUILD_DIR [bench_controller options, e.g. --used-pct 85]
#   KERF_BENCH_QUICK=1           500 nodes and 5,000 pods (about a minute)
#   KERF_BENCH_NODES, _PODS      other sizes
#   KERF_BENCH_CP_DIR            the control plane's folder (default: a new temporary one)
#   KERF_BENCH_KEEP_CP=1         leave the control plane up (for bench_controller --no-load against the same cluster)
#   KERF_BENCH_NO_CONTROLPLANE=1 skip this benchmark (it needs scripts/controlplane)
# kube-scheduler is stopped before the load: no node advertises a MIG device here, so it would only try, fail and
# retry every pod against every node on the same two cores. Figures go to stdout; docs/controller.md records them.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
bench=$build/bench/controller/bench_controller
[ -x "$bench" ] || { echo "bench/controller: $bench not built (make build)" >&2; exit 1; }
if [ "${KERF_BENCH_NO_CONTROLPLANE:-0}" = 1 ]; then
	echo "bench/controller: skipped (KERF_BENCH_NO_CONTROLPLANE=1)"
	exit 0
fi
nodes=5000 pods=50000
[ "${KERF_BENCH_QUICK:-0}" = 1 ] && nodes=500 pods=5000
nodes=${KERF_BENCH_NODES:-$nodes}
pods=${KERF_BENCH_PODS:-$pods}

tmp=
cp_dir=${KERF_BENCH_CP_DIR:-}
[ -n "$cp_dir" ] || { tmp=$(mktemp -d); cp_dir=$tmp/controlplane; }
cleanup() {
	if [ "${KERF_BENCH_KEEP_CP:-0}" = 1 ]; then
		echo "bench/controller: control plane left up in $cp_dir (stop: scripts/controlplane/stop.sh $cp_dir)" >&2
	else
		scripts/controlplane/stop.sh "$cp_dir" >/dev/null 2>&1 || true
		[ -z "$tmp" ] || rm -rf "$tmp"
	fi
}
trap cleanup EXIT

scripts/controlplane/start.sh "$cp_dir" >/dev/null
scripts/controlplane/ctl.sh "$cp_dir" stop-scheduler
# shellcheck disable=SC1091
. "$cp_dir/env"
"$bench" --kubeconfig "$KUBECONFIG" --nodes "$nodes" --pods "$pods" --rounds 2 "$@"
