/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer.h — drives the Go kubelet stand-in (tools/kubelet-standin) from C tests.
 *
 * The stand-in reads one JSON command per line on stdin and writes one JSON event per line on stdout.
 * Every event is kept in order, so a test can ask for "the first event after index i matching X".
 * Waits have a generous deadline that only guards against a hang; no test asserts on timing.
 */
#ifndef KERF_TEST_PEER_H
#define KERF_TEST_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#define PEER_WAIT_MS 20000

struct peer {
	pid_t pid;
	int in_fd, out_fd;
	char buf[1 << 16];
	size_t buf_len;
	json_t *log; /* array of every event so far */
	int next_tag;
};

/* Starts the stand-in serving <dir>/kubelet.sock and the pod-resources socket podres. */
int peer_start(struct peer *p, const char *binary, const char *dir, const char *podres);
void peer_stop(struct peer *p);

/* Sends a command (a JSON object without "tag"); returns its tag. */
int peer_send(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* First event with index >= *from whose "ev" is ev and, if key is set, whose key equals value (a string).
 * Sets *from to the index after it. Borrowed reference, or NULL on deadline. */
json_t *peer_wait(struct peer *p, size_t *from, const char *ev, const char *key, const char *value);

/* The "result" event of a command. Borrowed reference, or NULL on deadline. */
json_t *peer_result(struct peer *p, int tag);

/* Sends a command and waits for its result. */
json_t *peer_call(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

size_t peer_events(const struct peer *p);

/* Comma-joined ids of a "list" event's devices, in order, into out. */
void peer_list_ids(json_t *list_ev, char *out, size_t cap);

/* CLOCK_MONOTONIC in nanoseconds, the clock the stand-in stamps events with. */
long long peer_mono_ns(void);

#endif
