/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_exec.h — the credential-plugin side of the client (exec_cred.c), shared with client.c and config.c
 * and open to the unit tests: running a plugin, reading its ExecCredential, and a cache that runs it again
 * when the credential is about to expire or the server refused it.
 */
#ifndef KERF_KUBE_EXEC_H
#define KERF_KUBE_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "kube.h"

/* What a plugin handed back. PEMs are text, as the plugin printed them (not base64). */
struct kube_exec_cred {
	char *token;
	char *cert_pem, *key_pem; /* both or neither */
	time_t expiry;            /* status.expirationTimestamp; 0 = does not expire */
};

void kube_exec_cred_clear(struct kube_exec_cred *c);

struct kube_exec *kube_exec_dup(const struct kube_exec *x);
void kube_exec_free(struct kube_exec *x);

/* "2026-12-01T20:31:26Z", with optional fractional seconds and a numeric offset instead of Z. */
int kube_rfc3339(const char *s, time_t *out);

/*
 * Reads a plugin's standard output: an ExecCredential of x's apiVersion with status.token and/or
 * status.clientCertificateData + clientKeyData, and optionally status.expirationTimestamp. Errors name the
 * field ("status.expirationTimestamp: ...") after "<x->where>: plugin \"<command>\"".
 */
int kube_exec_parse(const struct kube_exec *x, const char *out, size_t len, struct kube_exec_cred *cred,
		    struct kerf_err *err);

/*
 * Runs the plugin once (no shell; stdin /dev/null; KUBERNETES_EXEC_INFO set, with cfg's cluster when
 * provideClusterInfo is true), waiting at most timeout_ms, and parses what it printed.
 */
int kube_exec_run(const struct kube_exec *x, const struct kube_config *cfg, long timeout_ms,
		  struct kube_exec_cred *cred, struct kerf_err *err);

/* The client's cache of one plugin's credential. cfg is borrowed and must outlive it. */
struct kube_exec_source {
	const struct kube_config *cfg;
	pthread_mutex_t lock;
	struct kube_exec_cred cred; /* the current one; token and cert_pem both NULL when there is none */
	time_t obtained;            /* when cred was obtained (wall clock, as the expiry is) */
	unsigned long gen;          /* counts credentials obtained; identifies the current one */
	unsigned long runs;         /* plugin runs, failed ones included */
};

void kube_exec_source_init(struct kube_exec_source *s, const struct kube_config *cfg);
void kube_exec_source_destroy(struct kube_exec_source *s);

/*
 * Copies the current credential into out (the caller clears it), running the plugin first when there is
 * none or when it expires within min(10 s, a quarter of its lifetime). *gen identifies the copy.
 */
int kube_exec_source_get(struct kube_exec_source *s, struct kube_exec_cred *out, unsigned long *gen,
			 struct kerf_err *err);

/* The server answered 401 to credential gen: drop it (if still current) so that the next get runs the
 * plugin again. */
void kube_exec_source_rejected(struct kube_exec_source *s, unsigned long gen);

#endif
