/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dict.c — the hash table (dict.h says the contract).
 *
 * The load stays at or below one half: linear probing's expected run is then short (about 1.5 slots for
 * a hit, 2.5 for a miss), and an empty slot always exists, which ends every probe and anchors iteration.
 *
 * Removal is backward shifting: the items after the removed one in its probe run move back into the gap
 * when their home slot allows it, so no run is ever broken and no tombstone is left to slow later finds.
 * Iteration starts just after an empty slot and goes once round the table. Shifting never moves an item
 * across an empty slot, and a removal only makes more empty slots, so the item shifted into the slot just
 * removed comes from later in this same pass: looking at that slot again visits it exactly once.
 */
#include "dict.h"

#include <stdlib.h>

#define DICT_FIRST 16

void kerf_dict_init(struct kerf_dict *d, size_t max, const char *what)
{
	d->slot = NULL;
	d->mask = 0;
	d->n = 0;
	d->max = max;
	d->what = what ? what : "table";
}

void kerf_dict_free(struct kerf_dict *d)
{
	free(d->slot);
	d->slot = NULL;
	d->mask = 0;
	d->n = 0;
}

/* Puts an item into a table known to have room and not to hold it. */
static void place(struct kerf_dict *d, uint64_t hash, void *item)
{
	size_t i = kerf_dict_home(d, hash);

	while (d->slot[i].item != NULL)
		i = (i + 1) & d->mask;
	d->slot[i].hash = hash;
	d->slot[i].item = item;
}

/* Doubles the slots (DICT_FIRST to start) and puts every item back. */
static int grow(struct kerf_dict *d, struct kerf_err *err)
{
	struct kerf_dict big = *d;
	size_t cap = d->slot != NULL ? (d->mask + 1) * 2 : DICT_FIRST;

	if (cap > SIZE_MAX / sizeof(*big.slot) || (big.slot = calloc(cap, sizeof(*big.slot))) == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", d->what);
	big.mask = cap - 1;
	for (size_t i = 0; d->slot != NULL && i <= d->mask; i++)
		if (d->slot[i].item != NULL)
			place(&big, d->slot[i].hash, d->slot[i].item);
	free(d->slot);
	*d = big;
	return 0;
}

int kerf_dict_add(struct kerf_dict *d, uint64_t hash, void *item, struct kerf_err *err)
{
	if (d->n >= d->max)
		return kerf_err_set(err, KERF_ENOMEM, "%s: more than %zu entries", d->what, d->max);
	if ((d->slot == NULL || (d->n + 1) * 2 > d->mask + 1) && grow(d, err) != 0)
		return -1;
	place(d, hash, item);
	d->n++;
	return 0;
}

/* Empties slot i and closes the gap by shifting back the rest of its run. */
static void remove_at(struct kerf_dict *d, size_t i)
{
	for (size_t j = (i + 1) & d->mask; d->slot[j].item != NULL; j = (j + 1) & d->mask) {
		size_t home = kerf_dict_home(d, d->slot[j].hash);

		/* The item at j may fill the gap at i unless its home lies in (i, j]: it would then be found
		 * no more, its probe starting after the gap. */
		if (((j - home) & d->mask) >= ((j - i) & d->mask)) {
			d->slot[i] = d->slot[j];
			i = j;
		}
	}
	d->slot[i].item = NULL;
	d->n--;
}

void *kerf_dict_remove(struct kerf_dict *d, uint64_t hash, const void *key, kerf_dict_eq eq)
{
	if (d->slot == NULL)
		return NULL;
	for (size_t i = kerf_dict_home(d, hash); d->slot[i].item != NULL; i = (i + 1) & d->mask)
		if (d->slot[i].hash == hash && eq(d->slot[i].item, key)) {
			void *item = d->slot[i].item;

			remove_at(d, i);
			return item;
		}
	return NULL;
}

void kerf_dict_iter_init(const struct kerf_dict *d, struct kerf_dict_iter *it)
{
	it->at = 0;
	it->left = 0;
	if (d->slot == NULL)
		return;
	while (d->slot[it->at].item != NULL) /* the load is at most one half: an empty slot exists */
		it->at++;
	it->left = d->mask + 1;
}

void *kerf_dict_next(const struct kerf_dict *d, struct kerf_dict_iter *it)
{
	while (it->left > 0) {
		it->at = (it->at + 1) & d->mask;
		it->left--;
		if (d->slot[it->at].item != NULL)
			return d->slot[it->at].item;
	}
	return NULL;
}

void kerf_dict_remove_current(struct kerf_dict *d, struct kerf_dict_iter *it)
{
	remove_at(d, it->at);
	/* look at this slot again: an item from later in the pass may have shifted into it */
	it->at = (it->at - 1) & d->mask;
	it->left++;
}
