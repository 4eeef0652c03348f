/* SPDX-License-Identifier: Apache-2.0 */
/*
 * checkpoint.c — the kubelet's device-manager checkpoint (<device-plugins>/kubelet_internal_checkpoint), read
 * as a second witness of which devices pods hold.
 *
 * Why: pod-resources List answers from the kubelet's live pod set; right after a kubelet restart a pod not yet
 * re-admitted can be missing from it while its container still runs on the device. The checkpoint is the
 * kubelet's own durable record of every (pod, container, resource, devices) allocation, written before a
 * container starts. But a deleted pod's entry stays until the kubelet's next allocation rewrites the file
 * (seen on kubelet 1.37), so the checkpoint is asked only while the kubelet is new (hooks.c), never as the
 * only truth: otherwise a freed device could not be re-cut until some other pod was admitted.
 *
 * Format (v1 of the kubelet's checkpoint, a JSON object): Data.PodDeviceEntries[] with DeviceIDs either a map
 * {NUMA node: [ids]} (1.20+) or a plain list (older). Data.RegisteredDevices lists every device a plugin ever
 * advertised and says nothing about allocation: it is not read. The file is the kubelet's, but it is read here
 * as untrusted input: anything that does not parse is "cannot tell".
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "kubelet.h"

static bool in_ids(const json_t *ids, const char *uuid)
{
	const json_t *v;
	size_t i;

	json_array_foreach(ids, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), uuid) == 0)
			return true;
	return false;
}

int kubelet_checkpoint_holds(const char *path, const char *mig_uuid, bool *held, struct kerf_err *err)
{
	json_error_t jerr;
	json_t *root, *entries, *e;
	struct stat sb;
	size_t i;

	*held = false;
	if (stat(path, &sb) != 0 && errno == ENOENT)
		return 0; /* no checkpoint: the kubelet has recorded no allocation */
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return kerf_err_set(err, KERF_EIO, "%s: cannot tell which devices pods hold: %s", path, jerr.text);
	entries = json_object_get(json_object_get(root, "Data"), "PodDeviceEntries");
	if (entries != NULL && !json_is_array(entries) && !json_is_null(entries)) {
		json_decref(root);
		return kerf_err_set(err, KERF_EIO, "%s: Data.PodDeviceEntries is not a list: cannot tell which devices pods hold",
				    path);
	}
	json_array_foreach(entries, i, e)
	{
		const json_t *ids = json_object_get(e, "DeviceIDs"), *per_numa;
		const char *numa;

		if (json_is_array(ids))
			*held = *held || in_ids(ids, mig_uuid);
		else
			json_object_foreach((json_t *)ids, numa, per_numa)
				*held = *held || in_ids(per_numa, mig_uuid);
	}
	json_decref(root);
	return 0;
}
