/* SPDX-License-Identifier: Apache-2.0 */
/*
 * internal.h — the simulator's state and the primitives policies act through (private to src/sim/).
 *
 * Every change to a GPU goes through sim_create(), sim_destroy(), sim_bind() or sim_replace_layout(),
 * which keep the accounting (created, destroyed, disturbed, utilisation) and check each resulting layout
 * against mig_layout_check(): a policy cannot cheat the hardware rules or the metrics.
 */
#ifndef KERF_SIM_INTERNAL_H
#define KERF_SIM_INTERNAL_H

#include "sim.h"

#define SIM_NO_POD (-1)

/* ---- random numbers: splitmix64, small and the same everywhere ----------------------------------------- */

struct sim_rng {
	uint64_t s;
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
double sim_rng_unit(struct sim_rng *r);   /* uniform in (0, 1) */
double sim_rng_normal(struct sim_rng *r); /* standard normal */
unsigned sim_rng_below(struct sim_rng *r, unsigned n); /* uniform in [0, n) */

/* ---- state ---------------------------------------------------------------------------------------------- */

enum pod_state { POD_FUTURE, POD_WAITING, POD_RUNNING, POD_DONE };

struct sim_gpu {
	const struct mig_model *model;
	unsigned node, index;
	struct mig_layout layout;
	int pod[MIG_MAX_INSTANCES];         /* per instance: pod index or SIM_NO_POD */
	double ready_at[MIG_MAX_INSTANCES]; /* when a pod bound to the instance can start */
	int prof_of_class[SIM_MAX_CLASSES]; /* class -> profile index on this model, or -1 */
};

struct sim_pod {
	enum pod_state state;
	unsigned cls; /* index into the class table */
	int priority;
	double arrival, duration, start;
	int gpu;      /* while running */
	bool blocked_counted;
};

struct sim_event {
	double t;
	unsigned kind; /* enum ev_kind: departures sort before arrivals before timers */
	uint64_t seq;
	unsigned pod;
};

struct sim_policy_ops;

struct sim {
	const struct sim_cluster *cluster;
	const struct sim_workload *wl;
	struct sim_policy policy;
	struct sim_options opt;
	const struct sim_policy_ops *ops;
	void *pstate;
	struct sim_rng rng;
	double now;

	unsigned n_gpus;
	struct sim_gpu *gpus;
	unsigned n_pods;
	struct sim_pod *pods;
	unsigned n_classes;
	struct sim_class *classes; /* points into the result */

	/* Waiting pods, in scheduling order: priority descending, then arrival (index) ascending. Entries of
	 * pods placed since are left in place (`stale` of them) and swept out when they are half the list, so
	 * that placing a pod costs O(1) however long the queue: readers skip pods whose state is not
	 * POD_WAITING. The same, per class, lets the scheduler find a class's first pods directly. */
	unsigned n_waiting, stale;
	unsigned *waiting;
	struct {
		unsigned n, stale;
		size_t cap;
		unsigned *v;
	} cwait[SIM_MAX_CLASSES];
	unsigned waiting_of[SIM_MAX_CLASSES]; /* pods waiting, per class */
	/* Per class, waiting pods not yet counted as blocked while free (may hold stale entries: pods placed
	 * since); emptied whenever the class is judged, so each pod is looked at O(1) times. */
	struct {
		unsigned n;
		size_t cap;
		unsigned *v;
	} uncounted[SIM_MAX_CLASSES];

	struct sim_event *heap;
	unsigned heap_n;
	size_t heap_cap;
	uint64_t seq;
	bool timer_armed;

	/* accounting */
	unsigned total_compute, total_memory;
	unsigned used_compute, used_memory;
	double acc_compute, acc_memory, acc_until; /* integrals up to acc_until */
	unsigned next_sample;
	double sample_dt;
	unsigned step_placed, step_created, step_destroyed;
	struct sim_result *res;
	struct sim_gpu_view *views;
};

/* A policy: hooks the engine calls. Any hook may be NULL. */
struct sim_policy_ops {
	int (*init)(struct sim *s, struct kerf_err *err);
	/* After each arrival/departure step, once the scheduler has bound what fits. */
	int (*step)(struct sim *s, struct kerf_err *err);
	/* When a debounce timer armed with sim_arm_timer() fires. */
	int (*batch)(struct sim *s, struct kerf_err *err);
	/* A pod just left; its instance is free (still in the layout). */
	int (*depart)(struct sim *s, unsigned gpu, unsigned inst, struct kerf_err *err);
	void (*fini)(struct sim *s);
	bool batching; /* blocked-while-free is judged after batches, not after every step */
};

extern const struct sim_policy_ops sim_ops_static, sim_ops_nos, sim_ops_first_fit, sim_ops_repack, sim_ops_kerf;

/* ---- primitives --------------------------------------------------------------------------------------- */

/* Profile index of class cls on GPU g's model, or -1. */
static inline int sim_prof(const struct sim *s, unsigned g, unsigned cls)
{
	return s->gpus[g].prof_of_class[cls];
}

/* Creates a free instance; -1 (no error set, nothing changed) if the layout would break a rule. Returns
 * the new instance's position. */
int sim_create(struct sim *s, unsigned g, unsigned profile, unsigned start);

/* Destroys a free instance. A used one is a policy bug: KERF_EINTERNAL. */
int sim_destroy(struct sim *s, unsigned g, unsigned inst, struct kerf_err *err);

/* Binds waiting pod p to free instance inst of GPU g (same profile); it starts when the instance is ready. */
int sim_bind(struct sim *s, unsigned p, unsigned g, unsigned inst, struct kerf_err *err);

/*
 * Replaces GPU g's layout by l. Instances of l with used = true must be used instances of the current
 * layout, same profile and start: they keep their pods. A used instance of the current layout that l
 * drops is a disturbance: counted, and its pod goes back to waiting. Free instances are diffed by
 * (profile, start) into destroyed and created. Fails (KERF_EINTERNAL) if l breaks a hardware rule or
 * claims a used instance that is not there.
 */
int sim_replace_layout(struct sim *s, unsigned g, const struct mig_layout *l, struct kerf_err *err);

/* First free instance of profile on GPU g, or -1. */
int sim_find_free(const struct sim *s, unsigned g, unsigned profile);

/* Binds waiting pods to free instances that exist, first GPU first; the scheduler's part of every step. */
int sim_schedule(struct sim *s, struct kerf_err *err);

/* Arms the policy timer at now + batch_s unless armed. */
void sim_arm_timer(struct sim *s);

/* Arms the policy timer at now + delay unless armed. A delay of 0 fires after every arrival and departure of
 * this instant: all that changed at once is acted on together. */
void sim_arm_timer_in(struct sim *s, double delay);

/* Pods waiting now (s->waiting may also hold stale entries). */
static inline unsigned sim_waiting(const struct sim *s)
{
	return s->n_waiting - s->stale;
}

/* The slices of GPU g held by running pods, and by any instance. */
mig_mask sim_used_mask(const struct sim *s, unsigned g);

/* Used only by repack: moves running pod p to free instance inst of GPU g (counted as a disturbance). */
int sim_move(struct sim *s, unsigned p, unsigned g, unsigned inst, struct kerf_err *err);

#endif
