/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent.c — see agent.h. The order of operations and why each step is safe: docs/agent.md.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cdi.h"
#include "hash.h"
#include "kubelet.h"

struct agent_node {
	struct nvml *nv;
	struct kubelet_plugin *plugin;
	struct kubelet_hooks kh; /* the kubelet subsystem's hook argument */
	char checkpoint[PATH_MAX]; /* <plugin dir>/kubelet_internal_checkpoint, kh.checkpoint */
	struct agent_options opt;
	const char *journal_dir;
	struct cdi_spec *cdi; /* with opt.cdi and kerf's plugin: the spec every published device must be in */
	bool published; /* the plugin serves our inventory: from now on a destroy needs a withdraw first */
	/* NVIDIA-plugin mode: the device set NVIDIA's plugin was last told about (an order-free signature),
	 * and whether start-up recovery changed a GPU after that plugin may have enumerated it */
	uint64_t nvidia_sig;
	bool recovery_changed;
	unsigned n_gpus;
	struct nvml_gpu *gpu[AGENT_MAX_GPUS];
	/* devices withdrawn by the current run; given back afterwards if they still exist */
	unsigned n_withdrawn;
	char withdrawn[MIG_MAX_INSTANCES * NVML_MAX_CI][KUBELET_ID_MAX];
	/* Why this agent cannot see the host's processes (not in the host's PID namespace), or "": then NVML's
	 * process lists miss other pods' processes, and no instance is known to be free (sees_host_processes). */
	char blind[160];
};

static void agent_vlog(struct agent_node *a, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		       const char *fields, va_list ap)
{
	kerf_log_vemit(a->opt.log, a->opt.log_arg, level, err, msg, fields, ap);
}

static void agent_log(struct agent_node *a, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		      const char *fields, ...) __attribute__((format(printf, 5, 6)));

static void agent_log(struct agent_node *a, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		      const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	agent_vlog(a, level, err, msg, fields, ap);
	va_end(ap);
}

void agent_node_log(struct agent_node *a, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		    const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	agent_vlog(a, level, err, msg, fields, ap);
	va_end(ap);
}

/* The actuator's events go out as they are: they carry gpu= already. */
static void actuate_log(void *arg, const struct kerf_log_event *ev)
{
	struct agent_node *a = arg;

	if (a->opt.log != NULL)
		a->opt.log(a->opt.log_arg, ev);
}

static struct nvml_gpu *find_gpu(const struct agent_node *a, unsigned index)
{
	for (unsigned i = 0; i < a->n_gpus; i++)
		if (a->gpu[i]->index == index)
			return a->gpu[i];
	return NULL;
}

/* ---- hooks: the kubelet subsystem's adapters, plus bookkeeping of what was withdrawn ---- */

static void remember_withdrawn(struct agent_node *a, const char *uuid)
{
	for (unsigned i = 0; i < a->n_withdrawn; i++)
		if (strcmp(a->withdrawn[i], uuid) == 0)
			return;
	if (a->n_withdrawn < sizeof(a->withdrawn) / sizeof(a->withdrawn[0]))
		snprintf(a->withdrawn[a->n_withdrawn++], KUBELET_ID_MAX, "%s", uuid);
}

static int hook_pre_destroy(void *arg, unsigned gpu_index, const char *uuid, struct kerf_err *err)
{
	struct agent_node *a = arg;

	if (a->opt.nvidia_plugin) {
		/* NVIDIA's plugin offers no withdraw: the window is documented (docs/kubelet.md); the caller's
		 * next hook, a fresh pod-resources List, is what still guards the destroy. */
		agent_log(a, KERF_LOG_DEBUG, NULL, "NVIDIA-plugin mode: the device cannot be withdrawn, checking pod-resources",
			  "gpu=%u device=%s", gpu_index, uuid);
		return 0;
	}
	if (!a->published) {
		/* Start-up recovery runs before the plugin serves: no endpoint of this process advertises the
		 * device, and a dead agent's endpoints are gone (the kubelet marks their resources unhealthy). */
		agent_log(a, KERF_LOG_DEBUG, NULL, "device not published yet: nothing to withdraw", "gpu=%u device=%s", gpu_index,
			  uuid);
		return 0;
	}
	remember_withdrawn(a, uuid); /* before the call: a withdraw that times out still leaves it withdrawn */
	agent_log(a, KERF_LOG_INFO, NULL, "withdrawing device", "gpu=%u device=%s", gpu_index, uuid);
	if (kubelet_hook_pre_destroy(&a->kh, gpu_index, uuid, err) < 0)
		return -1;
	agent_log(a, KERF_LOG_INFO, NULL, "withdrew device", "gpu=%u device=%s", gpu_index, uuid);
	return 0;
}

static int hook_is_allocated(void *arg, const char *uuid, bool *allocated, struct kerf_err *err)
{
	struct agent_node *a = arg;

	if (a->blind[0] != '\0') { /* cannot tell whether a process runs on it: in use */
		*allocated = true;
		agent_log(a, KERF_LOG_WARN, NULL, "not destroyed: this agent cannot see the host's processes", "device=%s why=%s",
			  uuid, a->blind);
		return 0;
	}

	if (kubelet_hook_is_allocated(&a->kh, uuid, allocated, err) < 0)
		return -1;
	if (*allocated)
		agent_log(a, KERF_LOG_INFO, NULL, "not destroyed: allocated to a pod", "device=%s", uuid);
	return 0;
}

static struct actuate_config actuate_cfg(struct agent_node *a, const char *const *allocated, unsigned n)
{
	return (struct actuate_config){
		.journal_dir = a->journal_dir,
		.allocated = allocated,
		.n_allocated = n,
		.hooks = {.pre_destroy = hook_pre_destroy, .is_allocated = hook_is_allocated, .arg = a},
		.log = actuate_log,
		.log_arg = a,
	};
}

/* ---- inventory ---- */

static int numa_of(const struct agent_node *a, unsigned index)
{
	return a->opt.numa_nodes != NULL && index < a->opt.n_numa ? a->opt.numa_nodes[index] : -1;
}

/* Appends the MIG devices of one GPU to devs (room for cap). Instances whose profile the model lacks have
 * no resource name, and instances whose compute instances do not make one whole device (made by another
 * tool: a 1-slice CI in a 3g instance is not a 3g) are left out; both show in the status. */
static size_t gpu_devices(const struct agent_node *a, const struct nvml_gpu *g, struct kubelet_device *devs,
			  size_t n, size_t cap)
{
	for (unsigned i = 0; i < g->n_instances; i++) {
		const struct nvml_instance *in = &g->inst[i];

		if (in->profile < 0 || !nvml_instance_whole(g, in))
			continue;
		for (unsigned c = 0; c < in->n_ci && n < cap; c++) {
			struct kubelet_device *d = &devs[n];

			if (in->ci[c].uuid[0] == '\0')
				continue;
			memset(d, 0, sizeof(*d));
			snprintf(d->uuid, sizeof(d->uuid), "%s", in->ci[c].uuid);
			/* a model read from NVML carries no resource names (mig_catalog_add fills those) */
			if (mig_resource_name(g->model.profiles[in->profile].name, d->resource, sizeof(d->resource)) < 0)
				continue;
			d->gpu_index = g->index;
			d->numa_node = numa_of(a, g->index);
			d->healthy = true;
			n++;
		}
	}
	return n;
}

static bool in_inventory(const struct kubelet_device *devs, size_t n, const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(devs[i].uuid, uuid) == 0)
			return true;
	return false;
}

/* An order-free signature of a device set: the sum of each UUID's FNV-1a hash (UUIDs are unique). */
static uint64_t devices_signature(const struct kubelet_device *devs, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += kerf_hash_str(devs[i].uuid, KERF_FNV_OFFSET);
	}
	return sum;
}

/*
 * NVIDIA-plugin mode's publish: NVIDIA's plugin enumerates the devices itself when it starts, so it is
 * told to re-read them (a SIGHUP restarts all its plugin servers, at a cost) only when the set changed:
 * after a run that created or destroyed something, or a start-up recovery that did.
 */
static int publish_nvidia(struct agent_node *a, const struct kubelet_device *devs, size_t n, struct kerf_err *err)
{
	uint64_t sig = devices_signature(devs, n);
	bool changed = a->published ? sig != a->nvidia_sig : a->recovery_changed;

	a->nvidia_sig = sig;
	a->published = true;
	if (!changed) {
		agent_log(a, KERF_LOG_DEBUG, NULL, "MIG devices unchanged: NVIDIA's device plugin not disturbed", "devices=%zu", n);
		return 0;
	}
	if (kubelet_nvidia_reload(a->opt.proc_root, err) < 0)
		return kerf_err_prefix(err, "the MIG devices changed but NVIDIA's device plugin was not told");
	agent_log(a, KERF_LOG_INFO, NULL, "told NVIDIA's device plugin to re-read the MIG devices (SIGHUP)", "devices=%zu", n);
	return 0;
}

/* The device's parent GPU minor and instance IDs, as NVML last said (minor unknown if it is not found). */
static void cdi_device_of(const struct agent_node *a, const struct kubelet_device *d, struct cdi_mig_device *out)
{
	*out = (struct cdi_mig_device){.uuid = d->uuid, .gpu_minor = CDI_MINOR_UNKNOWN};
	for (unsigned i = 0; i < a->n_gpus; i++) {
		const struct nvml_gpu *g = a->gpu[i];

		for (unsigned k = 0; k < g->n_instances; k++)
			for (unsigned c = 0; c < g->inst[k].n_ci; c++) {
				if (strcmp(g->inst[k].ci[c].uuid, d->uuid) != 0)
					continue;
				out->gpu_minor = g->minor == NVML_MINOR_UNKNOWN ? CDI_MINOR_UNKNOWN : g->minor;
				out->gi = g->inst[k].gi_id;
				out->ci = g->inst[k].ci[c].id;
				return;
			}
	}
}

/*
 * With CDI: a device is advertised only once the spec on disk lists it, so the spec is rewritten before the
 * kubelet is given the list, and devs keeps only what the spec lists. A device whose nodes cannot be named
 * stays out (logged); when the spec cannot be written, the old file stays, and so do only the devices it
 * already lists: new ones wait (-1, err filled; the caller still publishes what is left).
 */
static int cdi_filter(struct agent_node *a, struct kubelet_device *devs, size_t *n, struct kerf_err *err)
{
	struct cdi_mig_device *cd = calloc(*n + 1, sizeof(*cd));
	size_t kept = 0;
	int rc;

	if (cd == NULL) {
		*n = 0; /* cannot tell which devices the spec lists: none is advertised (the safe side) */
		return kerf_err_set(err, KERF_ENOMEM, "CDI spec: out of memory");
	}
	for (size_t i = 0; i < *n; i++)
		cdi_device_of(a, &devs[i], &cd[i]);
	rc = cdi_spec_update(a->cdi, cd, *n, err);
	for (size_t i = 0; i < *n; i++) {
		if (!cd[i].listed) {
			agent_log(a, KERF_LOG_WARN, NULL, "device not advertised: not in the CDI spec", "device=%s why=%s",
				  devs[i].uuid, cd[i].why);
			continue;
		}
		if (kept != i)
			devs[kept] = devs[i];
		kept++;
	}
	if (rc == 0)
		agent_log(a, KERF_LOG_INFO, NULL, "CDI spec written", "path=%s devices=%zu", cdi_spec_path(a->cdi), kept);
	free(cd);
	*n = kept;
	return rc;
}

/*
 * Publishes the devices of every GPU as last read (with CDI, those its spec lists), then gives back each
 * device withdrawn by the last run that still exists (its destroy did not happen), then waits until the
 * kubelet has every list.
 */
static int publish(struct agent_node *a, bool wait, struct kerf_err *err)
{
	const size_t cap = (size_t)AGENT_MAX_GPUS * MIG_MAX_INSTANCES * NVML_MAX_CI;
	struct kubelet_device *devs = calloc(cap, sizeof(*devs));
	struct kerf_err cerr = {0};
	size_t n = 0;
	int rc = -1;

	if (devs == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "device list: out of memory");
	for (unsigned i = 0; i < a->n_gpus; i++)
		n = gpu_devices(a, a->gpu[i], devs, n, cap);
	if (a->opt.nvidia_plugin) {
		rc = publish_nvidia(a, devs, n, err);
		goto out;
	}
	if (a->cdi != NULL && cdi_filter(a, devs, &n, &cerr) < 0)
		agent_log(a, KERF_LOG_ERROR, &cerr, "CDI spec not written: new MIG devices not advertised", NULL);
	if (kubelet_plugin_set_devices(a->plugin, devs, n, err) < 0)
		goto out;
	for (unsigned i = 0; i < a->n_withdrawn; i++) {
		if (!in_inventory(devs, n, a->withdrawn[i]))
			continue;
		agent_log(a, KERF_LOG_INFO, NULL, "reinstating device: it still exists", "device=%s", a->withdrawn[i]);
		if (kubelet_plugin_reinstate(a->plugin, a->withdrawn[i], err) < 0)
			goto out;
	}
	a->n_withdrawn = 0;
	a->published = true;
	agent_log(a, KERF_LOG_INFO, NULL, "published MIG devices", "devices=%zu", n);
	if (wait && kubelet_plugin_sync(a->plugin, err) < 0) {
		kerf_err_prefix(err, "device list published but not yet taken by the kubelet");
		goto out;
	}
	if (cerr.code != KERF_OK) {
		*err = cerr;
		kerf_err_prefix(err, "new MIG devices not advertised");
		goto out;
	}
	rc = 0;
out:
	free(devs);
	return rc;
}

/* ---- pod-resources snapshot ---- */

struct allocated {
	struct kubelet_podres pr;
	const char **ids;
	unsigned n;
};

static int allocated_read(struct agent_node *a, struct allocated *al, struct kerf_err *err)
{
	memset(al, 0, sizeof(*al));
	if (kubelet_podres_list(a->kh.podres_socket, a->kh.timeout_ms, &al->pr, err) < 0)
		return kerf_err_prefix(err, "pod-resources (cannot tell which MIG devices pods hold)");
	if (kubelet_podres_drop(&al->pr, a->kh.pod_finished, a->kh.pod_finished_arg) > 0)
		agent_log(a, KERF_LOG_DEBUG, NULL, "pod-resources lists devices of pods that have ended: not counted as held", NULL);
	al->ids = calloc(al->pr.n + 1, sizeof(*al->ids));
	if (al->ids == NULL) {
		kubelet_podres_free(&al->pr);
		return kerf_err_set(err, KERF_ENOMEM, "pod-resources: out of memory");
	}
	for (size_t i = 0; i < al->pr.n; i++)
		al->ids[al->n++] = al->pr.items[i].device_id;
	return 0;
}

static void allocated_free(struct allocated *al)
{
	free(al->ids);
	kubelet_podres_free(&al->pr);
}

/* ---- start / stop ---- */

static int read_mig_gpus(struct agent_node *a, struct kerf_err *err)
{
	unsigned count;

	if (nvml_gpu_count(a->nv, &count, err) < 0)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		struct nvml_gpu *g = malloc(sizeof(*g));

		if (g == NULL)
			return kerf_err_set(err, KERF_ENOMEM, "gpu %u: out of memory", i);
		if (nvml_read_gpu(a->nv, i, g, err) < 0) {
			free(g);
			return -1;
		}
		if (g->mig_current != 1 || a->n_gpus == AGENT_MAX_GPUS) {
			agent_log(a, KERF_LOG_WARN, NULL, "GPU not managed: MIG mode is off or too many GPUs", "gpu=%u model=%s", i,
				  g->name);
			free(g);
			continue;
		}
		a->gpu[a->n_gpus++] = g;
	}
	return 0;
}

/* Finishes or rolls back what a previous agent left half done on each GPU, before anything is published. */
static void recover_all(struct agent_node *a)
{
	struct actuate_config cfg = actuate_cfg(a, NULL, 0);

	for (unsigned i = 0; i < a->n_gpus; i++) {
		struct nvml_gpu *g = a->gpu[i];
		struct actuate_result res;
		struct kerf_err e;

		memset(&res, 0, sizeof(res));
		if (actuate_recover(a->nv, g->index, &cfg, &res, &e) < 0)
			agent_log(a, KERF_LOG_ERROR, &e, "recovery of an interrupted run failed (the journal stays, the next start "
				  "tries again)", "gpu=%u", g->index);
		else if (res.recovered != ACTUATE_UNCHANGED)
			agent_log(a, KERF_LOG_WARN, NULL, "interrupted run recovered", "gpu=%u result=%s layout=%s", g->index,
				  actuate_outcome_name(res.recovered), res.after);
		if (res.recovered != ACTUATE_UNCHANGED || res.changes > 0)
			a->recovery_changed = true;
		if (nvml_read_instances(a->nv, g, &e) < 0)
			agent_log(a, KERF_LOG_ERROR, &e, "re-read after recovery failed", "gpu=%u", g->index);
	}
}

/*
 * Whether this process sees the host's processes, which NVML's process lists are checked against: in a PID
 * namespace of its own (a pod without hostPID), NVML answers only for the processes that namespace can see,
 * and an instance running another pod's CUDA process would read as free. Told by PID 1: this process itself
 * (a container's init), or a pod's pause process, means the namespace is not the host's. Cannot read PID 1:
 * cannot tell, so not. Fills why when not.
 */
static bool sees_host_processes(const char *proc_root, char *why, size_t cap)
{
	char argv0[256];

	if (proc_root == NULL && getpid() == 1) {
		snprintf(why, cap, "it is PID 1 of its own PID namespace");
		return false;
	}
	kubelet_proc_argv0(proc_root, "1", argv0, sizeof(argv0));
	if (argv0[0] == '\0') {
		snprintf(why, cap, "PID 1's command line cannot be read under %s", proc_root != NULL ? proc_root : "/proc");
		return false;
	}
	if (strcmp(argv0, "pause") == 0) {
		snprintf(why, cap, "PID 1 is a pod's pause process: the pod does not share the host's PID namespace");
		return false;
	}
	return true;
}

struct agent_node *agent_node_start(const struct agent_options *o, struct kerf_err *err)
{
	static const struct agent_options none;
	struct agent_node *a = calloc(1, sizeof(*a));
	struct kubelet_plugin_config pc;

	if (a == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "agent: out of memory");
		return NULL;
	}
	a->opt = o != NULL ? *o : none;
	a->journal_dir = a->opt.journal_dir;
	if (a->journal_dir == NULL)
		a->journal_dir = getenv(AGENT_STATE_DIR_ENV);
	if (a->journal_dir == NULL)
		a->journal_dir = AGENT_STATE_DIR_DEFAULT;
	a->kh = (struct kubelet_hooks){.podres_socket = a->opt.podres_socket, .timeout_ms = a->opt.timeout_ms,
				       .checkpoint = a->checkpoint};
	snprintf(a->checkpoint, sizeof(a->checkpoint), "%s/kubelet_internal_checkpoint",
		 a->opt.plugin_dir != NULL ? a->opt.plugin_dir : KUBELET_PLUGIN_DIR);
	a->nv = nvml_open(a->opt.nvml_library, err);
	if (a->nv == NULL || read_mig_gpus(a, err) < 0)
		goto fail;
	agent_log(a, KERF_LOG_INFO, NULL, "NVML opened", "library=%s gpus=%u", nvml_library(a->nv), a->n_gpus);
	if (!sees_host_processes(a->opt.proc_root, a->blind, sizeof(a->blind)))
		agent_log(a, KERF_LOG_WARN, NULL, "cannot see the host's processes: NVML would miss other pods' processes, so every "
			  "instance counts as in use and none is destroyed; run the agent with hostPID (the chart does)",
			  "why=%s", a->blind);
	recover_all(a);
	if (a->opt.nvidia_plugin) {
		agent_log(a, KERF_LOG_INFO, NULL, "NVIDIA-plugin mode: NVIDIA's device plugin serves the MIG devices", NULL);
		if (publish(a, false, err) < 0)
			goto fail;
		return a;
	}
	pc = (struct kubelet_plugin_config){.plugin_dir = a->opt.plugin_dir, .cdi = a->opt.cdi,
					    .timeout_ms = a->opt.timeout_ms,
					    .register_retry_ms = a->opt.register_retry_ms,
					    .allocate_grace_ms = a->opt.allocate_grace_ms};
	if (a->opt.cdi) {
		struct cdi_config cc = {.spec_dir = a->opt.cdi_spec_dir, .mig_minors = a->opt.mig_minors};

		pc.cdi_kind = CDI_KIND; /* kerf's names, which only kerf's spec defines (cdi.h) */
		if ((a->cdi = cdi_spec_new(&cc, err)) == NULL)
			goto fail;
	}
	if (kubelet_plugin_start(&pc, &a->plugin, err) < 0)
		goto fail;
	a->kh.plugin = a->plugin;
	/* The kubelet may not be up yet: publish without waiting; the plugin registers when it appears. */
	if (publish(a, false, err) < 0)
		goto fail;
	return a;
fail:
	kerf_err_prefix(err, "agent start");
	agent_node_stop(a);
	return NULL;
}

void agent_node_stop(struct agent_node *a)
{
	if (a == NULL)
		return;
	kubelet_plugin_stop(a->plugin);
	cdi_spec_free(a->cdi);
	nvml_close(a->nv);
	for (unsigned i = 0; i < a->n_gpus; i++)
		free(a->gpu[i]);
	free(a);
}

const struct agent_options *agent_node_options(const struct agent_node *a)
{
	return &a->opt;
}

unsigned agent_node_gpu_count(const struct agent_node *a)
{
	return a->n_gpus;
}

unsigned agent_node_gpu_index(const struct agent_node *a, unsigned i)
{
	return i < a->n_gpus ? a->gpu[i]->index : MIG_NVML_INDEX_UNKNOWN;
}

const struct mig_model *agent_node_model(const struct agent_node *a, unsigned gpu)
{
	const struct nvml_gpu *g = find_gpu(a, gpu);

	return g != NULL ? &g->model : NULL;
}

/* ---- apply ---- */

/* Re-reads one GPU and re-publishes; whatever the run did, the kubelet then sees exactly what exists. */
static int republish(struct agent_node *a, struct nvml_gpu *g, struct kerf_err *err)
{
	if (nvml_read_instances(a->nv, g, err) < 0)
		/* Withdrawn devices stay withdrawn (and remembered) until a read succeeds: the safe side. */
		return kerf_err_prefix(err, "re-read after the run (device list not re-published)");
	return publish(a, true, err);
}

/* The allocated list the actuator guards with: pod-resources' devices, then the held ones. NULL on no memory. */
static const char **guarded_ids(const struct allocated *al, const struct agent_hold *hold, unsigned *n)
{
	unsigned n_held = hold != NULL ? hold->n : 0;
	const char **ids = calloc(al->n + n_held + 1, sizeof(*ids));

	if (ids == NULL)
		return NULL;
	memcpy(ids, al->ids, al->n * sizeof(*ids));
	*n = al->n;
	for (unsigned i = 0; i < n_held; i++)
		ids[(*n)++] = hold->h[i].uuid;
	return ids;
}

/*
 * A refusal caused by a held instance says so: the actuator only knows it as "allocated to a pod", which
 * pod-resources would contradict. The pod's name is what an operator needs to see why the spec waits.
 */
static void name_holder(const struct agent_hold *hold, unsigned gpu, struct kerf_err *err)
{
	for (unsigned i = 0; hold != NULL && err->code == KERF_EBUSY && i < hold->n; i++) {
		const struct agent_held *h = &hold->h[i];

		if (h->gpu != gpu || strstr(err->msg, h->uuid) == NULL)
			continue;
		kerf_err_set(err, KERF_EBUSY,
			     "gpu %u: %s@%u (%s) is held for pod %s, bound to this node and not yet admitted by the "
			     "kubelet: the layout would destroy it",
			     gpu, h->profile, h->start, h->uuid, h->pod);
		return;
	}
}

/* Whether the instance survives desired (NULL: the GPU is left as it is). */
static bool instance_kept(const struct nvml_instance *in, const struct mig_layout *desired)
{
	if (desired == NULL)
		return true;
	for (unsigned d = 0; d < desired->n; d++)
		if ((int)desired->inst[d].profile == in->profile && desired->inst[d].start == in->start)
			return true;
	return false;
}

/*
 * An agent that cannot see the host's processes destroys nothing (a->blind): a layout that keeps every
 * instance with a device (it may only add) is fine, anything else is refused before any step, naming the first
 * instance it would destroy. -1 with err filled when refused.
 */
static int blind_refuses(struct agent_node *a, struct nvml_gpu *g, const struct mig_layout *desired,
			 struct kerf_err *err)
{
	if (a->blind[0] == '\0')
		return 0;
	if (nvml_read_instances(a->nv, g, err) < 0)
		return -1;
	for (unsigned k = 0; k < g->n_instances; k++) {
		const struct nvml_instance *in = &g->inst[k];

		if (in->n_ci > 0 && !instance_kept(in, desired))
			return kerf_err_set(err, KERF_EBUSY,
					    "gpu %u: %s@%u: cannot tell whether a process runs on it: this agent cannot see the "
					    "host's processes (%s); run it with hostPID",
					    g->index, in->profile >= 0 ? g->model.profiles[in->profile].name : "?", in->start,
					    a->blind);
	}
	return 0;
}

int agent_node_apply_holding(struct agent_node *a, unsigned gpu, const struct mig_layout *desired,
			     const struct agent_hold *hold, struct actuate_result *res, struct kerf_err *err)
{
	struct nvml_gpu *g = find_gpu(a, gpu);
	struct actuate_result local;
	struct actuate_config cfg;
	struct allocated al;
	struct kerf_err perr, elocal;
	const char **ids;
	unsigned n_ids = 0;
	int rc;

	if (err == NULL)
		err = &elocal;
	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (g == NULL)
		return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no such MIG GPU on this node", gpu);
	if (blind_refuses(a, g, desired, err) < 0) {
		agent_log(a, KERF_LOG_WARN, err, "layout not applied", "gpu=%u result=refused", gpu);
		return -1;
	}
	if (allocated_read(a, &al, err) < 0)
		return kerf_err_prefix(err, "gpu %u: refused", gpu);
	if ((ids = guarded_ids(&al, hold, &n_ids)) == NULL) {
		allocated_free(&al);
		return kerf_err_set(err, KERF_ENOMEM, "gpu %u: out of memory", gpu);
	}
	cfg = actuate_cfg(a, ids, n_ids);
	rc = actuate_apply(a->nv, gpu, &g->model, desired, &cfg, res, err); /* desired was parsed against g->model */
	free(ids);
	allocated_free(&al);
	if (rc < 0 && res->changes == 0 && res->outcome == ACTUATE_UNCHANGED)
		name_holder(hold, gpu, err); /* refused before anything changed: the message is only the refusal */
	agent_log(a, rc == 0 ? KERF_LOG_INFO : KERF_LOG_ERROR, rc == 0 ? NULL : err, rc == 0 ? "layout applied" : "layout not applied",
		  "gpu=%u result=%s before=%s after=%s", gpu, rc == 0 ? actuate_outcome_name(res->outcome) : "not-applied",
		  res->before, res->after);
	if (republish(a, g, &perr) < 0) {
		agent_log(a, KERF_LOG_ERROR, &perr, "publishing the MIG devices failed", "gpu=%u", gpu);
		if (rc == 0) {
			*err = perr;
			kerf_err_prefix(err, "gpu %u", gpu);
		}
		return -1;
	}
	return rc;
}

int agent_node_apply(struct agent_node *a, unsigned gpu, const struct mig_layout *desired,
		     struct actuate_result *res, struct kerf_err *err)
{
	return agent_node_apply_holding(a, gpu, desired, NULL, res, err);
}

/* ---- holding free instances for bound pods ---- */

/* Whether the instance is free: a whole instance with a MIG device, not allocated, running no process. */
static bool instance_free(const struct nvml_gpu *g, const struct nvml_instance *in, const struct allocated *al)
{
	if (in->profile < 0 || in->n_ci == 0 || !nvml_instance_whole(g, in))
		return false;
	for (unsigned c = 0; c < in->n_ci; c++)
		if (in->ci[c].uuid[0] == '\0' || in->ci[c].processes > 0 ||
		    kubelet_podres_find(&al->pr, in->ci[c].uuid) != NULL)
			return false;
	return true;
}

static bool is_held(const struct agent_hold *hold, const char *uuid)
{
	for (unsigned i = 0; i < hold->n; i++)
		if (strcmp(hold->h[i].uuid, uuid) == 0)
			return true;
	return false;
}

/* How many devices of need's resource pod-resources already lists for need's pod. */
static unsigned already_given(const struct allocated *al, const struct agent_pod_need *need)
{
	unsigned n = 0;

	for (size_t i = 0; i < al->pr.n; i++) {
		const struct kubelet_podres_device *d = &al->pr.items[i];

		if (d->pod_namespace && d->pod_name && d->resource && strcmp(d->pod_namespace, need->ns) == 0 &&
		    strcmp(d->pod_name, need->name) == 0 && strcmp(d->resource, need->resource) == 0)
			n++;
	}
	return n;
}

/*
 * Holds up to want free instances of need's resource, instances that stay first (pass 0), then the others.
 * Returns how many it held.
 */
static unsigned hold_for(struct agent_node *a, const struct agent_pod_need *need, unsigned want,
			 const struct mig_layout *const *desired, const struct allocated *al, struct agent_hold *hold)
{
	unsigned got = 0;

	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < a->n_gpus; i++) {
			const struct nvml_gpu *g = a->gpu[i];
			const struct mig_layout *want_layout = desired != NULL ? desired[i] : NULL;

			for (unsigned k = 0; k < g->n_instances && got < want && hold->n < AGENT_HOLD_MAX; k++) {
				const struct nvml_instance *in = &g->inst[k];
				const char *profile = in->profile >= 0 ? g->model.profiles[in->profile].name : "";
				char res[KUBELET_RESOURCE_MAX];
				struct agent_held *h;

				if (!instance_free(g, in, al) || instance_kept(in, want_layout) != (pass == 0) ||
				    is_held(hold, in->ci[0].uuid) ||
				    mig_resource_name(profile, res, sizeof(res)) < 0 || strcmp(res, need->resource) != 0)
					continue;
				h = &hold->h[hold->n++];
				memset(h, 0, sizeof(*h));
				h->gpu = g->index;
				h->start = in->start;
				snprintf(h->profile, sizeof(h->profile), "%s", profile);
				snprintf(h->uuid, sizeof(h->uuid), "%s", in->ci[0].uuid);
				snprintf(h->pod, sizeof(h->pod), "%s/%s", need->ns, need->name);
				got++;
			}
		}
	return got;
}

int agent_node_hold(struct agent_node *a, const struct agent_pod_need *needs, unsigned n,
		    const struct mig_layout *const *desired, struct agent_hold *hold, struct kerf_err *err)
{
	struct allocated al;

	hold->n = 0;
	if (n == 0)
		return 0;
	if (allocated_read(a, &al, err) < 0)
		return kerf_err_prefix(err, "holding devices for bound pods");
	for (unsigned i = 0; i < a->n_gpus; i++)
		if (nvml_read_instances(a->nv, a->gpu[i], err) < 0) {
			allocated_free(&al);
			return kerf_err_prefix(err, "holding devices for bound pods");
		}
	for (unsigned i = 0; i < n; i++) {
		unsigned given = already_given(&al, &needs[i]), got;

		if (needs[i].count <= given)
			continue;
		got = hold_for(a, &needs[i], needs[i].count - given, desired, &al, hold);
		agent_log(a, KERF_LOG_INFO, NULL, "holding free devices for a pod bound here", "pod=%s/%s resource=%s held=%u "
			  "unallocated=%u wanted=%u", needs[i].ns, needs[i].name, needs[i].resource, got, needs[i].count - given,
			  needs[i].count);
	}
	allocated_free(&al);
	return 0;
}

void agent_node_pods_finished(struct agent_node *a, bool (*finished)(void *arg, const char *ns, const char *name),
			      void *arg)
{
	a->kh.pod_finished = finished;
	a->kh.pod_finished_arg = arg;
}

int agent_node_serving(void *arg, char *why, size_t cap)
{
	const struct agent_node *a = arg;
	struct kubelet_plugin_stats st;

	if (a->plugin == NULL) /* NVIDIA-plugin mode: NVIDIA's plugin serves, kerf registers nothing */
		return 1;
	kubelet_plugin_stats(a->plugin, &st);
	if (st.resources == 0 || st.registrations >= st.resources)
		return 1;
	snprintf(why, cap, "the kubelet has registered %lu of kerf's %zu MIG resources", st.registrations, st.resources);
	return 0;
}

int agent_node_refresh(struct agent_node *a, struct kerf_err *err)
{
	for (unsigned i = 0; i < a->n_gpus; i++)
		if (nvml_read_instances(a->nv, a->gpu[i], err) < 0)
			return kerf_err_prefix(err, "refresh");
	return publish(a, true, err);
}

/* ---- status ---- */

static void instance_status(const struct nvml_gpu *g, const struct nvml_instance *in, const struct allocated *al,
			    struct agent_instance *out)
{
	memset(out, 0, sizeof(*out));
	if (in->profile >= 0)
		snprintf(out->profile, sizeof(out->profile), "%s", g->model.profiles[in->profile].name);
	else
		snprintf(out->profile, sizeof(out->profile), "nvml-profile-%u", in->profile_id);
	out->start = in->start;
	for (unsigned c = 0; c < in->n_ci; c++) {
		if (out->uuid[0] == '\0')
			snprintf(out->uuid, sizeof(out->uuid), "%s", in->ci[c].uuid);
		out->processes += in->ci[c].processes;
		if (in->ci[c].uuid[0] != '\0' && kubelet_podres_find(&al->pr, in->ci[c].uuid) != NULL)
			out->allocated = true;
	}
	out->used = out->allocated || out->processes > 0 || (in->n_ci > 0 && !nvml_instance_whole(g, in));
}

int agent_node_status(struct agent_node *a, struct agent_status *st, struct kerf_err *err)
{
	struct allocated al;

	memset(st, 0, sizeof(*st));
	if (allocated_read(a, &al, err) < 0)
		return kerf_err_prefix(err, "status");
	for (unsigned i = 0; i < a->n_gpus; i++) {
		struct nvml_gpu *g = a->gpu[i];
		struct agent_gpu_status *gs = &st->gpu[st->n_gpus++];

		if (nvml_read_instances(a->nv, g, err) < 0) {
			allocated_free(&al);
			return kerf_err_prefix(err, "status");
		}
		gs->index = g->index;
		snprintf(gs->model, sizeof(gs->model), "%s", g->name);
		snprintf(gs->short_model, sizeof(gs->short_model), "%s", g->builtin != NULL ? g->builtin->name : "");
		snprintf(gs->uuid, sizeof(gs->uuid), "%s", g->uuid);
		for (unsigned k = 0; k < g->n_instances && gs->n < MIG_MAX_INSTANCES; k++)
		{
			instance_status(g, &g->inst[k], &al, &gs->inst[gs->n]);
			gs->inst[gs->n].used |= a->blind[0] != '\0' && gs->inst[gs->n].uuid[0] != '\0'; /* cannot tell */
			gs->n++;
		}
	}
	allocated_free(&al);
	return 0;
}
