/* SPDX-License-Identifier: Apache-2.0 */
/*
 * miglayout.h — the agent's Kubernetes side: keeping one node's GPUs in step with its MigLayout.
 *
 * The contract (docs/architecture.md, "The controller ↔ agent contract"): one cluster-scoped MigLayout
 * (kerf.dev/v1alpha1) per MIG node, named after the node. The controller writes spec: per GPU index, the
 * complete list of instances {profile, start} the GPU must end with. The agent writes status, through the
 * status subresource: observedGeneration, gpuCount, per GPU {index, model, instances [{profile, start,
 * uuid, used}]}, and the conditions Ready, Applied and Failed (reason, message).
 *
 * What agent_sync does:
 *   - it watches only its node's object (field selector metadata.name=NODE) and keeps it in the watch's
 *     cache; a round the watch woke reads the object from the server, so a change is acted on as it is,
 *     and a round that only refreshes the status reads the cache, so an idle node costs the server nothing;
 *   - a missing object is created with an empty spec, so that the controller sees the node's layout;
 *   - when metadata.generation differs from status.observedGeneration, every GPU the spec lists is taken
 *     to its layout with agent_node_apply() (withdraw, re-check, destroy only free instances, create);
 *     GPUs the spec does not list are left as they are; then observedGeneration becomes that generation,
 *     whatever the outcome: Applied=True, or Applied=False and Failed=True with the reason (InvalidSpec,
 *     Refused: an instance it would destroy is in use, or ApplyFailed) and every GPU's error;
 *   - it also watches the MIG pods bound to the node (field selector spec.nodeName=NODE). Those that have
 *     ended (Succeeded, Failed) hold nothing, though the kubelet's pod-resources lists their devices until
 *     they are deleted (agent_node_pods_finished). Those not started yet: until the kubelet admits such a pod, the free instances the
 *     scheduler counted on for it look free to every other check, so before a spec is applied, per MIG
 *     resource, as many free instances as those pods still lack (what they ask for, less what pod-resources
 *     already lists for them) are held as if allocated, instances the spec keeps first; a spec that would
 *     destroy a held instance is refused (Refused, naming the pod), like one that destroys a used instance;
 *   - no spec is applied while another MIG manager is at work on the node (coexist.h): AnotherMIGManager;
 *   - a Refused, ApplyFailed or AnotherMIGManager spec is applied again, with backoff (1 s doubling to
 *     60 s), while it stays the spec: the controller writes a spec once, and the pod it was for would
 *     otherwise wait forever;
 *   - otherwise it refreshes the status when the snapshot changed (a pod took or released a device), so
 *     the controller plans with what is used now; a status write that conflicts (409) is retried on a
 *     fresh read;
 *   - status.heartbeat (RFC 3339, the agent's clock) is renewed every 30 s even when nothing else changes,
 *     so the controller can tell a silent agent from an idle one (it times the changes on its own clock).
 * It never changes anything the spec does not ask for, and used instances are protected by the agent
 * whatever the spec says.
 *
 * Threads: agent_sync_step() calls the agent_node_* functions, so it runs on the agent's thread, like
 * them. The watch runs in a thread of its own and only signals.
 * Errors follow err.h.
 */
#ifndef KERF_AGENT_MIGLAYOUT_H
#define KERF_AGENT_MIGLAYOUT_H

#include "agent.h"
#include "err.h"
#include "kube.h"
#include "metrics.h"

struct agent_sync;

/* Starts watching node's MigLayout through c. c and a must outlive the result. NULL on failure. */
struct agent_sync *agent_sync_start(struct kube_client *c, struct agent_node *a, const char *node,
				    struct kerf_err *err);

/*
 * Waits up to wait_ms for the object to change (at once if it changed since the last round), then runs one
 * round: create if missing, apply a new spec, write the status if it differs. Returns 0, or -1 when the
 * round could not finish (the API server unreachable, a status write that kept conflicting): call again.
 * A spec that could not be applied is not a failure of the round: it is reported in the status.
 */
int agent_sync_step(struct agent_sync *s, long wait_ms, struct kerf_err *err);

/* Renews status.heartbeat every period_ms (0: 30 s) instead; the next round writes one. For tests. */
void agent_sync_heartbeat(struct agent_sync *s, long period_ms);

/* Stops the watch. NULL: no-op. */
void agent_sync_stop(struct agent_sync *s);

/* Where the sync's series go (NULL: none): kerf_agent_* for applies, instances and status writes,
 * kerf_watch_* for its watches (docs/operations.md lists them). */
void agent_sync_metrics(struct agent_sync *s, struct metrics *m);

#endif
