/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdi.h — kerf's CDI spec of the node's MIG devices: the file a container runtime reads to turn the names kerf's
 * device plugin answers Allocate with ("kerf.dev/mig=<MIG UUID>", with `kerf agent --cdi`) into device nodes.
 *
 * What it does: cdi_spec_update() writes one spec file (JSON, <spec dir>/kerf-mig.json) that lists exactly the
 * MIG devices it is given, each named by its MIG UUID under kerf's own kind, with the device nodes a process
 * needs to use it: the parent GPU's /dev/nvidia<minor> and the driver's capability nodes of its GPU instance
 * and compute instance, /dev/nvidia-caps/nvidia-cap<N>, whose minors N come from the driver's table
 * (/proc/driver/nvidia-caps/mig-minors, lines "gpu<minor>/gi<GI>/access <N>" and
 * "gpu<minor>/gi<GI>/ci<CI>/access <N>"). The control nodes every device needs (/dev/nvidiactl,
 * /dev/nvidia-uvm, /dev/nvidia-uvm-tools) are the spec's common edits. A device whose node cannot be named
 * (parent minor unknown, no line for its GI or CI, a UUID that is not a legal CDI name) is left out and
 * says why: it must not be advertised, since a pod given it would get no device, or a wrong one.
 *
 * The file is replaced atomically (a temporary file in the same folder, fsync, rename, fsync of the folder):
 * a runtime that reads it, or the CDI library's watch of the folder, sees the old spec or the new one, never
 * half of one. The temporary name does not end in .json, so those watchers never parse it. With no device
 * to list the file is removed (a CDI spec must list at least one device). Writing the same content again
 * is skipped while the file is still there.
 *
 * Why its own kind (not nvidia-ctk's "nvidia.com/gpu"): two specs that define the same device name make the
 * name unusable for the runtime (a conflict) or silently take one of them, depending on the folders' order,
 * so kerf's spec could not sit beside the one `nvidia-ctk cdi generate` writes. With "kerf.dev/mig" both can
 * be present; kerf's plugin only ever hands out kerf's names. docs/kubelet.md says what this costs.
 *
 * What it does not do: talk to NVML (the caller passes each device's parent minor and instance IDs), check
 * that the device nodes exist on the host (the runtime does, when it creates a container), or decide what
 * gets advertised (the agent keeps exactly the devices marked listed).
 *
 * Ownership: struct cdi_spec is opaque, from cdi_spec_new() to cdi_spec_free(). Not thread-safe (the agent's
 * thread only). Errors follow err.h.
 */
#ifndef KERF_CDI_H
#define KERF_CDI_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CDI_KIND "kerf.dev/mig"
#define CDI_VERSION "0.3.0" /* the oldest released CDI version with containerEdits.deviceNodes and env */
#define CDI_SPEC_DIR_DEFAULT "/var/run/cdi"
#define CDI_SPEC_FILE "kerf-mig.json"
#define CDI_MIG_MINORS_DEFAULT "/proc/driver/nvidia-caps/mig-minors"
#define CDI_MINOR_UNKNOWN 0xFFFFFFFFu
#define CDI_WHY_MAX 160

struct cdi_config {
	const char *spec_dir;   /* NULL: CDI_SPEC_DIR_DEFAULT; must exist (it is not created) */
	const char *mig_minors; /* NULL: CDI_MIG_MINORS_DEFAULT */
};

struct cdi_mig_device {
	const char *uuid;   /* "MIG-…": the CDI device name */
	unsigned gpu_minor; /* the parent GPU's device minor, CDI_MINOR_UNKNOWN if not known */
	unsigned gi, ci;    /* GPU instance ID on that GPU, compute instance ID in that GPU instance */
	/* out of cdi_spec_update(): whether the spec file, as it is on disk afterwards, lists the device, and if
	 * not, why ("" when the device was listed) */
	bool listed;
	char why[CDI_WHY_MAX];
};

struct cdi_spec;

/* A writer for <spec_dir>/kerf-mig.json. Touches no file yet. NULL only when out of memory. */
struct cdi_spec *cdi_spec_new(const struct cdi_config *cfg, struct kerf_err *err);

void cdi_spec_free(struct cdi_spec *s);

/* The spec file's path. */
const char *cdi_spec_path(const struct cdi_spec *s);

/*
 * Makes the spec file list exactly the devices of devs whose nodes can be named, and marks each device
 * listed or not (with why). Returns 0 then. On failure (the minors table cannot be read, the folder is
 * missing or read-only, a write fails) returns -1 with the file left as it was, and marks listed the devices
 * that file still lists (those of the last successful update: a file this writer has not written yet counts
 * as listing nothing).
 */
int cdi_spec_update(struct cdi_spec *s, struct cdi_mig_device *devs, size_t n, struct kerf_err *err);

#endif
