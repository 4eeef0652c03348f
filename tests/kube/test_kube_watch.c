/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_watch.c — the watch-stream decoder and the projecting store, without a server.
 *
 * The decoder must give the same events whatever the network's chunking (property test, seed printed);
 * the store must fire exactly the add/update/delete callbacks that describe each change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kube.h"
#include "kube_filter.h"
#include "kube_store.h"

struct seen {
	int n;
	enum kube_event_type type[64];
	char name[64][32];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The property tests' seed: fixed, so that a failure reruns as it was; KERF_SEED tries another. */
static unsigned test_seed(unsigned fixed)
{
	const char *env = getenv("KERF_SEED");

	return env ? (unsigned)strtoul(env, NULL, 10) : fixed;
}

static int record(enum kube_event_type type, json_t *obj, void *arg)
{
	struct seen *s = arg;
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	s->type[s->n] = type;
	snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name ? name : "");
	s->n++;
	return 0;
}

static const char stream[] =
	"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"10\"}}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"11\"},"
	"\"data\":{\"k\":\"v with \\n escaped newline\"}}}\r\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"15\"}}}\n"
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"16\"}}}\n";

static void test_decoder_gives_the_same_events_for_any_chunking(void **state)
{
	unsigned seed = test_seed(45u);
	(void)state;
	printf("seed %u (KERF_SEED)\n", seed);
	srand(seed);
	for (int round = 0; round < 500; round++) {
		struct seen s = {0};
		struct kerf_err err;
		struct kube_decoder *d = kube_decoder_new(record, &s);
		size_t off = 0, len = strlen(stream);
		while (off < len) {
			size_t n = 1 + (size_t)rand() % 40;
			if (n > len - off)
				n = len - off;
			assert_int_equal(kube_decoder_feed(d, stream + off, n, &err), 0);
			off += n;
		}
		if (s.n != 4 || s.type[0] != KUBE_ADDED || s.type[1] != KUBE_MODIFIED || s.type[2] != KUBE_BOOKMARK ||
		    s.type[3] != KUBE_DELETED || strcmp(s.name[1], "a") != 0)
			fail_msg("seed %u round %d: wrong events (%d)", seed, round, s.n);
		assert_string_equal(kube_decoder_last_rv(d), "16");
		assert_int_equal(kube_decoder_events(d), 4);
		kube_decoder_free(d);
	}
}

static void test_bookmark_advances_the_resume_version(void **state)
{
	struct seen s = {0};
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(record, &s);
	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"99\"}}}\n";
	(void)state;
	assert_int_equal(kube_decoder_feed(d, bm, strlen(bm), &err), 0);
	assert_string_equal(kube_decoder_last_rv(d), "99");
	kube_decoder_free(d);
}

static void test_decoder_rejects_lines_that_are_not_events(void **state)
{
	static const char *bad[] = {"not json\n", "{\"type\":\"ADDED\"}\n", "{\"type\":\"SOMETHING\",\"object\":{}}\n"};
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct kerf_err err;
		struct kube_decoder *d = kube_decoder_new(NULL, NULL);
		assert_int_equal(kube_decoder_feed(d, bad[i], strlen(bad[i]), &err), -1);
		assert_non_null(strstr(err.msg, "watch stream"));
		kube_decoder_free(d);
	}
}

static int stop_at_first(enum kube_event_type type, json_t *obj, void *arg)
{
	(void)type, (void)obj;
	(*(int *)arg)++;
	return 1;
}

static void test_callback_can_stop_the_stream(void **state)
{
	int calls = 0;
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(stop_at_first, &calls);
	(void)state;
	assert_int_equal(kube_decoder_feed(d, stream, strlen(stream), &err), 1);
	assert_int_equal(calls, 1);
	kube_decoder_free(d);
}

/* An object with the shapes a byte-level filter can trip on: escaped quotes and brackets inside strings,
 * nested arrays, empty objects, numbers, booleans, null, whitespace between tokens. */
static const char tricky[] =
	"{\"type\":\"MODIFIED\", \"object\" : {\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\\\"}{[\","
	"\"namespace\":\"n\",\"resourceVersion\":\"7\",\"labels\":{\"a\":\"}\"},\"managedFields\":[{\"f\":{\"k:{\\\"x\\\"}\":{}}}]},"
	"\"spec\":{\"nodeName\":\"gpu-1\",\"containers\":[{\"name\":\"c\",\"args\":[\"]\",\"[\",[1,2.5e3,true,null]]}],"
	"\"empty\":{},\"n\":-12},\"status\":{\"phase\":\"Running\",\"conditions\":[]}}}\n";

static int keep_copy(enum kube_event_type type, json_t *obj, void *arg)
{
	(void)type;
	*(json_t **)arg = json_deep_copy(obj);
	return 0;
}

static json_t *decode_tricky(const char *const *fields)
{
	json_t *got = NULL;
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(keep_copy, &got);
	if (fields)
		assert_int_equal(kube_decoder_keep(d, fields), 0);
	if (kube_decoder_feed(d, tricky, strlen(tricky), &err))
		fail_msg("%s", err.msg);
	kube_decoder_free(d);
	assert_non_null(got);
	return got;
}

static void test_field_filter_keeps_exactly_the_listed_members(void **state)
{
	static const char *const fields[] = {"metadata.name", "metadata.labels", "spec.containers", "spec.empty",
					     "status", "nosuch.member", NULL};
	json_t *all = decode_tricky(NULL), *some = decode_tricky(fields), *want;
	(void)state;
	/* Unfiltered: everything but managedFields. */
	assert_null(json_object_get(json_object_get(all, "metadata"), "managedFields"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(all, "metadata"), "name")), "p\"}{[");
	/* Filtered: what the full decode has at those paths, and nothing else. */
	want = json_pack("{s:{s:O, s:O}, s:{s:O, s:O}, s:O}", "metadata", "name",
			 json_object_get(json_object_get(all, "metadata"), "name"), "labels",
			 json_object_get(json_object_get(all, "metadata"), "labels"), "spec", "containers",
			 json_object_get(json_object_get(all, "spec"), "containers"), "empty",
			 json_object_get(json_object_get(all, "spec"), "empty"), "status", json_object_get(all, "status"));
	if (!json_equal(want, some)) {
		char *a = json_dumps(some, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
		fail_msg("filtered %s\nwanted   %s", a, b);
	}
	json_decref(want);
	json_decref(all);
	json_decref(some);
}

/* "list[].member" keeps that member of each object element, and elements of other shapes as they are; a
 * deeper path cuts inside objects at any depth; "[]" on a value that is not an array keeps it whole. */
static void test_field_filter_cuts_inside_array_elements_and_at_any_depth(void **state)
{
	static const char *const fields[] = {"spec.containers[].name", "spec.xs[].a", "spec.obj[].a",
					     "metadata.labels.keep", NULL};
	static const char line[] =
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"labels\":{\"keep\":\"]\\\"[\",\"drop\":\"x\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"c1\",\"image\":\"i\",\"args\":[\"{\",[]]}, {\"image\":\"j\"} ,"
		"{\"name\":\"c3\"}],\"xs\":[1, {\"a\":{\"b\":[2]},\"z\":3},\"s\",null,[{\"a\":1}],{}],"
		"\"obj\":{\"a\":1,\"b\":2},\"other\":[1]}}}\n";
	json_t *got = NULL, *want;
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(keep_copy, &got);

	(void)state;
	assert_int_equal(kube_decoder_keep(d, fields), 0);
	assert_int_equal(kube_decoder_feed(d, line, strlen(line), &err), 0);
	kube_decoder_free(d);
	assert_non_null(got);
	want = json_loads("{\"metadata\":{\"labels\":{\"keep\":\"]\\\"[\"}},"
			  "\"spec\":{\"containers\":[{\"name\":\"c1\"},{},{\"name\":\"c3\"}],"
			  "\"xs\":[1,{\"a\":{\"b\":[2]}},\"s\",null,[{\"a\":1}],{}],\"obj\":{\"a\":1,\"b\":2}}}",
			  0, NULL);
	assert_non_null(want);
	if (!json_equal(want, got)) {
		char *a = json_dumps(got, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
		fail_msg("filtered %s\nwanted   %s", a, b);
	}
	json_decref(want);
	json_decref(got);
}

/* ---- the filter against a reference written over the parsed tree (property test, seed printed) ---- */

static const char *const prop_paths[] = {"a", "b.c", "c[].a", "d[].b.a", "b.d[].c", "b.a.b", NULL};

/* What decide() in filter.c must answer, restated over the tree: path == prefix.key keeps the value whole;
 * a path going on with "prefix.key." cuts inside an object, with "prefix.key[]." inside an array's object
 * elements; a path going on into a value of another shape keeps it whole. */
static json_t *reference(json_t *obj, const char *prefix)
{
	json_t *out = json_object(), *val;
	const char *key;

	json_object_foreach(obj, key, val)
	{
		char whole[128], inside[128], elems[128];
		int w = 0, in = 0, el = 0;

		snprintf(whole, sizeof(whole), "%s%s%s", prefix, *prefix ? "." : "", key);
		snprintf(inside, sizeof(inside), "%s.", whole);
		snprintf(elems, sizeof(elems), "%s[].", whole);
		for (const char *const *p = prop_paths; *p; p++) {
			w |= strcmp(*p, whole) == 0;
			in |= strncmp(*p, inside, strlen(inside)) == 0;
			el |= strncmp(*p, elems, strlen(elems)) == 0;
		}
		if (w || (in && !json_is_object(val) && !(el && json_is_array(val))) ||
		    (el && !json_is_array(val) && !(in && json_is_object(val)))) {
			json_object_set(out, key, val);
		} else if (in && json_is_object(val)) {
			json_object_set_new(out, key, reference(val, whole));
		} else if (el && json_is_array(val)) {
			json_t *arr = json_array(), *e;
			char sub[140];
			size_t i;

			snprintf(sub, sizeof(sub), "%s[]", whole);
			json_array_foreach(val, i, e)
				json_array_append_new(arr, json_is_object(e) ? reference(e, sub) : json_incref(e));
			json_object_set_new(out, key, arr);
		}
	}
	return out;
}

static json_t *random_value(unsigned *seed, int depth)
{
	static const char *const keys[] = {"a", "b", "c", "d"};
	static const char *const strs[] = {"x", "]", "{\"}", "\\", "[,]", ""};
	unsigned r = (unsigned)rand_r(seed) % (depth > 3 ? 4 : 7);

	switch (r) {
	case 0: return json_integer(rand_r(seed) % 1000 - 500);
	case 1: return json_string(strs[(unsigned)rand_r(seed) % 6]);
	case 2: return (unsigned)rand_r(seed) % 2 ? json_true() : json_null();
	case 3: return json_real(2.5e3);
	case 4: case 5: {
		json_t *o = json_object();
		for (unsigned n = (unsigned)rand_r(seed) % 4; n > 0; n--)
			json_object_set_new(o, keys[(unsigned)rand_r(seed) % 4], random_value(seed, depth + 1));
		return o;
	}
	default: {
		json_t *a = json_array();
		for (unsigned n = (unsigned)rand_r(seed) % 4; n > 0; n--)
			json_array_append_new(a, random_value(seed, depth + 1));
		return a;
	}
	}
}

static void test_field_filter_matches_a_reference_on_random_objects(void **state)
{
	unsigned seed0 = test_seed(271u), rounds = 3000;

	(void)state;
	printf("seed %u (KERF_SEED), %u random objects\n", seed0, rounds);
	for (unsigned round = 0; round < rounds; round++) {
		unsigned seed = seed0 + round;
		json_t *obj = json_object(), *ev, *got = NULL, *want;
		struct kube_decoder *d = kube_decoder_new(keep_copy, &got);
		struct kerf_err err;
		char *text, *line;

		for (unsigned n = 1 + (unsigned)rand_r(&seed) % 4; n > 0; n--)
			json_object_set_new(obj, (const char *[]){"a", "b", "c", "d"}[(unsigned)rand_r(&seed) % 4],
					    random_value(&seed, 1));
		ev = json_pack("{s:s,s:O}", "type", "MODIFIED", "object", obj);
		text = json_dumps(ev, round % 2 ? JSON_COMPACT : 0); /* with and without spaces between tokens */
		assert_non_null(text);
		line = malloc(strlen(text) + 2);
		sprintf(line, "%s\n", text);
		assert_int_equal(kube_decoder_keep(d, prop_paths), 0);
		if (kube_decoder_feed(d, line, strlen(line), &err) != 0)
			fail_msg("seed %u: %s", seed0 + round, err.msg);
		want = reference(obj, "");
		if (got == NULL || !json_equal(got, want)) {
			char *g = got ? json_dumps(got, JSON_SORT_KEYS) : NULL, *w = json_dumps(want, JSON_SORT_KEYS);
			fail_msg("seed %u (round %u): %s\nfiltered  %s\nreference %s", seed0 + round, round, text,
				 g ? g : "(none)", w);
		}
		json_decref(want);
		json_decref(got);
		kube_decoder_free(d);
		free(line);
		free(text);
		json_decref(ev);
		json_decref(obj);
	}
}

/* The filter writes only within the buffer it is given: at every size short of what the filtered line needs
 * it gives up (0) instead of writing on, and at the size it needs it gives the whole result. Each buffer is
 * malloc'd to exactly its size, so a write past it is an error under ASan and valgrind. */
static void test_field_filter_never_writes_past_its_buffer(void **state)
{
	static const char *const paths[] = {"metadata.name", "spec.containers[].resources", NULL};
	static const char line[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"uid\":\"u\"},"
				   "\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"x\":1}}}]}}}";
	struct kube_fields *f = kube_fields_new(paths);
	size_t len = strlen(line), want;
	char *full = malloc(len);

	(void)state;
	assert_non_null(f);
	want = kube_fields_filter(f, line, len, full, len);
	assert_true(want > 0 && want < len);
	for (size_t cap = 0; cap <= want; cap++) {
		char *out = malloc(cap ? cap : 1);
		size_t got = kube_fields_filter(f, line, len, out, cap);

		if (cap < want) {
			assert_int_equal(got, 0);
		} else {
			assert_int_equal(got, want);
			assert_memory_equal(out, full, want);
		}
		free(out);
	}
	free(full);
	kube_fields_free(f);
}

static void test_field_filter_leaves_error_events_whole(void **state)
{
	static const char *const fields[] = {"metadata.name", NULL};
	static const char line[] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}\n";
	json_t *got = NULL;
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(keep_copy, &got);
	(void)state;
	assert_int_equal(kube_decoder_keep(d, fields), 0);
	assert_int_equal(kube_decoder_feed(d, line, strlen(line), &err), 0);
	assert_int_equal(json_integer_value(json_object_get(got, "code")), 410);
	kube_decoder_free(d);
	json_decref(got);
}

static void test_field_filter_keeps_a_listed_member_whatever_its_type(void **state)
{
	static const char *const fields[] = {"spec", NULL};
	static const char line[] = "{\"type\":\"ADDED\",\"object\":{\"spec\":[1,2],\"x\":1}}\n";
	json_t *got = NULL;
	struct kerf_err err;
	struct kube_decoder *d = kube_decoder_new(keep_copy, &got);
	(void)state;
	assert_int_equal(kube_decoder_keep(d, fields), 0);
	assert_int_equal(kube_decoder_feed(d, line, strlen(line), &err), 0);
	assert_int_equal(json_array_size(json_object_get(got, "spec")), 2);
	kube_decoder_free(d);
	json_decref(got);
}

/* ---------------------------------------------------------------- store */

struct proj {
	char phase[16];
};

struct log {
	int adds, updates, deletes;
	char last[64];
	int changes; /* on_change */
};

static void *project(json_t *obj, void *arg)
{
	const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	struct proj *p;
	(void)arg;
	if (!phase) /* objects without a phase do not interest this caller */
		return NULL;
	p = calloc(1, sizeof(*p));
	snprintf(p->phase, sizeof(p->phase), "%s", phase);
	return p;
}

static void on_add(const char *key, const void *p, void *arg)
{
	struct log *l = arg;
	(void)p;
	l->adds++;
	snprintf(l->last, sizeof(l->last), "add %s", key);
}

static void on_update(const char *key, const void *o, const void *n, void *arg)
{
	struct log *l = arg;
	l->updates++;
	snprintf(l->last, sizeof(l->last), "update %s %s->%s", key, ((const struct proj *)o)->phase,
		 ((const struct proj *)n)->phase);
}

static void on_delete(const char *key, const void *p, void *arg)
{
	struct log *l = arg;
	(void)p;
	l->deletes++;
	snprintf(l->last, sizeof(l->last), "delete %s", key);
}

static void on_change(void *arg)
{
	((struct log *)arg)->changes++;
}

static json_t *pod(const char *ns, const char *name, const char *rv, const char *phase)
{
	json_t *o = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", ns, "name", name, "resourceVersion", rv);
	if (phase)
		json_object_set_new(o, "status", json_pack("{s:s}", "phase", phase));
	return o;
}

static void apply(struct kube_store *s, enum kube_event_type t, json_t *o)
{
	struct kerf_err err;
	assert_int_equal(kube_store_apply(s, t, o, &err), 0);
	json_decref(o);
}

static void test_store_fires_one_callback_per_change_and_keys_by_namespace(void **state)
{
	struct log l = {0};
	struct kube_informer_spec spec = {.project = project, .free_proj = free, .on_add = on_add,
					  .on_update = on_update, .on_delete = on_delete, .on_change = on_change,
					  .arg = &l};
	struct kube_store *s = kube_store_new(&spec);
	(void)state;
	apply(s, KUBE_ADDED, pod("a", "p", "1", "Pending"));
	apply(s, KUBE_ADDED, pod("b", "p", "2", "Pending")); /* same name, other namespace: another object */
	assert_int_equal(kube_store_len(s), 2);
	assert_string_equal(l.last, "add b/p");
	apply(s, KUBE_MODIFIED, pod("a", "p", "3", "Running"));
	assert_string_equal(l.last, "update a/p Pending->Running");
	apply(s, KUBE_MODIFIED, pod("b", "p", "4", NULL)); /* no longer of interest: leaves the store */
	assert_string_equal(l.last, "delete b/p");
	apply(s, KUBE_DELETED, pod("a", "p", "5", "Running"));
	apply(s, KUBE_DELETED, pod("a", "gone", "6", "Running")); /* unknown: nothing happens */
	apply(s, KUBE_BOOKMARK, pod("", "", "7", NULL));
	assert_int_equal(l.adds, 2);
	assert_int_equal(l.updates, 1);
	assert_int_equal(l.deletes, 2);
	assert_int_equal(l.changes, 5); /* once after each of them; a bookmark or an unknown delete is none */
	assert_int_equal(kube_store_len(s), 0);
	kube_store_free(s);
}

/* ---------------------------------------------------------------- informer without a server */

static void *project_nothing(json_t *obj, void *arg)
{
	(void)obj, (void)arg;
	return malloc(1);
}

/*
 * With the server unreachable the informer backs off instead of spinning: from 100 ms, doubling to 400 ms,
 * each wait at least half its step (equal jitter), so in 2 s it can try at most 12 times (50 + 100 + 200 x 9
 * ms of waits). A slow machine only makes fewer tries, so the bound cannot fail by timing.
 */
static void test_informer_backs_off_while_the_server_is_unreachable(void **state)
{
	struct kube_config cfg = {.server = "https://127.0.0.1:9", .token = "t", .insecure = true};
	struct kube_informer_spec spec = {.resource = &KUBE_CONFIGMAPS, .ns = "n", .project = project_nothing,
					  .free_proj = free, .backoff_min_ms = 100, .backoff_max_ms = 400};
	struct kube_informer_stats st;
	struct kube_informer *inf;
	struct kube_client *c;
	struct kerf_err err;

	(void)state;
	c = kube_client_new(&cfg, 1000, &err);
	assert_non_null(c);
	inf = kube_informer_new(c, &spec, &err);
	assert_non_null(inf);
	/* No timed bound that a stalled machine could break: wait for a few failures (however long they take),
	 * then bound the attempts by the time that really passed. A spinning retry makes thousands in that
	 * time; one that waits at least half of backoff_min_ms (the jitter) makes at most one per 50 ms. */
	long long t0 = now_ms(), elapsed;

	assert_int_equal(kube_informer_start(inf, &err), 0);
	do {
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
		kube_informer_stats(inf, &st);
	} while (st.failures < 4 && now_ms() - t0 < 60000);
	elapsed = now_ms() - t0;
	assert_false(kube_informer_synced(inf));
	kube_informer_free(inf);
	kube_client_free(c);
	printf("unreachable server, %lld ms: %llu list attempts, %llu failures\n", elapsed,
	       (unsigned long long)st.lists, (unsigned long long)st.failures);
	assert_true(st.failures >= 4);
	assert_true(st.failures <= 2 + (unsigned long long)elapsed / 50); /* jitter: half the backoff at least */
	assert_int_equal(st.lists, st.failures); /* every attempt was a list, and each failed */
}

static void test_store_grows_and_keeps_every_key(void **state)
{
	struct log l = {0};
	struct kube_informer_spec spec = {.project = project, .free_proj = free, .on_add = on_add, .arg = &l};
	struct kube_store *s = kube_store_new(&spec);
	char name[32];
	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		apply(s, KUBE_ADDED, pod("ns", name, "1", "Pending"));
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "p%d", i);
		apply(s, KUBE_DELETED, pod("ns", name, "2", "Pending"));
	}
	assert_int_equal(kube_store_len(s), 2500);
	assert_int_equal(l.adds, 5000);
	kube_store_free(s);
}

/* kube_store_foreach: counts the records, and those whose name's number is a multiple of 3. */
static int count_thirds(const char *key, const char *rv, const void *proj, void *arg)
{
	unsigned *n = arg;
	(void)rv, (void)proj;
	n[0]++;
	n[1] += atoi(key + strlen("ns/p")) % 3 == 0;
	return 0;
}

static void phase_of(const char *rv, const void *proj, void *arg)
{
	(void)rv;
	snprintf(arg, 16, "%s", ((const struct proj *)proj)->phase);
}

/* on_change alone, for a caller that only needs to know that something changed: once a change, relists
 * included (here 2 adds, then a relist that updates one, deletes one and keeps one unchanged). */
static void test_store_on_change_alone_fires_once_per_change(void **state)
{
	struct log l = {0};
	struct kube_informer_spec spec = {.project = project, .free_proj = free, .on_change = on_change, .arg = &l};
	struct kube_store *s = kube_store_new(&spec);
	struct kerf_err err;
	json_t *o;
	(void)state;
	apply(s, KUBE_ADDED, pod("ns", "a", "1", "Pending"));
	apply(s, KUBE_ADDED, pod("ns", "b", "1", "Pending"));
	apply(s, KUBE_ADDED, pod("ns", "c", "1", "Pending"));
	assert_int_equal(l.changes, 3);
	kube_store_relist_begin(s);
	o = pod("ns", "a", "2", "Running");
	assert_int_equal(kube_store_relist_item(s, o, &err), 0);
	json_decref(o);
	o = pod("ns", "c", "1", "Pending");
	assert_int_equal(kube_store_relist_item(s, o, &err), 0);
	json_decref(o);
	kube_store_relist_end(s);
	assert_int_equal(l.changes, 5);
	assert_int_equal(l.adds + l.updates + l.deletes, 0);
	kube_store_free(s);
}

/* A relist keeps what it lists (firing nothing for an unchanged version, an update for a new one) and
 * deletes, once each, exactly what it left out: the sweep removes records while it walks the table. */
static void test_store_relist_deletes_exactly_what_the_list_left_out(void **state)
{
	struct log l = {0};
	struct kube_informer_spec spec = {.project = project, .free_proj = free, .on_add = on_add,
					  .on_update = on_update, .on_delete = on_delete, .arg = &l};
	struct kube_store *s = kube_store_new(&spec);
	struct kerf_err err;
	unsigned seen[2] = {0, 0};
	char name[32], key[40], phase[16];
	(void)state;
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		apply(s, KUBE_ADDED, pod("ns", name, "1", "Pending"));
	}
	kube_store_relist_begin(s);
	for (int i = 0; i < 3000; i++) {
		json_t *o;

		if (i % 3 == 0)
			continue; /* deleted while the watch was down */
		snprintf(name, sizeof(name), "p%d", i);
		o = i % 3 == 1 ? pod("ns", name, "1", "Pending") : pod("ns", name, "2", "Running");
		assert_int_equal(kube_store_relist_item(s, o, &err), 0);
		json_decref(o);
	}
	kube_store_relist_end(s);
	assert_int_equal(l.adds, 3000);
	assert_int_equal(l.updates, 1000);
	assert_int_equal(l.deletes, 1000);
	assert_int_equal(kube_store_len(s), 2000);
	kube_store_foreach(s, count_thirds, seen);
	assert_int_equal(seen[0], 2000);
	assert_int_equal(seen[1], 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "ns/p%d", i);
		phase[0] = '\0';
		assert_int_equal(kube_store_with(s, key, phase_of, phase), i % 3 != 0);
		assert_string_equal(phase, i % 3 == 0 ? "" : i % 3 == 1 ? "Pending" : "Running");
	}
	kube_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoder_gives_the_same_events_for_any_chunking),
		cmocka_unit_test(test_bookmark_advances_the_resume_version),
		cmocka_unit_test(test_decoder_rejects_lines_that_are_not_events),
		cmocka_unit_test(test_callback_can_stop_the_stream),
		cmocka_unit_test(test_field_filter_keeps_exactly_the_listed_members),
		cmocka_unit_test(test_field_filter_keeps_a_listed_member_whatever_its_type),
		cmocka_unit_test(test_field_filter_cuts_inside_array_elements_and_at_any_depth),
		cmocka_unit_test(test_field_filter_matches_a_reference_on_random_objects),
		cmocka_unit_test(test_field_filter_leaves_error_events_whole),
		cmocka_unit_test(test_field_filter_never_writes_past_its_buffer),
		cmocka_unit_test(test_store_fires_one_callback_per_change_and_keys_by_namespace),
		cmocka_unit_test(test_store_grows_and_keeps_every_key),
		cmocka_unit_test(test_store_relist_deletes_exactly_what_the_list_left_out),
		cmocka_unit_test(test_store_on_change_alone_fires_once_per_change),
		cmocka_unit_test(test_informer_backs_off_while_the_server_is_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
