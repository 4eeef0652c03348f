/*
 * cmd_models.c — `kerf models [MODEL]`: the catalog, or one model with a picture of its placement slots.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mig.h"

static void list_models(const struct mig_catalog *cat)
{
	printf("%-24s %5s %7s  %-40s %s\n", "MODEL", "SLOTS", "COMPUTE", "PROFILES", "NVML NAMES");
	for (unsigned i = 0; i < cat->n_models; i++) {
		const struct mig_model *m = &cat->models[i];
		char profiles[256] = "";
		size_t used = 0;

		for (unsigned p = 0; p < m->n_profiles && used < sizeof(profiles); p++)
			used += (size_t)snprintf(profiles + used, sizeof(profiles) - used, "%s%s", p ? " " : "",
						 m->profiles[p].name);
		printf("%-24s %5u %7u  %-40s %s\n", m->name, m->slots, m->compute_slices, profiles,
		       m->n_aliases ? m->aliases[0] : "-");
	}
}

/* One row per profile: its legal placements drawn over the memory slices, e.g.
 *   2g.20gb     [##|##|##|  ]  starts 0,2,4  */
static void show_model(const struct mig_model *m)
{
	printf("%s  (%s)\n", m->name, m->provenance);
	for (unsigned a = 0; a < m->n_aliases; a++)
		printf("  NVML name: %s\n", m->aliases[a]);
	printf("  %u memory slices, %u compute slices, at most %u instances\n\n", m->slots, m->compute_slices,
	       m->max_instances);
	printf("  %-16s %4s %4s %4s %4s  %-*s  %s\n", "PROFILE", "ID", "CMP", "MEM", "MAX", (int)m->slots * 2 + 1,
	       "PLACEMENTS", "RESOURCE");
	for (unsigned i = 0; i < m->n_profiles; i++) {
		const struct mig_profile *p = &m->profiles[i];
		char pic[MIG_MAX_SLOTS * 2 + 2];
		size_t k = 0;

		/* A slot covered by some legal placement of p shows its start's last digit, else '.'. */
		for (unsigned s = 0; s < m->slots; s++) {
			char c = '.';
			for (unsigned j = 0; j < p->n_starts; j++)
				if (s >= p->starts[j] && s < p->starts[j] + p->memory_slices)
					c = (char)('0' + p->starts[j] % 10);
			pic[k++] = (s > 0 && mig_profile_start_ok(p, s)) ? '|' : ' ';
			pic[k++] = c;
		}
		pic[k++] = '\0';
		printf("  %-16s %4u %4u %4u %4u  %-*s  %s\n", p->name, p->nvml_id, p->compute_slices, p->memory_slices,
		       p->max_instances, (int)m->slots * 2 + 1, pic, p->resource);
	}
	printf("\n  Digits show which start covers a slot when an instance is placed there; '|' marks a legal start.\n");
}

int cmd_models(int argc, char **argv)
{
	const struct mig_catalog *cat = mig_catalog_builtin();
	const struct mig_model *m;
	struct kerf_err err;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: kerf models [MODEL]\n\n"
		       "Without MODEL, lists every GPU model in kerf's built-in catalog. With MODEL (kerf's short name\n"
		       "or the device name NVML reports, e.g. \"NVIDIA H100 80GB HBM3\"), shows its profiles: NVML\n"
		       "profile ID, compute slices, memory slices, instance limit, legal placements and the\n"
		       "Kubernetes resource name.\n");
		return KERF_EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "kerf models: too many arguments (quote a model name with spaces)\n");
		return KERF_EXIT_USAGE;
	}
	if (argc == 1) {
		list_models(cat);
		return KERF_EXIT_OK;
	}
	m = mig_catalog_find(cat, argv[1], &err);
	if (m == NULL) {
		fprintf(stderr, "kerf models: %s\n", err.msg);
		return KERF_EXIT_USAGE;
	}
	show_model(m);
	return KERF_EXIT_OK;
}
