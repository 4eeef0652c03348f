/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_informer.c — the informer against the real control plane, including the failures it exists to
 * survive: kube-apiserver killed and restarted mid-watch, and etcd compacted so that resuming is impossible
 * (410 Gone) and a relist is needed. In every case the cache must end equal to a fresh list.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "live.h"

/* The projection: the one field this "daemon" needs. */
struct proj {
	char v[32];
};

struct counts {
	int adds, updates, deletes;
};

static void *project(json_t *obj, void *arg)
{
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), "v"));
	struct proj *p = calloc(1, sizeof(*p));
	(void)arg;
	if (p)
		snprintf(p->v, sizeof(p->v), "%s", v ? v : "");
	return p;
}

static void on_add(const char *k, const void *p, void *arg)
{
	(void)k, (void)p;
	((struct counts *)arg)->adds++;
}

static void on_update(const char *k, const void *o, const void *n, void *arg)
{
	(void)k, (void)o, (void)n;
	((struct counts *)arg)->updates++;
}

static void on_delete(const char *k, const void *p, void *arg)
{
	(void)k, (void)p;
	((struct counts *)arg)->deletes++;
}

/* The watch decodes only what project() reads (plus what the store needs). */
static const char *const fields[] = {"data.v", NULL};

static struct kube_informer *start_selected(struct live *l, struct counts *cnt, const char *field_selector)
{
	struct kube_informer_spec spec = {.resource = &KUBE_CONFIGMAPS, .ns = l->ns, .label_selector = "app=inf",
					  .field_selector = field_selector,
					  .page_limit = 40, .fields = fields, .project = project, .free_proj = free, .on_add = on_add,
					  .on_update = on_update, .on_delete = on_delete, .arg = cnt,
					  .backoff_min_ms = 100, .backoff_max_ms = 1000, .watch_timeout_s = 60};
	struct kerf_err err;
	struct kube_informer *inf = kube_informer_new(l->c, &spec, &err);
	if (!inf || kube_informer_start(inf, &err) || kube_informer_wait_synced(inf, 60000, &err))
		fail_msg("%s", err.msg);
	return inf;
}

static struct kube_informer *start(struct live *l, struct counts *cnt)
{
	return start_selected(l, cnt, NULL);
}

static void put(struct live *l, const char *name, const char *v)
{
	struct kerf_err err;
	json_t *cm = live_configmap(name, "inf", v), *out = kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err);
	if (!out && err.code == KERF_ECONFLICT) {
		json_t *p = json_pack("{s:{s:s}}", "data", "v", v);
		out = kube_patch(l->c, &KUBE_CONFIGMAPS, l->ns, name, KUBE_PATCH_MERGE, p, false, &err);
		json_decref(p);
	}
	if (!out)
		fail_msg("%s", err.msg);
	json_decref(out);
	json_decref(cm);
}

static void del(struct live *l, const char *name)
{
	struct kerf_err err;
	if (kube_delete(l->c, &KUBE_CONFIGMAPS, l->ns, name, &err))
		fail_msg("%s", err.msg);
}

/* ---- comparing the cache with a fresh list: same keys, same resourceVersions, same projected value */

struct want {
	int n;
	char key[256][96], rv[256][32], v[256][32];
};

static int collect(json_t *item, void *arg)
{
	struct want *w = arg;
	json_t *md = json_object_get(item, "metadata");
	const char *v = json_string_value(json_object_get(json_object_get(item, "data"), "v"));
	assert_true(w->n < 256);
	snprintf(w->key[w->n], sizeof(w->key[0]), "%s/%s", json_string_value(json_object_get(md, "namespace")),
		 json_string_value(json_object_get(md, "name")));
	snprintf(w->rv[w->n], sizeof(w->rv[0]), "%s", json_string_value(json_object_get(md, "resourceVersion")));
	snprintf(w->v[w->n], sizeof(w->v[0]), "%s", v ? v : "");
	w->n++;
	return 0;
}

struct match {
	const char *rv, *v;
	bool same;
};

static void check_one(const char *rv, const void *proj, void *arg)
{
	struct match *m = arg;
	m->same = strcmp(rv, m->rv) == 0 && strcmp(((const struct proj *)proj)->v, m->v) == 0;
}

static bool cache_equals_selected_list(struct live *l, struct kube_informer *inf, const char *field_selector)
{
	struct kube_list_opts o = {.label_selector = "app=inf", .field_selector = field_selector};
	struct kerf_err err;
	struct want *w = calloc(1, sizeof(*w));
	bool same;

	if (kube_list_all(l->c, &KUBE_CONFIGMAPS, l->ns, &o, collect, w, NULL, 0, &err))
		fail_msg("%s", err.msg);
	same = kube_informer_len(inf) == (size_t)w->n;
	for (int i = 0; same && i < w->n; i++) {
		struct match m = {w->rv[i], w->v[i], false};
		same = kube_informer_with(inf, w->key[i], check_one, &m) && m.same;
	}
	free(w);
	return same;
}

static void wait_converged_selected(struct live *l, struct kube_informer *inf, const char *field_selector)
{
	for (int i = 0; i < 600; i++) { /* bounded: a broken informer fails the test instead of hanging it */
		if (cache_equals_selected_list(l, inf, field_selector))
			return;
		live_sleep_ms(100);
	}
	fail_msg("the cache never became equal to a fresh list");
}

static void wait_converged(struct live *l, struct kube_informer *inf)
{
	wait_converged_selected(l, inf, NULL);
}

static void print_stats(const struct kube_informer_stats *st)
{
	printf("lists %llu, watches %llu, events %llu, gone %llu, failures %llu\n", (unsigned long long)st->lists,
	       (unsigned long long)st->watches, (unsigned long long)st->events, (unsigned long long)st->gone,
	       (unsigned long long)st->failures);
}

static void test_cache_syncs_then_follows_adds_updates_deletes(void **state)
{
	struct live *l = *state;
	struct counts cnt = {0};
	struct kube_informer *inf;
	char name[32];

	for (int i = 0; i < 100; i++) { /* more than two pages of 40 */
		snprintf(name, sizeof(name), "c%d", i);
		put(l, name, "0");
	}
	inf = start(l, &cnt);
	assert_int_equal(kube_informer_len(inf), 100);
	assert_int_equal(cnt.adds, 100);
	put(l, "c1", "1");
	del(l, "c2");
	put(l, "new", "n");
	wait_converged(l, inf);
	assert_int_equal(kube_informer_len(inf), 100);
	kube_informer_free(inf);
	assert_int_equal(cnt.adds, 101);
	assert_int_equal(cnt.updates, 1);
	assert_int_equal(cnt.deletes, 1);
}

/*
 * The outage both recovery tests share: n objects and an informer synced on them, one change; then
 * kube-apiserver killed without a goodbye (and, with compact, etcd's history compacted while it is down, after
 * a write the informer does not watch moved the revision past the informer's last version, so the version
 * it resumes from exists nowhere); then the apiserver back and three changes (an update, a delete, an add).
 * Returns once the cache equals a fresh list, with the informer's counters; cnt counts its callbacks.
 */
static void outage(struct live *l, char prefix, int n, bool compact, struct kube_informer_stats *st,
		   struct counts *cnt)
{
	struct kube_informer *inf;
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%c%d", prefix, i);
		put(l, name, "0");
	}
	inf = start(l, cnt);
	snprintf(name, sizeof(name), "%c0", prefix);
	put(l, name, "before");
	wait_converged(l, inf);
	if (compact) {
		struct kerf_err err;
		json_t *cm = live_configmap("unwatched", "other", "x");

		json_decref(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err));
		json_decref(cm);
	}
	live_ctl("kill-apiserver");
	if (compact)
		live_ctl("compact");
	live_sleep_ms(500); /* the informer notices, fails to reconnect, backs off */
	live_ctl("start-apiserver");

	snprintf(name, sizeof(name), "%c1", prefix);
	put(l, name, "after");
	snprintf(name, sizeof(name), "%c2", prefix);
	del(l, name);
	snprintf(name, sizeof(name), "%c-new", prefix);
	put(l, name, "n");
	wait_converged(l, inf);
	kube_informer_stats(inf, st);
	print_stats(st);
	kube_informer_free(inf);
	/* Whether a change arrived by watch or was found by a relist, each was reported exactly once. */
	assert_int_equal(cnt->adds, n + 1);
	assert_int_equal(cnt->updates, 2);
	assert_int_equal(cnt->deletes, 1);
}

static void test_cache_recovers_from_apiserver_restart_and_compaction(void **state)
{
	struct counts cnt = {0};
	struct kube_informer_stats st;

	outage(*state, 'r', 30, true, &st, &cnt);
	assert_true(st.failures >= 1); /* it found the server gone and backed off */
	assert_true(st.watches >= 2);  /* it resumed watching */
	assert_true(st.gone >= 1);     /* the version it resumed from was compacted: 410 */
	assert_true(st.lists >= 2);    /* so it relisted */
}

/* The plain outage: etcd's history intact. Whether the informer resumes from its resourceVersion or the
 * restarted apiserver's watch cache answers 410 and it relists (both can happen, depending on what else moved
 * etcd's revision meanwhile), the cache must end equal to a fresh list, every change reported once. */
static void test_cache_recovers_from_apiserver_restart(void **state)
{
	struct counts cnt = {0};
	struct kube_informer_stats st;

	outage(*state, 'p', 20, false, &st, &cnt);
	assert_true(st.failures >= 1); /* reconnecting while the server was down failed */
	assert_true(st.watches >= 2);  /* and it watched again once it was back */
	/* Every list is the first one, a relist after a 410, or a retry of a list that failed: none is spurious. */
	assert_true(st.lists <= 1 + st.gone + st.failures);
}

/* A field selector is applied by the server to the list and to the watch: the agent's "only my own node's
 * objects". Changes to objects outside it never reach the cache or the callbacks. */
static void test_field_selector_limits_list_and_watch(void **state)
{
	struct live *l = *state;
	const char *sel = "metadata.name=mine";
	struct counts cnt = {0};
	struct kube_informer *inf;

	put(l, "mine", "0");
	put(l, "other", "0");
	inf = start_selected(l, &cnt, sel);
	assert_int_equal(kube_informer_len(inf), 1);
	assert_int_equal(cnt.adds, 1);
	put(l, "other", "1"); /* outside the selector: must not arrive */
	put(l, "mine", "1");
	wait_converged_selected(l, inf, sel);
	put(l, "other", "2");
	del(l, "other");
	del(l, "mine");
	wait_converged_selected(l, inf, sel);
	assert_int_equal(kube_informer_len(inf), 0);
	kube_informer_free(inf);
	assert_int_equal(cnt.adds, 1);
	assert_int_equal(cnt.updates, 1);
	assert_int_equal(cnt.deletes, 1);
}

/* What an informer's on_error heard. */
struct told {
	pthread_mutex_t lock;
	unsigned failures, recoveries;
	unsigned long last_in_a_row;
	struct kerf_err last;
};

static void on_error(const struct kube_resource *r, const struct kerf_err *err, unsigned long in_a_row, void *arg)
{
	struct told *t = arg;

	(void)r;
	pthread_mutex_lock(&t->lock);
	if (err != NULL) {
		t->failures++;
		t->last = *err;
		t->last_in_a_row = in_a_row;
	} else {
		t->recoveries++;
	}
	pthread_mutex_unlock(&t->lock);
}

/*
 * An informer whose server is away keeps failing, every 10 to 20 ms here: its health says so (since when, how
 * many in a row, the last error), and on_error hears the failure once, not once per retry.
 */
static void test_failing_informer_tells_its_error_once_and_reports_its_health(void **state)
{
	struct kube_config cfg = {.server = "https://127.0.0.1:1", .insecure = true};
	struct told t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct kube_informer_spec spec = {.resource = &KUBE_CONFIGMAPS, .project = project, .free_proj = free,
					  .backoff_min_ms = 10, .backoff_max_ms = 20, .on_error = on_error, .arg = &t};
	struct kube_informer_health h;
	struct kube_informer_stats st = {0};
	struct kerf_err err;
	struct kube_client *c = kube_client_new(&cfg, 2000, &err);
	struct kube_informer *inf;
	(void)state;

	assert_non_null(c);
	inf = kube_informer_new(c, &spec, &err);
	assert_non_null(inf);
	kube_informer_health(inf, &h);
	assert_false(h.failing);
	assert_int_equal(kube_informer_start(inf, &err), 0);
	for (int i = 0; i < 3000 && st.failures < 20; i++) {
		live_sleep_ms(10);
		kube_informer_stats(inf, &st);
	}
	assert_true(st.failures >= 20);
	kube_informer_health(inf, &h);
	assert_true(h.failing);
	assert_true(h.failures >= 20);
	assert_true(h.failing_since_ms > 0);
	assert_int_equal(h.last.code, KERF_EIO);
	assert_int_equal(h.last.http_status, 0);
	kube_informer_free(inf);
	kube_client_free(c);
	assert_int_equal(t.failures, 1);
	assert_int_equal(t.last_in_a_row, 1);
	assert_int_equal(t.last.code, KERF_EIO);
	assert_int_equal(t.recoveries, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)
	const struct CMUnitTest tests[] = {
		T(test_cache_syncs_then_follows_adds_updates_deletes),
		T(test_cache_recovers_from_apiserver_restart_and_compaction),
		T(test_cache_recovers_from_apiserver_restart),
		T(test_field_selector_limits_list_and_watch),
		cmocka_unit_test(test_failing_informer_tells_its_error_once_and_reports_its_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
