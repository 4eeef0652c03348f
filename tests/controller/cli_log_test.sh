#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --log-level and --log-format of `kerf agent` and `kerf controller` from the outside: bad values exit 2 and
# name the option; good ones change what the daemon writes on stderr (level filter, logfmt or JSON lines).
# Usage: cli_log_test.sh KERF. No cluster and no GPU: the agent is started with an NVML library that does not
# exist, so it logs where its cluster configuration came from (info) and why it could not start (error).
set -uo pipefail
kerf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# refused NAME FRAGMENT ARGS... : exit 2, stderr contains FRAGMENT
refused() {
	local name=$1 frag=$2; shift 2
	n=$((n + 1))
	"$kerf" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, want 2"
	grep -qF -- "$frag" "$tmp/err" || fail "$name: stderr \"$(cat "$tmp/err")\" lacks \"$frag\""
}

for cmd in agent controller; do
	node=; [ $cmd = agent ] && node="--node n"
	refused "$cmd bad level" '--log-level: "verbose" is not a level' $cmd $node --log-level=verbose
	refused "$cmd bad level, separate value" '--log-level: "INFO" is not a level' $cmd $node --log-level INFO
	refused "$cmd level without value" '--log-level:' $cmd $node --log-level
	refused "$cmd bad format" '--log-format: "xml" is not a format' $cmd $node --log-format=xml
	n=$((n + 1))
	"$kerf" $cmd --help >"$tmp/out" 2>&1 || fail "$cmd --help: exit $?"
	grep -q -- '--log-level LEVEL' "$tmp/out" && grep -q -- '--log-format FORMAT' "$tmp/out" ||
		fail "$cmd --help does not document --log-level and --log-format"
done

cat >"$tmp/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
KC

# agent ARGS... : one agent start that fails at NVML; its stderr in $tmp/err
agent() {
	n=$((n + 1))
	"$kerf" agent --node n1 --kubeconfig "$tmp/kubeconfig" --nvml-library "$tmp/no-such-libnvidia-ml.so" --once \
		--listen "" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq 1 ] || fail "agent $*: exit $rc, want 1"
}

agent
grep -qE '^ts=[0-9T:.-]+Z level=info component=agent msg="cluster configuration read" source=' "$tmp/err" ||
	fail "default: no logfmt info line: $(cat "$tmp/err")"
grep -qE '^ts=[^ ]+ level=error component=agent msg="start failed" error="[^"]*no-such-libnvidia-ml' "$tmp/err" ||
	fail "default: no logfmt error line: $(cat "$tmp/err")"

agent --log-level=error
grep -q 'level=info' "$tmp/err" && fail "--log-level=error: an info line was written"
grep -q 'level=error' "$tmp/err" || fail "--log-level=error: the error line is missing"

agent --log-format json --log-level debug
[ "$(grep -c . "$tmp/err")" -ge 2 ] || fail "json: want at least two lines: $(cat "$tmp/err")"
while IFS= read -r line; do
	case $line in
	'{"ts":"'*'","level":"'*'","component":"agent","msg":"'*'}') ;;
	*) fail "json: not a JSON object line: $line" ;;
	esac
done <"$tmp/err"
if command -v python3 >/dev/null; then
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["component"] == "agent" and o["level"] in ("info", "error"), o
' "$tmp/err" || fail "json: a line does not parse"
fi

echo "$((n - fails)) of $n passed"
[ $fails -eq 0 ]
