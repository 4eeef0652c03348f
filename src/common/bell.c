/* SPDX-License-Identifier: Apache-2.0 */
/* bell.c — see bell.h. */
#include "bell.h"
#include "deadline.h"

void kerf_bell_init(struct kerf_bell *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->rings = b->answered = 0;
}

void kerf_bell_destroy(struct kerf_bell *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

void kerf_bell_ring(struct kerf_bell *b)
{
	pthread_mutex_lock(&b->lock);
	b->rings++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Waits (lock held) until rings moves past seen or the deadline passes; whether it moved. */
static int wait_past(struct kerf_bell *b, unsigned long seen, const struct timespec *until)
{
	while (b->rings == seen)
		if (pthread_cond_timedwait(&b->cond, &b->lock, until) != 0)
			break;
	return b->rings != seen;
}

int kerf_bell_wait(struct kerf_bell *b, long wait_ms, long settle_ms, long max_ms)
{
	struct timespec until = kerf_deadline(CLOCK_REALTIME, wait_ms);
	int rang;

	pthread_mutex_lock(&b->lock);
	rang = wait_past(b, b->answered, &until);
	if (rang && settle_ms > 0) {
		struct timespec last = kerf_deadline(CLOCK_REALTIME, max_ms);

		/* Each ring restarts a settle_ms quiet period; max_ms after the first ring ends it regardless. */
		for (;;) {
			struct timespec quiet = kerf_deadline(CLOCK_REALTIME, settle_ms);
			int capped = quiet.tv_sec > last.tv_sec || (quiet.tv_sec == last.tv_sec && quiet.tv_nsec >= last.tv_nsec);

			if (!wait_past(b, b->rings, capped ? &last : &quiet) || capped)
				break;
		}
	}
	b->answered = b->rings;
	pthread_mutex_unlock(&b->lock);
	return rang;
}
