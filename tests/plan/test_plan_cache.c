/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_plan_cache.c — plan_cache across calls (plan.h): GPUs of models with one geometry share their
 * per-shape work, a cache plans exactly as no cache even when its bound makes it drop shapes between calls,
 * and the bound holds.
 *
 *   test_plan_cache [CASES]   (random clusters for the bound; default 400, the valgrind run passes fewer)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static const struct mig_model *model(const char *name)
{
	struct kerf_err err;
	const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), name, &err);

	assert_non_null(m);
	return m;
}

static char *plan_json(struct plan_cache *cache, const struct plan_input *in)
{
	struct plan_output out;
	struct kerf_err err;
	char *text;

	if ((cache != NULL ? plan_run_cached(cache, in, &out, &err) : plan_run(in, &out, &err)) != 0)
		fail_msg("plan: %s", err.msg);
	text = plan_output_json(in, &out, &err);
	assert_non_null(text);
	plan_output_free(&out);
	return text;
}

/* An H100 and an A100 80GB, each with 1g.10gb@6 in use, and two pods that need a re-cut 4g.40gb on each:
 * both GPUs' reachable layouts are needed, and they are one shape. */
static void test_models_of_one_geometry_share_a_shape(void **state)
{
	struct plan_node nodes[2] = {{.name = "h100", .n_gpus = 1}, {.name = "a100", .n_gpus = 1}};
	struct plan_gpu gpus[2] = {{.index = 0, .model = model("H100-80GB-SXM")}, {.index = 0, .model = model("A100-80GB")}};
	struct plan_pod pods[2] = {{.name = "a/one", .n_demands = 1}, {.name = "a/two", .n_demands = 1}};
	struct plan_input in = {.n_nodes = 2, .nodes = nodes, .n_pods = 2, .pods = pods};
	struct plan_cache *cache = plan_cache_new();
	struct plan_output out;
	struct kerf_err err;
	size_t shapes, bytes;

	(void)state;
	assert_non_null(cache);
	for (unsigned i = 0; i < 2; i++) {
		nodes[i].gpus = &gpus[i];
		assert_int_equal(mig_layout_parse(gpus[i].model, "1g.10gb@6", &gpus[i].layout, &err), 0);
		gpus[i].layout.inst[0].used = true;
		snprintf(pods[i].demands[0].resource, sizeof(pods[i].demands[0].resource), "nvidia.com/mig-4g.40gb");
		pods[i].demands[0].count = 1;
	}
	assert_int_equal(plan_run_cached(cache, &in, &out, &err), 0);
	assert_int_equal(out.n_assignments, 2);
	assert_int_equal(out.gpus_touched, 2);
	plan_output_free(&out);
	plan_cache_usage(cache, &shapes, &bytes);
	assert_int_equal(shapes, 1);
	plan_cache_free(cache);
}

static const struct gen_params params = {
	.max_nodes = 12, .max_gpus_per_node = 6, .max_gpus_total = 48, .max_pods = 30,
	.max_demands = 3, .max_count = 3, .max_levels = 4, .max_groups = 2,
};

static unsigned n_cases;

static unsigned total_gpus(const struct plan_input *in)
{
	unsigned n = 0;

	for (unsigned i = 0; i < in->n_nodes; i++)
		n += in->nodes[i].n_gpus;
	return n;
}

/* With a limit of 0 every shape the last call did not use is dropped after it: the cache then holds at most
 * one shape per GPU of the last input, and still plans each input exactly as plan_run(). Without the limit,
 * shapes pile up. */
static void test_a_bounded_cache_plans_as_plan_run(void **state)
{
	static struct gen_case c;
	struct plan_cache *bounded = plan_cache_new(), *unbounded = plan_cache_new();
	unsigned cases = n_cases ? n_cases : case_count(400, 100), piled = 0;

	(void)state;
	assert_non_null(bounded);
	assert_non_null(unbounded);
	plan_cache_set_limit(bounded, 0);
	for (unsigned seed = 1; seed <= cases; seed++) {
		char *want, *got, *got_unbounded;
		size_t shapes, bytes;

		gen_case(&c, seed, &params);
		want = plan_json(NULL, &c.in);
		got = plan_json(bounded, &c.in);
		got_unbounded = plan_json(unbounded, &c.in);
		if (strcmp(want, got) != 0 || strcmp(want, got_unbounded) != 0)
			fail_msg("seed %u: a cached plan differs from plan_run's", seed);
		plan_cache_usage(bounded, &shapes, &bytes);
		if (shapes > total_gpus(&c.in))
			fail_msg("seed %u: the bounded cache holds %zu shapes after a call on %u GPUs", seed, shapes,
				 total_gpus(&c.in));
		plan_cache_usage(unbounded, &shapes, &bytes);
		piled += shapes > total_gpus(&c.in);
		free(want);
		free(got);
		free(got_unbounded);
	}
	assert_true(piled > 0);
	plan_cache_free(bounded);
	plan_cache_free(unbounded);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models_of_one_geometry_share_a_shape),
		cmocka_unit_test(test_a_bounded_cache_plans_as_plan_run),
	};

	if (argc > 1)
		n_cases = (unsigned)strtoul(argv[1], NULL, 10);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
