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
. "${0%/*}/../lib.sh"

# present DIR PATH...: each PATH exists under DIR
present() {
	local dir=$1
	shift
	for p in "$@"; do
		check "$(basename "$dir"): $p" test -e "$dir/$p"
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
present "$tmp/product" "${product[@]}"
present "$tmp/sim" "usr/$libdir/libnvidia-ml.so.1" "usr/$libdir/fakenvml-ctl"
present "$tmp/all" "${product[@]}" "usr/$libdir/libnvidia-ml.so.1"

# The product never carries a libnvidia-ml, and the stand-in nothing but its folder.
found=$(find "$tmp/product" -name 'libnvidia-ml*')
check "component kerf installs no NVML library ($found)" test -z "$found"
others=$(cd "$tmp/sim" && find . -type f ! -path "./usr/$libdir/*")
check "component simulated-nvml installs only in its folder ($others)" test -z "$others"

# The stand-in looks like NVML to dlsym: its entry points are exported, kerf's own symbols are not.
syms=$(nm -D --defined-only "$tmp/sim/usr/$libdir/libnvidia-ml.so.1" 2>&1)
grep -q ' nvmlInit_v2$' <<<"$syms" && pass "installed libnvidia-ml.so.1 exports nvmlInit_v2" ||
	fail "installed libnvidia-ml.so.1 does not export nvmlInit_v2"
! grep -q ' mig_' <<<"$syms" && pass "installed libnvidia-ml.so.1 exports none of kerf's mig_ symbols" ||
	fail "installed libnvidia-ml.so.1 exports kerf's mig_ symbols"

# The installed binary runs from where it was put, with the simulated driver beside it.
kerf="$tmp/all/usr/bin/kerf"
run "installed kerf models" 0 "$kerf" models
KERF_FAKENVML_STATE="$tmp/state" run "installed fakenvml-ctl init" 0 "$tmp/all/usr/$libdir/fakenvml-ctl" init H100-80GB-SXM
KERF_FAKENVML_STATE="$tmp/state" run "installed kerf status on the installed simulated NVML" 0 \
	"$kerf" status --nvml-library "$tmp/all/usr/$libdir/libnvidia-ml.so.1"
has out 'H100' "kerf status shows the simulated H100"

# --version: one line, the project's version first, then the commit when built from a checkout.
version=$("$kerf" --version)
base=$(sed -n 's/^project(kerf VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[[ $version =~ ^kerf\ [0-9]+\.[0-9]+\.[0-9]+ ]] && pass "kerf --version starts with a version" ||
	fail "kerf --version: \"$version\" does not start with a version"
if [ -e "$src/.git" ] && command -v git >/dev/null && ! git -C "$src" describe --tags >/dev/null 2>&1; then
	head=$(git -C "$src" rev-parse --short HEAD)
	[[ $version == "kerf $base-g$head"* ]] && pass "kerf --version names the commit" ||
		fail "kerf --version: \"$version\", want \"kerf $base-g$head...\""
fi
check "installed and built kerf --version agree" test "$("$build/src/cli/kerf" --version)" = "$version"

t_finish install
