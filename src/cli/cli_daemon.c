/* cli_daemon.c — see cli_daemon.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "cli_daemon.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

void cli_daemon_signals(void)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
}

int cli_daemon_run(const char *who, int (*step)(void *ctx, long wait_ms, struct kerf_err *err), void *ctx,
		   long interval_ms, bool once, struct cli_probe *probe)
{
	struct kerf_err err;

	cli_daemon_log((void *)who, "started");
	while (!stopping) {
		int rc = step(ctx, once ? 0 : interval_ms, &err);

		cli_probe_step(probe, rc == 0, rc == 0 ? NULL : err.msg);
		if (rc < 0) {
			cli_daemon_log((void *)who, err.msg);
			if (once)
				return KERF_EXIT_FAIL;
			nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
			continue;
		}
		if (once)
			break;
	}
	cli_daemon_log((void *)who, stopping ? "stopping" : "one round done");
	return KERF_EXIT_OK;
}

struct kube_client *cli_daemon_connect(const char *who, const char *kubeconfig, const char *context,
				       struct kerf_err *err)
{
	struct kube_config cfg;
	struct kube_client *c;

	/* controller-runtime's order, since the daemons run in pods: --kubeconfig, $KUBECONFIG, the in-cluster
	 * service account, ~/.kube/config (docs/kube.md, "Precedence"). */
	if (kube_config_default(kubeconfig, context, KUBE_ORDER_DAEMON, &cfg, err) < 0)
		return NULL;
	if (who) {
		char line[600];
		snprintf(line, sizeof(line), "cluster from %s", cfg.source ? cfg.source : "(unknown)");
		cli_daemon_log((void *)who, line);
	}
	c = kube_client_new(&cfg, 0, err);
	kube_config_free(&cfg);
	return c;
}

long cli_daemon_millis(const char *who, const char *opt, const char *text, long lo, long hi)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (*end != '\0' || text[0] == '\0' || v < lo || v > hi) {
		fprintf(stderr, "kerf %s: %s: \"%s\" is not a number of milliseconds from %ld to %ld\n", who, opt, text, lo,
			hi);
		return -1;
	}
	return v;
}

void cli_daemon_log(void *arg, const char *line)
{
	char when[32];
	struct timespec now;
	struct tm tm;

	/* Milliseconds: a re-cut takes a few of them, and the stages of one are told apart by these stamps. */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ kerf %s: %s\n", when, now.tv_nsec / 1000000, (const char *)arg, line);
}
