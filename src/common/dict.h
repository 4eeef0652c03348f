/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dict.h — the one hash table kerf uses: a set of the caller's items, found by a key each item holds.
 *
 * In the spirit of redis's dict, cut down to what kerf's tables need. Open addressing with linear
 * probing over a power-of-two array of (hash, item) slots, grown by doubling so that at most half the
 * slots are full. The caller supplies the hash (hash.h) and an equality test of an item against a key,
 * so the key lives inside the item (a name, a GPU shape) and is never copied. Lookups are inline: the
 * planner finds shapes in its inner loop, and a static equality function passed here is inlined with it.
 * Removal shifts the rest of the probe run back (no tombstones), so a table that loses items stays as
 * fast as one that never had them.
 *
 * Ownership: the dict holds pointers. Items (and the keys inside them) belong to the caller, must not
 * be NULL, and must outlive their membership; kerf_dict_free() frees only the slots. Because items never
 * move, a pointer kerf_dict_find() returned stays valid until the caller frees that item, whatever the
 * dict does meanwhile. An add (which may grow the slots) ends every iteration in progress; a remove
 * ends every iteration except the one that removes its current item with kerf_dict_remove_current().
 *
 * Iteration visits every item once, in slot order: deterministic (no random seed: the same operations
 * give the same order), but not insertion order, and changed by any add or remove.
 *
 * Limit: at most max items (set at init). Adding one more fails with KERF_ENOMEM "WHAT: more than MAX
 * entries"; no memory is KERF_ENOMEM "WHAT: out of memory"; either way the dict is unchanged. Not
 * thread-safe; nothing is allocated until the first add.
 */
#ifndef KERF_DICT_H
#define KERF_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct kerf_dict_slot {
	uint64_t hash;
	void *item; /* NULL: empty */
};

struct kerf_dict {
	struct kerf_dict_slot *slot; /* mask + 1 of them; NULL until the first add */
	size_t mask;
	size_t n;         /* items held */
	size_t max;       /* the most n may ever be */
	const char *what; /* names the table in messages; not copied */
};

/* Whether item holds key (the key passed to find or remove, as the caller defines it). */
typedef int (*kerf_dict_eq)(const void *item, const void *key);

/* An empty dict of at most max items; what names it in errors. */
void kerf_dict_init(struct kerf_dict *d, size_t max, const char *what);

/* Frees the slots (not the items); the dict is empty again, its limit and name kept. */
void kerf_dict_free(struct kerf_dict *d);

/* The slot a hash starts probing at. The high bits are folded in, so any 64-bit hash.h value will do. */
static inline size_t kerf_dict_home(const struct kerf_dict *d, uint64_t hash)
{
	return (size_t)(hash ^ (hash >> 32)) & d->mask;
}

/* The item with this hash that eq says holds key, or NULL. */
static inline void *kerf_dict_find(const struct kerf_dict *d, uint64_t hash, const void *key, kerf_dict_eq eq)
{
	if (d->slot == NULL)
		return NULL;
	for (size_t i = kerf_dict_home(d, hash); d->slot[i].item != NULL; i = (i + 1) & d->mask)
		if (d->slot[i].hash == hash && eq(d->slot[i].item, key))
			return d->slot[i].item;
	return NULL;
}

/* Adds item (not NULL) under hash. The caller knows no item with an equal key is held (find first): the
 * dict does not look. -1 with err set (KERF_ENOMEM) past max or out of memory; the dict is unchanged. */
int kerf_dict_add(struct kerf_dict *d, uint64_t hash, void *item, struct kerf_err *err);

/* Removes the item with this hash that holds key and returns it (the caller frees it), or NULL. */
void *kerf_dict_remove(struct kerf_dict *d, uint64_t hash, const void *key, kerf_dict_eq eq);

/* Iteration: kerf_dict_iter_init(), then kerf_dict_next() until NULL. */
struct kerf_dict_iter {
	size_t at;   /* the slot last looked at */
	size_t left; /* slots still to look at */
};

void kerf_dict_iter_init(const struct kerf_dict *d, struct kerf_dict_iter *it);
void *kerf_dict_next(const struct kerf_dict *d, struct kerf_dict_iter *it);

/* Removes the item kerf_dict_next() last returned; the iteration goes on and still visits every other
 * item exactly once. */
void kerf_dict_remove_current(struct kerf_dict *d, struct kerf_dict_iter *it);

#endif
