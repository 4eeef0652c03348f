/* SPDX-License-Identifier: Apache-2.0 */
/* kube_store.h — the store's operations that only the informer uses (relist marking, iteration). */
#ifndef KERF_KUBE_STORE_H
#define KERF_KUBE_STORE_H

#include "kube.h"

/* "namespace/name" or "name"; -1 when the object has no name or the key does not fit. */
int kube_store_key(const json_t *obj, char *key, size_t size);

/* A relist: begin, one item per listed object, end (which deletes what the list did not mention). */
void kube_store_relist_begin(struct kube_store *s);
int kube_store_relist_item(struct kube_store *s, json_t *obj, struct kerf_err *err);
void kube_store_relist_end(struct kube_store *s);

void kube_store_foreach(struct kube_store *s,
			int (*fn)(const char *key, const char *rv, const void *proj, void *arg), void *arg);
bool kube_store_with(struct kube_store *s, const char *key,
		     void (*fn)(const char *rv, const void *proj, void *arg), void *arg);

#endif
