#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kerf plan` and `kerf demo` from the outside: exit status, what goes to stdout and to stderr.
# Usage: cli_plan_test.sh KERF EXAMPLES_DIR. Bad input must exit 2, name the field by path on stderr and
# print nothing on stdout.
set -uo pipefail
kerf=$1
examples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ok NAME COMMAND... : exit 0 and stdout contains $want
ok() {
	local name=$1; shift
	n=$((n + 1))
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq 0 ] || { fail "$name: exit $rc: $(cat "$tmp/err")"; return; }
	grep -qF -- "$want" "$tmp/out" || fail "$name: stdout lacks \"$want\""
}

# bad NAME JSON FRAGMENT : kerf plan on JSON exits 2, stdout empty, stderr contains FRAGMENT
bad() {
	local name=$1 json=$2 frag=$3
	n=$((n + 1))
	printf '%s' "$json" >"$tmp/in.json"
	"$kerf" plan --input "$tmp/in.json" --output json >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, want 2"
	[ ! -s "$tmp/out" ] || fail "$name: stdout not empty"
	grep -qF -- "$frag" "$tmp/err" || fail "$name: stderr \"$(cat "$tmp/err")\" lacks \"$frag\""
}

for f in "$examples"/*.json; do
	want='"assignments"' ok "json $(basename "$f")" "$kerf" plan --input "$f" --output json
	want='Placed:' ok "table $(basename "$f")" "$kerf" plan --input "$f"
done
want='Layout changes' ok "stdin" sh -c "\"$kerf\" plan < \"$examples/cluster.json\""
want='What happened' ok "demo" "$kerf" demo
want='0 running pods disturbed' ok "demo timeline" "$kerf" demo
want='"pending"' ok "demo --json" "$kerf" demo --json
want='usage: kerf plan' ok "help" "$kerf" plan --help
# The embedded example is examples/cluster.json itself, byte for byte.
n=$((n + 1))
"$kerf" demo --json | cmp -s - "$examples/cluster.json" || fail "kerf demo --json differs from examples/cluster.json"
# The same input gives the same bytes.
n=$((n + 1))
a=$("$kerf" plan --input "$examples/cluster.json" --output json)
b=$("$kerf" plan --input "$examples/cluster.json" --output json)
[ "$a" = "$b" ] || fail "two runs differ"

H100='"model": "NVIDIA H100 80GB HBM3"'
node() { printf '{"nodes": [{"name": "a", "gpus": [{"index": 0, %s, "instances": [%s]}]}], "pending": []}' "$H100" "$1"; }
pod() { printf '{"nodes": [], "pending": [{"name": "p", "priority": 0, "resources": {%s}}]}' "$1"; }

bad "malformed" '{"nodes": [' 'line 1, column'
bad "not an object" '[1]' 'must be a JSON object'
bad "missing pending" '{"nodes": []}' 'pending: missing'
bad "unknown model" '{"nodes": [{"name": "a", "gpus": [{"index": 0, "model": "GTX 1080", "instances": []}]}], "pending": []}' \
	'nodes[0].gpus[0].model: unknown GPU model "GTX 1080"'
bad "unknown profile" "$(node '{"profile": "5g.50gb", "start": 0, "used": true}')" \
	'nodes[0].gpus[0].instances[0].profile: "5g.50gb" is not a profile'
bad "illegal start" "$(node '{"profile": "1g.10gb", "start": 0, "used": false}, {"profile": "2g.20gb", "start": 6, "used": true}')" \
	'nodes[0].gpus[0].instances[1].start: 6 is not a legal start for 2g.20gb (legal: 0, 2, 4)'
bad "overlap" "$(node '{"profile": "4g.40gb", "start": 0, "used": true}, {"profile": "1g.10gb", "start": 3, "used": true}')" \
	'nodes[0].gpus[0].instances[0] (4g.40gb@0) and instances[1] (1g.10gb@3) overlap'
bad "missing used" "$(node '{"profile": "1g.10gb", "start": 0}')" 'nodes[0].gpus[0].instances[0].used: missing'
bad "duplicate gpu index" '{"nodes": [{"name": "a", "gpus": [{"index": 1, '"$H100"', "instances": []}, {"index": 1, '"$H100"', "instances": []}]}], "pending": []}' \
	'nodes[0].gpus[1].index: 1 is also gpus[0].index'
bad "negative count" "$(pod '"nvidia.com/mig-2g.20gb": -1')" 'pending[0].resources["nvidia.com/mig-2g.20gb"]: count -1'
bad "zero count" "$(pod '"nvidia.com/mig-2g.20gb": 0')" 'pending[0].resources["nvidia.com/mig-2g.20gb"]: count 0'
bad "non-MIG resource" "$(pod '"nvidia.com/gpu": 1')" 'pending[0].resources["nvidia.com/gpu"]: not a MIG resource'
bad "unknown resource profile" "$(pod '"nvidia.com/mig-9g.99gb": 1')" 'no GPU model kerf knows has profile 9g.99gb'

n=$((n + 1))
"$kerf" plan --output yaml </dev/null >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ ! -s "$tmp/out" ] || fail "--output yaml: exit $rc"
n=$((n + 1))
"$kerf" plan --input "$tmp/does-not-exist.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q "does-not-exist" "$tmp/err" || fail "missing file: exit $rc"

echo "cli: $n checks, $fails failed"
[ $fails -eq 0 ]
