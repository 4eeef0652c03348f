/* SPDX-License-Identifier: Apache-2.0 */
/*
 * models.c — the built-in catalog: every MIG-capable model whose placements are known or inferred.
 *
 * Facts come from the MIG User Guide and real `nvidia-smi mig -lgip/-lgipp` transcripts; docs/hardware.md
 * lists them with their sources and says which are verified and which inferred. The tables are split in
 * two so that each fact is written once:
 *
 *   - a geometry: per profile, its NVML index and ID, compute slices, size in memory slices, instance
 *     limit, legal starts and flags. Models of one family (the 8-slot A100..GB200 line) share it.
 *   - a model row: its names (profile names differ per memory size), SM counts, and the device names
 *     NVML reports for it.
 *
 * build_builtin() expands the rows through mig_catalog_add(), so the built-in tables pass exactly the same
 * validation as a catalog read from NVML at run time. Memory sizes are left unknown (0) on purpose: they
 * shift between driver releases, and NVML is the authority for them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

#define S(x) (1u << (x)) /* a legal start, as a bit in a start mask */

struct geom_row {
	unsigned nvml_index;
	unsigned nvml_id;
	unsigned compute;
	unsigned size;
	unsigned max;
	unsigned start_mask;
	unsigned flags;
};

struct geometry {
	unsigned slots;
	unsigned compute;
	unsigned max_instances;
	unsigned n;
	struct geom_row rows[MIG_MAX_PROFILES];
};

/* A100, H100, H100 NVL, H200, GH200, B200, GB200: 8 memory slices, 7 compute slices, 7 instances.
 * Verified on A100-40GB (MIG User Guide), H100 80GB HBM3 and H100 NVL (nvidia-smi -lgipp). */
static const struct geometry family8 = {
	.slots = 8, .compute = 7, .max_instances = 7, .n = 7,
	.rows = {
		/* index  id  compute size max  legal starts                          flags */
		{ 0x0, 19, 1, 1, 7, S(0) | S(1) | S(2) | S(3) | S(4) | S(5) | S(6), 0 },         /* 1g     */
		{ 0x7, 20, 1, 1, 1, S(0) | S(1) | S(2) | S(3) | S(4) | S(5) | S(6), MIG_PF_ME }, /* 1g+me  */
		{ 0x9, 15, 1, 2, 4, S(0) | S(2) | S(4) | S(6), 0 },                              /* 1g x2  */
		{ 0x1, 14, 2, 2, 3, S(0) | S(2) | S(4), 0 },                                     /* 2g     */
		{ 0x2, 9, 3, 4, 2, S(0) | S(4), 0 },                                             /* 3g     */
		{ 0x3, 5, 4, 4, 1, S(0), 0 },                                                    /* 4g     */
		{ 0x4, 0, 7, 8, 1, S(0), 0 },                                                    /* 7g     */
	},
};

/* A30 24GB: 4 memory slices, 4 compute slices (nvidia-smi -lgipp on an A30, driver 535). */
static const struct geometry a30 = {
	.slots = 4, .compute = 4, .max_instances = 4, .n = 5,
	.rows = {
		{ 0x0, 14, 1, 1, 4, S(0) | S(1) | S(2) | S(3), 0 },
		{ 0x7, 21, 1, 1, 1, S(0) | S(1) | S(2) | S(3), MIG_PF_ME },
		{ 0x1, 5, 2, 2, 2, S(0) | S(2), 0 },
		{ 0x8, 6, 2, 2, 1, S(0) | S(2), MIG_PF_ME },
		{ 0x3, 0, 4, 4, 1, S(0), 0 },
	},
};

/* RTX PRO 6000 Blackwell 96GB: 12 placement units, 4 compute slices (nvidia-smi -lgipp, Server Edition).
 * The NVML indices of the gfx / -me / +me.all profiles are inferred from nvml.h's comments. */
static const struct geometry rtxpro6000 = {
	.slots = 12, .compute = 4, .max_instances = 4, .n = 11,
	.rows = {
		{ 0x0, 14, 1, 3, 4, S(0) | S(3) | S(6) | S(9), 0 },
		{ 0x7, 21, 1, 3, 1, S(0) | S(3) | S(6) | S(9), MIG_PF_ME },
		{ 0xA, 47, 1, 3, 4, S(0) | S(3) | S(6) | S(9), MIG_PF_GFX },
		{ 0xF, 65, 1, 3, 1, S(0) | S(3) | S(6) | S(9), MIG_PF_ALL_ME },
		{ 0xD, 67, 1, 3, 4, S(0) | S(3) | S(6) | S(9), MIG_PF_NO_ME },
		{ 0x1, 5, 2, 6, 2, S(0) | S(6), 0 },
		{ 0xB, 35, 2, 6, 2, S(0) | S(6), MIG_PF_GFX },
		{ 0x10, 64, 2, 6, 1, S(0) | S(6), MIG_PF_ALL_ME },
		{ 0xE, 66, 2, 6, 2, S(0) | S(6), MIG_PF_NO_ME },
		{ 0x3, 0, 4, 12, 1, S(0), 0 },
		{ 0xC, 32, 4, 12, 1, S(0), MIG_PF_GFX },
	},
};

struct model_row {
	const char *name;
	const char *provenance;
	const struct geometry *geom;
	const char *profiles[MIG_MAX_PROFILES]; /* in geometry order */
	unsigned sms[MIG_MAX_PROFILES];         /* in geometry order; 0 = not known */
	const char *aliases[MIG_MAX_ALIASES];
};

static const struct model_row rows[] = {
	{ "A30-24GB", "verified (nvidia-smi on A30)", &a30,
	  { "1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb" },
	  { 14, 14, 28, 28, 56 },
	  { "NVIDIA A30" } },
	{ "A100-40GB", "verified (MIG User Guide)", &family8,
	  { "1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb" },
	  { 14, 14, 14, 28, 42, 56, 98 },
	  { "NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB" } },
	{ "A100-80GB", "inferred (A100-40GB geometry; names from MIG User Guide)", &family8,
	  { "1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb" },
	  { 14, 14, 14, 28, 42, 56, 98 },
	  { "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "NVIDIA A800-SXM4-80GB", "NVIDIA A800 80GB PCIe" } },
	{ "H100-80GB-SXM", "verified (nvidia-smi on H100 80GB HBM3)", &family8,
	  { "1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb" },
	  { 16, 16, 26, 32, 60, 64, 132 },
	  { "NVIDIA H100 80GB HBM3", "NVIDIA H800" } },
	{ "H100-80GB-PCIe", "inferred (H100 SXM geometry)", &family8,
	  { "1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb" },
	  { 0, 0, 0, 0, 0, 0, 114 },
	  { "NVIDIA H100 PCIe", "NVIDIA H800 PCIe" } },
	{ "H100-NVL-94GB", "verified (nvidia-smi on H100 NVL)", &family8,
	  { "1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb" },
	  { 16, 16, 26, 32, 60, 64, 132 },
	  { "NVIDIA H100 NVL", "NVIDIA H800 NVL" } },
	{ "H100-96GB", "inferred (H100 geometry; names from MIG User Guide)", &family8,
	  { "1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb" },
	  { 0 },
	  { "NVIDIA H100 96GB HBM3", "NVIDIA GH200 480GB" } },
	{ "GH200-144GB", "inferred (H100 geometry; IDs from nvidia-smi -lgip)", &family8,
	  { "1g.18gb", "1g.18gb+me", "1g.36gb", "2g.36gb", "3g.72gb", "4g.72gb", "7g.144gb" },
	  { 16, 16, 26, 32, 0, 0, 0 },
	  { "NVIDIA GH200 144G HBM3e" } },
	{ "H200-141GB-SXM", "inferred (H100 geometry; IDs from nvidia-smi -lgip)", &family8,
	  { "1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb" },
	  { 16, 16, 26, 32, 60, 64, 132 },
	  { "NVIDIA H200" } },
	{ "H200-141GB-NVL", "inferred (H100 geometry; names from MIG User Guide)", &family8,
	  { "1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb" },
	  { 0 },
	  { "NVIDIA H200 NVL" } },
	{ "B200-180GB", "inferred (H100 geometry; IDs from nvidia-smi -lgip)", &family8,
	  { "1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb" },
	  { 18, 18, 30, 36, 0, 0, 0 },
	  { "NVIDIA B200" } },
	{ "GB200-186GB", "inferred (H100 geometry; IDs from nvidia-smi -lgip)", &family8,
	  { "1g.23gb", "1g.23gb+me", "1g.47gb", "2g.47gb", "3g.93gb", "4g.93gb", "7g.186gb" },
	  { 18, 18, 32, 38, 0, 0, 0 },
	  { "NVIDIA GB200" } },
	{ "RTX-PRO-6000-Blackwell", "verified (nvidia-smi on RTX PRO 6000 Blackwell Server Edition)", &rtxpro6000,
	  { "1g.24gb", "1g.24gb+me", "1g.24gb+gfx", "1g.24gb+me.all", "1g.24gb-me", "2g.48gb", "2g.48gb+gfx",
	    "2g.48gb+me.all", "2g.48gb-me", "4g.96gb", "4g.96gb+gfx" },
	  { 46, 46, 46, 46, 46, 94, 94, 94, 94, 188, 188 },
	  { "NVIDIA RTX PRO 6000 Blackwell Server Edition", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
	    "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition" } },
};

static void expand_row(const struct model_row *r, struct mig_model *m)
{
	const struct geometry *g = r->geom;

	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", r->name);
	snprintf(m->provenance, sizeof(m->provenance), "%s", r->provenance);
	m->slots = g->slots;
	m->compute_slices = g->compute;
	m->max_instances = g->max_instances;
	m->n_profiles = g->n;
	for (unsigned i = 0; i < MIG_MAX_ALIASES && r->aliases[i] != NULL; i++) {
		snprintf(m->aliases[i], sizeof(m->aliases[i]), "%s", r->aliases[i]);
		m->n_aliases++;
	}
	for (unsigned i = 0; i < g->n; i++) {
		const struct geom_row *gr = &g->rows[i];
		struct mig_profile *p = &m->profiles[i];

		snprintf(p->name, sizeof(p->name), "%s", r->profiles[i]);
		p->nvml_index = gr->nvml_index;
		p->nvml_id = gr->nvml_id;
		p->compute_slices = gr->compute;
		p->memory_slices = gr->size;
		p->max_instances = gr->max;
		p->flags = gr->flags;
		p->multiprocessors = r->sms[i];
		for (unsigned s = 0; s < MIG_MAX_SLOTS; s++)
			if (gr->start_mask & S(s))
				p->starts[p->n_starts++] = (uint8_t)s;
	}
}

static struct mig_catalog builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void build_builtin(void)
{
	struct mig_model m;
	struct kerf_err err;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		expand_row(&rows[i], &m);
		/* The tables are compiled in; a failure here is a bug in them that the test suite catches. */
		if (mig_catalog_add(&builtin, &m, &err) != 0) {
			fprintf(stderr, "kerf: built-in model table %s is invalid: %s\n", rows[i].name, err.msg);
			abort();
		}
	}
}

const struct mig_catalog *mig_catalog_builtin(void)
{
	pthread_once(&builtin_once, build_builtin);
	return &builtin;
}
