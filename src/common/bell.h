/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bell.h — a doorbell between a watch thread and the thread that acts: the watch rings, the actor waits
 * for a ring (or a timeout), optionally lets a burst of rings settle, then reads the world afresh. Nothing
 * is queued: a ring only says "something changed since you last looked", which is all a level-based
 * reconciler needs, and a thousand rings cost one round.
 */
#ifndef KERF_BELL_H
#define KERF_BELL_H

#include <pthread.h>

struct kerf_bell {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long rings, answered;
};

void kerf_bell_init(struct kerf_bell *b);
void kerf_bell_destroy(struct kerf_bell *b);

/* From any thread. */
void kerf_bell_ring(struct kerf_bell *b);

/*
 * Waits until the bell rang since the last wait returned, or wait_ms passed. After a ring it keeps waiting
 * while further rings come less than settle_ms apart, but never past max_ms after the first (settle_ms 0:
 * return at the first ring). Returns 1 if it rang, 0 on timeout.
 */
int kerf_bell_wait(struct kerf_bell *b, long wait_ms, long settle_ms, long max_ms);

#endif
