/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_nvml.c — the NVML backend against the simulated library (tests/fakenvml): loading and its failures,
 * reading every built-in model back through NVML, creating and destroying instances, error mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakestate.h"
#include "nvml.h"

static char dir[] = "/tmp/kerf-test-nvml-XXXXXX";
static char state_path[300];
static struct fk_state st;

static void init_gpus(const char *const *models, unsigned n)
{
	struct kerf_err err;

	if (fk_init(state_path, models, n, &err) != 0)
		fail_msg("fk_init: %s", err.msg);
}

/* Applies edit to the locked state file (setup done the way an operator would, bypassing NVML). */
static void edit(const char *layout0, int busy_start)
{
	struct kerf_err err;
	int fd = fk_lock(state_path, &st, &err);

	assert_true(fd >= 0);
	if (layout0 != NULL && fk_create_layout(&st, 0, layout0, &err) != 0)
		fail_msg("create %s: %s", layout0, err.msg);
	if (busy_start >= 0 && fk_set_pid(&st, 0, (unsigned)busy_start, 4242, &err) != 0)
		fail_msg("pid: %s", err.msg);
	assert_int_equal(fk_unlock(fd, &st, true, &err), 0);
}

static void arm(const char *func, unsigned nth, int code)
{
	struct kerf_err err;
	struct fk_fault f = { .nth = nth, .action = FK_FAIL, .code = code };
	int fd = fk_lock(state_path, &st, &err);

	snprintf(f.func, sizeof(f.func), "%s", func);
	assert_int_equal(fk_add_fault(&st, &f, &err), 0);
	assert_int_equal(fk_unlock(fd, &st, true, &err), 0);
}

static struct nvml *open_fake(void)
{
	struct kerf_err err;
	struct nvml *nv = nvml_open(FAKENVML_LIB, &err);

	if (nv == NULL)
		fail_msg("nvml_open: %s", err.msg);
	return nv;
}

static struct nvml_gpu *read0(struct nvml *nv)
{
	static struct nvml_gpu gpu;
	struct kerf_err err;

	if (nvml_read_gpu(nv, 0, &gpu, &err) != 0)
		fail_msg("nvml_read_gpu: %s", err.msg);
	return &gpu;
}

static int group_setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(state_path, sizeof(state_path), "%s/gpus", dir);
	setenv(FK_ENV_STATE, state_path, 1);
	return 0;
}

static int group_teardown(void **state)
{
	char path[400];

	(void)state;
	unlink(state_path);
	snprintf(path, sizeof(path), "%s", dir);
	rmdir(path);
	return 0;
}

/* ---- loading ----------------------------------------------------------------------------------------- */

static void test_open_names_a_missing_library(void **state)
{
	struct kerf_err err;

	(void)state;
	assert_null(nvml_open("/nonexistent/libnvidia-ml.so.1", &err));
	assert_int_equal(err.code, KERF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "/nonexistent/libnvidia-ml.so.1"));
	assert_non_null(strstr(err.msg, "KERF_NVML_LIBRARY"));
}

static void test_open_uses_the_environment_variable(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;

	(void)state;
	init_gpus(models, 1);
	setenv(NVML_LIBRARY_ENV, FAKENVML_LIB, 1);
	nv = nvml_open(NULL, &err);
	unsetenv(NVML_LIBRARY_ENV);
	assert_non_null(nv);
	assert_string_equal(nvml_library(nv), FAKENVML_LIB);
	nvml_close(nv);
}

static void test_open_reports_driver_not_loaded(void **state)
{
	struct kerf_err err;

	(void)state;
	setenv(FK_ENV_STATE, "/nonexistent/state", 1);
	assert_null(nvml_open(FAKENVML_LIB, &err));
	setenv(FK_ENV_STATE, state_path, 1);
	assert_non_null(strstr(err.msg, "driver is not loaded"));
}

static void test_open_reports_a_driver_without_the_placement_api(void **state)
{
	struct kerf_err err;

	(void)state;
	assert_null(nvml_open(FAKENVML_OLD_LIB, &err));
	assert_int_equal(err.code, KERF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "nvmlDeviceCreateGpuInstanceWithPlacement"));
	assert_non_null(strstr(err.msg, "too old"));
}

static void test_init_refused_is_reported(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;

	(void)state;
	init_gpus(models, 1);
	arm("nvmlInit_v2", 1, 4 /* NO_PERMISSION */);
	assert_null(nvml_open(FAKENVML_LIB, &err));
	assert_non_null(strstr(err.msg, "no permission"));
}

/* ---- reading ----------------------------------------------------------------------------------------- */

static void warn_count(void *arg, const char *msg)
{
	(void)msg;
	(*(unsigned *)arg)++;
}

/* Every built-in model, simulated and read back through NVML, gives the same table: the backend's reading
 * of profile infos and placements and the simulator's answers agree field by field. */
static void test_every_builtin_model_reads_back_identically(void **state)
{
	const struct mig_catalog *cat = mig_catalog_builtin();

	(void)state;
	for (unsigned i = 0; i < cat->n_models; i++) {
		const char *name = cat->models[i].name;
		struct nvml *nv;
		struct nvml_gpu *gpu;
		unsigned warnings = 0;

		init_gpus(&name, 1);
		nv = open_fake();
		gpu = read0(nv);
		assert_true(gpu->model_from_nvml);
		assert_ptr_equal(gpu->builtin, &cat->models[i]);
		assert_string_equal(gpu->name, cat->models[i].aliases[0]);
		assert_int_equal(nvml_compare_model(&gpu->model, gpu->builtin, warn_count, &warnings), 0);
		assert_int_equal(gpu->model.n_profiles, cat->models[i].n_profiles);
		nvml_close(nv);
	}
}

struct warnings {
	unsigned n;
	char first[KERF_ERR_MSG_MAX];
};

static void keep_first(void *arg, const char *msg)
{
	struct warnings *w = arg;

	if (w->n++ == 0)
		snprintf(w->first, sizeof(w->first), "%s", msg);
}

static void test_catalog_disagreement_names_model_profile_and_field(void **state)
{
	const struct mig_model *b = mig_catalog_find(mig_catalog_builtin(), "H100-80GB-SXM", NULL);
	struct mig_model read = *b;
	struct warnings w = { 0 };
	int p = mig_profile_by_name(&read, "1g.20gb");

	(void)state;
	read.profiles[p].n_starts = 3; /* the driver would offer 0,2,4 instead of 0,2,4,6 */
	assert_int_equal(nvml_compare_model(&read, b, keep_first, &w), 1);
	assert_string_equal(w.first,
			    "H100-80GB-SXM: profile 1g.20gb (ID 15): starts: NVML reports 0,2,4, the built-in table says 0,2,4,6");
	read = *b;
	read.n_profiles--; /* the driver lacks 7g.80gb */
	w.n = 0;
	assert_int_equal(nvml_compare_model(&read, b, keep_first, &w), 1);
	assert_non_null(strstr(w.first, "7g.80gb"));
	assert_non_null(strstr(w.first, "does not offer"));
}

static void test_runtime_model_joins_a_catalog_once(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM", "H100-80GB-SXM" };
	struct mig_catalog *cat = mig_catalog_new(NULL);
	struct kerf_err err;
	struct nvml *nv;

	(void)state;
	init_gpus(models, 2);
	nv = open_fake();
	assert_int_equal(nvml_catalog_add(cat, read0(nv), &err), 0);
	assert_int_equal(nvml_catalog_add(cat, read0(nv), &err), 0);
	assert_int_equal(cat->n_models, 1);
	assert_string_equal(cat->models[0].provenance, "nvml");
	assert_non_null(mig_catalog_find(cat, "NVIDIA H100 80GB HBM3", NULL));
	mig_catalog_free(cat);
	nvml_close(nv);
}

static void test_reads_instances_uuids_and_processes(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM" };
	struct nvml *nv;
	struct nvml_gpu *gpu;
	struct mig_layout l;
	unsigned procs = 9;
	struct kerf_err err;

	(void)state;
	init_gpus(models, 1);
	edit("3g.40gb@4,2g.20gb@0,1g.10gb@2", 2);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(gpu->n_instances, 3);
	assert_int_equal(gpu->inst[0].start, 0); /* sorted by start */
	assert_int_equal(gpu->inst[1].start, 2);
	assert_int_equal(gpu->inst[2].start, 4);
	assert_int_equal(gpu->inst[2].size, 4);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(gpu->inst[i].n_ci, 1);
		assert_memory_equal(gpu->inst[i].ci[0].uuid, "MIG-", 4);
	}
	assert_false(nvml_instance_busy(&gpu->inst[0]));
	assert_true(nvml_instance_busy(&gpu->inst[1]));
	nvml_gpu_layout(gpu, &l);
	assert_int_equal(l.n, 3);
	assert_true(l.inst[1].used);
	assert_int_equal(nvml_mig_processes(nv, 0, gpu->inst[1].ci[0].uuid, &procs, &err), 0);
	assert_int_equal(procs, 1);
	assert_int_equal(nvml_mig_processes(nv, 0, gpu->inst[0].ci[0].uuid, &procs, &err), 0);
	assert_int_equal(procs, 0);
	assert_int_equal(nvml_mig_processes(nv, 0, "MIG-nope", &procs, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	nvml_close(nv);
}

/*
 * NVML answering the compute-instance profile walk with INVALID_ARGUMENT at once (what a stale handle does)
 * must not read as "this GPU instance has no compute instance, so it is free": the read fails, cannot tell,
 * and the next read sees the busy instance as it is. Before, the empty walk was cached for the life of the
 * process and every instance of that profile read as free, to be destroyed.
 */
static void test_an_unreadable_compute_profile_walk_is_cannot_tell_not_free(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM" };
	struct nvml_gpu gpu;
	struct nvml *nv;
	struct kerf_err err;

	(void)state;
	init_gpus(models, 1);
	edit("3g.40gb@4,2g.20gb@0,1g.10gb@2", 2);
	arm("nvmlGpuInstanceGetComputeInstanceProfileInfoV", 1, 2 /* INVALID_ARGUMENT */);
	nv = open_fake();
	assert_int_equal(nvml_read_gpu(nv, 0, &gpu, &err), -1);
	assert_non_null(strstr(err.msg, "cannot be told"));
	assert_int_equal(nvml_read_gpu(nv, 0, &gpu, &err), 0); /* not cached: read again, right */
	assert_int_equal(gpu.n_instances, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(gpu.inst[i].n_ci, 1);
	assert_true(nvml_instance_busy(&gpu.inst[1]));
	nvml_close(nv);
}

/* A graphics process (the +gfx profiles) or an MPS client on a MIG device makes it used, as a compute process
 * does: NVML lists the three in separate calls, and kerf asks all three. */
static void test_graphics_and_mps_processes_count_as_use(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM" };
	struct nvml_gpu gpu;
	struct nvml *nv;
	struct kerf_err err;
	unsigned procs;

	(void)state;
	init_gpus(models, 1);
	edit("2g.20gb@0,1g.10gb@2,3g.40gb@4", -1);
	{
		int fd = fk_lock(state_path, &st, &err);

		assert_true(fd >= 0);
		assert_int_equal(fk_set_pid(&st, 0, 0, 5001, &err), 0);
		assert_int_equal(fk_set_pid_kind(&st, 0, 0, FK_PROC_GRAPHICS, &err), 0);
		assert_int_equal(fk_set_pid(&st, 0, 4, 5002, &err), 0);
		assert_int_equal(fk_set_pid_kind(&st, 0, 4, FK_PROC_MPS, &err), 0);
		assert_int_equal(fk_unlock(fd, &st, true, &err), 0);
	}
	nv = open_fake();
	assert_int_equal(nvml_read_gpu(nv, 0, &gpu, &err), 0);
	assert_true(nvml_instance_busy(&gpu.inst[0]));  /* graphics */
	assert_false(nvml_instance_busy(&gpu.inst[1]));
	assert_true(nvml_instance_busy(&gpu.inst[2]));  /* MPS */
	assert_int_equal(nvml_mig_processes(nv, 0, gpu.inst[0].ci[0].uuid, &procs, &err), 0);
	assert_int_equal(procs, 1);
	nvml_close(nv);
}

static void test_mig_disabled_reads_builtin_and_refuses_changes(void **state)
{
	static const char *const models[] = { "A100-40GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;
	int fd;

	(void)state;
	init_gpus(models, 1);
	fd = fk_lock(state_path, &st, &err);
	st.gpu[0].mig_current = st.gpu[0].mig_pending = 0;
	fk_unlock(fd, &st, true, &err);
	nv = open_fake();
	gpu = read0(nv);
	assert_false(gpu->model_from_nvml);
	assert_int_equal(gpu->n_instances, 0);
	assert_int_equal(nvml_create(nv, gpu, 0, 0, &err), -1);
	assert_non_null(strstr(err.msg, "MIG is disabled on GPU 0"));
	nvml_close(nv);
}

/* ---- changes ----------------------------------------------------------------------------------------- */

static void test_create_uses_the_exact_placement(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;

	(void)state;
	init_gpus(models, 1);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(nvml_create(nv, gpu, (unsigned)mig_profile_by_name(&gpu->model, "2g.20gb"), 4, &err), 0);
	assert_int_equal(nvml_create(nv, gpu, (unsigned)mig_profile_by_name(&gpu->model, "1g.10gb"), 6, &err), 0);
	assert_int_equal(gpu->n_instances, 2);
	assert_int_equal(gpu->inst[0].start, 4);
	assert_int_equal(gpu->inst[1].start, 6);
	assert_int_equal(gpu->inst[0].n_ci, 1);
	assert_int_equal(gpu->inst[0].ci[0].slices, 2);
	nvml_close(nv);
}

static void test_hopper_1g_rev2_gets_the_rev1_compute_profile(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM", "A100-40GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu gpu;

	(void)state;
	init_gpus(models, 2);
	nv = open_fake();
	/* H100 1g.20gb has 26 SMs against 16 for 1g.10gb: its spanning CI is profile 1_SLICE_REV1 (ID 7). */
	assert_int_equal(nvml_read_gpu(nv, 0, &gpu, &err), 0);
	assert_int_equal(nvml_create(nv, &gpu, (unsigned)mig_profile_by_name(&gpu.model, "1g.20gb"), 2, &err), 0);
	assert_int_equal(gpu.inst[0].ci[0].profile_id, 7);
	/* A100 1g.10gb has the SMs of 1g.5gb: the plain 1_SLICE CI (ID 0) spans it. */
	assert_int_equal(nvml_read_gpu(nv, 1, &gpu, &err), 0);
	assert_int_equal(nvml_create(nv, &gpu, (unsigned)mig_profile_by_name(&gpu.model, "1g.10gb"), 2, &err), 0);
	assert_int_equal(gpu.inst[0].ci[0].profile_id, 0);
	nvml_close(nv);
}

static void test_create_on_an_occupied_placement_says_so(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;

	(void)state;
	init_gpus(models, 1);
	edit("2g.12gb@0", -1);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(nvml_create(nv, gpu, (unsigned)mig_profile_by_name(&gpu->model, "1g.6gb"), 1, &err), -1);
	assert_int_equal(err.code, KERF_ECONFLICT);
	assert_non_null(strstr(err.msg, "placement occupied"));
	assert_non_null(strstr(err.msg, "1g.6gb@1"));
	assert_int_equal(gpu->n_instances, 1); /* re-read after the failure */
	nvml_close(nv);
}

static void test_destroying_a_busy_instance_says_instance_busy(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;

	(void)state;
	init_gpus(models, 1);
	edit("2g.12gb@0,2g.12gb@2", 2);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(nvml_destroy(nv, gpu, gpu->inst[1].gi_id, &err), -1);
	assert_int_equal(err.code, KERF_EBUSY);
	assert_non_null(strstr(err.msg, "instance busy"));
	assert_int_equal(gpu->n_instances, 2);
	assert_int_equal(nvml_destroy(nv, gpu, gpu->inst[0].gi_id, &err), 0);
	assert_int_equal(gpu->n_instances, 1);
	assert_int_equal(gpu->inst[0].start, 2);
	nvml_close(nv);
}

static void test_gpu_instance_ids_do_not_follow_placement(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;
	unsigned first, p;
	char uuid[NVML_UUID_MAX];

	(void)state;
	init_gpus(models, 1);
	nv = open_fake();
	gpu = read0(nv);
	p = (unsigned)mig_profile_by_name(&gpu->model, "4g.24gb");
	assert_int_equal(nvml_create(nv, gpu, p, 0, &err), 0);
	first = gpu->inst[0].gi_id;
	snprintf(uuid, sizeof(uuid), "%s", gpu->inst[0].ci[0].uuid);
	assert_int_equal(nvml_destroy(nv, gpu, first, &err), 0);
	assert_int_equal(nvml_create(nv, gpu, p, 0, &err), 0);
	assert_int_not_equal(gpu->inst[0].gi_id, first);
	assert_string_not_equal(gpu->inst[0].ci[0].uuid, uuid);
	nvml_close(nv);
}

static void test_no_permission_names_the_mig_config_capability(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;

	(void)state;
	init_gpus(models, 1);
	arm("nvmlDeviceCreateGpuInstanceWithPlacement", 1, 4 /* NO_PERMISSION */);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(nvml_create(nv, gpu, 0, 0, &err), -1);
	assert_int_equal(err.code, KERF_EPERM);
	assert_non_null(strstr(err.msg, "/proc/driver/nvidia/capabilities/mig/config"));
	nvml_close(nv);
}

static void test_failed_compute_instance_leaves_no_half_instance(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;

	(void)state;
	init_gpus(models, 1);
	arm("nvmlGpuInstanceCreateComputeInstance", 1, 23 /* INSUFFICIENT_RESOURCES */);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(nvml_create(nv, gpu, 0, 1, &err), -1);
	assert_non_null(strstr(err.msg, "nvmlGpuInstanceCreateComputeInstance"));
	assert_int_equal(gpu->n_instances, 0);
	nvml_close(nv);
}

static void test_complete_gives_a_bare_gpu_instance_its_compute_instance(void **state)
{
	static const char *const models[] = { "A30-24GB" };
	struct kerf_err err;
	struct nvml *nv;
	struct nvml_gpu *gpu;
	unsigned gi;
	int fd;

	(void)state;
	init_gpus(models, 1);
	fd = fk_lock(state_path, &st, &err);
	assert_int_equal(fk_create(&st, 0, 5 /* 2g.12gb */, 2, &gi, &err), 0);
	fk_unlock(fd, &st, true, &err);
	nv = open_fake();
	gpu = read0(nv);
	assert_int_equal(gpu->inst[0].n_ci, 0);
	assert_int_equal(nvml_complete(nv, gpu, gi, &err), 0);
	assert_int_equal(gpu->inst[0].n_ci, 1);
	assert_int_equal(gpu->inst[0].ci[0].slices, 2);
	nvml_close(nv);
}

/*
 * The state file is shared and locked: two processes re-cutting two GPUs at the same time through NVML,
 * hundreds of changes each, lose none of each other's changes. A lost update (one process writing back a
 * state read before the other's change) would make a later destroy miss its instance, or leave a GPU
 * in the wrong layout at the end.
 */
static int churn(unsigned gpu_index, const char *final_layout)
{
	struct nvml_gpu *gpu = malloc(sizeof(*gpu));
	struct mig_layout want;
	struct kerf_err err;
	struct nvml *nv = nvml_open(FAKENVML_LIB, &err);
	int one_g;

	if (nv == NULL || gpu == NULL || nvml_read_gpu(nv, gpu_index, gpu, &err) != 0)
		return 1;
	one_g = mig_profile_by_name(&gpu->model, "1g.10gb");
	for (unsigned round = 0; round < 40; round++) {
		for (unsigned start = 0; start < 7; start++)
			if (nvml_create(nv, gpu, (unsigned)one_g, start, &err) != 0)
				return 2;
		while (gpu->n_instances > 0)
			if (nvml_destroy(nv, gpu, gpu->inst[0].gi_id, &err) != 0)
				return 3;
	}
	if (mig_layout_parse(&gpu->model, final_layout, &want, &err) != 0)
		return 4;
	for (unsigned i = 0; i < want.n; i++)
		if (nvml_create(nv, gpu, want.inst[i].profile, want.inst[i].start, &err) != 0)
			return 5;
	nvml_close(nv);
	free(gpu);
	return 0;
}

static void test_two_processes_share_the_gpus_without_losing_a_change(void **state)
{
	static const char *const models[] = { "H100-80GB-SXM", "H100-80GB-SXM" };
	static const char *const finals[] = { "1g.10gb@0,2g.20gb@2,3g.40gb@4", "4g.40gb@0,3g.40gb@4" };
	pid_t pid[2];
	struct kerf_err err;

	(void)state;
	init_gpus(models, 2);
	for (unsigned k = 0; k < 2; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0)
			_exit(churn(k, finals[k]));
	}
	for (unsigned k = 0; k < 2; k++) {
		int status;

		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("process on GPU %u failed at step %d", k, WEXITSTATUS(status));
	}
	{
		int fd = fk_lock(state_path, &st, &err);

		assert_true(fd >= 0);
		assert_int_equal(fk_unlock(fd, &st, false, &err), 0);
	}
	assert_int_equal(st.violations, 0);
	for (unsigned k = 0; k < 2; k++) {
		struct mig_layout l;
		char text[256];

		fk_layout(&st.gpu[k], &l, NULL);
		mig_layout_sort(&l);
		assert_true(mig_layout_format(fk_model(&st.gpu[k]), &l, text, sizeof(text)) >= 0);
		assert_string_equal(text, finals[k]);
	}
}

static void test_error_codes_map_to_sentences(void **state)
{
	const char *s;

	(void)state;
	assert_int_equal(nvml_errcode(19, &s), KERF_EBUSY);
	assert_non_null(strstr(s, "instance busy"));
	assert_int_equal(nvml_errcode(23, &s), KERF_ECONFLICT);
	assert_non_null(strstr(s, "placement occupied"));
	assert_int_equal(nvml_errcode(3, &s), KERF_EUNSUPPORTED);
	assert_int_equal(nvml_errcode(999, &s), KERF_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_names_a_missing_library),
		cmocka_unit_test(test_open_uses_the_environment_variable),
		cmocka_unit_test(test_open_reports_driver_not_loaded),
		cmocka_unit_test(test_open_reports_a_driver_without_the_placement_api),
		cmocka_unit_test(test_init_refused_is_reported),
		cmocka_unit_test(test_every_builtin_model_reads_back_identically),
		cmocka_unit_test(test_catalog_disagreement_names_model_profile_and_field),
		cmocka_unit_test(test_runtime_model_joins_a_catalog_once),
		cmocka_unit_test(test_reads_instances_uuids_and_processes),
		cmocka_unit_test(test_an_unreadable_compute_profile_walk_is_cannot_tell_not_free),
		cmocka_unit_test(test_graphics_and_mps_processes_count_as_use),
		cmocka_unit_test(test_mig_disabled_reads_builtin_and_refuses_changes),
		cmocka_unit_test(test_create_uses_the_exact_placement),
		cmocka_unit_test(test_hopper_1g_rev2_gets_the_rev1_compute_profile),
		cmocka_unit_test(test_create_on_an_occupied_placement_says_so),
		cmocka_unit_test(test_destroying_a_busy_instance_says_instance_busy),
		cmocka_unit_test(test_gpu_instance_ids_do_not_follow_placement),
		cmocka_unit_test(test_no_permission_names_the_mig_config_capability),
		cmocka_unit_test(test_failed_compute_instance_leaves_no_half_instance),
		cmocka_unit_test(test_complete_gives_a_bare_gpu_instance_its_compute_instance),
		cmocka_unit_test(test_two_processes_share_the_gpus_without_losing_a_change),
		cmocka_unit_test(test_error_codes_map_to_sentences),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
