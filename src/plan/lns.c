/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lns.c — after the repair, places pods still left out by ruin and recreate (large neighbourhood search).
 *
 * The repair's neighbourhood search is exact, so it proves little where its room bound (compute slices
 * pooled over a GPU family) cannot see fragmentation: a congested family where the pod left out needs a
 * long chain of moves, or pods of a higher priority that cut the whole GPUs a lower priority's 7g and
 * 4g pods need (docs/planner.md, "How far from optimal"). Ruin and recreate trades proof for many cheap
 * tries. Each iteration draws a level that has pods left out, and a pod of it; then it
 *   - ruins a few nodes (LNS_NODES_MIN..LNS_NODES_MAX): one to three that the pod fits on alone,
 *     the rest drawn from the nodes sharing a GPU model with them; it takes their pods off them, of
 *     every priority (at most LNS_POOL pods);
 *   - recreates: those pods and the pods left out that fit on a ruined node alone go back, higher
 *     priority first, within a level the largest (compute slices, with noise) first, each onto the
 *     ruined node with the least compute room left where it fits (best fit, which keeps emptier GPUs
 *     whole for the pods that need them), then the least added cost; a pod that fits on none stays out;
 *   - keeps the result when, of the pods it handled, no level places fewer and one places more, or every
 *     level as many at no higher cost (objectives 2 and 3, summed exactly over the ruined nodes); else
 *     every move is undone. Equal moves are kept so that the search drifts across plateaus.
 * Nothing but the ruined nodes and those pods changes, so a kept iteration places at least as many pods
 * at every priority, and never costs more at equal counts. The random draws come from a generator
 * seeded by the input's size: the same input gives the same plan. A budget of node DPs (LNS_WORK_TOTAL,
 * counted by c->work) bounds the worst case; LNS_STALL iterations in a row without a pod placed more (fewer
 * on small clusters) end it sooner, and it does not run at all on an overloaded cluster (more than
 * LNS_LEFT_MAX pods left out). The figures (nodes, noise, stall) are the best of the variants measured
 * (docs/planner.md); best fit by the least added cost instead of the least room placed fewer.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LNS_NODES_MIN 3u
#define LNS_NODES_MAX 24u
#define LNS_POOL 64u
#define LNS_WORK_TOTAL 200000u
#define LNS_STALL 300u
/* A small cluster offers few distinct ruins: there the stall is 4 tries per node (the same counts on the
 * quality benchmark as 300 everywhere, and what keeps test_plan_props's 16-node states quick). */
#define LNS_STALL_PER_NODE 4u
/* Past this many pods left out the cluster is overloaded: each try still places a pod now and then, so
 * the stall never ends the search and it spends its whole budget on nodes whose DPs are the dearest
 * (full 8-GPU nodes). On bench_plan's overloaded 1,000 x 8 cluster it placed 7 more of 12,000 pods
 * (2,975 left out) and took the plan from 0.70 to 2.15 s; the pods it would place wait anyway, and the
 * controller plans again when one finishes. The quality clusters leave at most a few dozen out. */
#define LNS_LEFT_MAX 256u

struct lns {
	struct pl_ctx *c;
	uint64_t rng;
	unsigned n_nodes;
	unsigned **cand; /* per sig: the nodes a pod of that shape fits on alone, or NULL until asked */
	unsigned *n_cand;
	unsigned char **fits;  /* per sig, per node: on cand (when cand is not NULL) */
	unsigned char *in_pool; /* per pod */
	uint64_t *models;      /* per node: bit per model of its GPUs (modulo 64) */
	unsigned *comp;        /* per resource: most compute slices of a profile offering it */
	unsigned *room;        /* per node: compute slices not held by used instances */
	unsigned char *ruined; /* per node */
	unsigned *scratch;     /* n_nodes */
	/* one iteration */
	unsigned nodes[LNS_NODES_MAX], n_ruin;
	unsigned pool[LNS_POOL], n_pool;
	int old_assign[LNS_POOL];
	uint64_t key[LNS_POOL];
	uint16_t *old_load; /* LNS_NODES_MAX x n_res */
	uint64_t old_cost[LNS_NODES_MAX];
	unsigned *before, *after; /* per level */
};

static uint64_t lns_rand(struct lns *l)
{
	/* xorshift64*: enough for choices, fixed by the seed */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 0x2545F4914F6CDD1Dull;
}

static unsigned lns_below(struct lns *l, unsigned n)
{
	return n == 0 ? 0 : (unsigned)(lns_rand(l) % n);
}

static unsigned pod_compute(const struct lns *l, const struct pl_pod *p)
{
	unsigned s = 0;

	for (unsigned j = 0; j < p->n_dem; j++)
		s += l->comp[p->dem_res[j]] * p->dem_cnt[j];
	return s;
}

/* Compute slices node n has left when its load is served (a best-fit measure, not a feasibility test). */
static unsigned room_left(const struct lns *l, unsigned n)
{
	const struct pl_ctx *c = l->c;
	unsigned used = 0;

	for (unsigned r = 0; r < c->n_res; r++)
		used += l->comp[r] * c->nodes[n].load[r];
	return used < l->room[n] ? l->room[n] - used : 0;
}

/* The nodes where pod i's shape fits on the node's free capacity alone (by the node DP). */
static int fits_alone(struct lns *l, unsigned i, struct kerf_err *err)
{
	struct pl_ctx *c = l->c;
	const struct pl_pod *p = &c->pods[i];

	if (l->cand[p->sig] != NULL)
		return 0;
	l->cand[p->sig] = malloc((l->n_nodes + 1) * sizeof(unsigned));
	l->fits[p->sig] = calloc(l->n_nodes + 1, 1);
	if (l->cand[p->sig] == NULL || l->fits[p->sig] == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	memset(c->tmp, 0, c->n_res * sizeof(uint16_t));
	pl_add_demand(c->tmp, p, 1);
	for (unsigned n = 0; n < l->n_nodes; n++) {
		uint64_t cost;

		if (!pl_allowed(c, p, n))
			continue;
		if (pl_node_cost(c, n, c->tmp, &cost, NULL, err) != 0)
			return -1;
		if (cost != PL_INFEASIBLE) {
			l->cand[p->sig][l->n_cand[p->sig]++] = n;
			l->fits[p->sig][n] = 1;
		}
	}
	return 0;
}

static void ruin_add_node(struct lns *l, unsigned n)
{
	if (!l->ruined[n] && l->n_ruin < LNS_NODES_MAX) {
		l->ruined[n] = 1;
		l->nodes[l->n_ruin++] = n;
	}
}

static void pool_add(struct lns *l, unsigned i)
{
	l->in_pool[i] = 1;
	l->old_assign[l->n_pool] = l->c->assign[i];
	l->pool[l->n_pool++] = i;
}

/* Chooses the nodes to ruin around pod x, left out: some it fits on alone, then related ones. */
static void choose_nodes(struct lns *l, unsigned x)
{
	const struct pl_pod *px = &l->c->pods[x];
	unsigned want = LNS_NODES_MIN + lns_below(l, LNS_NODES_MAX - LNS_NODES_MIN + 1);
	unsigned seeds = 1 + lns_below(l, 3), n_rel = 0;
	uint64_t mask = 0;

	l->n_ruin = 0;
	for (unsigned k = 0; k < seeds && k < l->n_cand[px->sig]; k++)
		ruin_add_node(l, l->cand[px->sig][lns_below(l, l->n_cand[px->sig])]);
	for (unsigned k = 0; k < l->n_ruin; k++)
		mask |= l->models[l->nodes[k]];
	for (unsigned n = 0; n < l->n_nodes; n++)
		if (!l->ruined[n] && (l->models[n] & mask) != 0)
			l->scratch[n_rel++] = n;
	while (l->n_ruin < want && n_rel > 0) {
		unsigned k = lns_below(l, n_rel);

		ruin_add_node(l, l->scratch[k]);
		l->scratch[k] = l->scratch[--n_rel];
	}
}

/* Takes their pods off the ruined nodes, the lowest priority first, while the pool has room (one place
 * kept for the pod left out). Pods of every level go: taking only the left-out pod's level and below
 * placed no more on the quality benchmark, since the pods in the way are often of a higher level. */
static void ruin(struct lns *l)
{
	struct pl_ctx *c = l->c;

	l->n_pool = 0;
	for (unsigned i = c->n_pods; i-- > 0 && l->n_pool < LNS_POOL - 1;) {
		if (c->assign[i] < 0 || !l->ruined[c->assign[i]])
			continue;
		pool_add(l, i);
		pl_add_demand(c->nodes[c->assign[i]].load, &c->pods[i], -1);
		c->assign[i] = -1;
	}
}

/* The pods left out that fit on a ruined node alone join the pool (x first). */
static int add_left_out(struct lns *l, unsigned x, struct kerf_err *err)
{
	struct pl_ctx *c = l->c;

	pool_add(l, x);
	for (unsigned i = 0; i < c->n_pods && l->n_pool < LNS_POOL; i++) {
		const struct pl_pod *p = &c->pods[i];

		if (l->in_pool[i] || c->assign[i] >= 0 || p->missing >= 0)
			continue;
		if (fits_alone(l, i, err) != 0)
			return -1;
		for (unsigned k = 0; k < l->n_ruin; k++)
			if (l->fits[p->sig][l->nodes[k]]) {
				pool_add(l, i);
				break;
			}
	}
	return 0;
}

/* The pool in recreate order: higher priority first; within a level the largest (compute slices, times a
 * random 0.5..1.5) first, then the fewest candidate nodes, then decision order. An insertion sort of
 * at most LNS_POOL pods, carrying each pod's node from before the ruin along. */
static void order_pool(struct lns *l)
{
	const struct pl_ctx *c = l->c;

	for (unsigned k = 0; k < l->n_pool; k++) {
		const struct pl_pod *p = &c->pods[l->pool[k]];

		l->key[k] = ((uint64_t)pod_compute(l, p) * (50 + lns_below(l, 101)) << 8) +
			    (255 - (p->n_cand < 255 ? p->n_cand : 255));
	}
	for (unsigned a = 1; a < l->n_pool; a++) {
		unsigned i = l->pool[a], b = a;
		int old = l->old_assign[a];
		uint64_t key = l->key[a];

		for (; b > 0; b--) {
			const struct pl_pod *p = &c->pods[l->pool[b - 1]], *q = &c->pods[i];

			if (p->level < q->level ||
			    (p->level == q->level && (l->key[b - 1] > key || (l->key[b - 1] == key && l->pool[b - 1] < i))))
				break;
			l->pool[b] = l->pool[b - 1];
			l->old_assign[b] = l->old_assign[b - 1];
			l->key[b] = l->key[b - 1];
		}
		l->pool[b] = i;
		l->old_assign[b] = old;
		l->key[b] = key;
	}
}

/* Saves the k-th ruined node's load and exact cost, for the comparison and the undo. */
static int save_node(struct lns *l, unsigned k, struct kerf_err *err)
{
	struct pl_ctx *c = l->c;
	unsigned n = l->nodes[k];

	memcpy(&l->old_load[(size_t)k * c->n_res], c->nodes[n].load, c->n_res * sizeof(uint16_t));
	/* the greedy's cost of a node is an upper bound (its cheap moves): the DP's, to compare */
	if (pl_node_cost(c, n, c->nodes[n].load, &l->old_cost[k], NULL, err) != 0)
		return -1;
	c->nodes[n].cost = l->old_cost[k];
	return 0;
}

/* The best of `nodes` for pod i: least room left where it fits, then least added cost. */
static int best_node(struct lns *l, unsigned i, const unsigned *nodes, unsigned n_nodes, int *where, uint64_t *where_cost,
		     struct kerf_err *err)
{
	struct pl_ctx *c = l->c;
	const struct pl_pod *p = &c->pods[i];
	unsigned best_room = ~0u;
	uint64_t best_add = PL_INFEASIBLE;

	*where = -1;
	for (unsigned k = 0; k < n_nodes; k++) {
		unsigned n = nodes[k], room, j;
		uint64_t cost, add;

		if (!pl_allowed(c, p, n))
			continue;
		if (c->nodes[n].maxcap != NULL) {
			for (j = 0; j < p->n_dem && p->dem_cnt[j] + c->nodes[n].load[p->dem_res[j]] <= c->nodes[n].maxcap[p->dem_res[j]]; j++)
				;
			if (j < p->n_dem)
				continue;
		}
		if (pl_node_cost_plus(c, n, p, &cost, err) != 0)
			return -1;
		if (cost == PL_INFEASIBLE)
			continue;
		room = room_left(l, n);
		add = cost > c->nodes[n].cost ? cost - c->nodes[n].cost : 0;
		if (room < best_room || (room == best_room && add < best_add)) {
			best_room = room;
			best_add = add;
			*where_cost = cost;
			*where = (int)n;
		}
	}
	return 0;
}

/* Puts pod i on the best ruined node, or leaves it out. */
static int insert(struct lns *l, unsigned i, struct kerf_err *err)
{
	struct pl_ctx *c = l->c;
	const struct pl_pod *p = &c->pods[i];
	uint64_t cost = 0;
	int where;

	if (best_node(l, i, l->nodes, l->n_ruin, &where, &cost, err) != 0)
		return -1;
	if (where >= 0) {
		c->assign[i] = where;
		pl_add_demand(c->nodes[where].load, p, 1);
		c->nodes[where].cost = cost;
	}
	return 0;
}

/* The pool's placed counts per level now against before the ruin: -1 when some level places fewer, 1 when
 * none does and one places more, else 0. A lexicographic comparison (the planner's objective 1) kept
 * plans that trade pods of the lowest level for one more at the level above it: on the quality benchmark
 * 11 pods lost on large clusters instead of 15, but the lowest level lost 2 where main lost 1 (the
 * repack, repair.c, keeps its changes by the same rule). */
static int compare_counts(struct lns *l)
{
	struct pl_ctx *c = l->c;

	memset(l->before, 0, c->n_levels * sizeof(unsigned));
	memset(l->after, 0, c->n_levels * sizeof(unsigned));
	for (unsigned k = 0; k < l->n_pool; k++) {
		unsigned lv = c->pods[l->pool[k]].level;

		l->before[lv] += l->old_assign[k] >= 0;
		l->after[lv] += c->assign[l->pool[k]] >= 0;
	}
	int more = 0;

	for (unsigned lv = 0; lv < c->n_levels; lv++) {
		if (l->after[lv] < l->before[lv])
			return -1;
		more |= l->after[lv] > l->before[lv];
	}
	return more;
}

/* One ruin and recreate around pod x, kept or undone; *gain is set when it placed more. */
static int iterate(struct lns *l, unsigned x, int *gain, struct kerf_err *err)
{
	struct pl_ctx *c = l->c;
	unsigned n_res = c->n_res;
	uint64_t old_total = 0, new_total = 0;
	int cmp;

	*gain = 0;
	choose_nodes(l, x);
	for (unsigned k = 0; k < l->n_ruin; k++)
		if (save_node(l, k, err) != 0)
			return -1;
	ruin(l);
	for (unsigned k = 0; k < l->n_ruin; k++) {
		unsigned n = l->nodes[k];

		if (pl_node_cost(c, n, c->nodes[n].load, &c->nodes[n].cost, NULL, err) != 0)
			return -1;
	}
	if (add_left_out(l, x, err) != 0)
		return -1;
	order_pool(l);
	for (unsigned k = 0; k < l->n_pool; k++)
		if (insert(l, l->pool[k], err) != 0)
			return -1;
	cmp = compare_counts(l);
	for (unsigned k = 0; cmp == 0 && k < l->n_ruin; k++) {
		old_total += l->old_cost[k];
		new_total += c->nodes[l->nodes[k]].cost;
	}
	if (cmp > 0 || (cmp == 0 && new_total <= old_total)) {
		for (unsigned k = 0; k < l->n_ruin; k++)
			c->nodes[l->nodes[k]].version++;
		*gain = cmp > 0;
	} else {
		for (unsigned k = 0; k < l->n_pool; k++)
			c->assign[l->pool[k]] = l->old_assign[k];
		for (unsigned k = 0; k < l->n_ruin; k++) {
			struct pl_node *nd = &c->nodes[l->nodes[k]];

			memcpy(nd->load, &l->old_load[(size_t)k * n_res], n_res * sizeof(uint16_t));
			nd->cost = l->old_cost[k];
		}
	}
	for (unsigned k = 0; k < l->n_ruin; k++)
		l->ruined[l->nodes[k]] = 0;
	for (unsigned k = 0; k < l->n_pool; k++)
		l->in_pool[l->pool[k]] = 0;
	return 0;
}

/* Whether pod i is left out and fits some node alone (a ruin has somewhere to start). */
static int waiting(const struct lns *l, unsigned i)
{
	const struct pl_ctx *c = l->c;

	return c->assign[i] < 0 && c->pods[i].missing < 0 && l->n_cand[c->pods[i].sig] > 0;
}

/* A pod left out: a level drawn among those with pods left out, then a pod of it; -1 when none is. Every
 * level gets its turns: drawing the highest level left out most of the time placed as many at the
 * higher levels but fewer at the lowest on the quality benchmark. */
static int pick_left_out(struct lns *l)
{
	const struct pl_ctx *c = l->c;
	unsigned n = 0, level = ~0u;

	for (unsigned i = 0; i < c->n_pods; i++) /* decision order: a level's pods are consecutive */
		if (waiting(l, i) && c->pods[i].level != level) {
			level = c->pods[i].level;
			l->scratch[n++] = level;
		}
	if (n == 0)
		return -1;
	level = l->scratch[lns_below(l, n)];
	n = 0;
	for (unsigned i = 0; i < c->n_pods; i++)
		if (waiting(l, i) && c->pods[i].level == level)
			l->scratch[n++] = i;
	return (int)l->scratch[lns_below(l, n)];
}

/* Pods left out that some node's model could serve (the others no ruin places). */
static unsigned left_out(const struct pl_ctx *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_pods; i++)
		n += c->assign[i] < 0 && c->pods[i].missing < 0;
	return n;
}

int pl_lns(struct pl_ctx *c, struct kerf_err *err)
{
	struct lns l;
	uint64_t start = c->work;
	unsigned stall = 0;
	int rc = -1;

	if (left_out(c) > LNS_LEFT_MAX)
		return 0;
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.n_nodes = c->in->n_nodes;
	l.rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)c->n_pods << 32 | l.n_nodes);
	l.cand = calloc(c->n_sigs + 1, sizeof(*l.cand));
	l.n_cand = calloc(c->n_sigs + 1, sizeof(unsigned));
	l.fits = calloc(c->n_sigs + 1, sizeof(*l.fits));
	l.in_pool = calloc(c->n_pods + 1, 1);
	l.models = calloc(l.n_nodes + 1, sizeof(uint64_t));
	l.room = calloc(l.n_nodes + 1, sizeof(unsigned));
	l.comp = calloc(c->n_res + 1, sizeof(unsigned));
	l.ruined = calloc(l.n_nodes + 1, 1);
	l.scratch = calloc(l.n_nodes + c->n_pods + 1, sizeof(unsigned));
	l.old_load = calloc((size_t)LNS_NODES_MAX * c->n_res + 1, sizeof(uint16_t));
	l.before = calloc(c->n_levels + 1, sizeof(unsigned));
	l.after = calloc(c->n_levels + 1, sizeof(unsigned));
	if (!l.cand || !l.n_cand || !l.fits || !l.in_pool || !l.models || !l.room || !l.comp || !l.ruined || !l.scratch || !l.old_load ||
	    !l.before || !l.after) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned m = 0; m < c->n_models; m++)
		for (unsigned p = 0; p < c->models[m].m->n_profiles; p++) {
			int r = c->models[m].res[p];

			if (r >= 0 && c->models[m].m->profiles[p].compute_slices > l.comp[r])
				l.comp[r] = c->models[m].m->profiles[p].compute_slices;
		}
	for (unsigned n = 0; n < l.n_nodes; n++)
		for (unsigned g = 0; g < c->nodes[n].n_gpus; g++) {
			const struct pl_state *s = &c->states[c->gpu_state[c->nodes[n].first + g]];

			l.models[n] |= 1ull << (s->model % 64);
			l.room[n] += s->room_compute;
		}
	for (unsigned i = 0; i < c->n_pods; i++)
		if (c->assign[i] < 0 && c->pods[i].missing < 0 && fits_alone(&l, i, err) != 0)
			goto out; /* (pods left out later are asked when they join a pool) */
	while (c->work - start < LNS_WORK_TOTAL && stall < LNS_STALL && stall < LNS_STALL_PER_NODE * l.n_nodes) {
		int x = pick_left_out(&l), gain;

		if (x < 0)
			break;
		if (iterate(&l, (unsigned)x, &gain, err) != 0)
			goto out;
		stall = gain ? 0 : stall + 1;
	}
	rc = 0;
out:
	for (unsigned s = 0; l.cand != NULL && l.fits != NULL && s < c->n_sigs; s++) {
		free(l.cand[s]);
		free(l.fits[s]);
	}
	free(l.cand);
	free(l.fits);
	free(l.in_pool);
	free(l.n_cand);
	free(l.models);
	free(l.room);
	free(l.comp);
	free(l.ruined);
	free(l.scratch);
	free(l.old_load);
	free(l.before);
	free(l.after);
	return rc;
}
