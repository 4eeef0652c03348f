/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakestate.h — the state of the simulated MIG GPUs behind tests/fakenvml's libnvidia-ml.so.1.
 *
 * The simulation keeps no state in the process: every NVML call locks the file named by
 * $KERF_FAKENVML_STATE (flock, exclusive), reads it, acts, writes it back if it changed and unlocks, so an
 * agent, a test and the `kerf` command running at once all see the same GPUs. The file is this struct,
 * written whole (it is a test fixture's private format, checked by magic and version, not an interface).
 *
 * The same functions back the control command (fakenvml-ctl) and the tests, which set up GPUs, mark
 * instances as running a process and arm faults: "call X fails with code Y on its Nth use", "SIGKILL the
 * process at call X's Nth use (before or after it takes effect)", "call X sleeps N microseconds", and
 * "at call X's Nth use, before it acts, the instance at slice S becomes busy": a process starts on it, a pod
 * is given it, or another tool splits it into compute instances of its own. The last three are the world
 * changing under a caller that has already planned (a stale plan); the call itself then goes on normally.
 * Models come from kerf's built-in catalog and every create is judged by mig_layout_check(), the rules
 * the rest of kerf uses.
 */
#ifndef KERF_FAKESTATE_H
#define KERF_FAKESTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "mig.h"

#define FK_ENV_STATE "KERF_FAKENVML_STATE"
#define FK_MAX_GPUS 8
#define FK_MAX_GI 16    /* GPU instance IDs 1..15 (0 is never used, as on real GPUs) */
#define FK_MAX_CI 8     /* compute instance IDs 0..7 within a GPU instance */
#define FK_MAX_FAULTS 16
#define FK_MAX_FUNCS 48
#define FK_FUNC_MAX 64

struct fk_ci {
	bool live;
	unsigned profile_id; /* compute-instance profile ID (== its index, as on real drivers) */
	unsigned start, size; /* compute slices within the GPU instance */
	unsigned pid;         /* a "running process" on this MIG device; 0 = none */
	unsigned pid_kind;    /* FK_PROC_*: which NVML list shows it (compute, graphics, MPS) */
	bool pod;             /* a pod holds it: not NVML's to report; a test's pod-resources stand-in reads it */
	uint64_t serial;      /* creation serial: makes the MIG UUID, so a re-created device gets a new UUID */
};

struct fk_gi {
	bool live;
	unsigned profile_id; /* GPU-instance profile ID */
	unsigned start, size;
	struct fk_ci ci[FK_MAX_CI]; /* indexed by CI ID */
};

struct fk_gpu {
	char model[MIG_MODEL_NAME_MAX]; /* kerf's short name in the built-in catalog */
	unsigned mig_current, mig_pending;
	unsigned next_gi;           /* where the search for a free GI ID starts: IDs rotate, as they do not on
				     * real GPUs by any documented rule, so nothing may assume ID == placement */
	struct fk_gi gi[FK_MAX_GI]; /* indexed by GI ID */
};

enum fk_action {
	FK_FAIL, FK_KILL_BEFORE, FK_KILL_AFTER, FK_DELAY,
	/* the instance at (gpu, start) becomes busy, on entry to the call, before it acts: */
	FK_PROCESS, /* a process starts on its first compute instance (pid FK_STALE_PID) */
	FK_POD,     /* a pod is given its first compute instance (fk_ci.pod) */
	FK_SPLIT,   /* another tool replaces its compute instances by two of one slice each */
};

#define FK_STALE_PID 31337

struct fk_fault {
	char func[FK_FUNC_MAX]; /* exported symbol name, e.g. "nvmlGpuInstanceDestroy" */
	unsigned nth;           /* fires on the nth use counted from when it was armed; 0 = every use (delay) */
	unsigned seen;
	enum fk_action action;
	int code;      /* FK_FAIL: the nvmlReturn_t to return */
	unsigned usec; /* FK_DELAY */
	unsigned gpu, start; /* FK_PROCESS, FK_POD, FK_SPLIT: the instance (GPU, first memory slice) made busy */
	unsigned made_gi;    /* set when one of those fired on an instance: its GI ID (0: not fired, or no instance) */
	uint64_t made[2];    /* and the serials of the compute instances it made busy (FK_SPLIT: the two new ones) */
};

struct fk_state {
	uint32_t magic, version;
	unsigned n_gpus;
	struct fk_gpu gpu[FK_MAX_GPUS];
	unsigned n_faults;
	struct fk_fault fault[FK_MAX_FAULTS];
	bool trace; /* count every call of every function in calls[] */
	unsigned n_calls;
	struct {
		char func[FK_FUNC_MAX];
		unsigned n;
	} calls[FK_MAX_FUNCS];
	uint64_t next_serial;
	unsigned violations; /* destroys attempted on a busy CI or on a GI that still had CIs */
};

/* The state file named by $KERF_FAKENVML_STATE, or NULL. */
const char *fk_state_path(void);

/* Opens and exclusively locks path, reads the state into st. Returns the locked fd, or -1 (err says why:
 * missing file, bad magic). fk_unlock() writes st back when save is true, then unlocks and closes. */
int fk_lock(const char *path, struct fk_state *st, struct kerf_err *err);
int fk_unlock(int fd, const struct fk_state *st, bool save, struct kerf_err *err);

/* Creates (or overwrites) path with GPUs of the given built-in models, MIG enabled, no instances. */
int fk_init(const char *path, const char *const *models, unsigned n, struct kerf_err *err);

/* The built-in model a simulated GPU is. */
const struct mig_model *fk_model(const struct fk_gpu *g);

/* SM count the simulation gives a GPU-instance profile (the catalog's, or 16 per compute slice if unknown). */
unsigned fk_profile_sms(const struct mig_model *m, const struct mig_profile *p);

/* The layout of a GPU (profile indices of fk_model()), and optionally the GI ID of each instance. */
void fk_layout(const struct fk_gpu *g, struct mig_layout *l, unsigned *gi_ids);

/* GPU and MIG device UUIDs, derived from the GPU index and the CI's creation serial. */
void fk_gpu_uuid(unsigned gpu, char *out, size_t n);
void fk_mig_uuid(unsigned gpu, uint64_t serial, char *out, size_t n);

/* The device minor nvmlDeviceGetMinorNumber reports for a GPU: not its index (on real nodes the two follow
 * different orders), so a caller that confuses them names the wrong /dev/nvidia<N>. */
#define FK_MINOR_OFFSET 3
unsigned fk_gpu_minor(unsigned gpu);

/* State edits used by the control command and the tests (caller holds the lock). */
/* A GI of profile_id at start: ECONFLICT if the layout rules refuse it (overlap, limits), EINVAL if the
 * start is not legal. GI IDs rotate (see fk_gpu.next_gi). */
int fk_create(struct fk_state *st, unsigned gpu, unsigned profile_id, unsigned start, unsigned *gi_id,
	      struct kerf_err *err);
/* A CI of ci_profile_id in GI gi_id: EUNSUPPORTED if the GI does not offer it, ECONFLICT if it does not fit. */
int fk_create_ci(struct fk_state *st, unsigned gpu, unsigned gi_id, unsigned ci_profile_id, unsigned *ci_id,
		 struct kerf_err *err);
/* Adds the instances of a layout text ("2g.20gb@0,1g.10gb@2"), each a GI plus its one full CI. */
int fk_create_layout(struct fk_state *st, unsigned gpu, const char *text, struct kerf_err *err);
int fk_set_pid(struct fk_state *st, unsigned gpu, unsigned start, unsigned pid, struct kerf_err *err);

/* What kind of process the MIG device at start runs: which of NVML's three process lists shows it. */
enum { FK_PROC_COMPUTE, FK_PROC_GRAPHICS, FK_PROC_MPS };
int fk_set_pid_kind(struct fk_state *st, unsigned gpu, unsigned start, unsigned kind, struct kerf_err *err);
/* The same for the MIG device (compute instance) with this UUID, as fk_mig_uuid() writes it. */
int fk_set_pid_uuid(struct fk_state *st, const char *uuid, unsigned pid, struct kerf_err *err);
int fk_add_fault(struct fk_state *st, const struct fk_fault *f, struct kerf_err *err);
/* Carries out an FK_PROCESS, FK_POD or FK_SPLIT fault that has just fired (recording made_gi and made[]).
 * -1 with err set if there is no such instance or (FK_SPLIT) it has fewer than two compute slices. */
int fk_make_busy(struct fk_state *st, struct fk_fault *f, struct kerf_err *err);

/* Compute-instance profiles a GI of profile p offers: index i in [0, n) -> slices and SMs. */
struct fk_ci_profile {
	unsigned id, slices, sms;
};
unsigned fk_ci_profiles(const struct mig_model *m, const struct mig_profile *p, struct fk_ci_profile *out,
			unsigned max);

/* Writes a readable dump of st (GPUs, instances, faults, call counts) to f. */
void fk_print(const struct fk_state *st, FILE *f);

#endif
