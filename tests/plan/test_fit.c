/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fit.c — plan_fit() against kube-scheduler's node filters, case by case (each row a pod spec, a Node
 * and the verdict), and plan_fit_groups(): equal constraints share a group, a constraint every node allows
 * gets none, and the planner then re-cuts only where a pod may run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fit.h"
#include "room.h"

struct fit_case {
	const char *what, *pod, *node;
	int fits;
	const char *why; /* a word the refusal names, or NULL */
};

#define NODE_A "{\"metadata\":{\"name\":\"a\",\"labels\":{\"zone\":\"z1\",\"gpu\":\"h100\",\"gen\":\"9\"}}}"

static const struct fit_case cases[] = {
	{"no constraint, plain node", "{}", NODE_A, 1, NULL},
	{"nodeSelector matches", "{\"nodeSelector\":{\"zone\":\"z1\"}}", NODE_A, 1, NULL},
	{"nodeSelector value differs", "{\"nodeSelector\":{\"zone\":\"z2\"}}", NODE_A, 0, "nodeSelector"},
	{"nodeSelector label missing", "{\"nodeSelector\":{\"rack\":\"r1\"}}", NODE_A, 0, "nodeSelector"},
	{"nodeSelector on a node without labels", "{\"nodeSelector\":{\"zone\":\"z1\"}}", "{}", 0, "nodeSelector"},
	{"nodeSelector not an object", "{\"nodeSelector\":[\"zone\"]}", NODE_A, 0, "nodeSelector"},
#define REQ(terms) "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":" terms "}}}}"
	{"affinity In", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"z0\",\"z1\"]}]}]"), NODE_A, 1, NULL},
	{"affinity In, other value", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"z2\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity NotIn", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"z2\"]}]}]"), NODE_A, 1, NULL},
	{"affinity NotIn, missing label matches", REQ("[{\"matchExpressions\":[{\"key\":\"rack\",\"operator\":\"NotIn\",\"values\":[\"r\"]}]}]"), NODE_A, 1, NULL},
	{"affinity Exists", REQ("[{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]}]"), NODE_A, 1, NULL},
	{"affinity DoesNotExist", REQ("[{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}]"), NODE_A, 0, "affinity"},
	{"affinity Gt", REQ("[{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"8\"]}]}]"), NODE_A, 1, NULL},
	{"affinity Gt, equal", REQ("[{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"9\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity Lt", REQ("[{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":[\"10\"]}]}]"), NODE_A, 1, NULL},
	{"affinity Gt on a non-number", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity, unknown operator", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"Near\",\"values\":[\"z1\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity terms are ORed", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"z9\"]}]},"
				       "{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"In\",\"values\":[\"h100\"]}]}]"), NODE_A, 1, NULL},
	{"affinity expressions are ANDed", REQ("[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"z1\"]},"
					      "{\"key\":\"gpu\",\"operator\":\"In\",\"values\":[\"a100\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity empty term matches nothing", REQ("[{}]"), NODE_A, 0, "affinity"},
	{"affinity no terms matches nothing", REQ("[]"), NODE_A, 0, "affinity"},
	{"affinity matchFields on the name", REQ("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"a\"]}]}]"), NODE_A, 1, NULL},
	{"affinity matchFields, other name", REQ("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"b\"]}]}]"), NODE_A, 0, "affinity"},
	{"affinity matchFields, Exists is not allowed", REQ("[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"Exists\"}]}]"), NODE_A, 0, "affinity"},
	{"preferred affinity only is no constraint",
	 "{\"affinity\":{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1}]}}}", NODE_A, 1, NULL},
#define TAINTED(t) "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":[" t "]}}"
	{"NoSchedule taint, no toleration", "{}", TAINTED("{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoSchedule\"}"), 0, "gpu=x:NoSchedule"},
	{"NoExecute taint, no toleration", "{}", TAINTED("{\"key\":\"gpu\",\"effect\":\"NoExecute\"}"), 0, "gpu:NoExecute"},
	{"PreferNoSchedule is a preference", "{}", TAINTED("{\"key\":\"gpu\",\"effect\":\"PreferNoSchedule\"}"), 1, NULL},
	{"Equal toleration", "{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Equal\",\"value\":\"x\",\"effect\":\"NoSchedule\"}]}",
	 TAINTED("{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoSchedule\"}"), 1, NULL},
	{"operator defaults to Equal", "{\"tolerations\":[{\"key\":\"gpu\",\"value\":\"x\"}]}",
	 TAINTED("{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoSchedule\"}"), 1, NULL},
	{"Equal toleration, other value", "{\"tolerations\":[{\"key\":\"gpu\",\"value\":\"y\"}]}",
	 TAINTED("{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoSchedule\"}"), 0, "taint"},
	{"toleration for another effect", "{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]}",
	 TAINTED("{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}"), 0, "taint"},
	{"Exists with a key", "{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]}",
	 TAINTED("{\"key\":\"gpu\",\"value\":\"x\",\"effect\":\"NoSchedule\"},{\"key\":\"gpu\",\"effect\":\"NoExecute\"}"), 1, NULL},
	{"Exists without a key tolerates everything", "{\"tolerations\":[{\"operator\":\"Exists\"}]}",
	 TAINTED("{\"key\":\"a\",\"effect\":\"NoSchedule\"},{\"key\":\"b\",\"value\":\"c\",\"effect\":\"NoExecute\"}"), 1, NULL},
	{"every taint must be tolerated", "{\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}",
	 TAINTED("{\"key\":\"a\",\"effect\":\"NoSchedule\"},{\"key\":\"b\",\"effect\":\"NoSchedule\"}"), 0, "b:NoSchedule"},
	{"cordoned", "{}", "{\"spec\":{\"unschedulable\":true}}", 0, "cordoned"},
	{"cordoned, tolerated",
	 "{\"tolerations\":[{\"key\":\"node.kubernetes.io/unschedulable\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}",
	 "{\"spec\":{\"unschedulable\":true}}", 1, NULL},
};

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (v == NULL)
		fail_msg("bad test JSON at %d: %s: %s", e.column, e.text, text);
	return v;
}

static void test_plan_fit_follows_the_schedulers_node_filters(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fit_case *c = &cases[i];
		json_t *pod = load(c->pod), *node = load(c->node);
		char why[128] = "";
		int got = plan_fit(pod, node, why, sizeof(why));

		if (got != c->fits)
			fail_msg("%s: plan_fit says %d (%s), want %d", c->what, got, why, c->fits);
		if (c->why != NULL && strstr(why, c->why) == NULL)
			fail_msg("%s: the refusal \"%s\" does not name \"%s\"", c->what, why, c->why);
		json_decref(pod);
		json_decref(node);
	}
}

/* Three nodes: a (zone z1), b (zone z2), c (zone z1, tainted). */
static const char *const node_json[] = {
	"{\"metadata\":{\"name\":\"a\",\"labels\":{\"zone\":\"z1\"}}}",
	"{\"metadata\":{\"name\":\"b\",\"labels\":{\"zone\":\"z2\"}}}",
	"{\"metadata\":{\"name\":\"c\",\"labels\":{\"zone\":\"z1\"}},\"spec\":{\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}]}}",
};

static void test_groups_share_equal_constraints_and_skip_unconstrained_ones(void **state)
{
	const char *pod_json[] = {"{\"nodeSelector\":{\"zone\":\"z1\"}}", "{\"tolerations\":[{\"operator\":\"Exists\"}]}",
				  "{\"nodeSelector\":{\"zone\":\"z1\"}}", NULL};
	struct plan_pod pods[4] = {{.name = "p0"}, {.name = "p1"}, {.name = "p2"}, {.name = "p3"}};
	struct plan_node nodes[3] = {{.name = "a"}, {.name = "b"}, {.name = "c"}};
	struct plan_input in = {.n_nodes = 3, .nodes = nodes, .n_pods = 4, .pods = pods};
	json_t *pj[4], *nj[3];
	struct kerf_err err;

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		pj[i] = pod_json[i] ? load(pod_json[i]) : NULL;
	for (unsigned n = 0; n < 3; n++)
		nj[n] = load(node_json[n]);
	assert_int_equal(plan_fit_groups(&in, (const json_t *const *)pj, (const json_t *const *)nj, &err), 0);
	/* p0 and p2: zone z1, untainted: a only. p1 tolerates everything: every node, no group. p3 has no
	 * constraint but c's taint: a and b. */
	assert_int_equal(in.n_groups, 2);
	assert_int_equal(pods[1].group, 0);
	assert_true(pods[0].group > 0);
	assert_int_equal(pods[2].group, pods[0].group);
	assert_true(pods[3].group > 0 && pods[3].group != pods[0].group);
	assert_memory_equal(in.groups[pods[0].group - 1].allowed, "\1\0\0", 3);
	assert_memory_equal(in.groups[pods[3].group - 1].allowed, "\1\1\0", 3);
	/* plan_group_deny: b taken from p3's group (a and b) leaves a; c is not in it (nothing taken: the same
	 * group); from group 0 (every node), b leaves a and c. */
	{
		unsigned g3 = pods[3].group;
		int g;

		assert_int_equal((g = plan_group_deny(&in, g3, (const unsigned char *)"\0\1\0", &err)), 3);
		assert_memory_equal(in.groups[g - 1].allowed, "\1\0\0", 3);
		assert_int_equal(plan_group_deny(&in, g3, (const unsigned char *)"\0\0\1", &err), (int)g3);
		assert_int_equal((g = plan_group_deny(&in, 0, (const unsigned char *)"\0\1\0", &err)), 4);
		assert_memory_equal(in.groups[g - 1].allowed, "\1\0\1", 3);
		assert_memory_equal(in.groups[g3 - 1].allowed, "\1\1\0", 3); /* the base group unchanged */
	}
	plan_groups_free(&in);
	assert_int_equal(in.n_groups, 0);
	assert_int_equal(pods[0].group, 0);
	for (unsigned i = 0; i < 4; i++)
		json_decref(pj[i]);
	for (unsigned n = 0; n < 3; n++)
		json_decref(nj[n]);
}

/* Two nodes with one H100 each; the first re-cuts more cheaply, but the pod may run on the second only. */
static void test_the_planner_recuts_only_where_the_pod_may_run(void **state)
{
	const char *input = "{\"nodes\":["
			    "{\"name\":\"cheap\",\"labels\":{\"zone\":\"z1\"},\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":[]}]},"
			    "{\"name\":\"dear\",\"labels\":{\"zone\":\"z2\"},\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":["
			    "{\"profile\":\"1g.10gb\",\"start\":0,\"used\":false},{\"profile\":\"1g.10gb\",\"start\":1,\"used\":false}]}]}],"
			    "\"pending\":[{\"name\":\"ns/p\",\"resources\":{\"nvidia.com/mig-2g.20gb\":1},\"nodeSelector\":{\"zone\":\"z2\"}},"
			    "{\"name\":\"ns/q\",\"resources\":{\"nvidia.com/mig-1g.10gb\":1},\"nodeSelector\":{\"zone\":\"z3\"}}]}";
	const struct mig_catalog *cat = mig_catalog_builtin();
	struct plan_input in;
	struct plan_output out;
	struct kerf_err err;

	(void)state;
	assert_int_equal(plan_input_parse(input, strlen(input), cat, &in, &err), 0);
	assert_int_equal(plan_run(&in, &out, &err), 0);
	assert_int_equal(out.n_assignments, 1);
	assert_int_equal(out.assignments[0].pod, 0);
	assert_int_equal(out.assignments[0].node, 1);
	assert_int_equal(out.n_changes, 1);
	assert_int_equal(out.changes[0].node, 1);
	assert_int_equal(out.n_unplaced, 1);
	assert_non_null(strstr(out.unplaced[0].reason, "nodeSelector"));
	plan_output_free(&out);
	plan_input_free(&in);
}

/*
 * Room (room.h), as `kerf plan` reads it: node "a" has a free 2g.20gb but 0.5 CPU left (allocatable 4,
 * requested 3.5), so the pod asking for 1 CPU goes to "b", re-cut; without the nodes' room it takes "a" as
 * it is. Then two pods of 1.5 CPU each, one free 1g.10gb each on "a" (2 CPU left): one stays on "a", the
 * other moves to "b" (crowded 1).
 */
static void test_room_keeps_pods_where_the_scheduler_has_room(void **state)
{
	static const char one[] =
		"{\"nodes\":[{\"name\":\"a\",\"allocatable\":{\"cpu\":\"4\",\"pods\":110},\"requested\":{\"cpu\":\"3500m\",\"pods\":3},"
		"\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":[{\"profile\":\"2g.20gb\",\"start\":0,\"used\":false}]}]},"
		"{\"name\":\"b\",\"allocatable\":{\"cpu\":\"16\",\"pods\":110},\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":[]}]}],"
		"\"pending\":[{\"name\":\"ns/p\",\"requests\":{\"cpu\":\"1\"},\"resources\":{\"nvidia.com/mig-2g.20gb\":1}}]}";
	static const char two[] =
		"{\"nodes\":[{\"name\":\"a\",\"allocatable\":{\"cpu\":\"2\"},\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":["
		"{\"profile\":\"1g.10gb\",\"start\":0,\"used\":false},{\"profile\":\"1g.10gb\",\"start\":1,\"used\":false}]}]},"
		"{\"name\":\"b\",\"gpus\":[{\"index\":0,\"model\":\"H100-80GB-SXM\",\"instances\":[]}]}],"
		"\"pending\":[{\"name\":\"ns/p\",\"requests\":{\"cpu\":\"1500m\"},\"resources\":{\"nvidia.com/mig-1g.10gb\":1}},"
		"{\"name\":\"ns/q\",\"requests\":{\"cpu\":\"1500m\"},\"resources\":{\"nvidia.com/mig-1g.10gb\":1}}]}";
	const struct mig_catalog *cat = mig_catalog_builtin();
	struct plan_room_stats st;
	struct plan_input in;
	struct plan_output out;
	struct kerf_err err;

	(void)state;
	assert_int_equal(plan_input_parse(one, strlen(one), cat, &in, &err), 0);
	assert_non_null(in.room);
	assert_int_equal(plan_run(&in, &out, &err), 0); /* without room: "a", nothing re-cut */
	assert_int_equal(out.assignments[0].node, 0);
	assert_int_equal(out.n_changes, 0);
	plan_output_free(&out);
	assert_int_equal(plan_run_room(NULL, &in, &out, &st, &err), 0);
	assert_int_equal(st.no_room, 1);
	assert_int_equal(out.n_assignments, 1);
	assert_int_equal(out.assignments[0].node, 1);
	assert_int_equal(out.n_changes, 1);
	plan_output_free(&out);
	plan_input_free(&in);

	assert_int_equal(plan_input_parse(two, strlen(two), cat, &in, &err), 0);
	assert_int_equal(plan_run_room(NULL, &in, &out, &st, &err), 0);
	assert_int_equal(st.no_room, 0);
	assert_int_equal(st.crowded, 1);
	assert_int_equal(out.n_assignments, 2);
	assert_int_not_equal(out.assignments[0].node, out.assignments[1].node);
	assert_int_equal(out.n_changes, 1);
	assert_int_equal(out.changes[0].node, 1);
	plan_output_free(&out);
	plan_input_free(&in);
}

static void test_bad_constraint_fields_are_named(void **state)
{
	static const struct {
		const char *input, *error;
	} bad[] = {
		{"{\"nodes\":[{\"name\":\"a\",\"labels\":{\"x\":1},\"gpus\":[]}],\"pending\":[]}", "nodes[0].labels[\"x\"]: expected a string"},
		{"{\"nodes\":[{\"name\":\"a\",\"taints\":[{\"key\":\"k\",\"effect\":\"Never\"}],\"gpus\":[]}],\"pending\":[]}",
		 "nodes[0].taints[0].effect: \"Never\""},
		{"{\"nodes\":[{\"name\":\"a\",\"unschedulable\":\"yes\",\"gpus\":[]}],\"pending\":[]}", "nodes[0].unschedulable: expected a boolean"},
		{"{\"nodes\":[],\"pending\":[{\"name\":\"p\",\"resources\":{\"nvidia.com/mig-1g.10gb\":1},\"nodeSelector\":\"z\"}]}",
		 "pending[0].nodeSelector: expected an object"},
		{"{\"nodes\":[],\"pending\":[{\"name\":\"p\",\"resources\":{\"nvidia.com/mig-1g.10gb\":1},\"tolerations\":[{\"key\":3}]}]}",
		 "pending[0].tolerations[0].key: expected a string"},
		{"{\"nodes\":[{\"name\":\"a\",\"allocatable\":{\"cpu\":\"lots\"},\"gpus\":[]}],\"pending\":[]}",
		 "nodes[0].allocatable[\"cpu\"]: not a quantity"},
		{"{\"nodes\":[{\"name\":\"a\",\"requested\":{\"cpu\":\"1\"},\"gpus\":[]}],\"pending\":[]}",
		 "nodes[0].requested: given without allocatable"},
		{"{\"nodes\":[{\"name\":\"a\",\"allocatable\":{\"cpu\":\"1\"},\"gpus\":[]}],\"pending\":[{\"name\":\"p\","
		 "\"resources\":{\"nvidia.com/mig-1g.10gb\":1},\"requests\":{\"memory\":\"-1\"}}]}",
		 "pending[0].requests[\"memory\"]: not a quantity"},
		{"{\"nodes\":[{\"name\":\"a\",\"gpus\":[]}],\"pending\":[{\"name\":\"p\",\"resources\":{\"nvidia.com/mig-1g.10gb\":1},"
		 "\"requests\":{\"cpu\":\"1\"}}]}",
		 "pending[0].requests: no node gives its allocatable"},
	};
	const struct mig_catalog *cat = mig_catalog_builtin();

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct plan_input in;
		struct kerf_err err;

		assert_int_equal(plan_input_parse(bad[i].input, strlen(bad[i].input), cat, &in, &err), -1);
		if (strstr(err.msg, bad[i].error) == NULL)
			fail_msg("case %zu: error \"%s\" does not say \"%s\"", i, err.msg, bad[i].error);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_fit_follows_the_schedulers_node_filters),
		cmocka_unit_test(test_groups_share_equal_constraints_and_skip_unconstrained_ones),
		cmocka_unit_test(test_the_planner_recuts_only_where_the_pod_may_run),
		cmocka_unit_test(test_room_keeps_pods_where_the_scheduler_has_room),
		cmocka_unit_test(test_bad_constraint_fields_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
