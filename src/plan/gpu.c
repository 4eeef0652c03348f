/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gpu.c — one GPU: every valid layout of a model, and the layouts a GPU in a given state can reach.
 *
 * A model has few valid layouts (2,319 for the 8-slot family, 76 for A30), so they are all enumerated once
 * per model geometry per plan_run() (or per plan_cache), as sets of placements. The rules applied while
 * enumerating are those of mig_layout_check() (layout.c); every rule there is monotone — adding an instance
 * to an invalid layout never makes it valid — which is what lets the enumeration prune a branch at the
 * first broken rule. The property tests check every output layout with mig_layout_check() itself.
 *
 * A state's reachable layouts are the valid layouts that contain every used instance (used instances
 * are never moved or destroyed). Of those only the Pareto-optimal ones matter to the cluster search: a
 * layout that offers no more of any profile than another, at no lower cost in any of destroyed /
 * touched / created, can never be the better choice, and dropping it shrinks the lists tenfold.
 *
 * They depend only on the state's shape (table, current layout, used set), so they are computed once per
 * shape (struct pl_shape): GPUs of different models with one geometry share them, and a plan_cache keeps
 * them across calls, which is what makes a cluster of thousands of distinct GPU states cheap to plan
 * again. Per shape the work is kept proportional to the reachable layouts, not to the table: per-placement
 * layout bitmaps give the reachable set by ANDs, the Pareto filter's hash table is sized to it, and offers
 * (16 counts of at most 16) are compared two 64-bit words at a time (docs/planner.md, "Speed and memory").
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "internal.h"

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

	if (kerf_grow(&pm->layouts, &w->cap, (size_t)pm->n_layouts + 1, sizeof(*pm->layouts), UINT_MAX, "layouts",
		      NULL) < 0) {
		w->oom = 1;
		return;
	}
	l = &pm->layouts[pm->n_layouts++];
	l->bits = w->bits;
	memcpy(l->count, w->count, sizeof(l->count));
	l->n = (uint8_t)w->n;
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

/* pm->has: per placement id, the bitmap of the layouts that hold it. */
static int index_layouts(struct pl_model *pm)
{
	size_t nw = pm->n_words = (pm->n_layouts + 63) / 64;

	pm->has = calloc((size_t)PL_WORDS * 64 * nw + 1, sizeof(uint64_t));
	pm->ge = calloc((size_t)MIG_MAX_PROFILES * (MIG_MAX_INSTANCES + 1) * nw + 1, sizeof(uint64_t));
	if (pm->has == NULL || pm->ge == NULL)
		return -1;
	for (uint32_t li = 0; li < pm->n_layouts; li++) {
		for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
			for (unsigned v = 0; v <= pm->layouts[li].count[p] && v <= MIG_MAX_INSTANCES; v++)
				pm->ge[(p * (MIG_MAX_INSTANCES + 1) + v) * nw + li / 64] |= 1ull << (li % 64);
		for (unsigned i = 0; i < PL_WORDS; i++)
			for (uint64_t b = pm->layouts[li].bits.w[i]; b != 0; b &= b - 1) {
				unsigned id = i * 64 + (unsigned)__builtin_ctzll(b);

				pm->has[(size_t)id * nw + li / 64] |= 1ull << (li % 64);
			}
	}
	return 0;
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
	if (w->oom || index_layouts(pm) != 0) {
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
	free(pm->has);
	free(pm->ge);
	pm->layouts = NULL;
	pm->has = NULL;
	pm->ge = NULL;
	pm->n_layouts = 0;
}

struct sort_item {
	struct pl_option opt;
	uint64_t key;   /* a hash of cap, to find equal offers */
	uint64_t slack; /* cost_slack() of opt.cost */
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

/* A cap vector as two words (MIG_MAX_PROFILES bytes; those past the model's profiles are 0). Counts are at
 * most MIG_MAX_INSTANCES, so byte-wise arithmetic on the words never carries from one byte to the next. */
struct capw {
	uint64_t w[2];
};
_Static_assert(MIG_MAX_PROFILES == 2 * sizeof(uint64_t) && MIG_MAX_INSTANCES < 128, "cap vectors are two words");

static struct capw cap_words(const uint8_t *cap)
{
	struct capw x;

	memcpy(x.w, cap, sizeof(x.w));
	return x;
}

#define HIGH_BITS 0x8080808080808080ull

/* "Every byte of a >= the same byte of b" is ((a | HIGH_BITS) - b) & HIGH_BITS == HIGH_BITS: with bytes
 * below 128, a + 128 - b keeps its high bit exactly when a >= b, and never borrows from the next byte. */

/* A cost as bytes that grow as it shrinks (d, c <= MIG_MAX_INSTANCES), so that dominance is one test. */
static uint64_t cost_slack(unsigned d, unsigned t, unsigned c)
{
	return (uint64_t)(MIG_MAX_INSTANCES - d) | (uint64_t)(MIG_MAX_INSTANCES - c) << 8 | (uint64_t)(1 - t) << 16;
}

/* Whether an offer already kept dominates it: offers at least as much of every profile at no higher
 * destroyed, touched or created count (the cost is in slack, so "no higher" is "covers" too). */
static int dominated(const struct sort_item *kept, unsigned n_kept, const struct sort_item *o)
{
	struct capw oc = cap_words(o->opt.cap);

	for (unsigned k = 0; k < n_kept; k++) {
		struct capw qc = cap_words(kept[k].opt.cap);
		uint64_t all = ((qc.w[0] | HIGH_BITS) - oc.w[0]) & ((qc.w[1] | HIGH_BITS) - oc.w[1]) &
			       ((kept[k].slack | HIGH_BITS) - o->slack);

		if ((all & HIGH_BITS) == HIGH_BITS)
			return 1;
	}
	return 0;
}

/* A hash of a cap vector, to find equal offers. */
static uint64_t cap_hash(struct capw c)
{
	uint64_t h = (c.w[0] ^ (c.w[1] * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;

	return h ^ (h >> 31);
}

/* ---- shapes: a state's work, shared by every state of the same (table, cur, used) ------------------ */

static uint64_t shape_hash(const struct pl_layout *table, const struct pl_bits *cur, const struct pl_bits *used)
{
	uint64_t h = KERF_FNV_OFFSET ^ (uint64_t)(uintptr_t)table;

	for (unsigned i = 0; i < PL_WORDS; i++)
		h = kerf_hash_word(kerf_hash_word(h, cur->w[i]), used->w[i]);
	return h;
}

struct shape_key {
	const struct pl_layout *table;
	const struct pl_bits *cur, *used;
};

static int shape_eq(const void *item, const void *key)
{
	const struct pl_shape *e = item;
	const struct shape_key *k = key;

	return e->table == k->table && memcmp(&e->cur, k->cur, sizeof(e->cur)) == 0 &&
	       memcmp(&e->used, k->used, sizeof(e->used)) == 0;
}

static void shape_free(struct pl_shape *e)
{
	free(e->options);
	free(e);
}

void pl_shapes_free(struct pl_shapes *t)
{
	struct kerf_dict_iter it;
	struct pl_shape *e;

	kerf_dict_iter_init(&t->d, &it);
	while ((e = kerf_dict_next(&t->d, &it)) != NULL)
		shape_free(e);
	kerf_dict_free(&t->d);
	memset(t, 0, sizeof(*t));
}

void pl_shapes_trim(struct pl_shapes *t, uint32_t keep_since, size_t max_bytes)
{
	struct kerf_dict_iter it;
	struct pl_shape *e;

	if (t->bytes <= max_bytes)
		return;
	kerf_dict_iter_init(&t->d, &it);
	while ((e = kerf_dict_next(&t->d, &it)) != NULL) {
		if (e->seen >= keep_since)
			continue;
		kerf_dict_remove_current(&t->d, &it);
		t->bytes -= e->bytes;
		shape_free(e);
	}
}

/* s's shape, found or added (its work not done yet). NULL on ENOMEM. */
static struct pl_shape *shape_of(struct pl_ctx *c, struct pl_state *s)
{
	struct pl_shapes *t = c->shapes;
	const struct shape_key key = { c->models[s->model].layouts, &s->cur, &s->used };
	struct pl_shape *e;
	uint64_t hash;

	if (s->shape != NULL)
		return s->shape;
	hash = shape_hash(key.table, &s->cur, &s->used);
	if ((e = kerf_dict_find(&t->d, hash, &key, shape_eq)) == NULL) {
		if (t->d.max == 0) /* zeroed: first use */
			kerf_dict_init(&t->d, UINT_MAX, "GPU shapes");
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return NULL;
		if (kerf_dict_add(&t->d, hash, e, NULL) != 0) {
			free(e);
			return NULL;
		}
		e->table = key.table;
		e->cur = s->cur;
		e->used = s->used;
		e->bytes = sizeof(*e);
		t->bytes += e->bytes;
	}
	e->seen = t->call;
	s->shape = e;
	return e;
}

/* ---- reachable layouts ------------------------------------------------------------------------------- */

/* The placement ids set in b, in order; a valid layout has at most MIG_MAX_INSTANCES. */
static unsigned bits_ids(const struct pl_bits *b, unsigned ids[MIG_MAX_INSTANCES])
{
	unsigned n = 0;

	for (unsigned i = 0; i < PL_WORDS; i++)
		for (uint64_t x = b->w[i]; x != 0 && n < MIG_MAX_INSTANCES; x &= x - 1)
			ids[n++] = i * 64 + (unsigned)__builtin_ctzll(x);
	return n;
}

/* Word w of the set of layouts that hold every one of the n_used placements used_ids. */
static uint64_t reach_word(const struct pl_model *pm, const unsigned *used_ids, unsigned n_used, unsigned w)
{
	uint64_t x = w + 1 < pm->n_words || pm->n_layouts % 64 == 0 ? ~0ull : (1ull << (pm->n_layouts % 64)) - 1;

	for (unsigned k = 0; k < n_used; k++)
		x &= pm->has[(size_t)used_ids[k] * pm->n_words + w];
	return x;
}

void pl_state_max(struct pl_ctx *c, struct pl_state *s)
{
	const struct pl_model *pm = &c->models[s->model];
	struct pl_shape *sh;
	unsigned used_ids[MIG_MAX_INSTANCES], n_used;
	uint8_t top[MIG_MAX_PROFILES];

	if (s->have_max)
		return;
	sh = shape_of(c, s); /* NULL (out of memory): computed for s alone */
	if (sh != NULL && sh->have_max) {
		memcpy(s->max_count, sh->max_count, sizeof(s->max_count));
		s->have_max = 1;
		return;
	}
	/* top[p]: the most instances of p some reachable layout seen so far holds (every one holds the used) */
	memcpy(top, s->used_count, sizeof(top));
	n_used = bits_ids(&s->used, used_ids);
	for (unsigned w = 0; w < pm->n_words; w++) {
		uint64_t r = reach_word(pm, used_ids, n_used, w);

		for (unsigned p = 0; p < pm->m->n_profiles && r != 0; p++)
			while (top[p] < MIG_MAX_INSTANCES &&
			       (r & pm->ge[(p * (MIG_MAX_INSTANCES + 1) + top[p] + 1u) * pm->n_words + w]) != 0)
				top[p]++;
	}
	for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
		s->max_count[p] = (uint8_t)(top[p] - s->used_count[p]);
	s->have_max = 1;
	if (sh != NULL) {
		memcpy(sh->max_count, s->max_count, sizeof(sh->max_count));
		sh->have_max = 1;
	}
}

#define RANKS (17u * 17u) /* d, c <= 16 (MIG_MAX_INSTANCES) */

/* The reachable layouts of s, bucketed by cost (a counting sort: stable, so enumeration order is kept
 * within a bucket). Returns how many; items is filled in cost order. A reachable layout holds every used
 * instance, so of the current ones it keeps the used ones and some of the free ones: counting those
 * (a handful of bit tests) gives both the free instances it destroys and the instances it creates. */
static unsigned reachable_by_cost(const struct pl_model *pm, const struct pl_state *s, struct sort_item *items,
				  uint32_t *tmp_idx, uint16_t *tmp_rank)
{
	unsigned used_ids[MIG_MAX_INSTANCES], free_ids[MIG_MAX_INSTANCES], n_used, n_free, n = 0;
	unsigned start[RANKS + 1] = { 0 };
	struct capw used = cap_words(s->used_count);
	struct pl_bits freeb;

	for (unsigned i = 0; i < PL_WORDS; i++)
		freeb.w[i] = s->cur.w[i] & ~s->used.w[i];
	n_used = bits_ids(&s->used, used_ids);
	n_free = bits_ids(&freeb, free_ids);
	for (unsigned w = 0; w < pm->n_words; w++)
		for (uint64_t b = reach_word(pm, used_ids, n_used, w); b != 0; b &= b - 1) {
			uint32_t li = w * 64 + (unsigned)__builtin_ctzll(b);
			const struct pl_layout *l = &pm->layouts[li];
			unsigned kept = 0, d, cr;

			for (unsigned k = 0; k < n_free; k++)
				kept += (unsigned)pl_bits_has(&l->bits, free_ids[k]);
			d = n_free - kept;
			cr = l->n - n_used - kept;
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
		struct capw cnt = cap_words(l->count), cap;
		unsigned d = tmp_rank[i] / 17u, cr = tmp_rank[i] % 17u;

		it->opt.layout = tmp_idx[i];
		it->opt.cost = PL_COST(d, (d | cr) != 0, cr);
		it->slack = cost_slack(d, (d | cr) != 0, cr);
		/* count >= used_count byte by byte (l holds every used instance): no borrows */
		cap.w[0] = cnt.w[0] - used.w[0];
		cap.w[1] = cnt.w[1] - used.w[1];
		memcpy(it->opt.cap, cap.w, sizeof(cap.w));
		it->key = cap_hash(cap);
		it->grow = 0;
	}
	return n;
}

/*
 * The hash table of the Pareto filter remembers each distinct offer of the current cost: a kept one by its
 * index among the kept items (which never move again, while the rest of the array is overwritten as the
 * filter compacts it), a dominated one by its index in a side array (DOMINATED set), so that its twins are
 * dropped with one probe instead of another dominance scan.
 *
 * It is the one table kerf keeps outside dict.h, on purpose: it is scratch, rebuilt for every shape (some
 * thousands per plan) in the per-context buffer, with 4-byte entries and a stamp per slot, so that each
 * cost bucket starts empty for free and a shape clears it with one small memset. Written as a kerf_dict
 * (key: offer and cost bucket) the same plans took 6.7% more instructions on the diverse
 * benchmark when the dict grew per shape (callgrind: 2.71 G against 2.54 G; allocation and growth), and
 * 11% more when its slots lay in this buffer instead (16-byte slots: four times the memset).
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
			  unsigned *slot)
{
	unsigned h = (unsigned)items[i].key & t->mask;

	for (; t->stamp[h] == stamp; h = (h + 1) & t->mask) {
		const struct sort_item *o = offer_at(t, items, t->slot[h]);

		if (o->key == items[i].key && memcmp(o->opt.cap, items[i].opt.cap, sizeof(o->opt.cap)) == 0)
			return t->slot[h];
	}
	*slot = h;
	return -1;
}

static int shape_options(struct pl_ctx *c, const struct pl_state *s, struct pl_shape *sh, struct kerf_err *err)
{
	struct pl_model *pm = &c->models[s->model];
	size_t cap = pm->n_layouts ? pm->n_layouts : 1, need;
	unsigned tcap = 16, tsize = 16, n, kept = 0;
	struct sort_item *items;
	struct offer_table t = {0};
	uint32_t *tmp_idx;
	uint16_t *tmp_rank;
	char *at;

	while (tcap < cap * 2)
		tcap *= 2;
	/* items and dominated (sort_item), then slot, stamp and tmp_idx (uint32_t), then tmp_rank (uint16_t) */
	need = 2 * cap * sizeof(struct sort_item) + (2 * (size_t)tcap + cap) * sizeof(uint32_t) + cap * sizeof(uint16_t);
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
	t.stamp = t.slot + tcap;
	tmp_idx = t.stamp + tcap;
	tmp_rank = (uint16_t *)(void *)(tmp_idx + cap);
	n = reachable_by_cost(pm, s, items, tmp_idx, tmp_rank);
	/* The table holds at most the n reachable offers: sized to them, clearing it costs what they do. */
	while (tsize < (size_t)n * 2)
		tsize *= 2;
	t.mask = tsize - 1;
	memset(t.stamp, 0, tsize * sizeof(*t.stamp));
	/* Pareto filter, in place. In cost order an offer can only be beaten by one already kept. Layouts with
	 * the same offer at the same cost are interchangeable for objectives 1-3: of those, the one kept is
	 * the one that leaves the largest profile placeable (objective 4), the first enumerated on a tie. */
	for (unsigned i = 0; i < n; i++) {
		uint32_t bucket = PL_COST_D(items[i].opt.cost) * 17u + PL_COST_C(items[i].opt.cost) + 1u;
		unsigned slot = 0;
		int64_t same = find_offer(&t, items, i, bucket, &slot);

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
		if (dominated(items, kept, &items[i])) {
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
	sh->options = malloc((kept ? kept : 1) * sizeof(*sh->options));
	if (sh->options == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
	sh->n_options = kept;
	for (unsigned i = 0; i < kept; i++)
		sh->options[i] = items[i].opt;
	sh->have_options = 1;
	sh->bytes += kept * sizeof(*sh->options);
	c->shapes->bytes += kept * sizeof(*sh->options);
	return 0;
}

int pl_state_options(struct pl_ctx *c, struct pl_state *s, struct kerf_err *err)
{
	struct pl_shape *sh;

	if (s->have_options)
		return 0;
	if ((sh = shape_of(c, s)) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory listing reachable layouts");
	if (!sh->have_options && shape_options(c, s, sh, err) != 0)
		return -1;
	s->options = sh->options;
	s->n_options = sh->n_options;
	s->have_options = 1;
	return 0;
}
