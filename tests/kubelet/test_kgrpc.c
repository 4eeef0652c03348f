/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kgrpc.c — kerf's gRPC transport and device plugin, C against C (no Go needed), and the parts of
 * src/kubelet/ that need no peer at all: framing, resource names, input checks, the NVIDIA-plugin mode.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "deviceplugin_v1beta1.pb-c.h"
#include "kgrpc.h"
#include "kubelet.h"

#define R1 "nvidia.com/mig-1g.10gb"

struct fx {
	char dir[64];
	char sock[128];
	struct kubelet_plugin *plugin;
	/* a C Registration server standing in for the kubelet */
	struct kgrpc_server *kubelet;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int registrations;
	char endpoint[128];
};

static void h_register(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply)
{
	struct fx *f = ctx;
	const V1beta1__RegisterRequest *r = (const V1beta1__RegisterRequest *)req;
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;

	pthread_mutex_lock(&f->lock);
	f->registrations++;
	snprintf(f->endpoint, sizeof(f->endpoint), "%s|%s|%s", r->version, r->endpoint, r->resource_name);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	kgrpc_reply_pack(reply, &e.base);
}

static const struct kgrpc_method registration[] = {
	{"/v1beta1.Registration/Register", &v1beta1__register_request__descriptor, h_register, false},
};

static struct kubelet_device dev(const char *uuid, const char *res, unsigned gpu)
{
	struct kubelet_device d = {.gpu_index = gpu, .numa_node = -1, .healthy = true};

	snprintf(d.uuid, sizeof(d.uuid), "%s", uuid);
	snprintf(d.resource, sizeof(d.resource), "%s", res);
	return d;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct kubelet_plugin_config cfg = {.register_retry_ms = 50, .timeout_ms = 5000};
	const struct kubelet_device d[] = {dev("MIG-one", R1, 0), dev("MIG-two", R1, 1)};
	char path[160];
	struct kerf_err err;

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kerf-kgrpc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/kubelet.sock", f->dir);
	assert_int_equal(kgrpc_server_start(&f->kubelet, &err), 0);
	assert_true(kgrpc_server_listen(f->kubelet, path, registration, 1, NULL, f, &err) >= 0);
	cfg.plugin_dir = f->dir;
	if (kubelet_plugin_start(&cfg, &f->plugin, &err) < 0 || kubelet_plugin_set_devices(f->plugin, d, 2, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(f->sock, sizeof(f->sock), "%s/kerf-mig-1g.10gb.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	kubelet_plugin_stop(f->plugin);
	kgrpc_server_stop(f->kubelet);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static ProtobufCMessage *call(struct fx *f, const char *method, const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *desc, struct kerf_err *err)
{
	ProtobufCMessage *resp = NULL;

	if (kgrpc_unary(f->sock, method, req, desc, KGRPC_MAX_MSG, 5000, &resp, err) < 0)
		return NULL;
	return resp;
}

static void test_plugin_registers_with_a_c_registration_server(void **state)
{
	struct fx *f = *state;

	pthread_mutex_lock(&f->lock);
	while (f->registrations == 0)
		pthread_cond_wait(&f->cond, &f->lock);
	assert_string_equal(f->endpoint, "v1beta1|kerf-mig-1g.10gb.sock|" R1);
	pthread_mutex_unlock(&f->lock);
}

static void test_c_client_allocates_through_the_c_server(void **state)
{
	struct fx *f = *state;
	V1beta1__ContainerAllocateRequest cr = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
	V1beta1__ContainerAllocateRequest *crs[] = {&cr};
	V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
	char *ids[] = {(char *)"MIG-two", (char *)"MIG-one"};
	V1beta1__AllocateResponse *resp;
	struct kerf_err err;

	cr.n_devices_ids = 2;
	cr.devices_ids = ids;
	req.n_container_requests = 1;
	req.container_requests = crs;
	resp = (V1beta1__AllocateResponse *)call(f, "/v1beta1.DevicePlugin/Allocate", &req.base,
						 &v1beta1__allocate_response__descriptor, &err);
	if (resp == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(resp->n_container_responses, 1);
	assert_int_equal(resp->container_responses[0]->n_envs, 1);
	assert_string_equal(resp->container_responses[0]->envs[0]->key, "NVIDIA_VISIBLE_DEVICES");
	assert_string_equal(resp->container_responses[0]->envs[0]->value, "MIG-two,MIG-one");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_unknown_method_is_unimplemented(void **state)
{
	struct fx *f = *state;
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	struct kerf_err err;

	assert_null(call(f, "/v1beta1.DevicePlugin/Nope", &e.base, &v1beta1__empty__descriptor, &err));
	assert_int_equal(err.code, KERF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "grpc-status 12"));
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

/* Sends bytes and reads until the server closes the connection (it must, without crashing). */
static void send_and_expect_close(const char *path, const void *bytes, size_t len)
{
	int fd = raw_connect(path);
	struct timeval tv = {.tv_sec = 10};
	char buf[4096];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		;
	assert_true(n == 0 || errno == ECONNRESET);
	close(fd);
}

static void test_garbage_on_the_socket_ends_only_that_connection(void **state)
{
	static const char http1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	/* the preface, then a frame header announcing a 16 MiB frame of unknown type on stream 0 */
	char bad_frame[sizeof(preface) - 1 + 9];
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	struct fx *f = *state;
	ProtobufCMessage *resp;
	struct kerf_err err;

	memcpy(bad_frame, preface, sizeof(preface) - 1);
	memcpy(bad_frame + sizeof(preface) - 1, "\xff\xff\xff\x04\x00\x00\x00\x00\x00", 9);
	send_and_expect_close(f->sock, http1, sizeof(http1) - 1);
	send_and_expect_close(f->sock, bad_frame, sizeof(bad_frame));
	resp = call(f, "/v1beta1.DevicePlugin/GetDevicePluginOptions", &e.base, &v1beta1__device_plugin_options__descriptor,
		    &err);
	if (resp == NULL)
		fail_msg("the plugin stopped serving: %s", err.msg);
	assert_true(((V1beta1__DevicePluginOptions *)resp)->get_preferred_allocation_available);
	protobuf_c_message_free_unpacked(resp, NULL);
}

static void test_connections_beyond_the_limit_are_refused_and_service_resumes(void **state)
{
	struct fx *f = *state;
	int fds[KGRPC_MAX_CONNS + 8];
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	ProtobufCMessage *resp;
	struct kerf_err err;

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fds[i] = raw_connect(f->sock);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close(fds[i]);
	/* the server notices the closes on its next turn; a fresh call must then be served */
	for (int tries = 0;; tries++) {
		resp = call(f, "/v1beta1.DevicePlugin/GetDevicePluginOptions", &e.base,
			    &v1beta1__device_plugin_options__descriptor, &err);
		if (resp != NULL || tries == 50)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 20000000L}, NULL);
	}
	if (resp == NULL)
		fail_msg("%s", err.msg);
	protobuf_c_message_free_unpacked(resp, NULL);
}

static ssize_t stuck_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
	(void)s;
	(void)flags;
	return send(*(int *)user, data, len, MSG_NOSIGNAL);
}

static ssize_t stuck_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			  nghttp2_data_source *src, void *user)
{
	(void)s;
	(void)id;
	(void)src;
	(void)user;
	assert_true(len >= 5);
	memset(buf, 0, 5); /* an empty message: v1beta1.Empty */
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 5;
}

/*
 * A kubelet that opens ListAndWatch but never lets kerf send (its HTTP/2 flow-control window is 0):
 * withdraw cannot confirm the new list, so it fails with a timeout, and the device stays withdrawn.
 */
static void test_withdraw_times_out_when_the_kubelet_does_not_take_the_list_and_stays_withdrawn(void **state)
{
	struct fx *f = *state;
	struct kubelet_plugin *p;
	struct kubelet_plugin_config cfg = {.plugin_dir = f->dir, .socket_prefix = "stuck-", .timeout_ms = 300};
	const struct kubelet_device d[] = {dev("MIG-s1", R1, 0)};
	nghttp2_settings_entry zero = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
	const nghttp2_nv hdrs[] = {
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
		NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/v1beta1.DevicePlugin/ListAndWatch"),
		NV(":authority", "x"), NV("content-type", "application/grpc"), NV("te", "trailers"),
#undef NV
	};
	nghttp2_data_provider body = {.read_callback = stuck_body};
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	struct kubelet_plugin_stats st;
	struct kerf_err err;
	char path[160];
	int fd;

	if (kubelet_plugin_start(&cfg, &p, &err) < 0 || kubelet_plugin_set_devices(p, d, 1, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(path, sizeof(path), "%s/stuck-mig-1g.10gb.sock", f->dir);
	fd = raw_connect(path);
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_send_callback(cbs, stuck_send);
	assert_int_equal(nghttp2_session_client_new(&s, cbs, &fd), 0);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, &zero, 1);
	assert_true(nghttp2_submit_request(s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &body, NULL) > 0);
	assert_int_equal(nghttp2_session_send(s), 0);
	for (int tries = 0;; tries++) { /* the server thread opens the stream on its next turn */
		kubelet_plugin_stats(p, &st);
		if (st.watchers == 1 || tries == 500)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10000000L}, NULL);
	}
	assert_int_equal(st.watchers, 1);
	assert_int_equal(kubelet_plugin_withdraw(p, "MIG-s1", &err), -1);
	assert_int_equal(err.code, KERF_ETIMEOUT);
	{
		V1beta1__ContainerAllocateRequest cr = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
		V1beta1__ContainerAllocateRequest *crs[] = {&cr};
		V1beta1__AllocateRequest req = V1BETA1__ALLOCATE_REQUEST__INIT;
		char *ids[] = {(char *)"MIG-s1"};
		ProtobufCMessage *resp = NULL;

		cr.n_devices_ids = 1;
		cr.devices_ids = ids;
		req.n_container_requests = 1;
		req.container_requests = crs;
		assert_int_equal(kgrpc_unary(path, "/v1beta1.DevicePlugin/Allocate", &req.base,
					     &v1beta1__allocate_response__descriptor, 4096, 5000, &resp, &err),
				 -1);
		assert_non_null(strstr(err.msg, "grpc-status 9"));
	}
	nghttp2_session_del(s);
	nghttp2_session_callbacks_del(cbs);
	close(fd);
	kubelet_plugin_stop(p);
}

static void test_a_server_that_never_answers_times_out(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	ProtobufCMessage *resp;
	struct kerf_err err;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	(void)state;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/kerf-kgrpc-mute-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0); /* never accepted: the kernel queues the connection */
	assert_int_equal(kgrpc_unary(sa.sun_path, "/x.Y/Z", &e.base, &v1beta1__empty__descriptor, 100, 200, &resp, &err), -1);
	assert_int_equal(err.code, KERF_ETIMEOUT);
	close(fd);
	unlink(sa.sun_path);
	assert_int_equal(kgrpc_unary(sa.sun_path, "/x.Y/Z", &e.base, &v1beta1__empty__descriptor, 100, 200, &resp, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
}

/* Both ends refuse a socket path that struct sockaddr_un cannot hold, naming it, before opening anything. */
static void test_a_socket_path_too_long_for_sun_path_is_refused_by_both_ends(void **state)
{
	struct sockaddr_un sa;
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	ProtobufCMessage *resp;
	struct kgrpc_server *srv;
	struct kerf_err err;
	char path[sizeof(sa.sun_path) + 8], want[64];

	(void)state;
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(want, sizeof(want), ": socket path is longer than %zu bytes", sizeof(sa.sun_path) - 1);
	assert_int_equal(kgrpc_unary(path, "/x.Y/Z", &e.base, &v1beta1__empty__descriptor, 100, 200, &resp, &err), -1);
	assert_int_equal(err.code, KERF_EINVAL);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(kgrpc_server_start(&srv, &err), 0);
	assert_int_equal(kgrpc_server_listen(srv, path, NULL, 0, NULL, NULL, &err), -1);
	kgrpc_server_stop(srv);
	assert_int_equal(err.code, KERF_EINVAL);
	assert_non_null(strstr(err.msg, ": socket path is"));
}

static void test_frame_decode_rejects_each_kind_of_bad_frame(void **state)
{
	static const struct {
		const char *name;
		const uint8_t bytes[12];
		size_t len;
		size_t limit;
		enum kgrpc_code code;
	} cases[] = {
		{"shorter than the prefix", {0, 0, 0}, 3, 100, KGRPC_INTERNAL},
		{"compressed", {1, 0, 0, 0, 0}, 5, 100, KGRPC_UNIMPLEMENTED},
		{"bad flag", {7, 0, 0, 0, 0}, 5, 100, KGRPC_INTERNAL},
		{"length beyond the data", {0, 0, 0, 0, 9, 0x0a, 0}, 7, 100, KGRPC_INTERNAL},
		{"trailing bytes", {0, 0, 0, 0, 0, 0}, 6, 100, KGRPC_INTERNAL},
		{"over the limit", {0, 0, 0, 0, 3, 0x0a, 1, 'x'}, 8, 2, KGRPC_RESOURCE_EXHAUSTED},
		{"4 GiB claimed", {0, 0xff, 0xff, 0xff, 0xff}, 5, KGRPC_MAX_MSG, KGRPC_RESOURCE_EXHAUSTED},
		{"not protobuf", {0, 0, 0, 0, 2, 0x0f, 0xff}, 7, 100, KGRPC_INTERNAL},
		{"string runs past the end", {0, 0, 0, 0, 3, 0x0a, 0x7f, 'x'}, 8, 100, KGRPC_INTERNAL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ProtobufCMessage *m = (ProtobufCMessage *)1;
		enum kgrpc_code code;
		struct kerf_err err;

		if (kgrpc_frame_decode(cases[i].bytes, cases[i].len, cases[i].limit,
				       &v1beta1__container_allocate_request__descriptor, &m, &code, &err) != -1 ||
		    m != NULL || code != cases[i].code)
			fail_msg("%s: accepted or wrong code %d", cases[i].name, code);
	}
}

static void test_bad_inventory_is_rejected_with_the_field_path(void **state)
{
	struct fx *f = *state;
	const struct kubelet_device dup[] = {dev("MIG-one", R1, 0), dev("MIG-one", R1, 1)};
	const struct kubelet_device bad[] = {dev("MIG-one", R1, 0), dev("MIG-x", "nvidia.com/mig 1g", 1)};
	const struct kubelet_device empty[] = {dev("", R1, 0)};
	struct kerf_err err;

	assert_int_equal(kubelet_plugin_set_devices(f->plugin, dup, 2, &err), -1);
	assert_string_equal(err.msg, "devices[1].uuid: MIG-one is also devices[0]");
	assert_int_equal(kubelet_plugin_set_devices(f->plugin, bad, 2, &err), -1);
	assert_non_null(strstr(err.msg, "devices[1].resource:"));
	assert_int_equal(kubelet_plugin_set_devices(f->plugin, empty, 1, &err), -1);
	assert_non_null(strstr(err.msg, "devices[0].uuid:"));
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static void test_nvidia_mode_finds_the_plugin_and_sends_it_sighup(void **state)
{
	char root[] = "/tmp/kerf-proc-XXXXXX", path[256], cmd[64];
	sigset_t set;
	pid_t child, found = 0;
	int status;
	struct kerf_err err;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_int_equal(kubelet_nvidia_find(root, &found, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	child = fork();
	if (child == 0) {
		int sig = 0;

		alarm(20);
		sigwait(&set, &sig);
		_exit(sig == SIGHUP ? 42 : 1);
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	snprintf(path, sizeof(path), "%s/1", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/1/cmdline", root);
	write_file(path, "/sbin/init\0", 11);
	snprintf(path, sizeof(path), "%s/%d", root, (int)child);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/cmdline", root, (int)child);
	write_file(path, "/usr/bin/nvidia-device-plugin\0--mig-strategy=mixed\0", 51);
	assert_int_equal(kubelet_nvidia_find(root, &found, &err), 0);
	assert_int_equal(found, child);
	assert_int_equal(kubelet_nvidia_reload(root, &err), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_socket_path_too_long_for_sun_path_is_refused_by_both_ends),
		cmocka_unit_test_setup_teardown(test_plugin_registers_with_a_c_registration_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_client_allocates_through_the_c_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method_is_unimplemented, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_on_the_socket_ends_only_that_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_beyond_the_limit_are_refused_and_service_resumes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_withdraw_times_out_when_the_kubelet_does_not_take_the_list_and_stays_withdrawn, setup, teardown),
		cmocka_unit_test(test_a_server_that_never_answers_times_out),
		cmocka_unit_test(test_frame_decode_rejects_each_kind_of_bad_frame),
		cmocka_unit_test_setup_teardown(test_bad_inventory_is_rejected_with_the_field_path, setup, teardown),
		cmocka_unit_test(test_nvidia_mode_finds_the_plugin_and_sends_it_sighup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
