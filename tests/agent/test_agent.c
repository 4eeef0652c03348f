/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_agent.c — the node agent end to end: the simulated NVML library (tests/fakenvml), the real actuator,
 * kerf's real device plugin, and the Go kubelet stand-in (tools/kubelet-standin, path in argv[1]) acting
 * as the kubelet: it registers the plugin's resources, watches their lists, calls Allocate, and serves
 * pod-resources with whatever allocations the test tells it.
 *
 * Every check of "what exists" reads the simulator's state file directly, not through the agent, and
 * every check of "what the kubelet sees" reads the lists the stand-in received on its ListAndWatch streams.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "fakestate.h"
#include "nvml_abi.h"
#include "peer.h"

static const char *standin;

#define R1 "nvidia.com/mig-1g.10gb"
#define R2 "nvidia.com/mig-2g.20gb"
#define R3 "nvidia.com/mig-3g.40gb"
#define MAX_IDS 64
#define IDS_CAP 2048

/* Four small instances and a big one; the re-layout merges the two 1g into a 2g beside the 3g. */
#define ORIG "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4"
#define MERGED "2g.20gb@0,2g.20gb@2,3g.40gb@4"

struct stamp {
	char uuid[NVML_UUID_MAX];
	/* CLOCK_MONOTONIC (the stand-in's clock too): before the withdraw, after it returned, and before the
	 * device was given back because its destroy did not happen (0: not given back) */
	long long began, returned, reinstated;
};

struct fixture {
	char dir[64], state[128], journals[128], podres[128];
	struct peer peer;
	struct agent_node *agent;
	int numa[2];
	/* from the agent's log: every withdraw, in order */
	unsigned n_stamps;
	struct stamp stamps[256];
	unsigned withdraws;
	int grace_ms; /* agent_options.allocate_grace_ms for the next start (0: the default, 30 s) */
	atomic_uint destroys; /* the actuator's "destroy" lines: each comes after that instance's last check */
	/* CDI (start_agent_cdi): the spec folder and the driver's minors table the agent is given, and every
	 * spec write the agent logged, with what the file listed right then (read in the log callback, before
	 * the agent goes on to publish) */
	char cdi_dir[128], minors[128];
	unsigned n_specs;
	struct {
		long long at;
		char ids[IDS_CAP];
	} specs[16];
};

static struct fk_state st; /* big: one scratch copy for reads */

/* ---------------------------------------------------------------- simulated GPU */

static void fk_edit(struct fixture *f, void (*fn)(struct fk_state *s, void *arg), void *arg)
{
	struct kerf_err err;
	int fd = fk_lock(f->state, &st, &err);

	if (fd < 0)
		fail_msg("%s", err.msg);
	fn(&st, arg);
	if (fk_unlock(fd, &st, true, &err) < 0)
		fail_msg("%s", err.msg);
}

static void fk_read(struct fixture *f)
{
	struct kerf_err err;
	int fd = fk_lock(f->state, &st, &err);

	if (fd < 0 || fk_unlock(fd, &st, false, &err) < 0)
		fail_msg("%s", err.msg);
}

static void create_fn(struct fk_state *s, void *arg)
{
	struct kerf_err err;

	if (fk_create_layout(s, 0, arg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void create1_fn(struct fk_state *s, void *arg)
{
	struct kerf_err err;

	if (fk_create_layout(s, 1, arg, &err) < 0)
		fail_msg("%s", err.msg);
}

struct pid_arg {
	unsigned start, pid;
};

static void pid_fn(struct fk_state *s, void *arg)
{
	struct pid_arg *p = arg;
	struct kerf_err err;

	if (fk_set_pid(s, 0, p->start, p->pid, &err) < 0)
		fail_msg("%s", err.msg);
}

static void fault_fn(struct fk_state *s, void *arg)
{
	struct kerf_err err;

	if (fk_add_fault(s, arg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void clear_faults_fn(struct fk_state *s, void *arg)
{
	(void)arg;
	s->n_faults = 0;
}

static void fault(struct fixture *f, const char *func, unsigned nth, enum fk_action action, int code, unsigned usec)
{
	struct fk_fault ft = {.nth = nth, .action = action, .code = code, .usec = usec};

	snprintf(ft.func, sizeof(ft.func), "%s", func);
	fk_edit(f, fault_fn, &ft);
}

/* GPU 0's layout as text, from the state file. */
static void gpu_layout(struct fixture *f, unsigned gpu, char *out, size_t cap)
{
	struct mig_layout l;

	fk_read(f);
	fk_layout(&st.gpu[gpu], &l, NULL);
	mig_layout_sort(&l);
	assert_true(mig_layout_format(fk_model(&st.gpu[gpu]), &l, out, cap) >= 0);
}

static void assert_layout_of(struct fixture *f, unsigned gpu, const char *want)
{
	char have[256];

	gpu_layout(f, gpu, have, sizeof(have));
	assert_string_equal(have, want);
}

static void assert_layout(struct fixture *f, const char *want)
{
	assert_layout_of(f, 0, want);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts a comma-joined list in place. */
static void sort_ids(char *ids)
{
	char copy[IDS_CAP], *v[MAX_IDS], *save = NULL;
	size_t n = 0, o = 0;

	snprintf(copy, sizeof(copy), "%s", ids);
	for (char *t = strtok_r(copy, ",", &save); t != NULL && n < MAX_IDS; t = strtok_r(NULL, ",", &save))
		v[n++] = t;
	qsort(v, n, sizeof(v[0]), cmp_str);
	ids[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(ids + o, IDS_CAP - o, "%s%s", i ? "," : "", v[i]);
}

/* The MIG UUIDs whose profile has this resource name, sorted and comma-joined, from the state file:
 * start >= 0: GPU 0's instance at that start; start < 0: every instance of every GPU. */
static void nvml_ids(struct fixture *f, const char *resource, int start, char *out)
{
	size_t o = 0;

	fk_read(f);
	out[0] = '\0';
	for (unsigned g = 0; g < st.n_gpus && (start < 0 || g == 0); g++) {
		const struct mig_model *m = fk_model(&st.gpu[g]);

		for (unsigned id = 1; id < FK_MAX_GI; id++) {
			const struct fk_gi *gi = &st.gpu[g].gi[id];
			int p = gi->live ? mig_profile_by_nvml_id(m, gi->profile_id) : -1;

			if (p < 0 || strcmp(m->profiles[p].resource, resource) != 0 ||
			    (start >= 0 && gi->start != (unsigned)start))
				continue;
			for (unsigned c = 0; c < FK_MAX_CI; c++) {
				char u[NVML_UUID_MAX];

				if (!gi->ci[c].live)
					continue;
				fk_mig_uuid(g, gi->ci[c].serial, u, sizeof(u));
				o += (size_t)snprintf(out + o, IDS_CAP - o, "%s%s", o ? "," : "", u);
			}
		}
	}
	sort_ids(out);
}

static bool nvml_has(struct fixture *f, const char *uuid)
{
	static const char *const res[] = {R1, R2, R3};

	for (size_t i = 0; i < 3; i++) {
		char ids[IDS_CAP];

		nvml_ids(f, res[i], -1, ids);
		if (strstr(ids, uuid) != NULL)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- the kubelet's view */

/* Waits for a list of `res` (from *from on) whose ids, as a set, are `ids` (sorted). */
static void wait_list(struct fixture *f, size_t *from, const char *res, const char *ids)
{
	for (;;) {
		json_t *ev = peer_wait(&f->peer, from, "list", "resource", res);
		char got[IDS_CAP];

		if (ev == NULL)
			fail_msg("%s: the kubelet never received the list [%s]", res, ids);
		peer_list_ids(ev, got, sizeof(got));
		sort_ids(got);
		if (strcmp(got, ids) == 0)
			return;
	}
}

/* The newest list of res received so far (after a round trip to the stand-in), sorted; "-" if none. */
static void last_list(struct fixture *f, const char *res, char *out)
{
	json_t *last = NULL;

	assert_non_null(peer_call(&f->peer, "{\"op\":\"mono\"}"));
	for (size_t i = 0; i < peer_events(&f->peer); i++) {
		json_t *ev = json_array_get(f->peer.log, i);
		const char *e = json_string_value(json_object_get(ev, "ev"));
		const char *r = json_string_value(json_object_get(ev, "resource"));

		if (e != NULL && r != NULL && strcmp(e, "list") == 0 && strcmp(r, res) == 0)
			last = ev;
	}
	if (last == NULL) {
		snprintf(out, IDS_CAP, "-");
		return;
	}
	peer_list_ids(last, out, IDS_CAP);
	sort_ids(out);
}

/* Waits until the newest list of res the kubelet received is ids (the deadline only guards a hang). */
static void wait_last_list(struct fixture *f, const char *res, const char *ids)
{
	char got[IDS_CAP];

	for (int i = 0; i < PEER_WAIT_MS / 20; i++) {
		last_list(f, res, got);
		if (strcmp(got, ids) == 0 || (ids[0] == '\0' && strcmp(got, "-") == 0)) /* "-": never published */
			return;
		nanosleep(&(struct timespec){.tv_nsec = 20000000L}, NULL);
	}
	fail_msg("%s: the kubelet's newest list is [%s], NVML holds [%s]", res, got, ids);
}

/* The kubelet's newest lists of R1, R2, R3 are exactly what NVML holds (pushed on the open streams). */
static void assert_kubelet_sees_nvml(struct fixture *f)
{
	static const char *const res[] = {R1, R2, R3};

	for (size_t i = 0; i < 3; i++) {
		char ids[IDS_CAP];

		nvml_ids(f, res[i], -1, ids);
		wait_last_list(f, res[i], ids);
	}
}

/* Tells the stand-in's pod-resources that pod-<i> holds ids[i] (resource res[i]). No cmocka assertion:
 * the race's kubelet thread calls it too. */
static bool podres_send(struct peer *p, char ids[][NVML_UUID_MAX], const char *const *res, unsigned n)
{
	char cmd[4096];
	size_t o = 0;
	json_t *r;

	o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "{\"op\":\"podres\",\"pods\":[");
	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(cmd + o, sizeof(cmd) - o,
				      "%s{\"namespace\":\"default\",\"name\":\"pod-%u\",\"container\":\"c\","
				      "\"resource\":\"%s\",\"ids\":[\"%s\"],\"numa\":0}",
				      i ? "," : "", i, res[i], ids[i]);
	snprintf(cmd + o, sizeof(cmd) - o, "]}");
	r = peer_call(p, "%s", cmd);
	return r != NULL && json_is_true(json_object_get(r, "ok"));
}

static void podres_set(struct peer *p, char ids[][NVML_UUID_MAX], const char *const *res, unsigned n)
{
	assert_true(podres_send(p, ids, res, n));
}

/* ---------------------------------------------------------------- fixture */

/* The device names kerf's CDI spec in the fixture lists, sorted and comma-joined; "-" if there is no file. */
static void spec_ids(const struct fixture *f, char *out)
{
	char path[192];
	json_t *spec, *d;
	size_t i, o = 0;

	snprintf(path, sizeof(path), "%s/kerf-mig.json", f->cdi_dir);
	if ((spec = json_load_file(path, 0, NULL)) == NULL) {
		snprintf(out, IDS_CAP, "-");
		return;
	}
	out[0] = '\0';
	json_array_foreach(json_object_get(spec, "devices"), i, d)
		o += (size_t)snprintf(out + o, IDS_CAP - o, "%s%s", o ? "," : "",
				      json_string_value(json_object_get(d, "name")));
	json_decref(spec);
	sort_ids(out);
}

/* The value of field key in ev, or "". */
static const char *field(const struct kerf_log_event *ev, const char *key)
{
	for (unsigned i = 0; i < ev->n; i++)
		if (strcmp(ev->f[i].key, key) == 0)
			return ev->f[i].value;
	return "";
}

static void agent_log(void *arg, const struct kerf_log_event *ev)
{
	struct fixture *f = arg;
	const char *u = field(ev, "device");

	if (getenv("KERF_TEST_VERBOSE") != NULL) {
		char *line = kerf_log_format_line(KERF_LOG_TEXT, "-", "agent", ev);
		fprintf(stderr, "%s", line ? line : "(out of memory)\n");
		free(line);
	}
	if (strcmp(ev->msg, "CDI spec written") == 0 && f->n_specs < 16) {
		f->specs[f->n_specs].at = peer_mono_ns();
		spec_ids(f, f->specs[f->n_specs++].ids);
	} else if (strcmp(ev->msg, "withdrawing device") == 0 && f->n_stamps < 256) {
		struct stamp *s = &f->stamps[f->n_stamps++];

		snprintf(s->uuid, sizeof(s->uuid), "%s", u);
		s->began = peer_mono_ns();
		s->returned = s->reinstated = 0;
		f->withdraws++;
	} else if (strcmp(ev->msg, "withdrew device") == 0) {
		for (unsigned i = f->n_stamps; i-- > 0;)
			if (strcmp(f->stamps[i].uuid, u) == 0) {
				f->stamps[i].returned = peer_mono_ns();
				break;
			}
	} else if (strcmp(ev->msg, "destroy") == 0) {
		atomic_fetch_add(&f->destroys, 1);
	} else if (strcmp(ev->msg, "reinstating device: it still exists") == 0) {
		for (unsigned i = f->n_stamps; i-- > 0;)
			if (strcmp(u, f->stamps[i].uuid) == 0) {
				f->stamps[i].reinstated = peer_mono_ns();
				break;
			}
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const char *const models[] = {"H100-80GB-SXM"};
	struct kerf_err err;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kerf-agent-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/gpus", f->dir);
	snprintf(f->journals, sizeof(f->journals), "%s/journal", f->dir);
	snprintf(f->podres, sizeof(f->podres), "%s/podres.sock", f->dir);
	assert_int_equal(mkdir(f->journals, 0700), 0);
	setenv(FK_ENV_STATE, f->state, 1);
	if (fk_init(f->state, models, 1, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(peer_start(&f->peer, standin, f->dir, f->podres), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	agent_node_stop(f->agent);
	peer_stop(&f->peer);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Starts the agent on the fixture's GPUs, kubelet and folders; proc_root non-NULL: NVIDIA-plugin mode, with
 * NVIDIA's plugin looked for under proc_root. With f->cdi_dir set, CDI is on, with f->cdi_dir and f->minors.
 * NULL, with err filled, if it fails to start. */
static struct agent_node *try_start_agent(struct fixture *f, const char *proc_root, struct kerf_err *err)
{
	f->numa[0] = 1;
	struct agent_options o = {
		.nvml_library = FAKENVML_LIB,
		.journal_dir = f->journals,
		.plugin_dir = f->dir,
		.podres_socket = f->podres,
		.timeout_ms = 10000,
		.register_retry_ms = 100,
		.allocate_grace_ms = f->grace_ms,
		.numa_nodes = f->numa,
		.n_numa = 1,
		.nvidia_plugin = proc_root != NULL,
		.proc_root = proc_root,
		.cdi = f->cdi_dir[0] != '\0',
		.cdi_spec_dir = f->cdi_dir,
		.mig_minors = f->minors,
		.log = agent_log,
		.log_arg = f,
	};

	return agent_node_start(&o, err);
}

static void start_agent_mode(struct fixture *f, const char *proc_root)
{
	struct kerf_err err;

	f->agent = try_start_agent(f, proc_root, &err);
	if (f->agent == NULL)
		fail_msg("%s", err.msg);
}

static void start_agent(struct fixture *f)
{
	start_agent_mode(f, NULL);
}

static void parse(struct fixture *f, const char *text, struct mig_layout *l)
{
	struct kerf_err err;

	if (mig_layout_parse(agent_node_model(f->agent, 0), text, l, &err) < 0)
		fail_msg("%s", err.msg);
}

static bool no_journal(struct fixture *f)
{
	char cmd[256];

	/* no journal left: only the actuator's per-GPU lock files (.actuate-*.lock) may be there */
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s | grep -v '^\\.actuate-.*\\.lock$')\"", f->journals);
	return system(cmd) == 0;
}

/* ---------------------------------------------------------------- tests */

/*
 * Start-up adoption: what is on the GPU is published as it is (one resource per profile, UUIDs as IDs,
 * the GPU's NUMA node), nothing is destroyed or re-created (same GI IDs and creation serials), and the
 * status snapshot reports the instance running a process as used.
 */
static void test_start_adopts_existing_instances_and_publishes_them_unchanged(void **state)
{
	struct fixture *f = *state;
	static struct fk_state before;
	struct agent_status *s = calloc(1, sizeof(*s));
	struct kerf_err err;
	size_t from = 0;
	json_t *ev;

	assert_non_null(s);
	fk_edit(f, create_fn, ORIG);
	fk_edit(f, pid_fn, &(struct pid_arg){.start = 4, .pid = 4242});
	fk_read(f);
	before = st;
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	ev = peer_wait(&f->peer, &from, "list", "resource", R3);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(
				 json_array_get(json_object_get(ev, "devices"), 0), "numa"), 0)), 1);

	fk_read(f);
	assert_int_equal(st.violations, 0);
	for (unsigned id = 1; id < FK_MAX_GI; id++) {
		assert_int_equal(st.gpu[0].gi[id].live, before.gpu[0].gi[id].live);
		if (!st.gpu[0].gi[id].live)
			continue;
		assert_int_equal(st.gpu[0].gi[id].start, before.gpu[0].gi[id].start);
		for (unsigned c = 0; c < FK_MAX_CI; c++)
			assert_int_equal(st.gpu[0].gi[id].ci[c].serial, before.gpu[0].gi[id].ci[c].serial);
	}

	if (agent_node_status(f->agent, s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s->n_gpus, 1);
	assert_string_equal(s->gpu[0].short_model, "H100-80GB-SXM");
	assert_int_equal(s->gpu[0].n, 4);
	for (unsigned i = 0; i < 4; i++) {
		char ids[IDS_CAP], res[MIG_RESOURCE_MAX];

		assert_int_equal(mig_resource_name(s->gpu[0].inst[i].profile, res, sizeof(res)), 0);
		nvml_ids(f, res, (int)s->gpu[0].inst[i].start, ids);
		assert_string_equal(s->gpu[0].inst[i].uuid, ids);
		assert_int_equal(s->gpu[0].inst[i].used, s->gpu[0].inst[i].start == 4);
		assert_int_equal(s->gpu[0].inst[i].processes, s->gpu[0].inst[i].start == 4 ? 1 : 0);
	}
	assert_string_equal(s->gpu[0].inst[3].profile, "3g.40gb");
	free(s);
}

/*
 * A re-layout that needs free instances destroyed: each is withdrawn first, the GPU ends in the desired
 * layout, and the kubelet's streams carry the new lists (removed UUIDs gone, the new one present) as soon
 * as the apply returns, without anyone polling.
 */
static void test_relayout_destroys_free_instances_and_the_kubelet_gets_the_new_lists(void **state)
{
	struct fixture *f = *state;
	char old1[IDS_CAP], old3[IDS_CAP], ids[IDS_CAP];
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;
	size_t from;

	fk_edit(f, create_fn, ORIG);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, R1, -1, old1);
	nvml_ids(f, R3, -1, old3);
	from = peer_events(&f->peer);
	parse(f, MERGED, &want);
	if (agent_node_apply(f->agent, 0, &want, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.outcome, ACTUATE_APPLIED);
	assert_layout(f, MERGED);
	assert_int_equal(f->withdraws, 2); /* the two 1g.10gb, nothing else */
	assert_non_null(strstr(old1, f->stamps[0].uuid));
	assert_non_null(strstr(old1, f->stamps[1].uuid));

	/* pushed on the stream the kubelet opened at registration: a list event after the apply began */
	wait_list(f, &from, R1, "");
	assert_kubelet_sees_nvml(f);
	last_list(f, R1, ids);
	assert_string_equal(ids, "");
	last_list(f, R3, ids);
	assert_string_equal(ids, old3);
	last_list(f, R2, ids);
	assert_null(strstr(ids, f->stamps[0].uuid));
	nvml_ids(f, R2, 0, old1);
	assert_non_null(strstr(ids, old1)); /* the new 2g.20gb@0 */
	assert_true(no_journal(f));

	/* the same layout again changes nothing */
	f->withdraws = 0;
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), 0);
	assert_int_equal(res.outcome, ACTUATE_UNCHANGED);
	assert_int_equal(f->withdraws, 0);
}

/*
 * A device the kubelet's pod-resources reports allocated is never destroyed, even though the desired
 * layout would need it gone: the apply is refused before anything is touched, nothing is withdrawn, and
 * the GPU and the kubelet's lists stay as they were. The status reports the device as used.
 */
/*
 * An agent outside the host's PID namespace (PID 1 under its proc_root is a pod's pause process) cannot see
 * other pods' CUDA processes through NVML: it counts every instance as in use. A layout that destroys the free
 * 1g.10gb is refused before any step, naming the reason; one that only adds would still go through; the status
 * reports every instance used. With PID 1 the host's init, the same layout applies. Without the check the
 * first apply destroys instances whose processes it could not see.
 */
static void test_an_agent_blind_to_host_processes_destroys_nothing(void **state)
{
	struct fixture *f = *state;
	struct agent_status *s = calloc(1, sizeof(*s));
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;
	char proc[256], cmd[512];
	struct agent_options o = {.nvml_library = FAKENVML_LIB, .journal_dir = f->journals, .plugin_dir = f->dir,
				  .podres_socket = f->podres, .timeout_ms = 10000, .register_retry_ms = 100,
				  .proc_root = proc, .log = agent_log, .log_arg = f};

	assert_non_null(s);
	snprintf(proc, sizeof(proc), "%s/proc", f->dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/1' && printf '/pause\\0' > '%s/1/cmdline'", proc, proc);
	assert_int_equal(system(cmd), 0);
	fk_edit(f, create_fn, ORIG);
	if ((f->agent = agent_node_start(&o, &err)) == NULL)
		fail_msg("%s", err.msg);
	parse(f, MERGED, &want);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_int_equal(err.code, KERF_EBUSY);
	assert_non_null(strstr(err.msg, "cannot see the host's processes"));
	assert_non_null(strstr(err.msg, "pause"));
	assert_layout(f, ORIG);
	if (agent_node_status(f->agent, s, &err) < 0)
		fail_msg("%s", err.msg);
	for (unsigned k = 0; k < s->gpu[0].n; k++)
		assert_true(s->gpu[0].inst[k].used);
	agent_node_stop(f->agent);

	snprintf(cmd, sizeof(cmd), "printf '/sbin/init\\0' > '%s/1/cmdline'", proc);
	assert_int_equal(system(cmd), 0);
	if ((f->agent = agent_node_start(&o, &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), 0);
	assert_layout(f, MERGED);
	free(s);
}

static void test_allocated_device_is_never_destroyed_and_the_apply_is_refused(void **state)
{
	struct fixture *f = *state;
	char held[1][NVML_UUID_MAX], ids1[IDS_CAP], ids[IDS_CAP];
	const char *const res1[] = {R1};
	struct agent_status *s = calloc(1, sizeof(*s));
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;

	assert_non_null(s);
	fk_edit(f, create_fn, ORIG);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, R1, 1, held[0]);
	podres_set(&f->peer, held, res1, 1);
	nvml_ids(f, R1, -1, ids1);

	parse(f, MERGED, &want);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_int_equal(err.code, KERF_EBUSY);
	assert_non_null(strstr(err.msg, "1g.10gb@1"));
	assert_int_equal(f->withdraws, 0);
	assert_layout(f, ORIG);
	nvml_ids(f, R1, -1, ids);
	assert_string_equal(ids, ids1); /* the same devices, not re-created */
	last_list(f, R1, ids);
	assert_string_equal(ids, ids1);

	if (agent_node_status(f->agent, s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(s->gpu[0].inst[1].allocated);
	assert_true(s->gpu[0].inst[1].used);
	assert_false(s->gpu[0].inst[0].used);
	free(s);
}

/* The kubelet's device checkpoint in the plugin folder, with one container holding uuid (or text as given). */
static void write_checkpoint(struct fixture *f, const char *uuid, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/kubelet_internal_checkpoint", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	if (text != NULL)
		fputs(text, fp);
	else
		fprintf(fp, "{\"Data\":{\"PodDeviceEntries\":[{\"PodUID\":\"u-1\",\"ContainerName\":\"c\","
			    "\"ResourceName\":\"%s\",\"DeviceIDs\":{\"-1\":[\"%s\"]},\"AllocResp\":\"\"}],"
			    "\"RegisteredDevices\":{}},\"Checksum\":1}",
			R1, uuid);
	fclose(fp);
}

/*
 * Right after a kubelet restart, pod-resources List can omit a pod not yet re-admitted whose container still
 * runs on its device. The kubelet's device checkpoint still records the allocation, and while the kubelet is
 * new (its socket younger than 30 s: the stand-in just started) the destroy-time check asks it too: the
 * re-cut is refused and rolled back, the device untouched. A checkpoint that does not parse is "cannot tell":
 * refused as well. Once the kubelet is older, List alone decides: the kubelet keeps a deleted pod's entry
 * until its next allocation, and that stale entry must not block the re-cut forever. Without the checkpoint
 * check the device is destroyed in the first part.
 */
static void test_a_device_the_kubelet_checkpoint_holds_is_never_destroyed(void **state)
{
	struct fixture *f = *state;
	char held[1][NVML_UUID_MAX], ids1[IDS_CAP], ids[IDS_CAP];
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;

	fk_edit(f, create_fn, ORIG);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, R1, 1, held[0]);
	nvml_ids(f, R1, -1, ids1);
	podres_set(&f->peer, held, NULL, 0); /* the List shows no pod */
	write_checkpoint(f, held[0], NULL);
	parse(f, MERGED, &want);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_non_null(strstr(err.msg, "allocated to a pod"));
	assert_layout(f, ORIG);
	nvml_ids(f, R1, -1, ids);
	assert_string_equal(ids, ids1);

	write_checkpoint(f, NULL, "{\"Data\": {\"PodDeviceEntries\": [");
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_non_null(strstr(err.msg, "cannot tell which devices pods hold"));
	assert_layout(f, ORIG);

	write_checkpoint(f, held[0], NULL); /* a stale entry, and a kubelet started 10 minutes ago */
	{
		struct timespec old[2] = {{time(NULL) - 600, 0}, {time(NULL) - 600, 0}};

		assert_int_equal(utimensat(AT_FDCWD, f->podres, old, 0), 0);
	}
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), 0);
	assert_layout(f, MERGED);
}

/*
 * A fault injected into an NVML call half way (a create after the destroys; a destroy after another
 * destroy): the actuator rolls back to the original layout, and the plugin then advertises exactly the
 * devices that exist — the re-created ones under their new UUIDs, a withdrawn one whose destroy failed
 * advertised again, the destroyed ones nowhere.
 */
static void run_fault(struct fixture *f, const char *func, unsigned nth)
{
	char old1[IDS_CAP], ids[IDS_CAP];
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;

	fk_edit(f, create_fn, ORIG);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, R1, -1, old1);
	fault(f, func, nth, FK_FAIL, NVML_ERROR_UNKNOWN, 0);
	parse(f, MERGED, &want);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_int_equal(res.outcome, ACTUATE_ROLLED_BACK);
	assert_non_null(strstr(err.msg, "rolled back"));
	assert_layout(f, ORIG);
	assert_kubelet_sees_nvml(f);
	last_list(f, R1, ids);
	nvml_ids(f, R1, -1, old1);
	assert_string_equal(ids, old1);
	last_list(f, R2, ids);
	nvml_ids(f, R2, -1, old1);
	assert_string_equal(ids, old1);
	fk_edit(f, clear_faults_fn, NULL);
	assert_true(no_journal(f));
}

static void test_failed_create_rolls_back_and_the_plugin_advertises_what_exists(void **state)
{
	run_fault(*state, "nvmlDeviceCreateGpuInstanceWithPlacement", 1);
}

static void test_failed_destroy_rolls_back_and_the_surviving_device_is_advertised_again(void **state)
{
	struct fixture *f = *state;

	char ids[IDS_CAP];

	run_fault(f, "nvmlComputeInstanceDestroy", 2);
	assert_int_equal(f->withdraws, 2);
	/* the second 1g was withdrawn, its destroy failed: it exists and the kubelet has it again */
	assert_true(nvml_has(f, f->stamps[1].uuid));
	last_list(f, R1, ids);
	assert_non_null(strstr(ids, f->stamps[1].uuid));
	assert_null(strstr(ids, f->stamps[0].uuid)); /* destroyed, re-created under a new UUID */
}

/*
 * Start-up recovery: a run killed half way (after its first create) leaves a journal; the next agent
 * finishes it before publishing, and publishes the result.
 */
static void test_start_finishes_a_run_killed_half_way_then_publishes(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status;

	fk_edit(f, create_fn, ORIG);
	fault(f, "nvmlDeviceCreateGpuInstanceWithPlacement", 1, FK_KILL_AFTER, 0, 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct nvml_gpu g;
		struct actuate_config cfg = {.journal_dir = f->journals};
		struct actuate_result res;
		struct mig_layout want;
		struct kerf_err err;
		struct nvml *nv = nvml_open(FAKENVML_LIB, &err);

		if (nv == NULL || nvml_read_gpu(nv, 0, &g, &err) < 0 || mig_layout_parse(&g.model, MERGED, &want, &err) < 0)
			_exit(2);
		signal(SIGSEGV, SIG_DFL); /* never return into the test runner from the child */
		signal(SIGABRT, SIG_DFL);
		actuate_apply(nv, 0, &g.model, &want, &cfg, &res, &err);
		_exit(3); /* not reached: the simulated driver kills the process */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_false(no_journal(f));
	fk_edit(f, clear_faults_fn, NULL);

	start_agent(f);
	assert_layout(f, MERGED);
	assert_true(no_journal(f));
	assert_kubelet_sees_nvml(f);
}

/*
 * Two GPUs: a re-layout of GPU 1 withdraws and destroys only GPU 1's instance, leaves GPU 0 alone, and the
 * kubelet's lists (which mix both GPUs' devices per resource) end equal to NVML; the status has both GPUs.
 */
static void test_relayout_of_one_gpu_leaves_the_other_gpu_and_its_devices_alone(void **state)
{
	struct fixture *f = *state;
	static const char *const models[] = {"H100-80GB-SXM", "H100-80GB-SXM"};
	struct agent_status *s = calloc(1, sizeof(*s));
	char ids0[IDS_CAP], ids[IDS_CAP];
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;

	assert_non_null(s);
	if (fk_init(f->state, models, 2, &err) < 0)
		fail_msg("%s", err.msg);
	fk_edit(f, create_fn, ORIG);
	fk_edit(f, create1_fn, "7g.80gb@0");
	start_agent(f);
	assert_int_equal(agent_node_gpu_count(f->agent), 2);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, "nvidia.com/mig-7g.80gb", -1, ids);
	assert_true(ids[0] != '\0');
	wait_last_list(f, "nvidia.com/mig-7g.80gb", ids);
	nvml_ids(f, R1, -1, ids0);

	if (mig_layout_parse(agent_node_model(f->agent, 1), "3g.40gb@0,3g.40gb@4", &want, &err) < 0)
		fail_msg("%s", err.msg);
	if (agent_node_apply(f->agent, 1, &want, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(f->withdraws, 1);
	assert_layout_of(f, 1, "3g.40gb@0,3g.40gb@4");
	assert_layout_of(f, 0, ORIG);
	nvml_ids(f, R1, -1, ids);
	assert_string_equal(ids, ids0);
	assert_kubelet_sees_nvml(f);
	wait_last_list(f, "nvidia.com/mig-7g.80gb", "");
	last_list(f, R3, ids);
	assert_int_equal(strlen(ids), 3 * strlen(f->stamps[0].uuid) + 2); /* GPU 0's 3g and GPU 1's two */

	if (agent_node_status(f->agent, s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s->n_gpus, 2);
	assert_int_equal(s->gpu[1].index, 1);
	assert_int_equal(s->gpu[1].n, 2);
	assert_string_equal(s->gpu[1].inst[1].profile, "3g.40gb");
	assert_int_equal(s->gpu[1].inst[1].start, 4);
	free(s);
}

/* A change made by someone else (an operator with nvidia-smi) is published by agent_node_refresh(). */
static void test_refresh_publishes_an_instance_created_by_someone_else(void **state)
{
	struct fixture *f = *state;
	char ids[IDS_CAP];
	struct kerf_err err;

	fk_edit(f, create_fn, "3g.40gb@4");
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	fk_edit(f, create_fn, "1g.10gb@0");
	nvml_ids(f, R1, -1, ids);
	assert_true(ids[0] != '\0');
	if (agent_node_refresh(f->agent, &err) < 0)
		fail_msg("%s", err.msg);
	assert_kubelet_sees_nvml(f);
}

/* ---------------------------------------------------------------- CDI */

/* The capability minor the fixture's table gives GPU instance gi (ci < 0) or compute instance ci in it, on the
 * GPU with device minor gpu: numbered in order as the driver does, after "config" and "monitor". */
static unsigned cap_minor(unsigned gpu, unsigned gi, int ci)
{
	return 3 + gpu * 15 * 9 + gi * 9 + (ci < 0 ? 0 : 1 + (unsigned)ci);
}

/* Writes the fixture's minors table for every simulated GPU (by its device minor), every GI 0..14 and CI
 * 0..7, except the line named skip (NULL: none). */
static void write_minors(struct fixture *f, const char *skip)
{
	FILE *m = fopen(f->minors, "w");

	assert_non_null(m);
	fprintf(m, "config 1\nmonitor 2\n");
	fk_read(f);
	for (unsigned g = 0; g < st.n_gpus; g++)
		for (unsigned gi = 0; gi < 15; gi++)
			for (int ci = -1; ci < 8; ci++) {
				char name[64];

				if (ci < 0)
					snprintf(name, sizeof(name), "gpu%u/gi%u/access", fk_gpu_minor(g), gi);
				else
					snprintf(name, sizeof(name), "gpu%u/gi%u/ci%d/access", fk_gpu_minor(g), gi, ci);
				if (skip == NULL || strcmp(skip, name) != 0)
					fprintf(m, "%s %u\n", name, cap_minor(fk_gpu_minor(g), gi, ci));
			}
	assert_int_equal(fclose(m), 0);
}

/* Turns CDI on for the next start: spec folder <dir>/cdi, minors table <dir>/mig-minors (complete). */
static void cdi_on(struct fixture *f)
{
	snprintf(f->cdi_dir, sizeof(f->cdi_dir), "%s/cdi", f->dir);
	snprintf(f->minors, sizeof(f->minors), "%s/mig-minors", f->dir);
	assert_int_equal(mkdir(f->cdi_dir, 0755), 0);
	write_minors(f, NULL);
}

/* Every MIG UUID NVML holds (all resources), sorted and comma-joined. */
static void all_nvml_ids(struct fixture *f, char *out)
{
	static const char *const res[] = {R1, R2, R3};
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < 3; i++) {
		char ids[IDS_CAP];

		nvml_ids(f, res[i], -1, ids);
		if (ids[0] != '\0')
			o += (size_t)snprintf(out + o, IDS_CAP - o, "%s%s", o ? "," : "", ids);
	}
	sort_ids(out);
}

/* The GI ID of GPU 0's instance at start, from the state file. */
static unsigned gi_at(struct fixture *f, unsigned start)
{
	fk_read(f);
	for (unsigned id = 1; id < FK_MAX_GI; id++)
		if (st.gpu[0].gi[id].live && st.gpu[0].gi[id].start == start)
			return id;
	fail_msg("no instance at %u", start);
	return 0;
}

/* The device nodes the spec gives device uuid, comma-joined. */
static void spec_nodes(struct fixture *f, const char *uuid, char *out, size_t cap)
{
	char path[192];
	json_t *spec, *d, *n;
	size_t i, k, o = 0;

	snprintf(path, sizeof(path), "%s/kerf-mig.json", f->cdi_dir);
	assert_non_null(spec = json_load_file(path, 0, NULL));
	out[0] = '\0';
	json_array_foreach(json_object_get(spec, "devices"), i, d) {
		if (strcmp(json_string_value(json_object_get(d, "name")), uuid) != 0)
			continue;
		json_array_foreach(json_object_get(json_object_get(d, "containerEdits"), "deviceNodes"), k, n)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? "," : "",
					      json_string_value(json_object_get(n, "path")));
	}
	json_decref(spec);
}

/*
 * With CDI on, the agent's spec lists exactly the MIG devices NVML holds, each with its GPU's node (by device
 * minor, not index) and its GI's and CI's capability nodes. After a re-layout, the spec held the new device
 * before the kubelet's stream first carried it (the spec write is logged, and the file read, before the
 * agent publishes: its stamp precedes the stand-in's receive stamp), the destroyed devices left the spec only
 * after they were withdrawn, and the spec ends with exactly what NVML holds. The kubelet is told the CDI names
 * of kerf's kind.
 */
static void test_cdi_spec_lists_new_devices_before_the_kubelet_sees_them(void **state)
{
	struct fixture *f = *state;
	char want[IDS_CAP], have[IDS_CAP], old1[IDS_CAP], fresh[IDS_CAP], nodes[256], expect[256];
	struct actuate_result res;
	struct mig_layout want_l;
	struct kerf_err err;
	unsigned n0, gi;
	size_t from;
	json_t *ev = NULL, *r;
	long long seen;

	fk_edit(f, create_fn, ORIG);
	cdi_on(f);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	all_nvml_ids(f, want);
	spec_ids(f, have);
	assert_string_equal(have, want);
	nvml_ids(f, R3, 4, fresh);
	gi = gi_at(f, 4);
	spec_nodes(f, fresh, nodes, sizeof(nodes));
	snprintf(expect, sizeof(expect), "/dev/nvidia%u,/dev/nvidia-caps/nvidia-cap%u,/dev/nvidia-caps/nvidia-cap%u",
		 fk_gpu_minor(0), cap_minor(fk_gpu_minor(0), gi, -1), cap_minor(fk_gpu_minor(0), gi, 0));
	assert_string_equal(nodes, expect);
	r = peer_call(&f->peer, "{\"op\":\"allocate\",\"resource\":\"%s\",\"ids\":[\"%s\"]}", R3, fresh);
	assert_non_null(r);
	snprintf(expect, sizeof(expect), "kerf.dev/mig=%s", fresh);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "cdi"), 0)), expect);

	nvml_ids(f, R1, -1, old1);
	n0 = f->n_specs;
	from = peer_events(&f->peer);
	parse(f, MERGED, &want_l);
	if (agent_node_apply(f->agent, 0, &want_l, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_layout(f, MERGED);
	nvml_ids(f, R2, 0, fresh); /* the new 2g.20gb@0 */
	for (;;) {
		char got[IDS_CAP];

		if ((ev = peer_wait(&f->peer, &from, "list", "resource", R2)) == NULL)
			fail_msg("the kubelet never received %s", fresh);
		peer_list_ids(ev, got, sizeof(got));
		if (strstr(got, fresh) != NULL)
			break;
	}
	seen = json_integer_value(json_object_get(ev, "mono_ns"));
	for (unsigned i = n0;; i++) {
		if (i == f->n_specs)
			fail_msg("no spec written before the kubelet got %s lists %s", R2, fresh);
		if (strstr(f->specs[i].ids, fresh) == NULL)
			continue;
		assert_true(f->specs[i].at < seen);
		break;
	}
	/* the two destroyed 1g.10gb: withdrawn (stamped) before the first spec without them */
	assert_int_equal(f->withdraws, 2);
	for (unsigned i = n0; i < f->n_specs; i++)
		if (strstr(f->specs[i].ids, f->stamps[0].uuid) == NULL) {
			assert_true(f->stamps[0].returned > 0 && f->stamps[0].returned < f->specs[i].at);
			assert_true(f->stamps[1].returned > 0 && f->stamps[1].returned < f->specs[i].at);
			break;
		}
	assert_non_null(strstr(old1, f->stamps[0].uuid));
	assert_kubelet_sees_nvml(f);
	all_nvml_ids(f, want);
	spec_ids(f, have);
	assert_string_equal(have, want);
}

/*
 * A spec that cannot be written keeps new devices from the kubelet. At start (no spec folder) the agent
 * refuses to start. Later, with the folder gone, a re-layout still takes the GPU to its layout, but the apply
 * fails naming the CDI spec, the new 2g.20gb is not advertised while the kept ones still are, and the old
 * spec stays. Once the folder is back, a refresh writes the spec and advertises the new device.
 */
static void test_cdi_spec_write_failure_keeps_new_devices_unadvertised(void **state)
{
	struct fixture *f = *state;
	char away[160], kept2[IDS_CAP], old3[IDS_CAP], fresh[IDS_CAP], before[IDS_CAP], ids[IDS_CAP];
	struct actuate_result res;
	struct mig_layout want;
	struct kerf_err err;

	fk_edit(f, create_fn, ORIG);
	cdi_on(f);
	snprintf(away, sizeof(away), "%s/away", f->dir);
	assert_int_equal(rename(f->cdi_dir, away), 0);
	assert_null(try_start_agent(f, NULL, &err));
	assert_non_null(strstr(err.msg, "CDI spec"));
	assert_int_equal(rename(away, f->cdi_dir), 0);

	start_agent(f);
	assert_kubelet_sees_nvml(f);
	nvml_ids(f, R2, 2, kept2);
	nvml_ids(f, R3, -1, old3);
	spec_ids(f, before);
	assert_int_equal(rename(f->cdi_dir, away), 0);
	parse(f, MERGED, &want);
	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), -1);
	assert_non_null(strstr(err.msg, "CDI spec"));
	assert_non_null(strstr(err.msg, "new MIG devices not advertised"));
	assert_layout(f, MERGED);
	nvml_ids(f, R2, 0, fresh);
	wait_last_list(f, R2, kept2); /* the new 2g.20gb@0 is not there */
	wait_last_list(f, R1, "");    /* the destroyed stay gone */
	last_list(f, R3, ids);
	assert_string_equal(ids, old3);
	assert_int_equal(rename(away, f->cdi_dir), 0);
	spec_ids(f, ids);
	assert_string_equal(ids, before); /* untouched */

	if (agent_node_refresh(f->agent, &err) < 0)
		fail_msg("%s", err.msg);
	assert_kubelet_sees_nvml(f);
	spec_ids(f, ids);
	assert_non_null(strstr(ids, fresh));
}

/*
 * A device whose capability minor is missing from the driver's table is left out of the spec and not
 * advertised (never advertised with a wrong node); the others are. Once the table has it, a refresh
 * advertises it.
 */
static void test_cdi_device_without_minors_is_not_advertised(void **state)
{
	struct fixture *f = *state;
	char skip[64], big[IDS_CAP], ids[IDS_CAP];
	struct kerf_err err;

	fk_edit(f, create_fn, ORIG);
	cdi_on(f);
	snprintf(skip, sizeof(skip), "gpu%u/gi%u/access", fk_gpu_minor(0), gi_at(f, 4));
	write_minors(f, skip);
	start_agent(f);
	nvml_ids(f, R1, -1, ids);
	wait_last_list(f, R1, ids);
	nvml_ids(f, R2, -1, ids);
	wait_last_list(f, R2, ids);
	last_list(f, R3, ids);
	assert_string_equal(ids, "-"); /* never advertised */
	nvml_ids(f, R3, -1, big);
	spec_ids(f, ids);
	assert_null(strstr(ids, big));

	write_minors(f, NULL);
	if (agent_node_refresh(f->agent, &err) < 0)
		fail_msg("%s", err.msg);
	assert_kubelet_sees_nvml(f);
	spec_ids(f, ids);
	assert_non_null(strstr(ids, big));
}

/* ---------------------------------------------------------------- the race */

/*
 * The kubelet side of the race: admits pods asking for the devices being destroyed, as fast as it can,
 * while the main thread re-lays the GPU out. Like the kubelet's device manager, it records a device as
 * allocated before it asks the plugin (so pod-resources reports it while the Allocate is in flight) and
 * drops the record if the plugin refuses.
 */
struct refused_call {
	unsigned t;       /* index in targets */
	long long t0, t1; /* sent, answer read */
};

struct kubelet_sim {
	struct fixture *f;
	unsigned n_targets;
	char targets[8][NVML_UUID_MAX];
	char target_res_buf[8][MIG_RESOURCE_MAX];
	const char *target_res[8];
	unsigned delay_us;
	/* late: wait until the actuator is about to destroy the first doomed device (its checks are over, it is
	 * withdrawn), then ask for that device only, at least once: every such call must be refused, and, as
	 * nothing the apply still checks is asked for, the apply goes through */
	bool late;
	atomic_bool stop;
	/* results */
	unsigned n_held;
	char held[8][NVML_UUID_MAX];
	const char *held_res[8];
	long long held_start[8], held_end[8]; /* the granted Allocate call: sent, answer read */
	unsigned calls, refused;
	unsigned n_ref; /* refused calls (the first 512) */
	struct refused_call ref[512];
	bool broken; /* the stand-in did not answer a pod-resources update */
};

static bool is_held(const struct kubelet_sim *k, const char *uuid)
{
	for (unsigned i = 0; i < k->n_held; i++)
		if (strcmp(k->held[i], uuid) == 0)
			return true;
	return false;
}

static void *kubelet_sim_run(void *arg)
{
	struct kubelet_sim *k = arg;

	nanosleep(&(struct timespec){.tv_nsec = (long)k->delay_us * 1000L}, NULL);
	while (k->late && atomic_load(&k->f->destroys) == 0) {
		if (atomic_load(&k->stop))
			return NULL;
		nanosleep(&(struct timespec){.tv_nsec = 100000L}, NULL);
	}
	for (unsigned i = 0; i == 0 || !atomic_load(&k->stop); i++) {
		unsigned t = k->late ? 0 : i % k->n_targets;
		long long start;
		json_t *r;

		if (k->n_held == k->n_targets) { /* every doomed device is held: the apply must give up */
			nanosleep(&(struct timespec){.tv_nsec = 100000L}, NULL);
			continue;
		}
		if (is_held(k, k->targets[t]))
			continue;
		memcpy(k->held[k->n_held], k->targets[t], NVML_UUID_MAX);
		k->held_res[k->n_held] = k->target_res[t];
		k->broken |= !podres_send(&k->f->peer, k->held, k->held_res, k->n_held + 1);
		start = peer_mono_ns();
		r = peer_call(&k->f->peer, "{\"op\":\"allocate\",\"resource\":\"%s\",\"ids\":[\"%s\"]}",
			      k->target_res[t], k->targets[t]);
		k->calls++;
		if (r != NULL && json_is_true(json_object_get(r, "ok"))) {
			k->held_end[k->n_held] = peer_mono_ns();
			k->held_start[k->n_held++] = start;
		} else {
			if (k->n_ref < 512)
				k->ref[k->n_ref++] = (struct refused_call){.t = t, .t0 = start, .t1 = peer_mono_ns()};
			k->refused++;
			k->broken |= !podres_send(&k->f->peer, k->held, k->held_res, k->n_held);
		}
	}
	return NULL;
}

/* True if an Allocate call that ran from t0 to t1 (as the test saw it: it was decided in between) ran
 * entirely while the device was withdrawn: after the withdraw returned and before the agent began to give
 * the device back (which it does when the destroy did not happen). Such a call must have been refused. */
static bool withdrawn_during(const struct stamp *s, long long t0, long long t1)
{
	return s->returned != 0 && t0 >= s->returned && (s->reinstated == 0 || t1 <= s->reinstated);
}

/* The instances of GPU 0 in `from` that `to` lacks, as (uuid, resource). */
static void doomed(struct fixture *f, const char *from_text, const char *to_text, struct kubelet_sim *k)
{
	const struct mig_model *m = agent_node_model(f->agent, 0);
	struct mig_layout a, b;

	parse(f, from_text, &a);
	parse(f, to_text, &b);
	k->n_targets = 0;
	for (unsigned i = 0; i < a.n; i++) {
		bool kept = false;

		for (unsigned j = 0; j < b.n; j++)
			kept |= a.inst[i].profile == b.inst[j].profile && a.inst[i].start == b.inst[j].start;
		if (kept)
			continue;
		assert_int_equal(mig_resource_name(m->profiles[a.inst[i].profile].name, k->target_res_buf[k->n_targets],
						   MIG_RESOURCE_MAX), 0);
		k->target_res[k->n_targets] = k->target_res_buf[k->n_targets];
		nvml_ids(f, k->target_res[k->n_targets], a.inst[i].start, k->targets[k->n_targets]);
		k->n_targets++;
	}
}

/*
 * While a re-layout runs (each destroy slowed by 2 ms in the simulated driver to widen the window), the
 * kubelet keeps asking for the devices being destroyed. Whatever the interleaving: no Allocate that
 * started after the device's withdraw returned succeeds; every device handed out still exists in NVML
 * afterwards (so the apply was refused and rolled back, or never got to it); the GPU is in exactly the
 * desired or the original layout; and the kubelet's lists equal what NVML holds. The layouts alternate,
 * so each round destroys the other round's creations. Seed printed; KERF_AGENT_SEED, KERF_AGENT_ROUNDS.
 *
 * The agent's Allocate grace period is RACE_GRACE_MS, and each round ends with a pause longer than it: with
 * the 30 s default, one granted device refused every later round at planning, before the kubelet thread
 * started, and the race was not run at all. Every fourth round (round 0 first) the kubelet is late, so that
 * whatever the timing (valgrind's 5 rounds too) some re-layout applies and some Allocate lands inside a
 * withdraw window and is refused; the test asserts both over the rounds.
 */
#define RACE_GRACE_MS 30

static void test_allocate_racing_a_relayout_never_gets_a_destroyed_device(void **state)
{
	struct fixture *f = *state;
	const char *layouts[2] = {"1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,3g.40gb@4", MERGED};
	unsigned seed = getenv("KERF_AGENT_SEED") ? (unsigned)atoi(getenv("KERF_AGENT_SEED")) : 20261201u; /* fixed: a failure reruns as it was */
	unsigned rounds = getenv("KERF_AGENT_ROUNDS") ? (unsigned)atoi(getenv("KERF_AGENT_ROUNDS")) : 40;
	unsigned applied = 0, aborted = 0, calls = 0, granted = 0, refused = 0, in_window = 0, round_in_window;
	unsigned contested = 0; /* applied rounds in which Allocates were refused inside a withdraw window */
	unsigned cur = 0;

	printf("race: seed %u (KERF_AGENT_SEED), %u rounds, Allocate grace %d ms\n", seed, rounds, RACE_GRACE_MS);
	srand(seed);
	fk_edit(f, create_fn, (void *)layouts[0]);
	f->grace_ms = RACE_GRACE_MS;
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	fault(f, "nvmlGpuInstanceDestroy", 0, FK_DELAY, 0, 2000);
	for (unsigned round = 0; round < rounds; round++) {
		struct kubelet_sim k = {.f = f, .delay_us = (unsigned)rand() % 16000, .late = round % 4 == 0};
		const char *want_text = layouts[1 - cur];
		struct actuate_result res;
		struct mig_layout want;
		struct kerf_err err;
		pthread_t th;
		int rc;

		doomed(f, layouts[cur], want_text, &k);
		parse(f, want_text, &want);
		f->n_stamps = 0;
		atomic_store(&f->destroys, 0);
		if (k.late)
			k.delay_us = 0;
		assert_int_equal(pthread_create(&th, NULL, kubelet_sim_run, &k), 0);
		rc = agent_node_apply(f->agent, 0, &want, &res, &err);
		atomic_store(&k.stop, true);
		pthread_join(th, NULL);
		assert_false(k.broken);

		for (unsigned h = 0; h < k.n_held; h++) {
			for (unsigned w = 0; w < f->n_stamps; w++)
				if (strcmp(f->stamps[w].uuid, k.held[h]) == 0 &&
				    withdrawn_during(&f->stamps[w], k.held_start[h], k.held_end[h]))
					fail_msg("round %u (seed %u): %s allocated by a call that started %lld ns after its "
						 "withdraw returned (and before it was given back)", round, seed, k.held[h],
						 k.held_start[h] - f->stamps[w].returned);
			if (!nvml_has(f, k.held[h]))
				fail_msg("round %u (seed %u): %s was handed out to a pod and no longer exists",
					 round, seed, k.held[h]);
		}
		round_in_window = 0;
		for (unsigned r = 0; r < k.n_ref; r++)
			for (unsigned w = 0; w < f->n_stamps; w++)
				if (strcmp(f->stamps[w].uuid, k.targets[k.ref[r].t]) == 0 &&
				    withdrawn_during(&f->stamps[w], k.ref[r].t0, k.ref[r].t1)) {
					round_in_window++;
					break;
				}
		in_window += round_in_window;
		if (k.late && (k.n_held != 0 || (atomic_load(&f->destroys) > 0 && round_in_window == 0)))
			fail_msg("round %u (seed %u): an Allocate of a device about to be destroyed was %s", round, seed,
				 k.n_held ? "granted" : "not made inside its withdraw window");
		if (rc == 0) {
			assert_int_equal(k.n_held, 0);
			assert_layout(f, want_text);
			cur = 1 - cur;
			applied++;
			contested += round_in_window > 0;
		} else {
			assert_int_equal(err.code, KERF_EBUSY);
			assert_layout(f, layouts[cur]);
			aborted++;
		}
		fk_read(f);
		assert_int_equal(st.violations, 0);
		assert_kubelet_sees_nvml(f);
		calls += k.calls;
		granted += k.n_held;
		refused += k.refused;
		podres_set(&f->peer, NULL, NULL, 0); /* the pods end */
		/* and their Allocates stop counting once the grace period is over */
		nanosleep(&(struct timespec){.tv_nsec = (RACE_GRACE_MS + 5) * 1000000L}, NULL);
	}
	printf("race: %u rounds: %u applied (%u of them while Allocates were refused inside a withdraw window), "
	       "%u refused or rolled back; %u Allocate calls on doomed devices: %u granted (all still exist), %u "
	       "refused (%u of them ran entirely while the device was withdrawn)\n",
	       rounds, applied, contested, aborted, calls, granted, refused, in_window);
	assert_true(no_journal(f));
	/* The race was run, not dodged: re-layouts went through, and Allocates landed while a device was
	 * withdrawn and were refused. Round 0 (a late kubelet) makes both hold from one round on. */
	if (rounds > 0 && (applied == 0 || in_window == 0))
		fail_msg("seed %u: %u of %u rounds applied, %u Allocates refused inside a withdraw window: the race did not "
			 "happen", seed, applied, rounds, in_window);
}

/* ---------------------------------------------------------------- NVIDIA-plugin mode */

/*
 * A stand-in for NVIDIA's device plugin: a child process whose argv[0] is "nvidia-device-plugin" in a
 * /proc-like folder the agent is pointed at. It writes 'H' to a pipe for every SIGHUP, and 'E' and exits on
 * SIGUSR1 (Linux delivers the lower-numbered pending signal first, so every SIGHUP sent before the SIGUSR1
 * is counted).
 */
struct nvidia_standin {
	pid_t pid;
	int rd;
	char proc_root[128];
};

static void nvidia_standin_start(struct fixture *f, struct nvidia_standin *n)
{
	char path[256];
	int fds[2];
	sigset_t set;
	FILE *fp;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pipe(fds), 0);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited: no signal is lost before the child waits */
	n->pid = fork();
	assert_true(n->pid >= 0);
	if (n->pid == 0) {
		int sig = 0;

		close(fds[0]);
		alarm(120); /* never outlives a broken test */
		for (;;) {
			if (sigwait(&set, &sig) != 0)
				_exit(1);
			if (write(fds[1], sig == SIGHUP ? "H" : "E", 1) != 1 || sig != SIGHUP)
				_exit(0);
		}
	}
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	close(fds[1]);
	n->rd = fds[0];
	snprintf(n->proc_root, sizeof(n->proc_root), "%s/proc", f->dir);
	assert_int_equal(mkdir(n->proc_root, 0755), 0);
	snprintf(path, sizeof(path), "%s/%d", n->proc_root, (int)n->pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%d/cmdline", n->proc_root, (int)n->pid);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("/usr/bin/nvidia-device-plugin\0--mig-strategy=mixed\0", 1, 51, fp);
	fclose(fp);
	/* PID 1 the host's init: the agent runs in the host's PID namespace (the chart's hostPID) */
	snprintf(path, sizeof(path), "%s/1", n->proc_root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/1/cmdline", n->proc_root);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite("/sbin/init\0", 1, 11, fp);
	fclose(fp);
}

/* Whether the kubelet stand-in logged an event named ev (after a round trip, so nothing is in flight). */
static bool peer_saw(struct fixture *f, const char *ev)
{
	assert_non_null(peer_call(&f->peer, "{\"op\":\"mono\"}"));
	for (size_t i = 0; i < peer_events(&f->peer); i++) {
		const char *e = json_string_value(json_object_get(json_array_get(f->peer.log, i), "ev"));

		if (e != NULL && strcmp(e, ev) == 0)
			return true;
	}
	return false;
}

/* Stops the stand-in and returns how many SIGHUPs it received in all. */
static unsigned nvidia_standin_stop(struct nvidia_standin *n)
{
	char buf[64];
	unsigned hups = 0;
	bool ended = false;
	ssize_t got;
	int status;

	assert_int_equal(kill(n->pid, SIGUSR1), 0);
	while ((got = read(n->rd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++) {
			hups += buf[i] == 'H';
			ended |= buf[i] == 'E';
		}
	close(n->rd);
	assert_int_equal(waitpid(n->pid, &status, 0), n->pid);
	assert_true(ended);
	return hups;
}

/*
 * NVIDIA-plugin mode: kerf registers no resource of its own; a re-layout still destroys only free
 * instances (pod-resources checked), and NVIDIA's plugin is told to re-read the devices once per change
 * of the device set: not at start, not for an apply that changes nothing, not for a refused one.
 */
static void test_nvidia_plugin_mode_relayouts_and_makes_nvidia_reread(void **state)
{
	struct fixture *f = *state;
	struct nvidia_standin nv;
	char held[1][NVML_UUID_MAX];
	const char *const res2[] = {R2};
	struct actuate_result res;
	struct mig_layout want, orig;
	struct kerf_err err;

	fk_edit(f, create_fn, ORIG);
	nvidia_standin_start(f, &nv);
	start_agent_mode(f, nv.proc_root);

	parse(f, MERGED, &want);
	if (agent_node_apply(f->agent, 0, &want, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.outcome, ACTUATE_APPLIED);
	assert_layout(f, MERGED);
	assert_int_equal(f->withdraws, 0); /* nothing of kerf's advertised them */

	assert_int_equal(agent_node_apply(f->agent, 0, &want, &res, &err), 0);
	assert_int_equal(res.outcome, ACTUATE_UNCHANGED);

	/* a pod holds the 2g.20gb at 0: going back to ORIG would destroy it, so the apply is refused */
	nvml_ids(f, R2, 0, held[0]);
	podres_set(&f->peer, held, res2, 1);
	parse(f, ORIG, &orig);
	assert_int_equal(agent_node_apply(f->agent, 0, &orig, &res, &err), -1);
	assert_int_equal(err.code, KERF_EBUSY);
	assert_layout(f, MERGED);

	assert_int_equal(nvidia_standin_stop(&nv), 1);
	fk_read(f);
	assert_int_equal(st.violations, 0);
	/* kerf's own plugin never ran: the kubelet saw no registration and no list from it */
	assert_false(peer_saw(f, "register"));
	assert_false(peer_saw(f, "list"));
}

/* ---------------------------------------------------------------- kerf apply on a node with a kubelet */

/* Runs `kerf apply --gpu 0 --layout LAYOUT [more]` against the simulated GPU; its exit status. */
static int kerf_apply(struct fixture *f, const char *layout, const char *more)
{
	char cmd[2048];
	int status;

	snprintf(cmd, sizeof(cmd),
		 "KERF_NVML_LIBRARY='%s' KERF_FAKENVML_STATE='%s' '%s' apply --gpu 0 --layout '%s' --state-dir '%s' "
		 "--plugin-dir '%s' %s >'%s/apply.out' 2>'%s/apply.err'",
		 FAKENVML_LIB, f->state, KERF_BIN, layout, f->journals, f->dir, more, f->dir, f->dir);
	status = system(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool apply_err_has(struct fixture *f, const char *text)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "grep -qF -- '%s' '%s/apply.err'", text, f->dir);
	return system(cmd) == 0;
}

/*
 * `kerf apply` by hand on a node with a kubelet: pod-resources is asked, so a device a pod holds (no
 * process running in it yet) is never destroyed and the apply is refused; once the pod is gone the same
 * apply goes through. A --pod-resources that is not a socket is a usage error, and nothing changes.
 */
static void test_kerf_apply_asks_the_kubelet_and_never_destroys_a_held_device(void **state)
{
	struct fixture *f = *state;
	char held[1][NVML_UUID_MAX], more[256];
	const char *const res1[] = {R1};

	fk_edit(f, create_fn, ORIG);
	nvml_ids(f, R1, 1, held[0]);
	podres_set(&f->peer, held, res1, 1);
	snprintf(more, sizeof(more), "--pod-resources '%s'", f->podres);

	assert_int_equal(kerf_apply(f, MERGED, more), 1);
	assert_true(apply_err_has(f, "refused"));
	assert_true(apply_err_has(f, "1g.10gb@1"));
	assert_layout(f, ORIG);

	snprintf(more, sizeof(more), "--pod-resources '%s' --dry-run", f->podres);
	assert_int_equal(kerf_apply(f, MERGED, more), 1);
	assert_layout(f, ORIG);

	snprintf(more, sizeof(more), "--pod-resources '%s/no-such.sock'", f->dir);
	assert_int_equal(kerf_apply(f, MERGED, more), 2);
	assert_true(apply_err_has(f, "--pod-resources"));
	assert_layout(f, ORIG);

	podres_set(&f->peer, NULL, NULL, 0); /* the pod ends */
	snprintf(more, sizeof(more), "--pod-resources '%s'", f->podres);
	assert_int_equal(kerf_apply(f, MERGED, more), 0);
	assert_layout(f, MERGED);
	fk_read(f);
	assert_int_equal(st.violations, 0);
	assert_true(no_journal(f));
}

/*
 * Withdraw-before-destroy binds `kerf apply` too: while kerf's agent serves the devices (its endpoints in the
 * plugin folder accept connections), a hand-made apply changes nothing, since only the agent can withdraw a
 * device; a dry run still answers. Once the agent is gone (its sockets go; a socket file nobody listens on
 * does not count) the same apply goes through.
 */
static void test_kerf_apply_refuses_while_the_agent_serves_the_devices(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char more[256];
	int fd;

	fk_edit(f, create_fn, ORIG);
	start_agent(f);
	assert_kubelet_sees_nvml(f);
	snprintf(more, sizeof(more), "--pod-resources '%s'", f->podres);
	assert_int_equal(kerf_apply(f, MERGED, more), 1);
	assert_true(apply_err_has(f, "agent serves this node"));
	assert_true(apply_err_has(f, "nothing was changed"));
	assert_layout(f, ORIG);
	snprintf(more, sizeof(more), "--pod-resources '%s' --dry-run", f->podres);
	assert_int_equal(kerf_apply(f, MERGED, more), 0);
	assert_layout(f, ORIG);

	agent_node_stop(f->agent);
	f->agent = NULL;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/kerf-mig-left-behind.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)&sa, sizeof(sa)), 0); /* bound, never listening */
	close(fd);
	snprintf(more, sizeof(more), "--pod-resources '%s'", f->podres);
	assert_int_equal(kerf_apply(f, MERGED, more), 0);
	assert_layout(f, MERGED);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_adopts_existing_instances_and_publishes_them_unchanged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_relayout_destroys_free_instances_and_the_kubelet_gets_the_new_lists,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_device_the_kubelet_checkpoint_holds_is_never_destroyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocated_device_is_never_destroyed_and_the_apply_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_create_rolls_back_and_the_plugin_advertises_what_exists,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failed_destroy_rolls_back_and_the_surviving_device_is_advertised_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_finishes_a_run_killed_half_way_then_publishes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_relayout_of_one_gpu_leaves_the_other_gpu_and_its_devices_alone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh_publishes_an_instance_created_by_someone_else, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_allocate_racing_a_relayout_never_gets_a_destroyed_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nvidia_plugin_mode_relayouts_and_makes_nvidia_reread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kerf_apply_asks_the_kubelet_and_never_destroys_a_held_device,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kerf_apply_refuses_while_the_agent_serves_the_devices, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_an_agent_blind_to_host_processes_destroys_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cdi_spec_lists_new_devices_before_the_kubelet_sees_them, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cdi_spec_write_failure_keeps_new_devices_unadvertised, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cdi_device_without_minors_is_not_advertised, setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s KUBELET_STANDIN\n", argv[0]);
		return 2;
	}
	standin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
