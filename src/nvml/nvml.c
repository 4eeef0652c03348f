/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvml.c — loading libnvidia-ml.so.1, reading MIG state, creating and destroying instances.
 *
 * Every failed NVML call goes through nverr(), which turns it into a kerf error that names the GPU, the
 * call and what it means. Handles are re-resolved from IDs for every operation (device by index, GI by
 * enumeration, CI by enumeration): the MIG hierarchy changes under long-lived handles, and a stale one is
 * the kind of bug that destroys the wrong instance.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml.h"
#include "nvml_abi.h"

#define MAX_PROFILE_INDEX 64    /* stop walking GI profile indices here even if NVML never says INVALID */
#define MAX_CI_PROFILE_INDEX 32
#define MAX_CI_PROFILES 12
#define MAX_GPUS 64

struct ci_profile {
	unsigned id, slices, sms;
};

struct ci_cache {
	bool known;
	unsigned n;
	struct ci_profile p[MAX_CI_PROFILES];
};

struct nvml {
	void *dl;
	char path[512];
#define MEMBER(name, ret, params) ret(*name) params;
	KERF_NVML_SYMBOLS(MEMBER)
#undef MEMBER
	/* Compute-instance profiles per (GPU, GI profile ID): fixed for the life of a MIG mode, and only
	 * readable from an existing GI, so they are learnt on first sight. Indexed by GPU, then by slot. */
	struct {
		unsigned gi_profile_id;
		struct ci_cache c;
	} ci[MAX_GPUS][MIG_MAX_PROFILES];
};

/* First driver release that has each symbol kerf needs (nvml.h history in NVIDIA/go-nvml), for the
 * "driver too old" sentence. Symbols not listed date from R450, the first MIG driver. */
static const struct {
	const char *symbol, *release;
} since[] = {
	{ "nvmlDeviceCreateGpuInstanceWithPlacement", "R460" },
	{ "nvmlDeviceGetGpuInstancePossiblePlacements_v2", "R470" },
	{ "nvmlDeviceGetGpuInstanceProfileInfoV", "R510" },
	{ "nvmlGpuInstanceGetComputeInstanceProfileInfoV", "R510" },
	{ "nvmlDeviceGetComputeRunningProcesses_v3", "R510" },
	{ "nvmlDeviceGetGraphicsRunningProcesses_v3", "R510" },
	{ "nvmlDeviceGetMPSComputeRunningProcesses_v3", "R510" },
};

enum kerf_errcode nvml_errcode(int rc, const char **sentence)
{
	static const struct {
		int rc;
		enum kerf_errcode code;
		const char *text;
	} map[] = {
		{ NVML_ERROR_IN_USE, KERF_EBUSY, "instance busy (a process, a compute instance or another client holds it)" },
		{ NVML_ERROR_INSUFFICIENT_RESOURCES, KERF_ECONFLICT, "placement occupied (or a per-GPU limit reached)" },
		{ NVML_ERROR_NO_PERMISSION, KERF_EPERM,
		  "no permission to the MIG config capability (/proc/driver/nvidia/capabilities/mig/config): run as "
		  "root or grant read access to it" },
		{ NVML_ERROR_NOT_SUPPORTED, KERF_EUNSUPPORTED, "not supported (MIG disabled, or the GPU or driver lacks it)" },
		{ NVML_ERROR_DRIVER_NOT_LOADED, KERF_EIO, "the NVIDIA driver is not loaded" },
		{ NVML_ERROR_INVALID_ARGUMENT, KERF_EINVAL, "invalid argument (an illegal placement or a stale handle)" },
		{ NVML_ERROR_NOT_FOUND, KERF_ENOTFOUND, "not found" },
		{ NVML_ERROR_GPU_IS_LOST, KERF_EIO, "the GPU is lost (it fell off the bus or needs a reset)" },
		{ NVML_ERROR_TIMEOUT, KERF_ETIMEOUT, "the driver timed out" },
		{ NVML_ERROR_UNINITIALIZED, KERF_EINTERNAL, "NVML is not initialised" },
		{ NVML_ERROR_ARGUMENT_VERSION_MISMATCH, KERF_EUNSUPPORTED, "the driver does not know this struct version" },
		{ NVML_ERROR_INSUFFICIENT_SIZE, KERF_EINTERNAL, "a buffer was too small" },
		{ NVML_ERROR_RESET_REQUIRED, KERF_EIO, "the GPU needs a reset" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].rc == rc) {
			if (sentence != NULL)
				*sentence = map[i].text;
			return map[i].code;
		}
	if (sentence != NULL)
		*sentence = "the driver failed";
	return KERF_EIO;
}

static int nverr(struct nvml *nv, struct kerf_err *err, nvmlReturn_t rc, unsigned gpu, const char *call,
		 const char *what)
{
	const char *sentence;
	enum kerf_errcode code = nvml_errcode(rc, &sentence);

	return kerf_err_set(err, code, "gpu %u: %s(%s): %s (NVML %d, %s)", gpu, call, what, sentence, (int)rc,
			    nv->nvmlErrorString ? nv->nvmlErrorString(rc) : "?");
}

/* ---- open / close ------------------------------------------------------------------------------------ */

static int resolve(struct nvml *nv, struct kerf_err *err)
{
	void *sym;

#define RESOLVE(name, ret, params)                                                                             \
	sym = dlsym(nv->dl, #name);                                                                            \
	if (sym == NULL) {                                                                                     \
		const char *rel = "R450";                                                                      \
		for (size_t i = 0; i < sizeof(since) / sizeof(since[0]); i++)                                  \
			if (strcmp(since[i].symbol, #name) == 0)                                               \
				rel = since[i].release;                                                        \
		return kerf_err_set(err, KERF_EUNSUPPORTED,                                                    \
				    "%s has no %s: the NVIDIA driver is too old for kerf (%s arrived in %s; kerf " \
				    "needs R510 or newer for the MIG placement API)",                             \
				    nv->path, #name, #name, rel);                                                  \
	}                                                                                                      \
	memcpy(&nv->name, &sym, sizeof(sym));
	KERF_NVML_SYMBOLS(RESOLVE)
#undef RESOLVE
	return 0;
}

struct nvml *nvml_open(const char *library, struct kerf_err *err)
{
	struct nvml *nv;
	nvmlReturn_t rc;

	if (library == NULL || library[0] == '\0')
		library = getenv(NVML_LIBRARY_ENV);
	if (library == NULL || library[0] == '\0')
		library = NVML_LIBRARY_DEFAULT;
	nv = calloc(1, sizeof(*nv));
	if (nv == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory opening NVML");
		return NULL;
	}
	snprintf(nv->path, sizeof(nv->path), "%s", library);
	nv->dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
	if (nv->dl == NULL) {
		kerf_err_set(err, KERF_EUNSUPPORTED,
			     "cannot load %s (%s): the NVIDIA driver is not installed here; set " NVML_LIBRARY_ENV
			     " to the library's path if it is elsewhere",
			     library, dlerror());
		goto fail;
	}
	if (resolve(nv, err) != 0)
		goto fail;
	rc = nv->nvmlInit_v2();
	if (rc != NVML_SUCCESS) {
		const char *sentence;
		enum kerf_errcode code = nvml_errcode(rc, &sentence);

		kerf_err_set(err, code, "%s: nvmlInit_v2: %s (NVML %d, %s)", nv->path,
			     rc == NVML_ERROR_DRIVER_NOT_LOADED ? "the NVIDIA driver is not loaded (is the kernel module in?)"
			     : rc == NVML_ERROR_NO_PERMISSION    ? "no permission to open the GPUs (/dev/nvidia*)"
								 : sentence,
			     (int)rc, nv->nvmlErrorString(rc));
		goto fail;
	}
	return nv;
fail:
	if (nv->dl != NULL)
		dlclose(nv->dl);
	free(nv);
	return NULL;
}

void nvml_close(struct nvml *nv)
{
	if (nv == NULL)
		return;
	nv->nvmlShutdown();
	dlclose(nv->dl);
	free(nv);
}

const char *nvml_library(const struct nvml *nv)
{
	return nv->path;
}

int nvml_gpu_count(struct nvml *nv, unsigned *count, struct kerf_err *err)
{
	nvmlReturn_t rc = nv->nvmlDeviceGetCount_v2(count);
	const char *sentence;
	enum kerf_errcode code;

	if (rc == NVML_SUCCESS)
		return 0;
	code = nvml_errcode(rc, &sentence);
	return kerf_err_set(err, code, "nvmlDeviceGetCount_v2: %s (NVML %d, %s)", sentence, (int)rc,
			    nv->nvmlErrorString(rc));
}

static int device(struct nvml *nv, unsigned index, nvmlDevice_t *dev, struct kerf_err *err)
{
	nvmlReturn_t rc = nv->nvmlDeviceGetHandleByIndex_v2(index, dev);

	return rc == NVML_SUCCESS ? 0 : nverr(nv, err, rc, index, "nvmlDeviceGetHandleByIndex_v2", "");
}

/* ---- the run-time model ------------------------------------------------------------------------------ */

static unsigned flags_of_index(unsigned index)
{
	switch (index) {
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_REV1: return MIG_PF_ME;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_ALL_ME:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_ALL_ME: return MIG_PF_ALL_ME;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_NO_ME:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_NO_ME: return MIG_PF_NO_ME;
	case NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_2_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_4_SLICE_GFX:
	case NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX: return MIG_PF_GFX;
	default: return 0;
	}
}

static int read_placements(struct nvml *nv, nvmlDevice_t dev, unsigned gpu, struct mig_profile *p,
			   struct kerf_err *err)
{
	nvmlGpuInstancePlacement_t pl[MIG_MAX_STARTS];
	unsigned count = MIG_MAX_STARTS;
	nvmlReturn_t rc = nv->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, p->nvml_id, pl, &count);
	char what[64];

	snprintf(what, sizeof(what), "profile %s", p->name);
	if (rc != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu, "nvmlDeviceGetGpuInstancePossiblePlacements_v2", what);
	if (count == 0 || count > MIG_MAX_STARTS)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "gpu %u: profile %s: NVML lists %u placements", gpu, p->name,
				    count);
	p->n_starts = 0;
	p->memory_slices = pl[0].size;
	for (unsigned i = 0; i < count; i++) {
		unsigned k = p->n_starts;

		if (pl[i].size != p->memory_slices || pl[i].start >= MIG_MAX_SLOTS)
			return kerf_err_set(err, KERF_EUNSUPPORTED,
					    "gpu %u: profile %s: placements of sizes %u and %u (kerf assumes one size)",
					    gpu, p->name, p->memory_slices, pl[i].size);
		/* insertion sort: mig_model_validate wants starts ascending */
		while (k > 0 && p->starts[k - 1] > pl[i].start) {
			p->starts[k] = p->starts[k - 1];
			k--;
		}
		p->starts[k] = (uint8_t)pl[i].start;
		p->n_starts++;
	}
	return 0;
}

static int cmp_profile(const void *a, const void *b)
{
	const struct mig_profile *x = a, *y = b;

	if (x->compute_slices != y->compute_slices)
		return x->compute_slices < y->compute_slices ? -1 : 1;
	if (x->memory_slices != y->memory_slices)
		return x->memory_slices < y->memory_slices ? -1 : 1;
	return x->nvml_index < y->nvml_index ? -1 : x->nvml_index > y->nvml_index;
}

static int read_profile(struct nvml *nv, nvmlDevice_t dev, unsigned gpu, unsigned index,
			const nvmlGpuInstanceProfileInfo_v2_t *info, struct mig_model *m, struct kerf_err *err)
{
	struct mig_profile *p;
	const char *name = info->name;

	if (m->n_profiles == MIG_MAX_PROFILES)
		return kerf_err_set(err, KERF_ENOMEM, "gpu %u: more than %d MIG profiles", gpu, MIG_MAX_PROFILES);
	p = &m->profiles[m->n_profiles];
	memset(p, 0, sizeof(*p));
	if (strncmp(name, "MIG ", 4) == 0)
		name += 4;
	snprintf(p->name, sizeof(p->name), "%.*s", (int)strnlen(name, sizeof(info->name) - 4), name);
	p->nvml_id = info->id;
	p->nvml_index = index;
	p->compute_slices = info->sliceCount;
	p->max_instances = info->instanceCount;
	p->flags = flags_of_index(index);
	p->memory_mb = info->memorySizeMB;
	p->multiprocessors = info->multiprocessorCount;
	if (read_placements(nv, dev, gpu, p, err) != 0)
		return -1;
	if (p->starts[p->n_starts - 1] + p->memory_slices > m->slots)
		m->slots = p->starts[p->n_starts - 1] + p->memory_slices;
	if (p->compute_slices > m->compute_slices)
		m->compute_slices = p->compute_slices;
	if (p->max_instances > m->max_instances)
		m->max_instances = p->max_instances;
	m->n_profiles++;
	return 0;
}

/* Walks GI profile indices from 0: NOT_SUPPORTED = this GPU lacks it, INVALID_ARGUMENT = past the last
 * index this driver knows (nvml.h documents this as the forward-compatible enumeration). */
static int read_model(struct nvml *nv, nvmlDevice_t dev, struct nvml_gpu *gpu, struct kerf_err *err)
{
	struct mig_model *m = &gpu->model;

	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", gpu->builtin ? gpu->builtin->name : gpu->name);
	snprintf(m->aliases[0], sizeof(m->aliases[0]), "%s", gpu->name);
	m->n_aliases = 1;
	snprintf(m->provenance, sizeof(m->provenance), "nvml");
	for (unsigned index = 0; index < MAX_PROFILE_INDEX; index++) {
		nvmlGpuInstanceProfileInfo_v2_t info;
		nvmlReturn_t rc;
		char what[32];

		memset(&info, 0, sizeof(info));
		info.version = KERF_NVML_GI_PROFILE_INFO_V2;
		rc = nv->nvmlDeviceGetGpuInstanceProfileInfoV(dev, index, &info);
		if (rc == NVML_ERROR_INVALID_ARGUMENT)
			break;
		if (rc == NVML_ERROR_NOT_SUPPORTED)
			continue;
		snprintf(what, sizeof(what), "profile index %u", index);
		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetGpuInstanceProfileInfoV", what);
		if (read_profile(nv, dev, gpu->index, index, &info, m, err) != 0)
			return -1;
	}
	qsort(m->profiles, m->n_profiles, sizeof(m->profiles[0]), cmp_profile);
	if (mig_model_validate(m, err) != 0)
		return kerf_err_prefix(err, "gpu %u: the MIG profiles NVML reports do not make a valid model", gpu->index);
	gpu->model_from_nvml = true;
	return 0;
}

/* ---- compute-instance profiles ----------------------------------------------------------------------- */

static struct ci_cache *ci_cache_slot(struct nvml *nv, unsigned gpu, unsigned gi_profile_id)
{
	if (gpu >= MAX_GPUS)
		return NULL;
	for (unsigned i = 0; i < MIG_MAX_PROFILES; i++) {
		if (nv->ci[gpu][i].c.known && nv->ci[gpu][i].gi_profile_id == gi_profile_id)
			return &nv->ci[gpu][i].c;
		if (!nv->ci[gpu][i].c.known) {
			nv->ci[gpu][i].gi_profile_id = gi_profile_id;
			return &nv->ci[gpu][i].c;
		}
	}
	return NULL;
}

static int ci_profiles(struct nvml *nv, unsigned gpu, nvmlGpuInstance_t gi, unsigned gi_profile_id,
		       const struct ci_cache **out, struct kerf_err *err)
{
	struct ci_cache *c = ci_cache_slot(nv, gpu, gi_profile_id);

	if (c == NULL)
		return kerf_err_set(err, KERF_EINTERNAL, "gpu %u: compute-profile cache full", gpu);
	if (c->known) {
		*out = c;
		return 0;
	}
	c->n = 0;
	for (unsigned index = 0; index < MAX_CI_PROFILE_INDEX; index++) {
		nvmlComputeInstanceProfileInfo_v2_t info;
		nvmlReturn_t rc;

		memset(&info, 0, sizeof(info));
		info.version = KERF_NVML_CI_PROFILE_INFO_V2;
		rc = nv->nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi, index,
									NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &info);
		if (rc == NVML_ERROR_INVALID_ARGUMENT)
			break;
		if (rc == NVML_ERROR_NOT_SUPPORTED)
			continue;
		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu, "nvmlGpuInstanceGetComputeInstanceProfileInfoV", "");
		if (c->n == MAX_CI_PROFILES)
			break;
		c->p[c->n++] = (struct ci_profile){ info.id, info.sliceCount, info.multiprocessorCount };
	}
	/* Every GPU instance has compute-instance profiles (its full-size one at least). None read means NVML did
	 * not answer (a stale handle answers INVALID_ARGUMENT), not "no compute instances": kept as that, every
	 * instance of this profile would read as free for the life of the process. Not cached; cannot tell. */
	if (c->n == 0)
		return kerf_err_set(err, KERF_EIO,
				    "gpu %u: no compute-instance profile could be read for GPU-instance profile %u, so its "
				    "compute instances cannot be told",
				    gpu, gi_profile_id);
	c->known = true;
	*out = c;
	return 0;
}

/* ---- instances --------------------------------------------------------------------------------------- */

/*
 * Calls fn for every compute instance of GPU instance gi (GPU-instance profile gi_profile_id), profile by
 * profile: the one walk both reading and destroying make. Stops at the first failure, of NVML or of fn.
 */
static int each_ci(struct nvml *nv, unsigned gpu, nvmlGpuInstance_t gi, unsigned gi_profile_id,
		   int (*fn)(struct nvml *nv, unsigned gpu, nvmlComputeInstance_t ci, void *arg, struct kerf_err *err),
		   void *arg, struct kerf_err *err)
{
	const struct ci_cache *cp;

	if (ci_profiles(nv, gpu, gi, gi_profile_id, &cp, err) != 0)
		return -1;
	for (unsigned k = 0; k < cp->n; k++) {
		nvmlComputeInstance_t cis[NVML_MAX_CI];
		unsigned count = NVML_MAX_CI;
		nvmlReturn_t rc = nv->nvmlGpuInstanceGetComputeInstances(gi, cp->p[k].id, cis, &count);

		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu, "nvmlGpuInstanceGetComputeInstances", "");
		for (unsigned i = 0; i < count; i++)
			if (fn(nv, gpu, cis[i], arg, err) != 0)
				return -1;
	}
	return 0;
}

/* each_ci's fn for reading: appends ci to the instance (arg), up to NVML_MAX_CI; those beyond are not read. */
static int read_ci(struct nvml *nv, unsigned gpu, nvmlComputeInstance_t handle, void *arg, struct kerf_err *err)
{
	struct nvml_instance *in = arg;
	nvmlComputeInstanceInfo_t info;
	struct nvml_ci *ci;
	nvmlReturn_t rc;

	if (in->n_ci >= NVML_MAX_CI)
		return 0;
	if ((rc = nv->nvmlComputeInstanceGetInfo_v2(handle, &info)) != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu, "nvmlComputeInstanceGetInfo_v2", "");
	ci = &in->ci[in->n_ci++];
	memset(ci, 0, sizeof(*ci));
	ci->id = info.id;
	ci->profile_id = info.profileId;
	ci->slices = info.placement.size;
	return 0;
}

static int read_cis(struct nvml *nv, unsigned gpu, nvmlGpuInstance_t gi, struct nvml_instance *in,
		    struct kerf_err *err)
{
	in->n_ci = 0;
	return each_ci(nv, gpu, gi, in->profile_id, read_ci, in, err);
}

static int cmp_instance(const void *a, const void *b)
{
	const struct nvml_instance *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static struct nvml_ci *find_ci(struct nvml_gpu *gpu, unsigned gi_id, unsigned ci_id)
{
	for (unsigned i = 0; i < gpu->n_instances; i++)
		for (unsigned c = 0; gpu->inst[i].gi_id == gi_id && c < gpu->inst[i].n_ci; c++)
			if (gpu->inst[i].ci[c].id == ci_id)
				return &gpu->inst[i].ci[c];
	return NULL;
}

static struct nvml_instance *find_gi(struct nvml_gpu *gpu, unsigned gi_id)
{
	for (unsigned i = 0; i < gpu->n_instances; i++)
		if (gpu->inst[i].gi_id == gi_id)
			return &gpu->inst[i];
	return NULL;
}

/*
 * The processes on a MIG device: compute, graphics (the +gfx profiles of graphics-capable GPUs) and MPS
 * clients are three lists in NVML, and a process on any of them makes the device used. Each is asked with room
 * for none: SUCCESS means none, INSUFFICIENT_SIZE gives how many. NOT_SUPPORTED (graphics on a compute-only
 * GPU, MPS where it cannot run) means that list cannot hold any; any other error is "cannot tell".
 */
static int process_count(struct nvml *nv, unsigned gpu, nvmlDevice_t mig, unsigned *count, struct kerf_err *err)
{
	static const char *const names[] = {"nvmlDeviceGetComputeRunningProcesses_v3",
					    "nvmlDeviceGetGraphicsRunningProcesses_v3",
					    "nvmlDeviceGetMPSComputeRunningProcesses_v3"};
	nvmlReturn_t (*const list[])(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *) = {
		nv->nvmlDeviceGetComputeRunningProcesses_v3, nv->nvmlDeviceGetGraphicsRunningProcesses_v3,
		nv->nvmlDeviceGetMPSComputeRunningProcesses_v3};

	*count = 0;
	for (unsigned k = 0; k < 3; k++) {
		nvmlProcessInfo_t infos[1];
		unsigned n = 0;
		nvmlReturn_t rc = list[k](mig, &n, infos);

		if (rc == NVML_ERROR_NOT_SUPPORTED && k > 0)
			continue;
		if (rc != NVML_SUCCESS && rc != NVML_ERROR_INSUFFICIENT_SIZE)
			return nverr(nv, err, rc, gpu, names[k], "MIG device");
		*count += rc == NVML_SUCCESS ? 0 : (n ? n : 1);
	}
	return 0;
}

/* MIG devices (one per CI): UUIDs and processes. NVML lists them by index on the parent device; an index
 * without a device answers NOT_FOUND and is skipped. */
static int read_mig_devices(struct nvml *nv, nvmlDevice_t dev, struct nvml_gpu *gpu, struct kerf_err *err)
{
	unsigned max = 0;
	nvmlReturn_t rc = nv->nvmlDeviceGetMaxMigDeviceCount(dev, &max);

	if (rc != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetMaxMigDeviceCount", "");
	for (unsigned i = 0; i < max; i++) {
		nvmlDevice_t mig;
		unsigned gi_id, ci_id;
		struct nvml_ci *ci;
		char uuid[NVML_UUID_MAX];

		rc = nv->nvmlDeviceGetMigDeviceHandleByIndex(dev, i, &mig);
		if (rc == NVML_ERROR_NOT_FOUND)
			continue;
		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetMigDeviceHandleByIndex", "");
		if ((rc = nv->nvmlDeviceGetGpuInstanceId(mig, &gi_id)) != NVML_SUCCESS ||
		    (rc = nv->nvmlDeviceGetComputeInstanceId(mig, &ci_id)) != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu->index, "nvmlDeviceGet{Gpu,Compute}InstanceId", "MIG device");
		/* A MIG device whose compute instance the per-profile listing did not show (made between the two
		 * reads, or a listing NVML answered wrongly) exists all the same: it joins its GPU instance's
		 * compute instances, with its UUID and processes, so that instance is not taken for free. */
		if ((ci = find_ci(gpu, gi_id, ci_id)) == NULL) {
			struct nvml_instance *in = find_gi(gpu, gi_id);

			if (in == NULL)
				continue; /* its GPU instance too was made after our read: the next read sees both */
			if (in->n_ci == NVML_MAX_CI)
				return kerf_err_set(err, KERF_EINTERNAL, "gpu %u: GPU instance %u has more than %d compute instances",
						    gpu->index, gi_id, NVML_MAX_CI);
			ci = &in->ci[in->n_ci++];
			memset(ci, 0, sizeof(*ci));
			ci->id = ci_id;
			ci->profile_id = NVML_CI_PROFILE_UNKNOWN;
		}
		if ((rc = nv->nvmlDeviceGetUUID(mig, uuid, sizeof(uuid))) != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetUUID", "MIG device");
		snprintf(ci->uuid, sizeof(ci->uuid), "%s", uuid);
		if (process_count(nv, gpu->index, mig, &ci->processes, err) != 0)
			return -1;
	}
	return 0;
}

static int read_instances(struct nvml *nv, nvmlDevice_t dev, struct nvml_gpu *gpu, struct kerf_err *err)
{
	gpu->n_instances = 0;
	if (gpu->mig_current != NVML_DEVICE_MIG_ENABLE)
		return 0;
	for (unsigned p = 0; p < gpu->model.n_profiles; p++) {
		nvmlGpuInstance_t gis[MIG_MAX_INSTANCES];
		unsigned count = MIG_MAX_INSTANCES;
		nvmlReturn_t rc = nv->nvmlDeviceGetGpuInstances(dev, gpu->model.profiles[p].nvml_id, gis, &count);

		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetGpuInstances", gpu->model.profiles[p].name);
		for (unsigned i = 0; i < count; i++) {
			nvmlGpuInstanceInfo_t info;
			struct nvml_instance *in;

			if (gpu->n_instances == MIG_MAX_INSTANCES)
				return kerf_err_set(err, KERF_EINTERNAL, "gpu %u: more than %d GPU instances", gpu->index,
						    MIG_MAX_INSTANCES);
			rc = nv->nvmlGpuInstanceGetInfo(gis[i], &info);
			if (rc != NVML_SUCCESS)
				return nverr(nv, err, rc, gpu->index, "nvmlGpuInstanceGetInfo", "");
			in = &gpu->inst[gpu->n_instances];
			memset(in, 0, sizeof(*in));
			in->gi_id = info.id;
			in->profile_id = info.profileId;
			in->profile = mig_profile_by_nvml_id(&gpu->model, info.profileId);
			in->start = info.placement.start;
			in->size = info.placement.size;
			if (read_cis(nv, gpu->index, gis[i], in, err) != 0)
				return -1;
			gpu->n_instances++;
		}
	}
	qsort(gpu->inst, gpu->n_instances, sizeof(gpu->inst[0]), cmp_instance);
	return read_mig_devices(nv, dev, gpu, err);
}

int nvml_read_instances(struct nvml *nv, struct nvml_gpu *gpu, struct kerf_err *err)
{
	nvmlDevice_t dev;
	nvmlReturn_t rc;

	if (device(nv, gpu->index, &dev, err) != 0)
		return -1;
	rc = nv->nvmlDeviceGetMigMode(dev, &gpu->mig_current, &gpu->mig_pending);
	if (rc != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetMigMode", "");
	return read_instances(nv, dev, gpu, err);
}

int nvml_read_gpu(struct nvml *nv, unsigned index, struct nvml_gpu *gpu, struct kerf_err *err)
{
	nvmlDevice_t dev;
	nvmlMemory_t mem;
	nvmlReturn_t rc;

	memset(gpu, 0, sizeof(*gpu));
	gpu->index = index;
	if (device(nv, index, &dev, err) != 0)
		return -1;
	if ((rc = nv->nvmlDeviceGetName(dev, gpu->name, sizeof(gpu->name))) != NVML_SUCCESS)
		return nverr(nv, err, rc, index, "nvmlDeviceGetName", "");
	if ((rc = nv->nvmlDeviceGetUUID(dev, gpu->uuid, sizeof(gpu->uuid))) != NVML_SUCCESS)
		return nverr(nv, err, rc, index, "nvmlDeviceGetUUID", "");
	if ((rc = nv->nvmlDeviceGetMemoryInfo(dev, &mem)) != NVML_SUCCESS)
		return nverr(nv, err, rc, index, "nvmlDeviceGetMemoryInfo", "");
	gpu->memory_mb = mem.total >> 20;
	/* Only the CDI spec needs it (docs/kubelet.md); a GPU whose minor NVML will not give is still managed,
	 * and its devices stay out of the spec. */
	if (nv->nvmlDeviceGetMinorNumber(dev, &gpu->minor) != NVML_SUCCESS)
		gpu->minor = NVML_MINOR_UNKNOWN;
	rc = nv->nvmlDeviceGetMigMode(dev, &gpu->mig_current, &gpu->mig_pending);
	if (rc == NVML_ERROR_NOT_SUPPORTED)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "gpu %u: %s does not support MIG", index, gpu->name);
	if (rc != NVML_SUCCESS)
		return nverr(nv, err, rc, index, "nvmlDeviceGetMigMode", "");
	gpu->builtin = mig_catalog_find(mig_catalog_builtin(), gpu->name, NULL);
	if (gpu->mig_current == NVML_DEVICE_MIG_ENABLE) {
		if (read_model(nv, dev, gpu, err) != 0)
			return -1;
	} else if (gpu->builtin != NULL) {
		gpu->model = *gpu->builtin; /* NVML lists no profiles with MIG off; show the table's */
	} else {
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "gpu %u: MIG is disabled on GPU %u and its model \"%s\" is not in kerf's built-in "
				    "catalog (enable MIG: nvidia-smi -i %u -mig 1)",
				    index, index, gpu->name, index);
	}
	return read_instances(nv, dev, gpu, err);
}

bool nvml_instance_busy(const struct nvml_instance *in)
{
	for (unsigned c = 0; c < in->n_ci; c++)
		if (in->ci[c].processes > 0)
			return true;
	return false;
}

bool nvml_instance_whole(const struct nvml_gpu *gpu, const struct nvml_instance *in)
{
	return in->n_ci == 1 && in->profile >= 0 &&
	       in->ci[0].slices == gpu->model.profiles[in->profile].compute_slices;
}

void nvml_gpu_layout(const struct nvml_gpu *gpu, struct mig_layout *l)
{
	l->n = 0;
	for (unsigned i = 0; i < gpu->n_instances; i++) {
		const struct nvml_instance *in = &gpu->inst[i];

		if (in->profile < 0)
			continue;
		l->inst[l->n].profile = (uint8_t)in->profile;
		l->inst[l->n].start = (uint8_t)in->start;
		l->inst[l->n].used = nvml_instance_busy(in) || (in->n_ci > 0 && !nvml_instance_whole(gpu, in));
		l->n++;
	}
}

int nvml_find_instance(const struct nvml_gpu *gpu, unsigned profile, unsigned start)
{
	for (unsigned i = 0; i < gpu->n_instances; i++)
		if (gpu->inst[i].profile == (int)profile && gpu->inst[i].start == start)
			return (int)i;
	return -1;
}

int nvml_mig_processes(struct nvml *nv, unsigned gpu_index, const char *uuid, unsigned *count,
		       struct kerf_err *err)
{
	nvmlDevice_t dev, mig;
	unsigned max = 0;
	nvmlReturn_t rc;

	if (device(nv, gpu_index, &dev, err) != 0)
		return -1;
	if ((rc = nv->nvmlDeviceGetMaxMigDeviceCount(dev, &max)) != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu_index, "nvmlDeviceGetMaxMigDeviceCount", "");
	for (unsigned i = 0; i < max; i++) {
		char u[NVML_UUID_MAX];

		rc = nv->nvmlDeviceGetMigDeviceHandleByIndex(dev, i, &mig);
		if (rc == NVML_ERROR_NOT_FOUND)
			continue;
		if (rc != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu_index, "nvmlDeviceGetMigDeviceHandleByIndex", "");
		if ((rc = nv->nvmlDeviceGetUUID(mig, u, sizeof(u))) != NVML_SUCCESS)
			return nverr(nv, err, rc, gpu_index, "nvmlDeviceGetUUID", "MIG device");
		if (strcmp(u, uuid) == 0)
			return process_count(nv, gpu_index, mig, count, err);
	}
	return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no MIG device %s", gpu_index, uuid);
}

/* ---- changes ----------------------------------------------------------------------------------------- */

static int check_mig_on(const struct nvml_gpu *gpu, struct kerf_err *err)
{
	if (gpu->mig_current != NVML_DEVICE_MIG_ENABLE)
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "gpu %u: MIG is disabled on GPU %u (enable it first: nvidia-smi -i %u -mig 1)",
				    gpu->index, gpu->index, gpu->index);
	if (gpu->mig_pending != gpu->mig_current)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "gpu %u: a MIG mode change is pending on GPU %u (reset it first)",
				    gpu->index, gpu->index);
	return 0;
}

/* The GI handle of ID gi_id, asked for afresh (handles do not survive changes), and its profile ID. */
static int gi_handle(struct nvml *nv, const struct nvml_gpu *gpu, unsigned gi_id, nvmlGpuInstance_t *out,
		     unsigned *profile_id, struct kerf_err *err)
{
	nvmlGpuInstanceInfo_t info;
	nvmlDevice_t dev;
	nvmlReturn_t rc;

	if (device(nv, gpu->index, &dev, err) != 0)
		return -1;
	rc = nv->nvmlDeviceGetGpuInstanceById(dev, gi_id, out);
	if (rc == NVML_ERROR_NOT_FOUND)
		return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no GPU instance %u", gpu->index, gi_id);
	if (rc != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu->index, "nvmlDeviceGetGpuInstanceById", "");
	if ((rc = nv->nvmlGpuInstanceGetInfo(*out, &info)) != NVML_SUCCESS)
		return nverr(nv, err, rc, gpu->index, "nvmlGpuInstanceGetInfo", "");
	*profile_id = info.profileId;
	return 0;
}

/* The compute profile spanning a GI of profile gp: equal SM count first (Hopper's 1g REV2 -> CI REV1),
 * else all of its compute slices. */
static int full_ci_profile(struct nvml *nv, const struct nvml_gpu *gpu, nvmlGpuInstance_t gi,
			   const struct mig_profile *gp, unsigned *id, struct kerf_err *err)
{
	const struct ci_cache *cp;
	int by_slices = -1;

	if (ci_profiles(nv, gpu->index, gi, gp->nvml_id, &cp, err) != 0)
		return -1;
	for (unsigned k = 0; k < cp->n; k++) {
		if (gp->multiprocessors != 0 && cp->p[k].sms == gp->multiprocessors && cp->p[k].slices == gp->compute_slices) {
			*id = cp->p[k].id;
			return 0;
		}
		if (cp->p[k].slices == gp->compute_slices)
			by_slices = (int)k;
	}
	if (by_slices < 0)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "gpu %u: %s offers no compute profile spanning it", gpu->index,
				    gp->name);
	*id = cp->p[by_slices].id;
	return 0;
}

static int make_ci(struct nvml *nv, struct nvml_gpu *gpu, nvmlGpuInstance_t gi, const struct mig_profile *gp,
		   unsigned start, struct kerf_err *err)
{
	nvmlComputeInstance_t ci;
	unsigned ci_profile = 0;
	nvmlReturn_t rc;
	char what[64];

	if (full_ci_profile(nv, gpu, gi, gp, &ci_profile, err) != 0)
		return -1;
	snprintf(what, sizeof(what), "%s@%u, compute profile %u", gp->name, start, ci_profile);
	rc = nv->nvmlGpuInstanceCreateComputeInstance(gi, ci_profile, &ci);
	return rc == NVML_SUCCESS ? 0 : nverr(nv, err, rc, gpu->index, "nvmlGpuInstanceCreateComputeInstance", what);
}

static int reread(struct nvml *nv, struct nvml_gpu *gpu, int rc, struct kerf_err *err)
{
	struct kerf_err e2;

	if (nvml_read_instances(nv, gpu, rc == 0 ? err : &e2) != 0 && rc == 0)
		return -1;
	return rc;
}

int nvml_create(struct nvml *nv, struct nvml_gpu *gpu, unsigned profile, unsigned start, struct kerf_err *err)
{
	const struct mig_profile *gp;
	nvmlGpuInstancePlacement_t pl;
	nvmlGpuInstance_t gi;
	nvmlDevice_t dev;
	nvmlReturn_t rc;
	char what[64];

	if (profile >= gpu->model.n_profiles)
		return kerf_err_set(err, KERF_EINVAL, "gpu %u: profile index %u is not a profile of %s", gpu->index, profile,
				    gpu->model.name);
	gp = &gpu->model.profiles[profile];
	if (check_mig_on(gpu, err) != 0 || device(nv, gpu->index, &dev, err) != 0)
		return -1;
	pl.start = start;
	pl.size = gp->memory_slices;
	snprintf(what, sizeof(what), "%s@%u", gp->name, start);
	rc = nv->nvmlDeviceCreateGpuInstanceWithPlacement(dev, gp->nvml_id, &pl, &gi);
	if (rc != NVML_SUCCESS)
		return reread(nv, gpu, nverr(nv, err, rc, gpu->index, "nvmlDeviceCreateGpuInstanceWithPlacement", what),
			      err);
	if (make_ci(nv, gpu, gi, gp, start, err) != 0) {
		/* Leave no half-made instance behind: a GI without a CI is invisible to pods and wastes slices. */
		rc = nv->nvmlGpuInstanceDestroy(gi);
		if (rc != NVML_SUCCESS)
			kerf_err_prefix(err, "(and destroying the new GPU instance again failed: %s)", nv->nvmlErrorString(rc));
		return reread(nv, gpu, -1, err);
	}
	return reread(nv, gpu, 0, err);
}

int nvml_complete(struct nvml *nv, struct nvml_gpu *gpu, unsigned gi_id, struct kerf_err *err)
{
	nvmlGpuInstance_t gi;
	unsigned profile_id;
	int p;

	if (check_mig_on(gpu, err) != 0 || gi_handle(nv, gpu, gi_id, &gi, &profile_id, err) != 0)
		return -1;
	p = mig_profile_by_nvml_id(&gpu->model, profile_id);
	if (p < 0)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "gpu %u: GPU instance %u has unknown profile ID %u", gpu->index,
				    gi_id, profile_id);
	return reread(nv, gpu, make_ci(nv, gpu, gi, &gpu->model.profiles[p], 0, err), err);
}

static int destroy_ci(struct nvml *nv, unsigned gpu, nvmlComputeInstance_t ci, void *arg, struct kerf_err *err)
{
	nvmlReturn_t rc = nv->nvmlComputeInstanceDestroy(ci);

	(void)arg;
	return rc == NVML_SUCCESS ? 0 : nverr(nv, err, rc, gpu, "nvmlComputeInstanceDestroy", "");
}

static int destroy_cis(struct nvml *nv, const struct nvml_gpu *gpu, nvmlGpuInstance_t gi, unsigned gi_profile_id,
		       struct kerf_err *err)
{
	return each_ci(nv, gpu->index, gi, gi_profile_id, destroy_ci, NULL, err);
}

int nvml_destroy(struct nvml *nv, struct nvml_gpu *gpu, unsigned gi_id, struct kerf_err *err)
{
	nvmlGpuInstance_t gi;
	unsigned profile_id;
	nvmlReturn_t rc;
	char what[32];

	if (check_mig_on(gpu, err) != 0 || gi_handle(nv, gpu, gi_id, &gi, &profile_id, err) != 0)
		return -1;
	if (destroy_cis(nv, gpu, gi, profile_id, err) != 0)
		return reread(nv, gpu, -1, err);
	snprintf(what, sizeof(what), "GPU instance %u", gi_id);
	rc = nv->nvmlGpuInstanceDestroy(gi);
	if (rc != NVML_SUCCESS)
		return reread(nv, gpu, nverr(nv, err, rc, gpu->index, "nvmlGpuInstanceDestroy", what), err);
	return reread(nv, gpu, 0, err);
}

/* ---- catalog ------------------------------------------------------------------------------------------ */

static void starts_text(const struct mig_profile *p, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned s = 0; s < p->n_starts && used < n; s++)
		used += (size_t)snprintf(buf + used, n - used, "%s%u", s ? "," : "", p->starts[s]);
}

static void warnf(void (*warn)(void *, const char *), void *arg, unsigned *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void warnf(void (*warn)(void *, const char *), void *arg, unsigned *n, const char *fmt, ...)
{
	char msg[KERF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(*n)++;
	if (warn != NULL)
		warn(arg, msg);
}

static void compare_profile(const char *model, const struct mig_profile *r, const struct mig_profile *b,
			    void (*warn)(void *, const char *), void *arg, unsigned *n)
{
	char rs[64], bs[64];

#define FIELD(f)                                                                                               \
	if (r->f != b->f)                                                                                      \
		warnf(warn, arg, n, "%s: profile %s (ID %u): " #f ": NVML reports %u, the built-in table says %u",  \
		      model, b->name, b->nvml_id, (unsigned)r->f, (unsigned)b->f);
	FIELD(nvml_index)
	FIELD(compute_slices)
	FIELD(memory_slices)
	FIELD(max_instances)
	FIELD(flags)
#undef FIELD
	if (strcmp(r->name, b->name) != 0)
		warnf(warn, arg, n, "%s: profile %s (ID %u): name: NVML reports \"%s\"", model, b->name, b->nvml_id,
		      r->name);
	if (b->multiprocessors != 0 && r->multiprocessors != b->multiprocessors)
		warnf(warn, arg, n, "%s: profile %s (ID %u): multiprocessors: NVML reports %u, the built-in table says %u",
		      model, b->name, b->nvml_id, r->multiprocessors, b->multiprocessors);
	starts_text(r, rs, sizeof(rs));
	starts_text(b, bs, sizeof(bs));
	if (strcmp(rs, bs) != 0)
		warnf(warn, arg, n, "%s: profile %s (ID %u): starts: NVML reports %s, the built-in table says %s", model,
		      b->name, b->nvml_id, rs, bs);
}

unsigned nvml_compare_model(const struct mig_model *read, const struct mig_model *builtin,
			    void (*warn)(void *arg, const char *msg), void *arg)
{
	const char *model = builtin->name;
	unsigned n = 0;

#define MFIELD(f)                                                                                              \
	if (read->f != builtin->f)                                                                             \
		warnf(warn, arg, &n, "%s: " #f ": NVML reports %u, the built-in table says %u", model, read->f,      \
		      builtin->f);
	MFIELD(slots)
	MFIELD(compute_slices)
	MFIELD(max_instances)
#undef MFIELD
	for (unsigned i = 0; i < builtin->n_profiles; i++) {
		const struct mig_profile *b = &builtin->profiles[i];
		int r = mig_profile_by_nvml_id(read, b->nvml_id);

		if (r < 0)
			warnf(warn, arg, &n, "%s: profile %s (ID %u): the driver does not offer it", model, b->name,
			      b->nvml_id);
		else
			compare_profile(model, &read->profiles[r], b, warn, arg, &n);
	}
	for (unsigned i = 0; i < read->n_profiles; i++)
		if (mig_profile_by_nvml_id(builtin, read->profiles[i].nvml_id) < 0)
			warnf(warn, arg, &n, "%s: profile %s (ID %u): the driver offers it, the built-in table lacks it",
			      model, read->profiles[i].name, read->profiles[i].nvml_id);
	return n;
}

int nvml_catalog_add(struct mig_catalog *cat, const struct nvml_gpu *gpu, struct kerf_err *err)
{
	if (mig_catalog_find(cat, gpu->model.name, NULL) != NULL)
		return 0;
	return mig_catalog_add(cat, &gpu->model, err);
}
