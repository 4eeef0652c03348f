/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_pod.h — how many MIG devices a Pod asks for, read from its spec the way Kubernetes reads it.
 *
 * Both of kerf's daemons need the number: the controller plans for pending pods and holds free instances
 * for pods already bound to a node, and the agent holds the same instances against a spec that would
 * destroy them before the kubelet admits the pod. One definition keeps the two from drifting apart (a pod
 * the controller counts as needing two devices must not look like one to the agent).
 *
 * The number is Kubernetes' effective request, per resource: the larger of
 *   - the app containers' sum plus every restartable init container's (a sidecar runs beside the app), and
 *   - for each ordinary init container, its own plus the sidecars declared before it (they run beside it).
 * A container's amount is its limit, else its request (the kubelet requires limits for extended
 * resources; a request alone is taken as the same). Only whole positive numbers below 1,000 count.
 *
 * Pure functions on a jansson tree: no I/O and no errors to report; only kube_pod_requests() allocates.
 */
#ifndef KERF_KUBE_POD_H
#define KERF_KUBE_POD_H

#include <jansson.h>
#include <stdint.h>

#include "kube_quantity.h"

#define KUBE_MIG_PREFIX "nvidia.com/mig-"
#define KUBE_POD_MAX_DEMANDS 8     /* distinct MIG resources counted per pod; more are dropped */
#define KUBE_POD_RESOURCE_MAX 64   /* "nvidia.com/mig-1g.24gb.me.all" and its NUL */

struct kube_pod_demand {
	char resource[KUBE_POD_RESOURCE_MAX]; /* "nvidia.com/mig-2g.20gb" */
	unsigned count;                       /* >= 1 */
};

struct kube_pod_demands {
	unsigned n;
	struct kube_pod_demand d[KUBE_POD_MAX_DEMANDS];
};

/* The fields of a Pod the count reads, for kube_informer_spec.fields (add them to a projection's own). */
#define KUBE_POD_DEMAND_FIELDS \
	"spec.containers[].resources", "spec.initContainers[].resources", "spec.initContainers[].restartPolicy"

/* Fills out with the pod's MIG demands; spec is the Pod's .spec (NULL: none). */
void kube_pod_mig_demands(const json_t *spec, struct kube_pod_demands *out);

/*
 * What else the pod requests, as kube-scheduler's NodeResourcesFit counts it against a node's allocatable: a
 * new object {resource: amount} (CPU in millicores, everything else in whole units, rounded up) for every
 * resource but nvidia.com/mig-* (kerf plans those), with the same effective-request rule as above, a
 * container's request (else its limit, which Kubernetes then takes as the request), plus spec.overhead.
 * Amounts that are not quantities are left out. NULL on out-of-memory.
 */
json_t *kube_pod_requests(const json_t *spec);

/* The Pod fields kube_pod_requests() reads besides KUBE_POD_DEMAND_FIELDS. */
#define KUBE_POD_REQUEST_FIELDS "spec.overhead"

/* The count of resource in d (0 if it asks for none). */
unsigned kube_pod_demand_of(const struct kube_pod_demands *d, const char *resource);

#endif
