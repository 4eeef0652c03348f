/* SPDX-License-Identifier: Apache-2.0 */
/*
 * watch.c — the streaming watch: an incremental line decoder, and one watch connection on top of it.
 *
 * The API server sends a watch as a chunked HTTP body of newline-terminated JSON objects
 * {"type":"ADDED","object":{...}}. Each line is decoded the moment its newline arrives, straight from
 * curl's buffer when the whole line is inside it (the common case: no copy), so a daemon sees a change as
 * soon as the server sends it and memory stays at one line, however long the watch runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "kube.h"
#include "kube_filter.h"
#include "kube_internal.h"

#define RV_MAX 64

struct kube_decoder {
	kube_event_fn fn;
	void *arg;
	char *partial; /* the start of a line whose newline has not arrived yet */
	size_t plen, pcap;
	char rv[RV_MAX];
	uint64_t events;
	struct kube_fields *fields; /* NULL: decode everything but managedFields */
	char *scratch;              /* the filtered line */
	size_t scap;
};

struct kube_decoder *kube_decoder_new(kube_event_fn fn, void *arg)
{
	struct kube_decoder *d = calloc(1, sizeof(*d));
	if (d) {
		d->fn = fn;
		d->arg = arg;
	}
	return d;
}

void kube_decoder_free(struct kube_decoder *d)
{
	if (d) {
		kube_fields_free(d->fields);
		free(d->scratch);
		free(d->partial);
		free(d);
	}
}

int kube_decoder_keep(struct kube_decoder *d, const char *const *fields)
{
	struct kube_fields *f = fields ? kube_fields_new(fields) : NULL;
	if (fields && !f)
		return -1;
	kube_fields_free(d->fields);
	d->fields = f;
	return 0;
}

const char *kube_decoder_last_rv(const struct kube_decoder *d)
{
	return d->rv;
}

uint64_t kube_decoder_events(const struct kube_decoder *d)
{
	return d->events;
}

static int event_type(const char *t, enum kube_event_type *out)
{
	static const struct {
		const char *name;
		enum kube_event_type type;
	} names[] = {{"ADDED", KUBE_ADDED},
		     {"MODIFIED", KUBE_MODIFIED},
		     {"DELETED", KUBE_DELETED},
		     {"BOOKMARK", KUBE_BOOKMARK},
		     {"ERROR", KUBE_ERROR}};
	for (size_t i = 0; t && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(t, names[i].name) == 0) {
			*out = names[i].type;
			return 0;
		}
	return -1;
}

/*
 * Where the array after `"managedFields":` ends (one past its closing bracket), or NULL if malformed.
 * Strings are skipped whole, so brackets inside them do not count.
 */
static const char *skip_array(const char *p, const char *end)
{
	int depth = 0;
	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
		} else if (*p == '[' || *p == '{') {
			depth++;
		} else if (*p == ']' || *p == '}') {
			if (--depth == 0)
				return p + 1;
		}
	}
	return NULL;
}

/*
 * metadata.managedFields is server-side-apply bookkeeping that kerf never reads, and typically a third of
 * every object on the wire; cutting it out before parsing saves that share of the decode time (bench/kube).
 * In compact JSON an unescaped `,"managedFields":[` can only be a key, as a quote inside a string is escaped.
 * Returns a malloc'd line without it, or NULL to parse the line as it is.
 */
static char *strip_managed_fields(const char *line, size_t len, size_t *out_len)
{
	static const char key[] = ",\"managedFields\":[";
	const char *at = memmem(line, len, key, sizeof(key) - 1), *after;
	char *out;

	if (!at)
		return NULL;
	after = skip_array(at + sizeof(key) - 2, line + len);
	if (!after || !(out = malloc(len)))
		return NULL;
	memcpy(out, line, (size_t)(at - line));
	memcpy(out + (at - line), after, (size_t)(line + len - after));
	*out_len = (size_t)(at - line) + (size_t)(line + len - after);
	return out;
}

static int decode_line(struct kube_decoder *d, const char *line, size_t len, struct kerf_err *err)
{
	json_error_t je;
	json_t *ev, *obj;
	enum kube_event_type type;
	const char *rv;
	int rc;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if (d->fields) {
		size_t flen = 0;
		if (len + 1 > d->scap) {
			char *ns = realloc(d->scratch, len + 1);
			if (ns) {
				d->scratch = ns;
				d->scap = len + 1;
			}
		}
		if (len + 1 <= d->scap)
			flen = kube_fields_filter(d->fields, line, len, d->scratch, d->scap);
		ev = flen ? json_loadb(d->scratch, flen, 0, &je) : NULL;
		if (!ev) /* not shaped as expected: the whole line decides */
			ev = json_loadb(line, len, 0, &je);
	} else {
		size_t slen;
		char *stripped = strip_managed_fields(line, len, &slen);
		ev = stripped ? json_loadb(stripped, slen, 0, &je) : json_loadb(line, len, 0, &je);
		free(stripped);
	}
	if (!ev)
		return kerf_err_set(err, KERF_EIO, "watch stream: line is not JSON: %s", je.text);
	obj = json_object_get(ev, "object");
	if (event_type(json_string_value(json_object_get(ev, "type")), &type) || !json_is_object(obj)) {
		json_decref(ev);
		return kerf_err_set(err, KERF_EIO, "watch stream: line is not a watch event (type/object)");
	}
	if (type != KUBE_ERROR) {
		rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
		if (rv)
			snprintf(d->rv, sizeof(d->rv), "%s", rv);
	}
	d->events++;
	rc = d->fn ? d->fn(type, obj, d->arg) : 0;
	json_decref(ev);
	return rc ? 1 : 0;
}

static int keep_partial(struct kube_decoder *d, const char *p, size_t n, struct kerf_err *err)
{
	if (kerf_grow(&d->partial, &d->pcap, d->plen + n, 1, SIZE_MAX / 4, "watch line", NULL) < 0)
		return kerf_err_set(err, KERF_ENOMEM, "watch stream: out of memory for a %zu-byte line", d->plen + n);
	memcpy(d->partial + d->plen, p, n);
	d->plen += n;
	return 0;
}

int kube_decoder_feed(struct kube_decoder *d, const char *buf, size_t len, struct kerf_err *err)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int rc;
		if (!nl)
			return keep_partial(d, p, (size_t)(end - p), err);
		if (d->plen) {
			if (keep_partial(d, p, (size_t)(nl - p), err))
				return -1;
			rc = decode_line(d, d->partial, d->plen, err);
			d->plen = 0;
		} else {
			rc = decode_line(d, p, (size_t)(nl - p), err);
		}
		if (rc)
			return rc;
		p = nl + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- one watch connection */

struct watch_ctx {
	CURL *easy;
	struct kube_decoder *dec;
	kube_event_fn fn;
	void *arg;
	const volatile int *stop;
	long status;     /* HTTP status, read once the headers are in */
	char *errbody;   /* body of a non-200 answer (a Status) */
	size_t errlen;
	bool gone;       /* an ERROR event with code 410 */
	bool stopped;    /* the callback asked to stop */
	void (*on_open)(void *arg); /* kube_watch_opts.on_open, called once (opened) */
	bool opened;
	struct kerf_err *err;
	int failed;      /* decoder error: err holds it */
};

static int watch_event(enum kube_event_type type, json_t *obj, void *arg)
{
	struct watch_ctx *w = arg;

	if (type == KUBE_ERROR) {
		/* The server ends a watch it cannot serve with an ERROR event carrying a Status; 410 means
		 * "too old resource version" (compacted, or older than the watch cache holds). */
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		if (code == 410)
			w->gone = true;
		else {
			const char *m = json_string_value(json_object_get(obj, "message"));
			kerf_err_set(w->err, KERF_EIO, "watch: server sent an error event %lld: %s", (long long)code,
				     m ? m : "");
			kerf_err_http(w->err, (int)code, json_string_value(json_object_get(obj, "reason")));
			w->failed = 1;
		}
		return 1;
	}
	if (w->fn && w->fn(type, obj, w->arg)) {
		w->stopped = true;
		return 1;
	}
	return 0;
}

/* Tells the caller once that the server answered 200, as soon as either callback sees it. */
static void note_open(struct watch_ctx *w)
{
	long status = w->status;

	if (w->opened || w->on_open == NULL)
		return;
	if (status == 0)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		w->opened = true;
		w->on_open(w->arg);
	}
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct watch_ctx *w = ud;
	size_t n = size * nmemb;

	if (!w->status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
	note_open(w);
	if (w->status != 200) {
		char *nb = realloc(w->errbody, w->errlen + n + 1);
		if (!nb)
			return 0;
		memcpy(nb + w->errlen, ptr, n);
		w->errbody = nb;
		w->errlen += n;
		return n;
	}
	switch (kube_decoder_feed(w->dec, ptr, n, w->err)) {
	case 0:
		return n;
	case 1:
		return 0; /* stops the transfer; the flags say why */
	default:
		w->failed = 1;
		return 0;
	}
}

static int watch_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct watch_ctx *w = ud;
	(void)dt, (void)dn, (void)ut, (void)un;
	note_open(w); /* the headers are in before any event, and an idle watch still gets a call a second */
	return w->stop && *w->stop; /* non-zero aborts; curl calls this at least once a second */
}

static char *watch_path(const struct kube_resource *r, const char *ns, const struct kube_watch_opts *o,
			long timeout_s)
{
	char *base = kube_path(r, ns, NULL, NULL), *q = NULL, *full = NULL, num[32];
	int bad = 0;

	if (!base)
		return NULL;
	bad |= kube_query_add(&q, "watch", "true");
	bad |= kube_query_add(&q, "allowWatchBookmarks", "true");
	snprintf(num, sizeof(num), "%ld", timeout_s);
	bad |= kube_query_add(&q, "timeoutSeconds", num);
	if (o && o->label_selector)
		bad |= kube_query_add(&q, "labelSelector", o->label_selector);
	if (o && o->field_selector)
		bad |= kube_query_add(&q, "fieldSelector", o->field_selector);
	if (o && o->resource_version && *o->resource_version)
		bad |= kube_query_add(&q, "resourceVersion", o->resource_version);
	if (!bad && asprintf(&full, "%s%s", base, q) < 0)
		full = NULL;
	free(base);
	free(q);
	return full;
}

int kube_watch(struct kube_client *c, const struct kube_resource *r, const char *ns,
	       const struct kube_watch_opts *opts, kube_event_fn fn, void *arg, char *rv, size_t rv_size,
	       struct kerf_err *err)
{
	long timeout_s = opts && opts->timeout_s > 0 ? opts->timeout_s : 300;
	struct watch_ctx w = {.fn = fn, .arg = arg, .stop = opts ? opts->stop : NULL, .err = err,
			      .on_open = opts ? opts->on_open : NULL};
	struct curl_slist *headers = NULL;
	struct kerf_err local;
	unsigned long gen = 0;
	char *path = watch_path(r, ns, opts, timeout_s), *url = NULL;
	int result = -1;
	CURLcode rc;

	if (!err)
		w.err = err = &local;
	if (rv && rv_size)
		snprintf(rv, rv_size, "%s", opts && opts->resource_version ? opts->resource_version : "");
	if (!path || !(url = kube_url(c, path)) || !(w.dec = kube_decoder_new(watch_event, &w)) ||
	    (opts && kube_decoder_keep(w.dec, opts->fields))) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	w.easy = kube_easy_new(c, url, &headers, &gen, err);
	if (!w.easy)
		goto out;
	curl_easy_setopt(w.easy, CURLOPT_HTTPGET, 1L);
	/* No compression on a watch: the server would buffer events to fill its compressor, and curl 7.88's
	 * streaming decoder failed mid-stream on kube-apiserver's gzipped watch (found by bench/kube). */
	curl_easy_setopt(w.easy, CURLOPT_ACCEPT_ENCODING, NULL);
	/* The server closes the watch after timeout_s; the client's own limit is a backstop against a peer that
	 * vanished without a FIN (no request may hang a daemon). */
	curl_easy_setopt(w.easy, CURLOPT_TIMEOUT, timeout_s + 30);
	curl_easy_setopt(w.easy, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w.easy, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(w.easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w.easy, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(w.easy, CURLOPT_XFERINFODATA, &w);
	rc = curl_easy_perform(w.easy);
	if (!w.status)
		curl_easy_getinfo(w.easy, CURLINFO_RESPONSE_CODE, &w.status);

	if (w.failed)
		goto out;
	if (w.gone) {
		result = KUBE_WATCH_GONE;
	} else if (w.stopped || (w.stop && *w.stop)) {
		result = KUBE_WATCH_STOPPED;
	} else if (w.status && w.status != 200) {
		if (w.status == 410) {
			result = KUBE_WATCH_GONE;
		} else {
			/* A refused plugin credential: the next connection (the informer retries) runs it again. */
			if (w.status == 401)
				kube_auth_rejected(c, gen);
			kube_http_error("GET", path, w.status, w.errbody, w.errlen, err);
		}
	} else if (rc == CURLE_OK || (w.status == 200 && (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
							   rc == CURLE_OPERATION_TIMEDOUT))) {
		/* Ended by the server or dropped mid-stream: the caller resumes from rv. */
		result = KUBE_WATCH_CLOSED;
	} else {
		kerf_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? KERF_ETIMEOUT : KERF_EIO, "watch %s: %s", path,
			     curl_easy_strerror(rc));
	}
out:
	if (w.dec && rv && rv_size && kube_decoder_last_rv(w.dec)[0])
		snprintf(rv, rv_size, "%s", kube_decoder_last_rv(w.dec));
	if (w.easy)
		curl_easy_cleanup(w.easy);
	curl_slist_free_all(headers);
	kube_decoder_free(w.dec);
	free(w.errbody);
	free(url);
	free(path);
	return result;
}
