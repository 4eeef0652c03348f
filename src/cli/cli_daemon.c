/* cli_daemon.c — see cli_daemon.h. */
#include <stdio.h>
#include <time.h>

#include "cli_daemon.h"

struct kube_client *cli_daemon_connect(const char *kubeconfig, const char *context, struct kerf_err *err)
{
	struct kube_config cfg;
	struct kube_client *c;

	if ((kubeconfig ? kube_config_load(kubeconfig, context, &cfg, err) : kube_config_in_cluster(NULL, &cfg, err)) < 0)
		return NULL;
	c = kube_client_new(&cfg, 0, err);
	kube_config_free(&cfg);
	return c;
}

void cli_daemon_log(void *arg, const char *line)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s kerf %s: %s\n", when, (const char *)arg, line);
}
