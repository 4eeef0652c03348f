/*
 * pod.c — see kube_pod.h. Moved here from the controller when the agent needed the same count; the two must
 * agree on what a bound pod will take from its node.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_pod.h"

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
