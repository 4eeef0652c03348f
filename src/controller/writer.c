/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.c — see writer.h. The workers share one cursor into the batch: each takes the next item under the
 * lock, asks the gate there, and runs the item outside it. Taking items in order from one cursor (rather
 * than giving each worker a fixed share) keeps all K connections busy to the end when some writes are slow,
 * and makes "no item starts after the gate said no" a property of one place: the cursor stops there.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

#define DEFAULT_WIDTH 8

struct writer {
	unsigned k;
	struct kube_client **clients;
};

/* One batch's shared state. */
struct run {
	struct writer_batch *b;
	pthread_mutex_t lock; /* guards everything below, and the calls to b->gate */
	size_t next;          /* the next item to start */
	bool stopped;         /* the gate said no, or an item failed: nothing more starts */
	unsigned busy;        /* items under way now */
	size_t failed_at;     /* the first failed item in batch order (b->n: none) */
	struct kerf_err failure;
};

struct worker {
	struct run *run;
	struct kube_client *c;
};

struct writer *writer_new(struct kube_client *c, unsigned k, struct kerf_err *err)
{
	struct writer *w;

	if (k > WRITER_MAX_WIDTH) {
		kerf_err_set(err, KERF_EINVAL, "writer: %u connections: at most %d", k, WRITER_MAX_WIDTH);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->clients = calloc(k ? k : DEFAULT_WIDTH, sizeof(*w->clients))) == NULL) {
		free(w);
		kerf_err_set(err, KERF_ENOMEM, "writer: out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < (k ? k : DEFAULT_WIDTH); i++) {
		if ((w->clients[i] = kube_client_dup(c, err)) == NULL) {
			writer_free(w);
			return NULL;
		}
		w->k++;
	}
	return w;
}

void writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; i < w->k; i++)
		kube_client_free(w->clients[i]);
	free(w->clients);
	free(w);
}

unsigned writer_width(const struct writer *w)
{
	return w->k;
}

/* The next item this worker may start, or b->n when the batch is over for it. Lock held. */
static size_t take(struct run *r)
{
	struct writer_batch *b = r->b;
	size_t i;

	if (r->stopped || r->next >= b->n)
		return b->n;
	i = r->next;
	if (b->gate != NULL && !b->gate(b->arg, i)) {
		r->stopped = true;
		return b->n;
	}
	r->next++;
	if (++r->busy > b->peak)
		b->peak = r->busy;
	return i;
}

static void *work(void *arg)
{
	struct worker *wk = arg;
	struct run *r = wk->run;
	struct writer_batch *b = r->b;
	struct kerf_err err;
	size_t i;

	pthread_mutex_lock(&r->lock);
	while ((i = take(r)) < b->n) {
		int rc;

		pthread_mutex_unlock(&r->lock);
		rc = b->write(wk->c, i, b->arg, &err);
		pthread_mutex_lock(&r->lock);
		r->busy--;
		if (rc == 0) {
			b->results[i] = WRITER_DONE;
		} else if (err.code == KERF_ECONFLICT) {
			b->results[i] = WRITER_CONFLICT;
		} else {
			b->results[i] = WRITER_FAILED;
			r->stopped = true;
			if (i < r->failed_at) {
				r->failed_at = i;
				r->failure = err;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int writer_run(struct writer *w, struct writer_batch *b, struct kerf_err *err)
{
	struct run r = {.b = b, .failed_at = b->n};
	struct worker wk[WRITER_MAX_WIDTH];
	pthread_t th[WRITER_MAX_WIDTH];
	unsigned started = 0;

	b->peak = 0;
	for (size_t i = 0; i < b->n; i++)
		b->results[i] = WRITER_NOT_STARTED;
	pthread_mutex_init(&r.lock, NULL);
	/* No more threads than items; a thread that cannot be made leaves its share to the others. */
	for (unsigned t = 0; t < w->k && t < b->n; t++) {
		wk[t] = (struct worker){&r, w->clients[t]};
		if (pthread_create(&th[started], NULL, work, &wk[t]) == 0)
			started++;
	}
	if (started == 0 && b->n > 0) { /* not one thread: the batch runs here, on the first connection */
		wk[0] = (struct worker){&r, w->clients[0]};
		work(&wk[0]);
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&r.lock);
	if (r.failed_at < b->n) {
		if (err != NULL)
			*err = r.failure;
		return -1;
	}
	return 0;
}
