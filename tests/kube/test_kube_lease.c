/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_lease.c — leader election on a real Lease: two contenders, one wins; a clean hand-over passes
 * the lease at once; a holder that stops without a word is replaced once its lease runs out.
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

#include "live.h"

#define DURATION_S 2 /* the expiry test waits this out */
#define STEP_MS 250
/* The tests that expiry must not decide use a lease far longer than any stall of this shared machine: with
 * DURATION_S, a 2 s pause between a's renewal and b's next look would hand b the lease, and the test would
 * fail for the machine's sake, not kerf's. */
#define LONG_S 120

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct kube_elector *contender(struct live *l, const char *id, int duration_s)
{
	struct kube_elector_config cfg = {l->ns, "kerf-controller", id, duration_s};
	struct kerf_err err;
	struct kube_elector *e = kube_elector_new(l->c, &cfg, &err);
	if (!e)
		fail_msg("%s", err.msg);
	return e;
}

static bool step(struct kube_elector *e)
{
	struct kerf_err err;
	bool leader;
	if (kube_elector_step(e, &leader, &err))
		fail_msg("%s", err.msg);
	return leader;
}

/* The Lease's spec.<field> as a string ("holderIdentity", "renewTime"). */
static const char *lease_field(struct live *l, const char *field)
{
	static char v[64];
	struct kerf_err err;
	json_t *lease = kube_get(l->c, &KUBE_LEASES, l->ns, "kerf-controller", &err);
	if (!lease)
		fail_msg("%s", err.msg);
	snprintf(v, sizeof(v), "%s", json_string_value(json_object_get(json_object_get(lease, "spec"), field)));
	json_decref(lease);
	return v;
}

static const char *holder(struct live *l)
{
	return lease_field(l, "holderIdentity");
}

static void test_one_of_two_contenders_wins_and_keeps_renewing(void **state)
{
	struct live *l = *state;
	struct kube_elector *a = contender(l, "a", LONG_S), *b = contender(l, "b", LONG_S);

	char renewed[64];

	assert_true(step(a));
	snprintf(renewed, sizeof(renewed), "%s", lease_field(l, "renewTime"));
	for (int i = 0; i < 3 * DURATION_S * 1000 / STEP_MS; i++) { /* 6 s: past three short leases */
		/* a renews each round (renewTime moves: what keeps a contender out is seeing it move; that a lease
		 * left alone runs out is the silent-winner test's), and b never gets it, however long b waits. */
		assert_false(step(b));
		assert_true(step(a));
		assert_string_not_equal(lease_field(l, "renewTime"), renewed);
		snprintf(renewed, sizeof(renewed), "%s", lease_field(l, "renewTime"));
		live_sleep_ms(STEP_MS);
	}
	assert_string_equal(holder(l), "a");
	kube_elector_free(a);
	kube_elector_free(b);
}

static void test_clean_release_hands_over_at_once(void **state)
{
	struct live *l = *state;
	struct kube_elector *a = contender(l, "a", LONG_S), *b = contender(l, "b", LONG_S);
	struct kerf_err err;

	assert_true(step(a));
	assert_false(step(b));
	assert_int_equal(kube_elector_release(a, &err), 0);
	assert_true(step(b)); /* no waiting for expiry */
	assert_false(step(a));
	assert_string_equal(holder(l), "b");
	kube_elector_free(a);
	kube_elector_free(b);
}

/*
 * The "the other takes over within the lease duration", checked without a timed assertion:
 * - never early: b cannot take the lease before a full lease duration of wall time has passed since a
 *   renewed it (slowness here only makes that time longer);
 * - never late: b judges expiry from when it first saw a's renewal, which is its first round, and every
 *   round sleeps STEP_MS, so once DURATION_S has passed b must win on its very next round. On a slow
 *   machine rounds only take longer, so fewer of them are needed, never more.
 */
static void test_silent_winner_is_replaced_after_its_lease_runs_out(void **state)
{
	struct live *l = *state;
	struct kube_elector *a = contender(l, "a", DURATION_S), *b = contender(l, "b", DURATION_S);
	const int max_rounds = DURATION_S * 1000 / STEP_MS + 1;
	long long renewed_ms, took_ms;
	int waited = 0;
	bool took = false;

	assert_true(step(a));
	renewed_ms = mono_ms();
	/* a stops here: no renewal, no release. */
	while (waited <= 10 * max_rounds && !(took = step(b))) {
		live_sleep_ms(STEP_MS);
		waited++;
	}
	took_ms = mono_ms();
	printf("b took over after %d rounds of %d ms, %lld ms after a's last renewal (lease %d s)\n", waited,
	       STEP_MS, took_ms - renewed_ms, DURATION_S);
	assert_true(took);
	assert_true(took_ms - renewed_ms >= DURATION_S * 1000); /* b did not steal a live lease */
	assert_true(waited <= max_rounds);                      /* and took it as soon as it expired */
	assert_string_equal(holder(l), "b");
	assert_false(step(a)); /* a, coming back, finds it lost the lease */
	kube_elector_free(a);
	kube_elector_free(b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)
	const struct CMUnitTest tests[] = {
		T(test_one_of_two_contenders_wins_and_keeps_renewing),
		T(test_clean_release_hands_over_at_once),
		T(test_silent_winner_is_replaced_after_its_lease_runs_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
