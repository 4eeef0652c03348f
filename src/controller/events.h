/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.h — the controller's Events on pods (private to src/controller): what `kubectl describe pod` shows
 * about kerf's plan for it.
 *   - MIGLayoutRecut (Normal): "re-cutting node-3 GPU 1: 2g.20gb@4 for this pod", once per spec written;
 *   - MIGLayoutUnavailable (Warning): the planner's sentence, once per pod and sentence while it stays the
 *     pod's reason. The memo of what was told holds only the pairs still true at the last plan, so it is as
 *     large as the set of waiting pods. An Event not sent (rate limit, API failure) is owed: kept with what it
 *     says, and sent by events_owed() in a later round without a new plan, as long as that plan stands;
 *   - any other (the controller's MIGLayoutReplanned) through events_tell().
 * Every Event asks the caller whether it still leads (a deposed leader tells nothing) and takes a token from
 * one bucket: rate per_s, at most burst at once, so thousands of unplaceable pods cannot flood the API server
 * or stretch a round past its Lease.
 *
 * It does not decide what a plan says, and keeps no pod beyond the memo and the owed list. Not thread-safe: the
 * round's thread only.
 */
#ifndef KERF_CONTROLLER_EVENTS_H
#define KERF_CONTROLLER_EVENTS_H

#include <stdbool.h>

#include "kube.h"
#include "log.h"
#include "plan.h"
#include "snapshot.h"

struct events;

/* What became of one Event: sent; not sent (the caller no longer leads, a pod name without a namespace, or the
 * API refused: logged); or held back by the rate limit. */
enum told { TOLD_SENT, TOLD_NOT, TOLD_HELD };

struct events_config {
	struct kube_client *c; /* must outlive the events */
	double per_s, burst;   /* the bucket; it starts full */
	bool (*leading)(void *arg); /* asked before each Event: false, and nothing more is sent until it says true */
	void *arg;
	kerf_log_fn *log; /* or NULL */
	void *log_arg;
};

/* NULL on out of memory. */
struct events *events_new(const struct events_config *cfg);
void events_free(struct events *ev); /* NULL: no-op */

/* An Event of type and reason on the pod named pod (namespace/name) with that uid, saying msg. */
enum told events_tell(struct events *ev, const char *pod, const char *uid, const char *type, const char *reason,
		      const char *msg);

/* A MIGLayoutRecut Event on each pod the plan gives an instance that a spec written this round (written[node],
 * indexed like s->in.nodes) creates. Returns the Events sent. */
unsigned events_recut(struct events *ev, const struct snapshot *s, const struct plan_output *out, const bool *written);

/*
 * A MIGLayoutUnavailable Event on each pod out could not place that was not told so already; replaces the memo
 * and the owed list. Returns the Events sent. *keep is set false when the owed list could not be kept (out of
 * memory): the plan must not stand, so the next round plans and finds what to tell.
 */
unsigned events_unplaced(struct events *ev, const struct snapshot *s, const struct plan_output *out, bool *keep);

/* The owed Events, sent in order as far as the rate limit allows. Only while the plan that owed them stands
 * (nothing it read changed). Returns the Events sent. */
unsigned events_owed(struct events *ev);

/* How many Events the last plan still owes. */
size_t events_n_owed(const struct events *ev);

/* Forgets the owed list (a new plan is about to be made: it finds its own). */
void events_forget_owed(struct events *ev);

#endif
