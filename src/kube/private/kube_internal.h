/* SPDX-License-Identifier: Apache-2.0 */
/* kube_internal.h — what the kube/ source files share with each other and nobody else. */
#ifndef KERF_KUBE_INTERNAL_H
#define KERF_KUBE_INTERNAL_H

#include <curl/curl.h>

#include "file.h"
#include "kube.h"

/* Whether s holds a PEM block whose label contains what ("CERTIFICATE", "PRIVATE KEY"). */
bool kube_looks_like_pem(const char *s, const char *what);

/* "/api/v1/namespaces/ns/pods/name/status"; ns, name and sub may be NULL. Returns malloc'd path. */
char *kube_path(const struct kube_resource *r, const char *ns, const char *name, const char *sub);

/*
 * A new easy handle set up for c's server, TLS, proxy and credentials, with headers to free by the caller
 * (the Authorization header is among them). url is the full URL. *gen identifies the plugin credential it
 * carries (0: none), for kube_auth_rejected().
 */
CURL *kube_easy_new(struct kube_client *c, const char *url, struct curl_slist **headers, unsigned long *gen,
		    struct kerf_err *err);

/* The server answered 401 to a request made with credential gen: a plugin's is dropped, so that the next
 * request runs the plugin again. */
void kube_auth_rejected(struct kube_client *c, unsigned long gen);

/* Appends "&key=<escaped value>" (or "?" first) to a growing query string. */
int kube_query_add(char **q, const char *key, const char *value);

/* Full URL for path on c's server (malloc'd). */
char *kube_url(struct kube_client *c, const char *path);

/* Turns a non-2xx answer into err (code from status, message from the Status body). Returns -1. */
int kube_http_error(const char *method, const char *path, long status, const char *body, size_t len,
		    struct kerf_err *err);

/* Milliseconds on the monotonic clock. */
long long kube_now_ms(void);

#endif
