/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube.h — kerf's Kubernetes REST client: configuration, requests, watches, a projecting cache, leases.
 *
 * What it is for: kerf's daemons (controller, agent) talk to the API server directly over HTTPS
 * (libcurl) with JSON bodies (jansson). This module gives them:
 *   - configuration as kubectl reads it (kube_config_*): kubeconfig files and $KUBECONFIG lists merged,
 *     the in-cluster service account, a default order; exec credential plugins (run by the client, cached,
 *     run again on expiry and after a 401), tls-server-name, proxy-url; auth-provider refused;
 *   - one-shot requests with a timeout on every one: get, list (one page or all pages), create, update
 *     (optimistic concurrency through metadata.resourceVersion; 409 -> KERF_ECONFLICT) and a
 *     get-mutate-update retry helper, JSON merge patch and JSON patch, the status subresource, delete,
 *     and core/v1 Events;
 *   - a streaming watch decoder that hands each event over as soon as its line arrives (kube_decoder_*),
 *     and one watch connection on top of it (kube_watch);
 *   - an informer (kube_informer_*): list + watch in a thread of its own, resuming from the last
 *     resourceVersion after a dropped connection, relisting on 410 Gone, backing off with jitter while
 *     the server is unreachable, and keeping a store keyed "namespace/name" of *projections*: the caller
 *     turns each object into the few fields it needs, and the whole JSON object is freed at once;
 *   - Lease-based leader election (coordination.k8s.io/v1), one step at a time, with a clean hand-over.
 *
 * What it does not do: protobuf, HTTP/2 multiplexing, typed objects (callers read the jansson tree),
 * server-side apply, or any retry the caller did not ask for (only the informer and kube_update_retry retry; a
 * request is repeated only when the answer says it was not served: a 401 to a plugin's credential, a 429 with
 * Retry-After, client.c).
 *
 * Ownership: json_t values passed in are borrowed; json_t values returned are new references the caller
 * json_decref()s. Strings in option structs are borrowed for the duration of the call (kube_informer_new
 * copies what it keeps). A kube_client is safe to share between threads: one-shot requests are serialized
 * on it; each watch and informer uses a connection of its own.
 *
 * Errors: every fallible function returns 0 / a pointer on success and -1 / NULL on failure, filling
 * struct kerf_err. HTTP answers map to codes: 404 -> KERF_ENOTFOUND, 409 -> KERF_ECONFLICT (both
 * "Conflict" and "AlreadyExists"; the message names the reason), 401/403 -> KERF_EPERM, 422/400 ->
 * KERF_EINVAL, transport failures -> KERF_EIO, request timeout -> KERF_ETIMEOUT. The message starts with
 * the method and path and carries the server's own Status message; the error's http_status and reason
 * fields (err.h) hold the answer's status and the Status object's reason ("Forbidden", "Expired"), for
 * callers that branch on them (410 among them) and for the daemons' logs. kube_err_http_status() reads the
 * first.
 */
#ifndef KERF_KUBE_H
#define KERF_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* ---------------------------------------------------------------- configuration */

/*
 * A credential plugin (users[].user.exec), run by the client when it needs a credential: see exec_cred.c.
 * kerf is never interactive: the plugin's stdin is /dev/null, and interactiveMode Always is refused when
 * the kubeconfig is read.
 */
struct kube_exec {
	char *api_version;         /* client.authentication.k8s.io/v1 or /v1beta1 */
	char *command;             /* looked up on PATH unless it holds a '/' (then relative to the kubeconfig) */
	char **args;               /* nargs strings */
	size_t nargs;
	char **env;                /* nenv "NAME=value" strings, added to kerf's own environment */
	size_t nenv;
	char *install_hint;        /* shown when command is not found; NULL when none */
	bool provide_cluster_info; /* put the cluster (server, CA, ...) into KUBERNETES_EXEC_INFO */
	char *where;               /* "FILE: users[i].user.exec", for messages */
};

/* Where to reach the API server and who to be. PEM blobs are held in memory (NUL-terminated). */
struct kube_config {
	char *server;          /* "https://host:port", no trailing slash */
	char *ca_pem;          /* certificate authority; NULL = the system's trust store */
	char *cert_pem;        /* client certificate, with key_pem; NULL when not used */
	char *key_pem;
	char *cert_file;       /* where cert_pem and key_pem came from when both are files: re-read when */
	char *key_file;        /* either changes (rotated certificates); NULL otherwise */
	char *token;           /* bearer token; NULL when not used or when token_file is set */
	char *token_file;      /* re-read whenever the file changes (rotated service-account tokens) */
	char *namespace_;      /* the context's namespace, or the pod's; "default" when none is given */
	bool insecure;         /* insecure-skip-tls-verify: true (tests only; never set by in-cluster config) */
	char *tls_server_name; /* name the server's certificate is verified against, and sent as SNI */
	char *proxy_url;       /* http://, https:// or socks5:// proxy for every request */
	struct kube_exec *exec;/* credential plugin; NULL when not used */
	char *source;          /* where this came from, for a log line ("kubeconfig F, context C") */
};

/*
 * Loads a kubeconfig file. context == NULL uses current-context. Relative file paths inside the file are
 * taken relative to the file's folder, as kubectl does. Errors name the file and the field by path:
 *   "/home/u/.kube/config: users[0].user.client-key-data: not valid base64"
 */
int kube_config_load(const char *path, const char *context, struct kube_config *cfg, struct kerf_err *err);

/*
 * Loads several kubeconfig files merged as kubectl merges a $KUBECONFIG list: for clusters, users and
 * contexts the first file with an entry of a name wins, current-context comes from the first file that
 * sets it, and each entry's relative paths are taken from the folder of the file it is in. Files that do
 * not exist are skipped (KERF_ENOTFOUND when none exists); one that exists but cannot be read or parsed
 * is an error.
 */
int kube_config_load_merged(const char *const *paths, size_t n, const char *context, struct kube_config *cfg,
			    struct kerf_err *err);

/*
 * The in-cluster service account: KUBERNETES_SERVICE_HOST/PORT and the files under sa_dir
 * (NULL = /var/run/secrets/kubernetes.io/serviceaccount): token (re-read on rotation), ca.crt, namespace.
 */
int kube_config_in_cluster(const char *sa_dir, struct kube_config *cfg, struct kerf_err *err);

/*
 * Which configuration to use when none is named, in one of two orders (docs/kube.md, "Precedence"):
 *   KUBE_ORDER_KUBECTL (client-go's clientcmd, as kubectl): explicit, then $KUBECONFIG (a ':'-separated list,
 *     merged), else ~/.kube/config, and the in-cluster service account only when neither gave a file;
 *   KUBE_ORDER_DAEMON (controller-runtime's order, for processes that normally run in a pod): explicit, then
 *     $KUBECONFIG, then the in-cluster service account when KUBERNETES_SERVICE_HOST is set, then
 *     ~/.kube/config.
 * explicit (a --kubeconfig) is one file that must exist. context applies to kubeconfig files; naming one
 * when the in-cluster account is chosen is an error. cfg->source says what was used.
 */
enum kube_config_order { KUBE_ORDER_KUBECTL, KUBE_ORDER_DAEMON };
int kube_config_default(const char *explicit_path, const char *context, enum kube_config_order order,
			struct kube_config *cfg, struct kerf_err *err);

/* A deep copy (into *dst, which is overwritten). -1 on out of memory. */
int kube_config_copy(struct kube_config *dst, const struct kube_config *src, struct kerf_err *err);

void kube_config_free(struct kube_config *cfg);

/* ---------------------------------------------------------------- client and resources */

struct kube_client;

/* The client copies cfg. timeout_ms bounds every one-shot request (0 = 30 s). */
struct kube_client *kube_client_new(const struct kube_config *cfg, long timeout_ms, struct kerf_err *err);
void kube_client_free(struct kube_client *c);
/*
 * A second client with c's configuration, timeout and request metrics, and a connection of its own: requests
 * on the two run at the same time (one client serializes them). A credential plugin's credential is cached per
 * client, so it may run once more for the copy. Free it with kube_client_free().
 */
struct kube_client *kube_client_dup(const struct kube_client *c, struct kerf_err *err);

/* Which collection: "api/v1" + "pods", or "apis/kerf.dev/v1alpha1" + "miglayouts". */
struct kube_resource {
	const char *api;    /* group-version path without slashes at either end */
	const char *plural;
};

extern const struct kube_resource KUBE_PODS, KUBE_NODES, KUBE_CONFIGMAPS, KUBE_EVENTS, KUBE_LEASES,
	KUBE_MIGLAYOUTS, KUBE_RESOURCESLICES;

/* The HTTP status behind the failure in err (err->http_status: 0 when the failure was not an HTTP answer). */
int kube_err_http_status(const struct kerf_err *err);

/*
 * The general request under everything else: method on path (starting with "/", query included), body sent
 * as content_type (NULL body = none). Returns the parsed JSON answer (a JSON null for an empty 2xx body), or
 * NULL with err set for a non-2xx status or a transport failure.
 */
json_t *kube_request(struct kube_client *c, const char *method, const char *path, const json_t *body,
		     const char *content_type, struct kerf_err *err);

/* ns NULL: cluster-scoped resource, or (list/watch) all namespaces. */
json_t *kube_get(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		 struct kerf_err *err);

struct kube_list_opts {
	const char *label_selector;   /* "app=x,tier!=y" */
	const char *field_selector;   /* "spec.nodeName=n1" */
	long limit;                   /* page size; 0 = server default (everything) */
	const char *continue_token;   /* from the previous page's metadata.continue */
	const char *resource_version; /* list: "0" may answer from the watch cache */
};

/* One page: the List object, with metadata.continue set when more pages remain. */
json_t *kube_list(struct kube_client *c, const struct kube_resource *r, const char *ns,
		  const struct kube_list_opts *opts, struct kerf_err *err);

/*
 * Every page: calls each(item) for every item in order; stops early (returning 0) if each returns non-zero.
 * Writes the list's resourceVersion (to start a watch from) into rv (may be NULL). A 410 in the middle of
 * paging (the continue token expired) restarts from the first page only if nothing was delivered yet;
 * otherwise it is an error the caller sees.
 */
int kube_list_all(struct kube_client *c, const struct kube_resource *r, const char *ns,
		  const struct kube_list_opts *opts, int (*each)(json_t *item, void *arg), void *arg, char *rv,
		  size_t rv_size, struct kerf_err *err);

json_t *kube_create(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		    struct kerf_err *err);

/* PUT: obj's metadata.resourceVersion, if present, makes it conditional (409 when stale). */
json_t *kube_update(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		    struct kerf_err *err);

/* PUT to the status subresource; only .status is taken from obj by the server. */
json_t *kube_update_status(struct kube_client *c, const struct kube_resource *r, const char *ns,
			   const json_t *obj, struct kerf_err *err);

enum kube_patch_type {
	KUBE_PATCH_MERGE, /* RFC 7386, application/merge-patch+json */
	KUBE_PATCH_JSON,  /* RFC 6902, application/json-patch+json; a "test" op makes it conditional */
};

/* status: patch the status subresource instead of the object. */
json_t *kube_patch(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		   enum kube_patch_type type, const json_t *patch, bool status, struct kerf_err *err);

int kube_delete(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		struct kerf_err *err);

/*
 * Read-modify-write with retries on conflict: get, mutate(obj) in place, update (or update the status
 * subresource when status is true); on 409 start over, at most attempts times. mutate returns 0 to write,
 * 1 to stop without writing (nothing to change), -1 (with err) to abort. Returns the written object (or the
 * current one when mutate said 1), NULL on failure; KERF_ECONFLICT when every attempt lost.
 */
json_t *kube_update_retry(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
			  bool status, int attempts, int (*mutate)(json_t *obj, void *arg, struct kerf_err *err),
			  void *arg, struct kerf_err *err);

/*
 * A core/v1 Event about an object, e.g. to tell a user why their pod waits. type: "Normal" or "Warning". A
 * cluster-scoped object (ns NULL) gets its Events in namespace "default", with no involvedObject.namespace,
 * where `kubectl describe` looks for them.
 */
struct kube_object_ref {
	const char *api_version, *kind, *ns, *name, *uid;
};
int kube_event_emit(struct kube_client *c, const struct kube_object_ref *about, const char *type,
		    const char *reason, const char *message, const char *component, struct kerf_err *err);

/* ---------------------------------------------------------------- watch */

enum kube_event_type { KUBE_ADDED, KUBE_MODIFIED, KUBE_DELETED, KUBE_BOOKMARK, KUBE_ERROR };

/*
 * Called once per event as soon as its line is complete. obj is borrowed (valid during the call);
 * return non-zero to stop the watch.
 */
typedef int (*kube_event_fn)(enum kube_event_type type, json_t *obj, void *arg);

/*
 * Incremental decoder of a watch stream (one JSON object per line, as the API server sends them): feed it
 * bytes as they come, in pieces of any size. Keeps the last resourceVersion seen (objects and bookmarks).
 */
struct kube_decoder;
struct kube_decoder *kube_decoder_new(kube_event_fn fn, void *arg);
void kube_decoder_free(struct kube_decoder *d);
/* Returns 0, 1 when fn asked to stop, -1 (err) on a line that is not a watch event. */
int kube_decoder_feed(struct kube_decoder *d, const char *buf, size_t len, struct kerf_err *err);
const char *kube_decoder_last_rv(const struct kube_decoder *d);
/*
 * Decode only these members of each event's object (NULL-terminated "member" or "member.child" paths of any
 * depth, e.g. "metadata.name", "spec.nodeName", "status", and "spec.containers[].resources" for one member
 * of each element of an array); the rest is cut out of the line before it is parsed, which
 * is most of the decoding cost. Without it every field is decoded except metadata.managedFields.
 * Returns -1 on out of memory.
 */
int kube_decoder_keep(struct kube_decoder *d, const char *const *fields);
uint64_t kube_decoder_events(const struct kube_decoder *d);

struct kube_watch_opts {
	const char *label_selector, *field_selector;
	const char *resource_version; /* start after this version; NULL = from now */
	long timeout_s;               /* server ends the watch after this (0 = 300 s); curl gives up 30 s later */
	const volatile int *stop;     /* when set non-zero, the watch ends within about a second */
	const char *const *fields;    /* NULL, or what kube_decoder_keep() takes */
	/* NULL, or called (with fn's arg) once the server has answered 200: the watch is open. It runs on the
	 * watch's thread, within about a second of the answer, before any event. */
	void (*on_open)(void *arg);
};

enum kube_watch_end {
	KUBE_WATCH_CLOSED = 0, /* the server ended it (timeout) or the connection dropped: resume from *rv */
	KUBE_WATCH_STOPPED,    /* the callback or the stop flag ended it */
	KUBE_WATCH_GONE,       /* 410: the resourceVersion is too old; relist */
};

/*
 * One watch connection (bookmarks requested). Each event goes to fn. rv (rv_size bytes) holds the last
 * resourceVersion seen when it returns. Returns a kube_watch_end, or -1 with err when the server could not
 * be reached or refused the watch (other than 410).
 */
int kube_watch(struct kube_client *c, const struct kube_resource *r, const char *ns,
	       const struct kube_watch_opts *opts, kube_event_fn fn, void *arg, char *rv, size_t rv_size,
	       struct kerf_err *err);

/* ---------------------------------------------------------------- informer */

/*
 * project turns a full object into the caller's compact record (malloc'd; freed with free_proj), or
 * returns NULL to leave the object out. Callbacks run on the informer's thread with the store locked:
 * they must not call back into the informer; old/new records are valid only during the call.
 */
struct kube_informer_spec {
	const struct kube_resource *resource;
	const char *ns; /* NULL = all namespaces / cluster-scoped */
	const char *label_selector, *field_selector;
	long page_limit; /* list page size (0 = 500) */
	void *(*project)(json_t *obj, void *arg);
	void (*free_proj)(void *proj);
	void (*on_add)(const char *key, const void *proj, void *arg);
	void (*on_update)(const char *key, const void *old_proj, const void *new_proj, void *arg);
	void (*on_delete)(const char *key, const void *old_proj, void *arg);
	/* NULL, or called after each add, update and delete above (after its own callback, if any), for a
	 * caller that needs to know only that something changed: ring a bell, count. */
	void (*on_change)(void *arg);
	void *arg;
	long backoff_min_ms, backoff_max_ms; /* unreachable server: 0 = 250 ms .. 10 s, doubled, with jitter */
	/* NULL, or the fields project() reads (see kube_decoder_keep); watch events are cut down to them, plus
	 * metadata.name, .namespace and .resourceVersion, which the store needs. Lists are not filtered.
	 * The array and its strings must outlive the informer (a static table, as a projection's fields are). */
	const char *const *fields;
	long watch_timeout_s;                /* per watch connection (0 = 300 s, jittered) */
	/*
	 * NULL, or told on the informer's thread (store not locked) when a list or watch fails, with the error
	 * (its http_status and reason set when the server answered) and the failures in a row so far; and once,
	 * with err NULL, when a list or watch works again after failures were told. Rate-limited: a failure is
	 * told when its message differs from the last one told, or error_report_ms after that one (0 = 60 s), so
	 * an informer retrying every 10 s against a 403 tells it once a minute, not on every retry.
	 */
	void (*on_error)(const struct kube_resource *r, const struct kerf_err *err, unsigned long failures, void *arg);
	long error_report_ms;
};

/* Whether an informer's cache follows the server: failing while its last list or watch failed and none has
 * worked since (a list that completed, a watch the server answered with 200, an event, a watch the server
 * closed normally). A cache that is failing still serves what it last had: stale. */
struct kube_informer_health {
	bool failing;
	unsigned long failures;     /* in a row */
	long long failing_since_ms; /* kerf_mono_ms() of the first of them; 0 when not failing */
	struct kerf_err last;       /* the last failure (code KERF_OK when there has been none) */
};

struct kube_informer_stats {
	uint64_t lists;    /* full lists (the first one, and one per 410) */
	uint64_t watches;  /* watch connections opened */
	uint64_t events;   /* watch events applied (bookmarks included) */
	uint64_t gone;     /* 410 answers */
	uint64_t failures; /* connections that failed (server unreachable) */
};

struct kube_informer;

struct kube_informer *kube_informer_new(struct kube_client *c, const struct kube_informer_spec *spec,
					struct kerf_err *err);
int kube_informer_start(struct kube_informer *inf, struct kerf_err *err);
/* true once the first full list has been applied. */
bool kube_informer_synced(struct kube_informer *inf);
/* Waits up to timeout_ms for synced; -1 with KERF_ETIMEOUT otherwise. */
int kube_informer_wait_synced(struct kube_informer *inf, long timeout_ms, struct kerf_err *err);
/* Stops the thread (within about a second) and frees everything. */
void kube_informer_free(struct kube_informer *inf);

size_t kube_informer_len(struct kube_informer *inf);
/* Visits every record under the store's lock; fn returns non-zero to stop. */
void kube_informer_foreach(struct kube_informer *inf,
			   int (*fn)(const char *key, const char *rv, const void *proj, void *arg), void *arg);
/* Copies what the caller needs out of one record under the lock; returns false when the key is absent. */
bool kube_informer_with(struct kube_informer *inf, const char *key,
			void (*fn)(const char *rv, const void *proj, void *arg), void *arg);
void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out);
/* Thread-safe: callable from any thread (a /readyz handler among them). */
void kube_informer_health(struct kube_informer *inf, struct kube_informer_health *out);

/* ---------------------------------------------------------------- store (the informer's, usable alone) */

/*
 * The keyed store the informer fills, exposed so that a recorded stream can be replayed into it without a
 * server (benchmark, tests). Not thread-safe by itself; the informer locks around it.
 */
struct kube_store;
struct kube_store *kube_store_new(const struct kube_informer_spec *spec);
void kube_store_free(struct kube_store *s);
/* Applies one watch event (ADDED/MODIFIED/DELETED; others are ignored), running the callbacks. */
int kube_store_apply(struct kube_store *s, enum kube_event_type type, json_t *obj, struct kerf_err *err);
size_t kube_store_len(const struct kube_store *s);

/* ---------------------------------------------------------------- leader election */

struct kube_elector_config {
	const char *ns, *name; /* the Lease object */
	const char *identity;  /* this contender, unique (pod name) */
	long lease_duration_s; /* how long a holder's claim lasts without renewal (e.g. 15) */
};

struct kube_elector;

struct kube_elector *kube_elector_new(struct kube_client *c, const struct kube_elector_config *cfg,
				      struct kerf_err *err);
void kube_elector_free(struct kube_elector *e);

/*
 * One round: create the Lease if absent; renew it if we hold it; take it over if the holder has not renewed
 * for lease_duration_s as measured on *this* process's monotonic clock (no cross-machine clock comparison,
 * as client-go does); otherwise observe. Call it every few seconds (well under lease_duration_s).
 * Sets *leader. A lost update race (409) is not an error: *leader is false for this round.
 */
int kube_elector_step(struct kube_elector *e, bool *leader, struct kerf_err *err);

/* Clean hand-over: if we hold the lease, clear holderIdentity so another contender takes it at once. */
int kube_elector_release(struct kube_elector *e, struct kerf_err *err);

#endif
