#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Latency from a device-list change in kerf's device plugin to the kubelet stand-in receiving it.
# Usage: bench/kubelet/run.sh BUILD_DIR [ROUNDS]   (figures go to stdout; docs/kubelet.md records them)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-200}
standin=.cache/kubelet-standin/kubelet-standin
go=$(command -v go || echo /usr/local/go/bin/go)
(cd tools/kubelet-standin && "$go" build -o "../../$standin" .)
cmake --build "$build" --target bench_kubelet >/dev/null
"$build/bench/kubelet/bench_kubelet" "$standin" "$rounds"
