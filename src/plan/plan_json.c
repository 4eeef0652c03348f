/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan_json.c — the planner's input and output as JSON (jansson), for `kerf plan` and the controller.
 *
 * Parsing checks everything the planner relies on, so that a person gets one sentence naming the field
 * ("nodes[2].gpus[0].instances[1].start: 6 is not a legal start for 2g.20gb (legal: 0, 2, 4)") instead
 * of a plan built on bad data. Each level of the reader reports its field relative to itself and the
 * caller adds its own part with kerf_err_path(), so paths are assembled in one direction only.
 *
 * "used" has no default: treating an instance in use as free could let a plan destroy it, so an input
 * that does not say is rejected. "priority" defaults to 0, Kubernetes' priority for pods without a class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fit.h"
#include "json_read.h"
#include "kube_quantity.h"
#include "plan.h"
#include "room.h"

/* ---- typed field access ---------------------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static json_t *field(const json_t *obj, const char *key, json_type type, int required, struct kerf_err *err)
{
	static const char *const want[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
		[JSON_INTEGER] = "an integer", [JSON_TRUE] = "a boolean",
	};
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (required)
			kerf_err_set(err, KERF_EINVAL, "%s: missing", key);
		return NULL;
	}
	if (json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v)))
		return v;
	kerf_err_set(err, KERF_EINVAL, "%s: expected %s, found %s", key, want[type], type_name(v));
	return NULL;
}

static int get_string(const json_t *obj, const char *key, char *out, size_t outsz, struct kerf_err *err)
{
	json_t *v = field(obj, key, JSON_STRING, 1, err);
	const char *s;
	size_t n;

	if (v == NULL)
		return -1;
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0)
		return kerf_err_set(err, KERF_EINVAL, "%s: empty", key);
	if (n >= outsz)
		return kerf_err_set(err, KERF_EINVAL, "%s: longer than %zu characters", key, outsz - 1);
	memcpy(out, s, n + 1);
	return 0;
}

static int get_int(const json_t *obj, const char *key, long long lo, long long hi, int required, long long *out,
		   struct kerf_err *err)
{
	json_t *v = field(obj, key, JSON_INTEGER, required, err);
	long long x;

	if (v == NULL)
		return required || json_object_get(obj, key) != NULL ? -1 : 0;
	x = json_integer_value(v);
	if (x < lo || x > hi)
		return kerf_err_set(err, KERF_EINVAL, "%s: %lld is not in %lld..%lld", key, x, lo, hi);
	*out = x;
	return 0;
}

/* ---- input --------------------------------------------------------------------------------------- */

static int parse_instance(const json_t *v, const struct mig_model *m, struct mig_instance *inst, struct kerf_err *err)
{
	char name[MIG_NAME_MAX + 8];
	long long start = 0;
	json_t *used;
	int p;

	if (!json_is_object(v))
		return kerf_err_set(err, KERF_EINVAL, "expected an object, found %s", type_name(v));
	if (get_string(v, "profile", name, sizeof(name), err) != 0)
		return -1;
	p = mig_profile_by_name(m, name);
	if (p < 0)
		return kerf_err_set(err, KERF_EINVAL, "profile: \"%s\" is not a profile of %s (see `kerf models %s`)", name,
				    m->name, m->name);
	if (get_int(v, "start", 0, (long long)m->slots - 1, 1, &start, err) != 0)
		return -1;
	used = field(v, "used", JSON_TRUE, 1, err);
	if (used == NULL)
		return -1;
	inst->profile = (uint8_t)p;
	inst->start = (uint8_t)start;
	inst->used = json_is_true(used);
	return 0;
}

static int parse_gpu(const json_t *v, const struct mig_catalog *cat, struct plan_gpu *g, struct kerf_err *err)
{
	char model[MIG_MODEL_NAME_MAX];
	long long index = 0;
	json_t *insts;
	size_t i;
	json_t *it;

	if (!json_is_object(v))
		return kerf_err_set(err, KERF_EINVAL, "expected an object, found %s", type_name(v));
	if (get_int(v, "index", 0, 4095, 1, &index, err) != 0)
		return -1;
	g->index = (unsigned)index;
	if (get_string(v, "model", model, sizeof(model), err) != 0)
		return -1;
	g->model = mig_catalog_find(cat, model, err);
	if (g->model == NULL)
		return kerf_err_prefix(err, "model");
	insts = field(v, "instances", JSON_ARRAY, 1, err);
	if (insts == NULL)
		return -1;
	if (json_array_size(insts) > MIG_MAX_INSTANCES)
		return kerf_err_set(err, KERF_EINVAL, "instances: %zu instances, more than any GPU holds",
				    json_array_size(insts));
	g->layout.n = 0;
	json_array_foreach(insts, i, it) {
		if (parse_instance(it, g->model, &g->layout.inst[i], err) != 0)
			return kerf_err_path(err, "instances[%zu]", i);
		g->layout.n++;
	}
	/* The layout rules' messages already start with "instances[k]" where they concern one instance. */
	if (mig_layout_check(g->model, &g->layout, err) != 0)
		return strncmp(err->msg, "instances[", 10) == 0 ? -1 : kerf_err_path(err, "instances");
	for (unsigned a = 0; a < g->layout.n; a++)
		for (unsigned b = 0; b < a; b++)
			if (g->layout.inst[a].profile == g->layout.inst[b].profile &&
			    g->layout.inst[a].start == g->layout.inst[b].start)
				return kerf_err_set(err, KERF_EINVAL, "instances[%u]: same instance as instances[%u]", a, b);
	return 0;
}

/* ---- where a pod may run (fit.h): Kubernetes' own field shapes, checked here so errors name the field ---- */

/* An optional field that, when present, must be an object whose values are all strings (labels, nodeSelector). */
static int string_map(const json_t *v, const char *key, struct kerf_err *err)
{
	json_t *m = json_object_get(v, key), *x;
	const char *k;

	if (m == NULL)
		return 0;
	if (field(v, key, JSON_OBJECT, 0, err) == NULL)
		return -1;
	json_object_foreach(m, k, x)
		if (!json_is_string(x))
			return kerf_err_set(err, KERF_EINVAL, "%s[\"%s\"]: expected a string, found %s", key, k, type_name(x));
	return 0;
}

/* An optional array of objects whose listed members, where present, are strings (taints, tolerations). */
static int object_list(const json_t *v, const char *key, const char *const *strings, struct kerf_err *err)
{
	json_t *a = json_object_get(v, key), *it;
	size_t i;

	if (a == NULL)
		return 0;
	if (field(v, key, JSON_ARRAY, 0, err) == NULL)
		return -1;
	json_array_foreach(a, i, it) {
		if (!json_is_object(it))
			return kerf_err_set(err, KERF_EINVAL, "%s[%zu]: expected an object, found %s", key, i, type_name(it));
		for (const char *const *s = strings; *s; s++)
			if (json_object_get(it, *s) != NULL && field(it, *s, JSON_STRING, 0, err) == NULL)
				return kerf_err_path(err, "%s[%zu]", key, i);
	}
	return 0;
}

static const char *const taint_fields[] = {"key", "value", "effect", NULL};
static const char *const toleration_fields[] = {"key", "operator", "value", "effect", NULL};

static int check_node_fit(const json_t *v, struct kerf_err *err)
{
	json_t *t;
	size_t i;

	if (string_map(v, "labels", err) != 0 || object_list(v, "taints", taint_fields, err) != 0)
		return -1;
	json_array_foreach(json_object_get(v, "taints"), i, t) {
		const char *e = json_string_value(json_object_get(t, "effect"));

		if (e == NULL || (strcmp(e, "NoSchedule") != 0 && strcmp(e, "PreferNoSchedule") != 0 && strcmp(e, "NoExecute") != 0))
			return kerf_err_set(err, KERF_EINVAL, "taints[%zu].effect: \"%s\" is not NoSchedule, PreferNoSchedule or NoExecute",
					    i, e ? e : "");
	}
	if (json_object_get(v, "unschedulable") != NULL && field(v, "unschedulable", JSON_TRUE, 0, err) == NULL)
		return -1;
	return 0;
}

static int check_pod_fit(const json_t *v, struct kerf_err *err)
{
	if (string_map(v, "nodeSelector", err) != 0 || object_list(v, "tolerations", toleration_fields, err) != 0)
		return -1;
	if (json_object_get(v, "affinity") != NULL && field(v, "affinity", JSON_OBJECT, 0, err) == NULL)
		return -1;
	return 0;
}

/* The input's nodes in the Node shape plan_fit() reads; the pods are read as they are (same field names). */
static int fit_groups(const json_t *nodes, const json_t *pods, struct plan_input *in, struct kerf_err *err)
{
	json_t **shaped = calloc(in->n_nodes + 1, sizeof(*shaped)), *it;
	const json_t **specs = calloc(in->n_pods + 1, sizeof(*specs));
	int rc = -1;
	size_t i;

	if (shaped == NULL || specs == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(nodes, i, it) {
		shaped[i] = json_pack("{s:{s:O, s:O?}, s:{s:O?, s:O?}}", "metadata", "name", json_object_get(it, "name"),
				      "labels", json_object_get(it, "labels"), "spec", "taints", json_object_get(it, "taints"),
				      "unschedulable", json_object_get(it, "unschedulable"));
		if (shaped[i] == NULL) {
			kerf_err_set(err, KERF_ENOMEM, "out of memory");
			goto out;
		}
	}
	json_array_foreach(pods, i, it)
		specs[i] = it;
	rc = plan_fit_groups(in, specs, (const json_t *const *)shaped, err);
out:
	for (i = 0; shaped != NULL && i < in->n_nodes; i++)
		json_decref(shaped[i]);
	free(shaped);
	free(specs);
	return rc;
}

/* Node v (nodes[at]); its GPUs from fast when plan_json_read() read them there. */
static int parse_node(const json_t *v, const struct mig_catalog *cat, struct plan_json_gpus *fast, size_t at,
		      struct plan_node *n, struct kerf_err *err)
{
	json_t *gpus, *it;
	size_t i;

	if (!json_is_object(v))
		return kerf_err_set(err, KERF_EINVAL, "expected an object, found %s", type_name(v));
	if (get_string(v, "name", n->name, sizeof(n->name), err) != 0 || check_node_fit(v, err) != 0)
		return -1;
	if (fast != NULL && at < fast->n && fast->node[at].read) {
		n->gpus = fast->node[at].gpus != NULL ? fast->node[at].gpus : calloc(1, sizeof(*n->gpus));
		fast->node[at].gpus = NULL;
		n->n_gpus = fast->node[at].n_gpus;
		return n->gpus != NULL ? 0 : kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	gpus = field(v, "gpus", JSON_ARRAY, 1, err);
	if (gpus == NULL)
		return -1;
	n->gpus = calloc(json_array_size(gpus) + 1, sizeof(*n->gpus));
	if (n->gpus == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	json_array_foreach(gpus, i, it) {
		if (parse_gpu(it, cat, &n->gpus[i], err) != 0)
			return kerf_err_path(err, "gpus[%zu]", i);
		n->n_gpus++;
		for (unsigned j = 0; j < i; j++)
			if (n->gpus[j].index == n->gpus[i].index)
				return kerf_err_set(err, KERF_EINVAL, "gpus[%zu].index: %u is also gpus[%u].index", i,
						    n->gpus[i].index, j);
	}
	return 0;
}

/* A resource must name a profile of some model kerf knows; whether a node offers it is the plan's job. */
static int known_resource(const struct mig_catalog *cat, const char *res)
{
	for (unsigned m = 0; m < cat->n_models; m++)
		if (mig_profile_by_resource(&cat->models[m], res) >= 0)
			return 1;
	return 0;
}

static int parse_pod(const json_t *v, const struct mig_catalog *cat, struct plan_pod *p, struct kerf_err *err)
{
	long long prio = 0;
	json_t *res, *cnt;
	const char *key;

	if (!json_is_object(v))
		return kerf_err_set(err, KERF_EINVAL, "expected an object, found %s", type_name(v));
	if (get_string(v, "name", p->name, sizeof(p->name), err) != 0 || check_pod_fit(v, err) != 0)
		return -1;
	if (get_int(v, "priority", -2147483647LL - 1, 2147483647LL, 0, &prio, err) != 0)
		return -1;
	p->priority = (int)prio;
	res = field(v, "resources", JSON_OBJECT, 1, err);
	if (res == NULL)
		return -1;
	if (json_object_size(res) == 0)
		return kerf_err_set(err, KERF_EINVAL, "resources: asks for no MIG resource");
	if (json_object_size(res) > PLAN_MAX_DEMANDS)
		return kerf_err_set(err, KERF_EINVAL, "resources: %zu resources, at most %d", json_object_size(res),
				    PLAN_MAX_DEMANDS);
	json_object_foreach(res, key, cnt) {
		struct plan_demand *d = &p->demands[p->n_demands];

		if (!mig_is_resource(key))
			return kerf_err_set(err, KERF_EINVAL,
					    "resources[\"%s\"]: not a MIG resource (kerf plans %s<profile> resources only)", key,
					    MIG_RESOURCE_PREFIX);
		if (strlen(key) >= sizeof(d->resource))
			return kerf_err_set(err, KERF_EINVAL, "resources[\"%.40s...\"]: name too long", key);
		if (!known_resource(cat, key))
			return kerf_err_set(err, KERF_EINVAL,
					    "resources[\"%s\"]: no GPU model kerf knows has profile %s (see `kerf models`)", key,
					    key + strlen(MIG_RESOURCE_PREFIX));
		if (!json_is_integer(cnt))
			return kerf_err_set(err, KERF_EINVAL, "resources[\"%s\"]: expected an integer count, found %s", key,
					    type_name(cnt));
		if (json_integer_value(cnt) < 1 || json_integer_value(cnt) > 1000)
			return kerf_err_set(err, KERF_EINVAL, "resources[\"%s\"]: count %lld is not in 1..1000", key,
					    (long long)json_integer_value(cnt));
		snprintf(d->resource, sizeof(d->resource), "%s", key);
		d->count = (unsigned)json_integer_value(cnt);
		p->n_demands++;
	}
	return 0;
}

/* ---- room: nodes' allocatable and requested, pods' requests (room.h) ---- */

/*
 * An object of quantities (obj[key], optional) as amounts {resource: n} (CPU in millicores), into *out (NULL
 * when absent). Every value must be a quantity ("500m", "8Gi", 110): the error names the bad one.
 */
static int amounts(const json_t *obj, const char *key, json_t **out, struct kerf_err *err)
{
	const json_t *m = field(obj, key, JSON_OBJECT, 0, err), *v;
	const char *res;

	*out = NULL;
	if (m == NULL)
		return json_object_get(obj, key) != NULL ? -1 : 0;
	if ((*out = json_object()) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	json_object_foreach((json_t *)m, res, v)
	{
		int64_t n = kube_resource_amount(res, v);

		if (n < 0 || (!json_is_string(v) && !json_is_integer(v)))
			return kerf_err_set(err, KERF_EINVAL, "%s[\"%s\"]: not a quantity (\"500m\", \"8Gi\", 110)", key, res);
		json_object_set_new(*out, res, json_integer(n));
	}
	return 0;
}

/* Node v's room: allocatable less requested ("pods" included); NULL in *room without allocatable. */
static int node_room(const json_t *v, json_t **room, struct kerf_err *err)
{
	json_t *req = NULL, *x;
	const char *res;

	if (amounts(v, "allocatable", room, err) != 0 || amounts(v, "requested", &req, err) != 0)
		return -1; /* requested without allocatable was refused before (parse_room) */
	json_object_foreach(req, res, x)
		json_object_set_new(*room, res,
				    json_integer(json_integer_value(json_object_get(*room, res)) - json_integer_value(x)));
	json_decref(req);
	return 0;
}

/* The room of every node and the requests of every pod, when some node gives its allocatable. */
static int parse_room(const json_t *nodes, const json_t *pods, struct plan_input *in, struct kerf_err *err)
{
	const json_t *it;
	bool any = false;
	size_t i;

	json_array_foreach(nodes, i, it) {
		if (json_object_get(it, "requested") != NULL && json_object_get(it, "allocatable") == NULL)
			return kerf_err_set(err, KERF_EINVAL,
					    "nodes[%zu].requested: given without allocatable (room is allocatable less requested)", i);
		any |= json_object_get(it, "allocatable") != NULL;
	}
	json_array_foreach(pods, i, it)
		if (!any && json_object_get(it, "requests") != NULL)
			return kerf_err_set(err, KERF_EINVAL, "pending[%zu].requests: no node gives its allocatable to weigh them against",
					    i);
	if (!any)
		return 0;
	if ((in->room = plan_room_new(in->n_nodes, in->n_pods)) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	json_array_foreach(nodes, i, it)
		if (node_room(it, &in->room->node[i], err) != 0)
			return kerf_err_path(err, "nodes[%zu]", i);
	json_array_foreach(pods, i, it)
		if (amounts(it, "requests", &in->room->pod[i], err) != 0)
			return kerf_err_path(err, "pending[%zu]", i);
	return 0;
}

/* Names must be unique: the plan refers to nodes and pods by name. Sorting keeps this O(n log n). */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_unique(const char *what, size_t n, const char *(*name)(const struct plan_input *, size_t),
			const struct plan_input *in, struct kerf_err *err)
{
	const char **v = malloc((n + 1) * sizeof(*v));

	if (v == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = name(in, i);
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i], v[i - 1]) == 0) {
			size_t a = SIZE_MAX, b = SIZE_MAX;

			for (size_t k = 0; k < n; k++)
				if (strcmp(name(in, k), v[i]) == 0) {
					if (a == SIZE_MAX)
						a = k;
					else if (b == SIZE_MAX)
						b = k;
				}
			kerf_err_set(err, KERF_EINVAL, "%s[%zu].name: \"%s\" is also %s[%zu].name", what, b, v[i], what, a);
			free(v);
			return -1;
		}
	}
	free(v);
	return 0;
}

static const char *node_name(const struct plan_input *in, size_t i)
{
	return in->nodes[i].name;
}

static const char *pod_name(const struct plan_input *in, size_t i)
{
	return in->pods[i].name;
}

static int parse_root(const json_t *root, const struct mig_catalog *cat, struct plan_json_gpus *fast,
		      struct plan_input *in, struct kerf_err *err)
{
	json_t *nodes, *pods, *it;
	size_t i;

	if (!json_is_object(root))
		return kerf_err_set(err, KERF_EINVAL, "the input must be a JSON object with \"nodes\" and \"pending\", found %s",
				    type_name(root));
	nodes = field(root, "nodes", JSON_ARRAY, 1, err);
	if (nodes == NULL)
		return -1;
	pods = field(root, "pending", JSON_ARRAY, 1, err);
	if (pods == NULL)
		return -1;
	in->nodes = calloc(json_array_size(nodes) + 1, sizeof(*in->nodes));
	in->pods = calloc(json_array_size(pods) + 1, sizeof(*in->pods));
	if (in->nodes == NULL || in->pods == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	json_array_foreach(nodes, i, it) {
		in->n_nodes++;
		if (parse_node(it, cat, fast, i, &in->nodes[i], err) != 0)
			return kerf_err_path(err, "nodes[%zu]", i);
	}
	json_array_foreach(pods, i, it) {
		if (parse_pod(it, cat, &in->pods[i], err) != 0)
			return kerf_err_path(err, "pending[%zu]", i);
		in->n_pods++;
	}
	if (check_unique("nodes", in->n_nodes, node_name, in, err) != 0 ||
	    check_unique("pending", in->n_pods, pod_name, in, err) != 0)
		return -1;
	if (parse_room(nodes, pods, in, err) != 0)
		return -1;
	return fit_groups(nodes, pods, in, err);
}

int plan_input_parse(const char *text, size_t len, const struct mig_catalog *cat, struct plan_input *in,
		     struct kerf_err *err)
{
	struct plan_json_gpus fast = {0};
	json_t *root;
	int rc;

	memset(in, 0, sizeof(*in));
	/* Plain input (all of it in practice) without jansson's lexer, GPUs straight into the input. On any
	 * fault it is read again with jansson alone, whose reading names the fault: one message either way. */
	if ((root = plan_json_read(text, len, cat, &fast)) != NULL) {
		rc = parse_root(root, cat, &fast, in, err);
		json_decref(root);
		plan_json_gpus_free(&fast);
		if (rc == 0)
			return 0;
		plan_input_free(in);
	}
	plan_json_gpus_free(&fast);
	return plan_input_parse_jansson(text, len, cat, in, err);
}

int plan_input_parse_jansson(const char *text, size_t len, const struct mig_catalog *cat, struct plan_input *in,
			     struct kerf_err *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(in, 0, sizeof(*in));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return kerf_err_set(err, KERF_EINVAL, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	rc = parse_root(root, cat, NULL, in, err);
	json_decref(root);
	if (rc != 0)
		plan_input_free(in);
	return rc;
}

void plan_input_free(struct plan_input *in)
{
	plan_groups_free(in);
	plan_room_free(in->room, in->n_nodes, in->n_pods);
	for (unsigned i = 0; in->nodes != NULL && i < in->n_nodes; i++)
		free(in->nodes[i].gpus);
	free(in->nodes);
	free(in->pods);
	memset(in, 0, sizeof(*in));
}

/* ---- output -------------------------------------------------------------------------------------- */

/* Every json_* constructor below may return NULL on ENOMEM; the _new setters accept NULL and fail, and
 * one check of the final dump catches it, so the building code can read straight through. */
static json_t *layout_json(const struct mig_model *m, const struct mig_layout *l, int with_used)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < l->n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "profile", json_string(m->profiles[l->inst[i].profile].name));
		json_object_set_new(o, "start", json_integer(l->inst[i].start));
		if (with_used)
			json_object_set_new(o, "used", json_boolean(l->inst[i].used));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *nodes_json(const struct plan_input *in, const struct plan_output *out)
{
	json_t *nodes = json_array(), *node = NULL, *gpus = NULL;
	unsigned last = (unsigned)-1;

	for (unsigned i = 0; i < out->n_changes; i++) {
		const struct plan_change *ch = &out->changes[i];
		const struct plan_gpu *g = &in->nodes[ch->node].gpus[ch->gpu];
		json_t *gj = json_object();

		if (ch->node != last) {
			node = json_object();
			gpus = json_array();
			json_object_set_new(node, "name", json_string(in->nodes[ch->node].name));
			json_object_set_new(node, "gpus", gpus);
			json_array_append_new(nodes, node);
			last = ch->node;
		}
		json_object_set_new(gj, "index", json_integer(g->index));
		json_object_set_new(gj, "model", json_string(g->model->name));
		json_object_set_new(gj, "instances", layout_json(g->model, &ch->layout, 1));
		json_object_set_new(gj, "destroyed", json_integer(ch->destroyed));
		json_object_set_new(gj, "created", json_integer(ch->created));
		json_array_append_new(gpus, gj);
	}
	return nodes;
}

static json_t *assignments_json(const struct plan_input *in, const struct plan_output *out)
{
	json_t *arr = json_array();

	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		const struct plan_node *n = &in->nodes[a->node];
		json_t *o = json_object(), *insts = json_array();

		json_object_set_new(o, "pod", json_string(in->pods[a->pod].name));
		json_object_set_new(o, "node", json_string(n->name));
		for (unsigned b = 0; b < a->n_bindings; b++) {
			const struct plan_binding *bd = &a->bindings[b];
			json_t *bo = json_object();

			json_object_set_new(bo, "gpu", json_integer(n->gpus[bd->gpu].index));
			json_object_set_new(bo, "profile", json_string(n->gpus[bd->gpu].model->profiles[bd->profile].name));
			json_object_set_new(bo, "start", json_integer(bd->start));
			json_array_append_new(insts, bo);
		}
		json_object_set_new(o, "instances", insts);
		json_array_append_new(arr, o);
	}
	return arr;
}

char *plan_output_json(const struct plan_input *in, const struct plan_output *out, struct kerf_err *err)
{
	json_t *root = json_object(), *unplaced = json_array(), *summary = json_object();
	char *text = NULL, *res = NULL;
	size_t len;

	for (unsigned i = 0; i < out->n_unplaced; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "pod", json_string(in->pods[out->unplaced[i].pod].name));
		json_object_set_new(o, "reason", json_string(out->unplaced[i].reason));
		json_array_append_new(unplaced, o);
	}
	json_object_set_new(summary, "placed", json_integer(out->n_assignments));
	json_object_set_new(summary, "unplaced", json_integer(out->n_unplaced));
	json_object_set_new(summary, "destroyed", json_integer(out->destroyed));
	json_object_set_new(summary, "created", json_integer(out->created));
	json_object_set_new(summary, "gpus_touched", json_integer(out->gpus_touched));
	json_object_set_new(root, "nodes", nodes_json(in, out));
	json_object_set_new(root, "assignments", assignments_json(in, out));
	json_object_set_new(root, "unplaced", unplaced);
	json_object_set_new(root, "summary", summary);
	if (root != NULL)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory writing the plan as JSON");
		return NULL;
	}
	len = strlen(text);
	res = malloc(len + 2);
	if (res != NULL) {
		memcpy(res, text, len);
		res[len] = '\n';
		res[len + 1] = '\0';
	} else {
		kerf_err_set(err, KERF_ENOMEM, "out of memory writing the plan as JSON");
	}
	free(text);
	return res;
}
