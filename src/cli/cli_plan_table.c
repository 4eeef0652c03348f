/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_plan_table.c — the plan as text for people; see cli_plan_table.h.
 *
 * A layout is written as its instances in slot order, "2g.20gb@4" (profile @ first memory slice), with
 * instances in use shown as "[4g.40gb@0]": those are the ones kerf will never touch, and a reader checking
 * a plan looks for them first.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_plan_table.h"

static void layout_text(const struct mig_model *m, const struct mig_layout *l, char *buf, size_t n)
{
	struct mig_layout s = *l;
	size_t used = 0;

	mig_layout_sort(&s);
	buf[0] = '\0';
	if (s.n == 0)
		snprintf(buf, n, "(no instances)");
	for (unsigned i = 0; i < s.n && used < n; i++) {
		const struct mig_instance *in = &s.inst[i];
		int w = snprintf(buf + used, n - used, "%s%s%s@%u%s", i ? "  " : "", in->used ? "[" : "",
				 m->profiles[in->profile].name, in->start, in->used ? "]" : "");
		if (w < 0)
			return;
		used += (size_t)w;
	}
}

static void changes(FILE *f, const struct plan_input *in, const struct plan_output *out)
{
	char before[512], after[512];

	if (out->n_changes == 0) {
		fprintf(f, "Layout changes: none (every placed pod uses instances that exist now)\n");
		return;
	}
	fprintf(f, "Layout changes: %u GPU%s re-cut, %u free instance%s destroyed, %u created\n", out->n_changes,
		out->n_changes == 1 ? "" : "s", out->destroyed, out->destroyed == 1 ? "" : "s", out->created);
	fprintf(f, "  [profile@slot] = in use, never touched\n");
	for (unsigned i = 0; i < out->n_changes; i++) {
		const struct plan_change *ch = &out->changes[i];
		const struct plan_gpu *g = &in->nodes[ch->node].gpus[ch->gpu];

		layout_text(g->model, &g->layout, before, sizeof(before));
		layout_text(g->model, &ch->layout, after, sizeof(after));
		fprintf(f, "  %s gpu %u (%s)\n", in->nodes[ch->node].name, g->index, g->model->name);
		fprintf(f, "    before: %s\n", before);
		fprintf(f, "    after:  %s\n", after);
	}
}

static int existed(const struct plan_gpu *g, const struct plan_binding *b)
{
	for (unsigned i = 0; i < g->layout.n; i++)
		if (g->layout.inst[i].profile == b->profile && g->layout.inst[i].start == b->start)
			return 1;
	return 0;
}

static size_t width(const struct plan_input *in, const struct plan_output *out, size_t min)
{
	size_t w = min;

	for (unsigned i = 0; i < out->n_assignments; i++)
		if (strlen(in->pods[out->assignments[i].pod].name) > w)
			w = strlen(in->pods[out->assignments[i].pod].name);
	for (unsigned i = 0; i < out->n_unplaced; i++)
		if (strlen(in->pods[out->unplaced[i].pod].name) > w)
			w = strlen(in->pods[out->unplaced[i].pod].name);
	return w > 48 ? 48 : w;
}

static void assignments(FILE *f, const struct plan_input *in, const struct plan_output *out, int w)
{
	fprintf(f, "\nPlaced: %u pod%s\n", out->n_assignments, out->n_assignments == 1 ? "" : "s");
	if (out->n_assignments == 0)
		return;
	fprintf(f, "  %-*s %8s  %-16s %s\n", w, "POD", "PRIORITY", "NODE", "INSTANCES (gpu:profile@slot)");
	for (unsigned i = 0; i < out->n_assignments; i++) {
		const struct plan_assignment *a = &out->assignments[i];
		const struct plan_node *n = &in->nodes[a->node];
		char list[512];
		size_t used = 0;

		list[0] = '\0';
		for (unsigned b = 0; b < a->n_bindings && used < sizeof(list); b++) {
			const struct plan_binding *bd = &a->bindings[b];
			const struct plan_gpu *g = &n->gpus[bd->gpu];
			int k = snprintf(list + used, sizeof(list) - used, "%s%u:%s@%u%s", b ? ", " : "", g->index,
					 g->model->profiles[bd->profile].name, bd->start, existed(g, bd) ? "" : " (new)");
			if (k < 0)
				break;
			used += (size_t)k;
		}
		fprintf(f, "  %-*s %8d  %-16s %s\n", w, in->pods[a->pod].name, in->pods[a->pod].priority, n->name, list);
	}
}

static void unplaced(FILE *f, const struct plan_input *in, const struct plan_output *out, int w)
{
	fprintf(f, "\nNot placed: %u pod%s\n", out->n_unplaced, out->n_unplaced == 1 ? "" : "s");
	if (out->n_unplaced == 0)
		return;
	fprintf(f, "  %-*s %8s  %s\n", w, "POD", "PRIORITY", "WHY");
	for (unsigned i = 0; i < out->n_unplaced; i++) {
		const struct plan_unplaced *u = &out->unplaced[i];

		fprintf(f, "  %-*s %8d  %s\n", w, in->pods[u->pod].name, in->pods[u->pod].priority, u->reason);
	}
}

void cli_plan_table(FILE *f, const struct plan_input *in, const struct plan_output *out)
{
	int w = (int)width(in, out, 3);

	changes(f, in, out);
	assignments(f, in, out, w);
	unplaced(f, in, out, w);
}
