/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c — see file.h. The buffer doubles from 4 KiB up to max + 1 bytes (the NUL), so a small file costs
 * one allocation and a file of n bytes at most log2(n / 4096) reallocations.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

#define FIRST_CAP 4096

char *kerf_read_stream(FILE *f, const char *name, size_t max, size_t *len, struct kerf_err *err)
{
	size_t cap = max + 1 < FIRST_CAP ? max + 1 : FIRST_CAP, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		goto nomem;
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (n + 1 < cap) { /* a short read: the end, or an error */
			if (ferror(f)) {
				kerf_err_set(err, KERF_EIO, "%s: read failed", name);
				goto err;
			}
			if (feof(f) || got == 0)
				break;
			continue;
		}
		if (cap > max) { /* full at max + 1 bytes: one more byte would pass max */
			if (fgetc(f) == EOF && !ferror(f))
				break;
			kerf_err_set(err, KERF_EINVAL, "%s: larger than %zu bytes", name, max);
			goto err;
		}
		size_t next = cap > (max + 1) / 2 ? max + 1 : cap * 2;
		char *bigger = realloc(buf, next);

		if (bigger == NULL)
			goto nomem;
		buf = bigger;
		cap = next;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
nomem:
	kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", name);
err:
	free(buf);
	return NULL;
}

char *kerf_read_file(const char *path, size_t max, size_t *len, struct kerf_err *err)
{
	FILE *f = fopen(path, "rbe");
	char *buf;

	if (f == NULL) {
		kerf_err_set(err, errno == ENOENT ? KERF_ENOTFOUND : errno == EACCES ? KERF_EPERM : KERF_EIO, "%s: %s", path,
			     strerror(errno));
		return NULL;
	}
	buf = kerf_read_stream(f, path, max, len, err);
	fclose(f);
	return buf;
}
