/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podres.c — the kubelet pod-resources client (podresources/v1).
 *
 * The answer is flattened into one entry per (container, device) because every caller asks the same
 * question: "who holds this device ID?".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "kgrpc.h"
#include "kubelet.h"
#include "podresources_v1.pb-c.h"

static int numa_of(const V1__TopologyInfo *t)
{
	return t != NULL && t->n_nodes > 0 && t->nodes[0] != NULL ? (int)t->nodes[0]->id : -1;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static int push(struct kubelet_podres *p, size_t *cap, const char *ns, const char *pod, const char *ctr,
		const V1__ContainerDevices *d, size_t k, struct kerf_err *err)
{
	struct kubelet_podres_device *e;

	if (kerf_grow(&p->items, cap, p->n + 1, sizeof(*p->items), SIZE_MAX / sizeof(*p->items), "entries",
		      NULL) < 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %zu pod-resources entries",
				    *cap ? *cap * 2 : 16);
	e = &p->items[p->n];
	*e = (struct kubelet_podres_device){
		.pod_namespace = dup_or_empty(ns), .pod_name = dup_or_empty(pod), .container = dup_or_empty(ctr),
		.resource = dup_or_empty(d->resource_name), .device_id = dup_or_empty(d->device_ids[k]),
		.numa_node = numa_of(d->topology),
	};
	p->n++;
	if (!e->pod_namespace || !e->pod_name || !e->container || !e->resource || !e->device_id)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for a pod-resources entry");
	return 0;
}

static int add_devices(struct kubelet_podres *p, size_t *cap, const char *ns, const char *pod, const char *ctr,
		       V1__ContainerDevices *const *devs, size_t n, struct kerf_err *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; devs[i] != NULL && k < devs[i]->n_device_ids; k++)
			if (push(p, cap, ns, pod, ctr, devs[i], k, err) < 0)
				return -1;
	return 0;
}

static int flatten_list(const V1__ListPodResourcesResponse *r, struct kubelet_podres *out, struct kerf_err *err)
{
	size_t cap = 0;

	for (size_t i = 0; i < r->n_pod_resources; i++) {
		const V1__PodResources *pr = r->pod_resources[i];

		for (size_t c = 0; c < pr->n_containers; c++) {
			const V1__ContainerResources *cr = pr->containers[c];

			if (add_devices(out, &cap, pr->namespace_, pr->name, cr->name, cr->devices, cr->n_devices, err) < 0)
				return kerf_err_path(err, "pod_resources[%zu].containers[%zu]", i, c);
		}
	}
	return 0;
}

int kubelet_podres_list(const char *socket_path, int timeout_ms, struct kubelet_podres *out, struct kerf_err *err)
{
	V1__ListPodResourcesRequest req = V1__LIST_POD_RESOURCES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	*out = (struct kubelet_podres){0};
	if (kgrpc_unary(socket_path ? socket_path : KUBELET_PODRES_SOCKET, "/v1.PodResourcesLister/List", &req.base,
			&v1__list_pod_resources_response__descriptor, KUBELET_PODRES_MAX_MSG,
			timeout_ms > 0 ? timeout_ms : KUBELET_TIMEOUT_MS, &resp, err) < 0)
		return -1;
	rc = flatten_list((const V1__ListPodResourcesResponse *)resp, out, err);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (rc < 0)
		kubelet_podres_free(out);
	return rc;
}

int kubelet_podres_allocatable(const char *socket_path, int timeout_ms, struct kubelet_podres *out,
			       struct kerf_err *err)
{
	V1__AllocatableResourcesRequest req = V1__ALLOCATABLE_RESOURCES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	const V1__AllocatableResourcesResponse *r;
	size_t cap = 0;
	int rc;

	*out = (struct kubelet_podres){0};
	if (kgrpc_unary(socket_path ? socket_path : KUBELET_PODRES_SOCKET,
			"/v1.PodResourcesLister/GetAllocatableResources", &req.base,
			&v1__allocatable_resources_response__descriptor, KUBELET_PODRES_MAX_MSG,
			timeout_ms > 0 ? timeout_ms : KUBELET_TIMEOUT_MS, &resp, err) < 0)
		return -1;
	r = (const V1__AllocatableResourcesResponse *)resp;
	rc = add_devices(out, &cap, "", "", "", r->devices, r->n_devices, err);
	protobuf_c_message_free_unpacked(resp, NULL);
	if (rc < 0)
		kubelet_podres_free(out);
	return rc;
}

const struct kubelet_podres_device *kubelet_podres_find(const struct kubelet_podres *p, const char *device_id)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].device_id, device_id) == 0)
			return &p->items[i];
	return NULL;
}

size_t kubelet_podres_drop(struct kubelet_podres *p, bool (*finished)(void *arg, const char *ns, const char *name),
			   void *arg)
{
	size_t kept = 0, dropped;

	for (size_t i = 0; i < p->n; i++) {
		struct kubelet_podres_device *d = &p->items[i];

		if (finished == NULL || d->pod_namespace == NULL || d->pod_name == NULL ||
		    !finished(arg, d->pod_namespace, d->pod_name)) {
			p->items[kept++] = *d;
			continue;
		}
		free(d->pod_namespace);
		free(d->pod_name);
		free(d->container);
		free(d->resource);
		free(d->device_id);
	}
	dropped = p->n - kept;
	p->n = kept;
	return dropped;
}

void kubelet_podres_free(struct kubelet_podres *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].pod_namespace);
		free(p->items[i].pod_name);
		free(p->items[i].container);
		free(p->items[i].resource);
		free(p->items[i].device_id);
	}
	free(p->items);
	*p = (struct kubelet_podres){0};
}
