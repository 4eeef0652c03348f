/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.h — the one error convention every kerf module uses.
 *
 * A fallible function returns 0 (or a pointer) on success and -1 (or NULL) on failure, and fills a
 * caller-provided struct kerf_err with a code and a sentence a person can act on. Where the failure is
 * about input, the sentence starts with the path of the offending field:
 *
 *     nodes[2].gpus[0].instances[1].start: 6 is not a legal start for 2g.20gb (legal: 0, 2, 4)
 *
 * Callers that add context do so with kerf_err_prefix(), which keeps the original sentence intact.
 * The struct is plain data: no allocation, safe to put on the stack, safe to ignore (pass NULL).
 */
#ifndef KERF_ERR_H
#define KERF_ERR_H

#include <stddef.h>

enum kerf_errcode {
	KERF_OK = 0,
	KERF_EINVAL,      /* bad input: a field has an illegal value */
	KERF_ENOTFOUND,   /* a named thing (model, profile, file, object) does not exist */
	KERF_EBUSY,       /* the thing is in use (a MIG instance with a pod or a process) */
	KERF_ECONFLICT,   /* someone else changed it first (Kubernetes 409, occupied placement) */
	KERF_EUNSUPPORTED,/* the hardware, driver or server cannot do this */
	KERF_EPERM,       /* not allowed */
	KERF_EIO,         /* the outside world failed: I/O, network, driver */
	KERF_ENOMEM,      /* out of memory or a fixed-size table is full */
	KERF_ETIMEOUT,    /* gave up waiting */
	KERF_EINTERNAL,   /* a bug in kerf: an invariant did not hold */
};

#define KERF_ERR_MSG_MAX 512

/*
 * An error from an HTTP answer (the Kubernetes API server's) also carries the answer's status and the
 * `reason` of the Status object it sent ("Forbidden", "NotFound", "Expired"...): logs write them as fields,
 * and callers branch on the status without reading the sentence. Both are zero when the error is not an
 * HTTP answer: kerf_err_set() clears them, the code that read the answer sets them after it, and
 * kerf_err_prefix()/kerf_err_path() keep them.
 */
#define KERF_ERR_REASON_MAX 64

struct kerf_err {
	enum kerf_errcode code;
	int http_status;                  /* 0: not an HTTP answer */
	char reason[KERF_ERR_REASON_MAX]; /* "": none */
	char msg[KERF_ERR_MSG_MAX];
};

/* Sets err (if not NULL) and returns -1, so that `return kerf_err_set(err, ...);` reads naturally. */
int kerf_err_set(struct kerf_err *err, enum kerf_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to the message already in err, keeping its code. Returns -1. */
int kerf_err_prefix(struct kerf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Prepends a field path to a message that already starts with a path: "nodes[2].gpus[0]" joined to
 * "instances[1].start: ..." gives "nodes[2].gpus[0].instances[1].start: ...", and to "[3]: ..." gives
 * "nodes[2].gpus[0][3]: ...". Returns -1.
 */
int kerf_err_path(struct kerf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the HTTP status and reason (NULL: none) of an error already set. */
void kerf_err_http(struct kerf_err *err, int status, const char *reason);

/* Resets err to KERF_OK with an empty message. */
void kerf_err_clear(struct kerf_err *err);

#endif
