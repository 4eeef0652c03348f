/* cli_daemon.c — see cli_daemon.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

bool cli_daemon_stopping(void)
{
	return stopping != 0;
}

int cli_daemon_run(struct kerf_log_sink *log, int (*step)(void *ctx, long wait_ms, struct kerf_err *err), void *ctx,
		   long interval_ms, bool once, struct cli_probe *probe)
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

struct kube_client *cli_daemon_connect(struct kerf_log_sink *log, const char *kubeconfig, const char *context,
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

void cli_daemon_log_init(struct kerf_log_sink *log, const char *who)
{
	*log = (struct kerf_log_sink){.level = KERF_LOG_INFO, .format = KERF_LOG_TEXT, .component = who, .out = stderr};
}

/* The value of option name in argv[*i]: after "name=", or the next argument (then *i moves to it). NULL when
 * argv[*i] is not the option; *missing when it is, without a value. */
static const char *option_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	*missing = false;
	if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int cli_daemon_log_option(struct kerf_log_sink *log, int argc, char **argv, int *i)
{
	const char *who = log->component ? log->component : "daemon";
	bool missing;
	const char *v;

	if ((v = option_value("--log-level", argc, argv, i, &missing)) != NULL || missing) {
		if (v == NULL || kerf_log_level_parse(v, &log->level) < 0) {
			fprintf(stderr, "kerf %s: --log-level: \"%s\" is not a level: error, warn, info or debug\n", who,
				v ? v : "");
			return -1;
		}
		return 0;
	}
	if ((v = option_value("--log-format", argc, argv, i, &missing)) != NULL || missing) {
		if (v == NULL || kerf_log_format_parse(v, &log->format) < 0) {
			fprintf(stderr, "kerf %s: --log-format: \"%s\" is not a format: text or json\n", who, v ? v : "");
			return -1;
		}
		return 0;
	}
	return 1;
}
