#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds kerf's container image from the project's Dockerfile with Debian's buildah, on a machine that reaches
# no container registry: the Dockerfile's base, debian:bookworm-slim, is made here first with debootstrap from
# Debian's packages (the same suite; minbase variant). The result is a docker-archive that containerd imports
# (`ctr -n k8s.io images import FILE`), docker loads (`docker load -i FILE`), or a registry takes (`skopeo copy`).
#
# buildah keeps everything under .cache/image/ (its --root and --runroot, the vfs storage driver), never in
# /var/lib/containers, and runs in a mount namespace of its own, so no mount outlives it.
#
# Usage: scripts/build-image.sh [--tag TAG]      (default: the project's version)
#        prints the archive's path on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tag=$(sed -n 's/^project(kerf VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
while [ $# -gt 0 ]; do
	case $1 in
	--tag) tag=${2:?--tag needs a value}; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-image: unknown option \"$1\"" >&2; exit 2 ;;
	esac
done
for tool in buildah debootstrap unshare; do
	command -v $tool >/dev/null || { echo "build-image: $tool is missing (Debian: apt-get install buildah debootstrap)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build-image: debootstrap and buildah's vfs storage need root here" >&2; exit 1; }

cache=$root/.cache/image
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
store=(--root "$cache/storage" --runroot "$cache/run" --storage-driver vfs)
bah() { unshare -m --propagation private buildah "${store[@]}" "$@"; }
base=docker.io/library/debian:bookworm-slim
image=kerf.local/kerf:$tag
out=$cache/kerf-$tag.tar

if ! bah inspect --type image "$base" >/dev/null 2>&1; then
	# The machine's own Debian mirror (apt's sources), so the base comes from where its packages come from.
	mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
	mirror=${mirror:-http://deb.debian.org/debian}
	echo "build-image: making $base with debootstrap from $mirror (first run only)" >&2
	rm -rf "$cache/rootfs"
	start=$(date +%s)
	unshare -m --propagation private debootstrap --variant=minbase bookworm "$cache/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
	# Slim as Debian's own -slim images are: no documentation, manual pages or translations, now or later.
	rm -rf "$cache/rootfs"/var/lib/apt/lists/* "$cache/rootfs"/var/cache/apt/*.bin \
		"$cache/rootfs"/usr/share/doc/* "$cache/rootfs"/usr/share/man/* "$cache/rootfs"/usr/share/info/* \
		"$cache/rootfs"/usr/share/locale/*
	printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
		'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
		>"$cache/rootfs/etc/dpkg/dpkg.cfg.d/slim"
	tar -C "$cache/rootfs" -cf "$cache/rootfs.tar" .
	rm -rf "$cache/rootfs"
	# buildah has no "import": an empty container, the tree added to it, committed under the base's name.
	c=$(bah from scratch)
	bah add "$c" "$cache/rootfs.tar" / >/dev/null
	bah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
	bah commit --quiet "$c" "$base" >/dev/null
	bah rm "$c" >/dev/null
	rm -f "$cache/rootfs.tar"
	echo "build-image: base made in $(($(date +%s) - start))s" >&2
fi

echo "build-image: building $image from $root/Dockerfile" >&2
start=$(date +%s)
bah bud --quiet --isolation chroot --network host --layers -f "$root/Dockerfile" -t "$image" "$root" >&2
rm -f "$out"
bah push --quiet "$image" "docker-archive:$out:$image" >&2
echo "build-image: $image in $(($(date +%s) - start))s, $(du -h "$out" | cut -f1) archive" >&2
echo "$out"
