/* SPDX-License-Identifier: Apache-2.0 */
/*
 * informer.c — list + watch in a thread, feeding the store.
 *
 * The loop, as client-go's reflector runs it:
 *   list every page (marking the store's epoch) -> synced -> watch from the list's resourceVersion;
 *   watch closed or dropped -> watch again from the last resourceVersion seen (events and bookmarks);
 *   410 Gone (compacted, or older than the server's watch cache) -> list again;
 *   server unreachable -> wait min..max, doubling, with "equal jitter" (a random wait between half
 *   the step and the whole step) so that many agents restarted by the
 *   same outage do not return in lock-step.
 *
 * Failures are not only counted: the informer keeps its health (kube_informer_health: failing since when,
 * the last error with its HTTP status and reason) for callers that must not act on a stale cache, and tells
 * spec.on_error, rate-limited by kind of failure, so that a daemon logs "forbidden" once a minute rather than once
 * per retry. Any sign that the server serves this informer again ends the failing state: a completed list,
 * a watch answered with 200 (kube_watch_opts.on_open: an idle watch may bring no event for minutes), an
 * event, a watch the server closed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "kube.h"
#include "kube_internal.h"
#include "kube_store.h"

#define RV_MAX 64

struct kube_informer {
	struct kube_client *c;
	struct kube_informer_spec spec;
	char *ns, *label_selector, *field_selector; /* owned copies of the spec's strings */
	const char **fields;                        /* spec's fields + what the store needs, or NULL */
	struct kube_store *store;
	pthread_mutex_t lock; /* guards store, synced, stats */
	pthread_cond_t cond;  /* signalled on synced and on stop */
	pthread_t thread;
	bool started, synced;
	volatile int stop;
	struct kube_informer_stats stats;
	struct kube_informer_health health; /* guarded by lock */
	/* What on_error was last told (the informer's thread only). */
	char told[KERF_ERR_MSG_MAX + 16]; /* its key: see note_failure() */
	long long told_ms;
	bool told_any;
	char rv[RV_MAX];
	unsigned seed;
};

static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

struct kube_informer *kube_informer_new(struct kube_client *c, const struct kube_informer_spec *spec,
					struct kerf_err *err)
{
	struct kube_informer *inf;
	bool oom = false;

	if (!spec->resource || !spec->project) {
		kerf_err_set(err, KERF_EINVAL, "informer: resource and project must be set");
		return NULL;
	}
	inf = calloc(1, sizeof(*inf));
	if (!inf) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	inf->c = c;
	inf->spec = *spec;
	inf->ns = dup_opt(spec->ns, &oom);
	inf->label_selector = dup_opt(spec->label_selector, &oom);
	inf->field_selector = dup_opt(spec->field_selector, &oom);
	inf->spec.ns = inf->ns;
	inf->spec.label_selector = inf->label_selector;
	inf->spec.field_selector = inf->field_selector;
	if (spec->fields) {
		static const char *const always[] = {"metadata.name", "metadata.namespace", "metadata.resourceVersion"};
		size_t n = 0;
		while (spec->fields[n])
			n++;
		inf->fields = calloc(n + 4, sizeof(*inf->fields));
		if (!inf->fields)
			oom = true;
		for (size_t i = 0; inf->fields && i < n + 3; i++)
			inf->fields[i] = i < n ? spec->fields[i] : always[i - n]; /* borrowed: the caller's are static */
	}
	if (inf->spec.page_limit <= 0)
		inf->spec.page_limit = 500;
	if (inf->spec.backoff_min_ms <= 0)
		inf->spec.backoff_min_ms = 250;
	if (inf->spec.backoff_max_ms <= 0)
		inf->spec.backoff_max_ms = 10000;
	if (inf->spec.watch_timeout_s <= 0)
		inf->spec.watch_timeout_s = 300;
	if (inf->spec.error_report_ms <= 0)
		inf->spec.error_report_ms = 60000;
	inf->store = kube_store_new(&inf->spec);
	inf->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)inf;
	pthread_mutex_init(&inf->lock, NULL);
	pthread_cond_init(&inf->cond, NULL);
	if (oom || !inf->store) {
		kube_informer_free(inf);
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	return inf;
}

/* Sleeps ms, waking early when stopped. Returns true when stopped. */
static bool nap(struct kube_informer *inf, long ms)
{
	struct timespec ts = kerf_deadline(CLOCK_REALTIME, ms);

	pthread_mutex_lock(&inf->lock);
	while (!inf->stop)
		if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&inf->lock);
	return inf->stop;
}

/* A list or watch failed: the cache may be stale from now on. Tells on_error unless it was told the same
 * message less than error_report_ms ago. */
static void note_failure(struct kube_informer *inf, const struct kerf_err *err)
{
	long long now = kerf_mono_ms();
	char key[KERF_ERR_MSG_MAX + 16];
	unsigned long n;

	pthread_mutex_lock(&inf->lock);
	if (!inf->health.failing) {
		inf->health.failing = true;
		inf->health.failing_since_ms = now;
	}
	n = ++inf->health.failures;
	inf->health.last = *err;
	pthread_mutex_unlock(&inf->lock);
	if (inf->spec.on_error == NULL || inf->stop)
		return;
	/* The same failure is told once per error_report_ms. An answer from the server is the same when its status
	 * and reason are (a watch's path, and so its message, changes with each resourceVersion); any other failure
	 * when its message is. */
	if (err->http_status)
		snprintf(key, sizeof(key), "%d %d %s", (int)err->code, err->http_status, err->reason);
	else
		snprintf(key, sizeof(key), "%d %s", (int)err->code, err->msg);
	if (inf->told_any && strcmp(inf->told, key) == 0 && now - inf->told_ms < inf->spec.error_report_ms)
		return;
	inf->spec.on_error(inf->spec.resource, err, n, inf->spec.arg);
	snprintf(inf->told, sizeof(inf->told), "%s", key);
	inf->told_ms = now;
	inf->told_any = true;
}

/* Ends the failing state; call with the lock held. Returns whether on_error should now be told (unlocked). */
static bool recovered_locked(struct kube_informer *inf)
{
	if (!inf->health.failing)
		return false;
	inf->health.failing = false;
	inf->health.failures = 0;
	inf->health.failing_since_ms = 0;
	return true;
}

/* The server serves this informer again: on_error hears it once, if it was told of the failure. */
static void tell_recovered(struct kube_informer *inf)
{
	if (inf->told_any && inf->spec.on_error != NULL && !inf->stop)
		inf->spec.on_error(inf->spec.resource, NULL, 0, inf->spec.arg);
	inf->told_any = false;
}

static void note_ok(struct kube_informer *inf)
{
	bool back;

	pthread_mutex_lock(&inf->lock);
	back = recovered_locked(inf);
	pthread_mutex_unlock(&inf->lock);
	if (back)
		tell_recovered(inf);
}

static void watch_opened(void *arg)
{
	note_ok(arg);
}

static int list_item(json_t *item, void *arg)
{
	struct kube_informer *inf = arg;
	struct kerf_err err;
	pthread_mutex_lock(&inf->lock);
	kube_store_relist_item(inf->store, item, &err); /* only out-of-memory fails; the next relist repairs */
	pthread_mutex_unlock(&inf->lock);
	return inf->stop;
}

static int relist(struct kube_informer *inf, struct kerf_err *err)
{
	struct kube_list_opts o = {.label_selector = inf->label_selector,
				   .field_selector = inf->field_selector,
				   .limit = inf->spec.page_limit};
	char rv[RV_MAX] = "";

	pthread_mutex_lock(&inf->lock);
	kube_store_relist_begin(inf->store);
	inf->stats.lists++;
	pthread_mutex_unlock(&inf->lock);
	if (kube_list_all(inf->c, inf->spec.resource, inf->ns, &o, list_item, inf, rv, sizeof(rv), err))
		return -1;
	if (inf->stop)
		return 0;
	pthread_mutex_lock(&inf->lock);
	kube_store_relist_end(inf->store);
	snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
	inf->synced = true;
	pthread_cond_broadcast(&inf->cond);
	pthread_mutex_unlock(&inf->lock);
	note_ok(inf);
	return 0;
}

static int watch_event(enum kube_event_type type, json_t *obj, void *arg)
{
	struct kube_informer *inf = arg;
	struct kerf_err err;
	bool back;
	pthread_mutex_lock(&inf->lock);
	inf->stats.events++;
	kube_store_apply(inf->store, type, obj, &err);
	back = recovered_locked(inf);
	pthread_mutex_unlock(&inf->lock);
	if (back)
		tell_recovered(inf);
	return 0;
}

static long jitter(struct kube_informer *inf, long max_ms)
{
	return max_ms / 2 + (long)(rand_r(&inf->seed) % (unsigned)(max_ms / 2 + 1));
}

static void *run(void *arg)
{
	struct kube_informer *inf = arg;
	long backoff = inf->spec.backoff_min_ms;
	bool need_list = true;
	struct kerf_err err;

	while (!inf->stop) {
		struct kube_watch_opts wo = {.label_selector = inf->label_selector,
					     .field_selector = inf->field_selector,
					     .stop = &inf->stop,
					     .fields = inf->fields,
					     .on_open = watch_opened};
		char rv[RV_MAX];
		int r;

		if (need_list) {
			if (relist(inf, &err)) {
				pthread_mutex_lock(&inf->lock);
				inf->stats.failures++;
				pthread_mutex_unlock(&inf->lock);
				note_failure(inf, &err);
				nap(inf, jitter(inf, backoff));
				backoff = backoff * 2 > inf->spec.backoff_max_ms ? inf->spec.backoff_max_ms : backoff * 2;
				continue;
			}
			need_list = false;
		}
		/* Jittered watch lengths spread many clients' reconnects over time. */
		wo.timeout_s = inf->spec.watch_timeout_s - (long)(rand_r(&inf->seed) % (unsigned)(inf->spec.watch_timeout_s / 4 + 1));
		wo.resource_version = inf->rv;
		pthread_mutex_lock(&inf->lock);
		inf->stats.watches++;
		pthread_mutex_unlock(&inf->lock);
		r = kube_watch(inf->c, inf->spec.resource, inf->ns, &wo, watch_event, inf, rv, sizeof(rv), &err);
		pthread_mutex_lock(&inf->lock);
		snprintf(inf->rv, sizeof(inf->rv), "%s", rv);
		if (r == KUBE_WATCH_GONE)
			inf->stats.gone++;
		else if (r < 0)
			inf->stats.failures++;
		pthread_mutex_unlock(&inf->lock);
		if (r == KUBE_WATCH_GONE) {
			need_list = true;
			backoff = inf->spec.backoff_min_ms;
		} else if (r == KUBE_WATCH_CLOSED) {
			note_ok(inf);
			backoff = inf->spec.backoff_min_ms;
		} else if (r < 0) {
			note_failure(inf, &err);
			nap(inf, jitter(inf, backoff));
			backoff = backoff * 2 > inf->spec.backoff_max_ms ? inf->spec.backoff_max_ms : backoff * 2;
		}
	}
	return NULL;
}

int kube_informer_start(struct kube_informer *inf, struct kerf_err *err)
{
	if (inf->started)
		return kerf_err_set(err, KERF_EINVAL, "informer: already started");
	if (pthread_create(&inf->thread, NULL, run, inf) != 0)
		return kerf_err_set(err, KERF_ENOMEM, "informer: cannot start its thread");
	inf->started = true;
	return 0;
}

bool kube_informer_synced(struct kube_informer *inf)
{
	bool s;
	pthread_mutex_lock(&inf->lock);
	s = inf->synced;
	pthread_mutex_unlock(&inf->lock);
	return s;
}

int kube_informer_wait_synced(struct kube_informer *inf, long timeout_ms, struct kerf_err *err)
{
	struct timespec ts = kerf_deadline(CLOCK_REALTIME, timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&inf->lock);
	while (!inf->synced && rc == 0)
		rc = pthread_cond_timedwait(&inf->cond, &inf->lock, &ts);
	rc = inf->synced ? 0 : -1;
	pthread_mutex_unlock(&inf->lock);
	if (rc)
		return kerf_err_set(err, KERF_ETIMEOUT, "informer for %s: not synced after %ld ms",
				    inf->spec.resource->plural, timeout_ms);
	return 0;
}

void kube_informer_free(struct kube_informer *inf)
{
	if (!inf)
		return;
	if (inf->started) {
		pthread_mutex_lock(&inf->lock);
		inf->stop = 1;
		pthread_cond_broadcast(&inf->cond);
		pthread_mutex_unlock(&inf->lock);
		pthread_join(inf->thread, NULL);
	}
	kube_store_free(inf->store);
	pthread_cond_destroy(&inf->cond);
	pthread_mutex_destroy(&inf->lock);
	free(inf->ns);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf->fields);
	free(inf);
}

size_t kube_informer_len(struct kube_informer *inf)
{
	size_t n;
	pthread_mutex_lock(&inf->lock);
	n = kube_store_len(inf->store);
	pthread_mutex_unlock(&inf->lock);
	return n;
}

void kube_informer_foreach(struct kube_informer *inf,
			   int (*fn)(const char *key, const char *rv, const void *proj, void *arg), void *arg)
{
	pthread_mutex_lock(&inf->lock);
	kube_store_foreach(inf->store, fn, arg);
	pthread_mutex_unlock(&inf->lock);
}

bool kube_informer_with(struct kube_informer *inf, const char *key,
			void (*fn)(const char *rv, const void *proj, void *arg), void *arg)
{
	bool found;
	pthread_mutex_lock(&inf->lock);
	found = kube_store_with(inf->store, key, fn, arg);
	pthread_mutex_unlock(&inf->lock);
	return found;
}

void kube_informer_health(struct kube_informer *inf, struct kube_informer_health *out)
{
	pthread_mutex_lock(&inf->lock);
	*out = inf->health;
	pthread_mutex_unlock(&inf->lock);
}

void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out)
{
	pthread_mutex_lock(&inf->lock);
	*out = inf->stats;
	pthread_mutex_unlock(&inf->lock);
}
