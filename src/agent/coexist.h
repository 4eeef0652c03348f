/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coexist.h — whether another MIG manager is at work on this node, so that kerf keeps its hands off.
 *
 * Two managers re-cutting one GPU undo each other's layouts, and a resource name served by two device plugins
 * (or a plugin and a DRA driver) is advertised by whichever registered last. kerf fails safe: it still
 * reports the node's status, but applies no spec while it sees any of
 *   - the GPU Operator's MIG manager changing this node: its Node label nvidia.com/mig.config.state is
 *     pending, rebooting or failed (the manager drives it; "success" means it is done);
 *   - NVIDIA's device plugin serving nvidia.com/mig-* resources here (kerf's own plugin serves them): a live
 *     endpoint nvidia-mig-*.sock in the kubelet's device-plugin folder (NVIDIA-plugin mode expects it);
 *   - NVIDIA's DRA driver publishing this node's devices: a ResourceSlice of driver gpu.nvidia.com for the
 *     node (resource.k8s.io/v1; an API server without that version has no DRA, so none).
 * The operator's guide (docs/operations.md) says how to run kerf beside the GPU Operator.
 */
#ifndef KERF_AGENT_COEXIST_H
#define KERF_AGENT_COEXIST_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "kube.h"

#define COEXIST_DRA_DRIVER "gpu.nvidia.com"

/*
 * 1 with why filled (a sentence naming what was seen) when another manager is at work on node, 0 when none
 * is, -1 when it cannot tell (the Node or the ResourceSlices could not be read: err says why; kerf then
 * applies nothing either). plugin_dir NULL: the kubelet's default; nvidia_plugin: kerf runs in NVIDIA-plugin
 * mode, where NVIDIA's plugin is expected.
 */
int coexist_check(struct kube_client *c, const char *node, const char *plugin_dir, bool nvidia_plugin, char *why,
		  size_t cap, struct kerf_err *err);

#endif
