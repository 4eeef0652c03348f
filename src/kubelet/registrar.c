/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registrar.c — registers each resource's endpoint with the kubelet, and again after a kubelet restart.
 *
 * A kubelet that starts empties its device-plugin directory and then creates kubelet.sock (kubelet
 * devicemanager); every plugin must then re-create its socket and register again. The NVIDIA plugin
 * watches the directory with inotify for the same reason; kerf does the same, and retries a failed
 * registration every register_retry_ms. Register is a blocking call with a deadline, so it runs on this
 * thread and never delays the gRPC server thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "deviceplugin_v1beta1.pb-c.h"
#include "plugin_int.h"

static int register_one(struct kubelet_plugin *p, const char *endpoint, const char *resource, struct kerf_err *err)
{
	V1beta1__RegisterRequest req = V1BETA1__REGISTER_REQUEST__INIT;
	V1beta1__DevicePluginOptions opts = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	ProtobufCMessage *resp = NULL;

	opts.get_preferred_allocation_available = true;
	req.version = (char *)"v1beta1";
	req.endpoint = (char *)endpoint;
	req.resource_name = (char *)resource;
	req.options = &opts;
	if (kgrpc_unary(p->kubelet_sock, "/v1beta1.Registration/Register", &req.base, &v1beta1__empty__descriptor, 4096,
			p->cfg.timeout_ms, &resp, err) < 0)
		return -1;
	protobuf_c_message_free_unpacked(resp, NULL);
	return 0;
}

/* Registers every resource not yet registered; returns how many are still left. */
static size_t register_pending(struct kubelet_plugin *p, bool quiet)
{
	size_t left = 0;

	for (size_t i = 0;; i++) {
		char endpoint[PLUGIN_ENDPOINT_MAX], name[KUBELET_RESOURCE_MAX];
		struct plugin_resource *r;
		struct kerf_err err;
		bool todo;

		pthread_mutex_lock(&p->lock);
		if (i >= p->n_res || p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		r = p->res[i];
		todo = !r->registered;
		memcpy(endpoint, r->endpoint, sizeof(endpoint));
		memcpy(name, r->name, sizeof(name));
		pthread_mutex_unlock(&p->lock);
		if (!todo)
			continue;
		if (register_one(p, endpoint, name, &err) < 0) {
			if (!quiet)
				fprintf(stderr, "kerf device plugin: %s: %s (retrying)\n", name, err.msg);
			left++;
			continue;
		}
		pthread_mutex_lock(&p->lock);
		r->registered = true;
		p->registrations++;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return left;
}

/* kubelet.sock was created again: re-create every endpoint socket and register them all anew. */
static void kubelet_restarted(struct kubelet_plugin *p)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_res; i++) {
		struct kerf_err err;

		p->res[i]->registered = false;
		if (kgrpc_server_relisten(p->srv, p->res[i]->lid, &err) < 0)
			fprintf(stderr, "kerf device plugin: %s\n", err.msg);
	}
	pthread_mutex_unlock(&p->lock);
}

static bool saw_kubelet_socket(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (char *q = buf; q < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)q;

			if (ev->len > 0 && strcmp(ev->name, "kubelet.sock") == 0)
				seen = true;
			q += sizeof(*ev) + ev->len;
		}
	return seen;
}

/* inotify reports kubelet.sock when the kubelet binds it, a moment before it listens: the first retries
 * after a change come quickly and quietly, then every register_retry_ms with a log line. */
#define FAST_RETRY_MS 20
#define FAST_RETRIES 25

static void *registrar_main(void *arg)
{
	struct kubelet_plugin *p = arg;
	size_t left = 0;
	int fast = 0;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = p->reg_wake_fd, .events = POLLIN}, {.fd = p->inotify_fd, .events = POLLIN}};
		int timeout = left == 0 ? -1 : fast > 0 ? FAST_RETRY_MS : p->cfg.register_retry_ms;
		bool stop;

		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(p->reg_wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				perror("kerf device plugin: eventfd");
			fast = FAST_RETRIES;
		}
		if ((pfd[1].revents & POLLIN) && saw_kubelet_socket(p->inotify_fd)) {
			kubelet_restarted(p);
			fast = FAST_RETRIES;
		}
		left = register_pending(p, fast > 0);
		if (fast > 0)
			fast--;
	}
	return NULL;
}

int plugin_registrar_start(struct kubelet_plugin *p, struct kerf_err *err)
{
	p->reg_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->reg_wake_fd < 0 || p->inotify_fd < 0)
		return kerf_err_set(err, KERF_EIO, "registrar: %s", strerror(errno));
	if (inotify_add_watch(p->inotify_fd, p->plugin_dir, IN_CREATE | IN_MOVED_TO) < 0)
		return kerf_err_set(err, errno == ENOENT ? KERF_ENOTFOUND : KERF_EIO, "plugin_dir: %s: %s",
				    p->plugin_dir, strerror(errno));
	if (pthread_create(&p->registrar, NULL, registrar_main, p) != 0)
		return kerf_err_set(err, KERF_EIO, "registrar: could not start its thread");
	p->registrar_started = true;
	return 0;
}

void plugin_registrar_wake(struct kubelet_plugin *p)
{
	uint64_t one = 1;

	if (write(p->reg_wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("kerf device plugin: eventfd");
}

void plugin_registrar_stop(struct kubelet_plugin *p)
{
	if (p->registrar_started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_mutex_unlock(&p->lock);
		plugin_registrar_wake(p);
		pthread_join(p->registrar, NULL);
	}
	if (p->reg_wake_fd >= 0)
		close(p->reg_wake_fd);
	if (p->inotify_fd >= 0)
		close(p->inotify_fd);
}
