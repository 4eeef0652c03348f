/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c — one-shot requests: transport setup (TLS, credentials, proxy, timeouts), CRUD, patches, paging,
 * conflict retries and Events.
 *
 * One curl easy handle per client is reused under a mutex so that the TCP+TLS connection survives between
 * requests (a daemon issues them steadily; a new handshake each time would dominate their cost).
 *
 * Credentials come from the kubeconfig (token, token file re-read when it changes, client certificate) or
 * from a credential plugin (exec_cred.c), whose credential is asked for on every request and cached there.
 * Two answers are retried here, because the answer itself says that the request was not served:
 *   - 401 while a plugin's credential was in use: the plugin runs again (once) and the request is repeated,
 *     as client-go refreshes an exec credential the server refused;
 *   - 429 with Retry-After (API Priority and Fairness rejected it before it was served): wait as told, at most
 *     RETRY_AFTER_MAX_S a time and never past the request's timeout, at most RETRY_429_MAX times.
 *
 * tls-server-name: libcurl 7.88 has no option for the name to send as SNI and verify the certificate
 * against that differs from the URL's host (CURLOPT_SSL_VERIFYHOST only switches the check on or off). So
 * the URL is written with the tls-server-name as its host, CURLOPT_CONNECT_TO sends the connection to the
 * server's real host and port, and the Host header is set to the real one: the certificate is checked
 * against tls-server-name (as client-go's tls.Config.ServerName does) while the server sees its own name.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "deadline.h"
#include "kube.h"
#include "kube_exec.h"
#include "kube_internal.h"
#include "kube_metrics.h"

#define RETRY_AFTER_MAX_S 10
#define RETRY_429_MAX 5

const struct kube_resource KUBE_PODS = {"api/v1", "pods"};
const struct kube_resource KUBE_NODES = {"api/v1", "nodes"};
const struct kube_resource KUBE_CONFIGMAPS = {"api/v1", "configmaps"};
const struct kube_resource KUBE_EVENTS = {"api/v1", "events"};
const struct kube_resource KUBE_LEASES = {"apis/coordination.k8s.io/v1", "leases"};
const struct kube_resource KUBE_MIGLAYOUTS = {"apis/kerf.dev/v1alpha1", "miglayouts"};
const struct kube_resource KUBE_RESOURCESLICES = {"apis/resource.k8s.io/v1", "resourceslices"};

struct kube_client {
	struct kube_config cfg;
	long timeout_ms;
	pthread_mutex_t lock; /* guards easy and the token fields */
	CURL *easy;
	char *token;          /* current bearer token (from cfg.token or cfg.token_file) */
	struct stat token_st; /* token_file's identity when token was read: re-read when it changes */
	struct stat cert_st, key_st; /* cfg.cert_file/key_file's identity when cert_pem/key_pem were read */
	bool has_exec;        /* cfg.exec is set and exec caches its credential */
	struct kube_exec_source exec;
	char *url_base;       /* what paths are appended to: cfg.server, or its tls-server-name form */
	struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO's entry for tls-server-name, or NULL */
	char *host_header;    /* "Host: <server's host:port>" with tls-server-name, or NULL */
	/* kube_client_metrics(): requests by verb and answer, and their time; NULL: not counted */
	struct metric *requests, *request_s;
};

void kube_client_metrics(struct kube_client *c, struct metrics *m)
{
	c->requests = metrics_counter(m, "kerf_api_requests_total",
				      "Requests to the API server (watches not included), by verb and HTTP status; code "
				      "\"error\" when no answer came (unreachable, timed out).",
				      "verb,code");
	c->request_s = metrics_histogram(m, "kerf_api_request_duration_seconds",
					 "Time of a request to the API server, by verb.", "verb", METRICS_LATENCY_BUCKETS,
					 METRICS_LATENCY_BUCKETS_N);
}

/* One request's answer, counted (every try: a 429 waited out or a 401 retried is a request too). */
static void count_request(struct kube_client *c, const char *method, CURLcode rc, long status, long long t0)
{
	char code[16];

	if (c->requests == NULL)
		return;
	snprintf(code, sizeof(code), rc == CURLE_OK ? "%ld" : "error", status);
	metric_add(c->requests, 1, method, code);
	metric_observe(c->request_s, (double)(kube_now_ms() - t0) / 1000.0, method);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

long long kube_now_ms(void)
{
	return kerf_mono_ms();
}

/*
 * With tls-server-name: "https://NAME:PORT/prefix" as the URL base, "NAME:PORT:HOST:PORT" for
 * CURLOPT_CONNECT_TO, and the Host header naming the real server (see the top of this file).
 */
static int tls_name_urls(struct kube_client *c)
{
	const char *auth = c->cfg.server + 8, *end = auth + strcspn(auth, "/"), *port = NULL, *hend = end;
	const char *sni = c->cfg.tls_server_name;
	char *entry;

	if (*auth == '[') {
		const char *rb = memchr(auth, ']', (size_t)(end - auth));
		if (rb && rb + 1 < end && rb[1] == ':')
			port = rb + 2, hend = rb + 1;
	} else {
		const char *colon = memchr(auth, ':', (size_t)(end - auth));
		if (colon)
			port = colon + 1, hend = colon;
	}
	if (asprintf(&c->url_base, "https://%s:%.*s%s", sni, port ? (int)(end - port) : 3, port ? port : "443",
		     end) < 0) {
		c->url_base = NULL;
		return -1;
	}
	if (asprintf(&entry, "%s:%.*s:%.*s:%.*s", sni, port ? (int)(end - port) : 3, port ? port : "443",
		     (int)(hend - auth), auth, port ? (int)(end - port) : 3, port ? port : "443") < 0)
		return -1;
	c->connect_to = curl_slist_append(NULL, entry);
	free(entry);
	if (!c->connect_to)
		return -1;
	if (asprintf(&c->host_header, "Host: %.*s", (int)(end - auth), auth) < 0) {
		c->host_header = NULL;
		return -1;
	}
	return 0;
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
	if (kube_config_copy(&c->cfg, cfg, err)) {
		free(c);
		return NULL;
	}
	if (c->cfg.exec) {
		c->has_exec = true;
		kube_exec_source_init(&c->exec, &c->cfg);
	}
	if (c->cfg.tls_server_name ? tls_name_urls(c) : !(c->url_base = strdup(c->cfg.server)))
		oom = true;
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

struct kube_client *kube_client_dup(const struct kube_client *c, struct kerf_err *err)
{
	struct kube_client *d = kube_client_new(&c->cfg, c->timeout_ms, err);

	if (d == NULL)
		return NULL;
	d->requests = c->requests; /* the same series: metrics.h serializes updates */
	d->request_s = c->request_s;
	return d;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->has_exec)
		kube_exec_source_destroy(&c->exec);
	kube_config_free(&c->cfg);
	free(c->token);
	free(c->url_base);
	curl_slist_free_all(c->connect_to);
	free(c->host_header);
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
	tok = kerf_read_file(c->cfg.token_file, 1 << 16, NULL, err);
	if (!tok)
		return c->token ? 0 : -1; /* keep the old token while a rotation is half written */
	tok[strcspn(tok, "\r\n")] = '\0';
	free(c->token);
	c->token = tok;
	c->token_st = st;
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Client certificate files are re-read when either changes (cert-manager and kubeadm rotate them in place),
 * as client-go reloads file-based client certificates. A pair that does not read as PEM (a rotation half
 * written) leaves the old pair in use until the next request looks again. Called with c->lock held.
 */
static void refresh_certs(struct kube_client *c)
{
	struct stat a, b;
	char *cert, *key;

	if (!c->cfg.cert_file || !c->cfg.key_file || stat(c->cfg.cert_file, &a) != 0 || stat(c->cfg.key_file, &b) != 0)
		return;
	if (same_file(&a, &c->cert_st) && same_file(&b, &c->key_st))
		return;
	cert = kerf_read_file(c->cfg.cert_file, 1 << 20, NULL, NULL);
	key = kerf_read_file(c->cfg.key_file, 1 << 20, NULL, NULL);
	if (cert && key && kube_looks_like_pem(cert, "CERTIFICATE") && kube_looks_like_pem(key, "PRIVATE KEY")) {
		free(c->cfg.cert_pem);
		memset(c->cfg.key_pem, 0, strlen(c->cfg.key_pem));
		free(c->cfg.key_pem);
		c->cfg.cert_pem = cert;
		c->cfg.key_pem = key;
		c->cert_st = a;
		c->key_st = b;
		return;
	}
	free(cert);
	if (key)
		memset(key, 0, strlen(key));
	free(key);
}

char *kube_url(struct kube_client *c, const char *path)
{
	char *u;
	if (asprintf(&u, "%s%s", c->url_base, path) < 0)
		return NULL;
	return u;
}

static CURLcode set_blob(CURL *e, CURLoption opt, const char *pem)
{
	struct curl_blob b = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
	return curl_easy_setopt(e, opt, &b);
}

/*
 * Applies server, TLS, proxy and credentials to e. Called with c->lock held (for the token). *gen is the
 * plugin credential used (0 when none), for kube_auth_rejected().
 */
static int setup_easy(struct kube_client *c, CURL *e, const char *url, struct curl_slist **headers,
		      unsigned long *gen, struct kerf_err *err)
{
	struct kube_exec_cred cred = {0};
	const char *token, *cert, *key;
	CURLcode rc = CURLE_OK;
	int result = -1;

	*gen = 0;
	if (refresh_token(c, err))
		return -1;
	token = c->token; /* after the refresh: a rotated file's token */
	refresh_certs(c);
	cert = c->cfg.cert_pem;
	key = c->cfg.key_pem;
	if (c->has_exec) {
		if (kube_exec_source_get(&c->exec, &cred, gen, err))
			return -1;
		token = cred.token;
		cert = cred.cert_pem;
		key = cred.key_pem;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (c->cfg.proxy_url)
		curl_easy_setopt(e, CURLOPT_PROXY, c->cfg.proxy_url);
	if (c->connect_to) /* curl does not copy the list: the client's lives as long as its handles */
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
	if (c->cfg.ca_pem)
		rc = set_blob(e, CURLOPT_CAINFO_BLOB, c->cfg.ca_pem);
	if (rc == CURLE_OK && cert) {
		rc = set_blob(e, CURLOPT_SSLCERT_BLOB, cert);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		if (rc == CURLE_OK)
			rc = set_blob(e, CURLOPT_SSLKEY_BLOB, key);
	}
	if (rc != CURLE_OK) {
		kerf_err_set(err, KERF_EUNSUPPORTED, "libcurl cannot take in-memory certificates: %s",
			     curl_easy_strerror(rc));
		goto out;
	}
	if (c->cfg.insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	*headers = curl_slist_append(*headers, "Accept: application/json");
	if (c->host_header)
		*headers = curl_slist_append(*headers, c->host_header);
	if (token) {
		char *h;
		if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
			goto oom;
		*headers = curl_slist_append(*headers, h);
		memset(h, 0, strlen(h));
		free(h);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
	result = 0;
	goto out;
oom:
	kerf_err_set(err, KERF_ENOMEM, "out of memory");
out:
	kube_exec_cred_clear(&cred);
	return result;
}

CURL *kube_easy_new(struct kube_client *c, const char *url, struct curl_slist **headers, unsigned long *gen,
		    struct kerf_err *err)
{
	CURL *e = curl_easy_init();
	int rc;

	if (!e) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	rc = setup_easy(c, e, url, headers, gen, err);
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

void kube_auth_rejected(struct kube_client *c, unsigned long gen)
{
	if (c->has_exec && gen)
		kube_exec_source_rejected(&c->exec, gen);
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
	return err ? err->http_status : 0;
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
	kerf_err_http(err, (int)status, reason);
	json_decref(st);
	return -1;
}

/* ---------------------------------------------------------------- the general request */

/* The answer is held whole in memory: jansson parses it in one piece. No limit of kerf's own (the server's
 * own limits bound it); a failed add (out of memory) makes curl report a write error. */
#define RESP_MAX (SIZE_MAX / 4)

static size_t buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct kerf_buf *b = ud;
	size_t n = size * nmemb;

	return kerf_buf_add(b, ptr, n, NULL) < 0 ? 0 : n;
}

/*
 * How long to wait before retrying a 429, in ms: the server's Retry-After (seconds), at most
 * RETRY_AFTER_MAX_S, and -1 when there is no Retry-After or no time left before deadline_ms.
 */
static long retry_after_wait(CURL *e, long long deadline_ms)
{
	curl_off_t ra = -1;
	long wait;

	if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
		return -1;
	wait = (long)(ra > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : ra) * 1000L;
	return kube_now_ms() + wait < deadline_ms ? wait : -1;
}

json_t *kube_request(struct kube_client *c, const char *method, const char *path, const json_t *body,
		     const char *content_type, struct kerf_err *err)
{
	struct curl_slist *headers = NULL;
	struct kerf_buf resp;
	char *url = kube_url(c, path), *payload = NULL, *ct = NULL;
	json_t *out = NULL;
	long status = 0;
	long long deadline = kube_now_ms() + c->timeout_ms;
	bool reauth_done = false;
	int throttled = 0;
	CURLcode rc;

	kerf_buf_init(&resp, RESP_MAX, "answer");
	if (!url || (body && !(payload = json_dumps(body, JSON_COMPACT))) ||
	    asprintf(&ct, "Content-Type: %s", content_type ? content_type : "application/json") < 0) {
		ct = NULL;
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto done;
	}
	for (;;) {
		unsigned long gen = 0;
		long wait = -1;
		long long t0;

		curl_slist_free_all(headers);
		headers = NULL;
		kerf_buf_reset(&resp);
		pthread_mutex_lock(&c->lock);
		curl_easy_reset(c->easy);
		if (setup_easy(c, c->easy, url, &headers, &gen, err)) {
			pthread_mutex_unlock(&c->lock);
			goto done;
		}
		if (payload) {
			headers = curl_slist_append(headers, ct);
			curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, payload);
		}
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, buf_write);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &resp);
		t0 = kube_now_ms();
		rc = curl_easy_perform(c->easy);
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		count_request(c, method, rc, status, t0);
		if (rc == CURLE_OK && status == 429 && throttled < RETRY_429_MAX)
			wait = retry_after_wait(c->easy, deadline);
		pthread_mutex_unlock(&c->lock);

		if (rc == CURLE_OK && status == 401 && gen && !reauth_done) {
			/* The plugin's credential was refused (revoked, or expired early): run it again, once. */
			kube_auth_rejected(c, gen);
			reauth_done = true;
			continue;
		}
		if (wait >= 0) {
			/* Told to come back later (API Priority and Fairness): the request was not served. */
			struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
			throttled++;
			nanosleep(&ts, NULL);
			continue;
		}
		break;
	}

	if (rc != CURLE_OK) {
		kerf_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? KERF_ETIMEOUT : KERF_EIO, "%s %s: %s", method,
			     path, curl_easy_strerror(rc));
		goto done;
	}
	if (status < 200 || status > 299) {
		kube_http_error(method, path, status, resp.p, resp.len, err);
		if (throttled)
			kerf_err_prefix(err, "after %d waits as Retry-After told", throttled);
		goto done;
	}
	if (resp.len == 0) {
		out = json_null();
		goto done;
	}
	{
		json_error_t je;
		out = json_loadb(resp.p, resp.len, 0, &je);
		if (!out)
			kerf_err_set(err, KERF_EIO, "%s %s: answer is not JSON: %s", method, path, je.text);
	}
done:
	curl_slist_free_all(headers);
	free(ct);
	free(payload);
	kerf_buf_reset(&resp);
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
