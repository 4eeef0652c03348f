/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pack.c — keep whole GPUs whole: a second plan when the first one opens an idle GPU.
 *
 * The planner's second objective, the fewest free instances destroyed, protects every free instance, also
 * the ones left over on a GPU that still runs pods. So a small pod that would fit in those slices once a
 * free instance there is re-cut goes to an idle GPU instead (destroying nothing), and the cluster ends up
 * with many GPUs each running a pod or two: a pod that needs a whole GPU (7g) then waits for one to drain,
 * which can take hours (issue 13: docs/simulator.md, "No starvation and no needless waiting").
 *
 * plan_run_packed() leaves the planner's objectives alone and asks it again, through its input only, when
 * the first plan changes a GPU that runs no pod (opens it): first every pod on the busy GPUs alone, their
 * free instances left out of the input so that re-cutting them costs nothing (an idle GPU is shown as held
 * by one used instance over all its slices, so nothing can go there); then the pods that plan left out on
 * the cluster as it would then be, idle GPUs included. The two together are kept when they place as many
 * pods at every priority as the first plan and open fewer idle GPUs; their changes are diffed against the
 * real layouts, so `destroyed` and `created` count what the agents will do, and a change that only re-makes
 * hidden free instances where they were is dropped. Otherwise the first plan stands, byte for byte. Cost:
 * two more plan_run() calls, only for plans that open an idle GPU. Staged rather than one plan with the
 * free instances hidden, because within a node objective 4 (the most useful capacity left on the changed
 * GPUs) prefers to open the idle GPU even when the busy one has room. A busy GPU that stage 1 re-cuts loses
 * all its free instances, also those its new instances leave room for: putting those back was measured to
 * make the tails worse (kerf simulate, balanced-90 seed 1: p99 158 -> 201 s) and to save no churn.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* Whether a layout holds a used instance. */
static bool runs_pods(const struct mig_layout *l)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->inst[i].used)
			return true;
	return false;
}

unsigned plan_opened_gpus(const struct plan_input *in, const struct plan_output *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < out->n_changes; i++)
		n += !runs_pods(&in->nodes[out->changes[i].node].gpus[out->changes[i].gpu].layout);
	return n;
}

static unsigned placed_at(const struct plan_input *in, const struct plan_output *o, int prio)
{
	unsigned n = 0;

	for (unsigned k = 0; k < o->n_assignments; k++)
		n += in->pods[o->assignments[k].pod].priority == prio;
	return n;
}

/* Whether b places at least as many pods as a, compared as the planner's first objective does: the counts
 * per priority, from the highest down, the first difference deciding. */
static bool places_as_many(const struct plan_input *in, const struct plan_output *a, const struct plan_output *b)
{
	bool any = false;
	int cur = 0;

	for (;;) {
		bool found = false;
		int next = 0;
		unsigned na, nb;

		for (unsigned i = 0; i < in->n_pods; i++) {
			int q = in->pods[i].priority;

			if ((!any || q < cur) && (!found || q > next)) {
				next = q;
				found = true;
			}
		}
		if (!found)
			return true;
		any = true;
		cur = next;
		na = placed_at(in, a, cur);
		nb = placed_at(in, b, cur);
		if (na != nb)
			return nb > na;
	}
}

static bool has_instance(const struct mig_layout *l, const struct mig_instance *x)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->inst[i].profile == x->profile && l->inst[i].start == x->start)
			return true;
	return false;
}

/* Recounts each change's destroyed and created against the real layouts, drops the changes that leave a
 * layout as it is (the plan re-made hidden free instances where they were), and sets the totals. */
static void recount(const struct plan_input *in, struct plan_output *out)
{
	unsigned kept = 0;

	out->destroyed = out->created = 0;
	for (unsigned i = 0; i < out->n_changes; i++) {
		struct plan_change *ch = &out->changes[i];
		const struct mig_layout *cur = &in->nodes[ch->node].gpus[ch->gpu].layout;

		ch->destroyed = ch->created = 0;
		for (unsigned k = 0; k < cur->n; k++)
			ch->destroyed += !cur->inst[k].used && !has_instance(&ch->layout, &cur->inst[k]);
		for (unsigned k = 0; k < ch->layout.n; k++)
			ch->created += !has_instance(cur, &ch->layout.inst[k]);
		if (ch->destroyed == 0 && ch->created == 0)
			continue;
		out->destroyed += ch->destroyed;
		out->created += ch->created;
		out->changes[kept++] = *ch;
	}
	out->n_changes = kept;
	out->gpus_touched = kept;
}

/* A used instance over all of m's slices (its whole-GPU profile at 0); false if m has none. */
static bool whole_gpu(const struct mig_model *m, struct mig_instance *x)
{
	for (unsigned p = 0; p < m->n_profiles; p++)
		if (m->profiles[p].memory_slices == m->slots && m->profiles[p].n_starts > 0 && m->profiles[p].starts[0] == 0) {
			*x = (struct mig_instance){ .profile = (uint8_t)p, .start = 0, .used = true };
			return true;
		}
	return false;
}

/* A copy of in's nodes and GPUs (malloc'd into alt->nodes and *gpus; pods, groups and room shared). */
static int copy_cluster(const struct plan_input *in, struct plan_input *alt, struct plan_gpu **gpus, struct kerf_err *err)
{
	unsigned total = 0, k = 0;

	for (unsigned n = 0; n < in->n_nodes; n++)
		total += in->nodes[n].n_gpus;
	*alt = *in;
	alt->nodes = malloc((in->n_nodes ? in->n_nodes : 1) * sizeof(*alt->nodes));
	*gpus = malloc((total ? total : 1) * sizeof(**gpus));
	if (alt->nodes == NULL || *gpus == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory copying the planner's input for %u GPUs", total);
	for (unsigned n = 0; n < in->n_nodes; n++) {
		alt->nodes[n] = in->nodes[n];
		alt->nodes[n].gpus = &(*gpus)[k];
		for (unsigned g = 0; g < in->nodes[n].n_gpus; g++)
			(*gpus)[k++] = in->nodes[n].gpus[g];
	}
	return 0;
}

/* Stage 1's cluster: busy GPUs list their used instances only, idle GPUs are held whole. */
static void busy_only(struct plan_input *alt)
{
	for (unsigned n = 0; n < alt->n_nodes; n++)
		for (unsigned g = 0; g < alt->nodes[n].n_gpus; g++) {
			struct mig_layout *l = &alt->nodes[n].gpus[g].layout;
			struct mig_instance whole;
			unsigned k = 0;

			if (!runs_pods(l)) {
				if (whole_gpu(alt->nodes[n].gpus[g].model, &whole)) {
					l->n = 1;
					l->inst[0] = whole;
				}
				continue;
			}
			for (unsigned i = 0; i < l->n; i++)
				if (l->inst[i].used)
					l->inst[k++] = l->inst[i];
			l->n = k;
		}
}

/* Stage 2's cluster: the real one with stage 1's changes made and the instances it bound marked used. */
static void after_stage(const struct plan_input *in, struct plan_input *alt, const struct plan_output *s1)
{
	for (unsigned n = 0; n < in->n_nodes; n++)
		for (unsigned g = 0; g < in->nodes[n].n_gpus; g++)
			alt->nodes[n].gpus[g].layout = in->nodes[n].gpus[g].layout;
	for (unsigned i = 0; i < s1->n_changes; i++)
		alt->nodes[s1->changes[i].node].gpus[s1->changes[i].gpu].layout = s1->changes[i].layout;
	for (unsigned i = 0; i < s1->n_assignments; i++) {
		const struct plan_assignment *a = &s1->assignments[i];

		for (unsigned b = 0; b < a->n_bindings; b++) {
			struct mig_layout *l = &alt->nodes[a->node].gpus[a->bindings[b].gpu].layout;

			for (unsigned k = 0; k < l->n; k++)
				if (l->inst[k].profile == a->bindings[b].profile && l->inst[k].start == a->bindings[b].start)
					l->inst[k].used = true;
		}
	}
}

static int cmp_change(const void *x, const void *y)
{
	const struct plan_change *a = x, *b = y;

	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return a->gpu < b->gpu ? -1 : a->gpu > b->gpu;
}

static int cmp_assignment(const void *x, const void *y)
{
	const struct plan_assignment *a = x, *b = y;

	return a->pod < b->pod ? -1 : a->pod > b->pod;
}

/*
 * The two stages as one plan for in: a GPU's layout is stage 2's if it changed it, else stage 1's, with the
 * used flags of the real layout (instances the stages bound are new, so free); the assignments of both, the
 * pods of stage 2 mapped back through map; stage 2's pods left out. Takes the bindings out of s1 and s2.
 */
static int merge(const struct plan_input *in, struct plan_output *s1, struct plan_output *s2, const unsigned *map,
		 struct plan_output *m, struct kerf_err *err)
{
	memset(m, 0, sizeof(*m));
	m->changes = malloc((s1->n_changes + s2->n_changes + 1) * sizeof(*m->changes));
	m->assignments = malloc((s1->n_assignments + s2->n_assignments + 1) * sizeof(*m->assignments));
	m->unplaced = malloc((s2->n_unplaced + 1) * sizeof(*m->unplaced));
	if (m->changes == NULL || m->assignments == NULL || m->unplaced == NULL) {
		plan_output_free(m);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory merging two plans");
	}
	for (unsigned i = 0; i < s2->n_changes; i++)
		m->changes[m->n_changes++] = s2->changes[i];
	for (unsigned i = 0; i < s1->n_changes; i++) {
		bool later = false;

		for (unsigned k = 0; k < s2->n_changes && !later; k++)
			later = s2->changes[k].node == s1->changes[i].node && s2->changes[k].gpu == s1->changes[i].gpu;
		if (!later)
			m->changes[m->n_changes++] = s1->changes[i];
	}
	for (unsigned i = 0; i < m->n_changes; i++) {
		struct plan_change *ch = &m->changes[i];
		const struct mig_layout *cur = &in->nodes[ch->node].gpus[ch->gpu].layout;

		for (unsigned k = 0; k < ch->layout.n; k++) {
			struct mig_instance *x = &ch->layout.inst[k];

			x->used = false;
			for (unsigned j = 0; j < cur->n; j++)
				if (cur->inst[j].used && cur->inst[j].profile == x->profile && cur->inst[j].start == x->start)
					x->used = true;
		}
	}
	qsort(m->changes, m->n_changes, sizeof(*m->changes), cmp_change);
	for (unsigned i = 0; i < s1->n_assignments; i++)
		m->assignments[m->n_assignments++] = s1->assignments[i];
	for (unsigned i = 0; i < s2->n_assignments; i++) {
		m->assignments[m->n_assignments] = s2->assignments[i];
		m->assignments[m->n_assignments++].pod = map[s2->assignments[i].pod];
	}
	qsort(m->assignments, m->n_assignments, sizeof(*m->assignments), cmp_assignment);
	for (unsigned i = 0; i < s2->n_unplaced; i++) {
		m->unplaced[m->n_unplaced] = s2->unplaced[i];
		m->unplaced[m->n_unplaced++].pod = map[s2->unplaced[i].pod];
	}
	/* The bindings now belong to m. */
	s1->n_assignments = s2->n_assignments = 0;
	recount(in, m);
	return 0;
}

/* The pods of in that s1 left out, in input order, into pods (map[i]: their index in in). */
static unsigned left_out(const struct plan_input *in, const struct plan_output *s1, struct plan_pod *pods, unsigned *map)
{
	unsigned n = 0, k = 0;

	for (unsigned i = 0; i < in->n_pods; i++) {
		while (k < s1->n_assignments && s1->assignments[k].pod < i)
			k++;
		if (k < s1->n_assignments && s1->assignments[k].pod == i)
			continue;
		pods[n] = in->pods[i];
		map[n++] = i;
	}
	return n;
}

int plan_run_packed(struct plan_cache *cache, const struct plan_input *in, struct plan_output *out,
		    struct kerf_err *err)
{
	struct plan_input alt;
	struct plan_output s1 = { 0 }, s2 = { 0 }, m = { 0 };
	struct plan_gpu *gpus = NULL;
	struct plan_pod *pods = NULL;
	unsigned *map = NULL, opened;
	int rc = -1;

	if (plan_run_cached(cache, in, out, err) != 0)
		return -1;
	if ((opened = plan_opened_gpus(in, out)) == 0)
		return 0;
	memset(&alt, 0, sizeof(alt));
	pods = malloc((in->n_pods + 1) * sizeof(*pods));
	map = malloc((in->n_pods + 1) * sizeof(*map));
	if (pods == NULL || map == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory for %u pods", in->n_pods);
		goto out;
	}
	if (copy_cluster(in, &alt, &gpus, err) != 0)
		goto out;
	busy_only(&alt);
	if (plan_run_cached(cache, &alt, &s1, err) != 0)
		goto out;
	after_stage(in, &alt, &s1);
	alt.pods = pods;
	alt.n_pods = left_out(in, &s1, pods, map);
	if (alt.n_pods > 0 && plan_run_cached(cache, &alt, &s2, err) != 0)
		goto out;
	if (merge(in, &s1, &s2, map, &m, err) != 0)
		goto out;
	if (plan_opened_gpus(in, &m) < opened && places_as_many(in, out, &m)) {
		plan_output_free(out);
		*out = m;
		memset(&m, 0, sizeof(m));
	}
	rc = 0;
out:
	if (rc != 0)
		plan_output_free(out);
	plan_output_free(&m);
	plan_output_free(&s1);
	plan_output_free(&s2);
	free(alt.nodes);
	free(gpus);
	free(pods);
	free(map);
	return rc;
}
