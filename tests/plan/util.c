/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.c — random clusters, valid layouts and the plan checker for the planner's tests (see util.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

uint64_t rng_next(struct rng *r)
{
	/* splitmix64: small, fast, and every seed gives a good stream. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

unsigned rng_below(struct rng *r, unsigned n)
{
	return n ? (unsigned)(rng_next(r) % n) : 0;
}

/* ---- valid layouts, by brute force ---------------------------------------------------------------- */

static void collect(struct valid_layouts *v, struct mig_layout *l, unsigned from, const unsigned *pp,
		    const unsigned *ps, unsigned n, size_t *cap)
{
	if (mig_layout_check(v->m, l, NULL) != 0)
		return;
	if (v->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		v->l = realloc(v->l, *cap * sizeof(*v->l));
		if (v->l == NULL)
			abort();
	}
	v->l[v->n++] = *l;
	for (unsigned k = from; k < n; k++) {
		if (l->n == MIG_MAX_INSTANCES ||
		    (mig_layout_occupied(v->m, l) & mig_profile_mask(&v->m->profiles[pp[k]], ps[k])) != 0)
			continue;
		l->inst[l->n] = (struct mig_instance){ .profile = (uint8_t)pp[k], .start = (uint8_t)ps[k] };
		l->n++;
		collect(v, l, k + 1, pp, ps, n, cap);
		l->n--;
	}
}

const struct valid_layouts *valid_layouts_of(const struct mig_model *m)
{
	static struct valid_layouts cache[MIG_MAX_MODELS];
	static unsigned n_cache;
	unsigned pp[256], ps[256], n = 0;
	struct mig_layout l = { 0 };
	size_t cap = 0;

	for (unsigned i = 0; i < n_cache; i++)
		if (cache[i].m == m)
			return &cache[i];
	for (unsigned p = 0; p < m->n_profiles; p++)
		for (unsigned s = 0; s < m->profiles[p].n_starts; s++) {
			pp[n] = p;
			ps[n++] = m->profiles[p].starts[s];
		}
	cache[n_cache].m = m;
	collect(&cache[n_cache], &l, 0, pp, ps, n, &cap);
	return &cache[n_cache++];
}

/* ---- random clusters ------------------------------------------------------------------------------ */

static const char *const gen_models[] = {
	"H100-80GB-SXM", "A100-80GB", "A100-40GB", "A30-24GB", "H200-141GB-SXM", "RTX-PRO-6000-Blackwell",
};
#define N_GEN_MODELS (sizeof(gen_models) / sizeof(gen_models[0]))

static const struct mig_model *model_named(const char *name)
{
	return mig_catalog_find(mig_catalog_builtin(), name, NULL);
}

static void random_gpu(struct rng *r, struct plan_gpu *g, const struct mig_model *m, unsigned index)
{
	const struct valid_layouts *v = valid_layouts_of(m);
	unsigned used_pct = 20 + rng_below(r, 50);

	g->index = index;
	g->model = m;
	g->layout.n = 0;
	if (rng_below(r, 8) != 0)
		g->layout = v->l[rng_below(r, v->n)];
	for (unsigned k = 0; k < g->layout.n; k++)
		g->layout.inst[k].used = rng_below(r, 100) < used_pct;
	/* Shuffle, so that the planner cannot rely on any order of the current instances. */
	for (unsigned k = g->layout.n; k > 1; k--) {
		unsigned j = rng_below(r, k);
		struct mig_instance t = g->layout.inst[k - 1];

		g->layout.inst[k - 1] = g->layout.inst[j];
		g->layout.inst[j] = t;
	}
}

static void random_pod(struct rng *r, struct gen_case *c, struct plan_pod *pod, unsigned i, const struct gen_params *p)
{
	static const int prios[] = { 0, 1000, 10, -5, 100000, 7, 3, 1 };
	unsigned levels = p->max_levels ? p->max_levels : 1;
	unsigned n_dem = 1 + (rng_below(r, 10) < 3 ? 1 + (rng_below(r, 3) == 0) : 0);

	if (n_dem > p->max_demands)
		n_dem = p->max_demands;
	snprintf(pod->name, sizeof(pod->name), "ns-%u/pod-%u", i % 3, i);
	pod->priority = prios[rng_below(r, levels)];
	pod->n_demands = 0;
	for (unsigned d = 0; d < n_dem; d++) {
		const struct mig_model *m;
		const char *res;
		unsigned k;

		/* Mostly a profile some GPU in the cluster has; sometimes one of a model the cluster lacks. */
		if (c->in.n_nodes > 0 && rng_below(r, 10) != 0) {
			const struct plan_node *n = &c->in.nodes[rng_below(r, c->in.n_nodes)];
			m = n->gpus[rng_below(r, n->n_gpus)].model;
		} else {
			m = model_named(gen_models[rng_below(r, N_GEN_MODELS)]);
		}
		res = m->profiles[rng_below(r, m->n_profiles)].resource;
		for (k = 0; k < pod->n_demands && strcmp(pod->demands[k].resource, res) != 0; k++)
			;
		if (k < pod->n_demands)
			continue;
		snprintf(pod->demands[k].resource, sizeof(pod->demands[k].resource), "%s", res);
		pod->demands[k].count = 1 + (rng_below(r, 100) < 20 ? rng_below(r, p->max_count) : 0);
		pod->n_demands++;
	}
}

void gen_case(struct gen_case *c, uint64_t seed, const struct gen_params *p)
{
	struct rng r = { seed * 0x2545f4914f6cdd1dull + 1 };
	unsigned n_nodes = 1 + rng_below(&r, p->max_nodes), gpus = 0;

	memset(&c->in, 0, sizeof(c->in));
	c->in.nodes = c->nodes;
	c->in.pods = c->pods;
	for (unsigned i = 0; i < n_nodes && gpus < p->max_gpus_total; i++) {
		struct plan_node *n = &c->nodes[c->in.n_nodes++];
		const struct mig_model *m = model_named(gen_models[rng_below(&r, N_GEN_MODELS)]);
		unsigned want = 1 + rng_below(&r, p->max_gpus_per_node);

		if (want > p->max_gpus_total - gpus)
			want = p->max_gpus_total - gpus;
		snprintf(n->name, sizeof(n->name), "node-%u", i);
		n->gpus = &c->gpus[gpus];
		n->n_gpus = want;
		for (unsigned g = 0; g < want; g++) {
			/* Nodes are usually uniform; one in five mixes models. */
			const struct mig_model *gm = rng_below(&r, 5) == 0 ? model_named(gen_models[rng_below(&r, N_GEN_MODELS)]) : m;
			random_gpu(&r, &c->gpus[gpus + g], gm, g);
		}
		gpus += want;
	}
	{
		unsigned n_pods = rng_below(&r, p->max_pods + 1);

		for (unsigned i = 0; i < n_pods; i++) {
			c->pods[c->in.n_pods].group = 0; /* c may hold an earlier case */
			random_pod(&r, c, &c->pods[c->in.n_pods++], i, p);
		}
	}
	/* Node constraints: each group allows each node with probability 2/3, and some pods get a group. Drawn
	 * after everything else, so the clusters of a seed are the same with and without them. */
	if (p->max_groups > 0) {
		c->in.groups = c->groups;
		c->in.n_groups = rng_below(&r, (p->max_groups < GEN_MAX_GROUPS ? p->max_groups : GEN_MAX_GROUPS) + 1);
		for (unsigned g = 0; g < c->in.n_groups; g++) {
			c->groups[g].allowed = c->allowed[g];
			for (unsigned n = 0; n < c->in.n_nodes; n++)
				c->allowed[g][n] = rng_below(&r, 3) != 0;
		}
		for (unsigned i = 0; i < c->in.n_pods; i++)
			c->pods[i].group = rng_below(&r, c->in.n_groups + 1);
	}
}

unsigned case_count(unsigned full, unsigned sanitized)
{
	const char *f = getenv("KERF_FLAVOUR");

	return f != NULL && strcmp(f, "sanitized") == 0 ? sanitized : full;
}

/* ---- the checker ---------------------------------------------------------------------------------- */

#define FAIL(...)                                                                                                      \
	do {                                                                                                           \
		snprintf(msg, msgsz, __VA_ARGS__);                                                                     \
		goto out;                                                                                              \
	} while (0)

static int has_inst(const struct mig_layout *l, unsigned profile, unsigned start, int *used)
{
	for (unsigned k = 0; k < l->n; k++)
		if (l->inst[k].profile == profile && l->inst[k].start == start) {
			if (used)
				*used = l->inst[k].used;
			return 1;
		}
	return 0;
}

static int check_change(const struct plan_input *in, const struct plan_change *ch, char *msg, size_t msgsz)
{
	const struct plan_gpu *g = &in->nodes[ch->node].gpus[ch->gpu];
	struct kerf_err err;
	unsigned destroyed = 0, created = 0;
	int used;

	if (mig_layout_check(g->model, &ch->layout, &err) != 0)
		FAIL("node %u gpu %u: output layout invalid: %s", ch->node, ch->gpu, err.msg);
	for (unsigned k = 0; k < g->layout.n; k++) {
		const struct mig_instance *x = &g->layout.inst[k];
		int kept = has_inst(&ch->layout, x->profile, x->start, &used);

		if (x->used && (!kept || !used))
			FAIL("node %u gpu %u: used instance %s@%u moved or destroyed", ch->node, ch->gpu,
			     g->model->profiles[x->profile].name, x->start);
		destroyed += !kept;
	}
	for (unsigned k = 0; k < ch->layout.n; k++) {
		const struct mig_instance *x = &ch->layout.inst[k];
		int before = has_inst(&g->layout, x->profile, x->start, &used);

		if (x->used && (!before || !used))
			FAIL("node %u gpu %u: instance %s@%u marked used but was not", ch->node, ch->gpu,
			     g->model->profiles[x->profile].name, x->start);
		created += !before;
	}
	if (destroyed != ch->destroyed || created != ch->created)
		FAIL("node %u gpu %u: destroyed/created %u/%u reported as %u/%u", ch->node, ch->gpu, destroyed, created,
		     ch->destroyed, ch->created);
	if (destroyed + created == 0)
		FAIL("node %u gpu %u: listed as changed but unchanged", ch->node, ch->gpu);
	return 0;
out:
	return -1;
}

int check_plan(const struct plan_input *in, const struct plan_output *out, char *msg, size_t msgsz)
{
	unsigned *seen = calloc(in->n_pods + 1, sizeof(unsigned));
	const struct mig_layout **final = NULL;
	unsigned *gpu_base = calloc(in->n_nodes + 1, sizeof(unsigned));
	unsigned total_gpus = 0, destroyed = 0, created = 0;
	uint8_t *bound = NULL;
	int rc = -1;

	for (unsigned n = 0; n < in->n_nodes; n++) {
		gpu_base[n] = total_gpus;
		total_gpus += in->nodes[n].n_gpus;
	}
	final = calloc(total_gpus + 1, sizeof(*final));
	bound = calloc((size_t)(total_gpus + 1) * MIG_MAX_PROFILES * MIG_MAX_SLOTS, 1);
	if (!seen || !final || !gpu_base || !bound)
		FAIL("out of memory");
	for (unsigned n = 0; n < in->n_nodes; n++)
		for (unsigned g = 0; g < in->nodes[n].n_gpus; g++)
			final[gpu_base[n] + g] = &in->nodes[n].gpus[g].layout;
	for (unsigned i = 0; i < out->n_changes; i++) {
		const struct plan_change *ch = &out->changes[i];

		if (ch->node >= in->n_nodes || ch->gpu >= in->nodes[ch->node].n_gpus)
			FAIL("changes[%u]: no such GPU", i);
		if (i > 0 && (ch->node < out->changes[i - 1].node ||
			      (ch->node == out->changes[i - 1].node && ch->gpu <= out->changes[i - 1].gpu)))
			FAIL("changes[%u]: out of order or repeated", i);
		if (check_change(in, ch, msg, msgsz) != 0)
			goto out;
		final[gpu_base[ch->node] + ch->gpu] = &ch->layout;
		destroyed += ch->destroyed;
		created += ch->created;
	}
	if (destroyed != out->destroyed || created != out->created || out->gpus_touched != out->n_changes)
		FAIL("totals do not add up");
	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		const struct plan_pod *p;
		unsigned b = 0;

		if (a->pod >= in->n_pods || a->node >= in->n_nodes)
			FAIL("assignments[%u]: pod or node out of range", i);
		if (i > 0 && a->pod <= out->assignments[i - 1].pod)
			FAIL("assignments[%u]: not ordered by pod", i);
		if (in->pods[a->pod].group > 0 && !in->groups[in->pods[a->pod].group - 1].allowed[a->node])
			FAIL("assignments[%u]: pod %u is on node %u, which its group %u does not allow", i, a->pod, a->node,
			     in->pods[a->pod].group);
		if (seen[a->pod]++)
			FAIL("pod %u assigned twice", a->pod);
		p = &in->pods[a->pod];
		for (unsigned d = 0; d < p->n_demands; d++)
			for (unsigned k = 0; k < p->demands[d].count; k++, b++) {
				const struct plan_binding *bd;
				const struct plan_gpu *g;
				size_t slot;
				int used;

				if (b >= a->n_bindings)
					FAIL("pod %u: fewer bindings than instances asked for", a->pod);
				bd = &a->bindings[b];
				if (bd->gpu >= in->nodes[a->node].n_gpus)
					FAIL("pod %u: binding on a GPU its node lacks", a->pod);
				g = &in->nodes[a->node].gpus[bd->gpu];
				if (bd->profile >= g->model->n_profiles ||
				    strcmp(g->model->profiles[bd->profile].resource, p->demands[d].resource) != 0)
					FAIL("pod %u: binding %u does not match %s", a->pod, b, p->demands[d].resource);
				if (!has_inst(final[gpu_base[a->node] + bd->gpu], bd->profile, bd->start, &used) || used)
					FAIL("pod %u: binding %u names no free instance of the final layout", a->pod, b);
				slot = ((size_t)(gpu_base[a->node] + bd->gpu) * MIG_MAX_PROFILES + bd->profile) * MIG_MAX_SLOTS +
				       bd->start;
				if (bound[slot]++)
					FAIL("pod %u: binding %u names an instance already given to another pod", a->pod, b);
			}
		if (b != a->n_bindings)
			FAIL("pod %u: more bindings than instances asked for", a->pod);
	}
	for (unsigned i = 0; i < out->n_unplaced; i++) {
		const struct plan_unplaced *u = &out->unplaced[i];

		if (u->pod >= in->n_pods || (i > 0 && u->pod <= out->unplaced[i - 1].pod))
			FAIL("unplaced[%u]: out of range or order", i);
		if (seen[u->pod]++)
			FAIL("pod %u both placed and unplaced", u->pod);
		if (u->reason[0] == '\0')
			FAIL("pod %u unplaced without a reason", u->pod);
	}
	for (unsigned i = 0; i < in->n_pods; i++)
		if (seen[i] != 1)
			FAIL("pod %u neither placed nor unplaced", i);
	rc = 0;
out:
	free(seen);
	free(final);
	free(gpu_base);
	free(bound);
	return rc;
}
