/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_miglayout.c — the agent's Kubernetes side end to end: a real kube-apiserver with the MigLayout CRD
 * (the kube_cp fixture), the simulated NVML library, the real agent with kerf's device plugin, and the Go
 * kubelet stand-in (argv[1]) serving pod-resources. The test plays the controller: it writes the spec with
 * a merge patch, as the controller will, and reads what the agent reports in the status.
 *
 * What exists is read from the simulator's state file, what the agent reports from the API server.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "controller.h"
#include "fakestate.h"
#include "live.h"
#include "mig.h"
#include "miglayout.h"
#include "peer.h"

#define ORIG "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4"
#define MERGED "2g.20gb@0,2g.20gb@2,3g.40gb@4"
#define R1 "nvidia.com/mig-1g.10gb"

static const char *standin;
static struct fk_state st;

struct fixture {
	struct live *l;
	char dir[64], state[128], journals[128], podres[128], node[96];
	struct peer peer;
	struct agent_node *agent;
	struct agent_sync *sync;
};

/* ---------------------------------------------------------------- simulated GPU */

static void fk_edit_layout(struct fixture *f, const char *layout, int busy_start)
{
	struct kerf_err err;
	int fd = fk_lock(f->state, &st, &err);

	if (fd < 0)
		fail_msg("%s", err.msg);
	if (layout != NULL && fk_create_layout(&st, 0, layout, &err) < 0)
		fail_msg("%s", err.msg);
	if (busy_start >= 0 && fk_set_pid(&st, 0, (unsigned)busy_start, 4242, &err) < 0)
		fail_msg("%s", err.msg);
	if (fk_unlock(fd, &st, layout != NULL || busy_start >= 0, &err) < 0)
		fail_msg("%s", err.msg);
}

static void assert_gpu_layout(struct fixture *f, const char *want)
{
	struct mig_layout l;
	char have[256];

	fk_edit_layout(f, NULL, -1);
	fk_layout(&st.gpu[0], &l, NULL);
	mig_layout_sort(&l);
	assert_true(mig_layout_format(fk_model(&st.gpu[0]), &l, have, sizeof(have)) >= 0);
	assert_string_equal(have, want);
}

/* The MIG UUID of GPU 0's instance at start. */
static void uuid_at(struct fixture *f, unsigned start, char *out, size_t cap)
{
	fk_edit_layout(f, NULL, -1);
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		const struct fk_gi *gi = &st.gpu[0].gi[id];

		if (gi->live && gi->start == start && gi->ci[0].live) {
			fk_mig_uuid(0, gi->ci[0].serial, out, cap);
			return;
		}
	}
	fail_msg("no instance at %u", start);
}

/* ---------------------------------------------------------------- the MigLayout */

static json_t *miglayout(struct fixture *f)
{
	struct kerf_err err;
	json_t *o = kube_get(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, &err);

	if (o == NULL)
		fail_msg("MigLayout %s: %s", f->node, err.msg);
	return o;
}

/* The controller's write: spec.gpus = [{index, instances from text}] by merge patch. Returns the generation. */
static long long write_spec(struct fixture *f, unsigned index, const char *text)
{
	json_t *insts = json_array(), *p, *out;
	char copy[256], *save = NULL;
	struct kerf_err err;
	long long gen;

	snprintf(copy, sizeof(copy), "%s", text);
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		char *at = strchr(t, '@');

		assert_non_null(at);
		*at = '\0';
		json_array_append_new(insts, json_pack("{s:s, s:i}", "profile", t, "start", atoi(at + 1)));
	}
	p = json_pack("{s:{s:[{s:i, s:o}]}}", "spec", "gpus", "index", (int)index, "instances", insts);
	out = kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, p, false, &err);
	if (out == NULL)
		fail_msg("spec patch: %s", err.msg);
	gen = json_integer_value(json_object_get(json_object_get(out, "metadata"), "generation"));
	json_decref(out);
	json_decref(p);
	return gen;
}

static const json_t *cond(const json_t *ml, const char *type)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(ml, "status"), "conditions"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
			return c;
	fail_msg("no condition %s", type);
	return NULL;
}

static const char *cond_field(const json_t *ml, const char *type, const char *field)
{
	return json_string_value(json_object_get(cond(ml, type), field));
}

/* The Events about the node's MigLayout with this reason (an EventList). */
static json_t *layout_events(struct fixture *f, const char *reason)
{
	char sel[256];
	struct kube_list_opts lo = {.field_selector = sel};
	struct kerf_err err;
	json_t *list;

	snprintf(sel, sizeof(sel), "involvedObject.name=%s,involvedObject.kind=MigLayout,reason=%s", f->node, reason);
	if ((list = kube_list(f->l->c, &KUBE_EVENTS, "default", &lo, &err)) == NULL)
		fail_msg("events: %s", err.msg);
	return list;
}

static long long observed(const json_t *ml)
{
	return json_integer_value(json_object_get(json_object_get(ml, "status"), "observedGeneration"));
}

/* status.gpus[0]'s instances as "profile@start[*]" ("*": used), comma-joined, in the agent's order. */
static void status_layout(const json_t *ml, char *out, size_t cap)
{
	const json_t *gpus = json_object_get(json_object_get(ml, "status"), "gpus"), *in;
	size_t o = 0, i;

	out[0] = '\0';
	json_array_foreach(json_object_get(json_array_get(gpus, 0), "instances"), i, in)
		o += (size_t)snprintf(out + o, cap - o, "%s%s@%lld%s", o ? "," : "",
				      json_string_value(json_object_get(in, "profile")),
				      (long long)json_integer_value(json_object_get(in, "start")),
				      json_is_true(json_object_get(in, "used")) ? "*" : "");
}

static void step(struct fixture *f, long wait_ms)
{
	struct kerf_err err;

	if (agent_sync_step(f->sync, wait_ms, &err) < 0)
		fail_msg("agent_sync_step: %s", err.msg);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- fixture */

/* Steps until the MigLayout says Applied=True (a refused spec's backoff retries it), for up to 40 rounds of
 * 500 ms; returns the object (the caller releases it). */
static json_t *until_applied(struct fixture *f)
{
	for (int rounds = 0; rounds < 40; rounds++) {
		json_t *ml;

		step(f, 500);
		ml = miglayout(f);
		if (strcmp(cond_field(ml, "Applied", "status"), "True") == 0)
			return ml;
		json_decref(ml);
	}
	fail_msg("the spec was not applied within 40 rounds");
	return NULL;
}

static int setup(void **state)
{
	static const char *const models[] = {"H100-80GB-SXM"};
	struct fixture *f = calloc(1, sizeof(*f));
	struct kerf_err err;
	void *l = NULL;

	assert_non_null(f);
	live_setup(&l);
	f->l = l;
	snprintf(f->node, sizeof(f->node), "node-%s", f->l->ns); /* cluster-scoped: unique per test */
	snprintf(f->dir, sizeof(f->dir), "/tmp/kerf-mgl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/gpus", f->dir);
	snprintf(f->journals, sizeof(f->journals), "%s/journal", f->dir);
	snprintf(f->podres, sizeof(f->podres), "%s/podres.sock", f->dir);
	assert_int_equal(mkdir(f->journals, 0700), 0);
	setenv(FK_ENV_STATE, f->state, 1);
	if (fk_init(f->state, models, 1, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(peer_start(&f->peer, standin, f->dir, f->podres), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct kerf_err err;
	char cmd[128];
	void *l = f->l;

	agent_sync_stop(f->sync);
	agent_node_stop(f->agent);
	peer_stop(&f->peer);
	kube_delete(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, &err);
	kube_delete(f->l->c, &KUBE_NODES, NULL, f->node, &err); /* where a test made one */
	live_teardown(&l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Starts the agent on the GPU as it is, and its sync with the API server. */
static void start(struct fixture *f)
{
	struct agent_options o = {.nvml_library = FAKENVML_LIB, .journal_dir = f->journals, .plugin_dir = f->dir,
				  .podres_socket = f->podres, .timeout_ms = 10000, .register_retry_ms = 100};
	struct kerf_err err;

	if ((f->agent = agent_node_start(&o, &err)) == NULL || (f->sync = agent_sync_start(f->l->c, f->agent, f->node, &err)) == NULL)
		fail_msg("%s", err.msg);
}

/* ---------------------------------------------------------------- tests */

/* A node without a MigLayout gets one, with an empty spec, and its status reports what the agent adopted:
 * every instance where it is, the one running a process as used, the empty spec applied. */
static void test_agent_creates_its_miglayout_and_reports_what_it_adopted(void **state)
{
	struct fixture *f = *state;
	char have[256];
	json_t *ml;

	fk_edit_layout(f, ORIG, 4);
	start(f);
	step(f, 0);
	ml = miglayout(f);
	assert_int_equal(json_array_size(json_object_get(json_object_get(ml, "spec"), "gpus")), 0);
	assert_int_equal(observed(ml), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ml, "status"), "gpuCount")), 1);
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*");
	assert_string_equal(cond_field(ml, "Applied", "status"), "True");
	assert_string_equal(cond_field(ml, "Failed", "status"), "False");
	assert_string_equal(cond_field(ml, "Ready", "status"), "True"); /* what kubectl wait and kstatus read */
	assert_int_equal(json_integer_value(json_object_get(cond(ml, "Ready"), "observedGeneration")), observed(ml));
	assert_gpu_layout(f, ORIG); /* adopted, not re-cut */
	json_decref(ml);
}

/*
 * The controller writes a new spec: the agent wakes on the watch, re-cuts the GPU, and reports the
 * generation it applied and the new instances. A round with nothing new writes nothing.
 */
static void test_new_spec_is_applied_and_reported(void **state)
{
	struct fixture *f = *state;
	long long gen, t0, rv0;
	char have[256];
	json_t *ml;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	t0 = mono_ms();
	gen = write_spec(f, 0, MERGED);
	step(f, 20000); /* returns as soon as the watch rings */
	printf("spec written -> applied and status written: %lld ms\n", mono_ms() - t0);
	assert_gpu_layout(f, MERGED);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "2g.20gb@0,2g.20gb@2,3g.40gb@4");
	assert_string_equal(cond_field(ml, "Applied", "status"), "True");
	rv0 = atoll(json_string_value(json_object_get(json_object_get(ml, "metadata"), "resourceVersion")));
	json_decref(ml);

	step(f, 300); /* nothing changed: the status stays as written */
	ml = miglayout(f);
	assert_int_equal(atoll(json_string_value(json_object_get(json_object_get(ml, "metadata"), "resourceVersion"))),
			 rv0);
	json_decref(ml);
}

/*
 * A spec that would destroy a device a pod holds is not applied: the GPU keeps its layout, and the status
 * says so (observedGeneration moves, Applied=False, Failed=True, reason Refused, the instance named). When
 * the pod is gone, the same spec written again goes through.
 */
static void test_spec_that_would_destroy_a_held_device_is_refused_and_reported(void **state)
{
	struct fixture *f = *state;
	char held[1][NVML_UUID_MAX], have[256], cmd[512];
	long long gen;
	json_t *ml, *r;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	uuid_at(f, 1, held[0], sizeof(held[0]));
	snprintf(cmd, sizeof(cmd),
		 "{\"op\":\"podres\",\"pods\":[{\"namespace\":\"default\",\"name\":\"pod-0\",\"container\":\"c\","
		 "\"resource\":\"%s\",\"ids\":[\"%s\"],\"numa\":0}]}",
		 R1, held[0]);
	r = peer_call(&f->peer, "%s", cmd);
	assert_true(r != NULL && json_is_true(json_object_get(r, "ok")));
	gen = write_spec(f, 0, MERGED);
	step(f, 20000);
	assert_gpu_layout(f, ORIG);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "False");
	assert_string_equal(cond_field(ml, "Failed", "status"), "True");
	assert_string_equal(cond_field(ml, "Failed", "reason"), "Refused");
	assert_string_equal(cond_field(ml, "Ready", "status"), "False");
	assert_string_equal(cond_field(ml, "Ready", "reason"), "Refused");
	assert_int_equal(json_integer_value(json_object_get(cond(ml, "Ready"), "observedGeneration")), gen);
	{ /* and a Warning Event on the MigLayout, where kubectl describe finds it (namespace default, none in the ref) */
		json_t *list = layout_events(f, "Refused");
		const json_t *ev = json_array_get(json_object_get(list, "items"), 0);

		assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
		assert_string_equal(json_string_value(json_object_get(ev, "type")), "Warning");
		assert_null(json_object_get(json_object_get(ev, "involvedObject"), "namespace"));
		assert_non_null(strstr(json_string_value(json_object_get(ev, "message")), "1g.10gb@1"));
		json_decref(list);
	}
	assert_non_null(strstr(cond_field(ml, "Failed", "message"), "1g.10gb@1"));
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "1g.10gb@0,1g.10gb@1*,2g.20gb@2,3g.40gb@4");
	json_decref(ml);

	r = peer_call(&f->peer, "{\"op\":\"podres\",\"pods\":[]}"); /* the pod ends */
	assert_true(r != NULL && json_is_true(json_object_get(r, "ok")));
	write_spec(f, 0, ORIG);
	step(f, 20000);
	gen = write_spec(f, 0, MERGED);
	step(f, 20000);
	assert_gpu_layout(f, MERGED);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "True");
	json_decref(ml);
}

/*
 * A refused spec is not left waiting for a new generation (the controller writes a spec once): the agent tries
 * it again with backoff, and once the pod that held the device is gone, the same generation goes through.
 */
static void test_refused_spec_is_retried_until_it_goes_through(void **state)
{
	struct fixture *f = *state;
	char held[NVML_UUID_MAX], cmd[512];
	long long gen, t0;
	json_t *ml, *r;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	uuid_at(f, 1, held, sizeof(held));
	snprintf(cmd, sizeof(cmd),
		 "{\"op\":\"podres\",\"pods\":[{\"namespace\":\"default\",\"name\":\"pod-0\",\"container\":\"c\","
		 "\"resource\":\"%s\",\"ids\":[\"%s\"],\"numa\":0}]}",
		 R1, held);
	r = peer_call(&f->peer, "%s", cmd);
	assert_true(r != NULL && json_is_true(json_object_get(r, "ok")));
	gen = write_spec(f, 0, MERGED);
	step(f, 20000);
	step(f, 1200); /* a retry while the device is still held: refused again, nothing touched */
	assert_gpu_layout(f, ORIG);
	ml = miglayout(f);
	assert_string_equal(cond_field(ml, "Failed", "reason"), "Refused");
	json_decref(ml);
	ml = layout_events(f, "Refused"); /* one Event for the spec, however often the backoff retries it */
	assert_int_equal(json_array_size(json_object_get(ml, "items")), 1);
	json_decref(ml);

	r = peer_call(&f->peer, "{\"op\":\"podres\",\"pods\":[]}"); /* the pod ends */
	assert_true(r != NULL && json_is_true(json_object_get(r, "ok")));
	t0 = mono_ms();
	ml = until_applied(f); /* the backoff retries the refused spec */
	printf("device released -> the refused spec applied on retry: %lld ms\n", mono_ms() - t0);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Failed", "status"), "False");
	assert_gpu_layout(f, MERGED);
	json_decref(ml);
}

/* A pod kube-scheduler has bound to the test's node (spec.nodeName set) asking for n of resource. No kubelet
 * admits it (the stand-in only serves pod-resources), so it stays Pending with its devices not allocated. */
static void create_bound_pod(struct fixture *f, const char *name, const char *resource, int n)
{
	char count[16];
	struct kerf_err err;
	json_t *p, *out;

	snprintf(count, sizeof(count), "%d", n);
	p = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:[{s:s, s:s, s:{s:{s:s}}}]}}", "apiVersion", "v1", "kind", "Pod",
		      "metadata", "name", name, "spec", "nodeName", f->node, "containers", "name", "c", "image", "x",
		      "resources", "limits", resource, count);
	if ((out = kube_create(f->l->c, &KUBE_PODS, f->l->ns, p, &err)) == NULL)
		fail_msg("pod %s: %s", name, err.msg);
	json_decref(out);
	json_decref(p);
}

static void delete_pod(struct fixture *f, const char *name)
{
	char path[256];
	struct kerf_err err;
	json_t *r;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s?gracePeriodSeconds=0", f->l->ns, name);
	if ((r = kube_request(f->l->c, "DELETE", path, NULL, NULL, &err)) == NULL)
		fail_msg("delete pod %s: %s", name, err.msg);
	json_decref(r);
}

/*
 * The agent's half of the race with the scheduler: a pod bound to the node but not yet admitted by the kubelet
 * holds no device in pod-resources and runs nothing, yet the scheduler counted one of the free 1g.10gb for it.
 * A spec that destroys every free 1g.10gb is refused (the GPU keeps both, the status names the pod); once the
 * pod is gone, the backoff's retry applies the same generation. Without the hold the spec applies at once.
 */
static void test_spec_is_refused_while_a_bound_pod_needs_what_it_destroys(void **state)
{
	struct fixture *f = *state;
	char u0[NVML_UUID_MAX], u1[NVML_UUID_MAX], want[256], have[256];
	long long gen, t0;
	json_t *ml = NULL;

	fk_edit_layout(f, ORIG, -1);
	create_bound_pod(f, "bound-1g", R1, 1); /* before the agent starts: its first list of pods has it */
	start(f);
	step(f, 0);
	uuid_at(f, 0, u0, sizeof(u0));
	uuid_at(f, 1, u1, sizeof(u1));
	gen = write_spec(f, 0, MERGED); /* both free 1g.10gb go */
	step(f, 20000);
	assert_gpu_layout(f, ORIG);
	uuid_at(f, 0, have, sizeof(have));
	assert_string_equal(have, u0);
	uuid_at(f, 1, have, sizeof(have));
	assert_string_equal(have, u1);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "False");
	assert_string_equal(cond_field(ml, "Failed", "reason"), "Refused");
	snprintf(want, sizeof(want), "is held for pod %s/bound-1g, bound to this node and not yet admitted", f->l->ns);
	printf("refused: %s\n", cond_field(ml, "Failed", "message"));
	assert_non_null(strstr(cond_field(ml, "Failed", "message"), want));
	assert_non_null(strstr(cond_field(ml, "Failed", "message"), "1g.10gb@"));
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4"); /* held is not used: the controller holds its own */
	json_decref(ml);

	delete_pod(f, "bound-1g");
	t0 = mono_ms();
	ml = until_applied(f); /* the backoff retries the refused spec */
	printf("bound pod deleted -> the spec applied on retry: %lld ms\n", mono_ms() - t0);
	assert_int_equal(observed(ml), gen);
	assert_gpu_layout(f, MERGED);
	json_decref(ml);
}

/*
 * One bound pod asks for one 1g.10gb, and the spec destroys one of the two free ones: it applies, because the
 * one the spec keeps is the one held. (Holding the first free 1g.10gb found, 1g.10gb@0, would refuse it.)
 */
static void test_spec_keeping_enough_free_instances_for_a_bound_pod_applies(void **state)
{
	struct fixture *f = *state;
	char u1[NVML_UUID_MAX], have[256];
	long long gen;
	json_t *ml;

	fk_edit_layout(f, ORIG, -1);
	create_bound_pod(f, "bound-1g", R1, 1);
	start(f);
	step(f, 0);
	uuid_at(f, 1, u1, sizeof(u1));
	gen = write_spec(f, 0, "1g.10gb@1,2g.20gb@2,3g.40gb@4"); /* 1g.10gb@0 goes, 1g.10gb@1 stays */
	step(f, 20000);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "True");
	json_decref(ml);
	assert_gpu_layout(f, "1g.10gb@1,2g.20gb@2,3g.40gb@4");
	uuid_at(f, 1, have, sizeof(have));
	assert_string_equal(have, u1); /* the held one, untouched */
	delete_pod(f, "bound-1g");
}

/* How many plain GETs of MigLayouts the API server has answered, from its own metrics (apiserver_request_total). */
/*
 * A pod that has ended (Succeeded or Failed) stays in the kubelet's pod-resources List until it is deleted
 * (kubernetes#119423). Its device holds nothing, so a spec that destroys it applies once the API server says
 * the pod ended, though List still names it; while the pod is Pending (listed, not ended) the same spec is
 * refused. Without the rule the instance stays pinned until someone deletes the pod.
 */
static void test_a_device_of_an_ended_pod_is_not_held(void **state)
{
	struct fixture *f = *state;
	char held[NVML_UUID_MAX], cmd[512];
	struct kerf_err err;
	json_t *ml = NULL, *r, *phase;
	long long gen;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	uuid_at(f, 1, held, sizeof(held));
	create_bound_pod(f, "done", R1, 1);
	snprintf(cmd, sizeof(cmd),
		 "{\"op\":\"podres\",\"pods\":[{\"namespace\":\"%s\",\"name\":\"done\",\"container\":\"c\","
		 "\"resource\":\"%s\",\"ids\":[\"%s\"],\"numa\":0}]}",
		 f->l->ns, R1, held);
	r = peer_call(&f->peer, "%s", cmd);
	assert_true(r != NULL && json_is_true(json_object_get(r, "ok"))); /* the peer keeps r */
	gen = write_spec(f, 0, MERGED);
	step(f, 20000);
	assert_gpu_layout(f, ORIG); /* listed and not ended: held */
	ml = miglayout(f);
	assert_string_equal(cond_field(ml, "Failed", "reason"), "Refused");
	json_decref(ml);

	phase = json_pack("{s:{s:s}}", "status", "phase", "Succeeded");
	r = kube_patch(f->l->c, &KUBE_PODS, f->l->ns, "done", KUBE_PATCH_MERGE, phase, true, &err);
	if (r == NULL)
		fail_msg("pod status: %s", err.msg);
	json_decref(r);
	json_decref(phase);
	ml = until_applied(f); /* the backoff retries the refused spec */
	assert_int_equal(observed(ml), gen);
	assert_gpu_layout(f, MERGED);
	json_decref(ml);
}

/* Steps until the MigLayout's Failed condition has reason and its message says says (want_applied: until
 * Applied=True instead). */
static void wait_outcome(struct fixture *f, bool want_applied, const char *reason, const char *says)
{
	if (want_applied) {
		json_decref(until_applied(f));
		return;
	}
	for (int rounds = 0; rounds < 40; rounds++) {
		json_t *ml;
		bool done;

		step(f, 500);
		ml = miglayout(f);
		done = strcmp(cond_field(ml, "Failed", "reason"), reason) == 0 &&
		       strstr(cond_field(ml, "Failed", "message"), says) != NULL;
		if (done) {
			json_decref(ml);
			return;
		}
		if (rounds == 39)
			fail_msg("no %s after 40 rounds; Failed: %s: %s", reason, cond_field(ml, "Failed", "reason"),
				 cond_field(ml, "Failed", "message"));
		json_decref(ml);
	}
}

/* The driver's table of MIG capability minors for the simulated GPU 0, every GI and CI, at path. */
static void write_minors(const char *path)
{
	FILE *m = fopen(path, "w");

	assert_non_null(m);
	for (unsigned gi = 0, n = 3; gi < 15; gi++)
		for (int ci = -1; ci < 8; ci++, n++)
			if (ci < 0)
				fprintf(m, "gpu%u/gi%u/access %u\n", fk_gpu_minor(0), gi, n);
			else
				fprintf(m, "gpu%u/gi%u/ci%d/access %u\n", fk_gpu_minor(0), gi, ci, n);
	assert_int_equal(fclose(m), 0);
}

/*
 * `kerf agent --cdi --cdi-spec-dir DIR --mig-minors FILE` writes the spec where it is told, listing the node's
 * four MIG devices; with a spec folder that does not exist it does not start, and says why.
 */
static void test_kerf_agent_command_writes_the_cdi_spec_where_told(void **state)
{
	struct fixture *f = *state;
	char cmd[2048], cdi[160], minors[160], path[192], log[192];
	int status;
	json_t *spec;

	fk_edit_layout(f, ORIG, -1);
	snprintf(cdi, sizeof(cdi), "%s/cdi", f->dir);
	snprintf(minors, sizeof(minors), "%s/mig-minors", f->dir);
	snprintf(path, sizeof(path), "%s/kerf-mig.json", cdi);
	snprintf(log, sizeof(log), "%s/agent.log", f->dir);
	assert_int_equal(mkdir(cdi, 0755), 0);
	write_minors(minors);
	for (int run = 0; run < 2; run++) {
		snprintf(cmd, sizeof(cmd),
			 "KERF_FAKENVML_STATE='%s' '%s' agent --node '%s' --kubeconfig '%s/kubeconfig' --once "
			 "--nvml-library '%s' --state-dir '%s' --plugin-dir '%s' --pod-resources '%s' --cdi "
			 "--cdi-spec-dir '%s%s' --mig-minors '%s' 2>'%s'",
			 f->state, KERF_BIN, f->node, live_dir(), FAKENVML_LIB, f->journals, f->dir, f->podres, cdi,
			 run == 0 ? "" : "/missing", minors, log);
		status = system(cmd);
		assert_true(WIFEXITED(status));
		if (run == 1)
			break;
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_non_null(spec = json_load_file(path, 0, NULL));
		assert_string_equal(json_string_value(json_object_get(spec, "kind")), "kerf.dev/mig");
		assert_int_equal(json_array_size(json_object_get(spec, "devices")), 4);
		json_decref(spec);
	}
	assert_int_not_equal(WEXITSTATUS(status), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'CDI spec %s/missing/kerf-mig.json not rewritten' '%s'", cdi, log);
	assert_int_equal(system(cmd), 0);
}

/*
 * With CDI on, a spec whose new devices cannot enter the CDI spec (its folder is gone) is reported like any
 * failed apply: Failed=True, reason ApplyFailed, the message naming the CDI spec; the agent retries it with
 * its backoff, and once the folder is back the same generation is Applied and the spec lists the new device.
 */
static void test_cdi_spec_that_cannot_be_written_fails_the_apply_and_is_retried(void **state)
{
	struct fixture *f = *state;
	char cdi[160], away[160], minors[160], spec[192], fresh[NVML_UUID_MAX];
	struct agent_options o = {.nvml_library = FAKENVML_LIB, .journal_dir = f->journals, .plugin_dir = f->dir,
				  .podres_socket = f->podres, .timeout_ms = 10000, .register_retry_ms = 100,
				  .cdi = true, .cdi_spec_dir = cdi, .mig_minors = minors};
	struct kerf_err err;
	long long gen;
	json_t *ml, *j;

	fk_edit_layout(f, ORIG, -1);
	snprintf(cdi, sizeof(cdi), "%s/cdi", f->dir);
	snprintf(away, sizeof(away), "%s/away", f->dir);
	snprintf(minors, sizeof(minors), "%s/mig-minors", f->dir);
	snprintf(spec, sizeof(spec), "%s/kerf-mig.json", cdi);
	assert_int_equal(mkdir(cdi, 0755), 0);
	write_minors(minors);
	if ((f->agent = agent_node_start(&o, &err)) == NULL ||
	    (f->sync = agent_sync_start(f->l->c, f->agent, f->node, &err)) == NULL)
		fail_msg("%s", err.msg);
	step(f, 0);

	assert_int_equal(rename(cdi, away), 0);
	gen = write_spec(f, 0, MERGED);
	wait_outcome(f, false, "ApplyFailed", "CDI spec");
	assert_gpu_layout(f, MERGED); /* the GPU has its layout; only the new device waits */
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "False");
	assert_non_null(strstr(cond_field(ml, "Failed", "message"), "new MIG devices not advertised"));
	json_decref(ml);

	assert_int_equal(rename(away, cdi), 0);
	ml = until_applied(f); /* the backoff retries the same generation */
	assert_int_equal(observed(ml), gen);
	json_decref(ml);
	uuid_at(f, 0, fresh, sizeof(fresh)); /* the new 2g.20gb@0 */
	assert_non_null(j = json_load_file(spec, 0, NULL));
	{
		char *text = json_dumps(j, 0);

		assert_non_null(text);
		assert_non_null(strstr(text, fresh));
		free(text);
	}
	json_decref(j);
}

/* A unix socket listening at path (a device plugin's endpoint), or -1. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0)
		fail_msg("listen on %s", path);
	return fd;
}

/*
 * Another MIG manager on the node stops every apply, each in turn, with the reason AnotherMIGManager and a
 * message naming it, and the GPU untouched; once it is gone the backoff's retry applies the same spec:
 *   - the GPU Operator's MIG manager changing the node (its Node label nvidia.com/mig.config.state=pending);
 *   - NVIDIA's device plugin serving a MIG resource here (a live nvidia-mig-1g.10gb.sock);
 *   - NVIDIA's DRA driver publishing the node's GPUs (a ResourceSlice of gpu.nvidia.com for the node).
 * Without the check each spec applies at once.
 */
static void test_another_mig_manager_on_the_node_stops_every_apply(void **state)
{
	struct fixture *f = *state;
	struct kerf_err err;
	char sock[512], text[768];
	json_t *n, *out, *slice;
	int fd;

	fk_edit_layout(f, ORIG, -1);
	n = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}}", "apiVersion", "v1", "kind", "Node", "metadata", "name", f->node,
		      "labels", "nvidia.com/mig.config.state", "pending");
	if ((out = kube_create(f->l->c, &KUBE_NODES, NULL, n, &err)) == NULL)
		fail_msg("node: %s", err.msg);
	json_decref(out);
	json_decref(n);
	start(f);
	step(f, 0);
	write_spec(f, 0, MERGED);
	wait_outcome(f, false, "AnotherMIGManager", "GPU Operator's MIG manager");
	assert_gpu_layout(f, ORIG);
	n = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "nvidia.com/mig.config.state", "success");
	if ((out = kube_patch(f->l->c, &KUBE_NODES, NULL, f->node, KUBE_PATCH_MERGE, n, false, &err)) == NULL)
		fail_msg("node labels: %s", err.msg);
	json_decref(out);
	json_decref(n);
	wait_outcome(f, true, NULL, NULL);
	assert_gpu_layout(f, MERGED);

	snprintf(sock, sizeof(sock), "%s/nvidia-mig-1g.10gb.sock", f->dir);
	fd = listen_unix(sock);
	write_spec(f, 0, ORIG);
	wait_outcome(f, false, "AnotherMIGManager", "NVIDIA's device plugin");
	assert_gpu_layout(f, MERGED);
	close(fd);
	unlink(sock);
	wait_outcome(f, true, NULL, NULL);
	assert_gpu_layout(f, ORIG);

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"resource.k8s.io/v1\",\"kind\":\"ResourceSlice\",\"metadata\":{\"name\":\"%s-gpus\"},"
		 "\"spec\":{\"driver\":\"gpu.nvidia.com\",\"nodeName\":\"%s\",\"pool\":{\"name\":\"%s\",\"generation\":1,"
		 "\"resourceSliceCount\":1},\"devices\":[]}}",
		 f->node, f->node, f->node);
	slice = json_loads(text, 0, NULL);
	if ((out = kube_create(f->l->c, &KUBE_RESOURCESLICES, NULL, slice, &err)) == NULL)
		fail_msg("ResourceSlice: %s", err.msg);
	json_decref(out);
	json_decref(slice);
	write_spec(f, 0, MERGED);
	wait_outcome(f, false, "AnotherMIGManager", "DRA driver");
	assert_gpu_layout(f, ORIG);
	snprintf(text, sizeof(text), "%s-gpus", f->node);
	assert_int_equal(kube_delete(f->l->c, &KUBE_RESOURCESLICES, NULL, text, &err), 0);
	wait_outcome(f, true, NULL, NULL);
	assert_gpu_layout(f, MERGED);
}

static long miglayout_gets(void)
{
	char cmd[1024], line[1024];
	long n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 ". '%s/env' && curl -sf --max-time 10 --cacert \"$KERF_CP_DIR/pki/ca.crt\" --cert \"$KERF_CP_DIR/pki/admin.crt\" "
		 "--key \"$KERF_CP_DIR/pki/admin.key\" \"$KERF_CP_SERVER/metrics\" | "
		 "grep '^apiserver_request_total{' | grep 'resource=\"miglayouts\"' | grep 'subresource=\"\"' | "
		 "grep 'verb=\"GET\"'",
		 live_dir());
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("popen: %s", cmd);
	while (fgets(line, sizeof(line), p) != NULL) {
		const char *sp = strrchr(line, ' ');

		n += sp ? atol(sp + 1) : 0;
	}
	pclose(p);
	return n;
}

/*
 * A round reads the node's MigLayout from the watch's cache: ten rounds with nothing new cost the API server no
 * GET (one per round per node before, about 500 GET/s at 1,000 nodes). A spec written meanwhile is still
 * applied at once, from the cache the watch has updated.
 */
static void test_rounds_read_the_watch_cache_not_the_server(void **state)
{
	struct fixture *f = *state;
	long before, after;
	long long gen;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	step(f, 2000); /* the watch has seen the object and its status */
	before = miglayout_gets();
	for (int i = 0; i < 10; i++)
		step(f, 100);
	after = miglayout_gets();
	printf("GETs of MigLayouts during 10 idle rounds: %ld\n", after - before);
	assert_true(before > 0); /* the metric is read (the first rounds did GET or create) */
	assert_true(after - before <= 2); /* a ring left from the status write may cost one; 10 without the cache */

	gen = write_spec(f, 0, MERGED);
	step(f, 20000);
	assert_gpu_layout(f, MERGED);
	step(f, 2000);
	json_t *ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Applied", "status"), "True");
	json_decref(ml);
}

/* status.heartbeat is written at once and renewed every period even when nothing else changes. */
static void test_heartbeat_is_renewed_while_idle(void **state)
{
	struct fixture *f = *state;
	char first[64];
	json_t *ml;
	int rounds = 0;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	agent_sync_heartbeat(f->sync, 1000);
	step(f, 0);
	ml = miglayout(f);
	assert_non_null(json_string_value(json_object_get(json_object_get(ml, "status"), "heartbeat")));
	snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(json_object_get(ml, "status"), "heartbeat")));
	json_decref(ml);
	for (;;) { /* idle rounds until the next beat (RFC 3339 has whole seconds: up to about 2 s) */
		step(f, 250);
		ml = miglayout(f);
		if (strcmp(json_string_value(json_object_get(json_object_get(ml, "status"), "heartbeat")), first) != 0)
			break;
		json_decref(ml);
		assert_true(++rounds < 40);
	}
	json_decref(ml);
}

/* A spec the node cannot have is reported with the field it got wrong, and nothing is touched. */
static void test_invalid_spec_names_the_field_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	long long gen;
	json_t *ml;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	/* Shaped like a profile (the CRD's pattern lets it through), but no H100 has it: the agent's check. */
	gen = write_spec(f, 0, "7g.99gb@0");
	step(f, 20000);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_string_equal(cond_field(ml, "Failed", "reason"), "InvalidSpec");
	assert_non_null(strstr(cond_field(ml, "Failed", "message"),
			       "spec.gpus[0].instances[0].profile: \"7g.99gb\" is not a profile of H100-80GB-SXM"));
	json_decref(ml);

	gen = write_spec(f, 5, MERGED);
	step(f, 20000);
	ml = miglayout(f);
	assert_int_equal(observed(ml), gen);
	assert_non_null(strstr(cond_field(ml, "Failed", "message"), "spec.gpus[0].index: no MIG GPU 5"));
	json_decref(ml);
	assert_gpu_layout(f, ORIG);
}

/* The spec of one model: for each profile, one GPU entry that places it at every legal start (8 at most an
 * entry: the schema's maxItems), so that one patch carries every (profile, start) the model has. */
static json_t *every_placement_of(const struct mig_model *m)
{
	json_t *gpus = json_array();
	int index = 0;

	for (unsigned p = 0; p < m->n_profiles; p++)
		for (unsigned s = 0; s < m->profiles[p].n_starts; s += 8) {
			json_t *insts = json_array();

			for (unsigned k = s; k < m->profiles[p].n_starts && k < s + 8; k++)
				json_array_append_new(insts, json_pack("{s:s, s:i}", "profile", m->profiles[p].name,
								       "start", (int)m->profiles[p].starts[k]));
			json_array_append_new(gpus, json_pack("{s:i, s:o}", "index", index++, "instances", insts));
		}
	return json_pack("{s:{s:o}}", "spec", "gpus", gpus);
}

/*
 * The CRD's schema admits every placement of every model kerf knows: the RTX PRO 6000's starts run to 9 and
 * its profiles include "1g.24gb-me"; a schema written for 8-slice GPUs refused both, so the controller could
 * not have written such a spec at all. Its bounds still hold: a start past MIG_MAX_SLOTS and a name that is
 * not a profile's shape are refused by the API server (422).
 */
static void test_the_crd_admits_every_placement_of_every_model(void **state)
{
	struct fixture *f = *state;
	const struct mig_catalog *cat = mig_catalog_builtin();
	struct kerf_err err;
	json_t *ml = json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "kerf.dev/v1alpha1", "kind", "MigLayout",
			       "metadata", "name", f->node, "spec", "gpus"), *out, *p;

	if ((out = kube_create(f->l->c, &KUBE_MIGLAYOUTS, NULL, ml, &err)) == NULL)
		fail_msg("MigLayout %s: %s", f->node, err.msg);
	json_decref(out);
	for (unsigned i = 0; i < cat->n_models; i++) {
		p = every_placement_of(&cat->models[i]);
		out = kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, p, false, &err);
		if (out == NULL)
			fail_msg("%s: the API server refused a legal placement: %s", cat->models[i].name, err.msg);
		json_decref(out);
		json_decref(p);
	}
	p = json_pack("{s:{s:[{s:i, s:[{s:s, s:i}]}]}}", "spec", "gpus", "index", 0, "instances", "profile", "1g.10gb",
		      "start", MIG_MAX_SLOTS);
	assert_null(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, p, false, &err));
	assert_int_equal(err.http_status, 422);
	json_decref(p);
	p = json_pack("{s:{s:[{s:i, s:[{s:s, s:i}]}]}}", "spec", "gpus", "index", 0, "instances", "profile", "1g.10gb;x",
		      "start", 0);
	assert_null(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, p, false, &err));
	assert_int_equal(err.http_status, 422);
	json_decref(p);
	json_decref(ml);
}

/* With no spec change, a round still refreshes the status when what is used changed (here, a CUDA process
 * started on an instance), so the controller plans with the node as it is. */
static void test_status_follows_what_is_used(void **state)
{
	struct fixture *f = *state;
	char have[256];
	json_t *ml;

	fk_edit_layout(f, ORIG, -1);
	start(f);
	step(f, 0);
	fk_edit_layout(f, NULL, 2);
	step(f, 100);
	ml = miglayout(f);
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "1g.10gb@0,1g.10gb@1,2g.20gb@2*,3g.40gb@4");
	assert_int_equal(observed(ml), 1);
	json_decref(ml);
}

/* `kerf agent --once`, the process a DaemonSet runs, does one round: the node's MigLayout appears with the
 * GPU as it is. Without a node name it is a usage error. */
static void test_kerf_agent_command_runs_a_round(void **state)
{
	struct fixture *f = *state;
	char cmd[2048], have[256];
	int status;
	json_t *ml;

	fk_edit_layout(f, ORIG, -1);
	snprintf(cmd, sizeof(cmd),
		 "KERF_FAKENVML_STATE='%s' '%s' agent --node '%s' --kubeconfig '%s/kubeconfig' --once --nvml-library '%s' "
		 "--state-dir '%s' --plugin-dir '%s' --pod-resources '%s' 2>'%s/agent.log'",
		 f->state, KERF_BIN, f->node, live_dir(), FAKENVML_LIB, f->journals, f->dir, f->podres, f->dir);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ml = miglayout(f);
	assert_int_equal(observed(ml), 1);
	status_layout(ml, have, sizeof(have));
	assert_string_equal(have, "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4");
	json_decref(ml);

	snprintf(cmd, sizeof(cmd), "env -u NODE_NAME '%s' agent --once 2>/dev/null", KERF_BIN);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

/* The long-running agent: started as a DaemonSet would start it, it applies a spec written while it runs,
 * and SIGTERM ends it cleanly. (The polling deadline only guards against a hang.) */
static void test_kerf_agent_follows_specs_until_sigterm(void **state)
{
	struct fixture *f = *state;
	char cmd[2048], kc[512], listen[32], body[65536];
	long long gen = 0;
	int status, port = live_free_port();
	pid_t pid;

	fk_edit_layout(f, ORIG, -1);
	snprintf(kc, sizeof(kc), "%s/kubeconfig", live_dir());
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(cmd, sizeof(cmd), "%s/agent.log", f->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen(cmd, "w", stderr) == NULL)
			_exit(127);
		setenv("NODE_NAME", f->node, 1);
		execl(KERF_BIN, "kerf", "agent", "--kubeconfig", kc, "--interval", "500", "--nvml-library", FAKENVML_LIB,
		      "--state-dir", f->journals, "--plugin-dir", f->dir, "--pod-resources", f->podres, "--listen", listen,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && gen == 0; i++) { /* the agent creates its MigLayout */
		struct kerf_err err;
		json_t *ml = kube_get(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, &err);

		if (ml != NULL)
			gen = write_spec(f, 0, MERGED);
		json_decref(ml);
		if (gen == 0)
			live_sleep_ms(100);
	}
	assert_true(gen > 0);
	for (int i = 0; i < 300; i++) {
		json_t *ml = miglayout(f);
		bool done = observed(ml) == gen;

		json_decref(ml);
		if (done)
			break;
		live_sleep_ms(100);
	}
	assert_gpu_layout(f, MERGED);
	/* its probes and metrics: ready, one GPU applied, the two 1g.10gb gone and a 2g.20gb made */
	assert_int_equal(live_http_get(port, "/readyz", body, sizeof(body)), 200);
	assert_int_equal(live_http_get(port, "/healthz", body, sizeof(body)), 200);
	assert_int_equal(live_http_get(port, "/metrics", body, sizeof(body)), 200);
	assert_non_null(strstr(body, "kerf_agent_applies_total{result=\"applied\"} 1\n"));
	assert_non_null(strstr(body, "kerf_agent_instances_destroyed_total 2\n"));
	assert_non_null(strstr(body, "kerf_agent_instances_created_total 1\n"));
	assert_non_null(strstr(body, "kerf_agent_apply_duration_seconds_count 1\n"));
	assert_non_null(strstr(body, "kerf_watch_lists_total{resource=\"miglayouts\"} 1\n"));
	assert_non_null(strstr(body, "kerf_agent_instances{state=\"free\"} "));
	assert_non_null(strstr(body, "kerf_api_requests_total{verb=\"PUT\",code=\"200\"} ")); /* status writes */
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * The whole story, with both halves of kerf: an H100 cut 4g.40gb + 3 x 1g.10gb, the 4g and one 1g running
 * CUDA processes; a user's pod asks for a 2g.20gb. The controller plans and writes the node's spec, the
 * agent re-cuts the two free 1g.10gb into a 2g.20gb without touching the busy instances, and kerf's device
 * plugin tells the kubelet at once. (kube-scheduler would bind the pod next; there is no kubelet here.)
 */
static void test_controller_and_agent_cut_a_slice_for_a_pending_pod(void **state)
{
	struct fixture *f = *state;
	struct controller_options co = {.identity = "c1", .lease_namespace = f->l->ns, .debounce_ms = 100,
					.max_wait_ms = 1000};
	struct controller_report rep;
	struct controller *ctl;
	struct kerf_err err;
	size_t from;
	json_t *p, *out;
	long long t0;

	fk_edit_layout(f, "4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6", 0);
	fk_edit_layout(f, NULL, 6);
	/* The kubelet's part: a Ready Node (the controller re-cuts only nodes the scheduler may use). */
	p = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Node", "metadata", "name", f->node);
	if ((out = kube_create(f->l->c, &KUBE_NODES, NULL, p, &err)) == NULL)
		fail_msg("%s", err.msg);
	json_decref(out);
	json_decref(p);
	p = json_pack("{s:{s:[{s:s, s:s}]}}", "status", "conditions", "type", "Ready", "status", "True");
	if ((out = kube_patch(f->l->c, &KUBE_NODES, NULL, f->node, KUBE_PATCH_MERGE, p, true, &err)) == NULL)
		fail_msg("%s", err.msg);
	json_decref(out);
	json_decref(p);
	/* kube-controller-manager's part: the not-ready taint the API server gave the new Node goes once it is Ready. */
	p = json_pack("{s:{s:n}}", "spec", "taints");
	if ((out = kube_patch(f->l->c, &KUBE_NODES, NULL, f->node, KUBE_PATCH_MERGE, p, false, &err)) == NULL)
		fail_msg("%s", err.msg);
	json_decref(out);
	json_decref(p);
	start(f);
	step(f, 0); /* the agent reports the node */
	{ /* ... in a MigLayout its Node owns, so that the garbage collector removes it with the node */
		json_t *ml = miglayout(f), *node = kube_get(f->l->c, &KUBE_NODES, NULL, f->node, &err);
		const json_t *ref = json_array_get(json_object_get(json_object_get(ml, "metadata"), "ownerReferences"), 0);

		assert_non_null(node);
		assert_string_equal(json_string_value(json_object_get(ref, "kind")), "Node");
		assert_string_equal(json_string_value(json_object_get(ref, "uid")),
				    json_string_value(json_object_get(json_object_get(node, "metadata"), "uid")));
		json_decref(ml);
		json_decref(node);
	}
	from = peer_events(&f->peer);
	t0 = mono_ms();
	p = json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:s, s:s, s:{s:{s:s}}}]}}", "apiVersion", "v1", "kind", "Pod", "metadata",
		      "name", "train-7", "spec", "containers", "name", "c", "image", "x", "resources", "limits",
		      "nvidia.com/mig-2g.20gb", "1");
	out = kube_create(f->l->c, &KUBE_PODS, f->l->ns, p, &err);
	if (out == NULL)
		fail_msg("%s", err.msg);
	json_decref(out);
	json_decref(p);

	if ((ctl = controller_start(f->l->c, &co, &err)) == NULL || controller_step(ctl, 5000, &rep, &err) < 0)
		fail_msg("controller: %s", err.msg);
	assert_int_equal(rep.specs_written, 1);
	step(f, 20000); /* the agent wakes on the spec */
	printf("pod created -> controller wrote the spec -> agent re-cut the GPU: %lld ms\n", mono_ms() - t0);
	assert_gpu_layout(f, "4g.40gb@0,2g.20gb@4,1g.10gb@6");
	assert_non_null(peer_wait(&f->peer, &from, "list", "resource", "nvidia.com/mig-2g.20gb"));
	controller_stop(ctl);
	{
		char path[256];

		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/train-7?gracePeriodSeconds=0", f->l->ns);
		json_decref(kube_request(f->l->c, "DELETE", path, NULL, NULL, &err));
	}
}

int main(int argc, char **argv)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_agent_creates_its_miglayout_and_reports_what_it_adopted),
		T(test_new_spec_is_applied_and_reported),
		T(test_spec_that_would_destroy_a_held_device_is_refused_and_reported),
		T(test_refused_spec_is_retried_until_it_goes_through),
		T(test_spec_is_refused_while_a_bound_pod_needs_what_it_destroys),
		T(test_spec_keeping_enough_free_instances_for_a_bound_pod_applies),
		T(test_a_device_of_an_ended_pod_is_not_held),
		T(test_another_mig_manager_on_the_node_stops_every_apply),
		T(test_rounds_read_the_watch_cache_not_the_server),
		T(test_heartbeat_is_renewed_while_idle),
		T(test_invalid_spec_names_the_field_and_changes_nothing),
		T(test_the_crd_admits_every_placement_of_every_model),
		T(test_status_follows_what_is_used),
		T(test_kerf_agent_command_runs_a_round),
		T(test_kerf_agent_follows_specs_until_sigterm),
		T(test_controller_and_agent_cut_a_slice_for_a_pending_pod),
		T(test_cdi_spec_that_cannot_be_written_fails_the_apply_and_is_retried),
		T(test_kerf_agent_command_writes_the_cdi_spec_where_told),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s KUBELET_STANDIN\n", argv[0]);
		return 2;
	}
	standin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
