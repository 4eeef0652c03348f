/* SPDX-License-Identifier: Apache-2.0 */
/* kube_metrics.c — see kube_metrics.h. */
#include <string.h>

#include "kube_metrics.h"

void kube_watch_metrics_init(struct kube_watch_metrics *w, struct metrics *m, struct kube_informer *inf,
			     const char *resource)
{
	memset(w, 0, sizeof(*w));
	w->inf = inf;
	w->resource = resource;
	if (m == NULL)
		return;
	w->lists = metrics_counter(m, "kerf_watch_lists_total", "Full lists of a watched resource (the first, and one per 410 Gone).",
				   "resource");
	w->connections = metrics_counter(m, "kerf_watch_connections_total",
					 "Watch connections opened; more than one means the watch was restarted.", "resource");
	w->events = metrics_counter(m, "kerf_watch_events_total", "Watch events applied to the cache.", "resource");
	w->failures = metrics_counter(m, "kerf_watch_failures_total",
				      "Watch or list connections that failed (API server unreachable or refusing).", "resource");
}

void kube_watch_metrics_update(struct kube_watch_metrics *w)
{
	struct kube_informer_stats now;

	if (w->inf == NULL || w->lists == NULL)
		return;
	kube_informer_stats(w->inf, &now);
	metric_add(w->lists, (double)(now.lists - w->last.lists), w->resource);
	metric_add(w->connections, (double)(now.watches - w->last.watches), w->resource);
	metric_add(w->events, (double)(now.events - w->last.events), w->resource);
	metric_add(w->failures, (double)(now.failures - w->last.failures), w->resource);
	w->last = now;
}
