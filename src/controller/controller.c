/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller.c — see controller.h. The watches fill four caches (pending MIG pods, MigLayouts, Nodes, and in
 * headroom.c the pods bound to nodes) and ring a bell; a round reads them into the planner's input
 * (snapshot.c: which nodes and pods, aging, node filters, room), plans, writes what changed (writer.c runs
 * the writes), and tells the pods (events.c).
 *
 * The caches keep projections, not objects: a pod is its name, uid, priority, node (once bound), MIG demands
 * and other requests; a MigLayout is its generation, observedGeneration, spec.gpus, status.gpus (kept as JSON
 * subtrees, small) and heartbeat; a Node is why no pod can go there now, if anything, what fit.h reads, and
 * its allocatable.
 *
 * The watches also count changes (ctl->changes, bumped where they ring, and only for what a plan reads): a
 * round that finds the count where the last plan left it and no timer of the last plan due makes no plan (at
 * 5,000 nodes a plan of nothing new cost 1 s of CPU every --interval); it only sends the Events that plan still
 * owes (events.h). Heartbeats
 * are counted apart (ctl->heartbeats): a new one changes the plan only for a node left out as silent.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "controller.h"
#include "deadline.h"
#include "events.h"
#include "headroom.h"
#include "kube_metrics.h"
#include "room.h"
#include "kube_pod.h"
#include "plan.h"
#include "snapshot.h"
#include "writer.h"

/* A pod's demands go into the planner's list as they are. */
_Static_assert(KUBE_POD_MAX_DEMANDS <= PLAN_MAX_DEMANDS, "a pod's demands fit plan_pod.demands");
_Static_assert(KUBE_POD_RESOURCE_MAX <= MIG_RESOURCE_MAX, "a demand's resource name fits plan_demand.resource");
/* Rounds one debounce_ms window may hold at once; a change beyond them waits for the burst to settle. Two: a
 * round's own writes come back as a change, and answering that echo at once must not make the next pod wait. */
#define BURST_ROUNDS 2

static const char *const default_schedulers[] = {"default-scheduler", NULL};

struct controller {
	struct kube_client *c;
	struct controller_options o;
	char *identity, *lease_ns;
	struct kube_informer *pods, *layouts, *nodes;
	char stale[KERF_ERR_MSG_MAX + 128]; /* why the last step did not plan (a cache is stale), or "" */
	struct headroom *room; /* what pods bound to nodes request: room left for a pending pod */
	struct kube_elector *elector;
	struct writer *writer; /* the spec writes' connections (writer.h) */
	struct kerf_bell bell;
	/* Bumped by the watches (any thread) when something a plan reads changes; heartbeats alone go to heartbeats.
	 * silent: nodes the last snapshot left out for a silent agent (a heartbeat from one of them is a change). */
	atomic_ulong changes, heartbeats;
	atomic_uint silent;
	/* The last plan: the counts it was made from, the first moment one of its timers falls due (an agent's
	 * timeout, a failure's grace, a replan_after_ms, a given-up node forgotten), and its report. valid: it was
	 * made as leader, finished and was not deposed (Events it could not send yet are owed, events.h). */
	struct {
		bool valid;
		unsigned long changes, heartbeats;
		long long due_ms;
		struct controller_report rep;
	} last;
	/* Events on pods (events.h): the rate limit, the memo of what was told, and what the last plan owes. */
	struct events *events;
	/* What the snapshots remember (snapshot.h): per node the last heartbeat and failure with when this
	 * process first saw them (agents' clocks are never compared with ours), and per pod the nodes it waited on
	 * longer than replan_after_ms (give_up() adds them; the plan leaves them out for it for a while). */
	struct snapshot_memory mem;
	/* Per pod the plan gives instances a settled node has now (the scheduler could bind it there), by uid:
	 * that node (text) and when first seen so (since). Zero until the first round fills it. */
	struct kerf_dict waits;
	/* When this process last knew it held the Lease (monotonic ms), and whether it learnt mid-round that it
	 * no longer does (reset by every step). */
	long long led_ms;
	bool deposed;
	bool was_leader;
	/* The planner's layout tables and per-GPU-shape options, kept from round to round (plan.h: bounded;
	 * rounds run on one thread). NULL until the first plan, or if it could not be allocated. */
	struct plan_cache *plan_cache;
	/* When the last BURST_ROUNDS steps ended (monotonic ms, latest first; 0: none yet): a change that comes
	 * while all are less than debounce_ms old is part of a burst. */
	long long round_ms[BURST_ROUNDS];
	struct ctl_metrics {
		struct metric *rounds, *round_s, *plan_s, *pods, *unplaced, *nodes, *specs, *events, *replanned,
			*leader, *transitions, *unchanged;
		struct kube_watch_metrics watch[3];
	} m;
};

static bool still_leading(struct controller *ctl);

/* One log event (log.h): a level, the error it reports (or NULL), a constant message, key=value fields. */
static void say(struct controller *ctl, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		const char *fields, ...) __attribute__((format(printf, 5, 6)));

static void say(struct controller *ctl, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	kerf_log_vemit(ctl->o.log, ctl->o.log_arg, level, err, msg, fields, ap);
	va_end(ap);
}

/* Something a plan reads changed (any thread): counted, and the bell rung. */
static void changed(struct controller *ctl)
{
	atomic_fetch_add(&ctl->changes, 1);
	kerf_bell_ring(&ctl->bell);
}

/* ---- pods ---- */

/* What the pod projection reads; the watch decodes nothing else (kube_decoder_keep). */
static const char *const pod_fields[] = {"metadata.uid",
					 "metadata.creationTimestamp",
					 "metadata.deletionTimestamp",
					 "spec.priority",
					 "spec.nodeName",
					 "spec.schedulerName",
					 "spec.schedulingGates",
					 KUBE_POD_DEMAND_FIELDS,
					 KUBE_POD_REQUEST_FIELDS,
					 "spec.nodeSelector",
					 "spec.affinity",
					 "spec.tolerations",
					 NULL};

/* Whether kerf plans for the pod at all: one of the schedulers it serves places it, and no gate holds it. */
static bool candidate(const struct controller *ctl, const json_t *md, const json_t *spec)
{
	const char *sched = snapshot_str(json_object_get(spec, "schedulerName"));
	const json_t *gates = json_object_get(spec, "schedulingGates");

	if (json_object_get(md, "deletionTimestamp") != NULL)
		return false; /* going away */
	if (json_is_array(gates) && json_array_size(gates) > 0)
		return false; /* held back on purpose (Kueue and others): not the scheduler's yet, so not kerf's */
	if (*sched == '\0') /* the API server defaults it; an object without one is the default scheduler's */
		sched = "default-scheduler";
	for (const char *const *n = ctl->o.scheduler_names; *n; n++)
		if (strcmp(*n, sched) == 0)
			return true;
	return false;
}

static void *project_pod(json_t *obj, void *arg)
{
	const json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
	struct pod_proj *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s/%s", snapshot_str(json_object_get(md, "namespace")), snapshot_str(json_object_get(md, "name")));
	snprintf(p->uid, sizeof(p->uid), "%s", snapshot_str(json_object_get(md, "uid")));
	snprintf(p->created, sizeof(p->created), "%s", snapshot_str(json_object_get(md, "creationTimestamp")));
	p->priority = (int)json_integer_value(json_object_get(spec, "priority"));
	snprintf(p->node, sizeof(p->node), "%s", snapshot_str(json_object_get(spec, "nodeName")));
	/* A bound pod not yet running needs its devices on its node whoever bound it: they are reserved there. */
	if (p->node[0] ? json_object_get(md, "deletionTimestamp") == NULL : candidate(arg, md, spec))
		kube_pod_mig_demands(spec, &p->dem);
	if (p->dem.n > 0 && p->node[0] == '\0' &&
	    (json_object_get(spec, "nodeSelector") || json_object_get(spec, "affinity") || json_object_get(spec, "tolerations")))
		p->fit = json_pack("{s:O?, s:O?, s:O?}", "nodeSelector", json_object_get(spec, "nodeSelector"), "affinity",
				   json_object_get(spec, "affinity"), "tolerations", json_object_get(spec, "tolerations"));
	if (p->dem.n > 0 && p->node[0] == '\0' && (p->req = kube_pod_requests(spec)) != NULL &&
	    json_object_size(p->req) == 0) {
		json_decref(p->req); /* asks for nothing else: the pod count is all (most pods ask for some CPU) */
		p->req = NULL;
	}
	return p;
}

static void free_pod(void *proj)
{
	struct pod_proj *p = proj;

	if (p != NULL) {
		json_decref(p->fit);
		json_decref(p->req);
	}
	free(p);
}

/* ---- MigLayouts: {generation, observed, spec (spec.gpus), status (status.gpus)} ---- */

static const char *const layout_fields[] = {"metadata.generation", "spec", "status", NULL};

/* Whether the agent reported the object's current spec as failed: Failed=True, and status at that generation. */
static bool spec_failed(const json_t *obj)
{
	const json_t *st = json_object_get(obj, "status"), *c;
	size_t i;

	if (json_integer_value(json_object_get(st, "observedGeneration")) !=
	    json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation")))
		return false;
	json_array_foreach(json_object_get(st, "conditions"), i, c)
		if (strcmp(snapshot_str(json_object_get(c, "type")), "Failed") == 0)
			return strcmp(snapshot_str(json_object_get(c, "status")), "True") == 0;
	return false;
}

static void *project_layout(json_t *obj, void *arg)
{
	const json_t *st = json_object_get(obj, "status");

	(void)arg;
	return json_pack("{s:I, s:I, s:O?, s:O?, s:s, s:b}", "generation",
			 json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation")), "observed",
			 json_integer_value(json_object_get(st, "observedGeneration")), "spec",
			 json_object_get(json_object_get(obj, "spec"), "gpus"), "status", json_object_get(st, "gpus"), "beat",
			 snapshot_str(json_object_get(st, "heartbeat")), "failed", spec_failed(obj));
}

static void free_layout(void *p)
{
	json_decref(p);
}

/* ---- Nodes: whether the scheduler may place a pod there at all ---- */

static const char *const node_fields[] = {"metadata.name",	"metadata.labels", "spec.unschedulable",
					  "spec.taints", "status.conditions", "status.allocatable", NULL};

static void *project_node(json_t *obj, void *arg)
{
	const json_t *c;
	struct node_proj *p = calloc(1, sizeof(*p));
	bool ready = false;
	size_t i;

	(void)arg;
	if (p == NULL)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(obj, "status"), "conditions"), i, c)
		if (strcmp(snapshot_str(json_object_get(c, "type")), "Ready") == 0)
			ready = strcmp(snapshot_str(json_object_get(c, "status")), "True") == 0;
	if (json_is_true(json_object_get(json_object_get(obj, "spec"), "unschedulable")))
		p->unusable = "cordoned (spec.unschedulable)";
	else if (!ready)
		p->unusable = "not Ready";
	/* Only what fit.h reads: an update that changes nothing here (resourceVersion, heartbeats) is not a change */
	p->fit = json_pack("{s:{s:O?, s:O?}, s:{s:O?, s:O?}}", "metadata", "name",
			   json_object_get(json_object_get(obj, "metadata"), "name"), "labels",
			   json_object_get(json_object_get(obj, "metadata"), "labels"), "spec", "taints",
			   json_object_get(json_object_get(obj, "spec"), "taints"), "unschedulable",
			   json_object_get(json_object_get(obj, "spec"), "unschedulable"));
	p->alloc = headroom_allocatable(obj);
	return p;
}

static void free_node(void *proj)
{
	struct node_proj *p = proj;

	if (p != NULL) {
		json_decref(p->fit);
		json_decref(p->alloc);
	}
	free(p);
}

/*
 * A Node update rings the bell only when what the plan reads changed (Ready, cordoned, labels, taints): the
 * kubelet rewrites its Node's status every few seconds (every second where tuned so), and each ring restarts
 * the round's debounce, which delayed every plan by the next quiet moment.
 */
static void node_changed(const char *k, const void *o, const void *n, void *arg)
{
	const struct node_proj *a = o, *b = n;

	(void)k;
	if (a->unusable != b->unusable || !json_equal(a->fit, b->fit) ||
	    (a->alloc != b->alloc && (a->alloc == NULL || b->alloc == NULL || !json_equal(a->alloc, b->alloc))))
		changed(arg);
}

/* ---- bell ---- */

static void rang_add(const char *k, const void *p, void *arg)
{
	(void)k, (void)p;
	changed(arg);
}

/* Any change at all (the informer's on_change): what the pods' informer rings for. */
static void rang(void *arg)
{
	changed(arg);
}

/*
 * A MigLayout update. Each agent renews status.heartbeat every 30 s: at 5,000 nodes one update every 6 ms, and
 * each would make the next round plan again. A new heartbeat alone changes the plan only for a node the last
 * round left out as silent, so it is counted apart, and rings only while there is such a node.
 */
static void layout_changed(const char *k, const void *o, const void *n, void *arg)
{
	static const char *const planned[] = {"generation", "observed", "spec", "status", "failed"};
	struct controller *ctl = arg;

	(void)k;
	for (size_t i = 0; i < sizeof(planned) / sizeof(planned[0]); i++) {
		const json_t *a = json_object_get(o, planned[i]), *b = json_object_get(n, planned[i]);

		if (a != b && (a == NULL || b == NULL || !json_equal(a, b))) {
			changed(ctl);
			return;
		}
	}
	atomic_fetch_add(&ctl->heartbeats, 1);
	if (atomic_load(&ctl->silent) > 0)
		kerf_bell_ring(&ctl->bell);
}

/* The controller's families (metrics.h); with no registry every update is a no-op. */
static void metrics_init(struct controller *ctl)
{
	struct metrics *r = ctl->o.metrics;
	struct ctl_metrics *m = &ctl->m;

	m->rounds = metrics_counter(r, "kerf_controller_rounds_total", "Planning rounds, by result (ok, error).", "result");
	m->round_s = metrics_histogram(r, "kerf_controller_round_duration_seconds",
				       "A round's time: reading the caches, planning, writing specs and Events.", NULL,
				       METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N);
	m->plan_s = metrics_histogram(r, "kerf_controller_plan_duration_seconds", "The planner's time in a round.", NULL,
				      METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N);
	m->pods = metrics_gauge(r, "kerf_controller_pods",
				"Pods waiting for MIG devices at the last round, and of them placed and unplaced by its plan.",
				"state");
	m->unplaced = metrics_gauge(r, "kerf_controller_unplaced_pods",
				    "Pods the last round's plan could not place, by reason (no_profile, node_filters, capacity, "
				    "priority, other).",
				    "reason");
	m->nodes = metrics_gauge(r, "kerf_controller_nodes",
				 "MigLayouts at the last round: planned on, or left out (agent silent or failing, no Node, cordoned, "
				 "not Ready).",
				 "state");
	m->specs = metrics_counter(r, "kerf_controller_spec_writes_total",
				   "MigLayout spec writes, by result (written, conflict: changed since the plan).", "result");
	m->events = metrics_counter(r, "kerf_controller_events_total", "Events sent on pods.", NULL);
	m->replanned = metrics_counter(r, "kerf_controller_replanned_pods_total",
				       "Pods left unbound beside their instances and planned on another node.", NULL);
	m->leader = metrics_gauge(r, "kerf_controller_leader", "1 while this process holds the Lease.", NULL);
	m->transitions = metrics_counter(r, "kerf_controller_leader_transitions_total",
					 "Times this process took or lost the Lease.", NULL);
	m->unchanged = metrics_counter(r, "kerf_controller_unchanged_rounds_total",
				       "Rounds that made no plan: nothing a plan reads had changed since the last one.", NULL);
	kube_watch_metrics_init(&m->watch[0], r, ctl->pods, "pods");
	kube_watch_metrics_init(&m->watch[1], r, ctl->layouts, "miglayouts");
	kube_watch_metrics_init(&m->watch[2], r, ctl->nodes, "nodes");
}

/* A planner reason (plan.c) as a metric label: a few values, never the sentence itself. */
static const char *reason_class(const char *reason)
{
	if (strncmp(reason, "no node has a GPU model", 23) == 0)
		return "no_profile";
	if (strstr(reason, "kube-scheduler would place it on none") != NULL)
		return "node_filters";
	if (strstr(reason, "equal or higher priority") != NULL)
		return "priority";
	if (strncmp(reason, "needs ", 6) == 0)
		return "capacity";
	return "other";
}

static void metrics_round(struct controller *ctl, const struct controller_report *rep, const struct plan_output *out,
			  long long t0, int rc)
{
	static const char *const classes[] = {"no_profile", "node_filters", "capacity", "priority", "other"};
	struct ctl_metrics *m = &ctl->m;
	unsigned by[5] = {0};

	metric_add(m->rounds, 1, rc == 0 ? "ok" : "error");
	metric_observe(m->round_s, (double)(kerf_mono_ms() - t0) / 1000.0);
	metric_set(m->pods, rep->pods, "waiting");
	metric_set(m->pods, rep->placed, "placed");
	metric_set(m->pods, out != NULL ? out->n_unplaced : 0, "unplaced");
	for (unsigned k = 0; out != NULL && k < out->n_unplaced; k++)
		for (unsigned c = 0; c < 5; c++)
			by[c] += strcmp(reason_class(out->unplaced[k].reason), classes[c]) == 0;
	for (unsigned c = 0; c < 5; c++)
		metric_set(m->unplaced, by[c], classes[c]);
	metric_set(m->nodes, rep->nodes, "planned");
	metric_set(m->nodes, rep->nodes_skipped, "left_out");
	metric_add(m->specs, rep->specs_written, "written");
	metric_add(m->specs, rep->specs_stale, "conflict");
	metric_add(m->events, rep->events);
	metric_add(m->replanned, rep->replanned);
}

static void ring(void *arg)
{
	changed(arg);
}

/* An informer's list or watch failed (err), or works again (err NULL): logged, rate-limited by the informer. */
static void watch_failed(const struct kube_resource *r, const struct kerf_err *err, unsigned long failures, void *arg)
{
	struct controller *ctl = arg;

	if (err == NULL) {
		say(ctl, KERF_LOG_INFO, NULL, "watch works again", "resource=%s", r->plural);
		changed(ctl); /* plan now from the fresh cache */
		return;
	}
	say(ctl, KERF_LOG_ERROR, err, "watch failing: its cache is stale", "resource=%s failures=%lu", r->plural, failures);
}

/* Whether every cache a plan reads follows the server: 1, or 0 with why, which one and its health. */
static int caches_fresh(struct controller *ctl, char *why, size_t cap, const char **which, struct kube_informer_health *h)
{
	static const char *const names[] = {"pods", "miglayouts", "nodes"};
	struct kube_informer *const infs[] = {ctl->pods, ctl->layouts, ctl->nodes};

	for (size_t i = 0; i < sizeof(infs) / sizeof(infs[0]); i++) {
		kube_informer_health(infs[i], h);
		if (!h->failing)
			continue;
		snprintf(why, cap, "the %s watch has failed %lu time(s) in a row for %lld ms: %s", names[i], h->failures,
			 kerf_mono_ms() - h->failing_since_ms, h->last.msg);
		*which = names[i];
		return 0;
	}
	return 1;
}

int controller_caches_fresh(void *ctl, char *why, size_t cap)
{
	struct kube_informer_health h;
	const char *which;

	return caches_fresh(ctl, why, cap, &which, &h);
}

/* ---- start / stop ---- */

/*
 * Waits for the four caches' first lists, up to start_timeout_ms in all (one bound for the whole start, not
 * one per cache: what a large cluster needs is the sum), telling o->syncing about once a second what they
 * hold so far. The lists are applied as they come, so the counts grow while the wait goes on.
 */
static int wait_synced(struct controller *ctl, struct kerf_err *err)
{
	long long start = kerf_mono_ms(), left;
	struct kube_informer *inf[] = {ctl->pods, ctl->layouts, ctl->nodes};
	unsigned i = 0;

	while ((left = ctl->o.start_timeout_ms - (kerf_mono_ms() - start)) > 0) {
		long slice = left < 1000 ? (long)left : 1000;
		char progress[256];
		int rc = i < 3 ? kube_informer_wait_synced(inf[i], slice, err) : headroom_wait_synced(ctl->room, slice, err);

		if (rc == 0 && ++i == 4)
			return 0;
		if (rc == 0 || ctl->o.syncing == NULL)
			continue;
		snprintf(progress, sizeof(progress),
			 "syncing the caches for %lld s: %zu pending pods, %zu MigLayouts, %zu Nodes, %zu bound pods so far",
			 (kerf_mono_ms() - start) / 1000, kube_informer_len(ctl->pods), kube_informer_len(ctl->layouts),
			 kube_informer_len(ctl->nodes), headroom_len(ctl->room));
		if (!ctl->o.syncing(ctl->o.syncing_arg, progress))
			return kerf_err_set(err, KERF_ETIMEOUT, "stopped while syncing the caches: %s", progress);
	}
	return kerf_err_set(err, KERF_ETIMEOUT,
			    "the caches were not synced after %ld ms (--start-timeout): %zu pending pods, %zu MigLayouts, "
			    "%zu Nodes, %zu bound pods so far",
			    ctl->o.start_timeout_ms, kube_informer_len(ctl->pods), kube_informer_len(ctl->layouts),
			    kube_informer_len(ctl->nodes), headroom_len(ctl->room));
}

static bool leading(void *ctl)
{
	return still_leading(ctl);
}

static int events_start(struct controller *ctl, struct kerf_err *err)
{
	struct events_config ec = {ctl->c, ctl->o.events_per_s, ctl->o.event_burst, leading, ctl, ctl->o.log, ctl->o.log_arg};

	if ((ctl->events = events_new(&ec)) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	return 0;
}

struct controller *controller_start(struct kube_client *c, const struct controller_options *o, struct kerf_err *err)
{
	struct controller *ctl = calloc(1, sizeof(*ctl));
	struct kube_informer_spec ps, ls, ns;
	struct kube_elector_config ec;

	if (ctl == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "controller: out of memory");
		return NULL;
	}
	kerf_bell_init(&ctl->bell);
	ctl->c = c;
	ctl->o = *o;
	if (o->identity == NULL || *o->identity == '\0') {
		kerf_err_set(err, KERF_EINVAL, "controller: identity: empty (each contender for the Lease needs one)");
		goto fail;
	}
	if ((ctl->identity = strdup(o->identity)) == NULL ||
	    (ctl->lease_ns = strdup(o->lease_namespace ? o->lease_namespace : "kerf-system")) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "controller: out of memory");
		goto fail;
	}
	ctl->o.identity = ctl->identity;
	ctl->o.lease_namespace = ctl->lease_ns;
	ctl->o.lease_duration_s = o->lease_duration_s > 0 ? o->lease_duration_s : 15;
	ctl->o.debounce_ms = o->debounce_ms > 0 ? o->debounce_ms : 500;
	ctl->o.max_wait_ms = o->max_wait_ms > 0 ? o->max_wait_ms : 5000;
	ctl->o.age_after_ms = o->age_after_ms != 0 ? o->age_after_ms : 300000;
	ctl->o.agent_timeout_ms = o->agent_timeout_ms > 0 ? o->agent_timeout_ms : 90000;
	ctl->o.failed_grace_ms = o->failed_grace_ms > 0 ? o->failed_grace_ms : 30000;
	ctl->o.replan_after_ms = o->replan_after_ms > 0 ? o->replan_after_ms : 60000;
	ctl->o.events_per_s = o->events_per_s > 0 ? o->events_per_s : 20;
	ctl->o.event_burst = o->event_burst > 0 ? o->event_burst : 100;
	ctl->o.start_timeout_ms = o->start_timeout_ms > 0 ? o->start_timeout_ms : 600000;
	if ((ctl->mem.gave_up = json_object()) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "controller: out of memory");
		goto fail;
	}
	if (o->scheduler_names == NULL || o->scheduler_names[0] == NULL)
		ctl->o.scheduler_names = default_schedulers;
	/* Pods that still wait (the API server filters, not kerf): unbound ones to plan for, and bound ones whose
	 * kubelet has not admitted them yet, whose devices must not be re-cut under them. */
	ps = (struct kube_informer_spec){.resource = &KUBE_PODS, .field_selector = "status.phase=Pending",
					 .fields = pod_fields, .project = project_pod, .free_proj = free_pod,
					 .on_change = rang, .arg = ctl, .on_error = watch_failed};
	ns = (struct kube_informer_spec){.resource = &KUBE_NODES, .fields = node_fields, .project = project_node,
					 .free_proj = free_node, .on_add = rang_add, .on_update = node_changed,
					 .on_delete = rang_add, .arg = ctl, .on_error = watch_failed};
	ls = (struct kube_informer_spec){.resource = &KUBE_MIGLAYOUTS, .fields = layout_fields,
					 .project = project_layout, .free_proj = free_layout, .on_add = rang_add,
					 .on_update = layout_changed, .on_delete = rang_add, .arg = ctl, .on_error = watch_failed};
	ps.watch_timeout_s = ns.watch_timeout_s = ls.watch_timeout_s = o->watch_timeout_s;
	ec = (struct kube_elector_config){ctl->lease_ns, "kerf-controller", ctl->identity, ctl->o.lease_duration_s};
	if ((ctl->pods = kube_informer_new(c, &ps, err)) == NULL || kube_informer_start(ctl->pods, err) < 0 ||
	    (ctl->layouts = kube_informer_new(c, &ls, err)) == NULL || kube_informer_start(ctl->layouts, err) < 0 ||
	    (ctl->nodes = kube_informer_new(c, &ns, err)) == NULL || kube_informer_start(ctl->nodes, err) < 0 ||
	    (ctl->room = headroom_start(c, ring, ctl, err)) == NULL || wait_synced(ctl, err) < 0 ||
	    (ctl->writer = writer_new(c, o->write_concurrency, err)) == NULL || events_start(ctl, err) < 0 ||
	    (ctl->elector = kube_elector_new(c, &ec, err)) == NULL) {
		kerf_err_prefix(err, "controller");
		goto fail;
	}
	metrics_init(ctl);
	kerf_bell_ring(&ctl->bell); /* the first round runs at once */
	return ctl;
fail:
	controller_stop(ctl);
	return NULL;
}

void controller_stop(struct controller *ctl)
{
	struct kerf_err err;

	if (ctl == NULL)
		return;
	if (ctl->elector != NULL && kube_elector_release(ctl->elector, &err) < 0)
		say(ctl, KERF_LOG_ERROR, &err, "releasing the Lease failed", NULL);
	kube_elector_free(ctl->elector);
	writer_free(ctl->writer);
	kube_informer_free(ctl->pods);
	kube_informer_free(ctl->layouts);
	kube_informer_free(ctl->nodes);
	headroom_stop(ctl->room);
	kerf_bell_destroy(&ctl->bell);
	events_free(ctl->events);
	kerf_dict_free_items(&ctl->waits, free);
	snapshot_memory_free(&ctl->mem);
	plan_cache_free(ctl->plan_cache);
	free(ctl->identity);
	free(ctl->lease_ns);
	free(ctl);
}

/* ---- writing what the plan changes ---- */

/*
 * Whether this process still leads, asked before each write and Event of a round. A round at scale (a long
 * plan, hundreds of writes) can outlast the Lease, and the conditional writes stop a stale plan only where a
 * new leader has already written. So once a third of the Lease's duration has passed since this process last
 * knew it led, the Lease is renewed here, mid-round; when that finds another holder, the rest of the round
 * writes and tells nothing (its plan is the new leader's to make).
 */
static bool still_leading(struct controller *ctl)
{
	bool leader = false;
	struct kerf_err err;
	int rc;

	if (ctl->deposed)
		return false;
	if (kerf_mono_ms() - ctl->led_ms < ctl->o.lease_duration_s * 1000 / 3)
		return true;
	if ((rc = kube_elector_step(ctl->elector, &leader, &err)) < 0)
		say(ctl, KERF_LOG_ERROR, &err, "renewing the Lease mid-round failed", NULL); /* unreachable: we lead while our renewal lasts */
	if (leader && rc == 0)
		ctl->led_ms = kerf_mono_ms();
	if (!leader) {
		ctl->deposed = true;
		say(ctl, KERF_LOG_WARN, NULL, "lost the Lease mid-round: the rest of this round's writes and Events are left to the new leader", NULL);
	}
	return leader;
}

/* The round's spec writes as a batch for the writer (writer.h): item k patches node[k] with patch[k]. */
struct spec_batch {
	struct controller *ctl;
	const struct snapshot *s;
	unsigned *node;
	json_t **patch;
	long long *generation; /* set by write k: the MigLayout's generation after it */
};

/* The writer's gate, asked before each write starts (never two at once): the test seam, then the Lease. */
static bool may_write(void *arg, size_t k)
{
	struct spec_batch *sb = arg;

	if (sb->ctl->o.before_spec_write != NULL)
		sb->ctl->o.before_spec_write(sb->ctl->o.before_spec_write_arg, (unsigned)k);
	return still_leading(sb->ctl);
}

static int write_spec(struct kube_client *c, size_t k, void *arg, struct kerf_err *err)
{
	struct spec_batch *sb = arg;
	json_t *res = kube_patch(c, &KUBE_MIGLAYOUTS, NULL, sb->s->in.nodes[sb->node[k]].name, KUBE_PATCH_MERGE,
				 sb->patch[k], false, err);

	sb->generation[k] = (long long)json_integer_value(json_object_get(json_object_get(res, "metadata"), "generation"));
	json_decref(res);
	return res != NULL ? 0 : -1;
}

/*
 * Writes the new spec of every node the plan changes; counts the writes. Each write is conditional on the
 * resourceVersion the plan was made from: a MigLayout that changed since (a new leader wrote it, an agent
 * reported a pod taking an instance) answers 409, is not written, and is planned again from the change, which
 * has rung the bell. A deposed leader's stale plan thus never lands. The specs are all made first, from the
 * snapshot, then go out write_concurrency at a time (writer.h): still_leading() is asked before each starts,
 * and the results are read (logged, counted) in the plan's node order.
 */
static int write_specs(struct controller *ctl, const struct snapshot *s, const struct plan_output *out,
		       struct controller_report *rep, struct kerf_err *err)
{
	bool *written = calloc(s->in.n_nodes + 1, sizeof(*written));
	struct spec_batch sb = {ctl, s, calloc(s->in.n_nodes + 1, sizeof(*sb.node)),
				calloc(s->in.n_nodes + 1, sizeof(*sb.patch)), calloc(s->in.n_nodes + 1, sizeof(*sb.generation))};
	enum writer_result *res = calloc(s->in.n_nodes + 1, sizeof(*res));
	unsigned *gpus = calloc(s->in.n_nodes + 1, sizeof(*gpus)); /* per item: GPUs the plan changes there */
	struct writer_batch b = {.gate = may_write, .write = write_spec, .arg = &sb, .results = res};
	int rc = -1;

	if (written == NULL || sb.node == NULL || sb.patch == NULL || sb.generation == NULL || res == NULL ||
	    gpus == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "controller: out of memory");
		goto out;
	}
	for (unsigned k = 0; k < out->n_changes;) {
		unsigned node = out->changes[k].node, end = k;
		json_t *spec;

		while (end < out->n_changes && out->changes[end].node == node)
			end++;
		spec = snapshot_spec_of(s, out, k, end);
		if (!json_equal(spec, s->node[node].spec)) { /* else already asked for: the agent is on it */
			sb.node[b.n] = node;
			gpus[b.n] = end - k;
			if ((sb.patch[b.n++] = json_pack("{s:{s:s}, s:{s:O}}", "metadata", "resourceVersion", s->node[node].rv,
							 "spec", "gpus", spec)) == NULL) {
				json_decref(spec);
				kerf_err_set(err, KERF_ENOMEM, "controller: out of memory");
				goto out;
			}
		}
		json_decref(spec);
		k = end;
	}
	if (ctl->o.before_write != NULL)
		ctl->o.before_write(ctl->o.before_write_arg);
	rc = writer_run(ctl->writer, &b, err);
	rep->writes_at_once = b.peak;
	for (size_t k = 0; k < b.n; k++) {
		const char *name = s->in.nodes[sb.node[k]].name;

		if (res[k] == WRITER_CONFLICT) {
			say(ctl, KERF_LOG_INFO, NULL, "spec not written: the MigLayout changed since this plan, planned again",
			    "node=%s result=stale", name);
			rep->specs_stale++;
		} else if (res[k] == WRITER_DONE) {
			say(ctl, KERF_LOG_INFO, NULL, "spec written", "node=%s gpus=%u generation=%lld result=written", name,
			    gpus[k], sb.generation[k]);
			rep->specs_written++;
			written[sb.node[k]] = true;
		}
	}
	if (rc < 0)
		kerf_err_prefix(err, "MigLayout spec");
	/* the specs that did land, even when a later write failed; held back, like the Warnings, by the rate limit */
	rep->events += events_recut(ctl->events, s, out, written);
out:
	for (size_t k = 0; sb.patch != NULL && k < b.n; k++)
		json_decref(sb.patch[k]);
	free(sb.patch);
	free(sb.node);
	free(sb.generation);
	free(res);
	free(gpus);
	free(written);
	return rc;
}

/* Leaves node out for pod i from the next round on, and tells the pod why (Warning MIGLayoutReplanned).
 * Returns the Events sent (0 or 1). */
static unsigned give_up(struct controller *ctl, const struct snapshot *s, unsigned i, const char *node, long long secs)
{
	json_t *nodes = json_object_get(ctl->mem.gave_up, s->pod[i].uid);
	char msg[640];

	if (nodes == NULL && json_object_set_new(ctl->mem.gave_up, s->pod[i].uid, nodes = json_object()) < 0)
		return 0;
	json_object_set_new(nodes, node, json_integer(kerf_mono_ms()));
	changed(ctl); /* plan it elsewhere now, not at the next change */
	say(ctl, KERF_LOG_WARN, NULL, "pod not bound after its instances were there: planned elsewhere",
	    "pod=%s node=%s waited_s=%lld", s->in.pods[i].name, node, secs);
	snprintf(msg, sizeof(msg), "%s has had the MIG instances this pod asks for for %lld s, but kube-scheduler has not "
		 "placed it there (CPU, memory or another constraint kerf does not plan with): planning it on another node",
		 node, secs);
	return events_tell(ctl->events, s->in.pods[i].name, s->pod[i].uid, "Warning", "MIGLayoutReplanned", msg) ==
	       TOLD_SENT;
}

/*
 * A pod the plan serves from instances a settled node has now (its agent applied the spec, the instances are
 * advertised) is kube-scheduler's to bind. If it is still unbound replan_after_ms after the controller first
 * saw it so, the scheduler will not put it there for a reason kerf does not model (CPU or memory, pod
 * affinity, topology spread, a full node): the pod is told, and that node is left out for it (deny_given_up),
 * so the next round plans it elsewhere instead of waiting on the same node forever.
 */
static void watch_waits(struct controller *ctl, const struct snapshot *s, const struct plan_output *out,
			struct controller_report *rep, long long *due)
{
	struct kerf_dict waits;
	long long now = kerf_mono_ms();

	kerf_dict_init(&waits, SIZE_MAX, "pods waiting on a node");
	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		const struct plan_node *n = &s->in.nodes[a->node];
		const char *uid = s->pod[a->pod].uid;
		const struct snapshot_seen *last = snapshot_seen_find(&ctl->waits, uid);
		long long since = now;
		bool there = s->node[a->node].settled;

		for (unsigned b = 0; b < a->n_bindings && there; b++)
			there = snapshot_has_now(n, a->bindings[b].gpu, a->bindings[b].profile, a->bindings[b].start);
		if (!there)
			continue;
		if (last != NULL && strcmp(last->text, n->name) == 0)
			since = last->since;
		if (now - since <= ctl->o.replan_after_ms) {
			snapshot_seen_put(&waits, uid, 0, n->name, since);
			snapshot_due_at(due, since + ctl->o.replan_after_ms + 1);
			continue;
		}
		rep->events += give_up(ctl, s, a->pod, n->name, (now - since) / 1000);
		rep->replanned++;
	}
	kerf_dict_free_items(&ctl->waits, free);
	ctl->waits = waits;
}

/* ---- one step ---- */

/*
 * Whether the last plan still stands: it was made as leader, nothing it reads has changed since (the watches'
 * count, and heartbeats where a node was left out as silent), and none of its timers is due. Then the round
 * makes no plan; it only sends the Events the plan still owes.
 */
static bool unchanged(struct controller *ctl)
{
	return ctl->last.valid && atomic_load(&ctl->changes) == ctl->last.changes &&
	       (atomic_load(&ctl->silent) == 0 || atomic_load(&ctl->heartbeats) == ctl->last.heartbeats) &&
	       kerf_mono_ms() < ctl->last.due_ms;
}

static int round_(struct controller *ctl, struct controller_report *rep, struct kerf_err *err)
{
	struct plan_room_stats rs;
	struct plan_output out;
	struct snapshot s;
	long long t0, start = kerf_mono_ms();
	bool keep = true; /* the plan may stand for the next rounds (events_unplaced) */
	struct snapshot_source src = {ctl->pods, ctl->layouts, ctl->nodes, ctl->room, ctl->o.agent_timeout_ms,
				      ctl->o.failed_grace_ms, ctl->o.replan_after_ms, ctl->o.age_after_ms, ctl->o.log,
				      ctl->o.log_arg};
	/* Read before the snapshot: a change during it moves the count, and the next round plans again. */
	unsigned long changes = atomic_load(&ctl->changes), heartbeats = atomic_load(&ctl->heartbeats);
	int rc = -1;

	if (unchanged(ctl)) {
		bool at_once = rep->at_once;

		*rep = ctl->last.rep;
		rep->at_once = at_once;
		rep->leader = true;
		rep->planned = false;
		rep->unchanged = true;
		rep->events = events_n_owed(ctl->events) > 0 ? events_owed(ctl->events) : 0;
		if (ctl->deposed)
			ctl->last.valid = false;
		metric_add(ctl->m.unchanged, 1);
		metric_add(ctl->m.events, rep->events);
		return 0;
	}
	ctl->last.valid = false;
	events_forget_owed(ctl->events); /* what a new plan owes, events_unplaced() finds */
	if (snapshot_take(&src, &ctl->mem, &s, err) < 0) {
		metrics_round(ctl, rep, NULL, start, -1);
		return -1;
	}
	atomic_store(&ctl->silent, s.silent);
	rep->nodes = s.in.n_nodes;
	rep->nodes_skipped = s.skipped;
	rep->reserved = s.reserved;
	rep->pods = s.in.n_pods;
	rep->aged = s.aged;
	if (s.in.n_pods == 0) { /* nothing waits: nothing to change */
		rep->planned = true;
		rc = 0;
		metrics_round(ctl, rep, NULL, start, 0);
		goto out;
	}
	t0 = kerf_mono_ms();
	if (ctl->plan_cache == NULL)
		ctl->plan_cache = plan_cache_new(); /* NULL: plans without one */
	s.in.pack = ctl->o.pack;
	if (plan_run_room(ctl->plan_cache, &s.in, &out, &rs, err) < 0) {
		kerf_err_prefix(err, "plan");
		metrics_round(ctl, rep, NULL, start, -1);
		goto out;
	}
	metric_observe(ctl->m.plan_s, (double)(kerf_mono_ms() - t0) / 1000.0);
	rep->no_room = rs.no_room;
	rep->crowded = rs.crowded;
	if (rs.crowded > 0)
		say(ctl, KERF_LOG_INFO, NULL, "pods planned onto nodes without room for all of them together: planned elsewhere",
		    "pods=%u", rs.crowded);
	rep->planned = true;
	if (out.n_changes > 0) /* a stage of its own in bench/cluster: planned, then written */
		say(ctl, KERF_LOG_INFO, NULL, "planned", "changes=%u pods=%u duration_ms=%lld", out.n_changes, s.in.n_pods,
		    kerf_mono_ms() - t0);
	rep->placed = out.n_assignments;
	if (write_specs(ctl, &s, &out, rep, err) == 0)
		rc = 0;
	rep->events += events_unplaced(ctl->events, &s, &out, &keep);
	if (!ctl->deposed)
		watch_waits(ctl, &s, &out, rep, &s.due);
	say(ctl, KERF_LOG_INFO, NULL, "round", "pods=%u nodes=%u nodes_left_out=%u placed=%u specs_written=%u events=%u "
	    "duration_ms=%lld", rep->pods, rep->nodes, rep->nodes_skipped, rep->placed, rep->specs_written, rep->events,
	    kerf_mono_ms() - start);
	metrics_round(ctl, rep, &out, start, rc);
	plan_output_free(&out);
out:
	if (rc == 0 && !ctl->deposed && keep) {
		ctl->last.valid = true;
		ctl->last.changes = changes;
		ctl->last.heartbeats = heartbeats;
		ctl->last.due_ms = s.due;
		ctl->last.rep = *rep;
		ctl->last.rep.specs_written = ctl->last.rep.specs_stale = ctl->last.rep.replanned = 0;
		ctl->last.rep.events = ctl->last.rep.writes_at_once = 0;
	}
	snapshot_free(&s);
	return rc;
}

/*
 * Waits for a change (or wait_ms). A change is answered at once (true) unless the last window of debounce_ms
 * already holds BURST_ROUNDS rounds: then it is part of a burst, and the round waits until debounce_ms pass
 * without another change (at most about max_wait_ms), so the burst is planned together.
 */
static bool wait_change(struct controller *ctl, long wait_ms)
{
	long long oldest = ctl->round_ms[BURST_ROUNDS - 1];

	if (!kerf_bell_wait(&ctl->bell, wait_ms, 0, 0))
		return false; /* the periodic round: nothing changed */
	if (oldest == 0 || kerf_mono_ms() - oldest >= ctl->o.debounce_ms)
		return true;
	kerf_bell_wait(&ctl->bell, ctl->o.debounce_ms, ctl->o.debounce_ms, ctl->o.max_wait_ms);
	return false;
}

static void round_done(struct controller *ctl)
{
	memmove(&ctl->round_ms[1], &ctl->round_ms[0], (BURST_ROUNDS - 1) * sizeof(ctl->round_ms[0]));
	ctl->round_ms[0] = kerf_mono_ms();
}

/*
 * A plan made from a stale cache would re-cut nodes for pods that are gone and miss the layouts' changes (the
 * RBAC that lets the controller watch them was revoked, say): while any cache it plans from is failing, the
 * round is skipped. Said at warn once when it starts and once when it ends, not every step.
 */
static bool stale_refuses(struct controller *ctl, struct controller_report *rep)
{
	char why[sizeof(ctl->stale)];
	struct kube_informer_health h;
	const char *which;

	if (caches_fresh(ctl, why, sizeof(why), &which, &h)) {
		if (ctl->stale[0] != '\0')
			say(ctl, KERF_LOG_INFO, NULL, "planning again: the caches follow the server", NULL);
		ctl->stale[0] = '\0';
		return false;
	}
	if (ctl->stale[0] == '\0')
		say(ctl, KERF_LOG_WARN, &h.last, "not planning: a cache is stale", "resource=%s failures=%lu failing_ms=%lld",
		    which, h.failures, kerf_mono_ms() - h.failing_since_ms);
	snprintf(ctl->stale, sizeof(ctl->stale), "%s", why);
	rep->stale = true;
	ctl->last.valid = false; /* what it missed meanwhile is planned once the cache follows again */
	return true;
}

int controller_step(struct controller *ctl, long wait_ms, struct controller_report *rep, struct kerf_err *err)
{
	struct controller_report local;
	bool leader = false;
	int rc;

	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	rep->at_once = wait_change(ctl, wait_ms);
	for (unsigned i = 0; i < 3; i++)
		kube_watch_metrics_update(&ctl->m.watch[i]);
	rc = kube_elector_step(ctl->elector, &leader, err);
	if (leader != ctl->was_leader) {
		metric_add(ctl->m.transitions, 1);
		say(ctl, KERF_LOG_INFO, NULL, leader ? "took the Lease: leading" : "lost the Lease: watching", "identity=%s",
		    ctl->o.identity);
		ctl->was_leader = leader;
	}
	metric_set(ctl->m.leader, leader);
	if (!leader || rc < 0) /* a watcher's steps count too: it answers the bell the same way */
		round_done(ctl);
	if (rc < 0)
		return kerf_err_prefix(err, "controller: lease");
	rep->leader = leader;
	if (!leader) {
		ctl->last.valid = false; /* a leader again plans afresh */
		return 0;
	}
	ctl->led_ms = kerf_mono_ms();
	ctl->deposed = false;
	if (!stale_refuses(ctl, rep))
		rc = round_(ctl, rep, err);
	rep->deposed = ctl->deposed;
	round_done(ctl);
	return rc;
}
