/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot.c — see snapshot.h. The caches are visited once each (MigLayouts, then pods: a bound pod's
 * reservation needs its node read first), filling arrays sized from the caches' lengths read just before; an
 * object added meanwhile waits for the next round. Each pod's own data is one struct (struct snapshot_pod), so
 * sorting the pods oldest first moves two arrays (the planner's and ours), and the planner's APIs that want one
 * array per field (fit.h, room.h) get views gathered from them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "fit.h"
#include "kube_exec.h"
#include "snapshot.h"

/* s, or "" for a missing string. */
static const char *str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

/* The Node's fit and allocatable into arg, a struct snapshot_node (references). */
static void copy_node_fit(const char *rv, const void *proj, void *arg)
{
	struct snapshot_node *sn = arg;

	(void)rv;
	sn->fit = json_incref(((const struct node_proj *)proj)->fit);
	sn->alloc = json_incref(((const struct node_proj *)proj)->alloc);
}

static void copy_unusable(const char *rv, const void *proj, void *arg)
{
	(void)rv;
	*(const char **)arg = ((const struct node_proj *)proj)->unusable;
}

/* Why the node named name cannot take a pod now ("no Node object", "cordoned ...", "not Ready"), or NULL. */
static const char *node_unusable(const struct snapshot_source *src, const char *name)
{
	const char *why = NULL;

	if (!kube_informer_with(src->nodes, name, copy_unusable, &why))
		return "no Node object (the MigLayout outlived its node)";
	return why;
}

/* Whether the instance profile@start is used in status.gpus[] entry g. */
static bool used_in(const json_t *g, const char *profile, json_int_t start)
{
	const json_t *in;
	size_t i;

	json_array_foreach(json_object_get(g, "instances"), i, in)
		if (json_integer_value(json_object_get(in, "start")) == start &&
		    strcmp(str(json_object_get(in, "profile")), profile) == 0)
			return json_is_true(json_object_get(in, "used"));
	return false;
}

/* The spec entry for GPU index, or NULL. */
static const json_t *spec_gpu(const json_t *spec, json_int_t index)
{
	const json_t *g;
	size_t i;

	json_array_foreach(spec, i, g)
		if (json_integer_value(json_object_get(g, "index")) == index)
			return g;
	return NULL;
}

/*
 * One GPU of a node: its model from status, its layout from src (status or spec entry), used flags from
 * status. -1 if the model is unknown or the layout breaks the rules (the node is then left out, and said so).
 */
static int read_gpu(const json_t *st_gpu, const json_t *src, struct plan_gpu *pg, struct kerf_err *err)
{
	const char *model = json_string_value(json_object_get(st_gpu, "model"));
	const json_t *in;
	size_t i;

	memset(pg, 0, sizeof(*pg));
	pg->index = (unsigned)json_integer_value(json_object_get(st_gpu, "index"));
	if ((pg->model = mig_catalog_find(mig_catalog_builtin(), model ? model : "", err)) == NULL)
		return -1;
	json_array_foreach(json_object_get(src, "instances"), i, in)
	{
		const char *profile = json_string_value(json_object_get(in, "profile"));
		json_int_t start = json_integer_value(json_object_get(in, "start"));
		int p = profile ? mig_profile_by_name(pg->model, profile) : -1;

		if (p < 0 || start < 0 || start > 255 || pg->layout.n == MIG_MAX_INSTANCES)
			return kerf_err_set(err, KERF_EINVAL, "gpu %u: instance %zu (%s@%lld) is not one kerf can plan with",
					    pg->index, i, profile ? profile : "?", (long long)start);
		pg->layout.inst[pg->layout.n].profile = (uint8_t)p;
		pg->layout.inst[pg->layout.n].start = (uint8_t)start;
		pg->layout.inst[pg->layout.n++].used = used_in(st_gpu, profile, start);
	}
	return mig_layout_check(pg->model, &pg->layout, err);
}

/* Every used instance of status GPU g appears in spec entry sg. */
static bool spec_keeps_used(const json_t *g, const json_t *sg)
{
	const json_t *in, *s;
	size_t i, k;

	json_array_foreach(json_object_get(g, "instances"), i, in)
	{
		bool kept = !json_is_true(json_object_get(in, "used"));

		json_array_foreach(json_object_get(sg, "instances"), k, s)
			kept |= json_equal(json_object_get(s, "profile"), json_object_get(in, "profile")) &&
				json_equal(json_object_get(s, "start"), json_object_get(in, "start"));
		if (!kept)
			return false;
	}
	return true;
}

/* One snapshot_take() under way: what the cache visits fill. */
struct collect {
	const struct snapshot_source *src;
	const struct snapshot_memory *mem;
	struct snapshot *s;
	unsigned cap_nodes, cap_pods; /* the arrays' room: the caches may grow while they are read */
	json_t *beats; /* this round's mem->beats: only nodes that still have a MigLayout */
	json_t *fails; /* this round's mem->fails */
	long long due;   /* the first moment a node's agent times out or its failure's grace ends */
	unsigned silent; /* nodes left out for a silent agent */
	int oom;
};

/*
 * Whether node key's agent has reported its current spec (generation gen) as failed for longer than the grace,
 * timed on our clock from when this process first saw that generation failed. The agent keeps retrying with
 * backoff; meanwhile the pods the spec was for are planned elsewhere, so none waits on one failing node.
 */
static bool failing_too_long(struct collect *cl, const char *key, bool failed, long long gen)
{
	const json_t *last = json_object_get(cl->mem->fails, key);
	long long now = kerf_mono_ms(), since = now;

	if (!failed)
		return false;
	if (last != NULL && json_integer_value(json_array_get(last, 0)) == gen)
		since = json_integer_value(json_array_get(last, 1));
	json_object_set_new(cl->fails, key, json_pack("[I, I]", (json_int_t)gen, (json_int_t)since));
	if (now - since <= cl->src->failed_grace_ms) {
		snapshot_due_at(&cl->due, since + cl->src->failed_grace_ms + 1);
		return false;
	}
	kerf_log_emit(cl->src->log, cl->src->log_arg, KERF_LOG_WARN, NULL, "node left out: its agent has failed to apply its spec",
	    "node=%s generation=%lld failing_s=%lld", key, gen, (now - since) / 1000);
	return true;
}

/* Whether node key's agent renewed its heartbeat within the timeout (a first sighting counts as renewed). */
static bool agent_alive(struct collect *cl, const char *key, const char *beat)
{
	const json_t *last = json_object_get(cl->mem->beats, key);
	long long now = kerf_mono_ms(), seen = now;

	if (last != NULL && strcmp(str(json_array_get(last, 0)), beat) == 0)
		seen = json_integer_value(json_array_get(last, 1));
	json_object_set_new(cl->beats, key, json_pack("[s, I]", beat, (json_int_t)seen));
	if (now - seen > cl->src->agent_timeout_ms) {
		cl->silent++;
		return false;
	}
	snapshot_due_at(&cl->due, seen + cl->src->agent_timeout_ms + 1);
	return true;
}

static int collect_node(const char *key, const char *rv, const void *proj, void *arg)
{
	struct collect *cl = arg;
	struct snapshot *s = cl->s;
	const json_t *p = proj, *status = json_object_get(p, "status"), *spec = json_object_get(p, "spec"), *g;
	bool in_flux = json_integer_value(json_object_get(p, "generation")) !=
		       json_integer_value(json_object_get(p, "observed"));
	struct snapshot_node *sn = &s->node[s->in.n_nodes];
	struct plan_node *n;
	struct kerf_err err;
	size_t i;

	if (s->in.n_nodes == cl->cap_nodes)
		return 1; /* the cache grew since its size was read: the rest waits for the next round */
	if (!json_is_array(status) || json_array_size(status) == 0)
		return 0; /* no agent has reported this node yet */
	if (!agent_alive(cl, key, str(json_object_get(p, "beat"))) || node_unusable(cl->src, key) != NULL ||
	    failing_too_long(cl, key, json_is_true(json_object_get(p, "failed")),
			     json_integer_value(json_object_get(p, "generation")))) {
		s->skipped++; /* an agent that cannot apply, or a node the scheduler would not use: no re-cut */
		return 0;
	}
	n = &s->in.nodes[s->in.n_nodes];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", key);
	if ((n->gpus = calloc(json_array_size(status), sizeof(*n->gpus))) == NULL) {
		cl->oom = 1;
		return 1;
	}
	json_array_foreach(status, i, g)
	{
		const json_t *sg = in_flux ? spec_gpu(spec, json_integer_value(json_object_get(g, "index"))) : NULL;

		/* A node still applying its spec is planned from it (its end state), unless a pod took an
		 * instance meanwhile that the spec would destroy: then the agent will refuse, and status is truth. */
		if (read_gpu(g, sg != NULL && spec_keeps_used(g, sg) ? sg : g, &n->gpus[n->n_gpus], &err) < 0) {
			kerf_log_emit(cl->src->log, cl->src->log_arg, KERF_LOG_WARN, &err, "node left out of this round",
				      "node=%s", key);
			free(n->gpus);
			return 0;
		}
		n->n_gpus++;
	}
	if ((sn->rv = strdup(rv ? rv : "")) == NULL) {
		free(n->gpus);
		cl->oom = 1;
		return 1;
	}
	sn->spec = json_incref((json_t *)spec);
	sn->settled = !in_flux && !json_is_true(json_object_get(p, "failed"));
	kube_informer_with(cl->src->nodes, key, copy_node_fit, sn);
	s->in.n_nodes++;
	return 0;
}

/*
 * A pod kube-scheduler bound to a node counted that node's free instances of what it asks for; until its
 * kubelet admits it (and pod-resources, then the agent's status, shows them used) nothing else marks them. So
 * they are marked used here: the plan neither destroys them nor gives them to another pod. Instances the
 * kubelet already allocated to it are not told apart from the others (status does not name pods), so for that
 * short time a little more may be held back than needed: the safe side.
 */
static void reserve(struct snapshot *s, const struct pod_proj *p)
{
	struct plan_node *n = NULL;

	for (unsigned i = 0; i < s->in.n_nodes && n == NULL; i++)
		if (strcmp(s->in.nodes[i].name, p->node) == 0)
			n = &s->in.nodes[i];
	for (unsigned d = 0; n != NULL && d < p->dem.n; d++) {
		unsigned want = p->dem.d[d].count;

		for (unsigned g = 0; g < n->n_gpus && want > 0; g++) {
			struct plan_gpu *pg = &n->gpus[g];

			for (unsigned k = 0; k < pg->layout.n && want > 0; k++) {
				char res[MIG_RESOURCE_MAX];

				if (pg->layout.inst[k].used ||
				    mig_resource_name(pg->model->profiles[pg->layout.inst[k].profile].name, res, sizeof(res)) < 0 ||
				    strcmp(res, p->dem.d[d].resource) != 0)
					continue;
				pg->layout.inst[k].used = true;
				want--;
				s->reserved++;
			}
		}
	}
}

static int collect_pod(const char *key, const char *rv, const void *proj, void *arg)
{
	struct collect *cl = arg;
	struct snapshot *s = cl->s;
	const struct pod_proj *p = proj;
	struct snapshot_pod *sp = &s->pod[s->in.n_pods];
	struct plan_pod *pp;

	(void)key, (void)rv;
	if (s->in.n_pods == cl->cap_pods)
		return 1;
	if (p->dem.n == 0)
		return 0;
	if (p->node[0] != '\0') {
		reserve(s, p);
		return 0;
	}
	pp = &s->in.pods[s->in.n_pods];
	memset(pp, 0, sizeof(*pp));
	snprintf(pp->name, sizeof(pp->name), "%s", p->name);
	pp->priority = p->priority;
	pp->n_demands = p->dem.n;
	for (unsigned d = 0; d < p->dem.n; d++) {
		snprintf(pp->demands[d].resource, sizeof(pp->demands[d].resource), "%s", p->dem.d[d].resource);
		pp->demands[d].count = p->dem.d[d].count;
	}
	_Static_assert(sizeof(sp->uid) == sizeof(p->uid) && sizeof(sp->created) == sizeof(p->created), "copied whole");
	memcpy(sp->uid, p->uid, sizeof(sp->uid));
	memcpy(sp->created, p->created, sizeof(sp->created));
	sp->fit = json_incref(p->fit);
	sp->req = json_incref(p->req);
	s->in.n_pods++;
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	plan_groups_free(&s->in);
	for (unsigned i = 0; i < s->in.n_nodes; i++) {
		free(s->in.nodes[i].gpus);
		json_decref(s->node[i].spec);
		json_decref(s->node[i].fit);
		json_decref(s->node[i].alloc);
		free(s->node[i].rv);
	}
	for (unsigned i = 0; i < s->in.n_pods; i++) {
		json_decref(s->pod[i].fit);
		json_decref(s->pod[i].req);
	}
	headroom_room_free(s->room, s->in.n_nodes);
	free(s->pod_req);
	free(s->in.nodes);
	free(s->in.pods);
	free(s->node);
	free(s->pod);
	memset(s, 0, sizeof(*s));
}

static int cmp_age(const void *x, const void *y, void *arg)
{
	const struct snapshot *s = arg;
	unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;
	int c = strcmp(s->pod[a].created, s->pod[b].created);

	return c != 0 ? c : strcmp(s->in.pods[a].name, s->in.pods[b].name);
}

/* Puts the n elements of size bytes at base in the order order[] gives (order[i]: the element to put at i). */
static int permute(void *base, size_t size, const unsigned *order, unsigned n)
{
	unsigned char *copy = malloc((size_t)n * size + 1), *b = base;

	if (copy == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++)
		memcpy(copy + (size_t)i * size, b + (size_t)order[i] * size, size);
	memcpy(b, copy, (size_t)n * size);
	free(copy);
	return 0;
}

/*
 * The pods oldest first (then by name: creation times have one-second steps). The planner serves higher
 * priorities first and, at equal priority, the input's order: so among equals the pod that waited longest gets
 * the free capacity, whatever order the cache happens to hold them in. The pods' own entries move with them.
 */
static int oldest_first(struct snapshot *s)
{
	unsigned n = s->in.n_pods, *order = malloc((n + 1) * sizeof(*order));
	int rc = -1;

	if (order == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_age, s); /* cmp_age reads both: permuted after */
	if (permute(s->in.pods, sizeof(*s->in.pods), order, n) == 0 && permute(s->pod, sizeof(*s->pod), order, n) == 0)
		rc = 0;
	free(order);
	return rc;
}

static int cmp_key_desc(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;

	return a < b ? 1 : a > b ? -1 : 0;
}

/*
 * The planner's priorities, for no starvation: a pod created age_after_ms or more ago goes before every
 * younger pod of its priority, and after every pod of a higher one. Each pod's key is its priority doubled,
 * plus one if aged; the planner is given the rank of its key among those present (0 the lowest), so aging
 * adds a level only where a priority has both aged and young pods (the planner's exact search takes a few
 * levels), whatever the gaps between PriorityClass values. The planner serves higher values first and then
 * input order (oldest first). Ages are this host's clock less the API server's creationTimestamp: a skew of
 * seconds does not matter against minutes of age_after_ms. Returns how many pods aged.
 */
static unsigned age_pods(const struct snapshot_source *src, struct snapshot *s)
{
	unsigned n = s->in.n_pods, levels = 0, aged = 0;
	long long *key = malloc((n + 1) * sizeof(*key)), *rank = malloc((n + 1) * sizeof(*rank));
	time_t now = time(NULL);

	if (key == NULL || rank == NULL) {
		free(key);
		free(rank);
		return 0; /* out of memory: plain priorities this round, aging resumes next round */
	}
	for (unsigned i = 0; i < n; i++) {
		time_t born;
		bool known = src->age_after_ms > 0 && kube_rfc3339(s->pod[i].created, &born) == 0;
		bool old = known && (long long)(now - born) * 1000 >= src->age_after_ms;

		if (known && !old) /* its aging is a timer of this plan (the round that finds nothing changed) */
			snapshot_due_at(&s->due, kerf_mono_ms() + ((long long)born - (long long)now) * 1000 + src->age_after_ms);
		key[i] = (long long)s->in.pods[i].priority * 2 + old;
		rank[i] = key[i];
		aged += old;
	}
	qsort(rank, n, sizeof(*rank), cmp_key_desc);
	for (unsigned i = 0; i < n; i++)
		if (levels == 0 || rank[levels - 1] != rank[i])
			rank[levels++] = rank[i];
	for (unsigned i = 0; i < n; i++) {
		unsigned lo = 0, hi = levels - 1;

		while (lo < hi) { /* rank[] descending: find key[i] */
			unsigned mid = (lo + hi) / 2;

			if (rank[mid] > key[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		s->in.pods[i].priority = (int)(levels - 1 - lo);
	}
	free(key);
	free(rank);
	return aged;
}

/*
 * Leaves out, for each pod, the nodes it has waited on in vain (watch_waits() below), and forgets the pods
 * that no longer wait and the nodes given up on long ago (what kept the scheduler away may have passed).
 */
static int deny_given_up(const struct snapshot_source *src, struct snapshot_memory *mem, struct snapshot *s,
			 struct kerf_err *err)
{
	json_t *kept = json_object();
	unsigned char *deny = calloc(s->in.n_nodes + 1, 1);
	long long now = kerf_mono_ms(), forget = SNAPSHOT_FORGET_TIMES * src->replan_after_ms;
	int rc = -1;

	if (kept == NULL || deny == NULL)
		goto out;
	for (unsigned i = 0; i < s->in.n_pods; i++) {
		const json_t *nodes = json_object_get(mem->gave_up, s->pod[i].uid);
		json_t *still;
		unsigned n_deny = 0;
		int g;

		if (nodes == NULL)
			continue;
		if ((still = json_object()) == NULL)
			goto out;
		memset(deny, 0, s->in.n_nodes);
		for (unsigned n = 0; n < s->in.n_nodes; n++) {
			const json_t *since = json_object_get(nodes, s->in.nodes[n].name);

			if (since != NULL && now - json_integer_value(since) < forget) {
				snapshot_due_at(&s->due, json_integer_value(since) + forget);
				deny[n] = 1;
				n_deny++;
				json_object_set(still, s->in.nodes[n].name, (json_t *)since);
			}
		}
		if (n_deny == 0 || (g = plan_group_deny(&s->in, s->in.pods[i].group, deny, err)) < 0) {
			json_decref(still);
			if (n_deny == 0)
				continue;
			goto out;
		}
		s->in.pods[i].group = (unsigned)g;
		json_object_set_new(kept, s->pod[i].uid, still);
	}
	json_decref(mem->gave_up);
	mem->gave_up = kept;
	kept = NULL;
	rc = 0;
out:
	json_decref(kept);
	free(deny);
	return rc;
}

/* The planner's arrays of per-node and per-pod data, gathered (borrowed references). */
static void gather(struct snapshot *s, const json_t **pod_fit, const json_t **node_fit, json_t **node_alloc)
{
	for (unsigned n = 0; n < s->in.n_nodes; n++) {
		node_fit[n] = s->node[n].fit;
		node_alloc[n] = s->node[n].alloc;
	}
	for (unsigned i = 0; i < s->in.n_pods; i++) {
		pod_fit[i] = s->pod[i].fit;
		s->pod_req[i] = s->pod[i].req;
	}
}

int snapshot_take(const struct snapshot_source *src, struct snapshot_memory *mem, struct snapshot *s,
		  struct kerf_err *err)
{
	size_t nn = kube_informer_len(src->layouts) + 1, np = kube_informer_len(src->pods) + 1;
	struct collect cl = {src, mem, s, (unsigned)nn, (unsigned)np, json_object(), json_object(), LLONG_MAX, 0, 0};
	const json_t **pod_fit = calloc(np, sizeof(*pod_fit)), **node_fit = calloc(nn, sizeof(*node_fit));
	json_t **node_alloc = calloc(nn, sizeof(*node_alloc));

	/* The caches may grow between len() and foreach(): the visits stop at the capacity taken here. */
	memset(s, 0, sizeof(*s));
	s->in.nodes = calloc(nn, sizeof(*s->in.nodes));
	s->node = calloc(nn, sizeof(*s->node));
	s->in.pods = calloc(np, sizeof(*s->in.pods));
	s->pod = calloc(np, sizeof(*s->pod));
	s->pod_req = calloc(np, sizeof(*s->pod_req));
	if (!s->in.nodes || !s->node || !s->in.pods || !s->pod || !s->pod_req || !pod_fit || !node_fit || !node_alloc)
		goto oom;
	kube_informer_foreach(src->layouts, collect_node, &cl);
	kube_informer_foreach(src->pods, collect_pod, &cl);
	if (cl.oom || cl.beats == NULL || cl.fails == NULL || oldest_first(s) < 0)
		goto oom;
	gather(s, pod_fit, node_fit, node_alloc);
	s->due = cl.due;
	s->silent = cl.silent;
	/* Where each pod may run, as kube-scheduler's node filters decide (fit.h): the same code as `kerf plan`. */
	if (plan_fit_groups(&s->in, pod_fit, node_fit, err) < 0 || deny_given_up(src, mem, s, err) < 0)
		goto oom;
	/* And where it has room for its CPU, memory and other requests, as NodeResourcesFit decides (room.h). */
	if ((s->room = headroom_room(src->room, &s->in, node_alloc, err)) == NULL)
		goto oom;
	s->in.room = &s->room_view;
	s->room_view = (struct plan_room){s->room, s->pod_req};
	s->aged = age_pods(src, s);
	json_decref(mem->beats);
	mem->beats = cl.beats;
	json_decref(mem->fails);
	mem->fails = cl.fails;
	free(pod_fit);
	free(node_fit);
	free(node_alloc);
	return 0;
oom:
	json_decref(cl.beats);
	json_decref(cl.fails);
	free(pod_fit);
	free(node_fit);
	free(node_alloc);
	snapshot_free(s);
	return kerf_err_set(err, KERF_ENOMEM, "controller: out of memory reading the caches");
}

/*
 * spec.gpus for a node the plan changes (changes[from..to), all of that node): every GPU of the node, in
 * order, that the plan changes (its complete new layout) or the current spec already lists (as it lists it:
 * a node still applying an earlier spec keeps what it was asked for). The patch replaces spec.gpus whole, so
 * a GPU the plan leaves alone must be carried over, or its pending re-cut would be dropped (bench/controller
 * found 65 nodes rewritten every round so).
 */
json_t *snapshot_spec_of(const struct snapshot *s, const struct plan_output *out, unsigned from, unsigned to)
{
	const struct plan_node *n = &s->in.nodes[out->changes[from].node];
	const json_t *current = s->node[out->changes[from].node].spec;
	json_t *gpus = json_array();

	for (unsigned g = 0, k = from; g < n->n_gpus; g++) {
		const struct plan_gpu *pg = &n->gpus[g];
		const struct plan_change *ch = k < to && out->changes[k].gpu == g ? &out->changes[k++] : NULL;
		const json_t *kept;
		json_t *insts;

		if (ch == NULL) {
			if ((kept = spec_gpu(current, (json_int_t)pg->index)) != NULL)
				json_array_append(gpus, (json_t *)kept);
			continue;
		}
		insts = json_array();
		for (unsigned i = 0; i < ch->layout.n; i++)
			json_array_append_new(insts, json_pack("{s:s, s:i}", "profile",
							       pg->model->profiles[ch->layout.inst[i].profile].name, "start",
							       (int)ch->layout.inst[i].start));
		json_array_append_new(gpus, json_pack("{s:i, s:o}", "index", (int)pg->index, "instances", insts));
	}
	return gpus;
}

bool snapshot_has_now(const struct plan_node *n, unsigned g, unsigned profile, unsigned start)
{
	for (unsigned k = 0; k < n->gpus[g].layout.n; k++)
		if (n->gpus[g].layout.inst[k].profile == profile && n->gpus[g].layout.inst[k].start == start)
			return true;
	return false;
}

