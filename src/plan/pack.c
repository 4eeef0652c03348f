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
 * plan_run_packed() leaves the planner's objectives alone and asks it twice, through its input only: if the
 * first plan changes a GPU that runs no pod (opens it), the same pods are planned again with the free
 * instances of the GPUs that run pods left out of the input, so re-cutting them costs nothing; the second
 * plan is kept when it places as many pods at every priority and opens fewer idle GPUs. Its changes are
 * then diffed against the real layouts, so `destroyed` and `created` count what the agents will do (the
 * free instances a change drops, the instances it adds), and a hidden free instance the new layout keeps
 * in place is neither. Otherwise the first plan stands, byte for byte. Cost: a second plan_run() only for
 * plans that open an idle GPU.
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

/* A copy of in whose GPUs that run pods list their used instances only (nodes and GPUs malloc'd). */
static int hide_free(const struct plan_input *in, struct plan_input *alt, struct plan_gpu **gpus, struct kerf_err *err)
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
		for (unsigned g = 0; g < in->nodes[n].n_gpus; g++, k++) {
			struct plan_gpu *pg = &(*gpus)[k];

			*pg = in->nodes[n].gpus[g];
			if (!runs_pods(&pg->layout))
				continue;
			pg->layout.n = 0;
			for (unsigned i = 0; i < in->nodes[n].gpus[g].layout.n; i++)
				if (in->nodes[n].gpus[g].layout.inst[i].used)
					pg->layout.inst[pg->layout.n++] = in->nodes[n].gpus[g].layout.inst[i];
		}
	}
	return 0;
}

int plan_run_packed(struct plan_cache *cache, const struct plan_input *in, struct plan_output *out,
		    struct kerf_err *err)
{
	struct plan_input alt;
	struct plan_output second = { 0 };
	struct plan_gpu *gpus = NULL;
	unsigned opened;
	int rc = -1;

	if (plan_run_cached(cache, in, out, err) != 0)
		return -1;
	if ((opened = plan_opened_gpus(in, out)) == 0)
		return 0;
	memset(&alt, 0, sizeof(alt));
	if (hide_free(in, &alt, &gpus, err) != 0 || plan_run_cached(cache, &alt, &second, err) != 0)
		goto out;
	if (plan_opened_gpus(in, &second) < opened && places_as_many(in, out, &second)) {
		plan_output_free(out);
		*out = second;
		memset(&second, 0, sizeof(second));
		recount(in, out);
	}
	rc = 0;
out:
	if (rc != 0)
		plan_output_free(out);
	plan_output_free(&second);
	free(alt.nodes);
	free(gpus);
	return rc;
}
