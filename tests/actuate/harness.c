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
		h->used[h->n_used++] = (struct used_instance){ id, gi->profile_id, gi->start, ci->serial };
		if ((int)gi->start == s->alloc_start)
			fk_mig_uuid(0, ci->serial, h->alloc_uuid, sizeof(h->alloc_uuid));
	}
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
		const struct fk_ci *ci = gi->live ? first_ci(gi) : NULL;

		if (ci == NULL || gi->profile_id != x->profile_id || gi->start != x->start || ci->serial != x->serial) {
			snprintf(why, sizeof(why), "used instance GI %u (profile %u @ %u) was destroyed or moved", x->gi_id,
				 x->profile_id, x->start);
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
