/*
 * gpu.c — one GPU: every valid layout of a model, and the layouts a GPU in a given state can reach.
 *
 * A model has few valid layouts (1,000-odd for the 8-slot family, a few dozen for A30), so they are all
 * enumerated once per model per plan_run(), as sets of placements. The rules applied while enumerating
 * are those of mig_layout_check() (layout.c); every rule there is monotone — adding an instance to an
 * invalid layout never makes it valid — which is what lets the enumeration prune a branch at the first
 * broken rule. The property tests check every output layout with mig_layout_check() itself.
 *
 * A state's reachable layouts are the valid layouts that contain every used instance (used instances
 * are never moved or destroyed). Of those only the Pareto-optimal ones matter to the cluster search: a
 * layout that offers no more of any profile than another, at no lower cost in any of destroyed /
 * touched / created, can never be the better choice, and dropping it shrinks the lists tenfold.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void pl_bits_set(struct pl_bits *b, unsigned id)
{
	b->w[id / 64] |= 1ull << (id % 64);
}

int pl_bits_has(const struct pl_bits *b, unsigned id)
{
	return (b->w[id / 64] >> (id % 64)) & 1u;
}

/* The running totals of a partial layout during enumeration, one per rule of mig_layout_check(). */
struct walk {
	const struct mig_model *m;
	unsigned n_pl;
	uint8_t pl[MIG_MAX_PROFILES * MIG_MAX_STARTS]; /* placement ids in (profile, start) order */
	struct pl_model *pm;
	size_t cap;
	struct pl_bits bits;
	mig_mask occ;
	unsigned compute, n, me, all_me, with_me;
	uint8_t count[MIG_MAX_PROFILES];
	int oom;
};

static int can_add(const struct walk *w, unsigned id)
{
	const struct mig_profile *p = &w->m->profiles[PL_PROFILE(id)];
	mig_mask mask = mig_profile_mask(p, PL_START(id));
	unsigned me = w->me + ((p->flags & MIG_PF_ME) != 0);
	unsigned all_me = w->all_me + ((p->flags & MIG_PF_ALL_ME) != 0);
	unsigned with_me = w->with_me + ((p->flags & (MIG_PF_NO_ME | MIG_PF_ALL_ME)) == 0);

	if ((w->occ & mask) || w->n + 1 > w->m->max_instances || w->count[PL_PROFILE(id)] + 1u > p->max_instances ||
	    w->compute + p->compute_slices > w->m->compute_slices || me > 1 || all_me > 1 ||
	    (all_me == 1 && with_me > 0))
		return 0;
	return 1;
}

static void push(struct walk *w, unsigned id, int sign)
{
	const struct mig_profile *p = &w->m->profiles[PL_PROFILE(id)];

	w->occ ^= mig_profile_mask(p, PL_START(id));
	w->bits.w[id / 64] ^= 1ull << (id % 64);
	w->compute += (unsigned)sign * p->compute_slices;
	w->n += (unsigned)sign;
	w->count[PL_PROFILE(id)] = (uint8_t)(w->count[PL_PROFILE(id)] + sign);
	w->me += (unsigned)sign * ((p->flags & MIG_PF_ME) != 0);
	w->all_me += (unsigned)sign * ((p->flags & MIG_PF_ALL_ME) != 0);
	w->with_me += (unsigned)sign * ((p->flags & (MIG_PF_NO_ME | MIG_PF_ALL_ME)) == 0);
}

static void emit(struct walk *w)
{
	struct pl_model *pm = w->pm;
	struct pl_layout *l;
	unsigned grow = 0;

	if (pm->n_layouts == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256;
		struct pl_layout *nl = realloc(pm->layouts, ncap * sizeof(*nl));

		if (nl == NULL) {
			w->oom = 1;
			return;
		}
		pm->layouts = nl;
		w->cap = ncap;
	}
	for (unsigned k = 0; k < w->n_pl; k++)
		if (w->m->profiles[PL_PROFILE(w->pl[k])].memory_slices > grow && can_add(w, w->pl[k]))
			grow = w->m->profiles[PL_PROFILE(w->pl[k])].memory_slices;
	l = &pm->layouts[pm->n_layouts++];
	l->bits = w->bits;
	memcpy(l->count, w->count, sizeof(l->count));
	l->grow = (uint8_t)grow;
}

static void walk(struct walk *w, unsigned from)
{
	emit(w);
	for (unsigned k = from; k < w->n_pl && !w->oom; k++) {
		if (!can_add(w, w->pl[k]))
			continue;
		push(w, w->pl[k], 1);
		walk(w, k + 1);
		push(w, w->pl[k], -1);
	}
}

int pl_model_build(struct pl_model *pm, const struct mig_model *m, struct kerf_err *err)
{
	struct walk *w = calloc(1, sizeof(*w));

	memset(pm, 0, sizeof(*pm));
	pm->m = m;
	for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
		pm->res[p] = -1;
	if (w == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory enumerating the layouts of %s", m->name);
	w->m = m;
	w->pm = pm;
	for (unsigned p = 0; p < m->n_profiles; p++)
		for (unsigned s = 0; s < m->profiles[p].n_starts; s++)
			w->pl[w->n_pl++] = (uint8_t)PL_ID(p, m->profiles[p].starts[s]);
	walk(w, 0);
	if (w->oom) {
		free(w);
		pl_model_free(pm);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory enumerating the layouts of %s", m->name);
	}
	free(w);
	return 0;
}

void pl_model_free(struct pl_model *pm)
{
	free(pm->layouts);
	pm->layouts = NULL;
	pm->n_layouts = 0;
}

static unsigned popcount_bits(const struct pl_bits *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PL_WORDS; i++)
		n += (unsigned)__builtin_popcountll(b->w[i]);
	return n;
}

struct sort_item {
	struct pl_option opt;
	uint8_t grow;
};

/* Cheapest first; among equal costs the layout that leaves the largest profile still placeable, then
 * enumeration order, so that the choice is deterministic. */
static int cmp_item(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->opt.cost != y->opt.cost)
		return x->opt.cost < y->opt.cost ? -1 : 1;
	if (x->grow != y->grow)
		return x->grow > y->grow ? -1 : 1;
	return x->opt.layout < y->opt.layout ? -1 : x->opt.layout > y->opt.layout;
}

static int dominated(const struct pl_option *kept, unsigned n_kept, const struct pl_option *o, unsigned n_prof)
{
	for (unsigned k = 0; k < n_kept; k++) {
		const struct pl_option *q = &kept[k];
		unsigned p;

		if (PL_COST_D(q->cost) > PL_COST_D(o->cost) || PL_COST_T(q->cost) > PL_COST_T(o->cost) ||
		    PL_COST_C(q->cost) > PL_COST_C(o->cost))
			continue;
		for (p = 0; p < n_prof && q->cap[p] >= o->cap[p]; p++)
			;
		if (p == n_prof)
			return 1;
	}
	return 0;
}

int pl_state_options(struct pl_ctx *c, struct pl_state *s, struct kerf_err *err)
{
	const struct pl_model *pm = &c->models[s->model];
	unsigned n_prof = pm->m->n_profiles;
	struct pl_bits freeb;
	struct sort_item *items;
	unsigned n = 0;

	if (s->have_options)
		return 0;
	for (unsigned i = 0; i < PL_WORDS; i++)
		freeb.w[i] = s->cur.w[i] & ~s->used.w[i];
	items = malloc((pm->n_layouts ? pm->n_layouts : 1) * sizeof(*items));
	if (items == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
	for (uint32_t li = 0; li < pm->n_layouts; li++) {
		const struct pl_layout *l = &pm->layouts[li];
		struct pl_bits gone, fresh;
		unsigned i, d, cr;

		for (i = 0; i < PL_WORDS && (l->bits.w[i] & s->used.w[i]) == s->used.w[i]; i++)
			;
		if (i < PL_WORDS)
			continue; /* would move or destroy a used instance */
		for (i = 0; i < PL_WORDS; i++) {
			gone.w[i] = freeb.w[i] & ~l->bits.w[i];
			fresh.w[i] = l->bits.w[i] & ~s->cur.w[i];
		}
		d = popcount_bits(&gone);
		cr = popcount_bits(&fresh);
		items[n].opt.layout = li;
		items[n].opt.cost = PL_COST(d, (d | cr) != 0, cr);
		for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
			items[n].opt.cap[p] = (uint8_t)(l->count[p] - s->used_count[p]);
		items[n].grow = l->grow;
		n++;
	}
	qsort(items, n, sizeof(*items), cmp_item);
	s->options = malloc((n ? n : 1) * sizeof(*s->options));
	if (s->options == NULL) {
		free(items);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
	}
	s->n_options = 0;
	memset(s->max_count, 0, sizeof(s->max_count));
	for (unsigned i = 0; i < n; i++) {
		if (dominated(s->options, s->n_options, &items[i].opt, n_prof))
			continue;
		s->options[s->n_options++] = items[i].opt;
		for (unsigned p = 0; p < n_prof; p++)
			if (items[i].opt.cap[p] > s->max_count[p])
				s->max_count[p] = items[i].opt.cap[p];
	}
	free(items);
	s->have_options = 1;
	return 0;
}
