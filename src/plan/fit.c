/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fit.c — kube-scheduler's node filters that decide where a pod may run (fit.h), and the grouping of pods
 * with equal constraints that lets the planner ask "may pod p use node n" as one array read.
 *
 * The inputs are untrusted JSON (a Pod or Node as the API server sent it, or a user's `kerf plan` file): any
 * field may be missing or of the wrong type. A missing field means what the API's default means (no selector,
 * no taints); a wrong type in a constraint makes it match nothing, so kerf never re-cuts for a pod on a node
 * the scheduler might refuse.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "dict.h"
#include "hash.h"

static const char *str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static const json_t *path2(const json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

/* ---- node affinity ---- */

static int in_values(const json_t *values, const char *v)
{
	const json_t *x;
	size_t i;

	json_array_foreach(values, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
			return 1;
	return 0;
}

/* A label value and the one value of a Gt/Lt requirement, as the scheduler reads them: base-10 integers. */
static int as_int(const char *s, long long *out)
{
	char *end;

	if (*s == '\0')
		return 0;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* One requirement {key, operator, values} against value (NULL when the node has no such label/field). */
static int requirement(const json_t *req, const char *value, int fields)
{
	const char *op = str(json_object_get(req, "operator"));
	const json_t *values = json_object_get(req, "values");
	long long have, want;

	if (strcmp(op, "In") == 0)
		return value != NULL && in_values(values, value);
	if (strcmp(op, "NotIn") == 0)
		return value == NULL || !in_values(values, value);
	if (fields) /* matchFields take In and NotIn only */
		return 0;
	if (strcmp(op, "Exists") == 0)
		return value != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return value == NULL;
	if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
		if (value == NULL || json_array_size(values) != 1 || !as_int(value, &have) ||
		    !as_int(str(json_array_get(values, 0)), &want))
			return 0;
		return op[0] == 'G' ? have > want : have < want;
	}
	return 0; /* an operator this version does not know: the safe side */
}

static int term_matches(const json_t *term, const json_t *node)
{
	const json_t *exprs = json_object_get(term, "matchExpressions"), *fields = json_object_get(term, "matchFields");
	const json_t *labels = path2(node, "metadata", "labels"), *r;
	size_t i;

	if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
		return 0; /* an empty term matches no node */
	json_array_foreach(exprs, i, r)
	{
		const json_t *v = json_object_get(labels, str(json_object_get(r, "key")));

		if (!requirement(r, json_is_string(v) ? json_string_value(v) : NULL, 0))
			return 0;
	}
	json_array_foreach(fields, i, r)
	{
		const char *key = str(json_object_get(r, "key"));

		if (strcmp(key, "metadata.name") != 0 || !requirement(r, str(path2(node, "metadata", "name")), 1))
			return 0;
	}
	return 1;
}

static int affinity_ok(const json_t *pod, const json_t *node)
{
	const json_t *req = path2(json_object_get(pod, "affinity"), "nodeAffinity",
				  "requiredDuringSchedulingIgnoredDuringExecution");
	const json_t *terms = json_object_get(req, "nodeSelectorTerms"), *t;
	size_t i;

	if (req == NULL || json_is_null(req))
		return 1;
	json_array_foreach(terms, i, t)
		if (term_matches(t, node))
			return 1;
	return 0;
}

static int selector_ok(const json_t *pod, const json_t *node)
{
	const json_t *sel = json_object_get(pod, "nodeSelector"), *labels = path2(node, "metadata", "labels"), *v;
	const char *key;

	if (sel != NULL && !json_is_object(sel) && !json_is_null(sel))
		return 0;
	json_object_foreach((json_t *)sel, key, v)
		if (!json_is_string(v) || strcmp(str(json_object_get(labels, key)), json_string_value(v)) != 0 ||
		    !json_is_string(json_object_get(labels, key)))
			return 0;
	return 1;
}

/* ---- taints ---- */

static int tolerates(const json_t *tol, const char *key, const char *value, const char *effect)
{
	const char *tk = str(json_object_get(tol, "key")), *op = str(json_object_get(tol, "operator"));
	const char *te = str(json_object_get(tol, "effect"));

	if (*te != '\0' && strcmp(te, effect) != 0)
		return 0;
	if (strcmp(op, "Exists") == 0)
		return *tk == '\0' || strcmp(tk, key) == 0;
	if (*op != '\0' && strcmp(op, "Equal") != 0)
		return 0;
	return strcmp(tk, key) == 0 && strcmp(str(json_object_get(tol, "value")), value) == 0;
}

static int tolerated(const json_t *pod, const char *key, const char *value, const char *effect)
{
	const json_t *t;
	size_t i;

	json_array_foreach(json_object_get(pod, "tolerations"), i, t)
		if (tolerates(t, key, value, effect))
			return 1;
	return 0;
}

int plan_fit(const json_t *pod, const json_t *node, char *why, size_t whysz)
{
	const json_t *t;
	size_t i;

	if (json_is_true(path2(node, "spec", "unschedulable")) &&
	    !tolerated(pod, "node.kubernetes.io/unschedulable", "", "NoSchedule")) {
		snprintf(why, whysz, "cordoned");
		return 0;
	}
	if (!selector_ok(pod, node)) {
		snprintf(why, whysz, "nodeSelector");
		return 0;
	}
	if (!affinity_ok(pod, node)) {
		snprintf(why, whysz, "required node affinity");
		return 0;
	}
	json_array_foreach(path2(node, "spec", "taints"), i, t)
	{
		const char *key = str(json_object_get(t, "key")), *value = str(json_object_get(t, "value"));
		const char *effect = str(json_object_get(t, "effect"));

		if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
			continue;
		if (!tolerated(pod, key, value, effect)) {
			snprintf(why, whysz, "taint %s%s%s:%s not tolerated", key, *value ? "=" : "", value, effect);
			return 0;
		}
	}
	return 1;
}

/* ---- groups ---- */

/* The part of a pod spec plan_fit() reads, as one canonical string: equal strings, equal answers. */
static char *constraint_key(const json_t *pod)
{
	json_t *k = json_pack("{s:O?, s:O?, s:O?}", "s", json_object_get(pod, "nodeSelector"), "a",
			      json_object_get(pod, "affinity"), "t", json_object_get(pod, "tolerations"));
	char *s = k ? json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(k);
	return s;
}

void plan_groups_free(struct plan_input *in)
{
	for (unsigned g = 0; g < in->n_groups; g++)
		free(in->groups[g].allowed);
	free(in->groups);
	in->groups = NULL;
	in->n_groups = 0;
	for (unsigned i = 0; i < in->n_pods; i++)
		in->pods[i].group = 0;
}

int plan_group_deny(struct plan_input *in, unsigned base, const unsigned char *deny, struct kerf_err *err)
{
	const unsigned char *from = base > 0 ? in->groups[base - 1].allowed : NULL;
	struct plan_group *groups;
	unsigned char *allowed;
	unsigned taken = 0;

	for (unsigned n = 0; n < in->n_nodes; n++)
		taken += deny[n] && (from == NULL || from[n]);
	if (taken == 0)
		return (int)base;
	if ((allowed = malloc(in->n_nodes + 1)) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (unsigned n = 0; n < in->n_nodes; n++)
		allowed[n] = (unsigned char)((from == NULL || from[n]) && !deny[n]);
	if ((groups = realloc(in->groups, (in->n_groups + 1) * sizeof(*groups))) == NULL) {
		free(allowed);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	in->groups = groups;
	in->groups[in->n_groups++].allowed = allowed;
	return (int)in->n_groups;
}

/* Whether a dict item (&keys[i], a pod's canonical constraint) holds the constraint key. */
static int key_eq(const void *item, const void *key)
{
	return strcmp(*(char *const *)item, key) == 0;
}

/*
 * One verdict per distinct constraint, over every node: a new group when some node refuses it, group 0 when
 * none does. The distinct constraints are found with a dict (dict.h) of their canonical strings (its items
 * point into keys[], so an item's index is the first pod with that constraint), so 50,000 pods with a handful
 * of constraints cost 50,000 lookups and a handful of passes over the nodes.
 */
int plan_fit_groups(struct plan_input *in, const json_t *const *pods, const json_t *const *nodes, struct kerf_err *err)
{
	struct kerf_dict seen;
	json_t *empty = json_object();
	char **keys = calloc(in->n_pods + 1, sizeof(*keys)), why[128];
	unsigned *pod_group = calloc(in->n_pods + 1, sizeof(*pod_group)), n_groups = 0;
	int unconstrained = -1; /* a pod without a spec (most pods): the first one's index, whose group all share */
	struct plan_group *groups = calloc(in->n_pods + 1, sizeof(*groups));
	int rc = -1;

	kerf_dict_init(&seen, in->n_pods, "pod constraints");
	if (empty == NULL || keys == NULL || pod_group == NULL || groups == NULL)
		goto oom;
	for (unsigned i = 0; i < in->n_pods; i++) {
		const json_t *spec = pods != NULL && pods[i] != NULL ? pods[i] : empty;
		char **same;
		uint64_t h;

		if (spec == empty && unconstrained >= 0) { /* no key to make and look up: the group is known */
			pod_group[i] = pod_group[unconstrained];
			continue;
		}
		if (spec == empty)
			unconstrained = (int)i;
		if ((keys[i] = constraint_key(spec)) == NULL)
			goto oom;
		h = kerf_hash_str(keys[i], KERF_FNV_OFFSET);
		if ((same = kerf_dict_find(&seen, h, keys[i], key_eq)) != NULL) {
			pod_group[i] = pod_group[same - keys];
			continue;
		}
		if (kerf_dict_add(&seen, h, &keys[i], err) != 0)
			goto out;
		groups[n_groups].allowed = malloc(in->n_nodes + 1);
		if (groups[n_groups].allowed == NULL)
			goto oom;
		{
			unsigned refused = 0;

			for (unsigned n = 0; n < in->n_nodes; n++) {
				const json_t *node = nodes != NULL && nodes[n] != NULL ? nodes[n] : empty;

				groups[n_groups].allowed[n] = (unsigned char)plan_fit(spec, node, why, sizeof(why));
				refused += !groups[n_groups].allowed[n];
			}
			if (refused == 0) {
				free(groups[n_groups].allowed);
				groups[n_groups].allowed = NULL;
				pod_group[i] = 0;
			} else {
				pod_group[i] = ++n_groups;
			}
		}
	}
	plan_groups_free(in);
	for (unsigned i = 0; i < in->n_pods; i++)
		in->pods[i].group = pod_group[i];
	in->groups = groups;
	in->n_groups = n_groups;
	groups = NULL;
	rc = 0;
	goto out;
oom:
	kerf_err_set(err, KERF_ENOMEM, "out of memory");
out:
	for (unsigned g = 0; groups != NULL && g <= n_groups && g < in->n_pods + 1; g++)
		free(groups[g].allowed);
	for (unsigned i = 0; keys != NULL && i < in->n_pods; i++)
		free(keys[i]);
	free(keys);
	kerf_dict_free(&seen);
	free(groups);
	free(pod_group);
	json_decref(empty);
	return rc;
}
