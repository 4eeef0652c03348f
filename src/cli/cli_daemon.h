/*
 * cli_daemon.h — what `kerf agent` and `kerf controller` share as long-running processes: connecting to the
 * cluster (--kubeconfig, $KUBECONFIG, the in-cluster service account, ~/.kube/config) and their log: one
 * event a line on stderr (log.h), logfmt or JSON (--log-format), filtered by --log-level.
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

/* The daemons' log: stderr, level info, logfmt, component=who. */
void cli_daemon_log_init(struct kerf_log_sink *log, const char *who);

/*
 * Takes --log-level LEVEL / --log-level=LEVEL and --log-format FORMAT / --log-format=FORMAT from argv[*i]
 * (advancing *i past a separate value). Returns 1 when argv[*i] is neither option (nothing taken), 0 when it
 * set log, -1 on a bad or missing value (said on stderr, naming the command and the option).
 */
int cli_daemon_log_option(struct kerf_log_sink *log, int argc, char **argv, int *i);

/* A whole number of milliseconds in [lo, hi] from the value of option opt, or -1 with a line on stderr that
 * names the command (who) and the option. */
long cli_daemon_millis(const char *who, const char *opt, const char *text, long lo, long hi);

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
