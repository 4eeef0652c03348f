/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.h — a round's spec writes, several at once.
 *
 * At scale a round is its writes: one MigLayout patch per node the plan re-cuts, a few milliseconds each and
 * most of that waiting on the API server (docs/controller.md: 2,948 writes, 26 s of a 27.5 s round, one after
 * another). The writes are independent (one per node, each conditional on its own resourceVersion), so the
 * writer sends them over K connections at once: K worker threads, each with a kube_client of its own
 * (kube_client_dup: one client serializes its requests, kube.h). The clients live as long as the writer, so
 * their connections are kept from round to round; the threads live for one batch.
 *
 * What stays as it was when the writes went out one after another:
 *   - a gate is asked just before each item starts, under the batch's lock: no item starts once it has said
 *     no, and the gate never runs twice at once (the controller's gate renews the Lease mid-round and says no
 *     once another contender holds it). Items already under way when it says no finish;
 *   - a failure other than a conflict (KERF_ECONFLICT) stops the batch the same way: no item starts after it;
 *   - each item's result goes into its own slot, so the caller reads, counts and logs them in the batch's
 *     order, whatever order the threads finished in. What an item writes is the caller's, fixed before the
 *     batch: only the order in which items land, up to K at once, differs from one run to the next.
 *
 * Threads: one batch at a time, from one thread; gate and write run on the workers.
 */
#ifndef KERF_CONTROLLER_WRITER_H
#define KERF_CONTROLLER_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "kube.h"

struct writer;

#define WRITER_MAX_WIDTH 64

/* k connections (clients copied from c; k 0: 8; at most WRITER_MAX_WIDTH). NULL on failure. */
struct writer *writer_new(struct kube_client *c, unsigned k, struct kerf_err *err);
void writer_free(struct writer *w);
unsigned writer_width(const struct writer *w);

enum writer_result {
	WRITER_NOT_STARTED, /* the gate said no, or a failure stopped the batch, before it started */
	WRITER_DONE,
	WRITER_CONFLICT, /* write() failed with KERF_ECONFLICT: the batch went on */
	WRITER_FAILED,   /* write() failed otherwise: no item started after it */
};

struct writer_batch {
	size_t n;
	/* Whether item i may start; asked under the batch's lock just before it would. false stops the batch.
	 * NULL: always. */
	bool (*gate)(void *arg, size_t i);
	/* Item i, on a client of the writer's: 0, or -1 with err. */
	int (*write)(struct kube_client *c, size_t i, void *arg, struct kerf_err *err);
	void *arg;
	enum writer_result *results; /* n slots, all set by writer_run */
	unsigned peak;               /* set by writer_run: the most items under way at one moment */
};

/*
 * Runs the batch. 0 when no item failed (conflicts and a gate's no are not failures: results[] tell them);
 * -1 with the error of the failed item that comes first in the batch otherwise.
 */
int writer_run(struct writer *w, struct writer_batch *b, struct kerf_err *err);

#endif
