/* SPDX-License-Identifier: Apache-2.0 */
/*
 * actuate.c — the safe re-layout of one GPU: plan, guarded execution, rollback, journal and recovery.
 *
 * One routine, converge(), moves the GPU towards a target layout; it serves the forward run (target: the
 * desired layout), the rollback (target: the original layout, destroying only what this run created) and
 * recovery after a crash (either of the two, as the journal says). Every destroy goes through
 * guarded_destroy(), the one place that enforces the safety rule.
 *
 * Journal format (one file per GPU, named after its UUID; lines appended and fsync'ed):
 *     kerf-actuate 1
 *     orig 14@0,19@2          original layout, as NVML profile IDs @ start
 *     want 9@0                desired layout
 *     destroy 19@2 9          about to destroy (profile ID @ start, GPU instance ID)
 *     destroyed 19@2
 *     create 9@0              about to create (or complete) an instance: it may exist after a crash
 *     created 9@0
 *     rollback                the run failed; from here on the target is `orig`
 *     end applied             the run is over (the file is then removed)
 * Profile IDs, not indices, so a journal means the same thing whatever order the model lists profiles in.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "actuate.h"

/*
 * Mutation testing (tests/actuate/CMakeLists.txt): the suite builds this file again with KERF_MUTATION set to
 * each guard's number, that guard removed, and requires the actuator's tests to fail on every such build. A
 * guard no test notices is not tested. The normal build has KERF_MUTATION 0: every MUTANT() is false.
 *   1 the destroy-time re-check (processes read afresh, allocation asked afresh)
 *   2 the pod-resources question (hooks.is_allocated) at plan and destroy time
 *   3 the withdraw before a destroy (hooks.pre_destroy)
 *   4 recovery's replay of the journal's create lines (which instances a rollback may destroy)
 *   5 the rule that a header-less journal announcing no change is removed
 *   6 the per-GPU lock
 *   7 carrying the desired layout over to the fresh read's model
 *   8 the destroy's journal line made durable before the checks, not after
 */
#ifndef KERF_MUTATION
#define KERF_MUTATION 0
#endif
#define MUTANT(n) (KERF_MUTATION == (n))

#define JMAX (2 * MIG_MAX_INSTANCES)

struct jinst {
	unsigned id, start; /* NVML profile ID, first memory slice */
};

struct jlayout {
	unsigned n;
	struct jinst i[JMAX];
};

struct run {
	struct nvml *nv;
	const struct actuate_config *cfg;
	struct nvml_gpu *gpu;
	int jfd;
	int lockfd; /* the GPU's lock (-1 without a journal folder): one actuator per GPU at a time */
	char jpath[PATH_MAX];
	struct jlayout orig, want, created;
	unsigned changes;
};

const char *actuate_outcome_name(enum actuate_outcome o)
{
	switch (o) {
	case ACTUATE_UNCHANGED: return "unchanged";
	case ACTUATE_APPLIED: return "applied";
	case ACTUATE_ROLLED_BACK: return "rolled back";
	case ACTUATE_FAILED: return "failed";
	}
	return "?";
}

/* One log event (log.h) through the run's callback; every event names the GPU first (fields "gpu=%u ..."). */
static void say(const struct run *r, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		const char *fields, ...) __attribute__((format(printf, 5, 6)));

static void say(const struct run *r, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	kerf_log_vemit(r->cfg->log, r->cfg->log_arg, level, err, msg, fields, ap);
	va_end(ap);
}

/* ---- layouts by profile ID --------------------------------------------------------------------------- */

static bool jl_has(const struct jlayout *l, unsigned id, unsigned start)
{
	for (unsigned k = 0; k < l->n; k++)
		if (l->i[k].id == id && l->i[k].start == start)
			return true;
	return false;
}

static void jl_add(struct jlayout *l, unsigned id, unsigned start)
{
	if (!jl_has(l, id, start) && l->n < JMAX)
		l->i[l->n++] = (struct jinst){ id, start };
}

/* How many instances of a are not in b. */
static unsigned jl_missing(const struct jlayout *a, const struct jlayout *b)
{
	unsigned n = 0;

	for (unsigned k = 0; k < a->n; k++)
		n += !jl_has(b, a->i[k].id, a->i[k].start);
	return n;
}

static void jl_from_gpu(const struct nvml_gpu *gpu, struct jlayout *l)
{
	l->n = 0;
	for (unsigned k = 0; k < gpu->n_instances; k++)
		jl_add(l, gpu->inst[k].profile_id, gpu->inst[k].start);
}

/* In placement order, so that creates happen in the order a person reading the journal expects. */
static void jl_from_layout(const struct mig_model *m, const struct mig_layout *d, struct jlayout *l)
{
	struct mig_layout sorted = *d;

	mig_layout_sort(&sorted);
	l->n = 0;
	for (unsigned k = 0; k < sorted.n; k++)
		jl_add(l, m->profiles[sorted.inst[k].profile].nvml_id, sorted.inst[k].start);
}

static void jl_text(const struct jlayout *l, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	if (l->n == 0)
		snprintf(out, n, "-");
	for (unsigned k = 0; k < l->n && used < n; k++)
		used += (size_t)snprintf(out + used, n - used, "%s%u@%u", k ? "," : "", l->i[k].id, l->i[k].start);
}

static int jl_parse(const char *text, struct jlayout *l)
{
	const char *c = text;

	l->n = 0;
	if (strcmp(text, "-") == 0)
		return 0;
	while (*c) {
		unsigned id, start;
		int used;

		if (sscanf(c, "%u@%u%n", &id, &start, &used) != 2)
			return -1;
		jl_add(l, id, start);
		c += used;
		if (*c == ',')
			c++;
		else if (*c != '\0')
			return -1;
	}
	return 0;
}

/* The layout as profile names ("2g.20gb@0,1g.10gb@2"), for people. */
static void gpu_text(const struct nvml_gpu *gpu, char *out, size_t n)
{
	struct mig_layout l;

	nvml_gpu_layout(gpu, &l);
	mig_layout_sort(&l);
	if (mig_layout_format(&gpu->model, &l, out, n) < 0 && n > 0)
		out[n - 1] = '\0';
}

static const char *pname(const struct nvml_gpu *gpu, unsigned profile_id)
{
	int p = mig_profile_by_nvml_id(&gpu->model, profile_id);

	return p >= 0 ? gpu->model.profiles[p].name : "(unknown profile)";
}

/* ---- journal ----------------------------------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 ? fsync(fd) : -1;

	if (fd >= 0)
		close(fd);
	return rc;
}

static int jline(struct run *r, struct kerf_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends one line and makes it durable before returning: the NVML call it announces comes after. */
static int jline(struct run *r, struct kerf_err *err, const char *fmt, ...)
{
	char line[512];
	int n;
	va_list ap;

	if (r->jfd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return kerf_err_set(err, KERF_EINTERNAL, "journal line too long");
	line[n++] = '\n';
	if (write(r->jfd, line, (size_t)n) != n || fsync(r->jfd) != 0)
		return kerf_err_set(err, KERF_EIO, "%s: %s", r->jpath, strerror(errno));
	return 0;
}

static void journal_path(struct run *r)
{
	r->jpath[0] = '\0';
	if (r->cfg->journal_dir != NULL)
		snprintf(r->jpath, sizeof(r->jpath), "%s/actuate-%s.journal", r->cfg->journal_dir, r->gpu->uuid);
}

static int journal_begin(struct run *r, struct kerf_err *err)
{
	char o[256], w[256];

	r->jfd = -1;
	if (r->jpath[0] == '\0')
		return 0;
	r->jfd = open(r->jpath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (r->jfd < 0)
		return kerf_err_set(err, KERF_EIO, "%s: %s (is another actuator running on this GPU?)", r->jpath,
				    strerror(errno));
	if (fsync_dir(r->cfg->journal_dir) != 0)
		return kerf_err_set(err, KERF_EIO, "%s: fsync: %s", r->cfg->journal_dir, strerror(errno));
	jl_text(&r->orig, o, sizeof(o));
	jl_text(&r->want, w, sizeof(w));
	return jline(r, err, "kerf-actuate 1\norig %s\nwant %s", o, w);
}

/* Closes the journal; removes it when the run is settled (anything but FAILED, which recovery retries). */
static void journal_end(struct run *r, enum actuate_outcome o)
{
	if (r->jfd < 0)
		return;
	jline(r, NULL, "end %s", actuate_outcome_name(o));
	close(r->jfd);
	r->jfd = -1;
	if (o != ACTUATE_FAILED && unlink(r->jpath) == 0)
		fsync_dir(r->cfg->journal_dir);
}

/* A line of the header journal_begin() writes, or what a kill left of one: a prefix of it. */
static bool header_line(const char *line)
{
	static const char *const head[] = {"kerf-actuate 1", "orig ", "want "};
	size_t n = strlen(line);

	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		if (strncmp(line, head[i], n < strlen(head[i]) ? n : strlen(head[i])) == 0)
			return true;
	return false;
}

/*
 * Reads an existing journal. Returns 1 if there is an unfinished run, 0 if none, -1 on error.
 *
 * A journal whose header (orig and want) never became whole, and that announces no NVML change, is what a run
 * killed between creating the file and its first fsync leaves: the header is written and made durable before
 * the first change, so no change was made. It is removed and the GPU is as it was. A journal that announces a
 * change without a whole header is damaged: a person must look.
 */
static int journal_load(struct run *r, bool *rolling_back, struct kerf_err *err)
{
	FILE *f;
	char line[512];
	bool have_orig = false, have_want = false, ended = false, changes = false;

	*rolling_back = false;
	r->created.n = 0;
	if (r->jpath[0] == '\0' || (f = fopen(r->jpath, "re")) == NULL) {
		if (r->jpath[0] != '\0' && errno != ENOENT)
			return kerf_err_set(err, KERF_EIO, "%s: %s", r->jpath, strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char arg[400] = "";

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "orig %399s", arg) == 1)
			have_orig = jl_parse(arg, &r->orig) == 0;
		else if (sscanf(line, "want %399s", arg) == 1)
			have_want = jl_parse(arg, &r->want) == 0;
		else if (sscanf(line, "create %399s", arg) == 1) {
			struct jlayout one;

			if (jl_parse(arg, &one) == 0 && one.n == 1 && !MUTANT(4))
				jl_add(&r->created, one.i[0].id, one.i[0].start);
			changes = true;
		} else if (strcmp(line, "rollback") == 0)
			*rolling_back = changes = true;
		else if (strncmp(line, "end ", 4) == 0)
			ended = strcmp(line + 4, actuate_outcome_name(ACTUATE_FAILED)) != 0;
		else if (!header_line(line))
			changes = true; /* a destroy, or a line this version does not know: assume it changed something */
	}
	fclose(f);
	if (ended || (!(have_orig && have_want) && !changes && !MUTANT(5))) {
		unlink(r->jpath);
		fsync_dir(r->cfg->journal_dir);
		return 0;
	}
	if (!have_orig || !have_want)
		return kerf_err_set(err, KERF_EINVAL, "%s: journal without orig/want lines; inspect and remove it", r->jpath);
	return 1;
}

/* ---- the guarded destroy ----------------------------------------------------------------------------- */

static bool in_allocated_set(const struct actuate_config *cfg, const char *uuid)
{
	for (unsigned k = 0; k < cfg->n_allocated; k++)
		if (strcmp(cfg->allocated[k], uuid) == 0)
			return true;
	return false;
}

/* Why an instance is used, or NULL if it is free. "cannot tell" counts as used. Asks the hook. */
static const char *used_reason(const struct actuate_config *cfg, const struct nvml_gpu *gpu,
			       const struct nvml_instance *in, char *buf, size_t n)
{
	if (in->n_ci > 0 && !nvml_instance_whole(gpu, in))
		return snprintf(buf, n, "it has %u compute instance(s) that kerf did not make (not one spanning it): left alone",
				in->n_ci),
		       buf;
	for (unsigned c = 0; c < in->n_ci; c++) {
		const struct nvml_ci *ci = &in->ci[c];
		bool allocated = false;
		struct kerf_err e;

		if (ci->processes > 0)
			return snprintf(buf, n, "%s runs %u process(es)", ci->uuid, ci->processes), buf;
		if (ci->uuid[0] == '\0')
			return snprintf(buf, n, "compute instance %u has no MIG device listed, so its use is unknown", ci->id),
			       buf;
		if (in_allocated_set(cfg, ci->uuid))
			return snprintf(buf, n, "%s is allocated to a pod", ci->uuid), buf;
		if (cfg->hooks.is_allocated != NULL && !MUTANT(2)) {
			if (cfg->hooks.is_allocated(cfg->hooks.arg, ci->uuid, &allocated, &e) != 0)
				return snprintf(buf, n, "cannot tell whether %s is allocated (%s)", ci->uuid, e.msg), buf;
			if (allocated)
				return snprintf(buf, n, "%s is allocated to a pod", ci->uuid), buf;
		}
	}
	return NULL;
}

static const struct nvml_instance *find_gi(const struct nvml_gpu *gpu, unsigned gi_id)
{
	for (unsigned k = 0; k < gpu->n_instances; k++)
		if (gpu->inst[k].gi_id == gi_id)
			return &gpu->inst[k];
	return NULL;
}

static int guarded_destroy(struct run *r, const struct nvml_instance *planned, struct kerf_err *err)
{
	struct nvml_instance in;
	const struct nvml_instance *now;
	const char *why;
	char buf[KERF_ERR_MSG_MAX / 2];
	const char *name = pname(r->gpu, planned->profile_id);

	if (nvml_read_instances(r->nv, r->gpu, err) != 0)
		return -1;
	now = find_gi(r->gpu, planned->gi_id);
	if (now == NULL || now->profile_id != planned->profile_id || now->start != planned->start) {
		for (unsigned k = 0; k < r->gpu->n_instances; k++)
			if (r->gpu->inst[k].profile_id == planned->profile_id && r->gpu->inst[k].start == planned->start)
				return kerf_err_set(err, KERF_ECONFLICT,
						    "gpu %u: %s@%u changed under kerf (GPU instance %u is now %u)",
						    r->gpu->index, name, planned->start, planned->gi_id,
						    r->gpu->inst[k].gi_id);
		return 0; /* already gone */
	}
	in = *now;
	/* Withdraw first, so that no pod can be given the device while it is checked and destroyed. */
	for (unsigned c = 0; c < in.n_ci && r->cfg->hooks.pre_destroy != NULL && !MUTANT(3); c++)
		if (in.ci[c].uuid[0] && r->cfg->hooks.pre_destroy(r->cfg->hooks.arg, r->gpu->index, in.ci[c].uuid, err) != 0)
			return kerf_err_prefix(err, "gpu %u: withdrawing %s@%u (%s) before destroying it", r->gpu->index, name,
					       in.start, in.ci[c].uuid);
	/* The intent is made durable before the checks, not between them and the destroy: an fsync takes
	 * milliseconds, and a process or an allocation could arrive in them. A refusal after it leaves only a
	 * "destroy" line with no "destroyed"; recovery reads the GPU, not that line. */
	if (!MUTANT(8) && jline(r, err, "destroy %u@%u %u", in.profile_id, in.start, in.gi_id) != 0)
		return -1;
	/* Never destroy an instance that a pod holds (kubelet pod-resources) or that runs a process (NVML):
	 * both are checked here, immediately before the destroy, because either can change at any moment. */
	for (unsigned c = 0; c < in.n_ci && !MUTANT(1); c++) {
		unsigned procs = 0;

		if (in.ci[c].uuid[0] == '\0')
			continue;
		if (nvml_mig_processes(r->nv, r->gpu->index, in.ci[c].uuid, &procs, err) != 0)
			return kerf_err_prefix(err, "gpu %u: checking %s@%u for processes before destroying it", r->gpu->index,
					       name, in.start);
		in.ci[c].processes = procs;
	}
	if (!MUTANT(1) && (why = used_reason(r->cfg, r->gpu, &in, buf, sizeof(buf))) != NULL)
		return kerf_err_set(err, KERF_EBUSY, "gpu %u: refusing to destroy %s@%u: %s", r->gpu->index, name, in.start,
				    why);
	if (MUTANT(8) && jline(r, err, "destroy %u@%u %u", in.profile_id, in.start, in.gi_id) != 0)
		return -1;
	say(r, KERF_LOG_INFO, NULL, "destroy", "gpu=%u profile=%s start=%u gpu_instance=%u", r->gpu->index, name, in.start,
	    in.gi_id);
	if (nvml_destroy(r->nv, r->gpu, in.gi_id, err) != 0)
		return -1;
	r->changes++;
	return jline(r, err, "destroyed %u@%u", in.profile_id, in.start);
}

/* ---- converge ---------------------------------------------------------------------------------------- */

static int create_one(struct run *r, unsigned id, unsigned start, struct kerf_err *err)
{
	int p = mig_profile_by_nvml_id(&r->gpu->model, id);

	if (p < 0)
		return kerf_err_set(err, KERF_EINVAL, "gpu %u: profile ID %u is not offered by this GPU", r->gpu->index, id);
	jl_add(&r->created, id, start);
	if (jline(r, err, "create %u@%u", id, start) != 0)
		return -1;
	say(r, KERF_LOG_INFO, NULL, "create", "gpu=%u profile=%s start=%u", r->gpu->index, r->gpu->model.profiles[p].name,
	    start);
	if (nvml_create(r->nv, r->gpu, (unsigned)p, start, err) != 0)
		return -1;
	r->changes++;
	return jline(r, err, "created %u@%u", id, start);
}

static int complete_one(struct run *r, const struct nvml_instance *in, struct kerf_err *err)
{
	jl_add(&r->created, in->profile_id, in->start);
	if (jline(r, err, "create %u@%u", in->profile_id, in->start) != 0)
		return -1;
	say(r, KERF_LOG_INFO, NULL, "complete: the GPU instance had no compute instance",
	    "gpu=%u profile=%s start=%u gpu_instance=%u", r->gpu->index, pname(r->gpu, in->profile_id), in->start, in->gi_id);
	if (nvml_complete(r->nv, r->gpu, in->gi_id, err) != 0)
		return -1;
	r->changes++;
	return jline(r, err, "created %u@%u", in->profile_id, in->start);
}

/*
 * Moves the GPU to target. Forward: destroys every instance not in target. Rollback: destroys only the
 * instances this run created (r->created) that are not in target, and leaves anything else alone.
 */
static int converge(struct run *r, const struct jlayout *target, bool rollback, struct kerf_err *err)
{
	struct nvml_instance snap[MIG_MAX_INSTANCES];
	unsigned n;

	if (nvml_read_instances(r->nv, r->gpu, err) != 0)
		return -1;
	n = r->gpu->n_instances;
	memcpy(snap, r->gpu->inst, n * sizeof(snap[0]));
	for (unsigned k = 0; k < n; k++) {
		if (jl_has(target, snap[k].profile_id, snap[k].start))
			continue;
		if (rollback && !jl_has(&r->created, snap[k].profile_id, snap[k].start))
			continue;
		if (guarded_destroy(r, &snap[k], err) != 0)
			return -1;
	}
	/* r->gpu is fresh here and stays so: every change below re-reads it (nvml_create/_complete/_destroy). */
	for (unsigned t = 0; t < target->n; t++) {
		const struct nvml_instance *in = NULL;

		for (unsigned k = 0; k < r->gpu->n_instances; k++)
			if (r->gpu->inst[k].profile_id == target->i[t].id && r->gpu->inst[k].start == target->i[t].start)
				in = &r->gpu->inst[k];
		if (in != NULL && in->n_ci > 0)
			continue;
		if ((in != NULL ? complete_one(r, in, err) : create_one(r, target->i[t].id, target->i[t].start, err)) != 0)
			return -1;
	}
	return 0;
}

/* Runs forward to r->want; on failure rolls back to r->orig. Sets the outcome; fills err on failure. */
static enum actuate_outcome run_transaction(struct run *r, bool already_rolling_back, struct kerf_err *err)
{
	struct kerf_err failure, rb;
	char text[256];

	if (!already_rolling_back) {
		if (converge(r, &r->want, false, err) == 0) {
			journal_end(r, ACTUATE_APPLIED);
			return ACTUATE_APPLIED;
		}
		failure = *err;
		say(r, KERF_LOG_ERROR, &failure, "step failed: rolling back", "gpu=%u", r->gpu->index);
		if (jline(r, &rb, "rollback") != 0)
			say(r, KERF_LOG_ERROR, &rb, "journal write failed", "gpu=%u", r->gpu->index);
	} else {
		kerf_err_set(&failure, KERF_EIO, "gpu %u: an interrupted run was rolling back", r->gpu->index);
	}
	if (converge(r, &r->orig, true, &rb) == 0) {
		gpu_text(r->gpu, text, sizeof(text));
		kerf_err_set(err, failure.code, "%s; rolled back: GPU %u is back at %s", failure.msg, r->gpu->index, text);
		journal_end(r, ACTUATE_ROLLED_BACK);
		return ACTUATE_ROLLED_BACK;
	}
	gpu_text(r->gpu, text, sizeof(text));
	kerf_err_set(err, failure.code, "%s; the rollback failed too (%s); GPU %u is now at %s", failure.msg, rb.msg,
		     r->gpu->index, text);
	journal_end(r, ACTUATE_FAILED);
	return ACTUATE_FAILED;
}

/* ---- planning ---------------------------------------------------------------------------------------- */

int actuate_plan(const struct nvml_gpu *gpu, const struct mig_layout *desired, const struct actuate_config *cfg,
		 struct actuate_plan *plan, struct kerf_err *err)
{
	char why[KERF_ERR_MSG_MAX / 2];
	struct mig_layout want = *desired;

	plan->n = 0;
	for (unsigned k = 0; k < want.n; k++)
		want.inst[k].used = false;
	if (mig_layout_check(&gpu->model, &want, err) != 0)
		return kerf_err_prefix(err, "gpu %u: the desired layout is not valid on %s", gpu->index, gpu->model.name);
	for (unsigned k = 0; k < gpu->n_instances; k++) {
		const struct nvml_instance *in = &gpu->inst[k];
		bool keep = false;

		for (unsigned d = 0; d < want.n && in->profile >= 0; d++)
			keep |= want.inst[d].profile == in->profile && want.inst[d].start == in->start;
		if (keep) {
			if (in->n_ci == 0)
				plan->op[plan->n++] = (struct actuate_op){ ACTUATE_COMPLETE, (uint8_t)in->profile,
									   (uint8_t)in->start, in->gi_id };
			continue;
		}
		if (used_reason(cfg, gpu, in, why, sizeof(why)) != NULL)
			return kerf_err_set(err, KERF_EBUSY,
					    "gpu %u: %s@%u is in use (%s): the layout would destroy it; keep it in the "
					    "layout",
					    gpu->index, in->profile >= 0 ? gpu->model.profiles[in->profile].name : "?",
					    in->start, why);
		plan->op[plan->n++] = (struct actuate_op){ ACTUATE_DESTROY, (uint8_t)(in->profile >= 0 ? in->profile : 0),
							   (uint8_t)in->start, in->gi_id };
	}
	mig_layout_sort(&want);
	for (unsigned d = 0; d < want.n; d++)
		if (nvml_find_instance(gpu, want.inst[d].profile, want.inst[d].start) < 0)
			plan->op[plan->n++] = (struct actuate_op){ ACTUATE_CREATE, want.inst[d].profile, want.inst[d].start, 0 };
	return 0;
}

void actuate_plan_format(const struct nvml_gpu *gpu, const struct actuate_plan *plan, char *out, size_t outsz)
{
	static const char *verb[] = { "destroy", "complete", "create" };
	size_t used = 0;

	out[0] = '\0';
	for (unsigned k = 0; k < plan->n && used < outsz; k++) {
		const struct actuate_op *op = &plan->op[k];

		used += (size_t)snprintf(out + used, outsz - used, "%s %s@%u", verb[op->kind],
					 gpu->model.profiles[op->profile].name, op->start);
		if (op->kind != ACTUATE_CREATE && used < outsz)
			used += (size_t)snprintf(out + used, outsz - used, " (GPU instance %u)", op->gi_id);
		if (used < outsz)
			used += (size_t)snprintf(out + used, outsz - used, "\n");
	}
}

/* ---- entry points ------------------------------------------------------------------------------------ */

/*
 * One actuator per GPU at a time, across processes (the agent, `kerf apply`): an exclusive flock on
 * <journal_dir>/.actuate-<GPU UUID>.lock, held until the run ends (the kernel drops it if the process dies).
 * Without it a second run's recovery took over the first's live journal, and the GPU ended matching neither
 * layout. A held lock is refused at once, not waited for: the caller tries again (the agent's backoff). The
 * file stays; removing a lock file races with the next taker.
 */
static int gpu_lock(struct run *r, struct kerf_err *err)
{
	char path[PATH_MAX];

	if (r->cfg->journal_dir == NULL || MUTANT(6))
		return 0;
	snprintf(path, sizeof(path), "%s/.actuate-%s.lock", r->cfg->journal_dir, r->gpu->uuid);
	if ((r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return kerf_err_set(err, KERF_EIO, "%s: %s", path, strerror(errno));
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(r->lockfd);
		r->lockfd = -1;
		if (e == EWOULDBLOCK)
			return kerf_err_set(err, KERF_EBUSY,
					    "gpu %u: another kerf process is changing this GPU (%s is locked); try again when it is done",
					    r->gpu->index, path);
		return kerf_err_set(err, KERF_EIO, "%s: flock: %s", path, strerror(e));
	}
	return 0;
}

static struct run *run_new(struct nvml *nv, unsigned gpu_index, const struct actuate_config *cfg,
			   struct kerf_err *err)
{
	struct run *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->gpu = calloc(1, sizeof(*r->gpu))) == NULL) {
		free(r);
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	r->nv = nv;
	r->cfg = cfg;
	r->jfd = r->lockfd = -1;
	if (nvml_read_gpu(nv, gpu_index, r->gpu, err) != 0 || gpu_lock(r, err) != 0) {
		free(r->gpu);
		free(r);
		return NULL;
	}
	journal_path(r);
	return r;
}

static void run_free(struct run *r)
{
	if (r == NULL)
		return;
	if (r->jfd >= 0)
		close(r->jfd);
	if (r->lockfd >= 0)
		close(r->lockfd); /* releases the GPU's lock */
	free(r->gpu);
	free(r);
}

static int recover(struct run *r, struct actuate_result *res, struct kerf_err *err)
{
	bool rolling_back;
	int rc = journal_load(r, &rolling_back, err);
	char o[256], w[256];

	res->recovered = ACTUATE_UNCHANGED;
	if (rc <= 0)
		return rc;
	r->jfd = open(r->jpath, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (r->jfd < 0)
		return kerf_err_set(err, KERF_EIO, "%s: %s", r->jpath, strerror(errno));
	jl_text(&r->orig, o, sizeof(o));
	jl_text(&r->want, w, sizeof(w));
	say(r, KERF_LOG_WARN, NULL, "recovering an interrupted run", "gpu=%u from=%s to=%s result=%s", r->gpu->index, o, w,
	    rolling_back ? "rolling-back" : "finishing");
	res->recovered = run_transaction(r, rolling_back, err);
	r->changes = 0;
	if (res->recovered == ACTUATE_FAILED)
		return kerf_err_prefix(err, "recovering the interrupted run");
	if (res->recovered == ACTUATE_ROLLED_BACK)
		say(r, KERF_LOG_WARN, err, "recovery rolled back", "gpu=%u result=rolled-back", r->gpu->index);
	kerf_err_clear(err);
	return 0;
}

/* The result's `after` from the GPU as last read, and what changed since `before` (the GPU as it was then). */
static void result_after(const struct run *r, const struct jlayout *before, struct actuate_result *res)
{
	struct jlayout after;

	gpu_text(r->gpu, res->after, sizeof(res->after));
	if (before == NULL)
		return;
	jl_from_gpu(r->gpu, &after);
	res->created = jl_missing(&after, before);
	res->destroyed = jl_missing(before, &after);
}

int actuate_recover(struct nvml *nv, unsigned gpu_index, const struct actuate_config *cfg,
		    struct actuate_result *res, struct kerf_err *err)
{
	struct run *r = run_new(nv, gpu_index, cfg, err);
	struct jlayout before;
	int rc;

	memset(res, 0, sizeof(*res));
	if (r == NULL)
		return -1;
	gpu_text(r->gpu, res->before, sizeof(res->before));
	jl_from_gpu(r->gpu, &before);
	rc = recover(r, res, err);
	result_after(r, &before, res);
	run_free(r);
	return rc;
}

/*
 * desired (profile indices of model `from`) as a layout of the GPU's model as just read: each instance by its
 * NVML profile ID, whose name must agree too. A profile the GPU no longer reports refuses the whole layout.
 */
static int carry_over(const struct nvml_gpu *gpu, const struct mig_model *from, const struct mig_layout *desired,
		      struct mig_layout *out, struct kerf_err *err)
{
	*out = *desired;
	for (unsigned k = 0; k < desired->n && !MUTANT(7); k++) {
		unsigned idx = desired->inst[k].profile;
		const struct mig_profile *p;
		int q;

		if (idx >= from->n_profiles)
			return kerf_err_set(err, KERF_EINVAL,
					    "gpu %u: the desired layout's instance %u names profile %u of a model with %u; nothing "
					    "changed",
					    gpu->index, k, idx, from->n_profiles);
		p = &from->profiles[idx];
		q = mig_profile_by_nvml_id(&gpu->model, p->nvml_id);
		if (q < 0 || strcmp(gpu->model.profiles[q].name, p->name) != 0)
			return kerf_err_set(err, KERF_EINVAL,
					    "gpu %u: the desired layout's %s (NVML profile %u) is not among the profiles the GPU "
					    "reports now; nothing changed",
					    gpu->index, p->name, p->nvml_id);
		out->inst[k].profile = (uint8_t)q;
	}
	return 0;
}

int actuate_apply(struct nvml *nv, unsigned gpu_index, const struct mig_model *model, const struct mig_layout *desired_in,
		  const struct actuate_config *cfg, struct actuate_result *res, struct kerf_err *err)
{
	struct run *r = run_new(nv, gpu_index, cfg, err);
	struct mig_layout carried, *desired = &carried;
	struct actuate_plan plan;
	struct jlayout before, *have_before = NULL;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	res->outcome = ACTUATE_FAILED;
	if (r == NULL)
		return -1;
	if (recover(r, res, err) != 0 || nvml_read_instances(nv, r->gpu, err) != 0)
		goto out;
	gpu_text(r->gpu, res->before, sizeof(res->before));
	jl_from_gpu(r->gpu, &before);
	have_before = &before;
	if (carry_over(r->gpu, model, desired_in, &carried, err) != 0) {
		res->outcome = ACTUATE_UNCHANGED;
		goto out;
	}
	if (actuate_plan(r->gpu, desired, cfg, &plan, err) != 0) {
		res->outcome = ACTUATE_UNCHANGED;
		goto out;
	}
	if (plan.n == 0) {
		res->outcome = ACTUATE_UNCHANGED;
		rc = 0;
		goto out;
	}
	jl_from_gpu(r->gpu, &r->orig);
	jl_from_layout(&r->gpu->model, desired, &r->want);
	r->created.n = 0;
	r->changes = 0;
	if (journal_begin(r, err) != 0) {
		res->outcome = ACTUATE_UNCHANGED;
		goto out;
	}
	res->outcome = run_transaction(r, false, err);
	rc = res->outcome == ACTUATE_APPLIED ? 0 : -1;
out:
	if (r->gpu != NULL)
		result_after(r, have_before, res);
	res->changes = r->changes;
	run_free(r);
	return rc;
}
