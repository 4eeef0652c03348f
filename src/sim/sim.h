/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.h — a deterministic discrete-event simulator of a MIG cluster, to compare partitioning policies.
 *
 * A run takes a cluster (groups of nodes × GPUs of one model), a workload (pods, each asking for one MIG
 * instance of a profile, with an arrival time, a duration and a priority) and a policy, and replays the
 * workload: pods arrive, a scheduler binds them to free instances, the policy creates and destroys free
 * instances, pods run for their duration and leave. It measures what users feel: how long pods wait, how
 * many never run, how busy the slices are, how much the policy churns instances, and whether it ever
 * disturbed a running pod.
 *
 * Policies (docs/simulator.md says what each models and what it leaves out):
 *   kerf          the real planner (plan_run), called like the controller: a change that leaves pods
 *                 waiting is planned at once, a burst is collected for a window first (policy_kerf.c),
 *                 and each plan covers the whole cluster.
 *   static:NAME   a fixed layout on every GPU, as the GPU Operator's stock configurations (all-1g,
 *                 all-2g, all-3g, all-4g, all-7g, all-balanced) or an explicit layout text.
 *   nos           nos-like greedy: per node in name order, per GPU the maximal geometry that covers the
 *                 most lacking profiles, counted without placements (so some creations fail).
 *   first-fit     create the pod's instance at allocation time at the first legal free placement,
 *                 destroy it when the pod leaves (HAMi 2.10 / NVIDIA DRA driver dynamic MIG).
 *   repack        an upper bound: re-cut free slices freely and, when that is not enough, drain and
 *                 repack every GPU (it disturbs running pods; no real system can do this for free).
 *
 * Determinism: every random choice draws from one generator seeded by the caller; events at equal times
 * are ordered by kind (departures, then arrivals, then policy timers) and then by creation order; the same
 * inputs give the same result, bit for bit, on one platform.
 *
 * What it deliberately does not do: I/O (the CLI reads files and writes reports), wall-clock timing,
 * threads. Ownership: the caller owns every input; sim_run() allocates the result, which
 * sim_result_free() releases. Errors follow err.h.
 */
#ifndef KERF_SIM_H
#define KERF_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "mig.h"

#define SIM_MAX_GROUPS 8
#define SIM_MAX_CLASSES 16 /* distinct profiles a workload may ask for */
#define SIM_POLICY_MAX 96

/* ---- cluster ---------------------------------------------------------------------------------------- */

struct sim_group {
	unsigned nodes;
	unsigned gpus_per_node;
	const struct mig_model *model; /* from a catalog that outlives the run */
};

struct sim_cluster {
	unsigned n_groups;
	struct sim_group groups[SIM_MAX_GROUPS];
};

/*
 * Parses "NODESxGPUSxMODEL[,NODESxGPUSxMODEL...]", e.g. "25x4xH100-80GB-SXM", with models looked up in
 * cat (kerf's short names or NVML names). Errors name the group: "cluster[1]: ...".
 */
int sim_cluster_parse(const struct mig_catalog *cat, const char *text, struct sim_cluster *c, struct kerf_err *err);

/* Total GPUs, compute slices and memory slices of the cluster. */
unsigned sim_cluster_gpus(const struct sim_cluster *c);
unsigned sim_cluster_compute(const struct sim_cluster *c);
unsigned sim_cluster_memory(const struct sim_cluster *c);

/* ---- workload --------------------------------------------------------------------------------------- */

struct sim_pod_spec {
	double arrival;             /* seconds from the start */
	double duration;            /* seconds it runs once placed */
	int priority;               /* larger = more important */
	char profile[MIG_NAME_MAX]; /* the profile it asks for, e.g. "2g.20gb" */
};

struct sim_workload {
	unsigned n;
	struct sim_pod_spec *pods; /* ascending arrival; ties in input order */
};

enum sim_mix {
	SIM_MIX_SMALL_HEAVY,
	SIM_MIX_BALANCED,
	SIM_MIX_LARGE_HEAVY,
};

struct sim_gen {
	uint64_t seed;
	unsigned pods;
	enum sim_mix mix;
	double load;            /* offered load: demanded compute slices / the cluster's compute slices */
	double median_s;        /* log-normal duration: median */
	double sigma;           /* log-normal duration: sigma of the underlying normal */
	double high_prio_share; /* share of pods with priority 100 (the rest have 0) */
};

/* Parses "small-heavy", "balanced" or "large-heavy". */
int sim_mix_parse(const char *text, enum sim_mix *mix, struct kerf_err *err);
const char *sim_mix_name(enum sim_mix mix);

/*
 * Generates g->pods pods: Poisson arrivals at the rate that offers g->load of the cluster's compute
 * slices (rate = load × compute slices / (mean duration × mean compute slices per pod)), log-normal
 * durations, profiles drawn from the mix (weights over the plain 1g/2g/3g/4g/7g profiles of the first
 * group's model; sizes the model lacks are dropped). Fails on parameters out of range.
 */
int sim_workload_generate(const struct sim_cluster *c, const struct sim_gen *g, struct sim_workload *w,
			  struct kerf_err *err);

/*
 * Reads a CSV trace: one pod per line, "arrival_s,duration_s,demand[,priority]", where demand is a profile
 * name of the first group's model ("2g.20gb") or a memory need ("17gb", "17.5GB"), which maps to the
 * smallest plain profile that holds it (fewest memory slices, then fewest compute slices). Blank lines,
 * '#' comments and a header line are skipped; lines may come in any order (they are sorted by arrival,
 * stably). Errors name the line: "trace.csv:12: duration: -3 is negative".
 */
int sim_workload_read_csv(FILE *f, const char *name, const struct sim_cluster *c, struct sim_workload *w,
			  struct kerf_err *err);

void sim_workload_free(struct sim_workload *w);

/* The smallest plain profile (no media-engine or graphics flag) of m whose memory holds need_gb: fewest
 * memory slices, then fewest compute slices. Memory sizes come from the profile names ("2g.20gb" holds
 * 20 GB), because the catalog leaves NVML's exact sizes unknown. -1 if none holds it. */
int sim_profile_for_memory(const struct mig_model *m, double need_gb);

/* ---- policies --------------------------------------------------------------------------------------- */

enum sim_policy_kind {
	SIM_POLICY_KERF,
	SIM_POLICY_STATIC,
	SIM_POLICY_NOS,
	SIM_POLICY_FIRST_FIT,
	SIM_POLICY_REPACK,
};

struct sim_policy {
	enum sim_policy_kind kind;
	char name[SIM_POLICY_MAX];   /* as given: "static:all-balanced" */
	char layout[SIM_POLICY_MAX]; /* static only: "all-balanced" or a layout text "3g.40gb@4,..." */
};

/* Parses "kerf", "nos", "first-fit", "repack" or "static:LAYOUT". */
int sim_policy_parse(const char *text, struct sim_policy *p, struct kerf_err *err);

/* The policies `kerf simulate --compare` runs, in order: every available one. Returns how many. */
unsigned sim_policy_compare_set(struct sim_policy *out, unsigned max);

/*
 * The static layout NAME builds on an empty GPU of model m: "all-1g" (or all-2g, all-3g, all-4g, all-7g:
 * as many of that plain profile as fit) or "all-balanced" (3g + 2g + 2×1g on 8-slot models, 2g + 2×1g on
 * others), filled largest first at the highest free legal start, as the driver places them; or a layout
 * text. Fails if the name is unknown, a profile is missing on m, or the layout breaks a hardware rule.
 */
int sim_static_layout(const struct mig_model *m, const char *name, struct mig_layout *l, struct kerf_err *err);

/* ---- a run ------------------------------------------------------------------------------------------ */

/* What an observer of a run sees after each step (for `kerf simulate --show`). */
struct sim_gpu_view {
	unsigned node;
	unsigned index;                /* on its node */
	const struct mig_model *model;
	const struct mig_layout *layout;
	const int *pod;                /* per instance: the pod holding it (workload index) or -1 if free */
};

enum sim_step_kind {
	SIM_STEP_ARRIVE,
	SIM_STEP_DEPART,
	SIM_STEP_BATCH, /* a policy timer fired (kerf's and nos's debounce window ended) */
};

struct sim_step {
	double now;
	enum sim_step_kind kind;
	unsigned n_pods;       /* pods that arrived or left in this step (0 for a batch) */
	const unsigned *pods;  /* their workload indices */
	unsigned placed;       /* pods bound in this step */
	unsigned created, destroyed; /* instances, in this step */
	unsigned pending;      /* pods still waiting after the step */
	unsigned n_gpus;
	const struct sim_gpu_view *gpus;
};

struct sim_options {
	double batch_s;    /* kerf and nos: debounce window before a plan (default 2 s) */
	double reconfig_s; /* time from creating an instance to a pod running on it (default 2 s) */
	/* kerf: a pod waiting this long goes before younger pods of its priority in the plan (0: no aging). */
	double age_after_s;
	/* kerf: the longest a GPU is held back for an aged pod the plan could not place (0: no holds). */
	double hold_s;
	/* kerf: keep whole GPUs whole, plan_run_packed() instead of plan_run() (plan.h; off by default). */
	bool pack;

	unsigned samples;  /* points in the utilisation series (default 200) */
	uint64_t seed;     /* policy randomness (nos's ties) */
	/* Optional: called with the fraction done, at most ~100 times per run. */
	void (*progress)(void *ctx, double done);
	/* Optional: called after every step that changed something. */
	void (*on_step)(void *ctx, const struct sim_step *step);
	void *ctx;
};

/* Fills o with the defaults above. */
void sim_options_default(struct sim_options *o);

struct sim_class {
	char profile[MIG_NAME_MAX];
	unsigned compute_slices, memory_slices;
	unsigned pods, placed;
	double p50, p95, p99, mean; /* pending time of its placed pods, seconds */
};

struct sim_result {
	char policy[SIM_POLICY_MAX];
	unsigned pods, placed, never_placed;
	double p50, p95, p99, mean; /* pending time of every placed pod, seconds */
	unsigned n_classes;
	struct sim_class classes[SIM_MAX_CLASSES]; /* ascending size */
	/* Time-weighted mean share of slices held by running pods, from 0 to the last arrival. */
	double util_compute, util_memory;
	/* Pods that, right after the policy acted, still waited while the cluster had enough free compute and
	 * memory slices in total for them (each pod counted once), and how many such (pod, moment) events. */
	unsigned blocked_while_free;
	unsigned long blocked_events;
	unsigned long created, destroyed; /* instances, after the initial layout */
	double created_per_pod, destroyed_per_pod;
	unsigned long disturbed;     /* running pods moved or stopped by the policy: 0 except for repack */
	unsigned long failed_creates; /* nos: creations its placement-blind geometry could not make */
	unsigned long plans;         /* kerf: plan_run calls */
	double last_arrival, end;    /* seconds */
	/* Series: at t[i], the share of compute and memory slices in use and the pods waiting. */
	unsigned n_samples;
	double *t, *compute, *memory, *waiting;
	/* Pending time of every placed pod, ascending (for distribution plots). */
	unsigned n_waits;
	double *waits;
};

/*
 * Runs the workload on the cluster under the policy. Fails on a policy that is unavailable or cannot be
 * built on a model (a static layout naming a missing profile), on out-of-memory, and (KERF_EINTERNAL)
 * if a policy broke a hardware rule or the planner failed: the simulator checks every layout it is given.
 * Pods asking for a profile no GPU model has are simply never placed.
 */
int sim_run(const struct sim_cluster *c, const struct sim_workload *w, const struct sim_policy *p,
	    const struct sim_options *o, struct sim_result *r, struct kerf_err *err);

void sim_result_free(struct sim_result *r);

#endif
