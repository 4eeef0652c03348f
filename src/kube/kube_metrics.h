/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_metrics.h — an informer's counters (kube_informer_stats) as Prometheus series, for the daemons'
 * /metrics: kerf_watch_lists_total (full lists: the first, and one per 410 Gone), kerf_watch_connections_total
 * (watches opened: more than one means the watch was restarted), kerf_watch_events_total and
 * kerf_watch_failures_total (connections that failed: the API server away or refusing), each labelled with the
 * watched resource.
 *
 * The informer counts on its own thread; kube_watch_metrics_update() adds what was counted since its last
 * call, so call it from one thread (each daemon does at every step).
 */
#ifndef KERF_KUBE_METRICS_H
#define KERF_KUBE_METRICS_H

#include "kube.h"
#include "metrics.h"

struct kube_watch_metrics {
	struct kube_informer *inf;
	const char *resource; /* the label value: "pods", "miglayouts" */
	struct kube_informer_stats last;
	struct metric *lists, *connections, *events, *failures;
};

/* Registers the families in m (NULL: no-op updates) for inf, labelled resource (a static string). */
void kube_watch_metrics_init(struct kube_watch_metrics *w, struct metrics *m, struct kube_informer *inf,
			     const char *resource);

/* Adds what inf counted since the last call. */
void kube_watch_metrics_update(struct kube_watch_metrics *w);

/*
 * Counts c's requests in m from now on: kerf_api_requests_total{verb, code} (code the HTTP status, or
 * "error" when none came) and kerf_api_request_duration_seconds{verb}. Call before c is shared by threads.
 */
void kube_client_metrics(struct kube_client *c, struct metrics *m);

#endif
