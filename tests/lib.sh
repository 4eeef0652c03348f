# SPDX-License-Identifier: Apache-2.0
# What the shell tests share (sourced: `. "${0%/*}/../lib.sh"`): a temporary folder removed on exit, checks that
# count and say what failed, running a command with its output kept, and skipping with the reason.
#
# Every test reads the same way: `ok NAME` or `FAIL NAME: why` a check, then one summary line, and the exit status
# CTest reads: 0 all passed, 1 something failed, 77 skipped (SKIP_RETURN_CODE 77, with `SKIP: reason` printed,
# so that a test whose tool or privilege is missing is reported, never silently passed or left out).
# POSIX sh plus `local` (dash and bash both have it): tests/nvml/cli_test.sh runs under sh.
#
#   tmp               a fresh folder, removed when the script exits (t_on_exit adds to that)
#   t_on_exit CMD     run CMD (a string, eval'd) when the script exits, before tmp goes
#   fail MESSAGE      count a failed check (returns 1, as every check below does when it fails: `check ... || cat log`)
#   pass MESSAGE      count a passed one
#   check NAME CMD... a check that passes when CMD succeeds
#   run NAME RC CMD... run CMD (stdin empty), stdout in $tmp/out, stderr in $tmp/err; its exit status must be RC
#   has WHERE TEXT [NAME] / lacks WHERE TEXT [NAME]
#                     WHERE (out, err, or a path) holds / does not hold TEXT
#   t_skip REASON     say why and exit 77
#   t_finish LABEL    print "LABEL: N checks, M failed" and exit 0 or 1
t_checks=0 t_fails=0 t_exit=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kerf-test.XXXXXX") || exit 1

t_cleanup() {
	[ -z "$t_exit" ] || eval "$t_exit"
	rm -rf "$tmp"
}
trap t_cleanup EXIT

t_on_exit() { t_exit="${t_exit:+$t_exit; }$1"; }

fail() {
	echo "FAIL $*"
	t_checks=$((t_checks + 1)) t_fails=$((t_fails + 1))
	return 1
}

pass() {
	echo "ok   $*"
	t_checks=$((t_checks + 1))
}

check() {
	local name="$1"
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

run() {
	local name="$1" want="$2" rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$name: exit $rc"
	else
		fail "$name: exit $rc, want $want ($(head -c 300 "$tmp/err"))"
	fi
}

t_where() { case "$1" in */*) echo "$1" ;; *) echo "$tmp/$1" ;; esac; }

has() {
	local f
	f=$(t_where "$1")
	if grep -qF -- "$2" "$f"; then
		pass "${3:+$3: }$1 has \"$2\""
	else
		fail "${3:-$1}: $1 lacks \"$2\" ($(head -c 300 "$f"))"
	fi
}

lacks() {
	local f
	f=$(t_where "$1")
	if grep -qF -- "$2" "$f"; then fail "${3:-$1}: $1 has \"$2\""; else pass "${3:+$3: }$1 lacks \"$2\""; fi
}

t_skip() {
	echo "SKIP: $*"
	exit 77
}

t_finish() {
	echo "$1: $t_checks checks, $t_fails failed"
	[ "$t_fails" -eq 0 ] && exit 0
	exit 1
}
