/*
 * client.c — one-shot requests: transport setup (TLS, credentials, timeouts), CRUD, patches, paging,
 * conflict retries and Events.
 *
 * One curl easy handle per client is reused under a mutex so that the TCP+TLS connection survives between
 * requests (a daemon issues them steadily; a new handshake each time would dominate their cost).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "deadline.h"
#include "kube.h"
#include "kube_internal.h"

const struct kube_resource KUBE_PODS = {"api/v1", "pods"};
const struct kube_resource KUBE_NODES = {"api/v1", "nodes"};
const struct kube_resource KUBE_CONFIGMAPS = {"api/v1", "configmaps"};
const struct kube_resource KUBE_EVENTS = {"api/v1", "events"};
const struct kube_resource KUBE_LEASES = {"apis/coordination.k8s.io/v1", "leases"};
const struct kube_resource KUBE_MIGLAYOUTS = {"apis/kerf.dev/v1alpha1", "miglayouts"};

struct kube_client {
	struct kube_config cfg;
	long timeout_ms;
	pthread_mutex_t lock; /* guards easy and the token fields */
	CURL *easy;
	char *token;          /* current bearer token (from cfg.token or cfg.token_file) */
	struct stat token_st; /* token_file's identity when token was read: re-read when it changes */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

long long kube_now_ms(void)
{
	return kerf_mono_ms();
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;
	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

struct kube_client *kube_client_new(const struct kube_config *cfg, long timeout_ms, struct kerf_err *err)
{
	struct kube_client *c = calloc(1, sizeof(*c));
	bool oom = false;

	pthread_once(&curl_once, curl_init_once);
	if (!c) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	if (!cfg->server) {
		free(c);
		kerf_err_set(err, KERF_EINVAL, "config.server: missing");
		return NULL;
	}
	c->cfg.server = dup_or_null(cfg->server, &oom);
	c->cfg.ca_pem = dup_or_null(cfg->ca_pem, &oom);
	c->cfg.cert_pem = dup_or_null(cfg->cert_pem, &oom);
	c->cfg.key_pem = dup_or_null(cfg->key_pem, &oom);
	c->cfg.token = dup_or_null(cfg->token, &oom);
	c->cfg.token_file = dup_or_null(cfg->token_file, &oom);
	c->cfg.namespace_ = dup_or_null(cfg->namespace_, &oom);
	c->cfg.insecure = cfg->insecure;
	c->token = dup_or_null(cfg->token, &oom);
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	c->easy = curl_easy_init();
	pthread_mutex_init(&c->lock, NULL);
	if (oom || !c->easy) {
		kube_client_free(c);
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	return c;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	kube_config_free(&c->cfg);
	free(c->token);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Service-account tokens are rotated by the kubelet by replacing the file; a changed inode, size or mtime
 * means a new token. Called with c->lock held. */
static int refresh_token(struct kube_client *c, struct kerf_err *err)
{
	struct stat st;
	char *tok;

	if (!c->cfg.token_file)
		return 0;
	if (stat(c->cfg.token_file, &st) != 0)
		return c->token ? 0 : kerf_err_set(err, KERF_EIO, "%s: %s", c->cfg.token_file, strerror(errno));
	if (c->token && st.st_ino == c->token_st.st_ino && st.st_size == c->token_st.st_size &&
	    st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
		return 0;
	tok = kube_read_file(c->cfg.token_file, 1 << 16, err);
	if (!tok)
		return c->token ? 0 : -1; /* keep the old token while a rotation is half written */
	tok[strcspn(tok, "\r\n")] = '\0';
	free(c->token);
	c->token = tok;
	c->token_st = st;
	return 0;
}

char *kube_url(struct kube_client *c, const char *path)
{
	char *u;
	if (asprintf(&u, "%s%s", c->cfg.server, path) < 0)
		return NULL;
	return u;
}

static CURLcode set_blob(CURL *e, CURLoption opt, const char *pem)
{
	struct curl_blob b = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
	return curl_easy_setopt(e, opt, &b);
}

/* Applies server, TLS and credentials to e. Called with c->lock held (for the token). */
static int setup_easy(struct kube_client *c, CURL *e, const char *url, struct curl_slist **headers,
		      struct kerf_err *err)
{
	CURLcode rc = CURLE_OK;

	if (refresh_token(c, err))
		return -1;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (c->cfg.ca_pem)
		rc = set_blob(e, CURLOPT_CAINFO_BLOB, c->cfg.ca_pem);
	if (rc == CURLE_OK && c->cfg.cert_pem) {
		rc = set_blob(e, CURLOPT_SSLCERT_BLOB, c->cfg.cert_pem);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		if (rc == CURLE_OK)
			rc = set_blob(e, CURLOPT_SSLKEY_BLOB, c->cfg.key_pem);
	}
	if (rc != CURLE_OK)
		return kerf_err_set(err, KERF_EUNSUPPORTED, "libcurl cannot take in-memory certificates: %s",
				    curl_easy_strerror(rc));
	if (c->cfg.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	*headers = curl_slist_append(*headers, "Accept: application/json");
	if (c->token) {
		char *h;
		if (asprintf(&h, "Authorization: Bearer %s", c->token) < 0)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
		*headers = curl_slist_append(*headers, h);
		free(h);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
	return 0;
}

CURL *kube_easy_new(struct kube_client *c, const char *url, struct curl_slist **headers, struct kerf_err *err)
{
	CURL *e = curl_easy_init();
	int rc;

	if (!e) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	rc = setup_easy(c, e, url, headers, err);
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

char *kube_path(const struct kube_resource *r, const char *ns, const char *name, const char *sub)
{
	char *p;
	int n = asprintf(&p, "/%s%s%s/%s%s%s%s%s", r->api, ns ? "/namespaces/" : "", ns ? ns : "", r->plural,
			 name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
	return n < 0 ? NULL : p;
}

int kube_query_add(char **q, const char *key, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0), *nq;
	int n;

	if (!esc)
		return -1;
	n = asprintf(&nq, "%s%c%s=%s", *q ? *q : "", *q ? '&' : '?', key, esc);
	curl_free(esc);
	if (n < 0)
		return -1;
	free(*q);
	*q = nq;
	return 0;
}

int kube_err_http_status(const struct kerf_err *err)
{
	const char *p;
	if (!err || !(p = strstr(err->msg, ": HTTP ")))
		return 0;
	return atoi(p + 7);
}

static enum kerf_errcode code_for_status(long status)
{
	switch (status) {
	case 400:
	case 422:
		return KERF_EINVAL;
	case 401:
	case 403:
		return KERF_EPERM;
	case 404:
		return KERF_ENOTFOUND;
	case 409:
		return KERF_ECONFLICT;
	case 410:
		return KERF_ENOTFOUND;
	case 429:
	case 503:
		return KERF_EBUSY;
	case 504:
		return KERF_ETIMEOUT;
	default:
		return KERF_EIO;
	}
}

int kube_http_error(const char *method, const char *path, long status, const char *body, size_t len,
		    struct kerf_err *err)
{
	json_t *st = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *reason = st ? json_string_value(json_object_get(st, "reason")) : NULL;
	const char *msg = st ? json_string_value(json_object_get(st, "message")) : NULL;

	kerf_err_set(err, code_for_status(status), "%s %s: HTTP %ld %s: %s", method, path, status,
		     reason ? reason : "", msg ? msg : "(no message)");
	json_decref(st);
	return -1;
}

/* ---------------------------------------------------------------- the general request */

struct buf {
	char *data;
	size_t len, cap;
};

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nd;
		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return 0; /* curl reports a write error */
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

json_t *kube_request(struct kube_client *c, const char *method, const char *path, const json_t *body,
		     const char *content_type, struct kerf_err *err)
{
	struct curl_slist *headers = NULL;
	struct buf resp = {0};
	char *url = kube_url(c, path), *payload = NULL, *ct = NULL;
	json_t *out = NULL;
	long status = 0;
	CURLcode rc;

	if (!url || (body && !(payload = json_dumps(body, JSON_COMPACT)))) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto done;
	}
	pthread_mutex_lock(&c->lock);
	curl_easy_reset(c->easy);
	if (setup_easy(c, c->easy, url, &headers, err)) {
		pthread_mutex_unlock(&c->lock);
		goto done;
	}
	if (payload) {
		if (asprintf(&ct, "Content-Type: %s", content_type ? content_type : "application/json") < 0)
			ct = NULL;
		headers = curl_slist_append(headers, ct ? ct : "Content-Type: application/json");
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, payload);
	}
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &resp);
	rc = curl_easy_perform(c->easy);
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_unlock(&c->lock);

	if (rc != CURLE_OK) {
		kerf_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? KERF_ETIMEOUT : KERF_EIO, "%s %s: %s", method,
			     path, curl_easy_strerror(rc));
		goto done;
	}
	if (status < 200 || status > 299) {
		kube_http_error(method, path, status, resp.data, resp.len, err);
		goto done;
	}
	if (resp.len == 0) {
		out = json_null();
		goto done;
	}
	{
		json_error_t je;
		out = json_loadb(resp.data, resp.len, 0, &je);
		if (!out)
			kerf_err_set(err, KERF_EIO, "%s %s: answer is not JSON: %s", method, path, je.text);
	}
done:
	curl_slist_free_all(headers);
	free(ct);
	free(payload);
	free(resp.data);
	free(url);
	return out;
}

/* ---------------------------------------------------------------- CRUD */

static json_t *request_at(struct kube_client *c, const char *method, const struct kube_resource *r,
			  const char *ns, const char *name, const char *sub, const char *query, const json_t *body,
			  const char *ctype, struct kerf_err *err)
{
	char *path = kube_path(r, ns, name, sub), *full = NULL;
	json_t *out = NULL;

	if (!path || asprintf(&full, "%s%s", path, query ? query : "") < 0) {
		full = NULL;
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
	} else {
		out = kube_request(c, method, full, body, ctype, err);
	}
	free(full);
	free(path);
	return out;
}

json_t *kube_get(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		 struct kerf_err *err)
{
	return request_at(c, "GET", r, ns, name, NULL, NULL, NULL, NULL, err);
}

json_t *kube_list(struct kube_client *c, const struct kube_resource *r, const char *ns,
		  const struct kube_list_opts *opts, struct kerf_err *err)
{
	char *q = NULL, num[32];
	json_t *out = NULL;
	int bad = 0;

	if (opts) {
		if (opts->label_selector)
			bad |= kube_query_add(&q, "labelSelector", opts->label_selector);
		if (opts->field_selector)
			bad |= kube_query_add(&q, "fieldSelector", opts->field_selector);
		if (opts->limit > 0) {
			snprintf(num, sizeof(num), "%ld", opts->limit);
			bad |= kube_query_add(&q, "limit", num);
		}
		if (opts->continue_token)
			bad |= kube_query_add(&q, "continue", opts->continue_token);
		if (opts->resource_version)
			bad |= kube_query_add(&q, "resourceVersion", opts->resource_version);
	}
	if (bad)
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
	else
		out = request_at(c, "GET", r, ns, NULL, NULL, q, NULL, NULL, err);
	free(q);
	return out;
}

int kube_list_all(struct kube_client *c, const struct kube_resource *r, const char *ns,
		  const struct kube_list_opts *opts, int (*each)(json_t *item, void *arg), void *arg, char *rv,
		  size_t rv_size, struct kerf_err *err)
{
	struct kube_list_opts o = opts ? *opts : (struct kube_list_opts){0};
	char *cont = NULL;
	bool delivered = false;
	int rc = -1, restarts = 0;

	o.continue_token = NULL;
	for (;;) {
		json_t *page = kube_list(c, r, ns, &o, err), *items, *item;
		const char *next;
		size_t i;

		if (!page) {
			/* 410 on a continue token: the snapshot it pointed into was compacted. */
			if (kube_err_http_status(err) == 410 && o.continue_token && !delivered && restarts++ < 3) {
				free(cont);
				cont = NULL;
				o.continue_token = NULL;
				continue;
			}
			goto out;
		}
		items = json_object_get(page, "items");
		json_array_foreach(items, i, item)
		{
			delivered = true;
			if (each && each(item, arg)) {
				json_decref(page);
				rc = 0;
				goto out;
			}
		}
		if (rv && rv_size) {
			const char *v = json_string_value(json_object_get(json_object_get(page, "metadata"),
									  "resourceVersion"));
			snprintf(rv, rv_size, "%s", v ? v : "");
		}
		next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
		free(cont);
		cont = next && *next ? strdup(next) : NULL;
		json_decref(page);
		if (!cont)
			break;
		o.continue_token = cont;
	}
	rc = 0;
out:
	free(cont);
	return rc;
}

static const char *meta_str(const json_t *obj, const char *field)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

json_t *kube_create(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		    struct kerf_err *err)
{
	return request_at(c, "POST", r, ns, NULL, NULL, NULL, obj, NULL, err);
}

static json_t *put(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		   const char *sub, struct kerf_err *err)
{
	const char *name = meta_str(obj, "name");
	if (!name) {
		kerf_err_set(err, KERF_EINVAL, "metadata.name: missing");
		return NULL;
	}
	return request_at(c, "PUT", r, ns, name, sub, NULL, obj, NULL, err);
}

json_t *kube_update(struct kube_client *c, const struct kube_resource *r, const char *ns, const json_t *obj,
		    struct kerf_err *err)
{
	return put(c, r, ns, obj, NULL, err);
}

json_t *kube_update_status(struct kube_client *c, const struct kube_resource *r, const char *ns,
			   const json_t *obj, struct kerf_err *err)
{
	return put(c, r, ns, obj, "status", err);
}

json_t *kube_patch(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		   enum kube_patch_type type, const json_t *patch, bool status, struct kerf_err *err)
{
	const char *ct = type == KUBE_PATCH_JSON ? "application/json-patch+json" : "application/merge-patch+json";
	return request_at(c, "PATCH", r, ns, name, status ? "status" : NULL, NULL, patch, ct, err);
}

int kube_delete(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
		struct kerf_err *err)
{
	json_t *out = request_at(c, "DELETE", r, ns, name, NULL, NULL, NULL, NULL, err);
	if (!out)
		return -1;
	json_decref(out);
	return 0;
}

json_t *kube_update_retry(struct kube_client *c, const struct kube_resource *r, const char *ns, const char *name,
			  bool status, int attempts, int (*mutate)(json_t *obj, void *arg, struct kerf_err *err),
			  void *arg, struct kerf_err *err)
{
	struct kerf_err local;

	if (!err)
		err = &local;
	for (int i = 0; i < (attempts > 0 ? attempts : 1); i++) {
		json_t *obj = kube_get(c, r, ns, name, err), *out;
		int m;

		if (!obj)
			return NULL;
		m = mutate(obj, arg, err);
		if (m != 0) {
			if (m > 0)
				return obj;
			json_decref(obj);
			return NULL;
		}
		/* obj still carries the resourceVersion it was read at: the PUT is conditional on it. */
		out = status ? kube_update_status(c, r, ns, obj, err) : kube_update(c, r, ns, obj, err);
		json_decref(obj);
		if (out || err->code != KERF_ECONFLICT)
			return out;
	}
	kerf_err_prefix(err, "%s/%s: gave up after %d conflicting updates", ns ? ns : "", name, attempts);
	return NULL;
}

/* ---------------------------------------------------------------- events */

static void rfc3339_now(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kube_event_emit(struct kube_client *c, const struct kube_object_ref *about, const char *type,
		    const char *reason, const char *message, const char *component, struct kerf_err *err)
{
	const char *ns = about->ns ? about->ns : "default";
	char now[40], gen[300];
	json_t *ev, *out;

	rfc3339_now(now, sizeof(now));
	snprintf(gen, sizeof(gen), "%s.", about->name);
	ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s?, s:s, s:s, s:s?, s:s?}, s:s, s:s, s:s, s:{s:s}, "
		       "s:s, s:s, s:i}",
		       "apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace", ns,
		       "involvedObject", "apiVersion", about->api_version, "kind", about->kind, "name", about->name,
		       "namespace", about->ns, "uid", about->uid, "type", type, "reason", reason, "message", message,
		       "source", "component", component, "firstTimestamp", now, "lastTimestamp", now, "count", 1);
	if (!ev)
		return kerf_err_set(err, KERF_EINVAL, "event: a field is missing (kind, name, type, reason, message, "
						      "component must be set)");
	out = kube_create(c, &KUBE_EVENTS, ns, ev, err);
	json_decref(ev);
	if (!out)
		return -1;
	json_decref(out);
	return 0;
}
