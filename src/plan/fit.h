/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fit.h — on which nodes a pending pod may run, as kube-scheduler's node filters decide it, so that kerf
 * re-cuts only GPUs the scheduler will then use for the pod.
 *
 * Both sides are in Kubernetes' own JSON shapes, so the controller passes what its informers hold and
 * `kerf plan` reads the same shapes from its input:
 *   pod   a Pod's spec, or any object with the spec fields below: nodeSelector, affinity.nodeAffinity.
 *         requiredDuringSchedulingIgnoredDuringExecution, tolerations;
 *   node  a Node, or any object with metadata.name, metadata.labels, spec.taints, spec.unschedulable.
 *
 * What is checked, with the scheduler's semantics (plugins NodeUnschedulable, NodeAffinity, TaintToleration):
 *   - every nodeSelector label is on the node with that value;
 *   - required node affinity: at least one nodeSelectorTerm matches; a term matches when all its
 *     matchExpressions (In, NotIn, Exists, DoesNotExist, Gt, Lt on labels) and matchFields (In, NotIn on
 *     metadata.name) do; a term with neither matches nothing;
 *   - every NoSchedule and NoExecute taint of the node is tolerated (PreferNoSchedule is a preference);
 *   - a cordoned node (spec.unschedulable) takes only pods tolerating node.kubernetes.io/unschedulable.
 * What is not (docs/controller.md says what kerf does then): preferred affinity and other scores, pod
 * affinity and anti-affinity, topology spread, ports, volumes; CPU, memory and pod-count room is room.h's.
 */
#ifndef KERF_PLAN_FIT_H
#define KERF_PLAN_FIT_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "plan.h"

/* 1 when a pod with spec pod may run on node, else 0 with why (a short phrase naming the filter) filled. */
int plan_fit(const json_t *pod, const json_t *node, char *why, size_t whysz);

/*
 * Sets in->groups and each pod's group from pods[i] (the spec of in->pods[i], or NULL for no constraint) and
 * nodes[n] (the Node of in->nodes[n], or NULL: a node with no labels and no taints). Pods with the same
 * constraints share a group, evaluated once per node; a pod allowed on every node gets group 0. -1 on
 * out-of-memory (in unchanged). Free with plan_groups_free() (plan_input_free() does it too).
 */
int plan_fit_groups(struct plan_input *in, const json_t *const *pods, const json_t *const *nodes, struct kerf_err *err);

/*
 * A new group: the nodes group base allows (every node for base 0), less those with deny[n] set. Returns its
 * number (for plan_pod.group), base itself when deny takes no allowed node away, or -1 on out-of-memory (in
 * unchanged). For what the node filters do not know: the controller's nodes a pod has waited on in vain.
 */
int plan_group_deny(struct plan_input *in, unsigned base, const unsigned char *deny, struct kerf_err *err);

void plan_groups_free(struct plan_input *in);

#endif
