#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/kerf.yaml (rendered from the Helm chart) against the real control plane (the kube_cp fixture,
# $KERF_CP_DIR): the API server accepts every object, and each service account is allowed what its daemon does and refused what
# it must not do. `kerf agent --once` runs as the agent's account (a TokenRequest token in a kubeconfig),
# against the simulated NVML library and the Go kubelet stand-in, and its MigLayout appears with a status;
# then `kerf controller --once` runs as the controller's account and writes that node's spec for a pod.
# Usage: deploy_test.sh KERF FAKENVML_CTL FAKE_LIBNVML KUBELET_STANDIN
set -uo pipefail
kerf=$1 ctl=$2 lib=$3 standin=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/controlplane/lib.sh"
. "${KERF_CP_DIR:?run through CTest: the kube_cp fixture sets KERF_CP_DIR}/env"
. "$here/../lib.sh"
node="deploy-test-$$"
users="deploy-users-$$"
standin_pid=
cleanup() {
	exec 3>&- # the stand-in's stdin: EOF ends it
	[ -n "$standin_pid" ] && wait "$standin_pid" 2>/dev/null
	admin DELETE "/apis/kerf.dev/v1alpha1/miglayouts/$node" >/dev/null
	admin DELETE "/api/v1/nodes/$node" >/dev/null
	# no namespace controller runs here: a pod left Pending would be planned by later tests
	admin DELETE "/api/v1/namespaces/$users/pods/wants-1g?gracePeriodSeconds=0" >/dev/null
}
t_on_exit cleanup

# admin METHOD PATH [BODY [CONTENT-TYPE]]: the answer's body on stdout, its HTTP status in $tmp/code
admin() {
	curl -s --max-time 30 --cacert "$KERF_CP_DIR/pki/ca.crt" --cert "$KERF_CP_DIR/pki/admin.crt" \
		--key "$KERF_CP_DIR/pki/admin.key" -X "$1" ${3:+--data-binary "$3"} -H "Content-Type: ${4:-application/json}" \
		-w '\n%{http_code}' "$KERF_CP_SERVER$2" | sed '$w '"$tmp/code"'
$d'
}
# as_agent METHOD PATH [BODY [CONTENT-TYPE]]: the same with $token (the agent's, then the controller's)
as_agent() {
	curl -s --max-time 30 --cacert "$KERF_CP_DIR/pki/ca.crt" -H "Authorization: Bearer $token" -X "$1" \
		${3:+--data-binary "$3"} -H "Content-Type: ${4:-application/json}" -w '\n%{http_code}' "$KERF_CP_SERVER$2" |
		sed '$w '"$tmp/code"'
$d'
}
code() { cat "$tmp/code"; }

# Where each kind of object in deploy/kerf.yaml is created.
path_of() {
	case $(sed -n 's/^kind: *//p' "$1") in
	Namespace) echo /api/v1/namespaces ;;
	ServiceAccount) echo /api/v1/namespaces/kerf-system/serviceaccounts ;;
	ClusterRole) echo /apis/rbac.authorization.k8s.io/v1/clusterroles ;;
	ClusterRoleBinding) echo /apis/rbac.authorization.k8s.io/v1/clusterrolebindings ;;
	Role) echo /apis/rbac.authorization.k8s.io/v1/namespaces/kerf-system/roles ;;
	RoleBinding) echo /apis/rbac.authorization.k8s.io/v1/namespaces/kerf-system/rolebindings ;;
	DaemonSet) echo /apis/apps/v1/namespaces/kerf-system/daemonsets ;;
	Deployment) echo /apis/apps/v1/namespaces/kerf-system/deployments ;;
	CustomResourceDefinition) echo /apis/apiextensions.k8s.io/v1/customresourcedefinitions ;;
	*) echo /unknown-kind ;;
	esac
}

# One file per YAML document, in order (the Namespace first, as helm template puts it).
awk -v dir="$tmp" '/^---/ { n++; next } { print > (dir "/doc-" sprintf("%02d", n) ".yaml") }' \
	"$here/../../deploy/kerf.yaml"
docs=0
for file in "$tmp"/doc-*.yaml; do
	grep -q '^kind:' "$file" || continue
	docs=$((docs + 1))
	what="$(sed -n 's/^kind: *//p' "$file") $(sed -n 's/^  name: *//p' "$file" | head -n 1)"
	admin POST "$(path_of "$file")" "$(cat "$file")" application/yaml >"$tmp/out"
	check "the API server accepts $what from deploy/kerf.yaml ($(code))" grep -Eq '^(201|409)$' "$tmp/code"
done
check "deploy/kerf.yaml holds 12 objects: the CRD, the namespace, 4 for the agent, 6 for the controller" test $docs -eq 12

# login ACCOUNT: a kubeconfig at $tmp/ACCOUNT.kubeconfig with a fresh token, which is also left in $token
login() {
	admin POST "/api/v1/namespaces/kerf-system/serviceaccounts/$1/token" \
		'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}' >"$tmp/token.json"
	token=$(sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$tmp/token.json")
	check "a token for the $1 service account" test -n "$token"
	cp_write_kubeconfig "$tmp/$1.kubeconfig" "$KERF_CP_SERVER" "$KERF_CP_DIR/pki/ca.crt" "token: $token" "$1"
}
login kerf-agent

# The node: one simulated H100, a kubelet stand-in serving pod-resources. Its stdin is a FIFO this script
# holds open on fd 3; closing it at the end is the stand-in's EOF, and it exits.
export KERF_FAKENVML_STATE="$tmp/gpus"
"$ctl" init H100-80GB-SXM >/dev/null && "$ctl" create 0 "3g.40gb@0,3g.40gb@4" >/dev/null || exit 1
mkfifo "$tmp/standin.in"
"$standin" -dir "$tmp" -podres "$tmp/podres.sock" <"$tmp/standin.in" >/dev/null 2>&1 &
standin_pid=$!
exec 3>"$tmp/standin.in"
for _ in $(seq 100); do [ -S "$tmp/podres.sock" ] && break; sleep 0.1; done
mkdir -p "$tmp/journal"

"$kerf" agent --node "$node" --kubeconfig "$tmp/kerf-agent.kubeconfig" --once --nvml-library "$lib" \
	--state-dir "$tmp/journal" --plugin-dir "$tmp" --pod-resources "$tmp/podres.sock" 2>"$tmp/agent.log"
check "kerf agent --once as the service account exits 0" test $? -eq 0 || cat "$tmp/agent.log"

as_agent GET "/apis/kerf.dev/v1alpha1/miglayouts/$node" >"$tmp/ml.json"
check "the agent may read its MigLayout" test "$(code)" = 200
check "... which it created, with its status" grep -q '"observedGeneration": *1' "$tmp/ml.json"
check "... reporting the GPU's instances" grep -q '"profile": *"3g.40gb"' "$tmp/ml.json"

as_agent PATCH "/apis/kerf.dev/v1alpha1/miglayouts/$node" '{"spec":{"gpus":[]}}' application/merge-patch+json >/dev/null
check "the agent may not write a spec (403)" test "$(code)" = 403
as_agent DELETE "/apis/kerf.dev/v1alpha1/miglayouts/$node" >/dev/null
check "the agent may not delete a MigLayout (403)" test "$(code)" = 403
as_agent GET /api/v1/namespaces/kerf-system/secrets >/dev/null
check "the agent may not read secrets (403)" test "$(code)" = 403
as_agent GET "/api/v1/pods?fieldSelector=spec.nodeName%3D$node" >/dev/null
check "the agent may list the pods bound to its node" test "$(code)" = 200
as_agent GET "/apis/resource.k8s.io/v1/resourceslices?fieldSelector=spec.nodeName%3D$node" >/dev/null
check "the agent may list its node's ResourceSlices (is NVIDIA's DRA driver there?)" test "$(code)" = 200
as_agent GET "/api/v1/nodes/$node" >/dev/null
check "the agent may read its Node (is the GPU Operator's MIG manager at work?)" test "$(code)" != 403
as_agent GET "/api/v1/pods?watch=1&timeoutSeconds=1&fieldSelector=spec.nodeName%3D$node" >/dev/null
check "... and watch them" test "$(code)" = 200
as_agent DELETE "/api/v1/namespaces/kerf-system/pods/any" >/dev/null
check "the agent may not delete a pod (403)" test "$(code)" = 403

admin GET /apis/apps/v1/namespaces/kerf-system/daemonsets/kerf-agent >"$tmp/ds.json"
check "the DaemonSet exists and runs kerf agent" grep -q '"kerf"' "$tmp/ds.json"

# The controller: a user's pod asks for a 1g.10gb; the node (Ready, as its kubelet would report it) has two
# free 3g.40gb.
admin POST /api/v1/nodes "{\"metadata\":{\"name\":\"$node\"}}" >/dev/null
admin PATCH "/api/v1/nodes/$node/status" '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}' \
	application/merge-patch+json >/dev/null
check "the node's Node object, Ready ($(code))" test "$(code)" = 200
# kube-controller-manager's part: the not-ready taint the API server gave the new Node goes once it is Ready.
admin PATCH "/api/v1/nodes/$node" '{"spec":{"taints":null}}' application/merge-patch+json >/dev/null
check "and without the not-ready taint ($(code))" test "$(code)" = 200
admin POST /api/v1/namespaces "{\"metadata\":{\"name\":\"$users\"}}" >/dev/null
admin POST "/api/v1/namespaces/$users/pods" '{"metadata":{"name":"wants-1g"},"spec":{"containers":[{"name":"c",
	"image":"x","resources":{"limits":{"nvidia.com/mig-1g.10gb":"1"}}}]}}' >/dev/null
check "a pod asking for a 1g.10gb ($(code))" test "$(code)" = 201
login kerf-controller
"$kerf" controller --kubeconfig "$tmp/kerf-controller.kubeconfig" --namespace kerf-system --identity deploy-test \
	--once 2>"$tmp/controller.log"
check "kerf controller --once as the service account exits 0" test $? -eq 0 || cat "$tmp/controller.log"
admin GET "/apis/kerf.dev/v1alpha1/miglayouts/$node" >"$tmp/ml.json"
check "... and wrote the node's spec with a 1g.10gb" grep -q '"1g.10gb"' "$tmp/ml.json"
as_agent PATCH "/apis/kerf.dev/v1alpha1/miglayouts/$node/status" '{"status":{"gpuCount":9}}' \
	application/merge-patch+json >/dev/null
check "the controller may not write a status (403)" test "$(code)" = 403
as_agent DELETE "/api/v1/namespaces/$users/pods/wants-1g" >/dev/null
check "the controller may not delete a pod (403)" test "$(code)" = 403
as_agent GET /api/v1/namespaces/kerf-system/secrets >/dev/null
check "the controller may not read secrets (403)" test "$(code)" = 403

# The CRD's schema (deploy/helm/kerf/crds): the API server refuses what no agent should have to, naming the
# field, and lists MigLayouts with columns that do not repeat the name and keep AGE.
bad="crd-test-$$"
refused() { # BODY FIELD: creating a MigLayout with this body is refused (422) and the message names FIELD
	admin POST /apis/kerf.dev/v1alpha1/miglayouts "$1" >"$tmp/bad.json"
	[ "$(code)" = 422 ] && grep -qF "$2" "$tmp/bad.json"
}
spec_of() { echo "{\"apiVersion\":\"kerf.dev/v1alpha1\",\"kind\":\"MigLayout\",\"metadata\":{\"name\":\"$bad\"},\"spec\":{\"gpus\":$1}}"; }
check "CRD: a profile not shaped like one is refused" \
	refused "$(spec_of '[{"index":0,"instances":[{"profile":"2g.20gb; rm -rf /","start":0}]}]')" "spec.gpus[0].instances[0].profile"
check "CRD: two entries for one GPU index are refused (a list-map keyed on index)" \
	refused "$(spec_of '[{"index":0,"instances":[]},{"index":0,"instances":[]}]')" 'spec.gpus[1]: Duplicate value'
check "CRD: a start past kerf's 16 slots is refused (the RTX PRO 6000's 12 fit)" \
	refused "$(spec_of '[{"index":0,"instances":[{"profile":"1g.10gb","start":16}]}]')" "spec.gpus[0].instances[0].start"
check "CRD: more than 8 instances on a GPU are refused" refused "$(spec_of "[{\"index\":0,\"instances\":[$(for i in 0 1 2 3 4 5 6 7 8; do
	printf '%s{"profile":"1g.10gb","start":%d}' "$([ $i = 0 ] || echo ,)" $((i % 8)); done)]}]")" "spec.gpus[0].instances"
curl -s --max-time 30 --cacert "$KERF_CP_DIR/pki/ca.crt" --cert "$KERF_CP_DIR/pki/admin.crt" --key "$KERF_CP_DIR/pki/admin.key" \
	-H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$KERF_CP_SERVER/apis/kerf.dev/v1alpha1/miglayouts" >"$tmp/table.json"
columns=$(tr -d ' \n' <"$tmp/table.json" | grep -o '{"name":"[A-Za-z]*","type"' | sed 's/{"name":"\([A-Za-z]*\)".*/\1/' | xargs)
check "CRD: kubectl's columns are Name GPUs Generation Observed Ready Reason Age ($columns)" \
	test "$columns" = "Name GPUs Generation Observed Ready Reason Age"

t_finish deploy_test
