/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_sim_report.h — the parts of `kerf simulate` that are not option parsing: the reports (terminal table, JSON,
 * gnuplot plots), the progress bar, and the `--show` walk-through. Shared by cmd_simulate.c and the
 * cli_sim_*.c files only.
 */
#ifndef KERF_CLI_SIM_REPORT_H
#define KERF_CLI_SIM_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "sim.h"

/* What a report says about where its numbers came from. */
struct cli_sim_setup {
	const char *cluster;  /* as given */
	const char *workload; /* "generated: balanced mix, load 0.90, ..." or "trace: FILE" */
	unsigned gpus, pods;
	double batch_s, reconfig_s, age_after_s, hold_s;
	bool pack; /* kerf planned with plan_run_packed() */
	unsigned long long seed;
};

/* The comparison table (one row per result) and the pending time by profile. */
void cli_sim_table(FILE *f, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n);

/* The whole comparison as one JSON document. Returns 0, or -1 with err set on a write error. */
int cli_sim_json(const char *path, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n,
		 struct kerf_err *err);

/* Writes DIR/series-*.dat, DIR/waits-*.dat, DIR/plots.gp and, if gnuplot runs, DIR/utilisation.png,
 * DIR/pending.png and DIR/pending-by-profile.png. Returns 0; -1 with err set if a file cannot be written
 * or gnuplot fails (a missing gnuplot is an error that says which package to install). */
int cli_sim_plots(const char *dir, const struct cli_sim_setup *su, const struct sim_result *r, unsigned n,
		  struct kerf_err *err);

/* A progress bar on stderr: "kerf simulate  first-fit        [#######.......]  52%". */
struct cli_sim_progress {
	const char *label;
	int last; /* last percentage drawn, -1 before the first */
};
void cli_sim_progress_cb(void *ctx, double done);
void cli_sim_progress_end(struct cli_sim_progress *p);

/* `kerf simulate --show`: the embedded scenario, narrated. Returns a CLI exit status. */
int cli_sim_show(const char *policy, FILE *out);

#endif
