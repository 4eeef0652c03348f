/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c — the informer's keyed store of projections.
 *
 * A dict (dict.h) keyed "namespace/name" (or "name" for cluster-scoped objects). Each entry is one
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

#include "dict.h"
#include "hash.h"
#include "kube.h"
#include "kube_store.h"

struct entry {
	void *proj;
	char *rv;
	uint32_t epoch;
	char key[];
};

struct kube_store {
	struct kube_informer_spec spec; /* only the callbacks and arg are used */
	struct kerf_dict d;             /* of struct entry, by hash_key(key) */
	uint32_t epoch;
};

/* FNV-1a (hash.h): short keys, no adversary inside the cluster's own names. */
static uint64_t hash_key(const char *s)
{
	return kerf_hash_str(s, KERF_FNV_OFFSET);
}

static int entry_eq(const void *item, const void *key)
{
	return strcmp(((const struct entry *)item)->key, key) == 0;
}

struct kube_store *kube_store_new(const struct kube_informer_spec *spec)
{
	struct kube_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->spec = *spec;
	kerf_dict_init(&s->d, SIZE_MAX, "store");
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
	struct kerf_dict_iter it;
	struct entry *e;

	if (!s)
		return;
	kerf_dict_iter_init(&s->d, &it);
	while ((e = kerf_dict_next(&s->d, &it)) != NULL)
		entry_free(s, e);
	kerf_dict_free(&s->d);
	free(s);
}

size_t kube_store_len(const struct kube_store *s)
{
	return s->d.n;
}

static struct entry *find(struct kube_store *s, const char *key)
{
	return kerf_dict_find(&s->d, hash_key(key), key, entry_eq);
}

/* Tells the caller e is gone (it is out of the table already) and frees it. */
static void removed(struct kube_store *s, struct entry *e)
{
	if (s->spec.on_delete)
		s->spec.on_delete(e->key, e->proj, s->spec.arg);
	if (s->spec.on_change)
		s->spec.on_change(s->spec.arg);
	entry_free(s, e);
}

static void remove_key(struct kube_store *s, const char *key)
{
	struct entry *e = kerf_dict_remove(&s->d, hash_key(key), key, entry_eq);

	if (e)
		removed(s, e);
}

/* Inserts or replaces; proj is owned by the store from here on (even on failure). */
static int upsert(struct kube_store *s, const char *key, const char *rv, void *proj, struct kerf_err *err)
{
	struct entry *e = find(s, key);
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
		if (s->spec.on_change)
			s->spec.on_change(s->spec.arg);
		if (s->spec.free_proj)
			s->spec.free_proj(old);
		return 0;
	}
	if ((e = malloc(sizeof(*e) + strlen(key) + 1)) == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "store: out of memory");
		goto err;
	}
	if (kerf_dict_add(&s->d, hash_key(key), e, err) != 0) /* "store: out of memory" */
		goto err;
	strcpy(e->key, key);
	e->proj = proj;
	e->rv = nrv;
	e->epoch = s->epoch;
	if (s->spec.on_add)
		s->spec.on_add(e->key, proj, s->spec.arg);
	if (s->spec.on_change)
		s->spec.on_change(s->spec.arg);
	return 0;
err:
	free(e);
	free(nrv);
	if (s->spec.free_proj)
		s->spec.free_proj(proj);
	return -1;
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
	struct entry *e;
	void *proj;

	if (type != KUBE_ADDED && type != KUBE_MODIFIED && type != KUBE_DELETED)
		return 0;
	if (kube_store_key(obj, key, sizeof(key)))
		return kerf_err_set(err, KERF_EINVAL, "store: object without metadata.name");
	if (type == KUBE_DELETED) {
		remove_key(s, key);
		return 0;
	}
	e = find(s, key);
	/* On a relist, an object whose version we already hold is unchanged: mark it, fire nothing. */
	if (from_list && e && rv && strcmp(e->rv, rv) == 0) {
		e->epoch = s->epoch;
		return 0;
	}
	proj = s->spec.project ? s->spec.project(obj, s->spec.arg) : NULL;
	if (!proj) {
		/* Not (or no longer) of interest to the caller: an update that makes it so is a deletion. */
		if (e)
			remove_key(s, key);
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
	struct kerf_dict_iter it;
	struct entry *e;

	kerf_dict_iter_init(&s->d, &it);
	while ((e = kerf_dict_next(&s->d, &it)) != NULL)
		if (e->epoch != s->epoch) {
			kerf_dict_remove_current(&s->d, &it);
			removed(s, e);
		}
}

void kube_store_foreach(struct kube_store *s, int (*fn)(const char *key, const char *rv, const void *proj, void *arg),
			void *arg)
{
	struct kerf_dict_iter it;
	struct entry *e;

	kerf_dict_iter_init(&s->d, &it);
	while ((e = kerf_dict_next(&s->d, &it)) != NULL)
		if (fn(e->key, e->rv, e->proj, arg))
			return;
}

bool kube_store_with(struct kube_store *s, const char *key, void (*fn)(const char *rv, const void *proj, void *arg),
		     void *arg)
{
	struct entry *e = find(s, key);
	if (!e)
		return false;
	fn(e->rv, e->proj, arg);
	return true;
}
