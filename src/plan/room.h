/* SPDX-License-Identifier: Apache-2.0 */
/*
 * room.h — room on each node for what a pending pod asks for besides MIG devices (CPU, memory, the pod
 * count, extended resources), so that the plan puts a pod only where kube-scheduler would bind it
 * (NodeResourcesFit and the node's pod limit).
 *
 * Amounts are whole numbers (CPU in millicores: kube_quantity.h) in JSON objects {resource: amount}: a node's
 * room is its allocatable less what the pods bound there request, with "pods" the pods it can still take; a
 * pod's requests are kube_pod_requests()' answer. A node without room information (NULL) is not limited, and
 * a pod without requests takes only one pod's place.
 *
 * plan_run_room() is plan_run() with that room:
 *   1. before planning, each pod is kept to the nodes with room for it alone (its group narrowed with
 *      plan_group_deny; pods with the same group and requests share the verdict);
 *   2. after planning, on each node the pods given to it take its room in the planner's order (priority, then
 *      input order); a pod that no longer fits there is kept off every node now full for it (judged per
 *      group and requests, as in 1), and the plan is made again, at most PLAN_ROOM_PASSES times (each pass
 *      only takes nodes away). What the last pass leaves, the scheduler binds as room allows.
 * `kerf plan` (nodes' "allocatable" and "requested", pods' "requests": docs/planner.md) and the controller
 * (from the Nodes and bound pods it watches) both call it.
 */
#ifndef KERF_PLAN_ROOM_H
#define KERF_PLAN_ROOM_H

#include <jansson.h>

#include "err.h"
#include "plan.h"

#define PLAN_ROOM_PASSES 3

struct plan_room {
	json_t **node; /* n_nodes entries: the node's room, or NULL (unknown: not limited) */
	json_t **pod;  /* n_pods entries: the pod's requests, or NULL (none) */
};

struct plan_room_stats {
	unsigned no_room; /* pods kept off some node for lack of room (step 1) */
	unsigned crowded; /* pods moved off a node that had room for each alone, not for all (step 2) */
};

/*
 * Plans with in->room (NULL: exactly plan_run_cached(), or plan_run_packed() when in->pack; every pass plans
 * the same way). Narrows pods' groups in in (step 1 and 2), so run it
 * once per input. stats may be NULL. Fails as plan_run() does.
 */
int plan_run_room(struct plan_cache *cache, struct plan_input *in, struct plan_output *out,
		  struct plan_room_stats *stats, struct kerf_err *err);

/* Takes req (NULL: nothing) and one pod (where room has a "pods" limit) from room. -1 on out-of-memory. */
int plan_room_take(json_t *room, const json_t *req);

/* A new plan_room for in (every entry NULL), or NULL on out-of-memory. */
struct plan_room *plan_room_new(unsigned n_nodes, unsigned n_pods);

/* Releases room and the references it holds. in is needed for the sizes. NULL: no-op. */
void plan_room_free(struct plan_room *room, unsigned n_nodes, unsigned n_pods);

#endif
