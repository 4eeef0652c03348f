#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/architecture.md's file tables ("Files, folder by folder") against the tree, both ways:
#   - every source file under the folders it covers (src/, tests/fakenvml/, tools/, bench/, scripts/, deploy/;
#     files ending .c .h .cmake .sh .go .yaml .tpl) is named in a row of its folder's table;
#   - every file or folder a row names exists.
# A table belongs to the heading above it, "### `FOLDER/`"; a row's first cell names one or more files in
# backquotes, relative to that folder; a name ending in "/" stands for everything below it.
# Usage: docs_files_test.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: docs_files_test.sh SOURCE_DIR}
doc=$src/docs/architecture.md
[ -f "$doc" ] || { echo "FAIL: $doc is missing"; exit 1; }

# One line per name in the tables: FOLDER/NAME (FOLDER/ from the heading).
named=$(awk '
	/^#/ { dir = ""; if (match($0, /^### `[^`]*\/`/)) dir = substr($0, 6, RLENGTH - 6); next }
	dir != "" && /^\| `/ {
		split($0, cell, "|"); c = cell[2]
		while (match(c, /`[^`]*`/)) { print dir substr(c, RSTART + 1, RLENGTH - 2); c = substr(c, RSTART + RLENGTH) }
	}' "$doc")

fail=0
n_named=0
while IFS= read -r p; do
	[ -n "$p" ] || continue
	n_named=$((n_named + 1))
	[ -e "$src/$p" ] || { echo "FAIL: docs/architecture.md names $p, which does not exist"; fail=$((fail + 1)); }
done <<<"$named"

n_files=0
while IFS= read -r f; do
	n_files=$((n_files + 1))
	covered=0
	while IFS= read -r p; do
		case $p in
		*/) [ "${f#"$p"}" != "$f" ] && covered=1 ;;
		*) [ "$p" = "$f" ] && covered=1 ;;
		esac
		[ $covered = 1 ] && break
	done <<<"$named"
	[ $covered = 1 ] || { echo "FAIL: $f has no row in docs/architecture.md (\"Files, folder by folder\")"; fail=$((fail + 1)); }
done < <(cd "$src" && find src tests/fakenvml tools bench scripts deploy -type f \
	\( -name '*.c' -o -name '*.h' -o -name '*.cmake' -o -name '*.sh' -o -name '*.go' -o -name '*.yaml' -o -name '*.tpl' \) |
	LC_ALL=C sort)

echo "docs_files: $n_files files, $n_named names in the tables, $fail failed"
# A table that lost its heading would name nothing and check nothing: insist on the tables being there.
[ $fail -eq 0 ] && [ $n_files -gt 100 ] && [ $n_named -gt 100 ]
