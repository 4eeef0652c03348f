/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kube.c — watch-event throughput and cache memory of the kube/ informer path.
 *
 *   bench_kube populate KUBECONFIG NS N      create N pods in NS on a real apiserver; print the
 *                                            resourceVersion before them (run.sh records their watch stream)
 *   bench_kube replay FILE [PASSES]          decode + apply FILE's events into a store on one thread; events/s
 *   bench_kube live KUBECONFIG NS            watch NS's pods from the start of their history on the real
 *                                            apiserver, decode + apply; events/s end to end
 *   bench_kube memory NODES PODS             fill a store through the decoder with synthetic nodes and pods
 *                                            (realistic object size); resident memory before and after
 *
 * KERF_BENCH_ALL_FIELDS=1 decodes whole objects (but managedFields) instead of the projections' fields.
 * Figures go to stdout as "name: value unit" lines; docs/kube.md records them with the commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube.h"

/* What kerf's controller needs of a pod: where it runs, whether it waits, and which MIG profiles it asks for. */
struct pod_proj {
	char node[64];
	char phase;         /* P(ending) R(unning) S(ucceeded) F(ailed) U(nknown) */
	int priority;
	unsigned char n_req;
	struct {
		char profile[20]; /* "3g.40gb", from nvidia.com/mig-3g.40gb */
		unsigned short count;
	} req[3];
};

/* And of a node: its name comes from the key; its MIG capacity per profile. */
struct node_proj {
	unsigned char n_cap;
	struct {
		char profile[20];
		unsigned short count;
	} cap[6];
};

#define MIG_PREFIX "nvidia.com/mig-"

/* What the projections read: the decoder parses only these (kube_decoder_keep). */
static const char *const fields[] = {"kind", "metadata.name", "metadata.namespace", "metadata.resourceVersion",
				     "spec.nodeName", "spec.priority", "spec.containers[].resources", "status.phase",
				     "status.allocatable", NULL};
static int use_fields = 1;
/* MIG units the pod projection found, summed over every event of a replay pass: the filtered and the
 * all-fields decode must find the same (the projection gets what it reads). */
static unsigned long mig_units;

static void *project_pod(json_t *obj, void *arg)
{
	json_t *spec = json_object_get(obj, "spec"), *c, *res;
	const char *node = json_string_value(json_object_get(spec, "nodeName"));
	const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	struct pod_proj *p = calloc(1, sizeof(*p));
	const char *key;
	size_t i;
	(void)arg;

	if (!p)
		return NULL;
	snprintf(p->node, sizeof(p->node), "%s", node ? node : "");
	p->phase = phase ? phase[0] : 'U';
	p->priority = (int)json_integer_value(json_object_get(spec, "priority"));
	json_array_foreach(json_object_get(spec, "containers"), i, c)
	{
		json_object_foreach(json_object_get(json_object_get(c, "resources"), "limits"), key, res)
		{
			if (strncmp(key, MIG_PREFIX, strlen(MIG_PREFIX)) != 0 || p->n_req == 3)
				continue;
			snprintf(p->req[p->n_req].profile, sizeof(p->req[0].profile), "%s", key + strlen(MIG_PREFIX));
			p->req[p->n_req++].count = (unsigned short)atoi(json_string_value(res) ? json_string_value(res) : "0");
			mig_units += p->req[p->n_req - 1].count;
		}
	}
	return p;
}

static void *project_node(json_t *obj, void *arg)
{
	struct node_proj *p = calloc(1, sizeof(*p));
	const char *key;
	json_t *v;
	(void)arg;
	if (!p)
		return NULL;
	json_object_foreach(json_object_get(json_object_get(obj, "status"), "allocatable"), key, v)
	{
		if (strncmp(key, MIG_PREFIX, strlen(MIG_PREFIX)) != 0 || p->n_cap == 6)
			continue;
		snprintf(p->cap[p->n_cap].profile, sizeof(p->cap[0].profile), "%s", key + strlen(MIG_PREFIX));
		p->cap[p->n_cap++].count = (unsigned short)atoi(json_string_value(v) ? json_string_value(v) : "0");
	}
	return p;
}

/* Pods and nodes arrive on one stream in the memory benchmark: the kind picks the projection. */
static void *project_any(json_t *obj, void *arg)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	return kind && strcmp(kind, "Node") == 0 ? project_node(obj, arg) : project_pod(obj, arg);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct sink {
	struct kube_store *store;
	FILE *out;
	long want, got;
};

static int to_store(enum kube_event_type type, json_t *obj, void *arg)
{
	struct sink *s = arg;
	struct kerf_err err;
	if (kube_store_apply(s->store, type, obj, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (type != KUBE_BOOKMARK)
		s->got++;
	return s->want && s->got >= s->want;
}

static struct kube_client *client(const char *kubeconfig)
{
	struct kube_config cfg;
	struct kerf_err err;
	struct kube_client *c;
	if (kube_config_load(kubeconfig, NULL, &cfg, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	c = kube_client_new(&cfg, 30000, &err);
	kube_config_free(&cfg);
	if (!c) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	return c;
}

/* A pod as a controller would create it: labels, an owner, two containers, MIG limits. */
static json_t *make_pod(const char *ns, long i)
{
	char name[64], rs[64];
	snprintf(name, sizeof(name), "train-%ld", i);
	snprintf(rs, sizeof(rs), "train-%ld", i / 10);
	return json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}},"
		" s:{s:s, s:s, s:[{s:s, s:s, s:[s, s], s:{s:{s:s, s:s, s:s}, s:{s:s, s:s}}, s:[{s:s, s:s}]},"
		"                           {s:s, s:s, s:{s:{s:s, s:s}}}],"
		"    s:[{s:s, s:s, s:s}], s:{s:s}}}",
		"apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace", ns, "labels", "app", "train",
		"team", "vision", "pod-template-hash", "5d8f9c7b6", "annotations", "kerf.dev/requested", "mig-3g.40gb",
		"spec", "schedulerName", "default-scheduler", "nodeName",
		i % 2 ? "gpu-node-0001" : "", "containers", "name", "trainer", "image",
		"registry.example.com/vision/trainer:2026.11.1", "command", "python", "train.py", "resources", "limits",
		"nvidia.com/mig-3g.40gb", "1", "cpu", "8", "memory", "64Gi", "requests", "cpu", "8", "memory", "64Gi",
		"env", "name", "NCCL_DEBUG", "value", "WARN", "name", "sidecar", "image",
		"registry.example.com/tools/log-shipper:1.4", "resources", "limits", "cpu", "100m", "memory", "128Mi",
		"tolerations", "key", "nvidia.com/gpu", "operator", "Exists", "effect", "NoSchedule", "nodeSelector",
		"nvidia.com/mig.capable", "true");
}

/* Creates n pods in ns and prints the resourceVersion from before the first, to record the watch from. */
static int cmd_populate(const char *kc, const char *ns, long n)
{
	struct kube_client *c = client(kc);
	struct kerf_err err;
	json_t *list = kube_list(c, &KUBE_PODS, ns, NULL, &err), *obj;

	if (!list) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("%s\n", json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion")));
	json_decref(list);
	for (long i = 0; i < n; i++) {
		json_t *pod = make_pod(ns, i);
		obj = kube_create(c, &KUBE_PODS, ns, pod, &err);
		json_decref(pod);
		if (!obj) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		json_decref(obj);
	}
	kube_client_free(c);
	return 0;
}

static char *slurp(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int cmd_replay(const char *file, int passes)
{
	size_t len, chunk = 16384; /* about what one TLS record read hands over */
	char *buf = slurp(file, &len);
	double best = 0, cpu0, wall0;
	long events = 0;

	if (!buf) {
		fprintf(stderr, "%s: cannot read\n", file);
		return 1;
	}
	for (int p = 0; p < passes; p++) {
		struct kube_informer_spec spec = {.project = project_pod, .free_proj = free};
		struct sink s = {.store = kube_store_new(&spec)};
		struct kube_decoder *d = kube_decoder_new(to_store, &s);
		struct kerf_err err;
		double rate;

		if (use_fields)
			kube_decoder_keep(d, fields);
		mig_units = 0;
		cpu0 = cpu_s();
		wall0 = now_s();
		for (size_t off = 0; off < len; off += chunk)
			if (kube_decoder_feed(d, buf + off, off + chunk > len ? len - off : chunk, &err) < 0) {
				fprintf(stderr, "%s\n", err.msg);
				return 1;
			}
		rate = (double)kube_decoder_events(d) / (cpu_s() - cpu0);
		if (now_s() - wall0 > 60) /* a pathological machine: one pass is figure enough */
			passes = p + 1;
		events = (long)kube_decoder_events(d);
		if (rate > best)
			best = rate;
		kube_decoder_free(d);
		kube_store_free(s.store);
	}
	printf("replay%s: %ld events, %.1f bytes/event, best of %d passes: %.0f events/s (one core, CPU time); "
	       "%lu MIG units in the projections\n",
	       use_fields ? "" : " (all fields)", events, (double)len / (double)events, passes, best, mig_units);
	free(buf);
	return 0;
}

static int cmd_live(const char *kc, const char *ns, long n)
{
	struct kube_client *c = client(kc);
	struct kube_informer_spec spec = {.project = project_pod, .free_proj = free};
	struct sink s = {.store = kube_store_new(&spec), .want = n};
	struct kube_watch_opts o = {.resource_version = "0", .timeout_s = 120, .fields = use_fields ? fields : NULL};
	struct kerf_err err;
	char last[64];
	double t0 = now_s(), c0 = cpu_s(), t;
	int r;

	/* resourceVersion "0": the server first sends every current object as an ADDED event, as fast as it can. */
	r = kube_watch(c, &KUBE_PODS, ns, &o, to_store, &s, last, sizeof(last), &err);
	t = now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "%s (after %ld events)\n", err.msg, s.got);
		return 1;
	}
	printf("live: %ld events from kube-apiserver in %.2f s: %.0f events/s wall, client CPU %.2f s\n", s.got, t,
	       (double)s.got / t, cpu_s() - c0);
	kube_store_free(s.store);
	kube_client_free(c);
	return 0;
}

static int cmd_memory(long nodes, long pods)
{
	struct kube_informer_spec spec = {.project = project_any, .free_proj = free};
	struct sink s = {.store = kube_store_new(&spec)};
	struct kube_decoder *d = kube_decoder_new(to_store, &s);
	struct kerf_err err;
	long before = rss_kib(), after;
	double t0 = cpu_s();

	if (use_fields)
		kube_decoder_keep(d, fields);
	for (long i = 0; i < nodes + pods; i++) {
		json_t *obj, *ev;
		char *line;
		if (i < nodes) {
			char name[32];
			snprintf(name, sizeof(name), "gpu-node-%04ld", i);
			obj = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:{s:{s:s, s:s, s:s, s:s, s:s, s:s}}}",
					"apiVersion", "v1", "kind", "Node", "metadata", "name", name, "labels",
					"nvidia.com/mig.capable", "true", "kubernetes.io/hostname", name, "status",
					"allocatable", "cpu", "96", "memory", "1Ti", "nvidia.com/mig-1g.10gb", "7",
					"nvidia.com/mig-3g.40gb", "2", "nvidia.com/mig-7g.80gb", "0", "pods", "110");
		} else {
			char ns[32];
			snprintf(ns, sizeof(ns), "team-%ld", i % 50);
			obj = make_pod(ns, i);
		}
		ev = json_pack("{s:s, s:o}", "type", "ADDED", "object", obj);
		line = json_dumps(ev, JSON_COMPACT);
		json_decref(ev);
		if (kube_decoder_feed(d, line, strlen(line), &err) < 0 || kube_decoder_feed(d, "\n", 1, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			return 1;
		}
		free(line);
	}
	after = rss_kib();
	printf("memory: %zu objects (%ld nodes, %ld pods) in the cache: RSS %.1f MiB before, %.1f MiB after, "
	       "%.1f MiB for the cache (%.0f bytes/object); filled in %.2f s CPU\n",
	       kube_store_len(s.store), nodes, pods, before / 1024.0, after / 1024.0, (after - before) / 1024.0,
	       (after - before) * 1024.0 / (double)(nodes + pods), cpu_s() - t0);
	kube_decoder_free(d);
	kube_store_free(s.store);
	return 0;
}

int main(int argc, char **argv)
{
	if (getenv("KERF_BENCH_ALL_FIELDS")) /* for comparison: decode every field but managedFields */
		use_fields = 0;
	if (argc == 5 && strcmp(argv[1], "populate") == 0)
		return cmd_populate(argv[2], argv[3], atol(argv[4]));
	if (argc >= 3 && strcmp(argv[1], "replay") == 0)
		return cmd_replay(argv[2], argc > 3 ? atoi(argv[3]) : 5);
	if (argc == 5 && strcmp(argv[1], "live") == 0)
		return cmd_live(argv[2], argv[3], atol(argv[4]));
	if (argc == 4 && strcmp(argv[1], "memory") == 0)
		return cmd_memory(atol(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: bench_kube populate KUBECONFIG NS N | replay FILE [PASSES] | live KUBECONFIG NS N |"
			" memory NODES PODS\n");
	return 2;
}
