/* SPDX-License-Identifier: Apache-2.0 */
/*
 * room.c — see room.h.
 *
 * The filter is evaluated once per distinct (group, requests) pair, since the pods of one Job share both; an
 * input with more distinct pairs than MAX_VERDICTS is filtered for the first ones only, and the rest are left
 * to kube-scheduler (and to the controller's re-plan of a pod left unbound).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "room.h"

#define MAX_VERDICTS 4096

struct plan_room *plan_room_new(unsigned n_nodes, unsigned n_pods)
{
	struct plan_room *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->node = calloc(n_nodes + 1, sizeof(*r->node))) == NULL ||
	    (r->pod = calloc(n_pods + 1, sizeof(*r->pod))) == NULL) {
		plan_room_free(r, 0, 0);
		return NULL;
	}
	return r;
}

void plan_room_free(struct plan_room *room, unsigned n_nodes, unsigned n_pods)
{
	if (room == NULL)
		return;
	for (unsigned n = 0; room->node != NULL && n < n_nodes; n++)
		json_decref(room->node[n]);
	for (unsigned i = 0; room->pod != NULL && i < n_pods; i++)
		json_decref(room->pod[i]);
	free(room->node);
	free(room->pod);
	free(room);
}

/* Whether room (NULL: unknown, no limit) has req (NULL: nothing) and one more pod. */
static bool has_room(const json_t *room, const json_t *req)
{
	const json_t *pods, *v;
	const char *res;

	if (room == NULL)
		return true;
	if ((pods = json_object_get(room, "pods")) != NULL && json_integer_value(pods) < 1)
		return false;
	json_object_foreach((json_t *)req, res, v)
		if (json_integer_value(v) > 0 && json_integer_value(json_object_get(room, res)) < json_integer_value(v))
			return false; /* an absent resource has none: the scheduler says "Insufficient" too */
	return true;
}

/* "group|requests", the key pods share a verdict by; NULL on out-of-memory. */
static char *verdict_key(unsigned group, const json_t *req)
{
	char *text = req != NULL ? json_dumps(req, JSON_SORT_KEYS | JSON_COMPACT) : NULL, *key;
	size_t len = (text != NULL ? strlen(text) : 2) + 16;

	if ((req != NULL && text == NULL) || (key = malloc(len)) == NULL) {
		free(text);
		return NULL;
	}
	snprintf(key, len, "%u|%s", group, text != NULL ? text : "{}");
	free(text);
	return key;
}

/*
 * Narrows the group of each pod i (only[i] set; only NULL: every pod) to the nodes whose room rooms[n] (NULL:
 * unknown, no limit) has the pod's requests and one more pod. Pods with the same group and requests share
 * one verdict, and at most max_verdicts are made (pods past them keep their groups). Returns how many pods
 * lost a node, or -1.
 */
static int narrow(struct plan_input *in, json_t *const *rooms, json_t *const *req, const unsigned char *only,
		  size_t max_verdicts, struct kerf_err *err)
{
	json_t *verdicts = json_object();
	unsigned char *deny = malloc(in->n_nodes + 1);
	int moved = 0;

	if (verdicts == NULL || deny == NULL)
		goto oom;
	for (unsigned i = 0; i < in->n_pods; i++) {
		unsigned base = in->pods[i].group;
		const json_t *known;
		char *key;
		int g;

		if (only != NULL && !only[i])
			continue;
		if ((key = verdict_key(base, req[i])) == NULL)
			goto oom;
		if ((known = json_object_get(verdicts, key)) != NULL) {
			g = (int)json_integer_value(known);
		} else if (json_object_size(verdicts) >= max_verdicts) {
			free(key);
			continue; /* left to the scheduler (see the top of this file) */
		} else {
			for (unsigned n = 0; n < in->n_nodes; n++)
				deny[n] = !has_room(rooms[n], req[i]);
			if ((g = plan_group_deny(in, base, deny, err)) < 0 ||
			    json_object_set_new(verdicts, key, json_integer(g)) < 0) {
				free(key);
				goto oom;
			}
		}
		free(key);
		moved += (unsigned)g != base;
		in->pods[i].group = (unsigned)g;
	}
	json_decref(verdicts);
	free(deny);
	return moved;
oom:
	json_decref(verdicts);
	free(deny);
	return kerf_err_set(err, KERF_ENOMEM, "out of memory");
}

/* Assignment order: higher priority first, then input order (the planner served them so). */
static int by_priority(const void *x, const void *y, void *arg)
{
	const struct plan_input *in = arg;
	const struct plan_assignment *a = *(const struct plan_assignment *const *)x;
	const struct plan_assignment *b = *(const struct plan_assignment *const *)y;
	int pa = in->pods[a->pod].priority, pb = in->pods[b->pod].priority;

	if (pa != pb)
		return pa > pb ? -1 : 1;
	return a->pod < b->pod ? -1 : a->pod > b->pod;
}

int plan_room_take(json_t *room, const json_t *req)
{
	const json_t *v;
	const char *res;
	int rc = 0;

	json_object_foreach((json_t *)req, res, v)
		rc |= json_object_set_new(room, res, json_integer(json_integer_value(json_object_get(room, res)) - json_integer_value(v)));
	if (json_object_get(room, "pods") != NULL) /* no pod limit known: none taken */
		rc |= json_object_set_new(room, "pods", json_integer(json_integer_value(json_object_get(room, "pods")) - 1));
	return rc < 0 ? -1 : 0;
}

/*
 * Step 2: the pods given to a node take its room in the planner's order; those that no longer fit beside the
 * ones before them (crowded) are planned again, kept off every node that is now full for them. "Full" is
 * judged per (group, requests), like step 1 and with the same cache of verdicts, so a pass adds one group per
 * distinct kind of crowded pod, not one per pod: the planner groups pods by signature, and thousands of
 * groups made its search fall back to its slow path (a 50x slower plan at 5,000 nodes, bench/controller).
 * Pods that fitted keep their groups, so they stay where they are. Returns the pods moved, or -1.
 */
static int overflow(struct plan_input *in, const struct plan_output *out, const struct plan_room *r,
		    struct kerf_err *err)
{
	const struct plan_assignment **order = malloc((out->n_assignments + 1) * sizeof(*order));
	json_t **left = calloc(in->n_nodes + 1, sizeof(*left)), **now = calloc(in->n_nodes + 1, sizeof(*now));
	unsigned char *crowded = calloc(in->n_pods + 1, 1);
	int moved;

	if (order == NULL || left == NULL || now == NULL || crowded == NULL) {
		moved = kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned k = 0; k < out->n_assignments; k++)
		order[k] = &out->assignments[k];
	qsort_r(order, out->n_assignments, sizeof(*order), by_priority, in);
	for (unsigned k = 0; k < out->n_assignments; k++) {
		const struct plan_assignment *a = order[k];

		if (r->node[a->node] == NULL)
			continue;
		if (left[a->node] == NULL && (left[a->node] = json_deep_copy(r->node[a->node])) == NULL) {
			moved = kerf_err_set(err, KERF_ENOMEM, "out of memory");
			goto out;
		}
		if (has_room(left[a->node], r->pod[a->pod]))
			plan_room_take(left[a->node], r->pod[a->pod]); /* out of memory: the room stays; the scheduler decides */
		else
			crowded[a->pod] = 1; /* fits there alone, not after the pods before it */
	}
	for (unsigned n = 0; n < in->n_nodes; n++)
		now[n] = left[n] != NULL ? left[n] : r->node[n]; /* each node's room after the pods that fitted */
	moved = narrow(in, now, r->pod, crowded, SIZE_MAX, err);
out:
	for (unsigned n = 0; left != NULL && n < in->n_nodes; n++)
		json_decref(left[n]);
	free(left);
	free(now);
	free(crowded);
	free(order);
	return moved;
}

int plan_run_room(struct plan_cache *cache, struct plan_input *in, struct plan_output *out,
		  struct plan_room_stats *stats, struct kerf_err *err)
{
	struct plan_room_stats local = {0, 0};
	int (*run)(struct plan_cache *, const struct plan_input *, struct plan_output *, struct kerf_err *) =
		in->pack ? plan_run_packed : plan_run_cached;
	int moved;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if (in->room == NULL)
		return run(cache, in, out, err);
	if ((moved = narrow(in, in->room->node, in->room->pod, NULL, MAX_VERDICTS, err)) < 0) /* step 1 */
		return -1;
	stats->no_room = (unsigned)moved;
	for (int pass = 1;; pass++) {
		if (run(cache, in, out, err) < 0)
			return -1;
		if (pass == PLAN_ROOM_PASSES || (moved = overflow(in, out, in->room, err)) == 0)
			return 0;
		plan_output_free(out);
		if (moved < 0)
			return -1;
		stats->crowded += (unsigned)moved;
	}
}
