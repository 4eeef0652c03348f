/* SPDX-License-Identifier: Apache-2.0 */
/*
 * miglayout.c — see miglayout.h. One round: read the MigLayout, apply a new spec, write the status.
 *
 * The watch is only a doorbell. Acting on the object the watch delivered would mean acting on whatever
 * version the informer's cache held; a GET right before acting costs one request per change and makes
 * every round start from what the API server holds now, with the resourceVersion the status write needs.
 *
 * A second watch keeps the MIG pods bound to this node, as their MIG demands and phase only. Those not started
 * matter only when a spec is about to be applied (a spec they block is retried with the backoff of any
 * refusal, so a pod that starts or goes away lets it through within a retry); a pod that ends rings a round,
 * since its devices are free from then on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bell.h"
#include "buf.h"
#include "coexist.h"
#include "deadline.h"
#include "kube_metrics.h"
#include "kube_pod.h"
#include "miglayout.h"

#define SPEC_LAYOUT_MAX 1024 /* "profile@start," for MIG_MAX_INSTANCES instances, with room to spare */
#define STATUS_RETRIES 3
/* How often the status carries a new heartbeat when nothing else changes (agent_sync_heartbeat). */
#define HEARTBEAT_MS 30000
/* A refused or failed spec is tried again after 1 s, then 2, 4, ... up to a minute (see retry_due). */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 60000

struct agent_sync {
	struct kube_client *c;
	struct agent_node *a;
	char *node;
	char *selector; /* metadata.name=NODE */
	struct kube_informer *inf;
	char *pod_selector; /* spec.nodeName=NODE */
	struct kube_informer *pods; /* the MIG pods bound here: struct bound_pod */
	struct kerf_bell bell; /* rung by the watch; a round answers every ring before it */
	long long observed;
	/* The generation whose outcome this process has reported (status written); at start, what the first
	 * object read says was reported. A spec is applied when the object's generation differs from it. */
	long long reported;
	bool have_reported;
	/* The backoff of a spec whose apply was refused or failed: its generation, when to try next, how long
	 * to wait after that try. Kept in memory only: a restarted agent starts again from RETRY_FIRST_MS. */
	long long retry_gen, retry_at_ms;
	long retry_wait_ms;
	/* status.heartbeat: renewed when beat_at_ms has passed, every heartbeat_ms, so the controller can tell a
	 * live agent with nothing to say from a silent one. */
	long heartbeat_ms;
	long long beat_at_ms;
	/* The generation and reason of the last Warning Event sent about the object: one per failed spec and
	 * reason, however often its backoff retries it. */
	long long told_gen;
	char told_reason[32];
	struct sync_metrics {
		struct metric *applies, *apply_s, *created, *destroyed, *instances, *status_writes;
		struct kube_watch_metrics watch[2];
	} m;
};

/* ---- the watch: a doorbell, and the object as last seen ---- */

/* The store keeps the whole object (one per agent, small): a round reads it instead of asking the server. */
static void *project(json_t *obj, void *arg)
{
	(void)arg;
	return json_deep_copy(obj);
}

static void free_proj(void *p)
{
	json_decref(p);
}

static void copy_out(const char *rv, const void *proj, void *arg)
{
	(void)rv;
	*(json_t **)arg = json_deep_copy(proj);
}

static void ring(struct agent_sync *s)
{
	kerf_bell_ring(&s->bell);
}

/* Any change to the node's MigLayout (the informer's on_change). */
static void layout_changed(void *arg)
{
	ring(arg);
}

/* ---- the MIG pods bound here: those not started yet (holds), those ended (not holds) ---- */

/* s, or "" for a missing string. */
static const char *str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

/* What the agent keeps of such a pod: who it is (pod-resources names pods so), what it asks for, and where
 * it stands: not started (its devices are held for it) or ended (its devices are not held by it). */
struct bound_pod {
	char ns[128], name[256];
	struct kube_pod_demands dem;
	bool pending, ended;
};

static const char *const pod_fields[] = {"metadata.deletionTimestamp", "status.phase", KUBE_POD_DEMAND_FIELDS, NULL};

/* A pod that asks for no MIG device is left out. A pending pod being deleted will not be admitted: no hold. */
static void *project_pod(json_t *obj, void *arg)
{
	const json_t *md = json_object_get(obj, "metadata");
	const char *phase = str(json_object_get(json_object_get(obj, "status"), "phase"));
	struct bound_pod *p;

	(void)arg;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	kube_pod_mig_demands(json_object_get(obj, "spec"), &p->dem);
	if (p->dem.n == 0) {
		free(p);
		return NULL;
	}
	snprintf(p->ns, sizeof(p->ns), "%s", str(json_object_get(md, "namespace")));
	snprintf(p->name, sizeof(p->name), "%s", str(json_object_get(md, "name")));
	p->pending = strcmp(phase, "Pending") == 0 && json_object_get(md, "deletionTimestamp") == NULL;
	p->ended = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
	return p;
}

/* A pod that just ended frees its devices: a round reports them free (and retries a refused spec). */
static void pod_changed(const char *key, const void *old, const void *new, void *arg)
{
	(void)key;
	if (!((const struct bound_pod *)old)->ended && ((const struct bound_pod *)new)->ended)
		ring(arg);
}

static void copy_ended(const char *rv, const void *proj, void *arg)
{
	(void)rv;
	*(bool *)arg = ((const struct bound_pod *)proj)->ended;
}

/*
 * Whether pod ns/name has ended, as the API server last said (agent_node_pods_finished). Not known (not in
 * the cache, or the cache not listed yet): false, so its devices stay held.
 */
static bool pod_ended(void *arg, const char *ns, const char *name)
{
	struct agent_sync *s = arg;
	char key[512];
	bool ended = false;

	if (!kube_informer_synced(s->pods))
		return false;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	kube_informer_with(s->pods, key, copy_ended, &ended);
	return ended;
}

struct pod_copy {
	struct bound_pod *pods;
	size_t n, cap;
	bool oom;
};

static int copy_pod(const char *key, const char *rv, const void *proj, void *arg)
{
	struct pod_copy *pc = arg;

	(void)key, (void)rv;
	if (!((const struct bound_pod *)proj)->pending)
		return 0; /* running or ended: pod-resources speaks for it */
	if (kerf_grow(&pc->pods, &pc->cap, pc->n + 1, sizeof(*pc->pods), SIZE_MAX / sizeof(*pc->pods), "pods",
		      NULL) < 0) {
		pc->oom = true;
		return 1;
	}
	pc->pods[pc->n++] = *(const struct bound_pod *)proj;
	return 0;
}

/* ---- metrics ---- */

void agent_sync_metrics(struct agent_sync *s, struct metrics *r)
{
	struct sync_metrics *m = &s->m;

	m->applies = metrics_counter(r, "kerf_agent_applies_total",
				     "GPU layouts applied from the spec, by result (applied, unchanged, refused, rolled_back, "
				     "failed, invalid).",
				     "result");
	m->apply_s = metrics_histogram(r, "kerf_agent_apply_duration_seconds", "Time to take one GPU to its spec's layout.",
				       NULL, METRICS_LATENCY_BUCKETS, METRICS_LATENCY_BUCKETS_N);
	m->created = metrics_counter(r, "kerf_agent_instances_created_total", "MIG instances this agent created.", NULL);
	m->destroyed = metrics_counter(r, "kerf_agent_instances_destroyed_total", "MIG instances this agent destroyed.", NULL);
	m->instances = metrics_gauge(r, "kerf_agent_instances",
				     "MIG instances on the node at the last status, by state (used: a pod or a process; free).",
				     "state");
	m->status_writes = metrics_counter(r, "kerf_agent_status_writes_total", "MigLayout status writes.", NULL);
	kube_watch_metrics_init(&m->watch[0], r, s->inf, "miglayouts");
	kube_watch_metrics_init(&m->watch[1], r, s->pods, "pods");
}

/* One GPU's apply, counted: its result, its time, and the instances it made and removed (net). */
static void count_apply(struct agent_sync *s, int rc, const struct actuate_result *res, const struct kerf_err *e,
			long long t0)
{
	const char *result = rc == 0 ? (res->outcome == ACTUATE_UNCHANGED ? "unchanged" : "applied")
			     : res->outcome == ACTUATE_ROLLED_BACK ? "rolled_back"
			     : res->outcome == ACTUATE_FAILED	 ? "failed"
			     : e->code == KERF_EBUSY		 ? "refused"
			     : e->code == KERF_EINVAL		 ? "invalid"
								 : "failed";

	metric_add(s->m.applies, 1, result);
	metric_observe(s->m.apply_s, (double)(kerf_mono_ms() - t0) / 1000.0);
	metric_add(s->m.created, res->created);
	metric_add(s->m.destroyed, res->destroyed);
}

/* ---- start / stop ---- */

/* A watch's list or watch failed (err), or works again (err NULL): logged, rate-limited by the informer. */
static void watch_failed(const struct kube_resource *r, const struct kerf_err *err, unsigned long failures, void *arg)
{
	struct agent_sync *s = arg;

	if (err == NULL)
		agent_node_log(s->a, KERF_LOG_INFO, NULL, "watch works again", "node=%s resource=%s", s->node, r->plural);
	else
		agent_node_log(s->a, KERF_LOG_ERROR, err, "watch failing: its cache is stale", "node=%s resource=%s failures=%lu",
			       s->node, r->plural, failures);
}

struct agent_sync *agent_sync_start(struct kube_client *c, struct agent_node *a, const char *node,
				    struct kerf_err *err)
{
	struct agent_sync *s = calloc(1, sizeof(*s));
	struct kube_informer_spec spec;
	size_t n;

	if (s == NULL || node == NULL || *node == '\0') {
		free(s);
		kerf_err_set(err, s == NULL ? KERF_ENOMEM : KERF_EINVAL, "agent sync: %s",
			     s == NULL ? "out of memory" : "the node name is empty");
		return NULL;
	}
	s->c = c;
	s->a = a;
	s->heartbeat_ms = HEARTBEAT_MS;
	kerf_bell_init(&s->bell);
	n = strlen(node) + sizeof("metadata.name=");
	if ((s->node = strdup(node)) == NULL || (s->selector = malloc(n)) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "agent sync: out of memory");
		goto fail;
	}
	snprintf(s->selector, n, "metadata.name=%s", node);
	spec = (struct kube_informer_spec){.resource = &KUBE_MIGLAYOUTS, .field_selector = s->selector,
					   .project = project, .free_proj = free_proj, .on_change = layout_changed,
					   .arg = s, .on_error = watch_failed};
	if ((s->inf = kube_informer_new(c, &spec, err)) == NULL || kube_informer_start(s->inf, err) < 0) {
		kerf_err_prefix(err, "agent sync: watch MigLayout %s", node);
		goto fail;
	}
	/* The MIG pods the scheduler bound here (the API server filters by node): those not started yet are held
	 * for when a spec is applied (the cache is read then); those that ended hold nothing, whatever
	 * pod-resources still lists (agent_node_pods_finished), and their end rings a round. */
	n = strlen(node) + sizeof("spec.nodeName=");
	if ((s->pod_selector = malloc(n)) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "agent sync: out of memory");
		goto fail;
	}
	snprintf(s->pod_selector, n, "spec.nodeName=%s", node);
	spec = (struct kube_informer_spec){.resource = &KUBE_PODS, .field_selector = s->pod_selector,
					   .fields = pod_fields, .project = project_pod, .free_proj = free,
					   .on_update = pod_changed, .arg = s, .on_error = watch_failed};
	if ((s->pods = kube_informer_new(c, &spec, err)) == NULL || kube_informer_start(s->pods, err) < 0) {
		kerf_err_prefix(err, "agent sync: watch the pods bound to %s", node);
		goto fail;
	}
	agent_node_pods_finished(a, pod_ended, s);
	kerf_bell_ring(&s->bell); /* the first round runs at once */
	return s;
fail:
	agent_sync_stop(s);
	return NULL;
}

void agent_sync_stop(struct agent_sync *s)
{
	if (s == NULL)
		return;
	if (s->a != NULL)
		agent_node_pods_finished(s->a, NULL, NULL); /* before the cache it reads goes */
	kube_informer_free(s->inf);
	kube_informer_free(s->pods);
	kerf_bell_destroy(&s->bell);
	free(s->pod_selector);
	free(s->selector);
	free(s->node);
	free(s);
}

void agent_sync_heartbeat(struct agent_sync *s, long period_ms)
{
	s->heartbeat_ms = period_ms > 0 ? period_ms : HEARTBEAT_MS;
	s->beat_at_ms = 0;
}

/* ---- applying a spec ---- */

/* What applying a spec came to, for the conditions. */
struct outcome {
	const char *reason; /* NULL: applied */
	char message[KERF_ERR_MSG_MAX * 2];
};

static void outcome_add(struct outcome *o, const char *reason, const char *msg)
{
	size_t used = strlen(o->message);

	/* The first failure names the reason; every GPU's error goes into the message. */
	if (o->reason == NULL)
		o->reason = reason;
	snprintf(o->message + used, sizeof(o->message) - used, "%s%s", used ? "; " : "", msg);
}

/* spec.gpus[i] as layout text of model m, e.g. "3g.40gb@4,2g.20gb@0"; -1 with a sentence naming the field. */
static int spec_layout(const struct mig_model *m, const json_t *gpu, unsigned i, char *text, size_t cap,
		       struct kerf_err *err)
{
	const json_t *insts = json_object_get(gpu, "instances"), *in;
	size_t used = 0, k;

	if (!json_is_array(insts))
		return kerf_err_set(err, KERF_EINVAL, "spec.gpus[%u].instances: not a list", i);
	text[0] = '\0';
	json_array_foreach(insts, k, in)
	{
		const char *profile = json_string_value(json_object_get(in, "profile"));
		const json_t *start = json_object_get(in, "start");

		if (profile == NULL || !json_is_integer(start) || json_integer_value(start) < 0)
			return kerf_err_set(err, KERF_EINVAL, "spec.gpus[%u].instances[%zu]: needs a profile and a start", i, k);
		if (mig_profile_by_name(m, profile) < 0)
			return kerf_err_set(err, KERF_EINVAL, "spec.gpus[%u].instances[%zu].profile: \"%s\" is not a profile of %s",
					    i, k, profile, m->name);
		used += (size_t)snprintf(text + used, used < cap ? cap - used : 0, "%s%s@%lld", used ? "," : "", profile,
					 (long long)json_integer_value(start));
		if (used >= cap)
			return kerf_err_set(err, KERF_EINVAL, "spec.gpus[%u].instances: too many instances", i);
	}
	if (used == 0)
		snprintf(text, cap, "-"); /* mig_layout_parse's empty layout */
	return 0;
}

/* One entry of spec.gpus, read and checked: the GPU's NVML index and the layout it is to have. */
struct gpu_want {
	unsigned index;
	bool ok; /* false: the entry is invalid (in the outcome already); it is not applied */
	struct mig_layout layout;
};

/* spec.gpus[i] into w; an entry the node cannot have goes into o as InvalidSpec. */
static void read_gpu(struct agent_sync *s, const json_t *gpu, size_t i, struct gpu_want *w, struct outcome *o)
{
	const json_t *index = json_object_get(gpu, "index");
	const struct mig_model *m;
	struct kerf_err e;
	char text[SPEC_LAYOUT_MAX], msg[KERF_ERR_MSG_MAX + 64];

	w->ok = false;
	if (!json_is_integer(index) || json_integer_value(index) < 0 ||
	    (m = agent_node_model(s->a, (unsigned)json_integer_value(index))) == NULL) {
		snprintf(msg, sizeof(msg), "spec.gpus[%zu].index: no MIG GPU %lld on node %s", i,
			 (long long)json_integer_value(index), s->node);
		outcome_add(o, "InvalidSpec", msg);
		return;
	}
	if (spec_layout(m, gpu, (unsigned)i, text, sizeof(text), &e) < 0) {
		outcome_add(o, "InvalidSpec", e.msg);
		return;
	}
	if (mig_layout_parse(m, text, &w->layout, &e) < 0) { /* "item K" of the layout is instances[K] */
		kerf_err_prefix(&e, "spec.gpus[%zu].instances", i);
		outcome_add(o, "InvalidSpec", e.msg);
		return;
	}
	w->index = (unsigned)json_integer_value(index);
	w->ok = true;
}

/*
 * The free instances to keep out of this apply's reach: those the pods bound here but not yet admitted will be
 * given (agent_node_hold). desired[i] is the layout the agent's i-th GPU gets, NULL where the spec leaves it.
 * Until the pods' watch has listed them, nothing can be applied safely: that is a refusal, retried later.
 */
static int bound_pod_holds(struct agent_sync *s, const struct mig_layout *const *desired, struct agent_hold *hold,
			   struct kerf_err *err)
{
	struct pod_copy pc = {0};
	struct agent_pod_need *needs = NULL;
	unsigned n = 0;
	int rc = -1;

	hold->n = 0;
	if (kube_informer_wait_synced(s->pods, 5000, err) < 0)
		return kerf_err_set(err, KERF_EBUSY, "the pods bound to %s are not known yet (their watch has not listed "
				    "them): nothing is destroyed before they are", s->node);
	kube_informer_foreach(s->pods, copy_pod, &pc);
	if (pc.oom || (pc.n > 0 && (needs = calloc(pc.n * KUBE_POD_MAX_DEMANDS, sizeof(*needs))) == NULL)) {
		kerf_err_set(err, KERF_ENOMEM, "bound pods: out of memory");
		goto out;
	}
	for (size_t i = 0; i < pc.n; i++)
		for (unsigned d = 0; d < pc.pods[i].dem.n; d++)
			needs[n++] = (struct agent_pod_need){pc.pods[i].ns, pc.pods[i].name, pc.pods[i].dem.d[d].resource,
							     pc.pods[i].dem.d[d].count};
	rc = agent_node_hold(s->a, needs, n, desired, hold, err);
out:
	free(needs);
	free(pc.pods);
	return rc;
}

/*
 * Whether another MIG manager is at work on the node (coexist.h), or it cannot be told: then nothing is applied,
 * the outcome says why (AnotherMIGManager, or Refused for "cannot tell"), and the backoff tries again.
 */
static bool other_manager(struct agent_sync *s, struct outcome *o)
{
	const struct agent_options *opt = agent_node_options(s->a);
	char why[512];
	struct kerf_err e;
	int rc = coexist_check(s->c, s->node, opt->plugin_dir, opt->nvidia_plugin, why, sizeof(why), &e);

	if (rc == 0)
		return false;
	if (rc > 0)
		agent_node_log(s->a, KERF_LOG_WARN, NULL, "MigLayout not applied: another MIG manager", "node=%s why=%s", s->node,
			       why);
	else
		agent_node_log(s->a, KERF_LOG_ERROR, &e, "MigLayout not applied", "node=%s", s->node);
	outcome_add(o, rc > 0 ? "AnotherMIGManager" : "Refused", rc > 0 ? why : e.msg);
	return true;
}

/* The outcome's reason for an apply that failed with err. */
static const char *failure_reason(const struct kerf_err *e)
{
	return e->code == KERF_EBUSY ? "Refused" : e->code == KERF_EINVAL ? "InvalidSpec" : "ApplyFailed";
}

/*
 * Takes every GPU the spec lists to its layout, in spec order; records what failed in o. Every entry is read
 * first, so that the instances held for bound pods are chosen knowing what every GPU keeps.
 */
static void apply_spec(struct agent_sync *s, const json_t *spec, struct outcome *o)
{
	const json_t *gpus = json_object_get(spec, "gpus"), *gpu;
	const struct mig_layout *desired[AGENT_MAX_GPUS] = {0};
	struct gpu_want *want = NULL;
	struct agent_hold *hold = NULL;
	struct kerf_err e;
	size_t i, n_ok = 0;

	if (gpus != NULL && !json_is_array(gpus)) {
		outcome_add(o, "InvalidSpec", "spec.gpus: not a list");
		return;
	}
	if (json_array_size(gpus) == 0)
		return;
	if ((want = calloc(json_array_size(gpus), sizeof(*want))) == NULL || (hold = calloc(1, sizeof(*hold))) == NULL) {
		outcome_add(o, "ApplyFailed", "agent: out of memory");
		goto out;
	}
	json_array_foreach(gpus, i, gpu)
	{
		read_gpu(s, gpu, i, &want[i], o);
		for (unsigned g = 0; want[i].ok && g < agent_node_gpu_count(s->a); g++)
			if (agent_node_gpu_index(s->a, g) == want[i].index)
				desired[g] = &want[i].layout;
		n_ok += want[i].ok;
	}
	if (n_ok == 0 || other_manager(s, o))
		goto out;
	if (bound_pod_holds(s, desired, hold, &e) < 0) {
		agent_node_log(s->a, KERF_LOG_ERROR, &e, "MigLayout not applied", "node=%s", s->node);
		outcome_add(o, failure_reason(&e), e.msg);
		goto out;
	}
	for (i = 0; i < json_array_size(gpus); i++) {
		struct actuate_result res;
		long long t0 = kerf_mono_ms();
		int rc;

		if (!want[i].ok)
			continue;
		memset(&res, 0, sizeof(res));
		rc = agent_node_apply_holding(s->a, want[i].index, &want[i].layout, hold, &res, &e);
		count_apply(s, rc, &res, &e, t0);
		if (rc < 0)
			outcome_add(o, failure_reason(&e), e.msg);
	}
out:
	free(hold);
	free(want);
}

/* ---- retrying a spec that did not go through ---- */

/*
 * Whether status says the apply of its observedGeneration was refused or failed: an instance it would
 * destroy was in use (the pod may since have ended, or pod-resources may have been slow to drop it), or NVML
 * failed. Nothing else will bring that spec about, since the controller writes a spec once, so the agent
 * tries again. An InvalidSpec is not retried: the same text fails the same way.
 */
static bool apply_failed(const json_t *status)
{
	const json_t *conds = json_object_get(status, "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c)
	{
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *st = json_string_value(json_object_get(c, "status"));
		const char *reason = json_string_value(json_object_get(c, "reason"));

		if (type && st && reason && strcmp(type, "Applied") == 0 && strcmp(st, "False") == 0)
			return strcmp(reason, "Refused") == 0 || strcmp(reason, "ApplyFailed") == 0 ||
			       strcmp(reason, "AnotherMIGManager") == 0; /* InvalidSpec waits for a new spec */
	}
	return false;
}

/* Whether the failed spec of generation gen is due for another try; the first sighting only starts the clock. */
static bool retry_due(struct agent_sync *s, long long gen)
{
	long long now = kerf_mono_ms();

	if (s->retry_gen != gen) {
		s->retry_gen = gen;
		s->retry_wait_ms = RETRY_FIRST_MS;
		s->retry_at_ms = now + s->retry_wait_ms;
		return false;
	}
	return now >= s->retry_at_ms;
}

/* After a try of generation gen: a failure waits twice as long as the last, a success ends the backoff. */
static void retry_after(struct agent_sync *s, long long gen, const struct outcome *o)
{
	bool again = o->reason != NULL && strcmp(o->reason, "InvalidSpec") != 0;

	if (!again) {
		s->retry_gen = 0;
		return;
	}
	if (s->retry_gen != gen) {
		s->retry_gen = gen;
		s->retry_wait_ms = RETRY_FIRST_MS;
	} else if ((s->retry_wait_ms *= 2) > RETRY_MAX_MS) {
		s->retry_wait_ms = RETRY_MAX_MS;
	}
	s->retry_at_ms = kerf_mono_ms() + s->retry_wait_ms;
}

/* ---- the status ---- */

static void now_rfc3339(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A condition about spec generation gen; lastTransitionTime carried over from old when its status did not change. */
static json_t *condition(const json_t *old_conds, const char *type, bool value, long long gen, const char *reason,
			 const char *message)
{
	const char *status = value ? "True" : "False", *since = NULL;
	const json_t *c;
	char now[32];
	size_t i;

	json_array_foreach(old_conds, i, c)
	{
		if (json_is_string(json_object_get(c, "type")) &&
		    strcmp(json_string_value(json_object_get(c, "type")), type) == 0 &&
		    json_is_string(json_object_get(c, "status")) &&
		    strcmp(json_string_value(json_object_get(c, "status")), status) == 0)
			since = json_string_value(json_object_get(c, "lastTransitionTime"));
	}
	now_rfc3339(now, sizeof(now));
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "type", type, "status", status, "observedGeneration",
			 (json_int_t)gen, "reason", reason, "message", message, "lastTransitionTime", since != NULL ? since : now);
}

static json_t *snapshot_gpus(const struct agent_status *st)
{
	json_t *gpus = json_array();

	for (unsigned g = 0; g < st->n_gpus; g++) {
		const struct agent_gpu_status *gs = &st->gpu[g];
		json_t *insts = json_array();

		for (unsigned k = 0; k < gs->n; k++)
			json_array_append_new(insts, json_pack("{s:s, s:i, s:s, s:b}", "profile", gs->inst[k].profile, "start",
							       (int)gs->inst[k].start, "uuid", gs->inst[k].uuid, "used",
							       gs->inst[k].used));
		json_array_append_new(gpus, json_pack("{s:i, s:s, s:o}", "index", (int)gs->index, "model", gs->model,
						      "instances", insts));
	}
	return gpus;
}

/*
 * The status for observed generation gen: the node's GPUs now, and conditions from o when a spec was just
 * applied (o non-NULL), else the conditions the object already has.
 */
static json_t *build_status(struct agent_sync *s, const json_t *old, long long gen, const struct outcome *o,
			    struct kerf_err *err)
{
	struct agent_status *st = malloc(sizeof(*st));
	const json_t *old_conds = json_object_get(old, "conditions");
	json_t *status = NULL, *conds;

	if (st == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "status: out of memory");
		return NULL;
	}
	if (agent_node_status(s->a, st, err) < 0)
		goto out;
	{
		unsigned used = 0, all = 0;

		for (unsigned g = 0; g < st->n_gpus; g++)
			for (unsigned k = 0; k < st->gpu[g].n; k++, all++)
				used += st->gpu[g].inst[k].used;
		metric_set(s->m.instances, used, "used");
		metric_set(s->m.instances, all - used, "free");
	}
	if (o != NULL) {
		/* Ready is what generic tooling waits on (kubectl wait --for=condition=Ready, kstatus): the GPUs have
		 * this generation's layout. Applied and Failed say the same from both sides, for kerf's users. */
		conds = json_array();
		json_array_append_new(conds, condition(old_conds, "Ready", o->reason == NULL, gen,
						       o->reason ? o->reason : "Applied",
						       o->reason ? o->message : "every GPU the spec lists has its layout"));
		json_array_append_new(conds, condition(old_conds, "Applied", o->reason == NULL, gen,
						       o->reason ? o->reason : "Applied",
						       o->reason ? o->message : "every GPU the spec lists has its layout"));
		json_array_append_new(conds, condition(old_conds, "Failed", o->reason != NULL, gen,
						       o->reason ? o->reason : "Applied", o->reason ? o->message : ""));
	} else {
		conds = old_conds != NULL ? json_deep_copy(old_conds) : json_array();
	}
	status = json_pack("{s:I, s:i, s:o, s:o}", "observedGeneration", (json_int_t)gen, "gpuCount", (int)st->n_gpus,
			   "gpus", snapshot_gpus(st), "conditions", conds);
	if (json_is_string(json_object_get(old, "heartbeat")) && kerf_mono_ms() < s->beat_at_ms) {
		json_object_set(status, "heartbeat", json_object_get(old, "heartbeat"));
	} else {
		char now[40];

		now_rfc3339(now, sizeof(now));
		json_object_set_new(status, "heartbeat", json_string(now));
	}
out:
	free(st);
	return status;
}

/* ---- one round ---- */

/*
 * Makes the Node the owner of a MigLayout about to be created, so that the garbage collector deletes the
 * MigLayout with its Node and no stale object outlives a removed node. Without a Node to read (none yet, or
 * no right to read it) the object is created without an owner.
 */
static void own_by_node(struct agent_sync *s, json_t *made)
{
	struct kerf_err e;
	json_t *node = kube_get(s->c, &KUBE_NODES, NULL, s->node, &e);
	const char *uid = json_string_value(json_object_get(json_object_get(node, "metadata"), "uid"));

	if (uid != NULL)
		json_object_set_new(json_object_get(made, "metadata"), "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind", "Node", "name", s->node,
					      "uid", uid));
	json_decref(node);
}

/*
 * The node's object: from the watch's cache when fresh is false and the cache has synced; from the server
 * otherwise, created if missing. Rounds that only refresh the status (the interval passed, nothing rang) read
 * the cache, so an idle node costs the API server nothing (one GET per round per node before: about 500 GET/s
 * at 1,000 nodes). A round the watch woke reads the server, as does a retry after a 409: the ring may be this
 * agent's own status write, which the cache may not hold yet, and a change must be acted on as it is.
 */
static json_t *get_or_create(struct agent_sync *s, bool fresh, struct kerf_err *err)
{
	json_t *obj = NULL, *made;

	if (!fresh && kube_informer_synced(s->inf) && kube_informer_with(s->inf, s->node, copy_out, &obj) && obj != NULL)
		return obj;
	if ((obj = kube_get(s->c, &KUBE_MIGLAYOUTS, NULL, s->node, err)) != NULL || err->code != KERF_ENOTFOUND)
		return obj;
	made = json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "kerf.dev/v1alpha1", "kind", "MigLayout",
			 "metadata", "name", s->node, "spec", "gpus");
	own_by_node(s, made);
	obj = kube_create(s->c, &KUBE_MIGLAYOUTS, NULL, made, err);
	json_decref(made);
	if (obj == NULL && err->code == KERF_ECONFLICT) /* created meanwhile, by the controller */
		obj = kube_get(s->c, &KUBE_MIGLAYOUTS, NULL, s->node, err);
	return obj;
}

/*
 * A Warning Event on the MigLayout when the spec of generation gen could not be applied (reason Refused,
 * ApplyFailed or InvalidSpec, the status's message), so `kubectl describe miglayout NODE` and event-based
 * alerting see it. Best effort: a failure is logged, not the round's.
 */
static void tell_failure(struct agent_sync *s, const json_t *obj, long long gen, const struct outcome *o)
{
	const json_t *md = json_object_get(obj, "metadata");
	struct kube_object_ref ref = {"kerf.dev/v1alpha1", "MigLayout", NULL, s->node,
				      json_string_value(json_object_get(md, "uid"))};
	struct kerf_err e;

	if (o->reason == NULL || (gen == s->told_gen && strcmp(o->reason, s->told_reason) == 0))
		return;
	s->told_gen = gen;
	snprintf(s->told_reason, sizeof(s->told_reason), "%s", o->reason);
	if (kube_event_emit(s->c, &ref, "Warning", o->reason, o->message, "kerf-agent", &e) < 0)
		agent_node_log(s->a, KERF_LOG_ERROR, &e, "MigLayout Event not sent", "node=%s generation=%lld event_reason=%s",
			       s->node, gen, o->reason);
}

int agent_sync_step(struct agent_sync *s, long wait_ms, struct kerf_err *err)
{
	struct outcome *o = NULL;
	json_t *obj = NULL;
	bool retry = false, rang;
	int rc = -1;

	rang = kerf_bell_wait(&s->bell, wait_ms, 0, 0) != 0;
	kube_watch_metrics_update(&s->m.watch[0]);
	kube_watch_metrics_update(&s->m.watch[1]);
	for (int attempt = 0; attempt < STATUS_RETRIES; attempt++) {
		json_t *old, *status, *out;
		long long gen, observed;
		bool beat;

		json_decref(obj);
		if ((obj = get_or_create(s, rang || attempt > 0, err)) == NULL)
			goto out;
		old = json_object_get(obj, "status");
		gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
		observed = json_integer_value(json_object_get(old, "observedGeneration"));
		if (!s->have_reported) { /* a restarted agent does not apply again what its status reports */
			s->reported = observed;
			s->have_reported = true;
		}
		/* A spec is applied once per generation (a cached copy that lags behind this process's own status
		 * write does not make it apply twice), even when the status write then has to be retried, and
		 * again (with backoff) while its last apply was refused or failed. */
		retry = retry || (gen == observed && apply_failed(old) && retry_due(s, gen));
		if ((gen != s->reported || retry) && (o == NULL || s->observed != gen)) {
			free(o);
			if ((o = calloc(1, sizeof(*o))) == NULL) {
				kerf_err_set(err, KERF_ENOMEM, "agent sync: out of memory");
				goto out;
			}
			apply_spec(s, json_object_get(obj, "spec"), o);
			retry_after(s, gen, o);
			s->observed = gen;
		}
		if ((status = build_status(s, old, gen, o != NULL && s->observed == gen ? o : NULL, err)) == NULL)
			goto out;
		if (json_equal(status, old)) { /* nothing new to say */
			json_decref(status);
			s->observed = gen;
			if (gen == observed)
				s->reported = gen;
			rc = 0;
			goto out;
		}
		beat = !json_equal(json_object_get(status, "heartbeat"), json_object_get(old, "heartbeat"));
		json_object_set_new(obj, "status", status);
		if ((out = kube_update_status(s->c, &KUBE_MIGLAYOUTS, NULL, obj, err)) != NULL) {
			metric_add(s->m.status_writes, 1);
			if (o != NULL && s->observed == gen)
				tell_failure(s, out, gen, o);
			json_decref(out);
			if (beat)
				s->beat_at_ms = kerf_mono_ms() + s->heartbeat_ms;
			s->observed = s->reported = gen;
			rc = 0;
			goto out;
		}
		if (err->code != KERF_ECONFLICT)
			goto out;
	}
	kerf_err_prefix(err, "MigLayout %s: status kept conflicting", s->node);
out:
	free(o);
	json_decref(obj);
	return rc;
}
