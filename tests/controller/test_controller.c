/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_controller.c — the cluster controller against a real kube-apiserver with the MigLayout CRD (the
 * kube_cp fixture of tests/kube). The test plays the agents (it writes MigLayout statuses) and the users
 * (it creates pods asking for MIG devices; with no kubelet they stay Pending and unbound), and reads what
 * the controller writes: specs and Events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "controller.h"
#include "deadline.h"
#include "events.h"
#include "live.h"

#define H100 "NVIDIA H100 80GB HBM3"

struct fixture {
	struct live *l;
	char node[96], node2[96]; /* node2: for the tests with a second node */
	char many[16][96];        /* more nodes (many_nodes()), removed by teardown */
	unsigned n_many;
	struct controller *ctl, *other;
};

static json_t *must(json_t *v, const struct kerf_err *err)
{
	if (v == NULL)
		fail_msg("%s", err->msg);
	return v;
}

/*
 * The kubelet's part: the Node object, Ready (unschedulable when cordoned); and kube-controller-manager's: the
 * API server gives a new Node the taint node.kubernetes.io/not-ready:NoSchedule, which the node lifecycle
 * controller removes once the Node is Ready. Neither runs here, so the Node stays as made.
 */
static void node_named(struct fixture *f, const char *node, bool cordoned)
{
	struct kerf_err err;
	json_t *n = json_pack("{s:s, s:s, s:{s:s}, s:{s:b}}", "apiVersion", "v1", "kind", "Node", "metadata", "name", node,
			      "spec", "unschedulable", cordoned);
	json_t *st = json_pack("{s:{s:[{s:s, s:s, s:s}]}}", "status", "conditions", "type", "Ready", "status", "True", "reason",
			       "KubeletReady");
	json_t *untaint = json_pack("{s:{s:n}}", "spec", "taints");

	json_decref(must(kube_create(f->l->c, &KUBE_NODES, NULL, n, &err), &err));
	json_decref(must(kube_patch(f->l->c, &KUBE_NODES, NULL, node, KUBE_PATCH_MERGE, st, true, &err), &err));
	json_decref(must(kube_patch(f->l->c, &KUBE_NODES, NULL, node, KUBE_PATCH_MERGE, untaint, false, &err), &err));
	json_decref(n);
	json_decref(st);
	json_decref(untaint);
}

static void node_is(struct fixture *f, bool cordoned)
{
	node_named(f, f->node, cordoned);
}

/* The agent's part: node's MigLayout with GPU 0 reported as `layout` ("4g.40gb@0*,1g.10gb@4": * = used), on a
 * Node that is Ready (agent_reports_alone: no Node object). */
static void agent_reports_on(struct fixture *f, const char *node, const char *layout);
static void agent_reports(struct fixture *f, const char *layout)
{
	node_is(f, false);
	agent_reports_on(f, f->node, layout);
}

static void agent_reports_alone(struct fixture *f, const char *layout)
{
	agent_reports_on(f, f->node, layout);
}

static void agent_reports_on(struct fixture *f, const char *node, const char *layout)
{
	json_t *ml, *made, *insts = json_array(), *out;
	char copy[256], *save = NULL;
	struct kerf_err err;

	snprintf(copy, sizeof(copy), "%s", layout);
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		char *at = strchr(t, '@');
		int used = strchr(t, '*') != NULL;

		*at = '\0';
		json_array_append_new(insts, json_pack("{s:s, s:i, s:s, s:b}", "profile", t, "start", atoi(at + 1), "uuid",
						       "MIG-x", "used", used));
	}
	ml = json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "kerf.dev/v1alpha1", "kind", "MigLayout", "metadata",
		       "name", node, "spec", "gpus");
	made = must(kube_create(f->l->c, &KUBE_MIGLAYOUTS, NULL, ml, &err), &err);
	json_object_set_new(made, "status", json_pack("{s:i, s:i, s:[{s:i, s:s, s:o}], s:s}", "observedGeneration", 1,
						      "gpuCount", 1, "gpus", "index", 0, "model", H100, "instances", insts,
						      "heartbeat", "2026-01-01T00:00:00Z"));
	out = must(kube_update_status(f->l->c, &KUBE_MIGLAYOUTS, NULL, made, &err), &err);
	json_decref(out);
	json_decref(made);
	json_decref(ml);
}

/* A user's pod asking for count x resource (limits), at priority. It stays Pending: no node exists. */
static void pod(struct fixture *f, const char *name, const char *resource, int count, int priority)
{
	struct kerf_err err;
	char n[8];
	json_t *p, *out;

	snprintf(n, sizeof(n), "%d", count);
	p = json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:[{s:s, s:s, s:{s:{s:s}}}]}}", "apiVersion", "v1", "kind", "Pod",
		      "metadata", "name", name, "spec", "priority", priority, "containers", "name", "c", "image", "x",
		      "resources", "limits", resource, n);
	out = must(kube_create(f->l->c, &KUBE_PODS, f->l->ns, p, &err), &err);
	json_decref(out);
	json_decref(p);
}

/* A user's pod from JSON text (metadata.name and the spec's containers at least). It stays Pending. */
static void pod_json(struct fixture *f, const char *text)
{
	struct kerf_err err;
	json_error_t jerr;
	json_t *p = json_loads(text, 0, &jerr), *out;

	if (p == NULL)
		fail_msg("pod_json: %s", jerr.text);
	json_object_set_new(p, "apiVersion", json_string("v1"));
	json_object_set_new(p, "kind", json_string("Pod"));
	out = must(kube_create(f->l->c, &KUBE_PODS, f->l->ns, p, &err), &err);
	json_decref(out);
	json_decref(p);
}

/* How many times profile@ appears in text. */
static int count_of(const char *text, const char *profile)
{
	char pat[64];
	int n = 0;

	snprintf(pat, sizeof(pat), "%s@", profile);
	for (const char *p = strstr(text, pat); p != NULL; p = strstr(p + 1, pat))
		n++;
	return n;
}

/* spec.gpus[0] of node's MigLayout as "profile@start,..."; "" if the spec lists no GPU. */
static void spec_text_of(struct fixture *f, const char *node, char *out, size_t cap, long long *generation)
{
	struct kerf_err err;
	json_t *ml = must(kube_get(f->l->c, &KUBE_MIGLAYOUTS, NULL, node, &err), &err), *in;
	const json_t *g = json_array_get(json_object_get(json_object_get(ml, "spec"), "gpus"), 0);
	size_t o = 0, i;

	out[0] = '\0';
	json_array_foreach(json_object_get(g, "instances"), i, in)
		o += (size_t)snprintf(out + o, cap - o, "%s%s@%lld", o ? "," : "", json_string_value(json_object_get(in, "profile")),
				      (long long)json_integer_value(json_object_get(in, "start")));
	if (generation)
		*generation = json_integer_value(json_object_get(json_object_get(ml, "metadata"), "generation"));
	json_decref(ml);
}

static void spec_text(struct fixture *f, char *out, size_t cap, long long *generation)
{
	spec_text_of(f, f->node, out, cap, generation);
}

/* The README's GPU: 4g.40gb and one 1g.10gb used, two 1g.10gb free beside each other; and its spec once a
 * 2g.20gb pod is planned there (the two free 1g.10gb re-cut into a 2g.20gb, the used ones kept in place). */
#define README_LAYOUT "4g.40gb@0*,1g.10gb@4,1g.10gb@5,1g.10gb@6*"
#define README_RECUT "4g.40gb@0,2g.20gb@4,1g.10gb@6"

/* The options most tests start from: contender id, a Lease of lease_s, a short debounce. */
#define TEST_OPTIONS(f, id, lease_s) \
	.identity = (id), .lease_namespace = (f)->l->ns, .lease_duration_s = (lease_s), .debounce_ms = 100, \
	.max_wait_ms = 1000

/* node's spec.gpus[0] says want ("profile@start,..."; "" for no GPU listed). */
static void spec_is(struct fixture *f, const char *node, const char *want)
{
	char spec[256];

	spec_text_of(f, node, spec, sizeof(spec), NULL);
	assert_string_equal(spec, want);
}

/* A controller with the test's options o. */
static struct controller *start_with(struct fixture *f, const struct controller_options *o)
{
	struct kerf_err err;
	struct controller *c = controller_start(f->l->c, o, &err);

	if (c == NULL)
		fail_msg("%s", err.msg);
	return c;
}

static struct controller *start(struct fixture *f, const char *identity)
{
	struct controller_options o = {TEST_OPTIONS(f, identity, 15)};

	return start_with(f, &o);
}

static void step(struct controller *c, long wait_ms, struct controller_report *rep)
{
	struct kerf_err err;

	if (controller_step(c, wait_ms, rep, &err) < 0)
		fail_msg("controller_step: %s", err.msg);
}

/* The test's controller f->ctl started (with o, or the defaults as "c1"), and its first round, waiting up to
 * wait_ms for the bell (controller_start rings it: the round runs at once). */
static void first_round(struct fixture *f, const struct controller_options *o, long wait_ms, struct controller_report *rep)
{
	f->ctl = o != NULL ? start_with(f, o) : start(f, "c1");
	step(f->ctl, wait_ms, rep);
}

/*
 * Steps until cond holds, at most five rounds. A round is answered at once when the bell has rung, and it may
 * have rung for something older than the change the test just made (an informer's late event), so that round
 * can miss the change; the next one, which the change's own ring starts, sees it.
 */
#define STEP_UNTIL(c, wait_ms, rep, cond)                   \
	do {                                                 \
		for (int try_ = 0; try_ < 5; try_++) {       \
			step((c), (wait_ms), (rep));         \
			if (cond)                            \
				break;                       \
		}                                            \
	} while (0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	void *l = NULL;

	live_setup(&l);
	f->l = l;
	snprintf(f->node, sizeof(f->node), "node-%s", f->l->ns);
	snprintf(f->node2, sizeof(f->node2), "node2-%s", f->l->ns);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct kerf_err err;
	void *l = f->l;

	controller_stop(f->other);
	controller_stop(f->ctl);
	kube_delete(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, &err);
	kube_delete(f->l->c, &KUBE_NODES, NULL, f->node, &err);
	kube_delete(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node2, &err);
	kube_delete(f->l->c, &KUBE_NODES, NULL, f->node2, &err);
	for (unsigned i = 0; i < f->n_many; i++) {
		kube_delete(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->many[i], &err);
		kube_delete(f->l->c, &KUBE_NODES, NULL, f->many[i], &err);
	}
	/* No namespace controller runs here: the pods would stay Pending and be planned by later tests. */
	{
		char path[256];

		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?gracePeriodSeconds=0", f->l->ns);
		json_decref(kube_request(f->l->c, "DELETE", path, NULL, NULL, &err));
	}
	live_teardown(&l);
	free(f);
	return 0;
}

/*
 * The README's story: an H100 cut 4g.40gb + 3 x 1g.10gb with the 4g and one 1g in use; a pod asks for a
 * 2g.20gb. The controller re-cuts the two free 1g.10gb beside each other into a 2g.20gb and writes that
 * GPU's whole layout into the node's spec, keeping the used instances where they are. The next round,
 * with the agent not done yet, plans from that spec and writes nothing new.
 */
static void test_pending_pod_gets_a_new_layout_in_the_spec(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	long long gen, gen2;
	char spec[256];

	agent_reports(f, README_LAYOUT);
	pod(f, "train-7", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 5000, &rep);
	assert_true(rep.leader);
	assert_true(rep.planned);
	assert_true(rep.placed >= 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), &gen);
	assert_string_equal(spec, README_RECUT);
	/* The pod is told where it will run and why it waits a moment (kubectl describe pod). */
	{
		struct kube_list_opts lo = {.field_selector = "involvedObject.name=train-7,reason=MIGLayoutRecut"};
		struct kerf_err err;
		json_t *list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
		const json_t *ev = json_array_get(json_object_get(list, "items"), 0);
		char want[160];

		assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
		assert_string_equal(json_string_value(json_object_get(ev, "type")), "Normal");
		snprintf(want, sizeof(want), "re-cutting %s GPU 0: 2g.20gb@4 for this pod", f->node);
		assert_string_equal(json_string_value(json_object_get(ev, "message")), want);
		assert_int_equal(rep.events, 1);
		json_decref(list);
	}

	step(f->ctl, 2000, &rep); /* the spec write rang: the node is in flux, planned from its spec */
	assert_true(rep.planned);
	assert_int_equal(rep.specs_written, 0);
	assert_int_equal(rep.events, 0); /* nothing re-cut anew: no second Event */
	spec_text(f, spec, sizeof(spec), &gen2);
	assert_int_equal(gen2, gen);
}

/* A pod no node can ever hold gets an Event with the planner's reason, once. */
static void test_unplaceable_pod_is_told_why_once(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	/* kube-scheduler tells the pod too ("no nodes available"): only kerf's reason is counted */
	struct kube_list_opts lo = {.field_selector = "involvedObject.name=big-4,reason=MIGLayoutUnavailable"};
	struct kerf_err err;
	json_t *list;
	const char *msg;

	agent_reports(f, README_LAYOUT);
	pod(f, "big-4", "nvidia.com/mig-7g.80gb", 1, 0);
	first_round(f, NULL, 5000, &rep);
	assert_true(rep.events >= 1);
	assert_int_equal(rep.specs_written, 0);
	list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	msg = json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 0), "message"));
	assert_non_null(strstr(msg, "7g.80gb"));
	json_decref(list);

	step(f->ctl, 300, &rep); /* same pod, same reason: no second Event */
	assert_int_equal(rep.events, 0);
	list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	json_decref(list);
}

/*
 * Plan at once when idle, batch only a burst. The burst window is 5 s here. A lone pod that comes after the
 * cluster has been quiet longer than the window is planned by the round its arrival starts, without
 * debouncing (at_once), and its spec is written. The echo of that write is answered at once too (the
 * second round in the window). Two pods that come right after are a burst (a third change within the
 * window): one round, debounced, plans both.
 */
static void test_a_lone_pod_on_an_idle_cluster_is_planned_at_once(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {.identity = "c1", .lease_namespace = f->l->ns, .lease_duration_s = 15,
				       .debounce_ms = 5000, .max_wait_ms = 20000};
	struct controller_report rep;
	char spec[256];

	agent_reports(f, "7g.80gb@0");
	first_round(f, &o, 5000, &rep); /* the first round: nothing waits */
	assert_true(rep.planned);
	assert_int_equal(rep.pods, 0);
	usleep(5500 * 1000); /* longer than the window without a round: the cluster is quiet */
	pod(f, "lone-1", "nvidia.com/mig-3g.40gb", 1, 0);
	STEP_UNTIL(f->ctl, 30000, &rep, rep.pods == 1);
	assert_true(rep.at_once);
	assert_int_equal(rep.pods, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "3g.40gb"), 1);
	step(f->ctl, 30000, &rep); /* the spec write's echo: the second round in the window, at once */
	assert_true(rep.at_once);
	assert_int_equal(rep.specs_written, 0);

	pod(f, "burst-1", "nvidia.com/mig-1g.10gb", 1, 0);
	pod(f, "burst-2", "nvidia.com/mig-1g.10gb", 1, 0);
	step(f->ctl, 30000, &rep);
	assert_false(rep.at_once);
	assert_int_equal(rep.pods, 3); /* lone-1 is still unbound: no kube-scheduler runs here */
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "1g.10gb"), 2);
}

/*
 * No starvation: a 7g pod created more than age_after_ms before two 3g pods of the same priority gets the
 * GPU. Without aging the plan would place the most pods of that priority: the two 3g.
 */
static void test_an_aged_pod_goes_before_younger_ones_of_its_priority(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .age_after_ms = 8000};
	struct controller_report rep;
	char spec[256];

	agent_reports(f, "7g.80gb@0");
	pod(f, "old-7g", "nvidia.com/mig-7g.80gb", 1, 0);
	/* older than age_after_ms by the first round; the 3g pods, younger by far (the controller starts in
	 * well under 8 s), are not (creationTimestamp has one-second steps) */
	usleep(9100 * 1000);
	pod(f, "young-a", "nvidia.com/mig-3g.40gb", 1, 0);
	pod(f, "young-b", "nvidia.com/mig-3g.40gb", 1, 0);
	first_round(f, &o, 5000, &rep);
	assert_int_equal(rep.pods, 3);
	assert_int_equal(rep.aged, 1);
	assert_int_equal(rep.placed, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	/* the agent has not applied anything: a 7g pod is served from the free 7g as it is, nothing written */
	assert_int_equal(rep.specs_written, 0);
	assert_int_equal(count_of(spec, "3g.40gb"), 0);
}

/* Aging never lifts a pod over a higher priority: the old 7g at priority 0 loses to two young 3g at 10 (a
 * PriorityClass: the API server's admission sets spec.priority from it). */
static void test_aging_stays_below_a_higher_priority(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .age_after_ms = 8000};
	struct controller_report rep;
	struct kerf_err err;
	char spec[256], pc[128], path[256], text[512];

	snprintf(pc, sizeof(pc), "prio10-%s", f->l->ns);
	snprintf(text, sizeof(text), "{\"apiVersion\": \"scheduling.k8s.io/v1\", \"kind\": \"PriorityClass\", "
				     "\"metadata\": {\"name\": \"%s\"}, \"value\": 10}", pc);
	{
		json_t *body = json_loads(text, 0, NULL);

		json_decref(must(kube_request(f->l->c, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", body, NULL, &err), &err));
		json_decref(body);
	}
	agent_reports(f, "7g.80gb@0");
	pod(f, "old-7g", "nvidia.com/mig-7g.80gb", 1, 0);
	usleep(9100 * 1000);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(text, sizeof(text), "{\"metadata\": {\"name\": \"young-%u\"}, \"spec\": {\"priorityClassName\": \"%s\", "
					     "\"containers\": [{\"name\": \"c\", \"image\": \"x\", \"resources\": {\"limits\": "
					     "{\"nvidia.com/mig-3g.40gb\": \"1\"}}}]}}", i, pc);
		pod_json(f, text);
	}
	first_round(f, &o, 5000, &rep);
	snprintf(path, sizeof(path), "/apis/scheduling.k8s.io/v1/priorityclasses/%s", pc);
	json_decref(kube_request(f->l->c, "DELETE", path, NULL, NULL, &err));
	assert_int_equal(rep.aged, 1);
	assert_int_equal(rep.placed, 2);
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "3g.40gb"), 2);
}

/* Two controllers: only the Lease holder plans and writes; the other watches. */
static void test_only_the_leader_writes(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;

	agent_reports(f, README_LAYOUT);
	first_round(f, NULL, 100, &rep);
	assert_true(rep.leader);
	f->other = start(f, "c2");
	pod(f, "train-8", "nvidia.com/mig-2g.20gb", 1, 0);
	step(f->other, 2000, &rep);
	assert_false(rep.leader);
	assert_false(rep.planned);
	spec_is(f, f->node, "");
	step(f->ctl, 2000, &rep);
	assert_true(rep.leader);
	assert_int_equal(rep.specs_written, 1);
}

/*
 * Pods that are not kube-scheduler's to place yet (a scheduling gate holds them) or not kube-scheduler's at all
 * (another schedulerName) get nothing re-cut for them; a controller told to serve the other scheduler plans
 * for its pod.
 */
static void test_gated_and_other_schedulers_pods_are_left_alone(void **state)
{
	struct fixture *f = *state;
	static const char *const other[] = {"other-scheduler", NULL};
	struct controller_options o = {TEST_OPTIONS(f, "c3", 15), .scheduler_names = other};
	struct controller_report rep;

	agent_reports(f, README_LAYOUT);
	pod_json(f, "{\"metadata\":{\"name\":\"gated\"},\"spec\":{\"schedulingGates\":[{\"name\":\"kerf.dev/test\"}],"
		    "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"limits\":{\"nvidia.com/mig-2g.20gb\":\"1\"}}}]}}");
	pod_json(f, "{\"metadata\":{\"name\":\"elsewhere\"},\"spec\":{\"schedulerName\":\"other-scheduler\","
		    "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"limits\":{\"nvidia.com/mig-2g.20gb\":\"1\"}}}]}}");
	first_round(f, NULL, 3000, &rep);
	assert_true(rep.planned);
	assert_int_equal(rep.pods, 0);
	assert_int_equal(rep.specs_written, 0);
	spec_is(f, f->node, "");
	controller_stop(f->ctl); /* hands the Lease over */
	f->ctl = NULL;

	first_round(f, &o, 3000, &rep);
	assert_true(rep.leader);
	assert_int_equal(rep.pods, 1); /* the other scheduler's pod; the gated one still not */
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/*
 * A pod's MIG demand is its effective request: an init container's devices count (it runs before the app),
 * and a sidecar's (an init container with restartPolicy Always) add to the app's, since it runs beside it.
 * Here: sidecar 1g.10gb, then an init container 2g.20gb, then the app 1g.10gb: the pod needs a 2g.20gb and
 * two 1g.10gb, and the empty GPU is cut so.
 */
static void test_init_and_sidecar_containers_count(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	char spec[256];

	agent_reports(f, "");
	pod_json(f, "{\"metadata\":{\"name\":\"with-init\"},\"spec\":{\"initContainers\":["
		    "{\"name\":\"side\",\"image\":\"x\",\"restartPolicy\":\"Always\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"}}},"
		    "{\"name\":\"prep\",\"image\":\"x\",\"resources\":{\"limits\":{\"nvidia.com/mig-2g.20gb\":\"1\"}}}],"
		    "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"}}}]}}");
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.pods, 1);
	assert_int_equal(rep.placed, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	printf("spec for the pod: %s\n", spec);
	assert_int_equal(count_of(spec, "2g.20gb"), 1);
	assert_int_equal(count_of(spec, "1g.10gb"), 2);
}

/* The seam's work: the node's spec written by someone else (a new leader) between the plan and its write. */
static void other_writer(void *arg)
{
	struct fixture *f = arg;
	struct kerf_err err;
	json_t *patch = json_pack("{s:{s:[{s:i, s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}, {s:s, s:i}]}]}}", "spec", "gpus",
				  "index", 0, "instances", "profile", "4g.40gb", "start", 0, "profile", "1g.10gb", "start", 4,
				  "profile", "1g.10gb", "start", 5, "profile", "1g.10gb", "start", 6);

	json_decref(must(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, patch, false, &err), &err));
	json_decref(patch);
}

/*
 * Spec writes are conditional on the MigLayout the plan was made from: when another writer (a new leader)
 * changes it between the plan and the write, the write fails (409), the other's spec stays, and the next
 * round plans again from it and writes with the current resourceVersion.
 */
static void test_spec_write_is_conditional_on_the_planned_version(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .before_write = other_writer, .before_write_arg = f};
	struct controller_report rep;

	agent_reports(f, README_LAYOUT);
	pod(f, "train-10", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, &o, 3000, &rep);
	assert_true(rep.planned);
	assert_int_equal(rep.specs_written, 0);
	assert_int_equal(rep.specs_stale, 1);
	spec_is(f, f->node, "4g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6"); /* the other writer's */

	controller_stop(f->ctl);
	o.before_write = NULL;
	first_round(f, &o, 3000, &rep);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/* A second contender that serves no scheduler's pods: when it leads, its rounds plan nothing. */
static struct controller *idle_contender(struct fixture *f)
{
	static const char *const nobody[] = {"nobody-scheduler", NULL};
	struct controller_options o = {TEST_OPTIONS(f, "c2", 2), .scheduler_names = nobody};

	return start_with(f, &o);
}

/* The seam's work for a long round: c2 sees the Lease as c1 renewed it at the round's start, then time
 * passes, longer than the Lease's 2 s. With deposed set, c2 then takes the Lease over meanwhile. */
static bool deposed;
static void long_round(void *arg)
{
	struct fixture *f = arg;
	struct controller_report rep;

	step(f->other, 0, &rep);
	assert_false(rep.leader);
	usleep(2500 * 1000);
	if (!deposed)
		return;
	step(f->other, 0, &rep); /* c1's renewal is 2.5 s old: a new holder */
	assert_true(rep.leader);
}

/*
 * The Lease tests' round: the README's node and a 2g.20gb pod (created before the controller starts: its first
 * round, run at once, must see it), c1 leading with a Lease of 2 s and the long_round seam between its plan and
 * its writes (deposed: whether c2 takes the Lease over there), c2 an idle contender. One round of c1, led.
 */
static void round_longer_than_the_lease(struct fixture *f, bool depose, const char *pod_name, struct controller_report *rep)
{
	struct controller_options o = {TEST_OPTIONS(f, "c1", 2), .before_write = long_round, .before_write_arg = f};

	deposed = depose;
	agent_reports(f, README_LAYOUT);
	pod(f, pod_name, "nvidia.com/mig-2g.20gb", 1, 0);
	f->ctl = start_with(f, &o);
	f->other = idle_contender(f);
	step(f->ctl, 3000, rep);
	assert_true(rep->leader);
}

/*
 * A round longer than the Lease (here the seam's 2.5 s between the plan and the writes; at scale a long plan
 * and hundreds of writes) renews the Lease mid-round: a contender that saw the renewal at the round's start
 * does not take over right after it. Without the mid-round renewal it does.
 */
static void test_a_long_round_renews_the_lease(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;

	round_longer_than_the_lease(f, false, "train-12", &rep);
	assert_false(rep.deposed);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
	step(f->other, 0, &rep);
	assert_false(rep.leader);
}

/*
 * A leader deposed mid-round (its round outlasted the Lease and another contender took it) writes nothing
 * more: the conditional write alone would let its stale plan land, since the new leader has not written yet.
 */
static void test_a_leader_deposed_mid_round_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;

	round_longer_than_the_lease(f, true, "train-13", &rep);
	spec_is(f, f->node, "");
	assert_int_equal(rep.specs_written, 0);
	assert_int_equal(rep.events, 0);
	assert_true(rep.deposed);
}

/* The Events of one reason in the test's namespace. */
static size_t events_with_reason(struct fixture *f, const char *reason)
{
	struct kube_list_opts lo = {0};
	struct kerf_err err;
	char sel[128];
	json_t *list;
	size_t n;

	snprintf(sel, sizeof(sel), "reason=%s", reason);
	lo.field_selector = sel;
	list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
	n = json_array_size(json_object_get(list, "items"));
	json_decref(list);
	return n;
}

/*
 * A pod that a node's current layout serves (its agent has applied it) but that kube-scheduler leaves unbound
 * there (here: no scheduler runs; in a cluster, CPU or memory it lacks) is planned elsewhere after
 * replan_after_ms: it is told why, and the other node is re-cut for it. Without the rule the pod waits on the
 * first node forever.
 */
static void test_a_pod_left_unbound_is_replanned_elsewhere(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .replan_after_ms = 1000};
	struct controller_report rep;
	char spec[256];

	agent_reports(f, "2g.20gb@0"); /* a free 2g.20gb: settled, nothing to re-cut */
	node_named(f, f->node2, false);
	agent_reports_on(f, f->node2, "");
	pod(f, "train-14", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, &o, 3000, &rep);
	assert_int_equal(rep.placed, 1);
	assert_int_equal(rep.specs_written, 0); /* it fits the first node as it is */
	assert_int_equal(rep.replanned, 0);
	usleep(1200 * 1000);
	step(f->ctl, 100, &rep);
	assert_int_equal(rep.replanned, 1);
	assert_int_equal(events_with_reason(f, "MIGLayoutReplanned"), 1);
	step(f->ctl, 3000, &rep); /* the give-up rang the bell: planned again at once */
	assert_int_equal(rep.specs_written, 1);
	spec_text_of(f, f->node2, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "2g.20gb"), 1);
	spec_is(f, f->node, ""); /* the first node untouched */
}

/*
 * --pack (options.pack): a 3g pod fits node 1's busy GPU only by re-cutting its free 2g, or node 2's idle GPU
 * as it is cut (nothing). The plain plan destroys nothing and opens the idle GPU; packed, the controller
 * re-cuts the busy one and leaves the idle GPU whole (test_pack.c has the same case for the planner alone).
 */
static void test_pack_recuts_a_busy_gpu_before_it_opens_an_idle_one(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .pack = true};
	struct controller_report rep;
	char spec[256];

	agent_reports(f, "3g.40gb@4*,2g.20gb@0");
	node_named(f, f->node2, false);
	agent_reports_on(f, f->node2, "");
	pod(f, "pack-3g", "nvidia.com/mig-3g.40gb", 1, 0);
	first_round(f, &o, 3000, &rep);
	assert_int_equal(rep.placed, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text(f, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "3g.40gb"), 2); /* the free 2g re-cut beside the used 3g */
	assert_int_equal(count_of(spec, "2g.20gb"), 0);
	spec_is(f, f->node2, ""); /* the idle GPU left whole */
}

/*
 * n Ready nodes, each reporting GPU 0 as 4g.40gb (used) + three 1g.10gb (the last used), and n pods asking for a
 * 2g.20gb: each node can give one by re-cutting its two free 1g.10gb, so the plan re-cuts every node.
 */
static void many_nodes(struct fixture *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char name[32];

		snprintf(f->many[i], sizeof(f->many[i]), "m%02u-%s", i, f->l->ns);
		f->n_many = i + 1;
		node_named(f, f->many[i], false);
		agent_reports_on(f, f->many[i], README_LAYOUT);
		snprintf(name, sizeof(name), "wide-%02u", i);
		pod(f, name, "nvidia.com/mig-2g.20gb", 1, 0);
	}
}

/* How many of the many nodes have the re-cut spec. */
static unsigned recut_specs(struct fixture *f)
{
	unsigned n = 0;
	char spec[256];

	for (unsigned i = 0; i < f->n_many; i++) {
		spec_text_of(f, f->many[i], spec, sizeof(spec), NULL);
		n += strcmp(spec, README_RECUT) == 0;
	}
	return n;
}

/*
 * A round that re-cuts many nodes writes their specs over write_concurrency connections at once: every spec
 * lands, as one after another would write it, and every pod is told. (Whether writes overlap is timing: the
 * report's writes_at_once is printed, not asserted; test_writer.c proves the overlap.)
 */
static void test_many_specs_are_written_over_several_connections(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .write_concurrency = 4};
	struct controller_report rep;

	many_nodes(f, 12);
	first_round(f, &o, 3000, &rep);
	assert_true(rep.leader);
	assert_int_equal(rep.nodes, 12);
	assert_int_equal(rep.specs_written, 12);
	assert_int_equal(rep.specs_stale, 0);
	assert_int_equal(rep.events, 12);
	assert_true(rep.writes_at_once >= 1 && rep.writes_at_once <= 4);
	print_message("12 spec writes, at most %u at once\n", rep.writes_at_once);
	assert_int_equal(recut_specs(f), 12);
}

/* The seam before each spec write: before the sixth, c2 sees the Lease, 2.5 s pass (the Lease lasts 2 s), and
 * c2 takes it over. No cmocka assertion here: this runs on one of the writer's threads. */
static unsigned seam_calls;
static bool seam_took;
static void depose_at_sixth(void *arg, unsigned nth)
{
	struct fixture *f = arg;
	struct controller_report rep;
	struct kerf_err err;

	seam_calls++;
	if (nth != 5)
		return;
	controller_step(f->other, 0, &rep, &err);
	usleep(2500 * 1000);
	seam_took = controller_step(f->other, 0, &rep, &err) == 0 && rep.leader;
}

/*
 * A leader deposed in the middle of its writes starts none after it learns so: the five writes started before
 * land (the conditional write cannot stop them: no new leader has written), the seven after do not, and no pod
 * is told. Without the gate before each write, all twelve land.
 */
static void test_a_deposition_mid_batch_stops_the_remaining_writes(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 2), .write_concurrency = 4,
				       .before_spec_write = depose_at_sixth, .before_spec_write_arg = f};
	struct controller_report rep;

	seam_calls = 0;
	seam_took = false;
	many_nodes(f, 12);
	f->ctl = start_with(f, &o);
	f->other = idle_contender(f);
	step(f->ctl, 3000, &rep);
	assert_true(rep.leader);
	assert_true(seam_took);
	assert_true(rep.deposed);
	assert_int_equal(seam_calls, 6); /* asked for the sixth, and no more */
	assert_int_equal(rep.specs_written, 5);
	assert_int_equal(recut_specs(f), 5);
	assert_int_equal(rep.events, 0);
}

/*
 * A round whose inputs have not changed since the last plan makes no plan (report.unchanged); a change (a new
 * pod) makes the next one plan again. The first rounds plan: the pod, then the spec the first wrote coming
 * back through the watch (and whatever kube-scheduler writes on the pod meanwhile). Without the change count
 * every round plans.
 */
static void test_an_idle_round_makes_no_plan_and_a_change_does(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	unsigned rounds = 0;

	agent_reports(f, README_LAYOUT);
	pod(f, "train-20", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 3000, &rep);
	assert_true(rep.planned);
	assert_false(rep.unchanged);
	assert_int_equal(rep.specs_written, 1);
	do { /* the writes' echoes: at most a few rounds */
		step(f->ctl, 500, &rep);
	} while (!rep.unchanged && ++rounds < 10);
	assert_true(rep.unchanged);
	assert_false(rep.planned);
	assert_true(rep.leader);
	assert_int_equal(rep.pods, 1); /* the last plan's figures */
	assert_int_equal(rep.specs_written, 0);
	step(f->ctl, 300, &rep);
	assert_true(rep.unchanged);

	pod(f, "train-21", "nvidia.com/mig-1g.10gb", 1, 0);
	step(f->ctl, 3000, &rep);
	assert_false(rep.unchanged);
	assert_true(rep.planned);
	assert_int_equal(rep.pods, 2);
}

/* The kubelet's part: node's allocatable (and capacity) in its status. */
static void node_allocatable(struct fixture *f, const char *node, const char *cpu, const char *memory, const char *pods)
{
	struct kerf_err err;
	json_t *st = json_pack("{s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}}", "status", "allocatable", "cpu", cpu, "memory",
			       memory, "pods", pods, "capacity", "cpu", cpu, "memory", memory, "pods", pods);

	json_decref(must(kube_patch(f->l->c, &KUBE_NODES, NULL, node, KUBE_PATCH_MERGE, st, true, &err), &err));
	json_decref(st);
}

/*
 * A node without room for a pod's CPU request (allocatable 4, a pod bound there asks for 3.5) is not where the
 * pod is planned, though its free 2g.20gb would serve the pod at no cost: kube-scheduler would refuse it there.
 * The other node, with room, is re-cut. Without the room check the pod is planned on the first node, and
 * nothing is written.
 */
static void test_a_node_without_cpu_room_is_not_planned_on(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	char spec[256], text[512];

	agent_reports(f, "2g.20gb@0");
	node_allocatable(f, f->node, "4", "32Gi", "110");
	node_named(f, f->node2, false);
	node_allocatable(f, f->node2, "16", "64Gi", "110");
	agent_reports_on(f, f->node2, "");
	snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"busy\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":"
		 "[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"3500m\"}}}]}}", f->node);
	pod_json(f, text);
	pod_json(f, "{\"metadata\":{\"name\":\"wants-cpu\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\","
		    "\"resources\":{\"requests\":{\"cpu\":\"1\"},\"limits\":{\"nvidia.com/mig-2g.20gb\":\"1\"}}}]}}");
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.placed, 1);
	assert_int_equal(rep.no_room, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text_of(f, f->node2, spec, sizeof(spec), NULL);
	assert_int_equal(count_of(spec, "2g.20gb"), 1);
	spec_is(f, f->node, "");
}

/*
 * Two pods that each fit a node's CPU room alone, not together (allocatable 2, each asks for 1.5), both fit its
 * two free 1g.10gb: the plan gives that node one of them, and re-cuts the other node for the other pod.
 * Without the second pass both are planned on the first node, and the scheduler could bind only one.
 */
static void test_pods_that_fit_a_node_only_one_at_a_time_are_spread(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	char spec[256];
	static const char pod_text[] = "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"containers\":[{\"name\":\"c\","
				       "\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"1500m\"},\"limits\":"
				       "{\"nvidia.com/mig-1g.10gb\":\"1\"}}}]}}";
	char text[512];

	agent_reports(f, "1g.10gb@0,1g.10gb@1");
	node_allocatable(f, f->node, "2", "32Gi", "110");
	node_named(f, f->node2, false);
	agent_reports_on(f, f->node2, "");
	snprintf(text, sizeof(text), pod_text, "first");
	pod_json(f, text);
	snprintf(text, sizeof(text), pod_text, "second");
	pod_json(f, text);
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.placed, 2);
	assert_int_equal(rep.no_room, 0);
	assert_int_equal(rep.crowded, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_text_of(f, f->node2, spec, sizeof(spec), NULL);
	assert_true(count_of(spec, "1g.10gb") >= 1);
	spec_is(f, f->node, "");
}

/*
 * A node with two GPUs whose agent is still applying an earlier spec for GPU 1 (7g.80gb@0, generation 2;
 * status at 1): a pod the plan puts on GPU 0 gets GPU 0's new layout written, and GPU 1's pending entry stays
 * in the spec. The patch replaces spec.gpus whole: without carrying it over, GPU 1's re-cut was dropped.
 */
static void test_a_new_spec_keeps_the_pending_layouts_of_other_gpus(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	struct kerf_err err;
	json_error_t jerr;
	char text[1024];
	json_t *ml, *made, *gpus, *want1;

	node_is(f, false);
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"kerf.dev/v1alpha1\",\"kind\":\"MigLayout\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"gpus\":[]}}",
		 f->node);
	ml = json_loads(text, 0, &jerr);
	made = must(kube_create(f->l->c, &KUBE_MIGLAYOUTS, NULL, ml, &err), &err);
	json_object_set_new(made, "status", json_loads(
		"{\"observedGeneration\":1,\"gpuCount\":2,\"heartbeat\":\"2026-01-01T00:00:00Z\",\"gpus\":["
		"{\"index\":0,\"model\":\"" H100 "\",\"instances\":[{\"profile\":\"4g.40gb\",\"start\":0,\"uuid\":\"MIG-a\",\"used\":true},"
		"{\"profile\":\"1g.10gb\",\"start\":6,\"uuid\":\"MIG-b\",\"used\":true}]},"
		"{\"index\":1,\"model\":\"" H100 "\",\"instances\":[]}]}", 0, &jerr));
	json_decref(must(kube_update_status(f->l->c, &KUBE_MIGLAYOUTS, NULL, made, &err), &err));
	want1 = json_loads("{\"index\":1,\"instances\":[{\"profile\":\"7g.80gb\",\"start\":0}]}", 0, &jerr);
	{
		json_t *patch = json_pack("{s:{s:[O]}}", "spec", "gpus", want1);

		json_decref(must(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, patch, false, &err), &err));
		json_decref(patch);
	}
	json_decref(made);
	json_decref(ml);

	pod(f, "train-16", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.specs_written, 1);
	ml = must(kube_get(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, &err), &err);
	gpus = json_object_get(json_object_get(ml, "spec"), "gpus");
	assert_int_equal(json_array_size(gpus), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(gpus, 0), "index")), 0);
	assert_true(json_equal(json_array_get(gpus, 1), want1));
	json_decref(ml);
	json_decref(want1);
}

/*
 * A node kube-scheduler will not place pods on is not re-cut for them: a cordoned Node, and a MigLayout whose
 * Node is gone (left by a deleted node). The README's pod then waits, and nothing is written.
 */
static void test_cordoned_or_missing_nodes_are_not_recut(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;

	node_is(f, true);
	agent_reports_alone(f, README_LAYOUT);
	pod(f, "train-11", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 3000, &rep);
	assert_true(rep.planned);
	assert_int_equal(rep.nodes, 0);
	assert_int_equal(rep.nodes_skipped, 1);
	assert_int_equal(rep.specs_written, 0);

	kube_delete(f->l->c, &KUBE_NODES, NULL, f->node, &(struct kerf_err){0}); /* the node is gone */
	step(f->ctl, 3000, &rep);
	assert_int_equal(rep.nodes, 0);
	assert_int_equal(rep.nodes_skipped, 1);
	assert_int_equal(rep.specs_written, 0);
	spec_is(f, f->node, "");

	node_is(f, false); /* back, Ready and schedulable: re-cut */
	step(f->ctl, 3000, &rep);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/*
 * Pods are planned only onto nodes kube-scheduler would place them on (fit.h): the Node carries the label
 * zone=z1 and the taint dedicated=ml:NoSchedule. A pod selecting zone z2 and a pod selecting z1 without
 * tolerating the taint get no re-cut, and are told why; a pod selecting z1 and tolerating the taint gets it.
 */
static void test_node_selectors_and_taints_decide_where_to_recut(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	struct kerf_err err;
	json_t *patch = json_pack("{s:{s:{s:s}}, s:{s:[{s:s, s:s, s:s}]}}", "metadata", "labels", "zone", "z1", "spec",
				  "taints", "key", "dedicated", "value", "ml", "effect", "NoSchedule");

	agent_reports(f, README_LAYOUT);
	json_decref(must(kube_patch(f->l->c, &KUBE_NODES, NULL, f->node, KUBE_PATCH_MERGE, patch, false, &err), &err));
	json_decref(patch);
	pod_json(f, "{\"metadata\": {\"name\": \"other-zone\"}, \"spec\": {\"nodeSelector\": {\"zone\": \"z2\"},"
		    "\"tolerations\": [{\"key\": \"dedicated\", \"operator\": \"Exists\"}],"
		    "\"containers\": [{\"name\": \"c\", \"image\": \"x\", \"resources\": {\"limits\": {\"nvidia.com/mig-2g.20gb\": \"1\"}}}]}}");
	pod_json(f, "{\"metadata\": {\"name\": \"untolerated\"}, \"spec\": {\"nodeSelector\": {\"zone\": \"z1\"},"
		    "\"containers\": [{\"name\": \"c\", \"image\": \"x\", \"resources\": {\"limits\": {\"nvidia.com/mig-2g.20gb\": \"1\"}}}]}}");
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.pods, 2);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.placed, 0);
	assert_int_equal(rep.specs_written, 0);
	assert_int_equal(rep.events, 2);
	spec_is(f, f->node, "");

	pod_json(f, "{\"metadata\": {\"name\": \"fits\"}, \"spec\": {\"nodeSelector\": {\"zone\": \"z1\"},"
		    "\"tolerations\": [{\"key\": \"dedicated\", \"value\": \"ml\", \"effect\": \"NoSchedule\"}],"
		    "\"containers\": [{\"name\": \"c\", \"image\": \"x\", \"resources\": {\"limits\": {\"nvidia.com/mig-2g.20gb\": \"1\"}}}]}}");
	STEP_UNTIL(f->ctl, 3000, &rep, rep.pods == 3);
	assert_int_equal(rep.pods, 3);
	assert_int_equal(rep.placed, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/* The agent's part: its current spec reported failed (Failed=True) or not. */
static void agent_failing(struct fixture *f, bool failed)
{
	struct kerf_err err;
	json_t *patch = json_pack("{s:{s:[{s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type", "Failed", "status",
				  failed ? "True" : "False", "reason", failed ? "ApplyFailed" : "Applied", "message",
				  failed ? "gpu 0: nvmlDeviceCreateGpuInstanceWithPlacement: unknown error" : "");

	json_decref(must(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, patch, true, &err), &err));
	json_decref(patch);
}

/*
 * A node whose agent keeps failing to apply its current spec (Failed=True for that generation past the grace,
 * here 500 ms on the controller's clock) is left out, so its pods are planned elsewhere rather than waiting on
 * it; once the agent reports success it is planned again. Without the rule the pod is re-cut for there.
 */
static void test_a_node_failing_its_spec_is_left_out_after_the_grace(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .failed_grace_ms = 500};
	struct controller_report rep;

	agent_reports(f, README_LAYOUT);
	agent_failing(f, true);
	first_round(f, &o, 300, &rep); /* first sight of the failure: within the grace */
	assert_int_equal(rep.nodes, 1);
	usleep(700 * 1000);
	pod(f, "train-12", "nvidia.com/mig-2g.20gb", 1, 0);
	step(f->ctl, 3000, &rep);
	assert_int_equal(rep.nodes, 0);
	assert_int_equal(rep.nodes_skipped, 1);
	assert_int_equal(rep.specs_written, 0);
	spec_is(f, f->node, "");

	agent_failing(f, false); /* the agent got through: the node is planned again */
	step(f->ctl, 3000, &rep);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/*
 * At equal priority the pod that has waited longest gets the capacity: one 2g.20gb can be cut, z-first asks
 * for it a second before a-second does. The cache's order (by name) would favour a-second.
 */
static void test_equal_priority_ties_go_to_the_oldest_pod(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	struct kube_list_opts lo = {.field_selector = "reason=MIGLayoutRecut"};
	struct kerf_err err;
	json_t *list;

	agent_reports(f, README_LAYOUT);
	pod(f, "z-first", "nvidia.com/mig-2g.20gb", 1, 0);
	usleep(1100 * 1000); /* creation times have one-second steps */
	pod(f, "a-second", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 5000, &rep);
	assert_int_equal(rep.pods, 2);
	assert_int_equal(rep.placed, 1);
	list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(list, "items"), 0),
									       "involvedObject"), "name")), "z-first");
	json_decref(list);
}

/* Every (pod uid, reason) pair under one hash (events.h's test hook). */
static uint64_t one_hash(const char *uid, const char *reason)
{
	(void)uid;
	(void)reason;
	return 42;
}

/*
 * The memo of Events told compares pods, not hashes: with every pair forced onto one hash, a second unplaceable
 * pod that comes after the first was told is told too (a memo of hashes alone took it for the first), and
 * neither is told twice.
 */
static void test_a_hash_collision_does_not_silence_another_pods_event(void **state)
{
	struct fixture *f = *state;
	uint64_t (*saved)(const char *, const char *) = events_pair_hash;
	struct controller_report rep;
	unsigned rounds = 0;

	events_pair_hash = one_hash;
	agent_reports(f, README_LAYOUT);
	pod(f, "big-6", "nvidia.com/mig-7g.80gb", 1, 0);
	first_round(f, NULL, 5000, &rep);
	assert_int_equal(events_with_reason(f, "MIGLayoutUnavailable"), 1);

	pod(f, "big-7", "nvidia.com/mig-7g.80gb", 1, 0);
	do /* the new pod's round: a few at most (echoes of the first) */
		step(f->ctl, 3000, &rep);
	while (rep.pods < 2 && ++rounds < 10);
	assert_int_equal(rep.pods, 2);
	assert_int_equal(events_with_reason(f, "MIGLayoutUnavailable"), 2); /* big-7's own */
	step(f->ctl, 300, &rep); /* both remembered: nothing more */
	assert_int_equal(rep.events, 0);
	assert_int_equal(events_with_reason(f, "MIGLayoutUnavailable"), 2);
	events_pair_hash = saved;
}

/*
 * Many pods that cannot be placed: Events are rate limited (no round sends more than the burst and what the
 * rate refilled), the rest follow in later rounds, each pod is told exactly once, and once all are told no round
 * sends another. The memory of what was told is the set of waiting pods (before: a fixed table that forgot
 * everything when half full, and 13,813 Events in 60 s for thousands of pods).
 */
static void test_many_unplaceable_pods_are_told_once_within_the_rate(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .events_per_s = 50, .event_burst = 40};
	struct kube_list_opts lo = {.field_selector = "reason=MIGLayoutUnavailable"};
	struct controller_report rep;
	struct kerf_err err;
	unsigned total = 0, rounds = 0, first;
	long long t0, took;
	char name[32];
	json_t *list;
	enum { PODS = 300 };

	agent_reports(f, README_LAYOUT);
	for (int i = 0; i < PODS; i++) {
		snprintf(name, sizeof(name), "big-%d", i);
		pod(f, name, "nvidia.com/mig-7g.80gb", 1, 0);
	}
	f->ctl = start_with(f, &o);
	t0 = kerf_mono_ms();
	step(f->ctl, 3000, &rep);
	took = kerf_mono_ms() - t0;
	assert_int_equal(rep.pods, PODS);
	first = rep.events;
	printf("first round: %u Events in %lld ms (burst 40, 50/s)\n", first, took);
	/* The burst, plus what the rate refilled while the round ran (its Events take time on a loaded machine). */
	assert_true(first >= 40 && first <= 40 + 50 * took / 1000 + 1);
	for (total = first; total < PODS && rounds < 100; rounds++) {
		step(f->ctl, 200, &rep);
		total += rep.events;
	}
	printf("%u Events in %u more rounds\n", total, rounds);
	assert_int_equal(total, PODS);
	for (int i = 0; i < 3; i++) { /* all told: nothing more */
		step(f->ctl, 200, &rep);
		assert_int_equal(rep.events, 0);
	}
	list = must(kube_list(f->l->c, &KUBE_EVENTS, f->l->ns, &lo, &err), &err);
	assert_int_equal(json_array_size(json_object_get(list, "items")), PODS); /* one per pod, none twice */
	json_decref(list);
}

/*
 * Events the rate limit held back do not make rounds plan again: while nothing the plan read changes, the
 * rounds after it only send the rest (report.unchanged, no plan), each pod once. The pods name a scheduler
 * that no one runs here, so kube-scheduler writes nothing on them (its status updates would be changes). Before,
 * every round planned again until all were told (issue 13's leftover: 17 minutes of plans at 20,585 held back).
 * The rate is slow (2/s) so that the rest take seconds of rounds however slow a round is (valgrind, ASan).
 */
static void test_untold_events_are_sent_without_planning_again(void **state)
{
	struct fixture *f = *state;
	static const char *const quiet[] = {"kerf-test-quiet", NULL};
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .events_per_s = 2, .event_burst = 5,
				       .scheduler_names = quiet};
	struct controller_report rep;
	unsigned total, rounds = 0, plans = 0, quiet_telling = 0;
	char text[512];
	enum { PODS = 20 };

	agent_reports(f, README_LAYOUT);
	for (int i = 0; i < PODS; i++) {
		snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"big-%d\"},\"spec\":{\"schedulerName\":"
			 "\"kerf-test-quiet\",\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":"
			 "{\"limits\":{\"nvidia.com/mig-7g.80gb\":\"1\"}}}]}}", i);
		pod_json(f, text);
	}
	first_round(f, &o, 3000, &rep);
	assert_true(rep.planned);
	assert_int_equal(rep.pods, PODS);
	assert_true(rep.events < PODS); /* the burst, and what the rate refilled meanwhile */
	for (total = rep.events; total < PODS && rounds < 200; rounds++) {
		step(f->ctl, 200, &rep);
		total += rep.events;
		plans += rep.planned;
		quiet_telling += rep.unchanged && rep.events > 0;
	}
	printf("%u Events in %u rounds after the first; %u of them planned, %u told without a plan\n", total, rounds,
	       plans, quiet_telling);
	assert_int_equal(total, PODS);
	assert_int_equal(events_with_reason(f, "MIGLayoutUnavailable"), PODS); /* one per pod, none twice */
	assert_true(plans <= 2);         /* late echoes of the start at most; before, every round planned */
	assert_true(quiet_telling >= 2); /* before, none: a round that owed an Event planned */
	step(f->ctl, 200, &rep); /* all told: nothing more, and still no plan */
	assert_true(rep.unchanged);
	assert_int_equal(rep.events, 0);
}

/*
 * A node whose agent stopped renewing its heartbeat is not re-cut: nothing there would apply the spec. The
 * controller times the heartbeat's changes on its own clock (agents' clocks are never compared with it); a
 * renewed heartbeat brings the node back.
 */
static void test_silent_agents_node_is_not_recut(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .agent_timeout_ms = 1500};
	struct controller_report rep;
	struct kerf_err err;
	json_t *beat;

	agent_reports(f, README_LAYOUT);
	first_round(f, &o, 500, &rep);
	assert_int_equal(rep.nodes, 1); /* first seen: alive */
	step(f->ctl, 2000, &rep);        /* 2 s without a new heartbeat */
	pod(f, "train-12", "nvidia.com/mig-2g.20gb", 1, 0);
	step(f->ctl, 3000, &rep);
	assert_int_equal(rep.nodes, 0);
	assert_int_equal(rep.nodes_skipped, 1);
	assert_int_equal(rep.specs_written, 0);

	beat = json_pack("{s:{s:s}}", "status", "heartbeat", "2026-01-01T00:00:30Z"); /* the agent is back */
	json_decref(must(kube_patch(f->l->c, &KUBE_MIGLAYOUTS, NULL, f->node, KUBE_PATCH_MERGE, beat, true, &err), &err));
	json_decref(beat);
	STEP_UNTIL(f->ctl, 3000, &rep, rep.nodes == 1);
	assert_int_equal(rep.nodes, 1);
	assert_int_equal(rep.specs_written, 1);
}

/*
 * kube-scheduler bound a pod to the node, counting one of its free 1g.10gb; the kubelet has not admitted it
 * yet, so the status does not show that instance used. The controller holds it for that pod: a 2g.20gb pod,
 * which would need both free 1g.10gb, is not re-cut for (the bound pod would fail admission). When the bound
 * pod is gone, the re-cut happens.
 */
static void test_bound_pods_devices_are_not_recut(void **state)
{
	struct fixture *f = *state;
	struct controller_report rep;
	struct kerf_err err;
	char text[512], path[256];

	agent_reports(f, README_LAYOUT);
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"bound-1g\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"c\","
		 "\"image\":\"x\",\"resources\":{\"limits\":{\"nvidia.com/mig-1g.10gb\":\"1\"}}}]}}",
		 f->node);
	pod_json(f, text);
	pod(f, "wants-2g", "nvidia.com/mig-2g.20gb", 1, 0);
	first_round(f, NULL, 3000, &rep);
	assert_int_equal(rep.pods, 1);     /* the bound pod is not planned for... */
	assert_int_equal(rep.reserved, 1); /* ...its instance is held */
	assert_int_equal(rep.placed, 0);
	assert_int_equal(rep.specs_written, 0);
	spec_is(f, f->node, "");

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/bound-1g?gracePeriodSeconds=0", f->l->ns);
	json_decref(kube_request(f->l->c, "DELETE", path, NULL, NULL, &err));
	STEP_UNTIL(f->ctl, 3000, &rep, rep.reserved == 0);
	assert_int_equal(rep.reserved, 0);
	assert_int_equal(rep.specs_written, 1);
	spec_is(f, f->node, README_RECUT);
}

/* `kerf controller --once`, the process a Deployment runs, does a round; bad options exit 2. */
static void test_kerf_controller_command_runs_a_round(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"--debounce soon",	    "--events-per-second 0",	"--agent-timeout 5",
					  "--replan-after 5",	    "--write-concurrency 65", "--start-timeout soon"};
	char cmd[1024];
	int status;

	agent_reports(f, README_LAYOUT);
	pod(f, "train-9", "nvidia.com/mig-2g.20gb", 1, 0);
	snprintf(cmd, sizeof(cmd),
		 "'%s' controller --kubeconfig '%s/kubeconfig' --namespace '%s' --identity cmd --write-concurrency 2 "
		 "--start-timeout 120000 --once 2>/dev/null",
		 KERF_BIN, live_dir(), f->l->ns);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	spec_is(f, f->node, README_RECUT);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cmd, sizeof(cmd), "'%s' controller %s 2>/dev/null", KERF_BIN, bad[i]);
		status = system(cmd);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 2)
			fail_msg("kerf controller %s: exit %d, not 2", bad[i], WEXITSTATUS(status));
	}
}

/*
 * The start waits start_timeout_ms for all the caches together, then gives up saying how far they got: 1 ms is
 * less than one request to the API server takes (the lists start over HTTPS in threads of their own).
 */
static void test_start_gives_up_after_the_start_timeout(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {.identity = "c1", .lease_namespace = f->l->ns, .start_timeout_ms = 1};
	struct kerf_err err;

	f->ctl = controller_start(f->l->c, &o, &err);
	assert_null(f->ctl);
	assert_int_equal(err.code, KERF_ETIMEOUT);
	assert_non_null(strstr(err.msg, "not synced after 1 ms (--start-timeout)"));
}

static pid_t spawn_controller(const char *kubeconfig, int port, const char *ns)
{
	char listen[32], log[256];
	pid_t pid;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/controller-%d.log", live_dir(), port);
	if ((pid = fork()) == 0) {
		if (freopen(log, "w", stderr) == NULL)
			_exit(127);
		execl(KERF_BIN, "kerf", "controller", "--kubeconfig", kubeconfig, "--namespace", ns, "--identity", "probe",
		      "--interval", "300", "--debounce", "100", "--listen", listen, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	return pid;
}

static void stop_child(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

/* Polls path until it answers want and its body holds text (NULL: any), for up to 20 s. */
static bool served(int port, const char *path, int want, const char *text, char *body, size_t cap)
{
	for (int i = 0; i < 100; i++) {
		if (live_http_get(port, path, body, cap) == want && (text == NULL || strstr(body, text) != NULL))
			return true;
		usleep(200 * 1000);
	}
	return false;
}

/*
 * `kerf controller --listen`: live and not ready while it cannot reach the API server (its caches cannot sync:
 * a kubeconfig pointing at a closed port); against the real one, ready once a round succeeded, and its
 * /metrics move when it works: a round, the Lease, a list per watch, and the spec it writes for a pod.
 */
static void test_kerf_controller_serves_probes_and_metrics(void **state)
{
	struct fixture *f = *state;
	char body[65536], bad[256], cmd[768];
	int port = live_free_port();
	pid_t pid;

	snprintf(bad, sizeof(bad), "%s/closed-port.kubeconfig", live_dir());
	snprintf(cmd, sizeof(cmd), "sed 's#server: .*#server: https://127.0.0.1:1#' '%s/kubeconfig' > '%s'", live_dir(), bad);
	assert_int_equal(system(cmd), 0);
	pid = spawn_controller(bad, port, f->l->ns);
	assert_true(served(port, "/healthz", 200, "ok", body, sizeof(body)));
	assert_int_equal(live_http_get(port, "/readyz", body, sizeof(body)), 503);
	assert_non_null(strstr(body, "syncing the caches"));
	stop_child(pid);

	agent_reports(f, README_LAYOUT);
	port = live_free_port();
	snprintf(cmd, sizeof(cmd), "%s/kubeconfig", live_dir());
	pid = spawn_controller(cmd, port, f->l->ns);
	assert_true(served(port, "/readyz", 200, "ok", body, sizeof(body)));
	assert_true(served(port, "/metrics", 200, "kerf_controller_leader 1\n", body, sizeof(body)));
	assert_non_null(strstr(body, "kerf_controller_rounds_total{result=\"ok\"} "));
	assert_non_null(strstr(body, "kerf_watch_lists_total{resource=\"pods\"} 1\n"));
	assert_non_null(strstr(body, "kerf_controller_leader_transitions_total 1\n"));
	assert_null(strstr(body, "kerf_controller_spec_writes_total{result=\"written\"} 1"));
	pod(f, "train-15", "nvidia.com/mig-2g.20gb", 1, 0);
	assert_true(served(port, "/metrics", 200, "kerf_controller_spec_writes_total{result=\"written\"} 1\n", body,
			   sizeof(body)));
	assert_non_null(strstr(body, "kerf_controller_pods{state=\"placed\"} 1\n"));
	assert_non_null(strstr(body, "kerf_controller_round_duration_seconds_count "));
	assert_non_null(strstr(body, "kerf_api_requests_total{verb=\"PATCH\",code=\"200\"} "));
	assert_non_null(strstr(body, "kerf_api_requests_total{verb=\"PUT\",code=\"200\"} ")); /* the Lease */
	assert_non_null(strstr(body, "kerf_api_request_duration_seconds_count{verb=\"GET\"} "));
	stop_child(pid);
}

/* ---- a controller whose RBAC broke ---- */

/* The controller's log events as logfmt lines (they come from the watches' threads too). */
static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;
static char logs[64][2048];
static unsigned n_logs;

static void keep_log(void *arg, const struct kerf_log_event *ev)
{
	char *line = kerf_log_format_line(KERF_LOG_TEXT, "-", "controller", ev);

	(void)arg;
	if (line == NULL)
		return;
	if (getenv("KERF_TEST_VERBOSE") != NULL)
		fputs(line, stderr);
	pthread_mutex_lock(&logs_lock);
	if (n_logs < 64)
		snprintf(logs[n_logs++], sizeof(logs[0]), "%s", line);
	pthread_mutex_unlock(&logs_lock);
	free(line);
}

/* How many kept lines hold every one of the NULL-terminated fragments. */
static unsigned logged(const char *first, ...)
{
	unsigned n = 0;

	pthread_mutex_lock(&logs_lock);
	for (unsigned i = 0; i < n_logs; i++) {
		bool all = true;
		va_list ap;

		va_start(ap, first);
		for (const char *frag = first; frag != NULL && all; frag = va_arg(ap, const char *))
			all = strstr(logs[i], frag) != NULL;
		va_end(ap);
		n += all;
	}
	pthread_mutex_unlock(&logs_lock);
	return n;
}

/* POSTs obj (a JSON text) to path with the admin client. */
static void post(struct fixture *f, const char *path, const char *text)
{
	struct kerf_err err;
	json_t *body = json_loads(text, 0, NULL);

	assert_non_null(body);
	json_decref(must(kube_request(f->l->c, "POST", path, body, "application/json", &err), &err));
	json_decref(body);
}

/* Binds ClusterRole role to the service account kerf-ctl of the test's namespace, as binding. */
static void bind(struct fixture *f, const char *binding, const char *role)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\"},\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":"
		 "\"ClusterRole\",\"name\":\"%s\"},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"kerf-ctl\","
		 "\"namespace\":\"%s\"}]}",
		 binding, role, f->l->ns);
	post(f, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", text);
}

/*
 * A client for the service account kerf-ctl of the test's namespace, allowed what the controller does except
 * on pods (ClusterRole kerf-ctl-<ns>) and to read pods (kerf-ctl-pods-<ns>, bound as binding_pods).
 */
static struct kube_client *controller_account(struct fixture *f, char *binding_pods, size_t cap)
{
	char path[512], text[1024], role[128], role_pods[128];
	struct kube_config cfg;
	struct kube_client *c;
	struct kerf_err err;
	json_t *body, *out;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", f->l->ns);
	post(f, path, "{\"metadata\":{\"name\":\"kerf-ctl\"}}");
	snprintf(role, sizeof(role), "kerf-ctl-%s", f->l->ns);
	snprintf(role_pods, sizeof(role_pods), "kerf-ctl-pods-%s", f->l->ns);
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\"},\"rules\":[{\"apiGroups\":[\"\",\"kerf.dev\",\"coordination.k8s.io\","
		 "\"events.k8s.io\"],\"resources\":[\"nodes\",\"miglayouts\",\"leases\",\"events\"],\"verbs\":[\"*\"]}]}",
		 role);
	post(f, "/apis/rbac.authorization.k8s.io/v1/clusterroles", text);
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"%s\"},\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],"
		 "\"verbs\":[\"get\",\"list\",\"watch\"]}]}",
		 role_pods);
	post(f, "/apis/rbac.authorization.k8s.io/v1/clusterroles", text);
	bind(f, role, role);
	snprintf(binding_pods, cap, "%s", role_pods);
	bind(f, binding_pods, role_pods);

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/kerf-ctl/token", f->l->ns);
	body = json_pack("{s:s,s:s,s:{s:i}}", "apiVersion", "authentication.k8s.io/v1", "kind", "TokenRequest", "spec",
			 "expirationSeconds", 600);
	out = must(kube_request(f->l->c, "POST", path, body, "application/json", &err), &err);
	json_decref(body);
	snprintf(path, sizeof(path), "%s/kubeconfig", live_dir());
	if (kube_config_load(path, NULL, &cfg, &err) < 0)
		fail_msg("%s", err.msg);
	free(cfg.token);
	free(cfg.cert_pem);
	free(cfg.key_pem);
	cfg.cert_pem = cfg.key_pem = NULL;
	cfg.token = strdup(json_string_value(json_object_get(json_object_get(out, "status"), "token")));
	json_decref(out);
	c = kube_client_new(&cfg, 10000, &err);
	kube_config_free(&cfg);
	if (c == NULL)
		fail_msg("%s", err.msg);
	return c;
}

static void delete_rbac(struct fixture *f, const char *kind, const char *name)
{
	char path[256];
	struct kerf_err err;

	snprintf(path, sizeof(path), "/apis/rbac.authorization.k8s.io/v1/%s/%s", kind, name);
	json_decref(kube_request(f->l->c, "DELETE", path, NULL, NULL, &err));
}

/* Waits (at most a minute) until the controller's caches are fresh (want 1) or not (want 0). */
static void caches_become(struct controller *ctl, int want)
{
	char why[600] = "";

	for (int i = 0; i < 600 && controller_caches_fresh(ctl, why, sizeof(why)) != want; i++)
		live_sleep_ms(100);
	if (controller_caches_fresh(ctl, why, sizeof(why)) != want)
		fail_msg("the caches did not become %s: %s", want ? "fresh" : "stale", why);
}

/*
 * The RBAC that lets the controller watch pods is revoked under it (its Lease, MigLayouts and Nodes still
 * work): its pods watch gets 403 on reconnecting, which is logged with status=403 and reason=Forbidden, once
 * however often the informer retries. A pod then deleted is still in its cache; planning from it would re-cut
 * the node for a pod that is gone. The controller makes no plan and writes no spec (and /readyz would say why)
 * until the watch works again.
 */
static void test_a_controller_whose_rbac_broke_does_not_plan_from_its_stale_cache(void **state)
{
	struct fixture *f = *state;
	struct controller_options o = {TEST_OPTIONS(f, "c1", 15), .log = keep_log, .watch_timeout_s = 1};
	struct controller_report rep;
	char binding[128], role[160], why[600];
	struct kube_client *c;
	struct kerf_err err;

	n_logs = 0;
	c = controller_account(f, binding, sizeof(binding));
	agent_reports(f, README_LAYOUT);
	pod(f, "ghost", "nvidia.com/mig-2g.20gb", 1, 0);
	f->ctl = controller_start(c, &o, &err);
	if (f->ctl == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(controller_caches_fresh(f->ctl, why, sizeof(why)), 1);

	delete_rbac(f, "clusterrolebindings", binding);
	caches_become(f->ctl, 0);
	assert_int_equal(controller_caches_fresh(f->ctl, why, sizeof(why)), 0); /* why: filled when stale */
	if (strstr(why, "pods") == NULL)
		fail_msg("why does not name the pods cache: %s", why);
	kube_delete(f->l->c, &KUBE_PODS, f->l->ns, "ghost", &err);
	/* A few more retries against the 403: still one line for them. */
	live_sleep_ms(3000);
	step(f->ctl, 100, &rep);
	assert_true(rep.leader);
	assert_int_equal(rep.specs_written, 0);
	spec_is(f, f->node, ""); /* planned from the stale cache, the ghost would have had its 2g.20gb cut */
	assert_true(rep.stale);
	assert_false(rep.planned);
	assert_int_equal(logged("level=error", "msg=\"watch failing: its cache is stale\"", "resource=pods", "status=403",
				"reason=Forbidden", "error=\"GET /api/v1/pods", NULL),
			 1);
	assert_int_equal(logged("level=warn", "msg=\"not planning: a cache is stale\"", "status=403", NULL), 1);
	step(f->ctl, 100, &rep); /* still stale: not said again */
	assert_true(rep.stale);
	assert_int_equal(logged("msg=\"not planning: a cache is stale\"", NULL), 1);

	bind(f, binding, binding); /* the pods role is named as its binding */
	caches_become(f->ctl, 1);
	assert_int_equal(logged("level=info", "msg=\"watch works again\"", "resource=pods", NULL), 1);
	step(f->ctl, 100, &rep);
	assert_false(rep.stale);
	assert_true(rep.planned);
	assert_int_equal(logged("msg=\"planning again: the caches follow the server\"", NULL), 1);

	controller_stop(f->ctl);
	f->ctl = NULL;
	kube_client_free(c);
	delete_rbac(f, "clusterrolebindings", binding);
	delete_rbac(f, "clusterroles", binding);
	snprintf(role, sizeof(role), "kerf-ctl-%s", f->l->ns);
	delete_rbac(f, "clusterrolebindings", role);
	delete_rbac(f, "clusterroles", role);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pending_pod_gets_a_new_layout_in_the_spec),
		T(test_unplaceable_pod_is_told_why_once),
		T(test_a_hash_collision_does_not_silence_another_pods_event),
		T(test_only_the_leader_writes),
		T(test_kerf_controller_command_runs_a_round),
		T(test_gated_and_other_schedulers_pods_are_left_alone),
		T(test_init_and_sidecar_containers_count),
		T(test_spec_write_is_conditional_on_the_planned_version),
		T(test_cordoned_or_missing_nodes_are_not_recut),
		T(test_node_selectors_and_taints_decide_where_to_recut),
		T(test_equal_priority_ties_go_to_the_oldest_pod),
		T(test_a_node_failing_its_spec_is_left_out_after_the_grace),
		T(test_many_unplaceable_pods_are_told_once_within_the_rate),
		T(test_untold_events_are_sent_without_planning_again),
		T(test_silent_agents_node_is_not_recut),
		T(test_bound_pods_devices_are_not_recut),
		T(test_a_long_round_renews_the_lease),
		T(test_a_leader_deposed_mid_round_writes_nothing),
		T(test_a_pod_left_unbound_is_replanned_elsewhere),
		T(test_pack_recuts_a_busy_gpu_before_it_opens_an_idle_one),
		T(test_a_node_without_cpu_room_is_not_planned_on),
		T(test_pods_that_fit_a_node_only_one_at_a_time_are_spread),
		T(test_kerf_controller_serves_probes_and_metrics),
		T(test_a_new_spec_keeps_the_pending_layouts_of_other_gpus),
		T(test_many_specs_are_written_over_several_connections),
		T(test_a_deposition_mid_batch_stops_the_remaining_writes),
		T(test_an_idle_round_makes_no_plan_and_a_change_does),
		T(test_start_gives_up_after_the_start_timeout),
		T(test_a_controller_whose_rbac_broke_does_not_plan_from_its_stale_cache),
		T(test_a_lone_pod_on_an_idle_cluster_is_planned_at_once),
		T(test_an_aged_pod_goes_before_younger_ones_of_its_priority),
		T(test_aging_stays_below_a_higher_priority),
	};
	/* KERF_TEST_FILTER=PATTERN runs only the tests whose names match (cmocka's wildcards). */
	if (getenv("KERF_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("KERF_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
