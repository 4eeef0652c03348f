/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_plan.c — `kerf plan [--input FILE|-] [--output table|json]`: planner input as JSON in, the plan out.
 *
 * Exit status (cli.h): 0 when a plan was made, even one that leaves pods unplaced (that is an answer, not
 * a failure); 2 for bad usage or bad input, with one line on stderr naming the field and nothing on
 * stdout, so that a script never parses half a plan; 1 if planning itself failed (out of memory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_opts.h"
#include "cli_plan_table.h"
#include "file.h"
#include "plan.h"
#include "room.h"

#define PLAN_INPUT_MAX (256u << 20) /* a 10,000-node cluster is a few MB of JSON */

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf plan [--input FILE|-] [--output table|json]\n\n"
		   "Reads a cluster (nodes, their GPUs and MIG instances, and pending pods) as JSON and prints the\n"
		   "plan: which free MIG instances to re-cut, which node each pod goes to, and why the others wait.\n"
		   "Instances marked \"used\" are never moved or destroyed.\n\n"
		   "  --input FILE    the cluster as JSON; \"-\" (the default) reads standard input\n"
		   "  --output table  a table for people (the default)\n"
		   "  --output json   the plan as JSON, for programs\n\n"
		   "Input format (extra fields are ignored; \"priority\" defaults to 0, \"used\" is required):\n"
		   "  {\"nodes\": [{\"name\": \"node-a\", \"gpus\": [{\"index\": 0, \"model\": \"NVIDIA H100 80GB HBM3\",\n"
		   "      \"instances\": [{\"profile\": \"3g.40gb\", \"start\": 4, \"used\": true}]}]}],\n"
		   "   \"pending\": [{\"name\": \"team-a/train-7\", \"priority\": 0,\n"
		   "      \"resources\": {\"nvidia.com/mig-2g.20gb\": 1}}]}\n\n"
		   "Exit status: 0 a plan was made (pods left unplaced are listed, not an error); 2 bad usage or\n"
		   "bad input (the message names the field, e.g. nodes[2].gpus[0].instances[1].start); 1 failure.\n"
		   "Examples: examples/*.json; `kerf demo` runs one.\n");
}

int cmd_plan(int argc, char **argv)
{
	const char *input = "-", *output = "table";
	struct plan_input in = { 0 };
	struct plan_output out = { 0 };
	struct kerf_err err = { 0 };
	char *text = NULL, *json = NULL;
	size_t len = 0;
	int rc = KERF_EXIT_USAGE;

	const struct cli_opt opts[] = {
		{ .name = "--input", .kind = CLI_STRING, .dst = &input },
		{ .name = "-i", .kind = CLI_STRING, .dst = &input },
		{ .name = "--output", .kind = CLI_STRING, .dst = &output },
		{ .name = "-o", .kind = CLI_STRING, .dst = &output },
		{ 0 },
	};

	switch (cli_opts_parse("plan", opts, argc, argv, NULL, 0, NULL)) {
	case 1:
		usage(stdout);
		return KERF_EXIT_OK;
	case -1:
		return KERF_EXIT_USAGE;
	}
	if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0) {
		fprintf(stderr, "kerf plan: --output must be table or json, not \"%s\"\n", output);
		return KERF_EXIT_USAGE;
	}
	if (strcmp(input, "-") == 0 && isatty(STDIN_FILENO))
		fprintf(stderr, "kerf plan: reading the cluster as JSON from standard input (see kerf plan --help)\n");
	text = strcmp(input, "-") == 0 ? kerf_read_stream(stdin, "<stdin>", PLAN_INPUT_MAX, &len, &err)
				      : kerf_read_file(input, PLAN_INPUT_MAX, &len, &err);
	if (text == NULL) {
		fprintf(stderr, "kerf plan: %s\n", err.msg);
		goto out;
	}
	if (plan_input_parse(text, len, mig_catalog_builtin(), &in, &err) != 0) {
		fprintf(stderr, "kerf plan: %s: %s\n", strcmp(input, "-") == 0 ? "<stdin>" : input, err.msg);
		goto out;
	}
	if (plan_run_room(NULL, &in, &out, NULL, &err) != 0) { /* room.h: with the nodes' room, when given */
		fprintf(stderr, "kerf plan: %s\n", err.msg);
		rc = err.code == KERF_EINVAL ? KERF_EXIT_USAGE : KERF_EXIT_FAIL;
		goto out;
	}
	if (strcmp(output, "json") == 0) {
		json = plan_output_json(&in, &out, &err);
		if (json == NULL) {
			fprintf(stderr, "kerf plan: %s\n", err.msg);
			rc = KERF_EXIT_FAIL;
			goto out;
		}
		fputs(json, stdout);
	} else {
		cli_plan_table(stdout, &in, &out);
	}
	rc = fflush(stdout) == 0 ? KERF_EXIT_OK : KERF_EXIT_FAIL;
out:
	free(json);
	free(text);
	plan_output_free(&out);
	plan_input_free(&in);
	return rc;
}
