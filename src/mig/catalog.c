/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c — model tables: validation, lookup by name, and profile lookups.
 *
 * A model enters a catalog only through mig_catalog_add(), which validates it, so every function that
 * walks a model (here, in layout.c and in plan/) may rely on its invariants: starts are legal and
 * ascending, every placement fits in the slots, limits are non-zero, names are unique.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mig.h"

struct mig_catalog *mig_catalog_new(struct kerf_err *err)
{
	struct mig_catalog *cat = calloc(1, sizeof(*cat));

	if (cat == NULL)
		kerf_err_set(err, KERF_ENOMEM, "out of memory allocating a model catalog");
	return cat;
}

void mig_catalog_free(struct mig_catalog *cat)
{
	free(cat);
}

int mig_resource_name(const char *profile_name, char *out, size_t outsz)
{
	size_t plen = strlen(MIG_RESOURCE_PREFIX);
	size_t nlen = strlen(profile_name);

	if (outsz == 0 || plen + nlen + 1 > outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, MIG_RESOURCE_PREFIX, plen);
	for (size_t i = 0; i < nlen; i++)
		out[plen + i] = profile_name[i] == '+' ? '.' : profile_name[i];
	out[plen + nlen] = '\0';
	return 0;
}

bool mig_is_resource(const char *resource)
{
	size_t plen = strlen(MIG_RESOURCE_PREFIX);

	return strncmp(resource, MIG_RESOURCE_PREFIX, plen) == 0 && resource[plen] != '\0';
}

/* A profile name is what nvidia-smi prints after "MIG ": letters, digits and ".+-", not empty. */
static bool profile_name_ok(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '+' && *c != '-')
			return false;
	return true;
}

static int validate_profile(const struct mig_model *m, unsigned i, struct kerf_err *err)
{
	const struct mig_profile *p = &m->profiles[i];

	if (!profile_name_ok(p->name))
		return kerf_err_set(err, KERF_EINVAL, "profiles[%u].name: \"%s\" is not a profile name", i, p->name);
	if (p->compute_slices == 0 || p->compute_slices > m->compute_slices)
		return kerf_err_set(err, KERF_EINVAL, "profiles[%u].compute_slices: %u is not in 1..%u (%s)", i,
				    p->compute_slices, m->compute_slices, p->name);
	if (p->memory_slices == 0 || p->memory_slices > m->slots)
		return kerf_err_set(err, KERF_EINVAL, "profiles[%u].memory_slices: %u is not in 1..%u (%s)", i,
				    p->memory_slices, m->slots, p->name);
	if (p->max_instances == 0 || p->max_instances > m->max_instances)
		return kerf_err_set(err, KERF_EINVAL, "profiles[%u].max_instances: %u is not in 1..%u (%s)", i,
				    p->max_instances, m->max_instances, p->name);
	if (p->n_starts == 0 || p->n_starts > MIG_MAX_STARTS)
		return kerf_err_set(err, KERF_EINVAL, "profiles[%u].starts: %u starts, need 1..%d (%s)", i,
				    p->n_starts, MIG_MAX_STARTS, p->name);
	for (unsigned s = 0; s < p->n_starts; s++) {
		if (p->starts[s] + p->memory_slices > m->slots)
			return kerf_err_set(err, KERF_EINVAL, "profiles[%u].starts[%u]: %u + size %u exceeds %u slots (%s)",
					    i, s, p->starts[s], p->memory_slices, m->slots, p->name);
		if (s > 0 && p->starts[s] <= p->starts[s - 1])
			return kerf_err_set(err, KERF_EINVAL, "profiles[%u].starts[%u]: %u is not above the previous start (%s)",
					    i, s, p->starts[s], p->name);
	}
	for (unsigned j = 0; j < i; j++) {
		if (strcmp(m->profiles[j].name, p->name) == 0)
			return kerf_err_set(err, KERF_EINVAL, "profiles[%u].name: \"%s\" is also profiles[%u]", i, p->name, j);
		if (m->profiles[j].nvml_id == p->nvml_id)
			return kerf_err_set(err, KERF_EINVAL, "profiles[%u].nvml_id: %u is also profiles[%u] (%s)", i,
					    p->nvml_id, j, m->profiles[j].name);
	}
	return 0;
}

int mig_model_validate(const struct mig_model *m, struct kerf_err *err)
{
	if (m->name[0] == '\0')
		return kerf_err_set(err, KERF_EINVAL, "name: empty");
	if (m->slots == 0 || m->slots > MIG_MAX_SLOTS)
		return kerf_err_set(err, KERF_EINVAL, "slots: %u is not in 1..%d", m->slots, MIG_MAX_SLOTS);
	if (m->compute_slices == 0)
		return kerf_err_set(err, KERF_EINVAL, "compute_slices: must be at least 1");
	if (m->max_instances == 0 || m->max_instances > MIG_MAX_INSTANCES)
		return kerf_err_set(err, KERF_EINVAL, "max_instances: %u is not in 1..%d", m->max_instances,
				    MIG_MAX_INSTANCES);
	if (m->n_profiles == 0 || m->n_profiles > MIG_MAX_PROFILES)
		return kerf_err_set(err, KERF_EINVAL, "profiles: %u profiles, need 1..%d", m->n_profiles, MIG_MAX_PROFILES);
	if (m->n_aliases > MIG_MAX_ALIASES)
		return kerf_err_set(err, KERF_EINVAL, "aliases: %u aliases, at most %d", m->n_aliases, MIG_MAX_ALIASES);
	for (unsigned i = 0; i < m->n_profiles; i++)
		if (validate_profile(m, i, err) != 0)
			return -1;
	return 0;
}

/* Compares names ignoring case and blanks at either end of `query`. */
static bool name_matches(const char *known, const char *query)
{
	size_t qlen;

	while (isspace((unsigned char)*query))
		query++;
	qlen = strlen(query);
	while (qlen > 0 && isspace((unsigned char)query[qlen - 1]))
		qlen--;
	return qlen > 0 && strlen(known) == qlen && strncasecmp(known, query, qlen) == 0;
}

static const struct mig_model *find_model(const struct mig_catalog *cat, const char *name)
{
	for (unsigned i = 0; i < cat->n_models; i++) {
		const struct mig_model *m = &cat->models[i];

		if (name_matches(m->name, name))
			return m;
		for (unsigned a = 0; a < m->n_aliases; a++)
			if (name_matches(m->aliases[a], name))
				return m;
	}
	return NULL;
}

int mig_catalog_add(struct mig_catalog *cat, const struct mig_model *m, struct kerf_err *err)
{
	struct mig_model *dst;

	if (mig_model_validate(m, err) != 0)
		return kerf_err_prefix(err, "model %s", m->name[0] ? m->name : "(unnamed)");
	if (cat->n_models == MIG_MAX_MODELS)
		return kerf_err_set(err, KERF_ENOMEM, "model %s: catalog is full (%d models)", m->name, MIG_MAX_MODELS);
	if (find_model(cat, m->name) != NULL)
		return kerf_err_set(err, KERF_EINVAL, "model %s: a model of that name is already in the catalog", m->name);
	for (unsigned a = 0; a < m->n_aliases; a++)
		if (find_model(cat, m->aliases[a]) != NULL)
			return kerf_err_set(err, KERF_EINVAL, "model %s: aliases[%u] \"%s\" already names another model",
					    m->name, a, m->aliases[a]);

	dst = &cat->models[cat->n_models];
	*dst = *m;
	for (unsigned i = 0; i < dst->n_profiles; i++) {
		struct mig_profile *p = &dst->profiles[i];

		if (mig_resource_name(p->name, p->resource, sizeof(p->resource)) != 0)
			return kerf_err_set(err, KERF_EINVAL, "model %s: profiles[%u].name: \"%s\" is too long", m->name, i,
					    p->name);
	}
	cat->n_models++;
	return 0;
}

const struct mig_model *mig_catalog_find(const struct mig_catalog *cat, const char *name, struct kerf_err *err)
{
	const struct mig_model *m = find_model(cat, name);
	char known[KERF_ERR_MSG_MAX];
	size_t used = 0;

	if (m != NULL)
		return m;
	known[0] = '\0';
	for (unsigned i = 0; i < cat->n_models && used < sizeof(known); i++) {
		int n = snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", cat->models[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	kerf_err_set(err, KERF_ENOTFOUND, "unknown GPU model \"%s\" (known: %s)", name, known);
	return NULL;
}

int mig_profile_by_name(const struct mig_model *m, const char *name)
{
	if (strncmp(name, "MIG ", 4) == 0)
		name += 4;
	for (unsigned i = 0; i < m->n_profiles; i++)
		if (strcmp(m->profiles[i].name, name) == 0)
			return (int)i;
	return -1;
}

int mig_profile_by_resource(const struct mig_model *m, const char *resource)
{
	for (unsigned i = 0; i < m->n_profiles; i++)
		if (strcmp(m->profiles[i].resource, resource) == 0)
			return (int)i;
	return -1;
}

int mig_profile_by_nvml_id(const struct mig_model *m, unsigned nvml_id)
{
	for (unsigned i = 0; i < m->n_profiles; i++)
		if (m->profiles[i].nvml_id == nvml_id)
			return (int)i;
	return -1;
}

bool mig_profile_start_ok(const struct mig_profile *p, unsigned start)
{
	for (unsigned s = 0; s < p->n_starts; s++)
		if (p->starts[s] == start)
			return true;
	return false;
}
