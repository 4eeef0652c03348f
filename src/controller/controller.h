/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller.h — kerf's cluster controller: pending pods that ask for MIG devices, the nodes' MigLayouts,
 * one planner, new MigLayout specs.
 *
 * What a round does (only the leader of the "kerf-controller" Lease acts; the others only watch):
 *   1. the nodes: every MigLayout whose agent reported a status, renewed its heartbeat within
 *      agent_timeout_ms (timed on this process's clock), and whose Node kube-scheduler may place pods on (it
 *      exists, is Ready and not cordoned; a MigLayout left by a deleted node is ignored). A node whose agent has caught up with its
 *      spec (observedGeneration == generation) is planned from its status; a node still applying a spec is
 *      planned from that spec (its end state), so that a pod the last round gave it is given it again and
 *      no second node is re-cut for it. Used instances (status) stay fixed either way;
 *   2. the pods: Pending, not yet bound to a node, not being deleted, not held by a scheduling gate, placed by
 *      one of the schedulers kerf serves (scheduler_names), asking for at least one nvidia.com/mig-*
 *      resource, with their priority. A pod's demand is Kubernetes' effective request (limits, else
 *      requests): per resource the larger of the app containers' sum plus the sidecars' (restartable init
 *      containers) and each ordinary init container's own plus the sidecars declared before it;
 *      A pod already bound to a node but still Pending (its kubelet has not admitted it) counts the free
 *      instances it needs there as used, so no plan destroys or re-gives what kube-scheduler promised it;
 *   3. plan_run_room() (src/plan/room.h: plan_run() within each node's CPU, memory and pod room, headroom.h;
 *      src/plan/plan.h: the most pods by priority, then the fewest free instances destroyed, the fewest GPUs
 *      touched, the most room left);
 *   4. for every node whose layout the plan changes: a merge patch of spec.gpus listing each changed GPU's
 *      complete layout (GPUs not listed are left as they are by the agent), conditional on the
 *      resourceVersion the plan was made from: a MigLayout that changed since is not written (409) and is
 *      planned again, so a deposed leader's stale plan never lands. Nothing else is written, and a node whose
 *      spec already says the same is not written again. A round that outlasts a third of the Lease renews it
 *      before its next write or Event, and stops writing and telling when another contender holds it;
 *   5. for every pod the plan serves from instances a settled node already has: if it is still unbound
 *      replan_after_ms after that was first seen, that node is left out for it from the next round on
 *      (an Event tells it), since kube-scheduler will not place it there for a reason kerf does not see;
 *   6. for every pod the plan cannot place: an Event on the pod (reason MIGLayoutUnavailable) with the
 *      planner's sentence, once per pod and sentence while it stays so (the memory of what was said is as
 *      large as the set of waiting pods), at most events_per_s (burst event_burst): the rest in later rounds.
 * The controller never binds a pod: once the agent has cut the instances and its device plugin has
 * advertised them, kube-scheduler does.
 *
 * Rounds are planned at once, and batched only under a burst: a change is planned immediately (a lone pod on
 * an idle cluster does not wait) unless two rounds already ended within the last debounce_ms (two: a round's
 * own spec writes come back as a change, and answering that echo must not make the next pod wait). A change
 * beyond that is part of a burst: the round waits until no change has come for debounce_ms, at most about
 * max_wait_ms, so a job that creates a hundred pods costs about three rounds, not a hundred.
 *
 * No starvation: a pod that has waited age_after_ms (since its creationTimestamp) goes, in the plan, before
 * every younger pod of its priority and never before a pod of a higher priority: the planner is given
 * levels, not priorities (per priority, its aged pods one level above its young ones).
 *
 * A round whose inputs have not changed since the last plan (no watch event the plan reads, no timer due:
 * agent_timeout_ms, failed_grace_ms, replan_after_ms, a pod reaching age_after_ms, no Lease regained) makes no
 * plan: it renews the Lease, sends the MIGLayoutUnavailable Events that plan could not send yet (rate limit,
 * API failure; kept with what they say), within the rate limit, and returns (report.unchanged).
 *
 * Threads: call controller_* from one thread; the watches run in threads of their own and only signal. A
 * round's spec writes run on the writer's threads (writer.h) while controller_step() waits for them: log and
 * before_spec_write may be called from those, never two at once and never beside the calling thread.
 * Errors follow err.h.
 */
#ifndef KERF_CONTROLLER_H
#define KERF_CONTROLLER_H

#include <stdbool.h>

#include "err.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"

struct controller_options {
	const char *identity;        /* this contender for the Lease (e.g. the pod name); required */
	const char *lease_namespace; /* NULL: "kerf-system" */
	long lease_duration_s;       /* 0: 15 */
	long debounce_ms;            /* 0: 500 */
	long max_wait_ms;            /* 0: 5000 */
	long age_after_ms;           /* 0: 300000 (5 min); < 0: no aging (a pod's standing is its priority and age order) */
	bool pack;                   /* plan with plan_run_packed(): a busy GPU's free slices before an idle GPU */
	/* The schedulers whose pods kerf plans for (spec.schedulerName), NULL-terminated; NULL or empty:
	 * {"default-scheduler"}. Must outlive the controller. */
	const char *const *scheduler_names;
	long agent_timeout_ms; /* 0: 90000 (three missed heartbeats of 30 s) */
	/* A node whose agent has reported its current spec as failed (Failed=True, that generation) for this long
	 * is left out: its pods are planned elsewhere. 0: 30000 (the agent's backoff has retried several times). */
	long failed_grace_ms;
	/* A pod the plan serves from instances its node already has (the agent applied the spec) but that is still
	 * unbound this long after is planned elsewhere: that node is left out for it, and it is told why.
	 * 0: 60000 (the kubelet reports new devices within its 10 s node-status period; the scheduler binds within
	 * seconds after). */
	long replan_after_ms;
	double events_per_s; /* 0: 20 */
	double event_burst;  /* 0: 100 */
	/* Where the controller's series go (docs/operations.md lists them), or NULL: kerf_controller_* for rounds,
	 * pods, nodes, writes, Events and the Lease, kerf_watch_* for its watches. */
	struct metrics *metrics;
	kerf_log_fn *log; /* one event per decision (log.h), or NULL; also called from the watches' threads */
	void *log_arg;
	/* Spec writes of a round under way at once, each over a connection of its own (writer.h). 0: 8; at most 64. */
	unsigned write_concurrency;
	/* How long controller_start() waits in all for its caches' first lists. 0: 600000 (10 minutes: the
	 * 60,000 objects of bench/controller took 8-11 s). */
	long start_timeout_ms;
	/* Called about once a second while controller_start() waits for its caches, with what they hold so far, or
	 * NULL: a daemon keeps its liveness probe fed and says why it is not ready yet. Returning false stops the
	 * wait (a SIGTERM'd daemon): controller_start() then fails with KERF_ETIMEOUT, "stopped while syncing". */
	bool (*syncing)(void *arg, const char *progress);
	void *syncing_arg;
	/* 0: the informers' own (kube_informer_spec.watch_timeout_s). A test seam: short watches reconnect soon
	 * after the RBAC that allowed them is revoked, and so see the 403. */
	long watch_timeout_s;
	/* A test seam, NULL in kerf: called after a round's plan, before its spec writes (tests change a
	 * MigLayout there, as a new leader or an agent would between the two). */
	void (*before_write)(void *arg);
	void *before_write_arg;
	/* A test seam, NULL in kerf: called just before the round's nth spec write (from 0) would start, while no
	 * other write starts (a test takes the Lease away there, in the middle of the writes). */
	void (*before_spec_write)(void *arg, unsigned nth);
	void *before_spec_write_arg;
};

/* What one round did. */
struct controller_report {
	bool leader;           /* false: this process only watched */
	bool deposed;          /* it led when the round began, and learnt mid-round that another holds the Lease */
	bool planned;          /* a plan was made (leader, caches synced and following the server) */
	bool stale;            /* no plan: a cache it reads is failing its list or watch (controller_caches_fresh) */
	bool at_once;          /* the round answered a change at once, without debouncing (not in a burst) */
	unsigned aged;         /* pods planned ahead of younger ones of their priority (waited age_after_ms) */
	unsigned nodes, pods;  /* planned over */
	unsigned nodes_skipped; /* MigLayouts left out: agent silent or failing, no Node, cordoned or not Ready */
	unsigned reserved;      /* free instances held for bound pods their kubelet has not admitted yet */
	unsigned no_room;       /* pods left off some node for lack of CPU, memory, pod count or another request */
	unsigned crowded;       /* pods moved off a node that had room for each alone, not for all (re-planned) */
	unsigned placed;       /* pods the plan places */
	unsigned specs_written;
	unsigned specs_stale;  /* not written: the MigLayout changed since the plan was made (409) */
	unsigned replanned;    /* pods left unbound on a node that had their instances: planned elsewhere next */
	unsigned events;       /* Events emitted: Normal for pods re-cut for, Warning for pods that cannot be placed */
	unsigned writes_at_once; /* the most spec writes under way at one moment (at most write_concurrency) */
	/* No plan was made: nothing it reads (pods, MigLayouts, Nodes, bound pods, Lease, timers) changed since the
	 * last round's plan, which wrote all it had to. nodes..placed are that plan's figures; events are the
	 * Events that plan owed and this round sent. */
	bool unchanged;
};

struct controller;

/*
 * Starts the watches (pending pods, MigLayouts, Nodes, bound pods) and waits up to start_timeout_ms in all
 * for their first lists (KERF_ETIMEOUT past it). NULL on failure. c must outlive it; the spec writes go over
 * write_concurrency copies of it (kube_client_dup).
 */
struct controller *controller_start(struct kube_client *c, const struct controller_options *o, struct kerf_err *err);

/*
 * Waits up to wait_ms for a change (then debounces), renews or contends for the Lease, and if this process
 * leads, runs a round. A round also runs when wait_ms passes without a change (so a lost write is retried).
 * Returns 0, or -1 when the round could not finish (it is tried again next time). rep may be NULL.
 */
int controller_step(struct controller *ctl, long wait_ms, struct controller_report *rep, struct kerf_err *err);

/*
 * 1 when every cache the plan reads follows the server, else 0 with why: an informer's list or watch has
 * failed (kube_informer_health) and none has worked since, e.g. a 403 after the controller's RBAC was revoked.
 * While so, controller_step() makes no plan and writes nothing (report.stale). Thread-safe: a /readyz check
 * (cli_probe_also takes it as it is; ctl is a struct controller *).
 */
int controller_caches_fresh(void *ctl, char *why, size_t cap);

/* Releases the Lease if held (the next contender takes over at once) and stops the watches. NULL: no-op. */
void controller_stop(struct controller *ctl);

#endif
