#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the real-cluster tests' workload image, kerf.local/workload:test: workload.c compiled static, the only
# file of an image made from scratch with Debian's buildah (storage under .cache/image/, as scripts/build-image.sh
# keeps it). The same image is the cluster's pod sandbox ("pause") image: no registry is reachable here.
# Rebuilt only when workload.c or this script is newer than the archive.
#
# Usage: tests/cluster/workload/build.sh     prints the docker-archive's path on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=$root/.cache/image
out=$cache/workload.tar
image=kerf.local/workload:test
command -v buildah >/dev/null || { echo "workload: buildah is missing (Debian: apt-get install buildah)" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$out" ] && [ "$out" -nt "$here/workload.c" ] && [ "$out" -nt "$0" ]; then
	echo "$out"
	exit 0
fi
store=(--root "$cache/storage" --runroot "$cache/run" --storage-driver vfs)
bah() { unshare -m --propagation private buildah "${store[@]}" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -static -O2 -Wall -Wextra -Werror -o "$tmp/workload" "$here/workload.c"
c=$(bah from scratch)
bah copy "$c" "$tmp/workload" /workload >/dev/null
bah config --entrypoint '["/workload"]' --cmd '' "$c"
bah commit --quiet --rm "$c" "$image" >/dev/null
rm -f "$out"
bah push --quiet "$image" "docker-archive:$out:$image" >&2
echo "workload: $image, $(du -h "$out" | cut -f1) archive" >&2
echo "$out"
