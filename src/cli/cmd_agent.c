/* SPDX-License-Identifier: Apache-2.0 */
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
#include "cli_opts.h"
#include "kube.h"
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
	const struct cli_opt opts[] = {
		{ .name = "--once", .kind = CLI_FLAG, .dst = &o->once },
		{ .name = "--log-level", .kind = CLI_FUNC, .dst = &o->log, .fn = cli_daemon_log_set },
		{ .name = "--log-format", .kind = CLI_FUNC, .dst = &o->log, .fn = cli_daemon_log_set },
		{ .name = "--cdi", .kind = CLI_FLAG, .dst = &o->agent.cdi },
		{ .name = "--nvidia-plugin", .kind = CLI_FLAG, .dst = &o->agent.nvidia_plugin },
		{ .name = "--node", .kind = CLI_STRING, .dst = &o->node },
		{ .name = "--listen", .kind = CLI_STRING, .dst = &o->listen },
		{ .name = "--kubeconfig", .kind = CLI_STRING, .dst = &o->kubeconfig },
		{ .name = "--context", .kind = CLI_STRING, .dst = &o->context },
		{ .name = "--interval", .kind = CLI_MILLIS, .dst = &o->interval_ms, .min = 100, .max = 3600000 },
		{ .name = "--nvml-library", .kind = CLI_STRING, .dst = &o->agent.nvml_library },
		{ .name = "--library", .kind = CLI_ALIAS, .alias_of = "--nvml-library" },
		{ .name = "--state-dir", .kind = CLI_STRING, .dst = &o->agent.journal_dir },
		{ .name = "--journal-dir", .kind = CLI_ALIAS, .alias_of = "--state-dir" },
		{ .name = "--plugin-dir", .kind = CLI_STRING, .dst = &o->agent.plugin_dir },
		{ .name = "--pod-resources", .kind = CLI_STRING, .dst = &o->agent.podres_socket },
		{ .name = "--cdi-spec-dir", .kind = CLI_STRING, .dst = &o->agent.cdi_spec_dir },
		{ .name = "--mig-minors", .kind = CLI_STRING, .dst = &o->agent.mig_minors },
		{ 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	o->interval_ms = 2000;
	o->listen = ":8082";
	o->node = getenv("NODE_NAME");
	cli_daemon_log_init(&o->log, "agent");
	o->agent.log = kerf_log_write;
	o->agent.log_arg = &o->log;
	if ((rc = cli_opts_parse("agent", opts, argc, argv, NULL, 0, NULL)) != 0) {
		if (rc > 0)
			usage(stdout);
		return rc;
	}
	if (o->node == NULL || o->node[0] == '\0') {
		fprintf(stderr, "kerf agent: --node: no node name (give --node, or set NODE_NAME)\n");
		return -1;
	}
	return 0;
}

/* The agent's own parts: the node side, then its MigLayout's sync on the daemon's client. */
struct agent_parts {
	const struct opts *o;
	struct agent_node *a;
	struct agent_sync *s;
};

static int agent_parts_start(void *arg, struct cli_daemon *d, struct kerf_err *err)
{
	struct agent_parts *p = arg;

	if ((p->a = agent_node_start(&p->o->agent, err)) == NULL ||
	    (p->s = agent_sync_start(d->client, p->a, p->o->node, err)) == NULL)
		return -1;
	agent_sync_metrics(p->s, d->metrics);
	cli_probe_also(d->probe, agent_node_serving, p->a);
	return 0;
}

static int agent_parts_step(void *arg, long wait_ms, struct kerf_err *err)
{
	return agent_sync_step(((struct agent_parts *)arg)->s, wait_ms, err);
}

static void agent_parts_stop(void *arg)
{
	struct agent_parts *p = arg;

	agent_sync_stop(p->s);
	agent_node_stop(p->a);
}

int cmd_agent(int argc, char **argv)
{
	struct opts o;
	struct agent_parts p = { .o = &o };
	const struct cli_daemon_parts parts = {
		.starting = "opening NVML, registering with the kubelet and syncing the caches",
		.start = agent_parts_start,
		.step = agent_parts_step,
		.stop = agent_parts_stop,
		.arg = &p,
	};
	int rc;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc > 0 ? KERF_EXIT_OK : KERF_EXIT_USAGE;
	return cli_daemon_main(&o.log, o.listen, o.once, o.kubeconfig, o.context, o.interval_ms, &parts);
}
