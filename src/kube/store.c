/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c — the informer's keyed store of projections.
 *
 * A chained hash table keyed "namespace/name" (or "name" for cluster-scoped objects). Each entry is one
 * allocation holding the key, plus the caller's projection and the object's resourceVersion: with 55,000
 * objects the table itself stays a few MiB, and the projections are what the caller chose to keep.
 *
 * Relisting (after a 410) marks every entry with the list's epoch as the list is applied, then sweeps the
 * entries the list did not mention as deletions, so callbacks see exactly the changes the gap hid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "kube.h"
#include "kube_store.h"

struct entry {
	struct entry *next;
	void *proj;
	char *rv;
	uint32_t hash;
	uint32_t epoch;
	char key[];
};

struct kube_store {
	struct kube_informer_spec spec; /* only the callbacks and arg are used */
	struct entry **buckets;
	size_t nbuckets, len;
	uint32_t epoch;
};

/* FNV-1a (hash.h): short keys, no adversary inside the cluster's own names. The table is a power of two,
 * so its low bits index; the 64-bit hash folded to 32 keeps every byte's influence there. */
static uint32_t hash_key(const char *s)
{
	uint64_t h = kerf_hash_str(s, KERF_FNV_OFFSET);

	return (uint32_t)(h ^ (h >> 32));
}

struct kube_store *kube_store_new(const struct kube_informer_spec *spec)
{
	struct kube_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->spec = *spec;
	s->nbuckets = 1024;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		return NULL;
	}
	return s;
}

static void entry_free(struct kube_store *s, struct entry *e)
{
	if (s->spec.free_proj)
		s->spec.free_proj(e->proj);
	free(e->rv);
	free(e);
}

void kube_store_free(struct kube_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *e = s->buckets[i], *n; e; e = n) {
			n = e->next;
			entry_free(s, e);
		}
	free(s->buckets);
	free(s);
}

size_t kube_store_len(const struct kube_store *s)
{
	return s->len;
}

static struct entry **find(struct kube_store *s, const char *key, uint32_t h)
{
	struct entry **pp = &s->buckets[h & (s->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			return pp;
	return pp;
}

static void grow(struct kube_store *s)
{
	size_t n = s->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* a fuller table is slower, not wrong */
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *e = s->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

static void remove_at(struct kube_store *s, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	s->len--;
	if (s->spec.on_delete)
		s->spec.on_delete(e->key, e->proj, s->spec.arg);
	entry_free(s, e);
}

/* Inserts or replaces; proj is owned by the store from here on (even on failure). */
static int upsert(struct kube_store *s, const char *key, const char *rv, void *proj, struct kerf_err *err)
{
	uint32_t h = hash_key(key);
	struct entry **pp = find(s, key, h), *e = *pp;
	char *nrv = strdup(rv ? rv : "");

	if (!nrv) {
		if (s->spec.free_proj)
			s->spec.free_proj(proj);
		return kerf_err_set(err, KERF_ENOMEM, "store: out of memory");
	}
	if (e) {
		void *old = e->proj;
		e->proj = proj;
		free(e->rv);
		e->rv = nrv;
		e->epoch = s->epoch;
		if (s->spec.on_update)
			s->spec.on_update(e->key, old, proj, s->spec.arg);
		if (s->spec.free_proj)
			s->spec.free_proj(old);
		return 0;
	}
	e = malloc(sizeof(*e) + strlen(key) + 1);
	if (!e) {
		free(nrv);
		if (s->spec.free_proj)
			s->spec.free_proj(proj);
		return kerf_err_set(err, KERF_ENOMEM, "store: out of memory");
	}
	strcpy(e->key, key);
	e->hash = h;
	e->proj = proj;
	e->rv = nrv;
	e->epoch = s->epoch;
	e->next = NULL;
	*pp = e;
	s->len++;
	if (s->spec.on_add)
		s->spec.on_add(e->key, proj, s->spec.arg);
	if (s->len > s->nbuckets)
		grow(s);
	return 0;
}

int kube_store_key(const json_t *obj, char *key, size_t size)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));
	int n;

	if (!name)
		return -1;
	n = ns && *ns ? snprintf(key, size, "%s/%s", ns, name) : snprintf(key, size, "%s", name);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int apply(struct kube_store *s, enum kube_event_type type, json_t *obj, bool from_list,
		 struct kerf_err *err)
{
	char key[512];
	const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	struct entry **pp;
	void *proj;

	if (type != KUBE_ADDED && type != KUBE_MODIFIED && type != KUBE_DELETED)
		return 0;
	if (kube_store_key(obj, key, sizeof(key)))
		return kerf_err_set(err, KERF_EINVAL, "store: object without metadata.name");
	pp = find(s, key, hash_key(key));
	if (type == KUBE_DELETED) {
		if (*pp)
			remove_at(s, pp);
		return 0;
	}
	/* On a relist, an object whose version we already hold is unchanged: mark it, fire nothing. */
	if (from_list && *pp && rv && strcmp((*pp)->rv, rv) == 0) {
		(*pp)->epoch = s->epoch;
		return 0;
	}
	proj = s->spec.project ? s->spec.project(obj, s->spec.arg) : NULL;
	if (!proj) {
		/* Not (or no longer) of interest to the caller: an update that makes it so is a deletion. */
		if (*pp)
			remove_at(s, pp);
		return 0;
	}
	return upsert(s, key, rv, proj, err);
}

int kube_store_apply(struct kube_store *s, enum kube_event_type type, json_t *obj, struct kerf_err *err)
{
	return apply(s, type, obj, false, err);
}

void kube_store_relist_begin(struct kube_store *s)
{
	s->epoch++;
}

int kube_store_relist_item(struct kube_store *s, json_t *obj, struct kerf_err *err)
{
	return apply(s, KUBE_ADDED, obj, true, err);
}

void kube_store_relist_end(struct kube_store *s)
{
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct entry **pp = &s->buckets[i];
		while (*pp) {
			if ((*pp)->epoch != s->epoch)
				remove_at(s, pp);
			else
				pp = &(*pp)->next;
		}
	}
}

void kube_store_foreach(struct kube_store *s, int (*fn)(const char *key, const char *rv, const void *proj, void *arg),
			void *arg)
{
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *e = s->buckets[i]; e; e = e->next)
			if (fn(e->key, e->rv, e->proj, arg))
				return;
}

bool kube_store_with(struct kube_store *s, const char *key, void (*fn)(const char *rv, const void *proj, void *arg),
		     void *arg)
{
	struct entry *e = *find(s, key, hash_key(key));
	if (!e)
		return false;
	fn(e->rv, e->proj, arg);
	return true;
}
