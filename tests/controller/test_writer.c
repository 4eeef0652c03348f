/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_writer.c — the controller's batch writer (src/controller/writer.h) without a server: the items' write
 * function only records what ran where, so the tests can say exactly which items started, on how many
 * connections at once, and what the gate saw. (test_controller.c runs the writer against kube-apiserver.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "deadline.h"
#include "writer.h"

#define N 64

struct probe {
	atomic_int runs[N];
	struct kube_client *client_of[N];
	atomic_int in_gate, gate_calls, gate_overlaps;
	size_t refuse_at;  /* the gate says no to this item (N: never) */
	size_t fail_at[2]; /* write() fails with KERF_EIO for these (N: none) */
	size_t conflict_at;
	/* The first `together` items wait until that many are under way at once (a 30 s bound, so a writer that
	 * runs them one by one fails the test instead of hanging it). */
	unsigned together;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	unsigned arrived;
	bool met;
};

static void probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	p->refuse_at = p->fail_at[0] = p->fail_at[1] = p->conflict_at = N;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
}

static void probe_destroy(struct probe *p)
{
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
}

static bool gate(void *arg, size_t i)
{
	struct probe *p = arg;
	bool ok;

	if (atomic_fetch_add(&p->in_gate, 1) != 0)
		atomic_fetch_add(&p->gate_overlaps, 1);
	atomic_fetch_add(&p->gate_calls, 1);
	ok = i != p->refuse_at;
	atomic_fetch_sub(&p->in_gate, 1);
	return ok;
}

static int write_one(struct kube_client *c, size_t i, void *arg, struct kerf_err *err)
{
	struct probe *p = arg;

	atomic_fetch_add(&p->runs[i], 1);
	p->client_of[i] = c;
	if (i < p->together) {
		struct timespec until = kerf_deadline(CLOCK_REALTIME, 30000);

		pthread_mutex_lock(&p->mu);
		if (++p->arrived == p->together) {
			p->met = true;
			pthread_cond_broadcast(&p->cond);
		}
		while (!p->met)
			if (pthread_cond_timedwait(&p->cond, &p->mu, &until) != 0)
				break;
		pthread_mutex_unlock(&p->mu);
	}
	if (i == p->conflict_at)
		return kerf_err_set(err, KERF_ECONFLICT, "item %zu: conflict", i);
	if (i == p->fail_at[0] || i == p->fail_at[1])
		return kerf_err_set(err, KERF_EIO, "item %zu: failed", i);
	return 0;
}

/* A writer of k connections to a server that is never asked (write_one does not use its client). */
static struct writer *writer_of(unsigned k, struct kube_client **c)
{
	struct kube_config cfg = {.server = "https://127.0.0.1:1"};
	struct kerf_err err;
	struct writer *w;

	if ((*c = kube_client_new(&cfg, 1000, &err)) == NULL || (w = writer_new(*c, k, &err)) == NULL)
		fail_msg("%s", err.msg);
	return w;
}

/* Every item runs once, four at a time on four connections: the first four can only finish together. */
static void test_every_item_runs_once_k_at_a_time(void **state)
{
	struct probe p;
	enum writer_result res[N];
	struct writer_batch b = {.n = N, .gate = gate, .write = write_one, .arg = &p, .results = res};
	struct kube_client *c;
	struct writer *w = writer_of(4, &c);
	struct kerf_err err;

	(void)state;
	probe_init(&p);
	p.together = 4;
	assert_int_equal(writer_width(w), 4);
	assert_int_equal(writer_run(w, &b, &err), 0);
	assert_true(p.met); /* four under way at once */
	assert_int_equal(b.peak, 4);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(p.runs[i], 1);
		assert_int_equal(res[i], WRITER_DONE);
		assert_ptr_not_equal(p.client_of[i], c); /* the writer's own connections, not the caller's */
	}
	for (size_t i = 0; i < 4; i++)
		for (size_t k = i + 1; k < 4; k++)
			assert_ptr_not_equal(p.client_of[i], p.client_of[k]);
	assert_int_equal(p.gate_calls, N);
	assert_int_equal(p.gate_overlaps, 0);
	writer_free(w);
	kube_client_free(c);
	probe_destroy(&p);
}

/* Once the gate says no (a deposed leader), no item starts: the gate is not asked again. */
static void test_no_item_starts_after_the_gate_says_no(void **state)
{
	struct probe p;
	enum writer_result res[N];
	struct writer_batch b = {.n = N, .gate = gate, .write = write_one, .arg = &p, .results = res};
	struct kube_client *c;
	struct writer *w = writer_of(8, &c);
	struct kerf_err err;

	(void)state;
	probe_init(&p);
	p.refuse_at = 10;
	assert_int_equal(writer_run(w, &b, &err), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(p.runs[i], i < 10);
		assert_int_equal(res[i], i < 10 ? WRITER_DONE : WRITER_NOT_STARTED);
	}
	assert_int_equal(p.gate_calls, 11);
	assert_int_equal(p.gate_overlaps, 0);
	writer_free(w);
	kube_client_free(c);
	probe_destroy(&p);
}

/*
 * A conflict is the item's own (the batch goes on); a failure stops it, and the error returned is the first
 * failed item's in the batch's order, whichever finished first. Four connections: items after the failure
 * may have been under way beside it, so only what came before is exact here; one connection: nothing after it
 * starts.
 */
static void test_a_conflict_goes_on_a_failure_stops_the_batch(void **state)
{
	static const unsigned widths[] = {4, 1};

	for (size_t t = 0; t < 2; t++) {
		unsigned k = widths[t];
		struct probe p;
		enum writer_result res[N];
		struct writer_batch b = {.n = N, .gate = gate, .write = write_one, .arg = &p, .results = res};
		struct kube_client *c;
		struct writer *w = writer_of(k, &c);
		struct kerf_err err;

		(void)state;
		probe_init(&p);
		p.conflict_at = 3;
		p.fail_at[0] = 20;
		p.fail_at[1] = 21;
		assert_int_equal(writer_run(w, &b, &err), -1);
		assert_int_equal(err.code, KERF_EIO);
		assert_string_equal(err.msg, "item 20: failed");
		for (size_t i = 0; i < 20; i++)
			assert_int_equal(res[i], i == 3 ? WRITER_CONFLICT : WRITER_DONE);
		assert_int_equal(res[20], WRITER_FAILED);
		for (size_t i = 21; k == 1 && i < N; i++) {
			assert_int_equal(p.runs[i], 0);
			assert_int_equal(res[i], WRITER_NOT_STARTED);
		}
		writer_free(w);
		kube_client_free(c);
		probe_destroy(&p);
	}
}

/* More connections than the limit are refused; an empty batch runs nothing. */
static void test_width_limits_and_empty_batch(void **state)
{
	struct kube_config cfg = {.server = "https://127.0.0.1:1"};
	struct kube_client *c = kube_client_new(&cfg, 1000, NULL);
	struct writer_batch b = {.n = 0, .write = write_one, .results = NULL};
	struct kerf_err err;
	struct writer *w;

	(void)state;
	assert_null(writer_new(c, WRITER_MAX_WIDTH + 1, &err));
	assert_int_equal(err.code, KERF_EINVAL);
	w = writer_new(c, 0, &err);
	assert_non_null(w);
	assert_int_equal(writer_width(w), 8);
	assert_int_equal(writer_run(w, &b, &err), 0);
	assert_int_equal(b.peak, 0);
	writer_free(w);
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item_runs_once_k_at_a_time),
		cmocka_unit_test(test_no_item_starts_after_the_gate_says_no),
		cmocka_unit_test(test_a_conflict_goes_on_a_failure_stops_the_batch),
		cmocka_unit_test(test_width_limits_and_empty_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
