/*
 * json_read.c — a recursive-descent reader for plain JSON into jansson's tree (json_read.h says when it
 * declines and why that is safe).
 *
 * Everything it accepts, jansson accepts with the same meaning: strings are printable ASCII with no
 * escapes (so the bytes are the value), numbers are integers of at most 18 digits without leading zeros
 * (so they fit a json_int_t and jansson reads them as integers too), literals are followed by a delimiter,
 * and the top level is an object or an array followed only by white space. Anything outside that subset
 * makes it give up rather than guess.
 */
#include <string.h>

#include "json_read.h"

#define MAX_DEPTH 512 /* jansson's limit is 2048; deeper documents go to jansson */
#define MAX_KEY 256   /* longer keys (never in the planner's input) go to jansson */

struct reader {
	const char *p, *end;
	unsigned depth;
};

static json_t *value(struct reader *r);

static void blank(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

static int next_is(const struct reader *r, char c)
{
	return r->p < r->end && *r->p == c;
}

/* A string of printable ASCII without escapes, at r->p (a quote): its bytes and length, or NULL. */
static const char *string(struct reader *r, size_t *n)
{
	const char *s;

	if (!next_is(r, '"'))
		return NULL;
	s = ++r->p;
	for (; r->p < r->end && *r->p != '"'; r->p++)
		if ((unsigned char)*r->p < 0x20 || (unsigned char)*r->p > 0x7e || *r->p == '\\')
			return NULL;
	if (r->p == r->end)
		return NULL;
	*n = (size_t)(r->p++ - s);
	return s;
}

static json_t *integer(struct reader *r)
{
	const char *digits;
	long long v = 0;
	int neg = next_is(r, '-');

	r->p += neg;
	digits = r->p;
	for (; r->p < r->end && *r->p >= '0' && *r->p <= '9'; r->p++)
		v = v * 10 + (*r->p - '0');
	if (r->p == digits || r->p - digits > 18 || (digits[0] == '0' && r->p - digits > 1))
		return NULL;
	if (next_is(r, '.') || next_is(r, 'e') || next_is(r, 'E'))
		return NULL;
	return json_integer(neg ? -v : v);
}

static int word(struct reader *r, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return 0;
	r->p += n;
	return 1;
}

static json_t *object(struct reader *r)
{
	json_t *o = json_object(), *v;

	if (o == NULL)
		return NULL;
	r->p++;
	blank(r);
	if (next_is(r, '}')) {
		r->p++;
		return o;
	}
	for (;;) {
		char key[MAX_KEY];
		const char *k;
		size_t n;

		blank(r);
		if ((k = string(r, &n)) == NULL || n >= sizeof(key))
			goto fail;
		memcpy(key, k, n);
		key[n] = '\0';
		blank(r);
		if (!next_is(r, ':'))
			goto fail;
		r->p++;
		blank(r);
		if ((v = value(r)) == NULL)
			goto fail;
		if (json_object_get(o, key) != NULL) { /* JSON_REJECT_DUPLICATES: jansson says where */
			json_decref(v);
			goto fail;
		}
		if (json_object_set_new_nocheck(o, key, v) != 0)
			goto fail;
		blank(r);
		if (next_is(r, '}')) {
			r->p++;
			return o;
		}
		if (!next_is(r, ','))
			goto fail;
		r->p++;
	}
fail:
	json_decref(o);
	return NULL;
}

static json_t *array(struct reader *r)
{
	json_t *a = json_array(), *v;

	if (a == NULL)
		return NULL;
	r->p++;
	blank(r);
	if (next_is(r, ']')) {
		r->p++;
		return a;
	}
	for (;;) {
		blank(r);
		if ((v = value(r)) == NULL || json_array_append_new(a, v) != 0)
			goto fail;
		blank(r);
		if (next_is(r, ']')) {
			r->p++;
			return a;
		}
		if (!next_is(r, ','))
			goto fail;
		r->p++;
	}
fail:
	json_decref(a);
	return NULL;
}

static json_t *value(struct reader *r)
{
	json_t *v = NULL;
	const char *s;
	size_t n;

	if (r->p == r->end || ++r->depth > MAX_DEPTH)
		return NULL;
	switch (*r->p) {
	case '{': v = object(r); break;
	case '[': v = array(r); break;
	case '"':
		if ((s = string(r, &n)) != NULL)
			v = json_stringn_nocheck(s, n);
		break;
	case 't': v = word(r, "true") ? json_true() : NULL; break;
	case 'f': v = word(r, "false") ? json_false() : NULL; break;
	case 'n': v = word(r, "null") ? json_null() : NULL; break;
	default:
		if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
			v = integer(r);
		break;
	}
	r->depth--;
	return v;
}

json_t *plan_json_read(const char *text, size_t len)
{
	struct reader r = { text, text + len, 0 };
	json_t *v;

	blank(&r);
	if (!next_is(&r, '{') && !next_is(&r, '['))
		return NULL;
	if ((v = value(&r)) == NULL)
		return NULL;
	blank(&r);
	if (r.p != r.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}
