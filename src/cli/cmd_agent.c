/*
 * cmd_agent.c — `kerf agent`: the node agent as a process. It starts the node side (NVML, recovery of an
 * interrupted re-layout, kerf's device plugin or NVIDIA-plugin mode) and the Kubernetes side (the node's
 * MigLayout), then runs rounds until SIGTERM or SIGINT: each round waits for the MigLayout to change, or
 * for --interval to pass so that the status follows what pods and processes use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "cli_daemon.h"
#include "kube.h"
#include "kube_metrics.h"
#include "miglayout.h"

struct opts {
	const char *node, *kubeconfig, *context;
	struct agent_options agent;
	long interval_ms;
	bool once;
	const char *listen; /* --listen: the probes' and metrics' address, "" for none */
	struct kerf_log_sink log; /* --log-level, --log-format */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf agent [--node NAME] [--kubeconfig FILE [--context NAME]] [--interval MS] [--once]\n"
		   "                  [--nvml-library PATH] [--state-dir DIR] [--plugin-dir DIR] [--pod-resources SOCKET]\n"
		   "                  [--cdi [--cdi-spec-dir DIR] [--mig-minors FILE]] [--nvidia-plugin]\n"
		   "                  [--listen ADDR] [--log-level LEVEL] [--log-format FORMAT]\n\n"
		   "Runs kerf's node agent: serves this node's MIG devices to the kubelet (kerf's device plugin, or\n"
		   "NVIDIA's with --nvidia-plugin), keeps the node's MigLayout (named after the node) in step: a new\n"
		   "spec is applied without touching an instance in use, and the status reports every GPU's instances.\n\n"
		   "  --node NAME            this node (default: $NODE_NAME, as the downward API sets it)\n"
		   "  --kubeconfig FILE      talk to the cluster with this kubeconfig (default: $KUBECONFIG, else the\n"
		   "                         in-cluster service account, else ~/.kube/config); --context picks a\n"
		   "                         context other than the current one\n"
		   "  --interval MS          refresh the status at least this often (default 2000)\n"
		   "  --once                 run one round and exit (0 if it succeeded)\n"
		   "  --nvml-library PATH    libnvidia-ml.so.1 to load (default: $KERF_NVML_LIBRARY, else the loader's)\n"
		   "  --state-dir DIR        journal folder (default: $KERF_STATE_DIR, else /var/lib/kerf)\n"
		   "  --plugin-dir DIR       the kubelet's device-plugin folder (default /var/lib/kubelet/device-plugins)\n"
		   "  --pod-resources SOCKET the kubelet's pod-resources socket (default\n"
		   "                         /var/lib/kubelet/pod-resources/kubelet.sock)\n"
		   "  --cdi                  Allocate answers CDI device names (kerf.dev/mig=<MIG UUID>) instead of\n"
		   "                         NVIDIA_VISIBLE_DEVICES; the agent rewrites their CDI spec before every\n"
		   "                         change of the devices it advertises\n"
		   "  --cdi-spec-dir DIR     where that spec is written, as kerf-mig.json (default /var/run/cdi;\n"
		   "                         must exist)\n"
		   "  --mig-minors FILE      the driver's MIG capability minors (default\n"
		   "                         /proc/driver/nvidia-caps/mig-minors)\n"
		   "  --nvidia-plugin        leave device serving to NVIDIA's device plugin (see docs/kubelet.md)\n"
		   "  --listen ADDR          serve /healthz, /readyz and /metrics on ADDR, HOST:PORT or :PORT (default\n"
		   "                         :8082; \"\" for none; never with --once)\n"
		   "  --log-level LEVEL      log events this severe and more: error, warn, info (default) or debug\n"
		   "  --log-format FORMAT    text (logfmt, the default) or json (one object a line), on stderr\n");
}

/* 0, 1 (--help), or -1 (bad usage, said on stderr). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->interval_ms = 2000;
	o->listen = ":8082";
	o->node = getenv("NODE_NAME");
	cli_daemon_log_init(&o->log, "agent");
	o->agent.log = kerf_log_write;
	o->agent.log_arg = &o->log;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int lr;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--once") == 0) {
			o->once = true;
		} else if ((lr = cli_daemon_log_option(&o->log, argc, argv, &i)) <= 0) {
			if (lr < 0)
				return -1;
		} else if (strcmp(a, "--cdi") == 0) {
			o->agent.cdi = true;
		} else if (strcmp(a, "--nvidia-plugin") == 0) {
			o->agent.nvidia_plugin = true;
		} else if (v == NULL) {
			fprintf(stderr, "kerf agent: unknown or incomplete option \"%s\"\n", a);
			return -1;
		} else if (strcmp(a, "--node") == 0) {
			o->node = argv[++i];
		} else if (strcmp(a, "--listen") == 0) {
			o->listen = argv[++i];
		} else if (strcmp(a, "--kubeconfig") == 0) {
			o->kubeconfig = argv[++i];
		} else if (strcmp(a, "--context") == 0) {
			o->context = argv[++i];
		} else if (strcmp(a, "--interval") == 0) {
			if ((o->interval_ms = cli_daemon_millis("agent", a, argv[++i], 100, 3600000)) < 0)
				return -1;
		} else if (strcmp(a, "--nvml-library") == 0) {
			o->agent.nvml_library = argv[++i];
		} else if (strcmp(a, "--state-dir") == 0) {
			o->agent.journal_dir = argv[++i];
		} else if (strcmp(a, "--plugin-dir") == 0) {
			o->agent.plugin_dir = argv[++i];
		} else if (strcmp(a, "--pod-resources") == 0) {
			o->agent.podres_socket = argv[++i];
		} else if (strcmp(a, "--cdi-spec-dir") == 0) {
			o->agent.cdi_spec_dir = argv[++i];
		} else if (strcmp(a, "--mig-minors") == 0) {
			o->agent.mig_minors = argv[++i];
		} else {
			fprintf(stderr, "kerf agent: unknown option \"%s\"\n", a);
			return -1;
		}
	}
	if (o->node == NULL || o->node[0] == '\0') {
		fprintf(stderr, "kerf agent: --node: no node name (give --node, or set NODE_NAME)\n");
		return -1;
	}
	return 0;
}

static int sync_step(void *s, long wait_ms, struct kerf_err *err)
{
	return agent_sync_step(s, wait_ms, err);
}

/* The listener starts first: while NVML opens, the plugin registers and the watches list, the kubelet's
 * probes see a live process that is not ready. */
int cmd_agent(int argc, char **argv)
{
	struct kube_client *c = NULL;
	struct agent_node *a = NULL;
	struct agent_sync *s = NULL;
	struct cli_probe *probe = NULL;
	struct metrics *metrics = NULL;
	struct httpd *http = NULL;
	struct kerf_err err;
	struct opts o;
	int rc;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc > 0 ? KERF_EXIT_OK : KERF_EXIT_USAGE;
	cli_daemon_signals();
	rc = KERF_EXIT_FAIL;
	if ((probe = cli_probe_new()) == NULL || (metrics = metrics_new()) == NULL) {
		fprintf(stderr, "kerf agent: out of memory\n");
		goto out;
	}
	if (cli_serve("agent", o.once ? NULL : o.listen, probe, metrics, &http) < 0)
		goto out;
	cli_probe_not_ready(probe, "opening NVML, registering with the kubelet and syncing the caches");
	if ((c = cli_daemon_connect(&o.log, o.kubeconfig, o.context, &err)) != NULL)
		kube_client_metrics(c, metrics);
	if (c == NULL || (a = agent_node_start(&o.agent, &err)) == NULL ||
	    (s = agent_sync_start(c, a, o.node, &err)) == NULL) {
		kerf_log_emit(kerf_log_write, &o.log, KERF_LOG_ERROR, &err, "start failed", NULL);
		goto out;
	}
	agent_sync_metrics(s, metrics);
	cli_probe_also(probe, agent_node_serving, a);
	rc = cli_daemon_run(&o.log, sync_step, s, o.interval_ms, o.once, probe);
out:
	httpd_stop(http); /* first: its /readyz asks the agent */
	agent_sync_stop(s);
	agent_node_stop(a);
	kube_client_free(c);
	metrics_free(metrics);
	cli_probe_free(probe);
	return rc;
}
