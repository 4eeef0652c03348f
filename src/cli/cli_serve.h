/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_serve.h — what the daemons tell their probes: whether they are alive and ready, served with their
 * metrics on a small HTTP listener (src/common/httpd.h).
 *
 *   alive  the main loop made progress (a step ended, or start-up is still under way) within
 *          CLI_PROBE_STALL_S: a loop stuck in a call that never returns is restarted by the kubelet;
 *   ready  start-up finished (caches synced, the daemon's parts up) and the last step succeeded; otherwise the
 *          reason, the step's error (API server unreachable, Lease not readable, NVML gone).
 * The main thread updates the state; the listener's thread reads it under a mutex.
 */
#ifndef KERF_CLI_SERVE_H
#define KERF_CLI_SERVE_H

#include <stdbool.h>

#include "httpd.h"
#include "metrics.h"

#define CLI_PROBE_STALL_S 300

struct cli_probe;

struct cli_probe *cli_probe_new(void);
void cli_probe_free(struct cli_probe *p);

/* Not ready, with why (start-up under way, or what failed); counts as progress. */
void cli_probe_not_ready(struct cli_probe *p, const char *why);

/* One more condition for ready, asked at each /readyz from the listener's thread (so it must be safe there):
 * 1, or 0 with why filled. */
void cli_probe_also(struct cli_probe *p, int (*check)(void *arg, char *why, size_t cap), void *arg);

/* A step ended: ready if ok, else not, with why. Counts as progress. */
void cli_probe_step(struct cli_probe *p, bool ok, const char *why);

/*
 * Starts the listener on addr for p and m (NULL addr or "": no listener, *h NULL). 0, or -1 with a line on
 * stderr naming the command (who) and the address.
 */
int cli_serve(const char *who, const char *addr, struct cli_probe *p, struct metrics *m, struct httpd **h);

#endif
