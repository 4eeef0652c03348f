/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_models.c — `kerf models [MODEL]`: the catalog, or one model with a picture of its placement slots.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_opts.h"
#include "mig.h"

/* "2g.20gb@0,2,4": a profile and its legal starts, the form `kerf apply --layout` takes. */
static void format_placements(const struct mig_profile *p, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "%s@", p->name);

	for (unsigned j = 0; j < p->n_starts && used < len; j++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u", j ? "," : "", p->starts[j]);
}

/* One header line per model, then its profiles with their placements, wrapped under the header. */
static void list_models(const struct mig_catalog *cat)
{
	const unsigned width = 100, indent = 4;

	printf("%-24s %5s %7s  %-12s %s\n", "MODEL", "SLOTS", "COMPUTE", "PROVENANCE", "NVML NAME");
	for (unsigned i = 0; i < cat->n_models; i++) {
		const struct mig_model *m = &cat->models[i];
		unsigned col = width; /* forces a fresh line before the first profile */

		/* The provenance's first word: "verified" or "inferred" ("kerf models MODEL" gives the source). */
		printf("%-24s %5u %7u  %-12.*s %s\n", m->name, m->slots, m->compute_slices,
		       (int)strcspn(m->provenance, " "), m->provenance, m->n_aliases ? m->aliases[0] : "-");
		for (unsigned p = 0; p < m->n_profiles; p++) {
			char item[MIG_NAME_MAX + 4 * MIG_MAX_STARTS + 2];
			unsigned n;

			format_placements(&m->profiles[p], item, sizeof(item));
			n = (unsigned)strlen(item);
			if (col + 2 + n > width) {
				printf("%s%*s%s", p ? "\n" : "", (int)indent, "", item);
				col = indent + n;
			} else {
				printf("  %s", item);
				col += 2 + n;
			}
		}
		printf("\n");
	}
	printf("\nPROFILE@STARTS lists each profile's legal placement starts, in memory slices. "
	       "`kerf models MODEL` draws them.\n");
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
	const char *name = NULL;
	unsigned n = 0;
	const struct cli_opt opts[] = { { 0 } };

	switch (cli_opts_parse("models", opts, argc, argv, &name, 1, &n)) {
	case 1:
		printf("usage: kerf models [MODEL]\n\n"
		       "Without MODEL, lists every GPU model in kerf's built-in catalog. With MODEL (kerf's short name\n"
		       "or the device name NVML reports, e.g. \"NVIDIA H100 80GB HBM3\"), shows its profiles: NVML\n"
		       "profile ID, compute slices, memory slices, instance limit, legal placements and the\n"
		       "Kubernetes resource name.\n");
		return KERF_EXIT_OK;
	case -1: /* a model name with spaces must be quoted: "too many arguments" */
		return KERF_EXIT_USAGE;
	}
	if (n == 0) {
		list_models(cat);
		return KERF_EXIT_OK;
	}
	m = mig_catalog_find(cat, name, &err);
	if (m == NULL) {
		fprintf(stderr, "kerf models: %s\n", err.msg);
		return KERF_EXIT_USAGE;
	}
	show_model(m);
	return KERF_EXIT_OK;
}
