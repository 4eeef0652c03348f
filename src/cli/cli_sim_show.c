/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_sim_show.c — `kerf simulate --show`: a small embedded scenario, narrated step by step, so that a person
 * sees what a policy does to each GPU: which free slices it re-cuts and that the used ones stay put.
 *
 * One line per step; after a step that placed a pod or changed a layout, a picture of every GPU:
 *
 *     * node0/gpu0 |3g:a                   |2g:b       |1g:c |1g...|
 *
 * Each memory slice is six columns wide; an instance spans its slices; "3g:a" is a 3g instance running pod
 * a, "1g..." a free 1g instance, "-" a slice in no instance, and '*' marks a GPU the step changed.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_sim_report.h"

#define SLOT_W 6

/* Two H100s; times chosen so that each arrival meets a different situation (docs/simulator.md walks
 * through kerf's run). */
static const char show_trace[] =
	"# arrival_s,duration_s,profile\n"
	"0,100,3g.40gb\n"  /* a-d: four sizes at once on empty GPUs */
	"0,30,2g.20gb\n"   /* b */
	"0,200,1g.10gb\n"  /* c */
	"0,40,7g.80gb\n"   /* d */
	"35,100,1g.10gb\n" /* e: b has left its 2g free; d still holds a whole GPU */
	"45,100,4g.40gb\n" /* f: d has left its 7g free: only a re-cut makes a 4g */
	"50,100,3g.40gb\n" /* g: fits beside f */
	"60,60,2g.20gb\n"  /* h: a free 2g is there to take */
	"65,60,1g.10gb\n"; /* i: every compute slice is held until a leaves; then a's free 3g is re-cut */
static const char show_cluster[] = "1x2xH100-80GB-SXM";

struct show {
	FILE *out;
	const char *policy;
	const struct sim_workload *w;
	unsigned n_gpus;
	struct mig_layout *prev;
	int (*prev_pod)[MIG_MAX_INSTANCES];
};

static char pod_name(unsigned p)
{
	return (char)(p < 26 ? 'a' + p : '?');
}

/* "3g.40gb" -> "3g" */
static void short_name(const char *profile, char *out, size_t n)
{
	size_t k = strcspn(profile, ".");

	snprintf(out, n, "%.*s", (int)k, profile);
}

static void picture(struct show *sh, const struct sim_gpu_view *g, bool changed)
{
	char line[MIG_MAX_SLOTS * SLOT_W + 2];
	const struct mig_model *m = g->model;

	memset(line, ' ', sizeof(line));
	for (unsigned s = 0; s < m->slots; s++) {
		memcpy(&line[s * SLOT_W], "  -  |", SLOT_W);
	}
	for (unsigned i = 0; i < g->layout->n; i++) {
		const struct mig_instance *in = &g->layout->inst[i];
		const struct mig_profile *p = &m->profiles[in->profile];
		size_t w = p->memory_slices * SLOT_W - 1, at = in->start * SLOT_W;
		char label[32], sn[16];
		size_t len;

		short_name(p->name, sn, sizeof(sn));
		if (g->pod[i] >= 0)
			snprintf(label, sizeof(label), "%s:%c", sn, pod_name((unsigned)g->pod[i]));
		else
			snprintf(label, sizeof(label), "%s", sn);
		len = strlen(label) < w ? strlen(label) : w;
		memset(&line[at], g->pod[i] >= 0 ? ' ' : '.', w);
		memcpy(&line[at], label, len);
		line[at + w] = '|';
	}
	line[m->slots * SLOT_W] = '\0';
	fprintf(sh->out, "  %c node%u/gpu%u |%s\n", changed ? '*' : ' ', g->node, g->index, line);
}

static bool gpu_changed(const struct show *sh, unsigned i, const struct sim_gpu_view *g)
{
	if (!mig_layout_same(&sh->prev[i], g->layout) || sh->prev[i].n != g->layout->n)
		return true;
	for (unsigned k = 0; k < g->layout->n; k++)
		if (sh->prev[i].inst[k].profile != g->layout->inst[k].profile ||
		    sh->prev[i].inst[k].start != g->layout->inst[k].start || sh->prev_pod[i][k] != g->pod[k])
			return true;
	return false;
}

static void pods_text(const struct show *sh, const struct sim_step *st, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < st->n_pods && used < n; i++) {
		int w = snprintf(buf + used, n - used, "%s%c (%s)", i ? ", " : "", pod_name(st->pods[i]),
				 sh->w->pods[st->pods[i]].profile);
		if (w < 0)
			return;
		used += (size_t)w;
	}
}

static void on_step(void *ctx, const struct sim_step *st)
{
	struct show *sh = ctx;
	char what[256];
	bool layout_changed = false;

	for (unsigned i = 0; i < st->n_gpus; i++)
		layout_changed |= !mig_layout_same(&sh->prev[i], st->gpus[i].layout);
	pods_text(sh, st, what, sizeof(what));
	if (st->kind == SIM_STEP_ARRIVE)
		fprintf(sh->out, "t=%4.0fs  + %s arrive%s", st->now, what, st->n_pods == 1 ? "s" : "");
	else if (st->kind == SIM_STEP_DEPART)
		fprintf(sh->out, "t=%4.0fs  - %s leave%s", st->now, what, st->n_pods == 1 ? "s" : "");
	else
		fprintf(sh->out, "t=%4.0fs  %s plans%s", st->now, sh->policy,
			st->created || st->destroyed || st->placed ? "" : ": no room");
	if (st->created || st->destroyed)
		fprintf(sh->out, ": destroys %u free, creates %u", st->destroyed, st->created);
	if (st->placed)
		fprintf(sh->out, "%s %u placed", st->created || st->destroyed ? "," : ":", st->placed);
	fprintf(sh->out, "%s\n", st->pending ? (st->pending == 1 ? " (1 pod waits)" : " (pods wait)") : "");
	if (st->kind == SIM_STEP_DEPART && !layout_changed)
		goto snapshot;
	if (!layout_changed && st->placed == 0)
		goto snapshot;
	for (unsigned i = 0; i < st->n_gpus; i++)
		picture(sh, &st->gpus[i], gpu_changed(sh, i, &st->gpus[i]));
snapshot:
	for (unsigned i = 0; i < st->n_gpus; i++) {
		sh->prev[i] = *st->gpus[i].layout;
		memcpy(sh->prev_pod[i], st->gpus[i].pod, sizeof(sh->prev_pod[i]));
	}
}

int cli_sim_show(const char *policy, FILE *out)
{
	struct sim_cluster c;
	struct sim_workload w = { 0 };
	struct sim_policy pol;
	struct sim_options o;
	struct sim_result r = { 0 };
	struct show sh = { .out = out };
	struct kerf_err err;
	FILE *f = NULL;
	int rc = KERF_EXIT_FAIL;

	if (sim_policy_parse(policy, &pol, &err) != 0 || sim_cluster_parse(mig_catalog_builtin(), show_cluster, &c, &err) != 0)
		goto fail;
	f = fmemopen((void *)show_trace, sizeof(show_trace) - 1, "r");
	if (f == NULL || sim_workload_read_csv(f, "show", &c, &w, &err) != 0)
		goto fail;
	sh.w = &w;
	sh.policy = pol.name;
	sh.n_gpus = sim_cluster_gpus(&c);
	sh.prev = calloc(sh.n_gpus, sizeof(*sh.prev));
	sh.prev_pod = calloc(sh.n_gpus, sizeof(*sh.prev_pod));
	if (sh.prev == NULL || sh.prev_pod == NULL) {
		kerf_err_set(&err, KERF_ENOMEM, "out of memory");
		goto fail;
	}
	sim_options_default(&o);
	o.on_step = on_step;
	o.ctx = &sh;
	fprintf(out, "kerf simulate --show: policy %s on %s, %u pods (a..%c).\n"
		     "Each slice is one cell; \"3g:a\" = a 3g instance running pod a, \"1g...\" = a free instance,\n"
		     "\"-\" = a slice in no instance, * = the GPU this step changed.\n\n",
		pol.name, show_cluster, w.n, pod_name(w.n - 1));
	if (sim_run(&c, &w, &pol, &o, &r, &err) != 0)
		goto fail;
	fprintf(out, "\n%u of %u pods placed; p95 pending %.0f s; %lu instances created, %lu destroyed; %lu running pods disturbed.\n",
		r.placed, r.pods, r.p95, r.created, r.destroyed, r.disturbed);
	rc = KERF_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "kerf simulate --show: %s\n", err.msg);
	if (err.code == KERF_EUNSUPPORTED || err.code == KERF_EINVAL)
		rc = KERF_EXIT_USAGE;
out:
	if (f)
		fclose(f);
	sim_result_free(&r);
	sim_workload_free(&w);
	free(sh.prev);
	free(sh.prev_pod);
	return rc;
}
