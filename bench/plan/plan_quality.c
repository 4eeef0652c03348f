/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan_quality.c — how far `kerf plan` is from the optimum of objective 1 (the most pods placed, higher
 * priority first), on generated clusters the planner's tests do not use, against an exact reference
 * that shares no search code with the planner: an integer program solved by GLPK's glpsol.
 *
 *   plan_quality gen CLASS SEED           the cluster, as `kerf plan` input JSON, on standard output
 *   plan_quality one CLASS SEED [TMLIM]   kerf's and the ILP's placed counts per priority for one cluster
 *   plan_quality report CLASS N [TMLIM]   seeds 1..N: share of optimal plans, pods lost per priority level
 *
 * CLASS is small (2-6 nodes, 6-20 pods: inside the exact search's limits, where kerf and the ILP must
 * agree, which is the ILP's own test), medium (10-30 nodes, 30-80 pods) or large (60-120 nodes, 150-400
 * pods). Every cluster mixes two or three GPU models, cuts most GPUs in a random valid layout with about
 * half of the instances in use, and asks for flexible pods (1g, 2g, 3g, two 1g) and scarce ones (whole
 * GPUs, two whole GPUs, two 4g, two 3g, 4g) at two to four priorities, sized so that demand is about
 * what the free capacity can hold (0.8 to 1.2 times the free compute slices).
 *
 * The cluster goes through the same path as `kerf plan`: JSON text, plan_input_parse(), plan_run().
 *
 * The integer program. A GPU's free instances may be re-cut into any valid layout that keeps its used
 * instances, so what a GPU can offer is one of the free-instance vectors (per demanded resource) of
 * those layouts; only the Pareto-maximal vectors matter for objective 1. GPUs of one node with the same
 * model and the same used instances are interchangeable, so per node and such class y[n,k,o] counts
 * the GPUs that take offer o (summing to the class's size). Pods with the same priority and demands are
 * interchangeable, so z[s,n] counts the pods of shape s on node n (summing to at most their number).
 * Per node and resource, the demand of the z's is at most what the chosen offers give. The objective is
 * solved level by level: maximise the pods placed at level l with the levels above held at their optima
 * (pods below l left out: they only take capacity), with glpsol's MIP gap at 0 and a time limit per
 * solve; an instance where any solve stops at the limit is reported as unknown, never as optimal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plan.h"
#include "util.h"

#define MAX_RES 32
#define MAX_LEVELS 8

/* ---- the generator ------------------------------------------------------------------------------- */

static const char *const models[] = {
	"H100-80GB-SXM", "A100-80GB", "A100-40GB", "A30-24GB", "H200-141GB-SXM", "RTX-PRO-6000-Blackwell",
};
#define N_MODELS (sizeof(models) / sizeof(models[0]))

struct cls {
	const char *name;
	unsigned nodes_min, nodes_max, pods_min, pods_max, gpus_max;
};

static const struct cls classes[] = {
	{ "small", 2, 6, 6, 20, 4 },
	{ "medium", 10, 30, 30, 80, 8 },
	{ "large", 60, 120, 150, 400, 8 },
};

/* Pod kinds: compute slices of the profile, count, weight. The first four are flexible, the rest scarce
 * (they fit on few nodes: a whole GPU, or two large instances on one node). */
static const struct {
	unsigned compute, count, weight;
} kinds[] = {
	{ 1, 1, 30 }, { 2, 1, 18 }, { 3, 1, 10 }, { 1, 2, 6 }, { 7, 1, 10 }, { 7, 2, 4 }, { 4, 2, 5 }, { 3, 2, 6 }, { 4, 1, 11 },
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* The profile of m a pod asking for `compute` slices gets: the smallest plain profile with that many, else
 * the largest plain profile with fewer (A30 has no 3g or 7g: its whole GPU is 4g). */
static const struct mig_profile *profile_for(const struct mig_model *m, unsigned compute)
{
	const struct mig_profile *best = NULL;

	for (unsigned p = 0; p < m->n_profiles; p++) {
		const struct mig_profile *q = &m->profiles[p];

		if (q->flags != 0 || q->compute_slices > compute)
			continue;
		if (best == NULL || q->compute_slices > best->compute_slices ||
		    (q->compute_slices == best->compute_slices && q->memory_slices < best->memory_slices))
			best = q;
	}
	return best;
}

struct buf {
	char *s;
	size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	for (;;) {
		va_start(ap, fmt);
		w = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (w >= 0 && b->n + (size_t)w < b->cap)
			break;
		b->cap = b->cap ? b->cap * 2 + (size_t)w : 4096;
		b->s = realloc(b->s, b->cap);
		if (b->s == NULL)
			abort();
	}
	b->n += (size_t)w;
}

static const struct mig_model *model_named(const char *name)
{
	return mig_catalog_find(mig_catalog_builtin(), name, NULL);
}

/* Writes the cluster of (class, seed) as `kerf plan` input. */
static void generate(const struct cls *k, uint64_t seed, struct buf *b)
{
	static const int prio[] = { 1000, 100, 10, 0 };
	struct rng r = { seed * 0x9e3779b97f4a7c15ull + (uint64_t)(k - classes) * 7919 + 17 };
	const struct mig_model *mix[3];
	unsigned n_mix = 2 + rng_below(&r, 2), n_levels = 2 + rng_below(&r, 3);
	unsigned n_pods = k->pods_min + rng_below(&r, k->pods_max - k->pods_min + 1);
	unsigned n_nodes = k->nodes_min + rng_below(&r, k->nodes_max - k->nodes_min + 1);
	unsigned demand = 0, weights = 0, free_slices = 0, target, tight = 80 + rng_below(&r, 41);

	for (unsigned i = 0; i < n_mix; i++) {
		unsigned m;

		do
			m = rng_below(&r, N_MODELS);
		while ((i > 0 && model_named(models[m]) == mix[0]) || (i > 1 && model_named(models[m]) == mix[1]));
		mix[i] = model_named(models[m]);
	}
	for (unsigned i = 0; i < N_KINDS; i++)
		weights += kinds[i].weight;
	put(b, "{\"pending\": [");
	for (unsigned i = 0; i < n_pods; i++) {
		unsigned w = rng_below(&r, weights), kind = 0;
		const struct mig_profile *p;

		while (w >= kinds[kind].weight)
			w -= kinds[kind++].weight;
		p = profile_for(mix[rng_below(&r, n_mix)], kinds[kind].compute);
		demand += p->compute_slices * kinds[kind].count;
		put(b, "%s\n {\"name\": \"ns/p%u\", \"priority\": %d, \"resources\": {\"%s\": %u}}", i ? "," : "", i,
		    prio[rng_below(&r, n_levels)], p->resource, kinds[kind].count);
	}
	put(b, "],\n\"nodes\": [");
	target = demand * 100 / tight;
	for (unsigned i = 0; i < n_nodes; i++) {
		const struct mig_model *m = mix[rng_below(&r, n_mix)];
		const struct valid_layouts *v = valid_layouts_of(m);
		/* GPUs per node: what spreads the free capacity still wanted over the nodes still to come. */
		unsigned want = target > free_slices ? (target - free_slices) / (n_nodes - i) : 0;
		unsigned g_max = want / (m->compute_slices / 2 + 1) + 1 + rng_below(&r, 2);

		if (g_max > k->gpus_max)
			g_max = k->gpus_max;
		put(b, "%s\n {\"name\": \"n%u\", \"gpus\": [", i ? "," : "", i);
		for (unsigned g = 0; g < g_max; g++) {
			struct mig_layout l = { 0 };
			unsigned used_pct = 30 + rng_below(&r, 50);

			if (rng_below(&r, 4) != 0)
				l = v->l[rng_below(&r, v->n)];
			put(b, "%s{\"index\": %u, \"model\": \"%s\", \"instances\": [", g ? ", " : "", g, m->name);
			for (unsigned j = 0; j < l.n; j++) {
				int used = rng_below(&r, 100) < used_pct;

				put(b, "%s{\"profile\": \"%s\", \"start\": %u, \"used\": %s}", j ? ", " : "",
				    m->profiles[l.inst[j].profile].name, l.inst[j].start, used ? "true" : "false");
				if (used)
					l.inst[j].used = 1;
			}
			put(b, "]}");
			{
				struct mig_layout u = { 0 };

				for (unsigned j = 0; j < l.n; j++)
					if (l.inst[j].used)
						u.inst[u.n++] = l.inst[j];
				free_slices += (m->compute_slices - mig_layout_compute(m, &u)) * 7 / m->compute_slices;
			}
		}
		put(b, "]}");
	}
	put(b, "]}\n");
}

/* ---- the integer program ------------------------------------------------------------------------- */

struct res_set {
	unsigned n;
	const char *name[MAX_RES];
};

static int res_index(const struct res_set *rs, const char *name)
{
	for (unsigned r = 0; r < rs->n; r++)
		if (strcmp(rs->name[r], name) == 0)
			return (int)r;
	return -1;
}

/* The Pareto-maximal free-instance vectors one GPU class (model, used instances) can offer. */
struct offers {
	const struct mig_model *m;
	struct mig_layout used;
	unsigned n;
	uint16_t (*v)[MAX_RES];
};

static int contains(const struct mig_layout *l, const struct mig_instance *x)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->inst[i].profile == x->profile && l->inst[i].start == x->start)
			return 1;
	return 0;
}

static void build_offers(struct offers *o, const struct res_set *rs)
{
	const struct valid_layouts *v = valid_layouts_of(o->m);

	o->v = calloc(v->n + 1, sizeof(*o->v));
	o->n = 0;
	for (unsigned i = 0; i < v->n; i++) {
		const struct mig_layout *l = &v->l[i];
		uint16_t vec[MAX_RES] = { 0 };
		unsigned j;

		for (j = 0; j < o->used.n && contains(l, &o->used.inst[j]); j++)
			;
		if (j < o->used.n)
			continue;
		for (j = 0; j < l->n; j++) {
			int r = contains(&o->used, &l->inst[j]) ? -1 : res_index(rs, o->m->profiles[l->inst[j].profile].resource);

			if (r >= 0)
				vec[r]++;
		}
		/* Keep vec unless an offer kept covers it; drop the kept ones it covers. */
		for (j = 0; j < o->n; j++) {
			unsigned r;

			for (r = 0; r < rs->n && o->v[j][r] >= vec[r]; r++)
				;
			if (r == rs->n)
				break;
		}
		if (j < o->n)
			continue;
		for (j = 0; j < o->n;) {
			unsigned r;

			for (r = 0; r < rs->n && vec[r] >= o->v[j][r]; r++)
				;
			if (r == rs->n)
				memcpy(o->v[j], o->v[--o->n], sizeof(o->v[0]));
			else
				j++;
		}
		memcpy(o->v[o->n++], vec, sizeof(vec));
	}
}

struct shape {
	unsigned level, count, n_dem;
	int res[PLAN_MAX_DEMANDS];
	unsigned cnt[PLAN_MAX_DEMANDS];
};

struct problem {
	const struct plan_input *in;
	struct res_set rs;
	unsigned n_levels;
	int prio[MAX_LEVELS];
	unsigned n_shapes;
	struct shape *shapes;
	unsigned n_classes;
	struct offers *classes;
	unsigned *gpu_class; /* per node, per GPU, flattened */
	unsigned *node_first;
};

static unsigned level_of(const struct problem *pr, int priority)
{
	unsigned l = 0;

	while (pr->prio[l] != priority)
		l++;
	return l;
}

static int problem_build(struct problem *pr, const struct plan_input *in)
{
	unsigned g_total = 0, g = 0;

	memset(pr, 0, sizeof(*pr));
	pr->in = in;
	for (unsigned i = 0; i < in->n_pods; i++) {
		unsigned l;

		for (l = 0; l < pr->n_levels && pr->prio[l] != in->pods[i].priority; l++)
			;
		if (l == pr->n_levels) {
			if (pr->n_levels == MAX_LEVELS)
				return -1;
			pr->prio[pr->n_levels++] = in->pods[i].priority;
		}
		for (unsigned j = 0; j < in->pods[i].n_demands; j++)
			if (res_index(&pr->rs, in->pods[i].demands[j].resource) < 0) {
				if (pr->rs.n == MAX_RES)
					return -1;
				pr->rs.name[pr->rs.n++] = in->pods[i].demands[j].resource;
			}
	}
	for (unsigned a = 0; a < pr->n_levels; a++) /* priorities descending */
		for (unsigned b = a + 1; b < pr->n_levels; b++)
			if (pr->prio[b] > pr->prio[a]) {
				int t = pr->prio[a];
				pr->prio[a] = pr->prio[b];
				pr->prio[b] = t;
			}
	pr->shapes = calloc(in->n_pods + 1, sizeof(*pr->shapes));
	for (unsigned i = 0; i < in->n_pods; i++) {
		struct shape s = { .level = level_of(pr, in->pods[i].priority), .count = 1, .n_dem = in->pods[i].n_demands };
		unsigned k;

		if (in->pods[i].group != 0)
			return -1; /* the generator makes no node constraints; this reference does not model them */
		for (unsigned j = 0; j < s.n_dem; j++) {
			s.res[j] = res_index(&pr->rs, in->pods[i].demands[j].resource);
			s.cnt[j] = in->pods[i].demands[j].count;
		}
		for (k = 0; k < pr->n_shapes; k++) {
			const struct shape *t = &pr->shapes[k];
			unsigned j;

			if (t->level != s.level || t->n_dem != s.n_dem)
				continue;
			for (j = 0; j < s.n_dem && t->res[j] == s.res[j] && t->cnt[j] == s.cnt[j]; j++)
				;
			if (j == s.n_dem)
				break;
		}
		if (k < pr->n_shapes)
			pr->shapes[k].count++;
		else
			pr->shapes[pr->n_shapes++] = s;
	}
	for (unsigned n = 0; n < in->n_nodes; n++)
		g_total += in->nodes[n].n_gpus;
	pr->gpu_class = calloc(g_total + 1, sizeof(unsigned));
	pr->node_first = calloc(in->n_nodes + 1, sizeof(unsigned));
	pr->classes = calloc(g_total + 1, sizeof(*pr->classes));
	for (unsigned n = 0; n < in->n_nodes; n++) {
		pr->node_first[n] = g;
		for (unsigned j = 0; j < in->nodes[n].n_gpus; j++, g++) {
			const struct plan_gpu *pg = &in->nodes[n].gpus[j];
			struct offers o = { .m = pg->model };
			unsigned k;

			for (unsigned i = 0; i < pg->layout.n; i++)
				if (pg->layout.inst[i].used)
					o.used.inst[o.used.n++] = pg->layout.inst[i];
			for (k = 0; k < pr->n_classes; k++) {
				const struct offers *c = &pr->classes[k];
				unsigned i;

				if (c->m != o.m || c->used.n != o.used.n)
					continue;
				for (i = 0; i < o.used.n && contains(&c->used, &o.used.inst[i]); i++)
					;
				if (i == o.used.n)
					break;
			}
			if (k == pr->n_classes) {
				build_offers(&o, &pr->rs);
				pr->classes[pr->n_classes++] = o;
			}
			pr->gpu_class[g] = k;
		}
	}
	pr->node_first[in->n_nodes] = g;
	return 0;
}

static void problem_free(struct problem *pr)
{
	for (unsigned k = 0; k < pr->n_classes; k++)
		free(pr->classes[k].v);
	free(pr->classes);
	free(pr->shapes);
	free(pr->gpu_class);
	free(pr->node_first);
}

/* Whether shape s could use node n at all (some GPU offers each of its resources). */
static int shape_on_node(const struct problem *pr, const struct shape *s, unsigned n)
{
	for (unsigned j = 0; j < s->n_dem; j++) {
		unsigned have = 0;

		for (unsigned g = pr->node_first[n]; g < pr->node_first[n + 1]; g++) {
			const struct offers *o = &pr->classes[pr->gpu_class[g]];
			unsigned best = 0;

			for (unsigned i = 0; i < o->n; i++)
				best = o->v[i][s->res[j]] > best ? o->v[i][s->res[j]] : best;
			have += best;
		}
		if (have < s->cnt[j])
			return 0;
	}
	return 1;
}

/* Writes the CPLEX LP model maximising level l given opt[0..l-1]. */
static void write_lp(const struct problem *pr, unsigned l, const unsigned *opt, FILE *f)
{
	const struct plan_input *in = pr->in;
	unsigned terms = 0;

	for (unsigned s = 0; s < pr->n_shapes; s++) /* for a person reading the model */
		fprintf(f, "\\ shape %u: level %u, %u pods, %u x %s%s\n", s, pr->shapes[s].level, pr->shapes[s].count,
			pr->shapes[s].cnt[0], pr->rs.name[pr->shapes[s].res[0]], pr->shapes[s].n_dem > 1 ? " + ..." : "");
	fprintf(f, "Maximize\n obj:");
	for (unsigned s = 0; s < pr->n_shapes; s++)
		for (unsigned n = 0; n < in->n_nodes; n++)
			if (pr->shapes[s].level == l && shape_on_node(pr, &pr->shapes[s], n))
				fprintf(f, "%s z_%u_%u\n", terms++ ? " +" : "", s, n);
	fprintf(f, "\nSubject To\n");
	for (unsigned s = 0; s < pr->n_shapes; s++) {
		if (pr->shapes[s].level > l)
			continue;
		terms = 0;
		for (unsigned n = 0; n < in->n_nodes; n++)
			if (shape_on_node(pr, &pr->shapes[s], n))
				fprintf(f, "%s z_%u_%u\n", terms++ ? " +" : "", s, n);
		if (terms)
			fprintf(f, " <= %u\n", pr->shapes[s].count);
	}
	for (unsigned lv = 0; lv < l; lv++) {
		terms = 0;
		for (unsigned s = 0; s < pr->n_shapes; s++)
			for (unsigned n = 0; n < in->n_nodes; n++)
				if (pr->shapes[s].level == lv && shape_on_node(pr, &pr->shapes[s], n))
					fprintf(f, "%s z_%u_%u\n", terms++ ? " +" : "", s, n);
		if (terms)
			fprintf(f, " >= %u\n", opt[lv]);
	}
	for (unsigned n = 0; n < in->n_nodes; n++) {
		for (unsigned r = 0; r < pr->rs.n; r++) {
			int konst = 0;

			terms = 0;
			for (unsigned s = 0; s < pr->n_shapes; s++) {
				const struct shape *sh = &pr->shapes[s];

				if (sh->level > l || !shape_on_node(pr, sh, n))
					continue;
				for (unsigned j = 0; j < sh->n_dem; j++)
					if (sh->res[j] == (int)r) {
						fprintf(f, "%s%u z_%u_%u\n", terms++ ? " + " : " ", sh->cnt[j], s, n);
					}
			}
			if (terms == 0)
				continue;
			for (unsigned g = pr->node_first[n]; g < pr->node_first[n + 1]; g++) {
				const struct offers *o = &pr->classes[pr->gpu_class[g]];

				if (o->n == 1) {
					konst += o->v[0][r];
					continue;
				}
				for (unsigned i = 0; i < o->n; i++)
					if (o->v[i][r])
						fprintf(f, " - %u y_%u_%u_%u\n", o->v[i][r], n, g, i);
			}
			fprintf(f, " <= %d\n", konst);
		}
		for (unsigned g = pr->node_first[n]; g < pr->node_first[n + 1]; g++) {
			const struct offers *o = &pr->classes[pr->gpu_class[g]];

			if (o->n <= 1)
				continue;
			for (unsigned i = 0; i < o->n; i++)
				fprintf(f, "%s y_%u_%u_%u\n", i ? " +" : "", n, g, i);
			fprintf(f, " = 1\n");
		}
	}
	fprintf(f, "Bounds\n");
	for (unsigned s = 0; s < pr->n_shapes; s++)
		for (unsigned n = 0; n < in->n_nodes; n++)
			if (pr->shapes[s].level <= l && shape_on_node(pr, &pr->shapes[s], n))
				fprintf(f, " 0 <= z_%u_%u <= %u\n", s, n, pr->shapes[s].count);
	fprintf(f, "General\n");
	for (unsigned s = 0; s < pr->n_shapes; s++)
		for (unsigned n = 0; n < in->n_nodes; n++)
			if (pr->shapes[s].level <= l && shape_on_node(pr, &pr->shapes[s], n))
				fprintf(f, " z_%u_%u\n", s, n);
	fprintf(f, "Binary\n");
	for (unsigned n = 0; n < in->n_nodes; n++)
		for (unsigned g = pr->node_first[n]; g < pr->node_first[n + 1]; g++) {
			const struct offers *o = &pr->classes[pr->gpu_class[g]];

			for (unsigned i = 0; o->n > 1 && i < o->n; i++)
				fprintf(f, " y_%u_%u_%u\n", n, g, i);
		}
	fprintf(f, "End\n");
}

/* Runs glpsol on the model; 0 and *value when proven optimal, 1 when it stopped at the time limit. */
static int solve(const char *lp, unsigned tmlim, unsigned *value)
{
	char cmd[512], sol[300], line[256];
	FILE *f;
	int rc = -1;
	char status = '?';
	double obj = 0;

	snprintf(sol, sizeof(sol), "%s.sol", lp);
	snprintf(cmd, sizeof(cmd), "glpsol --lp %s --mipgap 0 --tmlim %u -w %s >/dev/null 2>&1", lp, tmlim, sol);
	if (system(cmd) == -1)
		return -1;
	f = fopen(sol, "r");
	if (f == NULL)
		return -1;
	/* GLPK's raw solution format: "s mip ROWS COLS STATUS OBJ", STATUS o (optimal), f (feasible), ... */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "s mip %*u %*u %c %lf", &status, &obj) == 2)
			break;
	fclose(f);
	unlink(sol);
	if (status == 'o') {
		*value = (unsigned)(obj + 0.5);
		rc = 0;
	} else if (status == 'f' || status == 'u' || status == 'n') {
		rc = 1;
	}
	return rc;
}

/* The optimum placed counts per level; 0, 1 when a solve hit the time limit, -1 on error. */
static int ilp_optimum(const struct plan_input *in, unsigned tmlim, unsigned *opt, unsigned *n_levels, int *prio)
{
	struct problem pr;
	char lp[64];
	int rc = 0;

	if (problem_build(&pr, in) != 0) {
		problem_free(&pr);
		return -1;
	}
	snprintf(lp, sizeof(lp), "/tmp/plan_quality.%d.lp", (int)getpid());
	*n_levels = pr.n_levels;
	memcpy(prio, pr.prio, sizeof(pr.prio));
	for (unsigned l = 0; l < pr.n_levels && rc == 0; l++) {
		FILE *f;
		unsigned s, n = in->n_nodes;

		for (s = 0; s < pr.n_shapes && n == in->n_nodes; s++)
			for (n = 0; n < in->n_nodes && !(pr.shapes[s].level == l && shape_on_node(&pr, &pr.shapes[s], n)); n++)
				;
		if (n == in->n_nodes) {
			opt[l] = 0; /* no pod of this level fits on any node */
			continue;
		}
		f = fopen(lp, "w");
		if (f == NULL) {
			rc = -1;
			break;
		}
		write_lp(&pr, l, opt, f);
		fclose(f);
		rc = solve(lp, tmlim, &opt[l]);
	}
	if (getenv("PLAN_QUALITY_KEEP") == NULL)
		unlink(lp);
	problem_free(&pr);
	return rc;
}

/* ---- kerf's side --------------------------------------------------------------------------------- */

struct outcome {
	int known;          /* the ILP proved its optimum */
	unsigned n_levels;
	int prio[MAX_LEVELS];
	unsigned opt[MAX_LEVELS], got[MAX_LEVELS], total[MAX_LEVELS];
	double plan_ms;
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * The ILP's answer for one cluster, kept in $PLAN_QUALITY_CACHE/CLASS.SEED.TMLIM when that variable names
 * a folder: it depends on the generator alone, not on the planner, so a planner change is measured
 * again in seconds. Returns as ilp_optimum(): 0 solved, 1 unknown, -1 failed.
 */
static int ilp_cached(const struct cls *k, uint64_t seed, const struct plan_input *in, unsigned tmlim,
		      struct outcome *oc)
{
	const char *dir = getenv("PLAN_QUALITY_CACHE");
	char path[512];
	FILE *f;
	int rc;

	if (dir != NULL) {
		snprintf(path, sizeof(path), "%s/%s.%llu.%u", dir, k->name, (unsigned long long)seed, tmlim);
		f = fopen(path, "r");
		if (f != NULL) {
			int ok = fscanf(f, "%d %u", &rc, &oc->n_levels) == 2 && oc->n_levels <= MAX_LEVELS;

			for (unsigned l = 0; ok && l < oc->n_levels; l++)
				ok = fscanf(f, "%d %u", &oc->prio[l], &oc->opt[l]) == 2;
			fclose(f);
			if (ok)
				return rc;
		}
	}
	rc = ilp_optimum(in, tmlim, oc->opt, &oc->n_levels, oc->prio);
	if (dir != NULL && rc >= 0 && (f = fopen(path, "w")) != NULL) {
		fprintf(f, "%d %u\n", rc, oc->n_levels);
		for (unsigned l = 0; l < oc->n_levels; l++)
			fprintf(f, "%d %u\n", oc->prio[l], oc->opt[l]);
		fclose(f);
	}
	return rc;
}

static int evaluate(const struct cls *k, uint64_t seed, unsigned tmlim, struct outcome *oc)
{
	struct buf b = { 0 };
	struct plan_input in;
	struct plan_output out;
	struct kerf_err err = { 0 };
	double t0;
	int rc;

	memset(oc, 0, sizeof(*oc));
	generate(k, seed, &b);
	if (plan_input_parse(b.s, b.n, mig_catalog_builtin(), &in, &err) != 0) {
		fprintf(stderr, "%s %llu: %s\n", k->name, (unsigned long long)seed, err.msg);
		free(b.s);
		return -1;
	}
	free(b.s);
	t0 = now_ms();
	if (plan_run(&in, &out, &err) != 0) {
		fprintf(stderr, "%s %llu: plan_run: %s\n", k->name, (unsigned long long)seed, err.msg);
		plan_input_free(&in);
		return -1;
	}
	oc->plan_ms = now_ms() - t0;
	rc = ilp_cached(k, seed, &in, tmlim, oc);
	if (rc < 0) {
		fprintf(stderr, "%s %llu: glpsol failed (is glpk-utils installed?)\n", k->name, (unsigned long long)seed);
	} else {
		oc->known = rc == 0;
		for (unsigned i = 0; i < in.n_pods; i++) {
			unsigned l = 0;

			while (oc->prio[l] != in.pods[i].priority)
				l++;
			oc->total[l]++;
		}
		for (unsigned a = 0; a < out.n_assignments; a++) {
			unsigned l = 0;

			while (oc->prio[l] != in.pods[out.assignments[a].pod].priority)
				l++;
			oc->got[l]++;
		}
		rc = 0;
	}
	plan_output_free(&out);
	plan_input_free(&in);
	return rc;
}

/* Compares count vectors lexicographically, highest priority first. */
static int lex_cmp(const unsigned *a, const unsigned *b, unsigned n)
{
	for (unsigned l = 0; l < n; l++)
		if (a[l] != b[l])
			return a[l] < b[l] ? -1 : 1;
	return 0;
}

static const struct cls *class_named(const char *name)
{
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(classes[i].name, name) == 0)
			return &classes[i];
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int report(const struct cls *k, unsigned n, unsigned tmlim)
{
	unsigned known = 0, optimal = 0, better = 0, worse_top = 0, lost_cases = 0;
	unsigned opt[MAX_LEVELS] = { 0 }, lost[MAX_LEVELS] = { 0 }, total_opt = 0, total_lost = 0;
	double *ms = calloc(n + 1, sizeof(double));

	for (unsigned s = 1; s <= n; s++) {
		struct outcome oc;
		int c;

		if (evaluate(k, s, tmlim, &oc) != 0) {
			free(ms);
			return -1;
		}
		ms[s - 1] = oc.plan_ms;
		if (!oc.known)
			continue;
		known++;
		c = lex_cmp(oc.got, oc.opt, oc.n_levels);
		if (c == 0)
			optimal++;
		if (c > 0) {
			better++;
			fprintf(stderr, "%s seed %u: kerf places more than the ILP's optimum: a bug in one of them\n", k->name, s);
		}
		if (oc.got[0] < oc.opt[0])
			worse_top++;
		/* Levels are counted from the top: level 0 is the cluster's highest priority. */
		for (unsigned l = 0; l < oc.n_levels; l++) {
			opt[l] += oc.opt[l];
			lost[l] += oc.opt[l] > oc.got[l] ? oc.opt[l] - oc.got[l] : 0;
			total_opt += oc.opt[l];
			total_lost += oc.opt[l] > oc.got[l] ? oc.opt[l] - oc.got[l] : 0;
		}
		lost_cases += c < 0;
		if (c != 0 && getenv("PLAN_QUALITY_VERBOSE") != NULL) {
			fprintf(stderr, "%s seed %u: kerf", k->name, s);
			for (unsigned l = 0; l < oc.n_levels; l++)
				fprintf(stderr, " %u", oc.got[l]);
			fprintf(stderr, ", optimum");
			for (unsigned l = 0; l < oc.n_levels; l++)
				fprintf(stderr, " %u", oc.opt[l]);
			fprintf(stderr, "\n");
		}
	}
	qsort(ms, n, sizeof(double), cmp_double);
	printf("%s: %u clusters, %u solved by the ILP (%u unknown at %u s per solve); kerf optimal on %u (%.1f%%), "
	       "fewer pods on %u, fewer at the top priority on %u, more than the ILP on %u\n",
	       k->name, n, known, n - known, tmlim, optimal, known ? 100.0 * optimal / known : 0.0, lost_cases, worse_top,
	       better);
	printf("%s: pods lost vs optimum, total %u of %u (%.2f%%); by level from the top:", k->name, total_lost, total_opt,
	       total_opt ? 100.0 * total_lost / total_opt : 0.0);
	for (unsigned l = 0; l < MAX_LEVELS; l++)
		if (opt[l])
			printf(" L%u %u/%u (%.2f%%)", l, lost[l], opt[l], 100.0 * lost[l] / opt[l]);
	printf("; plan_run cpu median %.2f ms, max %.2f ms\n", ms[n / 2], ms[n - 1]);
	free(ms);
	return better ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct cls *k = argc >= 3 ? class_named(argv[2]) : NULL;

	if (argc < 4 || k == NULL) {
		fprintf(stderr, "usage: plan_quality gen|one|report small|medium|large SEED|N [TMLIM]\n");
		return 2;
	}
	if (strcmp(argv[1], "gen") == 0) {
		struct buf b = { 0 };

		generate(k, strtoull(argv[3], NULL, 10), &b);
		fputs(b.s, stdout);
		free(b.s);
		return 0;
	}
	if (strcmp(argv[1], "one") == 0) {
		struct outcome oc;

		if (evaluate(k, strtoull(argv[3], NULL, 10), argc > 4 ? (unsigned)atoi(argv[4]) : 60, &oc) != 0)
			return 1;
		printf("%s seed %s: %s; plan_run %.2f ms\n", k->name, argv[3], oc.known ? "ILP optimal" : "ILP unknown",
		       oc.plan_ms);
		for (unsigned l = 0; l < oc.n_levels; l++)
			printf("  priority %d: %u pods, kerf placed %u, optimum %u\n", oc.prio[l], oc.total[l], oc.got[l],
			       oc.opt[l]);
		return 0;
	}
	if (strcmp(argv[1], "report") == 0)
		return report(k, (unsigned)atoi(argv[3]), argc > 4 ? (unsigned)atoi(argv[4]) : 60) < 0 ? 1 : 0;
	fprintf(stderr, "plan_quality: unknown command %s\n", argv[1]);
	return 2;
}
