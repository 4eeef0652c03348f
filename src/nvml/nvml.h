/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvml.h — kerf's NVML backend: reads the MIG state of every GPU and creates/destroys MIG instances.
 *
 * What it does:
 *   - nvml_open() loads libnvidia-ml.so.1 with dlopen (path: argument, else $KERF_NVML_LIBRARY, else the
 *     loader's search for "libnvidia-ml.so.1"), resolves the versioned symbols of nvml_abi.h and calls
 *     nvmlInit_v2. A missing symbol, a missing driver or a refused init fails with a sentence naming it.
 *   - nvml_read_gpu() reads one GPU: name, UUID, device minor, memory, MIG mode (current, pending), the
 *     profiles the driver offers with their placements (a run-time struct mig_model, validated by
 *     mig_model_validate), and every GPU instance with its placement, compute instances, MIG device UUIDs
 *     and running processes.
 *   - nvml_create() makes one GPU instance at an explicit placement plus one compute instance that spans
 *     it; nvml_destroy() destroys a GPU instance's compute instances, then the GPU instance. Both re-read
 *     the GPU's instances afterwards: NVML handles can go stale after a change, so none is kept across calls
 *     (only IDs, which are re-resolved every time).
 *
 * What it does not do: decide anything. It never checks whether an instance is allocated to a pod, and it
 * destroys whatever it is asked to (the driver refuses a busy instance with IN_USE, which is mapped to
 * KERF_EBUSY); the safety rules live in actuate/. It never changes MIG mode and never resets a GPU.
 *
 * Errors: NVML return codes become kerf codes with a sentence (nverr() in nvml.c): IN_USE -> KERF_EBUSY
 * "instance busy", INSUFFICIENT_RESOURCES -> KERF_ECONFLICT "placement occupied", NO_PERMISSION ->
 * KERF_EPERM naming the MIG config capability, NOT_SUPPORTED -> KERF_EUNSUPPORTED, ... Each message starts
 * with "gpu N:" and names the NVML call.
 *
 * Ownership: struct nvml is opaque, from nvml_open() to nvml_close(). struct nvml_gpu is plain data (about
 * 18 KiB: keep it off small stacks, as the CLI does with malloc); its model's profile indices are what layouts on that GPU use.
 * Not thread-safe: one struct nvml per thread.
 */
#ifndef KERF_NVML_H
#define KERF_NVML_H

#include <stdbool.h>

#include "err.h"
#include "mig.h"

#define NVML_LIBRARY_ENV "KERF_NVML_LIBRARY"
#define NVML_LIBRARY_DEFAULT "libnvidia-ml.so.1"
#define NVML_UUID_MAX 96
#define NVML_MAX_CI 8
#define NVML_CI_PROFILE_UNKNOWN 0xFFFFFFFFu
#define NVML_MINOR_UNKNOWN 0xFFFFFFFFu

struct nvml;

struct nvml_ci {
	unsigned id;           /* compute instance ID within its GPU instance */
	unsigned profile_id;   /* compute-instance profile ID, or NVML_CI_PROFILE_UNKNOWN (found by its MIG device only) */
	unsigned slices;       /* compute slices it spans */
	char uuid[NVML_UUID_MAX]; /* "MIG-..."; empty if NVML listed no MIG device for it */
	unsigned processes;    /* running compute processes on its MIG device */
};

struct nvml_instance {
	unsigned gi_id;      /* GPU instance ID: not a function of the placement, re-read every time */
	unsigned profile_id; /* NVML GPU-instance profile ID */
	int profile;         /* index in nvml_gpu.model, -1 if the model has no such profile */
	unsigned start, size; /* placement, in memory slices */
	unsigned n_ci;
	struct nvml_ci ci[NVML_MAX_CI];
};

struct nvml_gpu {
	unsigned index;
	char name[MIG_MODEL_NAME_MAX];
	char uuid[NVML_UUID_MAX];
	unsigned long long memory_mb;
	/* The GPU's device minor (/dev/nvidia<minor>, and "gpu<minor>" in the driver's MIG capability names), or
	 * NVML_MINOR_UNKNOWN when NVML would not say: not the NVML index, which follows PCI order instead. */
	unsigned minor;
	unsigned mig_current, mig_pending; /* NVML_DEVICE_MIG_ENABLE (1) or _DISABLE (0) */
	/* The profiles as NVML reports them (MIG enabled), or a copy of the built-in model (MIG disabled:
	 * NVML will not list profiles then). model.provenance says which. */
	struct mig_model model;
	bool model_from_nvml;
	const struct mig_model *builtin; /* the built-in model of this name, NULL if unknown */
	unsigned n_instances;
	struct nvml_instance inst[MIG_MAX_INSTANCES]; /* sorted by start */
};

/* Loads and initialises NVML (see the header comment for the path). NULL on failure. */
struct nvml *nvml_open(const char *library, struct kerf_err *err);
/* nvmlShutdown + dlclose. NULL is fine. */
void nvml_close(struct nvml *nv);
/* The path that was loaded. */
const char *nvml_library(const struct nvml *nv);

int nvml_gpu_count(struct nvml *nv, unsigned *count, struct kerf_err *err);

/* Reads everything about GPU index (model included). */
int nvml_read_gpu(struct nvml *nv, unsigned index, struct nvml_gpu *gpu, struct kerf_err *err);

/* Re-reads only the instances of an already read GPU (the profiles are fixed while MIG mode is). */
int nvml_read_instances(struct nvml *nv, struct nvml_gpu *gpu, struct kerf_err *err);

/* True if any MIG device of the instance runs a process (as of the last read). */
bool nvml_instance_busy(const struct nvml_instance *in);

/*
 * Whether the GPU instance has exactly one compute instance and it spans the whole instance: the MIG device
 * kerf makes, advertises and may destroy. Several compute instances, or one smaller than the instance, were
 * made by another tool: kerf does not advertise them (a 1-slice CI is not a whole 3g), and counts the
 * instance as used (nvml_gpu_layout), so nothing destroys what it does not understand. No compute instance
 * at all is a half-made instance (nvml_complete()), not this.
 */
bool nvml_instance_whole(const struct nvml_gpu *gpu, const struct nvml_instance *in);

/* The GPU's layout in gpu->model's profile indices; an instance is `used` when it runs a process.
 * Instances whose profile the model lacks are left out (the caller sees them in gpu->inst). */
void nvml_gpu_layout(const struct nvml_gpu *gpu, struct mig_layout *l);

/* Index in gpu->inst of the instance at (profile, start), or -1. */
int nvml_find_instance(const struct nvml_gpu *gpu, unsigned profile, unsigned start);

/*
 * Fresh from NVML: how many processes run on the MIG device uuid of GPU gpu_index (0 if the device no
 * longer exists is NOT assumed: a missing device is an error, KERF_ENOTFOUND).
 */
int nvml_mig_processes(struct nvml *nv, unsigned gpu_index, const char *uuid, unsigned *count,
		       struct kerf_err *err);

/*
 * Creates a GPU instance of gpu->model.profiles[profile] at start, then the compute instance that spans it:
 * the compute profile whose SM count equals the GPU instance's (on Hopper the full compute instance of a
 * 1g REV2 instance is the 1_SLICE_REV1 compute profile, not 1_SLICE), else the one with all its slices.
 * If the compute instance cannot be made, the new GPU instance is destroyed again. Re-reads gpu.
 */
int nvml_create(struct nvml *nv, struct nvml_gpu *gpu, unsigned profile, unsigned start, struct kerf_err *err);

/* Gives a GPU instance that has no compute instance (a half-finished create) its spanning one. Re-reads. */
int nvml_complete(struct nvml *nv, struct nvml_gpu *gpu, unsigned gi_id, struct kerf_err *err);

/* Destroys every compute instance of GPU instance gi_id, then the GPU instance. Re-reads gpu, also on
 * failure (a failure half way leaves the GI with fewer CIs, which gpu then shows). */
int nvml_destroy(struct nvml *nv, struct nvml_gpu *gpu, unsigned gi_id, struct kerf_err *err);

/*
 * Compares a model read from NVML with the built-in one and calls warn once per disagreement, with a
 * sentence naming the model, the profile and the field:
 *   "H100-80GB-SXM: profile 1g.20gb (ID 15): starts: NVML reports 0,2,4,6, the built-in table says 0,2,4"
 * Returns the number of disagreements.
 */
unsigned nvml_compare_model(const struct mig_model *read, const struct mig_model *builtin,
			    void (*warn)(void *arg, const char *msg), void *arg);

/* Adds gpu->model to cat through mig_catalog_add() unless a model of that name is already there. */
int nvml_catalog_add(struct mig_catalog *cat, const struct nvml_gpu *gpu, struct kerf_err *err);

/* The kerf error code and short sentence for an NVML return code ("instance busy", ...). */
enum kerf_errcode nvml_errcode(int nvml_return, const char **sentence);

#endif
