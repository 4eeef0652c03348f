/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.c — the event loop, the primitives policies act through, and the metrics.
 *
 * Time advances from event to event. Events at one instant are handled in kind order (departures free
 * slices before arrivals look for them, and policy timers come last), then in the order they were made;
 * all events of one kind at one instant form a step, after which the scheduler binds what fits and the
 * policy acts. The state is small (a layout and a pod array per GPU), so every primitive can afford to
 * check the layout it produces with mig_layout_check().
 */
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"

enum ev_kind { EV_DEPART = 0, EV_ARRIVE = 1, EV_TIMER = 2 };

/* ---- event heap ---------------------------------------------------------------------------------------- */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if (a->kind != b->kind)
		return a->kind < b->kind;
	return a->seq < b->seq;
}

static int heap_push(struct sim *s, double t, unsigned kind, unsigned pod, struct kerf_err *err)
{
	struct sim_event e = { .t = t, .kind = kind, .seq = s->seq++, .pod = pod };
	unsigned i;

	if (kerf_grow(&s->heap, &s->heap_cap, s->heap_n + 1, sizeof(*s->heap), UINT_MAX, "event queue", err) < 0)
		return -1;
	i = s->heap_n++;
	while (i > 0 && ev_before(&e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
	return 0;
}

static struct sim_event heap_pop(struct sim *s)
{
	struct sim_event top = s->heap[0], last = s->heap[--s->heap_n];
	unsigned i = 0;

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= s->heap_n)
			break;
		if (c + 1 < s->heap_n && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->heap_n > 0)
		s->heap[i] = last;
	return top;
}

/* ---- accounting ---------------------------------------------------------------------------------------- */

/* Integrates utilisation up to t (capped at the last arrival) and records the samples that fall before t. */
static void advance(struct sim *s, double t)
{
	struct sim_result *r = s->res;
	double until = t < r->last_arrival ? t : r->last_arrival;

	if (until > s->acc_until) {
		s->acc_compute += (until - s->acc_until) * s->used_compute;
		s->acc_memory += (until - s->acc_until) * s->used_memory;
		s->acc_until = until;
	}
	while (s->next_sample < r->n_samples && s->next_sample * s->sample_dt < t) {
		unsigned i = s->next_sample++;

		r->t[i] = i * s->sample_dt;
		r->compute[i] = (double)s->used_compute / s->total_compute;
		r->memory[i] = (double)s->used_memory / s->total_memory;
		r->waiting[i] = sim_waiting(s);
	}
	s->now = t;
}

static void hold(struct sim *s, unsigned g, unsigned inst, int sign)
{
	const struct mig_profile *pr = &s->gpus[g].model->profiles[s->gpus[g].layout.inst[inst].profile];

	s->used_compute = (unsigned)((int)s->used_compute + sign * (int)pr->compute_slices);
	s->used_memory = (unsigned)((int)s->used_memory + sign * (int)pr->memory_slices);
}

/* ---- waiting list -------------------------------------------------------------------------------------- */

static bool wait_before(const struct sim *s, unsigned a, unsigned b)
{
	if (s->pods[a].priority != s->pods[b].priority)
		return s->pods[a].priority > s->pods[b].priority;
	return a < b;
}

/* Position at which p goes into the ordered list v[0..n). */
static unsigned wait_pos(const struct sim *s, const unsigned *v, unsigned n, unsigned p)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (wait_before(s, v[mid], p))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Drops the entries of pods that no longer wait from v[0..*n). */
static void sweep(const struct sim *s, unsigned *v, unsigned *n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < *n; i++)
		if (s->pods[v[i]].state == POD_WAITING)
			v[k++] = v[i];
	*n = k;
}

static int wait_insert(struct sim *s, unsigned p, struct kerf_err *err)
{
	unsigned c = s->pods[p].cls, at;

	if (kerf_grow(&s->cwait[c].v, &s->cwait[c].cap, s->cwait[c].n + 1, sizeof(unsigned), UINT_MAX, "queue",
		      NULL) < 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory queueing pods");
	at = wait_pos(s, s->cwait[c].v, s->cwait[c].n, p);
	memmove(&s->cwait[c].v[at + 1], &s->cwait[c].v[at], (s->cwait[c].n - at) * sizeof(unsigned));
	s->cwait[c].v[at] = p;
	s->cwait[c].n++;
	/* The global list has room for every pod once, which is all it ever holds (see evict()). */
	at = wait_pos(s, s->waiting, s->n_waiting, p);
	memmove(&s->waiting[at + 1], &s->waiting[at], (s->n_waiting - at) * sizeof(s->waiting[0]));
	s->waiting[at] = p;
	s->n_waiting++;
	s->pods[p].state = POD_WAITING;
	s->waiting_of[c]++;
	return 0;
}

/* p stopped waiting: its entries become stale. They are swept by tidy(), never here, because callers may be
 * walking a list while they place pods. */
static void wait_remove(struct sim *s, unsigned p)
{
	unsigned c = s->pods[p].cls;

	s->waiting_of[c]--;
	s->stale++;
	s->cwait[c].stale++;
}

/* Sweeps each list whose stale entries have grown to half of it: amortised O(1) per placed pod. */
static void tidy(struct sim *s)
{
	if (s->stale * 2 > s->n_waiting) {
		sweep(s, s->waiting, &s->n_waiting);
		s->stale = 0;
	}
	for (unsigned c = 0; c < s->n_classes; c++)
		if (s->cwait[c].stale * 2 > s->cwait[c].n) {
			sweep(s, s->cwait[c].v, &s->cwait[c].n);
			s->cwait[c].stale = 0;
		}
}

/* Remembers that p waits and has not been counted blocked; it fails only on out-of-memory. */
static int uncounted_push(struct sim *s, unsigned p, struct kerf_err *err)
{
	unsigned c = s->pods[p].cls;

	if (s->pods[p].blocked_counted)
		return 0;
	if (kerf_grow(&s->uncounted[c].v, &s->uncounted[c].cap, s->uncounted[c].n + 1, sizeof(unsigned), UINT_MAX,
		      "waiting pods", NULL) < 0)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory tracking waiting pods");
	s->uncounted[c].v[s->uncounted[c].n++] = p;
	return 0;
}

/* ---- primitives ---------------------------------------------------------------------------------------- */

mig_mask sim_used_mask(const struct sim *s, unsigned g)
{
	const struct sim_gpu *gpu = &s->gpus[g];
	mig_mask m = 0;

	for (unsigned i = 0; i < gpu->layout.n; i++)
		if (gpu->pod[i] != SIM_NO_POD)
			m |= mig_profile_mask(&gpu->model->profiles[gpu->layout.inst[i].profile], gpu->layout.inst[i].start);
	return m;
}

int sim_create(struct sim *s, unsigned g, unsigned profile, unsigned start)
{
	struct sim_gpu *gpu = &s->gpus[g];
	unsigned i = gpu->layout.n;

	if (i >= MIG_MAX_INSTANCES || profile >= gpu->model->n_profiles)
		return -1;
	if (mig_layout_occupied(gpu->model, &gpu->layout) & mig_profile_mask(&gpu->model->profiles[profile], start))
		return -1;
	gpu->layout.inst[i] = (struct mig_instance){ .profile = (uint8_t)profile, .start = (uint8_t)start };
	gpu->layout.n++;
	if (!mig_profile_start_ok(&gpu->model->profiles[profile], start) ||
	    mig_layout_check(gpu->model, &gpu->layout, NULL) != 0) {
		gpu->layout.n--;
		return -1;
	}
	gpu->pod[i] = SIM_NO_POD;
	gpu->ready_at[i] = s->now + s->opt.reconfig_s;
	s->res->created++;
	s->step_created++;
	return (int)i;
}

static void remove_instance(struct sim_gpu *gpu, unsigned inst)
{
	unsigned tail = gpu->layout.n - inst - 1;

	memmove(&gpu->layout.inst[inst], &gpu->layout.inst[inst + 1], tail * sizeof(gpu->layout.inst[0]));
	memmove(&gpu->pod[inst], &gpu->pod[inst + 1], tail * sizeof(gpu->pod[0]));
	memmove(&gpu->ready_at[inst], &gpu->ready_at[inst + 1], tail * sizeof(gpu->ready_at[0]));
	gpu->layout.n--;
}

int sim_destroy(struct sim *s, unsigned g, unsigned inst, struct kerf_err *err)
{
	struct sim_gpu *gpu = &s->gpus[g];

	if (inst >= gpu->layout.n)
		return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: no instance %u to destroy", g, inst);
	if (gpu->pod[inst] != SIM_NO_POD)
		return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: policy %s tried to destroy instance %u, used by pod %d",
				    g, s->policy.name, inst, gpu->pod[inst]);
	remove_instance(gpu, inst);
	s->res->destroyed++;
	s->step_destroyed++;
	return 0;
}

int sim_find_free(const struct sim *s, unsigned g, unsigned profile)
{
	const struct sim_gpu *gpu = &s->gpus[g];

	for (unsigned i = 0; i < gpu->layout.n; i++)
		if (gpu->pod[i] == SIM_NO_POD && gpu->layout.inst[i].profile == profile)
			return (int)i;
	return -1;
}

static int push_departure(struct sim *s, unsigned p, struct kerf_err *err)
{
	return heap_push(s, s->pods[p].start + s->pods[p].duration, EV_DEPART, p, err);
}

int sim_bind(struct sim *s, unsigned p, unsigned g, unsigned inst, struct kerf_err *err)
{
	struct sim_gpu *gpu = &s->gpus[g];
	struct sim_pod *pod = &s->pods[p];
	double ready;

	if (pod->state != POD_WAITING || inst >= gpu->layout.n || gpu->pod[inst] != SIM_NO_POD ||
	    (int)gpu->layout.inst[inst].profile != sim_prof(s, g, pod->cls))
		return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: policy %s bound pod %u to instance %u, which does not fit it",
				    g, s->policy.name, p, inst);
	ready = gpu->ready_at[inst] > s->now ? gpu->ready_at[inst] : s->now;
	gpu->pod[inst] = (int)p;
	gpu->layout.inst[inst].used = true;
	pod->state = POD_RUNNING;
	wait_remove(s, p);
	pod->start = ready;
	pod->gpu = (int)g;
	hold(s, g, inst, +1);
	s->step_placed++;
	return push_departure(s, p, err);
}

int sim_move(struct sim *s, unsigned p, unsigned g, unsigned inst, struct kerf_err *err)
{
	struct sim_pod *pod = &s->pods[p];
	struct sim_gpu *from = &s->gpus[pod->gpu];

	for (unsigned i = 0; i < from->layout.n; i++)
		if (from->pod[i] == (int)p) {
			hold(s, (unsigned)pod->gpu, i, -1);
			from->pod[i] = SIM_NO_POD;
			from->layout.inst[i].used = false;
			break;
		}
	if (s->gpus[g].pod[inst] != SIM_NO_POD)
		return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: moving pod %u onto a used instance", g, p);
	s->gpus[g].pod[inst] = (int)p;
	s->gpus[g].layout.inst[inst].used = true;
	pod->gpu = (int)g;
	hold(s, g, inst, +1);
	s->res->disturbed++;
	return 0;
}

static int evict(struct sim *s, unsigned g, unsigned inst, struct kerf_err *err)
{
	unsigned p = (unsigned)s->gpus[g].pod[inst];

	hold(s, g, inst, -1);
	s->gpus[g].pod[inst] = SIM_NO_POD;
	s->gpus[g].layout.inst[inst].used = false;
	s->res->disturbed++;
	/* Its departure event no longer matches start + duration and is ignored. Its stale queue entries go
	 * first, so that no list ever holds it twice. */
	sweep(s, s->waiting, &s->n_waiting);
	s->stale = 0;
	sweep(s, s->cwait[s->pods[p].cls].v, &s->cwait[s->pods[p].cls].n);
	s->cwait[s->pods[p].cls].stale = 0;
	if (wait_insert(s, p, err) != 0)
		return -1;
	return uncounted_push(s, p, err);
}

int sim_replace_layout(struct sim *s, unsigned g, const struct mig_layout *l, struct kerf_err *err)
{
	struct sim_gpu *gpu = &s->gpus[g];
	struct sim_gpu next = *gpu;
	bool matched[MIG_MAX_INSTANCES] = { false };
	struct kerf_err why;

	if (mig_layout_check(gpu->model, l, &why) != 0)
		return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: policy %s asked for an invalid layout: %s", g,
				    s->policy.name, why.msg);
	next.layout = *l;
	for (unsigned j = 0; j < l->n; j++) {
		int found = -1;

		for (unsigned i = 0; i < gpu->layout.n && found < 0; i++)
			if (!matched[i] && gpu->layout.inst[i].profile == l->inst[j].profile &&
			    gpu->layout.inst[i].start == l->inst[j].start)
				found = (int)i;
		if (found < 0 && l->inst[j].used)
			return kerf_err_set(err, KERF_EINTERNAL, "gpus[%u]: policy %s claims a used instance %u that is not there",
					    g, s->policy.name, j);
		if (found >= 0) {
			matched[found] = true;
			next.pod[j] = gpu->pod[found];
			next.ready_at[j] = gpu->ready_at[found];
		} else {
			next.pod[j] = SIM_NO_POD;
			next.ready_at[j] = s->now + s->opt.reconfig_s;
			s->res->created++;
			s->step_created++;
		}
		next.layout.inst[j].used = next.pod[j] != SIM_NO_POD;
	}
	for (unsigned i = 0; i < gpu->layout.n; i++) {
		if (matched[i])
			continue;
		if (gpu->pod[i] != SIM_NO_POD && evict(s, g, i, err) != 0)
			return -1;
		s->res->destroyed++;
		s->step_destroyed++;
	}
	*gpu = next;
	return 0;
}

void sim_arm_timer_in(struct sim *s, double delay)
{
	if (s->timer_armed)
		return;
	/* heap_push fails only on out-of-memory; the timer is then retried at the next step. */
	if (heap_push(s, s->now + delay, EV_TIMER, 0, NULL) == 0)
		s->timer_armed = true;
}

void sim_arm_timer(struct sim *s)
{
	sim_arm_timer_in(s, s->opt.batch_s);
}

/* ---- the scheduler ------------------------------------------------------------------------------------- */

static int class_of(const struct sim *s, unsigned g, unsigned profile)
{
	for (unsigned c = 0; c < s->n_classes; c++)
		if (s->gpus[g].prof_of_class[c] == (int)profile)
			return (int)c;
	return -1;
}

int sim_schedule(struct sim *s, struct kerf_err *err)
{
	unsigned free_of[SIM_MAX_CLASSES] = { 0 };
	unsigned todo = 0; /* binds still possible: per class, the fewer of free instances and waiting pods */

	for (unsigned g = 0; g < s->n_gpus; g++)
		for (unsigned i = 0; i < s->gpus[g].layout.n; i++)
			if (s->gpus[g].pod[i] == SIM_NO_POD) {
				int c = class_of(s, g, s->gpus[g].layout.inst[i].profile);

				if (c >= 0)
					free_of[c]++;
			}
	for (unsigned c = 0; c < s->n_classes; c++)
		todo += free_of[c] < s->waiting_of[c] ? free_of[c] : s->waiting_of[c];
	/* A free instance serves one class only, so classes are bound independently, each in queue order. */
	for (unsigned c = 0; c < s->n_classes && todo > 0; c++)
		for (unsigned k = 0; k < s->cwait[c].n && free_of[c] > 0; k++) {
			unsigned p = s->cwait[c].v[k];

			if (s->pods[p].state != POD_WAITING)
				continue;
			for (unsigned g = 0; g < s->n_gpus; g++) {
				int prof = sim_prof(s, g, c), inst = prof < 0 ? -1 : sim_find_free(s, g, (unsigned)prof);

				if (inst >= 0) {
					if (sim_bind(s, p, g, (unsigned)inst, err) != 0)
						return -1;
					free_of[c]--;
					todo--;
					break;
				}
			}
		}
	tidy(s);
	return 0;
}

/* A pod blocked while free: right after the policy acted, it still waits although the cluster's free compute
 * and memory slices, summed over all GPUs, would hold it. Whether a pod fits depends only on its class, so
 * the work is per class: events add up the class's waiting pods; the pods not counted before are marked. */
static void judge_blocked(struct sim *s)
{
	unsigned free_c = s->total_compute - s->used_compute, free_m = s->total_memory - s->used_memory;

	for (unsigned c = 0; c < s->n_classes; c++) {
		const struct sim_class *cl = &s->classes[c];

		if (s->waiting_of[c] == 0 || cl->memory_slices == 0 || cl->compute_slices > free_c ||
		    cl->memory_slices > free_m)
			continue;
		s->res->blocked_events += s->waiting_of[c];
		for (unsigned k = 0; k < s->uncounted[c].n; k++) {
			struct sim_pod *pod = &s->pods[s->uncounted[c].v[k]];

			if (pod->state == POD_WAITING && !pod->blocked_counted) {
				pod->blocked_counted = true;
				s->res->blocked_while_free++;
			}
		}
		s->uncounted[c].n = 0;
	}
}

/* ---- set-up -------------------------------------------------------------------------------------------- */

static int find_class(const struct sim *s, const char *profile)
{
	for (unsigned c = 0; c < s->n_classes; c++)
		if (strcmp(s->classes[c].profile, profile) == 0)
			return (int)c;
	return -1;
}

static int cmp_class(const void *a, const void *b)
{
	const struct sim_class *x = a, *y = b;

	if (x->memory_slices != y->memory_slices)
		return x->memory_slices < y->memory_slices ? -1 : 1;
	if (x->compute_slices != y->compute_slices)
		return x->compute_slices < y->compute_slices ? -1 : 1;
	return strcmp(x->profile, y->profile);
}

/* Classes are the distinct profiles asked for, ordered by size; a class's size is that of the first model
 * in the cluster that has the profile (0 if none has). */
static int build_classes(struct sim *s, struct kerf_err *err)
{
	for (unsigned i = 0; i < s->wl->n; i++) {
		const char *name = s->wl->pods[i].profile;
		struct sim_class *c;

		if (find_class(s, name) >= 0)
			continue;
		if (s->n_classes == SIM_MAX_CLASSES)
			return kerf_err_set(err, KERF_EINVAL, "pods[%u].profile: more than %d distinct profiles", i,
					    SIM_MAX_CLASSES);
		c = &s->classes[s->n_classes++];
		snprintf(c->profile, sizeof(c->profile), "%s", name);
		for (unsigned k = 0; k < s->cluster->n_groups && c->memory_slices == 0; k++) {
			const struct mig_model *m = s->cluster->groups[k].model;
			int p = mig_profile_by_name(m, name);

			if (p >= 0) {
				c->compute_slices = m->profiles[p].compute_slices;
				c->memory_slices = m->profiles[p].memory_slices;
			}
		}
	}
	qsort(s->classes, s->n_classes, sizeof(s->classes[0]), cmp_class);
	s->res->n_classes = s->n_classes;
	return 0;
}

static int build_gpus(struct sim *s, struct kerf_err *err)
{
	unsigned g = 0, node = 0;

	s->n_gpus = sim_cluster_gpus(s->cluster);
	s->gpus = calloc(s->n_gpus ? s->n_gpus : 1, sizeof(*s->gpus));
	s->views = calloc(s->n_gpus ? s->n_gpus : 1, sizeof(*s->views));
	if (s->gpus == NULL || s->views == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %u GPUs", s->n_gpus);
	for (unsigned k = 0; k < s->cluster->n_groups; k++) {
		const struct sim_group *gr = &s->cluster->groups[k];

		for (unsigned n = 0; n < gr->nodes; n++, node++)
			for (unsigned i = 0; i < gr->gpus_per_node; i++, g++) {
				struct sim_gpu *gpu = &s->gpus[g];

				gpu->model = gr->model;
				gpu->node = node;
				gpu->index = i;
				for (unsigned c = 0; c < SIM_MAX_CLASSES; c++)
					gpu->prof_of_class[c] = c < s->n_classes ? mig_profile_by_name(gr->model, s->classes[c].profile) : -1;
				s->views[g] = (struct sim_gpu_view){ .node = node, .index = i, .model = gr->model,
								     .layout = &gpu->layout, .pod = gpu->pod };
			}
	}
	s->total_compute = sim_cluster_compute(s->cluster);
	s->total_memory = sim_cluster_memory(s->cluster);
	return 0;
}

static int build_pods(struct sim *s, struct kerf_err *err)
{
	s->n_pods = s->wl->n;
	s->pods = calloc(s->n_pods ? s->n_pods : 1, sizeof(*s->pods));
	s->waiting = calloc(s->n_pods ? s->n_pods : 1, sizeof(*s->waiting));
	if (s->pods == NULL || s->waiting == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %u pods", s->n_pods);
	for (unsigned i = 0; i < s->n_pods; i++) {
		const struct sim_pod_spec *sp = &s->wl->pods[i];

		if (!(sp->arrival >= 0) || !(sp->duration >= 0) || !isfinite(sp->arrival) || !isfinite(sp->duration))
			return kerf_err_set(err, KERF_EINVAL, "pods[%u]: arrival and duration must be finite and >= 0", i);
		if (i > 0 && sp->arrival < s->wl->pods[i - 1].arrival)
			return kerf_err_set(err, KERF_EINVAL, "pods[%u].arrival: %g is before the previous pod's %g", i,
					    sp->arrival, s->wl->pods[i - 1].arrival);
		s->pods[i] = (struct sim_pod){ .state = POD_FUTURE, .cls = (unsigned)find_class(s, sp->profile),
					       .priority = sp->priority, .arrival = sp->arrival,
					       .duration = sp->duration, .gpu = -1 };
		s->classes[s->pods[i].cls].pods++;
		if (heap_push(s, sp->arrival, EV_ARRIVE, i, err) != 0)
			return -1;
	}
	s->res->pods = s->n_pods;
	s->res->last_arrival = s->n_pods ? s->wl->pods[s->n_pods - 1].arrival : 0;
	return 0;
}

static int build_result(struct sim *s, struct kerf_err *err)
{
	struct sim_result *r = s->res;
	unsigned n = s->opt.samples < 2 ? 2 : s->opt.samples;

	r->n_samples = n;
	r->t = calloc(n, sizeof(double));
	r->compute = calloc(n, sizeof(double));
	r->memory = calloc(n, sizeof(double));
	r->waiting = calloc(n, sizeof(double));
	if (!r->t || !r->compute || !r->memory || !r->waiting)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for %u samples", n);
	s->classes = r->classes;
	snprintf(r->policy, sizeof(r->policy), "%s", s->policy.name);
	return 0;
}

/* ---- results ------------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, unsigned n, double q)
{
	unsigned k;

	if (n == 0)
		return 0;
	k = (unsigned)ceil(q / 100.0 * n);
	return v[k == 0 ? 0 : k - 1];
}

static void summarise(const double *v, unsigned n, double *p50, double *p95, double *p99, double *mean)
{
	double sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += v[i];
	*p50 = percentile(v, n, 50);
	*p95 = percentile(v, n, 95);
	*p99 = percentile(v, n, 99);
	*mean = n ? sum / n : 0;
}

static int finish(struct sim *s, struct kerf_err *err)
{
	struct sim_result *r = s->res;
	double *per = calloc(s->n_pods ? s->n_pods : 1, sizeof(double));
	int rc = -1;

	r->waits = calloc(s->n_pods ? s->n_pods : 1, sizeof(double));
	if (per == NULL || r->waits == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory summarising %u pods", s->n_pods);
		goto out;
	}
	r->end = s->now;
	advance(s, INFINITY);
	for (unsigned p = 0; p < s->n_pods; p++)
		if (s->pods[p].state == POD_RUNNING || s->pods[p].state == POD_DONE)
			r->waits[r->n_waits++] = s->pods[p].start - s->pods[p].arrival;
	r->placed = r->n_waits;
	r->never_placed = r->pods - r->placed;
	qsort(r->waits, r->n_waits, sizeof(double), cmp_double);
	summarise(r->waits, r->n_waits, &r->p50, &r->p95, &r->p99, &r->mean);
	for (unsigned c = 0; c < s->n_classes; c++) {
		struct sim_class *cl = &r->classes[c];
		unsigned k = 0;

		for (unsigned p = 0; p < s->n_pods; p++)
			if (s->pods[p].cls == c && (s->pods[p].state == POD_RUNNING || s->pods[p].state == POD_DONE))
				per[k++] = s->pods[p].start - s->pods[p].arrival;
		cl->placed = k;
		qsort(per, k, sizeof(double), cmp_double);
		summarise(per, k, &cl->p50, &cl->p95, &cl->p99, &cl->mean);
	}
	if (r->last_arrival > 0) {
		r->util_compute = s->acc_compute / (r->last_arrival * s->total_compute);
		r->util_memory = s->acc_memory / (r->last_arrival * s->total_memory);
	}
	r->created_per_pod = r->placed ? (double)r->created / r->placed : 0;
	r->destroyed_per_pod = r->placed ? (double)r->destroyed / r->placed : 0;
	rc = 0;
out:
	free(per);
	return rc;
}

/* ---- the loop ------------------------------------------------------------------------------------------ */

static void report(struct sim *s, enum sim_step_kind kind, const unsigned *pods, unsigned n)
{
	struct sim_step st;

	if (s->opt.on_step == NULL)
		return;
	st = (struct sim_step){ .now = s->now, .kind = kind, .n_pods = n, .pods = pods, .placed = s->step_placed,
				.created = s->step_created, .destroyed = s->step_destroyed, .pending = sim_waiting(s),
				.n_gpus = s->n_gpus, .gpus = s->views };
	s->opt.on_step(s->opt.ctx, &st);
}

static int handle(struct sim *s, const struct sim_event *e, struct kerf_err *err)
{
	struct sim_pod *pod = &s->pods[e->pod];
	struct sim_gpu *gpu;

	if (e->kind == EV_ARRIVE) {
		if (wait_insert(s, e->pod, err) != 0)
			return -1;
		return uncounted_push(s, e->pod, err);
	}
	/* A departure is stale if the pod was evicted (and maybe placed again) since it was queued. */
	if (pod->state != POD_RUNNING || pod->start + pod->duration != e->t)
		return 1;
	gpu = &s->gpus[pod->gpu];
	for (unsigned i = 0; i < gpu->layout.n; i++)
		if (gpu->pod[i] == (int)e->pod) {
			hold(s, (unsigned)pod->gpu, i, -1);
			gpu->pod[i] = SIM_NO_POD;
			gpu->layout.inst[i].used = false;
			pod->state = POD_DONE;
			if (s->ops->depart && s->ops->depart(s, (unsigned)pod->gpu, i, err) != 0)
				return -1;
			return 0;
		}
	return kerf_err_set(err, KERF_EINTERNAL, "pods[%u]: running but holds no instance", e->pod);
}

static int step(struct sim *s, enum sim_step_kind kind, const unsigned *pods, unsigned n, struct kerf_err *err)
{
	if (sim_schedule(s, err) != 0)
		return -1;
	if (kind == SIM_STEP_BATCH) {
		if (s->ops->batch && s->ops->batch(s, err) != 0)
			return -1;
		if (sim_schedule(s, err) != 0)
			return -1;
	} else if (s->ops->step && s->ops->step(s, err) != 0) {
		return -1;
	}
	tidy(s);
	if (kind == SIM_STEP_BATCH || !s->ops->batching)
		judge_blocked(s);
	report(s, kind, pods, n);
	return 0;
}

static int loop(struct sim *s, struct kerf_err *err)
{
	unsigned *batch = calloc(s->n_pods ? s->n_pods : 1, sizeof(unsigned));
	unsigned arrived = 0, tick = s->n_pods / 100 ? s->n_pods / 100 : 1;
	int rc = -1;

	if (batch == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the event loop");
	while (s->heap_n > 0) {
		struct sim_event e = heap_pop(s);
		unsigned n = 0;
		int h;

		advance(s, e.t);
		s->step_placed = s->step_created = s->step_destroyed = 0;
		if (e.kind == EV_TIMER) {
			s->timer_armed = false;
			if (step(s, SIM_STEP_BATCH, NULL, 0, err) != 0)
				goto out;
			continue;
		}
		for (;;) {
			if ((h = handle(s, &e, err)) < 0)
				goto out;
			if (h == 0)
				batch[n++] = e.pod;
			if (e.kind == EV_ARRIVE && ++arrived % tick == 0 && s->opt.progress)
				s->opt.progress(s->opt.ctx, (double)arrived / s->n_pods);
			if (s->heap_n == 0 || s->heap[0].t != e.t || s->heap[0].kind != e.kind)
				break;
			e = heap_pop(s);
		}
		if (n > 0 && step(s, e.kind == EV_ARRIVE ? SIM_STEP_ARRIVE : SIM_STEP_DEPART, batch, n, err) != 0)
			goto out;
	}
	rc = 0;
out:
	free(batch);
	return rc;
}

void sim_options_default(struct sim_options *o)
{
	*o = (struct sim_options){ .batch_s = 2.0, .reconfig_s = 2.0, .age_after_s = 300, .hold_s = 0, .samples = 200, .seed = 1 };
}

static const struct sim_policy_ops *ops_of(enum sim_policy_kind k)
{
	switch (k) {
	case SIM_POLICY_KERF:
		return &sim_ops_kerf;
	case SIM_POLICY_STATIC:
		return &sim_ops_static;
	case SIM_POLICY_NOS:
		return &sim_ops_nos;
	case SIM_POLICY_FIRST_FIT:
		return &sim_ops_first_fit;
	case SIM_POLICY_REPACK:
		return &sim_ops_repack;
	}
	return NULL;
}

int sim_run(const struct sim_cluster *c, const struct sim_workload *w, const struct sim_policy *p,
	    const struct sim_options *o, struct sim_result *r, struct kerf_err *err)
{
	struct sim s = { .cluster = c, .wl = w, .policy = *p, .opt = *o, .res = r };
	int rc = -1;

	memset(r, 0, sizeof(*r));
	s.ops = ops_of(p->kind);
	if (s.ops == NULL)
		return kerf_err_set(err, KERF_EINVAL, "policy %s: no such policy", p->name);
	if (sim_cluster_gpus(c) == 0)
		return kerf_err_set(err, KERF_EINVAL, "cluster: no GPUs");
	if (!(o->batch_s >= 0) || !(o->reconfig_s >= 0) || !(o->age_after_s >= 0) || !(o->hold_s >= 0))
		return kerf_err_set(err, KERF_EINVAL, "options: batch, reconfiguration and aging times must be >= 0");
	sim_rng_seed(&s.rng, o->seed);
	if (build_result(&s, err) != 0 || build_classes(&s, err) != 0 || build_gpus(&s, err) != 0 ||
	    build_pods(&s, err) != 0)
		goto out;
	s.sample_dt = r->last_arrival > 0 ? r->last_arrival / (r->n_samples - 1) : 1.0;
	if (s.ops->init && s.ops->init(&s, err) != 0)
		goto out;
	if (loop(&s, err) != 0 || finish(&s, err) != 0)
		goto out;
	if (s.opt.progress)
		s.opt.progress(s.opt.ctx, 1.0);
	rc = 0;
out:
	if (s.ops && s.ops->fini)
		s.ops->fini(&s);
	free(s.heap);
	free(s.gpus);
	free(s.views);
	free(s.pods);
	free(s.waiting);
	for (unsigned k = 0; k < SIM_MAX_CLASSES; k++) {
		free(s.uncounted[k].v);
		free(s.cwait[k].v);
	}
	if (rc != 0)
		sim_result_free(r);
	return rc;
}

void sim_result_free(struct sim_result *r)
{
	free(r->t);
	free(r->compute);
	free(r->memory);
	free(r->waiting);
	free(r->waits);
	memset(r, 0, sizeof(*r));
}
