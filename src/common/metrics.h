/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h — counters, gauges and histograms, served in Prometheus' text exposition format (version 0.0.4).
 *
 * A registry holds metric families; a family has a name, a help line, a type and up to METRICS_MAX_LABELS
 * label names; each distinct set of label values is one series, made on first use. Names follow
 * Prometheus' conventions (the caller's job): a "kerf_" prefix, base units (seconds, bytes), "_total" on
 * counters.
 *
 * Why its own: the daemons need a few dozen series, not a client library; the one rule that matters is that
 * a scrape (another thread) never sees a half-updated series, so every update and the render take the
 * registry's mutex (updates are a few per round, never in a hot loop).
 *
 * Families live as long as the registry; adding a family with a name already taken returns the existing one
 * (so two modules can share a family) if type and labels match, else NULL. Label values are copied. On out of
 * memory an update is dropped (metrics must never take a daemon down) and counted in
 * kerf_metrics_dropped_total.
 */
#ifndef KERF_METRICS_H
#define KERF_METRICS_H

#include <stddef.h>

#define METRICS_MAX_LABELS 4

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *r);

/*
 * A family. labels: a comma-separated list of label names ("verb,code"), or NULL for none. For a histogram,
 * buckets are n upper bounds in increasing order (+Inf is implied), copied. NULL on a bad name, a clash with an
 * existing family, or out of memory.
 */
struct metric *metrics_counter(struct metrics *r, const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help, const char *labels);
struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help, const char *labels,
				 const double *buckets, size_t n);

/*
 * Updates the series with the given label values (as many as the family has label names, in order; NULL
 * metric: no-op, so an instrumented module runs without a registry). add: counters and gauges (a counter
 * takes only v >= 0); set: gauges; observe: histograms.
 */
void metric_add(struct metric *m, double v, ...);
void metric_set(struct metric *m, double v, ...);
void metric_observe(struct metric *m, double v, ...);

/* The whole registry as exposition text (malloc'd, NUL-terminated; the caller frees). NULL on ENOMEM. */
char *metrics_render(struct metrics *r);

/* Latency buckets in seconds for API calls and rounds: 1 ms to 30 s. */
extern const double METRICS_LATENCY_BUCKETS[];
extern const size_t METRICS_LATENCY_BUCKETS_N;

#endif
