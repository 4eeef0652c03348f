/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c — see events.h. The memo of what was told is a dict (dict.h) of (pod uid, reason) pairs, each item
 * holding copies of both: a round looks each unplaced pod up by the pair itself, not by its hash alone, so two
 * pairs whose hashes collide cannot make one pod's Event stand for another's. The new memo is made of this
 * plan's pairs only (a fixed table that forgot everything when half full sent 13,813 Events in 60 s for
 * thousands of pods): a pair told before moves from the old memo to the new one, and what is left of the old is
 * freed. The owed list keeps a copy of the pod's name and its pair, since the snapshot they came from is gone by
 * the next round; an owed pair that is sent moves into the memo as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "dict.h"
#include "events.h"
#include "hash.h"

/* A (pod uid, reason) pair, one allocation: the memo's item, and what an owed Event will say. */
struct pair {
	const char *uid, *reason; /* both point into text */
	char text[];
};

/* What a lookup asks for. */
struct pair_key {
	const char *uid, *reason;
};

/* A MIGLayoutUnavailable Event a plan owes: the pod (namespace/name) and its pair. */
struct owed {
	char *pod;
	struct pair *p;
};

struct events {
	struct events_config cfg;
	struct kerf_dict told; /* struct pair: told and still true at the last plan */
	struct owed *owed;     /* what the last plan could not tell yet, in its order */
	size_t n_owed;
	double tokens; /* the bucket */
	long long tokens_ms;
	bool lost; /* cfg.leading said no during this events_owed() */
};

static uint64_t pair_hash_fnv(const char *uid, const char *reason)
{
	return kerf_hash_str(reason, kerf_hash_bytes("\xff", 1, kerf_hash_str(uid, KERF_FNV_OFFSET)));
}

uint64_t (*events_pair_hash)(const char *uid, const char *reason) = pair_hash_fnv;

static int pair_eq(const void *item, const void *key)
{
	const struct pair *p = item;
	const struct pair_key *k = key;

	return strcmp(p->uid, k->uid) == 0 && strcmp(p->reason, k->reason) == 0;
}

/* A new pair holding copies of uid and reason, or NULL when out of memory. */
static struct pair *pair_new(const char *uid, const char *reason)
{
	size_t lu = strlen(uid) + 1, lr = strlen(reason) + 1;
	struct pair *p = malloc(sizeof(*p) + lu + lr);

	if (p == NULL)
		return NULL;
	memcpy(p->text, uid, lu);
	memcpy(p->text + lu, reason, lr);
	p->uid = p->text;
	p->reason = p->text + lu;
	return p;
}

/* Adds p to memo d (it then owns p); when out of memory frees p and returns -1: that pair may be told again. */
static int memo_add(struct kerf_dict *d, struct pair *p)
{
	struct kerf_err err;

	if (kerf_dict_add(d, events_pair_hash(p->uid, p->reason), p, &err) == 0)
		return 0;
	free(p);
	return -1;
}

struct events *events_new(const struct events_config *cfg)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	ev->cfg = *cfg;
	kerf_dict_init(&ev->told, SIZE_MAX, "told pod Events");
	ev->tokens = cfg->burst;
	ev->tokens_ms = kerf_mono_ms();
	return ev;
}

void events_forget_owed(struct events *ev)
{
	for (size_t k = 0; k < ev->n_owed; k++) {
		free(ev->owed[k].pod);
		free(ev->owed[k].p);
	}
	free(ev->owed);
	ev->owed = NULL;
	ev->n_owed = 0;
}

void events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	events_forget_owed(ev);
	kerf_dict_free_items(&ev->told, free);
	free(ev);
}

size_t events_n_owed(const struct events *ev)
{
	return ev->n_owed;
}

/* One more Event allowed by the bucket (refilled at per_s since the last call), or false. */
static bool token(struct events *ev)
{
	long long now = kerf_mono_ms();

	ev->tokens += (double)(now - ev->tokens_ms) * ev->cfg.per_s / 1000.0;
	ev->tokens_ms = now;
	if (ev->tokens > ev->cfg.burst)
		ev->tokens = ev->cfg.burst;
	if (ev->tokens < 1.0)
		return false;
	ev->tokens -= 1.0;
	return true;
}

enum told events_tell(struct events *ev, const char *pod, const char *uid, const char *type, const char *reason,
		      const char *msg)
{
	char ns[PLAN_NAME_MAX], *name;
	struct kube_object_ref ref;
	struct kerf_err err;

	snprintf(ns, sizeof(ns), "%s", pod);
	if ((name = strchr(ns, '/')) == NULL)
		return TOLD_NOT;
	if (!ev->cfg.leading(ev->cfg.arg)) {
		ev->lost = true;
		return TOLD_NOT;
	}
	*name++ = '\0';
	if (!token(ev))
		return TOLD_HELD;
	ref = (struct kube_object_ref){"v1", "Pod", ns, name, uid};
	if (kube_event_emit(ev->cfg.c, &ref, type, reason, msg, "kerf-controller", &err) < 0) {
		kerf_log_emit(ev->cfg.log, ev->cfg.log_arg, KERF_LOG_ERROR, &err, "pod Event not sent",
			      "pod=%s event_reason=%s", pod, reason);
		return TOLD_NOT;
	}
	return TOLD_SENT;
}

/*
 * "re-cutting node-3 GPU 1: 2g.20gb@4 for this pod", so `kubectl describe pod` says why it waits a moment and
 * where it will run. The spec is written once per change (an equal spec is not written again), so each pod is
 * told once per re-cut. One pass over the assignments for all nodes.
 */
unsigned events_recut(struct events *ev, const struct snapshot *s, const struct plan_output *out, const bool *written)
{
	unsigned sent = 0;

	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		const struct plan_node *n = &s->in.nodes[a->node];
		char what[384], msg[640];
		size_t len = 0;

		if (!written[a->node])
			continue;
		for (unsigned b = 0; b < a->n_bindings && len < sizeof(what); b++) {
			const struct plan_binding *bd = &a->bindings[b];

			if (snapshot_has_now(n, bd->gpu, bd->profile, bd->start))
				continue; /* an instance that is there already: no re-cut for it */
			len += (size_t)snprintf(what + len, sizeof(what) - len, "%sGPU %u: %s@%u", len ? ", " : "",
						n->gpus[bd->gpu].index, n->gpus[bd->gpu].model->profiles[bd->profile].name,
						(unsigned)bd->start);
		}
		if (len == 0 || len >= sizeof(what))
			continue;
		snprintf(msg, sizeof(msg), "re-cutting %s %s for this pod", n->name, what);
		sent += events_tell(ev, s->in.pods[a->pod].name, s->pod[a->pod].uid, "Normal", "MIGLayoutRecut", msg) ==
			TOLD_SENT;
	}
	return sent;
}

/* Appends to the owed list (room for it was made), taking p; -1 when out of memory. */
static int owe(struct events *ev, const char *pod, struct pair *p)
{
	struct owed *o = &ev->owed[ev->n_owed];

	o->pod = strdup(pod);
	o->p = p;
	ev->n_owed++;
	return o->pod && o->p ? 0 : -1;
}

static void say_held(struct events *ev, size_t held)
{
	if (held)
		kerf_log_emit(ev->cfg.log, ev->cfg.log_arg, KERF_LOG_INFO, NULL,
			      "pod Events held back by the rate limit, sent in later rounds", "held=%zu per_s=%.0f", held,
			      ev->cfg.per_s);
}

/*
 * A pod told before is found in the last plan's memo; the new memo keeps only this plan's pairs (told before,
 * or told now), so it is as large as the set of waiting pods, never more. A pair that cannot be remembered (out
 * of memory) makes the plan not stand, as an owed Event that cannot be kept does.
 */
unsigned events_unplaced(struct events *ev, const struct snapshot *s, const struct plan_output *out, bool *keep)
{
	struct kerf_dict memo;
	unsigned n = 0, held = 0;

	events_forget_owed(ev);
	kerf_dict_init(&memo, SIZE_MAX, "told pod Events");
	if (out->n_unplaced && (ev->owed = calloc(out->n_unplaced, sizeof(*ev->owed))) == NULL) {
		kerf_log_emit(ev->cfg.log, ev->cfg.log_arg, KERF_LOG_ERROR, NULL, "pod Events not sent: out of memory", NULL);
		*keep = false;
		return 0;
	}
	for (unsigned k = 0; k < out->n_unplaced; k++) {
		const struct plan_unplaced *u = &out->unplaced[k];
		const char *pod = s->in.pods[u->pod].name, *uid = s->pod[u->pod].uid;
		struct pair_key key = {uid, u->reason};
		struct pair *p = kerf_dict_remove(&ev->told, events_pair_hash(uid, u->reason), &key, pair_eq);
		enum told t;

		if (p != NULL) { /* told already */
			if (memo_add(&memo, p) < 0)
				*keep = false;
			continue;
		}
		if ((t = events_tell(ev, pod, uid, "Warning", "MIGLayoutUnavailable", u->reason)) == TOLD_HELD)
			held++;
		if (t != TOLD_SENT) {
			if (owe(ev, pod, pair_new(uid, u->reason)) < 0)
				*keep = false;
			continue;
		}
		if ((p = pair_new(uid, u->reason)) == NULL || memo_add(&memo, p) < 0)
			*keep = false;
		n++;
	}
	say_held(ev, held);
	kerf_dict_free_items(&ev->told, free);
	ev->told = memo;
	return n;
}

/* Each one sent joins the memo. The first held back, or the caller no longer leading, stops the rest. */
unsigned events_owed(struct events *ev)
{
	size_t left = 0, k;
	unsigned n = 0;
	bool held = false;

	ev->lost = false;
	for (k = 0; k < ev->n_owed && !held && !ev->lost; k++) {
		struct owed *o = &ev->owed[k];
		enum told t = events_tell(ev, o->pod, o->p->uid, "Warning", "MIGLayoutUnavailable", o->p->reason);

		if (t != TOLD_SENT) {
			held = t == TOLD_HELD;
			ev->owed[left++] = *o;
			continue;
		}
		memo_add(&ev->told, o->p); /* out of memory: this pair may be told again after a new plan */
		free(o->pod);
		n++;
	}
	if (held)
		say_held(ev, ev->n_owed - k + 1);
	for (; k < ev->n_owed; k++) /* those not tried, kept in order */
		ev->owed[left++] = ev->owed[k];
	ev->n_owed = left;
	return n;
}
