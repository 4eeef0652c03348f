#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: build plain and sanitized (ASan + UBSan), run every CTest test in both.
# `make check` and .ci/run call this. Exit status is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for flavour in plain sanitized; do
	if [ $flavour = plain ]; then dir=build; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	else dir=build-san; extra=(-DCMAKE_BUILD_TYPE=Debug -DKERF_SANITIZE=ON); fi
	echo "=== $flavour build ($dir)"
	cmake -S . -B $dir "${extra[@]}" >/dev/null || { status=1; continue; }
	cmake --build $dir -j "$jobs" || { status=1; continue; }
	echo "=== $flavour tests"
	(cd $dir && KERF_FLAVOUR=$flavour ctest --output-on-failure -j "$jobs") || status=1
done
exit $status
