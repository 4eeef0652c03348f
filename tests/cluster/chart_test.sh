#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kerf's Helm chart (deploy/helm/kerf) with helm built from its Go module (scripts/helm.sh): `helm lint` passes,
# deploy/kerf.yaml is exactly what `helm template` renders from the defaults (one source for the plain manifests),
# every value reaches the objects it is for, and bad values are refused with the value named.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
helm() { "$root/scripts/helm.sh" "$@"; }
chart=$root/deploy/helm/kerf
. "$root/tests/lib.sh"
render() { helm template kerf "$chart" --namespace kerf-system "$@" 2>"$tmp/err"; }
rendered() { grep -qF -- "$1" "$tmp/out"; } # the last rendering holds TEXT
refused() { # MESSAGE-PART ARGS...: rendering with ARGS fails and says MESSAGE-PART
	local want=$1
	shift
	! render "$@" >/dev/null && grep -qF -- "$want" "$tmp/err"
}

check "helm lint passes" helm lint --strict "$chart"
"$root/scripts/render-manifests.sh" >"$tmp/kerf.yaml"
check "deploy/kerf.yaml is what the chart renders (run scripts/render-manifests.sh > deploy/kerf.yaml)" \
	cmp -s "$tmp/kerf.yaml" "$root/deploy/kerf.yaml"

render >"$tmp/out"
check "the defaults render the DaemonSet and the two-replica Deployment" \
	sh -c "grep -q '^kind: DaemonSet' '$tmp/out' && grep -q 'replicas: 2' '$tmp/out'"
check "the agent runs only on nodes labelled kerf.dev/mig=true" rendered 'kerf.dev/mig: "true"'
check "the agent shares the host's PID namespace (NVML sees every pod's processes)" rendered 'hostPID: true'
check "the image defaults to the chart's appVersion" rendered "image: kerf.local/kerf:0.1.0"
check "the controller does not pack unless asked" sh -c "! grep -q -- '- --pack' '$tmp/out'"
check "no Namespace object unless asked (helm install --create-namespace makes it)" \
	sh -c "! grep -q '^kind: Namespace' '$tmp/out'"
check "both daemons listen (:8082, :8081) with liveness and readiness probes on /healthz and /readyz" \
	sh -c "grep -q 'containerPort: 8082' '$tmp/out' && grep -q 'containerPort: 8081' '$tmp/out' &&
	       [ \$(grep -c 'httpGet: {path: /healthz, port: http}' '$tmp/out') = 2 ] &&
	       [ \$(grep -c 'httpGet: {path: /readyz, port: http}' '$tmp/out') = 2 ]"
render --set agent.listen= --set controller.listen=127.0.0.1:9090 >"$tmp/out"
check "listen empty turns the agent's listener and probes off; another address moves the controller's" \
	sh -c "[ \$(grep -c 'Probe:' '$tmp/out') = 2 ] && grep -q 'containerPort: 9090' '$tmp/out' &&
	       grep -A1 -- '- --listen' '$tmp/out' | grep -q '\"\"'"

render --set apiServer=127.0.0.1:6443 --set hostNetwork=true --set agent.devicePlugin=nvidia-plugin \
	--set agent.cdi=true --set agent.interval=1000 --set agent.kubeletDir=/var/lib/k0s/kubelet \
	--set controller.replicas=3 --set controller.debounce=200 --set image.tag=dev \
	--set 'controller.schedulerNames={default-scheduler,volcano}' --set controller.agentTimeout=60000 \
	--set controller.eventsPerSecond=7 --set controller.ageAfter=120000 --set controller.writeConcurrency=3 \
	--set controller.startTimeout=900000 --set controller.pack=true >"$tmp/out"
check "apiServer becomes the daemons' KUBERNETES_SERVICE_HOST and _PORT" \
	sh -c "[ \$(grep -c 'KUBERNETES_SERVICE_HOST, value: \"127.0.0.1\"' '$tmp/out') = 2 ] &&
	       [ \$(grep -c 'KUBERNETES_SERVICE_PORT, value: \"6443\"' '$tmp/out') = 2 ]"
check "hostNetwork reaches both pods" sh -c "[ \$(grep -c 'hostNetwork: true' '$tmp/out') = 2 ]"
check "devicePlugin=nvidia-plugin and cdi become the agent's flags" \
	sh -c "grep -q -- '- --nvidia-plugin' '$tmp/out' && grep -q -- '- --cdi' '$tmp/out'"
check "cdi passes the spec folder to the agent and mounts it from the host at the same path" \
	sh -c "grep -A1 -- '- --cdi-spec-dir' '$tmp/out' | grep -q '/var/run/cdi' &&
	       grep -q 'name: cdi, mountPath: /var/run/cdi' '$tmp/out' &&
	       grep -q 'hostPath: {path: /var/run/cdi, type: DirectoryOrCreate}' '$tmp/out' &&
	       ! grep -q -- '--mig-minors' '$tmp/out'"
check "interval reaches the agent" sh -c "grep -A1 -- '- --interval' '$tmp/out' | grep -q '\"1000\"'"
check "kubeletDir moves the sockets and the host paths" \
	sh -c "[ \$(grep -c '/var/lib/k0s/kubelet/device-plugins' '$tmp/out') -ge 3 ] && grep -q '/var/lib/k0s/kubelet/pod-resources/kubelet.sock' '$tmp/out'"
check "replicas and debounce reach the controller" \
	sh -c "grep -q 'replicas: 3' '$tmp/out' && grep -A1 -- '- --debounce' '$tmp/out' | grep -q '\"200\"'"
check "agentTimeout and eventsPerSecond reach the controller" \
	sh -c "grep -A1 -- '- --agent-timeout' '$tmp/out' | grep -q '\"60000\"' && grep -A1 -- '- --events-per-second' '$tmp/out' | grep -q '\"7\"'"
check "ageAfter reaches the controller" sh -c "grep -A1 -- '- --age-after' '$tmp/out' | grep -q '\"120000\"'"
check "pack reaches the controller" sh -c "grep -q -- '- --pack' '$tmp/out'"
check "writeConcurrency and startTimeout reach the controller" \
	sh -c "grep -A1 -- '- --write-concurrency' '$tmp/out' | grep -q '\"3\"' && grep -A1 -- '- --start-timeout' '$tmp/out' | grep -q '\"900000\"'"
check "each of schedulerNames becomes a --scheduler-name" \
	sh -c "[ \$(grep -A1 -- '- --scheduler-name' '$tmp/out' | grep -cE '\"(default-scheduler|volcano)\"') = 2 ]"
check "image.tag is used" rendered "image: kerf.local/kerf:dev"

render --set agent.cdi=true --set agent.cdiSpecDir=/etc/cdi --set agent.migMinors=/host/mig-minors >"$tmp/out"
check "cdiSpecDir moves the spec folder and its mount; migMinors becomes --mig-minors" \
	sh -c "grep -A1 -- '- --cdi-spec-dir' '$tmp/out' | grep -q '/etc/cdi' &&
	       grep -q 'hostPath: {path: /etc/cdi, type: DirectoryOrCreate}' '$tmp/out' &&
	       grep -A1 -- '- --mig-minors' '$tmp/out' | grep -q '/host/mig-minors'"
render >"$tmp/out"
check "without cdi no spec folder is mounted" sh -c "! grep -q -- 'name: cdi' '$tmp/out' && ! grep -q -- '--cdi' '$tmp/out'"

render --set agent.enabled=false >"$tmp/out"
check "agent.enabled=false leaves out the DaemonSet and its RBAC" \
	sh -c "! grep -q 'kerf-agent' '$tmp/out' && grep -q '^kind: Deployment' '$tmp/out'"
render --set controller.enabled=false >"$tmp/out"
check "controller.enabled=false leaves out the Deployment and its RBAC" \
	sh -c "! grep -q 'kerf-controller' '$tmp/out' && grep -q '^kind: DaemonSet' '$tmp/out'"

render >"$tmp/out"
check "both daemons log at level info in logfmt by default" \
	sh -c "[ \$(grep -A1 -- '- --log-level' '$tmp/out' | grep -c '\"info\"') = 2 ] &&
	       [ \$(grep -A1 -- '- --log-format' '$tmp/out' | grep -c '\"text\"') = 2 ]"
render --set agent.logLevel=debug --set controller.logFormat=json >"$tmp/out"
check "agent.logLevel and controller.logFormat reach their daemon's arguments" \
	sh -c "grep -A1 -- '- --log-level' '$tmp/out' | grep -q '\"debug\"' &&
	       grep -A1 -- '- --log-format' '$tmp/out' | grep -q '\"json\"'"
check "a bad log level is refused, naming the value" \
	refused 'controller.logLevel: "verbose"' --set controller.logLevel=verbose
check "a bad log format is refused, naming the value" \
	refused 'agent.logFormat: "xml"' --set agent.logFormat=xml
check "a bad agent.devicePlugin is refused, naming the value" \
	refused 'agent.devicePlugin: "nvidia"' --set agent.devicePlugin=nvidia
check "a listen address that is not HOST:PORT is refused, naming the value" \
	refused 'agent.listen: "8082"' --set agent.listen=8082
check "a relative agent.cdiSpecDir is refused with cdi on, naming the value" \
	refused 'agent.cdiSpecDir: "cdi"' --set agent.cdi=true --set agent.cdiSpecDir=cdi
check "an apiServer that is not HOST:PORT is refused, naming the value" \
	refused 'apiServer: "https://x"' --set apiServer=https://x

t_finish chart
