#!/usr/bin/env bash
# A real Kubernetes cluster on this one machine, for trying kerf and for its end-to-end tests: etcd,
# kube-apiserver, kube-scheduler and kube-controller-manager (scripts/controlplane), and one real kubelet per
# node, each node with its own simulated GPUs (tests/fakenvml: a libnvidia-ml.so.1 with the real MIG rules).
# Every Kubernetes binary is built from the pin in tools/controlplane/go.mod and cached in .cache/.
#
# The container runtime is Kubernetes' own fake CRI (tools/controlplane/fakecri): the kubelet, its device
# manager, kerf's device plugin, Allocate, pod-resources and scheduling are all real, but containers run no
# process. A started container's MIG devices get a "process" in the simulated NVML library, as a CUDA program
# would show, and its environment (NVIDIA_VISIBLE_DEVICES) is logged to NODE_DIR/containers.jsonl.
# kerf runs as processes beside each kubelet: one `kerf agent` per node and two `kerf controller` replicas,
# each with its own service account from deploy/ (docs/cluster.md says why not yet as pods).
#
# The host is left as it was: each kubelet runs in its own mount namespace (unshare -m), where its node's
# folders are bound over /var/lib/kubelet, /var/log/pods and /var/log/containers, and regular files over the
# /proc/sys entries it would write; everything listens on 127.0.0.1; pods use hostNetwork (no CNI, no
# kube-proxy, no Service traffic). `down` stops only the processes whose pid files `up` wrote.
#
# Usage: scripts/cluster.sh COMMAND [ARGS]   (state in $KERF_CLUSTER_DIR, default /tmp/kerf-cluster)
#   up [--nodes SPEC] [--no-kerf] [--status-every DURATION]
#                          start everything; the last line printed is the admin kubeconfig's path
#   down                   stop everything and remove the state folder
#   kubectl ARGS...        kubectl (same pin) with the admin kubeconfig
#   env                    the shell-sourceable environment of the running cluster
#   stop|start agent NODE | kubelet NODE | controller N     one component (for tests and experiments)
#   stop kerf                                               every kerf agent and controller
#   kill agent NODE | controller N                          SIGKILL it
#
# SPEC: nodes separated by spaces, each NAME=GPU[/GPU...], each GPU MODEL[:LAYOUT] with MODEL as `kerf models`
# names it and LAYOUT as `kerf apply --layout` takes it. The default is the README's example and three more
# models:
#   h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6 a100=A100-40GB a30=A30-24GB h200=H200-141GB-SXM
# Binaries: $KERF_BIN, $FAKENVML_LIB, $FAKENVML_CTL (default: the plain build in build/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/controlplane/lib.sh"
root=$cp_root
D=${KERF_CLUSTER_DIR:-/tmp/kerf-cluster}
default_nodes="h100=H100-80GB-SXM:4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6 a100=A100-40GB a30=A30-24GB h200=H200-141GB-SXM"
KERF_BIN=${KERF_BIN:-$root/build/src/cli/kerf}
FAKENVML_LIB=${FAKENVML_LIB:-$root/build/tests/fakenvml/libnvidia-ml.so.1}
FAKENVML_CTL=${FAKENVML_CTL:-$root/build/tests/fakenvml/fakenvml-ctl}
# Host folders the kubelet insists on; each is a mount point inside a kubelet's namespace only.
host_mountpoints=(/var/lib/kubelet /var/log/pods /var/log/containers)
# /proc/sys entries the kubelet's container manager checks and would write, with the values it wants.
sysctls="kernel/panic=10 kernel/panic_on_oops=1 vm/overcommit_memory=1 vm/panic_on_oom=0
kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000"

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

usage() { sed -n '/^# Usage:/,/^# Binaries:/p' "$0" | sed 's/^# \{0,1\}//'; }

load_env() {
	[ -f "$D/env" ] || die "no cluster at $D (run: scripts/cluster.sh up)"
	# shellcheck disable=SC1091
	. "$D/env"
}

kc() { "$KERF_CP_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" "$@"; }

# ---- nodes ----

node_names() { cat "$D/nodes.list"; }

node_setup() { # NAME GPUS: the node's folders, simulated GPUs, certificates and kubelet configuration
	local name=$1 gpus=$2 nd=$D/nodes/$1 models=() layouts=() g i port hport
	mkdir -p "$nd"/{kubelet,pods-logs,containers-logs,sys,kerf-state,logs}
	IFS=/ read -r -a g <<<"$gpus"
	for i in "${!g[@]}"; do
		models+=("${g[$i]%%:*}")
		if [[ ${g[$i]} == *:* ]]; then layouts+=("${g[$i]#*:}"); else layouts+=(""); fi
	done
	"$FAKENVML_CTL" --state "$nd/fakenvml.state" init "${models[@]}" ||
		die "node $name: cannot simulate GPUs \"$gpus\" (models as \`kerf models\` names them)"
	for i in "${!layouts[@]}"; do
		[ -n "${layouts[$i]}" ] || continue
		"$FAKENVML_CTL" --state "$nd/fakenvml.state" create "$i" "${layouts[$i]}" ||
			die "node $name GPU $i: layout \"${layouts[$i]}\" refused"
	done
	local kv
	for kv in $sysctls; do printf '%s\n' "${kv#*=}" >"$nd/sys/$(echo "${kv%%=*}" | tr / _)"; done

	printf 'extendedKeyUsage=clientAuth\n' >"$nd/client.ext"
	cp_cert "$D/cp/pki" "node-$name" "/O=system:nodes/CN=system:node:$name" "$nd/client.ext"
	cp_write_kubeconfig "$nd/kubelet.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" \
		"client-certificate: $D/cp/pki/node-$name.crt
    client-key: $D/cp/pki/node-$name.key" "system:node:$name"
	port=$(cp_free_port) hport=$(cp_free_port "$port")
	cat >"$nd/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 machines, no cgroup of the kubelet's own making, nothing bound beyond loopback
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
address: 127.0.0.1
port: $port
healthzBindAddress: 127.0.0.1
healthzPort: $hport
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $D/cp/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$nd/cri.sock
evictionHard: {memory.available: 1Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
nodeStatusUpdateFrequency: ${STATUS_EVERY:-10s}
resolvConf: ""
EOF
	echo "$port $hport" >"$nd/ports"
}

# The node's container runtime. It outlives kubelet restarts, as containerd does, so running containers do too.
fakecri_start() { # NAME
	local name=$1 nd=$D/nodes/$1
	"$KERF_CP_BIN/fakecri" --listen "$nd/cri.sock" --events "$nd/containers.jsonl" \
		--fakenvml-ctl "$FAKENVML_CTL" --fakenvml-state "$nd/fakenvml.state" --image-fs / \
		>>"$nd/logs/fakecri.log" 2>&1 </dev/null &
	echo "$! $KERF_CP_BIN/fakecri" >"$D/pids/fakecri-$name.pid"
	for _ in $(seq 1 100); do [ -S "$nd/cri.sock" ] && break; sleep 0.1; done
	[ -S "$nd/cri.sock" ] || die "node $name: fakecri did not start (see $nd/logs/fakecri.log)"
}

kubelet_start() { # NAME
	local name=$1 nd=$D/nodes/$1 mounts="" kv f
	for kv in $sysctls; do
		f=${kv%%=*}
		mounts="$mounts mount --bind $nd/sys/$(echo "$f" | tr / _) /proc/sys/$f &&"
	done
	# unshare execs sh, which execs the kubelet: the pid recorded is the kubelet's, and its mounts live and die
	# with it. The node name is the kubelet's hostname-override; its labels opt it in to kerf.
	setsid unshare -m --propagation private /bin/sh -c "mount --bind $nd/kubelet /var/lib/kubelet &&
		mount --bind $nd/pods-logs /var/log/pods && mount --bind $nd/containers-logs /var/log/containers &&
		$mounts exec $KERF_CP_BIN/kubelet --config $nd/kubelet.yaml --kubeconfig $nd/kubelet.kubeconfig \
		--root-dir /var/lib/kubelet --hostname-override $name --node-labels kerf.dev/mig=true --v 1" \
		>>"$nd/logs/kubelet.log" 2>&1 </dev/null &
	echo "$! $KERF_CP_BIN/kubelet" >"$D/pids/kubelet-$name.pid"
}

kubelet_wait() { # NAME: healthy, and its Node Ready without the not-ready taint
	local name=$1 hport i
	hport=$(cut -d' ' -f2 "$D/nodes/$name/ports")
	for i in $(seq 1 240); do
		curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$hport/healthz" && break
		cp_alive "$D" "kubelet-$name" || [ "$i" -lt 10 ] ||
			{ tail -n 20 "$D/nodes/$name/logs/kubelet.log" >&2; die "node $name: the kubelet exited"; }
		sleep 0.25
	done
	for i in $(seq 1 240); do kc get node "$name" >/dev/null 2>&1 && break; sleep 0.25; done
	kc wait --for=condition=Ready "node/$name" --timeout=120s >/dev/null ||
		die "node $name: not Ready (see $D/nodes/$name/logs/kubelet.log)"
	for i in $(seq 1 240); do
		kc get node "$name" -o jsonpath='{.spec.taints[*].key}' | grep -q not-ready || return 0
		sleep 0.25
	done
	die "node $name: the not-ready taint stayed (is kube-controller-manager running? $D/cp/logs/controller-manager.log)"
}

# ---- kube-controller-manager ----

kcm_start() {
	printf 'extendedKeyUsage=clientAuth\n' >"$D/cp/pki/kcm.ext"
	cp_cert "$D/cp/pki" kcm "/CN=system:kube-controller-manager" "$D/cp/pki/kcm.ext"
	cp_write_kubeconfig "$D/cp/kcm.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" \
		"client-certificate: $D/cp/pki/kcm.crt
    client-key: $D/cp/pki/kcm.key" system:kube-controller-manager
	local port
	port=$(cp_free_port "$KERF_CP_API_PORT" "$KERF_CP_SCHED_PORT")
	cp_launch "$D/cp" controller-manager "$KERF_CP_BIN/kube-controller-manager" \
		--kubeconfig "$D/cp/kcm.kubeconfig" --authentication-kubeconfig "$D/cp/kcm.kubeconfig" \
		--authorization-kubeconfig "$D/cp/kcm.kubeconfig" --bind-address 127.0.0.1 --secure-port "$port" \
		--leader-elect=false --use-service-account-credentials=true \
		--service-account-private-key-file "$D/cp/pki/sa.key" --root-ca-file "$D/cp/pki/ca.crt" --v 1
	cp_wait_http "$D/cp" controller-manager "https://127.0.0.1:$port/healthz" 120 insecure
}

# ---- kerf, as processes beside the kubelets ----

kerf_login() { # ACCOUNT: a kubeconfig with a day-long TokenRequest token for kerf-system/ACCOUNT
	local token
	token=$(kc create token -n kerf-system "$1" --duration=24h)
	cp_write_kubeconfig "$D/$1.kubeconfig" "$KERF_CP_SERVER" "$D/cp/pki/ca.crt" "token: $token" "$1"
}

# deploy/kerf.yaml (rendered from the Helm chart) without its DaemonSet and Deployment: the namespace, service
# accounts and RBAC the daemons run with here. The CRD is the control plane's already.
kerf_install() {
	awk '/^---/ { if (keep) printf "%s", doc; doc = ""; keep = 1 } /^kind: (DaemonSet|Deployment)$/ { keep = 0 }
		{ doc = doc $0 "\n" } END { if (keep) printf "%s", doc }' "$root/deploy/kerf.yaml" | kc apply -f - >/dev/null
	kerf_login kerf-agent
	kerf_login kerf-controller
}

agent_start() { # NODE
	local nd=$D/nodes/$1
	KERF_FAKENVML_STATE=$nd/fakenvml.state cp_launch "$D" "agent-$1" "$KERF_BIN" agent --node "$1" \
		--kubeconfig "$D/kerf-agent.kubeconfig" --nvml-library "$FAKENVML_LIB" --state-dir "$nd/kerf-state" \
		--plugin-dir "$nd/kubelet/device-plugins" --pod-resources "$nd/kubelet/pod-resources/kubelet.sock" \
		--interval 1000
}

controller_start() { # N
	POD_NAME=kerf-controller-$1 POD_NAMESPACE=kerf-system cp_launch "$D" "controller-$1" "$KERF_BIN" controller \
		--kubeconfig "$D/kerf-controller.kubeconfig"
}

agent_wait() { # NODE: its MIG devices are on the Node's allocatable (or it has none to offer)
	local i
	for i in $(seq 1 240); do
		kc get node "$1" -o jsonpath='{.status.allocatable}' | grep -q 'nvidia.com/mig-' && return 0
		kc get miglayout "$1" -o jsonpath='{.status.observedGeneration}' >/dev/null 2>&1 &&
			! "$FAKENVML_CTL" --state "$D/nodes/$1/fakenvml.state" show | grep -q ' ci ' && return 0
		cp_alive "$D" "agent-$1" || { tail -n 20 "$D/logs/agent-$1.log" >&2; die "node $1: kerf agent exited"; }
		sleep 0.25
	done
	die "node $1: no MIG device reached the Node's allocatable (see $D/logs/agent-$1.log)"
}

# ---- up / down ----

cmd_up() {
	local spec=$default_nodes kerf=1 n name gpus
	while [ $# -gt 0 ]; do
		case $1 in
		--nodes) spec=${2:?--nodes needs a SPEC}; shift 2 ;;
		--no-kerf) kerf=0; shift ;;
		--status-every) STATUS_EVERY=${2:?--status-every needs a duration such as 1s}; shift 2 ;;
		-h | --help) usage; exit 0 ;;
		*) die "up: unknown option \"$1\" (see scripts/cluster.sh --help)" ;;
		esac
	done
	[ "$(id -u)" = 0 ] || die "a kubelet needs root (mount namespaces, bind mounts); this user is $(id -un)"
	unshare -m --propagation private true 2>/dev/null || die "this machine does not allow mount namespaces (unshare -m)"
	for f in "$KERF_BIN" "$FAKENVML_LIB" "$FAKENVML_CTL"; do
		[ -e "$f" ] || die "$f is missing: build kerf first (make build), or set KERF_BIN, FAKENVML_LIB, FAKENVML_CTL"
	done
	[ -f "$D/env" ] && { say "a cluster is already up at $D: stopping it first"; cmd_down; }
	mkdir -p "$D"/{logs,pids,nodes}
	bin=$("$here/controlplane/build.sh" cluster | tail -n 1)

	say "control plane"
	"$here/controlplane/start.sh" "$D/cp" >"$D/logs/controlplane.log" 2>&1 ||
		{ tail -n 20 "$D/logs/controlplane.log" >&2; die "the control plane did not start"; }
	# shellcheck disable=SC1091
	. "$D/cp/env"
	cat >"$D/env" <<EOF
KERF_CLUSTER_DIR=$D
KERF_CP_DIR=$D/cp
KERF_CP_BIN=$bin
KERF_CP_SERVER=$KERF_CP_SERVER
KERF_CP_API_PORT=$KERF_CP_API_PORT
KERF_CP_SCHED_PORT=$KERF_CP_SCHED_PORT
KUBECONFIG=$D/admin.kubeconfig
KERF_BIN=$KERF_BIN
FAKENVML_LIB=$FAKENVML_LIB
FAKENVML_CTL=$FAKENVML_CTL
KERF_CLUSTER_KERF=$kerf
EOF
	KERF_CP_BIN=$bin
	cp "$D/cp/admin.kubeconfig" "$D/admin.kubeconfig"
	# The kubelets' client certificates name them system:node:NAME in group system:nodes; the API server
	# authorizes with RBAC alone, so that group gets the kubelet's bootstrap role.
	kc create clusterrolebinding kerf-cluster-nodes --clusterrole=system:node --group=system:nodes >/dev/null
	say "kube-controller-manager"
	kcm_start

	: >"$D/nodes.list"
	: >"$D/made-dirs"
	for f in "${host_mountpoints[@]}"; do
		[ -d "$f" ] || { mkdir -p "$f" && echo "$f" >>"$D/made-dirs"; }
	done
	for n in $spec; do
		name=${n%%=*} gpus=${n#*=}
		[[ $n == *=* && $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] ||
			die "--nodes: \"$n\" is not NAME=MODEL[:LAYOUT][/MODEL[:LAYOUT]...] with a DNS-label NAME"
		echo "$name" >>"$D/nodes.list"
		node_setup "$name" "$gpus"
		fakecri_start "$name"
		kubelet_start "$name"
	done
	for name in $(node_names); do
		kubelet_wait "$name"
		say "node $name Ready"
	done
	if [ $kerf = 1 ]; then
		say "kerf (agents and two controller replicas, as processes)"
		kerf_install
		for name in $(node_names); do agent_start "$name"; done
		controller_start 0
		controller_start 1
		for name in $(node_names); do agent_wait "$name"; done
	fi
	kc create namespace demo >/dev/null 2>&1 || true
	say "up: $(node_names | wc -l) nodes; scripts/cluster.sh kubectl get nodes,miglayouts; scripts/cluster.sh down"
	echo "$D/admin.kubeconfig"
}

cmd_down() {
	[ -d "$D" ] || return 0
	local p
	stop_kerf
	for p in "$D"/pids/kubelet-*.pid "$D"/pids/fakecri-*.pid; do
		[ -e "$p" ] && cp_stop "$D" "$(basename "$p" .pid)" TERM
	done
	[ -d "$D/cp/pids" ] && cp_stop "$D/cp" controller-manager TERM
	[ -f "$D/cp/env" ] && "$here/controlplane/stop.sh" "$D/cp" >/dev/null 2>&1
	if [ -f "$D/made-dirs" ]; then
		while read -r p; do rmdir "$p" 2>/dev/null || true; done <"$D/made-dirs"
	fi
	rm -rf "$D"
	say "down"
}

# Stops every kerf daemon (SIGTERM): a daemon built with the sanitizers writes its leak report to its log then.
stop_kerf() {
	local p
	for p in "$D"/pids/controller-*.pid "$D"/pids/agent-*.pid; do
		[ -e "$p" ] && cp_stop "$D" "$(basename "$p" .pid)" TERM
	done
	return 0
}

cmd_component() { # start|stop|kill WHAT NAME
	local op=$1 what=${2:-} name=${3:-} sig=TERM
	load_env
	[ "$op/$what" = stop/kerf ] && { stop_kerf; return; }
	[ -n "$what" ] && [ -n "$name" ] || die "$op: want agent NODE, kubelet NODE or controller N"
	[ "$op" = kill ] && sig=KILL
	case $op/$what in
	start/agent) agent_start "$name" ;;
	start/kubelet) kubelet_start "$name" ;;
	start/controller) controller_start "$name" ;;
	stop/agent | kill/agent) cp_stop "$D" "agent-$name" $sig ;;
	stop/kubelet) cp_stop "$D" "kubelet-$name" TERM ;;
	stop/controller | kill/controller) cp_stop "$D" "controller-$name" $sig ;;
	*) die "$op $what: not a component command (see scripts/cluster.sh --help)" ;;
	esac
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down ;;
kubectl) load_env; kc "$@" ;;
env) load_env; cat "$D/env" ;;
start | stop | kill) cmd_component "$cmd" "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
