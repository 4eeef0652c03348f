#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` as a packager runs it: into a staging folder (DESTDIR), whole and per component.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
#
# Checks that the component `kerf` holds the binary, the chart, the manifest, the licence and the docs and no
# NVML library of any kind; that `simulated-nvml` holds only the stand-in driver and its control command, in a
# folder of its own, exporting NVML's entry points; that the installed binary runs from its new place; and
# that `kerf --version` prints the version from the one place it is made (cmake/version.cmake): the
# project's version, and the commit when the source is a git checkout.
set -uo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# has DIR PATH...: each PATH exists under DIR
has() {
	local dir=$1; shift
	for p in "$@"; do
		n=$((n + 1))
		[ -e "$dir/$p" ] || fail "$(basename "$dir"): $p missing"
	done
}

stage() { # stage NAME [--component C]
	local name=$1; shift
	DESTDIR="$tmp/$name" cmake --install "$build" --prefix /usr "$@" >"$tmp/$name.log" 2>&1 ||
		fail "cmake --install $*: $(tail -3 "$tmp/$name.log")"
}

stage all
stage product --component kerf
stage sim --component simulated-nvml

libdir=$(cd "$tmp/sim/usr" && ls -d lib*/kerf/simulated-nvml 2>/dev/null | head -1)
[ -n "$libdir" ] || { fail "simulated-nvml: no lib*/kerf/simulated-nvml folder"; libdir=lib/kerf/simulated-nvml; }
product=(usr/bin/kerf usr/share/kerf/kerf.yaml usr/share/kerf/helm/kerf/Chart.yaml usr/share/kerf/helm/kerf/values.yaml
	usr/share/doc/kerf/LICENSE usr/share/doc/kerf/README.md usr/share/doc/kerf/architecture.md
	usr/share/doc/kerf/operations.md)
has "$tmp/product" "${product[@]}"
has "$tmp/sim" "usr/$libdir/libnvidia-ml.so.1" "usr/$libdir/fakenvml-ctl"
has "$tmp/all" "${product[@]}" "usr/$libdir/libnvidia-ml.so.1"

# The product never carries a libnvidia-ml, and the stand-in nothing but its folder.
n=$((n + 1))
found=$(find "$tmp/product" -name 'libnvidia-ml*')
[ -z "$found" ] || fail "component kerf installs an NVML library: $found"
n=$((n + 1))
others=$(cd "$tmp/sim" && find . -type f ! -path "./usr/$libdir/*")
[ -z "$others" ] || fail "component simulated-nvml installs outside its folder: $others"

# The stand-in looks like NVML to dlsym: its entry points are exported, kerf's own symbols are not.
n=$((n + 1))
syms=$(nm -D --defined-only "$tmp/sim/usr/$libdir/libnvidia-ml.so.1" 2>&1)
grep -q ' nvmlInit_v2$' <<<"$syms" || fail "installed libnvidia-ml.so.1 does not export nvmlInit_v2"
n=$((n + 1))
! grep -q ' mig_' <<<"$syms" || fail "installed libnvidia-ml.so.1 exports kerf's mig_ symbols"

# The installed binary runs from where it was put, with the simulated driver beside it.
kerf="$tmp/all/usr/bin/kerf"
n=$((n + 1))
"$kerf" models >"$tmp/models" 2>&1 || fail "installed kerf models: $(cat "$tmp/models")"
n=$((n + 1))
KERF_FAKENVML_STATE="$tmp/state" "$tmp/all/usr/$libdir/fakenvml-ctl" init H100-80GB-SXM >"$tmp/init" 2>&1 ||
	fail "installed fakenvml-ctl init: $(cat "$tmp/init")"
KERF_FAKENVML_STATE="$tmp/state" "$kerf" status --nvml-library "$tmp/all/usr/$libdir/libnvidia-ml.so.1" >"$tmp/status" 2>&1 ||
	fail "installed kerf status on the installed simulated NVML: $(cat "$tmp/status")"
grep -q 'H100' "$tmp/status" || fail "kerf status does not show the simulated H100: $(cat "$tmp/status")"

# --version: one line, the project's version first, then the commit when built from a checkout.
n=$((n + 1))
version=$("$kerf" --version)
base=$(sed -n 's/^project(kerf VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[[ $version =~ ^kerf\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "kerf --version: \"$version\" does not start with a version"
if [ -e "$src/.git" ] && command -v git >/dev/null && ! git -C "$src" describe --tags >/dev/null 2>&1; then
	n=$((n + 1))
	head=$(git -C "$src" rev-parse --short HEAD)
	[[ $version == "kerf $base-g$head"* ]] || fail "kerf --version: \"$version\", want \"kerf $base-g$head...\""
fi
n=$((n + 1))
[ "$("$build/src/cli/kerf" --version)" = "$version" ] || fail "installed and built kerf --version differ"

echo "install: $((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
