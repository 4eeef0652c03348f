/* SPDX-License-Identifier: Apache-2.0 */
/*
 * headroom.h — the controller's side of room (src/plan/room.h): how much of each node's allocatable the pods
 * bound there already request.
 *
 * kube-scheduler binds a pod only where the node's allocatable, less what the pods already bound there
 * request, covers the pod's requests (NodeResourcesFit) and one more pod fits under the node's pod limit. A
 * re-cut on a node the scheduler then refuses for lack of CPU only destroys free instances. So the controller
 * watches every pod bound to a node and not finished (this module's informer: only the node and the requests
 * are kept), and each round turns the Nodes' allocatable into each node's room for plan_run_room().
 * A Node without status.allocatable (no kubelet has set it) is not limited: nothing is known.
 *
 * Amounts are whole numbers, CPU in millicores (kube_quantity.h), in JSON objects {resource: amount}, with
 * "pods" the pod count.
 *
 * Threads: the watch runs in a thread of its own and only calls ring(); call the rest from one thread.
 */
#ifndef KERF_CONTROLLER_HEADROOM_H
#define KERF_CONTROLLER_HEADROOM_H

#include <jansson.h>

#include "err.h"
#include "kube.h"
#include "plan.h"

struct headroom;

/* Starts the watch of bound pods (headroom_wait_synced() waits for its first list). ring(arg) is called when a
 * pod is bound or goes away (room changed). NULL on failure. */
struct headroom *headroom_start(struct kube_client *c, void (*ring)(void *arg), void *arg, struct kerf_err *err);
/* Waits up to timeout_ms for the first list: 0, or -1 with KERF_ETIMEOUT. */
int headroom_wait_synced(struct headroom *h, long timeout_ms, struct kerf_err *err);
/* The bound pods cached so far. */
size_t headroom_len(struct headroom *h);
void headroom_stop(struct headroom *h);

/* A node's allocatable, from its Node: {resource: amount}, or NULL when it has none (or on out-of-memory). */
json_t *headroom_allocatable(const json_t *node);

/*
 * Each node's room now: alloc[n] (headroom_allocatable of in->nodes[n]'s Node; NULL: unknown) less what the
 * pods bound to it request, "pods" included. A new array of in->n_nodes objects (NULL where unknown); free it
 * with headroom_room_free(). NULL on out-of-memory.
 */
json_t **headroom_room(struct headroom *h, const struct plan_input *in, json_t *const *alloc, struct kerf_err *err);
void headroom_room_free(json_t **room, unsigned n_nodes);

#endif
