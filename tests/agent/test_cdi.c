/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cdi.c — kerf's CDI spec writer (src/agent/cdi.h) on its own: what the file lists and names, and what it
 * does when it cannot name a device or cannot write. Every check reads the file back with jansson; with
 * tools/cdi-check's binary as argv[1], the CDI reference library reads it too (skipped without).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cdi.h"

#define U1 "MIG-11111111-1111-5111-8111-111111111111"
#define U2 "MIG-22222222-2222-5222-8222-222222222222"
#define U3 "MIG-33333333-3333-5333-8333-333333333333"

static const char *cdi_check; /* argv[1]: tools/cdi-check built, or NULL */

struct fixture {
	char dir[64], specs[96], minors[96], spec[160];
	struct cdi_spec *s;
};

/* Whether name is one of the n names of skip. */
static bool skipped(const char *name, const char *const *skip, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, skip[i]) == 0)
			return true;
	return false;
}

/* A minors table as the driver writes it, for GPU minors 3 and 4: every GI 0..14 and CI 0..7 numbered in
 * order after config and monitor, except the n_skip lines of skip ("gpuM/giG[/ciC]/access" names). */
static void write_minors(const char *path, const char *const *skip, size_t n_skip)
{
	FILE *f = fopen(path, "w");
	unsigned minor = 3;

	assert_non_null(f);
	fprintf(f, "config 1\nmonitor 2\n");
	for (unsigned g = 3; g <= 4; g++)
		for (unsigned gi = 0; gi < 15; gi++) {
			char name[64];

			snprintf(name, sizeof(name), "gpu%u/gi%u/access", g, gi);
			if (!skipped(name, skip, n_skip))
				fprintf(f, "%s %u\n", name, minor);
			minor++;
			for (unsigned ci = 0; ci < 8; ci++) {
				snprintf(name, sizeof(name), "gpu%u/gi%u/ci%u/access", g, gi, ci);
				if (!skipped(name, skip, n_skip))
					fprintf(f, "%s %u\n", name, minor);
				minor++;
			}
		}
	assert_int_equal(fclose(f), 0);
}

/* The minor write_minors gives a GI (ci < 0) or CI. */
static unsigned cap_minor(unsigned gpu, unsigned gi, int ci)
{
	return 3 + (gpu - 3) * 15 * 9 + gi * 9 + (ci < 0 ? 0 : 1 + (unsigned)ci);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kerf_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kerf-cdi-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->specs, sizeof(f->specs), "%s/cdi", f->dir);
	snprintf(f->minors, sizeof(f->minors), "%s/mig-minors", f->dir);
	snprintf(f->spec, sizeof(f->spec), "%s/%s", f->specs, CDI_SPEC_FILE);
	assert_int_equal(mkdir(f->specs, 0755), 0);
	write_minors(f->minors, NULL, 0);
	f->s = cdi_spec_new(&(struct cdi_config){.spec_dir = f->specs, .mig_minors = f->minors}, &err);
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	cdi_spec_free(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void update_ok(struct fixture *f, struct cdi_mig_device *d, size_t n)
{
	struct kerf_err err;

	if (cdi_spec_update(f->s, d, n, &err) < 0)
		fail_msg("%s", err.msg);
}

static json_t *load(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);

	if (j == NULL)
		fail_msg("%s: %s", path, je.text);
	return j;
}

/* The spec's device entry named uuid, or NULL. */
static json_t *device(json_t *spec, const char *uuid)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(spec, "devices"), i, d)
		if (strcmp(json_string_value(json_object_get(d, "name")), uuid) == 0)
			return d;
	return NULL;
}

/* The device's node paths, comma-joined. */
static void nodes_of(json_t *edits, char *out, size_t cap)
{
	size_t i, o = 0;
	json_t *n;

	out[0] = '\0';
	json_array_foreach(json_object_get(edits, "deviceNodes"), i, n)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "",
				      json_string_value(json_object_get(n, "path")));
}

static void assert_nodes(json_t *spec, const char *uuid, unsigned gpu, unsigned gi, unsigned ci)
{
	json_t *d = device(spec, uuid);
	char have[512], want[512];

	if (d == NULL)
		fail_msg("%s is not in the spec", uuid);
	nodes_of(json_object_get(d, "containerEdits"), have, sizeof(have));
	snprintf(want, sizeof(want), "/dev/nvidia%u,/dev/nvidia-caps/nvidia-cap%u,/dev/nvidia-caps/nvidia-cap%u", gpu,
		 cap_minor(gpu, gi, -1), cap_minor(gpu, gi, (int)ci));
	assert_string_equal(have, want);
}

static size_t n_devices(json_t *spec)
{
	return json_array_size(json_object_get(spec, "devices"));
}

/* Files in the spec folder other than the spec (a temporary file left behind would be one). */
static unsigned strays(struct fixture *f)
{
	DIR *d = opendir(f->specs);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		     strcmp(e->d_name, CDI_SPEC_FILE) != 0;
	closedir(d);
	return n;
}

/*
 * The spec lists exactly the devices given, each under its MIG UUID with its parent GPU's node (by device
 * minor) and its GI's and CI's capability nodes from the minors table; the common edits carry the control
 * nodes; kind and version are kerf's; the file is 0644 and nothing else is left in the folder.
 */
static void test_spec_lists_exactly_the_devices_with_their_nodes(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U2, .gpu_minor = 3, .gi = 13, .ci = 0},
		{.uuid = U3, .gpu_minor = 4, .gi = 2, .ci = 1},
	};
	char common[512];
	struct stat sb;
	json_t *spec;

	update_ok(f, d, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_true(d[i].listed);
		assert_string_equal(d[i].why, "");
	}
	spec = load(f->spec);
	assert_string_equal(json_string_value(json_object_get(spec, "cdiVersion")), CDI_VERSION);
	assert_string_equal(json_string_value(json_object_get(spec, "kind")), "kerf.dev/mig");
	assert_int_equal(n_devices(spec), 3);
	assert_nodes(spec, U1, 3, 1, 0);
	assert_nodes(spec, U2, 3, 13, 0);
	assert_nodes(spec, U3, 4, 2, 1);
	nodes_of(json_object_get(spec, "containerEdits"), common, sizeof(common));
	assert_string_equal(common, "/dev/nvidiactl,/dev/nvidia-uvm,/dev/nvidia-uvm-tools");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(spec, "containerEdits"),
									      "env"), 0)),
			    "NVIDIA_VISIBLE_DEVICES=void");
	json_decref(spec);
	assert_int_equal(stat(f->spec, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(strays(f), 0);
	assert_string_equal(cdi_spec_path(f->s), f->spec);
}

/* A new set replaces the old one whole: a device that is gone is no longer listed. */
static void test_spec_follows_the_devices_and_drops_the_gone(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device before[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U2, .gpu_minor = 3, .gi = 2, .ci = 0},
	};
	struct cdi_mig_device after[] = {
		{.uuid = U2, .gpu_minor = 3, .gi = 2, .ci = 0},
		{.uuid = U3, .gpu_minor = 3, .gi = 5, .ci = 0},
	};
	json_t *spec;

	update_ok(f, before, 2);
	update_ok(f, after, 2);
	spec = load(f->spec);
	assert_int_equal(n_devices(spec), 2);
	assert_null(device(spec, U1));
	assert_nodes(spec, U2, 3, 2, 0);
	assert_nodes(spec, U3, 3, 5, 0);
	json_decref(spec);
	assert_int_equal(strays(f), 0);
}

/*
 * A device whose node cannot be named is left out, with the reason: no line for its GI, none for its CI, no
 * minor for its GPU, a UUID that is no legal CDI name. The others are listed as usual.
 */
static void test_missing_minors_leave_a_device_out(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U2, .gpu_minor = 3, .gi = 7, .ci = 0},       /* its GI's line is missing */
		{.uuid = U3, .gpu_minor = 3, .gi = 8, .ci = 0},       /* its CI's line is missing */
		{.uuid = "MIG-x", .gpu_minor = CDI_MINOR_UNKNOWN, .gi = 1, .ci = 0},
		{.uuid = "MIG-GPU-0b2c/1/0", .gpu_minor = 3, .gi = 1, .ci = 0}, /* pre-R470 UUID */
		{.uuid = "MIG-y", .gpu_minor = 9, .gi = 1, .ci = 0},  /* a GPU the table does not have */
	};
	static const char *const skip[] = {"gpu3/gi7/access", "gpu3/gi8/ci0/access"};
	json_t *spec;

	write_minors(f->minors, skip, 2);
	update_ok(f, d, 6);
	assert_true(d[0].listed);
	assert_false(d[1].listed);
	assert_string_equal(d[1].why, "no minor for gpu3/gi7/access");
	assert_false(d[2].listed);
	assert_string_equal(d[2].why, "no minor for gpu3/gi8/ci0/access");
	assert_false(d[3].listed);
	assert_non_null(strstr(d[3].why, "device minor"));
	assert_false(d[4].listed);
	assert_non_null(strstr(d[4].why, "not a legal CDI device name"));
	assert_false(d[5].listed);
	assert_string_equal(d[5].why, "no minor for gpu9/gi1/access");
	spec = load(f->spec);
	assert_int_equal(n_devices(spec), 1);
	assert_nodes(spec, U1, 3, 1, 0);
	json_decref(spec);
}

/*
 * A spec that cannot be written (its folder is gone) fails and leaves the file as it was: the devices the old
 * file lists stay listed, a new one is not. Once the folder is back, the next update lists it.
 */
static void test_write_failure_keeps_the_old_file_and_new_devices_unlisted(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device old[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U2, .gpu_minor = 3, .gi = 2, .ci = 0},
	};
	struct cdi_mig_device now[] = {
		{.uuid = U2, .gpu_minor = 3, .gi = 2, .ci = 0},
		{.uuid = U3, .gpu_minor = 3, .gi = 3, .ci = 0},
	};
	char away[128];
	struct kerf_err err;
	json_t *spec;

	update_ok(f, old, 2);
	snprintf(away, sizeof(away), "%s/away", f->dir);
	assert_int_equal(rename(f->specs, away), 0);
	assert_int_equal(cdi_spec_update(f->s, now, 2, &err), -1);
	assert_non_null(strstr(err.msg, "not rewritten"));
	assert_true(now[0].listed);  /* the old file lists it */
	assert_false(now[1].listed); /* new: not until a spec lists it */
	assert_int_equal(rename(away, f->specs), 0);
	spec = load(f->spec);
	assert_int_equal(n_devices(spec), 2);
	assert_non_null(device(spec, U1));
	assert_null(device(spec, U3));
	json_decref(spec);

	update_ok(f, now, 2);
	assert_true(now[1].listed);
	spec = load(f->spec);
	assert_non_null(device(spec, U3));
	assert_null(device(spec, U1));
	json_decref(spec);
}

/* A writer that has written nothing yet and cannot write counts as listing nothing. */
static void test_first_write_failing_lists_nothing(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0}};
	struct kerf_err err;

	assert_int_equal(rmdir(f->specs), 0);
	assert_int_equal(cdi_spec_update(f->s, d, 1, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_false(d[0].listed);
}

/* An unreadable minors table is a failure too (every device would lose its nodes): the file stays. */
static void test_unreadable_minors_table_keeps_the_old_file(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U2, .gpu_minor = 3, .gi = 2, .ci = 0},
	};
	struct kerf_err err;
	json_t *spec;

	update_ok(f, d, 1);
	assert_int_equal(unlink(f->minors), 0);
	assert_int_equal(cdi_spec_update(f->s, d, 2, &err), -1);
	assert_non_null(strstr(err.msg, "mig-minors"));
	assert_true(d[0].listed);
	assert_false(d[1].listed);
	spec = load(f->spec);
	assert_int_equal(n_devices(spec), 1);
	json_decref(spec);
}

/* No device to list: the file goes (a CDI spec must list at least one device), and comes back with one. */
static void test_no_devices_removes_the_file(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0}};
	struct stat sb;

	update_ok(f, d, 1);
	assert_int_equal(stat(f->spec, &sb), 0);
	update_ok(f, d, 0);
	assert_int_equal(stat(f->spec, &sb), -1);
	update_ok(f, d, 1);
	assert_int_equal(stat(f->spec, &sb), 0);
}

/* With no device to list the minors table is not needed: a node with none yet does not fail for its lack. */
static void test_no_devices_need_no_minors_table(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0}};
	struct kerf_err err;
	struct stat sb;

	assert_int_equal(unlink(f->minors), 0);
	update_ok(f, d, 0);
	assert_int_equal(stat(f->spec, &sb), -1);
	assert_int_equal(cdi_spec_update(f->s, d, 1, &err), -1);
	assert_false(d[0].listed);
}

/* The same content again is not rewritten (the runtimes' watchers see no change); a removed file is. */
static void test_same_content_is_not_rewritten(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0}};
	struct stat a, b;

	update_ok(f, d, 1);
	assert_int_equal(stat(f->spec, &a), 0);
	update_ok(f, d, 1);
	assert_int_equal(stat(f->spec, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(unlink(f->spec), 0);
	update_ok(f, d, 1);
	assert_int_equal(stat(f->spec, &b), 0);
	assert_true(d[0].listed);
}

/* What cdi-check prints for the fixture's spec folder, into out; its exit status. */
static int run_check(struct fixture *f, char *out, size_t cap)
{
	char cmd[512];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' '%s' 2>&1", cdi_check, f->specs);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	return WEXITSTATUS(pclose(p));
}

/*
 * The CDI reference library (the code containerd and CRI-O resolve names with) accepts the spec: no error for
 * the file, exactly the devices written, each resolved under kerf's kind to its three nodes, and the common
 * edits. Beside a spec of nvidia-ctk's kind naming the same MIG UUID it still resolves both (no conflict);
 * a second spec of kerf's own kind naming it is a conflict, which the library reports (why kerf has a kind
 * of its own).
 */
static void test_the_cdi_library_accepts_the_spec_and_resolves_each_device(void **state)
{
	struct fixture *f = *state;
	struct cdi_mig_device d[] = {
		{.uuid = U1, .gpu_minor = 3, .gi = 1, .ci = 0},
		{.uuid = U3, .gpu_minor = 4, .gi = 2, .ci = 1},
	};
	char out[4096], want[2048], path[192];
	FILE *o;

	if (cdi_check == NULL)
		skip();
	update_ok(f, d, 2);
	snprintf(want, sizeof(want),
		 "kerf.dev/mig=" U1 ": /dev/nvidia3 /dev/nvidia-caps/nvidia-cap%u /dev/nvidia-caps/nvidia-cap%u\n"
		 "kerf.dev/mig=" U3 ": /dev/nvidia4 /dev/nvidia-caps/nvidia-cap%u /dev/nvidia-caps/nvidia-cap%u\n"
		 "common: /dev/nvidia-uvm /dev/nvidia-uvm-tools /dev/nvidiactl NVIDIA_VISIBLE_DEVICES=void\n",
		 cap_minor(3, 1, -1), cap_minor(3, 1, 0), cap_minor(4, 2, -1), cap_minor(4, 2, 1));
	assert_int_equal(run_check(f, out, sizeof(out)), 0);
	assert_string_equal(out, want);

	snprintf(path, sizeof(path), "%s/nvidia.json", f->specs);
	assert_non_null(o = fopen(path, "w"));
	fprintf(o, "{\"cdiVersion\":\"0.5.0\",\"kind\":\"nvidia.com/gpu\",\"devices\":[{\"name\":\"%s\","
		   "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/nvidia3\"}]}}]}\n", U1);
	assert_int_equal(fclose(o), 0);
	assert_int_equal(run_check(f, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "kerf.dev/mig=" U1 ":"));
	assert_non_null(strstr(out, "nvidia.com/gpu=" U1 ":"));

	snprintf(path, sizeof(path), "%s/other.json", f->specs);
	assert_non_null(o = fopen(path, "w"));
	fprintf(o, "{\"cdiVersion\":\"0.5.0\",\"kind\":\"kerf.dev/mig\",\"devices\":[{\"name\":\"%s\","
		   "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/nvidia3\"}]}}]}\n", U1);
	assert_int_equal(fclose(o), 0);
	assert_int_equal(run_check(f, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "conflicting device"));
	assert_null(strstr(out, "kerf.dev/mig=" U1 ":"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spec_lists_exactly_the_devices_with_their_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_follows_the_devices_and_drops_the_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_minors_leave_a_device_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_keeps_the_old_file_and_new_devices_unlisted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_first_write_failing_lists_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_minors_table_keeps_the_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_devices_removes_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_devices_need_no_minors_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_content_is_not_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_cdi_library_accepts_the_spec_and_resolves_each_device, setup,
						teardown),
	};

	cdi_check = argc > 1 ? argv[1] : NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
