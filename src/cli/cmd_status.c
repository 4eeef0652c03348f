/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_status.c — `kerf status`: each GPU's MIG layout as NVML reports it, as a picture of its placement
 * slots, and (with --compare-catalog) the profiles NVML reports checked against the built-in table.
 * Read-only: it never changes MIG mode or instances, so it is safe on any machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_nvml.h"
#include "cli_opts.h"

#define MAX_LIST 64
#define MAX_GPU 1023 /* far above any machine; the real bound is what NVML counts */

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf status [--gpu N] [--nvml-library PATH] [--allocated UUID,...] [--compare-catalog]\n\n"
		   "Shows every GPU's MIG instances, read through NVML, as a picture of its memory slices:\n"
		   "'#' a used instance (running a process, or listed in --allocated), '=' a free one, '.' none.\n"
		   "Disagreements between the profiles NVML reports and kerf's built-in table are printed as\n"
		   "warnings on stderr; --compare-catalog also prints the profiles and placements NVML reports.\n"
		   "The library is --nvml-library, else $" NVML_LIBRARY_ENV ", else " NVML_LIBRARY_DEFAULT ".\n");
}

static void warn_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "kerf status: warning: %s\n", msg);
}

static void print_profiles(const struct nvml_gpu *gpu)
{
	const struct mig_model *m = &gpu->model;

	printf("  profiles (%s): %u memory slices, %u compute slices, at most %u instances\n",
	       gpu->model_from_nvml ? "as NVML reports them" : "built-in table; NVML lists none with MIG off", m->slots,
	       m->compute_slices, m->max_instances);
	printf("    %-16s %4s %5s %4s %4s %4s %4s %8s  %s\n", "PROFILE", "ID", "INDEX", "CMP", "MEM", "MAX", "SMS",
	       "MiB", "STARTS");
	for (unsigned i = 0; i < m->n_profiles; i++) {
		const struct mig_profile *p = &m->profiles[i];
		char starts[64] = "";
		size_t used = 0;

		for (unsigned s = 0; s < p->n_starts && used < sizeof(starts); s++)
			used += (size_t)snprintf(starts + used, sizeof(starts) - used, "%s%u", s ? "," : "", p->starts[s]);
		printf("    %-16s %4u %5u %4u %4u %4u %4u %8llu  %s\n", p->name, p->nvml_id, p->nvml_index, p->compute_slices,
		       p->memory_slices, p->max_instances, p->multiprocessors, p->memory_mb, starts);
	}
}

static int show(struct nvml *nv, unsigned index, bool compare, const char *const *alloc, unsigned n_alloc)
{
	struct nvml_gpu *gpu = malloc(sizeof(*gpu));
	struct kerf_err err;
	int rc = KERF_EXIT_OK;

	if (gpu == NULL || nvml_read_gpu(nv, index, gpu, &err) != 0) {
		fprintf(stderr, "kerf status: %s\n", gpu ? err.msg : "out of memory");
		free(gpu);
		return KERF_EXIT_FAIL;
	}
	cli_nvml_show_gpu(stdout, gpu, alloc, n_alloc);
	if (gpu->model_from_nvml && gpu->builtin != NULL) {
		unsigned n = nvml_compare_model(&gpu->model, gpu->builtin, warn_stderr, NULL);

		if (compare)
			printf("  catalog: %u disagreement(s) with the built-in table for %s\n", n, gpu->builtin->name);
	} else if (compare) {
		printf("  catalog: %s\n", gpu->builtin == NULL ? "this model is not in the built-in table"
							   : "MIG is off, so NVML lists no profiles to compare");
	}
	if (compare)
		print_profiles(gpu);
	free(gpu);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	const char *library = NULL, *alloc[MAX_LIST], *alloc_text = NULL;
	bool compare = false;
	long only = -1;
	int n_alloc = 0, rc = KERF_EXIT_OK;
	unsigned count;
	struct nvml *nv;
	struct kerf_err err;
	const struct cli_opt opts[] = {
		{ .name = "--compare-catalog", .kind = CLI_FLAG, .dst = &compare },
		{ .name = "--nvml-library", .kind = CLI_STRING, .dst = &library },
		{ .name = "--library", .kind = CLI_ALIAS, .alias_of = "--nvml-library" },
		{ .name = "--allocated", .kind = CLI_STRING, .dst = &alloc_text },
		{ .name = "--gpu", .kind = CLI_INT, .dst = &only, .max = MAX_GPU, .noun = "GPU index" },
		{ 0 },
	};

	switch (cli_opts_parse("status", opts, argc, argv, NULL, 0, NULL)) {
	case 1:
		usage(stdout);
		return KERF_EXIT_OK;
	case -1:
		usage(stderr);
		return KERF_EXIT_USAGE;
	}
	if (alloc_text != NULL && (n_alloc = cli_nvml_split((char *)alloc_text, alloc, MAX_LIST)) < 0) {
		fprintf(stderr, "kerf status: --allocated: more than %d UUIDs\n", MAX_LIST);
		return KERF_EXIT_USAGE;
	}
	if ((nv = cli_nvml_open("status", library)) == NULL)
		return KERF_EXIT_FAIL;
	if (nvml_gpu_count(nv, &count, &err) != 0) {
		fprintf(stderr, "kerf status: %s\n", err.msg);
		nvml_close(nv);
		return KERF_EXIT_FAIL;
	}
	if (only >= (long)count) {
		fprintf(stderr, "kerf status: --gpu: GPU %ld does not exist (NVML sees %u)\n", only, count);
		nvml_close(nv);
		return KERF_EXIT_USAGE;
	}
	printf("NVML: %s, %u GPU(s)\n", nvml_library(nv), count);
	for (unsigned g = 0; g < count; g++) {
		if (only >= 0 && g != (unsigned)only)
			continue;
		printf("\n");
		if (show(nv, g, compare, alloc, (unsigned)n_alloc) != KERF_EXIT_OK)
			rc = KERF_EXIT_FAIL;
	}
	nvml_close(nv);
	return rc;
}
