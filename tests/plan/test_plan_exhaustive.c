/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_plan_exhaustive.c — on thousands of random small clusters (up to 4 nodes, 8 GPUs, 12 pending
 * pods; mixed models, random used and free instances, random priorities, pods asking for several
 * resources, pods allowed on some nodes only), the planner places exactly as many pods at each priority
 * level as an exhaustive search.
 *
 * The exhaustive search here shares nothing with the planner's method:
 *   1. per GPU, every valid layout that keeps the used instances (brute force, util.c), as the vector of
 *      free instances it offers per resource;
 *   2. per node, every sum of one such vector per GPU (kept to the maximal ones: a node can host a set
 *      of pods exactly when their summed demand is at most one of them);
 *   3. for every subset of pods, whether one node can host it (and all of them may run there); then, over the nodes in turn, which
 *      subsets can be split into disjoint per-node parts that fit (a subset DP, 3^pods per node);
 *   4. the best placed-count vector over all subsets, compared lexicographically by priority.
 * On a mismatch the seed is printed; `test_plan_exhaustive SEED` re-runs one case and prints it.
 *
 * Built a second time against a planner without its exact search (bench/plan: bench_plan_gap), the same
 * cases measure how far the greedy pass alone falls short: `bench_plan_gap --report [CASES]` prints the
 * shortfall instead of asserting (docs/planner.md, "How far from optimal").
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

#define MAX_PODS 12
#define MAX_RES 40
#define MAX_VEC 20000

typedef uint8_t vec[MAX_RES];

struct vecset {
	unsigned n;
	vec *v;
};

static unsigned n_res;
static const char *res_name[MAX_RES];
static uint8_t res_total[MAX_RES]; /* total demand per resource: vectors are clipped there */

static int res_index(const char *name)
{
	for (unsigned r = 0; r < n_res; r++)
		if (strcmp(res_name[r], name) == 0)
			return (int)r;
	res_name[n_res] = name;
	return (int)n_res++;
}

static int vec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, n_res);
}

static int dominates(const uint8_t *a, const uint8_t *b)
{
	for (unsigned r = 0; r < n_res; r++)
		if (a[r] < b[r])
			return 0;
	return 1;
}

/* Sorts, removes duplicates, then drops every vector another one covers. */
static void maximal(struct vecset *s)
{
	unsigned n = 0;

	qsort(s->v, s->n, sizeof(vec), vec_cmp);
	for (unsigned i = 0; i < s->n; i++)
		if (n == 0 || memcmp(s->v[n - 1], s->v[i], n_res) != 0)
			memcpy(s->v[n++], s->v[i], sizeof(vec));
	s->n = n;
	n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		unsigned j;

		for (j = 0; j < s->n && (j == i || !dominates(s->v[j], s->v[i])); j++)
			;
		if (j == s->n)
			memcpy(s->v[n++], s->v[i], sizeof(vec));
	}
	s->n = n;
}

static int contains_used(const struct mig_layout *l, const struct mig_layout *cur)
{
	for (unsigned k = 0; k < cur->n; k++) {
		unsigned j;

		if (!cur->inst[k].used)
			continue;
		for (j = 0; j < l->n && !(l->inst[j].profile == cur->inst[k].profile && l->inst[j].start == cur->inst[k].start);
		     j++)
			;
		if (j == l->n)
			return 0;
	}
	return 1;
}

/* Every vector of free instances per resource that GPU g can offer. */
static void gpu_offers(const struct plan_gpu *g, struct vecset *out)
{
	const struct valid_layouts *v = valid_layouts_of(g->model);

	out->n = 0;
	for (unsigned i = 0; i < v->n; i++) {
		uint8_t *x;

		if (!contains_used(&v->l[i], &g->layout))
			continue;
		x = out->v[out->n++];
		memset(x, 0, sizeof(vec));
		for (unsigned k = 0; k < v->l[i].n; k++) {
			const struct mig_instance *in = &v->l[i].inst[k];
			int used = 0;

			for (unsigned j = 0; j < g->layout.n; j++)
				if (g->layout.inst[j].used && g->layout.inst[j].profile == in->profile &&
				    g->layout.inst[j].start == in->start)
					used = 1;
			for (unsigned r = 0; r < n_res && !used; r++)
				if (strcmp(res_name[r], g->model->profiles[in->profile].resource) == 0 && x[r] < res_total[r])
					x[r]++;
		}
	}
	maximal(out);
}

static void node_offers(const struct plan_node *n, struct vecset *acc, struct vecset *gpu, struct vecset *tmp)
{
	acc->n = 1;
	memset(acc->v[0], 0, sizeof(vec));
	for (unsigned g = 0; g < n->n_gpus; g++) {
		gpu_offers(&n->gpus[g], gpu);
		tmp->n = 0;
		for (unsigned a = 0; a < acc->n; a++)
			for (unsigned b = 0; b < gpu->n; b++) {
				uint8_t *x = tmp->v[tmp->n++];

				for (unsigned r = 0; r < n_res; r++) {
					unsigned s = acc->v[a][r] + gpu->v[b][r];
					x[r] = (uint8_t)(s < res_total[r] ? s : res_total[r]);
				}
				assert_true(tmp->n < MAX_VEC);
			}
		maximal(tmp);
		acc->n = tmp->n;
		memcpy(acc->v, tmp->v, tmp->n * sizeof(vec));
	}
}

/* The best placed-count vector (index 0 = highest priority) over every feasible set of pods. */
static void exhaustive(const struct plan_input *in, unsigned *best, unsigned n_levels, const int *level_prio)
{
	static struct vecset acc, gpu, tmp;
	static vec dem[1u << MAX_PODS];
	static uint8_t fits[1u << MAX_PODS], reach[1u << MAX_PODS], next[1u << MAX_PODS];
	unsigned np = in->n_pods, full = (1u << np) - 1;

	if (acc.v == NULL) {
		acc.v = malloc(MAX_VEC * sizeof(vec));
		gpu.v = malloc(MAX_VEC * sizeof(vec));
		tmp.v = malloc(MAX_VEC * sizeof(vec));
	}
	memset(dem[0], 0, sizeof(vec));
	for (unsigned m = 1; m <= full; m++) {
		unsigned i = (unsigned)__builtin_ctz(m);

		memcpy(dem[m], dem[m & (m - 1)], sizeof(vec));
		for (unsigned d = 0; d < in->pods[i].n_demands; d++)
			dem[m][res_index(in->pods[i].demands[d].resource)] += (uint8_t)in->pods[i].demands[d].count;
	}
	memset(reach, 0, full + 1);
	reach[0] = 1;
	for (unsigned n = 0; n < in->n_nodes; n++) {
		unsigned barred = 0; /* pods whose group does not allow node n */

		for (unsigned i = 0; i < np; i++)
			if (in->pods[i].group > 0 && !in->groups[in->pods[i].group - 1].allowed[n])
				barred |= 1u << i;
		node_offers(&in->nodes[n], &acc, &gpu, &tmp);
		for (unsigned m = 0; m <= full; m++) {
			unsigned k;

			for (k = 0; k < acc.n && !dominates(acc.v[k], dem[m]); k++)
				;
			fits[m] = k < acc.n && (m & barred) == 0;
		}
		memset(next, 0, full + 1);
		for (unsigned m = 0; m <= full; m++) {
			/* m = (pods on nodes before n) + (a subset s of m that fits on node n) */
			for (unsigned s = m;; s = (s - 1) & m) {
				if (fits[s] && reach[m ^ s]) {
					next[m] = 1;
					break;
				}
				if (s == 0)
					break;
			}
		}
		memcpy(reach, next, full + 1);
	}
	memset(best, 0, n_levels * sizeof(unsigned));
	for (unsigned m = 0; m <= full; m++) {
		unsigned cnt[8] = { 0 };

		if (!reach[m])
			continue;
		for (unsigned i = 0; i < np; i++)
			if (m & (1u << i))
				for (unsigned l = 0; l < n_levels; l++)
					if (in->pods[i].priority == level_prio[l])
						cnt[l]++;
		{
			unsigned l;

			for (l = 0; l < n_levels && cnt[l] == best[l]; l++)
				;
			if (l < n_levels && cnt[l] > best[l])
				memcpy(best, cnt, n_levels * sizeof(unsigned));
		}
	}
}

static int cmp_int_desc(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x > y ? -1 : x < y;
}

static void print_case(const struct plan_input *in)
{
	for (unsigned n = 0; n < in->n_nodes; n++)
		for (unsigned g = 0; g < in->nodes[n].n_gpus; g++) {
			const struct plan_gpu *pg = &in->nodes[n].gpus[g];
			char text[256];

			mig_layout_format(pg->model, &pg->layout, text, sizeof(text));
			printf("  node %u gpu %u %s: %s (used:", n, g, pg->model->name, text);
			for (unsigned k = 0; k < pg->layout.n; k++)
				printf(" %d", pg->layout.inst[k].used);
			printf(")\n");
		}
	for (unsigned g = 0; g < in->n_groups; g++) {
		printf("  group %u allows nodes:", g + 1);
		for (unsigned n = 0; n < in->n_nodes; n++)
			if (in->groups[g].allowed[n])
				printf(" %u", n);
		printf("\n");
	}
	for (unsigned i = 0; i < in->n_pods; i++) {
		printf("  pod %u prio %d group %u:", i, in->pods[i].priority, in->pods[i].group);
		for (unsigned d = 0; d < in->pods[i].n_demands; d++)
			printf(" %u x %s", in->pods[i].demands[d].count, in->pods[i].demands[d].resource);
		printf("\n");
	}
}

static const struct gen_params small = {
	.max_nodes = 4, .max_gpus_per_node = 3, .max_gpus_total = 8, .max_pods = MAX_PODS,
	.max_demands = 3, .max_count = 3, .max_levels = 4, .max_groups = 3,
};

static struct plan_cache *cache;

/* Shortfall against the optimum, summed over the cases run (for --report). */
static struct {
	unsigned cases, short_cases, short_top, pods_short, pods_optimal;
} gap;

/* Returns 0 if the planner's placed counts equal the exhaustive optimum for this seed. */
static int one_case(uint64_t seed, int verbose)
{
	static struct gen_case c;
	struct plan_output out;
	struct kerf_err err;
	int prios[MAX_PODS], levels[MAX_PODS];
	unsigned n_levels = 0, want[8], got[8] = { 0 };
	char msg[256];
	int rc = 0;

	gen_case(&c, seed, &small);
	n_res = 0;
	memset(res_total, 0, sizeof(res_total));
	for (unsigned i = 0; i < c.in.n_pods; i++) {
		prios[i] = c.in.pods[i].priority;
		for (unsigned d = 0; d < c.in.pods[i].n_demands; d++) {
			int r = res_index(c.in.pods[i].demands[d].resource);
			res_total[r] = (uint8_t)(res_total[r] + c.in.pods[i].demands[d].count);
		}
	}
	qsort(prios, c.in.n_pods, sizeof(int), cmp_int_desc);
	for (unsigned i = 0; i < c.in.n_pods; i++)
		if (n_levels == 0 || levels[n_levels - 1] != prios[i])
			levels[n_levels++] = prios[i];
	exhaustive(&c.in, want, n_levels, levels);
	if (plan_run_cached(cache, &c.in, &out, &err) != 0) {
		printf("seed %llu: plan_run failed: %s\n", (unsigned long long)seed, err.msg);
		return -1;
	}
	if (check_plan(&c.in, &out, msg, sizeof(msg)) != 0) {
		printf("seed %llu: unsafe plan: %s\n", (unsigned long long)seed, msg);
		rc = -1;
	}
	for (unsigned i = 0; i < out.n_assignments; i++)
		for (unsigned l = 0; l < n_levels; l++)
			if (c.in.pods[out.assignments[i].pod].priority == levels[l])
				got[l]++;
	gap.cases++;
	{
		unsigned w = 0, g = 0;

		for (unsigned l = 0; l < n_levels; l++)
			w += want[l], g += got[l];
		gap.pods_optimal += w;
		gap.pods_short += w > g ? w - g : 0;
	}
	if (memcmp(want, got, n_levels * sizeof(unsigned)) != 0) {
		gap.short_cases++;
		gap.short_top += n_levels > 0 && got[0] < want[0];
		if (verbose < 0)
			goto out; /* --report: counted, not printed */
		printf("seed %llu: placed by priority", (unsigned long long)seed);
		for (unsigned l = 0; l < n_levels; l++)
			printf(" [%d] planner %u exhaustive %u", levels[l], got[l], want[l]);
		printf("\n");
		rc = -1;
	}
	if (rc != 0 || verbose > 0)
		print_case(&c.in);
out:
	plan_output_free(&out);
	return rc;
}

static uint64_t only_seed;
static int have_seed;

static void test_planner_places_as_many_pods_per_priority_as_exhaustive_search(void **state)
{
	unsigned cases = case_count(3000, 2000), failed = 0;

	(void)state;
	cache = plan_cache_new();
	assert_non_null(cache);
	if (have_seed) {
		assert_int_equal(one_case(only_seed, 1), 0);
		plan_cache_free(cache);
		return;
	}
	for (unsigned s = 1; s <= cases; s++)
		failed += one_case(s, 0) != 0;
	plan_cache_free(cache);
	printf("exhaustive comparison: %u random clusters (seeds 1..%u), %u mismatches\n", cases, cases, failed);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_planner_places_as_many_pods_per_priority_as_exhaustive_search),
	};

	if (argc > 1 && strcmp(argv[1], "--report") == 0) {
		unsigned cases = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 3000;

		cache = plan_cache_new();
		if (cache == NULL)
			return 1;
		for (unsigned s = 1; s <= cases; s++)
			if (one_case(s, -1) != 0) /* plan_run failed, or broke a promise of plan.h */
				return 1;
		plan_cache_free(cache);
		printf("%u random small clusters (seeds 1..%u): %u placed fewer pods than the optimum (%.1f%%), "
		       "%u fewer at the top priority (%.1f%%); %u pods fewer out of %u placed by the optimum (%.1f%%)\n",
		       gap.cases, cases, gap.short_cases, 100.0 * gap.short_cases / (gap.cases ? gap.cases : 1),
		       gap.short_top, 100.0 * gap.short_top / (gap.cases ? gap.cases : 1), gap.pods_short,
		       gap.pods_optimal, 100.0 * gap.pods_short / (gap.pods_optimal ? gap.pods_optimal : 1));
		return 0;
	}
	if (argc > 1) {
		only_seed = strtoull(argv[1], NULL, 10);
		have_seed = 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
