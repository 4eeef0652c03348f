/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_controller.c — `kerf controller`: the cluster controller as a process. It contends for the
 * "kerf-controller" Lease and, while it holds it, plans a layout for the pods that wait for MIG devices and
 * writes it into the nodes' MigLayout specs; the agents do the rest. Runs until SIGTERM or SIGINT, then
 * hands the Lease over at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_daemon.h"
#include "cli_opts.h"
#include "controller.h"
#include "kube.h"
#include "kube_metrics.h"

#define MAX_SCHEDULERS 16

struct opts {
	const char *kubeconfig, *context;
	struct controller_options ctl;
	const char *schedulers[MAX_SCHEDULERS + 1]; /* --scheduler-name, NULL-terminated */
	unsigned n_schedulers;
	long interval_ms;
	bool once;
	const char *listen; /* --listen: the probes' and metrics' address, "" for none */
	struct kerf_log_sink log; /* --log-level, --log-format */
	char host[256];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf controller [--kubeconfig FILE [--context NAME]] [--identity ID] [--namespace NS]\n"
		   "                       [--scheduler-name NAME]... [--debounce MS] [--age-after MS]\n"
		   "                       [--interval MS] [--agent-timeout MS] [--replan-after MS]\n"
		   "                       [--events-per-second N] [--write-concurrency N] [--start-timeout MS]\n"
		   "                       [--listen ADDR] [--log-level LEVEL] [--log-format FORMAT] [--once]\n\n"
		   "Runs kerf's cluster controller: for the pods that wait for nvidia.com/mig-* devices it plans new\n"
		   "layouts of the nodes' free MIG slices and writes them into the nodes' MigLayout specs. Instances in\n"
		   "use are never moved. Pods that cannot be placed get an Event saying why. Several replicas may run:\n"
		   "only the holder of the Lease kerf-controller acts.\n\n"
		   "  --kubeconfig FILE   talk to the cluster with this kubeconfig (default: $KUBECONFIG, else the\n"
		   "                      in-cluster service account, else ~/.kube/config); --context picks a\n"
		   "                      context other than the current one\n"
		   "  --identity ID       this replica in the Lease (default: $POD_NAME, else the host name)\n"
		   "  --namespace NS      where the Lease lives (default: $POD_NAMESPACE, else kerf-system)\n"
		   "  --scheduler-name N  plan for pods whose spec.schedulerName is N; repeat for several (default:\n"
		   "                      default-scheduler). Pods held by a scheduling gate are never planned for\n"
		   "  --debounce MS       the burst window: a change after this long without a round is planned at\n"
		   "                      once; changes coming sooner are planned together once they stop for this\n"
		   "                      long (default 500)\n"
		   "  --age-after MS      a pod waiting this long goes before younger pods of its priority (never\n"
		   "                      before a higher one) in the plan (default 300000; 0: no aging)\n"
		   "  --pack              keep whole GPUs whole: re-cut a busy GPU's free slices for a pod before\n"
		   "                      opening an idle GPU (as kerf simulate --pack; off by default, docs/simulator.md\n"
		   "                      says where it helps and what it costs)\n"
		   "  --interval MS       renew the Lease and re-plan at least this often (default 2000)\n"
		   "  --agent-timeout MS  leave out a node whose agent's heartbeat has not changed for this long\n"
		   "                      (default 90000: three missed heartbeats)\n"
		   "  --replan-after MS   a pod still unbound this long after its node has the instances it was\n"
		   "                      planned there for is planned on another node, and told why (default 60000)\n"
		   "  --events-per-second N  at most N Events a second for pods that cannot be placed, bursts of\n"
		   "                      5 x N (default 20)\n"
		   "  --write-concurrency N  write up to N MigLayout specs at once, each over a connection of its\n"
		   "                      own (default 8, at most 64)\n"
		   "  --start-timeout MS  give up when the caches have not synced this long after the start\n"
		   "                      (default 600000); /readyz says how far they got meanwhile\n"
		   "  --listen ADDR       serve /healthz, /readyz and /metrics on ADDR, HOST:PORT or :PORT (default\n"
		   "                      :8081; \"\" for none; never with --once)\n"
		   "  --once              run one round and exit (0 if it succeeded)\n"
		   "  --log-level LEVEL   log events this severe and more: error, warn, info (default) or debug\n"
		   "  --log-format FORMAT text (logfmt, the default) or json (one object a line), on stderr\n");
}

/* 0, 1 (--help), or -1 (bad usage, said on stderr). */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	long events = 0, write_concurrency = 0, age_after = -1; /* -1: not given */
	const struct cli_opt opts[] = {
		{ .name = "--once", .kind = CLI_FLAG, .dst = &o->once },
		{ .name = "--pack", .kind = CLI_FLAG, .dst = &o->ctl.pack },
		{ .name = "--log-level", .kind = CLI_FUNC, .dst = &o->log, .fn = cli_daemon_log_set },
		{ .name = "--log-format", .kind = CLI_FUNC, .dst = &o->log, .fn = cli_daemon_log_set },
		{ .name = "--kubeconfig", .kind = CLI_STRING, .dst = &o->kubeconfig },
		{ .name = "--context", .kind = CLI_STRING, .dst = &o->context },
		{ .name = "--listen", .kind = CLI_STRING, .dst = &o->listen },
		{ .name = "--identity", .kind = CLI_STRING, .dst = &o->ctl.identity },
		{ .name = "--namespace", .kind = CLI_STRING, .dst = &o->ctl.lease_namespace },
		{ .name = "--scheduler-name", .kind = CLI_LIST, .dst = o->schedulers, .max = MAX_SCHEDULERS,
		  .count = &o->n_schedulers },
		{ .name = "--debounce", .kind = CLI_MILLIS, .dst = &o->ctl.debounce_ms, .min = 1, .max = 60000 },
		{ .name = "--age-after", .kind = CLI_MILLIS, .dst = &age_after, .max = 86400000 },
		{ .name = "--interval", .kind = CLI_MILLIS, .dst = &o->interval_ms, .min = 100, .max = 60000 },
		{ .name = "--agent-timeout", .kind = CLI_MILLIS, .dst = &o->ctl.agent_timeout_ms, .min = 1000, .max = 3600000 },
		{ .name = "--replan-after", .kind = CLI_MILLIS, .dst = &o->ctl.replan_after_ms, .min = 1000, .max = 3600000 },
		{ .name = "--events-per-second", .kind = CLI_INT, .dst = &events, .min = 1, .max = 10000,
		  .noun = "whole number of Events" },
		{ .name = "--write-concurrency", .kind = CLI_INT, .dst = &write_concurrency, .min = 1, .max = 64 },
		{ .name = "--start-timeout", .kind = CLI_MILLIS, .dst = &o->ctl.start_timeout_ms, .min = 1000, .max = 86400000 },
		{ 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	o->interval_ms = 2000;
	o->listen = ":8081";
	o->ctl.identity = getenv("POD_NAME");
	o->ctl.lease_namespace = getenv("POD_NAMESPACE");
	cli_daemon_log_init(&o->log, "controller");
	o->ctl.log = kerf_log_write;
	o->ctl.log_arg = &o->log;
	if ((rc = cli_opts_parse("controller", opts, argc, argv, NULL, 0, NULL)) != 0) {
		if (rc > 0)
			usage(stdout);
		return rc;
	}
	if (o->n_schedulers > 0)
		o->ctl.scheduler_names = o->schedulers;
	if (age_after >= 0) /* 0 on the command line: no aging (0 in the options: the default) */
		o->ctl.age_after_ms = age_after == 0 ? -1 : age_after;
	if (events > 0) {
		o->ctl.events_per_s = (double)events;
		o->ctl.event_burst = 5.0 * (double)events;
	}
	o->ctl.write_concurrency = (unsigned)write_concurrency;
	if (o->ctl.identity == NULL || o->ctl.identity[0] == '\0') {
		if (gethostname(o->host, sizeof(o->host) - 1) != 0 || o->host[0] == '\0') {
			fprintf(stderr, "kerf controller: --identity: none given, and no host name to use\n");
			return -1;
		}
		o->ctl.identity = o->host;
	}
	return 0;
}

/* While the caches sync: /readyz says how far they got, and /healthz sees progress (a large cluster's first
 * lists can outlast the probe's stall limit); a SIGTERM stops the wait. */
static bool syncing(void *probe, const char *progress)
{
	cli_probe_not_ready(probe, progress);
	return !cli_daemon_stopping();
}

/* The controller as the daemon's own part: started on the daemon's client, metrics and probe. */
struct controller_part {
	struct opts *o;
	struct controller *ctl;
};

static int controller_part_start(void *arg, struct cli_daemon *d, struct kerf_err *err)
{
	struct controller_part *p = arg;

	p->o->ctl.metrics = d->metrics;
	p->o->ctl.syncing = syncing;
	p->o->ctl.syncing_arg = d->probe;
	if ((p->ctl = controller_start(d->client, &p->o->ctl, err)) == NULL)
		return -1;
	cli_probe_also(d->probe, controller_caches_fresh, p->ctl); /* not ready while it refuses to plan from a stale cache */
	return 0;
}

static int controller_part_step(void *arg, long wait_ms, struct kerf_err *err)
{
	return controller_step(((struct controller_part *)arg)->ctl, wait_ms, NULL, err);
}

/* controller_stop() hands the Lease over, so a SIGTERM'd leader is replaced at once. */
static void controller_part_stop(void *arg)
{
	controller_stop(((struct controller_part *)arg)->ctl);
}

/* The listener starts first: while the caches sync (up to --start-timeout) the kubelet's probes see a live
 * process that is not ready. */
int cmd_controller(int argc, char **argv)
{
	struct opts o;
	struct controller_part p = { .o = &o };
	const struct cli_daemon_parts parts = {
		.starting = "connecting to the API server and syncing the caches",
		.start = controller_part_start,
		.step = controller_part_step,
		.stop = controller_part_stop,
		.arg = &p,
	};
	int rc;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc > 0 ? KERF_EXIT_OK : KERF_EXIT_USAGE;
	return cli_daemon_main(&o.log, o.listen, o.once, o.kubeconfig, o.context, o.interval_ms, &parts);
}
