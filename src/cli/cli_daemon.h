/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_daemon.h — what `kerf agent` and `kerf controller` share as long-running processes: connecting to the
 * cluster (--kubeconfig, $KUBECONFIG, the in-cluster service account, ~/.kube/config); their log: one
 * event a line on stderr (log.h), logfmt or JSON (--log-format), filtered by --log-level; what they start
 * before their own parts (probe state, metrics, the --listen listener, the client: cli_daemon_start()); their
 * signals and their step loop (cli_daemon_run()).
 */
#ifndef KERF_CLI_DAEMON_H
#define KERF_CLI_DAEMON_H

#include <stdbool.h>

#include "err.h"
#include "cli_serve.h"
#include "kube.h"
#include "log.h"

/* What both daemons hold besides their own parts. */
struct cli_daemon {
	struct cli_probe *probe;
	struct metrics *metrics;
	struct httpd *http;        /* NULL: no listener (--once, or --listen "") */
	struct kube_client *client;
};

/* The daemons' log: stderr, level info, logfmt, component=who. */
void cli_daemon_log_init(struct kerf_log_sink *log, const char *who);

/* The value of --log-level or --log-format (name) into the kerf_log_sink log: a CLI_FUNC of cli_opts.h. 0, or
 * -1 with a line on stderr that names the command and the option. */
int cli_daemon_log_set(void *log, const char *name, const char *value);

/* Whether SIGTERM or SIGINT has come. */
bool cli_daemon_stopping(void);

/* One daemon's own parts (the agent's node side and its sync, the controller), run inside the shared ones. */
struct cli_daemon_parts {
	const char *starting; /* what /readyz says while everything starts */
	/* Starts them, on d's client, metrics and probe: 0, or -1 with err (logged "start failed") */
	int (*start)(void *arg, struct cli_daemon *d, struct kerf_err *err);
	int (*step)(void *arg, long wait_ms, struct kerf_err *err); /* one round, as cli_daemon_run() runs it */
	void (*stop)(void *arg); /* stops what start started, all or some or none of it */
	void *arg;
};

/*
 * A daemon's whole life, in this order: SIGTERM and SIGINT caught (SIGPIPE ignored); the probe state and the
 * metrics; the listener on listen (none with once), not ready with p->starting; the cluster client (kubeconfig,
 * else $KUBECONFIG, else the in-cluster service account, else ~/.kube/config); p->start. Then rounds of p->step,
 * each waiting up to interval_ms for work, until SIGTERM or SIGINT, or one with once: a failed round is logged
 * and tried again a second later, and each round's outcome is what /readyz says. Last the listener stops
 * (its /readyz asks the parts), then p->stop, then the rest. Returns the process's exit status: KERF_EXIT_FAIL
 * when something did not start or once's round failed, else KERF_EXIT_OK.
 */
int cli_daemon_main(struct kerf_log_sink *log, const char *listen, bool once, const char *kubeconfig,
		    const char *context, long interval_ms, const struct cli_daemon_parts *p);

#endif
