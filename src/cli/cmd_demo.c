/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_demo.c — `kerf demo`: kerf's main job on embedded defaults, in two parts.
 *
 *   1. A simulated cluster over time (the simulator's `--show` scenario): pods arrive and leave, and each
 *      GPU's layout is drawn after every change, so a person sees kerf re-cut free slices while used ones stay.
 *   2. One planning round on the example cluster compiled into the binary (examples/cluster.json): the plan
 *      as a table, and one paragraph that says what happened.
 *
 * The paragraph is written from the plan itself, not from a script, so it stays true when the example
 * or the planner changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_opts.h"
#include "cli_plan_table.h"
#include "cli_sim_report.h"
#include "plan.h"
#include "plan_example.h"

static unsigned count_used(const struct plan_input *in)
{
	unsigned n = 0;

	for (unsigned i = 0; i < in->n_nodes; i++)
		for (unsigned j = 0; j < in->nodes[i].n_gpus; j++)
			for (unsigned k = 0; k < in->nodes[i].gpus[j].layout.n; k++)
				n += in->nodes[i].gpus[j].layout.inst[k].used;
	return n;
}

static unsigned count_gpus(const struct plan_input *in)
{
	unsigned n = 0;

	for (unsigned i = 0; i < in->n_nodes; i++)
		n += in->nodes[i].n_gpus;
	return n;
}

/* Pods placed on instances that this plan creates, i.e. the ones that only fit after a re-cut. */
static unsigned count_recut(const struct plan_input *in, const struct plan_output *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		int fresh = 0;

		for (unsigned b = 0; b < a->n_bindings && !fresh; b++) {
			const struct plan_gpu *g = &in->nodes[a->node].gpus[a->bindings[b].gpu];
			unsigned k;

			for (k = 0; k < g->layout.n; k++)
				if (g->layout.inst[k].profile == a->bindings[b].profile &&
				    g->layout.inst[k].start == a->bindings[b].start)
					break;
			fresh = k == g->layout.n;
		}
		n += fresh;
	}
	return n;
}

static void explain(const struct plan_input *in, const struct plan_output *out)
{
	unsigned recut = count_recut(in, out);

	printf("\nWhat happened: %u pending pod%s asked for MIG slices on %u node%s with %u GPUs, where %u instance%s "
	       "%s in use. kerf placed %u of them: %u on free instances that already existed and %u only after "
	       "re-cutting free slices. To do that it changed %u GPU%s, destroying %u free instance%s and creating %u, "
	       "and left every instance in use exactly where it was.",
	       in->n_pods, in->n_pods == 1 ? "" : "s", in->n_nodes, in->n_nodes == 1 ? "" : "s", count_gpus(in),
	       count_used(in), count_used(in) == 1 ? "" : "s", count_used(in) == 1 ? "is" : "are", out->n_assignments,
	       out->n_assignments - recut, recut, out->gpus_touched, out->gpus_touched == 1 ? "" : "s", out->destroyed,
	       out->destroyed == 1 ? "" : "s", out->created);
	if (out->n_unplaced > 0)
		printf(" %u pod%s must wait; the table says why, e.g. %s: %s.", out->n_unplaced,
		       out->n_unplaced == 1 ? "" : "s", in->pods[out->unplaced[0].pod].name, out->unplaced[0].reason);
	printf(" Higher priorities were served first; among plans that place as many pods, kerf destroys the fewest "
	       "free instances and touches the fewest GPUs.\n");
}

int cmd_demo(int argc, char **argv)
{
	const char *text = (const char *)plan_example_cluster_json;
	struct plan_input in = { 0 };
	struct plan_output out = { 0 };
	struct kerf_err err = { 0 };
	int rc = KERF_EXIT_FAIL;
	bool json = false;
	const struct cli_opt opts[] = {
		{ .name = "--json", .kind = CLI_FLAG, .dst = &json },
		{ 0 },
	};

	switch (cli_opts_parse("demo", opts, argc, argv, NULL, 0, NULL)) {
	case 1:
		printf("usage: kerf demo [--json]\n\n"
		       "Shows what kerf does, on data built into the binary:\n"
		       "  1. a simulated node with two H100s as pods arrive and leave (kerf simulate --show): each\n"
		       "     GPU's layout after every change, free slices re-cut, used ones never touched;\n"
		       "  2. one planning round on the example cluster (examples/cluster.json: H100, A100, A30 and\n"
		       "     H200 nodes with instances in use, and six pending pods), as a table, explained.\n"
		       "--json prints the example cluster instead, to feed `kerf plan` with your own changes.\n");
		return KERF_EXIT_OK;
	case -1:
		return KERF_EXIT_USAGE;
	}
	if (json) {
		fputs(text, stdout);
		return KERF_EXIT_OK;
	}
	if (plan_input_parse(text, strlen(text), mig_catalog_builtin(), &in, &err) != 0 ||
	    plan_run(&in, &out, &err) != 0) {
		fprintf(stderr, "kerf demo: the built-in example failed: %s\n", err.msg);
		goto out;
	}
	printf("=== 1. A simulated node over time\n\n");
	fflush(stdout);
	if (cli_sim_show("kerf", stdout) != KERF_EXIT_OK)
		goto out;
	printf("\n=== 2. One planning round on the example cluster (kerf demo --json prints it)\n\n");
	cli_plan_table(stdout, &in, &out);
	explain(&in, &out);
	rc = KERF_EXIT_OK;
out:
	plan_output_free(&out);
	plan_input_free(&in);
	return rc;
}
