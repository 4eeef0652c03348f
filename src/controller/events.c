/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c — see events.h. The memo of what was told is a sorted array of 64-bit hashes of (pod uid, reason):
 * a round looks each unplaced pod up by bsearch, and the new memo is made of this plan's pairs only (a fixed
 * table that forgot everything when half full sent 13,813 Events in 60 s for thousands of pods). The owed list
 * keeps copies of the pod's name, uid and sentence, since the snapshot they came from is gone by the next round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "events.h"
#include "hash.h"

/* A MIGLayoutUnavailable Event a plan owes: the pod (namespace/name, uid), the planner's sentence, and its
 * (uid, reason) hash for the memo. */
struct owed {
	uint64_t memo;
	char *pod, *uid, *reason;
};

struct events {
	struct events_config cfg;
	uint64_t *told; /* (pod uid, reason) pairs told and still true at the last plan, sorted */
	size_t n_told;
	struct owed *owed; /* what the last plan could not tell yet, in its order */
	size_t n_owed;
	double tokens;      /* the bucket */
	long long tokens_ms;
	bool lost; /* cfg.leading said no during this events_owed() */
};

struct events *events_new(const struct events_config *cfg)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return NULL;
	ev->cfg = *cfg;
	ev->tokens = cfg->burst;
	ev->tokens_ms = kerf_mono_ms();
	return ev;
}

void events_forget_owed(struct events *ev)
{
	for (size_t k = 0; k < ev->n_owed; k++) {
		free(ev->owed[k].pod);
		free(ev->owed[k].uid);
		free(ev->owed[k].reason);
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
	free(ev->told);
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

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = kerf_hash_str(b, kerf_hash_bytes("\xff", 1, kerf_hash_str(a, KERF_FNV_OFFSET)));

	return h ? h : 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Appends to the owed list (room for it was made); -1 when out of memory. */
static int owe(struct events *ev, uint64_t memo, const char *pod, const char *uid, const char *reason)
{
	struct owed *o = &ev->owed[ev->n_owed];

	o->memo = memo;
	o->pod = strdup(pod);
	o->uid = strdup(uid);
	o->reason = strdup(reason);
	ev->n_owed++;
	return o->pod && o->uid && o->reason ? 0 : -1;
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
 * or told now), so it is as large as the set of waiting pods, never more.
 */
unsigned events_unplaced(struct events *ev, const struct snapshot *s, const struct plan_output *out, bool *keep)
{
	uint64_t *memo = out->n_unplaced ? malloc(out->n_unplaced * sizeof(*memo)) : NULL;
	unsigned n = 0, held = 0;
	size_t m = 0;

	events_forget_owed(ev);
	if (out->n_unplaced && (memo == NULL || (ev->owed = calloc(out->n_unplaced, sizeof(*ev->owed))) == NULL)) {
		kerf_log_emit(ev->cfg.log, ev->cfg.log_arg, KERF_LOG_ERROR, NULL, "pod Events not sent: out of memory", NULL);
		free(memo);
		*keep = false;
		return 0;
	}
	for (unsigned k = 0; k < out->n_unplaced; k++) {
		const struct plan_unplaced *u = &out->unplaced[k];
		const char *pod = s->in.pods[u->pod].name, *uid = s->pod[u->pod].uid;
		uint64_t h = hash2(uid, u->reason);
		enum told t;

		if (ev->n_told && bsearch(&h, ev->told, ev->n_told, sizeof(h), cmp_u64) != NULL) {
			memo[m++] = h; /* told already */
			continue;
		}
		if ((t = events_tell(ev, pod, uid, "Warning", "MIGLayoutUnavailable", u->reason)) == TOLD_HELD)
			held++;
		if (t != TOLD_SENT) {
			if (owe(ev, h, pod, uid, u->reason) < 0)
				*keep = false;
			continue;
		}
		memo[m++] = h;
		n++;
	}
	say_held(ev, held);
	if (m > 0) /* memo is NULL when nothing is unplaced, and qsort takes no NULL */
		qsort(memo, m, sizeof(*memo), cmp_u64);
	free(ev->told);
	ev->told = memo;
	ev->n_told = m;
	return n;
}

/* Each one sent joins the memo. The first held back, or the caller no longer leading, stops the rest. */
unsigned events_owed(struct events *ev)
{
	uint64_t *memo = realloc(ev->told, (ev->n_told + ev->n_owed + 1) * sizeof(*memo));
	size_t left = 0, k;
	unsigned n = 0;
	bool held = false;

	if (memo == NULL)
		return 0; /* out of memory: tried again next round */
	ev->told = memo;
	ev->lost = false;
	for (k = 0; k < ev->n_owed && !held && !ev->lost; k++) {
		struct owed *o = &ev->owed[k];
		enum told t = events_tell(ev, o->pod, o->uid, "Warning", "MIGLayoutUnavailable", o->reason);

		if (t != TOLD_SENT) {
			held = t == TOLD_HELD;
			ev->owed[left++] = *o;
			continue;
		}
		ev->told[ev->n_told++] = o->memo;
		free(o->pod);
		free(o->uid);
		free(o->reason);
		n++;
	}
	if (held)
		say_held(ev, ev->n_owed - k + 1);
	for (; k < ev->n_owed; k++) /* those not tried, kept in order */
		ev->owed[left++] = ev->owed[k];
	ev->n_owed = left;
	if (n > 0)
		qsort(ev->told, ev->n_told, sizeof(*ev->told), cmp_u64);
	return n;
}
