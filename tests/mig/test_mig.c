/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_mig.c — the MIG model catalog and the layout rules, as a specification.
 *
 * Table-driven: each case is a layout in the text form and the rule it must (or must not) break.
 * The facts checked against are those of docs/hardware.md (MIG User Guide and nvidia-smi transcripts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mig.h"

static const struct mig_model *model(const char *name)
{
	struct kerf_err err;
	const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), name, &err);

	if (m == NULL)
		fail_msg("%s", err.msg);
	return m;
}

static void test_every_model_in_the_fact_sheet_is_built_in(void **state)
{
	static const char *const names[] = {
		"NVIDIA A30", "NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB", "NVIDIA A100-SXM4-80GB",
		"NVIDIA A100 80GB PCIe", "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 NVL",
		"NVIDIA H100 96GB HBM3", "NVIDIA GH200 480GB", "NVIDIA GH200 144G HBM3e", "NVIDIA H200", "NVIDIA H200 NVL",
		"NVIDIA B200", "NVIDIA GB200", "NVIDIA RTX PRO 6000 Blackwell Server Edition",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_non_null(model(names[i]));
	assert_int_equal(mig_catalog_builtin()->n_models, 13);
}

static void test_model_lookup_ignores_case_and_blanks_and_accepts_short_names(void **state)
{
	(void)state;
	assert_ptr_equal(model("  nvidia h100 80gb hbm3 "), model("H100-80GB-SXM"));
	assert_ptr_equal(model("NVIDIA GH200 480GB"), model("H100-96GB"));
}

static void test_unknown_model_error_names_it_and_lists_known(void **state)
{
	struct kerf_err err;

	(void)state;
	assert_null(mig_catalog_find(mig_catalog_builtin(), "NVIDIA GeForce RTX 4090", &err));
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "unknown GPU model \"NVIDIA GeForce RTX 4090\""));
	assert_non_null(strstr(err.msg, "H100-80GB-SXM"));
}

static void test_h100_profiles_match_nvidia_smi(void **state)
{
	/* nvidia-smi mig -lgipp on "NVIDIA H100 80GB HBM3": {id, size, starts}. */
	static const struct { const char *name; unsigned id, compute, size, max; const char *starts; } want[] = {
		{ "1g.10gb", 19, 1, 1, 7, "0123456" }, { "1g.10gb+me", 20, 1, 1, 1, "0123456" },
		{ "1g.20gb", 15, 1, 2, 4, "0246" },    { "2g.20gb", 14, 2, 2, 3, "024" },
		{ "3g.40gb", 9, 3, 4, 2, "04" },       { "4g.40gb", 5, 4, 4, 1, "0" },
		{ "7g.80gb", 0, 7, 8, 1, "0" },
	};
	const struct mig_model *m = model("NVIDIA H100 80GB HBM3");

	(void)state;
	assert_int_equal(m->slots, 8);
	assert_int_equal(m->compute_slices, 7);
	assert_int_equal(m->n_profiles, 7);
	for (size_t i = 0; i < 7; i++) {
		int p = mig_profile_by_name(m, want[i].name);
		const struct mig_profile *pr;

		assert_true(p >= 0);
		pr = &m->profiles[p];
		assert_int_equal(pr->nvml_id, want[i].id);
		assert_int_equal(pr->compute_slices, want[i].compute);
		assert_int_equal(pr->memory_slices, want[i].size);
		assert_int_equal(pr->max_instances, want[i].max);
		assert_int_equal(pr->n_starts, strlen(want[i].starts));
		for (unsigned s = 0; s < pr->n_starts; s++)
			assert_int_equal(pr->starts[s], want[i].starts[s] - '0');
	}
}

static void test_a30_and_rtx_pro_6000_geometry(void **state)
{
	const struct mig_model *a30 = model("NVIDIA A30");
	const struct mig_model *rtx = model("NVIDIA RTX PRO 6000 Blackwell Server Edition");
	int p;

	(void)state;
	assert_int_equal(a30->slots, 4);
	assert_int_equal(a30->compute_slices, 4);
	assert_int_equal(a30->profiles[mig_profile_by_name(a30, "1g.6gb")].nvml_id, 14); /* 14 is 2g on A100 */
	assert_int_equal(rtx->slots, 12);
	p = mig_profile_by_name(rtx, "2g.48gb");
	assert_int_equal(rtx->profiles[p].memory_slices, 6);
	assert_int_equal(rtx->profiles[p].starts[1], 6);
}

static void test_resource_names_follow_the_mixed_strategy(void **state)
{
	const struct mig_model *m = model("NVIDIA H100 80GB HBM3");
	const struct mig_model *rtx = model("RTX-PRO-6000-Blackwell");
	char buf[8];

	(void)state;
	assert_string_equal(m->profiles[mig_profile_by_name(m, "1g.10gb+me")].resource, "nvidia.com/mig-1g.10gb.me");
	assert_int_equal(mig_profile_by_resource(m, "nvidia.com/mig-3g.40gb"), mig_profile_by_name(m, "3g.40gb"));
	assert_string_equal(rtx->profiles[mig_profile_by_name(rtx, "1g.24gb+me.all")].resource,
			    "nvidia.com/mig-1g.24gb.me.all");
	assert_true(mig_is_resource("nvidia.com/mig-2g.20gb"));
	assert_false(mig_is_resource("nvidia.com/gpu"));
	assert_false(mig_is_resource("nvidia.com/mig-"));
	assert_int_equal(mig_resource_name("1g.10gb", buf, sizeof(buf)), -1);
	/* NVIDIA's mixed-strategy names, the one rule kerf uses everywhere (agent, controller, simulator) */
	char name[64];
	assert_int_equal(mig_resource_name("3g.40gb", name, sizeof(name)), 0);
	assert_string_equal(name, "nvidia.com/mig-3g.40gb");
	assert_int_equal(mig_resource_name("1g.10gb+me", name, sizeof(name)), 0);
	assert_string_equal(name, "nvidia.com/mig-1g.10gb.me");
}

/* One row: a model, a layout, and the fragment its explanation must contain (NULL = valid). */
struct rule_case {
	const char *model;
	const char *layout;
	const char *why;
};

static const struct rule_case rule_cases[] = {
	{ "H100-80GB-SXM", "-", NULL },
	{ "H100-80GB-SXM", "4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6", NULL },
	{ "H100-80GB-SXM", "3g.40gb@0,3g.40gb@4", NULL },
	{ "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6", NULL },
	{ "H100-80GB-SXM", "1g.20gb@0,1g.20gb@2,1g.20gb@4,1g.20gb@6", NULL },
	{ "H100-80GB-SXM", "2g.20gb@0,2g.20gb@2,2g.20gb@4,1g.20gb@6", NULL },
	{ "H100-80GB-SXM", "7g.80gb@0", NULL },
	{ "H100-80GB-SXM", "2g.20gb@6", "instances[0].start: 6 is not a legal start for 2g.20gb (legal: 0, 2, 4)" },
	{ "H100-80GB-SXM", "1g.10gb@7", "not a legal start" },
	{ "H100-80GB-SXM", "3g.40gb@4,1g.10gb@5", "instances[0] (3g.40gb@4) and instances[1] (1g.10gb@5) overlap on memory slice 5" },
	{ "H100-80GB-SXM", "4g.40gb@0,3g.40gb@4", NULL },
	{ "H100-80GB-SXM", "1g.10gb+me@0,1g.10gb+me@1", "2 instances of 1g.10gb+me" },
	{ "H100-80GB-SXM", "2g.20gb@0,2g.20gb@2,3g.40gb@4", NULL },
	{ "A30-24GB", "1g.6gb+me@0,2g.12gb+me@2", "one set of media engines" },
	{ "A30-24GB", "2g.12gb@0,2g.12gb@2", NULL },
	{ "A30-24GB", "4g.24gb@0,1g.6gb@0", "overlap" },
	{ "RTX-PRO-6000-Blackwell", "1g.24gb+me.all@0,1g.24gb-me@3,2g.48gb-me@6", NULL },
	{ "RTX-PRO-6000-Blackwell", "1g.24gb+me.all@0,1g.24gb@3", "only \"-me\" instances" },
	{ "RTX-PRO-6000-Blackwell", "2g.48gb@0,1g.24gb@6,1g.24gb@9", NULL },
	{ "RTX-PRO-6000-Blackwell", "2g.48gb@3", "legal: 0, 6" },
};

static void test_layout_rules_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *c = &rule_cases[i];
		const struct mig_model *m = model(c->model);
		struct mig_layout l;
		struct kerf_err err = { 0 };
		int rc;

		if (mig_layout_parse(m, c->layout, &l, &err) != 0)
			fail_msg("case %zu: parse %s: %s", i, c->layout, err.msg);
		rc = mig_layout_check(m, &l, &err);
		if (c->why == NULL && rc != 0)
			fail_msg("case %zu: %s on %s should be valid, got: %s", i, c->layout, c->model, err.msg);
		if (c->why != NULL && (rc == 0 || strstr(err.msg, c->why) == NULL))
			fail_msg("case %zu: %s on %s: want \"%s\", got rc=%d \"%s\"", i, c->layout, c->model, c->why, rc,
				 rc ? err.msg : "");
	}
}

static void test_layout_text_round_trips_and_errors_name_the_item(void **state)
{
	const struct mig_model *m = model("H100-80GB-SXM");
	struct mig_layout l;
	struct kerf_err err;
	char out[128];

	(void)state;
	assert_int_equal(mig_layout_parse(m, " 2g.20gb@0 , 1g.10gb@2,MIG 3g.40gb@4", &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_true(mig_layout_format(m, &l, out, sizeof(out)) > 0);
	assert_string_equal(out, "2g.20gb@0,1g.10gb@2,3g.40gb@4");
	assert_int_equal(mig_layout_parse(m, "2g.20gb@0,5g.50gb@2", &l, &err), -1);
	assert_string_equal(err.msg, "item 1: \"5g.50gb\" is not a profile of H100-80GB-SXM");
	assert_int_equal(mig_layout_parse(m, "2g.20gb", &l, &err), -1);
	assert_non_null(strstr(err.msg, "no \"@start\""));
	assert_int_equal(mig_layout_parse(m, "2g.20gb@x", &l, &err), -1);
	assert_int_equal(mig_layout_parse(m, "2g.20gb@0,,", &l, &err), -1);
	assert_int_equal(mig_layout_format(m, &l, out, 4), -1);
}

static void test_layout_same_ignores_order_and_use(void **state)
{
	const struct mig_model *m = model("H100-80GB-SXM");
	struct mig_layout a, b;

	(void)state;
	assert_int_equal(mig_layout_parse(m, "2g.20gb@0,3g.40gb@4", &a, NULL), 0);
	assert_int_equal(mig_layout_parse(m, "3g.40gb@4,2g.20gb@0", &b, NULL), 0);
	b.inst[0].used = true;
	assert_true(mig_layout_same(&a, &b));
	b.inst[1].start = 2;
	assert_false(mig_layout_same(&a, &b));
	assert_int_equal(mig_layout_occupied(m, &a), 0xF3);
	assert_int_equal(mig_layout_compute(m, &a), 5);
}

static void test_catalog_built_at_run_time_is_validated(void **state)
{
	struct kerf_err err;
	struct mig_catalog *cat = mig_catalog_new(&err);
	struct mig_model m = *model("H100-80GB-SXM");

	(void)state;
	assert_non_null(cat);
	assert_int_equal(mig_catalog_add(cat, &m, &err), 0);
	assert_int_equal(mig_catalog_add(cat, &m, &err), -1);
	assert_non_null(strstr(err.msg, "already"));

	snprintf(m.name, sizeof(m.name), "broken");
	m.n_aliases = 0;
	m.profiles[4].starts[1] = 5; /* 3g (size 4) at 5 would run past slot 8 */
	assert_int_equal(mig_catalog_add(cat, &m, &err), -1);
	assert_string_equal(err.msg, "model broken: profiles[4].starts[1]: 5 + size 4 exceeds 8 slots (3g.40gb)");

	m = *model("H100-80GB-SXM");
	snprintf(m.name, sizeof(m.name), "dup-id");
	m.n_aliases = 0;
	m.profiles[1].nvml_id = 19;
	assert_int_equal(mig_catalog_add(cat, &m, &err), -1);
	assert_non_null(strstr(err.msg, "profiles[1].nvml_id: 19 is also profiles[0]"));
	mig_catalog_free(cat);
}

/* On real models the placements already imply the compute budget; a synthetic model shows the rule. */
static void test_compute_budget_is_enforced_on_its_own(void **state)
{
	struct mig_model m = *model("H100-80GB-SXM");
	struct mig_layout l;
	struct kerf_err err;

	(void)state;
	m.compute_slices = 6;
	m.profiles[mig_profile_by_name(&m, "7g.80gb")].compute_slices = 6;
	assert_int_equal(mig_model_validate(&m, &err), 0);
	assert_int_equal(mig_layout_parse(&m, "2g.20gb@0,2g.20gb@2,3g.40gb@4", &l, &err), 0);
	assert_int_equal(mig_layout_check(&m, &l, &err), -1);
	assert_string_equal(err.msg, "the instances need 7 compute slices, but H100-80GB-SXM has 6");
}

static void test_err_path_joins_field_paths(void **state)
{
	struct kerf_err err;

	(void)state;
	kerf_err_set(&err, KERF_EINVAL, "instances[1].start: bad");
	kerf_err_path(&err, "nodes[%d].gpus[%d]", 2, 0);
	assert_string_equal(err.msg, "nodes[2].gpus[0].instances[1].start: bad");
	kerf_err_set(&err, KERF_EINVAL, "[3]: bad");
	kerf_err_path(&err, "pending");
	assert_string_equal(err.msg, "pending[3]: bad");
	kerf_err_prefix(&err, "reading %s", "x.json");
	assert_string_equal(err.msg, "reading x.json: pending[3]: bad");
	assert_int_equal(err.code, KERF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_model_in_the_fact_sheet_is_built_in),
		cmocka_unit_test(test_model_lookup_ignores_case_and_blanks_and_accepts_short_names),
		cmocka_unit_test(test_unknown_model_error_names_it_and_lists_known),
		cmocka_unit_test(test_h100_profiles_match_nvidia_smi),
		cmocka_unit_test(test_a30_and_rtx_pro_6000_geometry),
		cmocka_unit_test(test_resource_names_follow_the_mixed_strategy),
		cmocka_unit_test(test_layout_rules_table),
		cmocka_unit_test(test_layout_text_round_trips_and_errors_name_the_item),
		cmocka_unit_test(test_layout_same_ignores_order_and_use),
		cmocka_unit_test(test_catalog_built_at_run_time_is_validated),
		cmocka_unit_test(test_compute_budget_is_enforced_on_its_own),
		cmocka_unit_test(test_err_path_joins_field_paths),
	};
	return cmocka_run_group_tests_name("mig", tests, NULL, NULL);
}
