/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_simulate.c — `kerf simulate`: run a workload on a simulated cluster under one policy or all of them,
 * and report the table, a JSON file and plots. Options may also come from a scenario file (scenarios/),
 * one "option value" per line, so that a bundled scenario and the command that ran it are the same thing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_opts.h"
#include "cli_sim_report.h"
#include "sim.h"

#define MAX_POLICIES 16

struct args {
	char cluster[256];
	char policy[SIM_POLICY_MAX];
	char trace[1024];
	char json[1024];
	char plots[1024];
	bool compare, show, quiet;
	int progress; /* -1 auto (a TTY), 0 off, 1 on */
	struct sim_gen gen;
	struct sim_options opt;
	long pods;                   /* --pods, into gen.pods */
	const char *base;            /* the folder of the scenario file being read, NULL on the command line */
	const struct cli_opt *opts;  /* parse_args()'s table, for the scenario files */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kerf simulate [options]\n"
		"\n"
		"Simulates a MIG cluster under a workload and measures a partitioning policy: pending time by profile,\n"
		"pods never placed, slice utilisation, pods blocked while slices were free, instance churn, and\n"
		"running pods disturbed. Deterministic: the same options give the same numbers.\n"
		"\n"
		"  --policy P        kerf (default), nos, first-fit, repack,\n"
		"                    static:all-1g|all-2g|all-3g|all-4g|all-7g|all-balanced, or static:LAYOUT\n"
		"  --compare         run every policy on the same workload, side by side\n"
		"  --scenario FILE   read options from FILE (\"option value\" per line; see scenarios/)\n"
		"  --cluster SPEC    NODESxGPUSxMODEL[,...]          (default 25x4xH100-80GB-SXM)\n"
		"  --trace FILE      replay a CSV trace: arrival_s,duration_s,profile|memory[,priority]\n"
		"  --pods N          generated pods                  (default 10000)\n"
		"  --mix M           small-heavy, balanced, large-heavy (default balanced)\n"
		"  --load X          offered load, share of compute slices (default 0.9)\n"
		"  --median S        median pod duration, seconds    (default 600)\n"
		"  --sigma X         log-normal sigma of durations   (default 1.0)\n"
		"  --high-prio X     share of pods with priority 100 (default 0.1)\n"
		"  --seed N          random seed                     (default 1)\n"
		"  --batch S         nos's window, kerf's burst window, s (default 2): kerf plans a\n"
		"                    change at once unless two plans ran within it; nos always waits\n"
		"  --age-after S     kerf: a pod waiting this long goes before younger pods of its\n"
		"                    priority, never a higher one (default 300; 0: off)\n"
		"  --hold S          kerf: keep a GPU back for a pod aged and still unplaced, at most\n"
		"                    S seconds, then not again for S (default 0: off; the controller\n"
		"                    does not hold yet)\n"
		"  --pack            kerf: when a plan opens an idle GPU, plan again busy GPUs first\n"
		"                    (their free instances re-cut at no cost), and keep that plan if it\n"
		"                    places as many and opens fewer (default: off; kerf controller\n"
		"                    --pack does the same)\n"

		"  --reconfig S      instance creation time, s       (default 2)\n"
		"  --json FILE       write the results as JSON\n"
		"  --plots DIR       write PNG plots (gnuplot) and their data into DIR\n"
		"  --progress / --no-progress   progress bar on stderr (default: when stderr is a terminal)\n"
		"  --quiet           no table on stdout\n"
		"  --show            narrate a small embedded scenario: each GPU's layout as pods come and go\n");
}

static int set_scenario(void *a, const char *opt, const char *v);

static int copy_text(const char *opt, const char *v, char *out, size_t n)
{
	if (strlen(v) >= n) {
		fprintf(stderr, "kerf simulate: %s: value longer than %zu characters\n", opt, n - 1);
		return -1;
	}
	snprintf(out, n, "%s", v);
	return 0;
}

static int set_text(void *arg, const char *opt, const char *v)
{
	struct args *a = arg;

	if (strcmp(opt, "--policy") == 0)
		return copy_text(opt, v, a->policy, sizeof(a->policy));
	if (strcmp(opt, "--cluster") == 0)
		return copy_text(opt, v, a->cluster, sizeof(a->cluster));
	if (strcmp(opt, "--json") == 0)
		return copy_text(opt, v, a->json, sizeof(a->json));
	return copy_text(opt, v, a->plots, sizeof(a->plots));
}

/* A trace named in a scenario file is relative to that file. */
static int set_trace(void *arg, const char *opt, const char *v)
{
	struct args *a = arg;

	if (a->base == NULL || v[0] == '/')
		return copy_text(opt, v, a->trace, sizeof(a->trace));
	if ((size_t)snprintf(a->trace, sizeof(a->trace), "%s/%s", a->base, v) < sizeof(a->trace))
		return 0;
	fprintf(stderr, "kerf simulate: %s: path too long\n", opt);
	return -1;
}

static int set_mix(void *arg, const char *opt, const char *v)
{
	struct args *a = arg;
	struct kerf_err err;

	(void)opt;
	if (sim_mix_parse(v, &a->gen.mix, &err) == 0)
		return 0;
	fprintf(stderr, "kerf simulate: %s\n", err.msg);
	return -1;
}

static int set_seed(void *arg, const char *opt, const char *v)
{
	struct args *a = arg;
	unsigned long long u;

	if (cli_opts_number(v, 0, ~0ull, &u) != 0) {
		fprintf(stderr, "kerf simulate: %s: \"%s\" is not a whole number from 0 to %llu\n", opt, v, ~0ull);
		return -1;
	}
	a->gen.seed = a->opt.seed = u;
	return 0;
}

/* A scenario file: "option value" per line ("--" optional), '#' comments. */
static int set_scenario(void *arg, const char *opt, const char *path)
{
	struct args *a = arg;
	char line[1200], base[1024];
	unsigned lineno = 0;
	const char *slash = strrchr(path, '/'), *outer = a->base;
	FILE *f = fopen(path, "r");
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "kerf simulate: %s: cannot open %s: %s\n", opt, path, strerror(errno));
		return -1;
	}
	snprintf(base, sizeof(base), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	a->base = base;
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#'), *key, *val, *save = NULL;

		lineno++;
		if (hash)
			*hash = '\0';
		key = strtok_r(line, " \t\r\n", &save);
		if (key == NULL)
			continue;
		val = strtok_r(NULL, "\r\n", &save);
		while (val && (*val == ' ' || *val == '\t'))
			val++;
		if (cli_opts_set("simulate", a->opts, key, val && *val ? val : NULL) < 0) {
			fprintf(stderr, "kerf simulate: (in %s:%u)\n", path, lineno);
			goto out;
		}
	}
	rc = 0;
out:
	a->base = outer;
	fclose(f);
	return rc;
}

/* The options, read from argv and from scenario files alike. What a policy, a cluster or a path means is
 * checked where it is used. */
static int parse_args(int argc, char **argv, struct args *a)
{
	const struct cli_opt opts[] = {
		{ .name = "--compare", .kind = CLI_FLAG, .dst = &a->compare },
		{ .name = "--show", .kind = CLI_FLAG, .dst = &a->show },
		{ .name = "--quiet", .kind = CLI_FLAG, .dst = &a->quiet },
		{ .name = "--pack", .kind = CLI_FLAG, .dst = &a->opt.pack },
		{ .name = "--progress", .kind = CLI_SET, .dst = &a->progress, .min = 1 },
		{ .name = "--no-progress", .kind = CLI_SET, .dst = &a->progress, .min = 0 },
		{ .name = "--policy", .kind = CLI_FUNC, .dst = a, .fn = set_text },
		{ .name = "--cluster", .kind = CLI_FUNC, .dst = a, .fn = set_text },
		{ .name = "--json", .kind = CLI_FUNC, .dst = a, .fn = set_text },
		{ .name = "--plots", .kind = CLI_FUNC, .dst = a, .fn = set_text },
		{ .name = "--trace", .kind = CLI_FUNC, .dst = a, .fn = set_trace },
		{ .name = "--scenario", .kind = CLI_FUNC, .dst = a, .fn = set_scenario },
		{ .name = "--mix", .kind = CLI_FUNC, .dst = a, .fn = set_mix },
		{ .name = "--seed", .kind = CLI_FUNC, .dst = a, .fn = set_seed },
		{ .name = "--pods", .kind = CLI_INT, .dst = &a->pods, .max = 10000000 },
		{ .name = "--load", .kind = CLI_DOUBLE, .dst = &a->gen.load },
		{ .name = "--median", .kind = CLI_DOUBLE, .dst = &a->gen.median_s },
		{ .name = "--sigma", .kind = CLI_DOUBLE, .dst = &a->gen.sigma },
		{ .name = "--high-prio", .kind = CLI_DOUBLE, .dst = &a->gen.high_prio_share },
		{ .name = "--batch", .kind = CLI_DOUBLE, .dst = &a->opt.batch_s },
		{ .name = "--reconfig", .kind = CLI_DOUBLE, .dst = &a->opt.reconfig_s },
		{ .name = "--age-after", .kind = CLI_DOUBLE, .dst = &a->opt.age_after_s },
		{ .name = "--hold", .kind = CLI_DOUBLE, .dst = &a->opt.hold_s },
		{ 0 },
	};
	int rc;

	memset(a, 0, sizeof(*a));
	snprintf(a->cluster, sizeof(a->cluster), "25x4xH100-80GB-SXM");
	a->progress = -1;
	a->gen = (struct sim_gen){ .seed = 1, .pods = 10000, .mix = SIM_MIX_BALANCED, .load = 0.9, .median_s = 600,
				   .sigma = 1.0, .high_prio_share = 0.1 };
	a->pods = (long)a->gen.pods;
	sim_options_default(&a->opt);
	a->opts = opts;
	rc = cli_opts_parse("simulate", a->opts, argc, argv, NULL, 0, NULL);
	a->opts = NULL; /* the table lives only here */
	if (rc != 0)
		return -1;
	a->gen.pods = (unsigned)a->pods;
	if (a->policy[0] == '\0')
		snprintf(a->policy, sizeof(a->policy), "%s", "kerf");
	return 0;
}

static int load_workload(const struct args *a, const struct sim_cluster *c, struct sim_workload *w, char *desc,
			 size_t n, struct kerf_err *err)
{
	FILE *f;
	int rc;

	if (a->trace[0] == '\0') {
		snprintf(desc, n, "generated: %u pods, %s mix, offered load %.2f, durations log-normal (median %g s, sigma %g), "
			 "%.0f%% high priority, seed %llu",
			 a->gen.pods, sim_mix_name(a->gen.mix), a->gen.load, a->gen.median_s, a->gen.sigma,
			 a->gen.high_prio_share * 100, (unsigned long long)a->gen.seed);
		return sim_workload_generate(c, &a->gen, w, err);
	}
	f = fopen(a->trace, "r");
	if (f == NULL)
		return kerf_err_set(err, KERF_ENOTFOUND, "--trace: cannot open %s: %s", a->trace, strerror(errno));
	rc = sim_workload_read_csv(f, a->trace, c, w, err);
	fclose(f);
	snprintf(desc, n, "trace: %s (%u pods)", a->trace, w->n);
	return rc;
}

static int run_all(const struct args *a, const struct sim_cluster *c, const struct sim_workload *w,
		   struct sim_result *res, unsigned *n_res, struct kerf_err *err)
{
	struct sim_policy pol[MAX_POLICIES];
	unsigned n;
	bool bar = a->progress == 1 || (a->progress == -1 && isatty(STDERR_FILENO));

	if (a->compare) {
		n = sim_policy_compare_set(pol, MAX_POLICIES);
	} else {
		if (sim_policy_parse(a->policy, &pol[0], err) != 0)
			return -1;
		n = 1;
	}
	*n_res = 0;
	for (unsigned i = 0; i < n; i++) {
		struct sim_options o = a->opt;
		struct cli_sim_progress pr = { .label = pol[i].name, .last = -1 };

		if (bar) {
			o.progress = cli_sim_progress_cb;
			o.ctx = &pr;
		}
		if (sim_run(c, w, &pol[i], &o, &res[i], err) != 0)
			return kerf_err_prefix(err, "policy %s", pol[i].name);
		if (bar)
			cli_sim_progress_end(&pr);
		(*n_res)++;
	}
	return 0;
}

static int report(const struct args *a, const struct cli_sim_setup *su, const struct sim_result *res, unsigned n,
		  struct kerf_err *err)
{
	if (!a->quiet)
		cli_sim_table(stdout, su, res, n);
	if (a->json[0] && cli_sim_json(a->json, su, res, n, err) != 0)
		return -1;
	if (a->plots[0] && cli_sim_plots(a->plots, su, res, n, err) != 0)
		return -1;
	return 0;
}

int cmd_simulate(int argc, char **argv)
{
	struct args a;
	struct sim_cluster c;
	struct sim_workload w = { 0 };
	struct sim_result res[MAX_POLICIES];
	struct cli_sim_setup su;
	struct kerf_err err;
	char desc[512];
	unsigned n = 0;
	int rc = KERF_EXIT_USAGE;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return KERF_EXIT_OK;
		}
	if (parse_args(argc, argv, &a) != 0)
		return KERF_EXIT_USAGE;
	if (a.show)
		return cli_sim_show(a.policy, stdout);
	if (sim_cluster_parse(mig_catalog_builtin(), a.cluster, &c, &err) != 0 ||
	    load_workload(&a, &c, &w, desc, sizeof(desc), &err) != 0) {
		fprintf(stderr, "kerf simulate: %s\n", err.msg);
		goto out;
	}
	su = (struct cli_sim_setup){ .cluster = a.cluster, .workload = desc, .gpus = sim_cluster_gpus(&c), .pods = w.n,
				     .batch_s = a.opt.batch_s, .reconfig_s = a.opt.reconfig_s,
				     .age_after_s = a.opt.age_after_s, .hold_s = a.opt.hold_s, .pack = a.opt.pack,
				     .seed = (unsigned long long)a.opt.seed };
	rc = KERF_EXIT_FAIL;
	if (run_all(&a, &c, &w, res, &n, &err) != 0 || report(&a, &su, res, n, &err) != 0) {
		fprintf(stderr, "kerf simulate: %s\n", err.msg);
		rc = err.code == KERF_EINVAL || err.code == KERF_EUNSUPPORTED ? KERF_EXIT_USAGE : KERF_EXIT_FAIL;
		goto out;
	}
	rc = KERF_EXIT_OK;
out:
	for (unsigned i = 0; i < n; i++)
		sim_result_free(&res[i]);
	sim_workload_free(&w);
	return rc;
}
