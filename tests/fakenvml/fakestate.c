/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakestate.c — the simulated GPUs' state file: locking, loading, saving, and the edits that the control
 * command and the tests make directly (bypassing NVML, as an operator or a CUDA process would).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakestate.h"

#define FK_MAGIC 0x6b6e766du /* "knvm" */
#define FK_VERSION 3u

const char *fk_state_path(void)
{
	const char *p = getenv(FK_ENV_STATE);

	return p != NULL && p[0] != '\0' ? p : NULL;
}

int fk_lock(const char *path, struct fk_state *st, struct kerf_err *err)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return kerf_err_set(err, KERF_ENOTFOUND, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX) != 0) {
		kerf_err_set(err, KERF_EIO, "%s: flock: %s", path, strerror(errno));
		goto fail;
	}
	n = pread(fd, st, sizeof(*st), 0);
	if (n != (ssize_t)sizeof(*st) || st->magic != FK_MAGIC || st->version != FK_VERSION) {
		kerf_err_set(err, KERF_EINVAL, "%s: not a fakenvml state file (run fakenvml-ctl init)", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int fk_unlock(int fd, const struct fk_state *st, bool save, struct kerf_err *err)
{
	int rc = 0;

	if (save && pwrite(fd, st, sizeof(*st), 0) != (ssize_t)sizeof(*st))
		rc = kerf_err_set(err, KERF_EIO, "fakenvml state: write: %s", strerror(errno));
	close(fd); /* releases the flock */
	return rc;
}

int fk_init(const char *path, const char *const *models, unsigned n, struct kerf_err *err)
{
	struct fk_state *st = calloc(1, sizeof(*st));
	struct stat sb;
	int fd = -1, rc = -1;

	if (st == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	if (n == 0 || n > FK_MAX_GPUS) {
		kerf_err_set(err, KERF_EINVAL, "models: %u GPUs, need 1..%d", n, FK_MAX_GPUS);
		goto out;
	}
	st->magic = FK_MAGIC;
	st->version = FK_VERSION;
	st->n_gpus = n;
	st->next_serial = 1;
	for (unsigned i = 0; i < n; i++) {
		const struct mig_model *m = mig_catalog_find(mig_catalog_builtin(), models[i], err);

		if (m == NULL) {
			kerf_err_path(err, "models[%u]", i);
			goto out;
		}
		snprintf(st->gpu[i].model, sizeof(st->gpu[i].model), "%s", m->name);
		st->gpu[i].mig_current = st->gpu[i].mig_pending = 1;
		st->gpu[i].next_gi = 1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	/* MIG UUIDs come from (GPU index, serial): serials that start from the file's inode number keep two
	 * simulated nodes (two state files) from handing out the same UUIDs, as two real GPUs never do. */
	if (fd >= 0 && fstat(fd, &sb) == 0)
		st->next_serial = 1 + ((uint64_t)sb.st_ino << 20);
	if (fd < 0 || flock(fd, LOCK_EX) != 0 || ftruncate(fd, 0) != 0 ||
	    pwrite(fd, st, sizeof(*st), 0) != (ssize_t)sizeof(*st)) {
		kerf_err_set(err, KERF_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(st);
	return rc;
}

const struct mig_model *fk_model(const struct fk_gpu *g)
{
	return mig_catalog_find(mig_catalog_builtin(), g->model, NULL);
}

unsigned fk_profile_sms(const struct mig_model *m, const struct mig_profile *p)
{
	(void)m;
	return p->multiprocessors ? p->multiprocessors : 16 * p->compute_slices;
}

void fk_layout(const struct fk_gpu *g, struct mig_layout *l, unsigned *gi_ids)
{
	const struct mig_model *m = fk_model(g);

	l->n = 0;
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		const struct fk_gi *gi = &g->gi[id];
		int p;

		if (!gi->live || (p = mig_profile_by_nvml_id(m, gi->profile_id)) < 0)
			continue;
		if (gi_ids != NULL)
			gi_ids[l->n] = id;
		l->inst[l->n].profile = (uint8_t)p;
		l->inst[l->n].start = (uint8_t)gi->start;
		l->inst[l->n].used = false;
		l->n++;
	}
}

/* A UUID-shaped string from two numbers (splitmix64), stable across runs so test output is reproducible. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void uuid_text(const char *prefix, uint64_t a, uint64_t b, char *out, size_t n)
{
	uint64_t h = mix(a * 1000003u + b), k = mix(h);

	snprintf(out, n, "%s-%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, prefix,
		 h >> 32, (h >> 16) & 0xffff, h & 0xffff, k >> 48, k & (uint64_t)0xffffffffffff);
}

void fk_gpu_uuid(unsigned gpu, char *out, size_t n)
{
	uuid_text("GPU", 0xfa6e, gpu, out, n);
}

void fk_mig_uuid(unsigned gpu, uint64_t serial, char *out, size_t n)
{
	uuid_text("MIG", gpu + 1, serial, out, n);
}

unsigned fk_gpu_minor(unsigned gpu)
{
	return gpu + FK_MINOR_OFFSET;
}

/* Compute-instance profiles: one per standard slice count up to the GI's, SMs in proportion. A Hopper-style
 * 1g REV2 instance (more SMs than a plain 1g) also offers 1_SLICE_REV1 (ID 7) with all its SMs: that is its
 * full compute instance on real H100s ("-cgi 15 -C" creates "MIG 1g.20gb (ID 7)"). */
unsigned fk_ci_profiles(const struct mig_model *m, const struct mig_profile *p, struct fk_ci_profile *out,
			unsigned max)
{
	static const struct {
		unsigned id, slices;
	} std[] = { { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 6, 6 }, { 4, 7 }, { 5, 8 } };
	unsigned sms = fk_profile_sms(m, p), n = 0;
	unsigned base_sms = sms;

	for (unsigned i = 0; i < m->n_profiles; i++)
		if (m->profiles[i].nvml_index == 0x0)
			base_sms = fk_profile_sms(m, &m->profiles[i]);

	for (size_t i = 0; i < sizeof(std) / sizeof(std[0]) && n < max; i++) {
		if (std[i].slices > p->compute_slices)
			continue;
		out[n].id = std[i].id;
		out[n].slices = std[i].slices;
		out[n].sms = std[i].slices == p->compute_slices ? sms : sms * std[i].slices / p->compute_slices;
		n++;
	}
	if (p->nvml_index == 0x9 && p->compute_slices == 1 && sms != base_sms && n < max) {
		out[0].sms = base_sms;
		out[n].id = 7;
		out[n].slices = 1;
		out[n].sms = sms;
		n++;
	}
	return n;
}

int fk_create(struct fk_state *st, unsigned gpu, unsigned profile_id, unsigned start, unsigned *gi_id,
	      struct kerf_err *err)
{
	struct fk_gpu *g;
	const struct mig_model *m;
	struct mig_layout l;
	struct fk_gi *gi;
	int p;
	unsigned id = 0;

	if (gpu >= st->n_gpus)
		return kerf_err_set(err, KERF_EINVAL, "gpu %u: there are %u GPUs", gpu, st->n_gpus);
	g = &st->gpu[gpu];
	m = fk_model(g);
	p = mig_profile_by_nvml_id(m, profile_id);
	if (p < 0)
		return kerf_err_set(err, KERF_EINVAL, "profile ID %u is not a profile of %s", profile_id, m->name);
	if (!mig_profile_start_ok(&m->profiles[p], start))
		return kerf_err_set(err, KERF_EINVAL, "%u is not a legal start for %s", start, m->profiles[p].name);
	fk_layout(g, &l, NULL);
	l.inst[l.n].profile = (uint8_t)p;
	l.inst[l.n].start = (uint8_t)start;
	l.inst[l.n].used = false;
	l.n++;
	if (mig_layout_check(m, &l, err) != 0) {
		err->code = KERF_ECONFLICT;
		return -1;
	}
	for (unsigned k = 0; k < FK_MAX_GI - 1 && id == 0; k++) {
		unsigned cand = 1 + (g->next_gi - 1 + k) % (FK_MAX_GI - 1);

		if (!g->gi[cand].live)
			id = cand;
	}
	if (id == 0)
		return kerf_err_set(err, KERF_ECONFLICT, "no free GPU instance ID");
	g->next_gi = 1 + id % (FK_MAX_GI - 1);
	gi = &g->gi[id];
	memset(gi, 0, sizeof(*gi));
	gi->live = true;
	gi->profile_id = profile_id;
	gi->start = start;
	gi->size = m->profiles[p].memory_slices;
	if (gi_id != NULL)
		*gi_id = id;
	return 0;
}

int fk_create_ci(struct fk_state *st, unsigned gpu, unsigned gi_id, unsigned ci_profile_id, unsigned *ci_id,
		 struct kerf_err *err)
{
	struct fk_ci_profile cps[FK_MAX_CI + 2];
	const struct mig_model *m;
	struct fk_gi *gi;
	unsigned n, slices = 0, used = 0, id = FK_MAX_CI, start;
	int p;

	if (gpu >= st->n_gpus || gi_id == 0 || gi_id >= FK_MAX_GI || !st->gpu[gpu].gi[gi_id].live)
		return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no GPU instance %u", gpu, gi_id);
	m = fk_model(&st->gpu[gpu]);
	gi = &st->gpu[gpu].gi[gi_id];
	p = mig_profile_by_nvml_id(m, gi->profile_id);
	n = fk_ci_profiles(m, &m->profiles[p], cps, FK_MAX_CI + 2);
	for (unsigned i = 0; i < n; i++)
		if (cps[i].id == ci_profile_id)
			slices = cps[i].slices;
	if (slices == 0)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "compute profile %u is not offered by %s", ci_profile_id,
				    m->profiles[p].name);
	for (unsigned c = 0; c < FK_MAX_CI; c++) {
		if (gi->ci[c].live)
			used += gi->ci[c].size;
		else if (id == FK_MAX_CI)
			id = c;
	}
	if (id == FK_MAX_CI || used + slices > m->profiles[p].compute_slices)
		return kerf_err_set(err, KERF_ECONFLICT, "GPU instance %u has %u of %u compute slices in use", gi_id,
				    used, m->profiles[p].compute_slices);
	/* Compute instances fill the GI's compute slices from 0 without gaps: start = slices in use. */
	start = used;
	gi->ci[id].live = true;
	gi->ci[id].profile_id = ci_profile_id;
	gi->ci[id].start = start;
	gi->ci[id].size = slices;
	gi->ci[id].pid = 0;
	gi->ci[id].pid_kind = FK_PROC_COMPUTE;
	gi->ci[id].pod = false;
	gi->ci[id].serial = st->next_serial++;
	if (ci_id != NULL)
		*ci_id = id;
	return 0;
}

int fk_set_pid_uuid(struct fk_state *st, const char *uuid, unsigned pid, struct kerf_err *err)
{
	char have[96];

	for (unsigned g = 0; g < st->n_gpus; g++)
		for (unsigned id = 1; id < FK_MAX_GI; id++) {
			struct fk_gi *gi = &st->gpu[g].gi[id];

			for (unsigned c = 0; gi->live && c < FK_MAX_CI; c++) {
				if (!gi->ci[c].live)
					continue;
				fk_mig_uuid(g, gi->ci[c].serial, have, sizeof(have));
				if (strcmp(have, uuid) == 0) {
					gi->ci[c].pid = pid;
					return 0;
				}
			}
		}
	return kerf_err_set(err, KERF_ENOTFOUND, "no MIG device has UUID %s", uuid);
}

/* The first compute instance of the GPU instance that starts at memory slice start, or NULL with err set. */
static struct fk_ci *ci_at(struct fk_state *st, unsigned gpu, unsigned start, struct kerf_err *err)
{
	if (gpu >= st->n_gpus) {
		kerf_err_set(err, KERF_EINVAL, "gpu %u: there are %u GPUs", gpu, st->n_gpus);
		return NULL;
	}
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		struct fk_gi *gi = &st->gpu[gpu].gi[id];

		if (!gi->live || gi->start != start)
			continue;
		for (unsigned c = 0; c < FK_MAX_CI; c++)
			if (gi->ci[c].live)
				return &gi->ci[c];
		kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: the instance at slice %u has no compute instance", gpu, start);
		return NULL;
	}
	kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no GPU instance starts at memory slice %u", gpu, start);
	return NULL;
}

int fk_set_pid_kind(struct fk_state *st, unsigned gpu, unsigned start, unsigned kind, struct kerf_err *err)
{
	struct fk_ci *ci;

	if (kind > FK_PROC_MPS)
		return kerf_err_set(err, KERF_EINVAL, "process kind %u: out of range", kind);
	if ((ci = ci_at(st, gpu, start, err)) == NULL)
		return -1;
	ci->pid_kind = kind;
	return 0;
}

int fk_set_pid(struct fk_state *st, unsigned gpu, unsigned start, unsigned pid, struct kerf_err *err)
{
	struct fk_ci *ci = ci_at(st, gpu, start, err);

	if (ci == NULL)
		return -1;
	ci->pid = pid;
	return 0;
}

int fk_add_fault(struct fk_state *st, const struct fk_fault *f, struct kerf_err *err)
{
	if (st->n_faults == FK_MAX_FAULTS)
		return kerf_err_set(err, KERF_ENOMEM, "at most %d faults", FK_MAX_FAULTS);
	st->fault[st->n_faults] = *f;
	st->fault[st->n_faults].seen = 0;
	st->n_faults++;
	return 0;
}

/* The GI ID of the GPU instance at memory slice start, or 0. */
static unsigned gi_at(const struct fk_state *st, unsigned gpu, unsigned start)
{
	for (unsigned id = 1; gpu < st->n_gpus && id < FK_MAX_GI; id++)
		if (st->gpu[gpu].gi[id].live && st->gpu[gpu].gi[id].start == start)
			return id;
	return 0;
}

/*
 * A split is what `nvidia-smi mig -dci` then `-cci 0,0` does to an instance: its compute instances go and two
 * 1-slice ones take their place, each a new MIG device. kerf never makes such an instance, and must not
 * destroy one (nvml_instance_whole()).
 */
static int split_gi(struct fk_state *st, unsigned gpu, unsigned id, struct fk_fault *f, struct kerf_err *err)
{
	struct fk_gi *gi = &st->gpu[gpu].gi[id];
	unsigned ci[2];

	for (unsigned c = 0; c < FK_MAX_CI; c++)
		gi->ci[c].live = false;
	for (unsigned k = 0; k < 2; k++) {
		if (fk_create_ci(st, gpu, id, 0 /* 1 slice */, &ci[k], err) != 0)
			return kerf_err_prefix(err, "split");
		f->made[k] = gi->ci[ci[k]].serial;
	}
	return 0;
}

int fk_make_busy(struct fk_state *st, struct fk_fault *f, struct kerf_err *err)
{
	unsigned id = gi_at(st, f->gpu, f->start);
	struct fk_ci *ci = NULL;

	if (id == 0)
		return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: no GPU instance starts at memory slice %u", f->gpu,
				    f->start);
	if (f->action == FK_SPLIT) {
		if (split_gi(st, f->gpu, id, f, err) != 0)
			return -1;
		f->made_gi = id;
		return 0;
	}
	for (unsigned c = 0; c < FK_MAX_CI && ci == NULL; c++)
		if (st->gpu[f->gpu].gi[id].ci[c].live)
			ci = &st->gpu[f->gpu].gi[id].ci[c];
	if (ci == NULL)
		return kerf_err_set(err, KERF_ENOTFOUND, "gpu %u: the instance at slice %u has no compute instance",
				    f->gpu, f->start);
	if (f->action == FK_PROCESS)
		ci->pid = FK_STALE_PID;
	else
		ci->pod = true;
	f->made_gi = id;
	f->made[0] = ci->serial;
	return 0;
}

static const char *action_name(enum fk_action a)
{
	switch (a) {
	case FK_FAIL: return "fail";
	case FK_KILL_BEFORE: return "kill-before";
	case FK_KILL_AFTER: return "kill-after";
	case FK_DELAY: return "delay";
	case FK_PROCESS: return "process";
	case FK_POD: return "pod";
	case FK_SPLIT: return "split";
	}
	return "?";
}

void fk_print(const struct fk_state *st, FILE *f)
{
	for (unsigned i = 0; i < st->n_gpus; i++) {
		const struct fk_gpu *g = &st->gpu[i];
		const struct mig_model *m = fk_model(g);
		char uuid[64];

		fk_gpu_uuid(i, uuid, sizeof(uuid));
		fprintf(f, "gpu %u %s (%s) %s mig %u/%u\n", i, g->model, m ? m->aliases[0] : "?", uuid, g->mig_current,
			g->mig_pending);
		for (unsigned id = 1; id < FK_MAX_GI && m != NULL; id++) {
			const struct fk_gi *gi = &g->gi[id];
			int p = gi->live ? mig_profile_by_nvml_id(m, gi->profile_id) : -1;

			if (!gi->live)
				continue;
			fprintf(f, "  gi %u %s@%u (profile id %u, size %u)\n", id, p >= 0 ? m->profiles[p].name : "?",
				gi->start, gi->profile_id, gi->size);
			for (unsigned c = 0; c < FK_MAX_CI; c++) {
				if (!gi->ci[c].live)
					continue;
				fk_mig_uuid(i, gi->ci[c].serial, uuid, sizeof(uuid));
				fprintf(f, "    ci %u profile id %u slices %u+%u %s%s%s\n", c, gi->ci[c].profile_id,
					gi->ci[c].start, gi->ci[c].size, uuid, gi->ci[c].pid ? " process" : "",
					gi->ci[c].pod ? " pod" : "");
			}
		}
	}
	for (unsigned i = 0; i < st->n_faults; i++)
		fprintf(f, "fault %s %s nth %u seen %u code %d usec %u\n", st->fault[i].func,
			action_name(st->fault[i].action), st->fault[i].nth, st->fault[i].seen, st->fault[i].code,
			st->fault[i].usec);
	for (unsigned i = 0; i < st->n_calls; i++)
		fprintf(f, "calls %s %u\n", st->calls[i].func, st->calls[i].n);
	if (st->violations)
		fprintf(f, "violations %u\n", st->violations);
}

/* The compute profile spanning a GI of profile p: all its slices and all its SMs. */
static unsigned full_ci_profile(const struct mig_model *m, const struct mig_profile *p)
{
	struct fk_ci_profile cps[FK_MAX_CI + 2];
	unsigned n = fk_ci_profiles(m, p, cps, FK_MAX_CI + 2), best = 0;

	for (unsigned i = 0; i < n; i++)
		if (cps[i].slices == p->compute_slices && cps[i].sms == fk_profile_sms(m, p))
			best = cps[i].id;
	return best;
}

int fk_create_layout(struct fk_state *st, unsigned gpu, const char *text, struct kerf_err *err)
{
	const struct mig_model *m;
	struct mig_layout l;

	if (gpu >= st->n_gpus)
		return kerf_err_set(err, KERF_EINVAL, "gpu %u: there are %u GPUs", gpu, st->n_gpus);
	m = fk_model(&st->gpu[gpu]);
	if (mig_layout_parse(m, text, &l, err) != 0)
		return -1;
	for (unsigned i = 0; i < l.n; i++) {
		const struct mig_profile *p = &m->profiles[l.inst[i].profile];
		unsigned gi;

		if (fk_create(st, gpu, p->nvml_id, l.inst[i].start, &gi, err) != 0 ||
		    fk_create_ci(st, gpu, gi, full_ci_profile(m, p), NULL, err) != 0)
			return kerf_err_prefix(err, "%s@%u", p->name, l.inst[i].start);
	}
	return 0;
}
