/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actuate.h — turns (current MIG state, desired layout, allocated MIG devices) into safe, ordered NVML
 * operations on one GPU, executes them, and undoes them if anything fails.
 *
 * Safety (the rule that never bends): an instance that is allocated to a pod or runs a process is never
 * destroyed, resized or moved. It is enforced twice:
 *   - when planning: a used instance missing from the desired layout makes the whole request fail
 *     (KERF_EBUSY, naming the instance), before anything is touched;
 *   - immediately before each destroy: hooks.pre_destroy withdraws each of the instance's MIG devices
 *     from the device plugin, then hooks.is_allocated is asked afresh, the static allocated set is
 *     consulted, and NVML is asked afresh for running processes. Any "yes" or "cannot tell" aborts the
 *     destroy (and the run rolls back). Either can change at any moment, so neither is trusted from the plan.
 *
 * What a run does: it destroys every free instance that is not in the desired layout (the desired layout is
 * the complete end state of the GPU, as the MigLayout contract says; a free instance that must survive is
 * simply listed in it), keeps free instances that already match (same profile at the same start), gives
 * a GPU instance left without a compute instance its spanning one, and creates the missing instances at
 * their exact placements. Destroys come first, then creates, each in placement order; the state is re-read
 * from NVML after every change. Applying the same layout twice does nothing the second time.
 *
 * Transactions: if a step fails, the run restores the GPU to its original layout: it destroys (guarded
 * the same way) the instances it created and re-creates the ones it destroyed at their old placements,
 * then reports the failure and the restored layout. A journal file per GPU (in cfg->journal_dir, every line
 * fsync'ed before the NVML call it announces) makes a crash half way recoverable: actuate_recover(), run
 * at the start of every actuate_apply(), finishes the interrupted run, or rolls it back if it cannot be
 * finished, before anything new is done.
 *
 * What it does not do: talk to the kubelet (the hooks do), choose layouts (plan/), or change MIG mode.
 * Not thread-safe per GPU: one actuator per GPU at a time (the agent serialises; the journal assumes it).
 */
#ifndef KERF_ACTUATE_H
#define KERF_ACTUATE_H

#include <stdbool.h>

#include "err.h"
#include "log.h"
#include "mig.h"
#include "nvml.h"

struct actuate_hooks {
	/* runs before each destroy: withdraw the device from the device plugin; -1 aborts the destroy */
	int (*pre_destroy)(void *arg, unsigned gpu_index, const char *mig_uuid, struct kerf_err *err);
	/* fresh "is this MIG device allocated to a pod?" (kubelet pod-resources); -1 if it cannot tell (then: do not destroy) */
	int (*is_allocated)(void *arg, const char *mig_uuid, bool *allocated, struct kerf_err *err);
	void *arg;
};

struct actuate_config {
	const char *journal_dir;      /* directory for the per-GPU journals; NULL: no journal, no crash recovery */
	const char *const *allocated; /* MIG UUIDs allocated to pods (a snapshot; the hook is asked afresh) */
	unsigned n_allocated;
	struct actuate_hooks hooks;   /* either function may be NULL */
	kerf_log_fn *log; /* one event per step taken (log.h), or NULL */
	void *log_arg;
};

enum actuate_op_kind {
	ACTUATE_DESTROY,  /* compute instances, then the GPU instance */
	ACTUATE_COMPLETE, /* a GPU instance without compute instance gets its spanning one */
	ACTUATE_CREATE,   /* GPU instance at the placement + spanning compute instance */
};

struct actuate_op {
	enum actuate_op_kind kind;
	uint8_t profile; /* index in the GPU's (NVML-read) model */
	uint8_t start;
	unsigned gi_id;  /* DESTROY, COMPLETE: the GPU instance as planned (re-checked before acting) */
};

struct actuate_plan {
	unsigned n;
	struct actuate_op op[3 * MIG_MAX_INSTANCES];
};

enum actuate_outcome {
	ACTUATE_UNCHANGED,   /* nothing to do */
	ACTUATE_APPLIED,     /* the GPU is in the desired layout */
	ACTUATE_ROLLED_BACK, /* a step failed; the GPU is back in its original layout */
	ACTUATE_FAILED,      /* a step failed and so did the rollback: see the error and `after` */
};

struct actuate_result {
	enum actuate_outcome outcome;
	enum actuate_outcome recovered; /* what recovering an interrupted earlier run did (UNCHANGED: none) */
	unsigned changes;               /* NVML create/destroy operations that succeeded */
	char before[256], after[256];   /* layouts as "2g.20gb@0,1g.10gb@2" */
	/* Instances in `after` that were not in `before`, and the reverse, by NVML profile and placement: what the
	 * run changed, net of a rollback (re-created at its place: not counted). 0 while `before` was not read. */
	unsigned created, destroyed;
};

/*
 * Plans the operations that take gpu (as read by nvml_read_gpu) to desired (profile indices of gpu->model).
 * An instance counts as used if it runs a process (as read), is in cfg->allocated, or cfg->hooks.is_allocated
 * says so or cannot tell. Fails, changing nothing, if desired is invalid (mig_layout_check) or would destroy
 * or move a used instance (KERF_EBUSY; the sentence names the instance and why it is used).
 */
int actuate_plan(const struct nvml_gpu *gpu, const struct mig_layout *desired, const struct actuate_config *cfg,
		 struct actuate_plan *plan, struct kerf_err *err);

/* Writes one line per operation ("destroy 1g.10gb@2 (GPU instance 9)") into out. */
void actuate_plan_format(const struct nvml_gpu *gpu, const struct actuate_plan *plan, char *out, size_t outsz);

/*
 * Recovers an interrupted run on GPU gpu_index (if its journal says there is one), then plans and executes
 * desired. Returns 0 when the GPU ends in the desired layout (APPLIED or UNCHANGED); otherwise -1 with err
 * saying what failed and, after a rollback, the layout the GPU was restored to.
 *
 * desired's profile indices are indices into model (the model it was parsed against, from an earlier read);
 * the run re-reads the GPU and carries each instance over by NVML profile ID, refusing (KERF_EINVAL, nothing
 * changed) a profile the GPU no longer reports. An index is never read against a model it was not made for.
 */
int actuate_apply(struct nvml *nv, unsigned gpu_index, const struct mig_model *model, const struct mig_layout *desired,
		  const struct actuate_config *cfg, struct actuate_result *res, struct kerf_err *err);

/*
 * Finishes or rolls back an interrupted run on GPU gpu_index, as its journal describes; a no-op (0,
 * res->recovered = UNCHANGED) when there is no journal. Returns -1 only if the GPU could be brought to
 * neither the run's desired nor its original layout.
 */
int actuate_recover(struct nvml *nv, unsigned gpu_index, const struct actuate_config *cfg,
		    struct actuate_result *res, struct kerf_err *err);

/* "unchanged", "applied", "rolled back", "failed". */
const char *actuate_outcome_name(enum actuate_outcome o);

#endif
