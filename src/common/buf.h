/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.h — the one growable byte buffer, and the one way to grow an array, that kerf uses.
 *
 * Modelled on curl's dynbuf. Every buffer is born with a hard limit: the most bytes it may ever hold.
 * Answers from servers, pipe output, log lines and metric pages are all read into one of these, so a
 * peer that sends too much fails with a sentence naming what overflowed instead of filling memory.
 *
 * The contents are always NUL-terminated once anything was added (text parsers want that); the length
 * excludes the NUL. A failed add (over the limit, or out of memory) frees what was held and leaves the
 * buffer empty, as after kerf_buf_init(), with err saying why: the caller never sees half an answer.
 * Callers that must keep writing after a failure (a log line) keep their own "failed" flag.
 *
 * Errors (err.h): over the limit is KERF_ENOMEM ("WHAT: larger than MAX bytes"), no memory KERF_ENOMEM
 * ("WHAT: out of memory"); WHAT is the name given at init.
 *
 * kerf_grow() is the array counterpart: it doubles an array of elem-byte items until need fit, at most
 * max items, with the same messages. Neither is thread-safe; neither allocates until the first add.
 */
#ifndef KERF_BUF_H
#define KERF_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct kerf_buf {
	char *p;          /* NULL until the first add */
	size_t len;       /* bytes held, without the NUL */
	size_t cap;       /* bytes allocated */
	size_t max;       /* the most len may ever be */
	const char *what; /* names the buffer in messages; not copied */
};

/* An empty buffer that will hold at most max bytes (max < SIZE_MAX / 2); what names it in errors. */
void kerf_buf_init(struct kerf_buf *b, size_t max, const char *what);

/* Appends n bytes. -1 (and the buffer emptied, err set) if len + n would pass max or memory ran out. */
int kerf_buf_add(struct kerf_buf *b, const void *data, size_t n, struct kerf_err *err);

/* Appends a C string. Same failures as kerf_buf_add(). */
int kerf_buf_adds(struct kerf_buf *b, const char *s, struct kerf_err *err);

/* Appends printf output. Same failures as kerf_buf_add(), and KERF_EINVAL for a bad format. */
int kerf_buf_addf(struct kerf_buf *b, struct kerf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int kerf_buf_vaddf(struct kerf_buf *b, struct kerf_err *err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* The contents: "" (a static empty string) when nothing is held. Valid until the next call on b. */
const char *kerf_buf_str(const struct kerf_buf *b);

/* Hands the malloc'd contents to the caller (NULL when nothing was added), *len their length if len is
 * not NULL; the buffer is left empty, its limit and name kept. */
char *kerf_buf_take(struct kerf_buf *b, size_t *len);

/* Frees the contents; the buffer is empty again, its limit and name kept. */
void kerf_buf_reset(struct kerf_buf *b);

/*
 * Makes *arr (an array of elem-byte items, *cap of them allocated) hold at least need items, doubling
 * from 16. At most max items: past it -1 with KERF_ENOMEM "WHAT: more than MAX items"; out of memory -1
 * with "WHAT: out of memory". On failure *arr and *cap are unchanged (the caller still owns the array).
 * arr is a pointer to the caller's array pointer, of any type (void * so that no cast is needed).
 */
int kerf_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t max, const char *what,
	      struct kerf_err *err);

#endif
