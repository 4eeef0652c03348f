/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.h — reading a whole file into memory, the one way kerf does it.
 *
 * Kubeconfigs, tokens, certificates and `kerf plan`'s input are read whole and then parsed; each caller
 * states the most it will take, so a wrong path (a device, a log) fails with a sentence instead of
 * filling memory. The buffer is NUL-terminated (text parsers want that) and the length excludes the NUL.
 *
 * Errors (err.h): a missing file is KERF_ENOTFOUND, an unreadable one KERF_EPERM or KERF_EIO, one
 * larger than max KERF_EINVAL ("PATH: larger than MAX bytes"); every message starts with the path.
 */
#ifndef KERF_FILE_H
#define KERF_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* Reads path whole: a malloc'd, NUL-terminated buffer the caller frees; *len (if not NULL) its length. */
char *kerf_read_file(const char *path, size_t max, size_t *len, struct kerf_err *err);

/* The same for an open stream (standard input); name stands for it in messages. f is not closed. */
char *kerf_read_stream(FILE *f, const char *name, size_t max, size_t *len, struct kerf_err *err);

#endif
