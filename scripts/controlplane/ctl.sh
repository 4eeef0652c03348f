#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts or stops one component of the control plane in STATE_DIR (written by start.sh). The watch
# resilience tests use it to kill kube-apiserver mid-watch, compact etcd, and bring the apiserver back.
#
# Usage: scripts/controlplane/ctl.sh STATE_DIR COMMAND
#   start-etcd | start-apiserver | start-scheduler     start and wait until healthy
#   stop-etcd  | stop-apiserver  | stop-scheduler      SIGTERM (then SIGKILL) the process from its pid file
#   kill-apiserver                                      SIGKILL: the connection drops without a goodbye
#   compact                                             compact etcd's history up to its current revision
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=${1:?usage: ctl.sh STATE_DIR COMMAND}
cmd=${2:?usage: ctl.sh STATE_DIR COMMAND}
# shellcheck disable=SC1091
. "$dir/env"
etcd_url=http://127.0.0.1:$KERF_CP_ETCD_PORT
# Without kube-controller-manager no namespace gets its "default" service account, which that plugin requires.
admission=(--disable-admission-plugins ServiceAccount)
[ "${KERF_CP_SA_ADMISSION:-0}" = 1 ] && admission=()

case $cmd in
start-etcd)
	cp_launch "$dir" etcd "$KERF_CP_ETCD" --name kerf-test --data-dir "$dir/etcd" \
		--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
		--listen-peer-urls "http://127.0.0.1:$KERF_CP_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$KERF_CP_PEER_PORT" \
		--initial-cluster "kerf-test=http://127.0.0.1:$KERF_CP_PEER_PORT" \
		--unsafe-no-fsync --log-level warn
	cp_wait_http "$dir" etcd "$etcd_url/health" 60
	;;
start-apiserver)
	cp_launch "$dir" apiserver "$KERF_CP_BIN/kube-apiserver" \
		--etcd-servers "$etcd_url" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
		--secure-port "$KERF_CP_API_PORT" --cert-dir "$dir/pki" \
		--tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
		--client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" \
		--authorization-mode RBAC \
		--service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/24 \
		"${admission[@]}" --enable-priority-and-fairness=false \
		--endpoint-reconciler-type none --profiling=false --allow-privileged=true --v 1
	cp_wait_http "$dir" apiserver "https://127.0.0.1:$KERF_CP_API_PORT/readyz" 180
	;;
start-scheduler)
	cp_launch "$dir" scheduler "$KERF_CP_BIN/kube-scheduler" \
		--kubeconfig "$dir/scheduler.kubeconfig" --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
		--authorization-kubeconfig "$dir/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KERF_CP_SCHED_PORT" --leader-elect=false --v 1
	cp_wait_http "$dir" scheduler "https://127.0.0.1:$KERF_CP_SCHED_PORT/healthz" 120 insecure
	;;
stop-etcd | stop-apiserver | stop-scheduler) cp_stop "$dir" "${cmd#stop-}" TERM ;;
kill-apiserver) cp_stop "$dir" apiserver KILL ;;
compact)
	# etcd's gRPC gateway speaks JSON: read the head revision, then compact everything before it.
	rev=$(curl -sf -X POST -d '{"key":"AA=="}' "$etcd_url/v3/kv/range" | sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')
	[ -n "$rev" ] || { echo "ctl: cannot read etcd revision" >&2; exit 1; }
	curl -sf -X POST -d "{\"revision\":\"$rev\",\"physical\":true}" "$etcd_url/v3/kv/compaction" >/dev/null
	echo "$rev"
	;;
*) echo "ctl: unknown command $cmd" >&2; exit 2 ;;
esac
