#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# helm, built from its Go module (helm.sh/helm/v3, the version below) through the Go module proxy on first use
# and cached in .cache/helm/, then run with the arguments given. Its own folders (config, cache, data) are kept
# under .cache/helm/home, so nothing is written to $HOME.
#
# Usage: scripts/helm.sh HELM-ARGS...      e.g. scripts/helm.sh lint deploy/helm/kerf
#        scripts/helm.sh --build-only      build if needed, print the binary's path
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/controlplane/lib.sh"
version=3.22.0
out=$cp_root/.cache/helm/v$version
mkdir -p "$out/home"
if [ ! -x "$out/helm" ]; then
	exec 9>"$out/.lock"
	flock 9
	if [ ! -x "$out/helm" ]; then
		go=$(cp_find_go)
		echo "helm: building helm v$version from its Go module (first run only)" >&2
		start=$(date +%s)
		GOFLAGS= CGO_ENABLED=0 GOBIN="$out" "$go" install -trimpath \
			-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$version" \
			"helm.sh/helm/v3/cmd/helm@v$version"
		echo "helm: built in $(($(date +%s) - start))s" >&2
	fi
	exec 9>&-
fi
if [ "${1:-}" = --build-only ]; then
	echo "$out/helm"
	exit 0
fi
export HELM_CACHE_HOME=$out/home/cache HELM_CONFIG_HOME=$out/home/config HELM_DATA_HOME=$out/home/data
exec "$out/helm" "$@"
