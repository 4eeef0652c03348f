/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy_kerf.c — kerf itself: the real planner, called the way the controller calls it.
 *
 * When: as the controller does, a change that leaves pods waiting is planned at once, unless the last
 * window of batch_s already holds two plans; then it is part of a burst, and a timer of batch_s collects
 * what comes before one plan takes it all. One plan_run() sees the whole cluster (every GPU's layout, with
 * used instances marked) and every waiting pod. Its changes become the GPUs' new layouts (the simulator
 * checks that no used instance moved) and its assignments bind pods to the instances it made for them.
 *
 * No starvation, also as the controller does: a pod that has waited age_after_s goes before younger pods
 * of its priority, never before a higher priority (the planner is given levels, not priorities: per
 * priority, its aged pods above its young ones). The planner maximises the pods placed level by level, so without this a large pod
 * loses a freshly emptied GPU to as many small ones as fit there, again and again.
 *
 * Holds (hold_s > 0; the simulator only, the controller does not hold yet): an aged pod of the highest
 * waiting priority that a plan could not place gets one GPU kept for it, the one where the fewest used
 * slices stand in the way of its instance. Every plan then runs in two parts, both through the planner's
 * input alone: the holders on their held GPUs, then every waiting pod on the other GPUs; and a held GPU
 * keeps only its used instances (a free one would be bound by the scheduler to the next pod of its size
 * before kerf plans, and the GPU would never drain). A hold ends when its pod runs or after hold_s; that
 * pod then gets none for another hold_s, so that a GPU is never kept idle for good.
 *
 * Packing (pack, off by default): plan_run_packed() (src/plan/pack.c) instead of plan_run(), so that a
 * plan re-cuts the free slices of busy GPUs before it opens an idle one, which stays whole for a large pod.
 * It is planner code, so a controller can call it as it is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "plan.h"

/* No hold on a GPU: hold_pod[g]. */
#define NO_HOLD (-1)

/* Plans a window of batch_s may hold before further changes wait for it to end (the controller's rule). */
#define SIM_BURST_PLANS 2

struct kerf_state {
	/* The plan's view of the cluster, rebuilt for every plan_run() from the GPUs it may use: nodes[] and
	 * gpus[] are what the planner sees, gmap[] maps gpus[] positions to s->gpus, node_gpu0[n] is the
	 * position of node n's first GPU in gpus[] (nodes with no usable GPU are left out). */
	struct plan_node *nodes;
	struct plan_gpu *gpus;
	unsigned *gmap, *node_gpu0;
	unsigned n_nodes;
	struct plan_pod *pods;
	unsigned *pod_of; /* plan pod position -> workload index */
	unsigned *lvl;    /* per pod: scratch, its planner level counted from the top */
	/* When the last two plans ran (-inf: never), latest first: a change that comes while both are less
	 * than batch_s old is part of a burst. */
	double plan_t[SIM_BURST_PLANS];
	/* Holds: hold_pod[g] is the waiting pod GPU g is kept for, until hold_until[g]; a pod whose hold
	 * expired gets no new one before no_hold_until[p]. */
	int *hold_pod;
	double *hold_until, *no_hold_until;
	unsigned char *holder; /* per pod: holds a GPU now */
	unsigned char *held;   /* per GPU: scratch, the plan's GPU filter */
};

static int kerf_init(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = calloc(1, sizeof(*st));
	unsigned n_nodes = s->n_gpus ? s->gpus[s->n_gpus - 1].node + 1 : 0, np = s->n_pods ? s->n_pods : 1;

	if (st == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the kerf policy");
	s->pstate = st;
	st->nodes = calloc(n_nodes + 1, sizeof(*st->nodes));
	st->gpus = calloc(s->n_gpus + 1, sizeof(*st->gpus));
	st->gmap = calloc(s->n_gpus + 1, sizeof(*st->gmap));
	st->node_gpu0 = calloc(n_nodes + 1, sizeof(*st->node_gpu0));
	st->pods = calloc(np, sizeof(*st->pods));
	st->pod_of = calloc(np, sizeof(*st->pod_of));
	st->lvl = calloc(np, sizeof(*st->lvl));
	st->hold_pod = malloc((s->n_gpus + 1) * sizeof(*st->hold_pod));
	st->hold_until = calloc(s->n_gpus + 1, sizeof(*st->hold_until));
	st->held = calloc(s->n_gpus + 1, 1);
	st->no_hold_until = calloc(np, sizeof(*st->no_hold_until));
	st->holder = calloc(np, 1);
	if (!st->nodes || !st->gpus || !st->gmap || !st->node_gpu0 || !st->pods || !st->pod_of || !st->lvl || !st->hold_pod ||
	    !st->hold_until || !st->held || !st->no_hold_until || !st->holder)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the kerf policy's plan input");
	for (unsigned g = 0; g < s->n_gpus; g++)
		st->hold_pod[g] = NO_HOLD;
	for (unsigned i = 0; i < SIM_BURST_PLANS; i++)
		st->plan_t[i] = -HUGE_VAL;
	return 0;
}

static void kerf_fini(struct sim *s)
{
	struct kerf_state *st = s->pstate;

	if (st == NULL)
		return;
	free(st->nodes);
	free(st->gpus);
	free(st->gmap);
	free(st->node_gpu0);
	free(st->pods);
	free(st->pod_of);
	free(st->lvl);
	free(st->hold_pod);
	free(st->hold_until);
	free(st->held);
	free(st->no_hold_until);
	free(st->holder);
	free(st);
	s->pstate = NULL;
}

/* ---- the planner's input ---------------------------------------------------------------------------- */

/* The GPUs the plan may use: those with use[g] == want (every GPU when use is NULL). */
static void fill_nodes(struct sim *s, struct kerf_state *st, const unsigned char *use, unsigned char want)
{
	unsigned n = 0, k = 0;

	for (unsigned g = 0; g < s->n_gpus; g++) {
		struct plan_node *nd;

		if (use != NULL && use[g] != want)
			continue;
		if (n == 0 || s->gpus[st->gmap[k - 1]].node != s->gpus[g].node) {
			nd = &st->nodes[n];
			memset(nd, 0, sizeof(*nd));
			nd->gpus = &st->gpus[k];
			snprintf(nd->name, sizeof(nd->name), "node-%05u", s->gpus[g].node);
			st->node_gpu0[n++] = k;
		} else {
			nd = &st->nodes[n - 1];
		}
		st->gpus[k] = (struct plan_gpu){ .index = s->gpus[g].index, .model = s->gpus[g].model,
						 .layout = s->gpus[g].layout };
		st->gmap[k++] = g;
		nd->n_gpus++;
	}
	st->n_nodes = n;
}

/* Whether pod p has waited long enough to gain standing over younger pods of its priority. */
static bool aged(const struct sim *s, unsigned p)
{
	return s->opt.age_after_s > 0 && s->now - s->pods[p].arrival >= s->opt.age_after_s;
}

/*
 * The planner's level of each waiting pod, counted from the top (lvl[p]); returns how many levels. Per
 * priority, descending: its aged pods, then its young ones, as two levels when it has both and one when
 * not, so that aging adds no level the planner need not tell apart (its exact search takes a few levels).
 */
static unsigned levels(struct sim *s, struct kerf_state *st)
{
	unsigned w = 0, next = 0;

	while (w < s->n_waiting) {
		bool old = false, young = false;
		unsigned e;
		int prio;

		if (s->pods[s->waiting[w]].state != POD_WAITING) {
			w++;
			continue;
		}
		prio = s->pods[s->waiting[w]].priority;
		for (e = w; e < s->n_waiting; e++) {
			unsigned p = s->waiting[e];

			if (s->pods[p].state != POD_WAITING)
				continue;
			if (s->pods[p].priority != prio)
				break;
			if (aged(s, p))
				old = true;
			else
				young = true;
		}
		for (unsigned k = w; k < e; k++)
			st->lvl[s->waiting[k]] = next + (old && young && !aged(s, s->waiting[k]));
		next += 1 + (old && young);
		w = e;
	}
	return next;
}

/*
 * The waiting pods, in scheduling order (only the holders when holders is set), each with its level as its
 * planner priority: the order of the priorities is kept, and within one the aged pods come first. So aging
 * never lifts a pod over a higher priority, and the planner, which serves higher priorities first and then
 * input order, serves aged pods oldest first.
 */
static unsigned fill_pods(struct sim *s, struct kerf_state *st, bool holders)
{
	unsigned n = 0, top = levels(s, st);

	for (unsigned w = 0; w < s->n_waiting; w++) {
		unsigned p = s->waiting[w];
		struct plan_pod *pp = &st->pods[n];

		if (s->pods[p].state != POD_WAITING)
			continue;
		/* A profile no model of the cluster has cannot be planned for; the planner would only say so. */
		if (s->classes[s->pods[p].cls].memory_slices == 0 || (holders && !st->holder[p]))
			continue;
		memset(pp, 0, sizeof(*pp));
		snprintf(pp->name, sizeof(pp->name), "sim/pod-%u", p);
		pp->priority = (int)(top - 1 - st->lvl[p]);
		pp->n_demands = 1;
		pp->demands[0].count = 1;
		mig_resource_name(s->classes[s->pods[p].cls].profile, pp->demands[0].resource,
				  sizeof(pp->demands[0].resource));
		st->pod_of[n++] = p;
	}
	return n;
}

static int apply(struct sim *s, struct kerf_state *st, const struct plan_output *out, struct kerf_err *err)
{
	for (unsigned i = 0; i < out->n_changes; i++) {
		const struct plan_change *ch = &out->changes[i];

		if (sim_replace_layout(s, st->gmap[st->node_gpu0[ch->node] + ch->gpu], &ch->layout, err) != 0)
			return -1;
	}
	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		unsigned p = st->pod_of[a->pod], g;
		int inst = -1;

		if (a->n_bindings != 1)
			return kerf_err_set(err, KERF_EINTERNAL, "planner gave pod %u %u instances for one demand", p,
					    a->n_bindings);
		g = st->gmap[st->node_gpu0[a->node] + a->bindings[0].gpu];
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

/* One plan_run() over the GPUs with use[g] == want (all if use is NULL) for the waiting pods fill_pods()
 * takes; its changes and bindings applied. */
static int plan_part(struct sim *s, struct kerf_state *st, const unsigned char *use, unsigned char want, bool holders,
		     struct kerf_err *err)
{
	struct plan_input in;
	struct plan_output out = { 0 };
	unsigned n;
	int rc;

	n = fill_pods(s, st, holders);
	if (n == 0)
		return 0;
	fill_nodes(s, st, use, want);
	if (st->n_nodes == 0)
		return 0;
	in = (struct plan_input){ .n_nodes = st->n_nodes, .nodes = st->nodes, .n_pods = n, .pods = st->pods };
	s->res->plans++;
	if ((s->opt.pack ? plan_run_packed(NULL, &in, &out, err) : plan_run(&in, &out, err)) != 0) {
		if (err)
			err->code = KERF_EINTERNAL;
		return kerf_err_prefix(err, "planner failed at t=%.3f s", s->now);
	}
	rc = apply(s, st, &out, err);
	plan_output_free(&out);
	return rc;
}

/* ---- holds ------------------------------------------------------------------------------------------ */

/* Ends holds whose pod no longer waits or whose time is up (that pod then gets no new hold for hold_s). */
static unsigned expire_holds(struct sim *s, struct kerf_state *st)
{
	unsigned left = 0;

	for (unsigned g = 0; g < s->n_gpus; g++) {
		int p = st->hold_pod[g];

		st->held[g] = 0;
		if (p == NO_HOLD)
			continue;
		if (s->pods[p].state == POD_WAITING && s->now < st->hold_until[g]) {
			st->held[g] = 1;
			left++;
			continue;
		}
		if (s->pods[p].state == POD_WAITING)
			st->no_hold_until[p] = s->now + s->opt.hold_s;
		st->holder[p] = 0;
		st->hold_pod[g] = NO_HOLD;
	}
	return left;
}

/* How many running pods' memory slices stand in the way of pod p's instance on GPU g at its best start;
 * -1 if g's model lacks the profile. */
static int blockers(const struct sim *s, unsigned g, unsigned p)
{
	int prof = sim_prof(s, g, s->pods[p].cls), best = -1;
	mig_mask used = sim_used_mask(s, g);
	const struct mig_profile *mp;

	if (prof < 0)
		return -1;
	mp = &s->gpus[g].model->profiles[prof];
	for (unsigned k = 0; k < mp->n_starts; k++) {
		int n = __builtin_popcount(used & mig_profile_mask(mp, mp->starts[k]));

		if (best < 0 || n < best)
			best = n;
	}
	return best;
}

/*
 * Holds a GPU for each pod that still waits after the plan, has aged, is of the highest priority waiting
 * and holds none yet: the GPU not held already where the fewest used slices stand in the way of its
 * instance (the first such GPU on ties). At most one GPU in SIM_HOLD_SHARE is held at a time.
 */
#define SIM_HOLD_SHARE 20

static void take_holds(struct sim *s, struct kerf_state *st, unsigned held)
{
	unsigned cap = s->n_gpus / SIM_HOLD_SHARE ? s->n_gpus / SIM_HOLD_SHARE : 1;
	bool first = true;
	int top = 0;

	for (unsigned w = 0; w < s->n_waiting && held < cap; w++) {
		unsigned p = s->waiting[w];
		int best = -1, gbest = -1;

		if (s->pods[p].state != POD_WAITING)
			continue;
		if (first) {
			top = s->pods[p].priority;
			first = false;
		}
		if (s->pods[p].priority != top)
			break;
		if (!aged(s, p) || st->holder[p] || s->now < st->no_hold_until[p] ||
		    s->classes[s->pods[p].cls].memory_slices == 0)
			continue;
		for (unsigned g = 0; g < s->n_gpus; g++) {
			int b = st->hold_pod[g] == NO_HOLD ? blockers(s, g, p) : -1;

			if (b >= 0 && (gbest < 0 || b < best)) {
				best = b;
				gbest = (int)g;
			}
		}
		if (gbest < 0)
			continue;
		st->hold_pod[gbest] = (int)p;
		st->hold_until[gbest] = s->now + s->opt.hold_s;
		st->holder[p] = 1;
		held++;
	}
}

/*
 * A held GPU keeps only its used instances: a free one left there would be taken by the next pod of its
 * size (the scheduler binds before kerf plans), and the GPU would never drain. A controller that holds would
 * write a spec that lists the used instances alone.
 */
static int strip_held(struct sim *s, struct kerf_state *st, struct kerf_err *err)
{
	for (unsigned g = 0; g < s->n_gpus; g++) {
		struct mig_layout l = { 0 };

		if (st->hold_pod[g] == NO_HOLD)
			continue;
		for (unsigned i = 0; i < s->gpus[g].layout.n; i++)
			if (s->gpus[g].pod[i] != SIM_NO_POD)
				l.inst[l.n++] = s->gpus[g].layout.inst[i];
		if (l.n != s->gpus[g].layout.n && sim_replace_layout(s, g, &l, err) != 0)
			return -1;
	}
	return 0;
}

/* ---- the policy ------------------------------------------------------------------------------------- */

/*
 * A plan. With holds: first the holders alone on the held GPUs (so a held GPU goes to the pod it is kept
 * for as soon as it can host it), then every waiting pod on the other GPUs; then the pods that still wait
 * may take new holds.
 */
static int kerf_plan(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = s->pstate;
	unsigned held;

	memmove(&st->plan_t[1], &st->plan_t[0], (SIM_BURST_PLANS - 1) * sizeof(st->plan_t[0]));
	st->plan_t[0] = s->now;
	if (s->opt.hold_s <= 0)
		return plan_part(s, st, NULL, 0, false, err);
	held = expire_holds(s, st);
	if (held > 0 && plan_part(s, st, st->held, 1, true, err) != 0)
		return -1;
	held = expire_holds(s, st);
	if (plan_part(s, st, st->held, 0, false, err) != 0)
		return -1;
	take_holds(s, st, held);
	return strip_held(s, st, err);
}

/*
 * After each arrival or departure step that leaves pods waiting: plan at once (a timer of 0 s, so that
 * every change of this instant is in the plan) unless the last batch_s already holds two plans; then open
 * the burst window (a timer of batch_s), whose plan takes every change that came within it.
 */
static int kerf_step(struct sim *s, struct kerf_err *err)
{
	struct kerf_state *st = s->pstate;

	(void)err;
	if (sim_waiting(s) == 0)
		return 0;
	if (s->now - st->plan_t[SIM_BURST_PLANS - 1] >= s->opt.batch_s)
		sim_arm_timer_in(s, 0); /* at once, with whatever else changes at this instant */
	else
		sim_arm_timer(s);
	return 0;
}

static int kerf_batch(struct sim *s, struct kerf_err *err)
{
	if (sim_waiting(s) == 0)
		return 0;
	return kerf_plan(s, err);
}

const struct sim_policy_ops sim_ops_kerf = {
	.init = kerf_init, .step = kerf_step, .batch = kerf_batch, .fini = kerf_fini, .batching = true,
};
