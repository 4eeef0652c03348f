/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layout.c — the rules of one GPU's layout, and its text form.
 *
 * mig_layout_check() is the single statement of what the hardware allows; the planner, the actuator and
 * the simulated NVML library all defer to it, so a rule added here binds every one of them. It reports the
 * first broken rule in words, naming the instances by their index and as "profile@start", because the
 * person reading it is usually looking at that same list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"

static const char *pname(const struct mig_model *m, unsigned profile)
{
	return profile < m->n_profiles ? m->profiles[profile].name : "?";
}

/* Writes "0, 2, 4" (p's legal starts) into buf. */
static void starts_text(const struct mig_profile *p, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned s = 0; s < p->n_starts && used < n; s++) {
		int w = snprintf(buf + used, n - used, "%s%u", s ? ", " : "", p->starts[s]);
		if (w < 0)
			return;
		used += (size_t)w;
	}
}

static int check_instance(const struct mig_model *m, const struct mig_layout *l, unsigned i, struct kerf_err *err)
{
	const struct mig_instance *in = &l->inst[i];
	const struct mig_profile *p;
	char legal[64];

	if (in->profile >= m->n_profiles)
		return kerf_err_set(err, KERF_EINVAL, "instances[%u].profile: index %u is not a profile of %s", i,
				    in->profile, m->name);
	p = &m->profiles[in->profile];
	if (!mig_profile_start_ok(p, in->start)) {
		starts_text(p, legal, sizeof(legal));
		return kerf_err_set(err, KERF_EINVAL, "instances[%u].start: %u is not a legal start for %s (legal: %s)", i,
				    in->start, p->name, legal);
	}
	return 0;
}

static int check_overlap(const struct mig_model *m, const struct mig_layout *l, struct kerf_err *err)
{
	for (unsigned i = 0; i < l->n; i++) {
		mig_mask a = mig_profile_mask(&m->profiles[l->inst[i].profile], l->inst[i].start);

		for (unsigned j = i + 1; j < l->n; j++) {
			mig_mask b = mig_profile_mask(&m->profiles[l->inst[j].profile], l->inst[j].start);

			if (a & b)
				return kerf_err_set(err, KERF_EINVAL,
						    "instances[%u] (%s@%u) and instances[%u] (%s@%u) overlap on memory slice %d",
						    i, pname(m, l->inst[i].profile), l->inst[i].start, j,
						    pname(m, l->inst[j].profile), l->inst[j].start, __builtin_ctz(a & b));
		}
	}
	return 0;
}

static int check_limits(const struct mig_model *m, const struct mig_layout *l, struct kerf_err *err)
{
	unsigned count[MIG_MAX_PROFILES] = { 0 };
	unsigned compute = 0, me = 0, all_me = 0, with_me = 0;

	if (l->n > m->max_instances)
		return kerf_err_set(err, KERF_EINVAL, "%u instances, but %s allows at most %u", l->n, m->name,
				    m->max_instances);
	for (unsigned i = 0; i < l->n; i++) {
		const struct mig_profile *p = &m->profiles[l->inst[i].profile];

		count[l->inst[i].profile]++;
		compute += p->compute_slices;
		me += (p->flags & MIG_PF_ME) != 0;
		all_me += (p->flags & MIG_PF_ALL_ME) != 0;
		with_me += (p->flags & (MIG_PF_NO_ME | MIG_PF_ALL_ME)) == 0;
	}
	for (unsigned p = 0; p < m->n_profiles; p++)
		if (count[p] > m->profiles[p].max_instances)
			return kerf_err_set(err, KERF_EINVAL, "%u instances of %s, but %s allows at most %u", count[p],
					    m->profiles[p].name, m->name, m->profiles[p].max_instances);
	if (compute > m->compute_slices)
		return kerf_err_set(err, KERF_EINVAL, "the instances need %u compute slices, but %s has %u", compute,
				    m->name, m->compute_slices);
	if (me > 1)
		return kerf_err_set(err, KERF_EINVAL, "%u \"+me\" instances, but a GPU has one set of media engines", me);
	if (all_me > 1 || (all_me == 1 && (with_me > 0 || me > 0)))
		return kerf_err_set(err, KERF_EINVAL,
				    "a \"+me.all\" instance takes every media engine: only \"-me\" instances may sit beside it");
	return 0;
}

int mig_layout_check(const struct mig_model *m, const struct mig_layout *l, struct kerf_err *err)
{
	if (l->n > MIG_MAX_INSTANCES)
		return kerf_err_set(err, KERF_EINVAL, "%u instances, more than any GPU can hold", l->n);
	for (unsigned i = 0; i < l->n; i++)
		if (check_instance(m, l, i, err) != 0)
			return -1;
	if (check_overlap(m, l, err) != 0)
		return -1;
	return check_limits(m, l, err);
}

mig_mask mig_layout_occupied(const struct mig_model *m, const struct mig_layout *l)
{
	mig_mask occ = 0;

	for (unsigned i = 0; i < l->n; i++)
		occ |= mig_profile_mask(&m->profiles[l->inst[i].profile], l->inst[i].start);
	return occ;
}

unsigned mig_layout_compute(const struct mig_model *m, const struct mig_layout *l)
{
	unsigned c = 0;

	for (unsigned i = 0; i < l->n; i++)
		c += m->profiles[l->inst[i].profile].compute_slices;
	return c;
}

static int cmp_instance(const void *a, const void *b)
{
	const struct mig_instance *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->profile != y->profile)
		return x->profile < y->profile ? -1 : 1;
	return 0;
}

void mig_layout_sort(struct mig_layout *l)
{
	qsort(l->inst, l->n, sizeof(l->inst[0]), cmp_instance);
}

bool mig_layout_same(const struct mig_layout *a, const struct mig_layout *b)
{
	struct mig_layout x = *a, y = *b;

	if (a->n != b->n)
		return false;
	mig_layout_sort(&x);
	mig_layout_sort(&y);
	for (unsigned i = 0; i < x.n; i++)
		if (x.inst[i].profile != y.inst[i].profile || x.inst[i].start != y.inst[i].start)
			return false;
	return true;
}

/* Parses one "name@start" item of length len. */
static int parse_item(const struct mig_model *m, const char *item, size_t len, unsigned idx, struct mig_instance *out,
		      struct kerf_err *err)
{
	char buf[MIG_NAME_MAX + 16];
	char *at, *end;
	unsigned long start;
	int p;

	if (len >= sizeof(buf))
		return kerf_err_set(err, KERF_EINVAL, "item %u: \"%.*s\" is too long", idx, (int)len, item);
	memcpy(buf, item, len);
	buf[len] = '\0';
	at = strchr(buf, '@');
	if (at == NULL)
		return kerf_err_set(err, KERF_EINVAL, "item %u: \"%s\" has no \"@start\" (write e.g. %s@0)", idx, buf,
				    m->profiles[0].name);
	*at = '\0';
	p = mig_profile_by_name(m, buf);
	if (p < 0)
		return kerf_err_set(err, KERF_EINVAL, "item %u: \"%s\" is not a profile of %s", idx, buf, m->name);
	start = strtoul(at + 1, &end, 10);
	if (at[1] < '0' || at[1] > '9' || *end != '\0' || start >= MIG_MAX_SLOTS)
		return kerf_err_set(err, KERF_EINVAL, "item %u: start \"%s\" is not a slot number", idx, at + 1);
	out->profile = (uint8_t)p;
	out->start = (uint8_t)start;
	out->used = false;
	return 0;
}

int mig_layout_parse(const struct mig_model *m, const char *text, struct mig_layout *l, struct kerf_err *err)
{
	const char *c = text;

	l->n = 0;
	while (*c == ' ' || *c == '\t')
		c++;
	if (*c == '\0' || strcmp(c, "-") == 0)
		return 0;
	for (;;) {
		const char *b, *e;

		while (*c == ' ' || *c == '\t')
			c++;
		b = c;
		while (*c && *c != ',')
			c++;
		e = c;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == b)
			return kerf_err_set(err, KERF_EINVAL, "item %u: empty", l->n);
		if (l->n == MIG_MAX_INSTANCES)
			return kerf_err_set(err, KERF_EINVAL, "more than %d instances", MIG_MAX_INSTANCES);
		if (parse_item(m, b, (size_t)(e - b), l->n, &l->inst[l->n], err) != 0)
			return -1;
		l->n++;
		if (*c == '\0')
			return 0;
		c++; /* the comma */
	}
}

int mig_layout_format(const struct mig_model *m, const struct mig_layout *l, char *out, size_t outsz)
{
	size_t used = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (l->n == 0)
		return snprintf(out, outsz, "-") < (int)outsz ? 1 : -1;
	for (unsigned i = 0; i < l->n; i++) {
		int w = snprintf(out + used, outsz - used, "%s%s@%u", i ? "," : "", pname(m, l->inst[i].profile),
				 l->inst[i].start);
		if (w < 0 || (size_t)w >= outsz - used)
			return -1;
		used += (size_t)w;
	}
	return (int)used;
}
