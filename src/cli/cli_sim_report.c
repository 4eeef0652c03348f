/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_sim_report.c — `kerf simulate`'s outputs: the terminal table, the JSON file, the gnuplot plots and
 * the progress bar. Everything here only formats a struct sim_result; no number is computed twice.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_sim_report.h"

/* ---- table --------------------------------------------------------------------------------------------- */

static void header(FILE *f, const struct cli_sim_setup *su)
{
	fprintf(f, "cluster:  %s (%u GPUs)\nworkload: %s\nnos plans after a %g s window; kerf at once (a burst: "
		   "after the window), pods waiting %g s first", su->cluster, su->gpus, su->workload, su->batch_s, su->age_after_s);
	if (su->hold_s > 0)
		fprintf(f, ", GPUs held for them up to %g s", su->hold_s);
	if (su->pack)
		fprintf(f, ", idle GPUs kept whole (--pack)");
	fprintf(f, "; a new instance takes %g s to create\n\n", su->reconfig_s);
}

void cli_sim_table(FILE *f, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n)
{
	header(f, su);
	fprintf(f, "%-20s %7s %6s %8s %8s %8s %8s %7s %8s %8s %8s %9s\n", "POLICY", "PLACED", "NEVER", "P50 s", "P95 s",
		"P99 s", "COMPUTE", "MEMORY", "BLOCKED", "NEW/POD", "DEL/POD", "DISTURBED");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%-20s %7u %6u %8.1f %8.1f %8.1f %7.1f%% %6.1f%% %8u %8.2f %8.2f %9lu\n", r[i].policy, r[i].placed,
			r[i].never_placed, r[i].p50, r[i].p95, r[i].p99, 100 * r[i].util_compute, 100 * r[i].util_memory,
			r[i].blocked_while_free, r[i].created_per_pod, r[i].destroyed_per_pod, r[i].disturbed);
	if (n == 0 || r[0].n_classes == 0)
		return;
	fprintf(f, "\npending time by profile, seconds: p50 / p95 / p99 (pods placed of asked)\n%-20s", "POLICY");
	for (unsigned c = 0; c < r[0].n_classes; c++)
		fprintf(f, " %24s", r[0].classes[c].profile);
	fputc('\n', f);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%-20s", r[i].policy);
		for (unsigned c = 0; c < r[i].n_classes; c++) {
			const struct sim_class *cl = &r[i].classes[c];
			char cell[64];

			if (cl->placed == 0)
				snprintf(cell, sizeof(cell), "- (0/%u)", cl->pods);
			else
				snprintf(cell, sizeof(cell), "%.0f/%.0f/%.0f (%u/%u)", cl->p50, cl->p95, cl->p99, cl->placed,
					 cl->pods);
			fprintf(f, " %24s", cell);
		}
		fputc('\n', f);
	}
	fprintf(f, "\nCOMPUTE, MEMORY: mean share of slices held by pods until the last arrival. BLOCKED: pods that waited\n"
		   "while the cluster had enough free slices in total. NEW/POD, DEL/POD: instances created and destroyed\n"
		   "per placed pod. DISTURBED: running pods moved or stopped (only the repack bound may).\n");
}

/* ---- JSON ---------------------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_series(FILE *f, const char *name, const double *v, unsigned n, bool last)
{
	fprintf(f, "      \"%s\": [", name);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%s%.6g", i ? "," : "", v[i]);
	fprintf(f, "]%s\n", last ? "" : ",");
}

static void json_result(FILE *f, const struct sim_result *r)
{
	fprintf(f, "    {\n      \"policy\": ");
	json_str(f, r->policy);
	fprintf(f, ",\n      \"pods\": %u, \"placed\": %u, \"never_placed\": %u,\n", r->pods, r->placed, r->never_placed);
	fprintf(f, "      \"pending_s\": {\"p50\": %.6g, \"p95\": %.6g, \"p99\": %.6g, \"mean\": %.6g},\n", r->p50, r->p95,
		r->p99, r->mean);
	fprintf(f, "      \"by_profile\": [");
	for (unsigned c = 0; c < r->n_classes; c++) {
		const struct sim_class *cl = &r->classes[c];

		fprintf(f, "%s\n        {\"profile\": ", c ? "," : "");
		json_str(f, cl->profile);
		fprintf(f, ", \"compute_slices\": %u, \"memory_slices\": %u, \"pods\": %u, \"placed\": %u, "
			   "\"p50\": %.6g, \"p95\": %.6g, \"p99\": %.6g, \"mean\": %.6g}",
			cl->compute_slices, cl->memory_slices, cl->pods, cl->placed, cl->p50, cl->p95, cl->p99, cl->mean);
	}
	fprintf(f, "\n      ],\n");
	fprintf(f, "      \"utilisation\": {\"compute\": %.6g, \"memory\": %.6g},\n", r->util_compute, r->util_memory);
	fprintf(f, "      \"blocked_while_free\": {\"pods\": %u, \"events\": %lu},\n", r->blocked_while_free, r->blocked_events);
	fprintf(f, "      \"instances\": {\"created\": %lu, \"destroyed\": %lu, \"created_per_pod\": %.6g, "
		   "\"destroyed_per_pod\": %.6g, \"failed_creates\": %lu},\n",
		r->created, r->destroyed, r->created_per_pod, r->destroyed_per_pod, r->failed_creates);
	fprintf(f, "      \"disturbed\": %lu, \"plans\": %lu, \"last_arrival_s\": %.6g, \"end_s\": %.6g,\n", r->disturbed,
		r->plans, r->last_arrival, r->end);
	fprintf(f, "      \"series\": {\n");
	json_series(f, "t", r->t, r->n_samples, false);
	json_series(f, "compute", r->compute, r->n_samples, false);
	json_series(f, "memory", r->memory, r->n_samples, false);
	json_series(f, "waiting", r->waiting, r->n_samples, true);
	fprintf(f, "      }\n    }");
}

int cli_sim_json(const char *path, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n,
		 struct kerf_err *err)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return kerf_err_set(err, KERF_EIO, "--json: cannot write %s: %s", path, strerror(errno));
	fprintf(f, "{\n  \"cluster\": ");
	json_str(f, su->cluster);
	fprintf(f, ",\n  \"gpus\": %u,\n  \"workload\": ", su->gpus);
	json_str(f, su->workload);
	fprintf(f, ",\n  \"pods\": %u,\n  \"batch_s\": %.6g,\n  \"reconfig_s\": %.6g,\n  \"age_after_s\": %.6g,\n  \"hold_s\": %.6g,\n"
		   "  \"pack\": %s,\n  \"seed\": %llu,\n  \"results\": [\n",
		su->pods, su->batch_s, su->reconfig_s, su->age_after_s, su->hold_s, su->pack ? "true" : "false", su->seed);
	for (unsigned i = 0; i < n; i++) {
		json_result(f, &r[i]);
		fprintf(f, "%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (fclose(f) != 0)
		return kerf_err_set(err, KERF_EIO, "--json: error writing %s", path);
	return 0;
}

/* ---- plots --------------------------------------------------------------------------------------------- */

static FILE *open_in(const char *dir, const char *name, struct kerf_err *err)
{
	char path[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		kerf_err_set(err, KERF_EIO, "--plots: cannot write %s: %s", path, strerror(errno));
	return f;
}

static int write_data(const char *dir, const struct sim_result *r, unsigned i, struct kerf_err *err)
{
	char name[64];
	FILE *f;

	snprintf(name, sizeof(name), "series-%u.dat", i);
	if ((f = open_in(dir, name, err)) == NULL)
		return -1;
	fprintf(f, "# %s: t_s compute memory waiting\n", r->policy);
	for (unsigned k = 0; k < r->n_samples; k++)
		fprintf(f, "%.3f %.5f %.5f %.0f\n", r->t[k], r->compute[k], r->memory[k], r->waiting[k]);
	fclose(f);
	snprintf(name, sizeof(name), "waits-%u.dat", i);
	if ((f = open_in(dir, name, err)) == NULL)
		return -1;
	/* The empirical distribution, thinned to at most ~1000 points; waits under 1 s are drawn at 1 s so a
	 * logarithmic axis can show them. */
	fprintf(f, "# %s: pending_s share_of_placed_pods_with_at_most_that\n", r->policy);
	for (unsigned k = 0, step = r->n_waits / 1000 + 1; k < r->n_waits; k += step)
		fprintf(f, "%.3f %.5f\n", fmax(r->waits[k], 1.0), (double)(k + 1) / r->n_waits);
	if (r->n_waits)
		fprintf(f, "%.3f 1\n", fmax(r->waits[r->n_waits - 1], 1.0));
	fclose(f);
	return 0;
}

static void plot_lines(FILE *g, unsigned n, const struct sim_result *r, const char *file_fmt, const char *using)
{
	for (unsigned i = 0; i < n; i++) {
		char file[64];

		snprintf(file, sizeof(file), file_fmt, i);
		fprintf(g, "%s'%s' using %s with lines lw 2 title '%s'", i ? ", \\\n     " : "plot ", file, using, r[i].policy);
	}
	fputc('\n', g);
}

static int write_script(const char *dir, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n,
			struct kerf_err *err)
{
	FILE *g = open_in(dir, "plots.gp", err);

	if (g == NULL)
		return -1;
	fprintf(g, "# Made by kerf simulate; run with: cd %s && gnuplot plots.gp\n", dir);
	fprintf(g, "set terminal pngcairo size 1100,620 font 'sans,10'\nset key outside right\nset grid\n");
	fprintf(g, "set output 'utilisation.png'\nset title \"Compute slices held by running pods — %u GPUs (%s)\"\n",
		su->gpus, su->cluster);
	fprintf(g, "set xlabel 'time (h)'\nset ylabel 'share of compute slices'\nset yrange [0:1]\n");
	plot_lines(g, n, r, "series-%u.dat", "($1/3600):2");
	fprintf(g, "set output 'pending.png'\nset title 'Pending time of placed pods (distribution)'\n");
	fprintf(g, "set logscale x\nset xlabel 'pending time (s, log; under 1 s drawn at 1 s)'\n"
		   "set ylabel 'share of placed pods waiting at most that'\n");
	plot_lines(g, n, r, "waits-%u.dat", "1:2");
	fprintf(g, "unset logscale x\nset output 'pending-by-profile.png'\nset title 'p95 pending time by profile (no bar: never placed, or no wait)'\n");
	fprintf(g, "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
		   "set xlabel 'profile'\nset ylabel 'p95 pending (s)'\nset yrange [0:*]\nset xtics nomirror\n");
	fprintf(g, "$p95 << EOD\nprofile");
	for (unsigned i = 0; i < n; i++)
		fprintf(g, " \"%s\"", r[i].policy);
	fputc('\n', g);
	for (unsigned c = 0; n > 0 && c < r[0].n_classes; c++) {
		fprintf(g, "%s", r[0].classes[c].profile);
		for (unsigned i = 0; i < n; i++) /* NaN draws no bar: a profile the policy never placed */
			if (r[i].classes[c].placed)
				fprintf(g, " %.1f", r[i].classes[c].p95);
			else
				fprintf(g, " NaN");
		fputc('\n', g);
	}
	fprintf(g, "EOD\nplot for [i=2:%u] $p95 using i:xtic(1) title columnheader(i)\n", n + 1);
	if (fclose(g) != 0)
		return kerf_err_set(err, KERF_EIO, "--plots: error writing %s/plots.gp", dir);
	return 0;
}

static int run_gnuplot(const char *dir, struct kerf_err *err)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return kerf_err_set(err, KERF_EIO, "--plots: fork: %s", strerror(errno));
	if (pid == 0) {
		if (chdir(dir) == 0)
			execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return kerf_err_set(err, KERF_EIO, "--plots: waiting for gnuplot: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return kerf_err_set(err, KERF_ENOTFOUND,
				    "--plots: could not run gnuplot (install Debian's gnuplot-nox); the data and %s/plots.gp are written",
				    dir);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return kerf_err_set(err, KERF_EIO, "--plots: gnuplot failed on %s/plots.gp", dir);
	return 0;
}

int cli_sim_plots(const char *dir, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n,
		  struct kerf_err *err)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return kerf_err_set(err, KERF_EIO, "--plots: cannot create %s: %s", dir, strerror(errno));
	for (unsigned i = 0; i < n; i++)
		if (write_data(dir, &r[i], i, err) != 0)
			return -1;
	if (write_script(dir, su, r, n, err) != 0)
		return -1;
	fflush(NULL); /* the child must not inherit unflushed output */
	return run_gnuplot(dir, err);
}

/* ---- progress ------------------------------------------------------------------------------------------ */

void cli_sim_progress_cb(void *ctx, double done)
{
	struct cli_sim_progress *p = ctx;
	int pct = (int)(done * 100 + 0.5), fill = pct * 30 / 100;

	if (pct == p->last)
		return;
	p->last = pct;
	fprintf(stderr, "\rkerf simulate  %-20s [%.*s%.*s] %3d%%", p->label, fill, "##############################",
		30 - fill, "..............................", pct);
	fflush(stderr);
}

void cli_sim_progress_end(struct cli_sim_progress *p)
{
	if (p->last >= 0)
		fprintf(stderr, "\r%*s\r", 70, "");
}
