/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_plan.c — how long plan_run() takes on large, realistic clusters, and how much memory it needs.
 *
 *   bench_plan [--diverse] [--json FILE] NODES GPUS_PER_NODE PODS RUNS [SEED]
 *
 * The cluster: nodes of one model each (H100 60%, A100 80GB 25%, H200 10%, A30 5%), every GPU cut in one
 * of the layouts operators commonly use (all 1g, all 2g, 3g+3g, 4g+3g, 7g, 2g+2g+3g; A30: 4x1g, 2x2g,
 * 4g, 2g+2x1g) or not cut yet (1 in 10), and each instance in use with probability 0.6. Pending pods ask
 * for one instance of a common profile (1g 35%, 2g 25%, 3g 20%, 4g 10%, 7g 10%) of a model in the cluster,
 * some for two, a few for two different profiles; priorities 0 / 100 / 1000 (60/30/10%).
 *
 * Every run plans a different cluster drawn from the same distribution (seed + run), timed around
 * plan_run() alone (building the input is not timed) twice: wall clock (CLOCK_MONOTONIC) and the CPU
 * time of this thread (CLOCK_THREAD_CPUTIME_ID), which leaves out the time other processes take the
 * core on a shared machine. Prints median and p90 of both in ms, what the plans did, and the peak RSS of
 * the process (getrusage).
 *
 * --diverse draws the cluster another way, to measure the planner where GPU states rarely repeat (a
 * cluster whose pods have come and gone for a while): every GPU gets a random model among all those the
 * built-in catalog knows, a random valid layout (random placements kept while mig_layout_check() allows
 * them; 1 in 10 uncut) and each instance is in use with probability 1/2; pods ask for a plain profile
 * (no "+me" variants) of a random GPU's model. It reports the distinct GPU states (model, layout, used
 * flags) per cluster, plan_run() as above, and then the path `kerf plan --output json` takes on the same
 * cluster written as JSON: plan_input_parse(), plan_run_room() and plan_output_json(), each timed alone
 * (CPU time), and their sum. --json FILE writes the first run's cluster as `kerf plan` input, so that the
 * command itself can be timed and its output compared across versions (bench/plan/run.sh does both).
 *
 * --cached also plans every cluster a second time with a plan_cache that planned it once already, as the
 * controller's next round would when nothing changed: it reports that second call's CPU time (the
 * cache's layout tables and per-shape options reused) and checks that it planned the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "plan.h"
#include "room.h"

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (unsigned)((z ^ (z >> 31)) % n);
}

struct model_mix {
	const char *name;
	unsigned weight;
	const char *layouts[8];
};

static const struct model_mix mix[] = {
	{ "H100-80GB-SXM", 60, { "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6",
				 "2g.20gb@0,2g.20gb@2,2g.20gb@4,1g.10gb@6", "3g.40gb@0,3g.40gb@4", "4g.40gb@0,3g.40gb@4",
				 "7g.80gb@0", "2g.20gb@0,2g.20gb@2,3g.40gb@4", NULL } },
	{ "A100-80GB", 25, { "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6",
			     "2g.20gb@0,2g.20gb@2,2g.20gb@4,1g.10gb@6", "3g.40gb@0,3g.40gb@4", "4g.40gb@0,3g.40gb@4",
			     "7g.80gb@0", "2g.20gb@0,2g.20gb@2,3g.40gb@4", NULL } },
	{ "H200-141GB-SXM", 10, { "1g.18gb@0,1g.18gb@1,1g.18gb@2,1g.18gb@3,1g.18gb@4,1g.18gb@5,1g.18gb@6",
				  "2g.35gb@0,2g.35gb@2,2g.35gb@4,1g.18gb@6", "3g.71gb@0,3g.71gb@4",
				  "4g.71gb@0,3g.71gb@4", "7g.141gb@0", NULL } },
	{ "A30-24GB", 5, { "1g.6gb@0,1g.6gb@1,1g.6gb@2,1g.6gb@3", "2g.12gb@0,2g.12gb@2", "4g.24gb@0",
			   "2g.12gb@0,1g.6gb@2,1g.6gb@3", NULL } },
};
#define N_MIX (sizeof(mix) / sizeof(mix[0]))

static const struct model_mix *pick_model(void)
{
	unsigned r = rnd(100), acc = 0;

	for (unsigned i = 0; i < N_MIX; i++) {
		acc += mix[i].weight;
		if (r < acc)
			return &mix[i];
	}
	return &mix[0];
}

/* A benchmark has no one to hand an error to: it says what failed and stops. */
static void die(const char *what, const struct kerf_err *err)
{
	fprintf(stderr, "bench_plan: %s%s\n", what, err->msg);
	exit(1);
}

static const struct mig_model *model(const char *name)
{
	struct kerf_err err;
	const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), name, &err);

	if (m == NULL)
		die("", &err);
	return m;
}

static void random_gpu(struct plan_gpu *g, const struct model_mix *mm, unsigned index)
{
	unsigned n_layouts = 0;
	struct kerf_err err;

	g->index = index;
	g->model = model(mm->name);
	while (n_layouts < 8 && mm->layouts[n_layouts] != NULL)
		n_layouts++;
	g->layout.n = 0;
	if (rnd(10) == 0)
		return;
	if (mig_layout_parse(g->model, mm->layouts[rnd(n_layouts)], &g->layout, &err) != 0)
		die("", &err);
	for (unsigned k = 0; k < g->layout.n; k++)
		g->layout.inst[k].used = rnd(10) < 6;
}

/* A common profile of m: 1g 35%, 2g 25%, 3g 20%, 4g 10%, 7g (or A30's 4g) 10%. */
static const char *pick_resource(const struct mig_model *m)
{
	static const char *const pref8[] = { "1g.", "2g.", "3g.", "4g.", "7g." };
	static const unsigned w[] = { 35, 25, 20, 10, 10 };
	unsigned r = rnd(100), acc = 0, k = 0;

	for (k = 0; k < 5; k++) {
		acc += w[k];
		if (r < acc)
			break;
	}
	if (m->slots == 4 && k >= 2)
		k = k == 2 ? 1 : 4;
	for (unsigned p = 0; p < m->n_profiles; p++) {
		const char *name = m->profiles[p].name;

		if (strncmp(name, m->slots == 4 && k == 4 ? "4g." : pref8[k], 3) == 0 && strchr(name, '+') == NULL)
			return m->profiles[p].resource;
	}
	return m->profiles[0].resource;
}

/* ---- --diverse ------------------------------------------------------------------------------------- */

static const struct mig_model *diverse_model(void)
{
	const struct mig_catalog *cat = mig_catalog_builtin();

	return &cat->models[rnd(cat->n_models)];
}

/* A random valid layout of m: placements drawn at random, each kept when the layout stays valid. */
static void diverse_gpu(struct plan_gpu *g, unsigned index)
{
	const struct mig_model *m = diverse_model();
	struct kerf_err err;

	g->index = index;
	g->model = m;
	g->layout.n = 0;
	if (rnd(10) == 0)
		return;
	for (unsigned t = 0; t < 12 && g->layout.n < MIG_MAX_INSTANCES; t++) {
		const struct mig_profile *p = &m->profiles[rnd(m->n_profiles)];
		struct mig_instance *in = &g->layout.inst[g->layout.n];

		in->profile = (uint8_t)(p - m->profiles);
		in->start = p->starts[rnd(p->n_starts)];
		in->used = rnd(2) == 0;
		g->layout.n++;
		if (mig_layout_check(m, &g->layout, &err) != 0)
			g->layout.n--;
	}
	mig_layout_sort(&g->layout);
}

/* A plain profile (no "+me", "-me", "+gfx" variant) of m, uniformly. */
static const char *diverse_resource(const struct mig_model *m)
{
	unsigned plain[MIG_MAX_PROFILES], n = 0;

	for (unsigned p = 0; p < m->n_profiles; p++)
		if (strpbrk(m->profiles[p].name, "+-") == NULL)
			plain[n++] = p;
	return m->profiles[plain[rnd(n)]].resource;
}

/* ---- the cluster, either way -------------------------------------------------------------------------- */

/* A pending pod on a random node: a model of one of its GPUs (the first; --diverse: a random one) and
 * demands drawn by that kind's profile picker. Random numbers are drawn in the same order either way, so
 * a seed gives the clusters it always gave. */
static void random_pod(struct plan_pod *p, unsigned i, const struct plan_input *in, int diverse)
{
	const char *(*pick)(const struct mig_model *) = diverse ? diverse_resource : pick_resource;
	const struct plan_node *n = &in->nodes[rnd(in->n_nodes)];
	const struct mig_model *m = n->gpus[diverse ? rnd(n->n_gpus) : 0].model;
	unsigned r = rnd(100);

	snprintf(p->name, sizeof(p->name), "team-%u/job-%u", i % 17, i);
	p->priority = r < 60 ? 0 : r < 90 ? 100 : 1000;
	p->n_demands = 1;
	snprintf(p->demands[0].resource, sizeof(p->demands[0].resource), "%s", pick(m));
	p->demands[0].count = rnd(10) == 0 ? 2 : 1;
	if (rnd(20) == 0) {
		const char *second = pick(m);

		if (strcmp(second, p->demands[0].resource) != 0) {
			snprintf(p->demands[1].resource, sizeof(p->demands[1].resource), "%s", second);
			p->demands[1].count = 1;
			p->n_demands = 2;
		}
	}
}

/* nodes x gpus GPUs and pods pending pods: one model per node from the mix, or (--diverse) any model per GPU. */
static void build(struct plan_input *in, unsigned nodes, unsigned gpus, unsigned pods, int diverse)
{
	/* Zeroed: no node groups, no room (left unset, the exact search's node classes read n_groups: the
	 * 8 x 8 run crashed there when the stack held garbage). */
	memset(in, 0, sizeof(*in));
	in->n_nodes = nodes;
	in->nodes = calloc(nodes, sizeof(*in->nodes));
	in->n_pods = pods;
	in->pods = calloc(pods, sizeof(*in->pods));
	if (in->nodes == NULL || in->pods == NULL)
		exit(1);
	for (unsigned i = 0; i < nodes; i++) {
		const struct model_mix *mm = diverse ? NULL : pick_model();

		snprintf(in->nodes[i].name, sizeof(in->nodes[i].name), "node-%04u", i);
		in->nodes[i].n_gpus = gpus;
		in->nodes[i].gpus = calloc(gpus, sizeof(struct plan_gpu));
		if (in->nodes[i].gpus == NULL)
			exit(1);
		for (unsigned g = 0; g < gpus; g++)
			if (diverse)
				diverse_gpu(&in->nodes[i].gpus[g], g);
			else
				random_gpu(&in->nodes[i].gpus[g], mm, g);
	}
	for (unsigned i = 0; i < pods; i++)
		random_pod(&in->pods[i], i, in, diverse);
}

/* GPU states compare by model, then instances (sorted) with their used flags. */
static int cmp_gpu_state(const void *a, const void *b)
{
	const struct plan_gpu *x = *(const struct plan_gpu *const *)a, *y = *(const struct plan_gpu *const *)b;

	if (x->model != y->model)
		return x->model < y->model ? -1 : 1;
	if (x->layout.n != y->layout.n)
		return x->layout.n < y->layout.n ? -1 : 1;
	for (unsigned k = 0; k < x->layout.n; k++) {
		const struct mig_instance *i = &x->layout.inst[k], *j = &y->layout.inst[k];

		if (i->profile != j->profile || i->start != j->start || i->used != j->used)
			return i->profile != j->profile ? (i->profile < j->profile ? -1 : 1)
			       : i->start != j->start	 ? (i->start < j->start ? -1 : 1)
							 : (i->used < j->used ? -1 : 1);
	}
	return 0;
}

static unsigned distinct_states(const struct plan_input *in)
{
	size_t n = 0, k = 0;
	const struct plan_gpu **v;
	unsigned distinct = 0;

	for (unsigned i = 0; i < in->n_nodes; i++)
		n += in->nodes[i].n_gpus;
	if ((v = malloc((n + 1) * sizeof(*v))) == NULL)
		exit(1);
	for (unsigned i = 0; i < in->n_nodes; i++)
		for (unsigned g = 0; g < in->nodes[i].n_gpus; g++)
			v[k++] = &in->nodes[i].gpus[g];
	qsort(v, n, sizeof(*v), cmp_gpu_state);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || cmp_gpu_state(&v[i - 1], &v[i]) != 0;
	free(v);
	return distinct;
}

/* The cluster as `kerf plan` input (docs/planner.md), malloc'd. */
static char *input_json(const struct plan_input *in, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (f == NULL)
		exit(1);
	fputs("{\"nodes\": [", f);
	for (unsigned i = 0; i < in->n_nodes; i++) {
		const struct plan_node *n = &in->nodes[i];

		fprintf(f, "%s\n {\"name\": \"%s\", \"gpus\": [", i ? "," : "", n->name);
		for (unsigned g = 0; g < n->n_gpus; g++) {
			const struct plan_gpu *gp = &n->gpus[g];

			fprintf(f, "%s{\"index\": %u, \"model\": \"%s\", \"instances\": [", g ? ", " : "", gp->index,
				gp->model->name);
			for (unsigned k = 0; k < gp->layout.n; k++)
				fprintf(f, "%s{\"profile\": \"%s\", \"start\": %u, \"used\": %s}", k ? ", " : "",
					gp->model->profiles[gp->layout.inst[k].profile].name, gp->layout.inst[k].start,
					gp->layout.inst[k].used ? "true" : "false");
			fputs("]}", f);
		}
		fputs("]}", f);
	}
	fputs("],\n \"pending\": [", f);
	for (unsigned i = 0; i < in->n_pods; i++) {
		const struct plan_pod *p = &in->pods[i];

		fprintf(f, "%s\n {\"name\": \"%s\", \"priority\": %d, \"resources\": {", i ? "," : "", p->name,
			p->priority);
		for (unsigned d = 0; d < p->n_demands; d++)
			fprintf(f, "%s\"%s\": %u", d ? ", " : "", p->demands[d].resource, p->demands[d].count);
		fputs("}}", f);
	}
	fputs("]}\n", f);
	if (fclose(f) != 0)
		exit(1);
	return text;
}

static double clock_ms(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* This thread's CPU time, which leaves out what other processes take of the core. */
static double cpu_ms(void)
{
	return clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

/* What `kerf plan --output json` does with text, each step timed (CPU ms): parse, plan, output. */
static void time_json_path(const char *text, size_t len, double *parse, double *plan, double *output)
{
	struct plan_input in;
	struct plan_output out;
	struct kerf_err err;
	char *json;
	double t0, t1, t2, t3;

	t0 = cpu_ms();
	if (plan_input_parse(text, len, mig_catalog_builtin(), &in, &err) != 0)
		die("the cluster as JSON: ", &err);
	t1 = cpu_ms();
	if (plan_run_room(NULL, &in, &out, NULL, &err) != 0)
		die("", &err);
	t2 = cpu_ms();
	if ((json = plan_output_json(&in, &out, &err)) == NULL)
		die("", &err);
	t3 = cpu_ms();
	*parse = t1 - t0;
	*plan = t2 - t1;
	*output = t3 - t2;
	free(json);
	plan_output_free(&out);
	plan_input_free(&in);
}

static void release(struct plan_input *in)
{
	for (unsigned i = 0; i < in->n_nodes; i++)
		free(in->nodes[i].gpus);
	free(in->nodes);
	free(in->pods);
}

static size_t cache_shapes, cache_bytes; /* what the last cache held */

/* Plans in twice with one plan_cache; the second call's CPU ms. Exits if it differs from plain (plan_run). */
static double cached_twice(const struct plan_input *in, const struct plan_output *plain)
{
	struct plan_cache *cache = plan_cache_new();
	struct plan_output out;
	struct kerf_err err;
	char *a, *b;
	double t0, t1;

	if (cache == NULL || plan_run_cached(cache, in, &out, &err) != 0)
		exit(1);
	plan_output_free(&out);
	t0 = cpu_ms();
	if (plan_run_cached(cache, in, &out, &err) != 0)
		exit(1);
	t1 = cpu_ms();
	plan_cache_usage(cache, &cache_shapes, &cache_bytes);
	a = plan_output_json(in, plain, &err);
	b = plan_output_json(in, &out, &err);
	if (a == NULL || b == NULL || strcmp(a, b) != 0) {
		fprintf(stderr, "bench_plan: the cached plan differs from the plain one\n");
		exit(1);
	}
	free(a);
	free(b);
	plan_output_free(&out);
	plan_cache_free(cache);
	return t1 - t0;
}

/* What each run measures, in ms: one array of RUNS samples per figure, sorted once they are all in. */
enum series { WALL, CPU, WARM, JPARSE, JPLAN, JOUT, JSUM, N_SERIES };

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The sample at percentile pct (0-100) of n sorted samples, by index n * pct / 100 as the figures always took. */
static double at(const double *sorted, unsigned n, unsigned pct)
{
	return sorted[pct == 100 ? n - 1 : (n * pct) / 100];
}

int main(int argc, char **argv)
{
	unsigned nodes, gpus, pods, runs, placed = 0, total = 0, changed = 0, destroyed = 0;
	unsigned long long seed = 1, states = 0;
	double *v[N_SERIES];
	const char *json_file = NULL;
	int diverse = 0, cached = 0, arg = 1;
	struct rusage ru;

	for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; arg++) {
		if (strcmp(argv[arg], "--diverse") == 0)
			diverse = 1;
		else if (strcmp(argv[arg], "--cached") == 0)
			cached = 1;
		else if (strcmp(argv[arg], "--json") == 0 && arg + 1 < argc)
			json_file = argv[++arg];
		else
			break;
	}
	argc -= arg - 1;
	argv += arg - 1;
	if (argc < 5) {
		fprintf(stderr, "usage: bench_plan [--diverse] [--cached] [--json FILE] NODES GPUS_PER_NODE PODS RUNS [SEED]\n");
		return 2;
	}
	nodes = (unsigned)atoi(argv[1]);
	gpus = (unsigned)atoi(argv[2]);
	pods = (unsigned)atoi(argv[3]);
	runs = (unsigned)atoi(argv[4]);
	if (argc > 5)
		seed = strtoull(argv[5], NULL, 10);
	if (nodes == 0 || gpus == 0 || runs == 0)
		return 2;
	for (unsigned k = 0; k < N_SERIES; k++)
		if ((v[k] = calloc(runs, sizeof(double))) == NULL)
			return 1;
	for (unsigned r = 0; r < runs; r++) {
		struct plan_input in;
		struct plan_output out;
		struct kerf_err err;
		double cpu0, wall0;

		rng_state = seed * 1000003ull + r;
		build(&in, nodes, gpus, pods, diverse);
		cpu0 = cpu_ms();
		wall0 = clock_ms(CLOCK_MONOTONIC);
		if (plan_run(&in, &out, &err) != 0)
			die("", &err);
		v[WALL][r] = clock_ms(CLOCK_MONOTONIC) - wall0;
		v[CPU][r] = cpu_ms() - cpu0;
		if (cached)
			v[WARM][r] = cached_twice(&in, &out);
		placed += out.n_assignments;
		total += pods;
		changed += out.gpus_touched;
		destroyed += out.destroyed;
		plan_output_free(&out);
		if (diverse || (json_file != NULL && r == 0)) {
			size_t len;
			char *text = input_json(&in, &len);

			if (json_file != NULL && r == 0) {
				FILE *f = fopen(json_file, "w");

				if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
					fprintf(stderr, "bench_plan: cannot write %s\n", json_file);
					return 1;
				}
			}
			if (diverse) {
				states += distinct_states(&in);
				time_json_path(text, len, &v[JPARSE][r], &v[JPLAN][r], &v[JOUT][r]);
				v[JSUM][r] = v[JPARSE][r] + v[JPLAN][r] + v[JOUT][r];
			}
			free(text);
		}
		release(&in);
	}
	for (unsigned k = 0; k < N_SERIES; k++)
		qsort(v[k], runs, sizeof(double), cmp_double);
	getrusage(RUSAGE_SELF, &ru);
	printf("plan %s%u nodes x %u GPUs, %u pending pods, %u runs: cpu median %.2f ms, p90 %.2f ms, max %.2f ms; "
	       "wall median %.2f ms, "
	       "p90 %.2f ms; placed %.1f%% of pods, %.1f GPUs re-cut and %.1f free instances destroyed per plan; "
	       "peak RSS %ld MiB\n",
	       diverse ? "diverse " : "", nodes, gpus, pods, runs, at(v[CPU], runs, 50), at(v[CPU], runs, 90),
	       at(v[CPU], runs, 100), at(v[WALL], runs, 50), at(v[WALL], runs, 90), total ? 100.0 * placed / total : 0.0,
	       (double)changed / runs, (double)destroyed / runs, ru.ru_maxrss / 1024);
	if (cached)
		printf("  with a plan_cache that planned the same cluster before: cpu median %.2f ms, p90 %.2f ms "
		       "(the cache: %zu shapes, %.1f MiB)\n",
		       at(v[WARM], runs, 50), at(v[WARM], runs, 90), cache_shapes, (double)cache_bytes / (1 << 20));
	if (diverse) {
		printf("  %.0f distinct GPU states of %u per cluster; as `kerf plan --output json` (cpu median / p90):",
		       (double)states / runs, nodes * gpus);
		for (unsigned k = JPARSE; k <= JSUM; k++) {
			static const char *const name[] = { [JPARSE] = "parse", [JPLAN] = "plan", [JOUT] = "output",
							     [JSUM] = "total" };

			printf("%s %s %.2f / %.2f ms", k == JPARSE ? "" : ",", name[k], at(v[k], runs, 50), at(v[k], runs, 90));
		}
		printf("\n");
	}
	for (unsigned k = 0; k < N_SERIES; k++)
		free(v[k]);
	return 0;
}
