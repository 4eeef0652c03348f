/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node.c — one node: the cheapest way to serve a demand vector with the node's GPUs.
 *
 * A set of pods fits on a node exactly when the sum of their demands is covered by the free instances
 * of some combination of reachable layouts, one per GPU (a pod's instances may sit on several GPUs of
 * its node). pl_node_cost() finds the cheapest such combination by dynamic programming over the GPUs,
 * the state being the demand still uncovered: at most prod(d[r] + 1) states, a few dozen in practice.
 * Each GPU's options are first projected onto the demanded resources (and clipped to the demand), which
 * collapses hundreds of layouts into a handful of distinct offers.
 *
 * Costs are packed (internal.h), so the DP minimises destroyed, then touched, then created, exactly and
 * lexicographically. Ties keep the earlier option, and options are sorted with the most useful layouts
 * first (gpu.c), which is where objective 4 is decided.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"

/* Demands whose DP would need more states than this are treated as not fitting: it takes a node asked
 * for hundreds of instances of many kinds at once, far beyond what 8 GPUs hold. */
#define NODE_MAX_STATES (1u << 18)

/* kerf_grow() (buf.h), with the no-growth case inline: these scratch arrays are checked on every call of
 * the DP, and almost always already fit. */
static inline int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	return need <= *cap ? 0 : kerf_grow(p, cap, need, elem, SIZE_MAX / elem, "planner scratch", NULL);
}

static int ensure_dp(struct pl_ctx *c, size_t states, size_t from_states)
{
	size_t cap = c->dp_cap;

	if (grow((void **)&c->dp_a, &cap, states, sizeof(uint64_t)) != 0)
		return -1;
	cap = c->dp_cap;
	if (grow((void **)&c->dp_b, &cap, states, sizeof(uint64_t)) != 0)
		return -1;
	cap = c->dp_cap;
	if (grow((void **)&c->live_a, &cap, states, sizeof(uint32_t)) != 0)
		return -1;
	cap = c->dp_cap;
	if (grow((void **)&c->live_b, &cap, states, sizeof(uint32_t)) != 0)
		return -1;
	c->dp_cap = cap;
	if (from_states > 0) {
		cap = c->from_cap;
		if (grow((void **)&c->dp_from, &cap, from_states, sizeof(uint32_t)) != 0)
			return -1;
		cap = c->from_cap;
		if (grow((void **)&c->dp_opt, &cap, from_states, sizeof(uint16_t)) != 0)
			return -1;
		c->from_cap = cap;
	}
	return 0;
}

static int ensure_rem(struct pl_ctx *c, size_t n)
{
	size_t cap = c->rem_cap;

	if (grow((void **)&c->rem_a, &cap, n, sizeof(uint16_t)) != 0)
		return -1;
	cap = c->rem_cap;
	if (grow((void **)&c->rem_b, &cap, n, sizeof(uint16_t)) != 0)
		return -1;
	c->rem_cap = cap;
	return 0;
}

/* Projects state s's options onto the k demanded resources res[] (clipped to want[]); keeps the offers
 * that no earlier, nowhere costlier offer matches or beats. Sets *n_out; -1 on ENOMEM. */
static int project_compute(struct pl_ctx *c, const struct pl_state *s, const unsigned *res, const uint16_t *want,
			   unsigned k, unsigned *n_out)
{
	const struct pl_model *pm = &c->models[s->model];
	int prof[MIG_MAX_PROFILES * MIG_MAX_MODELS];
	size_t cap;
	unsigned n = 0;

	for (unsigned j = 0; j < k; j++) {
		prof[j] = -1;
		for (unsigned p = 0; p < pm->m->n_profiles; p++)
			if (pm->res[p] == (int)res[j])
				prof[j] = (int)p;
	}
	if (grow((void **)&c->proj, &c->proj_cap, (size_t)(s->n_options + 1) * k, sizeof(uint16_t)) != 0)
		return -1;
	cap = c->projn_cap;
	if (grow((void **)&c->proj_cost, &cap, s->n_options + 1, sizeof(uint64_t)) != 0)
		return -1;
	cap = c->projn_cap;
	if (grow((void **)&c->proj_opt, &cap, s->n_options + 1, sizeof(uint16_t)) != 0)
		return -1;
	c->projn_cap = cap;
	for (unsigned o = 0; o < s->n_options; o++) {
		const struct pl_option *op = &s->options[o];
		uint16_t *v = &c->proj[(size_t)n * k];
		unsigned q;

		for (unsigned j = 0; j < k; j++) {
			unsigned have = prof[j] >= 0 ? op->cap[prof[j]] : 0;
			v[j] = (uint16_t)(have < want[j] ? have : want[j]);
		}
		for (q = 0; q < n; q++) {
			const uint16_t *w = &c->proj[(size_t)q * k];
			uint64_t qc = c->proj_cost[q];
			unsigned j;

			if (PL_COST_D(qc) > PL_COST_D(op->cost) || PL_COST_T(qc) > PL_COST_T(op->cost) ||
			    PL_COST_C(qc) > PL_COST_C(op->cost))
				continue;
			for (j = 0; j < k && w[j] >= v[j]; j++)
				;
			if (j == k)
				break;
		}
		if (q < n)
			continue;
		c->proj_cost[n] = op->cost;
		c->proj_opt[n] = (uint16_t)o;
		n++;
	}
	*n_out = n;
	return 0;
}

static int zero(const uint16_t *v, unsigned k)
{
	for (unsigned j = 0; j < k; j++)
		if (v[j] != 0)
			return 0;
	return 1;
}

/* Like project_compute(), but remembers the last query per state: while the greedy pass looks for a
 * node for one pod, every GPU in the same state is asked the same question. */
static int project(struct pl_ctx *c, struct pl_state *s, const unsigned *res, const uint16_t *want, unsigned k,
		   unsigned *n_out)
{
	struct pl_projcache *pc = &s->pc;
	size_t bytes;
	char *blk;
	unsigned n;

	if (pc->block != NULL && pc->k == k) {
		unsigned j;

		for (j = 0; j < k && pc->key[j] == res[j] && pc->key[k + j] == want[j]; j++)
			;
		if (j == k) {
			if (grow((void **)&c->proj, &c->proj_cap, (size_t)(pc->n + 1) * k, sizeof(uint16_t)) != 0)
				return -1;
			memcpy(c->proj, pc->vec, (size_t)pc->n * k * sizeof(uint16_t));
			memcpy(c->proj_cost, pc->cost, pc->n * sizeof(uint64_t));
			memcpy(c->proj_opt, pc->opt, pc->n * sizeof(uint16_t));
			*n_out = pc->n;
			return 0;
		}
	}
	if (project_compute(c, s, res, want, k, n_out) != 0)
		return -1;
	n = *n_out;
	bytes = n * sizeof(uint64_t) + (2 * (size_t)k + (size_t)n * k + n) * sizeof(uint16_t);
	blk = realloc(pc->block, bytes ? bytes : 1);
	if (blk == NULL)
		return -1;
	pc->block = blk;
	pc->k = k;
	pc->n = n;
	pc->cost = (uint64_t *)blk;
	pc->key = (uint16_t *)(blk + n * sizeof(uint64_t));
	pc->vec = pc->key + 2 * (size_t)k;
	pc->opt = pc->vec + (size_t)n * k;
	for (unsigned j = 0; j < k; j++) {
		pc->key[j] = (uint16_t)res[j];
		pc->key[k + j] = want[j];
	}
	memcpy(pc->vec, c->proj, (size_t)n * k * sizeof(uint16_t));
	memcpy(pc->cost, c->proj_cost, n * sizeof(uint64_t));
	memcpy(pc->opt, c->proj_opt, n * sizeof(uint16_t));
	return 0;
}

static int fast_fit(const struct pl_ctx *c, const struct pl_node *nd, const uint16_t *d)
{
	for (unsigned r = 0; r < c->n_res; r++)
		if (d[r] > nd->freecap[r])
			return 0;
	return 1;
}

/* The per-resource upper bound of what node n can offer, summed over its GPUs' best layouts. */
static int node_maxcap(struct pl_ctx *c, unsigned n)
{
	struct pl_node *nd = &c->nodes[n];

	if (nd->maxcap != NULL)
		return 0;
	nd->maxcap = calloc(c->n_res + 1, sizeof(uint16_t));
	if (nd->maxcap == NULL)
		return -1;
	for (unsigned g = 0; g < nd->n_gpus; g++) {
		struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
		const struct pl_model *pm = &c->models[s->model];

		pl_state_max(c, s);
		for (unsigned p = 0; p < pm->m->n_profiles; p++)
			if (pm->res[p] >= 0)
				nd->maxcap[pm->res[p]] = (uint16_t)(nd->maxcap[pm->res[p]] + s->max_count[p]);
	}
	return 0;
}

/* One DP layer: from every live state in a (listed in live_a, with its uncovered demand in rem_a), take
 * every offer of this GPU into b, listing b's live states in live_b / rem_b. Only live states are
 * visited: most of the prod(d + 1) states of a loaded node are never reached. Leaves a all-infeasible
 * again for reuse. Returns b's live count. */
static size_t layer(struct pl_ctx *c, size_t n_live, const size_t *stride, unsigned k, unsigned n_offers,
		    size_t from_base, int track)
{
	uint64_t *a = c->dp_a, *b = c->dp_b;
	uint32_t *live_a = c->live_a, *live_b = c->live_b;
	uint16_t *rem_a = c->rem_a, *rem_b = c->rem_b;
	size_t n_b = 0;

	for (size_t i = 0; i < n_live; i++) {
		size_t s = live_a[i];
		const uint16_t *rem = &rem_a[i * k];

		for (unsigned o = 0; o < n_offers; o++) {
			const uint16_t *v = &c->proj[(size_t)o * k];
			uint64_t nc = a[s] + c->proj_cost[o];
			size_t t = 0;

			for (unsigned j = 0; j < k; j++)
				t += (size_t)(rem[j] > v[j] ? rem[j] - v[j] : 0) * stride[j];
			if (b[t] == PL_INFEASIBLE) {
				uint16_t *r = &rem_b[n_b * k];

				for (unsigned j = 0; j < k; j++)
					r[j] = (uint16_t)(rem[j] > v[j] ? rem[j] - v[j] : 0);
				live_b[n_b++] = (uint32_t)t;
			}
			if (nc < b[t]) {
				b[t] = nc;
				if (track) {
					c->dp_from[from_base + t] = (uint32_t)s;
					c->dp_opt[from_base + t] = c->proj_opt[o];
				}
			}
		}
	}
	for (size_t i = 0; i < n_live; i++)
		a[live_a[i]] = PL_INFEASIBLE;
	c->dp_a = b;
	c->dp_b = a;
	c->live_a = live_b;
	c->live_b = live_a;
	c->rem_a = rem_b;
	c->rem_b = rem_a;
	return n_b;
}

/* The DP over the GPUs gpus[0..n_g) of node n for the demand want[] of resources res[] (k of them). */
static int dp_part(struct pl_ctx *c, unsigned n, const unsigned *gpus, unsigned n_g, const unsigned *res,
		   const uint16_t *want, unsigned k, uint64_t *cost, unsigned *choice, struct kerf_err *err)
{
	const struct pl_node *nd = &c->nodes[n];
	size_t stride[MIG_MAX_PROFILES * MIG_MAX_MODELS];
	size_t n_states = 1, start = 0, n_live;

	for (unsigned j = 0; j < k; j++) {
		if (n_states * ((size_t)want[j] + 1) > NODE_MAX_STATES) {
			*cost = PL_INFEASIBLE;
			return 0;
		}
		stride[j] = n_states;
		start += want[j] * n_states;
		n_states *= (size_t)want[j] + 1;
	}
	if (ensure_dp(c, n_states, choice ? n_states * n_g : 0) != 0 || ensure_rem(c, n_states * (k ? k : 1)) != 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory planning node %s", c->in->nodes[n].name);
	for (size_t s = 0; s < n_states; s++)
		c->dp_a[s] = c->dp_b[s] = PL_INFEASIBLE;
	c->dp_a[start] = 0;
	c->live_a[0] = (uint32_t)start;
	memcpy(c->rem_a, want, k * sizeof(uint16_t));
	n_live = 1;
	for (unsigned i = 0; i < n_g; i++) {
		struct pl_state *st = &c->states[c->gpu_state[nd->first + gpus[i]]];
		unsigned n_offers;

		if (pl_state_options(c, st, err) != 0)
			return -1;
		if (project(c, st, res, want, k, &n_offers) != 0)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory planning node %s", c->in->nodes[n].name);
		if (choice == NULL && n_offers == 1 && c->proj_cost[0] == 0 && zero(c->proj, k))
			continue; /* this GPU can offer nothing demanded, and changing it would only cost */
		n_live = layer(c, n_live, stride, k, n_offers, (size_t)i * n_states, choice != NULL);
	}
	*cost = c->dp_a[0];
	if (choice != NULL && *cost != PL_INFEASIBLE) {
		size_t s = 0;

		for (unsigned i = n_g; i-- > 0;) {
			choice[gpus[i]] = c->dp_opt[(size_t)i * n_states + s];
			s = c->dp_from[(size_t)i * n_states + s];
		}
	}
	return 0;
}

/*
 * A necessary condition, checked before any DP: the demand, counted in memory slices and in compute
 * slices (each resource at its smallest size among the node's models), must fit in what the used
 * instances leave of the node's GPUs. It ignores legal starts, so it never rejects a load that fits; it
 * rejects most of what a full node is asked, at the cost of a few additions.
 */
static int room_enough(const struct pl_ctx *c, const struct pl_node *nd, const uint16_t *d)
{
	unsigned long need_mem = 0, need_cmp = 0, have_mem = 0, have_cmp = 0;

	for (unsigned g = 0; g < nd->n_gpus; g++) {
		const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];

		have_mem += s->room_slices;
		have_cmp += s->room_compute;
	}
	for (unsigned r = 0; r < c->n_res; r++) {
		unsigned mem = ~0u, cmp = ~0u;

		if (d[r] == 0)
			continue;
		for (unsigned g = 0; g < nd->n_gpus; g++) {
			const struct pl_model *pm = &c->models[c->states[c->gpu_state[nd->first + g]].model];

			for (unsigned p = 0; p < pm->m->n_profiles; p++)
				if (pm->res[p] == (int)r) {
					mem = pm->m->profiles[p].memory_slices < mem ? pm->m->profiles[p].memory_slices : mem;
					cmp = pm->m->profiles[p].compute_slices < cmp ? pm->m->profiles[p].compute_slices : cmp;
				}
		}
		if (mem == ~0u)
			return 0;
		need_mem += (unsigned long)d[r] * mem;
		need_cmp += (unsigned long)d[r] * cmp;
	}
	return need_mem <= have_mem && need_cmp <= have_cmp;
}

static int offers(const struct pl_model *pm, unsigned r)
{
	for (unsigned p = 0; p < pm->m->n_profiles; p++)
		if (pm->res[p] == (int)r)
			return 1;
	return 0;
}

static unsigned find(unsigned *parent, unsigned x)
{
	while (parent[x] != x)
		x = parent[x] = parent[parent[x]];
	return x;
}

int pl_node_cost(struct pl_ctx *c, unsigned n, const uint16_t *d, uint64_t *cost, unsigned *choice,
		 struct kerf_err *err)
{
	const struct pl_node *nd = &c->nodes[n];
	unsigned parent[MIG_MAX_MODELS], present[MIG_MAX_MODELS], res[MIG_MAX_PROFILES * MIG_MAX_MODELS], gpus[PL_MAX_GPUS_PER_NODE];
	uint16_t want[MIG_MAX_PROFILES * MIG_MAX_MODELS];
	uint64_t total = 0;

	c->work++;
	for (unsigned g = 0; choice != NULL && g < nd->n_gpus; g++)
		choice[g] = PL_UNCHANGED;
	if (fast_fit(c, nd, d)) {
		*cost = 0;
		return 0;
	}
	if (node_maxcap(c, n) != 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory planning node %s", c->in->nodes[n].name);
	if (!room_enough(c, nd, d)) {
		*cost = PL_INFEASIBLE;
		return 0;
	}
	for (unsigned m = 0; m < c->n_models; m++) {
		parent[m] = m;
		present[m] = 0;
	}
	for (unsigned g = 0; g < nd->n_gpus; g++)
		present[c->states[c->gpu_state[nd->first + g]].model] = 1;
	/* GPUs of models that offer no common resource are independent: one small DP per group of models
	 * linked by a shared resource, instead of one DP whose states multiply across all of them. */
	for (unsigned r = 0; r < c->n_res; r++) {
		int first = -1;

		if (d[r] == 0)
			continue;
		if (d[r] > nd->maxcap[r]) {
			*cost = PL_INFEASIBLE; /* even the best layout of every GPU falls short */
			return 0;
		}
		for (unsigned g = 0; g < nd->n_gpus; g++) {
			unsigned m = c->states[c->gpu_state[nd->first + g]].model;

			if (!offers(&c->models[m], r))
				continue;
			if (first < 0)
				first = (int)m;
			else
				parent[find(parent, m)] = find(parent, (unsigned)first);
		}
	}
	for (unsigned root = 0; root < c->n_models; root++) {
		unsigned k = 0, n_g = 0;
		uint64_t part = 0;

		if (!present[root] || find(parent, root) != root)
			continue;
		for (unsigned r = 0; r < c->n_res; r++) {
			if (d[r] == 0)
				continue;
			for (unsigned m = 0; m < c->n_models; m++)
				if (present[m] && find(parent, m) == root && offers(&c->models[m], r)) {
					res[k] = r;
					want[k++] = d[r];
					break;
				}
		}
		if (k == 0)
			continue;
		for (unsigned g = 0; g < nd->n_gpus && n_g < sizeof(gpus) / sizeof(gpus[0]); g++)
			if (find(parent, c->states[c->gpu_state[nd->first + g]].model) == root)
				gpus[n_g++] = g;
		if (dp_part(c, n, gpus, n_g, res, want, k, &part, choice, err) != 0)
			return -1;
		if (part == PL_INFEASIBLE) {
			*cost = PL_INFEASIBLE;
			return 0;
		}
		total += part;
	}
	*cost = total;
	return 0;
}

int pl_node_cost_plus(struct pl_ctx *c, unsigned n, const struct pl_pod *p, uint64_t *cost, struct kerf_err *err)
{
	memcpy(c->tmp, c->nodes[n].load, c->n_res * sizeof(uint16_t));
	pl_add_demand(c->tmp, p, 1);
	return pl_node_cost(c, n, c->tmp, cost, NULL, err);
}
