/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin.c — kerf's MIG device plugin: the kubelet's DevicePlugin service, one endpoint per resource.
 *
 * State lives here, behind one mutex; the gRPC server thread (grpc_server.c) calls the handlers below
 * and pulls ListAndWatch messages; the registrar thread (registrar.c) registers endpoints. Every change
 * to what a resource advertises bumps its generation; the server reports, per resource, the lowest
 * generation all open ListAndWatch streams have written, which is what withdraw waits for.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "deviceplugin_v1beta1.pb-c.h"
#include "kgrpc.h"
#include "plugin_int.h"

/* ---- lookups (plugin lock held) ---- */

static struct plugin_dev *dev_find(struct plugin_resource *r, const char *uuid)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->devs[i].d.uuid, uuid) == 0)
			return &r->devs[i];
	return NULL;
}

static struct plugin_dev *dev_find_any(struct kubelet_plugin *p, const char *uuid, struct plugin_resource **res)
{
	for (size_t i = 0; i < p->n_res; i++) {
		struct plugin_dev *d = dev_find(p->res[i], uuid);

		if (d != NULL) {
			*res = p->res[i];
			return d;
		}
	}
	return NULL;
}

/* A device Allocate may hand out: in the inventory, not withdrawn, healthy. */
static bool offered(const struct plugin_dev *d)
{
	return d != NULL && !d->withdrawn && d->d.healthy;
}

/* ---- DevicePlugin handlers (server thread) ---- */

/* Requests are matched against the inventory by linear scans (a node has tens of MIG devices), so the
 * number of IDs and containers in one request is capped: a bigger request cannot be a real one. */
static bool too_many(size_t n, struct kgrpc_reply *reply)
{
	if (n <= PLUGIN_MAX_REQUEST_ITEMS)
		return false;
	kgrpc_reply_status(reply, KGRPC_INVALID_ARGUMENT, "%zu entries in one request (at most %d)", n,
			   PLUGIN_MAX_REQUEST_ITEMS);
	return true;
}

static void h_options(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;

	(void)ctx;
	(void)req;
	o.get_preferred_allocation_available = true;
	kgrpc_reply_pack(reply, &o.base);
}

static void h_list_and_watch(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	(void)ctx;
	(void)req;
	reply->code = KGRPC_OK; /* the stream opens; messages come from list_next */
}

static void h_prestart(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	V1beta1__PreStartContainerResponse r = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;

	(void)ctx;
	(void)req;
	kgrpc_reply_pack(reply, &r.base);
}

/* Builds one container's answer: NVIDIA_VISIBLE_DEVICES=<uuids> (what the NVIDIA container toolkit reads
 * for MIG devices), or CDI names "<kind>=<uuid>" when configured. */
static int allocate_one(struct kubelet_plugin *p, struct plugin_resource *r,
			const V1beta1__ContainerAllocateRequest *cr, V1beta1__ContainerAllocateResponse *out,
			struct kgrpc_reply *reply)
{
	size_t len = 1;
	char *list;

	for (size_t k = 0; k < cr->n_devices_ids; k++) {
		if (!offered(dev_find(r, cr->devices_ids[k]))) {
			kgrpc_reply_status(reply, KGRPC_FAILED_PRECONDITION,
					   "%s: device %.64s is not offered (withdrawn, unhealthy or unknown)", r->name,
					   cr->devices_ids[k]);
			return -1;
		}
		len += strlen(cr->devices_ids[k]) + 1;
	}
	if (p->cfg.cdi) {
		out->cdi_devices = calloc(cr->n_devices_ids + 1, sizeof(*out->cdi_devices));
		if (out->cdi_devices == NULL)
			goto oom;
		for (size_t k = 0; k < cr->n_devices_ids; k++) {
			V1beta1__CDIDevice *c = calloc(1, sizeof(*c));
			size_t n = strlen(p->cfg.cdi_kind) + strlen(cr->devices_ids[k]) + 2;

			if (c == NULL)
				goto oom;
			v1beta1__cdidevice__init(c);
			out->cdi_devices[out->n_cdi_devices++] = c;
			c->name = malloc(n);
			if (c->name == NULL)
				goto oom;
			snprintf(c->name, n, "%s=%s", p->cfg.cdi_kind, cr->devices_ids[k]);
		}
		return 0;
	}
	out->envs = calloc(1, sizeof(*out->envs));
	if (out->envs == NULL)
		goto oom;
	out->envs[0] = calloc(1, sizeof(**out->envs));
	if (out->envs[0] == NULL)
		goto oom;
	v1beta1__container_allocate_response__envs_entry__init(out->envs[0]);
	out->n_envs = 1;
	out->envs[0]->key = (char *)"NVIDIA_VISIBLE_DEVICES";
	list = calloc(1, len);
	if (list == NULL)
		goto oom;
	for (size_t k = 0; k < cr->n_devices_ids; k++) {
		if (k > 0)
			strcat(list, ",");
		strcat(list, cr->devices_ids[k]);
	}
	out->envs[0]->value = list;
	return 0;
oom:
	/* what was built so far is freed by free_container_response; nothing partial is sent */
	kgrpc_reply_status(reply, KGRPC_RESOURCE_EXHAUSTED, "%s: out of memory building the answer", r->name);
	return -1;
}

static void free_container_response(V1beta1__ContainerAllocateResponse *c)
{
	for (size_t i = 0; i < c->n_envs; i++) {
		if (c->envs[i] != NULL)
			free(c->envs[i]->value);
		free(c->envs[i]);
	}
	free(c->envs);
	for (size_t i = 0; i < c->n_cdi_devices; i++) {
		free(c->cdi_devices[i]->name); /* entries are counted only once allocated */
		free(c->cdi_devices[i]);
	}
	free(c->cdi_devices);
}

/* Records (lock held) that an Allocate answer handed out every device of ar, for the grace period of
 * kubelet_plugin_recently_allocated(). */
static void note_allocated(struct plugin_resource *r, const V1beta1__AllocateRequest *ar)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < ar->n_container_requests; i++)
		for (size_t k = 0; k < ar->container_requests[i]->n_devices_ids; k++) {
			struct plugin_dev *d = dev_find(r, ar->container_requests[i]->devices_ids[k]);

			if (d != NULL) {
				d->allocated = true;
				d->allocated_at = now;
			}
		}
}

static void h_allocate(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	struct plugin_resource *r = ctx;
	struct kubelet_plugin *p = r->plugin;
	const V1beta1__AllocateRequest *ar = (const V1beta1__AllocateRequest *)req;
	V1beta1__AllocateResponse resp = V1BETA1__ALLOCATE_RESPONSE__INIT;
	V1beta1__ContainerAllocateResponse *crs = calloc(ar->n_container_requests + 1, sizeof(*crs));
	V1beta1__ContainerAllocateResponse **ptrs = calloc(ar->n_container_requests + 1, sizeof(*ptrs));
	size_t done = 0;
	bool failed = false;

	if (crs == NULL || ptrs == NULL) {
		kgrpc_reply_status(reply, KGRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if (too_many(ar->n_container_requests, reply))
		goto out;
	for (size_t i = 0; i < ar->n_container_requests; i++)
		if (too_many(ar->container_requests[i]->n_devices_ids, reply))
			goto out;
	/* The check and the answer are made under the lock that withdraw takes: once withdraw has marked a
	 * device, no Allocate decided after that point can hand it out. */
	pthread_mutex_lock(&p->lock);
	for (; done < ar->n_container_requests && !failed; done++) {
		v1beta1__container_allocate_response__init(&crs[done]);
		ptrs[done] = &crs[done];
		failed = allocate_one(p, r, ar->container_requests[done], &crs[done], reply) < 0;
	}
	if (!failed) {
		resp.n_container_responses = done;
		resp.container_responses = ptrs;
		kgrpc_reply_pack(reply, &resp.base);
		p->allocations++;
		note_allocated(r, ar);
	}
	pthread_mutex_unlock(&p->lock);
out:
	for (size_t i = 0; i < done; i++)
		free_container_response(&crs[i]);
	free(crs);
	free(ptrs);
}

static bool already_picked(char *const *picked, size_t n, const char *id)
{
	for (size_t t = 0; t < n; t++)
		if (strcmp(picked[t], id) == 0)
			return true;
	return false;
}

/* How many of the request's available devices, not yet picked, sit on `gpu`. */
static size_t free_on_gpu(struct plugin_resource *r, const V1beta1__ContainerPreferredAllocationRequest *cr,
			  char *const *picked, size_t n, unsigned gpu)
{
	size_t cnt = 0;

	for (size_t j = 0; j < cr->n_available_deviceids; j++) {
		const struct plugin_dev *e = dev_find(r, cr->available_deviceids[j]);

		cnt += e != NULL && e->d.gpu_index == gpu && !already_picked(picked, n, cr->available_deviceids[j]);
	}
	return cnt;
}

/* The GPU to take `need` more devices from: among GPUs that can hold them all, the one with the fewest
 * free (bigger groups stay whole for bigger requests); if none can, the one with the most. -1 if none. */
static long best_gpu(struct plugin_resource *r, const V1beta1__ContainerPreferredAllocationRequest *cr,
		     char *const *picked, size_t n, size_t need)
{
	size_t best_count = 0;
	long best = -1;

	for (size_t i = 0; i < cr->n_available_deviceids; i++) {
		const struct plugin_dev *d = dev_find(r, cr->available_deviceids[i]);
		size_t cnt;
		bool fits, best_fits = best_count >= need;

		if (d == NULL)
			continue;
		cnt = free_on_gpu(r, cr, picked, n, d->d.gpu_index);
		fits = cnt >= need;
		if (best < 0 || (fits && !best_fits) || (fits && best_fits && cnt < best_count) ||
		    (!fits && !best_fits && cnt > best_count)) {
			best = (long)d->d.gpu_index;
			best_count = cnt;
		}
	}
	return best;
}

/* Appends available devices on `gpu` (any GPU when gpu < 0) until `want` are picked. */
static void take(struct plugin_resource *r, const V1beta1__ContainerPreferredAllocationRequest *cr, char **picked,
		 size_t *n, size_t want, long gpu)
{
	for (size_t i = 0; i < cr->n_available_deviceids && *n < want; i++) {
		const char *id = cr->available_deviceids[i];
		const struct plugin_dev *d = dev_find(r, id);

		if (already_picked(picked, *n, id))
			continue;
		if (gpu < 0 || (d != NULL && (long)d->d.gpu_index == gpu))
			picked[(*n)++] = cr->available_deviceids[i];
	}
}

/* Picks `want` devices for one container, on one GPU when one GPU can hold them: the GPU of the
 * must-include devices if there are any, else best_gpu(); what one GPU cannot hold is taken from the
 * GPUs best_gpu() names next, and finally from anywhere. */
static size_t prefer(struct plugin_resource *r, const V1beta1__ContainerPreferredAllocationRequest *cr,
		     char **picked, size_t want)
{
	size_t n = 0;
	long gpu = -1;

	for (size_t i = 0; i < cr->n_must_include_deviceids && n < want; i++) {
		const struct plugin_dev *d = dev_find(r, cr->must_include_deviceids[i]);

		picked[n++] = cr->must_include_deviceids[i];
		if (d != NULL && gpu < 0)
			gpu = (long)d->d.gpu_index;
	}
	if (gpu >= 0)
		take(r, cr, picked, &n, want, gpu);
	while (n < want) {
		size_t before = n;

		gpu = best_gpu(r, cr, picked, n, want - n);
		if (gpu < 0)
			break;
		take(r, cr, picked, &n, want, gpu);
		if (n == before)
			break;
	}
	take(r, cr, picked, &n, want, -1);
	return n;
}

static void h_preferred(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	struct plugin_resource *r = ctx;
	const V1beta1__PreferredAllocationRequest *pr = (const V1beta1__PreferredAllocationRequest *)req;
	V1beta1__PreferredAllocationResponse resp = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
	size_t nc = pr->n_container_requests;
	V1beta1__ContainerPreferredAllocationResponse *crs = calloc(nc + 1, sizeof(*crs));
	V1beta1__ContainerPreferredAllocationResponse **ptrs = calloc(nc + 1, sizeof(*ptrs));
	size_t i = 0;

	if (crs == NULL || ptrs == NULL) {
		kgrpc_reply_status(reply, KGRPC_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	if (too_many(nc, reply))
		goto out;
	for (size_t k = 0; k < nc; k++)
		if (too_many(pr->container_requests[k]->n_available_deviceids +
				     pr->container_requests[k]->n_must_include_deviceids,
			     reply))
			goto out;
	pthread_mutex_lock(&r->plugin->lock);
	for (; i < nc; i++) {
		const V1beta1__ContainerPreferredAllocationRequest *cr = pr->container_requests[i];
		size_t want = cr->allocation_size > 0 ? (size_t)cr->allocation_size : 0;

		if (want > cr->n_available_deviceids + cr->n_must_include_deviceids)
			want = cr->n_available_deviceids + cr->n_must_include_deviceids;
		v1beta1__container_preferred_allocation_response__init(&crs[i]);
		ptrs[i] = &crs[i];
		crs[i].deviceids = calloc(want + 1, sizeof(char *));
		if (crs[i].deviceids != NULL)
			crs[i].n_deviceids = prefer(r, cr, crs[i].deviceids, want);
	}
	pthread_mutex_unlock(&r->plugin->lock);
	resp.n_container_responses = nc;
	resp.container_responses = ptrs;
	kgrpc_reply_pack(reply, &resp.base);
out:
	for (size_t k = 0; k < i; k++)
		free(crs[k].deviceids); /* the strings belong to the request */
	free(crs);
	free(ptrs);
}

static const struct kgrpc_method methods[] = {
	{"/v1beta1.DevicePlugin/GetDevicePluginOptions", &v1beta1__empty__descriptor, h_options, false},
	{"/v1beta1.DevicePlugin/ListAndWatch", &v1beta1__empty__descriptor, h_list_and_watch, true},
	{"/v1beta1.DevicePlugin/GetPreferredAllocation", &v1beta1__preferred_allocation_request__descriptor, h_preferred,
	 false},
	{"/v1beta1.DevicePlugin/Allocate", &v1beta1__allocate_request__descriptor, h_allocate, false},
	{"/v1beta1.DevicePlugin/PreStartContainer", &v1beta1__pre_start_container_request__descriptor, h_prestart, false},
};

/* ---- ListAndWatch: the full list, pulled by the server thread ---- */

static int list_frame(struct plugin_resource *r, uint8_t **frame, size_t *len)
{
	V1beta1__ListAndWatchResponse resp = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
	V1beta1__Device *devs = calloc(r->n + 1, sizeof(*devs));
	V1beta1__Device **ptrs = calloc(r->n + 1, sizeof(*ptrs));
	V1beta1__TopologyInfo *topo = calloc(r->n + 1, sizeof(*topo));
	V1beta1__NUMANode *numa = calloc(r->n + 1, sizeof(*numa));
	V1beta1__NUMANode **numap = calloc(r->n + 1, sizeof(*numap));
	int rc = -1;

	if (devs == NULL || ptrs == NULL || topo == NULL || numa == NULL || numap == NULL)
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		const struct plugin_dev *d = &r->devs[i];
		V1beta1__Device *o = &devs[resp.n_devices];

		if (d->withdrawn)
			continue;
		v1beta1__device__init(o);
		o->id = (char *)d->d.uuid;
		o->health = (char *)(d->d.healthy ? "Healthy" : "Unhealthy");
		if (d->d.numa_node >= 0) {
			v1beta1__topology_info__init(&topo[i]);
			v1beta1__numanode__init(&numa[i]);
			numa[i].id = d->d.numa_node;
			numap[i] = &numa[i];
			topo[i].n_nodes = 1;
			topo[i].nodes = &numap[i];
			o->topology = &topo[i];
		}
		ptrs[resp.n_devices++] = o;
	}
	resp.devices = ptrs;
	rc = kgrpc_frame_encode(&resp.base, frame, len, NULL);
out:
	free(devs);
	free(ptrs);
	free(topo);
	free(numa);
	free(numap);
	return rc;
}

static int list_next(void *ctx, uint64_t *gen, uint8_t **frame, size_t *len)
{
	struct plugin_resource *r = ctx;
	int rc = 0;

	pthread_mutex_lock(&r->plugin->lock);
	if (r->gen > *gen && list_frame(r, frame, len) == 0) {
		*gen = r->gen;
		rc = 1;
	}
	pthread_mutex_unlock(&r->plugin->lock);
	return rc;
}

static void list_progress(void *ctx, uint64_t min_sent, size_t n_streams)
{
	struct plugin_resource *r = ctx;

	pthread_mutex_lock(&r->plugin->lock);
	r->watchers = n_streams;
	r->acked = n_streams == 0 ? r->gen : min_sent;
	pthread_cond_broadcast(&r->plugin->cond);
	pthread_mutex_unlock(&r->plugin->lock);
}

static const struct kgrpc_stream_ops list_ops = {list_next, list_progress};

/* ---- resources ---- */

/* Checks a resource name ("<domain>/<name>") and derives its endpoint file name from it. */
static int endpoint_for(const struct kubelet_plugin *p, const char *resource, char *out, size_t cap,
			struct kerf_err *err)
{
	const char *slash = strchr(resource, '/');

	if (slash == NULL || slash == resource || slash[1] == '\0')
		return kerf_err_set(err, KERF_EINVAL, "resource: \"%s\" is not of the form <domain>/<name>", resource);
	for (const char *c = resource; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '-' || *c == '_' || c == slash))
			return kerf_err_set(err, KERF_EINVAL, "resource: \"%s\" has a character outside [A-Za-z0-9._-/]",
					    resource);
	if ((size_t)snprintf(out, cap, "%s%s.sock", p->cfg.socket_prefix, slash + 1) >= cap)
		return kerf_err_set(err, KERF_EINVAL, "resource: \"%s\" makes too long a socket name", resource);
	return 0;
}

static struct plugin_resource *resource_find(struct kubelet_plugin *p, const char *name)
{
	for (size_t i = 0; i < p->n_res; i++)
		if (strcmp(p->res[i]->name, name) == 0)
			return p->res[i];
	return NULL;
}

static struct plugin_resource *resource_add(struct kubelet_plugin *p, const char *name, struct kerf_err *err)
{
	struct plugin_resource *r;

	if (p->n_res == PLUGIN_MAX_RESOURCES) {
		kerf_err_set(err, KERF_ENOMEM, "resource %s: kerf serves at most %d resources", name, PLUGIN_MAX_RESOURCES);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory for resource %s", name);
		return NULL;
	}
	r->plugin = p;
	r->gen = 1;
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (endpoint_for(p, name, r->endpoint, sizeof(r->endpoint), err) < 0 ||
	    (size_t)snprintf(r->path, sizeof(r->path), "%s/%s", p->cfg.plugin_dir, r->endpoint) >= sizeof(r->path)) {
		if (err != NULL && err->code == KERF_OK)
			kerf_err_set(err, KERF_EINVAL, "%s: endpoint path too long", name);
		free(r);
		return NULL;
	}
	r->lid = kgrpc_server_listen(p->srv, r->path, methods, sizeof(methods) / sizeof(methods[0]), &list_ops, r, err);
	if (r->lid < 0) {
		free(r);
		return NULL;
	}
	p->res[p->n_res++] = r;
	return r;
}

static bool same_advertised(const struct plugin_resource *r, const struct plugin_dev *nd, size_t nn)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (r->devs[i].withdrawn)
			continue;
		while (k < nn && nd[k].withdrawn)
			k++;
		if (k == nn || strcmp(r->devs[i].d.uuid, nd[k].d.uuid) != 0 || r->devs[i].d.healthy != nd[k].d.healthy ||
		    r->devs[i].d.numa_node != nd[k].d.numa_node || r->devs[i].d.gpu_index != nd[k].d.gpu_index)
			return false;
		k++;
	}
	while (k < nn && nd[k].withdrawn)
		k++;
	return k == nn;
}

/* Gives resource r exactly the devices of devs that name it, keeping the withdrawn marks. */
static int resource_update(struct plugin_resource *r, const struct kubelet_device *devs, size_t n, struct kerf_err *err)
{
	struct plugin_dev *nd = calloc(n + 1, sizeof(*nd));
	size_t nn = 0;

	if (nd == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %zu devices", n);
	for (size_t i = 0; i < n; i++) {
		const struct plugin_dev *old;

		if (strcmp(devs[i].resource, r->name) != 0)
			continue;
		old = dev_find(r, devs[i].uuid);
		nd[nn].d = devs[i];
		nd[nn].withdrawn = old != NULL && old->withdrawn;
		if (old != NULL) {
			nd[nn].allocated = old->allocated;
			nd[nn].allocated_at = old->allocated_at;
		}
		nn++;
	}
	if (!same_advertised(r, nd, nn))
		r->gen++;
	free(r->devs);
	r->devs = nd;
	r->n = nn;
	return 0;
}

static int validate(const struct kubelet_device *devs, size_t n, struct kerf_err *err)
{
	for (size_t i = 0; i < n; i++) {
		size_t ul = strnlen(devs[i].uuid, sizeof(devs[i].uuid));

		if (ul == 0 || ul >= sizeof(devs[i].uuid))
			return kerf_err_set(err, KERF_EINVAL, "devices[%zu].uuid: must be 1 to %zu characters", i,
					    sizeof(devs[i].uuid) - 1);
		if (strnlen(devs[i].resource, sizeof(devs[i].resource)) >= sizeof(devs[i].resource))
			return kerf_err_set(err, KERF_EINVAL, "devices[%zu].resource: not terminated", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(devs[i].uuid, devs[j].uuid) == 0)
				return kerf_err_set(err, KERF_EINVAL, "devices[%zu].uuid: %s is also devices[%zu]", i,
						    devs[i].uuid, j);
	}
	return 0;
}

int kubelet_plugin_set_devices(struct kubelet_plugin *p, const struct kubelet_device *devs, size_t n,
			       struct kerf_err *err)
{
	bool added = false;
	int rc = -1;

	if (validate(devs, n, err) < 0)
		return -1;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		char ep[PLUGIN_ENDPOINT_MAX];

		if (resource_find(p, devs[i].resource) != NULL)
			continue;
		if (endpoint_for(p, devs[i].resource, ep, sizeof(ep), err) < 0) {
			kerf_err_path(err, "devices[%zu]", i);
			goto out;
		}
		if (resource_add(p, devs[i].resource, err) == NULL)
			goto out;
		added = true;
	}
	for (size_t i = 0; i < p->n_res; i++)
		if (resource_update(p->res[i], devs, n, err) < 0)
			goto out;
	rc = 0;
out:
	pthread_mutex_unlock(&p->lock);
	if (added)
		plugin_registrar_wake(p);
	kgrpc_server_kick(p->srv);
	return rc;
}

/* Waits (lock held) until r's open streams have all written generation g, or the deadline passes. */
static int wait_acked(struct kubelet_plugin *p, struct plugin_resource *r, uint64_t g, struct kerf_err *err)
{
	struct timespec dl = kerf_deadline(CLOCK_MONOTONIC, p->cfg.timeout_ms);

	while (r->acked < g)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &dl) == ETIMEDOUT && r->acked < g)
			return kerf_err_set(err, KERF_ETIMEOUT,
					    "%s: the kubelet has not taken the new device list within %d ms", r->name,
					    p->cfg.timeout_ms);
	return 0;
}

static int set_withdrawn(struct kubelet_plugin *p, const char *uuid, bool withdrawn, struct kerf_err *err)
{
	struct plugin_resource *r = NULL;
	struct plugin_dev *d;
	uint64_t g;
	int rc;

	pthread_mutex_lock(&p->lock);
	d = dev_find_any(p, uuid, &r);
	if (d == NULL) {
		pthread_mutex_unlock(&p->lock);
		return kerf_err_set(err, KERF_ENOTFOUND, "%s: not a device of kerf's plugin", uuid);
	}
	if (d->withdrawn != withdrawn) {
		d->withdrawn = withdrawn;
		r->gen++;
	}
	g = r->gen;
	pthread_mutex_unlock(&p->lock);
	kgrpc_server_kick(p->srv);
	pthread_mutex_lock(&p->lock);
	rc = wait_acked(p, r, g, err);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int kubelet_plugin_withdraw(struct kubelet_plugin *p, const char *mig_uuid, struct kerf_err *err)
{
	return set_withdrawn(p, mig_uuid, true, err);
}

int kubelet_plugin_reinstate(struct kubelet_plugin *p, const char *mig_uuid, struct kerf_err *err)
{
	return set_withdrawn(p, mig_uuid, false, err);
}

bool kubelet_plugin_recently_allocated(struct kubelet_plugin *p, const char *mig_uuid)
{
	struct plugin_resource *r = NULL;
	const struct plugin_dev *d;
	struct timespec now;
	bool recent = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&p->lock);
	d = dev_find_any(p, mig_uuid, &r);
	if (d != NULL && d->allocated) {
		long long ms = (long long)(now.tv_sec - d->allocated_at.tv_sec) * 1000 +
			       (now.tv_nsec - d->allocated_at.tv_nsec) / 1000000;
		recent = ms < p->cfg.allocate_grace_ms;
	}
	pthread_mutex_unlock(&p->lock);
	return recent;
}

int kubelet_plugin_sync(struct kubelet_plugin *p, struct kerf_err *err)
{
	int rc = 0;

	kgrpc_server_kick(p->srv);
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_res && rc == 0; i++)
		rc = wait_acked(p, p->res[i], p->res[i]->gen, err);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void kubelet_plugin_stats(struct kubelet_plugin *p, struct kubelet_plugin_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = (struct kubelet_plugin_stats){.registrations = p->registrations, .resources = p->n_res};
	for (size_t i = 0; i < p->n_res; i++)
		out->watchers += p->res[i]->watchers;
	pthread_mutex_unlock(&p->lock);
}

/* ---- life cycle ---- */

int kubelet_plugin_start(const struct kubelet_plugin_config *cfg, struct kubelet_plugin **out, struct kerf_err *err)
{
	static const struct kubelet_plugin_config none;
	struct kubelet_plugin *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (cfg == NULL)
		cfg = &none;
	if (p == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the device plugin");
	p->reg_wake_fd = p->inotify_fd = -1;
	snprintf(p->plugin_dir, sizeof(p->plugin_dir), "%s", cfg->plugin_dir ? cfg->plugin_dir : KUBELET_PLUGIN_DIR);
	snprintf(p->prefix, sizeof(p->prefix), "%s", cfg->socket_prefix ? cfg->socket_prefix : "kerf-");
	snprintf(p->cdi_kind, sizeof(p->cdi_kind), "%s", cfg->cdi_kind ? cfg->cdi_kind : "nvidia.com/gpu");
	p->cfg = *cfg;
	p->cfg.plugin_dir = p->plugin_dir;
	p->cfg.socket_prefix = p->prefix;
	p->cfg.cdi_kind = p->cdi_kind;
	p->cfg.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : KUBELET_TIMEOUT_MS;
	p->cfg.register_retry_ms = cfg->register_retry_ms > 0 ? cfg->register_retry_ms : 5000;
	p->cfg.allocate_grace_ms = cfg->allocate_grace_ms > 0 ? cfg->allocate_grace_ms : KUBELET_ALLOCATE_GRACE_MS;
	if ((size_t)snprintf(p->kubelet_sock, sizeof(p->kubelet_sock), "%s/kubelet.sock", p->plugin_dir) >=
	    sizeof(p->kubelet_sock)) {
		free(p);
		return kerf_err_set(err, KERF_EINVAL, "plugin_dir: %s is too long", cfg->plugin_dir);
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (kgrpc_server_start(&p->srv, err) < 0 || plugin_registrar_start(p, err) < 0) {
		kubelet_plugin_stop(p);
		return kerf_err_prefix(err, "device plugin");
	}
	*out = p;
	return 0;
}

void kubelet_plugin_stop(struct kubelet_plugin *p)
{
	if (p == NULL)
		return;
	plugin_registrar_stop(p);
	kgrpc_server_stop(p->srv);
	for (size_t i = 0; i < p->n_res; i++) {
		free(p->res[i]->devs);
		free(p->res[i]);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
