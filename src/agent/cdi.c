/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cdi.c — see cdi.h. The spec is built with jansson (the project's JSON library) and written whole; the
 * minors table is read afresh on every update, since the driver's capability minors belong to the driver and
 * reading a few kilobytes of procfs costs nothing next to a re-layout.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "cdi.h"

#define NO_CI UINT_MAX

struct cdi_spec {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	char minors_path[PATH_MAX];
	char *written;   /* the text of the last successful write, NULL: none (or the file was removed) */
	char **listed;   /* the UUIDs that text lists */
	size_t n_listed;
};

/* One line of the driver's minors table: the access capability of GPU instance gi (ci NO_CI) or of compute
 * instance ci in it, on the GPU with device minor gpu. */
struct cap_minor {
	unsigned gpu, gi, ci, minor;
};

struct minors {
	struct cap_minor *v;
	size_t n, cap;
};

/* ---- the minors table ---- */

static int minors_add(struct minors *m, struct cap_minor c)
{
	if (kerf_grow(&m->v, &m->cap, m->n + 1, sizeof(*m->v), SIZE_MAX / sizeof(*m->v), "minors", NULL) < 0)
		return -1;
	m->v[m->n++] = c;
	return 0;
}

/* Parses one line; lines of other capabilities ("config 1", "monitor 2") are not GI/CI lines: 0. */
static int parse_line(const char *line, struct cap_minor *c)
{
	int end = -1;

	if (sscanf(line, "gpu%u/gi%u/ci%u/access %u%n", &c->gpu, &c->gi, &c->ci, &c->minor, &end) == 4 && end > 0)
		return line[end] == '\0' || isspace((unsigned char)line[end]);
	end = -1;
	c->ci = NO_CI;
	if (sscanf(line, "gpu%u/gi%u/access %u%n", &c->gpu, &c->gi, &c->minor, &end) == 3 && end > 0)
		return line[end] == '\0' || isspace((unsigned char)line[end]);
	return 0;
}

static int minors_read(const char *path, struct minors *m, struct kerf_err *err)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (f == NULL)
		return kerf_err_set(err, errno == ENOENT ? KERF_ENOTFOUND : KERF_EIO,
				    "%s: %s (the driver's table of MIG capability minors)", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct cap_minor c;

		if (parse_line(line, &c) == 1 && minors_add(m, c) < 0) {
			kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", path);
			goto out;
		}
	}
	if (ferror(f)) {
		kerf_err_set(err, KERF_EIO, "%s: read error", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	if (rc < 0)
		free(m->v);
	return rc;
}

static bool minors_find(const struct minors *m, unsigned gpu, unsigned gi, unsigned ci, unsigned *minor)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].gpu == gpu && m->v[i].gi == gi && m->v[i].ci == ci) {
			*minor = m->v[i].minor;
			return true;
		}
	return false;
}

/* ---- the spec ---- */

/* CDI device names: alphanumerics, '-', '_', '.', beginning and ending with an alphanumeric (SPEC.md). An
 * old-style MIG UUID ("MIG-GPU-<uuid>/<gi>/<ci>", before R470) has slashes and cannot be one. */
static bool legal_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static int add_node(json_t *nodes, const char *fmt, unsigned v)
{
	char path[64];

	snprintf(path, sizeof(path), fmt, v);
	return json_array_append_new(nodes, json_pack("{s:s}", "path", path));
}

/* The device's entry, or NULL with d->why filled when its nodes cannot be named. */
static json_t *device_entry(const struct minors *m, struct cdi_mig_device *d)
{
	unsigned gi_cap = 0, ci_cap = 0;
	json_t *nodes;

	if (!legal_name(d->uuid))
		snprintf(d->why, sizeof(d->why), "\"%s\" is not a legal CDI device name", d->uuid);
	else if (d->gpu_minor == CDI_MINOR_UNKNOWN)
		snprintf(d->why, sizeof(d->why), "NVML gave no device minor for its GPU");
	else if (!minors_find(m, d->gpu_minor, d->gi, NO_CI, &gi_cap))
		snprintf(d->why, sizeof(d->why), "no minor for gpu%u/gi%u/access", d->gpu_minor, d->gi);
	else if (!minors_find(m, d->gpu_minor, d->gi, d->ci, &ci_cap))
		snprintf(d->why, sizeof(d->why), "no minor for gpu%u/gi%u/ci%u/access", d->gpu_minor, d->gi, d->ci);
	else
		d->why[0] = '\0';
	if (d->why[0] != '\0' || (nodes = json_array()) == NULL)
		return NULL;
	if (add_node(nodes, "/dev/nvidia%u", d->gpu_minor) < 0 ||
	    add_node(nodes, "/dev/nvidia-caps/nvidia-cap%u", gi_cap) < 0 ||
	    add_node(nodes, "/dev/nvidia-caps/nvidia-cap%u", ci_cap) < 0) {
		json_decref(nodes);
		return NULL;
	}
	return json_pack("{s:s, s:{s:o}}", "name", d->uuid, "containerEdits", "deviceNodes", nodes);
}

/*
 * The common edits: the control nodes every CUDA process opens, and NVIDIA_VISIBLE_DEVICES=void as NVIDIA's
 * generated specs set it, so that an NVIDIA runtime hook in its legacy mode, seeing an image's
 * NVIDIA_VISIBLE_DEVICES=all (CUDA base images set it), adds no GPU beyond the ones this spec gives.
 */
static json_t *common_edits(void)
{
	return json_pack("{s:[s], s:[{s:s},{s:s},{s:s}]}", "env", "NVIDIA_VISIBLE_DEVICES=void", "deviceNodes",
			 "path", "/dev/nvidiactl", "path", "/dev/nvidia-uvm", "path", "/dev/nvidia-uvm-tools");
}

/* The spec's text, or NULL with *n_listed 0 when no device can be listed; marks devs. -1: out of memory. */
static int build(const struct minors *m, struct cdi_mig_device *devs, size_t n, char **text, size_t *n_listed)
{
	json_t *spec = json_pack("{s:s, s:s, s:[], s:o}", "cdiVersion", CDI_VERSION, "kind", CDI_KIND, "devices",
				 "containerEdits", common_edits());
	json_t *list = spec != NULL ? json_object_get(spec, "devices") : NULL;

	*text = NULL;
	*n_listed = 0;
	if (list == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		json_t *e = device_entry(m, &devs[i]);

		devs[i].listed = e != NULL;
		if (e == NULL && devs[i].why[0] == '\0')
			goto nomem;
		if (e != NULL && json_array_append_new(list, e) < 0)
			goto nomem;
		*n_listed += e != NULL;
	}
	if (*n_listed > 0 && (*text = json_dumps(spec, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		goto nomem;
	json_decref(spec);
	return 0;
nomem:
	json_decref(spec);
	return -1;
}

/* ---- the file ---- */

static int sync_dir(const char *dir, struct kerf_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fsync(fd) < 0) {
		kerf_err_set(err, KERF_EIO, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int write_all(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Temporary file in the same folder (rename is atomic only within one file system), 0644, synced, renamed. */
static int replace_file(const struct cdi_spec *s, const char *text, struct kerf_err *err)
{
	char tmp[PATH_MAX + 32];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", s->dir, CDI_SPEC_FILE);
	if ((fd = mkstemp(tmp)) < 0)
		return kerf_err_set(err, errno == ENOENT ? KERF_ENOTFOUND : KERF_EIO, "%s: %s", s->dir, strerror(errno));
	if (fchmod(fd, 0644) < 0 || write_all(fd, text) < 0 || write_all(fd, "\n") < 0 || fsync(fd) < 0) {
		kerf_err_set(err, KERF_EIO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		kerf_err_set(err, KERF_EIO, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, s->path) < 0) {
		kerf_err_set(err, KERF_EIO, "%s: %s", s->path, strerror(errno));
		goto fail;
	}
	return sync_dir(s->dir, err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

static int remove_file(const struct cdi_spec *s, struct kerf_err *err)
{
	if (unlink(s->path) < 0 && errno != ENOENT)
		return kerf_err_set(err, KERF_EIO, "%s: %s", s->path, strerror(errno));
	return sync_dir(s->dir, err);
}

/* ---- the set the file lists ---- */

static void forget(struct cdi_spec *s)
{
	for (size_t i = 0; i < s->n_listed; i++)
		free(s->listed[i]);
	free(s->listed);
	s->listed = NULL;
	s->n_listed = 0;
	free(s->written);
	s->written = NULL;
}

/* Takes text as what the file now holds, and the devices marked listed as what it lists. */
static int remember(struct cdi_spec *s, char *text, const struct cdi_mig_device *devs, size_t n)
{
	forget(s);
	s->written = text;
	if (n > 0 && (s->listed = calloc(n, sizeof(*s->listed))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (devs[i].listed && (s->listed[s->n_listed++] = strdup(devs[i].uuid)) == NULL)
			return -1;
	return 0;
}

static bool lists(const struct cdi_spec *s, const char *uuid)
{
	for (size_t i = 0; i < s->n_listed; i++)
		if (s->listed[i] != NULL && strcmp(s->listed[i], uuid) == 0)
			return true;
	return false;
}

/* After a failure: the file is as it was, so a device is listed if the last successful update listed it. */
static void mark_unchanged(const struct cdi_spec *s, struct cdi_mig_device *devs, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		devs[i].listed = lists(s, devs[i].uuid);
		if (devs[i].listed)
			devs[i].why[0] = '\0';
		else
			snprintf(devs[i].why, sizeof(devs[i].why), "%s", why);
	}
}

/* ---- public ---- */

struct cdi_spec *cdi_spec_new(const struct cdi_config *cfg, struct kerf_err *err)
{
	struct cdi_spec *s = calloc(1, sizeof(*s));
	const char *dir = cfg != NULL && cfg->spec_dir != NULL ? cfg->spec_dir : CDI_SPEC_DIR_DEFAULT;
	const char *minors = cfg != NULL && cfg->mig_minors != NULL ? cfg->mig_minors : CDI_MIG_MINORS_DEFAULT;

	if (s == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "CDI spec: out of memory");
		return NULL;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->path, sizeof(s->path), "%s/%s", dir, CDI_SPEC_FILE);
	snprintf(s->minors_path, sizeof(s->minors_path), "%s", minors);
	return s;
}

void cdi_spec_free(struct cdi_spec *s)
{
	if (s == NULL)
		return;
	forget(s);
	free(s);
}

const char *cdi_spec_path(const struct cdi_spec *s)
{
	return s->path;
}

int cdi_spec_update(struct cdi_spec *s, struct cdi_mig_device *devs, size_t n, struct kerf_err *err)
{
	struct minors m = {0};
	char *text = NULL;
	size_t n_listed;
	struct stat sb;
	int rc;

	for (size_t i = 0; i < n; i++)
		devs[i].why[0] = '\0';
	/* No device, nothing to name: a node without MIG devices needs no table (nor a driver that has one). */
	if (n > 0 && minors_read(s->minors_path, &m, err) < 0) {
		mark_unchanged(s, devs, n, "the CDI spec was not rewritten");
		return kerf_err_prefix(err, "CDI spec %s not rewritten", s->path);
	}
	rc = build(&m, devs, n, &text, &n_listed);
	free(m.v);
	if (rc < 0) {
		mark_unchanged(s, devs, n, "the CDI spec was not rewritten");
		return kerf_err_set(err, KERF_ENOMEM, "CDI spec %s: out of memory", s->path);
	}
	/* Same content, and the file is still there: nothing to do (no rename for the runtimes to re-read). */
	if (text != NULL && s->written != NULL && strcmp(text, s->written) == 0 && stat(s->path, &sb) == 0) {
		free(text);
		return 0;
	}
	if ((text != NULL ? replace_file(s, text, err) : remove_file(s, err)) < 0) {
		free(text);
		mark_unchanged(s, devs, n, "the CDI spec was not rewritten");
		return kerf_err_prefix(err, "CDI spec %s not rewritten", s->path);
	}
	if (remember(s, text, devs, n) < 0) {
		/* The file is written but the record of it is not whole: count it as listing nothing more. */
		forget(s);
		return kerf_err_set(err, KERF_ENOMEM, "CDI spec %s: out of memory", s->path);
	}
	return 0;
}
