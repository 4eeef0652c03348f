/* SPDX-License-Identifier: Apache-2.0 */
/*
 * workload.c — the cluster description, the workload generator and the CSV trace reader.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "internal.h"

/* ---- cluster ------------------------------------------------------------------------------------------- */

static int parse_group(const struct mig_catalog *cat, const char *text, struct sim_group *g, struct kerf_err *err)
{
	char *end;
	unsigned long nodes, gpus;

	errno = 0;
	nodes = strtoul(text, &end, 10);
	if (end == text || *end != 'x' || errno || nodes == 0 || nodes > 100000)
		return kerf_err_set(err, KERF_EINVAL, "\"%s\" does not start with a node count 1..100000 and 'x' (write e.g. 4x8xH100-80GB-SXM)",
				    text);
	text = end + 1;
	gpus = strtoul(text, &end, 10);
	if (end == text || *end != 'x' || errno || gpus == 0 || gpus > 64)
		return kerf_err_set(err, KERF_EINVAL, "\"%s\": GPUs per node must be 1..64, followed by 'x' and a model", text);
	g->nodes = (unsigned)nodes;
	g->gpus_per_node = (unsigned)gpus;
	g->model = mig_catalog_find(cat, end + 1, err);
	return g->model ? 0 : -1;
}

int sim_cluster_parse(const struct mig_catalog *cat, const char *text, struct sim_cluster *c, struct kerf_err *err)
{
	char buf[512];
	char *save = NULL, *tok;

	memset(c, 0, sizeof(*c));
	if (strlen(text) >= sizeof(buf))
		return kerf_err_set(err, KERF_EINVAL, "cluster: description longer than %zu characters", sizeof(buf) - 1);
	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (c->n_groups == SIM_MAX_GROUPS)
			return kerf_err_set(err, KERF_EINVAL, "cluster: more than %d groups", SIM_MAX_GROUPS);
		if (parse_group(cat, tok, &c->groups[c->n_groups], err) != 0)
			return kerf_err_prefix(err, "cluster[%u]", c->n_groups);
		c->n_groups++;
	}
	if (c->n_groups == 0)
		return kerf_err_set(err, KERF_EINVAL, "cluster: empty (write e.g. 4x8xH100-80GB-SXM)");
	if (sim_cluster_gpus(c) > 100000)
		return kerf_err_set(err, KERF_EINVAL, "cluster: more than 100000 GPUs");
	return 0;
}

unsigned sim_cluster_gpus(const struct sim_cluster *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_groups; i++)
		n += c->groups[i].nodes * c->groups[i].gpus_per_node;
	return n;
}

unsigned sim_cluster_compute(const struct sim_cluster *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_groups; i++)
		n += c->groups[i].nodes * c->groups[i].gpus_per_node * c->groups[i].model->compute_slices;
	return n;
}

unsigned sim_cluster_memory(const struct sim_cluster *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_groups; i++)
		n += c->groups[i].nodes * c->groups[i].gpus_per_node * c->groups[i].model->slots;
	return n;
}

/* ---- profiles ------------------------------------------------------------------------------------------ */

/* Plain: no media-engine or graphics variant, the profiles a generic workload asks for. */
static bool plain(const struct mig_profile *p)
{
	return p->flags == 0;
}

/* GB in a profile's name: "2g.20gb" -> 20, "1g.24gb-me" -> 24; 0 if the name carries none. */
static double name_gb(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot ? strtod(dot + 1, NULL) : 0;
}

int sim_profile_for_memory(const struct mig_model *m, double need_gb)
{
	int best = -1;

	for (unsigned i = 0; i < m->n_profiles; i++) {
		const struct mig_profile *p = &m->profiles[i];

		if (!plain(p) || name_gb(p->name) < need_gb)
			continue;
		if (best < 0 || p->memory_slices < m->profiles[best].memory_slices ||
		    (p->memory_slices == m->profiles[best].memory_slices &&
		     p->compute_slices < m->profiles[best].compute_slices))
			best = (int)i;
	}
	return best;
}

/* The plain profile with `compute` compute slices and the fewest memory slices; -1 if none. */
static int plain_by_compute(const struct mig_model *m, unsigned compute)
{
	int best = -1;

	for (unsigned i = 0; i < m->n_profiles; i++)
		if (plain(&m->profiles[i]) && m->profiles[i].compute_slices == compute &&
		    (best < 0 || m->profiles[i].memory_slices < m->profiles[best].memory_slices))
			best = (int)i;
	return best;
}

/* ---- generator ----------------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	double weight[5]; /* 1g, 2g, 3g, 4g, 7g by count of pods */
} mixes[] = {
	[SIM_MIX_SMALL_HEAVY] = { "small-heavy", { 0.50, 0.25, 0.12, 0.08, 0.05 } },
	[SIM_MIX_BALANCED] = { "balanced", { 0.30, 0.25, 0.20, 0.10, 0.15 } },
	[SIM_MIX_LARGE_HEAVY] = { "large-heavy", { 0.10, 0.15, 0.25, 0.20, 0.30 } },
};
static const unsigned mix_compute[5] = { 1, 2, 3, 4, 7 };

int sim_mix_parse(const char *text, enum sim_mix *mix, struct kerf_err *err)
{
	for (unsigned i = 0; i < sizeof(mixes) / sizeof(mixes[0]); i++)
		if (strcmp(text, mixes[i].name) == 0) {
			*mix = (enum sim_mix)i;
			return 0;
		}
	return kerf_err_set(err, KERF_EINVAL, "mix: \"%s\" is not one of small-heavy, balanced, large-heavy", text);
}

const char *sim_mix_name(enum sim_mix mix)
{
	return (unsigned)mix < sizeof(mixes) / sizeof(mixes[0]) ? mixes[mix].name : "?";
}

int sim_workload_generate(const struct sim_cluster *c, const struct sim_gen *g, struct sim_workload *w,
			  struct kerf_err *err)
{
	const struct mig_model *m = c->groups[0].model;
	int prof[5];
	double weight[5], total = 0, mean_compute = 0, mean_duration, rate, t = 0;
	struct sim_rng rng;

	memset(w, 0, sizeof(*w));
	if (c->n_groups == 0)
		return kerf_err_set(err, KERF_EINVAL, "cluster: no GPUs");
	if (g->pods == 0 || g->pods > 10000000)
		return kerf_err_set(err, KERF_EINVAL, "pods: %u is not in 1..10000000", g->pods);
	if (!(g->load > 0 && g->load <= 10))
		return kerf_err_set(err, KERF_EINVAL, "load: %g is not in (0, 10]", g->load);
	if (!(g->median_s > 0) || !(g->sigma >= 0 && g->sigma <= 5))
		return kerf_err_set(err, KERF_EINVAL, "duration: median must be > 0 and sigma in [0, 5]");
	if (!(g->high_prio_share >= 0 && g->high_prio_share <= 1))
		return kerf_err_set(err, KERF_EINVAL, "high-priority share: %g is not in [0, 1]", g->high_prio_share);
	if ((unsigned)g->mix >= sizeof(mixes) / sizeof(mixes[0]))
		return kerf_err_set(err, KERF_EINVAL, "mix: unknown");
	for (unsigned i = 0; i < 5; i++) {
		prof[i] = plain_by_compute(m, mix_compute[i]);
		weight[i] = prof[i] < 0 ? 0 : mixes[g->mix].weight[i];
		total += weight[i];
		mean_compute += weight[i] * mix_compute[i];
	}
	if (total <= 0)
		return kerf_err_set(err, KERF_EINVAL, "mix: %s has none of the mix's profiles", m->name);
	mean_compute /= total;
	mean_duration = g->median_s * exp(g->sigma * g->sigma / 2);
	rate = g->load * sim_cluster_compute(c) / (mean_duration * mean_compute);
	w->pods = calloc(g->pods, sizeof(*w->pods));
	if (w->pods == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %u pods", g->pods);
	sim_rng_seed(&rng, g->seed);
	for (unsigned i = 0; i < g->pods; i++) {
		struct sim_pod_spec *p = &w->pods[i];
		double u = sim_rng_unit(&rng) * total;
		unsigned k = 0;

		t += -log(sim_rng_unit(&rng)) / rate;
		while (k < 4 && (u >= weight[k] || weight[k] == 0)) {
			u -= weight[k];
			k++;
		}
		while (weight[k] == 0) /* rounding at the top end: fall back to the largest present size */
			k--;
		p->arrival = t;
		p->duration = g->median_s * exp(g->sigma * sim_rng_normal(&rng));
		p->priority = sim_rng_unit(&rng) < g->high_prio_share ? 100 : 0;
		snprintf(p->profile, sizeof(p->profile), "%s", m->profiles[prof[k]].name);
	}
	w->n = g->pods;
	return 0;
}

/* ---- CSV trace ----------------------------------------------------------------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_number(const char *field, const char *what, double *out, struct kerf_err *err)
{
	char *end;

	errno = 0;
	*out = strtod(field, &end);
	if (end == field || *trim(end) != '\0' || errno || !isfinite(*out))
		return kerf_err_set(err, KERF_EINVAL, "%s: \"%s\" is not a number", what, field);
	if (*out < 0)
		return kerf_err_set(err, KERF_EINVAL, "%s: %g is negative", what, *out);
	return 0;
}

/* "2g.20gb" names a profile; "17gb" / "17.5GB" is a memory need mapped to the smallest profile holding it. */
static int parse_demand(const struct mig_model *m, const char *field, char *profile, struct kerf_err *err)
{
	char *end;
	double gb;
	int p = mig_profile_by_name(m, field);

	if (p < 0) {
		gb = strtod(field, &end);
		if (end == field || strcasecmp(end, "gb") != 0 || !(gb > 0))
			return kerf_err_set(err, KERF_EINVAL, "demand: \"%s\" is neither a profile of %s nor a memory need like 17gb",
					    field, m->name);
		p = sim_profile_for_memory(m, gb);
		if (p < 0)
			return kerf_err_set(err, KERF_EINVAL, "demand: no profile of %s holds %g GB", m->name, gb);
	}
	snprintf(profile, MIG_NAME_MAX, "%s", m->profiles[p].name);
	return 0;
}

static int parse_line(const struct mig_model *m, char *line, struct sim_pod_spec *p, struct kerf_err *err)
{
	char *f[5];
	unsigned n = 0;
	double prio = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, ",", &save); tok && n < 5; tok = strtok_r(NULL, ",", &save))
		f[n++] = trim(tok);
	if (n < 3 || n > 4)
		return kerf_err_set(err, KERF_EINVAL, "%u fields, want arrival_s,duration_s,demand[,priority]", n);
	memset(p, 0, sizeof(*p));
	if (parse_number(f[0], "arrival", &p->arrival, err) != 0 || parse_number(f[1], "duration", &p->duration, err) != 0 ||
	    parse_demand(m, f[2], p->profile, err) != 0)
		return -1;
	if (n == 4) {
		char *end;

		prio = strtod(f[3], &end);
		if (end == f[3] || *end != '\0' || prio != floor(prio) || fabs(prio) > 1e9)
			return kerf_err_set(err, KERF_EINVAL, "priority: \"%s\" is not an integer", f[3]);
	}
	p->priority = (int)prio;
	return 0;
}

/* Merge sort by arrival: stable, so pods arriving together keep the file's order (qsort is not stable). */
static int sort_stable(struct sim_workload *w)
{
	struct sim_pod_spec *tmp = malloc((w->n ? w->n : 1) * sizeof(*tmp)), *a = w->pods, *b = tmp;

	if (tmp == NULL)
		return -1;
	for (unsigned width = 1; width < w->n; width *= 2) {
		for (unsigned lo = 0; lo < w->n; lo += 2 * width) {
			unsigned mid = lo + width < w->n ? lo + width : w->n;
			unsigned hi = lo + 2 * width < w->n ? lo + 2 * width : w->n;
			unsigned i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				b[k++] = a[j].arrival < a[i].arrival ? a[j++] : a[i++];
			while (i < mid)
				b[k++] = a[i++];
			while (j < hi)
				b[k++] = a[j++];
		}
		struct sim_pod_spec *t = a;
		a = b;
		b = t;
	}
	if (a != w->pods)
		memcpy(w->pods, a, w->n * sizeof(*a));
	free(tmp);
	return 0;
}

int sim_workload_read_csv(FILE *f, const char *name, const struct sim_cluster *c, struct sim_workload *w,
			  struct kerf_err *err)
{
	char buf[1024];
	unsigned lineno = 0;
	size_t cap = 0;
	bool content = false; /* a line with data (or the header) was seen */

	memset(w, 0, sizeof(*w));
	if (c->n_groups == 0)
		return kerf_err_set(err, KERF_EINVAL, "cluster: no GPUs");
	while (fgets(buf, sizeof(buf), f)) {
		char *line = trim(buf), *hash = strchr(line, '#');

		lineno++;
		if (hash)
			*hash = '\0';
		line = trim(line);
		if (*line == '\0')
			continue; /* blank or comment */
		if (!content && isalpha((unsigned char)*line)) {
			content = true;
			continue; /* the header */
		}
		content = true;
		if (kerf_grow(&w->pods, &cap, (size_t)w->n + 1, sizeof(*w->pods), UINT_MAX, "pods", NULL) < 0) {
			sim_workload_free(w);
			return kerf_err_set(err, KERF_ENOMEM, "%s:%u: out of memory", name, lineno);
		}
		if (parse_line(c->groups[0].model, line, &w->pods[w->n], err) != 0) {
			sim_workload_free(w);
			return kerf_err_prefix(err, "%s:%u", name, lineno);
		}
		w->n++;
	}
	if (ferror(f)) {
		sim_workload_free(w);
		return kerf_err_set(err, KERF_EIO, "%s: read error", name);
	}
	if (sort_stable(w) != 0) {
		sim_workload_free(w);
		return kerf_err_set(err, KERF_ENOMEM, "%s: out of memory sorting", name);
	}
	return 0;
}

void sim_workload_free(struct sim_workload *w)
{
	free(w->pods);
	memset(w, 0, sizeof(*w));
}
