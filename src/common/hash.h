/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hash.h — the one hash kerf uses for its tables: FNV-1a, 64 bits.
 *
 * Keys inside kerf are short (object names, UUIDs) or a few 64-bit words (a GPU's placement bitmaps),
 * and no adversary picks them, so a fast simple hash is enough. Bytes are hashed one at a time (the
 * standard FNV-1a); words are folded one at a time and followed by a shift-xor, which spreads the high
 * bits of the product back into the low bits that a power-of-two table uses as its index.
 * Inline: the planner hashes in its inner loops.
 */
#ifndef KERF_HASH_H
#define KERF_HASH_H

#include <stddef.h>
#include <stdint.h>

#define KERF_FNV_OFFSET 0xcbf29ce484222325ull
#define KERF_FNV_PRIME 0x100000001b3ull

/* FNV-1a of n bytes, continuing from h (KERF_FNV_OFFSET to start). */
static inline uint64_t kerf_hash_bytes(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * KERF_FNV_PRIME;
	return h;
}

/* FNV-1a of a NUL-terminated string, continuing from h. */
static inline uint64_t kerf_hash_str(const char *s, uint64_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * KERF_FNV_PRIME;
	return h;
}

/* Folds one 64-bit word into h, then mixes the high bits down. */
static inline uint64_t kerf_hash_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * KERF_FNV_PRIME;
	return h ^ (h >> 31);
}

/* Folds n words into h. */
static inline uint64_t kerf_hash_words(const uint64_t *w, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = kerf_hash_word(h, w[i]);
	return h;
}

#endif
