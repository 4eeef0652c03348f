/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubelet.h — kerf's side of the kubelet: the pod-resources client and kerf's MIG device plugin.
 *
 * What it is for
 *   - Pod-resources (kubelet_podres_*): asks the kubelet which device IDs (MIG UUIDs) it has allocated to
 *     which pod. This is the authoritative "used" set the actuator checks right before a destroy.
 *   - Device plugin (kubelet_plugin_*): serves the node's MIG devices to the kubelet, one endpoint per
 *     resource name ("nvidia.com/mig-<profile>", the NVIDIA plugin's mixed-strategy names), registers each
 *     with the kubelet and again whenever the kubelet re-creates its socket, and pushes the full device list
 *     on every change. Withdraw-before-destroy lives here: kubelet_plugin_withdraw() removes a device from
 *     the list, makes Allocate refuse it, and returns only once the new list has been written to every
 *     kubelet connection.
 *   - The actuator's hooks (kubelet_hook_*): adapters with the exact shape the actuator calls; while the
 *     kubelet is new they also ask its device-manager checkpoint (kubelet_checkpoint_holds(), checkpoint.c).
 *   - The other mode (kubelet_nvidia_*): NVIDIA's device plugin keeps serving, and kerf makes it re-read
 *     the devices after a change (SIGHUP), at the cost described in docs/kubelet.md.
 *
 * What it does not do: it never talks to NVML (the agent passes the inventory in), never decides what to
 * destroy, and speaks only the small part of gRPC the two kubelet APIs need (see kgrpc.h).
 *
 * Threads: the plugin runs two threads of its own (the gRPC server and the registrar). Every
 * kubelet_plugin_* function is safe to call from any thread. Errors follow err.h.
 */
#ifndef KERF_KUBELET_H
#define KERF_KUBELET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define KUBELET_PODRES_SOCKET "/var/lib/kubelet/pod-resources/kubelet.sock"
#define KUBELET_PLUGIN_DIR "/var/lib/kubelet/device-plugins"
#define KUBELET_TIMEOUT_MS 5000           /* default deadline of every call kerf makes */
#define KUBELET_PODRES_MAX_MSG (16u << 20) /* a List answer on a busy node stays far below this */
#define KUBELET_ID_MAX 64                  /* the device plugin API caps device IDs at 63 characters */
#define KUBELET_RESOURCE_MAX 128

/* ---------------------------------------------------------------- pod-resources client */

struct kubelet_podres_device {
	char *pod_namespace; /* empty for GetAllocatableResources answers */
	char *pod_name;
	char *container;
	char *resource;      /* "nvidia.com/mig-1g.10gb" */
	char *device_id;     /* a MIG UUID for MIG resources */
	int numa_node;       /* -1 when the kubelet reported no topology */
};

/* A flat list: one entry per (container, device). Owned by the caller; free with kubelet_podres_free. */
struct kubelet_podres {
	struct kubelet_podres_device *items;
	size_t n;
};

/* PodResourcesLister/List: every device the kubelet has allocated to a container, of every resource. */
int kubelet_podres_list(const char *socket_path, int timeout_ms, struct kubelet_podres *out, struct kerf_err *err);

/* PodResourcesLister/GetAllocatableResources: every device the kubelet could allocate (pod fields empty). */
int kubelet_podres_allocatable(const char *socket_path, int timeout_ms, struct kubelet_podres *out,
			       struct kerf_err *err);

/*
 * Drops the entries of pods finished(arg, namespace, name) says have ended (Succeeded or Failed: every
 * container exited and none restarts). The kubelet keeps listing such a pod's devices until the pod is deleted
 * (kubernetes#119423), which would pin them for as long. finished must answer false when it cannot tell.
 * finished NULL: nothing dropped. Returns how many entries went.
 */
size_t kubelet_podres_drop(struct kubelet_podres *p, bool (*finished)(void *arg, const char *ns, const char *name),
			   void *arg);

/* The entry holding device_id, or NULL. */
const struct kubelet_podres_device *kubelet_podres_find(const struct kubelet_podres *p, const char *device_id);

void kubelet_podres_free(struct kubelet_podres *p);

/* ---------------------------------------------------------------- device plugin */

struct kubelet_device {
	char uuid[KUBELET_ID_MAX];           /* "MIG-…" */
	char resource[KUBELET_RESOURCE_MAX]; /* "nvidia.com/mig-3g.40gb" (the agent names it: mig_resource_name) */
	unsigned gpu_index;                  /* parent GPU; GetPreferredAllocation keeps a request on one */
	int numa_node;                       /* parent GPU's NUMA node, -1 if unknown */
	bool healthy;
};

struct kubelet_plugin_config {
	const char *plugin_dir;      /* NULL: KUBELET_PLUGIN_DIR; the kubelet's socket is <dir>/kubelet.sock */
	const char *socket_prefix;   /* NULL: "kerf-"; endpoint file is <prefix><name after "nvidia.com/">.sock */
	bool cdi;                    /* answer Allocate with CDI device names instead of NVIDIA_VISIBLE_DEVICES */
	const char *cdi_kind;        /* NULL: "nvidia.com/gpu" (CDI names are "<kind>=<MIG UUID>") */
	int timeout_ms;              /* 0: KUBELET_TIMEOUT_MS; bounds Register and withdraw's wait */
	int register_retry_ms;       /* 0: 5000; retry period while the kubelet does not answer */
	int allocate_grace_ms;       /* 0: KUBELET_ALLOCATE_GRACE_MS; see kubelet_plugin_recently_allocated */
};

/* How long after answering Allocate for a device the plugin still counts it as allocated, whatever
 * pod-resources says (kubelet_plugin_recently_allocated). */
#define KUBELET_ALLOCATE_GRACE_MS 30000

struct kubelet_plugin;

/* Starts the server and registrar threads; no resource exists until kubelet_plugin_set_devices. */
int kubelet_plugin_start(const struct kubelet_plugin_config *cfg, struct kubelet_plugin **out, struct kerf_err *err);

/*
 * Replaces the inventory with devs (every MIG device of the node). A resource seen for the first time gets
 * its endpoint and registration; a resource whose devices are all gone stays registered with an empty list.
 * Resources whose list changed are pushed to the kubelet at once (without waiting for the write). A
 * withdrawn device stays withdrawn while it is in the inventory, and is forgotten when it leaves it.
 */
int kubelet_plugin_set_devices(struct kubelet_plugin *p, const struct kubelet_device *devs, size_t n,
			       struct kerf_err *err);

/*
 * Withdraw-before-destroy. Removes mig_uuid from its resource's list, makes Allocate refuse it from this
 * moment on, and waits until the new list has been written to every open ListAndWatch stream of that
 * resource (at most timeout_ms; KERF_ETIMEOUT then, and the device stays withdrawn). KERF_ENOTFOUND if
 * the device is not in the inventory. Idempotent.
 */
int kubelet_plugin_withdraw(struct kubelet_plugin *p, const char *mig_uuid, struct kerf_err *err);

/* Undoes a withdraw (the destroy did not happen); the device is advertised again. */
int kubelet_plugin_reinstate(struct kubelet_plugin *p, const char *mig_uuid, struct kerf_err *err);

/*
 * True if this plugin answered an Allocate that included mig_uuid less than allocate_grace_ms ago.
 *
 * Why: the kubelet records an allocation in what pod-resources reports only after Allocate has answered.
 * A device handed out just before a withdraw can therefore be held by a pod that a fresh pod-resources
 * List does not show yet. Until the grace period has passed, such a device must be treated as in use.
 */
bool kubelet_plugin_recently_allocated(struct kubelet_plugin *p, const char *mig_uuid);

/* Waits until every resource's current list has been written to all its ListAndWatch streams. */
int kubelet_plugin_sync(struct kubelet_plugin *p, struct kerf_err *err);

/* Counters for tests and status: registrations done, ListAndWatch streams open. */
struct kubelet_plugin_stats {
	unsigned long registrations;
	size_t resources;
	size_t watchers;
};
void kubelet_plugin_stats(struct kubelet_plugin *p, struct kubelet_plugin_stats *out);

/* Stops both threads and removes the endpoint sockets. NULL is a no-op. */
void kubelet_plugin_stop(struct kubelet_plugin *p);


/* ---------------------------------------------------------------- actuator hooks */

/* The argument the two hooks take. */
struct kubelet_hooks {
	struct kubelet_plugin *plugin; /* NULL in NVIDIA-plugin mode: pre_destroy then only checks pod-resources */
	const char *podres_socket;     /* NULL: KUBELET_PODRES_SOCKET */
	int timeout_ms;                /* 0: KUBELET_TIMEOUT_MS */
	/* The kubelet's device checkpoint, also asked while the kubelet is new (kubelet_checkpoint_holds); NULL:
	 * never. The kubelet keeps a deleted pod's entry until its next allocation, so the checkpoint is asked
	 * only in the first checkpoint_window_s seconds (0: KUBELET_CHECKPOINT_WINDOW_S) after the kubelet
	 * started (its pod-resources socket's mtime), when List may still miss pods it has not re-admitted. */
	const char *checkpoint;
	int checkpoint_window_s;
	/* Pods that have ended (kubelet_podres_drop): their pod-resources entries hold nothing. NULL: every entry
	 * holds. Called from the thread that runs the hooks. */
	bool (*pod_finished)(void *arg, const char *ns, const char *name);
	void *pod_finished_arg;
};

#define KUBELET_CHECKPOINT_WINDOW_S 30

/*
 * Whether the kubelet's device-manager checkpoint at path (<device-plugins>/kubelet_internal_checkpoint)
 * records mig_uuid as allocated to a container. A missing file records nothing (*held false, 0); a file that
 * does not parse is "cannot tell" (-1). See checkpoint.c for why it is asked beside pod-resources.
 */
int kubelet_checkpoint_holds(const char *path, const char *mig_uuid, bool *held, struct kerf_err *err);

/* pre_destroy: withdraws the device from kerf's plugin (kubelet_plugin_withdraw). */
int kubelet_hook_pre_destroy(void *arg, unsigned gpu_index, const char *mig_uuid, struct kerf_err *err);

/* is_allocated: *allocated is true if kerf's plugin answered an Allocate for mig_uuid within its grace
 * period (kubelet_plugin_recently_allocated), if a fresh pod-resources List shows a container holding it, or,
 * while the kubelet is new, if its device checkpoint (hooks.checkpoint) records it; either unreadable is
 * "cannot tell" (-1). */
int kubelet_hook_is_allocated(void *arg, const char *mig_uuid, bool *allocated, struct kerf_err *err);

/*
 * Whether a kerf device plugin serves MIG devices from plugin_dir (NULL: KUBELET_PLUGIN_DIR): an endpoint
 * "kerf-*.sock" there that accepts a connection (a socket file left by a dead agent does not). Writes the
 * first live endpoint's file name into name. Returns 1 (live), 0 (none), -1 if the folder cannot be read
 * (other than not existing). For tools outside the agent that must not destroy a device the plugin might
 * hand out, having no way to withdraw it.
 */
int kubelet_plugin_serving(const char *plugin_dir, char *name, size_t cap, struct kerf_err *err);

/* The same for any endpoint "<prefix>*.sock" (NVIDIA's plugin serves MIG resources from "nvidia-mig-*.sock"). */
int kubelet_socket_serving(const char *plugin_dir, const char *prefix, char *name, size_t cap, struct kerf_err *err);

/* ---------------------------------------------------------------- NVIDIA device plugin mode */

/*
 * Finds the NVIDIA device plugin's process under proc_root (NULL: "/proc"; the agent needs hostPID) by
 * the base name of its argv[0], "nvidia-device-plugin". KERF_ENOTFOUND if none runs.
 */
int kubelet_nvidia_find(const char *proc_root, pid_t *pid, struct kerf_err *err);

/* The base name of argv[0] of process `pid` (a folder name under proc_root, NULL: "/proc"), or "" when it cannot
 * be read. */
void kubelet_proc_argv0(const char *proc_root, const char *pid, char *out, size_t cap);

/* Makes the NVIDIA plugin re-enumerate its devices: SIGHUP, which restarts all its plugin servers. */
int kubelet_nvidia_reload(const char *proc_root, struct kerf_err *err);

#endif
