/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim.c — the simulator's accounting, as a specification.
 *
 * Most cases are hand-made workloads on one or two GPUs whose every metric can be worked out on paper; the
 * comment above each states the arithmetic, and expect() checks the figures by name. A case that is only a
 * workload and its figures is a row of cases[], run as a test of the row's name. The property tests at the
 * end run generated workloads (their seeds are printed) and check what must hold for any workload: no policy
 * but the repack bound ever disturbs a running pod, every pod is either placed or counted as never placed,
 * runs repeat exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

struct run {
	struct sim_cluster c;
	struct sim_workload w;
	struct sim_result r;
};

static void load(struct run *x, const char *cluster, const char *csv)
{
	struct kerf_err err;
	FILE *f;

	memset(x, 0, sizeof(*x));
	if (sim_cluster_parse(mig_catalog_builtin(), cluster, &x->c, &err) != 0)
		fail_msg("cluster: %s", err.msg);
	f = fmemopen((void *)csv, strlen(csv), "r");
	assert_non_null(f);
	if (sim_workload_read_csv(f, "test.csv", &x->c, &x->w, &err) != 0)
		fail_msg("trace: %s", err.msg);
	fclose(f);
}

/* Runs csv on cluster under policy with options o. */
static void simulate(struct run *x, const char *cluster, const char *csv, const char *policy,
		     const struct sim_options *o)
{
	struct sim_policy p;
	struct kerf_err err;

	load(x, cluster, csv);
	if (sim_policy_parse(policy, &p, &err) != 0)
		fail_msg("policy: %s", err.msg);
	if (sim_run(&x->c, &x->w, &p, o, &x->r, &err) != 0)
		fail_msg("sim_run: %s", err.msg);
}

/* Runs csv on cluster under policy with the given debounce window and reconfiguration time. */
static void run(struct run *x, const char *cluster, const char *csv, const char *policy, double batch, double reconfig)
{
	struct sim_options o;

	sim_options_default(&o);
	o.batch_s = batch;
	o.reconfig_s = reconfig;
	simulate(x, cluster, csv, policy, &o);
}

static void done(struct run *x)
{
	sim_result_free(&x->r);
	sim_workload_free(&x->w);
}

static const struct sim_class *cls(const struct sim_result *r, const char *profile)
{
	for (unsigned i = 0; i < r->n_classes; i++)
		if (strcmp(r->classes[i].profile, profile) == 0)
			return &r->classes[i];
	fail_msg("no class %s", profile);
	return NULL;
}

/*
 * expect(): the figures a case works out on paper, checked by name, as "placed=2 p99=0 created>=1" or, for
 * one profile's class, "2g.20gb:p50>80". Each term is FIELD OP NUMBER with OP one of = < <= > >=, compared
 * exactly (the figures are whole seconds and counts); a field not in the tables below fails the test, so
 * a misspelt term cannot pass unchecked. A failing term is printed with the value the run gave.
 */
enum kind { UINT, ULONG, DOUBLE };

struct field {
	const char *name;
	size_t offset;
	enum kind kind;
};

#define RESULT(f, k) { #f, offsetof(struct sim_result, f), k }
static const struct field result_fields[] = {
	RESULT(pods, UINT),
	RESULT(placed, UINT),
	RESULT(never_placed, UINT),
	RESULT(p50, DOUBLE),
	RESULT(p95, DOUBLE),
	RESULT(p99, DOUBLE),
	RESULT(mean, DOUBLE),
	RESULT(n_waits, UINT),
	RESULT(blocked_while_free, UINT),
	RESULT(created, ULONG),
	RESULT(destroyed, ULONG),
	RESULT(created_per_pod, DOUBLE),
	RESULT(destroyed_per_pod, DOUBLE),
	RESULT(disturbed, ULONG),
	RESULT(failed_creates, ULONG),
	RESULT(plans, ULONG),
	RESULT(last_arrival, DOUBLE),
	RESULT(end, DOUBLE),
};
#define CLASS(f, k) { #f, offsetof(struct sim_class, f), k }
static const struct field class_fields[] = {
	CLASS(pods, UINT), CLASS(placed, UINT), CLASS(p50, DOUBLE),
	CLASS(p95, DOUBLE), CLASS(p99, DOUBLE), CLASS(mean, DOUBLE),
};

static double field_value(const void *base, const struct field *f, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		const char *at = (const char *)base + f[i].offset;

		if (strlen(f[i].name) != len || strncmp(f[i].name, name, len) != 0)
			continue;
		return f[i].kind == UINT ? *(const unsigned *)(const void *)at
		       : f[i].kind == ULONG ? (double)*(const unsigned long *)(const void *)at
					    : *(const double *)(const void *)at;
	}
	fail_msg("expect: no figure \"%.*s\"", (int)len, name);
	return 0;
}

static void expect_term(const struct sim_result *r, const char *term, size_t len)
{
	char buf[128], *end;
	const char *name = buf, *colon, *op;
	size_t name_len, op_len;
	double got, want;
	int ok;

	if (len >= sizeof(buf))
		fail_msg("expect: term too long: %.*s", (int)len, term);
	memcpy(buf, term, len);
	buf[len] = '\0';
	name_len = strcspn(buf, "<>=");
	if (name_len == len)
		fail_msg("expect: \"%s\" has no = < <= > >=", buf);
	op = buf + name_len;
	op_len = op[1] == '=' ? 2 : 1;
	want = strtod(op + op_len, &end);
	if (end == op + op_len || *end != '\0')
		fail_msg("expect: \"%s\": not a number after the operator", buf);
	if ((colon = memchr(buf, ':', name_len)) != NULL) {
		char profile[MIG_NAME_MAX];

		snprintf(profile, sizeof(profile), "%.*s", (int)(colon - buf), buf);
		name = colon + 1;
		got = field_value(cls(r, profile), class_fields, sizeof(class_fields) / sizeof(class_fields[0]), name,
				  (size_t)(op - name));
	} else {
		got = field_value(r, result_fields, sizeof(result_fields) / sizeof(result_fields[0]), name, name_len);
	}
	if (op[0] == '=')
		ok = got == want;
	else if (op[0] == '<')
		ok = op_len == 2 ? got <= want : got < want;
	else
		ok = op_len == 2 ? got >= want : got > want;
	if (!ok)
		fail_msg("expect %s: got %.17g", buf, got);
}

static void expect(const struct sim_result *r, const char *spec)
{
	while (*spec != '\0') {
		size_t len = strcspn(spec, " ");

		if (len > 0)
			expect_term(r, spec, len);
		spec += len + (spec[len] == ' ');
	}
}

#define H100 "1x1xH100-80GB-SXM"

/* --quick (the valgrind run) keeps one seed of the property tests: valgrind is there for memory errors,
 * which one seed exercises as well as three. */
static uint64_t n_seeds = 3;

/* ---- accounting on hand-made workloads ----------------------------------------------------------------- */

/* Four 7g pods at t=0, 10 s each, one 7g instance: they run one after another and wait 0, 10, 20, 30 s.
 * Nearest rank: p50 = 2nd of 4 = 10, p95 = p99 = 4th = 30; mean 15. */
static void test_pending_percentiles_are_nearest_rank_over_placed_pods(void **state)
{
	struct run x;

	(void)state;
	run(&x, H100, "0,10,7g.80gb\n0,10,7g.80gb\n0,10,7g.80gb\n0,10,7g.80gb\n", "static:all-7g", 2, 0);
	/* created=0: the static layout is there from the start; blocked_while_free=0: while they wait, every
	 * slice is held. */
	expect(&x.r, "placed=4 never_placed=0 p50=10 p95=30 p99=30 mean=15 n_waits=4 created=0 destroyed=0 disturbed=0 "
		     "blocked_while_free=0 end=40");
	assert_true(x.r.waits[0] == 0 && x.r.waits[1] == 10 && x.r.waits[2] == 20 && x.r.waits[3] == 30);
	done(&x);
}

/* all-1g: pods hold 1 slice over [0,10] and [0,5]; the last arrival is at 10. Compute: 15 slice-seconds over
 * 10 s × 7 slices; memory: 15 over 10 s × 8 slices. */
static void test_utilisation_is_time_weighted_until_the_last_arrival(void **state)
{
	struct run x;

	(void)state;
	run(&x, H100, "0,10,1g.10gb\n0,5,1g.10gb\n10,1,1g.10gb\n", "static:all-1g", 2, 0);
	assert_float_equal(x.r.util_compute, 15.0 / 70.0, 1e-12);
	assert_float_equal(x.r.util_memory, 15.0 / 80.0, 1e-12);
	expect(&x.r, "last_arrival=10");
	done(&x);
}

/* A high-priority pod that arrives last runs first: 7g pods at 0 (prio 0), 1 (prio 0), 2 (prio 100), 10 s
 * each. Order: 0 at 0, the prio-100 one at 10 (waited 8), the other at 20 (waited 19). */
static void test_higher_priority_pods_are_placed_first(void **state)
{
	struct run x;

	(void)state;
	run(&x, H100, "0,10,7g.80gb,0\n1,10,7g.80gb,0\n2,10,7g.80gb,100\n", "static:all-7g", 2, 0);
	assert_true(x.r.waits[0] == 0 && x.r.waits[1] == 8 && x.r.waits[2] == 19);
	done(&x);
}

/* The cases whose every check is a figure of the result: one H100, a workload, a policy with its debounce window
 * and reconfiguration time, and the figures worked out on paper (expect()). Each row is a test of its own name. */
struct sim_case {
	const char *name, *csv, *policy;
	double batch, reconfig;
	const char *expect;
};

static const struct sim_case cases[] = {
	/* all-1g has no 2g: the 2g pod never runs, although 7 slices stood free: blocked while free, once. */
	{ .name = "test_static_layout_never_places_a_missing_profile_and_counts_it_blocked_while_free",
	  .csv = "0,10,2g.20gb\n0,10,1g.10gb\n",
	  .policy = "static:all-1g", .batch = 2, .reconfig = 0,
	  .expect = "placed=1 never_placed=1 2g.20gb:placed=0 2g.20gb:pods=1 1g.10gb:placed=1 blocked_while_free=1" },
	/* First-fit puts the 1g at slice 0, where the only legal 4g start is: the 4g waits from 1 to 100 although 7
	 * slices are free (blocked while free), then gets a new instance. Each pod's instance is created for it and
	 * destroyed when it leaves: 2 created, 2 destroyed, 1.0 each per placed pod. */
	{ .name = "test_first_fit_creates_at_allocation_and_destroys_on_release",
	  .csv = "0,100,1g.10gb\n1,100,4g.40gb\n",
	  .policy = "first-fit", .batch = 2, .reconfig = 0,
	  .expect = "placed=2 4g.40gb:p50=99 created=2 destroyed=2 created_per_pod=1 destroyed_per_pod=1 "
		     "blocked_while_free=1 disturbed=0" },
	/* The reconfiguration time is part of the wait: with 2 s to create an instance, first-fit's first pod waits 2 s. */
	{ .name = "test_instance_creation_time_counts_as_pending",
	  .csv = "0,100,1g.10gb\n",
	  .policy = "first-fit", .batch = 2, .reconfig = 2,
	  .expect = "p50=2 end=102" },
	/* The repack bound moves the running 1g off slice 0 to make room for the 4g at once: one running pod
	 * disturbed, instances 1g@0, 1g@4, 4g@0 created and the old 1g@0 destroyed, nobody waits. */
	{ .name = "test_repack_moves_running_pods_and_counts_them_disturbed",
	  .csv = "0,100,1g.10gb\n1,100,4g.40gb\n",
	  .policy = "repack", .batch = 2, .reconfig = 0,
	  .expect = "placed=2 p99=0 disturbed=1 created=3 destroyed=1 blocked_while_free=0" },
	/* nos acts when its debounce window ends: a lone 3g arriving at 0 runs at 5 with a 5 s window. */
	{ .name = "test_nos_plans_when_the_batch_window_ends",
	  .csv = "0,10,3g.40gb\n",
	  .policy = "nos", .batch = 5, .reconfig = 0,
	  .expect = "placed=1 p50=5 created>=1 failed_creates=0 disturbed=0" },
	/* nos counts profiles, not placements. Seven 1g pods get 1g@6..0 (created from the top, bound in order);
	 * the pods on slices 5, 3 and 1 leave at 11. A 2g arriving at 20 lacks an instance; the geometry nos picks
	 * holds a 2g beside the four used 1g by count, but every 2g start (0, 2, 4) is under a used 1g, so the
	 * creation fails and the 2g waits until the used 1g leave at 101. */
	{ .name = "test_nos_geometry_blind_to_placements_fails_to_create",
	  .csv = "0,100,1g.10gb\n0,10,1g.10gb\n0,100,1g.10gb\n0,10,1g.10gb\n0,100,1g.10gb\n0,10,1g.10gb\n0,100,1g.10gb\n"
		  "20,10,2g.20gb\n",
	  .policy = "nos", .batch = 1, .reconfig = 0,
	  .expect = "failed_creates>=1 placed=8 2g.20gb:p50>80 disturbed=0 blocked_while_free=1" },
	/* kerf re-cuts a free instance: the 7g made for the first pod stands free when two 1g pods come; the plan
	 * destroys it and makes two 1g. Both changes come after a quiet period, so each is planned at once: no pod
	 * waits. Two plans, 3 created, 1 destroyed. */
	{ .name = "test_kerf_recuts_free_slices_without_disturbing",
	  .csv = "0,10,7g.80gb\n20,10,1g.10gb\n20,10,1g.10gb\n",
	  .policy = "kerf", .batch = 1, .reconfig = 0,
	  .expect = "placed=3 p99=0 plans=2 created=3 destroyed=1 disturbed=0" },
	/* The used 3g stays where it is while kerf re-cuts the rest around it. */
	{ .name = "test_kerf_keeps_used_instances_while_replanning",
	  .csv = "0,100,3g.40gb\n0,10,4g.40gb\n20,50,2g.20gb\n20,50,1g.10gb\n20,50,1g.10gb\n",
	  .policy = "kerf", .batch = 1, .reconfig = 0,
	  .expect = "placed=5 disturbed=0 p99<=1" },
	/* Plan at once when idle, batch only a burst (5 s window, instant creation). The 1g comes to an idle cluster
	 * and is planned at once: it waits 0 s (waiting the window out, it would wait 5). The 2g, 1 s later, is the
	 * second plan within 5 s: still at once. The 3g, at 2 s, finds two plans in the window: a burst, planned
	 * when its window ends at 7, so it waits 5 s. Three plans. */
	{ .name = "test_kerf_plans_at_once_when_idle_and_batches_a_burst",
	  .csv = "0,100,1g.10gb\n1,100,2g.20gb\n2,100,3g.40gb\n",
	  .policy = "kerf", .batch = 5, .reconfig = 0,
	  .expect = "placed=3 1g.10gb:p99=0 2g.20gb:p99=0 3g.40gb:p99=5 plans=3" },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void test_case(void **state)
{
	const struct sim_case *k = *state;
	struct run x;

	run(&x, H100, k->csv, k->policy, k->batch, k->reconfig);
	expect(&x.r, k->expect);
	done(&x);
}

/* Runs csv on cluster under kerf with aging after age_after seconds (0: none), holds of at most hold seconds
 * (0: none), a 1 s window and instant creation. */
static void run_kerf(struct run *x, const char *cluster, const char *csv, double age_after, double hold)
{
	struct sim_options o;

	sim_options_default(&o);
	o.batch_s = 1;
	o.reconfig_s = 0;
	o.age_after_s = age_after;
	o.hold_s = hold;
	simulate(x, cluster, csv, "kerf", &o);
}

/* A stream in csv: head's lines, then "T,rest" for T = from, from + every, ... below to. */
static void stream(char *csv, size_t size, const char *head, unsigned from, unsigned to, unsigned every,
		   const char *rest)
{
	size_t n = (size_t)snprintf(csv, size, "%s", head);

	for (unsigned t = from; t < to && n < size; t += every)
		n += (size_t)snprintf(csv + n, size - n, "%u,%s\n", t, rest);
	assert_true(n < size);
}

/* A stream of 3g pods (one every 50 s from t=50, 100 s each, to t=1950) on one H100 that three 2g pods hold
 * until t=100; a 7g pod comes at t=1. At t=100 the GPU empties with the 7g (aged: it waited 99 s > 60) and
 * two 3g pods waiting. Without aging the plan places the most pods of one priority: the two 3g, and every
 * later emptying of the GPU goes the same way, so the 7g waits for the stream's end (t=2100). With aging
 * it goes first and waits 99 s; the 3g pods behind it wait up to 100 s instead of 50. */
static void test_kerf_aging_places_a_large_pod_behind_a_stream_of_small_ones(void **state)
{
	char csv[4096];
	struct run x;

	(void)state;
	stream(csv, sizeof(csv), "0,100,2g.20gb\n0,100,2g.20gb\n0,100,2g.20gb\n1,50,7g.80gb\n", 50, 2000, 50, "100,3g.40gb");
	run_kerf(&x, H100, csv, 60, 0);
	expect(&x.r, "placed=43 7g.80gb:p99<=100 3g.40gb:p99<=100 disturbed=0");
	done(&x);
	run_kerf(&x, H100, csv, 0, 0); /* the same without aging: the 7g starves until the stream ends */
	expect(&x.r, "7g.80gb:p99>2000");
	done(&x);
}

/* Aging never lifts a pod over a higher priority: the same stream, but at priority 100 and the 7g at 0;
 * aged or not, the 7g waits for the stream's end. */
static void test_kerf_aging_stays_within_a_priority(void **state)
{
	char csv[4096];
	struct run x;

	(void)state;
	stream(csv, sizeof(csv), "0,100,2g.20gb,100\n0,100,2g.20gb,100\n0,100,2g.20gb,100\n1,50,7g.80gb,0\n", 50, 2000, 50,
	       "100,3g.40gb,100");
	run_kerf(&x, H100, csv, 60, 0);
	expect(&x.r, "placed=43 7g.80gb:p99>2000");
	done(&x);
}

#define H100x2 "1x2xH100-80GB-SXM"

/* A 7g pod at t=40 among a stream of 1g, 2g and 3g pods (every 5-20 s, 30-120 s each) on two H100s: the
 * plan spreads the small pods so that neither GPU empties until the stream ends (the 7g waits 525 s). With
 * holds (aged after 30 s), the GPU fewest used slices stand in the way of is kept for it: no new instance
 * is cut there for another pod and its free instances are destroyed, so it drains and the 7g runs after
 * 95 s. The price: the small pods that the held GPU would have taken wait a little (here at most 10 s more
 * at p99; the bound asserted is 15). */
static const char stream_csv[] =
	"10,90,1g.10gb\n15,120,3g.40gb\n35,60,3g.40gb\n40,30,3g.40gb\n60,30,3g.40gb\n80,60,2g.20gb\n85,30,2g.20gb\n"
	"90,30,1g.10gb\n110,120,1g.10gb\n115,120,1g.10gb\n135,90,1g.10gb\n145,120,1g.10gb\n160,120,1g.10gb\n"
	"165,90,1g.10gb\n170,120,2g.20gb\n180,90,2g.20gb\n200,30,3g.40gb\n220,120,1g.10gb\n240,90,1g.10gb\n"
	"255,120,1g.10gb\n260,120,1g.10gb\n275,30,3g.40gb\n295,90,1g.10gb\n315,60,1g.10gb\n325,60,1g.10gb\n"
	"335,90,3g.40gb\n350,90,3g.40gb\n355,60,3g.40gb\n365,30,3g.40gb\n385,60,2g.20gb\n405,90,3g.40gb\n"
	"425,30,2g.20gb\n440,30,3g.40gb\n450,60,1g.10gb\n455,30,2g.20gb\n460,30,1g.10gb\n480,90,1g.10gb\n"
	"490,30,2g.20gb\n500,90,2g.20gb\n505,60,1g.10gb\n40,30,7g.80gb\n";

static void test_kerf_hold_drains_a_gpu_for_a_large_pod_behind_a_stream(void **state)
{
	struct run x;
	double small[3];
	const char *profiles[3] = { "1g.10gb", "2g.20gb", "3g.40gb" };

	(void)state;
	run_kerf(&x, H100x2, stream_csv, 30, 0);
	expect(&x.r, "placed=41 7g.80gb:p99>500");
	for (unsigned i = 0; i < 3; i++)
		small[i] = cls(&x.r, profiles[i])->p99;
	done(&x);
	run_kerf(&x, H100x2, stream_csv, 30, 300);
	expect(&x.r, "placed=41 7g.80gb:p99<=100 disturbed=0");
	for (unsigned i = 0; i < 3; i++)
		assert_true(cls(&x.r, profiles[i])->p99 <= small[i] + 15);
	done(&x);
}

/* A hold expires. Two 4g pods pin both H100s for 10000 s, so the 7g (t=1) cannot run before; 3g pods (one
 * every 100 s, 150 s each) fit beside either 4g. A hold that never ended would keep one GPU from them for
 * good, and they would queue on the other (p99 > 1000 s). Holds of 200 s, each followed by 200 s without
 * one for that pod, leave them room: none waits. The 7g still runs once the 4g pods leave. */
static void test_kerf_hold_expires_so_a_gpu_is_not_kept_idle(void **state)
{
	char csv[4096];
	struct run x;

	(void)state;
	stream(csv, sizeof(csv), "0,10000,4g.40gb\n0,10000,4g.40gb\n1,30,7g.80gb\n", 10, 3000, 100, "150,3g.40gb");
	run_kerf(&x, H100x2, csv, 30, 1e9);
	expect(&x.r, "3g.40gb:p99>1000");
	done(&x);
	run_kerf(&x, H100x2, csv, 30, 200);
	expect(&x.r, "placed=33 3g.40gb:p99=0 7g.80gb:p99<10000 disturbed=0");
	done(&x);
}

/* Keep whole GPUs whole (--pack, plan_run_packed()). Two nodes of one H100. At t=0 a 3g (1000 s) and a 4g
 * (10 s) go on node 0's GPU together (one GPU touched); at t=10 the 4g leaves its instance free. A 1g pod
 * comes at t=20: the plain plan destroys nothing and opens node 1's idle GPU for it, so the 7g pod of t=30
 * finds no whole GPU and waits until the 3g leaves (970 s). Packed, the 1g takes the free 4g's slices on
 * node 0 and the 7g runs at once. */
static const char pack_csv[] = "0,1000,3g.40gb\n0,10,4g.40gb\n20,1000,1g.10gb\n30,100,7g.80gb\n";

static void run_kerf_pack(struct run *x, bool pack)
{
	struct sim_policy p;
	struct sim_options o;
	struct kerf_err err;

	load(x, "2x1xH100-80GB-SXM", pack_csv);
	if (sim_policy_parse("kerf", &p, &err) != 0)
		fail_msg("policy: %s", err.msg);
	sim_options_default(&o);
	o.reconfig_s = 0;
	o.pack = pack;
	if (sim_run(&x->c, &x->w, &p, &o, &x->r, &err) != 0)
		fail_msg("sim_run: %s", err.msg);
}

static void test_kerf_pack_keeps_an_idle_gpu_whole_for_a_large_pod(void **state)
{
	struct run x;

	(void)state;
	run_kerf_pack(&x, false);
	assert_int_equal(x.r.placed, 4);
	assert_true(cls(&x.r, "7g.80gb")->p99 > 900);
	done(&x);
	run_kerf_pack(&x, true);
	assert_int_equal(x.r.placed, 4);
	assert_true(cls(&x.r, "7g.80gb")->p99 < 1);
	assert_true(cls(&x.r, "1g.10gb")->p99 < 1);
	assert_int_equal(x.r.disturbed, 0);
	done(&x);
}


/* ---- inputs -------------------------------------------------------------------------------------------- */

static void assert_static(const char *model, const char *name, const char *want)
{
	struct kerf_err err;
	const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), model, &err);
	struct mig_layout l;
	char got[256];

	assert_non_null(m);
	if (sim_static_layout(m, name, &l, &err) != 0)
		fail_msg("%s %s: %s", model, name, err.msg);
	mig_layout_format(m, &l, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s %s: got %s, want %s", model, name, got, want);
}

/* The GPU Operator's stock configurations (mig-parted config-default.yaml), placed as the driver does. */
static void test_static_layouts_match_the_gpu_operator_configs(void **state)
{
	struct kerf_err err;
	struct mig_layout l;

	(void)state;
	assert_static("H100-80GB-SXM", "all-balanced", "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4");
	assert_static("H100-80GB-SXM", "all-1g",
		      "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6");
	assert_static("H100-80GB-SXM", "all-2g", "2g.20gb@0,2g.20gb@2,2g.20gb@4");
	assert_static("H100-80GB-SXM", "all-3g", "3g.40gb@0,3g.40gb@4");
	assert_static("H100-80GB-SXM", "all-7g", "7g.80gb@0");
	assert_static("A30-24GB", "all-balanced", "1g.6gb@0,1g.6gb@1,2g.12gb@2");
	assert_static("H100-80GB-SXM", "3g.40gb@4, 4g.40gb@0", "4g.40gb@0,3g.40gb@4");
	assert_int_equal(sim_static_layout(mig_catalog_find(mig_catalog_builtin(), "A30-24GB", NULL), "all-7g", &l, &err),
			 -1);
	assert_non_null(strstr(err.msg, "no plain 7g profile"));
	assert_int_equal(sim_static_layout(mig_catalog_find(mig_catalog_builtin(), "H100-80GB-SXM", NULL), "4g.40gb@4", &l,
					   &err),
			 -1);
}

static void test_memory_need_maps_to_the_smallest_profile_that_holds_it(void **state)
{
	const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), "H100-80GB-SXM", NULL);

	(void)state;
	assert_string_equal(m->profiles[sim_profile_for_memory(m, 9.5)].name, "1g.10gb");
	assert_string_equal(m->profiles[sim_profile_for_memory(m, 10)].name, "1g.10gb");
	assert_string_equal(m->profiles[sim_profile_for_memory(m, 15)].name, "1g.20gb"); /* 2 slices, 1 compute */
	assert_string_equal(m->profiles[sim_profile_for_memory(m, 21)].name, "3g.40gb"); /* 4 slices, before 4g */
	assert_string_equal(m->profiles[sim_profile_for_memory(m, 80)].name, "7g.80gb");
	assert_int_equal(sim_profile_for_memory(m, 81), -1);
}

static void test_trace_maps_memory_skips_comments_and_sorts_stably(void **state)
{
	struct run x;

	(void)state;
	load(&x, H100, "arrival_s,duration_s,demand,priority\n5,1,15gb,0\n# a comment\n\n1,2,2g.20gb,3\n1,3,9.5GB # inline\n");
	assert_int_equal(x.w.n, 3);
	assert_true(x.w.pods[0].arrival == 1 && x.w.pods[0].duration == 2 && x.w.pods[0].priority == 3);
	assert_string_equal(x.w.pods[0].profile, "2g.20gb");
	assert_true(x.w.pods[1].arrival == 1 && x.w.pods[1].duration == 3);
	assert_string_equal(x.w.pods[1].profile, "1g.10gb");
	assert_string_equal(x.w.pods[2].profile, "1g.20gb");
	done(&x);
}

static void assert_trace_error(const char *csv, const char *want)
{
	struct sim_cluster c;
	struct sim_workload w;
	struct kerf_err err;
	FILE *f = fmemopen((void *)csv, strlen(csv), "r");

	assert_int_equal(sim_cluster_parse(mig_catalog_builtin(), H100, &c, &err), 0);
	assert_int_equal(sim_workload_read_csv(f, "t.csv", &c, &w, &err), -1);
	fclose(f);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
	assert_null(w.pods);
}

static void test_trace_errors_name_the_line_and_field(void **state)
{
	(void)state;
	assert_trace_error("1,2,2g.20gb\n1,-2,2g.20gb\n", "t.csv:2: duration: -2 is negative");
	assert_trace_error("1,2,banana\n", "t.csv:1: demand: \"banana\" is neither a profile");
	assert_trace_error("1,2,200gb\n", "no profile of H100-80GB-SXM holds 200 GB");
	assert_trace_error("1,2\n", "t.csv:1: 2 fields");
	assert_trace_error("x1,2,1g.10gb\n1,2,1g.10gb,high\n", "t.csv:2: priority: \"high\" is not an integer");
}

static void test_cluster_text_parses_groups_and_names_bad_ones(void **state)
{
	struct sim_cluster c;
	struct kerf_err err;

	(void)state;
	assert_int_equal(sim_cluster_parse(mig_catalog_builtin(), "2x4xH100-80GB-SXM,1x8xNVIDIA A30", &c, &err), 0);
	assert_int_equal(c.n_groups, 2);
	assert_int_equal(sim_cluster_gpus(&c), 16);
	assert_int_equal(sim_cluster_compute(&c), 8 * 7 + 8 * 4);
	assert_int_equal(sim_cluster_memory(&c), 8 * 8 + 8 * 4);
	assert_int_equal(sim_cluster_parse(mig_catalog_builtin(), "2x4xH100-80GB-SXM,3xA100", &c, &err), -1);
	assert_non_null(strstr(err.msg, "cluster[1]"));
	assert_int_equal(sim_cluster_parse(mig_catalog_builtin(), "2x4xRTX4090", &c, &err), -1);
	assert_non_null(strstr(err.msg, "unknown GPU model"));
}

static void test_policy_names_parse_and_unknown_ones_are_refused(void **state)
{
	struct sim_policy p;
	struct kerf_err err;

	(void)state;
	assert_int_equal(sim_policy_parse("static:all-balanced", &p, &err), 0);
	assert_int_equal(p.kind, SIM_POLICY_STATIC);
	assert_string_equal(p.layout, "all-balanced");
	assert_int_equal(sim_policy_parse("first-fit", &p, &err), 0);
	assert_int_equal(p.kind, SIM_POLICY_FIRST_FIT);
	assert_int_equal(sim_policy_parse("static:", &p, &err), -1);
	assert_int_equal(sim_policy_parse("best", &p, &err), -1);
	assert_non_null(strstr(err.msg, "\"best\""));
}

/* ---- generated workloads: properties ------------------------------------------------------------------- */

static void generate(struct run *x, const char *cluster, uint64_t seed, enum sim_mix mix, double load, unsigned pods)
{
	struct sim_gen g = { .seed = seed, .pods = pods, .mix = mix, .load = load, .median_s = 300, .sigma = 1.0,
			     .high_prio_share = 0.2 };
	struct kerf_err err;

	memset(x, 0, sizeof(*x));
	if (sim_cluster_parse(mig_catalog_builtin(), cluster, &x->c, &err) != 0 ||
	    sim_workload_generate(&x->c, &g, &x->w, &err) != 0)
		fail_msg("%s", err.msg);
}

/* Offered load = demanded compute-slice-seconds / (span of arrivals × compute slices). Over 20000 pods the
 * generator's figure comes within 5 % of what was asked. */
static void test_generator_offers_the_requested_load(void **state)
{
	const uint64_t seed = 7;
	struct run x;
	double work = 0;
	const struct mig_model *m;

	(void)state;
	printf("seed %llu\n", (unsigned long long)seed);
	generate(&x, "10x8xH100-80GB-SXM", seed, SIM_MIX_BALANCED, 0.8, 20000);
	m = x.c.groups[0].model;
	for (unsigned i = 0; i < x.w.n; i++)
		work += x.w.pods[i].duration * m->profiles[mig_profile_by_name(m, x.w.pods[i].profile)].compute_slices;
	assert_float_equal(work / (x.w.pods[x.w.n - 1].arrival * sim_cluster_compute(&x.c)), 0.8, 0.04);
	for (unsigned i = 1; i < x.w.n; i++)
		assert_true(x.w.pods[i].arrival >= x.w.pods[i - 1].arrival);
	done(&x);
}

/* Two runs of every policy on the same inputs agree exactly, down to each pod's pending time. */
static void test_runs_are_deterministic(void **state)
{
	struct sim_policy pol[16];
	unsigned n = sim_policy_compare_set(pol, 16);
	struct run x;
	struct sim_options o;
	struct kerf_err err;

	(void)state;
	sim_options_default(&o);
	o.seed = 3;
	generate(&x, "2x2xH100-80GB-SXM", 3, SIM_MIX_BALANCED, 1.1, 300);
	for (unsigned i = 0; i < n; i++) {
		struct sim_result a, b;

		assert_int_equal(sim_run(&x.c, &x.w, &pol[i], &o, &a, &err), 0);
		assert_int_equal(sim_run(&x.c, &x.w, &pol[i], &o, &b, &err), 0);
		assert_int_equal(a.placed, b.placed);
		assert_int_equal(a.created, b.created);
		assert_int_equal(a.blocked_events, b.blocked_events);
		assert_memory_equal(a.waits, b.waits, a.n_waits * sizeof(double));
		assert_memory_equal(a.compute, b.compute, a.n_samples * sizeof(double));
		sim_result_free(&a);
		sim_result_free(&b);
	}
	done(&x);
}

/* For any workload: only the repack bound disturbs running pods; placed + never placed = pods; waits are
 * non-negative; utilisation stays within [0, 1]; and first-fit creates and destroys one instance per pod. */
static void test_no_policy_but_repack_disturbs_a_running_pod(void **state)
{
	static const enum sim_mix mixes[] = { SIM_MIX_SMALL_HEAVY, SIM_MIX_BALANCED, SIM_MIX_LARGE_HEAVY };
	struct sim_policy pol[16];
	unsigned n = sim_policy_compare_set(pol, 16);

	(void)state;
	for (uint64_t seed = 1; seed <= n_seeds; seed++)
		for (unsigned k = 0; k < 3; k++) {
			struct run x;
			struct sim_options o;
			struct kerf_err err;

			printf("seed %llu, mix %s\n", (unsigned long long)seed, sim_mix_name(mixes[k]));
			generate(&x, "2x4xH100-80GB-SXM", seed, mixes[k], 0.6 + 0.2 * (double)seed, 250);
			sim_options_default(&o);
			o.seed = seed;
			for (unsigned i = 0; i < n; i++) {
				struct sim_result r;

				if (sim_run(&x.c, &x.w, &pol[i], &o, &r, &err) != 0)
					fail_msg("%s: %s", pol[i].name, err.msg);
				if (pol[i].kind != SIM_POLICY_REPACK && r.disturbed != 0)
					fail_msg("%s disturbed %lu running pods (seed %llu)", pol[i].name, r.disturbed,
						 (unsigned long long)seed);
				assert_int_equal(r.placed + r.never_placed, r.pods);
				assert_true(r.n_waits == 0 || r.waits[0] >= 0);
				assert_true(r.util_compute >= 0 && r.util_compute <= 1 && r.util_memory <= 1);
				if (pol[i].kind == SIM_POLICY_FIRST_FIT)
					assert_true(r.created == r.placed && r.destroyed == r.placed);
				if (pol[i].kind != SIM_POLICY_STATIC)
					assert_int_equal(r.never_placed, 0); /* every profile fits an empty H100 */
				sim_result_free(&r);
			}
			done(&x);
		}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest named[] = {
		cmocka_unit_test(test_pending_percentiles_are_nearest_rank_over_placed_pods),
		cmocka_unit_test(test_utilisation_is_time_weighted_until_the_last_arrival),
		cmocka_unit_test(test_higher_priority_pods_are_placed_first),
		cmocka_unit_test(test_kerf_aging_places_a_large_pod_behind_a_stream_of_small_ones),
		cmocka_unit_test(test_kerf_aging_stays_within_a_priority),
		cmocka_unit_test(test_kerf_hold_drains_a_gpu_for_a_large_pod_behind_a_stream),
		cmocka_unit_test(test_kerf_hold_expires_so_a_gpu_is_not_kept_idle),
		cmocka_unit_test(test_kerf_pack_keeps_an_idle_gpu_whole_for_a_large_pod),
		cmocka_unit_test(test_static_layouts_match_the_gpu_operator_configs),
		cmocka_unit_test(test_memory_need_maps_to_the_smallest_profile_that_holds_it),
		cmocka_unit_test(test_trace_maps_memory_skips_comments_and_sorts_stably),
		cmocka_unit_test(test_trace_errors_name_the_line_and_field),
		cmocka_unit_test(test_cluster_text_parses_groups_and_names_bad_ones),
		cmocka_unit_test(test_policy_names_parse_and_unknown_ones_are_refused),
		cmocka_unit_test(test_generator_offers_the_requested_load),
		cmocka_unit_test(test_runs_are_deterministic),
		cmocka_unit_test(test_no_policy_but_repack_disturbs_a_running_pod),
	};
	struct CMUnitTest tests[sizeof(named) / sizeof(named[0]) + N_CASES];
	size_t n = 0;

	for (size_t i = 0; i < N_CASES; i++)
		tests[n++] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case,
						  .initial_state = (void *)&cases[i] };
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		tests[n++] = named[i];
	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		n_seeds = 1;
	return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
