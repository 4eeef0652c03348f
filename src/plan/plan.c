/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan.c — plan_run(): check the input, build the per-run tables, search, then turn the node loads into
 * layouts, bindings and reasons.
 *
 * The method, its complexity and how far from optimal it can be are in docs/planner.md; in short:
 * per-model layout tables (gpu.c), per-state reachable layouts shared by every GPU in that state,
 * per-node exact DP (node.c), and across nodes a greedy pass followed, on small inputs, by an exact
 * branch and bound (search.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dict.h"
#include "hash.h"
#include "internal.h"

/* Inputs this small are searched exactly (the exhaustive comparison test stays well inside). A build with
 * KERF_PLAN_GREEDY_ONLY defined has no exact search: bench/plan builds one to measure what the exact search
 * is worth (docs/planner.md, "How far from optimal"). kerf itself is never built that way. */
#ifdef KERF_PLAN_GREEDY_ONLY
#define EXACT_MAX_NODES 0
#else
#define EXACT_MAX_NODES 8
#endif
#define EXACT_MAX_PODS 20
#define EXACT_MAX_RES 16
#define EXACT_MAX_LEVELS 4

/* ---- input checks -------------------------------------------------------------------------------- */

static int check_gpu(const struct plan_gpu *g, unsigned i, unsigned j, struct kerf_err *err)
{
	if (g->model == NULL)
		return kerf_err_set(err, KERF_EINVAL, "nodes[%u].gpus[%u].model: missing", i, j);
	for (unsigned k = 0; k < g->layout.n && k < MIG_MAX_INSTANCES; k++)
		if (g->layout.inst[k].start >= MIG_MAX_SLOTS)
			return kerf_err_set(err, KERF_EINVAL, "nodes[%u].gpus[%u].instances[%u].start: %u is past the last slot",
					    i, j, k, g->layout.inst[k].start);
	if (mig_layout_check(g->model, &g->layout, err) != 0)
		return kerf_err_path(err, "nodes[%u].gpus[%u]", i, j);
	for (unsigned k = 0; k < g->layout.n; k++)
		for (unsigned l = 0; l < k; l++)
			if (g->layout.inst[k].profile == g->layout.inst[l].profile &&
			    g->layout.inst[k].start == g->layout.inst[l].start)
				return kerf_err_set(err, KERF_EINVAL, "nodes[%u].gpus[%u].instances[%u]: same as instances[%u]",
						    i, j, k, l);
	return 0;
}

static int check_pod(const struct plan_pod *p, unsigned i, struct kerf_err *err)
{
	if (p->n_demands == 0)
		return kerf_err_set(err, KERF_EINVAL, "pending[%u].resources: asks for no MIG resource", i);
	if (p->n_demands > PLAN_MAX_DEMANDS)
		return kerf_err_set(err, KERF_EINVAL, "pending[%u].resources: %u resources, at most %d", i, p->n_demands,
				    PLAN_MAX_DEMANDS);
	for (unsigned j = 0; j < p->n_demands; j++) {
		const struct plan_demand *d = &p->demands[j];

		if (!mig_is_resource(d->resource))
			return kerf_err_set(err, KERF_EINVAL, "pending[%u].resources[%u]: \"%s\" is not a MIG resource (%s<profile>)",
					    i, j, d->resource, MIG_RESOURCE_PREFIX);
		if (d->count == 0 || d->count > 1000)
			return kerf_err_set(err, KERF_EINVAL, "pending[%u].resources[%u]: count %u is not in 1..1000", i, j,
					    d->count);
		for (unsigned k = 0; k < j; k++)
			if (strcmp(p->demands[k].resource, d->resource) == 0)
				return kerf_err_set(err, KERF_EINVAL, "pending[%u].resources[%u]: \"%s\" is also resources[%u]", i,
						    j, d->resource, k);
	}
	return 0;
}

static int check_input(const struct plan_input *in, struct kerf_err *err)
{
	for (unsigned i = 0; i < in->n_nodes; i++) {
		if (in->nodes[i].n_gpus > PL_MAX_GPUS_PER_NODE)
			return kerf_err_set(err, KERF_EINVAL, "nodes[%u].gpus: %u GPUs, at most %d on one node", i,
					    in->nodes[i].n_gpus, PL_MAX_GPUS_PER_NODE);
		for (unsigned j = 0; j < in->nodes[i].n_gpus; j++)
			if (check_gpu(&in->nodes[i].gpus[j], i, j, err) != 0)
				return -1;
	}
	for (unsigned i = 0; i < in->n_pods; i++) {
		if (check_pod(&in->pods[i], i, err) != 0)
			return -1;
		if (in->pods[i].group > in->n_groups || (in->pods[i].group > 0 && in->groups[in->pods[i].group - 1].allowed == NULL))
			return kerf_err_set(err, KERF_EINVAL, "pending[%u]: group %u, but the input has %u", i,
					    in->pods[i].group, in->n_groups);
	}
	return 0;
}

/* ---- tables for this run ------------------------------------------------------------------------- */

static int intern_resource(struct pl_ctx *c, const char *name)
{
	for (unsigned r = 0; r < c->n_res; r++)
		if (strcmp(c->res_name[r], name) == 0)
			return (int)r;
	c->res_name[c->n_res] = name;
	return (int)c->n_res++;
}

static int same_geometry(const struct mig_model *a, const struct mig_model *b)
{
	if (a->slots != b->slots || a->compute_slices != b->compute_slices || a->max_instances != b->max_instances ||
	    a->n_profiles != b->n_profiles)
		return 0;
	for (unsigned p = 0; p < a->n_profiles; p++) {
		const struct mig_profile *x = &a->profiles[p], *y = &b->profiles[p];

		if (x->compute_slices != y->compute_slices || x->memory_slices != y->memory_slices ||
		    x->max_instances != y->max_instances || x->flags != y->flags || x->n_starts != y->n_starts ||
		    memcmp(x->starts, y->starts, x->n_starts) != 0)
			return 0;
	}
	return 1;
}

/* ---- the optional cache of layout tables --------------------------------------------------------- */


struct plan_cache {
	unsigned n;
	struct mig_model geom[MIG_MAX_MODELS]; /* copies: the caller's models need not outlive the cache */
	struct pl_model tables[MIG_MAX_MODELS];
	struct pl_shapes shapes; /* keyed by tables[i].layouts, which live as long as the cache */
	size_t limit;            /* plan_cache_set_limit() */
};

struct plan_cache *plan_cache_new(void)
{
	struct plan_cache *cache = calloc(1, sizeof(struct plan_cache));

	if (cache != NULL)
		cache->limit = PLAN_CACHE_LIMIT;
	return cache;
}

void plan_cache_set_limit(struct plan_cache *cache, size_t bytes)
{
	cache->limit = bytes;
}

void plan_cache_usage(const struct plan_cache *cache, size_t *shapes, size_t *bytes)
{
	*shapes = cache->shapes.d.n;
	*bytes = cache->shapes.bytes;
}

void plan_cache_free(struct plan_cache *cache)
{
	if (cache == NULL)
		return;
	pl_shapes_free(&cache->shapes);
	for (unsigned i = 0; i < cache->n; i++)
		pl_model_free(&cache->tables[i]);
	free(cache);
}

/* The layout table for m's geometry, built on first use. NULL on ENOMEM or when the cache is full. */
static struct pl_model *cache_lookup(struct plan_cache *cache, const struct mig_model *m, struct kerf_err *err)
{
	for (unsigned i = 0; i < cache->n; i++)
		if (same_geometry(&cache->geom[i], m))
			return &cache->tables[i];
	if (cache->n == MIG_MAX_MODELS) {
		kerf_err_set(err, KERF_ENOMEM, "the planner cache holds %d GPU geometries already", MIG_MAX_MODELS);
		return NULL;
	}
	cache->geom[cache->n] = *m;
	if (pl_model_build(&cache->tables[cache->n], &cache->geom[cache->n], err) != 0)
		return NULL;
	return &cache->tables[cache->n++];
}

static int model_index(struct pl_ctx *c, const struct mig_model *m, struct kerf_err *err)
{
	for (unsigned i = 0; i < c->n_models; i++)
		if (c->models[i].m == m)
			return (int)i;
	if (c->n_models == MIG_MAX_MODELS)
		return kerf_err_set(err, KERF_EINVAL, "more than %d distinct GPU models", MIG_MAX_MODELS);
	/* Models of one family (A100, H100, H200, B200...) differ only in names: their layouts are the same
	 * sets of placements, enumerated once and shared. */
	for (unsigned i = 0; i < c->n_models; i++)
		if (same_geometry(c->models[i].m, m)) {
			c->models[c->n_models] = c->models[i];
			c->models[c->n_models].m = m;
			c->models[c->n_models].shared = 1;
			break;
		}
	if (c->models[c->n_models].m != m && c->cache != NULL) {
		struct pl_model *cached = cache_lookup(c->cache, m, err);

		if (cached == NULL)
			return -1;
		c->models[c->n_models] = *cached;
		c->models[c->n_models].m = m;
		c->models[c->n_models].shared = 1;
	}
	if (c->models[c->n_models].m != m && pl_model_build(&c->models[c->n_models], m, err) != 0)
		return -1;
	for (unsigned p = 0; p < m->n_profiles; p++) {
		c->models[c->n_models].res[p] = -1;
		for (unsigned r = 0; r < c->n_res; r++)
			if (strcmp(m->profiles[p].resource, c->res_name[r]) == 0)
				c->models[c->n_models].res[p] = (int)r;
	}
	return (int)c->n_models++;
}

/* Whether state item has key's model, layout and used set (what build_states() shares a state by). */
static int same_state(const void *item, const void *key)
{
	const struct pl_state *t = item, *s = key;

	return t->model == s->model && memcmp(&t->cur, &s->cur, sizeof(s->cur)) == 0 &&
	       memcmp(&t->used, &s->used, sizeof(s->used)) == 0;
}

/* Gives every GPU its state, sharing one struct pl_state between GPUs of equal model and layout. The dict
 * holds pointers into c->states, which is sized for one state a GPU up front and so never moves. */
static int build_states(struct pl_ctx *c, struct kerf_err *err)
{
	struct kerf_dict seen;
	unsigned g = 0;

	kerf_dict_init(&seen, (size_t)c->n_gpus + 1, "GPU states");
	c->states = calloc(c->n_gpus + 1, sizeof(*c->states));
	c->gpu_state = malloc((c->n_gpus + 1) * sizeof(unsigned));
	if (c->states == NULL || c->gpu_state == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (unsigned i = 0; i < c->in->n_nodes; i++) {
		for (unsigned j = 0; j < c->in->nodes[i].n_gpus; j++, g++) {
			const struct plan_gpu *pg = &c->in->nodes[i].gpus[j];
			struct pl_state s;
			const struct pl_state *t;
			int mi = model_index(c, pg->model, err);
			uint64_t h;

			if (mi < 0)
				goto err;
			memset(&s, 0, sizeof(s));
			s.model = (unsigned)mi;
			for (unsigned k = 0; k < pg->layout.n; k++) {
				const struct mig_instance *in = &pg->layout.inst[k];

				pl_bits_set(&s.cur, PL_ID(in->profile, in->start));
				if (in->used) {
					pl_bits_set(&s.used, PL_ID(in->profile, in->start));
					s.used_count[in->profile]++;
				} else {
					s.free_count[in->profile]++;
				}
			}
			{
				struct mig_layout used = { 0 };

				for (unsigned k = 0; k < pg->layout.n; k++)
					if (pg->layout.inst[k].used)
						used.inst[used.n++] = pg->layout.inst[k];
				s.room_slices = (uint8_t)(pg->model->slots -
							  (unsigned)__builtin_popcount(mig_layout_occupied(pg->model, &used)));
				s.room_compute = (uint8_t)(pg->model->compute_slices - mig_layout_compute(pg->model, &used));
			}
			h = kerf_hash_words(s.cur.w, PL_WORDS, kerf_hash_words(s.used.w, PL_WORDS, KERF_FNV_OFFSET + s.model));
			if ((t = kerf_dict_find(&seen, h, &s, same_state)) == NULL) {
				c->states[c->n_states] = s;
				t = &c->states[c->n_states];
				if (kerf_dict_add(&seen, h, &c->states[c->n_states], err) < 0)
					goto err;
				c->n_states++;
			}
			c->gpu_state[g] = (unsigned)(t - c->states);
		}
	}
	kerf_dict_free(&seen);
	return 0;
err:
	kerf_dict_free(&seen);
	return -1;
}

static int build_nodes(struct pl_ctx *c, struct kerf_err *err)
{
	unsigned g = 0;

	c->nodes = calloc(c->in->n_nodes + 1, sizeof(*c->nodes));
	if (c->nodes == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (unsigned i = 0; i < c->in->n_nodes; i++) {
		struct pl_node *nd = &c->nodes[i];

		nd->first = g;
		nd->n_gpus = c->in->nodes[i].n_gpus;
		nd->cls = i;
		nd->freecap = calloc(c->n_res + 1, sizeof(uint16_t));
		nd->load = calloc(c->n_res + 1, sizeof(uint16_t));
		nd->spare = calloc(c->n_res + 1, sizeof(uint16_t));
		nd->plan = calloc(nd->n_gpus + 1, sizeof(unsigned));
		if (nd->freecap == NULL || nd->load == NULL || nd->spare == NULL || nd->plan == NULL)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
		for (unsigned j = 0; j < nd->n_gpus; j++, g++) {
			const struct pl_state *s = &c->states[c->gpu_state[g]];
			const struct pl_model *pm = &c->models[s->model];

			for (unsigned p = 0; p < pm->m->n_profiles; p++)
				if (pm->res[p] >= 0)
					nd->freecap[pm->res[p]] = (uint16_t)(nd->freecap[pm->res[p]] + s->free_count[p]);
		}
	}
	return 0;
}

/* Whether every pod that may run on node a may run on node b, and the other way round. */
static int same_groups(const struct plan_input *in, unsigned a, unsigned b)
{
	for (unsigned g = 0; g < in->n_groups; g++)
		if (in->groups[g].allowed[a] != in->groups[g].allowed[b])
			return 0;
	return 1;
}

/* Nodes of one class have the same states in the same order, and the same pods may run on them:
 * interchangeable for the exact search. */
static void classify_nodes(struct pl_ctx *c)
{
	for (unsigned i = 0; i < c->in->n_nodes; i++) {
		struct pl_node *a = &c->nodes[i];

		for (unsigned j = 0; j < i; j++) {
			const struct pl_node *b = &c->nodes[j];

			if (b->cls == j && b->n_gpus == a->n_gpus && same_groups(c->in, i, j) &&
			    memcmp(&c->gpu_state[a->first], &c->gpu_state[b->first], a->n_gpus * sizeof(unsigned)) == 0) {
				a->cls = j;
				break;
			}
		}
	}
}

static int cmp_pod_order(const void *x, const void *y, void *arg)
{
	const struct plan_input *in = arg;
	const struct pl_pod *a = x, *b = y;
	int pa = in->pods[a->idx].priority, pb = in->pods[b->idx].priority;

	if (pa != pb)
		return pa > pb ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Same demands on the same nodes: pods interchangeable for the search. */
static int same_demand(const struct pl_pod *a, const struct pl_pod *b)
{
	if (a->n_dem != b->n_dem || a->group != b->group)
		return 0;
	for (unsigned j = 0; j < a->n_dem; j++) {
		unsigned k;

		for (k = 0; k < b->n_dem && !(b->dem_res[k] == a->dem_res[j] && b->dem_cnt[k] == a->dem_cnt[j]); k++)
			;
		if (k == b->n_dem)
			return 0;
	}
	return 1;
}

static int build_pods(struct pl_ctx *c, struct kerf_err *err)
{
	const struct plan_input *in = c->in;
	unsigned *sig_first;

	c->pods = calloc(in->n_pods + 1, sizeof(*c->pods));
	c->assign = malloc((in->n_pods + 1) * sizeof(int));
	sig_first = malloc((in->n_pods + 1) * sizeof(unsigned));
	if (c->pods == NULL || c->assign == NULL || sig_first == NULL) {
		free(sig_first);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	c->n_pods = in->n_pods;
	for (unsigned i = 0; i < in->n_pods; i++) {
		struct pl_pod *p = &c->pods[i];

		p->idx = i;
		p->group = in->pods[i].group;
		p->n_dem = in->pods[i].n_demands;
		p->missing = -1;
		for (unsigned j = 0; j < p->n_dem; j++) {
			int r = intern_resource(c, in->pods[i].demands[j].resource);
			p->dem_res[j] = (uint16_t)r;
			p->dem_cnt[j] = (uint16_t)in->pods[i].demands[j].count;
		}
	}
	qsort_r(c->pods, c->n_pods, sizeof(*c->pods), cmp_pod_order, (void *)in);
	for (unsigned i = 0; i < c->n_pods; i++) {
		struct pl_pod *p = &c->pods[i];
		unsigned s;

		if (i > 0 && in->pods[p->idx].priority == in->pods[c->pods[i - 1].idx].priority)
			p->level = c->pods[i - 1].level;
		else
			p->level = i == 0 ? 0 : c->pods[i - 1].level + 1;
		for (s = 0; s < c->n_sigs && !same_demand(&c->pods[sig_first[s]], p); s++)
			;
		if (s == c->n_sigs)
			sig_first[c->n_sigs++] = i;
		p->sig = s;
	}
	c->n_levels = c->n_pods ? c->pods[c->n_pods - 1].level + 1 : 0;
	free(sig_first);
	return 0;
}

/* A resource no model in the cluster offers makes its pod unplaceable; found once, named in the reason. */
static void mark_missing(struct pl_ctx *c)
{
	for (unsigned i = 0; i < c->n_pods; i++) {
		struct pl_pod *p = &c->pods[i];

		for (unsigned j = 0; j < p->n_dem && p->missing < 0; j++) {
			unsigned m;

			for (m = 0; m < c->n_models; m++) {
				unsigned q;

				for (q = 0; q < c->models[m].m->n_profiles && c->models[m].res[q] != (int)p->dem_res[j]; q++)
					;
				if (q < c->models[m].m->n_profiles)
					break;
			}
			if (m == c->n_models)
				p->missing = (int)j;
		}
	}
}

static void ctx_free(struct pl_ctx *c)
{
	for (unsigned i = 0; i < c->n_models; i++)
		if (!c->models[i].shared)
			pl_model_free(&c->models[i]);
	for (unsigned i = 0; c->states != NULL && i < c->n_states; i++)
		free(c->states[i].pc.block);
	pl_shapes_free(&c->own_shapes);
	for (unsigned i = 0; c->nodes != NULL && i < c->in->n_nodes; i++) {
		free(c->nodes[i].freecap);
		free(c->nodes[i].load);
		free(c->nodes[i].maxcap);
		free(c->nodes[i].spare);
		free(c->nodes[i].plan);
	}
	free(c->res_name);
	free(c->opt_scratch);
	free(c->states);
	free(c->gpu_state);
	free(c->nodes);
	free(c->pods);
	free(c->assign);
	free(c->dp_a);
	free(c->dp_b);
	free(c->live_a);
	free(c->live_b);
	free(c->rem_a);
	free(c->rem_b);
	free(c->dp_from);
	free(c->dp_opt);
	free(c->proj);
	free(c->proj_cost);
	free(c->proj_opt);
	free(c->tmp);
}

static int ctx_init(struct pl_ctx *c, struct plan_cache *cache, const struct plan_input *in, struct kerf_err *err)
{
	size_t max_res = 1;

	memset(c, 0, sizeof(*c));
	c->in = in;
	c->cache = cache;
	c->shapes = cache != NULL ? &cache->shapes : &c->own_shapes;
	for (unsigned i = 0; i < in->n_nodes; i++)
		c->n_gpus += in->nodes[i].n_gpus;
	for (unsigned i = 0; i < in->n_pods; i++)
		max_res += in->pods[i].n_demands;
	c->res_name = calloc(max_res, sizeof(*c->res_name));
	c->tmp = calloc(max_res, sizeof(uint16_t));
	if (c->res_name == NULL || c->tmp == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	if (build_pods(c, err) != 0 || build_states(c, err) != 0 || build_nodes(c, err) != 0)
		return -1;
	mark_missing(c);
	return 0;
}

/* ---- from loads to layouts and bindings ---------------------------------------------------------- */

struct out_build {
	size_t cap_changes;
	unsigned *pos;    /* input index -> decision position */
	unsigned *slot;   /* input index -> position in out->assignments */
	unsigned *choice; /* per GPU of a node */
	struct pl_bits *final, *bound;
};

static int push_change(struct plan_output *out, size_t *cap, const struct plan_change *ch)
{
	if (kerf_grow(&out->changes, cap, out->n_changes + 1, sizeof(*out->changes),
		      SIZE_MAX / sizeof(*out->changes), "changes", NULL) < 0)
		return -1;
	out->changes[out->n_changes++] = *ch;
	return 0;
}

/* Fixes the layouts of node n's GPUs for its load and records those that change. */
static int node_layouts(struct pl_ctx *c, struct out_build *ob, unsigned n, struct plan_output *out,
			struct kerf_err *err)
{
	const struct pl_node *nd = &c->nodes[n];
	uint64_t cost;

	if (pl_node_cost(c, n, nd->load, &cost, ob->choice, err) != 0)
		return -1;
	if (cost == PL_INFEASIBLE)
		return kerf_err_set(err, KERF_EINTERNAL, "node %s: its assigned pods no longer fit", c->in->nodes[n].name);
	for (unsigned g = 0; g < nd->n_gpus; g++) {
		const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
		const struct pl_model *pm = &c->models[s->model];
		const struct pl_option *o;
		struct plan_change ch;

		memset(&ob->bound[g], 0, sizeof(ob->bound[g]));
		ob->final[g] = s->cur;
		if (ob->choice[g] == PL_UNCHANGED || s->options[ob->choice[g]].cost == 0)
			continue;
		o = &s->options[ob->choice[g]];
		ob->final[g] = pm->layouts[o->layout].bits;
		memset(&ch, 0, sizeof(ch));
		ch.node = n;
		ch.gpu = g;
		ch.destroyed = PL_COST_D(o->cost);
		ch.created = PL_COST_C(o->cost);
		for (unsigned id = 0; id < PL_WORDS * 64; id++) {
			if (!pl_bits_has(&ob->final[g], id))
				continue;
			ch.layout.inst[ch.layout.n].profile = (uint8_t)PL_PROFILE(id);
			ch.layout.inst[ch.layout.n].start = (uint8_t)PL_START(id);
			ch.layout.inst[ch.layout.n].used = pl_bits_has(&s->used, id);
			ch.layout.n++;
		}
		mig_layout_sort(&ch.layout);
		if (push_change(out, &ob->cap_changes, &ch) != 0)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
		out->destroyed += ch.destroyed;
		out->created += ch.created;
		out->gpus_touched++;
	}
	return 0;
}

/* Takes one free, unbound instance of resource r on node n: an existing one if any (it is usable at
 * once), else a new one; lowest GPU, then lowest start. */
static int bind_one(const struct pl_ctx *c, struct out_build *ob, unsigned n, unsigned r, struct plan_binding *b)
{
	const struct pl_node *nd = &c->nodes[n];

	for (int fresh = 0; fresh < 2; fresh++) {
		for (unsigned g = 0; g < nd->n_gpus; g++) {
			const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
			const struct pl_model *pm = &c->models[s->model];

			for (unsigned p = 0; p < pm->m->n_profiles; p++) {
				if (pm->res[p] != (int)r)
					continue;
				for (unsigned k = 0; k < pm->m->profiles[p].n_starts; k++) {
					unsigned id = PL_ID(p, pm->m->profiles[p].starts[k]);

					if (!pl_bits_has(&ob->final[g], id) || pl_bits_has(&s->used, id) ||
					    pl_bits_has(&ob->bound[g], id) || pl_bits_has(&s->cur, id) == fresh)
						continue;
					pl_bits_set(&ob->bound[g], id);
					b->gpu = g;
					b->profile = (uint8_t)p;
					b->start = (uint8_t)PL_START(id);
					return 0;
				}
			}
		}
	}
	return -1;
}

static int bind_pod(struct pl_ctx *c, struct out_build *ob, unsigned n, unsigned idx, struct plan_assignment *a,
		    struct kerf_err *err)
{
	const struct plan_pod *pp = &c->in->pods[idx];
	const struct pl_pod *p = &c->pods[ob->pos[idx]];
	unsigned total = 0, k = 0;

	for (unsigned j = 0; j < p->n_dem; j++)
		total += p->dem_cnt[j];
	a->pod = idx;
	a->node = n;
	a->n_bindings = total;
	a->bindings = calloc(total ? total : 1, sizeof(*a->bindings));
	if (a->bindings == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (unsigned j = 0; j < p->n_dem; j++)
		for (unsigned x = 0; x < p->dem_cnt[j]; x++)
			if (bind_one(c, ob, n, p->dem_res[j], &a->bindings[k++]) != 0)
				return kerf_err_set(err, KERF_EINTERNAL, "pod %s: no instance of %s left to bind on %s",
						    pp->name, pp->demands[j].resource, c->in->nodes[n].name);
	return 0;
}

/* ---- reasons ------------------------------------------------------------------------------------- */

static unsigned node_offer(struct pl_ctx *c, unsigned n, unsigned r)
{
	const struct pl_node *nd = &c->nodes[n];
	unsigned sum = 0;

	for (unsigned g = 0; g < nd->n_gpus; g++) {
		const struct pl_state *s = &c->states[c->gpu_state[nd->first + g]];
		const struct pl_model *pm = &c->models[s->model];

		for (unsigned p = 0; p < pm->m->n_profiles; p++)
			if (pm->res[p] == (int)r)
				sum += s->max_count[p];
	}
	return sum;
}

static void demand_text(const struct pl_ctx *c, const struct pl_pod *p, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned j = 0; j < p->n_dem && used < n; j++) {
		int w = snprintf(buf + used, n - used, "%s%u x %s", j ? " + " : "", p->dem_cnt[j], c->res_name[p->dem_res[j]]);
		if (w < 0)
			return;
		used += (size_t)w;
	}
}

static int reason(struct pl_ctx *c, const struct pl_pod *p, char *out, size_t outsz, struct kerf_err *err)
{
	const char *prefix = MIG_RESOURCE_PREFIX;
	char want[160];
	unsigned fits = 0, first = 0, allowed = 0;

	if (p->missing >= 0) {
		snprintf(out, outsz, "no node has a GPU model with profile %s",
			 c->res_name[p->dem_res[p->missing]] + strlen(prefix));
		return 0;
	}
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		allowed += pl_allowed(c, p, n);
	if (allowed == 0) {
		snprintf(out, outsz,
			 "kube-scheduler would place it on none of the %u MIG node%s (its nodeSelector, node affinity and "
			 "tolerations, or too little CPU, memory or pod room left for its requests)",
			 c->in->n_nodes, c->in->n_nodes == 1 ? "" : "s");
		return 0;
	}
	for (unsigned s = 0; s < c->n_states; s++)
		pl_state_max(c, &c->states[s]);
	for (unsigned j = 0; j < p->n_dem; j++) {
		unsigned best = 0;

		for (unsigned n = 0; n < c->in->n_nodes; n++) {
			unsigned o = pl_allowed(c, p, n) ? node_offer(c, n, p->dem_res[j]) : 0;
			best = o > best ? o : best;
		}
		if (p->dem_cnt[j] > best) {
			snprintf(out, outsz, "needs %u x %s on one node; the most any node %scan offer is %u%s", p->dem_cnt[j],
				 c->res_name[p->dem_res[j]], p->group ? "it may run on " : "", best,
				 best == 0 ? " (instances in use leave no room for it)" : "");
			return 0;
		}
	}
	memset(c->tmp, 0, c->n_res * sizeof(uint16_t));
	for (unsigned j = 0; j < p->n_dem; j++)
		c->tmp[p->dem_res[j]] = p->dem_cnt[j];
	for (unsigned n = 0; n < c->in->n_nodes; n++) {
		uint64_t cost;

		if (!pl_allowed(c, p, n))
			continue;
		if (pl_node_cost(c, n, c->tmp, &cost, NULL, err) != 0)
			return -1;
		if (cost != PL_INFEASIBLE && fits++ == 0)
			first = n;
	}
	demand_text(c, p, want, sizeof(want));
	if (fits == 0)
		snprintf(out, outsz, "needs %s on one node; no node %scan offer all of it at once around the instances in use",
			 want, p->group ? "it may run on " : "");
	else if (fits == 1)
		snprintf(out, outsz,
			 "fits only on %s, whose free capacity went to pods of equal or higher priority; free capacity there or raise its priority",
			 c->in->nodes[first].name);
	else
		snprintf(out, outsz,
			 "fits on %s and %u other node%s, but their free capacity went to pods of equal or higher priority; add MIG capacity or raise its priority",
			 c->in->nodes[first].name, fits - 1, fits == 2 ? "" : "s");
	return 0;
}

static int write_unplaced(struct pl_ctx *c, struct out_build *ob, struct plan_output *out, struct kerf_err *err)
{
	unsigned n = 0;
	int *sig_done = NULL;
	char (*sig_text)[PLAN_REASON_MAX] = NULL;
	int rc = -1;

	for (unsigned i = 0; i < c->n_pods; i++)
		n += c->assign[i] < 0;
	out->unplaced = calloc(n + 1, sizeof(*out->unplaced));
	sig_done = calloc(c->n_sigs + 1, sizeof(int));
	sig_text = calloc(c->n_sigs + 1, sizeof(*sig_text));
	if (out->unplaced == NULL || sig_done == NULL || sig_text == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned idx = 0; idx < c->n_pods; idx++) {
		const struct pl_pod *p = &c->pods[ob->pos[idx]];
		struct plan_unplaced *u;

		if (c->assign[ob->pos[idx]] >= 0)
			continue;
		/* The reason depends only on the demands, so pods of one shape share the work. */
		if (!sig_done[p->sig]) {
			if (reason(c, p, sig_text[p->sig], sizeof(sig_text[0]), err) != 0)
				goto out;
			sig_done[p->sig] = 1;
		}
		u = &out->unplaced[out->n_unplaced++];
		u->pod = idx;
		snprintf(u->reason, sizeof(u->reason), "%s", sig_text[p->sig]);
	}
	rc = 0;
out:
	free(sig_done);
	free(sig_text);
	return rc;
}

static int write_output(struct pl_ctx *c, struct plan_output *out, struct kerf_err *err)
{
	struct out_build ob;
	unsigned max_gpus = 1, n_assigned = 0;
	unsigned *by_node_start = NULL, *by_node = NULL;
	int rc = -1;

	memset(&ob, 0, sizeof(ob));
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		max_gpus = c->nodes[n].n_gpus > max_gpus ? c->nodes[n].n_gpus : max_gpus;
	ob.pos = malloc((c->n_pods + 1) * sizeof(unsigned));
	ob.slot = malloc((c->n_pods + 1) * sizeof(unsigned));
	ob.choice = malloc(max_gpus * sizeof(unsigned));
	ob.final = malloc(max_gpus * sizeof(struct pl_bits));
	ob.bound = malloc(max_gpus * sizeof(struct pl_bits));
	by_node_start = calloc(c->in->n_nodes + 2, sizeof(unsigned));
	by_node = malloc((c->n_pods + 1) * sizeof(unsigned));
	if (!ob.pos || !ob.slot || !ob.choice || !ob.final || !ob.bound || !by_node_start || !by_node) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < c->n_pods; i++) {
		ob.pos[c->pods[i].idx] = i;
		if (c->assign[i] >= 0) {
			by_node_start[c->assign[i] + 1]++;
			n_assigned++;
		}
	}
	for (unsigned n = 0; n < c->in->n_nodes; n++)
		by_node_start[n + 1] += by_node_start[n];
	/* Pods of each node, in input order: a counting sort keyed by node. */
	{
		unsigned *fill = calloc(c->in->n_nodes + 1, sizeof(unsigned));

		if (fill == NULL) {
			kerf_err_set(err, KERF_ENOMEM, "out of memory");
			goto out;
		}
		for (unsigned idx = 0; idx < c->n_pods; idx++) {
			int n = c->assign[ob.pos[idx]];
			if (n >= 0)
				by_node[by_node_start[n] + fill[n]++] = idx;
		}
		free(fill);
	}
	out->assignments = calloc(n_assigned + 1, sizeof(*out->assignments));
	if (out->assignments == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	/* Assignments are ordered by pod: a pod's slot is the number of assigned pods before it. */
	{
		unsigned s = 0;

		for (unsigned idx = 0; idx < c->n_pods; idx++)
			if (c->assign[ob.pos[idx]] >= 0)
				ob.slot[idx] = s++;
	}
	for (unsigned n = 0; n < c->in->n_nodes; n++) {
		if (by_node_start[n] == by_node_start[n + 1])
			continue;
		if (node_layouts(c, &ob, n, out, err) != 0)
			goto out;
		for (unsigned k = by_node_start[n]; k < by_node_start[n + 1]; k++) {
			unsigned idx = by_node[k];

			if (bind_pod(c, &ob, n, idx, &out->assignments[ob.slot[idx]], err) != 0)
				goto out;
			out->n_assignments++;
		}
	}
	if (write_unplaced(c, &ob, out, err) != 0)
		goto out;
	rc = 0;
out:
	free(ob.pos);
	free(ob.slot);
	free(ob.choice);
	free(ob.final);
	free(ob.bound);
	free(by_node_start);
	free(by_node);
	return rc;
}

/* ---- the contract -------------------------------------------------------------------------------- */

int plan_run(const struct plan_input *in, struct plan_output *out, struct kerf_err *err)
{
	return plan_run_cached(NULL, in, out, err);
}

int plan_run_cached(struct plan_cache *cache, const struct plan_input *in, struct plan_output *out,
		    struct kerf_err *err)
{
	struct pl_ctx c;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_input(in, err) != 0)
		return -1;
	if (cache != NULL)
		cache->shapes.call++;
	if (ctx_init(&c, cache, in, err) != 0)
		goto out;
	if (pl_greedy(&c, err) != 0)
		goto out;
	if (in->n_nodes <= EXACT_MAX_NODES && c.n_pods <= EXACT_MAX_PODS && c.n_res <= EXACT_MAX_RES &&
	    c.n_levels <= EXACT_MAX_LEVELS) {
		int complete;

		classify_nodes(&c);
		if (pl_exact(&c, &complete, err) != 0)
			goto out;
	} else if (pl_repair(&c, err) != 0 || pl_lns(&c, err) != 0) {
		goto out;
	}
	if (write_output(&c, out, err) != 0)
		goto out;
	rc = 0;
out:
	ctx_free(&c);
	if (cache != NULL)
		pl_shapes_trim(&cache->shapes, cache->shapes.call, cache->limit);
	if (rc != 0)
		plan_output_free(out);
	return rc;
}

void plan_output_free(struct plan_output *out)
{
	for (unsigned i = 0; out->assignments != NULL && i < out->n_assignments; i++)
		free(out->assignments[i].bindings);
	free(out->assignments);
	free(out->changes);
	free(out->unplaced);
	memset(out, 0, sizeof(*out));
}
