#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `helm install` of kerf's chart on a real cluster (scripts/cluster.sh --no-kerf): the release deploys, the
# real kube-controller-manager makes one agent pod per node that opted in (kerf.dev/mig=true) and none on the
# others, and the controller's two replicas; kube-scheduler places them and the kubelets run them. The
# runtime here is the fake CRI (--runtime fake), so the containers run no process: what this shows is that the
# chart's default objects are what a cluster accepts and acts on. The other cluster tests run kerf's daemons in
# the chart's pods on containerd.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cl_up "gpu-a=H100-80GB-SXM gpu-b=A30-24GB plain=A100-40GB" --no-kerf --runtime fake
k label node plain kerf.dev/mig- >/dev/null # a node that did not opt in

# Listeners and probes off: every pod of this one-host cluster shares the host's network (docs/cluster.md, Limits).
"$cl_root/scripts/helm.sh" install kerf "$cl_root/deploy/helm/kerf" \
	--kubeconfig "$KERF_CLUSTER_DIR/admin.kubeconfig" --namespace kerf-system --create-namespace \
	--set apiServer="127.0.0.1:$KERF_CP_API_PORT" --set hostNetwork=true --set agent.listen= --set controller.listen= --wait --timeout 120s >"$KERF_CLUSTER_DIR/helm.out" 2>&1
check "helm install deploys the release (--wait: every pod ready)" grep -q 'STATUS: deployed' "$KERF_CLUSTER_DIR/helm.out" ||
	cat "$KERF_CLUSTER_DIR/helm.out"

agent_nodes() { k get pods -n kerf-system -l app.kubernetes.io/name=kerf-agent -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | sort | xargs; }
check "one agent pod on each node that opted in, none on the other ($(agent_nodes))" test "$(agent_nodes)" = "gpu-a gpu-b"
running() { # LABEL COUNT: that many pods of the app Running
	[ "$(k get pods -n kerf-system -l "app.kubernetes.io/name=$1" --field-selector status.phase=Running -o name | wc -l)" = "$2" ]
}
check "the agents run" running kerf-agent 2
check "the controller's two replicas run" running kerf-controller 2
ds_has() { k get ds -n kerf-system kerf-agent -o json | grep -qF -- "$1"; }
check "the agent pods run privileged" ds_has '"privileged": true'
check "with the kubelet's device-plugin folder" ds_has '/var/lib/kubelet/device-plugins'
check "and the API server's address (apiServer)" ds_has "\"value\": \"$KERF_CP_API_PORT\""
crd_there() { k get crd miglayouts.kerf.dev -o name >/dev/null; }
check "the CRD is there" crd_there
"$cl_root/scripts/helm.sh" uninstall kerf --kubeconfig "$KERF_CLUSTER_DIR/admin.kubeconfig" \
	--namespace kerf-system --wait >/dev/null 2>&1
daemons_gone() { [ -z "$(k get ds,deploy -n kerf-system -o name)" ]; }
check "helm uninstall removes the daemons" eventually 60 daemons_gone
cl_finish
