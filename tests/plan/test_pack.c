/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pack.c — plan_run_packed() (pack.c), keep whole GPUs whole: hand-made cases where the plain plan
 * opens an idle GPU (on another node, on the same node) and the packed one re-cuts a busy GPU's free slices
 * instead; one where nothing is opened and the plain plan is returned byte for byte; and a seeded property
 * over random clusters: the packed plan keeps every promise of plan.h, places as many pods at every
 * priority and opens no more idle GPUs than the plain one. Argument: a seed, to run that one random case (valgrind runs a few).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "room.h"
#include "util.h"

#define H100 "\"NVIDIA H100 80GB HBM3\""
#define INST(p, s, u) "{\"profile\": \"" p "\", \"start\": " #s ", \"used\": " #u "}"

struct run {
	struct plan_input in;
	struct plan_output plain, packed;
};

static void run_both(const char *json, struct run *r)
{
	struct kerf_err err = { 0 };
	char msg[256];

	memset(r, 0, sizeof(*r));
	if (plan_input_parse(json, strlen(json), mig_catalog_builtin(), &r->in, &err) != 0)
		fail_msg("input rejected: %s", err.msg);
	if (plan_run(&r->in, &r->plain, &err) != 0 || plan_run_packed(NULL, &r->in, &r->packed, &err) != 0)
		fail_msg("planning failed: %s", err.msg);
	if (check_plan(&r->in, &r->packed, msg, sizeof(msg)) != 0)
		fail_msg("packed plan breaks a promise: %s", msg);
}

static void run_free(struct run *r)
{
	plan_output_free(&r->plain);
	plan_output_free(&r->packed);
	plan_input_free(&r->in);
}

/* Node a's GPU runs a 3g at 4 and has a free 2g at 0; node b's GPU is idle. A 3g pod fits on node a only by
 * re-cutting the free 2g, so the plain plan (fewest free instances destroyed) opens node b's GPU. */
#define BUSY_AND_IDLE                                                                                              \
	"{\"nodes\": [{\"name\": \"a\", \"gpus\": ["                                                               \
	"{\"index\": 0, \"model\": " H100 ", \"instances\": [" INST("3g.40gb", 4, true) ", " INST("2g.20gb", 0, false) \
	"]}]}, {\"name\": \"b\", \"gpus\": [{\"index\": 0, \"model\": " H100 ", \"instances\": []}]}],"

static void test_packed_plan_recuts_a_busy_gpu_before_it_opens_an_idle_one(void **state)
{
	struct run r;
	char got[256];

	(void)state;
	run_both(BUSY_AND_IDLE "\"pending\": [{\"name\": \"p\", \"resources\": {\"nvidia.com/mig-3g.40gb\": 1}}]}", &r);
	/* The plain plan opens the idle GPU: without it this case would test nothing. */
	assert_int_equal(r.plain.n_assignments, 1);
	assert_int_equal(plan_opened_gpus(&r.in, &r.plain), 1);
	assert_int_equal(r.plain.destroyed, 0);
	/* The packed one re-cuts GPU 0's free 2g, and says so in its counts. */
	assert_int_equal(r.packed.n_assignments, 1);
	assert_int_equal(plan_opened_gpus(&r.in, &r.packed), 0);
	assert_int_equal(r.packed.n_changes, 1);
	assert_int_equal(r.packed.changes[0].node, 0);
	assert_int_equal(r.packed.assignments[0].node, 0);
	mig_layout_format(r.in.nodes[0].gpus[0].model, &r.packed.changes[0].layout, got, sizeof(got));
	assert_string_equal(got, "3g.40gb@0,3g.40gb@4");
	assert_int_equal(r.packed.changes[0].destroyed, 1);
	assert_int_equal(r.packed.changes[0].created, 1);
	assert_int_equal(r.packed.destroyed, 1);
	assert_int_equal(r.packed.created, 1);
	assert_int_equal(r.packed.gpus_touched, 1);
	run_free(&r);
}

/* The same two GPUs on one node. There the planner's objective 4 (the most capacity left on the changed
 * GPUs) prefers the idle GPU even when the busy one's free instance is hidden; the staged plan (busy GPUs
 * first) still re-cuts the busy one. */
static void test_packed_plan_recuts_a_busy_gpu_before_an_idle_one_of_its_node(void **state)
{
	struct run r;
	char got[256];

	(void)state;
	run_both("{\"nodes\": [{\"name\": \"a\", \"gpus\": [{\"index\": 0, \"model\": " H100 ", \"instances\": ["
		 INST("3g.40gb", 4, true) ", " INST("2g.20gb", 0, false) "]}, {\"index\": 1, \"model\": " H100
		 ", \"instances\": []}]}], \"pending\": [{\"name\": \"p\", \"resources\": {\"nvidia.com/mig-3g.40gb\": 1}}]}",
		 &r);
	assert_int_equal(plan_opened_gpus(&r.in, &r.plain), 1);
	assert_int_equal(r.packed.n_assignments, 1);
	assert_int_equal(plan_opened_gpus(&r.in, &r.packed), 0);
	assert_int_equal(r.packed.n_changes, 1);
	assert_int_equal(r.packed.changes[0].gpu, 0);
	assert_int_equal(r.packed.assignments[0].bindings[0].gpu, 0);
	mig_layout_format(r.in.nodes[0].gpus[0].model, &r.packed.changes[0].layout, got, sizeof(got));
	assert_string_equal(got, "3g.40gb@0,3g.40gb@4");
	assert_int_equal(r.packed.destroyed, 1);
	run_free(&r);
}

/*
 * The controller plans through plan_run_room(): in.pack makes it plan as plan_run_packed(), without room
 * (NULL) and with it (every node's room unknown, so no pass narrows anything); unset, as plan_run().
 */
static void test_plan_run_room_packs_when_the_input_says_so(void **state)
{
	json_t *node_room[3] = { NULL, NULL, NULL }, *pod_room[2] = { NULL, NULL };
	struct plan_room room = { node_room, pod_room };
	struct kerf_err err = { 0 };
	struct run r;

	(void)state;
	run_both(BUSY_AND_IDLE "\"pending\": [{\"name\": \"p\", \"resources\": {\"nvidia.com/mig-3g.40gb\": 1}}]}", &r);
	for (int with_room = 0; with_room < 2; with_room++)
		for (int pack = 0; pack < 2; pack++) {
			struct plan_output o;

			r.in.room = with_room ? &room : NULL;
			r.in.pack = pack;
			if (plan_run_room(NULL, &r.in, &o, NULL, &err) != 0)
				fail_msg("plan_run_room: %s", err.msg);
			assert_int_equal(o.n_assignments, 1);
			/* packed: node a's busy GPU re-cut; plain: node b's idle GPU opened */
			assert_int_equal(o.assignments[0].node, pack ? 0 : 1);
			assert_int_equal(plan_opened_gpus(&r.in, &o), pack ? 0 : 1);
			plan_output_free(&o);
		}
	r.in.room = NULL;
	run_free(&r);
}

static void test_packed_plan_is_the_plain_plan_when_no_idle_gpu_is_opened(void **state)
{
	struct kerf_err err = { 0 };
	struct run r;
	char *a, *b;

	(void)state;
	/* A 1g pod fits in GPU 0's uncut slices 2-3: nothing is opened, so nothing is planned twice. */
	run_both(BUSY_AND_IDLE "\"pending\": [{\"name\": \"p\", \"resources\": {\"nvidia.com/mig-1g.10gb\": 1}}]}", &r);
	assert_int_equal(plan_opened_gpus(&r.in, &r.plain), 0);
	a = plan_output_json(&r.in, &r.plain, &err);
	b = plan_output_json(&r.in, &r.packed, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, b);
	free(a);
	free(b);
	run_free(&r);
}

/* ---- property: never worse at the first objective, never opens more ------------------------------------ */

static const struct gen_params params = {
	.max_nodes = 4, .max_gpus_per_node = 3, .max_gpus_total = 8, .max_pods = 12,
	.max_demands = 3, .max_count = 3, .max_levels = 4,
};

static unsigned placed_at(const struct plan_input *in, const struct plan_output *o, int prio)
{
	unsigned n = 0;

	for (unsigned i = 0; i < o->n_assignments; i++)
		n += in->pods[o->assignments[i].pod].priority == prio;
	return n;
}

/* 0 if the packed plan of seed's cluster keeps the promises and is no worse; else -1, said on stdout. */
static int one_case(uint64_t seed, unsigned *repacked)
{
	static struct gen_case c;
	struct plan_output a = { 0 }, b = { 0 };
	struct kerf_err err = { 0 };
	char msg[256];
	int rc = -1;

	gen_case(&c, seed, &params);
	if (plan_run(&c.in, &a, &err) != 0 || plan_run_packed(NULL, &c.in, &b, &err) != 0) {
		printf("seed %llu: planning failed: %s\n", (unsigned long long)seed, err.msg);
		goto out;
	}
	if (check_plan(&c.in, &b, msg, sizeof(msg)) != 0) {
		printf("seed %llu: packed plan: %s\n", (unsigned long long)seed, msg);
		goto out;
	}
	if (plan_opened_gpus(&c.in, &b) > plan_opened_gpus(&c.in, &a)) {
		printf("seed %llu: packed plan opens more idle GPUs\n", (unsigned long long)seed);
		goto out;
	}
	/* Lexicographic over the priorities, highest first: the first one that differs must favour b. */
	for (int prio = 1 << 20; prio >= -(1 << 20);) {
		int next = -(1 << 30);
		unsigned na, nb;

		for (unsigned i = 0; i < c.in.n_pods; i++)
			if (c.in.pods[i].priority < prio && c.in.pods[i].priority > next)
				next = c.in.pods[i].priority;
		if (next == -(1 << 30))
			break;
		prio = next;
		na = placed_at(&c.in, &a, prio);
		nb = placed_at(&c.in, &b, prio);
		if (nb < na) {
			printf("seed %llu: packed plan places %u at priority %d, plain %u\n", (unsigned long long)seed, nb,
			       prio, na);
			goto out;
		}
		if (nb > na)
			break;
	}
	*repacked += a.n_changes != b.n_changes || a.destroyed != b.destroyed || a.created != b.created;
	rc = 0;
out:
	plan_output_free(&a);
	plan_output_free(&b);
	return rc;
}

static void test_packed_plan_keeps_every_promise_and_places_as_many(void **state)
{
	unsigned cases = case_count(2000, 300), failed = 0, repacked = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= cases; seed++)
		failed += one_case(seed, &repacked) != 0;
	printf("plan_run_packed: %u random clusters, %u plans changed by packing, %u failed\n", cases, repacked, failed);
	assert_int_equal(failed, 0);
	/* The property must have bitten: some random clusters do open idle GPUs that packing avoids. */
	assert_true(repacked > 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packed_plan_recuts_a_busy_gpu_before_it_opens_an_idle_one),
		cmocka_unit_test(test_packed_plan_recuts_a_busy_gpu_before_an_idle_one_of_its_node),
		cmocka_unit_test(test_plan_run_room_packs_when_the_input_says_so),
		cmocka_unit_test(test_packed_plan_is_the_plain_plan_when_no_idle_gpu_is_opened),
		cmocka_unit_test(test_packed_plan_keeps_every_promise_and_places_as_many),
	};

	if (argc > 1) {
		unsigned repacked = 0;

		for (int i = 1; i < argc; i++)
			if (one_case(strtoull(argv[i], NULL, 10), &repacked) != 0)
				return 1;
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
