/* SPDX-License-Identifier: Apache-2.0 */
/* kube_filter.h — the byte-level field filter the decoder applies before parsing (see filter.c). */
#ifndef KERF_KUBE_FILTER_H
#define KERF_KUBE_FILTER_H

#include <stddef.h>

struct kube_fields;

/* paths: NULL-terminated, each "member", "member.child" (any depth) or "member.list[].child" (that child of
 * each element of an array) of the watched object. NULL on out of memory. */
struct kube_fields *kube_fields_new(const char *const *paths);
void kube_fields_free(struct kube_fields *f);

/*
 * Writes into out (cap bytes; len is always enough) the event line with its "object" cut down to the listed
 * fields; returns the new length, or 0 when the line is not shaped as expected or would not fit (then parse
 * the original).
 */
size_t kube_fields_filter(const struct kube_fields *f, const char *line, size_t len, char *out, size_t cap);

#endif
