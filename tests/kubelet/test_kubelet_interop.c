/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kubelet_interop.c — kerf's device plugin and pod-resources client against a real gRPC peer.
 *
 * The peer is tools/kubelet-standin: grpc-go with the official k8s.io/kubelet API packages, acting as
 * the kubelet (Registration server, DevicePlugin client, pod-resources server). Its path is argv[1].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet.h"
#include "peer.h"

static const char *standin;

#define R1 "nvidia.com/mig-1g.10gb"
#define R3 "nvidia.com/mig-3g.40gb"

struct fixture {
	char dir[64];
	char podres[128];
	struct peer peer;
	struct kubelet_plugin *plugin;
	struct kubelet_plugin_config cfg;
};

static struct kubelet_device dev(const char *uuid, const char *res, unsigned gpu, int numa, bool healthy)
{
	struct kubelet_device d = {.gpu_index = gpu, .numa_node = numa, .healthy = healthy};

	snprintf(d.uuid, sizeof(d.uuid), "%s", uuid);
	snprintf(d.resource, sizeof(d.resource), "%s", res);
	return d;
}

#define GRACE_MS 1500

static int setup_cfg(void **state, bool cdi)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kerf_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kerf-kubelet-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->podres, sizeof(f->podres), "%s/podres.sock", f->dir);
	assert_int_equal(peer_start(&f->peer, standin, f->dir, f->podres), 0);
	/* A short Allocate grace period, so that a test can see it expire. */
	f->cfg = (struct kubelet_plugin_config){.plugin_dir = f->dir, .cdi = cdi, .register_retry_ms = 100,
						.timeout_ms = 10000, .allocate_grace_ms = GRACE_MS};
	if (kubelet_plugin_start(&f->cfg, &f->plugin, &err) < 0)
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_cfg(state, false);
}

static int setup_cdi(void **state)
{
	return setup_cfg(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kubelet_plugin_stop(f->plugin);
	peer_stop(&f->peer);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void set_devices(struct fixture *f, const struct kubelet_device *d, size_t n)
{
	struct kerf_err err;

	if (kubelet_plugin_set_devices(f->plugin, d, n, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Waits for the first list of `res` (from *from on) whose ids are exactly `ids`. */
static json_t *wait_list(struct fixture *f, size_t *from, const char *res, const char *ids)
{
	for (;;) {
		json_t *ev = peer_wait(&f->peer, from, "list", "resource", res);
		char got[1024];

		if (ev == NULL)
			fail_msg("%s: never received the list [%s]", res, ids);
		peer_list_ids(ev, got, sizeof(got));
		if (strcmp(got, ids) == 0)
			return ev;
	}
}

static void start_two_resources(struct fixture *f)
{
	const struct kubelet_device d[] = {
		dev("MIG-aaaa", R1, 0, 0, true), dev("MIG-bbbb", R1, 1, 1, true), dev("MIG-cccc", R3, 0, 0, true)};
	size_t from = 0;

	set_devices(f, d, 3);
	wait_list(f, &from, R1, "MIG-aaaa,MIG-bbbb");
	from = 0;
	wait_list(f, &from, R3, "MIG-cccc");
}

static void test_each_resource_registers_and_the_peer_gets_its_full_list(void **state)
{
	struct fixture *f = *state;
	size_t from = 0;
	json_t *reg, *list;

	start_two_resources(f);
	reg = peer_wait(&f->peer, &from, "register", "resource", R1);
	assert_non_null(reg);
	assert_string_equal(json_string_value(json_object_get(reg, "version")), "v1beta1");
	assert_string_equal(json_string_value(json_object_get(reg, "endpoint")), "kerf-mig-1g.10gb.sock");
	assert_true(json_is_true(json_object_get(reg, "preferred")));
	from = 0;
	assert_non_null(peer_wait(&f->peer, &from, "register", "resource", R3));
	from = 0;
	assert_non_null(peer_wait(&f->peer, &from, "options", "resource", R1));
	from = 0;
	list = wait_list(f, &from, R1, "MIG-aaaa,MIG-bbbb");
	json_t *d1 = json_array_get(json_object_get(list, "devices"), 1);
	assert_string_equal(json_string_value(json_object_get(d1, "health")), "Healthy");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(d1, "numa"), 0)), 1);
}

static void test_peer_receives_every_change_on_the_open_stream(void **state)
{
	struct fixture *f = *state;
	const struct kubelet_device changed[] = {dev("MIG-bbbb", R1, 1, 1, false), dev("MIG-dddd", R1, 1, 1, true),
						 dev("MIG-cccc", R3, 0, 0, true)};
	const struct kubelet_device r3_gone[] = {dev("MIG-bbbb", R1, 1, 1, true)};
	struct kubelet_plugin_stats st;
	size_t from;
	json_t *list;

	start_two_resources(f);
	from = peer_events(&f->peer);
	set_devices(f, changed, 3);
	list = wait_list(f, &from, R1, "MIG-bbbb,MIG-dddd");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(list, "devices"), 0), "health")),
			    "Unhealthy");
	/* the last device of a resource goes: its endpoint stays and advertises an empty list */
	from = peer_events(&f->peer);
	set_devices(f, r3_gone, 1);
	wait_list(f, &from, R3, "");
	kubelet_plugin_stats(f->plugin, &st);
	assert_int_equal(st.resources, 2);
	assert_int_equal(st.watchers, 2); /* one stream each, kept open: no reconnects, no polling */
}

static void test_plugin_registers_again_after_the_kubelet_restarts(void **state)
{
	struct fixture *f = *state;
	size_t mark, from;
	json_t *r;

	start_two_resources(f);
	mark = peer_events(&f->peer);
	r = peer_call(&f->peer, "{\"op\":\"restart\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	from = mark;
	assert_non_null(peer_wait(&f->peer, &from, "register", "resource", R1));
	from = mark;
	assert_non_null(peer_wait(&f->peer, &from, "register", "resource", R3));
	from = mark;
	wait_list(f, &from, R1, "MIG-aaaa,MIG-bbbb");
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-bbbb\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
}

static void test_allocate_answers_visible_devices_and_refuses_unknown_ids(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	start_two_resources(f);
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\",\"MIG-bbbb\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "envs"), "NVIDIA_VISIBLE_DEVICES")),
			    "MIG-aaaa,MIG-bbbb");
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-cccc\"]}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "code")), 9); /* FAILED_PRECONDITION */
}

static void test_allocate_answers_cdi_names_when_configured(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	start_two_resources(f);
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "cdi"), 0)), "nvidia.com/gpu=MIG-aaaa");
	assert_null(json_object_get(json_object_get(r, "envs"), "NVIDIA_VISIBLE_DEVICES"));
}

static void test_preferred_allocation_stays_on_one_gpu(void **state)
{
	struct fixture *f = *state;
	const struct kubelet_device d[] = {dev("MIG-g0a", R1, 0, 0, true), dev("MIG-g1a", R1, 1, 0, true),
					   dev("MIG-g1b", R1, 1, 0, true), dev("MIG-g2a", R1, 2, 0, true),
					   dev("MIG-g2b", R1, 2, 0, true), dev("MIG-g2c", R1, 2, 0, true)};
	size_t from = 0;
	json_t *r;

	set_devices(f, d, 6);
	wait_list(f, &from, R1, "MIG-g0a,MIG-g1a,MIG-g1b,MIG-g2a,MIG-g2b,MIG-g2c");
	/* two devices: GPU 1 fits exactly (GPU 2 would be split, GPU 0 cannot hold two) */
	r = peer_call(&f->peer, "{\"op\":\"preferred\",\"resource\":\"" R1 "\",\"size\":2,\"available\":"
				"[\"MIG-g0a\",\"MIG-g2a\",\"MIG-g1a\",\"MIG-g2b\",\"MIG-g1b\",\"MIG-g2c\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 0)), "MIG-g1a");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 1)), "MIG-g1b");
	/* a must-include device pins the GPU */
	r = peer_call(&f->peer, "{\"op\":\"preferred\",\"resource\":\"" R1 "\",\"size\":2,\"must\":[\"MIG-g2c\"],"
				"\"available\":[\"MIG-g0a\",\"MIG-g1a\",\"MIG-g1b\",\"MIG-g2a\",\"MIG-g2b\",\"MIG-g2c\"]}");
	assert_int_equal(json_array_size(json_object_get(r, "ids")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 0)), "MIG-g2c");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 1)), "MIG-g2a");
	/* four cannot fit one GPU: the biggest group whole, then the GPU that fits the rest most tightly */
	r = peer_call(&f->peer, "{\"op\":\"preferred\",\"resource\":\"" R1 "\",\"size\":4,\"available\":"
				"[\"MIG-g0a\",\"MIG-g1a\",\"MIG-g1b\",\"MIG-g2a\",\"MIG-g2b\",\"MIG-g2c\"]}");
	assert_int_equal(json_array_size(json_object_get(r, "ids")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 0)), "MIG-g2a");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 2)), "MIG-g2c");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ids"), 3)), "MIG-g0a");
}

/*
 * The race the design's safety rule is about: a kubelet keeps asking for device X (several concurrent
 * Allocate calls, as a kubelet admitting pods would) while kerf withdraws X. Whatever the interleaving,
 * no Allocate that started after kubelet_plugin_withdraw() returned may succeed, a refusal is never
 * followed by a success, and the peer ends up with a list without X.
 */
static void test_allocate_racing_a_withdraw_never_hands_out_the_withdrawn_device(void **state)
{
	enum { ROUNDS = 25, N = ROUNDS + 1 };
	struct fixture *f = *state;
	struct kubelet_device d[N];
	char ids[2048] = "";
	size_t o = 0, from = 0;
	long long calls = 0, allocated = 0, refused = 0;

	for (int i = 0; i < N; i++) {
		char u[32];

		snprintf(u, sizeof(u), "MIG-race-%02d", i);
		d[i] = dev(u, R1, (unsigned)i % 2, 0, true);
		o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s", i ? "," : "", u);
	}
	set_devices(f, d, N);
	wait_list(f, &from, R1, ids);
	for (int i = 0; i < ROUNDS; i++) {
		struct kerf_err err;
		long long returned;
		json_t *r;

		r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"%s\"]}", d[i].uuid);
		assert_true(json_is_true(json_object_get(r, "ok")));
		r = peer_call(&f->peer, "{\"op\":\"hammer\",\"resource\":\"" R1 "\",\"ids\":[\"%s\"],\"workers\":4}",
			      d[i].uuid);
		assert_true(json_is_true(json_object_get(r, "ok")));
		/* vary where in the callers' stream of calls the withdraw lands (0 to 2 ms in) */
		nanosleep(&(struct timespec){.tv_nsec = (i % 5) * 500000L}, NULL);
		if (kubelet_plugin_withdraw(f->plugin, d[i].uuid, &err) < 0)
			fail_msg("%s", err.msg);
		returned = peer_mono_ns();
		r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"%s\"]}", d[i].uuid);
		assert_false(json_is_true(json_object_get(r, "ok")));
		r = peer_call(&f->peer, "{\"op\":\"stop_hammer\"}");
		assert_non_null(r);
		long long last_ok = json_integer_value(json_object_get(r, "last_ok_start_ns"));

		calls += json_integer_value(json_object_get(r, "calls"));
		allocated += json_integer_value(json_object_get(r, "allocated"));
		refused += json_integer_value(json_object_get(r, "refused"));
		if (last_ok >= returned || json_integer_value(json_object_get(r, "ok_after_refused")) != 0)
			fail_msg("round %d: %s handed out after withdraw (last ok call started %lld ns after withdraw "
				 "returned; %lld successes after a refusal; %lld calls)",
				 i, d[i].uuid, last_ok - returned,
				 (long long)json_integer_value(json_object_get(r, "ok_after_refused")),
				 (long long)json_integer_value(json_object_get(r, "calls")));
		/* the peer's newest list no longer has the device (withdraw waited until it was written) */
		o = 0;
		for (int k = i + 1; k < N; k++)
			o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s", k > i + 1 ? "," : "", d[k].uuid);
		wait_list(f, &from, R1, ids);
	}
	printf("withdraw race: %d rounds, 4 concurrent Allocate callers: %lld calls, %lld allocated before the "
	       "withdraw, %lld refused after it\n", ROUNDS, calls, allocated, refused);
}

static void test_withdrawn_device_stays_out_until_reinstated_even_if_inventory_repeats_it(void **state)
{
	struct fixture *f = *state;
	const struct kubelet_device d[] = {dev("MIG-aaaa", R1, 0, 0, true), dev("MIG-bbbb", R1, 1, 1, true)};
	struct kerf_err err;
	size_t from = 0;
	json_t *r;

	set_devices(f, d, 2);
	wait_list(f, &from, R1, "MIG-aaaa,MIG-bbbb");
	assert_int_equal(kubelet_plugin_withdraw(f->plugin, "MIG-aaaa", &err), 0);
	wait_list(f, &from, R1, "MIG-bbbb");
	set_devices(f, d, 2); /* a stale inventory scan still lists the device */
	assert_int_equal(kubelet_plugin_sync(f->plugin, &err), 0);
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\"]}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(kubelet_plugin_reinstate(f->plugin, "MIG-aaaa", &err), 0);
	wait_list(f, &from, R1, "MIG-aaaa,MIG-bbbb");
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(kubelet_plugin_withdraw(f->plugin, "MIG-nope", &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
}

static void test_malformed_and_oversized_requests_are_refused_and_the_plugin_keeps_serving(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	start_two_resources(f);
	/* not a protobuf message: a field with wire type 7 */
	r = peer_call(&f->peer, "{\"op\":\"raw\",\"resource\":\"" R1 "\",\"method\":\"/v1beta1.DevicePlugin/Allocate\","
				"\"hex\":\"0fffffffff\"}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "code")), 13); /* INTERNAL */
	/* a length-delimited field claiming more bytes than there are */
	r = peer_call(&f->peer, "{\"op\":\"raw\",\"resource\":\"" R1 "\",\"method\":\"/v1beta1.DevicePlugin/Allocate\","
				"\"hex\":\"0a7f0a\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "code")), 13);
	/* 5 MiB: above the 4 MiB message limit */
	r = peer_call(&f->peer, "{\"op\":\"raw\",\"resource\":\"" R1 "\",\"method\":\"/v1beta1.DevicePlugin/Allocate\","
				"\"bytes\":5242880}");
	assert_int_equal(json_integer_value(json_object_get(r, "code")), 8); /* RESOURCE_EXHAUSTED */
	r = peer_call(&f->peer, "{\"op\":\"raw\",\"resource\":\"" R1 "\",\"method\":\"/v1beta1.DevicePlugin/Nope\","
				"\"hex\":\"\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "code")), 12); /* UNIMPLEMENTED */
	/* well-formed but absurd: more device IDs in one container than any node has */
	{
		char ids[1100 * 4 + 1];
		size_t o = 0;

		for (int i = 0; i < 1100; i++)
			o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s\"a\"", i ? "," : "");
		r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[%s]}", ids);
		assert_int_equal(json_integer_value(json_object_get(r, "code")), 3); /* INVALID_ARGUMENT */
	}
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
}

/* ---- pod-resources ---- */

static void set_podres(struct fixture *f, int pad)
{
	json_t *r = peer_call(&f->peer,
			      "{\"op\":\"podres\",\"bytes\":%d,\"pods\":["
			      "{\"namespace\":\"ml\",\"name\":\"train-0\",\"container\":\"main\",\"resource\":\"" R1
			      "\",\"ids\":[\"MIG-aaaa\"],\"numa\":1},"
			      "{\"namespace\":\"ml\",\"name\":\"infer-1\",\"container\":\"srv\",\"resource\":\"" R3
			      "\",\"ids\":[\"MIG-cccc\",\"MIG-eeee\"],\"numa\":0},"
			      "{\"resource\":\"" R1 "\",\"ids\":[\"MIG-aaaa\",\"MIG-bbbb\"],\"numa\":0}]}",
			      pad);

	assert_true(json_is_true(json_object_get(r, "ok")));
}

static void test_podres_list_says_which_pod_holds_each_device(void **state)
{
	struct fixture *f = *state;
	const struct kubelet_podres_device *e;
	struct kubelet_podres pr;
	struct kerf_err err;

	set_podres(f, 0);
	if (kubelet_podres_list(f->podres, 5000, &pr, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(pr.n, 3);
	e = kubelet_podres_find(&pr, "MIG-eeee");
	assert_non_null(e);
	assert_string_equal(e->pod_namespace, "ml");
	assert_string_equal(e->pod_name, "infer-1");
	assert_string_equal(e->container, "srv");
	assert_string_equal(e->resource, R3);
	assert_int_equal(kubelet_podres_find(&pr, "MIG-aaaa")->numa_node, 1);
	assert_null(kubelet_podres_find(&pr, "MIG-bbbb"));
	kubelet_podres_free(&pr);
	if (kubelet_podres_allocatable(f->podres, 5000, &pr, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(pr.n, 2);
	assert_string_equal(pr.items[1].device_id, "MIG-bbbb");
	kubelet_podres_free(&pr);
}

static void test_podres_answer_over_the_limit_is_refused(void **state)
{
	struct fixture *f = *state;
	struct kubelet_podres pr;
	struct kerf_err err;

	set_podres(f, (int)KUBELET_PODRES_MAX_MSG + 1024);
	assert_int_equal(kubelet_podres_list(f->podres, 10000, &pr, &err), -1);
	if (strstr(err.msg, "larger than the limit") == NULL)
		fail_msg("unexpected error: %s", err.msg);
}

/* The kubelet records an allocation in pod-resources only after Allocate answered. A device the plugin has
 * just handed out must count as allocated even though pod-resources does not show it, until the grace
 * period has passed; then pod-resources alone decides again. */
static void test_device_just_allocated_counts_as_allocated_before_pod_resources_shows_it(void **state)
{
	struct fixture *f = *state;
	struct kubelet_hooks h = {.plugin = f->plugin, .podres_socket = f->podres, .timeout_ms = 5000};
	struct kerf_err err;
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
	bool used = true;
	json_t *r;
	int waited_ms = 0;

	start_two_resources(f);
	assert_int_equal(kubelet_hook_is_allocated(&h, "MIG-bbbb", &used, &err), 0);
	assert_false(used);
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"" R1 "\",\"ids\":[\"MIG-bbbb\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	/* pod-resources is still empty (this stand-in records nothing on a plain allocate) */
	assert_true(kubelet_plugin_recently_allocated(f->plugin, "MIG-bbbb"));
	assert_int_equal(kubelet_hook_is_allocated(&h, "MIG-bbbb", &used, &err), 0);
	assert_true(used);
	assert_false(kubelet_plugin_recently_allocated(f->plugin, "MIG-aaaa"));
	/* A re-published inventory keeps the record. */
	start_two_resources(f);
	assert_true(kubelet_plugin_recently_allocated(f->plugin, "MIG-bbbb"));
	while (kubelet_plugin_recently_allocated(f->plugin, "MIG-bbbb") && waited_ms < 10 * GRACE_MS) {
		nanosleep(&pause, NULL);
		waited_ms += 100;
	}
	assert_false(kubelet_plugin_recently_allocated(f->plugin, "MIG-bbbb"));
	assert_int_equal(kubelet_hook_is_allocated(&h, "MIG-bbbb", &used, &err), 0);
	assert_false(used);
}

static void test_actuator_hooks_withdraw_then_check_pod_resources(void **state)
{
	struct fixture *f = *state;
	int (*pre_destroy)(void *, unsigned, const char *, struct kerf_err *) = kubelet_hook_pre_destroy;
	int (*is_allocated)(void *, const char *, bool *, struct kerf_err *) = kubelet_hook_is_allocated;
	struct kubelet_hooks h = {.plugin = f->plugin, .podres_socket = f->podres, .timeout_ms = 5000};
	struct kerf_err err;
	bool used = false;
	size_t from;

	start_two_resources(f);
	set_podres(f, 0);
	from = peer_events(&f->peer);
	assert_int_equal(pre_destroy(&h, 1, "MIG-bbbb", &err), 0);
	wait_list(f, &from, R1, "MIG-aaaa");
	assert_int_equal(is_allocated(&h, "MIG-bbbb", &used, &err), 0);
	assert_false(used);
	assert_int_equal(is_allocated(&h, "MIG-aaaa", &used, &err), 0);
	assert_true(used);
	assert_int_equal(pre_destroy(&h, 0, "MIG-zzzz", &err), -1);
	assert_non_null(strstr(err.msg, "GPU 0: withdraw MIG-zzzz"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_resource_registers_and_the_peer_gets_its_full_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_receives_every_change_on_the_open_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_registers_again_after_the_kubelet_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_answers_visible_devices_and_refuses_unknown_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_allocate_answers_cdi_names_when_configured, setup_cdi, teardown),
		cmocka_unit_test_setup_teardown(test_preferred_allocation_stays_on_one_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_racing_a_withdraw_never_hands_out_the_withdrawn_device,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_withdrawn_device_stays_out_until_reinstated_even_if_inventory_repeats_it, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_malformed_and_oversized_requests_are_refused_and_the_plugin_keeps_serving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_podres_list_says_which_pod_holds_each_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_podres_answer_over_the_limit_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actuator_hooks_withdraw_then_check_pod_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_just_allocated_counts_as_allocated_before_pod_resources_shows_it,
						setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s KUBELET_STANDIN\n", argv[0]);
		return 2;
	}
	standin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
