#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the real control plane the kube integration tests run against: kube-apiserver and
# kube-scheduler from the Kubernetes Go modules pinned in tools/controlplane/go.mod, fetched through
# the Go module proxy. Binaries are cached under .cache/controlplane/k8s-<version>/ so that only the
# first run on a machine compiles (Go's own module and build caches under $HOME help that one too).
# etcd is built the same way from its own module (tools/controlplane/etcd): Debian's etcd-server 3.4.23 lacks
# the watch progress requests kube-apiserver v1.37 needs.
#
# With `cluster`, it also builds what scripts/cluster.sh runs: kube-controller-manager, the kubelet and kubectl
# from the same pin, and fakecri (tools/controlplane/fakecri, Kubernetes' fake CRI on a unix socket). That costs
# about 6 more minutes on a first run, so only the tests and commands that run a cluster ask for it.
#
# Usage: scripts/controlplane/build.sh [cluster]   prints the folder holding the binaries on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

version=$(cp_k8s_version)
out=$(cp_bin_dir)
mkdir -p "$out"

# Two test runs may reach this at once (plain and sanitized CTest, or a developer's shell): one builds.
exec 9>"$out/.lock"
flock 9

cmds=(kube-apiserver kube-scheduler)
[ "${1:-}" = cluster ] && cmds+=(kube-controller-manager kubelet kubectl)
have_all=1
for cmd in "${cmds[@]}" etcd; do [ -x "$out/$cmd" ] || have_all=0; done
# fakecri is kerf's own code: rebuilt whenever its source is newer than the binary.
fakecri_src=$here/../../tools/controlplane/fakecri/main.go
[ "${1:-}" = cluster ] && { [ ! -x "$out/fakecri" ] || [ "$fakecri_src" -nt "$out/fakecri" ]; } && have_all=0
if [ $have_all = 1 ]; then
	echo "$out"
	exit 0
fi

go=$(cp_find_go)
echo "controlplane: building Kubernetes v$version and etcd v$(cp_etcd_version) with $($go version) (first run only)" >&2
ldflags="-s -w"
for kv in gitVersion=v$version gitMajor=${version%%.*} gitMinor=$(echo "$version" | cut -d. -f2) \
	gitTreeState=clean buildDate=1970-01-01T00:00:00Z; do
	ldflags="$ldflags -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
cd "$here/../../tools/controlplane"
# GOFLAGS=-mod=mod: go.sum is committed, but a missing line must not fail a fresh machine's build.
export GOFLAGS="-mod=mod" CGO_ENABLED=0
for cmd in "${cmds[@]}"; do
	[ -x "$out/$cmd" ] && continue
	start=$(date +%s)
	"$go" build -trimpath -ldflags "$ldflags" -o "$out/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
	mv "$out/.$cmd.tmp" "$out/$cmd"
	echo "controlplane: built $cmd in $(( $(date +%s) - start ))s" >&2
done
if [ "${1:-}" = cluster ] && { [ ! -x "$out/fakecri" ] || [ "$fakecri_src" -nt "$out/fakecri" ]; }; then
	"$go" build -trimpath -ldflags "-s -w" -o "$out/.fakecri.tmp" ./fakecri
	mv "$out/.fakecri.tmp" "$out/fakecri"
fi
cd etcd
if [ ! -x "$out/etcd" ]; then
	start=$(date +%s)
	"$go" build -trimpath -ldflags "-s -w" -o "$out/.etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$out/.etcd.tmp" "$out/etcd"
	echo "controlplane: built etcd in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
