/* SPDX-License-Identifier: Apache-2.0 */
/*
 * headroom.c — see headroom.h.
 *
 * The watch keeps, per bound pod, only its node's name and its requests: a cluster's every running pod is in
 * this cache, so the projection is small. Sums are made afresh each round (a pass over the cache, one hash
 * lookup per pod) rather than kept up to date on every event: a round is rare, watch events are not.

 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headroom.h"
#include "kube_pod.h"
#include "room.h"

struct headroom {
	struct kube_informer *pods;
	void (*ring)(void *arg);
	void *arg;
};

struct bound {
	char *node;
	json_t *req;
};

static const char *const bound_fields[] = {"spec.nodeName", KUBE_POD_DEMAND_FIELDS, KUBE_POD_REQUEST_FIELDS, NULL};

static void *project_bound(json_t *obj, void *arg)
{
	const json_t *spec = json_object_get(obj, "spec");
	const char *node = json_string_value(json_object_get(spec, "nodeName"));
	struct bound *b = calloc(1, sizeof(*b));

	(void)arg;
	if (b == NULL || (b->node = strdup(node != NULL ? node : "")) == NULL ||
	    (b->req = kube_pod_requests(spec)) == NULL) {
		if (b != NULL)
			free(b->node);
		free(b);
		return NULL;
	}
	return b;
}

static void free_bound(void *p)
{
	struct bound *b = p;

	if (b == NULL)
		return;
	free(b->node);
	json_decref(b->req);
	free(b);
}

static void rang(const char *k, const void *p, void *arg)
{
	struct headroom *h = arg;

	(void)k, (void)p;
	h->ring(h->arg);
}

struct headroom *headroom_start(struct kube_client *c, void (*ring)(void *arg), void *arg, struct kerf_err *err)
{
	struct headroom *h = calloc(1, sizeof(*h));
	struct kube_informer_spec s;

	if (h == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "headroom: out of memory");
		return NULL;
	}
	h->ring = ring;
	h->arg = arg;
	/* Every pod a node holds or will hold (kube-scheduler counts the same ones). Only a binding or an end
	 * changes room: updates are not rung. */
	s = (struct kube_informer_spec){.resource = &KUBE_PODS,
					.field_selector = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed",
					.fields = bound_fields, .project = project_bound, .free_proj = free_bound,
					.on_add = rang, .on_delete = rang, .arg = h};
	if ((h->pods = kube_informer_new(c, &s, err)) == NULL || kube_informer_start(h->pods, err) < 0) {
		kerf_err_prefix(err, "watching the pods bound to nodes");
		headroom_stop(h);
		return NULL;
	}
	return h;
}

int headroom_wait_synced(struct headroom *h, long timeout_ms, struct kerf_err *err)
{
	if (kube_informer_wait_synced(h->pods, timeout_ms, err) < 0)
		return kerf_err_prefix(err, "watching the pods bound to nodes");
	return 0;
}

size_t headroom_len(struct headroom *h)
{
	return kube_informer_len(h->pods);
}

void headroom_stop(struct headroom *h)
{
	if (h == NULL)
		return;
	kube_informer_free(h->pods);
	free(h);
}

json_t *headroom_allocatable(const json_t *node)
{
	const json_t *alloc = json_object_get(json_object_get(node, "status"), "allocatable"), *v;
	const char *key;
	json_t *out;

	if (!json_is_object(alloc) || json_object_size(alloc) == 0 || (out = json_object()) == NULL)
		return NULL;
	json_object_foreach((json_t *)alloc, key, v)
	{
		int64_t n = kube_resource_amount(key, v);

		if (n >= 0)
			json_object_set_new(out, key, json_integer(n));
	}
	return out;
}

/* ---- room ---- */

struct sum {
	json_t *index; /* node name -> position in room */
	json_t **room;
	int oom;
};

/* Takes what bound pod b requests, and one pod, from its node's room. */
static int take(const char *key, const char *rv, const void *proj, void *arg)
{
	const struct bound *b = proj;
	struct sum *s = arg;
	const json_t *at = json_object_get(s->index, b->node);
	json_t *room;

	(void)key, (void)rv;
	if (at == NULL || (room = s->room[json_integer_value(at)]) == NULL)
		return 0;
	if (plan_room_take(room, b->req) < 0)
		s->oom = 1;
	return s->oom;
}

json_t **headroom_room(struct headroom *h, const struct plan_input *in, json_t *const *alloc, struct kerf_err *err)
{
	struct sum s = {json_object(), calloc(in->n_nodes + 1, sizeof(json_t *)), 0};

	if (s.index == NULL || s.room == NULL)
		goto oom;
	for (unsigned n = 0; n < in->n_nodes; n++) {
		if (alloc[n] == NULL)
			continue;
		if ((s.room[n] = json_deep_copy(alloc[n])) == NULL ||
		    json_object_set_new(s.index, in->nodes[n].name, json_integer(n)) < 0)
			goto oom;
	}
	kube_informer_foreach(h->pods, take, &s);
	if (s.oom)
		goto oom;
	json_decref(s.index);
	return s.room;
oom:
	headroom_room_free(s.room, in->n_nodes);
	json_decref(s.index);
	kerf_err_set(err, KERF_ENOMEM, "headroom: out of memory");
	return NULL;
}

void headroom_room_free(json_t **room, unsigned n_nodes)
{
	for (unsigned n = 0; room != NULL && n < n_nodes; n++)
		json_decref(room[n]);
	free(room);
}
