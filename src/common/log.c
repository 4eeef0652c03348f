/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c — building and writing log events. See log.h for the line formats and the contract.
 *
 * Fields are formatted one conversion at a time: kerf_log_vfields() walks the format, takes each argument
 * with va_arg by the conversion's own type (the table printf uses: length modifier, then conversion) and
 * formats that one value with snprintf. That keeps the compiler's printf checking at the call sites and
 * gives each value its own string, which the writers then quote (logfmt) or escape (JSON) as a whole.
 *
 * Escaping is the writers' job alone, and both treat every value as untrusted: control characters become
 * \n, \t, \r or \u00XX; quotes and backslashes are escaped; bytes that are not valid UTF-8 become U+FFFD so
 * that a JSON line always parses. logfmt quotes a value when it is empty or holds a space, '=', '"', a
 * control character or anything not plain ASCII-printable (as go-logfmt does), and leaves it bare otherwise.
 */
#include "buf.h"
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

void kerf_log_init(struct kerf_log_event *ev, enum kerf_log_level level, const char *msg)
{
	ev->level = level;
	ev->msg = msg ? msg : "";
	ev->n = 0;
	ev->err = NULL;
	ev->used = 0;
	ev->text[0] = '\0';
}

/* Room left in ev's text, and where. */
static char *room(struct kerf_log_event *ev, size_t *cap)
{
	*cap = sizeof(ev->text) - ev->used;
	return ev->text + ev->used;
}

/* Appends n bytes of s to the value being built at ev->text + ev->used, cut to the room left (one byte stays
 * for its NUL). */
static void put(struct kerf_log_event *ev, size_t *len, const char *s, size_t n)
{
	size_t cap;
	char *at = room(ev, &cap);

	if (cap == 0)
		return;
	if (*len + n > cap - 1)
		n = cap - 1 - *len;
	memcpy(at + *len, s, n);
	*len += n;
	at[*len] = '\0';
}

/* Formats the one conversion spec (e.g. "%llu", length m chars) with its argument from ap into out.
 * Returns true when it was a number conversion. */
static bool one_conversion(const char *spec, size_t m, va_list *ap, char *out, size_t cap)
{
	char f[64];
	char conv = spec[m - 1];
	const char *len;
	size_t ll, k = 0;

	/* A '*' width or precision takes an int argument first: written into the spec as digits (a negative
	 * precision is as if none was given, a negative width is a '-' flag, as printf has it). */
	for (size_t j = 0; j < m; j++) {
		long v;

		if (k + 24 > sizeof(f)) { /* a spec no call site writes: its arguments cannot be found */
			snprintf(out, cap, "?");
			return false;
		}
		if (spec[j] != '*') {
			f[k++] = spec[j];
			continue;
		}
		v = va_arg(*ap, int);
		if (j > 0 && spec[j - 1] == '.' && v < 0)
			k--; /* drops the '.' */
		else
			k += (size_t)snprintf(f + k, sizeof(f) - k, v < 0 ? "-%ld" : "%ld", v < 0 ? -v : v);
	}
	f[k] = '\0';
	/* The length modifier sits just before the conversion: up to two of h, l, z, j, t, L. */
	len = spec + m - 1;
	while (len > spec + 1 && strchr("hlzjtL", len[-1]))
		len--;
	ll = (size_t)(spec + m - 1 - len);
	switch (conv) {
	case 'd':
	case 'i':
		if (ll == 2 && len[0] == 'l')
			snprintf(out, cap, f, va_arg(*ap, long long));
		else if (ll == 1 && len[0] == 'l')
			snprintf(out, cap, f, va_arg(*ap, long));
		else if (ll == 1 && len[0] == 'z')
			snprintf(out, cap, f, va_arg(*ap, ssize_t));
		else if (ll == 1 && len[0] == 'j')
			snprintf(out, cap, f, va_arg(*ap, intmax_t));
		else if (ll == 1 && len[0] == 't')
			snprintf(out, cap, f, va_arg(*ap, ptrdiff_t));
		else
			snprintf(out, cap, f, va_arg(*ap, int)); /* int, short and char all arrive as int */
		return true;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		if (ll == 2 && len[0] == 'l')
			snprintf(out, cap, f, va_arg(*ap, unsigned long long));
		else if (ll == 1 && len[0] == 'l')
			snprintf(out, cap, f, va_arg(*ap, unsigned long));
		else if (ll == 1 && len[0] == 'z')
			snprintf(out, cap, f, va_arg(*ap, size_t));
		else if (ll == 1 && len[0] == 'j')
			snprintf(out, cap, f, va_arg(*ap, uintmax_t));
		else if (ll == 1 && len[0] == 't')
			snprintf(out, cap, f, va_arg(*ap, ptrdiff_t));
		else
			snprintf(out, cap, f, va_arg(*ap, unsigned));
		return conv == 'u';
	case 'f':
	case 'F':
	case 'g':
	case 'G':
	case 'e':
	case 'E':
		if (ll == 1 && len[0] == 'L')
			snprintf(out, cap, f, va_arg(*ap, long double));
		else
			snprintf(out, cap, f, va_arg(*ap, double));
		return true;
	case 'c':
		snprintf(out, cap, f, va_arg(*ap, int));
		return false;
	case 's': {
		const char *s = va_arg(*ap, const char *);
		snprintf(out, cap, f, s ? s : "(null)");
		return false;
	}
	case 'p':
		snprintf(out, cap, f, va_arg(*ap, void *));
		return false;
	default: /* not a conversion kerf uses: the arguments after it cannot be found */
		snprintf(out, cap, "?");
		return false;
	}
}

/* Length of the conversion spec at p ('%' ... conversion letter), or 0 when p does not start one. */
static size_t spec_len(const char *p)
{
	size_t m = 1;

	if (p[0] != '%')
		return 0;
	while (p[m] && strchr("-+ #0123456789.*hlzjtL", p[m]))
		m++;
	return p[m] ? m + 1 : 0;
}

void kerf_log_vfields(struct kerf_log_event *ev, const char *fmt, va_list ap)
{
	va_list aq;
	const char *p = fmt;

	if (fmt == NULL)
		return;
	va_copy(aq, ap);
	while (*p) {
		const char *eq, *end;
		size_t len = 0, cap, convs = 0, plain = 0;
		bool num = false;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		eq = strchr(p, '=');
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		/* A malformed piece (no '=') still has to consume its conversions to keep the arguments in step. */
		room(ev, &cap);
		if (eq == NULL || eq > end || ev->n == KERF_LOG_FIELDS_MAX || cap < 2) {
			char scratch[256];
			for (const char *q = p; q < end; q++) {
				size_t m = spec_len(q);
				if (m && q[1] != '%') {
					one_conversion(q, m, &aq, scratch, sizeof(scratch));
					q += m - 1;
				}
			}
			p = end;
			continue;
		}
		/* Keys are constants from the call site; their text lives in fmt, so it is copied into the event. */
		{
			size_t klen = (size_t)(eq - p);
			char *k;

			put(ev, &len, p, klen);
			k = ev->text + ev->used;
			ev->used += len + 1;
			if (ev->used > sizeof(ev->text))
				ev->used = sizeof(ev->text);
			ev->f[ev->n].key = k;
			len = 0;
		}
		for (const char *q = eq + 1; q < end;) {
			size_t m = spec_len(q);
			if (m && q[1] == '%') {
				put(ev, &len, "%", 1);
				plain++;
				q += 2;
			} else if (m) {
				char v[KERF_LOG_TEXT_MAX];
				num = one_conversion(q, m, &aq, v, sizeof(v));
				put(ev, &len, v, strlen(v));
				convs++;
				q += m;
			} else {
				put(ev, &len, q, 1);
				plain++;
				q++;
			}
		}
		room(ev, &cap);
		ev->f[ev->n].value = cap ? ev->text + ev->used : ""; /* the key took the last byte: empty value */
		ev->f[ev->n].num = num && convs == 1 && plain == 0;
		ev->n++;
		ev->used += len + 1;
		if (ev->used > sizeof(ev->text))
			ev->used = sizeof(ev->text);
		p = end;
	}
	va_end(aq);
}

void kerf_log_fields(struct kerf_log_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kerf_log_vfields(ev, fmt, ap);
	va_end(ap);
}

void kerf_log_add(struct kerf_log_event *ev, const char *key, const char *value)
{
	size_t len = 0, cap;

	room(ev, &cap);
	if (ev->n == KERF_LOG_FIELDS_MAX || cap < 2)
		return;
	put(ev, &len, value ? value : "", value ? strlen(value) : 0);
	ev->f[ev->n].key = key;
	ev->f[ev->n].value = ev->text + ev->used;
	ev->f[ev->n].num = false;
	ev->n++;
	ev->used += len + 1;
	if (ev->used > sizeof(ev->text))
		ev->used = sizeof(ev->text);
}

void kerf_log_vemit(kerf_log_fn *fn, void *arg, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		    const char *fields, va_list ap)
{
	struct kerf_log_event ev;

	if (fn == NULL)
		return;
	kerf_log_init(&ev, level, msg);
	ev.err = err;
	kerf_log_vfields(&ev, fields, ap);
	fn(arg, &ev);
}

void kerf_log_emit(kerf_log_fn *fn, void *arg, enum kerf_log_level level, const struct kerf_err *err, const char *msg,
		   const char *fields, ...)
{
	va_list ap;

	va_start(ap, fields);
	kerf_log_vemit(fn, arg, level, err, msg, fields, ap);
	va_end(ap);
}

/* ---- writing ---- */

/* A line being written: no limit of its own (the caller's fields bound it); once out of memory, the rest
 * of the line is dropped and the whole line with it. */
struct line {
	struct kerf_buf b;
	bool oom;
};

static void add(struct line *l, const char *s, size_t n)
{
	if (!l->oom && kerf_buf_add(&l->b, s, n, NULL) < 0)
		l->oom = true;
}

static void adds(struct line *l, const char *s)
{
	add(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* s inside double quotes, escaped the way both JSON and logfmt read it. */
static void add_quoted(struct line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	add(l, "\"", 1);
	while (*p) {
		size_t n = utf8_len(p);
		char esc[8];

		if (n == 0) {
			add(l, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
			p++;
			continue;
		}
		if (n > 1) {
			add(l, (const char *)p, n);
			p += n;
			continue;
		}
		switch (*p) {
		case '"':
			add(l, "\\\"", 2);
			break;
		case '\\':
			add(l, "\\\\", 2);
			break;
		case '\n':
			add(l, "\\n", 2);
			break;
		case '\r':
			add(l, "\\r", 2);
			break;
		case '\t':
			add(l, "\\t", 2);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				adds(l, esc);
			} else {
				add(l, (const char *)p, 1);
			}
		}
		p++;
	}
	add(l, "\"", 1);
}

/* Whether logfmt needs s quoted: empty, or anything but printable ASCII other than '=' and '"'. */
static bool needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '=' || *p == '"' || *p == '\\')
			return true;
	return false;
}

static void add_pair(struct line *l, enum kerf_log_format format, bool first, const char *key, const char *value,
		     bool num)
{
	if (format == KERF_LOG_JSON) {
		add(l, first ? "{" : ",", 1);
		add_quoted(l, key);
		add(l, ":", 1);
		if (num && *value)
			adds(l, value);
		else
			add_quoted(l, value);
		return;
	}
	if (!first)
		add(l, " ", 1);
	adds(l, key);
	add(l, "=", 1);
	if (needs_quotes(value))
		add_quoted(l, value);
	else
		adds(l, value);
}

char *kerf_log_format_line(enum kerf_log_format format, const char *ts, const char *component,
			   const struct kerf_log_event *ev)
{
	struct line l = {.oom = false};
	const struct kerf_err *e = ev->err;

	kerf_buf_init(&l.b, SIZE_MAX / 4, "log line");
	add_pair(&l, format, true, "ts", ts, false);
	add_pair(&l, format, false, "level", kerf_log_level_name(ev->level), false);
	if (component)
		add_pair(&l, format, false, "component", component, false);
	add_pair(&l, format, false, "msg", ev->msg ? ev->msg : "", false);
	for (unsigned i = 0; i < ev->n; i++)
		add_pair(&l, format, false, ev->f[i].key, ev->f[i].value, ev->f[i].num);
	if (e != NULL) {
		char num[16];

		add_pair(&l, format, false, "error", e->msg, false);
		if (e->http_status) {
			snprintf(num, sizeof(num), "%d", e->http_status);
			add_pair(&l, format, false, "status", num, true);
		}
		if (e->reason[0])
			add_pair(&l, format, false, "reason", e->reason, false);
	}
	if (format == KERF_LOG_JSON)
		add(&l, "}", 1);
	add(&l, "\n", 1);
	if (l.oom) {
		kerf_buf_reset(&l.b);
		return NULL;
	}
	return kerf_buf_take(&l.b, NULL);
}

void kerf_log_write(void *arg, const struct kerf_log_event *ev)
{
	const struct kerf_log_sink *sink = arg;
	char ts[64], day[32];
	struct timespec now;
	struct tm tm;
	char *line;

	if (ev->level > sink->level)
		return;
	/* Milliseconds: a re-cut takes a few of them, and its stages are told apart by these stamps. */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%03ldZ", day, now.tv_nsec / 1000000);
	if ((line = kerf_log_format_line(sink->format, ts, sink->component, ev)) == NULL)
		return;
	fputs(line, sink->out ? sink->out : stderr);
	fflush(sink->out ? sink->out : stderr);
	free(line);
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *kerf_log_level_name(enum kerf_log_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "unknown";
}

int kerf_log_level_parse(const char *text, enum kerf_log_level *out)
{
	for (unsigned i = 0; text && i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum kerf_log_level)i;
			return 0;
		}
	return -1;
}

int kerf_log_format_parse(const char *text, enum kerf_log_format *out)
{
	if (text && strcmp(text, "text") == 0)
		*out = KERF_LOG_TEXT;
	else if (text && strcmp(text, "json") == 0)
		*out = KERF_LOG_JSON;
	else
		return -1;
	return 0;
}
