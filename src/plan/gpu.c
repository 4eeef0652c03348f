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

	if (pm->n_layouts == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 1024;
		struct pl_layout *nl = realloc(pm->layouts, ncap * sizeof(*nl));

		if (nl == NULL) {
			w->oom = 1;
			return;
		}
		pm->layouts = nl;
		w->cap = ncap;
	}
	l = &pm->layouts[pm->n_layouts++];
	l->bits = w->bits;
	memcpy(l->count, w->count, sizeof(l->count));
	l->grow = PL_GROW_UNKNOWN; /* computed when a state keeps this layout (layout_grow) */
}

/* Memory slices of the largest profile that could still be added to layout li. */
static unsigned layout_grow(struct pl_model *pm, uint32_t li)
{
	struct pl_layout *l = &pm->layouts[li];
	const struct mig_model *m = pm->m;
	struct walk w;
	unsigned grow = 0;

	if (l->grow != PL_GROW_UNKNOWN)
		return l->grow;
	memset(&w, 0, sizeof(w));
	w.m = m;
	for (unsigned i = 0; i < PL_WORDS; i++)
		for (uint64_t b = l->bits.w[i]; b != 0; b &= b - 1)
			push(&w, i * 64 + (unsigned)__builtin_ctzll(b), 1);
	/* Largest profiles first (the catalog lists them small first): most of the rest are then skipped. */
	for (unsigned p = m->n_profiles; p-- > 0;) {
		if (m->profiles[p].memory_slices <= grow)
			continue;
		for (unsigned k = 0; k < m->profiles[p].n_starts; k++)
			if (can_add(&w, PL_ID(p, m->profiles[p].starts[k]))) {
				grow = m->profiles[p].memory_slices;
				break;
			}
	}
	l->grow = (uint8_t)grow;
	return grow;
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

/* Bits set in x. Written out (the SWAR sum) because without -mpopcnt, which kerf does not assume of its
 * hosts, __builtin_popcountll is a call into libgcc: it was 12 % of the planner's instructions. */
static unsigned popcount64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ull;
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static unsigned popcount_bits(const struct pl_bits *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PL_WORDS; i++)
		n += popcount64(b->w[i]);
	return n;
}

struct sort_item {
	struct pl_option opt;
	uint64_t key; /* a hash of cap, to find equal offers */
	uint8_t grow;
};

/* The order the DP sees: cheapest first; among equal costs the layout that leaves the largest profile
 * still placeable, then enumeration order, so that ties are decided towards objective 4 and always the
 * same way. */
static int cmp_item(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->opt.cost != y->opt.cost)
		return x->opt.cost < y->opt.cost ? -1 : 1;
	if (x->grow != y->grow)
		return x->grow > y->grow ? -1 : 1;
	return x->opt.layout < y->opt.layout ? -1 : x->opt.layout > y->opt.layout;
}

static int dominated(const struct sort_item *kept, unsigned n_kept, const struct pl_option *o, unsigned n_prof)
{
	for (unsigned k = 0; k < n_kept; k++) {
		const struct pl_option *q = &kept[k].opt;
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

static uint64_t fnv(const uint8_t *b, unsigned n)
{
	uint64_t h = 1469598103934665603ull;

	for (unsigned i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int contains(const struct pl_bits *big, const struct pl_bits *small)
{
	for (unsigned i = 0; i < PL_WORDS; i++)
		if ((big->w[i] & small->w[i]) != small->w[i])
			return 0;
	return 1;
}

void pl_state_max(struct pl_ctx *c, struct pl_state *s)
{
	const struct pl_model *pm = &c->models[s->model];

	if (s->have_max)
		return;
	memset(s->max_count, 0, sizeof(s->max_count));
	for (uint32_t li = 0; li < pm->n_layouts; li++) {
		const struct pl_layout *l = &pm->layouts[li];

		if (!contains(&l->bits, &s->used))
			continue;
		for (unsigned p = 0; p < pm->m->n_profiles; p++)
			if (l->count[p] - s->used_count[p] > s->max_count[p])
				s->max_count[p] = (uint8_t)(l->count[p] - s->used_count[p]);
	}
	s->have_max = 1;
}

#define RANKS (17u * 17u) /* d, c <= 16 (MIG_MAX_INSTANCES) */

/* The reachable layouts of s, bucketed by cost (a counting sort: stable, so enumeration order is kept
 * within a bucket). Returns how many; items is filled in cost order. */
static unsigned reachable_by_cost(const struct pl_model *pm, const struct pl_state *s, struct sort_item *items,
				  uint32_t *tmp_idx, uint16_t *tmp_rank)
{
	unsigned n_prof = pm->m->n_profiles, n = 0;
	unsigned start[RANKS + 1] = { 0 };
	struct pl_bits freeb;

	for (unsigned i = 0; i < PL_WORDS; i++)
		freeb.w[i] = s->cur.w[i] & ~s->used.w[i];
	for (uint32_t li = 0; li < pm->n_layouts; li++) {
		const struct pl_layout *l = &pm->layouts[li];
		struct pl_bits gone, fresh;
		unsigned d, cr;

		if (!contains(&l->bits, &s->used))
			continue; /* would move or destroy a used instance */
		for (unsigned i = 0; i < PL_WORDS; i++) {
			gone.w[i] = freeb.w[i] & ~l->bits.w[i];
			fresh.w[i] = l->bits.w[i] & ~s->cur.w[i];
		}
		d = popcount_bits(&gone);
		cr = popcount_bits(&fresh);
		tmp_idx[n] = li;
		tmp_rank[n] = (uint16_t)(d * 17u + cr);
		start[tmp_rank[n] + 1]++;
		n++;
	}
	for (unsigned r = 0; r < RANKS; r++)
		start[r + 1] += start[r];
	for (unsigned i = 0; i < n; i++) {
		const struct pl_layout *l = &pm->layouts[tmp_idx[i]];
		struct sort_item *it = &items[start[tmp_rank[i]]++];
		unsigned d = tmp_rank[i] / 17u, cr = tmp_rank[i] % 17u;

		memset(it, 0, sizeof(*it));
		it->opt.layout = tmp_idx[i];
		it->opt.cost = PL_COST(d, (d | cr) != 0, cr);
		for (unsigned p = 0; p < n_prof; p++)
			it->opt.cap[p] = (uint8_t)(l->count[p] - s->used_count[p]);
		it->key = fnv(it->opt.cap, n_prof);
	}
	return n;
}

/*
 * The hash table of the Pareto filter remembers each distinct offer of the current cost: a kept one by its
 * index among the kept items (which never move again, while the rest of the array is overwritten as the
 * filter compacts it), a dominated one by its index in a side array (DOMINATED set), so that its twins are
 * dropped with one probe instead of another dominance scan.
 */
#define DOMINATED 0x80000000u

struct offer_table {
	uint32_t *slot, *stamp; /* entry, and the cost bucket it was written for (0: empty) */
	unsigned mask;
	struct sort_item *dominated; /* offers found dominated, by DOMINATED-flagged index */
	unsigned n_dominated;
};

static const struct sort_item *offer_at(const struct offer_table *t, const struct sort_item *items, uint32_t e)
{
	return e & DOMINATED ? &t->dominated[e & ~DOMINATED] : &items[e];
}

/* The entry of the offer equal to items[i] at the same cost (stamp), or -1 with *slot where to add it. */
static int64_t find_offer(const struct offer_table *t, const struct sort_item *items, unsigned i, uint32_t stamp,
			  unsigned n_prof, unsigned *slot)
{
	unsigned h = (unsigned)items[i].key & t->mask;

	for (; t->stamp[h] == stamp; h = (h + 1) & t->mask) {
		const struct sort_item *o = offer_at(t, items, t->slot[h]);

		if (o->key == items[i].key && memcmp(o->opt.cap, items[i].opt.cap, n_prof) == 0)
			return t->slot[h];
	}
	*slot = h;
	return -1;
}

int pl_state_options(struct pl_ctx *c, struct pl_state *s, struct kerf_err *err)
{
	struct pl_model *pm = &c->models[s->model];
	unsigned n_prof = pm->m->n_profiles;
	size_t cap = pm->n_layouts ? pm->n_layouts : 1, need;
	unsigned tsize = 16, n, kept = 0;
	struct sort_item *items;
	struct offer_table t = {0};
	uint32_t *tmp_idx;
	uint16_t *tmp_rank;
	char *at;

	if (s->have_options)
		return 0;
	while (tsize < cap * 2)
		tsize *= 2;
	t.mask = tsize - 1;
	/* items and dominated (sort_item), then slot, stamp and tmp_idx (uint32_t), then tmp_rank (uint16_t) */
	need = 2 * cap * sizeof(struct sort_item) + (2 * (size_t)tsize + cap) * sizeof(uint32_t) + cap * sizeof(uint16_t);
	if (need > c->opt_scratch_cap) {
		free(c->opt_scratch);
		c->opt_scratch_cap = 0;
		if ((c->opt_scratch = malloc(need)) == NULL)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
		c->opt_scratch_cap = need;
	}
	at = c->opt_scratch;
	items = (struct sort_item *)(void *)at;
	t.dominated = items + cap;
	t.slot = (uint32_t *)(void *)(t.dominated + cap);
	t.stamp = t.slot + tsize;
	tmp_idx = t.stamp + tsize;
	tmp_rank = (uint16_t *)(void *)(tmp_idx + cap);
	memset(t.stamp, 0, tsize * sizeof(*t.stamp));
	n = reachable_by_cost(pm, s, items, tmp_idx, tmp_rank);
	/* Pareto filter, in place. In cost order an offer can only be beaten by one already kept. Layouts with
	 * the same offer at the same cost are interchangeable for objectives 1-3: of those, the one kept is
	 * the one that leaves the largest profile placeable (objective 4), the first enumerated on a tie. */
	for (unsigned i = 0; i < n; i++) {
		uint32_t bucket = PL_COST_D(items[i].opt.cost) * 17u + PL_COST_C(items[i].opt.cost) + 1u;
		unsigned slot = 0;
		int64_t same = find_offer(&t, items, i, bucket, n_prof, &slot);

		if (same >= 0) {
			struct sort_item *k = &items[same];
			unsigned grow;

			if ((uint32_t)same & DOMINATED)
				continue;
			grow = layout_grow(pm, items[i].opt.layout);
			if (grow > k->grow) {
				k->opt.layout = items[i].opt.layout;
				k->grow = (uint8_t)grow;
			}
			continue;
		}
		t.stamp[slot] = bucket;
		if (dominated(items, kept, &items[i].opt, n_prof)) {
			t.dominated[t.n_dominated] = items[i];
			t.slot[slot] = DOMINATED | t.n_dominated++;
			continue;
		}
		items[kept] = items[i];
		items[kept].grow = (uint8_t)layout_grow(pm, items[i].opt.layout);
		t.slot[slot] = kept;
		kept++;
	}
	qsort(items, kept, sizeof(*items), cmp_item);
	s->options = malloc((kept ? kept : 1) * sizeof(*s->options));
	if (s->options == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
	s->n_options = kept;
	for (unsigned i = 0; i < kept; i++)
		s->options[i] = items[i].opt;
	s->have_options = 1;
	return 0;
}
