/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c — `kerf <command> [options]`: dispatch to the subcommands compiled into this build.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kerf_version.h" /* generated: cmake/version.cmake */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "demo", cmd_demo, "run kerf on its embedded example and show what it does" },
	{ "models", cmd_models, "list the MIG GPU models kerf knows, or show one with its placements" },
	{ "plan", cmd_plan, "plan new MIG layouts and pod placements for a cluster (JSON in, plan out)" },
	{ "status", cmd_status, "show each GPU's MIG layout, read through NVML" },
	{ "apply", cmd_apply, "apply one GPU's layout by hand, never touching a used instance" },
	{ "simulate", cmd_simulate, "simulate a cluster under a workload and compare MIG policies" },
	{ "agent", cmd_agent, "run the node agent (NVML + kubelet + MigLayout status)" },
	{ "controller", cmd_controller, "run the cluster controller (pending pods -> MigLayout specs)" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf <command> [options]\n\n"
		   "kerf re-partitions NVIDIA MIG GPUs live, re-cutting only unused slices.\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`kerf <command> --help` describes a command's options; `kerf --version` prints kerf's version.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return KERF_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return KERF_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("kerf %s\n", KERF_VERSION);
		return KERF_EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "kerf: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return KERF_EXIT_USAGE;
}
