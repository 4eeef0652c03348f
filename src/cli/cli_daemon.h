/*
 * cli_daemon.h — what `kerf agent` and `kerf controller` share as long-running processes: connecting to the
 * cluster (--kubeconfig, $KUBECONFIG, the in-cluster service account, ~/.kube/config) and log lines with a
 * UTC timestamp on stderr.
 */
#ifndef KERF_CLI_DAEMON_H
#define KERF_CLI_DAEMON_H

#include <stdbool.h>

#include "err.h"
#include "cli_serve.h"
#include "kube.h"

/*
 * A client for the cluster: kubeconfig (--kubeconfig) when given, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (kube_config_default, KUBE_ORDER_DAEMON). Logs which one as who
 * (NULL: no log line). NULL on failure.
 */
struct kube_client *cli_daemon_connect(const char *who, const char *kubeconfig, const char *context,
				       struct kerf_err *err);

/* "2026-11-30T07:00:00Z kerf <arg>: <line>" on stderr; arg is the command's name (a const char *). */
void cli_daemon_log(void *arg, const char *line);

/* A whole number of milliseconds in [lo, hi] from the value of option opt, or -1 with a line on stderr that
 * names the command (who) and the option. */
long cli_daemon_millis(const char *who, const char *opt, const char *text, long lo, long hi);

/* SIGTERM and SIGINT end cli_daemon_run()'s loop; SIGPIPE is ignored (a peer that hung up is an error, not
 * a death). Call before starting anything. */
void cli_daemon_signals(void);

/*
 * Runs step(ctx, wait_ms) until SIGTERM or SIGINT, or once: each step waits up to interval_ms for work. A
 * failed step is logged and tried again a second later (the API server is away: do not spin). Each step's
 * outcome goes to probe (NULL: none): ready after a step that succeeded, not ready with its error. Returns
 * KERF_EXIT_OK, or KERF_EXIT_FAIL when the single step of once failed.
 */
int cli_daemon_run(const char *who, int (*step)(void *ctx, long wait_ms, struct kerf_err *err), void *ctx,
		   long interval_ms, bool once, struct cli_probe *probe);

#endif
