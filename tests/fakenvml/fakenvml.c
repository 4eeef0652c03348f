/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakenvml.c — a libnvidia-ml.so.1 that simulates MIG GPUs, for kerf's tests and demo.
 *
 * It exports exactly the symbols of src/nvml/nvml_abi.h (the prototypes below are generated from that one
 * list, so the compiler checks every definition against the ABI kerf calls). kerf's production code cannot
 * tell it from the real library: it is found by the same dlopen path and answers through the same structs.
 *
 * Behaviour follows the real driver where the facts are known (see the fact sheet, section 2):
 *   - profile infos are walked by index: NOT_SUPPORTED for indices this model lacks, INVALID_ARGUMENT past
 *     the last index NVML knows (0x11);
 *   - a GPU instance is created only at a legal placement; overlap or a broken per-GPU rule (judged by
 *     mig_layout_check) gives INSUFFICIENT_RESOURCES; GI IDs rotate instead of following placement;
 *   - destroying a GI that still has compute instances, or a CI whose MIG device runs a process, gives
 *     IN_USE; a destroyed object's handle is stale and answers INVALID_ARGUMENT;
 *   - with MIG disabled, profile infos and creation answer NOT_SUPPORTED, placements still answer.
 * Faults armed in the state file (fakestate.h) are applied on entry to each call; one that makes an instance
 * busy changes the state first, and the call then acts on the changed state.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakestate.h"
#include "nvml_abi.h"

#define EXPORT __attribute__((visibility("default")))
#define DECLARE(name, ret, params) EXPORT ret name params;
KERF_NVML_SYMBOLS(DECLARE)

/* ---- handles: addresses of static slots, one per (kind, gpu, gi, ci) ---------------------------------- */

enum hkind { H_GPU = 1, H_MIG, H_GI, H_CI };

struct fk_handle {
	uint8_t kind, gpu, gi, ci;
};

static struct fk_handle h_gpu[FK_MAX_GPUS];
static struct fk_handle h_gi[FK_MAX_GPUS][FK_MAX_GI];
static struct fk_handle h_ci[FK_MAX_GPUS][FK_MAX_GI][FK_MAX_CI];
static struct fk_handle h_mig[FK_MAX_GPUS][FK_MAX_GI][FK_MAX_CI];
static int init_count;

static void handles_init(void)
{
	for (unsigned g = 0; g < FK_MAX_GPUS; g++) {
		h_gpu[g] = (struct fk_handle){ H_GPU, (uint8_t)g, 0, 0 };
		for (unsigned i = 0; i < FK_MAX_GI; i++) {
			h_gi[g][i] = (struct fk_handle){ H_GI, (uint8_t)g, (uint8_t)i, 0 };
			for (unsigned c = 0; c < FK_MAX_CI; c++) {
				h_ci[g][i][c] = (struct fk_handle){ H_CI, (uint8_t)g, (uint8_t)i, (uint8_t)c };
				h_mig[g][i][c] = (struct fk_handle){ H_MIG, (uint8_t)g, (uint8_t)i, (uint8_t)c };
			}
		}
	}
}

static bool in_range(const void *p, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a < b + size && (a - b) % sizeof(struct fk_handle) == 0;
}

/* The handle p points to, if it is one of ours of a kind in mask; NULL otherwise. */
static const struct fk_handle *handle(const void *p, unsigned kinds)
{
	if (p == NULL)
		return NULL;
	if (!in_range(p, h_gpu, sizeof(h_gpu)) && !in_range(p, h_gi, sizeof(h_gi)) &&
	    !in_range(p, h_ci, sizeof(h_ci)) && !in_range(p, h_mig, sizeof(h_mig)))
		return NULL;
	return (kinds & (1u << ((const struct fk_handle *)p)->kind)) ? p : NULL;
}

#define K(kind) (1u << (kind))

/* ---- one call: lock, load, apply faults; then save, unlock ------------------------------------------- */

struct call {
	int fd;
	bool dirty, kill_after;
	unsigned delay_us;
	struct fk_state st;
};

static void count_call(struct fk_state *st, const char *func)
{
	unsigned i;

	for (i = 0; i < st->n_calls; i++)
		if (strcmp(st->calls[i].func, func) == 0)
			break;
	if (i == st->n_calls) {
		if (i == FK_MAX_FUNCS)
			return;
		snprintf(st->calls[i].func, sizeof(st->calls[i].func), "%s", func);
		st->calls[i].n = 0;
		st->n_calls++;
	}
	st->calls[i].n++;
}

/*
 * The process ends here, running none of its own code again. A container's main process is PID 1 of its PID
 * namespace, and the kernel drops signals PID 1 sends itself, SIGKILL included: there _exit() does the same job
 * (no atexit handler, no stdio flush) with the status a SIGKILL shows, 128 + 9.
 */
static void die_now(void)
{
	kill(getpid(), SIGKILL);
	_exit(128 + SIGKILL);
}

/* Returns NVML_SUCCESS to go on, or the code the call must return at once (lock released). */
static nvmlReturn_t enter(struct call *c, const char *func, bool need_init)
{
	const char *path = fk_state_path();
	nvmlReturn_t fail = NVML_SUCCESS;
	bool kill_before = false;

	c->dirty = c->kill_after = false;
	c->delay_us = 0;
	if (need_init && init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	if (path == NULL || (c->fd = fk_lock(path, &c->st, NULL)) < 0)
		return need_init ? NVML_ERROR_UNKNOWN : NVML_ERROR_DRIVER_NOT_LOADED;
	if (c->st.trace) {
		count_call(&c->st, func);
		c->dirty = true;
	}
	for (unsigned i = 0; i < c->st.n_faults; i++) {
		struct fk_fault *f = &c->st.fault[i];

		if (strcmp(f->func, func) != 0)
			continue;
		f->seen++;
		c->dirty = true;
		if (f->action == FK_DELAY && (f->nth == 0 || f->seen == f->nth))
			c->delay_us += f->usec;
		if (f->seen != f->nth)
			continue;
		if (f->action == FK_PROCESS || f->action == FK_POD || f->action == FK_SPLIT)
			fk_make_busy(&c->st, f, NULL); /* no such instance: nothing happens (made_gi stays 0) */
		if (f->action == FK_FAIL && fail == NVML_SUCCESS)
			fail = (nvmlReturn_t)f->code;
		kill_before |= f->action == FK_KILL_BEFORE;
		c->kill_after |= f->action == FK_KILL_AFTER;
	}
	if (kill_before || fail != NVML_SUCCESS) {
		fk_unlock(c->fd, &c->st, c->dirty, NULL);
		if (kill_before)
			die_now();
		return fail;
	}
	return NVML_SUCCESS;
}

static nvmlReturn_t leave(struct call *c, nvmlReturn_t rc)
{
	fk_unlock(c->fd, &c->st, c->dirty, NULL);
	if (c->kill_after)
		die_now();
	if (c->delay_us)
		usleep(c->delay_us);
	return rc;
}

#define ENTER(c, need_init)                                                                                    \
	do {                                                                                                   \
		nvmlReturn_t early_ = enter((c), __func__, (need_init));                                       \
		if (early_ != NVML_SUCCESS)                                                                    \
			return early_;                                                                         \
	} while (0)

/* ---- lookups inside the loaded state ----------------------------------------------------------------- */

static struct fk_gpu *gpu_of(struct call *c, const struct fk_handle *h)
{
	return h != NULL && h->gpu < c->st.n_gpus ? &c->st.gpu[h->gpu] : NULL;
}

static struct fk_gi *gi_of(struct call *c, const struct fk_handle *h)
{
	struct fk_gpu *g = gpu_of(c, h);

	return g != NULL && g->gi[h->gi].live ? &g->gi[h->gi] : NULL;
}

static struct fk_ci *ci_of(struct call *c, const struct fk_handle *h)
{
	struct fk_gi *gi = gi_of(c, h);

	return gi != NULL && gi->ci[h->ci].live ? &gi->ci[h->ci] : NULL;
}

static const struct mig_profile *gi_profile(const struct mig_model *m, const struct fk_gi *gi)
{
	int p = mig_profile_by_nvml_id(m, gi->profile_id);

	return p >= 0 ? &m->profiles[p] : NULL;
}

/* Memory of the simulated GPU: the number in its largest profile's name ("7g.80gb" -> 80 GiB). */
static unsigned long long gpu_memory_mb(const struct mig_model *m)
{
	const char *name = m->profiles[m->n_profiles - 1].name, *dot = strchr(name, '.');
	unsigned long long gb = dot ? strtoull(dot + 1, NULL, 10) : 0;

	return (gb ? gb : 16) * 1024ull;
}

static unsigned long long profile_memory_mb(const struct mig_model *m, const struct mig_profile *p)
{
	return gpu_memory_mb(m) * p->memory_slices / m->slots;
}

static nvmlReturn_t copy_string(char *dst, unsigned length, const char *src)
{
	if (dst == NULL)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(src) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

/* ---- the exported API -------------------------------------------------------------------------------- */

nvmlReturn_t nvmlInit_v2(void)
{
	struct call c;

	ENTER(&c, false);
	if (init_count++ == 0)
		handles_init();
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlShutdown(void)
{
	if (init_count == 0)
		return NVML_ERROR_UNINITIALIZED;
	init_count--;
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND: return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_TIMEOUT: return "Timeout";
	case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
	case NVML_ERROR_IN_USE: return "In use by another client";
	case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient Resources";
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument Version Mismatch";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	struct call c;

	ENTER(&c, true);
	if (deviceCount == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	*deviceCount = c.st.n_gpus;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	struct call c;

	ENTER(&c, true);
	if (device == NULL || index >= c.st.n_gpus)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	*device = (nvmlDevice_t)&h_gpu[index];
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	struct call c;
	char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE + MIG_NAME_MAX + 8];
	const struct mig_model *m;

	ENTER(&c, true);
	if (gpu_of(&c, h) == NULL || (m = fk_model(gpu_of(&c, h))) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (h->kind == H_GPU) {
		snprintf(buf, sizeof(buf), "%s", m->aliases[0]);
	} else {
		const struct fk_gi *gi = ci_of(&c, h) ? gi_of(&c, h) : NULL;
		const struct mig_profile *p = gi ? gi_profile(m, gi) : NULL;

		if (p == NULL)
			return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
		snprintf(buf, sizeof(buf), "%s MIG %s", m->aliases[0], p->name);
	}
	return leave(&c, copy_string(name, length, buf));
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	struct call c;
	char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
	const struct fk_ci *ci;

	ENTER(&c, true);
	if (gpu_of(&c, h) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (h->kind == H_GPU) {
		fk_gpu_uuid(h->gpu, buf, sizeof(buf));
	} else {
		if ((ci = ci_of(&c, h)) == NULL)
			return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
		fk_mig_uuid(h->gpu, ci->serial, buf, sizeof(buf));
	}
	return leave(&c, copy_string(uuid, length, buf));
}

nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;

	ENTER(&c, true);
	if (minorNumber == NULL || gpu_of(&c, h) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	*minorNumber = fk_gpu_minor(h->gpu);
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	struct call c;
	const struct mig_model *m;

	ENTER(&c, true);
	if (memory == NULL || gpu_of(&c, h) == NULL || (m = fk_model(gpu_of(&c, h))) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (h->kind == H_GPU) {
		memory->total = gpu_memory_mb(m) << 20;
	} else {
		const struct fk_gi *gi = ci_of(&c, h) ? gi_of(&c, h) : NULL;

		if (gi == NULL)
			return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
		memory->total = profile_memory_mb(m, gi_profile(m, gi)) << 20;
	}
	memory->free = memory->total;
	memory->used = 0;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || currentMode == NULL || pendingMode == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	*currentMode = g->mig_current;
	*pendingMode = g->mig_pending;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
						  nvmlGpuInstanceProfileInfo_v2_t *info)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;
	const struct mig_model *m;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || info == NULL || (m = fk_model(g)) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (info->version != KERF_NVML_GI_PROFILE_INFO_V2)
		return leave(&c, NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	if (profile > NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (g->mig_current != NVML_DEVICE_MIG_ENABLE)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	for (unsigned i = 0; i < m->n_profiles; i++) {
		const struct mig_profile *p = &m->profiles[i];

		if (p->nvml_index != profile)
			continue;
		memset(info, 0, sizeof(*info));
		info->version = KERF_NVML_GI_PROFILE_INFO_V2;
		info->id = p->nvml_id;
		info->sliceCount = p->compute_slices;
		info->instanceCount = p->max_instances;
		info->multiprocessorCount = fk_profile_sms(m, p);
		info->copyEngineCount = p->compute_slices;
		info->decoderCount = (p->flags & MIG_PF_NO_ME) ? 0 : 1;
		info->memorySizeMB = profile_memory_mb(m, p);
		snprintf(info->name, sizeof(info->name), "MIG %s", p->name);
		return leave(&c, NVML_SUCCESS);
	}
	return leave(&c, NVML_ERROR_NOT_SUPPORTED);
}

nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t device, unsigned int profileId,
							   nvmlGpuInstancePlacement_t *placements,
							   unsigned int *count)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;
	const struct mig_model *m;
	const struct mig_profile *p;
	int pi;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || count == NULL || (m = fk_model(g)) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if ((pi = mig_profile_by_nvml_id(m, profileId)) < 0)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	p = &m->profiles[pi];
	if (placements == NULL) {
		*count = p->n_starts;
		return leave(&c, NVML_SUCCESS);
	}
	if (*count < p->n_starts) {
		*count = p->n_starts;
		return leave(&c, NVML_ERROR_INSUFFICIENT_SIZE);
	}
	for (unsigned s = 0; s < p->n_starts; s++) {
		placements[s].start = p->starts[s];
		placements[s].size = p->memory_slices;
	}
	*count = p->n_starts;
	return leave(&c, NVML_SUCCESS);
}

#ifndef FAKENVML_NO_PLACEMENT
nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t device, unsigned int profileId,
						      const nvmlGpuInstancePlacement_t *placement,
						      nvmlGpuInstance_t *gpuInstance)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;
	const struct mig_model *m;
	struct kerf_err err;
	unsigned id;
	int pi;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || placement == NULL || gpuInstance == NULL || (m = fk_model(g)) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (g->mig_current != NVML_DEVICE_MIG_ENABLE)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	if ((pi = mig_profile_by_nvml_id(m, profileId)) < 0 || placement->size != m->profiles[pi].memory_slices)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (fk_create(&c.st, h->gpu, profileId, placement->start, &id, &err) != 0)
		return leave(&c, err.code == KERF_ECONFLICT ? NVML_ERROR_INSUFFICIENT_RESOURCES
							    : NVML_ERROR_INVALID_ARGUMENT);
	c.dirty = true;
	*gpuInstance = (nvmlGpuInstance_t)&h_gi[h->gpu][id];
	return leave(&c, NVML_SUCCESS);
}
#endif

nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
	const struct fk_handle *h = handle(gpuInstance, K(H_GI));
	struct call c;
	struct fk_gi *gi;

	ENTER(&c, true);
	if ((gi = gi_of(&c, h)) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned i = 0; i < FK_MAX_CI; i++)
		if (gi->ci[i].live) {
			c.st.violations++;
			c.dirty = true;
			return leave(&c, NVML_ERROR_IN_USE);
		}
	gi->live = false;
	c.dirty = true;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstances,
				       unsigned int *count)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;
	unsigned n = 0;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || count == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (g->mig_current != NVML_DEVICE_MIG_ENABLE)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	if (mig_profile_by_nvml_id(fk_model(g), profileId) < 0)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned id = 1; id < FK_MAX_GI; id++)
		n += g->gi[id].live && g->gi[id].profile_id == profileId;
	if (n > *count || (n > 0 && gpuInstances == NULL)) {
		*count = n;
		return leave(&c, NVML_ERROR_INSUFFICIENT_SIZE);
	}
	n = 0;
	for (unsigned id = 1; id < FK_MAX_GI; id++)
		if (g->gi[id].live && g->gi[id].profile_id == profileId)
			gpuInstances[n++] = (nvmlGpuInstance_t)&h_gi[h->gpu][id];
	*count = n;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || gpuInstance == NULL || id == 0 || id >= FK_MAX_GI)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (g->mig_current != NVML_DEVICE_MIG_ENABLE)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	if (!g->gi[id].live)
		return leave(&c, NVML_ERROR_NOT_FOUND);
	*gpuInstance = (nvmlGpuInstance_t)&h_gi[h->gpu][id];
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
	const struct fk_handle *h = handle(gpuInstance, K(H_GI));
	struct call c;
	struct fk_gi *gi;

	ENTER(&c, true);
	if ((gi = gi_of(&c, h)) == NULL || info == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	info->device = (nvmlDevice_t)&h_gpu[h->gpu];
	info->id = h->gi;
	info->profileId = gi->profile_id;
	info->placement.start = gi->start;
	info->placement.size = gi->size;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(nvmlGpuInstance_t gpuInstance, unsigned int profile,
							   unsigned int engProfile,
							   nvmlComputeInstanceProfileInfo_v2_t *info)
{
	const struct fk_handle *h = handle(gpuInstance, K(H_GI));
	struct fk_ci_profile cps[FK_MAX_CI + 2];
	struct call c;
	struct fk_gi *gi;
	const struct mig_model *m;
	const struct mig_profile *p;
	unsigned n;

	ENTER(&c, true);
	if ((gi = gi_of(&c, h)) == NULL || info == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (info->version != KERF_NVML_CI_PROFILE_INFO_V2)
		return leave(&c, NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
	if (profile > NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1 + 1 || engProfile != 0)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	m = fk_model(&c.st.gpu[h->gpu]);
	p = gi_profile(m, gi);
	n = fk_ci_profiles(m, p, cps, FK_MAX_CI + 2);
	for (unsigned i = 0; i < n; i++) {
		if (cps[i].id != profile)
			continue;
		memset(info, 0, sizeof(*info));
		info->version = KERF_NVML_CI_PROFILE_INFO_V2;
		info->id = cps[i].id;
		info->sliceCount = cps[i].slices;
		info->instanceCount = p->compute_slices / cps[i].slices;
		info->multiprocessorCount = cps[i].sms;
		info->sharedCopyEngineCount = p->compute_slices;
		if (cps[i].slices == p->compute_slices)
			snprintf(info->name, sizeof(info->name), "MIG %s", p->name);
		else
			snprintf(info->name, sizeof(info->name), "MIG %uc.%s", cps[i].slices, p->name);
		return leave(&c, NVML_SUCCESS);
	}
	return leave(&c, NVML_ERROR_NOT_SUPPORTED);
}

nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
						  nvmlComputeInstance_t *computeInstance)
{
	const struct fk_handle *h = handle(gpuInstance, K(H_GI));
	struct call c;
	struct kerf_err err;
	unsigned id;

	ENTER(&c, true);
	if (gi_of(&c, h) == NULL || computeInstance == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (fk_create_ci(&c.st, h->gpu, h->gi, profileId, &id, &err) != 0)
		return leave(&c, err.code == KERF_EUNSUPPORTED ? NVML_ERROR_NOT_SUPPORTED
			       : err.code == KERF_ECONFLICT	  ? NVML_ERROR_INSUFFICIENT_RESOURCES
								  : NVML_ERROR_INVALID_ARGUMENT);
	c.dirty = true;
	*computeInstance = (nvmlComputeInstance_t)&h_ci[h->gpu][h->gi][id];
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
	const struct fk_handle *h = handle(computeInstance, K(H_CI));
	struct call c;
	struct fk_ci *ci;

	ENTER(&c, true);
	if ((ci = ci_of(&c, h)) == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	c.dirty = true;
	if (ci->pid != 0) {
		c.st.violations++;
		return leave(&c, NVML_ERROR_IN_USE);
	}
	ci->live = false;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
						nvmlComputeInstance_t *computeInstances, unsigned int *count)
{
	const struct fk_handle *h = handle(gpuInstance, K(H_GI));
	struct call c;
	struct fk_gi *gi;
	unsigned n = 0;

	ENTER(&c, true);
	if ((gi = gi_of(&c, h)) == NULL || count == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned i = 0; i < FK_MAX_CI; i++)
		n += gi->ci[i].live && gi->ci[i].profile_id == profileId;
	if (n > *count || (n > 0 && computeInstances == NULL)) {
		*count = n;
		return leave(&c, NVML_ERROR_INSUFFICIENT_SIZE);
	}
	n = 0;
	for (unsigned i = 0; i < FK_MAX_CI; i++)
		if (gi->ci[i].live && gi->ci[i].profile_id == profileId)
			computeInstances[n++] = (nvmlComputeInstance_t)&h_ci[h->gpu][h->gi][i];
	*count = n;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t *info)
{
	const struct fk_handle *h = handle(computeInstance, K(H_CI));
	struct call c;
	struct fk_ci *ci;

	ENTER(&c, true);
	if ((ci = ci_of(&c, h)) == NULL || info == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	info->device = (nvmlDevice_t)&h_mig[h->gpu][h->gi][h->ci];
	info->gpuInstance = (nvmlGpuInstance_t)&h_gi[h->gpu][h->gi];
	info->id = h->ci;
	info->profileId = ci->profile_id;
	info->placement.start = ci->start;
	info->placement.size = ci->size;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || count == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	*count = g->mig_current == NVML_DEVICE_MIG_ENABLE ? fk_model(g)->compute_slices : 0;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice)
{
	const struct fk_handle *h = handle(device, K(H_GPU));
	struct call c;
	struct fk_gpu *g;
	unsigned k = 0;

	ENTER(&c, true);
	if ((g = gpu_of(&c, h)) == NULL || migDevice == NULL)
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		for (unsigned ci = 0; ci < FK_MAX_CI && g->gi[id].live; ci++) {
			if (!g->gi[id].ci[ci].live || k++ != index)
				continue;
			*migDevice = (nvmlDevice_t)&h_mig[h->gpu][id][ci];
			return leave(&c, NVML_SUCCESS);
		}
	}
	return leave(&c, NVML_ERROR_NOT_FOUND);
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	struct call c;

	ENTER(&c, true);
	if (h == NULL || id == NULL || (h->kind == H_MIG && ci_of(&c, h) == NULL))
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (h->kind == H_GPU)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	*id = h->gi;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	struct call c;

	ENTER(&c, true);
	if (h == NULL || id == NULL || (h->kind == H_MIG && ci_of(&c, h) == NULL))
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	if (h->kind == H_GPU)
		return leave(&c, NVML_ERROR_NOT_SUPPORTED);
	*id = h->ci;
	return leave(&c, NVML_SUCCESS);
}

/* The processes of one kind (FK_PROC_*) on a GPU, or on one of its MIG devices, as NVML's three lists give them. */
static nvmlReturn_t running_processes(const char *func, unsigned kind, nvmlDevice_t device, unsigned int *infoCount,
				      nvmlProcessInfo_t *infos)
{
	const struct fk_handle *h = handle(device, K(H_GPU) | K(H_MIG));
	nvmlProcessInfo_t found[FK_MAX_GI * FK_MAX_CI];
	struct call c;
	struct fk_gpu *g;
	nvmlReturn_t rc;
	unsigned n = 0;

	if ((rc = enter(&c, func, true)) != NVML_SUCCESS)
		return rc;
	if ((g = gpu_of(&c, h)) == NULL || infoCount == NULL || (h->kind == H_MIG && ci_of(&c, h) == NULL))
		return leave(&c, NVML_ERROR_INVALID_ARGUMENT);
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		for (unsigned ci = 0; ci < FK_MAX_CI && g->gi[id].live; ci++) {
			const struct fk_ci *x = &g->gi[id].ci[ci];

			if (!x->live || x->pid == 0 || x->pid_kind != kind || (h->kind == H_MIG && (h->gi != id || h->ci != ci)))
				continue;
			found[n++] = (nvmlProcessInfo_t){ x->pid, 1ull << 30, id, ci };
		}
	}
	if (n > *infoCount || (n > 0 && infos == NULL)) {
		*infoCount = n;
		return leave(&c, NVML_ERROR_INSUFFICIENT_SIZE);
	}
	if (n > 0)
		memcpy(infos, found, n * sizeof(found[0]));
	*infoCount = n;
	return leave(&c, NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
						     nvmlProcessInfo_t *infos)
{
	return running_processes(__func__, FK_PROC_COMPUTE, device, infoCount, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
						      nvmlProcessInfo_t *infos)
{
	return running_processes(__func__, FK_PROC_GRAPHICS, device, infoCount, infos);
}

nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
							nvmlProcessInfo_t *infos)
{
	return running_processes(__func__, FK_PROC_MPS, device, infoCount, infos);
}
