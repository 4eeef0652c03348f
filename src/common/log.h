/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h — kerf's log lines: one event per line, a level, a constant message and key=value fields, written as
 * logfmt text or as JSON lines.
 *
 *   ts=2026-12-01T22:40:00.123Z level=info component=agent msg="layout applied" node=n1 gpu=0 result=applied
 *   {"ts":"2026-12-01T22:40:00.123Z","level":"info","component":"agent","msg":"layout applied","node":"n1","gpu":0}
 *
 * Two halves, kept apart so that the libraries never write to stderr themselves:
 *   - building an event (struct kerf_log_event): the modules (agent, actuate, controller) fill one and hand it
 *     to the callback their options name (kerf_log_fn), or drop it when there is none;
 *   - writing one (struct kerf_log_sink, kerf_log_write): the daemons' command line owns the sink, its level
 *     and its format.
 *
 * The message is a constant sentence (what happened); what varies goes into fields, so that an operator can
 * grep for `msg="spec written"` or `node=n1` alike. Fields are given as one printf format of space-separated
 * `key=%conv` pairs ("node=%s gpu=%u"), type-checked by the compiler like any printf call and formatted one
 * value at a time, so a value may hold spaces, quotes or control characters (API messages are untrusted
 * text): the writer quotes and escapes them, never the caller. Integer and floating conversions make JSON
 * numbers; everything else JSON strings. An event may carry the error it reports (kerf_log_event.err): it is
 * written as error="...", plus status= and reason= when the error came from an HTTP answer (err.h).
 *
 * Bounded: an event holds at most KERF_LOG_FIELDS_MAX fields and KERF_LOG_TEXT_MAX bytes of formatted
 * values; what does not fit is cut (a value) or left out (a field), never overflowed. No allocation while
 * building; the writer allocates its line once and writes it with one call, so lines from several threads
 * do not interleave.
 */
#ifndef KERF_LOG_H
#define KERF_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum kerf_log_level {
	KERF_LOG_ERROR = 0, /* something failed and was not done */
	KERF_LOG_WARN,      /* done differently than asked, or left out, with the reason */
	KERF_LOG_INFO,      /* a decision or a change of state: the default level */
	KERF_LOG_DEBUG,     /* the steps within one */
};

enum kerf_log_format {
	KERF_LOG_TEXT = 0, /* logfmt */
	KERF_LOG_JSON,     /* one JSON object a line */
};

#define KERF_LOG_FIELDS_MAX 16
#define KERF_LOG_TEXT_MAX 2048

struct kerf_log_field {
	const char *key;   /* a constant: [a-z_] words, written as they are */
	const char *value; /* into the event's text, or a string that outlives the event */
	bool num;          /* a number: written bare in JSON */
};

struct kerf_log_event {
	enum kerf_log_level level;
	const char *msg; /* a constant sentence: what happened */
	unsigned n;
	struct kerf_log_field f[KERF_LOG_FIELDS_MAX];
	const struct kerf_err *err; /* NULL, or the error the line reports */
	size_t used;
	char text[KERF_LOG_TEXT_MAX]; /* the formatted values */
};

/* What a module calls with each event (arg: what its options named). ev is valid only during the call. */
typedef void kerf_log_fn(void *arg, const struct kerf_log_event *ev);

/* Starts an event with no fields. */
void kerf_log_init(struct kerf_log_event *ev, enum kerf_log_level level, const char *msg);

/*
 * Adds the fields of fmt (NULL: none): space-separated key=value pairs whose value is a printf piece (literal text and
 * conversions, no spaces: "pod=%s/%s", "gpu=%u", "ms=%lld"). A value that is exactly one integer or floating
 * conversion is a number. The conversions must match the arguments, as printf's:
 * the attribute on kerf_log_fields lets the compiler check them.
 */
void kerf_log_vfields(struct kerf_log_event *ev, const char *fmt, va_list ap);
void kerf_log_fields(struct kerf_log_event *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds one string field, copying value into the event. */
void kerf_log_add(struct kerf_log_event *ev, const char *key, const char *value);

/* Builds an event (err may be NULL) and hands it to fn(arg), or does nothing when fn is NULL. The v form is
 * for a module's own variadic log function. */
void kerf_log_vemit(kerf_log_fn *fn, void *arg, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		    const char *fields, va_list ap);
void kerf_log_emit(kerf_log_fn *fn, void *arg, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		   const char *fields, ...) __attribute__((format(printf, 6, 7)));

/* ---- writing ---- */

struct kerf_log_sink {
	enum kerf_log_level level;   /* events above it (less severe) are dropped */
	enum kerf_log_format format;
	const char *component;       /* component=..., e.g. "agent"; NULL: left out */
	FILE *out;                   /* NULL: stderr */
};

/* A kerf_log_fn: writes ev to the sink (a struct kerf_log_sink *) when its level passes, stamped now. */
void kerf_log_write(void *sink, const struct kerf_log_event *ev);

/*
 * The line kerf_log_write() writes (newline included), stamped ts, as a malloc'd string; NULL when out of
 * memory. For tests and for writers of their own.
 */
char *kerf_log_format_line(enum kerf_log_format format, const char *ts, const char *component,
			   const struct kerf_log_event *ev);

/* "error", "warn", "info", "debug". */
const char *kerf_log_level_name(enum kerf_log_level level);

/* The level or format named by text; -1 when it names none. */
int kerf_log_level_parse(const char *text, enum kerf_log_level *out);
int kerf_log_format_parse(const char *text, enum kerf_log_format *out);

#endif
