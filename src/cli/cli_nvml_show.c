/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_nvml_show.c — the picture of a GPU's MIG placement slots, shared by `kerf status` and `kerf apply`.
 */
#include <string.h>

#include "cli_nvml.h"

struct nvml *cli_nvml_open(const char *cmd, const char *library)
{
	struct kerf_err err;
	struct nvml *nv = nvml_open(library, &err);

	if (nv == NULL)
		fprintf(stderr, "kerf %s: %s\n", cmd, err.msg);
	return nv;
}

int cli_nvml_split(char *list, const char **items, unsigned max)
{
	unsigned n = 0;

	for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (n == max)
			return -1;
		items[n++] = tok;
	}
	return (int)n;
}

bool cli_nvml_listed(const char *const *list, unsigned n, const char *uuid)
{
	for (unsigned i = 0; i < n; i++)
		if (uuid[0] != '\0' && strcmp(list[i], uuid) == 0)
			return true;
	return false;
}

static bool allocated_instance(const struct nvml_instance *in, const char *const *allocated, unsigned n)
{
	for (unsigned c = 0; c < in->n_ci; c++)
		if (cli_nvml_listed(allocated, n, in->ci[c].uuid))
			return true;
	return false;
}

void cli_nvml_show_gpu(FILE *f, const struct nvml_gpu *gpu, const char *const *allocated, unsigned n_allocated)
{
	const struct mig_model *m = &gpu->model;
	char pic[MIG_MAX_SLOTS * 2 + 2], axis[MIG_MAX_SLOTS * 2 + 2];
	size_t k = 0;

	fprintf(f, "GPU %u  %s  (%s)  %s  %llu MiB  MIG %s%s\n", gpu->index, gpu->name,
		gpu->builtin ? gpu->builtin->name : "model not in the built-in catalog", gpu->uuid, gpu->memory_mb,
		gpu->mig_current ? "on" : "off", gpu->mig_pending != gpu->mig_current ? " (change pending)" : "");
	if (!gpu->mig_current)
		return;
	/* One cell per memory slice: '#' used instance, '=' free instance, '.' no instance; '|' at the edges
	 * of every instance, so that two instances side by side stay distinguishable. */
	for (unsigned s = 0; s < m->slots; s++) {
		char c = '.';
		bool edge = s == 0;

		for (unsigned i = 0; i < gpu->n_instances; i++) {
			const struct nvml_instance *in = &gpu->inst[i];

			if (s == in->start || s == in->start + in->size)
				edge = true;
			if (s >= in->start && s < in->start + in->size)
				c = nvml_instance_busy(in) || allocated_instance(in, allocated, n_allocated) ? '#' : '=';
		}
		pic[k] = edge ? '|' : ' ';
		axis[k] = ' ';
		k++;
		pic[k] = c;
		axis[k] = (char)('0' + s % 10);
		k++;
	}
	pic[k] = '|';
	pic[k + 1] = '\0';
	axis[k] = '\0';
	fprintf(f, "  slices  %s\n  layout  %s     # used  = free  . empty\n", axis, pic);
	for (unsigned i = 0; i < gpu->n_instances; i++) {
		const struct nvml_instance *in = &gpu->inst[i];
		bool busy = nvml_instance_busy(in), alloc = allocated_instance(in, allocated, n_allocated);
		char where[MIG_NAME_MAX + 8];

		snprintf(where, sizeof(where), "%s@%u", in->profile >= 0 ? m->profiles[in->profile].name : "?", in->start);
		fprintf(f, "  %-18s GI %-3u %-5s %-22s %s\n", where, in->gi_id, busy || alloc ? "used" : "free",
			busy ? "(running a process)" : alloc ? "(allocated to a pod)" : in->n_ci ? "" : "(no compute instance)",
			in->n_ci ? in->ci[0].uuid : "-");
	}
	if (gpu->n_instances == 0)
		fprintf(f, "  (no MIG instances)\n");
}
