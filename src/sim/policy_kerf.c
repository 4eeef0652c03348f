/*
 * policy_kerf.c — kerf itself: the real planner, called the way the controller calls it.
 *
 * As the controller does: a change that leaves pods waiting after a quiet period (no plan within batch_s)
 * is planned at once; changes that come sooner are a burst, collected by a window of batch_s, then planned
 * together. One plan_run() sees the whole cluster (every GPU's layout, with used instances marked) and every
 * waiting pod. Its changes become the GPUs' new layouts (the simulator checks that no used instance moved)
 * and its assignments bind pods to the instances it made for them.
 *
 * No starvation, as the controller does too: a pod that has waited age_after_s goes before younger pods of
 * its priority. The planner maximises pods placed level by level, so without this a large pod loses a
 * freshly emptied GPU to as many small ones as fit there, again and again.
 *
 * Built only with the planner library (KERF_SIM_HAVE_PLAN); without it the policy reports itself
 * unavailable and `kerf simulate` leaves it out.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef KERF_SIM_HAVE_PLAN

#include "plan.h"

struct kerf_state {
	struct plan_node *nodes;
	struct plan_gpu *gpus;
	unsigned *first_gpu; /* per node: index of its first GPU in s->gpus */
	unsigned n_nodes;
	struct plan_pod *pods;
	unsigned *pod_of; /* plan pod position -> workload index */
	double last_plan; /* when the last plan ran (-inf: never): a burst is a change sooner than batch_s after */
};

static int kerf_init(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = calloc(1, sizeof(*st));
	unsigned n_nodes = s->n_gpus ? s->gpus[s->n_gpus - 1].node + 1 : 0;

	if (st == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the kerf policy");
	s->pstate = st;
	st->nodes = calloc(n_nodes, sizeof(*st->nodes));
	st->gpus = calloc(s->n_gpus, sizeof(*st->gpus));
	st->first_gpu = calloc(n_nodes, sizeof(*st->first_gpu));
	st->pods = calloc(s->n_pods ? s->n_pods : 1, sizeof(*st->pods));
	st->pod_of = calloc(s->n_pods ? s->n_pods : 1, sizeof(*st->pod_of));
	if (!st->nodes || !st->gpus || !st->first_gpu || !st->pods || !st->pod_of)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the kerf policy's plan input");
	st->n_nodes = n_nodes;
	st->last_plan = -HUGE_VAL;
	for (unsigned g = 0; g < s->n_gpus; g++) {
		struct plan_node *nd = &st->nodes[s->gpus[g].node];

		if (nd->n_gpus == 0) {
			nd->gpus = &st->gpus[g];
			st->first_gpu[s->gpus[g].node] = g;
			snprintf(nd->name, sizeof(nd->name), "node-%05u", s->gpus[g].node);
		}
		nd->n_gpus++;
		st->gpus[g].index = s->gpus[g].index;
		st->gpus[g].model = s->gpus[g].model;
	}
	return 0;
}

static void kerf_fini(struct sim *s)
{
	struct kerf_state *st = s->pstate;

	if (st == NULL)
		return;
	free(st->nodes);
	free(st->gpus);
	free(st->first_gpu);
	free(st->pods);
	free(st->pod_of);
	free(st);
	s->pstate = NULL;
}

/* Whether pod p has waited long enough to go before younger pods of its priority. */
static bool aged(const struct sim *s, unsigned p)
{
	return s->opt.age_after_s > 0 && s->now - s->pods[p].arrival >= s->opt.age_after_s;
}

/* How many distinct priorities the waiting pods have (s->waiting is in descending priority order). */
static unsigned priority_levels(const struct sim *s)
{
	unsigned levels = 0;
	int prev = 0;

	for (unsigned w = 0; w < s->n_waiting; w++) {
		unsigned p = s->waiting[w];

		if (s->pods[p].state == POD_WAITING && (levels == 0 || s->pods[p].priority != prev)) {
			levels++;
			prev = s->pods[p].priority;
		}
	}
	return levels;
}

/*
 * The plan's input: every GPU as it is now, and every waiting pod in scheduling order. A pod's planner
 * priority is its priority's rank among the waiting pods' (0 the lowest) doubled, plus one once it has aged:
 * an aged pod goes before every younger pod of its priority, never before a pod of a higher one.
 */
static void fill_input(struct sim *s, struct kerf_state *st, struct plan_input *in)
{
	unsigned n = 0, levels = priority_levels(s), level = 0, seen = 0;
	int prev = 0;

	for (unsigned g = 0; g < s->n_gpus; g++)
		st->gpus[g].layout = s->gpus[g].layout;
	for (unsigned w = 0; w < s->n_waiting; w++) {
		unsigned p = s->waiting[w];
		struct plan_pod *pp = &st->pods[n];

		if (s->pods[p].state != POD_WAITING)
			continue;
		if (seen++ > 0 && s->pods[p].priority != prev)
			level++;
		prev = s->pods[p].priority;
		/* A profile no model of the cluster has cannot be planned for; the planner would only say so. */
		if (s->classes[s->pods[p].cls].memory_slices == 0)
			continue;
		memset(pp, 0, sizeof(*pp));
		snprintf(pp->name, sizeof(pp->name), "sim/pod-%u", p);
		pp->priority = (int)(levels - 1 - level) * 2 + aged(s, p);
		pp->n_demands = 1;
		pp->demands[0].count = 1;
		mig_resource_name(s->classes[s->pods[p].cls].profile, pp->demands[0].resource,
				  sizeof(pp->demands[0].resource));
		st->pod_of[n++] = p;
	}
	*in = (struct plan_input){ .n_nodes = st->n_nodes, .nodes = st->nodes, .n_pods = n, .pods = st->pods };
}

static int apply(struct sim *s, struct kerf_state *st, const struct plan_output *out, struct kerf_err *err)
{
	for (unsigned i = 0; i < out->n_changes; i++) {
		const struct plan_change *ch = &out->changes[i];

		if (sim_replace_layout(s, st->first_gpu[ch->node] + ch->gpu, &ch->layout, err) != 0)
			return -1;
	}
	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		unsigned p = st->pod_of[a->pod], g;
		int inst = -1;

		if (a->n_bindings != 1)
			return kerf_err_set(err, KERF_EINTERNAL, "planner gave pod %u %u instances for one demand", p,
					    a->n_bindings);
		g = st->first_gpu[a->node] + a->bindings[0].gpu;
		for (unsigned k = 0; k < s->gpus[g].layout.n && inst < 0; k++)
			if (s->gpus[g].pod[k] == SIM_NO_POD && s->gpus[g].layout.inst[k].profile == a->bindings[0].profile &&
			    s->gpus[g].layout.inst[k].start == a->bindings[0].start)
				inst = (int)k;
		if (inst < 0)
			return kerf_err_set(err, KERF_EINTERNAL, "planner bound pod %u to an instance gpus[%u] lacks", p, g);
		if (sim_bind(s, p, g, (unsigned)inst, err) != 0)
			return -1;
	}
	return 0;
}

static int kerf_batch(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = s->pstate;
	struct plan_input in;
	struct plan_output out = { 0 };
	int rc;

	st->last_plan = s->now;
	fill_input(s, st, &in);
	if (in.n_pods == 0)
		return 0;
	s->res->plans++;
	if (plan_run(&in, &out, err) != 0) {
		if (err)
			err->code = KERF_EINTERNAL;
		return kerf_err_prefix(err, "planner failed at t=%.3f s", s->now);
	}
	rc = apply(s, st, &out, err);
	plan_output_free(&out);
	return rc;
}

/*
 * After each arrival or departure step that leaves pods waiting: plan at once if no plan ran within the
 * last batch_s (the cluster was quiet: a lone change does not wait), else open the burst window (the timer),
 * whose plan takes every change that came within it.
 */
static int kerf_step(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = s->pstate;

	if (sim_waiting(s) == 0)
		return 0;
	if (!s->timer_armed && s->now - st->last_plan >= s->opt.batch_s)
		return kerf_batch(s, err);
	sim_arm_timer(s);
	return 0;
}

const struct sim_policy_ops sim_ops_kerf = {
	.init = kerf_init, .step = kerf_step, .batch = kerf_batch, .fini = kerf_fini, .batching = true,
};

#else

static int kerf_unavailable(struct sim *s, struct kerf_err *err)
{
	(void)s;
	return kerf_err_set(err, KERF_EUNSUPPORTED, "policy kerf: this build has no planner library (src/plan)");
}

const struct sim_policy_ops sim_ops_kerf = { .init = kerf_unavailable };

#endif
