/* SPDX-License-Identifier: Apache-2.0 */
/*
 * deadline.h — absolute deadlines for pthread_cond_timedwait(), which wants a time on the condition
 * variable's clock (CLOCK_REALTIME by default, CLOCK_MONOTONIC where the condvar was set up so) rather than
 * a duration. One function, so that the carry from nanoseconds into seconds is written once.
 */
#ifndef KERF_DEADLINE_H
#define KERF_DEADLINE_H

#include <time.h>

/* The time on clock ms milliseconds from now (ms >= 0). */
struct timespec kerf_deadline(clockid_t clock, long ms);

/* CLOCK_MONOTONIC in milliseconds: for intervals and backoffs, which must not jump with the wall clock. */
long long kerf_mono_ms(void);

#endif
