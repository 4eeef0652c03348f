#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Starts a real, throw-away Kubernetes control plane on loopback for kerf's integration tests:
# etcd, kube-apiserver (TLS with a CA generated here, RBAC on) and kube-scheduler, each on a free port.
# Builds kube-apiserver/kube-scheduler first if the cache lacks them (build.sh).
#
# Usage: scripts/controlplane/start.sh STATE_DIR
# Leaves in STATE_DIR:
#   env                 shell-sourceable: KERF_CP_DIR, KUBECONFIG (token user "kerf-test", bound to
#                       cluster-admin through RBAC), KERF_CP_ADMIN_KUBECONFIG (client-certificate user),
#                       KERF_CP_SERVER, the ports
#   kubeconfig, admin.kubeconfig, pki/, logs/*.log, pids/*.pid
# KERF_CP_SA_ADMISSION=1 keeps the ServiceAccount admission plugin on (pods get their service account's token
# volume; it needs kube-controller-manager to make each namespace's "default" account), as a real cluster has it.
# Stop with stop.sh STATE_DIR (it kills only the processes whose pid files this script wrote).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=${1:?usage: start.sh STATE_DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# A state folder left by a run that was killed half way: stop what it started, then start clean.
"$here/stop.sh" "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"/{etcd,pki,logs,pids,env,kubeconfig,admin.kubeconfig}
mkdir -p "$dir"/{pki,logs,pids}

bin=$("$here/build.sh" | tail -n 1)
etcd_bin=$(cp_find_etcd)

etcd_port=$(cp_free_port)
peer_port=$(cp_free_port "$etcd_port")
api_port=$(cp_free_port "$etcd_port" "$peer_port")
sched_port=$(cp_free_port "$etcd_port" "$peer_port" "$api_port")

cp_make_pki "$dir/pki"
token=$(openssl rand -hex 24)
echo "$token,kerf-test,kerf-test-uid," > "$dir/pki/tokens.csv"

cat > "$dir/env" <<ENV
KERF_CP_DIR=$dir
KERF_CP_BIN=$bin
KERF_CP_ETCD=$etcd_bin
KERF_CP_ETCD_PORT=$etcd_port
KERF_CP_PEER_PORT=$peer_port
KERF_CP_API_PORT=$api_port
KERF_CP_SCHED_PORT=$sched_port
KERF_CP_SERVER=https://127.0.0.1:$api_port
KUBECONFIG=$dir/kubeconfig
KERF_CP_ADMIN_KUBECONFIG=$dir/admin.kubeconfig
KERF_CP_SA_ADMISSION=${KERF_CP_SA_ADMISSION:-0}
ENV
# shellcheck disable=SC1091
. "$dir/env"

cp_write_kubeconfig "$dir/kubeconfig" "https://127.0.0.1:$api_port" "$dir/pki/ca.crt" \
	"token: $token" kerf-test
cp_write_kubeconfig "$dir/admin.kubeconfig" "https://127.0.0.1:$api_port" "$dir/pki/ca.crt" \
	"client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key" admin
cp_write_kubeconfig "$dir/scheduler.kubeconfig" "https://127.0.0.1:$api_port" "$dir/pki/ca.crt" \
	"client-certificate: $dir/pki/scheduler.crt
    client-key: $dir/pki/scheduler.key" scheduler

"$here/ctl.sh" "$dir" start-etcd
"$here/ctl.sh" "$dir" start-apiserver

# RBAC is on: the test user gets its rights from a binding, as a real deployment's would.
cp_admin_apply "$dir" /apis/rbac.authorization.k8s.io/v1/clusterrolebindings application/json \
'{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
  "metadata":{"name":"kerf-test-admin"},
  "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
  "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"kerf-test"}]}'
for crd in "$cp_root"/deploy/helm/kerf/crds/*.yaml; do
	[ -e "$crd" ] || continue
	cp_admin_apply "$dir" /apis/apiextensions.k8s.io/v1/customresourcedefinitions application/yaml "$(cat "$crd")"
done
cp_wait_crds_established "$dir"

"$here/ctl.sh" "$dir" start-scheduler
echo "controlplane: up at https://127.0.0.1:$api_port (KUBECONFIG=$dir/kubeconfig)"
