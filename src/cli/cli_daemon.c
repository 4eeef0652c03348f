/* SPDX-License-Identifier: Apache-2.0 */
/* cli_daemon.c — see cli_daemon.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_daemon.h"
#include "kube_metrics.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* SIGTERM and SIGINT end cli_daemon_run()'s loop; SIGPIPE is ignored (a peer that hung up is an error, not
 * a death). Call before starting anything. */
static void cli_daemon_signals(void)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
}

bool cli_daemon_stopping(void)
{
	return stopping != 0;
}

/*
 * Runs step(ctx, wait_ms) until SIGTERM or SIGINT, or once: each step waits up to interval_ms for work. A
 * failed step is logged (level error, with the error's status and reason) and tried again a second later
 * (the API server is away: do not spin). Each step's outcome goes to probe (NULL: none): ready after a step
 * that succeeded, not ready with its error. Returns KERF_EXIT_OK, or KERF_EXIT_FAIL when the single step of
 * once failed.
 */
static int cli_daemon_run(struct kerf_log_sink *log, int (*step)(void *ctx, long wait_ms, struct kerf_err *err),
			  void *ctx, long interval_ms, bool once, struct cli_probe *probe)
{
	struct kerf_err err;

	kerf_log_emit(kerf_log_write, log, KERF_LOG_INFO, NULL, "started", "interval_ms=%ld once=%s", interval_ms,
		      once ? "true" : "false");
	while (!stopping) {
		int rc = step(ctx, once ? 0 : interval_ms, &err);

		cli_probe_step(probe, rc == 0, rc == 0 ? NULL : err.msg);
		if (rc < 0) {
			kerf_log_emit(kerf_log_write, log, KERF_LOG_ERROR, &err, "round failed", NULL);
			if (once)
				return KERF_EXIT_FAIL;
			nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
			continue;
		}
		if (once)
			break;
	}
	kerf_log_emit(kerf_log_write, log, KERF_LOG_INFO, NULL, stopping ? "stopping" : "one round done", NULL);
	return KERF_EXIT_OK;
}

/*
 * A client for the cluster: kubeconfig (--kubeconfig) when given, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (kube_config_default, KUBE_ORDER_DAEMON). Logs which one to log
 * (NULL: no log line). NULL on failure.
 */
static struct kube_client *cli_daemon_connect(struct kerf_log_sink *log, const char *kubeconfig, const char *context,
				       struct kerf_err *err)
{
	struct kube_config cfg;
	struct kube_client *c;

	/* controller-runtime's order, since the daemons run in pods: --kubeconfig, $KUBECONFIG, the in-cluster
	 * service account, ~/.kube/config (docs/kube.md, "Precedence"). */
	if (kube_config_default(kubeconfig, context, KUBE_ORDER_DAEMON, &cfg, err) < 0)
		return NULL;
	if (log)
		kerf_log_emit(kerf_log_write, log, KERF_LOG_INFO, NULL, "cluster configuration read", "source=%s",
			      cfg.source ? cfg.source : "(unknown)");
	c = kube_client_new(&cfg, 0, err);
	kube_config_free(&cfg);
	return c;
}

/*
 * Starts, in this order: the probe state and the metrics, the listener on listen (none with once), marked not
 * ready with why, then the cluster client (cli_daemon_connect(), its series into the metrics). The listener
 * comes first so that while the rest starts the kubelet's probes see a live process that is not ready.
 * 0, or -1 said on stderr or in log; either way *d holds what started, for cli_daemon_unlisten() and
 * cli_daemon_free().
 */
static int cli_daemon_start(struct cli_daemon *d, struct kerf_log_sink *log, const char *listen, bool once,
		     const char *kubeconfig, const char *context, const char *why)
{
	const char *who = log->component ? log->component : "daemon";
	struct kerf_err err;

	memset(d, 0, sizeof(*d));
	if ((d->probe = cli_probe_new()) == NULL || (d->metrics = metrics_new()) == NULL) {
		fprintf(stderr, "kerf %s: out of memory\n", who);
		return -1;
	}
	if (cli_serve(who, once ? NULL : listen, d->probe, d->metrics, &d->http) < 0)
		return -1;
	cli_probe_not_ready(d->probe, why);
	if ((d->client = cli_daemon_connect(log, kubeconfig, context, &err)) == NULL) {
		kerf_log_emit(kerf_log_write, log, KERF_LOG_ERROR, &err, "start failed", NULL);
		return -1;
	}
	kube_client_metrics(d->client, d->metrics);
	return 0;
}

/* Stops the listener. First, before the daemon's own parts stop: its /readyz asks them. */
static void cli_daemon_unlisten(struct cli_daemon *d)
{
	httpd_stop(d->http);
	d->http = NULL;
}

/* Frees the client, the metrics and the probe state, once the daemon's own parts have stopped. */
static void cli_daemon_free(struct cli_daemon *d)
{
	cli_daemon_unlisten(d);
	kube_client_free(d->client);
	metrics_free(d->metrics);
	cli_probe_free(d->probe);
	memset(d, 0, sizeof(*d));
}

void cli_daemon_log_init(struct kerf_log_sink *log, const char *who)
{
	*log = (struct kerf_log_sink){.level = KERF_LOG_INFO, .format = KERF_LOG_TEXT, .component = who, .out = stderr};
}

int cli_daemon_log_set(void *log, const char *name, const char *value)
{
	struct kerf_log_sink *l = log;
	const char *who = l->component ? l->component : "daemon";

	if (strcmp(name, "--log-level") == 0) {
		if (kerf_log_level_parse(value, &l->level) == 0)
			return 0;
		fprintf(stderr, "kerf %s: --log-level: \"%s\" is not a level: error, warn, info or debug\n", who, value);
		return -1;
	}
	if (kerf_log_format_parse(value, &l->format) == 0)
		return 0;
	fprintf(stderr, "kerf %s: --log-format: \"%s\" is not a format: text or json\n", who, value);
	return -1;
}

int cli_daemon_main(struct kerf_log_sink *log, const char *listen, bool once, const char *kubeconfig,
		    const char *context, long interval_ms, const struct cli_daemon_parts *p)
{
	struct cli_daemon d;
	struct kerf_err err;
	int rc = KERF_EXIT_FAIL;

	cli_daemon_signals();
	if (cli_daemon_start(&d, log, listen, once, kubeconfig, context, p->starting) < 0)
		goto out;
	if (p->start(p->arg, &d, &err) < 0) {
		kerf_log_emit(kerf_log_write, log, KERF_LOG_ERROR, &err, "start failed", NULL);
		goto out;
	}
	rc = cli_daemon_run(log, p->step, p->arg, interval_ms, once, d.probe);
out:
	cli_daemon_unlisten(&d); /* first: its /readyz asks the parts */
	p->stop(p->arg);
	cli_daemon_free(&d);
	return rc;
}
