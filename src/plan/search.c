/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.c — which pod goes to which node: a greedy pass, then (when the instance is small) an exact
 * branch and bound that starts from the greedy answer.
 *
 * Both work on the pods in decision order (priority descending, then input order) and on node loads
 * (the summed demand of the pods given to a node); whether a load fits, and at what cost, is
 * pl_node_cost()'s exact answer. Nothing here picks layouts: that is decided once per node at the end.
 *
 * Greedy: each pod goes to the node where it adds the least cost (destroyed, touched, created), the
 * first such node on ties; a pod that fits on no node is left out. Costs per (node, demand shape) are
 * cached until the node's load changes, so a pass over 1,000 nodes is mostly array reads.
 *
 * Exact: depth-first over pods, each either given to a node or left out, maximising the placed counts
 * per priority level lexicographically, then minimising the total cost. Pruning, each sound:
 *   - bound: the counts so far plus every remaining pod cannot beat the best found;
 *   - equal pods (same priority, same demands) are interchangeable: a later one never goes to an
 *     earlier node than its twin, and is left out when its twin was;
 *   - equal nodes (same GPU states) with equal loads are interchangeable: only the first is tried;
 *   - a (pod, loads) state reached again with no better counts than before is not searched again.
 * Phase 1 settles the counts; phase 2 then looks for a cheaper assignment with the same counts, within
 * a budget (docs/planner.md).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "hash.h"
#include "internal.h"

#define EXACT_BUDGET_COUNTS 100000u
#define EXACT_BUDGET_COST 30000u
#define CACHE_MAX_ENTRIES (1u << 22)

/* ---- the exact search's memo: fixed-length uint16 keys to one uint64, on the one dict (dict.h) --------- */

/*
 * Entries live in blocks of MEMO_BLOCK that are never moved or freed before the memo is, so the dict can
 * point at them; one allocation per block instead of one per entry keeps the search's allocations few.
 * The value comes first, the key follows it in the same entry.
 */
#define MEMO_BLOCK 1024u
#define MEMO_MAX_BLOCKS (1u << 22) /* 4 G entries: memory runs out first; the step budgets end far sooner */

struct memo_entry {
	uint64_t val;
	uint16_t key[];
};

struct memo {
	struct kerf_dict d;
	size_t klen;         /* uint16s a key */
	size_t entry;        /* bytes an entry, a multiple of 8 */
	char **blocks;
	size_t n_blocks, cap_blocks;
	unsigned used;       /* entries handed out of the last block */
};

struct memo_key {
	const uint16_t *key;
	size_t klen;
};

static uint64_t hash16(const uint16_t *k, size_t n)
{
	uint64_t h = KERF_FNV_OFFSET; /* FNV-1a over 16-bit items (hash.h's constants) */

	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * KERF_FNV_PRIME;
	return h;
}

static int memo_eq(const void *item, const void *key)
{
	const struct memo_entry *e = item;
	const struct memo_key *k = key;

	return memcmp(e->key, k->key, k->klen * sizeof(uint16_t)) == 0;
}

static void memo_init(struct memo *m, size_t klen, const char *what)
{
	memset(m, 0, sizeof(*m));
	kerf_dict_init(&m->d, (size_t)MEMO_MAX_BLOCKS * MEMO_BLOCK, what);
	m->klen = klen;
	m->entry = (sizeof(struct memo_entry) + klen * sizeof(uint16_t) + 7) & ~(size_t)7;
	m->used = MEMO_BLOCK;
}

static void memo_free(struct memo *m)
{
	for (size_t i = 0; i < m->n_blocks; i++)
		free(m->blocks[i]);
	free(m->blocks);
	kerf_dict_free(&m->d);
	memset(m, 0, sizeof(*m));
}

/* A fresh entry holding key, from the last block or a new one; NULL with err set when out of memory. */
static struct memo_entry *memo_new(struct memo *m, const uint16_t *key, struct kerf_err *err)
{
	struct memo_entry *e;

	if (m->used == MEMO_BLOCK) {
		char *b;

		if (kerf_grow(&m->blocks, &m->cap_blocks, m->n_blocks + 1, sizeof(*m->blocks), MEMO_MAX_BLOCKS, m->d.what,
			      err) != 0)
			return NULL;
		if ((b = malloc(MEMO_BLOCK * m->entry)) == NULL) {
			kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", m->d.what);
			return NULL;
		}
		m->blocks[m->n_blocks++] = b;
		m->used = 0;
	}
	e = (struct memo_entry *)(m->blocks[m->n_blocks - 1] + (size_t)m->used++ * m->entry);
	memcpy(e->key, key, m->klen * sizeof(uint16_t));
	return e;
}

/* Finds key; returns its value, creating it (with *fresh = 1) if absent; NULL with err set (KERF_ENOMEM). */
static uint64_t *memo_get(struct memo *m, const uint16_t *key, int *fresh, struct kerf_err *err)
{
	struct memo_key k = { key, m->klen };
	uint64_t h = hash16(key, m->klen);
	struct memo_entry *e = kerf_dict_find(&m->d, h, &k, memo_eq);

	*fresh = e == NULL;
	if (e == NULL && ((e = memo_new(m, key, err)) == NULL || kerf_dict_add(&m->d, h, e, err) != 0))
		return NULL; /* an entry handed out but not added is only unused space in its block */
	return &e->val;
}

/* ---- shared helpers ------------------------------------------------------------------------------ */

/*
 * The cheapest way to make room for pod p on node n by changing the layout chosen for one GPU only,
 * keeping the others as chosen: GPU g must then offer what the others leave uncovered, i.e.
 * need[r] = dem[r] - spare[r] + (what g's chosen layout offers of r). Options are sorted by cost, so the
 * first that covers need is g's cheapest. This is the move a person would make and costs one pass over
 * the options instead of the node DP; it may miss a cheaper change of two GPUs at once, and then only
 * costs the greedy pass a little quality (the exact search, on small inputs, does not use it).
 * Sets *cost to the node's new cost, or PL_INFEASIBLE when no single GPU can do it.
 */
static int one_gpu_recut(struct pl_ctx *c, unsigned n, const struct pl_pod *p, uint64_t *cost, unsigned *move_gpu,
			 unsigned *move_opt, struct kerf_err *err)
{
	const struct pl_node *nd = &c->nodes[n];
	uint64_t best = PL_INFEASIBLE;

	for (unsigned g = 0; g < nd->n_gpus; g++) {
		struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
		const struct pl_model *pm = &c->models[s->model];
		int need[MIG_MAX_PROFILES] = { 0 };
		const uint8_t *now;
		uint64_t now_cost;
		unsigned j;

		if (pl_state_options(c, s, err) != 0)
			return -1;
		now = nd->plan[g] == PL_UNCHANGED ? s->free_count : s->options[nd->plan[g]].cap;
		now_cost = nd->plan[g] == PL_UNCHANGED ? 0 : s->options[nd->plan[g]].cost;
		for (j = 0; j < p->n_dem; j++) {
			unsigned q;

			for (q = 0; q < pm->m->n_profiles && pm->res[q] != (int)p->dem_res[j]; q++)
				;
			if (q == pm->m->n_profiles && p->dem_cnt[j] > nd->spare[p->dem_res[j]])
				break; /* g cannot offer this resource and the others do not have enough */
		}
		if (j < p->n_dem)
			continue;
		for (unsigned q = 0; q < pm->m->n_profiles; q++) {
			int r = pm->res[q];

			if (r < 0)
				continue;
			need[q] = (int)now[q] - (int)nd->spare[r];
			for (j = 0; j < p->n_dem; j++)
				if (p->dem_res[j] == r)
					need[q] += p->dem_cnt[j];
		}
		for (unsigned o = 0; o < s->n_options; o++) {
			const struct pl_option *op = &s->options[o];
			unsigned q;

			if (nd->cost - now_cost + op->cost >= best)
				break; /* sorted by cost: nothing later is cheaper */
			for (q = 0; q < pm->m->n_profiles && (int)op->cap[q] >= need[q]; q++)
				;
			if (q == pm->m->n_profiles) {
				best = nd->cost - now_cost + op->cost;
				*move_gpu = g;
				*move_opt = o;
				break;
			}
		}
	}
	*cost = best;
	return 0;
}

/* Cost of node n serving its load plus pod p, or PL_INFEASIBLE: from the cheap moves, and when they fail
 * and exact is set, from the node DP. */
static int cost_with(struct pl_ctx *c, unsigned n, const struct pl_pod *p, int exact, uint64_t *cost,
		     struct kerf_err *err)
{
	const struct pl_node *nd = &c->nodes[n];
	unsigned j, move_gpu, move_opt;

	/* The layouts already chosen for the node's load have enough instances left over: same cost, and no
	 * cheaper one exists because cost only grows with demand. */
	for (j = 0; j < p->n_dem && p->dem_cnt[j] <= nd->spare[p->dem_res[j]]; j++)
		;
	if (j == p->n_dem) {
		*cost = nd->cost;
		return 0;
	}
	if (one_gpu_recut(c, n, p, cost, &move_gpu, &move_opt, err) != 0)
		return -1;
	if (*cost != PL_INFEASIBLE || !exact)
		return 0;
	memcpy(c->tmp, nd->load, c->n_res * sizeof(uint16_t));
	pl_add_demand(c->tmp, p, 1);
	return pl_node_cost(c, n, c->tmp, cost, NULL, err);
}

static void recompute_spare(struct pl_ctx *c, struct pl_node *nd)
{
	memset(nd->spare, 0, c->n_res * sizeof(uint16_t));
	for (unsigned g = 0; g < nd->n_gpus; g++) {
		const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
		const struct pl_model *pm = &c->models[s->model];

		for (unsigned p = 0; p < pm->m->n_profiles; p++) {
			unsigned have = nd->plan[g] == PL_UNCHANGED ? s->free_count[p] : s->options[nd->plan[g]].cap[p];

			if (pm->res[p] >= 0)
				nd->spare[pm->res[p]] = (uint16_t)(nd->spare[pm->res[p]] + have);
		}
	}
	for (unsigned r = 0; r < c->n_res; r++)
		nd->spare[r] = (uint16_t)(nd->spare[r] - nd->load[r]);
}

/*
 * Gives pod i to node n, whose cost with it the scan found to be `cost`, and updates the node's chosen
 * layouts (plan), cost and spare instances, as cheaply as the scan's answer allows: unchanged when spare
 * instances cover the pod, one GPU's option when a one-GPU re-cut does it at that cost, else the node DP.
 * The layouts output at the end come from the DP in any case (plan.c).
 */
static int give(struct pl_ctx *c, unsigned i, unsigned n, uint64_t cost, unsigned *choice, struct kerf_err *err)
{
	struct pl_node *nd = &c->nodes[n];
	const struct pl_pod *p = &c->pods[i];
	unsigned j, move_gpu = 0, move_opt = 0;
	uint64_t check;

	for (j = 0; j < p->n_dem && p->dem_cnt[j] <= nd->spare[p->dem_res[j]]; j++)
		;
	if (j < p->n_dem && one_gpu_recut(c, n, p, &check, &move_gpu, &move_opt, err) != 0)
		return -1;
	pl_add_demand(nd->load, p, 1);
	nd->version++;
	c->assign[i] = (int)n;
	if (j == p->n_dem) {
		for (j = 0; j < p->n_dem; j++)
			nd->spare[p->dem_res[j]] = (uint16_t)(nd->spare[p->dem_res[j]] - p->dem_cnt[j]);
		return 0;
	}
	if (check != PL_INFEASIBLE && check <= cost) {
		nd->plan[move_gpu] = move_opt;
		nd->cost = check;
		recompute_spare(c, nd);
		return 0;
	}
	if (pl_node_cost(c, n, nd->load, &check, choice, err) != 0)
		return -1;
	if (check == PL_INFEASIBLE) {
		/* Only when the load outgrows the DP's state limit (node.c): leave the pod out rather than
		 * plan what cannot be checked. */
		pl_add_demand(nd->load, p, -1);
		c->assign[i] = -1;
		return 0;
	}
	nd->cost = check;
	memcpy(nd->plan, choice, nd->n_gpus * sizeof(unsigned));
	recompute_spare(c, nd);
	return 0;
}

/* ---- greedy -------------------------------------------------------------------------------------- */

/*
 * Scarcity. A pod's candidates are the nodes it may run on whose GPUs' best layouts could offer each
 * resource it asks for (an upper bound: cheap, from each state's most instances per profile). Within a
 * priority level the greedy takes pods with fewer candidates first (a whole-GPU or two-instance pod that
 * fits on three nodes goes before a 1g pod that fits on all), and a pod with at most SCARCE_NODES
 * candidates puts "pressure" on them until its turn: every other pod prefers, after free instances
 * destroyed, the nodes that pods still to come depend on least. Without either, a flexible pod of a
 * higher priority takes the one node a scarce pod needed, and reordering alone cannot prevent that.
 *
 * Passes. What one pass leaves out tells the next what mattered: a pod left out is "boosted" (taken
 * first within its level, and it puts pressure on its candidates however many they are, more for each
 * pass it was left out of), and the pass is run again, up to GREEDY_PASSES times while it places more
 * (the "squeaky wheel"). The best pass (placed counts per level, then cost) is kept. Inputs larger than
 * GREEDY_PASSES_WORK pods x nodes get one pass.
 */
#define SCARCE_NODES 8
#define PRESSURE_UNIT (1u << 20)
#define GREEDY_PASSES 8
#define GREEDY_STALE 3 /* passes in a row without a better result before giving up */
#define GREEDY_PASSES_WORK 2000000u

struct scarcity {
	uint64_t *pressure; /* per node */
	uint16_t *offer;    /* per node and resource: an upper bound of what its GPUs can offer */
	unsigned **cand;    /* per sig: its candidates, once it puts pressure; else NULL */
	unsigned *n_cand;   /* per sig */
	unsigned *first;    /* per sig: a pod of that sig (an index into pods in the current order) */
};

static int cmp_scarcity(const void *x, const void *y, void *arg)
{
	const struct pl_pod *a = x, *b = y;
	const int *scarce_first = arg;

	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	if (a->boost != b->boost)
		return a->boost > b->boost ? -1 : 1;
	if (*scarce_first && a->n_cand != b->n_cand)
		return a->n_cand < b->n_cand ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int fits_offer(const struct pl_ctx *c, const struct scarcity *sc, const struct pl_pod *p, unsigned n)
{
	unsigned j;

	if (!pl_allowed(c, p, n))
		return 0;
	for (j = 0; j < p->n_dem && p->dem_cnt[j] <= sc->offer[(size_t)n * c->n_res + p->dem_res[j]]; j++)
		;
	return j == p->n_dem;
}

static int scarcity_init(struct pl_ctx *c, struct scarcity *sc, struct kerf_err *err)
{
	unsigned n_nodes = c->in->n_nodes, n_res = c->n_res;

	sc->offer = calloc((size_t)n_nodes * n_res + 1, sizeof(uint16_t));
	sc->first = calloc(c->n_sigs + 1, sizeof(unsigned));
	sc->pressure = calloc(n_nodes + 1, sizeof(uint64_t));
	sc->cand = calloc(c->n_sigs + 1, sizeof(unsigned *));
	sc->n_cand = calloc(c->n_sigs + 1, sizeof(unsigned));
	if (!sc->offer || !sc->first || !sc->pressure || !sc->cand || !sc->n_cand)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (unsigned s = 0; s < c->n_states; s++)
		pl_state_max(c, &c->states[s]);
	for (unsigned n = 0; n < n_nodes; n++) {
		const struct pl_node *nd = &c->nodes[n];

		for (unsigned g = 0; g < nd->n_gpus; g++) {
			const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
			const struct pl_model *pm = &c->models[s->model];

			for (unsigned q = 0; q < pm->m->n_profiles; q++)
				if (pm->res[q] >= 0)
					sc->offer[(size_t)n * n_res + pm->res[q]] += s->max_count[q];
		}
	}
	for (unsigned i = c->n_pods; i-- > 0;)
		sc->first[c->pods[i].sig] = i;
	for (unsigned s = 0; s < c->n_sigs; s++)
		for (unsigned n = 0; n < n_nodes && c->pods[sc->first[s]].missing < 0; n++)
			sc->n_cand[s] += (unsigned)fits_offer(c, sc, &c->pods[sc->first[s]], n);
	for (unsigned i = 0; i < c->n_pods; i++)
		c->pods[i].n_cand = sc->n_cand[c->pods[i].sig];
	return 0;
}

/* The pressure one pod puts on each of its candidates (0: none). */
static uint64_t pod_weight(const struct pl_pod *p)
{
	if (p->n_cand == 0 || (p->n_cand > SCARCE_NODES && p->boost == 0))
		return 0;
	return (uint64_t)PRESSURE_UNIT * (1 + p->boost) / p->n_cand;
}

/* Orders the pods for a pass and puts every pod's pressure on its candidates. */
static int scarcity_start(struct pl_ctx *c, struct scarcity *sc, int scarce_first, struct kerf_err *err)
{
	/* Levels are contiguous in decision order; this keeps them so and reorders within each. */
	qsort_r(c->pods, c->n_pods, sizeof(*c->pods), cmp_scarcity, &scarce_first);
	memset(sc->pressure, 0, c->in->n_nodes * sizeof(uint64_t));
	for (unsigned i = 0; i < c->n_pods; i++) {
		const struct pl_pod *p = &c->pods[i];
		uint64_t w = pod_weight(p);

		if (w == 0)
			continue;
		if (sc->cand[p->sig] == NULL) {
			unsigned k = 0;

			sc->cand[p->sig] = malloc((p->n_cand + 1) * sizeof(unsigned));
			if (sc->cand[p->sig] == NULL)
				return kerf_err_set(err, KERF_ENOMEM, "out of memory");
			for (unsigned n = 0; n < c->in->n_nodes && k < p->n_cand; n++)
				if (fits_offer(c, sc, p, n))
					sc->cand[p->sig][k++] = n;
		}
		for (unsigned k = 0; k < p->n_cand; k++)
			sc->pressure[sc->cand[p->sig][k]] += w;
	}
	return 0;
}

/* Pod p's turn has come: the nodes it depended on are relieved of its pressure. */
static void scarcity_release(struct scarcity *sc, const struct pl_pod *p)
{
	uint64_t w = pod_weight(p);

	for (unsigned k = 0; w != 0 && k < p->n_cand; k++)
		sc->pressure[sc->cand[p->sig][k]] -= w;
}

static void scarcity_free(struct pl_ctx *c, struct scarcity *sc)
{
	for (unsigned s = 0; sc->cand != NULL && s < c->n_sigs; s++)
		free(sc->cand[s]);
	free(sc->cand);
	free(sc->n_cand);
	free(sc->pressure);
	free(sc->offer);
	free(sc->first);
}

struct cache_entry {
	uint32_t version; /* node version the cost was computed for, +1 (0 = empty) */
	uint8_t exact;    /* cost is the DP's (or a feasible estimate), not "no cheap move" */
	uint64_t cost;
};

struct greedy {
	struct scarcity sc;
	struct cache_entry *cache;
	unsigned *choice, *cursor;
};

/* One pass over the pods, from empty loads. */
static int greedy_pass(struct pl_ctx *c, struct greedy *gr, int scarce_first, struct kerf_err *err)
{
	size_t n_nodes = c->in->n_nodes;

	for (unsigned n = 0; n < n_nodes; n++) {
		struct pl_node *nd = &c->nodes[n];

		memset(nd->load, 0, c->n_res * sizeof(uint16_t));
		nd->cost = 0;
		nd->version++;
		memcpy(nd->spare, nd->freecap, c->n_res * sizeof(uint16_t));
		for (unsigned g = 0; g < nd->n_gpus; g++)
			nd->plan[g] = PL_UNCHANGED;
	}
	memset(gr->cursor, 0, (c->n_sigs + 1) * sizeof(unsigned));
	if (scarcity_start(c, &gr->sc, scarce_first, err) != 0)
		return -1;
	for (unsigned i = 0; i < c->n_pods; i++) {
		const struct pl_pod *p = &c->pods[i];
		uint64_t best_delta = PL_INFEASIBLE, best_cost = 0, best_pressure = UINT64_MAX;
		int best = -1;

		c->assign[i] = -1;
		scarcity_release(&gr->sc, p);
		if (p->missing >= 0)
			continue;
		/* Next fit: the scan starts where the last pod of this shape went, so that the nodes filled
		 * before are not visited again by every pod (ties between nodes are broken by this order).
		 * Pass 0 tries the cheap moves (spare instances, re-cutting one GPU); only if no node can take
		 * the pod that way does pass 1 run the node DP, which can re-cut several GPUs at once. */
		for (int exact = 0; exact < 2 && best < 0; exact++) {
			for (unsigned step = 0, n = gr->cursor[p->sig]; step < n_nodes; step++, n = n + 1 == n_nodes ? 0 : n + 1) {
				struct cache_entry *ce = gr->cache ? &gr->cache[(size_t)n * c->n_sigs + p->sig] : NULL;
				uint64_t cost, delta, pressure = gr->sc.pressure[n];

				if (!pl_allowed(c, p, n))
					continue;
				if (ce != NULL && ce->version == c->nodes[n].version + 1 && (ce->exact || !exact)) {
					cost = ce->cost;
				} else {
					if (cost_with(c, n, p, exact, &cost, err) != 0)
						return -1;
					if (ce != NULL) {
						ce->version = c->nodes[n].version + 1;
						ce->cost = cost;
						ce->exact = (uint8_t)(exact || cost != PL_INFEASIBLE);
					}
				}
				if (cost == PL_INFEASIBLE)
					continue;
				/* A node's cost after cheap moves is an upper bound; the DP may find less. */
				delta = cost > c->nodes[n].cost ? cost - c->nodes[n].cost : 0;
				if (PL_COST_D(delta) < PL_COST_D(best_delta) ||
				    (PL_COST_D(delta) == PL_COST_D(best_delta) &&
				     (pressure < best_pressure || (pressure == best_pressure && delta < best_delta)))) {
					best_delta = delta;
					best_pressure = pressure;
					best_cost = cost;
					best = (int)n;
				}
				/* Nothing destroyed, at most one more GPU touched, and no pod to come depends on the node: no
				 * node can do much better. */
				if (PL_COST_D(delta) == 0 && PL_COST_T(delta) <= (delta != 0) && pressure == 0)
					break;
			}
		}
		if (best < 0)
			continue;
		gr->cursor[p->sig] = (unsigned)best;
		if (give(c, i, (unsigned)best, best_cost, gr->choice, err) != 0)
			return -1;
	}
	return 0;
}

/* Placed counts per level (into cnt) and total cost of the current assignment. */
static uint64_t tally(const struct pl_ctx *c, unsigned *cnt)
{
	uint64_t cost = 0;

	memset(cnt, 0, c->n_levels * sizeof(unsigned));
	for (unsigned i = 0; i < c->n_pods; i++)
		if (c->assign[i] >= 0)
			cnt[c->pods[i].level]++;
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		cost += c->nodes[n].cost;
	return cost;
}

int pl_greedy(struct pl_ctx *c, struct kerf_err *err)
{
	size_t n_nodes = c->in->n_nodes;
	struct greedy gr;
	struct pl_pod *best_pods = NULL;
	int *best_assign = NULL;
	unsigned *cnt = NULL, *best_cnt = NULL, max_gpus = 1, passes, stale = 0;
	uint64_t best_cost = 0;
	int rc = -1, best_is_last = 1;

	memset(&gr, 0, sizeof(gr));
	for (unsigned n = 0; n < n_nodes; n++)
		max_gpus = c->nodes[n].n_gpus > max_gpus ? c->nodes[n].n_gpus : max_gpus;
	gr.choice = malloc(max_gpus * sizeof(unsigned));
	gr.cursor = calloc(c->n_sigs + 1, sizeof(unsigned));
	cnt = calloc(c->n_levels + 1, sizeof(unsigned));
	best_cnt = calloc(c->n_levels + 1, sizeof(unsigned));
	if (gr.choice == NULL || gr.cursor == NULL || cnt == NULL || best_cnt == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	if (n_nodes * c->n_sigs <= CACHE_MAX_ENTRIES)
		gr.cache = calloc(n_nodes * c->n_sigs + 1, sizeof(*gr.cache));
	passes = (uint64_t)c->n_pods * n_nodes <= GREEDY_PASSES_WORK ? GREEDY_PASSES : 1;
	if (scarcity_init(c, &gr.sc, err) != 0 || greedy_pass(c, &gr, passes > 1, err) != 0)
		goto out;
	best_cost = tally(c, best_cnt);
	for (unsigned pass = 1; pass < passes && stale < GREEDY_STALE; pass++) {
		unsigned left = 0;
		uint64_t cost;
		int cmp = 0;

		for (unsigned i = 0; i < c->n_pods; i++)
			if (c->assign[i] < 0 && c->pods[i].missing < 0 && c->pods[i].n_cand > 0) {
				c->pods[i].boost++;
				left++;
			}
		if (left == 0)
			break;
		if (best_pods == NULL) {
			best_pods = malloc(c->n_pods * sizeof(*best_pods));
			best_assign = malloc(c->n_pods * sizeof(int));
			if (best_pods == NULL || best_assign == NULL) {
				kerf_err_set(err, KERF_ENOMEM, "out of memory");
				goto out;
			}
		}
		if (best_is_last) {
			memcpy(best_pods, c->pods, c->n_pods * sizeof(*best_pods));
			memcpy(best_assign, c->assign, c->n_pods * sizeof(int));
		}
		if (greedy_pass(c, &gr, 1, err) != 0)
			goto out;
		cost = tally(c, cnt);
		for (unsigned l = 0; l < c->n_levels && cmp == 0; l++)
			cmp = cnt[l] > best_cnt[l] ? 1 : cnt[l] < best_cnt[l] ? -1 : 0;
		best_is_last = cmp > 0 || (cmp == 0 && cost < best_cost);
		if (best_is_last) {
			memcpy(best_cnt, cnt, c->n_levels * sizeof(unsigned));
			best_cost = cost;
		}
		stale = cmp > 0 ? 0 : stale + 1;
	}
	if (!best_is_last) {
		/* Back to the best pass: its order, its assignment, and the loads and costs they give. */
		memcpy(c->pods, best_pods, c->n_pods * sizeof(*best_pods));
		memcpy(c->assign, best_assign, c->n_pods * sizeof(int));
		for (unsigned n = 0; n < n_nodes; n++) {
			memset(c->nodes[n].load, 0, c->n_res * sizeof(uint16_t));
			c->nodes[n].version++;
		}
		for (unsigned i = 0; i < c->n_pods; i++)
			if (c->assign[i] >= 0)
				pl_add_demand(c->nodes[c->assign[i]].load, &c->pods[i], 1);
		for (unsigned n = 0; n < n_nodes; n++)
			if (pl_node_cost(c, n, c->nodes[n].load, &c->nodes[n].cost, NULL, err) != 0)
				goto out;
	}
	rc = 0;
out:
	scarcity_free(c, &gr.sc);
	free(gr.cache);
	free(gr.choice);
	free(gr.cursor);
	free(best_pods);
	free(best_assign);
	free(cnt);
	free(best_cnt);
	return rc;
}

/* ---- exact --------------------------------------------------------------------------------------- */

struct bb {
	struct pl_ctx *c;
	unsigned n_nodes, n_res, n_levels;
	int *cur, *best;           /* per pod: node or -1 */
	unsigned *cnt, *best_cnt;  /* placed per level */
	unsigned *left;            /* per pod i: pods of i's level at positions >= i */
	unsigned *total;           /* pods per level */
	int *twin;                 /* per pod: the previous pod with equal level and demands, or -1 */
	uint64_t cur_cost, best_cost;
	uint64_t steps, budget;
	int phase;
	int exhausted;
	struct memo costs; /* (node, load) -> cost */
	struct memo seen;  /* (pod, every load) -> best counts prefix, packed */
	uint16_t *key;
	uint16_t *load_before; /* per depth, to undo */
	struct kerf_err *err;
	int failed;
	/* the room bound (room_init) */
	unsigned n_grp;
	int *res_grp;        /* per resource: its group (models linked by a resource they both offer) */
	unsigned *res_w;     /* per resource: fewest compute slices an instance of it takes */
	unsigned *room;      /* per node and group: compute slices not held by used instances */
	int *pod_grp;        /* per pod: its group, or -1 when its demands span groups */
	unsigned *pod_w;     /* per pod: fewest compute slices it takes */
	unsigned *by_w;      /* pods sorted by level, then weight */
	unsigned *lv_first;  /* per level: its first position in by_w */
	unsigned *free_g, *used_g; /* scratch per group */
};

/* lexicographic comparison of count vectors */
static int cmp_counts(const unsigned *a, const unsigned *b, unsigned n)
{
	for (unsigned l = 0; l < n; l++)
		if (a[l] != b[l])
			return a[l] < b[l] ? -1 : 1;
	return 0;
}

static int node_cost_memo(struct bb *b, unsigned n, const struct pl_pod *p, uint64_t *cost)
{
	struct pl_node *nd = &b->c->nodes[n];
	uint64_t *slot;
	int fresh;

	b->key[0] = (uint16_t)n;
	memcpy(&b->key[1], nd->load, b->n_res * sizeof(uint16_t));
	pl_add_demand(&b->key[1], p, 1);
	if ((slot = memo_get(&b->costs, b->key, &fresh, b->err)) == NULL)
		return -1;
	if (fresh && pl_node_cost(b->c, n, &b->key[1], slot, NULL, b->err) != 0)
		return -1;
	*cost = *slot;
	return 0;
}

/* True if the search below (i, loads) was already done from counts at least as good. */
static int seen_before(struct bb *b, unsigned i)
{
	struct pl_ctx *c = b->c;
	size_t klen = 1 + (size_t)b->n_nodes * b->n_res;
	uint64_t *slot;
	uint64_t packed = 0;
	int fresh;

	if (b->n_levels > 4)
		return 0; /* counts no longer pack into one word; the other prunings still apply */
	b->key[0] = (uint16_t)i;
	for (unsigned n = 0; n < b->n_nodes; n++)
		memcpy(&b->key[1 + (size_t)n * b->n_res], c->nodes[n].load, b->n_res * sizeof(uint16_t));
	/* What the twin rule lets the remaining pods do is part of the state too. */
	for (unsigned j = 0; j < c->n_pods; j++)
		b->key[klen + j] = (uint16_t)(j >= i && b->twin[j] >= 0 && (unsigned)b->twin[j] < i ? b->cur[b->twin[j]] + 2 : 0);
	for (unsigned l = 0; l < b->n_levels; l++)
		packed = (packed << 16) | b->cnt[l];
	if ((slot = memo_get(&b->seen, b->key, &fresh, b->err)) == NULL) {
		b->failed = -1;
		return 1;
	}
	if (!fresh && *slot >= packed)
		return 1;
	*slot = packed;
	return 0;
}

static int same_load(const struct bb *b, unsigned x, unsigned y)
{
	return memcmp(b->c->nodes[x].load, b->c->nodes[y].load, b->n_res * sizeof(uint16_t)) == 0;
}

/*
 * How many of the pods at positions >= i of pod i's level can still be placed, at most: each takes at
 * least its weight in compute slices of its group's GPUs, and a group has, over all nodes, the slices no
 * used instance holds less those the loads take. So the lightest remaining pods of each group are counted
 * while their weights fit. A relaxation (nodes and layouts pooled), hence sound; it bites when a family
 * of GPUs is nearly full, where counting every remaining pod left the search nothing to prune.
 */
static unsigned room_fit(struct bb *b, unsigned i)
{
	const struct pl_ctx *c = b->c;
	unsigned lv = c->pods[i].level, fit = 0;

	memset(b->free_g, 0, b->n_grp * sizeof(unsigned));
	for (unsigned n = 0; n < b->n_nodes; n++) {
		const uint16_t *load = c->nodes[n].load;

		memset(b->used_g, 0, b->n_grp * sizeof(unsigned));
		for (unsigned r = 0; r < b->n_res; r++)
			if (load[r] && b->res_grp[r] >= 0)
				b->used_g[b->res_grp[r]] += load[r] * b->res_w[r];
		for (unsigned g = 0; g < b->n_grp; g++) {
			unsigned room = b->room[(size_t)n * b->n_grp + g];

			b->free_g[g] += room > b->used_g[g] ? room - b->used_g[g] : 0;
		}
	}
	for (unsigned k = b->lv_first[lv]; k < b->lv_first[lv + 1]; k++) {
		unsigned j = b->by_w[k];

		if (j < i || c->pods[j].missing >= 0)
			continue;
		if (b->pod_grp[j] < 0) {
			fit++;
		} else if (b->pod_w[j] <= b->free_g[b->pod_grp[j]]) {
			b->free_g[b->pod_grp[j]] -= b->pod_w[j];
			fit++;
		}
	}
	return fit;
}

static int pruned(struct bb *b, unsigned i)
{
	unsigned lv = b->c->pods[i].level;
	unsigned ub[64], left = b->left[i];

	if (b->phase == 2 && b->cur_cost >= b->best_cost)
		return 1;
	if (b->room != NULL) {
		unsigned fit = room_fit(b, i);

		left = fit < left ? fit : left;
	}
	for (unsigned l = 0; l < b->n_levels; l++)
		ub[l] = l < lv ? b->cnt[l] : l == lv ? b->cnt[l] + left : b->total[l];
	if (b->phase == 1)
		return cmp_counts(ub, b->best_cnt, b->n_levels) <= 0;
	return cmp_counts(ub, b->best_cnt, b->n_levels) < 0;
}

static void record(struct bb *b)
{
	int better;

	if (b->phase == 1)
		better = cmp_counts(b->cnt, b->best_cnt, b->n_levels) > 0;
	else
		better = cmp_counts(b->cnt, b->best_cnt, b->n_levels) == 0 && b->cur_cost < b->best_cost;
	if (!better)
		return;
	memcpy(b->best, b->cur, b->c->n_pods * sizeof(int));
	memcpy(b->best_cnt, b->cnt, b->n_levels * sizeof(unsigned));
	b->best_cost = b->cur_cost;
}

static void dfs(struct bb *b, unsigned i)
{
	struct pl_ctx *c = b->c;
	const struct pl_pod *p;
	unsigned from = 0;

	if (b->failed || b->exhausted)
		return;
	if (++b->steps > b->budget) {
		b->exhausted = 1;
		return;
	}
	if (i == c->n_pods) {
		record(b);
		return;
	}
	if (b->n_levels <= 64 && pruned(b, i))
		return;
	if (b->phase == 1 && seen_before(b, i))
		return;
	p = &c->pods[i];
	if (p->missing < 0 && !(b->twin[i] >= 0 && b->cur[b->twin[i]] < 0)) {
		if (b->twin[i] >= 0)
			from = (unsigned)b->cur[b->twin[i]];
		for (unsigned n = from; n < b->n_nodes && !b->failed; n++) {
			struct pl_node *nd = &c->nodes[n];
			uint64_t cost = 0, old = nd->cost;
			unsigned m;

			if (!pl_allowed(c, p, n))
				continue;
			for (m = 0; m < n; m++)
				if (c->nodes[m].cls == nd->cls && same_load(b, m, n))
					break;
			if (m < n && m >= from)
				continue;
			if (node_cost_memo(b, n, p, &cost) != 0) {
				b->failed = -1;
				return;
			}
			if (cost == PL_INFEASIBLE)
				continue;
			pl_add_demand(nd->load, p, 1);
			nd->cost = cost;
			b->cur_cost += cost - old;
			b->cur[i] = (int)n;
			b->cnt[p->level]++;
			dfs(b, i + 1);
			b->cnt[p->level]--;
			b->cur[i] = -1;
			b->cur_cost -= cost - old;
			nd->cost = old;
			pl_add_demand(nd->load, p, -1);
		}
	}
	b->cur[i] = -1;
	dfs(b, i + 1);
}

static unsigned find_grp(unsigned *parent, unsigned m)
{
	while (parent[m] != m)
		m = parent[m] = parent[parent[m]];
	return m;
}

static int cmp_by_w(const void *x, const void *y, void *arg)
{
	const struct bb *b = arg;
	unsigned i = *(const unsigned *)x, j = *(const unsigned *)y;

	if (b->c->pods[i].level != b->c->pods[j].level)
		return b->c->pods[i].level < b->c->pods[j].level ? -1 : 1;
	if (b->pod_w[i] != b->pod_w[j])
		return b->pod_w[i] < b->pod_w[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* The tables of the room bound (room_fit). */
static int room_init(struct bb *b)
{
	struct pl_ctx *c = b->c;
	unsigned parent[MIG_MAX_MODELS], np = c->n_pods;

	b->n_grp = c->n_models ? c->n_models : 1;
	b->res_grp = malloc((b->n_res + 1) * sizeof(int));
	b->res_w = calloc(b->n_res + 1, sizeof(unsigned));
	b->room = calloc((size_t)b->n_nodes * b->n_grp + 1, sizeof(unsigned));
	b->pod_grp = malloc((np + 1) * sizeof(int));
	b->pod_w = calloc(np + 1, sizeof(unsigned));
	b->by_w = malloc((np + 1) * sizeof(unsigned));
	b->lv_first = calloc(b->n_levels + 2, sizeof(unsigned));
	b->free_g = calloc(b->n_grp, sizeof(unsigned));
	b->used_g = calloc(b->n_grp, sizeof(unsigned));
	if (!b->res_grp || !b->res_w || !b->room || !b->pod_grp || !b->pod_w || !b->by_w || !b->lv_first || !b->free_g ||
	    !b->used_g)
		return -1;
	for (unsigned m = 0; m < c->n_models; m++)
		parent[m] = m;
	for (unsigned r = 0; r < b->n_res; r++) {
		b->res_grp[r] = -1;
		for (unsigned m = 0; m < c->n_models; m++)
			for (unsigned q = 0; q < c->models[m].m->n_profiles; q++) {
				unsigned w = c->models[m].m->profiles[q].compute_slices;

				if (c->models[m].res[q] != (int)r)
					continue;
				if (b->res_grp[r] < 0 || w < b->res_w[r])
					b->res_w[r] = w;
				if (b->res_grp[r] < 0)
					b->res_grp[r] = (int)m;
				else
					parent[find_grp(parent, m)] = find_grp(parent, (unsigned)b->res_grp[r]);
			}
	}
	for (unsigned r = 0; r < b->n_res; r++)
		if (b->res_grp[r] >= 0)
			b->res_grp[r] = (int)find_grp(parent, (unsigned)b->res_grp[r]);
	for (unsigned n = 0; n < b->n_nodes; n++) {
		const struct pl_node *nd = &c->nodes[n];

		for (unsigned g = 0; g < nd->n_gpus; g++) {
			const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];

			b->room[(size_t)n * b->n_grp + find_grp(parent, s->model)] += s->room_compute;
		}
	}
	for (unsigned i = 0; i < np; i++) {
		const struct pl_pod *p = &c->pods[i];

		b->pod_grp[i] = p->n_dem ? b->res_grp[p->dem_res[0]] : -1;
		for (unsigned j = 0; j < p->n_dem; j++) {
			if (b->res_grp[p->dem_res[j]] != b->pod_grp[i])
				b->pod_grp[i] = -1;
			b->pod_w[i] += p->dem_cnt[j] * b->res_w[p->dem_res[j]];
		}
		b->by_w[i] = i;
		b->lv_first[p->level + 1]++;
	}
	for (unsigned l = 0; l < b->n_levels; l++)
		b->lv_first[l + 1] += b->lv_first[l];
	qsort_r(b->by_w, np, sizeof(unsigned), cmp_by_w, b);
	return 0;
}

static int bb_init(struct bb *b, struct pl_ctx *c, struct kerf_err *err)
{
	unsigned np = c->n_pods;

	memset(b, 0, sizeof(*b));
	b->c = c;
	b->err = err;
	b->n_nodes = c->in->n_nodes;
	b->n_res = c->n_res;
	b->n_levels = c->n_levels;
	b->cur = malloc((np + 1) * sizeof(int));
	b->best = malloc((np + 1) * sizeof(int));
	b->cnt = calloc(c->n_levels + 1, sizeof(unsigned));
	b->best_cnt = calloc(c->n_levels + 1, sizeof(unsigned));
	b->total = calloc(c->n_levels + 1, sizeof(unsigned));
	b->left = calloc(np + 1, sizeof(unsigned));
	b->twin = malloc((np + 1) * sizeof(int));
	b->key = calloc(2 + (size_t)b->n_nodes * b->n_res + b->n_res + np, sizeof(uint16_t));
	memo_init(&b->costs, 1 + b->n_res, "the exact search's node costs");
	memo_init(&b->seen, 1 + (size_t)b->n_nodes * b->n_res + np, "the exact search's visited states");
	if (!b->cur || !b->best || !b->cnt || !b->best_cnt || !b->total || !b->left || !b->twin || !b->key)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory in the exact search");
	if (room_init(b) != 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory in the exact search");
	for (unsigned i = np; i-- > 0;) {
		b->total[c->pods[i].level]++;
		b->left[i] = 1 + (i + 1 < np && c->pods[i + 1].level == c->pods[i].level ? b->left[i + 1] : 0);
	}
	for (unsigned i = 0; i < np; i++) {
		b->twin[i] = -1;
		for (unsigned j = i; j-- > 0 && c->pods[j].level == c->pods[i].level;)
			if (c->pods[j].sig == c->pods[i].sig) {
				b->twin[i] = (int)j;
				break;
			}
		b->cur[i] = -1;
	}
	return 0;
}

static void bb_free(struct bb *b)
{
	free(b->cur);
	free(b->best);
	free(b->cnt);
	free(b->best_cnt);
	free(b->total);
	free(b->left);
	free(b->twin);
	free(b->key);
	memo_free(&b->costs);
	memo_free(&b->seen);
	free(b->res_grp);
	free(b->res_w);
	free(b->room);
	free(b->pod_grp);
	free(b->pod_w);
	free(b->by_w);
	free(b->lv_first);
	free(b->free_g);
	free(b->used_g);
}

/* Back to the loads of the pods outside the search: none, or a node's fixed load (repair.c). */
static void clear_loads(struct pl_ctx *c)
{
	for (unsigned n = 0; n < c->in->n_nodes; n++) {
		struct pl_node *nd = &c->nodes[n];

		if (nd->fixed != NULL)
			memcpy(nd->load, nd->fixed, c->n_res * sizeof(uint16_t));
		else
			memset(nd->load, 0, c->n_res * sizeof(uint16_t));
		nd->cost = nd->fixed != NULL ? nd->fixed_cost : 0;
		nd->version++;
	}
}

int pl_exact(struct pl_ctx *c, int *complete, struct kerf_err *err)
{
	uint64_t steps;

	return pl_exact_run(c, EXACT_BUDGET_COUNTS, EXACT_BUDGET_COST, complete, &steps, err);
}

int pl_exact_run(struct pl_ctx *c, uint64_t budget_counts, uint64_t budget_cost, int *complete, uint64_t *steps,
		 struct kerf_err *err)
{
	struct bb b;
	int rc = -1;

	*complete = 0;
	*steps = 0;
	if (bb_init(&b, c, err) != 0)
		goto out;
	/* The greedy answer is the first incumbent. */
	memcpy(b.best, c->assign, c->n_pods * sizeof(int));
	for (unsigned i = 0; i < c->n_pods; i++)
		if (c->assign[i] >= 0)
			b.best_cnt[c->pods[i].level]++;
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		b.best_cost += c->nodes[n].cost;
	clear_loads(c);

	b.phase = 1;
	b.budget = budget_counts;
	dfs(&b, 0);
	*steps = b.steps;
	if (b.failed)
		goto out;
	*complete = !b.exhausted;
	if (b.exhausted)
		goto adopt;
	/* The greedy cost may belong to fewer placed pods: phase 2 starts from the phase 1 answer's cost. */
	b.best_cost = 0;
	{
		/* recompute the cost of b.best */
		for (unsigned i = 0; i < c->n_pods; i++)
			if (b.best[i] >= 0)
				pl_add_demand(c->nodes[b.best[i]].load, &c->pods[i], 1);
		for (unsigned n = 0; n < c->in->n_nodes; n++) {
			uint64_t cost;

			if (pl_node_cost(c, n, c->nodes[n].load, &cost, NULL, err) != 0)
				goto out;
			b.best_cost += cost;
		}
		clear_loads(c);
	}
	b.phase = 2;
	b.steps = 0;
	b.budget = budget_cost;
	dfs(&b, 0);
	*steps += b.steps;
	if (b.failed)
		goto out;
adopt:
	clear_loads(c);
	for (unsigned i = 0; i < c->n_pods; i++) {
		c->assign[i] = b.best[i];
		if (b.best[i] >= 0)
			pl_add_demand(c->nodes[b.best[i]].load, &c->pods[i], 1);
	}
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		if (pl_node_cost(c, n, c->nodes[n].load, &c->nodes[n].cost, NULL, err) != 0)
			goto out;
	rc = 0;
out:
	bb_free(&b);
	return rc;
}
