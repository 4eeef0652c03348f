#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kube/ benchmarks: watch-event decode+apply throughput (recorded stream, and live from kube-apiserver) and the
# cache's resident memory with 5,000 nodes and 50,000 pods. Usage: bench/kube/run.sh BUILD_DIR
# The live part needs the test control plane (scripts/controlplane; built on first use) and is skipped with
# KERF_BENCH_NO_CONTROLPLANE=1. Figures go to stdout; docs/kube.md records them.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bench=$build/bench/kube/bench_kube
[ -x "$bench" ] || { echo "bench/kube: $bench not built (make build)" >&2; exit 1; }
work=$(mktemp -d)
cp_dir=$work/controlplane
cleanup() { scripts/controlplane/stop.sh "$cp_dir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

pods=${KERF_BENCH_PODS:-3000}
if [ "${KERF_BENCH_NO_CONTROLPLANE:-0}" != 1 ]; then
	scripts/controlplane/start.sh "$cp_dir" >/dev/null
	# shellcheck disable=SC1091
	. "$cp_dir/env"
	curl -sf -o /dev/null --cacert "$cp_dir/pki/ca.crt" --cert "$cp_dir/pki/admin.crt" --key "$cp_dir/pki/admin.key" \
		-H 'Content-Type: application/json' -d '{"metadata":{"name":"bench"}}' "$KERF_CP_SERVER/api/v1/namespaces"
	# Recorded from the real apiserver: the watch stream of $pods pod creations, byte for byte as sent.
	rv=$("$bench" populate "$KUBECONFIG" bench "$pods")
	curl -s --cacert "$cp_dir/pki/ca.crt" --cert "$cp_dir/pki/admin.crt" --key "$cp_dir/pki/admin.key" \
		"$KERF_CP_SERVER/api/v1/namespaces/bench/pods?watch=true&resourceVersion=$rv&timeoutSeconds=3" \
		> "$work/pods.stream"
	echo "recorded: $(wc -l < "$work/pods.stream") events, $(wc -c < "$work/pods.stream") bytes"
	[ -n "${KERF_BENCH_KEEP_STREAM:-}" ] && cp "$work/pods.stream" "$KERF_BENCH_KEEP_STREAM"
	taskset -c 0 "$bench" replay "$work/pods.stream" 5
	taskset -c 0 "$bench" live "$KUBECONFIG" bench "$pods"
fi
taskset -c 0 "$bench" memory 5000 50000
