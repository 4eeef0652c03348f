/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan.h — the planner: which pending pods go to which node, and which free MIG slices to re-cut so they fit.
 *
 * Pure functions over plain data, no I/O and no globals: the controller, `kerf plan` and the simulator all
 * call plan_run() with the same input and get the same output, byte for byte (ties break on input order).
 *
 * Objective, in this order (docs/planner.md explains the method and how far from optimal it can be):
 *   1. the most pods placed, higher priority first: the count placed at the highest priority is
 *      maximised first, then at the next priority, and so on;
 *   2. the fewest free instances destroyed;
 *   3. the fewest GPUs touched (a GPU is touched when its layout changes);
 *   4. the most useful free capacity left (the largest profiles still placeable on the changed GPUs).
 *
 * Safety, guaranteed by construction and checked by the property tests:
 *   - every instance with used = true appears in the output layout of its GPU unchanged (profile and start);
 *   - every output layout passes mig_layout_check();
 *   - a pod is assigned at most once, to one node, and its bindings name distinct free instances of that
 *     node's output layouts whose resources match its demands exactly.
 *
 * Ownership: the caller owns the input (and the models it points to) for the duration of plan_run();
 * plan_run() allocates the output, which plan_output_free() releases.
 */
#ifndef KERF_PLAN_H
#define KERF_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "mig.h"

#define PLAN_NAME_MAX 256  /* "namespace/name" of a pod, or a node name (DNS-1123: ≤ 253) */
#define PLAN_MAX_DEMANDS 8 /* distinct MIG resources one pod may request */
#define PLAN_REASON_MAX 256

struct plan_gpu {
	unsigned index;                /* the GPU's index on its node (NVML index), as reported */
	const struct mig_model *model; /* from a catalog that outlives the call */
	struct mig_layout layout;      /* current instances; used ones are fixed */
};

struct plan_node {
	char name[PLAN_NAME_MAX];
	unsigned n_gpus;
	struct plan_gpu *gpus;
};

struct plan_demand {
	char resource[MIG_RESOURCE_MAX]; /* "nvidia.com/mig-2g.20gb" */
	unsigned count;                  /* ≥ 1 */
};

struct plan_pod {
	char name[PLAN_NAME_MAX]; /* "namespace/name" */
	int priority;             /* larger = more important (Kubernetes PriorityClass value) */
	unsigned n_demands;
	struct plan_demand demands[PLAN_MAX_DEMANDS]; /* distinct resources */
	unsigned group; /* 0: it may run on every node; k > 0: only where plan_input.groups[k - 1] allows */
};

/* The nodes some pods may run on (their node selectors, affinity and tolerations: fit.h computes them). */
struct plan_group {
	unsigned char *allowed; /* n_nodes entries, 1 = allowed */
};

struct plan_input {
	unsigned n_nodes;
	struct plan_node *nodes;
	unsigned n_pods;
	struct plan_pod *pods;
	unsigned n_groups;
	struct plan_group *groups;
	/* Room on each node for the pods' CPU, memory and other requests (room.h): plan_run_room() reads it,
	 * plan_run() does not. NULL: not considered. */
	struct plan_room *room;
	/* plan_run_room() plans with plan_run_packed() (keep whole GPUs whole) instead of plan_run_cached().
	 * plan_run() and plan_run_packed() do not read it. */
	bool pack;
};

/* One instance a pod will get: on GPU gpus[gpu] of its node, the instance of `profile` at `start`. */
struct plan_binding {
	unsigned gpu;   /* position in plan_node.gpus (not the NVML index) */
	uint8_t profile;
	uint8_t start;
};

struct plan_assignment {
	unsigned pod;  /* position in plan_input.pods */
	unsigned node; /* position in plan_input.nodes */
	unsigned n_bindings;
	struct plan_binding *bindings; /* one per requested instance, in demand order */
};

/* The complete desired layout of one GPU whose layout changes. */
struct plan_change {
	unsigned node; /* position in plan_input.nodes */
	unsigned gpu;  /* position in plan_node.gpus */
	struct mig_layout layout; /* sorted (mig_layout_sort); used flags carried over; new instances free */
	unsigned destroyed;       /* free instances of the current layout that this change removes */
	unsigned created;         /* instances this change adds */
};

struct plan_unplaced {
	unsigned pod;
	char reason[PLAN_REASON_MAX]; /* a sentence a person can act on */
};

struct plan_output {
	unsigned n_changes;
	struct plan_change *changes; /* ordered by node, then gpu */
	unsigned n_assignments;
	struct plan_assignment *assignments; /* ordered by pod */
	unsigned n_unplaced;
	struct plan_unplaced *unplaced; /* ordered by pod */
	/* Totals, for reports and the simulator. */
	unsigned destroyed;
	unsigned created;
	unsigned gpus_touched;
};

/*
 * Plans. Fails (-1) only on input it cannot plan with: a GPU without a model, a current layout that breaks
 * the hardware rules (err names nodes[i].gpus[j] and the rule), a demand that is not a MIG resource or has
 * count 0, or a pod with too many demands; and on out-of-memory. A pod that cannot be placed is not an
 * error: it is listed in out->unplaced with the reason.
 */
int plan_run(const struct plan_input *in, struct plan_output *out, struct kerf_err *err);

/* Releases everything plan_run() allocated in out, and zeroes it. Safe on a zeroed output. */
void plan_output_free(struct plan_output *out);

/*
 * Optional: what plan_run() computes afresh on every call and depends only on the GPUs, not on the pods,
 * can be kept between calls in a cache: every valid layout of each model geometry (~60 us per geometry),
 * and per GPU shape (a geometry, a current layout and its used instances: H100 and A100 80GB GPUs cut alike
 * share one) the layouts it can reach with their costs (~5 us each; a 1,000-node cluster of varied GPUs has
 * thousands). A controller planning the same cluster round after round then redoes only the shapes that
 * changed. plan_run_cached(cache, ...) plans exactly as plan_run() (the same output, byte for byte);
 * plan_run() is plan_run_cached(NULL, ...). A cache holds copies of what it needs, so models may come and
 * go; it is not thread-safe (one per thread). plan_cache_new() returns NULL on ENOMEM.
 *
 * Bounded: after each call, if the shapes take more than the limit (PLAN_CACHE_LIMIT unless set), those
 * the call did not use are dropped; what one call needs is kept for it (the cache then holds about what a
 * plan_run() of that cluster allocates anyway: 1,000 varied 8-GPU nodes, ~3,400 shapes, ~3 MiB).
 */
#define PLAN_CACHE_LIMIT ((size_t)32 << 20)

struct plan_cache;
struct plan_cache *plan_cache_new(void);
void plan_cache_free(struct plan_cache *cache);
void plan_cache_set_limit(struct plan_cache *cache, size_t bytes);
/* The shapes the cache holds and the bytes they take (for tests and metrics). */
void plan_cache_usage(const struct plan_cache *cache, size_t *shapes, size_t *bytes);
int plan_run_cached(struct plan_cache *cache, const struct plan_input *in, struct plan_output *out,
		    struct kerf_err *err);

/*
 * Keep whole GPUs whole (pack.c): plans as plan_run_cached(); if that plan changes a GPU that runs no pod
 * (opens an idle GPU), plans again in two stages: every pod on the busy GPUs alone, with their free
 * instances left out of the input so that re-cutting them costs nothing, then the pods left out on the whole
 * cluster as that leaves it. Returns the two stages as one plan when they place as many pods at every
 * priority and open fewer idle GPUs (changes' destroyed and created then count against the real layouts);
 * otherwise the first plan, byte for byte. So a small pod takes the leftover slices of a busy GPU instead of
 * an idle one, which stays whole for a pod that needs all of it. Deterministic; at most three plans. Errors
 * as plan_run().
 */
int plan_run_packed(struct plan_cache *cache, const struct plan_input *in, struct plan_output *out,
		    struct kerf_err *err);

/* How many of out's changes are on a GPU of in that runs no pod (an idle GPU the plan opens). */
unsigned plan_opened_gpus(const struct plan_input *in, const struct plan_output *out);

/* ---- JSON form (plan_json.c; the formats are documented in docs/planner.md) -------------------------
 *
 * Input:  {"nodes": [{"name", "gpus": [{"index", "model", "instances": [{"profile", "start", "used"}]}]}],
 *          "pending": [{"name", "priority" (optional, 0), "resources": {"nvidia.com/mig-<profile>": count}}]}
 * Extra fields are ignored. Models are looked up in cat by any name NVML reports or by kerf's short name.
 */

/*
 * Parses and checks planner input. On success fills *in (free with plan_input_free()). On failure returns
 * -1 and err names the offending field by its path ("nodes[2].gpus[0].instances[1].start: ...") or, for
 * malformed JSON, its line and column. Everything plan_run() would reject is rejected here first, plus:
 * unknown models and profiles, duplicate node names and GPU indices, and resources that name no profile
 * of any model in cat.
 */
int plan_input_parse(const char *text, size_t len, const struct mig_catalog *cat, struct plan_input *in,
		     struct kerf_err *err);

/* Releases what plan_input_parse() allocated, and zeroes *in. Safe on a zeroed input. */
void plan_input_free(struct plan_input *in);

/*
 * The plan as JSON text (malloc'd, NUL-terminated, ends with a newline; the caller frees it):
 *   {"nodes": [{"name", "gpus": [{"index", "model", "instances": [{"profile", "start", "used"}],
 *                                 "destroyed", "created"}]}],         every node with a changed GPU
 *    "assignments": [{"pod", "node", "instances": [{"gpu", "profile", "start"}]}],
 *    "unplaced": [{"pod", "reason"}],
 *    "summary": {"placed", "unplaced", "destroyed", "created", "gpus_touched"}}
 * The same input and output always give the same bytes. NULL on ENOMEM.
 */
char *plan_output_json(const struct plan_input *in, const struct plan_output *out, struct kerf_err *err);

#endif
