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

/*
 * A client for the cluster: kubeconfig (--kubeconfig) when given, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (kube_config_default, KUBE_ORDER_DAEMON). Logs which one to log
 * (NULL: no log line). NULL on failure.
 */
struct kube_client *cli_daemon_connect(struct kerf_log_sink *log, const char *kubeconfig, const char *context,
				       struct kerf_err *err);

/* What both daemons hold besides their own parts. */
struct cli_daemon {
	struct cli_probe *probe;
	struct metrics *metrics;
	struct httpd *http;        /* NULL: no listener (--once, or --listen "") */
	struct kube_client *client;
};

/*
 * Starts, in this order: the probe state and the metrics, the listener on listen (none with once), marked not
 * ready with why, then the cluster client (cli_daemon_connect(), its series into the metrics). The listener
 * comes first so that while the rest starts the kubelet's probes see a live process that is not ready.
 * 0, or -1 said on stderr or in log; either way *d holds what started, for cli_daemon_unlisten() and
 * cli_daemon_free().
 */
int cli_daemon_start(struct cli_daemon *d, struct kerf_log_sink *log, const char *listen, bool once,
		     const char *kubeconfig, const char *context, const char *why);

/* Stops the listener. First, before the daemon's own parts stop: its /readyz asks them. */
void cli_daemon_unlisten(struct cli_daemon *d);

/* Frees the client, the metrics and the probe state, once the daemon's own parts have stopped. */
void cli_daemon_free(struct cli_daemon *d);

/* The daemons' log: stderr, level info, logfmt, component=who. */
void cli_daemon_log_init(struct kerf_log_sink *log, const char *who);

/* The value of --log-level or --log-format (name) into the kerf_log_sink log: a CLI_FUNC of cli_opts.h. 0, or
 * -1 with a line on stderr that names the command and the option. */
int cli_daemon_log_set(void *log, const char *name, const char *value);

/* SIGTERM and SIGINT end cli_daemon_run()'s loop; SIGPIPE is ignored (a peer that hung up is an error, not
 * a death). Call before starting anything. */
void cli_daemon_signals(void);

/* Whether SIGTERM or SIGINT has come. */
bool cli_daemon_stopping(void);

/*
 * Runs step(ctx, wait_ms) until SIGTERM or SIGINT, or once: each step waits up to interval_ms for work. A
 * failed step is logged (level error, with the error's status and reason) and tried again a second later (the API server is away: do not spin). Each step's
 * outcome goes to probe (NULL: none): ready after a step that succeeded, not ready with its error. Returns
 * KERF_EXIT_OK, or KERF_EXIT_FAIL when the single step of once failed.
 */
int cli_daemon_run(struct kerf_log_sink *log, int (*step)(void *ctx, long wait_ms, struct kerf_err *err), void *ctx,
		   long interval_ms, bool once, struct cli_probe *probe);

#endif
