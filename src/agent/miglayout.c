/*
 * miglayout.c — see miglayout.h. One round: read the MigLayout, apply a new spec, write the status.
 *
 * The watch is only a doorbell. Acting on the object the watch delivered would mean acting on whatever
 * version the informer's cache held; a GET right before acting costs one request per change and makes
 * every round start from what the API server holds now, with the resourceVersion the status write needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bell.h"
#include "deadline.h"
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

static void on_add(const char *key, const void *proj, void *arg)
{
	(void)key, (void)proj;
	ring(arg);
}

static void on_update(const char *key, const void *old, const void *new, void *arg)
{
	(void)key, (void)old, (void)new;
	ring(arg);
}

static void on_delete(const char *key, const void *old, void *arg)
{
	(void)key, (void)old;
	ring(arg);
}

/* ---- start / stop ---- */

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
					   .project = project, .free_proj = free_proj, .on_add = on_add,
					   .on_update = on_update, .on_delete = on_delete, .arg = s};
	if ((s->inf = kube_informer_new(c, &spec, err)) == NULL || kube_informer_start(s->inf, err) < 0) {
		kerf_err_prefix(err, "agent sync: watch MigLayout %s", node);
		goto fail;
	}
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
	kube_informer_free(s->inf);
	kerf_bell_destroy(&s->bell);
	free(s->selector);
	free(s->node);
	free(s);
}

void agent_sync_heartbeat(struct agent_sync *s, long period_ms)
{
	s->heartbeat_ms = period_ms > 0 ? period_ms : HEARTBEAT_MS;
	s->beat_at_ms = 0;
}

long long agent_sync_observed(const struct agent_sync *s)
{
	return s->observed;
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

/* Takes every GPU the spec lists to its layout, in spec order; records what failed in o. */
static void apply_spec(struct agent_sync *s, const json_t *spec, struct outcome *o)
{
	const json_t *gpus = json_object_get(spec, "gpus"), *gpu;
	size_t i;

	if (gpus != NULL && !json_is_array(gpus)) {
		outcome_add(o, "InvalidSpec", "spec.gpus: not a list");
		return;
	}
	json_array_foreach(gpus, i, gpu)
	{
		const json_t *index = json_object_get(gpu, "index");
		const struct mig_model *m;
		struct actuate_result res;
		struct mig_layout want;
		struct kerf_err e;
		char text[SPEC_LAYOUT_MAX], msg[KERF_ERR_MSG_MAX + 64];

		if (!json_is_integer(index) || json_integer_value(index) < 0 ||
		    (m = agent_node_model(s->a, (unsigned)json_integer_value(index))) == NULL) {
			snprintf(msg, sizeof(msg), "spec.gpus[%zu].index: no MIG GPU %lld on node %s", i,
				 (long long)json_integer_value(index), s->node);
			outcome_add(o, "InvalidSpec", msg);
			continue;
		}
		if (spec_layout(m, gpu, (unsigned)i, text, sizeof(text), &e) < 0) {
			outcome_add(o, "InvalidSpec", e.msg);
			continue;
		}
		if (mig_layout_parse(m, text, &want, &e) < 0) { /* "item K" of the layout is instances[K] */
			kerf_err_prefix(&e, "spec.gpus[%zu].instances", i);
			outcome_add(o, "InvalidSpec", e.msg);
			continue;
		}
		if (agent_node_apply(s->a, (unsigned)json_integer_value(index), &want, &res, &e) < 0)
			outcome_add(o, e.code == KERF_EBUSY ? "Refused" : e.code == KERF_EINVAL ? "InvalidSpec" : "ApplyFailed",
				    e.msg);
	}
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
			return strcmp(reason, "Refused") == 0 || strcmp(reason, "ApplyFailed") == 0;
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
		agent_node_log(s->a, "MigLayout %s: event %s: %s", s->node, o->reason, e.msg);
}

int agent_sync_step(struct agent_sync *s, long wait_ms, struct kerf_err *err)
{
	struct outcome *o = NULL;
	json_t *obj = NULL;
	bool retry = false, rang;
	int rc = -1;

	rang = kerf_bell_wait(&s->bell, wait_ms, 0, 0) != 0;
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
