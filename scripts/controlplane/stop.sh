#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stops what start.sh started in STATE_DIR, and nothing else: each pid file names a process this harness
# launched, and a pid is signalled only while its command line still names the binary it was started with
# (a recycled pid belongs to someone else).
#
# Usage: scripts/controlplane/stop.sh STATE_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: stop.sh STATE_DIR}
[ -d "$dir/pids" ] || exit 0
for c in scheduler apiserver etcd; do
	"$here/ctl.sh" "$dir" "stop-$c"
done
echo "controlplane: stopped"
