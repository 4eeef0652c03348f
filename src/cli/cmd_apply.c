/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_apply.c — `kerf apply --gpu N --layout L [--dry-run]`: applies one GPU's layout by hand through the
 * actuator, with its safety rules: an instance that runs a process, is listed with --allocated, or (where a
 * kubelet runs) is allocated to a pod by the kubelet's pod-resources is never touched, and a layout that
 * would touch one is refused before anything changes. Pod-resources is asked afresh right before every
 * destroy, as the agent does. What the command cannot do is withdraw a device from a device plugin in
 * another process, so where kerf's agent serves the devices (a live kerf endpoint in the kubelet's
 * device-plugin folder) it refuses to change anything: layouts there change through the agent.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actuate.h"
#include "cli.h"
#include "cli_nvml.h"
#include "cli_opts.h"
#include "kubelet.h"

#define MAX_LIST 64
#define MAX_GPU 1023 /* far above any machine; the real bound is what NVML counts */
#define STATE_DIR_ENV "KERF_STATE_DIR"
#define STATE_DIR_DEFAULT "/var/lib/kerf"

struct opts {
	const char *library, *layout, *journal_dir;
	const char *podres; /* NULL: KUBELET_PODRES_SOCKET, used only if it exists; "none": no kubelet here */
	const char *plugin_dir; /* NULL: KUBELET_PLUGIN_DIR */
	const char *alloc_text;
	long gpu;
	bool dry_run;
	char checkpoint[PATH_MAX]; /* the kubelet's device checkpoint in plugin_dir, asked beside pod-resources */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kerf apply --gpu N --layout LAYOUT [--dry-run] [--allocated UUID,...]\n"
		   "                  [--pod-resources SOCKET] [--plugin-dir DIR] [--nvml-library PATH] [--state-dir DIR]\n\n"
		   "Re-cuts GPU N to LAYOUT (\"2g.20gb@0,1g.10gb@2\": profile@first memory slice; \"-\" = empty),\n"
		   "the complete list of instances the GPU must end with. Free instances not in LAYOUT are\n"
		   "destroyed, matching ones kept, missing ones created at their exact placements. An instance\n"
		   "running a process, or whose MIG UUID is given with --allocated, is never touched: a LAYOUT that\n"
		   "would destroy or move one is refused. --dry-run prints the operations and changes nothing.\n"
		   "The kubelet's pod-resources API (--pod-resources, default " KUBELET_PODRES_SOCKET ") is asked\n"
		   "before every destroy, and an instance allocated to a pod is never touched; if it cannot be asked,\n"
		   "nothing is destroyed. Without that socket apply refuses (a dry run only notes it):\n"
		   "--pod-resources none says the machine runs no kubelet.\n"
		   "Where kerf's agent serves the MIG devices (a live kerf-*.sock in --plugin-dir, default\n"
		   KUBELET_PLUGIN_DIR "), apply refuses: only the agent can withdraw a device before destroying it.\n"
		   "A failed step rolls back to the original layout; the journal (--state-dir, else $" STATE_DIR_ENV
		   ",\n"
		   "else " STATE_DIR_DEFAULT ") lets the next run finish or undo a run that was killed half way.\n");
}

/* The actuator's steps for a person at a terminal: "  create gpu=0 profile=1g.10gb start=2". */
static void log_stdout(void *arg, const struct kerf_log_event *ev)
{
	(void)arg;
	printf("  %s", ev->msg);
	for (unsigned i = 0; i < ev->n; i++)
		printf(" %s=%s", ev->f[i].key, ev->f[i].value);
	if (ev->err != NULL)
		printf(": %s", ev->err->msg);
	printf("\n");
	fflush(stdout);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	const struct cli_opt opts[] = {
		{ .name = "--dry-run", .kind = CLI_FLAG, .dst = &o->dry_run },
		{ .name = "--gpu", .kind = CLI_INT, .dst = &o->gpu, .max = MAX_GPU, .noun = "GPU index" },
		{ .name = "--layout", .kind = CLI_STRING, .dst = &o->layout },
		{ .name = "--nvml-library", .kind = CLI_STRING, .dst = &o->library },
		{ .name = "--library", .kind = CLI_ALIAS, .alias_of = "--nvml-library" },
		{ .name = "--state-dir", .kind = CLI_STRING, .dst = &o->journal_dir },
		{ .name = "--journal-dir", .kind = CLI_ALIAS, .alias_of = "--state-dir" },
		{ .name = "--allocated", .kind = CLI_STRING, .dst = &o->alloc_text },
		{ .name = "--pod-resources", .kind = CLI_STRING, .dst = &o->podres },
		{ .name = "--plugin-dir", .kind = CLI_STRING, .dst = &o->plugin_dir },
		{ 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	o->gpu = -1;
	if ((rc = cli_opts_parse("apply", opts, argc, argv, NULL, 0, NULL)) != 0) {
		if (rc > 0)
			usage(stdout);
		return rc;
	}
	if (o->gpu < 0 || o->layout == NULL) {
		fprintf(stderr, "kerf apply: --gpu and --layout are required\n");
		return -1;
	}
	if (o->journal_dir == NULL)
		o->journal_dir = getenv(STATE_DIR_ENV);
	if (o->journal_dir == NULL || o->journal_dir[0] == '\0')
		o->journal_dir = STATE_DIR_DEFAULT;
	return 0;
}

static bool is_socket(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/*
 * Where a kubelet runs, "allocated to a pod" is its pod-resources List, asked afresh before each destroy.
 * Whether one runs is never guessed: a missing socket may be a kubelet with another root folder (k0s,
 * microk8s) or one not mounted into a container, and destroying then would ask no one. So without the socket
 * only a dry run goes on (it changes nothing); a real apply needs the socket, or --pod-resources none from a
 * user who knows the machine runs no kubelet. Returns 0, or the exit status to stop with.
 */
static int kubelet_check(struct opts *o, struct kubelet_hooks *kh, struct actuate_config *cfg)
{
	const char *sock = o->podres != NULL ? o->podres : KUBELET_PODRES_SOCKET;

	if (o->podres != NULL && strcmp(o->podres, "none") == 0)
		return 0;
	if (!is_socket(sock)) {
		if (o->podres != NULL) {
			fprintf(stderr, "kerf apply: --pod-resources: %s is not a socket\n", sock);
			return KERF_EXIT_USAGE;
		}
		if (o->dry_run) {
			fprintf(stderr, "kerf apply: no kubelet pod-resources socket at %s: a real apply would stop here "
					"(give --pod-resources SOCKET or --pod-resources none)\n", sock);
			return 0;
		}
		fprintf(stderr, "kerf apply: no kubelet pod-resources socket at %s, so kerf cannot tell which instances "
				"pods hold and destroys nothing. Give --pod-resources SOCKET where the kubelet keeps it "
				"elsewhere (k0s, microk8s, a container), or --pod-resources none on a machine that runs no "
				"kubelet\n", sock);
		return KERF_EXIT_FAIL;
	}
	snprintf(o->checkpoint, sizeof(o->checkpoint), "%s/kubelet_internal_checkpoint",
		 o->plugin_dir != NULL ? o->plugin_dir : KUBELET_PLUGIN_DIR);
	*kh = (struct kubelet_hooks){.plugin = NULL, .podres_socket = sock, .timeout_ms = 0, .checkpoint = o->checkpoint};
	cfg->hooks.is_allocated = kubelet_hook_is_allocated;
	cfg->hooks.arg = kh;
	return 0;
}

/*
 * The withdraw-before-destroy rule: a device kerf's plugin advertises must be withdrawn before it is
 * destroyed, and only the agent that runs the plugin can do that. So where a kerf plugin is live, this
 * command changes nothing; a dry run still shows what would happen. -1: refuse.
 */
static int agent_check(const struct opts *o)
{
	char name[256];
	struct kerf_err err;
	int r = kubelet_plugin_serving(o->plugin_dir, name, sizeof(name), &err);

	if (r == 0)
		return 0;
	if (r < 0)
		fprintf(stderr, "kerf apply: cannot tell whether kerf's agent serves this node's MIG devices: %s\n", err.msg);
	else
		fprintf(stderr, "kerf apply: kerf's agent serves this node's MIG devices (%s/%s is live): change the "
				"layout through the agent, which withdraws each device before destroying it\n",
			o->plugin_dir ? o->plugin_dir : KUBELET_PLUGIN_DIR, name);
	if (o->dry_run)
		return 0;
	fprintf(stderr, "kerf apply: refused: nothing was changed\n");
	return -1;
}

static int dry_run(const struct nvml_gpu *gpu, const struct mig_layout *want, const struct actuate_config *cfg)
{
	struct actuate_plan plan;
	struct kerf_err err;
	char text[2048];

	if (actuate_plan(gpu, want, cfg, &plan, &err) != 0) {
		fprintf(stderr, "kerf apply: refused: %s\n", err.msg);
		return err.code == KERF_EINVAL ? KERF_EXIT_USAGE : KERF_EXIT_FAIL;
	}
	if (plan.n == 0) {
		printf("dry run: GPU %u already has this layout; nothing to do\n", gpu->index);
		return KERF_EXIT_OK;
	}
	actuate_plan_format(gpu, &plan, text, sizeof(text));
	printf("dry run: would run these %u operation(s) on GPU %u:\n", plan.n, gpu->index);
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
		printf("  %s\n", line);
	return KERF_EXIT_OK;
}

static int apply(struct nvml *nv, struct nvml_gpu *gpu, const struct mig_layout *want, const struct actuate_config *cfg)
{
	struct actuate_result res;
	struct kerf_err err;
	int rc;

	if (mkdir(cfg->journal_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "kerf apply: journal directory %s: %s (choose one with --state-dir)\n", cfg->journal_dir,
			strerror(errno));
		return KERF_EXIT_FAIL;
	}
	printf("GPU %u: applying\n", gpu->index);
	rc = actuate_apply(nv, gpu->index, &gpu->model, want, cfg, &res, &err);
	if (res.recovered != ACTUATE_UNCHANGED)
		printf("GPU %u: an interrupted earlier run was %s first\n", gpu->index,
		       res.recovered == ACTUATE_APPLIED ? "finished" : actuate_outcome_name(res.recovered));
	if (rc != 0) {
		fprintf(stderr, "kerf apply: %s%s\n", res.outcome == ACTUATE_UNCHANGED ? "refused: " : "", err.msg);
		rc = err.code == KERF_EINVAL && res.outcome == ACTUATE_UNCHANGED ? KERF_EXIT_USAGE : KERF_EXIT_FAIL;
	} else {
		printf("GPU %u: %s (%u change(s)): %s -> %s\n", gpu->index, actuate_outcome_name(res.outcome), res.changes,
		       res.before, res.after);
	}
	if (nvml_read_gpu(nv, gpu->index, gpu, &err) == 0) {
		printf("\n");
		cli_nvml_show_gpu(stdout, gpu, cfg->allocated, cfg->n_allocated);
	}
	return rc;
}

int cmd_apply(int argc, char **argv)
{
	struct opts o;
	const char *alloc[MAX_LIST];
	int n_alloc = 0, rc = KERF_EXIT_FAIL;
	struct actuate_config cfg;
	struct kubelet_hooks kh;
	struct nvml_gpu *gpu = NULL;
	struct mig_layout want;
	struct nvml *nv;
	struct kerf_err err;
	unsigned count;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc > 0 ? KERF_EXIT_OK : (usage(stderr), KERF_EXIT_USAGE);
	if (o.alloc_text != NULL && (n_alloc = cli_nvml_split((char *)o.alloc_text, alloc, MAX_LIST)) < 0) {
		fprintf(stderr, "kerf apply: --allocated: more than %d UUIDs\n", MAX_LIST);
		return KERF_EXIT_USAGE;
	}
	if (agent_check(&o) != 0)
		return KERF_EXIT_FAIL;
	if ((nv = cli_nvml_open("apply", o.library)) == NULL)
		return KERF_EXIT_FAIL;
	rc = KERF_EXIT_FAIL;
	if (nvml_gpu_count(nv, &count, &err) != 0) {
		fprintf(stderr, "kerf apply: %s\n", err.msg);
		goto out;
	}
	if (o.gpu >= (long)count) {
		fprintf(stderr, "kerf apply: --gpu: GPU %ld does not exist (NVML sees %u)\n", o.gpu, count);
		rc = KERF_EXIT_USAGE;
		goto out;
	}
	if ((gpu = malloc(sizeof(*gpu))) == NULL || nvml_read_gpu(nv, (unsigned)o.gpu, gpu, &err) != 0) {
		fprintf(stderr, "kerf apply: %s\n", gpu ? err.msg : "out of memory");
		goto out;
	}
	if (mig_layout_parse(&gpu->model, o.layout, &want, &err) != 0) {
		fprintf(stderr, "kerf apply: --layout: %s\n", err.msg);
		rc = KERF_EXIT_USAGE;
		goto out;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.journal_dir = o.journal_dir;
	cfg.allocated = alloc;
	cfg.n_allocated = (unsigned)n_alloc;
	cfg.log = log_stdout;
	if ((rc = kubelet_check(&o, &kh, &cfg)) != 0)
		goto out;
	rc = o.dry_run ? dry_run(gpu, &want, &cfg) : apply(nv, gpu, &want, &cfg);
out:
	free(gpu);
	nvml_close(nv);
	return rc;
}
