#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source file kerf wrote names its licence in its first lines (SPDX-License-Identifier: Apache-2.0, as
# LICENSE): C and headers, Go, shell, CMake and the build files. The kubelet's .proto files are Kubernetes'
# own, and YAML is rendered or compared byte for byte, so neither carries one.
# Usage: spdx_test.sh SOURCE_DIR. Outside a git checkout there is no list of tracked files: skipped (77).
set -uo pipefail
src=$1
. "${0%/*}/../lib.sh"
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || t_skip "not a git checkout: no list of the project's files"
n=0
missing=()
while IFS= read -r f; do
	case "$f" in
	*.c | *.h | *.go | *.sh | *.cmake | */CMakeLists.txt | CMakeLists.txt | Makefile | Dockerfile | .ci/run) ;;
	*) continue ;;
	esac
	n=$((n + 1))
	head -3 "$src/$f" | grep -q 'SPDX-License-Identifier: Apache-2.0' || missing+=("$f")
done < <(git -C "$src" ls-files)
for f in "${missing[@]}"; do echo "FAIL: $f has no SPDX-License-Identifier line"; done
echo "spdx: $((n - ${#missing[@]})) passed, ${#missing[@]} failed"
[ ${#missing[@]} -eq 0 ] && [ $n -gt 100 ]
