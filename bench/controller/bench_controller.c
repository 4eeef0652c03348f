/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_controller.c — one round of kerf's controller at cluster scale, against a real kube-apiserver.
 *
 *   bench_controller --kubeconfig FILE [--nodes N] [--pods P] [--namespaces K] [--used-pct U] [--threads T]
 *                    [--seed S] [--rounds R] [--write-concurrency W] [--no-load | --load-only] [--log FILE]
 *
 * What it measures, and how:
 *   1. Load. N Nodes as a kubelet leaves them (Ready; the not-ready taint the API server puts on a new Node
 *      replaced by the GPU taint GPU nodes usually carry) and their MigLayouts with a status as the agent
 *      writes it (8 H100 GPUs, each cut in one of a fixed set of layouts checked against src/mig's rules, U %
 *      of the instances used), then P pending pods asking for one nvidia.com/mig-<profile> each (mostly
 *      1g/2g/3g, a tenth 7g), spread over K namespaces. T threads create them, each with a kube_client of its
 *      own (a client serializes its requests). Everything is drawn from a hash of (seed, object, field), so a
 *      run with the same sizes makes the same cluster whatever order the threads take. Creating an object that
 *      exists is not an error, and the patches are idempotent: a load that stopped half way can be run again.
 *      The load runs in a child process, so that its buffers do not count in the round's memory figures.
 *   2. The round, in this process, the way `kerf controller --once` runs it: controller_start() (its informers
 *      list and watch pending pods, MigLayouts, Nodes and bound pods; it returns once all have synced), then
 *      one controller_step(). The controller's log events are captured with their times: msg=planned
 *      comes right after plan_run() and carries its time (duration_ms), each msg="spec written" follows one
 *      spec write, and msg=round closes the round. So the round splits into lease + snapshot, plan,
 *      spec writes, and Events (tell_recut, tell_unplaced) without touching the controller. With R > 1 the
 *      later rounds follow 2 s apart, once the first round's writes have come back through the watch: no
 *      agent applies the specs, so they show what each later round costs (the controller runs one every
 *      --interval even when nothing changes) and whether the plan stays put.
 *   3. Memory: getrusage()'s peak RSS, /proc's current RSS and malloc's bytes in use before the controller
 *      starts, after the sync and after the round. The growth over the sync, per cached object, is what the
 *      caches cost; the peak says what the controller's memory limit must allow.
 *
 * No figure is asserted: this is a benchmark (bench/controller/run.sh), never a test. docs/controller.md
 * records what it printed. kube-scheduler should not run beside it: no node advertises a MIG device here, so it
 * would only try, fail and retry each of the P pods against every node, on the same cores.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "controller.h"
#include "kube.h"
#include "mig.h"

#define H100 "NVIDIA H100 80GB HBM3"
#define GPUS_PER_NODE 8
#define LEASE_NS "kerf-bench"     /* the controller's Lease */
#define POD_NS "kerf-bench-pods-" /* + 0..K-1: the pods' namespaces */
#define NODE_PREFIX "bench-gpu-"
#define MAX_NAMESPACES 64
#define ATTEMPTS 5

struct opts {
	const char *kubeconfig, *log_file;
	long nodes, pods, namespaces, threads, used_pct, rounds, write_concurrency;
	uint64_t seed;
	bool load, round;
};

/* ---- deterministic draws ---- */

/* A 64-bit mix of (seed, what, i, k): the same object gets the same draw whichever thread makes it. */
static uint64_t draw(uint64_t seed, uint64_t what, uint64_t i, uint64_t k)
{
	uint64_t z = seed ^ (what * 0x9e3779b97f4a7c15ull) ^ (i * 0xbf58476d1ce4e5b9ull) ^ (k * 0x94d049bb133111ebull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

enum { D_LAYOUT = 1, D_USED, D_UUID, D_PROFILE };

/*
 * The GPU layouts nodes start in: common cuts of an H100, from uncut to seven 1g.10gb. Each is parsed and
 * checked against the catalog's rules at start (check_layouts), so a typo cannot load an impossible cluster.
 */
static const char *const layouts[] = {
	"-",
	"7g.80gb@0",
	"4g.40gb@0,3g.40gb@4",
	"3g.40gb@0,3g.40gb@4",
	"4g.40gb@0,2g.20gb@4,1g.10gb@6",
	"3g.40gb@0,2g.20gb@4,1g.10gb@6",
	"3g.40gb@0,1g.10gb@4,1g.10gb@5,1g.10gb@6",
	"2g.20gb@0,2g.20gb@2,2g.20gb@4,1g.10gb@6",
	"1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,1g.10gb@4,1g.10gb@5,1g.10gb@6",
};
#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static struct mig_layout parsed[N_LAYOUTS];
static const struct mig_model *h100;

static int check_layouts(struct kerf_err *err)
{
	if ((h100 = mig_catalog_find(mig_catalog_builtin(), H100, err)) == NULL)
		return -1;
	for (size_t i = 0; i < N_LAYOUTS; i++)
		if (mig_layout_parse(h100, layouts[i], &parsed[i], err) < 0 || mig_layout_check(h100, &parsed[i], err) < 0)
			return kerf_err_prefix(err, "layout \"%s\"", layouts[i]);
	return 0;
}

/* What pods ask for, in percent: mostly small slices, a tenth whole GPUs. */
static const struct {
	const char *profile;
	unsigned pct;
} mix[] = {{"1g.10gb", 40}, {"2g.20gb", 30}, {"3g.40gb", 20}, {"7g.80gb", 10}};

static const char *pod_profile(uint64_t seed, long i)
{
	unsigned r = (unsigned)(draw(seed, D_PROFILE, (uint64_t)i, 0) % 100), acc = 0;

	for (size_t k = 0; k < sizeof(mix) / sizeof(mix[0]); k++)
		if (r < (acc += mix[k].pct))
			return mix[k].profile;
	return mix[0].profile;
}

/* ---- the objects ---- */

static void node_name(long i, char *out, size_t cap)
{
	snprintf(out, cap, NODE_PREFIX "%05ld", i);
}

static void now_rfc3339(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A Node as its kubelet registers it: labels, capacity, Ready. The API server keeps status on create. */
static json_t *make_node(const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s, s:s, s:s}},"
			 " s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s}]}}",
			 "apiVersion", "v1", "kind", "Node", "metadata", "name", name, "labels", "kubernetes.io/hostname",
			 name, "kubernetes.io/os", "linux", "nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3",
			 "nvidia.com/mig.capable", "true", "kerf.dev/bench", "true", "status", "capacity", "cpu", "128",
			 "memory", "2Ti", "pods", "110", "allocatable", "cpu", "126", "memory", "2000Gi", "pods", "110",
			 "conditions", "type", "Ready", "status", "True", "reason", "KubeletReady", "message",
			 "kubelet is posting ready status");
}

/*
 * kube-controller-manager's part, which does not run here: the API server gives a new Node the taint
 * node.kubernetes.io/not-ready:NoSchedule, and the node lifecycle controller lifts it once the Node is Ready.
 * The taints are replaced by the one GPU nodes usually carry (the pods tolerate it).
 */
static json_t *node_taints(void)
{
	return json_pack("{s:{s:[{s:s, s:s, s:s}]}}", "spec", "taints", "key", "nvidia.com/gpu", "value", "present",
			 "effect", "NoSchedule");
}

static json_t *make_miglayout(const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "kerf.dev/v1alpha1", "kind", "MigLayout",
			 "metadata", "name", name, "spec", "gpus");
}

/* GPU g of node i as the agent reports it: model, index, every instance {profile, start, uuid, used}. */
static json_t *status_gpu(uint64_t seed, long used_pct, long i, unsigned g)
{
	const struct mig_layout *l = &parsed[draw(seed, D_LAYOUT, (uint64_t)i, g) % N_LAYOUTS];
	json_t *insts = json_array();

	for (unsigned k = 0; k < l->n; k++) {
		uint64_t u = draw(seed, D_UUID, (uint64_t)i, g * 16 + k);
		char uuid[64];

		snprintf(uuid, sizeof(uuid), "MIG-%08x-%04x-%04x-%04x-%012llx", (unsigned)(u >> 32), (unsigned)(u >> 16) & 0xffff,
			 (unsigned)u & 0xffff, g * 16 + k, (unsigned long long)(u & 0xffffffffffffull));
		json_array_append_new(insts, json_pack("{s:s, s:i, s:s, s:b}", "profile", h100->profiles[l->inst[k].profile].name,
						       "start", (int)l->inst[k].start, "uuid", uuid, "used",
						       (long)(draw(seed, D_USED, (uint64_t)i, g * 16 + k) % 100) < used_pct));
	}
	return json_pack("{s:i, s:s, s:o}", "index", (int)g, "model", H100, "instances", insts);
}

static json_t *condition(const char *type, bool ok, const char *when)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", type, "status", ok ? "True" : "False",
			 "observedGeneration", 1, "reason", "Applied", "message",
			 ok ? "every GPU the spec lists has its layout" : "", "lastTransitionTime", when);
}

/* The status patch the agent would have written for the created object (generation 1). */
static json_t *miglayout_status(uint64_t seed, long used_pct, long i)
{
	json_t *gpus = json_array();
	char now[40];

	now_rfc3339(now, sizeof(now));
	for (unsigned g = 0; g < GPUS_PER_NODE; g++)
		json_array_append_new(gpus, status_gpu(seed, used_pct, i, g));
	return json_pack("{s:{s:i, s:i, s:o, s:[o, o, o], s:s}}", "status", "observedGeneration", 1, "gpuCount",
			 GPUS_PER_NODE, "gpus", gpus, "conditions", condition("Ready", true, now),
			 condition("Applied", true, now), condition("Failed", false, now), "heartbeat", now);
}

/* A training pod as a Job would make it: labels, one container with a MIG slice, CPU and memory, the GPU
 * toleration, a log-shipping sidecar. */
static json_t *make_pod(uint64_t seed, long i, long namespaces, char *ns, size_t ns_cap)
{
	char name[64], res[64], job[64];

	snprintf(ns, ns_cap, POD_NS "%ld", i % namespaces);
	snprintf(name, sizeof(name), "train-%06ld", i);
	snprintf(job, sizeof(job), "train-%05ld", i / 8);
	snprintf(res, sizeof(res), "nvidia.com/mig-%s", pod_profile(seed, i));
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}},"
			 " s:{s:s, s:s, s:[{s:s, s:s, s:[s, s], s:{s:{s:s, s:s, s:s}, s:{s:s, s:s}}, s:[{s:s, s:s}]},"
			 "                           {s:s, s:s, s:{s:{s:s, s:s}}}],"
			 "    s:[{s:s, s:s, s:s}]}}",
			 "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", ns, "labels", "app", "train",
			 "job-name", job, "kerf.dev/bench", "true", "spec", "schedulerName", "default-scheduler",
			 "restartPolicy", "Never", "containers", "name", "trainer", "image",
			 "registry.example.com/vision/trainer:2026.11.1", "command", "python", "train.py", "resources",
			 "limits", res, "1", "cpu", "8", "memory", "64Gi", "requests", "cpu", "8", "memory", "64Gi", "env",
			 "name", "NCCL_DEBUG", "value", "WARN", "name", "sidecar", "image",
			 "registry.example.com/tools/log-shipper:1.4", "resources", "limits", "cpu", "100m", "memory",
			 "128Mi", "tolerations", "key", "nvidia.com/gpu", "operator", "Exists", "effect", "NoSchedule");
}

/* ---- requests with retries ---- */

/* Requests tried again after a transient failure (429, 503, timeouts): how hard the load pushed the server. */
static atomic_long retries;

static bool transient(const struct kerf_err *err)
{
	return err->code == KERF_EIO || err->code == KERF_ETIMEOUT || err->code == KERF_EBUSY;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Creates obj; one that exists already counts as made. Transient failures are tried again. */
static int create(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		  struct kerf_err *err)
{
	for (int a = 1;; a++) {
		json_t *out = kube_create(c, r, ns, obj, err);

		json_decref(out);
		if (out != NULL || err->code == KERF_ECONFLICT)
			return 0;
		if (!transient(err) || a == ATTEMPTS)
			return -1;
		atomic_fetch_add(&retries, 1);
		sleep_ms(200L * a);
	}
}

static int patch(struct kube_client *c, const struct kube_resource *r, const char *name, const json_t *p, bool status,
		 struct kerf_err *err)
{
	for (int a = 1;; a++) {
		json_t *out = kube_patch(c, r, NULL, name, KUBE_PATCH_MERGE, p, status, err);

		json_decref(out);
		if (out != NULL)
			return 0;
		if (!transient(err) || a == ATTEMPTS)
			return -1;
		atomic_fetch_add(&retries, 1);
		sleep_ms(200L * a);
	}
}

/* ---- time and memory ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(clockid_t which)
{
	struct timespec ts;

	clock_gettime(which, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct mem {
	long rss_kib, peak_kib, heap_kib; /* heap_kib: malloc's bytes in use (mallinfo2), not the freed ones it keeps */
};

static struct mem mem_now(void)
{
	struct mallinfo2 mi = mallinfo2(); /* every arena: the informers' threads allocate in their own */
	struct mem m = {-1, -1, (long)((mi.uordblks + mi.hblkhd) / 1024)};
	struct rusage ru;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &m.rss_kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		m.peak_kib = ru.ru_maxrss;
	return m;
}

static struct kube_client *client(const char *kubeconfig, long timeout_ms, struct kerf_err *err)
{
	struct kube_config cfg;
	struct kube_client *c;

	if (kube_config_load(kubeconfig, NULL, &cfg, err) < 0)
		return NULL;
	c = kube_client_new(&cfg, timeout_ms, err);
	kube_config_free(&cfg);
	return c;
}

/* ---- the load ---- */

/* Shared by the loading threads: the next object to make, how many are done, the first failure. */
struct load {
	const struct opts *o;
	const char *what; /* "nodes" or "pods" */
	long total, every;
	atomic_long next, done;
	atomic_int failed;
	double t0;
	pthread_mutex_t lock;
	struct kerf_err err;
};

/* Node i: the Node, its taints, its MigLayout, the agent's status. */
static int load_node(struct kube_client *c, const struct opts *o, long i, struct kerf_err *err)
{
	char name[64];
	json_t *node, *taints, *ml, *st;
	int rc;

	node_name(i, name, sizeof(name));
	node = make_node(name);
	taints = node_taints();
	ml = make_miglayout(name);
	st = miglayout_status(o->seed, o->used_pct, i);
	rc = create(c, &KUBE_NODES, NULL, node, err) < 0 || patch(c, &KUBE_NODES, name, taints, false, err) < 0 ||
			     create(c, &KUBE_MIGLAYOUTS, NULL, ml, err) < 0 ||
			     patch(c, &KUBE_MIGLAYOUTS, name, st, true, err) < 0
		     ? kerf_err_prefix(err, "node %s", name)
		     : 0;
	json_decref(node);
	json_decref(taints);
	json_decref(ml);
	json_decref(st);
	return rc;
}

static int load_pod(struct kube_client *c, const struct opts *o, long i, struct kerf_err *err)
{
	char ns[64];
	json_t *p = make_pod(o->seed, i, o->namespaces, ns, sizeof(ns));
	int rc = create(c, &KUBE_PODS, ns, p, err);

	json_decref(p);
	return rc;
}

static void progress(struct load *l, long done)
{
	double t = now_s() - l->t0;

	if (done % l->every == 0 || done == l->total)
		fprintf(stderr, "load: %ld/%ld %s in %.1f s (%.0f/s)\n", done, l->total, l->what, t, (double)done / t);
}

/* The first failure stops every thread; it is what the run reports. */
static void fail(struct load *l, const struct kerf_err *err)
{
	pthread_mutex_lock(&l->lock);
	if (!atomic_load(&l->failed)) {
		l->err = *err;
		atomic_store(&l->failed, 1);
	}
	pthread_mutex_unlock(&l->lock);
}

static void *loader(void *arg)
{
	struct load *l = arg;
	struct kerf_err err;
	struct kube_client *c = client(l->o->kubeconfig, 60000, &err);
	long i;

	if (c == NULL) {
		fail(l, &err);
		return NULL;
	}
	while (!atomic_load(&l->failed) && (i = atomic_fetch_add(&l->next, 1)) < l->total) {
		if ((strcmp(l->what, "nodes") == 0 ? load_node(c, l->o, i, &err) : load_pod(c, l->o, i, &err)) < 0) {
			fail(l, &err);
			break;
		}
		progress(l, atomic_fetch_add(&l->done, 1) + 1);
	}
	kube_client_free(c);
	return NULL;
}

/* Makes total objects of one kind with o->threads threads; prints the rate. */
static int load_all(const struct opts *o, const char *what, long total, struct kerf_err *err)
{
	pthread_t th[64];
	long n = o->threads < 64 ? o->threads : 64, started = 0;
	struct load l = {.o = o, .what = what, .total = total, .every = total >= 20000 ? 5000 : total >= 2000 ? 1000 : 100};
	double t;

	kerf_err_clear(&l.err);
	atomic_init(&l.next, 0);
	atomic_init(&l.done, 0);
	atomic_init(&l.failed, 0);
	pthread_mutex_init(&l.lock, NULL);
	l.t0 = now_s();
	while (started < n && pthread_create(&th[started], NULL, loader, &l) == 0)
		started++;
	for (long k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&l.lock);
	t = now_s() - l.t0;
	if (atomic_load(&l.failed) || started == 0) {
		*err = l.err;
		return kerf_err_prefix(err, "loading %s", what);
	}
	printf("load: %ld %s in %.1f s: %.0f %s/s with %ld threads\n", total, what, t, (double)total / t, what, started);
	return 0;
}

static int make_namespace(struct kube_client *c, const char *name, struct kerf_err *err)
{
	json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", name);
	json_t *out = kube_request(c, "POST", "/api/v1/namespaces", ns, "application/json", err);

	json_decref(ns);
	json_decref(out);
	return out != NULL || err->code == KERF_ECONFLICT ? 0 : -1;
}

static int load(const struct opts *o, struct kerf_err *err)
{
	struct kube_client *c = client(o->kubeconfig, 60000, err);
	double t0 = now_s();
	int rc = -1;

	if (c == NULL)
		return -1;
	if (make_namespace(c, LEASE_NS, err) < 0)
		goto out;
	for (long k = 0; k < o->namespaces; k++) {
		char ns[64];

		snprintf(ns, sizeof(ns), POD_NS "%ld", k);
		if (make_namespace(c, ns, err) < 0)
			goto out;
	}
	if (load_all(o, "nodes", o->nodes, err) < 0 || load_all(o, "pods", o->pods, err) < 0)
		goto out;
	printf("load: %ld nodes (4 requests each) and %ld pods in %.1f s; %ld requests retried\n", o->nodes, o->pods,
	       now_s() - t0, atomic_load(&retries));
	rc = 0;
out:
	kube_client_free(c);
	return rc;
}

/* The load in a child process: its threads, clients and buffers leave the round's RSS untouched. */
static int load_apart(const struct opts *o)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		struct kerf_err err;

		if (load(o, &err) < 0) {
			fprintf(stderr, "bench_controller: %s\n", err.msg);
			_exit(1);
		}
		fflush(stdout);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- the round ---- */

/* What the controller's log lines said, and when they came (seconds on now_s()). */
struct logs {
	FILE *file;       /* every line, or NULL */
	double t_planned; /* msg=planned (right after plan_run), 0 when no such line */
	long long plan_ms;
	unsigned changes, planned_pods;
	double t_last_write; /* the last msg="spec written" */
	unsigned writes, shown;
	double t_round; /* msg=round */
	double t0;      /* the step's start */
};

/* The value of field key in ev, or "". */
static const char *field(const struct kerf_log_event *ev, const char *key)
{
	for (unsigned i = 0; i < ev->n; i++)
		if (strcmp(ev->f[i].key, key) == 0)
			return ev->f[i].value;
	return "";
}

static void on_log(void *arg, const struct kerf_log_event *ev)
{
	struct logs *lg = arg;
	double t = now_s();
	bool write = strcmp(ev->msg, "spec written") == 0;
	char *line = kerf_log_format_line(KERF_LOG_TEXT, "-", NULL, ev);

	if (line == NULL)
		return;
	line[strcspn(line, "\n")] = '\0';
	if (lg->file != NULL)
		fprintf(lg->file, "%.3f %s\n", t - lg->t0, line);
	if (strcmp(ev->msg, "planned") == 0) {
		lg->changes = (unsigned)atoi(field(ev, "changes"));
		lg->planned_pods = (unsigned)atoi(field(ev, "pods"));
		lg->plan_ms = atoll(field(ev, "duration_ms"));
		lg->t_planned = t;
	} else if (strcmp(ev->msg, "round") == 0) {
		lg->t_round = t;
	}
	if (write) {
		lg->writes++;
		lg->t_last_write = t;
	}
	if (!write || lg->shown++ < 3) /* one event per spec written: the first few show the form */
		fprintf(stderr, "controller +%.3f s: %s\n", t - lg->t0, line);
	free(line);
}

static double mib(long kib)
{
	return (double)kib / 1024.0;
}

static void report_memory(const char *when, struct mem m)
{
	printf("memory %s: RSS %.1f MiB (heap in use %.1f MiB), peak RSS (ru_maxrss) %.1f MiB\n", when, mib(m.rss_kib),
	       mib(m.heap_kib), mib(m.peak_kib));
}

/* One step, timed: wall, the stepping thread's CPU (the round itself), the process's (watch threads too). */
struct timed {
	struct controller_report rep;
	double wall, cpu_thread, cpu_process;
};

static int step(struct controller *ctl, struct logs *lg, struct timed *t, struct kerf_err *err)
{
	double c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), th0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	int rc;

	*lg = (struct logs){.file = lg->file, .t0 = now_s()};
	rc = controller_step(ctl, 1, &t->rep, err); /* start rang the bell; later rounds do not wait for one */
	t->wall = now_s() - lg->t0;
	t->cpu_thread = cpu_s(CLOCK_THREAD_CPUTIME_ID) - th0;
	t->cpu_process = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return rc;
}

/* What the step's log lines say about where its time went. */
static void report_phases(int k, const struct logs *lg, double t_end)
{
	double pre, writes, after;

	if (lg->t_planned == 0) {
		printf("round %d phases: no \"planned\" line (the plan changed nothing), so no split\n", k);
		return;
	}
	pre = lg->t_planned - lg->t0 - (double)lg->plan_ms / 1000.0;
	writes = (lg->writes ? lg->t_last_write : lg->t_planned) - lg->t_planned;
	after = (lg->t_round ? lg->t_round : t_end) - (lg->writes ? lg->t_last_write : lg->t_planned);
	printf("round %d phases: lease + snapshot %.2f s, plan_run %.2f s (%u changes for %u pods), spec writes %.2f s "
	       "(%u, %.2f ms each), Events and the rest %.2f s\n",
	       k, pre, (double)lg->plan_ms / 1000.0, lg->changes, lg->planned_pods, writes, lg->writes,
	       lg->writes ? writes * 1000.0 / lg->writes : 0.0, after);
}

static void report_round(int k, const struct timed *t, const struct logs *lg)
{
	const struct controller_report *r = &t->rep;

	if (r->unchanged) {
		printf("round %d: leader %s, unchanged since the last plan: no plan made, nothing written, %u Events\n", k,
		       r->leader ? "yes" : "NO", r->events);
		printf("round %d: %.2f s wall; CPU %.2f s in the round's thread, %.2f s in the process (watch threads included)\n",
		       k, t->wall, t->cpu_thread, t->cpu_process);
		return;
	}
	printf("round %d: leader %s, %u pods planned over %u nodes (%u left out), %u placed (%.1f%%), %u specs written "
	       "(%u stale, at most %u at once), %u Events, %u reserved, %u kept off a node without room, %u re-planned as "
	       "crowded%s\n",
	       k, r->leader ? "yes" : "NO", r->pods, r->nodes, r->nodes_skipped, r->placed,
	       r->pods ? 100.0 * r->placed / r->pods : 0.0, r->specs_written, r->specs_stale, r->writes_at_once, r->events,
	       r->reserved, r->no_room, r->crowded, r->deposed ? ", DEPOSED mid-round" : "");
	printf("round %d: %.2f s wall; CPU %.2f s in the round's thread, %.2f s in the process (watch threads included)\n",
	       k, t->wall, t->cpu_thread, t->cpu_process);
	report_phases(k, lg, lg->t0 + t->wall);
}

/* controller_start() (the informers' sync), then o->rounds steps, each reported; memory around them. */
static int rounds(const struct opts *o, struct kerf_err *err)
{
	struct logs lg = {0};
	struct controller_options co = {.identity = "bench-controller", .lease_namespace = LEASE_NS, .debounce_ms = 1,
					.max_wait_ms = 1, .log = on_log, .log_arg = &lg,
					.write_concurrency = (unsigned)o->write_concurrency,
					/* No agent renews a heartbeat here: with the default 90 s a slow first round left
					 * every node out as silent in the next ones. */
					.agent_timeout_ms = 3600000};
	struct timed first;
	struct kube_client *c;
	struct controller *ctl;
	struct mem m0, m1, m2;
	double t0, c0, t_sync, c_sync;
	long objects;
	int rc = -1;

	if (o->log_file != NULL && (lg.file = fopen(o->log_file, "w")) == NULL)
		return kerf_err_set(err, KERF_EIO, "%s: %s", o->log_file, strerror(errno));
	if ((c = client(o->kubeconfig, 60000, err)) == NULL)
		goto out;
	m0 = mem_now();
	report_memory("before the controller starts", m0);
	t0 = lg.t0 = now_s();
	c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	if ((ctl = controller_start(c, &co, err)) == NULL) {
		kerf_err_prefix(err, "after %.1f s", now_s() - t0);
		goto out;
	}
	t_sync = now_s() - t0;
	c_sync = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	m1 = mem_now();
	printf("sync: controller_start() listed and synced its informers in %.2f s (process CPU %.2f s)\n",
	       t_sync, c_sync);
	report_memory("after the sync", m1);

	if (step(ctl, &lg, &first, err) < 0)
		goto stop;
	m2 = mem_now();
	report_round(1, &first, &lg);
	report_memory("after the round", m2);
	/* The caches hold every pending pod, and a MigLayout and a Node per node. */
	objects = (long)first.rep.pods + 2L * (first.rep.nodes + first.rep.nodes_skipped);
	printf("ratios: %.0f pods planned per second of round; %.0f pods per second of plan_run; %.0f bytes of RSS "
	       "(%.0f of heap in use) per cached object over the sync (%ld: pods, MigLayouts, Nodes); peak RSS %.1f MiB\n",
	       first.wall > 0 ? first.rep.pods / first.wall : 0.0,
	       lg.plan_ms > 0 ? first.rep.pods * 1000.0 / (double)lg.plan_ms : 0.0,
	       objects > 0 ? (double)(m1.rss_kib - m0.rss_kib) * 1024.0 / (double)objects : 0.0,
	       objects > 0 ? (double)(m1.heap_kib - m0.heap_kib) * 1024.0 / (double)objects : 0.0, objects,
	       mib(m2.peak_kib));
	/* Later rounds: what a round costs once the writes of the first have come back through the watch (the
	 * agents have not applied them, so the nodes are planned from their specs and nothing new is written). */
	for (long k = 2; k <= o->rounds; k++) {
		struct timed t;

		sleep_ms(2000);
		if (step(ctl, &lg, &t, err) < 0)
			goto stop;
		report_round((int)k, &t, &lg);
	}
	if (o->rounds > 1)
		report_memory("after the last round", mem_now());
	rc = 0;
stop:
	if (rc < 0)
		kerf_err_prefix(err, "the round");
	controller_stop(ctl);
out:
	kube_client_free(c);
	if (lg.file != NULL)
		fclose(lg.file);
	return rc;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_controller --kubeconfig FILE [--nodes N (5000)] [--pods P (50000)] [--namespaces K (4)]\n"
		   "                        [--used-pct U (50)] [--threads T (8)] [--seed S (1)] [--rounds R (1)]\n"
		   "                        [--write-concurrency W (the controller's 8)] [--no-load | --load-only]\n"
		   "                        [--log FILE]\n");
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || *out < lo || *out > hi) {
		fprintf(stderr, "bench_controller: %s: \"%s\" is not a number from %ld to %ld\n", opt, v, lo, hi);
		return -1;
	}
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"kubeconfig", required_argument, NULL, 'k'}, {"nodes", required_argument, NULL, 'n'},
		{"pods", required_argument, NULL, 'p'},       {"namespaces", required_argument, NULL, 'N'},
		{"threads", required_argument, NULL, 't'},    {"seed", required_argument, NULL, 's'},
		{"no-load", no_argument, NULL, 'r'},          {"load-only", no_argument, NULL, 'l'},
		{"log", required_argument, NULL, 'L'},        {"used-pct", required_argument, NULL, 'u'},
		{"rounds", required_argument, NULL, 'R'},     {"help", no_argument, NULL, 'h'},
		{"write-concurrency", required_argument, NULL, 'W'},
		{NULL, 0, NULL, 0}};
	long seed = 1;
	int ch;

	*o = (struct opts){.nodes = 5000, .pods = 50000, .namespaces = 4, .threads = 8, .used_pct = 50, .rounds = 1,
			   .load = true, .round = true};
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int bad = 0;

		switch (ch) {
		case 'k': o->kubeconfig = optarg; break;
		case 'L': o->log_file = optarg; break;
		case 'n': bad = parse_long("--nodes", optarg, 1, 99999, &o->nodes); break;
		case 'p': bad = parse_long("--pods", optarg, 0, 999999, &o->pods); break;
		case 'N': bad = parse_long("--namespaces", optarg, 1, MAX_NAMESPACES, &o->namespaces); break;
		case 't': bad = parse_long("--threads", optarg, 1, 64, &o->threads); break;
		case 's': bad = parse_long("--seed", optarg, 0, 1L << 30, &seed); break;
		case 'u': bad = parse_long("--used-pct", optarg, 0, 100, &o->used_pct); break;
		case 'R': bad = parse_long("--rounds", optarg, 1, 100, &o->rounds); break;
		case 'W': bad = parse_long("--write-concurrency", optarg, 1, 64, &o->write_concurrency); break;
		case 'r': o->load = false; break;
		case 'l': o->round = false; break;
		case 'h': usage(stdout); exit(0);
		default: bad = -1;
		}
		if (bad < 0) {
			usage(stderr);
			return -1;
		}
	}
	o->seed = (uint64_t)seed;
	if (o->kubeconfig == NULL || optind != argc || (!o->load && !o->round)) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct kerf_err err;

	setvbuf(stdout, NULL, _IOLBF, 0); /* the report and the progress on stderr stay in order */
	if (parse(argc, argv, &o) < 0)
		return 2;
	if (check_layouts(&err) < 0) {
		fprintf(stderr, "bench_controller: %s\n", err.msg);
		return 1;
	}
	if (o.load)
		printf("cluster: %ld nodes x %d H100 GPUs (%ld%% of instances used), %ld pending pods in %ld namespaces "
		       "(seed %llu)\n",
		       o.nodes, GPUS_PER_NODE, o.used_pct, o.pods, o.namespaces, (unsigned long long)o.seed);
	else
		printf("cluster: as loaded before (--no-load)\n");
	if (o.load && load_apart(&o) < 0)
		return 1;
	if (o.round && rounds(&o, &err) < 0) {
		fprintf(stderr, "bench_controller: %s\n", err.msg);
		return 1;
	}
	return 0;
}
