/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c — see metrics.h.
 *
 * A family keeps its series in a singly linked list: the daemons have at most a few dozen series per family
 * (verbs x codes, results, resources), so a list walk under the mutex costs less than a hash table's code. The
 * render writes into a growing buffer, families in registration order, series in creation order, which keeps
 * scrapes stable for diffs and tests.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"

const double METRICS_LATENCY_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25,  0.5,    1,     2.5,  5,     10,   30};
const size_t METRICS_LATENCY_BUCKETS_N = sizeof(METRICS_LATENCY_BUCKETS) / sizeof(METRICS_LATENCY_BUCKETS[0]);

struct series {
	struct series *next;
	char *values[METRICS_MAX_LABELS];
	double v;        /* counter, gauge; a histogram's sum */
	double count;    /* histogram */
	double *buckets; /* histogram: cumulative counts per bound */
};

struct metric {
	struct metric *next;
	struct metrics *r;
	enum metric_type type;
	char *name, *help;
	unsigned n_labels;
	char *labels[METRICS_MAX_LABELS];
	double *bounds;
	size_t n_bounds;
	struct series *series, **tail;
};

struct metrics {
	pthread_mutex_t mu;
	struct metric *families, **tail;
	double dropped;
};

struct metrics *metrics_new(void)
{
	struct metrics *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	r->tail = &r->families;
	return r;
}

static void series_free(struct series *s, unsigned n_labels)
{
	for (unsigned i = 0; i < n_labels; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

static void metric_free(struct metric *m)
{
	for (struct series *s = m->series, *next; s != NULL; s = next) {
		next = s->next;
		series_free(s, m->n_labels);
	}
	for (unsigned i = 0; i < m->n_labels; i++)
		free(m->labels[i]);
	free(m->bounds);
	free(m->name);
	free(m->help);
	free(m);
}

void metrics_free(struct metrics *r)
{
	if (r == NULL)
		return;
	for (struct metric *m = r->families, *next; m != NULL; m = next) {
		next = m->next;
		metric_free(m);
	}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no colon). */
static bool valid_name(const char *s, size_t len, bool label)
{
	if (len == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (!label && s[i] == ':')))
			return false;
	return true;
}

/* Splits "a,b" into m->labels; false on a bad or surplus name, or out of memory. */
static bool parse_labels(struct metric *m, const char *labels)
{
	for (const char *p = labels; p != NULL && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (m->n_labels == METRICS_MAX_LABELS || !valid_name(p, len, true) ||
		    (m->labels[m->n_labels] = strndup(p, len)) == NULL)
			return false;
		m->n_labels++;
		p = comma ? comma + 1 : NULL;
	}
	return true;
}

static bool same_shape(const struct metric *a, const struct metric *b)
{
	if (a->type != b->type || a->n_labels != b->n_labels || a->n_bounds != b->n_bounds)
		return false;
	for (unsigned i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	return true;
}

static struct metric *family(struct metrics *r, enum metric_type type, const char *name, const char *help,
			     const char *labels, const double *bounds, size_t n_bounds)
{
	struct metric *m = calloc(1, sizeof(*m)), *have = NULL;

	if (r == NULL || m == NULL || !valid_name(name, strlen(name), false) || (m->name = strdup(name)) == NULL ||
	    (m->help = strdup(help ? help : "")) == NULL || !parse_labels(m, labels))
		goto fail;
	m->r = r;
	m->type = type;
	m->tail = &m->series;
	if (n_bounds > 0) {
		if ((m->bounds = malloc(n_bounds * sizeof(*bounds))) == NULL)
			goto fail;
		memcpy(m->bounds, bounds, n_bounds * sizeof(*bounds));
		m->n_bounds = n_bounds;
	}
	pthread_mutex_lock(&r->mu);
	for (have = r->families; have != NULL && strcmp(have->name, name) != 0; have = have->next)
		;
	if (have == NULL) {
		*r->tail = m;
		r->tail = &m->next;
	}
	pthread_mutex_unlock(&r->mu);
	if (have == NULL)
		return m;
	have = same_shape(have, m) ? have : NULL;
fail:
	if (m != NULL)
		metric_free(m);
	return have;
}

struct metric *metrics_counter(struct metrics *r, const char *name, const char *help, const char *labels)
{
	return family(r, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *r, const char *name, const char *help, const char *labels)
{
	return family(r, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *r, const char *name, const char *help, const char *labels,
				 const double *buckets, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (!(buckets[i] > buckets[i - 1]))
			return NULL;
	return family(r, METRIC_HISTOGRAM, name, help, labels, buckets, n);
}

/* The series for the label values in ap, made if new; NULL on out of memory. Called with the mutex held. */
static struct series *series_of(struct metric *m, va_list ap)
{
	const char *v[METRICS_MAX_LABELS];
	struct series *s;

	for (unsigned i = 0; i < m->n_labels; i++) {
		v[i] = va_arg(ap, const char *);
		if (v[i] == NULL)
			v[i] = "";
	}
	for (s = m->series; s != NULL; s = s->next) {
		unsigned i = 0;

		while (i < m->n_labels && strcmp(s->values[i], v[i]) == 0)
			i++;
		if (i == m->n_labels)
			return s;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (m->n_bounds > 0 && (s->buckets = calloc(m->n_bounds, sizeof(*s->buckets))) == NULL) {
		free(s);
		return NULL;
	}
	for (unsigned i = 0; i < m->n_labels; i++)
		if ((s->values[i] = strdup(v[i])) == NULL) {
			series_free(s, i);
			return NULL;
		}
	*m->tail = s;
	m->tail = &s->next;
	return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct metric *m, enum op op, double v, va_list ap)
{
	struct series *s;

	if (m == NULL || isnan(v))
		return;
	pthread_mutex_lock(&m->r->mu);
	if ((s = series_of(m, ap)) == NULL) {
		m->r->dropped++;
	} else if (op == OP_OBSERVE && m->type == METRIC_HISTOGRAM) {
		for (size_t i = 0; i < m->n_bounds; i++)
			if (v <= m->bounds[i])
				s->buckets[i]++;
		s->count++;
		s->v += v;
	} else if (op == OP_SET && m->type == METRIC_GAUGE) {
		s->v = v;
	} else if (op == OP_ADD && (m->type == METRIC_GAUGE || (m->type == METRIC_COUNTER && v >= 0))) {
		s->v += v;
	}
	pthread_mutex_unlock(&m->r->mu);
}

void metric_add(struct metric *m, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, OP_ADD, v, ap);
	va_end(ap);
}

void metric_set(struct metric *m, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, OP_SET, v, ap);
	va_end(ap);
}

void metric_observe(struct metric *m, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	update(m, OP_OBSERVE, v, ap);
	va_end(ap);
}

/* ---- rendering ---- */

/* The page: no limit of its own (the registered series bound it); once out of memory, nothing more is
 * written and the render fails. */
struct buf {
	struct kerf_buf b;
	bool oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->oom)
		return;
	va_start(ap, fmt);
	if (kerf_buf_vaddf(&b->b, NULL, fmt, ap) < 0)
		b->oom = true;
	va_end(ap);
}

/* A label value or help text escaped as the format asks: backslash, newline, and (in values) the quote. */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(b, "\\\\");
		else if (*s == '\n')
			put(b, "\\n");
		else if (quote && *s == '"')
			put(b, "\\\"");
		else
			put(b, "%c", *s);
	}
}

static void put_number(struct buf *b, double v)
{
	if (isinf(v))
		put(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		put(b, "%lld", (long long)v);
	else { /* the shortest text that reads back as v: 0.1, not 0.10000000000000001 */
		char t[32];

		for (int prec = 15; prec <= 17; prec++) {
			snprintf(t, sizeof(t), "%.*g", prec, v);
			if (strtod(t, NULL) == v)
				break;
		}
		put(b, "%s", t);
	}
}

/* name{a="x",b="y"[,le="bound"]} value */
static void put_sample(struct buf *b, const struct metric *m, const struct series *s, const char *suffix,
		       const double *le, double v)
{
	bool any = m->n_labels > 0 || le != NULL;

	put(b, "%s%s", m->name, suffix);
	if (any)
		put(b, "{");
	for (unsigned i = 0; i < m->n_labels; i++) {
		put(b, "%s%s=\"", i ? "," : "", m->labels[i]);
		put_escaped(b, s->values[i], true);
		put(b, "\"");
	}
	if (le != NULL) {
		put(b, "%sle=\"", m->n_labels ? "," : "");
		put_number(b, *le);
		put(b, "\"");
	}
	put(b, any ? "} " : " ");
	put_number(b, v);
	put(b, "\n");
}

static void put_family(struct buf *b, const struct metric *m)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	static const double inf = INFINITY;

	put(b, "# HELP %s ", m->name);
	put_escaped(b, m->help, false);
	put(b, "\n# TYPE %s %s\n", m->name, types[m->type]);
	for (const struct series *s = m->series; s != NULL; s = s->next) {
		if (m->type != METRIC_HISTOGRAM) {
			put_sample(b, m, s, "", NULL, s->v);
			continue;
		}
		for (size_t i = 0; i < m->n_bounds; i++)
			put_sample(b, m, s, "_bucket", &m->bounds[i], s->buckets[i]);
		put_sample(b, m, s, "_bucket", &inf, s->count);
		put_sample(b, m, s, "_sum", NULL, s->v);
		put_sample(b, m, s, "_count", NULL, s->count);
	}
}

char *metrics_render(struct metrics *r)
{
	struct buf b = {.oom = false};

	kerf_buf_init(&b.b, SIZE_MAX / 4, "metrics page");
	pthread_mutex_lock(&r->mu);
	for (const struct metric *m = r->families; m != NULL; m = m->next)
		put_family(&b, m);
	put(&b, "# HELP kerf_metrics_dropped_total Metric updates dropped for want of memory.\n"
		"# TYPE kerf_metrics_dropped_total counter\nkerf_metrics_dropped_total ");
	put_number(&b, r->dropped);
	put(&b, "\n");
	pthread_mutex_unlock(&r->mu);
	if (b.oom || b.b.p == NULL) {
		kerf_buf_reset(&b.b);
		return NULL;
	}
	return kerf_buf_take(&b.b, NULL);
}
