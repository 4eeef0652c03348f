/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pod.c — see kube_pod.h. Moved here from the controller when the agent needed the same count; the two must
 * agree on what a bound pod will take from its node.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_pod.h"
#include "kube_quantity.h"

unsigned kube_pod_demand_of(const struct kube_pod_demands *d, const char *resource)
{
	for (unsigned i = 0; i < d->n; i++)
		if (strcmp(d->d[i].resource, resource) == 0)
			return d->d[i].count;
	return 0;
}

/* Sets resource in d to count when that is more than d has (add = false), or adds count to it (add = true). */
static void put(struct kube_pod_demands *d, const char *resource, unsigned count, bool add)
{
	for (unsigned i = 0; i < d->n; i++)
		if (strcmp(d->d[i].resource, resource) == 0) {
			if (add)
				d->d[i].count += count;
			else if (count > d->d[i].count)
				d->d[i].count = count;
			return;
		}
	if (d->n == KUBE_POD_MAX_DEMANDS || strlen(resource) >= sizeof(d->d[0].resource))
		return;
	snprintf(d->d[d->n].resource, sizeof(d->d[0].resource), "%s", resource);
	d->d[d->n++].count = count;
}

/* A MIG quantity is a whole number of devices ("1"); anything else is not counted. */
static unsigned quantity(const json_t *v)
{
	const char *s = json_string_value(v);
	char *end;
	long n;

	if (json_is_integer(v))
		return json_integer_value(v) > 0 && json_integer_value(v) < 1000 ? (unsigned)json_integer_value(v) : 0;
	if (s == NULL)
		return 0;
	n = strtol(s, &end, 10);
	return *end == '\0' && n > 0 && n < 1000 ? (unsigned)n : 0;
}

/* Adds the MIG devices container ctr asks for into d. */
static void container(const json_t *ctr, struct kube_pod_demands *d)
{
	const json_t *res = json_object_get(ctr, "resources"), *limits = json_object_get(res, "limits"), *v;
	const char *key;

	json_object_foreach((json_t *)(limits ? limits : json_object_get(res, "requests")), key, v)
		if (strncmp(key, KUBE_MIG_PREFIX, strlen(KUBE_MIG_PREFIX)) == 0 && quantity(v) > 0)
			put(d, key, quantity(v), true);
}

static bool sidecar(const json_t *ctr)
{
	const char *policy = json_string_value(json_object_get(ctr, "restartPolicy"));

	return policy != NULL && strcmp(policy, "Always") == 0;
}

void kube_pod_mig_demands(const json_t *spec, struct kube_pod_demands *out)
{
	struct kube_pod_demands sidecars = {0}, one;
	const json_t *ctr;
	size_t i;

	memset(out, 0, sizeof(*out));
	json_array_foreach(json_object_get(spec, "initContainers"), i, ctr)
	{
		memset(&one, 0, sizeof(one));
		container(ctr, &one);
		if (sidecar(ctr)) {
			for (unsigned k = 0; k < one.n; k++)
				put(&sidecars, one.d[k].resource, one.d[k].count, true);
			continue;
		}
		for (unsigned k = 0; k < one.n; k++) /* runs alone, beside the sidecars started before it */
			put(out, one.d[k].resource, one.d[k].count + kube_pod_demand_of(&sidecars, one.d[k].resource), false);
	}
	memset(&one, 0, sizeof(one));
	json_array_foreach(json_object_get(spec, "containers"), i, ctr)
		container(ctr, &one);
	for (unsigned k = 0; k < sidecars.n; k++)
		put(&one, sidecars.d[k].resource, sidecars.d[k].count, true);
	for (unsigned k = 0; k < one.n; k++)
		put(out, one.d[k].resource, one.d[k].count, false);
}

/* ---- everything else the pod requests ---- */

/* Sets (add = false: raises to) or adds amount of resource in obj. */
static void put_amount(json_t *obj, const char *resource, int64_t amount, bool add)
{
	json_int_t now = json_integer_value(json_object_get(obj, resource));

	if (add || amount > now)
		json_object_set_new(obj, resource, json_integer(add ? now + amount : amount));
}

/* ctr's requests (else limits) into a new object; MIG resources left out. */
static json_t *container_requests(const json_t *ctr)
{
	const json_t *res = json_object_get(ctr, "resources"), *v;
	json_t *out = json_object();
	const char *key;

	if (out == NULL)
		return NULL;
	json_object_foreach((json_t *)json_object_get(res, "limits"), key, v)
		if (strncmp(key, KUBE_MIG_PREFIX, strlen(KUBE_MIG_PREFIX)) != 0 && kube_resource_amount(key, v) >= 0)
			put_amount(out, key, kube_resource_amount(key, v), false);
	json_object_foreach((json_t *)json_object_get(res, "requests"), key, v) /* a request wins over its limit */
		if (strncmp(key, KUBE_MIG_PREFIX, strlen(KUBE_MIG_PREFIX)) != 0 && kube_resource_amount(key, v) >= 0)
			json_object_set_new(out, key, json_integer(kube_resource_amount(key, v)));
	return out;
}

json_t *kube_pod_requests(const json_t *spec)
{
	json_t *out = json_object(), *sidecars = json_object(), *app = json_object(), *one, *v;
	const json_t *ctr;
	const char *key;
	size_t i;

	if (out == NULL || sidecars == NULL || app == NULL)
		goto oom;
	json_array_foreach(json_object_get(spec, "initContainers"), i, ctr)
	{
		if ((one = container_requests(ctr)) == NULL)
			goto oom;
		json_object_foreach(one, key, v)
		{
			if (sidecar(ctr))
				put_amount(sidecars, key, json_integer_value(v), true);
			else /* runs alone, beside the sidecars started before it */
				put_amount(out, key, json_integer_value(v) + json_integer_value(json_object_get(sidecars, key)), false);
		}
		json_decref(one);
	}
	json_array_foreach(json_object_get(spec, "containers"), i, ctr)
	{
		if ((one = container_requests(ctr)) == NULL)
			goto oom;
		json_object_foreach(one, key, v)
			put_amount(app, key, json_integer_value(v), true);
		json_decref(one);
	}
	json_object_foreach(sidecars, key, v)
		put_amount(app, key, json_integer_value(v), true);
	json_object_foreach(app, key, v)
		put_amount(out, key, json_integer_value(v), false);
	json_object_foreach((json_t *)json_object_get(spec, "overhead"), key, v) /* RuntimeClass overhead */
		if (kube_resource_amount(key, v) >= 0)
			put_amount(out, key, kube_resource_amount(key, v), true);
	json_decref(sidecars);
	json_decref(app);
	return out;
oom:
	json_decref(out);
	json_decref(sidecars);
	json_decref(app);
	return NULL;
}
