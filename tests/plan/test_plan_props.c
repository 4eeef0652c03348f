/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_plan_props.c — safety properties of plan_run() over 100,000 random cluster states, small ones
 * (searched exactly) and larger ones (greedy), with random used and free instances on mixed models:
 *   - every output layout passes mig_layout_check();
 *   - every used instance appears unchanged, and nothing else is marked used;
 *   - no pod is placed twice, and every pod is either placed or listed with a reason;
 *   - every binding names a distinct free instance of its node's final layout, of the resource asked for;
 *   - the same input gives byte-identical JSON twice (with and without plan_cache).
 * One state in eight is larger (up to 16 nodes, 64 GPUs, 40 pods), which the planner plans greedily.
 * Checks live in util.c (check_plan). A failure prints the seed; `test_plan_props SEED` re-runs one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static const struct gen_params small = {
	.max_nodes = 4, .max_gpus_per_node = 3, .max_gpus_total = 8, .max_pods = 12,
	.max_demands = 3, .max_count = 3, .max_levels = 4,
};

static const struct gen_params larger = {
	.max_nodes = 16, .max_gpus_per_node = 6, .max_gpus_total = 64, .max_pods = 40,
	.max_demands = 4, .max_count = 4, .max_levels = 8, .max_groups = 3,
};

static struct plan_cache *cache;

static int one_state(uint64_t seed)
{
	static struct gen_case c;
	struct plan_output a, b;
	struct kerf_err err;
	char msg[256], *ja = NULL, *jb = NULL;
	int rc = -1;

	gen_case(&c, seed, seed % 8 == 0 ? &larger : &small);
	memset(&b, 0, sizeof(b));
	if (plan_run_cached(cache, &c.in, &a, &err) != 0) {
		printf("seed %llu: plan_run failed: %s\n", (unsigned long long)seed, err.msg);
		return -1;
	}
	if (check_plan(&c.in, &a, msg, sizeof(msg)) != 0) {
		printf("seed %llu: %s\n", (unsigned long long)seed, msg);
		goto out;
	}
	/* The second run is usually cached too; one in 16 runs without the cache, which must not matter. */
	if ((seed % 16 == 0 ? plan_run(&c.in, &b, &err) : plan_run_cached(cache, &c.in, &b, &err)) != 0) {
		printf("seed %llu: second plan_run failed: %s\n", (unsigned long long)seed, err.msg);
		goto out;
	}
	ja = plan_output_json(&c.in, &a, &err);
	jb = plan_output_json(&c.in, &b, &err);
	if (ja == NULL || jb == NULL || strcmp(ja, jb) != 0) {
		printf("seed %llu: two runs gave different plans\n", (unsigned long long)seed);
		goto out;
	}
	rc = 0;
out:
	free(ja);
	free(jb);
	plan_output_free(&a);
	plan_output_free(&b);
	return rc;
}

static uint64_t only_seed;
static int have_seed;

static void test_plans_are_safe_and_deterministic_on_random_states(void **state)
{
	unsigned cases = case_count(100000, 10000), failed = 0;

	(void)state;
	cache = plan_cache_new();
	assert_non_null(cache);
	if (have_seed) {
		assert_int_equal(one_state(only_seed), 0);
		plan_cache_free(cache);
		return;
	}
	for (unsigned s = 1; s <= cases && failed < 10; s++)
		failed += one_state(s) != 0;
	plan_cache_free(cache);
	printf("property tests: %u random cluster states (seeds 1..%u), %u failures\n", cases, cases, failed);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plans_are_safe_and_deterministic_on_random_states),
	};

	if (argc > 1) {
		only_seed = strtoull(argv[1], NULL, 10);
		have_seed = 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
