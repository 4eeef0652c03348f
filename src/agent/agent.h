/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent.h — the node side of kerf-agent: one MIG node's GPUs, served to the kubelet, re-laid out safely.
 *
 * What it does:
 *   - agent_node_start() opens NVML (path: options, else $KERF_NVML_LIBRARY, else the loader's search),
 *     reads every GPU with MIG mode on, finishes or rolls back any re-layout a previous agent left half
 *     done (the actuator's journal, actuate_recover()), then starts kerf's device plugin and publishes
 *     every MIG device it finds: one resource per profile ("nvidia.com/mig-1g.10gb"), device ID = MIG
 *     UUID, the GPU's NUMA node when the options give it. It adopts what it finds: it never destroys an
 *     instance to reach a clean state (docs/architecture.md, "Safety").
 *   - agent_node_apply() takes one GPU to a desired layout through the actuator, with the kubelet hooks:
 *     before each destroy the device is withdrawn from the plugin, pod-resources is asked afresh, and only
 *     a free instance is destroyed. Afterwards, whatever the outcome (applied, refused, rolled back,
 *     failed), it re-reads the GPU from NVML and re-publishes the device list at once, giving back every
 *     withdrawn device that still exists (the actuator leaves that to its caller).
 *   - With CDI (options), every publish first rewrites kerf's CDI spec of the node's MIG devices (cdi.h), and
 *     only the devices that spec lists are advertised: after a re-layout the kubelet never sees a device a
 *     runtime could not resolve. A spec that cannot be written keeps the new devices unadvertised, and the
 *     apply (or start) fails with that reason.
 *   - In NVIDIA-plugin mode (options) kerf's plugin does not run: publishing means telling NVIDIA's device
 *     plugin to re-read the devices, and only when the set of MIG devices changed.
 *   - agent_node_status() is the snapshot the agent writes to MigLayout.status: per GPU its model and
 *     index, and every instance {profile, start, uuid, used}, used = allocated to a pod (pod-resources)
 *     or running a process (NVML), both read afresh.
 *   - agent_node_hold() and agent_node_apply_holding() keep the free instances that pods bound to this
 *     node will be given at admission out of an apply's reach (the caller names the pods).
 *
 * What it does not do: talk to Kubernetes. Watching MigLayout.spec and bound pods, and writing
 * MigLayout.status, is miglayout.h's (through src/kube/); the caller passes layouts and pods' needs in and takes
 * snapshots out.
 * It never changes MIG mode and never resets a GPU.
 *
 * Threads: call every agent_node_* function from one thread (NVML handles are per thread, and the
 * actuator assumes one run per GPU at a time). The device plugin runs threads of its own.
 * Ownership: struct agent_node is opaque, from agent_node_start() to agent_node_stop().
 * Errors follow err.h; messages start with "gpu N:" where they concern one GPU.
 */
#ifndef KERF_AGENT_H
#define KERF_AGENT_H

#include <stdbool.h>

#include "actuate.h"
#include "err.h"
#include "log.h"
#include "mig.h"
#include "nvml.h"

#define AGENT_MAX_GPUS 16
#define AGENT_STATE_DIR_ENV "KERF_STATE_DIR"
#define AGENT_STATE_DIR_DEFAULT "/var/lib/kerf"

struct agent_options {
	const char *nvml_library;  /* NULL: $KERF_NVML_LIBRARY, else "libnvidia-ml.so.1" */
	const char *journal_dir;   /* NULL: $KERF_STATE_DIR, else /var/lib/kerf (must exist) */
	const char *plugin_dir;    /* NULL: /var/lib/kubelet/device-plugins */
	const char *podres_socket; /* NULL: /var/lib/kubelet/pod-resources/kubelet.sock */
	/* Allocate answers CDI names ("kerf.dev/mig=<MIG UUID>") instead of NVIDIA_VISIBLE_DEVICES, and the agent
	 * keeps the CDI spec of those names (cdi.h) in <cdi_spec_dir>/kerf-mig.json: rewritten before every
	 * publish, and a device is advertised only once the spec lists it. Ignored in NVIDIA-plugin mode. */
	bool cdi;
	const char *cdi_spec_dir;  /* NULL: /var/run/cdi (must exist) */
	const char *mig_minors;    /* NULL: /proc/driver/nvidia-caps/mig-minors (capability minors of GIs, CIs) */
	/* NVIDIA-plugin mode (docs/kubelet.md, "NVIDIA-plugin mode, and its cost"): kerf serves no devices;
	 * NVIDIA's device plugin keeps serving them, and after every change of the node's MIG devices the
	 * agent makes it re-read them (SIGHUP, found by name under proc_root: the agent needs hostPID). No
	 * withdraw is possible in this mode; pod-resources is still checked right before every destroy. */
	bool nvidia_plugin;
	/* NULL: /proc. Where NVIDIA's plugin is looked for (NVIDIA-plugin mode), and PID 1: an agent that is not
	 * in the host's PID namespace (PID 1 is itself or a pod's pause process) cannot see other pods' processes
	 * through NVML, so it counts every instance as in use and destroys none (docs/agent.md). */
	const char *proc_root;
	int timeout_ms;            /* 0: KUBELET_TIMEOUT_MS; bounds every kubelet call and a withdraw's wait */
	int register_retry_ms;     /* 0: the plugin's default */
	/* 0: KUBELET_ALLOCATE_GRACE_MS (30 s). How long a device kerf's plugin handed out in an Allocate counts as
	 * allocated whatever pod-resources says (kubelet_plugin_recently_allocated). Tests shorten it. */
	int allocate_grace_ms;
	const int *numa_nodes;     /* NUMA node of GPU i is numa_nodes[i] for i < n_numa; else unknown (-1) */
	unsigned n_numa;
	kerf_log_fn *log; /* one event per step (log.h), or NULL */
	void *log_arg;
};

struct agent_node;

/* Opens NVML, recovers interrupted runs, starts the plugin and publishes what is there. NULL on failure. */
struct agent_node *agent_node_start(const struct agent_options *o, struct kerf_err *err);

/* Stops the plugin (its sockets go; the kubelet marks the resources unhealthy) and closes NVML. NULL: no-op. */
void agent_node_stop(struct agent_node *a);

/* The options the agent runs with (as given to agent_node_start). */
const struct agent_options *agent_node_options(const struct agent_node *a);

/* One event to the agent's log (agent_options.log; kerf_log_emit's arguments), for the agent's other parts
 * (its MigLayout sync). */
void agent_node_log(struct agent_node *a, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		    const char *fields, ...) __attribute__((format(printf, 5, 6)));

/* GPUs with MIG mode on, in NVML index order. */
unsigned agent_node_gpu_count(const struct agent_node *a);

/* NVML index of the i-th MIG GPU. */
unsigned agent_node_gpu_index(const struct agent_node *a, unsigned i);

/* The profiles of the GPU with NVML index gpu, as NVML reports them: a desired layout's profile indices
 * refer to this model (mig_layout_parse() with it). NULL if the agent has no such MIG GPU. */
const struct mig_model *agent_node_model(const struct agent_node *a, unsigned gpu);

/*
 * Takes the GPU with NVML index gpu to desired (its complete end state), then re-reads NVML and
 * re-publishes the device list. Returns 0 when the GPU is in the desired layout (res->outcome APPLIED or
 * UNCHANGED); otherwise -1: refused before anything changed (KERF_EBUSY: an instance it would destroy is
 * used; res->outcome UNCHANGED), or rolled back / failed (res says which). res may be NULL.
 */
int agent_node_apply(struct agent_node *a, unsigned gpu, const struct mig_layout *desired,
		     struct actuate_result *res, struct kerf_err *err);

/*
 * Holding free instances for pods the scheduler has bound to this node but the kubelet has not admitted yet.
 *
 * Between kube-scheduler binding a pod and the kubelet admitting it, the free instances the scheduler counted
 * on are free by every test the actuator makes (pod-resources does not list them, no process runs on them).
 * Destroying one then fails the pod at admission (UnexpectedAdmissionError). So before an apply the caller
 * says which pods are bound here and what they ask for; agent_node_hold() picks, per MIG resource, as many
 * free instances as those pods still lack, and agent_node_apply_holding() treats them as allocated: a layout
 * that would destroy one is refused like a layout that destroys a pod's device.
 */
#define AGENT_HOLD_MAX (AGENT_MAX_GPUS * MIG_MAX_INSTANCES)
#define AGENT_POD_NAME_MAX 320 /* "namespace/name" */

/* One MIG resource a bound pod asks for (the caller reads it from the Pod; this module knows no Pods). */
struct agent_pod_need {
	const char *ns, *name;  /* the pod, as pod-resources names it */
	const char *resource;   /* "nvidia.com/mig-1g.10gb" */
	unsigned count;         /* devices of resource the pod asks for in all */
};

struct agent_held {
	unsigned gpu;               /* NVML index */
	char profile[MIG_NAME_MAX]; /* "1g.10gb" */
	unsigned start;
	char uuid[NVML_UUID_MAX];   /* the MIG device */
	char pod[AGENT_POD_NAME_MAX]; /* namespace/name of the pod it is held for */
};

struct agent_hold {
	unsigned n;
	struct agent_held h[AGENT_HOLD_MAX];
};

/*
 * Fills hold with the free instances to hold for needs (n entries). Per entry, the pod still lacks count minus
 * the devices of that resource pod-resources (read now) lists for it; that many free instances of the resource
 * are held (fewer if there are not that many). A free instance is one with a published MIG device that is
 * neither allocated nor running a process. Instances that stay are taken first, so that a layout leaving
 * enough free instances of the profile still applies: desired[i] is the layout the i-th MIG GPU (the order of
 * agent_node_gpu_index) is about to get, or NULL where it is left as it is (desired NULL: every GPU left
 * alone). Fails, holding nothing, when pod-resources or NVML cannot be read.
 */
int agent_node_hold(struct agent_node *a, const struct agent_pod_need *needs, unsigned n,
		    const struct mig_layout *const *desired, struct agent_hold *hold, struct kerf_err *err);

/*
 * agent_node_apply() with the instances of hold (NULL: none) counted as allocated to a pod, at plan time and
 * again right before each destroy. A desired layout that would destroy one is refused (KERF_EBUSY, nothing
 * touched), and the message names the instance and the pod it is held for.
 */
int agent_node_apply_holding(struct agent_node *a, unsigned gpu, const struct mig_layout *desired,
			     const struct agent_hold *hold, struct actuate_result *res, struct kerf_err *err);

/*
 * Tells the agent which pods have ended (Succeeded or Failed, from the API server): the kubelet's pod-resources
 * keeps listing their devices until the pods are deleted (kubernetes#119423), which would pin those instances
 * as used. finished(arg, namespace, name) must answer false when it cannot tell; NULL: every listed device is
 * held. A device of an ended pod is still destroyed only if no process runs on it (NVML is asked too).
 */
void agent_node_pods_finished(struct agent_node *a, bool (*finished)(void *arg, const char *ns, const char *name),
			      void *arg);

/*
 * Whether the kubelet has registered every resource kerf's plugin serves (1), or not yet (0, why filled): the
 * agent's readiness. Safe from any thread (the probes' listener). NVIDIA-plugin mode: always 1.
 */
int agent_node_serving(void *a, char *why, size_t cap);

/* Re-reads every GPU from NVML and re-publishes the device list (e.g. after someone else changed a GPU). */
int agent_node_refresh(struct agent_node *a, struct kerf_err *err);

struct agent_instance {
	char profile[MIG_NAME_MAX]; /* "1g.10gb"; "nvml-profile-<ID>" if the model lacks the profile */
	unsigned start;             /* memory slice */
	char uuid[NVML_UUID_MAX];   /* MIG device UUID ("" if the instance has no compute instance yet) */
	bool used;                  /* allocated || processes > 0 */
	bool allocated;             /* pod-resources lists the UUID */
	unsigned processes;         /* running compute processes */
};

struct agent_gpu_status {
	unsigned index;                 /* NVML index */
	char model[MIG_MODEL_NAME_MAX]; /* the name NVML reports, "NVIDIA H100 80GB HBM3" */
	char short_model[MIG_MODEL_NAME_MAX]; /* kerf's name, "H100-80GB-SXM"; "" if not in the built-in catalog */
	char uuid[NVML_UUID_MAX];
	unsigned n;
	struct agent_instance inst[MIG_MAX_INSTANCES]; /* by start */
};

struct agent_status {
	unsigned n_gpus;
	struct agent_gpu_status gpu[AGENT_MAX_GPUS];
};

/* Fresh snapshot (NVML and pod-resources are both read now). Fails if either cannot be read: a snapshot
 * that cannot tell which instances are used must not be published. */
int agent_node_status(struct agent_node *a, struct agent_status *st, struct kerf_err *err);

#endif
