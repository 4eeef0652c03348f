/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mig.h — the model of MIG hardware: GPU models, their instance profiles, legal placements, and layouts.
 *
 * A MIG GPU is cut along its memory slices (the "placement units": 8 on A100/H100/H200/B200, 4 on A30,
 * 12 on RTX PRO 6000 Blackwell). A GPU instance of a profile occupies a contiguous run of
 * profile->memory_slices units starting at one of the profile's legal starts, and takes
 * profile->compute_slices of the GPU's compute slices. A *layout* is the set of instances on one GPU.
 *
 * Everything here is data plus pure functions over it:
 *   - A model is a table (struct mig_model), never a code path. The built-in catalog is expanded from the
 *     tables in models.c (facts and sources: docs/hardware.md); a catalog can equally be filled at run time
 *     from what NVML reports (nvml/ does that), through the same mig_catalog_add() and its validation.
 *   - Placements are bitmasks (mig_mask, bit i = memory slice i), so overlap tests are one AND.
 *
 * What this module deliberately does not do: talk to hardware, choose layouts (plan/), or allocate
 * beyond mig_catalog_new(). All functions are thread-safe on const data.
 *
 * Profiles are referred to inside a layout by their index in model->profiles (a small integer), which is
 * stable for the life of the model; names, NVML IDs and resource names map to that index.
 */
#ifndef KERF_MIG_H
#define KERF_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MIG_MAX_SLOTS 16        /* memory slices (placement units) per GPU; 12 is the most any model has */
#define MIG_MAX_PROFILES 16     /* GPU-instance profiles per model; 11 is the most (RTX PRO 6000) */
#define MIG_MAX_STARTS 16       /* legal starts per profile */
#define MIG_MAX_INSTANCES 16    /* GPU instances on one GPU; hardware allows at most 7 */
#define MIG_MAX_ALIASES 8       /* device names NVML may report for one model */
#define MIG_MAX_MODELS 64
#define MIG_NAME_MAX 32         /* profile name, "1g.24gb+me.all" */
#define MIG_RESOURCE_MAX 64     /* "nvidia.com/mig-1g.24gb.me.all" */
#define MIG_MODEL_NAME_MAX 96   /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */

#define MIG_RESOURCE_PREFIX "nvidia.com/mig-"
#define MIG_NVML_INDEX_UNKNOWN 0xFFFFFFFFu

typedef uint16_t mig_mask; /* bit i set = memory slice i occupied */

/* Profile properties that constrain which instances may coexist on one GPU. */
enum mig_profile_flag {
	MIG_PF_ME = 1u << 0,     /* "+me": owns the GPU's media engines; at most one such instance per GPU */
	MIG_PF_ALL_ME = 1u << 1, /* "+me.all": while one exists, every other instance must be MIG_PF_NO_ME */
	MIG_PF_NO_ME = 1u << 2,  /* "-me": has no media engines */
	MIG_PF_GFX = 1u << 3,    /* "+gfx": graphics-capable */
};

struct mig_profile {
	char name[MIG_NAME_MAX];         /* as nvidia-smi prints it without "MIG ": "1g.10gb+me" */
	char resource[MIG_RESOURCE_MAX]; /* Kubernetes resource: "nvidia.com/mig-1g.10gb.me" */
	unsigned nvml_id;                /* NVML profile ID (info.id): used for placements, create, instances */
	unsigned nvml_index;             /* NVML_GPU_INSTANCE_PROFILE_* index, or MIG_NVML_INDEX_UNKNOWN */
	unsigned compute_slices;         /* the "Ng" */
	unsigned memory_slices;          /* placement size, in memory slices */
	unsigned max_instances;          /* per GPU */
	unsigned n_starts;
	uint8_t starts[MIG_MAX_STARTS];  /* legal placement starts, ascending */
	unsigned flags;                  /* enum mig_profile_flag */
	unsigned long long memory_mb;    /* memory size as NVML reports it; 0 = not known */
	unsigned multiprocessors;        /* SMs; 0 = not known */
};

struct mig_model {
	char name[MIG_MODEL_NAME_MAX];                     /* kerf's short name: "H100-80GB-SXM" */
	unsigned n_aliases;
	char aliases[MIG_MAX_ALIASES][MIG_MODEL_NAME_MAX]; /* names NVML reports: "NVIDIA H100 80GB HBM3" */
	unsigned slots;                                    /* memory slices: 8, 4 or 12 */
	unsigned compute_slices;                           /* compute slices: 7 or 4 */
	unsigned max_instances;                            /* GPU instances per GPU */
	unsigned n_profiles;
	struct mig_profile profiles[MIG_MAX_PROFILES];     /* ordered by size, small first */
	char provenance[64];                               /* "verified (H100-smi)", "inferred", "nvml" */
};

struct mig_catalog {
	unsigned n_models;
	struct mig_model models[MIG_MAX_MODELS];
};

/* ---- catalog ---------------------------------------------------------------------------------------- */

/* The built-in catalog (every model in docs/hardware.md). Built once, on first use; never freed. */
const struct mig_catalog *mig_catalog_builtin(void);

/* An empty catalog on the heap (it is ~200 KiB: keep it off the stack). Free with mig_catalog_free(). */
struct mig_catalog *mig_catalog_new(struct kerf_err *err);
void mig_catalog_free(struct mig_catalog *cat);

/*
 * Validates m (mig_model_validate) and appends a copy. Fills in every profile's resource name from its
 * name. Fails if the catalog is full or a model of the same name or alias is already there.
 */
int mig_catalog_add(struct mig_catalog *cat, const struct mig_model *m, struct kerf_err *err);

/*
 * Finds a model by the device name NVML reports (any alias) or by kerf's short name. Comparison ignores
 * case and surrounding blanks. On failure err says "unknown GPU model \"...\"" and lists the known ones.
 */
const struct mig_model *mig_catalog_find(const struct mig_catalog *cat, const char *name, struct kerf_err *err);

/*
 * Checks that a model table is self-consistent: 1 ≤ slots ≤ MIG_MAX_SLOTS, every start + size ≤ slots,
 * starts ascending and distinct, limits non-zero, names unique and well-formed. Errors name the field
 * ("profiles[3].starts[2]: 6 + size 4 exceeds 8 slots").
 */
int mig_model_validate(const struct mig_model *m, struct kerf_err *err);

/* ---- profiles --------------------------------------------------------------------------------------- */

/* Index of a profile in m by its name ("2g.20gb"), optionally prefixed "MIG "; -1 if none. */
int mig_profile_by_name(const struct mig_model *m, const char *name);

/* Index of a profile in m by its Kubernetes resource name ("nvidia.com/mig-2g.20gb"); -1 if none. */
int mig_profile_by_resource(const struct mig_model *m, const char *resource);

/* Index of a profile in m by its NVML profile ID; -1 if none. */
int mig_profile_by_nvml_id(const struct mig_model *m, unsigned nvml_id);

/*
 * Writes the Kubernetes resource name of a profile name into out: MIG_RESOURCE_PREFIX + name with every
 * '+' written as '.' (the NVIDIA device plugin's mixed-strategy names). -1 if it does not fit.
 */
int mig_resource_name(const char *profile_name, char *out, size_t outsz);

/* True if resource begins with MIG_RESOURCE_PREFIX and has a non-empty profile part. */
bool mig_is_resource(const char *resource);

/* True if start is one of p's legal starts. */
bool mig_profile_start_ok(const struct mig_profile *p, unsigned start);

/* The memory slices an instance of p at start occupies. start must be < MIG_MAX_SLOTS. */
static inline mig_mask mig_profile_mask(const struct mig_profile *p, unsigned start)
{
	return (mig_mask)(((1u << p->memory_slices) - 1u) << start);
}

/* ---- layouts ---------------------------------------------------------------------------------------- */

struct mig_instance {
	uint8_t profile; /* index into model->profiles */
	uint8_t start;   /* first memory slice */
	bool used;       /* allocated to a pod or running a process: must never be destroyed or moved */
};

struct mig_layout {
	unsigned n;
	struct mig_instance inst[MIG_MAX_INSTANCES];
};

/*
 * Checks every rule of the hardware: known profile, legal start, no two instances overlap, per-profile
 * instance limits, at most model->max_instances instances, the compute-slice budget, at most one "+me"
 * instance, and "+me.all" only beside "-me" profiles. Returns 0 if valid; otherwise -1 and err says, in
 * words, the first rule broken and by which instances, e.g.
 *     "instances[0] (3g.40gb@4) and instances[2] (1g.10gb@5) overlap on memory slice 5"
 */
int mig_layout_check(const struct mig_model *m, const struct mig_layout *l, struct kerf_err *err);

/* Union of the memory slices of every instance (no validity check). */
mig_mask mig_layout_occupied(const struct mig_model *m, const struct mig_layout *l);

/* Sum of compute slices of every instance (no validity check). */
unsigned mig_layout_compute(const struct mig_model *m, const struct mig_layout *l);

/* Sorts instances by start, then profile index: the canonical order used for output and comparison. */
void mig_layout_sort(struct mig_layout *l);

/* True if a and b hold the same (profile, start) pairs, in any order; `used` is not compared. */
bool mig_layout_same(const struct mig_layout *a, const struct mig_layout *b);

/*
 * Parses "2g.20gb@0,1g.10gb@2" (profile names of m, '@' start, comma-separated; blanks allowed; "" or
 * "-" is the empty layout) into l with used = false. Does not check validity; errors name the item.
 */
int mig_layout_parse(const struct mig_model *m, const char *text, struct mig_layout *l, struct kerf_err *err);

/* Writes l as "2g.20gb@0,1g.10gb@2" (the parse format; "-" when empty). Returns the length, or -1 if it
 * did not fit (out is then truncated but terminated). */
int mig_layout_format(const struct mig_model *m, const struct mig_layout *l, char *out, size_t outsz);

#endif
