/* SPDX-License-Identifier: Apache-2.0 */
/*
 * internal.h — what the planner's source files share; not part of the contract (plan.h is).
 *
 * Vocabulary used across gpu.c, node.c, search.c and plan.c:
 *   placement  a (profile, start) pair of one model, numbered profile * MIG_MAX_SLOTS + start, so that a
 *              set of placements is a 256-bit set (struct pl_bits) and "layout A contains every used
 *              instance" is four ANDs.
 *   layout     one valid layout of a model (mig_layout_check rules), enumerated once per model per run.
 *   state      a GPU's current layout with its used flags; GPUs in the same state share one struct
 *              pl_state.
 *   shape      a state up to the model's name: (layout table, current layout, used set). Models of one
 *              geometry share a table, so an H100 and an A100 80GB cut alike have one shape, whose
 *              reachable layouts ("options") are computed at most once (struct pl_shape, gpu.c).
 *   resource   a Kubernetes resource some pending pod asks for, numbered 0..n_res-1 for this run.
 *   cost       the planner's secondary objectives packed into one integer so that adding and comparing
 *              costs is integer arithmetic: destroyed << 40 | touched << 20 | created.
 */
#ifndef KERF_PLAN_INTERNAL_H
#define KERF_PLAN_INTERNAL_H

#include <stdint.h>

#include "dict.h"
#include "plan.h"

/* More GPUs than any server holds (16 today); checked by plan_run(). */
#define PL_MAX_GPUS_PER_NODE 256

#define PL_WORDS 4
#define PL_ID(profile, start) ((unsigned)(profile) * MIG_MAX_SLOTS + (unsigned)(start))
#define PL_PROFILE(id) ((id) / MIG_MAX_SLOTS)
#define PL_START(id) ((id) % MIG_MAX_SLOTS)

#define PL_COST(d, t, c) (((uint64_t)(d) << 40) | ((uint64_t)(t) << 20) | (uint64_t)(c))
#define PL_COST_D(x) ((unsigned)((x) >> 40))
#define PL_COST_T(x) ((unsigned)(((x) >> 20) & 0xFFFFFu))
#define PL_COST_C(x) ((unsigned)((x)&0xFFFFFu))
#define PL_INFEASIBLE UINT64_MAX
#define PL_COST_RANK(d, c) ((d) * 512u + (c)) /* orders costs of one state: touched follows from d, c */
#define PL_GROW_UNKNOWN 0xFF
#define PL_UNCHANGED 0xFFFFFFFFu /* a node_cost choice: the GPU keeps its current layout */

struct pl_bits {
	uint64_t w[PL_WORDS];
};

/* One valid layout of a model. */
struct pl_layout {
	struct pl_bits bits;
	uint8_t count[MIG_MAX_PROFILES]; /* instances per profile */
	uint8_t grow; /* memory slices of the largest profile that could still be added, or PL_GROW_UNKNOWN */
	uint8_t n;    /* instances */
};

struct pl_model {
	const struct mig_model *m;
	unsigned n_layouts;
	struct pl_layout *layouts;
	/* Per placement id, the layouts holding it, as a bitmap of n_words words (has[id * n_words ...]): the
	 * layouts a state can reach are the AND of its used instances' rows, so finding them costs a few
	 * dozen words per used instance instead of a test of every layout. */
	unsigned n_words;
	uint64_t *has;
	/* ge[(p * (MIG_MAX_INSTANCES + 1) + v) * n_words ...]: the layouts with at least v instances of profile
	 * p, so that the most of p any reachable layout holds is found a word of layouts at a time. */
	uint64_t *ge;
	int res[MIG_MAX_PROFILES]; /* resource number of each profile, -1 when no pending pod asks for it */
	int shared;                /* layouts belong to an earlier model of the same geometry */
};

/* A reachable layout of a state, with what reaching it costs. */
struct pl_option {
	uint32_t layout;                /* index into pl_model.layouts */
	uint8_t cap[MIG_MAX_PROFILES]; /* free instances per profile it offers (its instances minus used ones) */
	uint64_t cost;                  /* PL_COST(destroyed free instances, touched 0/1, created instances) */
};

/* The last projection of a state's options (node.c): query (resources, demand) and its offers. */
struct pl_projcache {
	void *block; /* one allocation holding the arrays below */
	unsigned k, n;
	uint16_t *key; /* k resources, then k wanted counts */
	uint16_t *vec; /* n offers of k counts */
	uint64_t *cost;
	uint16_t *opt;
};

/* What a shape's options are, computed once per (table, cur, used) and shared by every state of that
 * shape (gpu.c keeps them in a struct pl_shapes: per plan_run(), or in a plan_cache across calls). */
struct pl_shape {
	const struct pl_layout *table; /* pl_model.layouts: the geometry */
	struct pl_bits cur, used;
	uint32_t seen;  /* the plan_cache call that last used it (eviction) */
	int have_options, have_max;
	unsigned n_options;
	struct pl_option *options;
	uint8_t max_count[MIG_MAX_PROFILES];
	size_t bytes; /* what it holds, for the cache's bound */
};

struct pl_shapes {
	struct kerf_dict d; /* of struct pl_shape, by shape_hash(); set up on first use (plan.c callocs this) */
	size_t bytes;  /* held by the shapes' options */
	uint32_t call; /* bumped per plan_run_cached() */
};

struct pl_state {
	unsigned model; /* index into pl_ctx.models */
	struct pl_shape *shape; /* NULL until options or max_count are needed */
	struct pl_bits cur, used;
	uint8_t used_count[MIG_MAX_PROFILES];
	uint8_t room_slices, room_compute;    /* memory and compute slices not held by used instances */
	uint8_t free_count[MIG_MAX_PROFILES]; /* free instances of the current layout, per profile */
	uint8_t max_count[MIG_MAX_PROFILES];  /* most free instances of each profile any option offers */
	int have_options;                     /* 0 not yet, 1 computed */
	int have_max;                         /* max_count computed (pl_state_max) */
	unsigned n_options;
	const struct pl_option *options; /* the shape's: sorted by cost, then usefulness; Pareto-filtered */
	struct pl_projcache pc;
};

struct pl_node {
	unsigned first; /* first GPU in pl_ctx.gpu_state (GPUs of all nodes, flattened in input order) */
	unsigned n_gpus;
	unsigned cls;      /* nodes with the same cls have the same GPU states in the same order */
	uint16_t *freecap; /* n_res: free instances of each resource in the current layouts */
	uint16_t *load;    /* n_res: demand of the pods assigned so far */
	uint16_t *maxcap;  /* n_res: most of each resource any layouts could offer; NULL until needed */
	uint16_t *spare;   /* n_res: free instances the layouts chosen for load leave over (greedy only) */
	unsigned *plan;    /* n_gpus: the option chosen for load per GPU, or PL_UNCHANGED (greedy only) */
	uint64_t cost;     /* cost of serving load */
	uint32_t version;  /* bumped whenever load changes */
	const uint16_t *fixed; /* n_res: load of pods an exact search leaves where they are (repair.c), or NULL */
	uint64_t fixed_cost;   /* cost of serving fixed */
};

struct pl_pod {
	unsigned idx;   /* position in plan_input.pods */
	unsigned level; /* 0 = highest priority */
	unsigned sig;   /* pods with equal sig have equal demands */
	unsigned n_dem;
	uint16_t dem_res[PLAN_MAX_DEMANDS];
	uint16_t dem_cnt[PLAN_MAX_DEMANDS];
	int missing; /* index into demands of a resource no node's model offers, else -1 */
	unsigned group; /* plan_pod.group: 0 = every node */
	unsigned n_cand; /* nodes whose best layouts could offer its demands (an upper bound; search.c) */
	unsigned boost;  /* greedy passes it was left out of (search.c) */
};

struct pl_ctx {
	const struct plan_input *in;
	struct plan_cache *cache; /* may be NULL */
	unsigned n_res;
	const char **res_name; /* n_res, pointing into the input */
	unsigned n_models;
	struct pl_model models[MIG_MAX_MODELS];
	unsigned n_states;
	struct pl_state *states;
	unsigned n_gpus;
	unsigned *gpu_state; /* per flattened GPU */
	struct pl_node *nodes;
	unsigned n_pods;
	struct pl_pod *pods; /* in decision order: priority descending, then input order */
	unsigned n_levels;
	unsigned n_sigs;
	int *assign; /* per decision-order pod: node, or -1 */
	/* scratch for node_cost */
	uint64_t *dp_a, *dp_b;      /* cost per DP state (all infeasible between calls) */
	uint32_t *live_a, *live_b;  /* the states of dp_a / dp_b that are reachable */
	uint16_t *rem_a, *rem_b;    /* ... and the demand each leaves uncovered, k per state */
	size_t rem_cap;
	uint32_t *dp_from;  /* materialisation only: per GPU and state, the predecessor state */
	uint16_t *dp_opt;   /* ... and the option taken */
	size_t dp_cap;      /* states the dp arrays hold */
	size_t from_cap;
	uint16_t *proj;     /* projected option capacities, k per offer */
	uint64_t *proj_cost;
	uint16_t *proj_opt;
	size_t proj_cap, projn_cap;
	uint16_t *tmp; /* n_res */
	/* scratch for pl_state_options (gpu.c): one block, grown as needed, kept for the whole plan_run(). Per
	 * state, the couple of hundred KiB it needs crossed glibc's trim threshold, so each free went back to
	 * the kernel and each state paid page faults again (docs/planner.md, "Speed and memory"). */
	void *opt_scratch;
	size_t opt_scratch_cap;
	uint64_t work; /* node_cost evaluations, for budgets */
	struct pl_shapes *shapes; /* the cache's, or own_shapes */
	struct pl_shapes own_shapes;
};

/* gpu.c */
int pl_model_build(struct pl_model *pm, const struct mig_model *m, struct kerf_err *err);
void pl_model_free(struct pl_model *pm);
int pl_state_options(struct pl_ctx *c, struct pl_state *s, struct kerf_err *err);
/* Fills s->max_count only: one pass over the model's layouts, much cheaper than the options. */
void pl_state_max(struct pl_ctx *c, struct pl_state *s);
/* Releases every shape (and what it holds) and zeroes the table. */
void pl_shapes_free(struct pl_shapes *t);
/* Drops the shapes no call since `keep_since` used, while t holds more than max_bytes. */
void pl_shapes_trim(struct pl_shapes *t, uint32_t keep_since, size_t max_bytes);
static inline void pl_bits_set(struct pl_bits *b, unsigned id)
{
	b->w[id / 64] |= 1ull << (id % 64);
}

static inline int pl_bits_has(const struct pl_bits *b, unsigned id)
{
	return (b->w[id / 64] >> (id % 64)) & 1u;
}

/* Adds pod p's demands to demand vector v (sign 1), or takes them off (sign -1). */
static inline void pl_add_demand(uint16_t *v, const struct pl_pod *p, int sign)
{
	for (unsigned j = 0; j < p->n_dem; j++)
		v[p->dem_res[j]] = (uint16_t)(v[p->dem_res[j]] + sign * p->dem_cnt[j]);
}

/* node.c */
/* Cost of serving demand vector d (n_res entries) on node n, or PL_INFEASIBLE. When choice is not NULL
 * it receives, per GPU of the node, the chosen option (index into its state's options, or PL_UNCHANGED
 * when the current free instances cover d). -1 on ENOMEM. */
int pl_node_cost(struct pl_ctx *c, unsigned n, const uint16_t *d, uint64_t *cost, unsigned *choice,
		 struct kerf_err *err);
/* pl_node_cost() of node n's load plus pod p (c->tmp is the scratch). */
int pl_node_cost_plus(struct pl_ctx *c, unsigned n, const struct pl_pod *p, uint64_t *cost, struct kerf_err *err);

/* search.c */
int pl_greedy(struct pl_ctx *c, struct kerf_err *err);
int pl_exact(struct pl_ctx *c, int *improved, struct kerf_err *err);
/* pl_exact() with its two step budgets given (counts, then cost); *steps receives the steps taken. The
 * search starts from c->assign and the loads; nodes with `fixed` set keep that load under the searched pods. */
int pl_exact_run(struct pl_ctx *c, uint64_t budget_counts, uint64_t budget_cost, int *complete, uint64_t *steps,
		 struct kerf_err *err);

/* repair.c: after the greedy, re-solves small neighbourhoods of nodes exactly to place pods it left out. */
int pl_repair(struct pl_ctx *c, struct kerf_err *err);

/* lns.c: after the repair, when pods are still left out, ruin and recreate of a few nodes at a time, kept
 * when no priority places fewer and one more, or every priority as many at no higher cost. Deterministic;
 * bounded by a budget of node DPs. Does nothing when every pod is placed or more than 256 are left out. */
int pl_lns(struct pl_ctx *c, struct kerf_err *err);

/* May pod p run on node n (its node selector, affinity and tolerations: plan_input.groups)? */
static inline int pl_allowed(const struct pl_ctx *c, const struct pl_pod *p, unsigned n)
{
	return p->group == 0 || c->in->groups[p->group - 1].allowed[n];
}

#endif
