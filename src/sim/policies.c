/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policies.c — the baselines kerf is measured against: static layouts, first-fit at allocation time,
 * nos-like greedy geometries, and the drain-and-repack upper bound.
 *
 * Each is written from a description of the system it stands for (docs/simulator.md), not from its code,
 * and is given every advantage that description allows: the same scheduler, the same reconfiguration
 * time, and (for nos) the same debounce window as kerf.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"

/* ---- names --------------------------------------------------------------------------------------------- */

int sim_policy_parse(const char *text, struct sim_policy *p, struct kerf_err *err)
{
	static const struct {
		const char *name;
		enum sim_policy_kind kind;
	} simple[] = {
		{ "kerf", SIM_POLICY_KERF },
		{ "nos", SIM_POLICY_NOS },
		{ "first-fit", SIM_POLICY_FIRST_FIT },
		{ "repack", SIM_POLICY_REPACK },
	};

	memset(p, 0, sizeof(*p));
	if (strlen(text) >= sizeof(p->name))
		return kerf_err_set(err, KERF_EINVAL, "policy: \"%.40s...\" is too long", text);
	snprintf(p->name, sizeof(p->name), "%s", text);
	for (unsigned i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcmp(text, simple[i].name) == 0) {
			p->kind = simple[i].kind;
			return 0;
		}
	if (strncmp(text, "static:", 7) == 0 && text[7] != '\0') {
		p->kind = SIM_POLICY_STATIC;
		snprintf(p->layout, sizeof(p->layout), "%s", text + 7);
		return 0;
	}
	return kerf_err_set(err, KERF_EINVAL,
			    "policy: \"%s\" is not one of kerf, nos, first-fit, repack, static:LAYOUT (e.g. static:all-balanced)",
			    text);
}

unsigned sim_policy_compare_set(struct sim_policy *out, unsigned max)
{
	static const char *const names[] = { "kerf",	  "nos",	  "first-fit",		 "static:all-1g",
					     "static:all-balanced", "static:all-7g", "repack" };
	unsigned n = 0;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]) && n < max; i++)
		if (sim_policy_parse(names[i], &out[n], NULL) == 0)
			n++;
	return n;
}

/* ---- static layouts ------------------------------------------------------------------------------------ */

static int plain_by_compute(const struct mig_model *m, unsigned compute)
{
	int best = -1;

	for (unsigned i = 0; i < m->n_profiles; i++)
		if (m->profiles[i].flags == 0 && m->profiles[i].compute_slices == compute &&
		    (best < 0 || m->profiles[i].memory_slices < m->profiles[best].memory_slices))
			best = (int)i;
	return best;
}

/* Adds an instance of profile at its highest legal start that keeps the layout valid: the driver's own
 * choice when no placement is given (facts §1.6: it fills from high slots). */
static bool add_high(const struct mig_model *m, struct mig_layout *l, unsigned profile)
{
	const struct mig_profile *p = &m->profiles[profile];

	if (l->n >= MIG_MAX_INSTANCES)
		return false;
	for (unsigned k = p->n_starts; k-- > 0;) {
		l->inst[l->n] = (struct mig_instance){ .profile = (uint8_t)profile, .start = p->starts[k] };
		l->n++;
		if (mig_layout_check(m, l, NULL) == 0)
			return true;
		l->n--;
	}
	return false;
}

int sim_static_layout(const struct mig_model *m, const char *name, struct mig_layout *l, struct kerf_err *err)
{
	unsigned sizes[4], n = 0;
	bool repeat = false;

	l->n = 0;
	if (strcmp(name, "all-balanced") == 0) {
		if (m->slots == 8) {
			sizes[n++] = 3;
			sizes[n++] = 2;
		} else {
			sizes[n++] = 2;
		}
		sizes[n++] = 1;
		sizes[n++] = 1;
	} else if (strncmp(name, "all-", 4) == 0 && name[4] >= '1' && name[4] <= '9' && strcmp(name + 5, "g") == 0) {
		sizes[n++] = (unsigned)(name[4] - '0');
		repeat = true;
	} else {
		if (mig_layout_parse(m, name, l, err) != 0 || mig_layout_check(m, l, err) != 0)
			return kerf_err_prefix(err, "static layout \"%s\" on %s", name, m->name);
		mig_layout_sort(l);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		int p = plain_by_compute(m, sizes[i]);

		if (p < 0)
			return kerf_err_set(err, KERF_EINVAL, "static layout \"%s\": %s has no plain %ug profile", name, m->name,
					    sizes[i]);
		if (!add_high(m, l, (unsigned)p))
			return kerf_err_set(err, KERF_EINVAL, "static layout \"%s\": %s does not fit on %s", name,
					    m->profiles[p].name, m->name);
		while (repeat && add_high(m, l, (unsigned)p))
			;
	}
	mig_layout_sort(l);
	return 0;
}

static int static_init(struct sim *s, struct kerf_err *err)
{
	for (unsigned g = 0; g < s->n_gpus; g++) {
		struct sim_gpu *gpu = &s->gpus[g];

		if (g > 0 && gpu->model == s->gpus[g - 1].model) {
			gpu->layout = s->gpus[g - 1].layout;
		} else if (sim_static_layout(gpu->model, s->policy.layout, &gpu->layout, err) != 0) {
			return kerf_err_prefix(err, "policy %s", s->policy.name);
		}
		/* The layout is there before the first pod: it is neither created during the run nor waited for. */
		for (unsigned i = 0; i < gpu->layout.n; i++) {
			gpu->pod[i] = SIM_NO_POD;
			gpu->ready_at[i] = 0;
		}
	}
	return 0;
}

const struct sim_policy_ops sim_ops_static = { .init = static_init };

/* ---- first-fit at allocation time ---------------------------------------------------------------------- */

/* The first legal free placement, GPUs in order, starts ascending: a new instance for pod p, or -1. */
static int first_fit_create(struct sim *s, unsigned p, unsigned *gpu_out)
{
	for (unsigned g = 0; g < s->n_gpus; g++) {
		int prof = sim_prof(s, g, s->pods[p].cls);
		const struct mig_profile *pr;

		if (prof < 0)
			continue;
		pr = &s->gpus[g].model->profiles[prof];
		for (unsigned k = 0; k < pr->n_starts; k++) {
			int inst = sim_create(s, g, (unsigned)prof, pr->starts[k]);

			if (inst >= 0) {
				*gpu_out = g;
				return inst;
			}
		}
	}
	return -1;
}

static int first_fit_step(struct sim *s, struct kerf_err *err)
{
	bool failed[SIM_MAX_CLASSES] = { false };

	for (unsigned w = 0; w < s->n_waiting; w++) {
		unsigned p = s->waiting[w], g = 0;
		int inst;

		if (s->pods[p].state != POD_WAITING)
			continue;
		/* Instances only appear in this loop, so a class that found no room finds none later in it. */
		if (failed[s->pods[p].cls])
			continue;
		inst = first_fit_create(s, p, &g);
		if (inst < 0) {
			failed[s->pods[p].cls] = true;
			continue;
		}
		if (sim_bind(s, p, g, (unsigned)inst, err) != 0)
			return -1;
	}
	return 0;
}

/* The instance lives as long as its pod: released with it, as a DRA claim's device is. */
static int first_fit_depart(struct sim *s, unsigned g, unsigned inst, struct kerf_err *err)
{
	return sim_destroy(s, g, inst, err);
}

const struct sim_policy_ops sim_ops_first_fit = { .step = first_fit_step, .depart = first_fit_depart };

/* ---- nos-like greedy ----------------------------------------------------------------------------------- */

struct geometry {
	uint8_t count[MIG_MAX_PROFILES];
};

struct nos_model {
	const struct mig_model *model;
	unsigned n;
	size_t cap;
	struct geometry *g;
};

struct nos_state {
	unsigned n;
	struct nos_model models[SIM_MAX_GROUPS];
};

static bool geom_covers(const struct geometry *a, const struct geometry *b, unsigned np)
{
	for (unsigned p = 0; p < np; p++)
		if (a->count[p] < b->count[p])
			return false;
	return true;
}

static int geom_add(struct nos_model *nm, const struct geometry *g)
{
	for (unsigned i = 0; i < nm->n; i++)
		if (memcmp(&nm->g[i], g, sizeof(*g)) == 0)
			return 0;
	if (kerf_grow(&nm->g, &nm->cap, (size_t)nm->n + 1, sizeof(*nm->g), UINT_MAX, "geometries", NULL) < 0)
		return -1;
	nm->g[nm->n++] = *g;
	return 0;
}

/* Every valid layout of plain profiles, visited once each (instances in (profile, start) order), recording
 * the multiset of profiles it holds. */
static int enumerate(struct nos_model *nm, struct mig_layout *l, unsigned from_p, unsigned from_k)
{
	const struct mig_model *m = nm->model;
	struct geometry g = { { 0 } };

	for (unsigned i = 0; i < l->n; i++)
		g.count[l->inst[i].profile]++;
	if (l->n > 0 && geom_add(nm, &g) != 0)
		return -1;
	if (l->n == m->max_instances)
		return 0;
	for (unsigned p = from_p; p < m->n_profiles; p++) {
		if (m->profiles[p].flags != 0)
			continue;
		for (unsigned k = p == from_p ? from_k : 0; k < m->profiles[p].n_starts; k++) {
			l->inst[l->n] = (struct mig_instance){ .profile = (uint8_t)p, .start = m->profiles[p].starts[k] };
			l->n++;
			if (mig_layout_check(m, l, NULL) == 0 && enumerate(nm, l, p, k + 1) != 0)
				return -1;
			l->n--;
		}
	}
	return 0;
}

/* nos keeps a fixed list of the geometries a model allows; we derive it as the maximal multisets of plain
 * profiles (no valid multiset strictly contains them), so a geometry never leaves slices it could cut. */
static int nos_geometries(struct nos_model *nm)
{
	struct mig_layout l = { 0 };
	unsigned k = 0;

	if (enumerate(nm, &l, 0, 0) != 0)
		return -1;
	for (unsigned i = 0; i < nm->n; i++) {
		bool maximal = true;

		for (unsigned j = 0; j < nm->n && maximal; j++)
			if (j != i && geom_covers(&nm->g[j], &nm->g[i], nm->model->n_profiles))
				maximal = false;
		if (maximal)
			nm->g[k++] = nm->g[i];
	}
	nm->n = k;
	return 0;
}

static int nos_init(struct sim *s, struct kerf_err *err)
{
	struct nos_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the nos policy");
	s->pstate = st;
	for (unsigned k = 0; k < s->cluster->n_groups; k++) {
		const struct mig_model *m = s->cluster->groups[k].model;
		bool seen = false;

		for (unsigned i = 0; i < st->n; i++)
			seen |= st->models[i].model == m;
		if (seen)
			continue;
		st->models[st->n].model = m;
		if (nos_geometries(&st->models[st->n++]) != 0)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory listing geometries of %s", m->name);
	}
	return 0;
}

static void nos_fini(struct sim *s)
{
	struct nos_state *st = s->pstate;

	if (st == NULL)
		return;
	for (unsigned i = 0; i < st->n; i++)
		free(st->models[i].g);
	free(st);
	s->pstate = NULL;
}

static int nos_step(struct sim *s, struct kerf_err *err)
{
	(void)err;
	if (sim_waiting(s) > 0)
		sim_arm_timer(s);
	return 0;
}

static const struct nos_model *nos_model_of(const struct nos_state *st, const struct mig_model *m)
{
	for (unsigned i = 0; i < st->n; i++)
		if (st->models[i].model == m)
			return &st->models[i];
	return NULL;
}

/* How many of the lacking pods, by class, a multiset of free instances would serve. */
static unsigned coverage(const struct sim *s, unsigned g, const unsigned *lack, const uint8_t *free_count)
{
	unsigned cov = 0;

	for (unsigned c = 0; c < s->n_classes; c++) {
		int p = sim_prof(s, g, c);

		if (p >= 0)
			cov += lack[c] < free_count[p] ? lack[c] : free_count[p];
	}
	return cov;
}

/* Turns GPU g's free instances into `want` (a multiset): keeps those it can, destroys the rest, then creates
 * what is missing, largest first, where the driver would put it. A creation that finds no room (the
 * geometry was chosen without placements) is counted and skipped. */
static int nos_apply(struct sim *s, unsigned g, const uint8_t *want, struct kerf_err *err)
{
	struct sim_gpu *gpu = &s->gpus[g];
	const struct mig_model *m = gpu->model;
	uint8_t keep[MIG_MAX_PROFILES];

	memcpy(keep, want, sizeof(keep));
	for (unsigned i = gpu->layout.n; i-- > 0;) {
		unsigned p = gpu->layout.inst[i].profile;

		if (gpu->pod[i] != SIM_NO_POD)
			continue;
		if (keep[p] > 0)
			keep[p]--;
		else if (sim_destroy(s, g, i, err) != 0)
			return -1;
	}
	for (unsigned p = m->n_profiles; p-- > 0;)
		for (; keep[p] > 0; keep[p]--) {
			bool made = false;

			for (unsigned k = m->profiles[p].n_starts; k-- > 0 && !made;)
				made = sim_create(s, g, p, m->profiles[p].starts[k]) >= 0;
			if (!made)
				s->res->failed_creates++;
		}
	return 0;
}

static int nos_batch(struct sim *s, struct kerf_err *err)
{
	const struct nos_state *st = s->pstate;
	unsigned lack[SIM_MAX_CLASSES];
	bool any = false;

	memcpy(lack, s->waiting_of, sizeof(lack));
	/* The scheduler has bound what fits; what still waits lacks an instance. */
	for (unsigned c = 0; c < s->n_classes; c++)
		any |= lack[c] > 0;
	/* Per node in name order (GPUs are numbered node by node), per GPU. */
	for (unsigned g = 0; g < s->n_gpus && any; g++) {
		const struct sim_gpu *gpu = &s->gpus[g];
		const struct nos_model *nm = nos_model_of(st, gpu->model);
		struct geometry used = { { 0 } }, cur = { { 0 } };
		unsigned best = 0, best_cov, ties = 0;
		const uint8_t *pick = NULL;
		uint8_t free_of[MIG_MAX_PROFILES];

		for (unsigned i = 0; i < gpu->layout.n; i++) {
			if (gpu->pod[i] != SIM_NO_POD)
				used.count[gpu->layout.inst[i].profile]++;
			else
				cur.count[gpu->layout.inst[i].profile]++;
		}
		best_cov = coverage(s, g, lack, cur.count);
		for (unsigned i = 0; i < nm->n; i++) {
			struct geometry f;
			unsigned cov;

			if (!geom_covers(&nm->g[i], &used, gpu->model->n_profiles))
				continue;
			for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
				f.count[p] = (uint8_t)(nm->g[i].count[p] - used.count[p]);
			cov = coverage(s, g, lack, f.count);
			if (cov > best_cov) {
				best_cov = cov;
				best = i;
				ties = 1;
			} else if (cov == best_cov && ties > 0 && sim_rng_below(&s->rng, ++ties) == 0) {
				best = i; /* ties at random, each equally likely (reservoir sampling) */
			}
		}
		if (ties == 0)
			continue;
		for (unsigned p = 0; p < MIG_MAX_PROFILES; p++)
			free_of[p] = (uint8_t)(nm->g[best].count[p] - used.count[p]);
		pick = free_of;
		/* The GPU's present free instances were already counted against `lack`; what it offers now is the
		 * new multiset, so the lack falls by the difference. */
		any = false;
		for (unsigned c = 0; c < s->n_classes; c++) {
			int p = sim_prof(s, g, c);

			if (p >= 0) {
				unsigned gain = pick[p] > cur.count[p] ? pick[p] - cur.count[p] : 0;

				lack[c] = lack[c] > gain ? lack[c] - gain : 0;
			}
			any |= lack[c] > 0;
		}
		if (nos_apply(s, g, pick, err) != 0)
			return -1;
	}
	return 0;
}

const struct sim_policy_ops sim_ops_nos = {
	.init = nos_init, .step = nos_step, .batch = nos_batch, .fini = nos_fini, .batching = true,
};

/* ---- the drain-and-repack upper bound ------------------------------------------------------------------ */

/* The cheapest re-cut of GPU g's free slices that fits profile prof: the free instances it must destroy
 * (overlapping ones, or all free ones if the compute or instance budget needs it). Returns the count, or
 * -1 if even a GPU holding only its used instances has no room. */
static int recut_cost(const struct sim *s, unsigned g, unsigned prof, unsigned *start, bool *all)
{
	const struct sim_gpu *gpu = &s->gpus[g];
	const struct mig_profile *pr = &gpu->model->profiles[prof];
	mig_mask used = sim_used_mask(s, g);
	int best = -1;

	for (unsigned k = 0; k < pr->n_starts; k++) {
		mig_mask want = mig_profile_mask(pr, pr->starts[k]);
		struct mig_layout keep = { 0 }, only_used = { 0 };
		int cost = 0, nfree = 0;

		if (want & used)
			continue;
		for (unsigned i = 0; i < gpu->layout.n; i++) {
			const struct mig_instance *in = &gpu->layout.inst[i];
			bool overlaps = mig_profile_mask(&gpu->model->profiles[in->profile], in->start) & want;

			if (gpu->pod[i] != SIM_NO_POD)
				only_used.inst[only_used.n++] = *in;
			else
				nfree++;
			if (gpu->pod[i] != SIM_NO_POD || !overlaps)
				keep.inst[keep.n++] = *in;
			else
				cost++;
		}
		keep.inst[keep.n++] = (struct mig_instance){ .profile = (uint8_t)prof, .start = pr->starts[k] };
		only_used.inst[only_used.n++] = keep.inst[keep.n - 1];
		if (mig_layout_check(gpu->model, &keep, NULL) != 0) {
			if (mig_layout_check(gpu->model, &only_used, NULL) != 0)
				continue;
			cost = nfree;
		}
		if (best < 0 || cost < best) {
			best = cost;
			*start = pr->starts[k];
			*all = cost == nfree && cost > 0;
		}
	}
	return best;
}

static int recut_place(struct sim *s, unsigned p, unsigned g, unsigned prof, unsigned start, struct kerf_err *err)
{
	struct sim_gpu *gpu = &s->gpus[g];
	mig_mask want = mig_profile_mask(&gpu->model->profiles[prof], start);
	int inst;

	for (unsigned i = gpu->layout.n; i-- > 0;) {
		const struct mig_instance *in = &gpu->layout.inst[i];

		if (gpu->pod[i] == SIM_NO_POD && (mig_profile_mask(&gpu->model->profiles[in->profile], in->start) & want) &&
		    sim_destroy(s, g, i, err) != 0)
			return -1;
	}
	inst = sim_create(s, g, prof, start);
	for (unsigned i = gpu->layout.n; inst < 0 && i-- > 0;)
		if (gpu->pod[i] == SIM_NO_POD) {
			if (sim_destroy(s, g, i, err) != 0)
				return -1;
			inst = sim_create(s, g, prof, start);
		}
	if (inst < 0)
		return kerf_err_set(err, KERF_EINTERNAL, "repack: gpus[%u] has no room it said it had", g);
	return sim_bind(s, p, g, (unsigned)inst, err);
}

/* Phase 1: place waiting pods by re-cutting free slices only, on the GPU where that destroys the least. */
static int repack_recut(struct sim *s, struct kerf_err *err)
{
	bool failed[SIM_MAX_CLASSES] = { false };

	for (unsigned w = 0; w < s->n_waiting; w++) {
		unsigned p = s->waiting[w], cls = s->pods[p].cls, best_g = 0, best_start = 0;
		int best = -1;

		if (s->pods[p].state != POD_WAITING || failed[cls])
			continue;
		for (unsigned g = 0; g < s->n_gpus && best != 0; g++) {
			int prof = sim_prof(s, g, cls), cost;
			unsigned start;
			bool all;

			if (prof < 0)
				continue;
			cost = recut_cost(s, g, (unsigned)prof, &start, &all);
			if (cost >= 0 && (best < 0 || cost < best)) {
				best = cost;
				best_g = g;
				best_start = start;
			}
		}
		if (best < 0) {
			failed[cls] = true;
			continue;
		}
		if (recut_place(s, p, best_g, (unsigned)sim_prof(s, best_g, cls), best_start, err) != 0)
			return -1;
	}
	return 0;
}

struct item {
	unsigned pod;
	bool running;
};

struct order {
	const struct sim *s;
	bool running_first; /* the second ordering tried: running pods first, where a repack keeps them */
};

static int cmp_item(const void *a, const void *b, void *ctx)
{
	const struct order *o = ctx;
	const struct sim *sort_sim = o->s;
	const struct item *x = a, *y = b;
	const struct sim_pod *px = &sort_sim->pods[x->pod], *py = &sort_sim->pods[y->pod];
	const struct sim_class *cx = &sort_sim->classes[px->cls], *cy = &sort_sim->classes[py->cls];

	if (o->running_first && x->running != y->running)
		return x->running ? -1 : 1;
	/* First-fit decreasing, higher priority first; at equal size a running pod goes first, so that a tie
	 * never costs a pod that was already placed. */
	if (px->priority != py->priority)
		return px->priority > py->priority ? -1 : 1;
	if (cx->memory_slices != cy->memory_slices)
		return cx->memory_slices > cy->memory_slices ? -1 : 1;
	if (cx->compute_slices != cy->compute_slices)
		return cx->compute_slices > cy->compute_slices ? -1 : 1;
	if (x->running != y->running)
		return x->running ? -1 : 1;
	return x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* First-fit decreasing of items onto empty GPUs. Fills where[i] = (gpu, start) or gpu = -1. */
static void ffd(const struct sim *s, const struct item *items, unsigned n, struct mig_layout *lay, int *wgpu,
		uint8_t *wstart)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned cls = s->pods[items[i].pod].cls;

		wgpu[i] = -1;
		for (unsigned g = 0; g < s->n_gpus && wgpu[i] < 0; g++) {
			int prof = sim_prof(s, g, cls);
			const struct mig_profile *pr;
			mig_mask occ;

			if (prof < 0)
				continue;
			pr = &s->gpus[g].model->profiles[prof];
			occ = mig_layout_occupied(s->gpus[g].model, &lay[g]);
			if ((unsigned)__builtin_popcount(occ) + pr->memory_slices > s->gpus[g].model->slots)
				continue;
			for (unsigned k = 0; k < pr->n_starts && wgpu[i] < 0; k++) {
				if (occ & mig_profile_mask(pr, pr->starts[k]))
					continue;
				lay[g].inst[lay[g].n++] = (struct mig_instance){ .profile = (uint8_t)prof, .start = pr->starts[k],
										.used = true };
				if (mig_layout_check(s->gpus[g].model, &lay[g], NULL) == 0) {
					wgpu[i] = (int)g;
					wstart[i] = pr->starts[k];
				} else {
					lay[g].n--;
				}
			}
		}
	}
}

/* Moves every pod to its repacked place: each GPU gets exactly the instances its pods need. */
static int repack_adopt(struct sim *s, const struct item *items, unsigned n, const int *wgpu, const uint8_t *wstart,
			struct kerf_err *err)
{
	/* Free instances go first: the repack re-cuts everything that no pod holds. */
	for (unsigned g = 0; g < s->n_gpus; g++) {
		struct sim_gpu *gpu = &s->gpus[g];

		for (unsigned k = gpu->layout.n; k-- > 0;)
			if (gpu->pod[k] == SIM_NO_POD && sim_destroy(s, g, k, err) != 0)
				return -1;
	}
	/* Pods in place stay; moved pods go to a fresh instance. Moves can chain (a pod's target is held by a
	 * pod that moves too), so moves repeat until none is blocked; a move frees its old instance. */
	for (bool progress = true; progress;) {
		progress = false;
		for (unsigned i = 0; i < n; i++) {
			unsigned p = items[i].pod, g;
			int prof, inst, at = -1;
			struct sim_gpu *from;

			if (wgpu[i] < 0)
				continue;
			g = (unsigned)wgpu[i];
			prof = sim_prof(s, g, s->pods[p].cls);
			if (items[i].running) {
				from = &s->gpus[s->pods[p].gpu];
				for (unsigned k = 0; k < from->layout.n; k++)
					if (from->pod[k] == (int)p)
						at = (int)k;
				if (s->pods[p].gpu == (int)g && from->layout.inst[at].start == wstart[i])
					continue;
			} else if (s->pods[p].state != POD_WAITING) {
				continue;
			}
			inst = sim_create(s, g, (unsigned)prof, wstart[i]);
			if (inst < 0)
				continue; /* its target is still held by a pod that has yet to move */
			if (items[i].running) {
				unsigned old_g = (unsigned)s->pods[p].gpu;

				if (sim_move(s, p, g, (unsigned)inst, err) != 0)
					return -1;
				for (unsigned k = s->gpus[old_g].layout.n; k-- > 0;)
					if (s->gpus[old_g].pod[k] == SIM_NO_POD && sim_destroy(s, old_g, k, err) != 0)
						return -1;
				/* the moved pod keeps its start: the bound assumes moves are free */
			} else if (sim_bind(s, p, g, (unsigned)inst, err) != 0) {
				return -1;
			}
			progress = true;
		}
	}
	return 0;
}

/* One packing of every running and waiting pod, first-fit decreasing in the given order. Returns how many
 * waiting pods it places, or 0 if it would lose a running pod. */
static unsigned pack(const struct sim *s, struct item *items, unsigned n, bool running_first, struct mig_layout *lay,
		     int *wgpu, uint8_t *wstart)
{
	struct order o = { .s = s, .running_first = running_first };
	unsigned gained = 0;

	memset(lay, 0, s->n_gpus * sizeof(*lay));
	qsort_r(items, n, sizeof(*items), cmp_item, &o);
	ffd(s, items, n, lay, wgpu, wstart);
	for (unsigned i = 0; i < n; i++) {
		if (items[i].running && wgpu[i] < 0)
			return 0;
		gained += !items[i].running && wgpu[i] >= 0;
	}
	return gained;
}

struct repack_state {
	struct item *items;
	struct mig_layout *lay;
	int *wgpu;
	uint8_t *wstart;
};

static int repack_init(struct sim *s, struct kerf_err *err)
{
	struct repack_state *st = calloc(1, sizeof(*st));
	size_t np = s->n_pods ? s->n_pods : 1;

	s->pstate = st;
	if (st == NULL || !(st->items = calloc(np, sizeof(*st->items))) || !(st->lay = calloc(s->n_gpus, sizeof(*st->lay))) ||
	    !(st->wgpu = calloc(np, sizeof(*st->wgpu))) || !(st->wstart = calloc(np, 1)))
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the repack policy");
	return 0;
}

static void repack_fini(struct sim *s)
{
	struct repack_state *st = s->pstate;

	if (st == NULL)
		return;
	free(st->items);
	free(st->lay);
	free(st->wgpu);
	free(st->wstart);
	free(st);
	s->pstate = NULL;
}

/* Phase 2: drain and repack everything. Two orders are tried (pure first-fit decreasing, then running pods
 * first); the first that places a waiting pod and keeps every running one is adopted. */
static int repack_full(struct sim *s, struct kerf_err *err)
{
	struct repack_state *st = s->pstate;
	unsigned n = 0;

	for (unsigned p = 0; p < s->n_pods; p++)
		if (s->pods[p].state == POD_RUNNING || s->pods[p].state == POD_WAITING)
			st->items[n++] = (struct item){ .pod = p, .running = s->pods[p].state == POD_RUNNING };
	if (pack(s, st->items, n, false, st->lay, st->wgpu, st->wstart) > 0 ||
	    pack(s, st->items, n, true, st->lay, st->wgpu, st->wstart) > 0)
		return repack_adopt(s, st->items, n, st->wgpu, st->wstart, err);
	return 0;
}

static int repack_step(struct sim *s, struct kerf_err *err)
{
	if (repack_recut(s, err) != 0)
		return -1;
	if (sim_waiting(s) == 0)
		return 0;
	if (repack_full(s, err) != 0)
		return -1;
	return sim_schedule(s, err);
}

const struct sim_policy_ops sim_ops_repack = {
	.init = repack_init, .step = repack_step, .fini = repack_fini,
};
