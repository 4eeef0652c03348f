/* SPDX-License-Identifier: Apache-2.0 */
/* cli_serve.c — see cli_serve.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_serve.h"
#include "deadline.h"

struct cli_probe {
	pthread_mutex_t mu;
	bool ready;
	char why[256];
	long long progress_ms;
	int (*also)(void *arg, char *why, size_t cap);
	void *also_arg;
};

struct cli_probe *cli_probe_new(void)
{
	struct cli_probe *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	snprintf(p->why, sizeof(p->why), "starting");
	p->progress_ms = kerf_mono_ms();
	return p;
}

void cli_probe_free(struct cli_probe *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void set(struct cli_probe *p, bool ready, const char *why)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->ready = ready;
	snprintf(p->why, sizeof(p->why), "%s", why ? why : "");
	p->progress_ms = kerf_mono_ms();
	pthread_mutex_unlock(&p->mu);
}

void cli_probe_not_ready(struct cli_probe *p, const char *why)
{
	set(p, false, why);
}

void cli_probe_also(struct cli_probe *p, int (*check)(void *arg, char *why, size_t cap), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->also = check;
	p->also_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

void cli_probe_step(struct cli_probe *p, bool ok, const char *why)
{
	set(p, ok, ok ? "" : why);
}

static int alive(void *arg, char *why, size_t cap)
{
	struct cli_probe *p = arg;
	long long idle;

	pthread_mutex_lock(&p->mu);
	idle = (kerf_mono_ms() - p->progress_ms) / 1000;
	pthread_mutex_unlock(&p->mu);
	if (idle <= CLI_PROBE_STALL_S)
		return 1;
	snprintf(why, cap, "the main loop has made no progress for %lld s", idle);
	return 0;
}

static int ready(void *arg, char *why, size_t cap)
{
	struct cli_probe *p = arg;
	int ok;

	pthread_mutex_lock(&p->mu);
	ok = p->ready;
	if (!ok)
		snprintf(why, cap, "%s", p->why);
	else if (p->also != NULL)
		ok = p->also(p->also_arg, why, cap);
	pthread_mutex_unlock(&p->mu);
	return ok;
}

int cli_serve(const char *who, const char *addr, struct cli_probe *p, struct metrics *m, struct httpd **h)
{
	struct httpd_routes routes = {.healthz = alive, .readyz = ready, .metrics = m, .arg = p};
	struct kerf_err err;

	*h = NULL;
	if (addr == NULL || *addr == '\0')
		return 0;
	if ((*h = httpd_start(addr, &routes, &err)) == NULL) {
		fprintf(stderr, "kerf %s: --listen: %s\n", who, err.msg);
		return -1;
	}
	return 0;
}
