/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot.h — one round's view of the controller's caches, as the planner's input (private to
 * src/controller; controller.c takes one per round that plans).
 *
 * snapshot_take() reads the caches the watches fill (their projections, below) into a struct plan_input and
 * what the round needs beside it, per node and per pod. It decides what the plan sees:
 *   - the nodes: a MigLayout whose agent reported a status, renewed its heartbeat within agent_timeout_ms,
 *     has not failed its current spec for longer than failed_grace_ms, and whose Node exists, is Ready and not
 *     cordoned; planned from its status, or from its spec while the agent applies it (unless that spec drops
 *     an instance status reports used). A layout kerf cannot plan with leaves the node out, with a log line;
 *   - the pods: unbound candidates with MIG demands, oldest first (creationTimestamp, then name); bound pods
 *     the kubelet has not admitted hold the free instances they need on their node (reserve);
 *   - the planner's levels (aging: a pod age_after_ms old goes before the younger pods of its priority, never
 *     before a higher priority), node filters (fit.h), the nodes each pod gave up on (gave_up), and room.
 * It also says when the plan it makes stops standing on its own (due: an agent's timeout, a failure's grace, a
 * given-up node forgotten, a pod reaching age_after_ms), so a round that finds nothing changed can skip planning.
 *
 * It does not plan, write or tell; it never calls the API server (the caches are read under their locks). It
 * keeps from round to round only what the caller hands it in struct snapshot_memory. Not thread-safe: one
 * round at a time. Errors follow err.h (out of memory is the only failure).
 */
#ifndef KERF_CONTROLLER_SNAPSHOT_H
#define KERF_CONTROLLER_SNAPSHOT_H

#include <stdbool.h>

#include "err.h"
#include "headroom.h"
#include "kube.h"
#include "kube_pod.h"
#include "log.h"
#include "plan.h"
#include "room.h"

/* ---- what the caches hold (controller.c's watches make these; the snapshot reads them) ---- */

/* A pod that waits (phase Pending). A MigLayout's projection is a JSON object {generation, observed, spec
 * (spec.gpus), status (status.gpus), beat (status.heartbeat), failed (its current spec failed)}. */
struct pod_proj {
	char name[PLAN_NAME_MAX]; /* namespace/name */
	char node[PLAN_NAME_MAX]; /* spec.nodeName: "" while the scheduler has not bound it */
	char uid[64];
	char created[32]; /* metadata.creationTimestamp (RFC 3339, UTC: text order is time order) */
	int priority;
	struct kube_pod_demands dem; /* its nvidia.com/mig-* demands (kube_pod.h) */
	json_t *fit; /* a pending pod's nodeSelector, affinity and tolerations (fit.h), or NULL for none */
	json_t *req; /* a pending pod's other requests (CPU, memory...: kube_pod_requests), or NULL */
};

/* A Node: why no pod can be placed on it, or NULL when one can; and what fit.h reads. */
struct node_proj {
	const char *unusable; /* a static sentence, or NULL */
	json_t *fit;          /* {metadata: {name, labels}, spec: {taints, unschedulable}} */
	json_t *alloc;        /* status.allocatable as amounts (headroom.h), or NULL */
};

/* ---- the snapshot ---- */

/* What the snapshot reads: the caches and the controller's settings (snapshot_take() only reads them). */
struct snapshot_source {
	struct kube_informer *pods, *layouts, *nodes; /* struct pod_proj, the layout's JSON, struct node_proj */
	struct headroom *room;                        /* pods bound to nodes: room left (headroom.h) */
	long agent_timeout_ms, failed_grace_ms, replan_after_ms;
	long age_after_ms; /* < 0: no aging */
	kerf_log_fn *log;  /* nodes left out, and why; or NULL */
	void *log_arg;
};

/* A node given up on for a pod is forgotten after this many times replan_after_ms. */
#define SNAPSHOT_FORGET_TIMES 10

/*
 * What the snapshot remembers from round to round, owned by the caller (JSON objects, NULL until the first
 * snapshot): per node [the last status.heartbeat, when first seen] and [the failed generation, when first seen],
 * both on this process's monotonic clock and replaced by each snapshot_take(); per pod uid {node: when} for the
 * nodes it waited on in vain, which the caller adds to (controller.c's give_up) and snapshot_take() prunes.
 */
struct snapshot_memory {
	json_t *beats, *fails, *gave_up;
};

/* Per node of in.nodes, in the same order. */
struct snapshot_node {
	json_t *spec;  /* its spec.gpus as the cache had it (a reference) */
	char *rv;      /* the MigLayout's resourceVersion the plan is made from */
	json_t *fit;   /* its Node as fit.h reads it, a reference, or NULL */
	json_t *alloc; /* its allocatable (headroom.h), a reference, or NULL */
	bool settled;  /* its agent has applied its spec (status is the spec's layout) */
};

/* Per pod of in.pods, in the same order (oldest first). */
struct snapshot_pod {
	char uid[64];
	char created[32]; /* its creationTimestamp */
	json_t *fit;      /* its constraints (fit.h), a reference, or NULL */
	json_t *req;      /* its other requests (headroom.h), a reference, or NULL */
};

struct snapshot {
	struct plan_input in;      /* what plan_run_room() is given; in.room points at room_view */
	struct snapshot_node *node; /* in.n_nodes entries */
	struct snapshot_pod *pod;   /* in.n_pods entries */
	unsigned skipped;  /* MigLayouts left out: agent silent or failing, Node missing, cordoned or not Ready */
	unsigned silent;   /* of the skipped: left out for a silent agent */
	unsigned reserved; /* free instances held for bound pods the kubelet has not admitted yet */
	unsigned aged;     /* pods a level above the younger ones of their priority */
	long long due;     /* the first moment a timer read here falls due (monotonic ms; LLONG_MAX: none) */
	/* The planner's views of the per-node and per-pod data (plan_room wants arrays): borrowed references. */
	json_t **room;              /* per node: its room this round (headroom_room), or NULL */
	json_t **pod_req;           /* per pod: pod[].req gathered */
	struct plan_room room_view; /* {room, pod_req} */
};

/*
 * Reads the caches into s (overwritten), updating mem (beats and fails replaced, gave_up pruned of pods that no
 * longer wait and nodes given up long ago). 0, or -1 on out of memory (s is then empty, mem unchanged but
 * gave_up). Free s with snapshot_free().
 */
int snapshot_take(const struct snapshot_source *src, struct snapshot_memory *mem, struct snapshot *s,
		  struct kerf_err *err);

/* Releases what s holds and empties it; an empty s is a no-op. */
void snapshot_free(struct snapshot *s);

/*
 * spec.gpus for a node the plan changes (out->changes[from..to), all of that node): every GPU of the node, in
 * order, that the plan changes (its complete new layout) or the current spec already lists (as it lists it).
 * A new JSON array, NULL on out of memory.
 */
json_t *snapshot_spec_of(const struct snapshot *s, const struct plan_output *out, unsigned from, unsigned to);

/* Moves *due (a snapshot's due, the caller's timers added to it) to when, if that is earlier. */
static inline void snapshot_due_at(long long *due, long long when)
{
	if (when < *due)
		*due = when;
}

/* Whether GPU g (of the plan's node n) has an instance of profile at start now, before the plan. */
bool snapshot_has_now(const struct plan_node *n, unsigned g, unsigned profile, unsigned start);

#endif
