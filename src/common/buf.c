/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.c — the growable byte buffer and array growth (buf.h says the contract).
 *
 * Growth doubles from a small first size so that appending n bytes one piece at a time costs O(n), and
 * never allocates past max + 1 (the NUL): a buffer limited to 4 MiB takes 4 MiB + 1 at most even when
 * doubling would have asked for 8. The limit is checked before any arithmetic that could overflow.
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST 256
#define GROW_FIRST 16

void kerf_buf_init(struct kerf_buf *b, size_t max, const char *what)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->what = what ? what : "buffer";
}

void kerf_buf_reset(struct kerf_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Makes room for len + n bytes and the NUL. -1 with the buffer emptied when it cannot. */
static int reserve(struct kerf_buf *b, size_t n, struct kerf_err *err)
{
	size_t need, cap;
	char *p;

	if (n > b->max - b->len) {
		kerf_err_set(err, KERF_ENOMEM, "%s: larger than %zu bytes", b->what, b->max);
		goto err;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_FIRST;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if ((p = realloc(b->p, cap)) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", b->what);
		goto err;
	}
	b->p = p;
	b->cap = cap;
	return 0;
err:
	kerf_buf_reset(b);
	return -1;
}

int kerf_buf_add(struct kerf_buf *b, const void *data, size_t n, struct kerf_err *err)
{
	if (reserve(b, n, err) < 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int kerf_buf_adds(struct kerf_buf *b, const char *s, struct kerf_err *err)
{
	return kerf_buf_add(b, s, strlen(s), err);
}

int kerf_buf_vaddf(struct kerf_buf *b, struct kerf_err *err, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
	if (n < 0) {
		kerf_err_set(err, KERF_EINVAL, "%s: bad format \"%s\"", b->what, fmt);
		goto err;
	}
	if (b->p != NULL && (size_t)n < b->cap - b->len) { /* it fitted (cap <= max + 1 keeps len <= max) */
		b->len += (size_t)n;
		va_end(again);
		return 0;
	}
	if (reserve(b, (size_t)n, err) < 0)
		goto fail;
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
	b->len += (size_t)n;
	va_end(again);
	return 0;
err:
	kerf_buf_reset(b);
fail:
	va_end(again);
	return -1;
}

int kerf_buf_addf(struct kerf_buf *b, struct kerf_err *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = kerf_buf_vaddf(b, err, fmt, ap);
	va_end(ap);
	return rc;
}

const char *kerf_buf_str(const struct kerf_buf *b)
{
	return b->p ? b->p : "";
}

char *kerf_buf_take(struct kerf_buf *b, size_t *len)
{
	char *p = b->p;

	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

int kerf_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t max, const char *what,
	      struct kerf_err *err)
{
	void **pp = arr;
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	if (need > max || (elem != 0 && max > SIZE_MAX / elem))
		return kerf_err_set(err, KERF_ENOMEM, "%s: more than %zu items", what, max);
	ncap = *cap ? *cap : GROW_FIRST;
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	if ((np = realloc(*pp, ncap * elem)) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", what);
	*pp = np;
	*cap = ncap;
	return 0;
}
