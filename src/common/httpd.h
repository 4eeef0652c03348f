/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httpd.h — the daemons' small HTTP listener: /healthz and /readyz for the kubelet's probes, /metrics for
 * Prometheus (metrics.h).
 *
 * One thread accepts and answers one request at a time: probes and scrapes come a few times a minute, and a
 * serial server cannot be made to hold many connections open. Each connection gets a 2 s deadline for its
 * request; the request line is read from at most 8 KiB of headers; only GET and HEAD are answered (405
 * otherwise), unknown paths get 404, and every answer closes the connection.
 *
 *   /healthz  200 "ok" while healthz() says the process works (its loop turns), else 503 with the reason
 *             (/livez answers the same);
 *   /readyz   200 "ok" while readyz() says it is ready (caches synced, its parts up), else 503 with the reason;
 *   /metrics  200 with metrics_render(), Content-Type text/plain; version=0.0.4.
 * The checks run on the listener's thread: they must only read state the daemon publishes for them.
 */
#ifndef KERF_HTTPD_H
#define KERF_HTTPD_H

#include <stddef.h>

#include "err.h"
#include "metrics.h"

struct httpd_routes {
	/* 1 when fine, 0 when not, with why (a short sentence) filled. NULL: always fine. */
	int (*healthz)(void *arg, char *why, size_t cap);
	int (*readyz)(void *arg, char *why, size_t cap);
	struct metrics *metrics; /* NULL: /metrics is 404 */
	void *arg;
};

struct httpd;

/*
 * Listens on addr, "HOST:PORT" or ":PORT" (every address), port 0 for any free port (see httpd_port), and
 * answers in a thread of its own. NULL with err naming the address on failure (bad address, port in use).
 */
struct httpd *httpd_start(const char *addr, const struct httpd_routes *routes, struct kerf_err *err);

/* The port it listens on. */
int httpd_port(const struct httpd *h);

/* Stops the thread (an answer under way is finished first) and closes the socket. NULL: no-op. */
void httpd_stop(struct httpd *h);

#endif
