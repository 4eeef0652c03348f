/* SPDX-License-Identifier: Apache-2.0 */
/* coexist.c — see coexist.h. Each check is one read: the Node, the plugin folder, the node's ResourceSlices. */
#include <stdio.h>
#include <string.h>

#include "coexist.h"
#include "kubelet.h"

#define MIG_CONFIG_STATE "nvidia.com/mig.config.state"

/* The GPU Operator's MIG manager: 1 while its state label says it is changing this node or failed to. */
static int mig_manager(struct kube_client *c, const char *node, char *why, size_t cap, struct kerf_err *err)
{
	json_t *n = kube_get(c, &KUBE_NODES, NULL, node, err);
	const char *state;
	int busy;

	if (n == NULL) /* no Node object (a test cluster without kubelets): no labels, so no MIG manager's */
		return err->code == KERF_ENOTFOUND ? 0 : kerf_err_prefix(err, "reading Node %s", node);
	state = json_string_value(json_object_get(json_object_get(json_object_get(n, "metadata"), "labels"), MIG_CONFIG_STATE));
	busy = state != NULL && (strcmp(state, "pending") == 0 || strcmp(state, "rebooting") == 0 || strcmp(state, "failed") == 0);
	if (busy)
		snprintf(why, cap, "the GPU Operator's MIG manager is at work on this node (%s=%s): turn it off on kerf's "
			 "nodes (docs/operations.md)", MIG_CONFIG_STATE, state);
	json_decref(n);
	return busy;
}

/* NVIDIA's DRA driver: 1 when a ResourceSlice of its driver is published for node. */
static int dra_driver(struct kube_client *c, const char *node, char *why, size_t cap, struct kerf_err *err)
{
	struct kube_list_opts lo = {0};
	char sel[320];
	const json_t *it;
	json_t *list;
	size_t i;
	int found = 0;

	snprintf(sel, sizeof(sel), "spec.nodeName=%s", node);
	lo.field_selector = sel;
	if ((list = kube_list(c, &KUBE_RESOURCESLICES, NULL, &lo, err)) == NULL) {
		if (err->code == KERF_ENOTFOUND)
			return 0; /* no resource.k8s.io/v1 here: no DRA driver either */
		return kerf_err_prefix(err, "listing the ResourceSlices of %s", node);
	}
	json_array_foreach(json_object_get(list, "items"), i, it)
	{
		const char *driver = json_string_value(json_object_get(json_object_get(it, "spec"), "driver"));

		if (driver != NULL && strcmp(driver, COEXIST_DRA_DRIVER) == 0) {
			snprintf(why, cap, "NVIDIA's DRA driver publishes this node's GPUs (ResourceSlice %s): one manager "
				 "per node", json_string_value(json_object_get(json_object_get(it, "metadata"), "name")));
			found = 1;
			break;
		}
	}
	json_decref(list);
	return found;
}

int coexist_check(struct kube_client *c, const char *node, const char *plugin_dir, bool nvidia_plugin, char *why,
		  size_t cap, struct kerf_err *err)
{
	char sock[256];
	int rc;

	if ((rc = mig_manager(c, node, why, cap, err)) != 0)
		return rc;
	if (!nvidia_plugin) {
		if ((rc = kubelet_socket_serving(plugin_dir, "nvidia-mig-", sock, sizeof(sock), err)) < 0)
			return kerf_err_prefix(err, "looking for other device plugins");
		if (rc > 0) {
			snprintf(why, cap, "NVIDIA's device plugin serves nvidia.com/mig-* resources here (%s): run kerf with "
				 "agent.devicePlugin=nvidia-plugin, or keep NVIDIA's plugin off kerf's nodes", sock);
			return 1;
		}
	}
	return dra_driver(c, node, why, cap, err);
}
