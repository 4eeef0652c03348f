#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kerf's container image, built from the project's Dockerfile with Debian's buildah (scripts/build-image.sh; the
# first run also makes the debian:bookworm-slim base with debootstrap): the archive is a docker-archive naming
# kerf.local/kerf:VERSION, and the kerf inside it runs with the image's own libraries and is this checkout's.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^project(kerf VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
. "$root/tests/lib.sh"
[ "$(id -u)" = 0 ] || t_skip "building the image needs root here (debootstrap, buildah's storage)"
store=(--root "$root/.cache/image/storage" --runroot "$root/.cache/image/run" --storage-driver vfs)
bah() { unshare -m --propagation private buildah "${store[@]}" "$@"; }

archive=$("$root/scripts/build-image.sh" | tail -n 1)
check "scripts/build-image.sh builds the Dockerfile into $archive" test -s "$archive"
check "the archive is a docker-archive of kerf.local/kerf:$version" \
	sh -c "tar -xOf '$archive' manifest.json | grep -q '\"kerf.local/kerf:$version\"'"

c=$(bah from --quiet "kerf.local/kerf:$version")
in_image() { bah run --isolation chroot "$c" -- "$@"; }
version_is_ours() { [ "$(in_image kerf --version)" = "kerf $version" ]; }
models_run() { in_image kerf models | grep -q '^H100-80GB-SXM'; }
no_nvml() { ! in_image sh -c 'ls /usr/lib/*/libnvidia-ml* /usr/lib/libnvidia-ml* 2>/dev/null' 2>/dev/null | grep -q .; }
no_compiler() { ! in_image sh -c 'command -v cc' >/dev/null 2>&1; }
check "kerf runs in the image: --version is this checkout's ($version)" version_is_ours
check "its commands work with the image's libraries (kerf models lists the H100)" models_run
check "the image holds no libnvidia-ml (the agent loads the host driver's)" no_nvml
check "the image is slim: no build tools (no cc)" no_compiler
bah rm "$c" >/dev/null
t_finish image
