#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The option parser as the `kerf` subcommands use it (src/cli/cli_opts.c): both value spellings, refusals
# (exit 2, the option and the bad value named on stderr, nothing on stdout) and the deprecated spellings
# --library and --journal-dir, which still work and say which name replaces them. No GPU needed: the
# refusals come before NVML is opened, and an alias is shown working by the library path it hands on.
# Usage: cli_opts_test.sh KERF CLUSTER_JSON
set -uo pipefail
kerf=$1 cluster=$2
. "${0%/*}/../lib.sh"

refused() { # NAME TEXT COMMAND...: exit 2, TEXT on stderr, stdout empty
	local name=$1 text=$2; shift 2
	run "$name" 2 "$@"
	has err "$text" "$name"
	check "$name: stdout empty" test ! -s "$tmp/out"
}

# --x=v and --x v read the same.
run "plan --input FILE" 0 "$kerf" plan --input "$cluster" --output json
cp "$tmp/out" "$tmp/separate"
run "plan --input=FILE" 0 "$kerf" plan --input="$cluster" --output=json
check "--input=FILE --output=json prints what --input FILE --output json does" cmp -s "$tmp/out" "$tmp/separate"
check "plan printed something" test -s "$tmp/out"

refused "unknown option" 'unknown option "--inptu"' "$kerf" plan --inptu "$cluster"
refused "missing value" '--output: a value is missing' "$kerf" plan --input "$cluster" --output
refused "flag with a value" '--json takes no value' "$kerf" demo --json=yes
refused "empty GPU index (status)" '--gpu: "" is not a GPU index' "$kerf" status --gpu ""
refused "empty GPU index (apply)" '--gpu: "" is not a GPU index' "$kerf" apply --gpu= --layout -
refused "bad GPU index" '--gpu: "1x" is not a GPU index' "$kerf" status --gpu 1x
refused "negative GPU index" '--gpu: "-1" is not a GPU index' "$kerf" apply --gpu -1 --layout -
refused "interval out of range" '--interval: "99" is not a number of milliseconds from 100 to 3600000' \
	"$kerf" agent --node n1 --interval 99
refused "events out of range" '--events-per-second: "0" is not a whole number of Events from 1 to 10000' \
	"$kerf" controller --events-per-second 0
refused "write concurrency out of range" '--write-concurrency: "65" is not a whole number from 1 to 64' \
	"$kerf" controller --write-concurrency=65
refused "empty scheduler name" '--scheduler-name: empty value' "$kerf" controller --scheduler-name ""
refused "bad log level" '--log-level: "loud" is not a level' "$kerf" controller --log-level=loud
refused "pods out of range" '--pods: "10000001" is not a whole number from 0 to 10000000' \
	"$kerf" simulate --pods 10000001
refused "empty pods" '--pods: "" is not a whole number' "$kerf" simulate --pods=
refused "bad load" '--load: "0.9x" is not a number' "$kerf" simulate --load 0.9x

# The old spellings work: the library path they give is the one NVML is asked to load.
run "status --library" 1 "$kerf" status --library "$tmp/no-such-libnvidia-ml.so"
has err "kerf status: --library is deprecated, use --nvml-library" "status --library note"
has err "$tmp/no-such-libnvidia-ml.so" "status --library is used"
run "status --nvml-library" 1 "$kerf" status --nvml-library "$tmp/no-such-libnvidia-ml.so"
lacks err "deprecated" "status --nvml-library"
has err "$tmp/no-such-libnvidia-ml.so" "status --nvml-library is used"
mkdir "$tmp/plugins"
run "apply --journal-dir --library" 1 "$kerf" apply --gpu 0 --layout - --dry-run --plugin-dir "$tmp/plugins" \
	--journal-dir "$tmp/state" --library="$tmp/no-such-libnvidia-ml.so"
has err "kerf apply: --journal-dir is deprecated, use --state-dir" "apply --journal-dir note"
has err "kerf apply: --library is deprecated, use --nvml-library" "apply --library note"
has err "$tmp/no-such-libnvidia-ml.so" "apply --library is used"
check "apply: one note per old spelling" test "$(grep -c deprecated "$tmp/err")" -eq 2

t_finish "cli options"
