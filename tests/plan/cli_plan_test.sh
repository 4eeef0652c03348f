#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kerf plan` and `kerf demo` from the outside: exit status, what goes to stdout and to stderr.
# Usage: cli_plan_test.sh KERF EXAMPLES_DIR. Bad input must exit 2, name the field by path on stderr and
# print nothing on stdout.
set -uo pipefail
kerf=$1
examples=$2
. "${0%/*}/../lib.sh"

# ok NAME WANT COMMAND... : exit 0 and stdout contains WANT
ok() {
	local name=$1 want=$2
	shift 2
	run "$name" 0 "$@"
	has out "$want" "$name"
}

# bad NAME JSON FRAGMENT : kerf plan on JSON exits 2, stdout empty, stderr contains FRAGMENT
bad() {
	local name=$1 json=$2 frag=$3
	printf '%s' "$json" >"$tmp/in.json"
	run "$name" 2 "$kerf" plan --input "$tmp/in.json" --output json
	check "$name: stdout empty" test ! -s "$tmp/out"
	has err "$frag" "$name"
}

for f in "$examples"/*.json; do
	ok "json $(basename "$f")" '"assignments"' "$kerf" plan --input "$f" --output json
	ok "table $(basename "$f")" 'Placed:' "$kerf" plan --input "$f"
done
ok "stdin" 'Layout changes' sh -c "\"$kerf\" plan < \"$examples/cluster.json\""
ok "demo" 'What happened' "$kerf" demo
ok "demo timeline" '0 running pods disturbed' "$kerf" demo
ok "demo --json" '"pending"' "$kerf" demo --json
ok "help" 'usage: kerf plan' "$kerf" plan --help
# The embedded example is examples/cluster.json itself, byte for byte.
embedded() { "$kerf" demo --json | cmp -s - "$examples/cluster.json"; }
check "kerf demo --json is examples/cluster.json" embedded
# The same input gives the same bytes.
a=$("$kerf" plan --input "$examples/cluster.json" --output json)
b=$("$kerf" plan --input "$examples/cluster.json" --output json)
check "two runs print the same" test "$a" = "$b"

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

run "--output yaml" 2 "$kerf" plan --output yaml
check "--output yaml: stdout empty" test ! -s "$tmp/out"
run "missing file" 2 "$kerf" plan --input "$tmp/does-not-exist.json"
check "missing file: stdout empty" test ! -s "$tmp/out"
has err "does-not-exist" "missing file"

t_finish cli
