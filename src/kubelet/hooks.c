/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hooks.c — the two callbacks the actuator makes around a destroy, and who else serves the node's MIG
 * devices: a running kerf plugin (for tools that cannot withdraw a device from it) or NVIDIA's plugin.
 *
 * Order the actuator follows (docs/architecture.md, "Safety"): pre_destroy (withdraw: no new pod can be given
 * the device), then is_allocated (a fresh List: no pod already holds it), then destroy. The List must be
 * fresh for every call: an allocation can land at any moment before the withdraw took effect. And since
 * the kubelet records an allocation only after Allocate answered, a device the plugin handed out within
 * its grace period counts as allocated whatever the List says.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kubelet.h"

int kubelet_hook_pre_destroy(void *arg, unsigned gpu_index, const char *mig_uuid, struct kerf_err *err)
{
	const struct kubelet_hooks *h = arg;

	if (h->plugin == NULL)
		return 0; /* NVIDIA-plugin mode: nothing of kerf's advertises the device */
	if (kubelet_plugin_withdraw(h->plugin, mig_uuid, err) < 0)
		return kerf_err_prefix(err, "GPU %u: withdraw %s", gpu_index, mig_uuid);
	return 0;
}

/* Whether the kubelet started within the checkpoint window: its pod-resources socket is made at its start.
 * A socket that cannot be read counts as new (the checkpoint is then asked: the safe side). */
static bool kubelet_is_new(const struct kubelet_hooks *h)
{
	int window = h->checkpoint_window_s > 0 ? h->checkpoint_window_s : KUBELET_CHECKPOINT_WINDOW_S;
	struct stat sb;

	if (stat(h->podres_socket != NULL ? h->podres_socket : KUBELET_PODRES_SOCKET, &sb) != 0)
		return true;
	return time(NULL) - sb.st_mtime < window;
}

int kubelet_hook_is_allocated(void *arg, const char *mig_uuid, bool *allocated, struct kerf_err *err)
{
	const struct kubelet_hooks *h = arg;
	struct kubelet_podres pr;

	/* The kubelet shows an allocation in pod-resources only after Allocate answered, so a device kerf's
	 * plugin handed out moments ago may be held by a pod the List below cannot see yet. */
	if (h->plugin != NULL && kubelet_plugin_recently_allocated(h->plugin, mig_uuid)) {
		*allocated = true;
		return 0;
	}
	if (kubelet_podres_list(h->podres_socket, h->timeout_ms, &pr, err) < 0)
		return kerf_err_prefix(err, "is %s allocated", mig_uuid);
	kubelet_podres_drop(&pr, h->pod_finished, h->pod_finished_arg); /* ended pods hold nothing */
	*allocated = kubelet_podres_find(&pr, mig_uuid) != NULL;
	kubelet_podres_free(&pr);
	/* Right after a kubelet restart, List can miss a pod not yet re-admitted whose container still runs on
	 * the device; the kubelet's checkpoint still records it. */
	if (!*allocated && h->checkpoint != NULL && kubelet_is_new(h) &&
	    kubelet_checkpoint_holds(h->checkpoint, mig_uuid, allocated, err) < 0)
		return kerf_err_prefix(err, "is %s allocated", mig_uuid);
	return 0;
}

/* Whether something accepts connections on the unix socket at path. */
static bool socket_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool live;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

int kubelet_plugin_serving(const char *plugin_dir, char *name, size_t cap, struct kerf_err *err)
{
	return kubelet_socket_serving(plugin_dir, "kerf-", name, cap, err);
}

int kubelet_socket_serving(const char *plugin_dir, const char *prefix, char *name, size_t cap, struct kerf_err *err)
{
	const char *dir = plugin_dir != NULL ? plugin_dir : KUBELET_PLUGIN_DIR;
	struct dirent *e;
	int found = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : kerf_err_set(err, KERF_EIO, "%s: %s", dir, strerror(errno));
	while (!found && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char path[4096];

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < strlen(prefix) + 6 ||
		    strcmp(e->d_name + len - 5, ".sock") != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) || !socket_live(path))
			continue;
		snprintf(name, cap, "%s", e->d_name);
		found = 1;
	}
	closedir(d);
	return found;
}

void kubelet_proc_argv0(const char *proc_root, const char *pid, char *out, size_t cap)
{
	char path[512], buf[512];
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s/cmdline", proc_root != NULL ? proc_root : "/proc", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0'; /* argv[0] ends at the first NUL */
	const char *slash = strrchr(buf, '/');
	snprintf(out, cap, "%s", slash ? slash + 1 : buf);
}

int kubelet_nvidia_find(const char *proc_root, pid_t *pid, struct kerf_err *err)
{
	DIR *d;
	struct dirent *e;
	int rc = -1;

	if (proc_root == NULL)
		proc_root = "/proc";
	d = opendir(proc_root);
	if (d == NULL)
		return kerf_err_set(err, KERF_EIO, "%s: %s", proc_root, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char name[256], *end;
		long v = strtol(e->d_name, &end, 10);

		if (*end != '\0' || v <= 0)
			continue;
		kubelet_proc_argv0(proc_root, e->d_name, name, sizeof(name));
		if (strcmp(name, "nvidia-device-plugin") == 0) {
			*pid = (pid_t)v;
			rc = 0;
			break;
		}
	}
	closedir(d);
	if (rc < 0)
		kerf_err_set(err, KERF_ENOTFOUND, "no nvidia-device-plugin process under %s (does the agent run with hostPID?)",
			     proc_root);
	return rc;
}

int kubelet_nvidia_reload(const char *proc_root, struct kerf_err *err)
{
	pid_t pid;

	if (kubelet_nvidia_find(proc_root, &pid, err) < 0)
		return -1;
	/* The NVIDIA plugin's main loop restarts every plugin server, re-enumerating MIG devices, on SIGHUP. */
	if (kill(pid, SIGHUP) < 0)
		return kerf_err_set(err, errno == EPERM ? KERF_EPERM : KERF_EIO, "SIGHUP to nvidia-device-plugin (pid %d): %s",
				    (int)pid, strerror(errno));
	return 0;
}
