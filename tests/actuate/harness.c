/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.c — see harness.h.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

void h_begin(struct harness *h)
{
	const char *tmp = getenv("TMPDIR");

	/* The journal fsyncs every line; on tmpfs that costs nothing, which keeps the matrix fast. */
	if (tmp == NULL || tmp[0] == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s/kerf-test-actuate-XXXXXX", tmp);
	if (mkdtemp(h->dir) == NULL)
		fail_msg("mkdtemp failed");
	snprintf(h->state, sizeof(h->state), "%s/gpus", h->dir);
	snprintf(h->journals, sizeof(h->journals), "%s/journal", h->dir);
	if (mkdir(h->journals, 0700) != 0)
		fail_msg("mkdir %s failed", h->journals);
	setenv(FK_ENV_STATE, h->state, 1);
	h->cfg.journal_dir = h->journals;
}

void h_end(struct harness *h)
{
	DIR *d = opendir(h->journals);
	struct dirent *e;
	char path[400];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", h->journals, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(h->journals);
	unlink(h->state);
	rmdir(h->dir);
}

void h_edit(struct harness *h, void (*fn)(struct fk_state *st, void *arg), void *arg)
{
	static struct fk_state st;
	struct kerf_err err;
	int fd = fk_lock(h->state, &st, &err);

	if (fd < 0)
		fail_msg("fk_lock: %s", err.msg);
	fn(&st, arg);
	if (fk_unlock(fd, &st, true, &err) != 0)
		fail_msg("fk_unlock: %s", err.msg);
}

void h_read(struct harness *h, struct fk_state *st)
{
	struct kerf_err err;
	int fd = fk_lock(h->state, st, &err);

	if (fd < 0)
		fail_msg("fk_lock: %s", err.msg);
	fk_unlock(fd, st, false, &err);
}

static const struct fk_ci *first_ci(const struct fk_gi *gi)
{
	for (unsigned c = 0; c < FK_MAX_CI; c++)
		if (gi->ci[c].live)
			return &gi->ci[c];
	return NULL;
}

struct load_arg {
	struct harness *h;
	const struct scenario *s;
};

static void load_fn(struct fk_state *st, void *arg)
{
	struct load_arg *a = arg;
	struct kerf_err err;

	if (fk_create_layout(st, 0, a->s->orig, &err) != 0)
		fail_msg("%s: %s", a->s->name, err.msg);
	if (a->s->busy_start >= 0 && fk_set_pid(st, 0, (unsigned)a->s->busy_start, 4242, &err) != 0)
		fail_msg("%s: %s", a->s->name, err.msg);
	a->h->snap = *st;
}

void h_load(struct harness *h, const struct scenario *s)
{
	struct kerf_err err;
	struct load_arg a = { h, s };

	if (fk_init(h->state, &s->model, 1, &err) != 0)
		fail_msg("%s: %s", s->name, err.msg);
	h_edit(h, load_fn, &a);
	h->n_used = 0;
	h->alloc_uuid[0] = '\0';
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		const struct fk_gi *gi = &h->snap.gpu[0].gi[id];
		const struct fk_ci *ci = gi->live ? first_ci(gi) : NULL;

		if (ci == NULL || ((int)gi->start != s->busy_start && (int)gi->start != s->alloc_start))
			continue;
		h->used[h->n_used++] = (struct used_instance){ id, gi->profile_id, gi->start, 1, { ci->serial, 0 },
								(int)gi->start == s->busy_start, false };
		if ((int)gi->start == s->alloc_start)
			fk_mig_uuid(0, ci->serial, h->alloc_uuid, sizeof(h->alloc_uuid));
	}
	h->n_base = h->n_used;
	h->alloc_list[0] = h->alloc_uuid;
	h->cfg.allocated = h->alloc_list;
	h->cfg.n_allocated = h->alloc_uuid[0] ? 1 : 0;
}

static void reset_fn(struct fk_state *st, void *arg)
{
	struct harness *h = arg;

	*st = h->snap;
	st->n_faults = 0;
	st->n_calls = 0;
	st->trace = false;
	st->violations = 0;
}

void h_reset(struct harness *h)
{
	h_edit(h, reset_fn, h);
	h->n_used = h->n_base;
}

/* Records GI id of st as used, with the compute instances it has now. */
static void add_used(struct harness *h, const struct fk_state *st, unsigned id, bool process, bool pod)
{
	const struct fk_gi *gi = &st->gpu[0].gi[id];
	struct used_instance u = { id, gi->profile_id, gi->start, 0, { 0, 0 }, process, pod };

	for (unsigned c = 0; c < FK_MAX_CI; c++)
		if (gi->ci[c].live && u.n_ci < 2)
			u.serial[u.n_ci++] = gi->ci[c].serial;
	if (h->n_used == H_MAX_USED)
		fail_msg("more than %d used instances", H_MAX_USED);
	h->used[h->n_used++] = u;
}

struct split_arg {
	struct harness *h;
	unsigned start;
};

static void split_fn(struct fk_state *st, void *arg)
{
	struct split_arg *a = arg;
	struct fk_fault f = { .action = FK_SPLIT, .gpu = 0, .start = a->start };
	struct kerf_err err;

	if (fk_make_busy(st, &f, &err) != 0)
		fail_msg("split @%u: %s", a->start, err.msg);
	add_used(a->h, st, f.made_gi, false, false);
	a->h->snap = *st;
}

void h_split(struct harness *h, unsigned start)
{
	struct split_arg a = { h, start };

	h_edit(h, split_fn, &a);
	h->n_base = h->n_used;
}

unsigned h_note_made_busy(struct harness *h)
{
	static struct fk_state st;
	unsigned added = 0;

	h_read(h, &st);
	for (unsigned i = 0; i < st.n_faults; i++) {
		const struct fk_fault *f = &st.fault[i];
		struct used_instance u;
		const struct fk_gi *gi;

		if (f->made_gi == 0)
			continue;
		gi = &st.gpu[0].gi[f->made_gi];
		/* as it was made: what happened to it afterwards is what h_used_intact() judges */
		u = (struct used_instance){ f->made_gi, gi->profile_id, f->start, f->action == FK_SPLIT ? 2 : 1,
					    { f->made[0], f->made[1] }, f->action == FK_PROCESS, f->action == FK_POD };
		if (h->n_used == H_MAX_USED)
			fail_msg("more than %d used instances", H_MAX_USED);
		h->used[h->n_used++] = u;
		added++;
	}
	return added;
}

int h_pod_is_allocated(void *arg, const char *mig_uuid, bool *allocated, struct kerf_err *err)
{
	static struct fk_state st;
	struct harness *h = arg;
	char u[NVML_UUID_MAX];
	int fd = fk_lock(h->state, &st, err);

	if (fd < 0)
		return -1;
	fk_unlock(fd, &st, false, NULL);
	*allocated = false;
	for (unsigned id = 1; id < FK_MAX_GI; id++)
		for (unsigned c = 0; c < FK_MAX_CI && st.gpu[0].gi[id].live; c++) {
			const struct fk_ci *ci = &st.gpu[0].gi[id].ci[c];

			if (!ci->live)
				continue;
			fk_mig_uuid(0, ci->serial, u, sizeof(u));
			if (strcmp(u, mig_uuid) == 0)
				*allocated = ci->pod;
		}
	return 0;
}

static void clear_fn(struct fk_state *st, void *arg)
{
	(void)arg;
	st->n_faults = 0;
}

void h_clear_faults(struct harness *h)
{
	h_edit(h, clear_fn, NULL);
}

static void fault_fn(struct fk_state *st, void *arg)
{
	struct kerf_err err;

	if (fk_add_fault(st, arg, &err) != 0)
		fail_msg("fk_add_fault: %s", err.msg);
}

void h_fault(struct harness *h, const char *func, unsigned nth, enum fk_action action, int code)
{
	struct fk_fault f = { .nth = nth, .action = action, .code = code };

	snprintf(f.func, sizeof(f.func), "%s", func);
	h_edit(h, fault_fn, &f);
}

bool h_layout_is(struct harness *h, const char *text)
{
	static struct fk_state st;
	const struct mig_model *m;
	struct mig_layout want, have;
	struct kerf_err err;

	h_read(h, &st);
	m = fk_model(&st.gpu[0]);
	if (mig_layout_parse(m, text, &want, &err) != 0)
		fail_msg("layout %s: %s", text, err.msg);
	fk_layout(&st.gpu[0], &have, NULL);
	for (unsigned id = 1; id < FK_MAX_GI; id++)
		if (st.gpu[0].gi[id].live && first_ci(&st.gpu[0].gi[id]) == NULL)
			return false;
	return mig_layout_same(&want, &have);
}

/* True if gi has exactly the compute instances x recorded (by serial). */
static bool same_cis(const struct fk_gi *gi, const struct used_instance *x)
{
	unsigned live = 0, found = 0;

	for (unsigned c = 0; c < FK_MAX_CI; c++) {
		if (!gi->ci[c].live)
			continue;
		live++;
		for (unsigned k = 0; k < x->n_ci; k++)
			found += gi->ci[c].serial == x->serial[k];
	}
	return live == x->n_ci && found == x->n_ci;
}

const char *h_used_intact(struct harness *h)
{
	static struct fk_state st;
	static char why[256];

	h_read(h, &st);
	if (st.violations != 0) {
		snprintf(why, sizeof(why), "the simulator saw %u destroy(s) of a busy instance", st.violations);
		return why;
	}
	for (unsigned u = 0; u < h->n_used; u++) {
		const struct used_instance *x = &h->used[u];
		const struct fk_gi *gi = &st.gpu[0].gi[x->gi_id];

		if (!gi->live || gi->profile_id != x->profile_id || gi->start != x->start || !same_cis(gi, x)) {
			snprintf(why, sizeof(why), "used instance GI %u (profile %u @ %u) was destroyed or moved", x->gi_id,
				 x->profile_id, x->start);
			return why;
		}
		if ((x->process && first_ci(gi)->pid == 0) || (x->pod && !first_ci(gi)->pod)) {
			snprintf(why, sizeof(why), "used instance GI %u (profile %u @ %u) lost its %s", x->gi_id,
				 x->profile_id, x->start, x->process ? "process" : "pod");
			return why;
		}
	}
	return NULL;
}

struct nvml *h_open(void)
{
	struct kerf_err err;
	struct nvml *nv = nvml_open(FAKENVML_LIB, &err);

	if (nv == NULL)
		fail_msg("nvml_open: %s", err.msg);
	return nv;
}

bool h_no_journal(struct harness *h)
{
	DIR *d = opendir(h->journals);
	struct dirent *e;
	bool none = true;

	while (d != NULL && (e = readdir(d)) != NULL)
		none &= e->d_name[0] == '.';
	if (d != NULL)
		closedir(d);
	return none;
}
