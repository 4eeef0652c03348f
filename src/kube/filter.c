/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter.c — cuts a watch event down to the fields a projection reads, at the byte level, before parsing.
 *
 * Why: parsing is most of a watch's cost (jansson builds a tree of every field, each one malloc'd), and a
 * projection reads a handful of the hundreds of fields in a pod. Copying the wanted spans of the line to a
 * smaller line and parsing that is two to three times cheaper than parsing the whole (bench/kube).
 *
 * Scope: the event's "object" member, to any depth: "spec" keeps all of spec, "spec.nodeName" keeps only
 * that member of spec, and "spec.containers[].resources" keeps, of each element of the array
 * spec.containers, only its "resources" (elements that are not objects are kept as they are). A pod's
 * containers are a quarter of its watch event, and a projection that counts MIG requests reads only their
 * resources. Everything else in the event is copied as it is. The scanner only needs to find where each
 * value ends (strings skipped whole, brackets counted); it never interprets values, and on anything it
 * does not expect it gives up and the caller parses the original line.
 */
#include <stdlib.h>
#include <string.h>

#include "kube_filter.h"

struct kube_fields {
	size_t n;
	char **path; /* "spec" or "spec.nodeName" */
};

struct kube_fields *kube_fields_new(const char *const *paths)
{
	struct kube_fields *f = calloc(1, sizeof(*f));
	size_t n = 0;

	if (!f)
		return NULL;
	while (paths[n])
		n++;
	f->path = calloc(n ? n : 1, sizeof(*f->path));
	if (!f->path) {
		free(f);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		f->path[i] = strdup(paths[i]);
		if (!f->path[i]) {
			f->n = i;
			kube_fields_free(f);
			return NULL;
		}
	}
	f->n = n;
	return f;
}

void kube_fields_free(struct kube_fields *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->path[i]);
	free(f->path);
	free(f);
}

enum keep { DROP, WHOLE, INSIDE, ELEMENTS };

/*
 * Where the filtered line goes: every write is checked against the end of the caller's buffer. The output
 * is never longer than the input (it copies spans of the line and the separators between them), but that
 * is an argument, not a bound: a write past the end fails the filter and the caller parses the original.
 */
struct sink {
	char *o;
	char *end;
};

static int put(struct sink *s, const char *bytes, size_t n)
{
	if ((size_t)(s->end - s->o) < n)
		return -1;
	memcpy(s->o, bytes, n);
	s->o += n;
	return 0;
}

static int put_char(struct sink *s, char c)
{
	return put(s, &c, 1);
}

/* Where a member sits: "" for the watched object's own members, "spec", "spec.containers[]". */
#define PREFIX_MAX 256

/*
 * What to keep of member `key` of the object at `prefix`, whose value starts with the byte `first`: WHOLE if
 * "prefix.key" is listed; INSIDE if a listed path goes on with "prefix.key." and the value is an object;
 * ELEMENTS if one goes on with "prefix.key[]." and the value is an array; WHOLE again if a path goes on
 * into a value of another shape (it is kept as it is); else DROP.
 */
static enum keep decide(const struct kube_fields *f, const char *prefix, size_t plen, const char *key, size_t klen,
			char first)
{
	int inside = 0, elements = 0;

	for (size_t i = 0; i < f->n; i++) {
		const char *q = f->path[i];

		if (plen) {
			if (strncmp(q, prefix, plen) != 0 || q[plen] != '.')
				continue;
			q += plen + 1;
		}
		if (strncmp(q, key, klen) != 0)
			continue;
		q += klen;
		if (*q == '\0')
			return WHOLE;
		if (*q == '.')
			inside = 1;
		else if (q[0] == '[' && q[1] == ']' && q[2] == '.')
			elements = 1;
	}
	if (inside && first == '{')
		return INSIDE;
	if (elements && first == '[')
		return ELEMENTS;
	return inside || elements ? WHOLE : DROP;
}

/* prefix + "." + key + suffix into out (PREFIX_MAX); its length, or 0 when it does not fit. */
static size_t child_prefix(char *out, const char *prefix, size_t plen, const char *key, size_t klen,
			   const char *suffix)
{
	size_t slen = strlen(suffix), n = plen + (plen != 0) + klen + slen;

	if (n >= PREFIX_MAX)
		return 0;
	memcpy(out, prefix, plen);
	if (plen)
		out[plen] = '.';
	memcpy(out + plen + (plen != 0), key, klen);
	memcpy(out + plen + (plen != 0) + klen, suffix, slen + 1);
	return n;
}

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* One past the closing quote of the string starting at p (which is '"'), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* One past the end of the value starting at p, or NULL. */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
			p++;
		return p;
	}
	for (; p < end; p++) {
		if (*p == '"') {
			p = skip_string(p, end);
			if (!p)
				return NULL;
			p--;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

static int filter_object(const char **pp, const char *end, struct sink *o, const struct kube_fields *f,
			 const char *prefix, size_t plen);

/* Copies the array at *pp to o, each object element filtered as an object at prefix ("x.y[]"), other
 * elements as they are. Returns 0, or -1 on anything unexpected. */
static int filter_array(const char **pp, const char *end, struct sink *o, const struct kube_fields *f,
			const char *prefix, size_t plen)
{
	const char *p = ws(*pp, end);

	if (p >= end || *p != '[' || put_char(o, '['))
		return -1;
	p = ws(p + 1, end);
	if (p < end && *p == ']') {
		p++;
		goto done;
	}
	for (;;) {
		if (p < end && *p == '{') {
			if (filter_object(&p, end, o, f, prefix, plen))
				return -1;
		} else {
			const char *ve = skip_value(p, end);

			if (!ve || put(o, p, (size_t)(ve - p)))
				return -1;
			p = ve;
		}
		p = ws(p, end);
		if (p < end && *p == ',') {
			if (put_char(o, ','))
				return -1;
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']') {
			p++;
			break;
		}
		return -1;
	}
done:
	*pp = p;
	return put_char(o, ']');
}

/*
 * Copies the object at *pp to o keeping what decide() allows for members of the object at prefix.
 * Returns 0, or -1 on anything unexpected.
 */
static int filter_object(const char **pp, const char *end, struct sink *o, const struct kube_fields *f,
			 const char *prefix, size_t plen)
{
	const char *p = ws(*pp, end);
	int first = 1;

	if (p >= end || *p != '{' || put_char(o, '{'))
		return -1;
	p = ws(p + 1, end);
	if (p < end && *p == '}') {
		p++;
		goto done;
	}
	for (;;) {
		const char *ks = p, *ke, *vs, *ve;
		size_t klen;
		enum keep k;

		if (p >= end || *p != '"' || !(ke = skip_string(p, end)))
			return -1;
		p = ws(ke, end);
		if (p >= end || *p != ':')
			return -1;
		vs = ws(p + 1, end);
		if (vs >= end)
			return -1;
		klen = (size_t)(ke - ks - 2);
		k = decide(f, prefix, plen, ks + 1, klen, *vs);
		if (k != DROP) {
			if ((!first && put_char(o, ',')) || put(o, ks, (size_t)(ke - ks)) || put_char(o, ':'))
				return -1;
			first = 0;
		}
		if (k == INSIDE || k == ELEMENTS) {
			char child[PREFIX_MAX];
			size_t clen = child_prefix(child, prefix, plen, ks + 1, klen, k == ELEMENTS ? "[]" : "");

			if (clen == 0)
				return -1; /* a path this deep is not one kerf lists: parse the original */
			ve = vs;
			if ((k == INSIDE ? filter_object : filter_array)(&ve, end, o, f, child, clen))
				return -1;
		} else {
			ve = skip_value(vs, end);
			if (!ve)
				return -1;
			if (k == WHOLE && put(o, vs, (size_t)(ve - vs)))
				return -1;
		}
		p = ws(ve, end);
		if (p < end && *p == ',') {
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}') {
			p++;
			break;
		}
		return -1;
	}
done:
	*pp = p;
	return put_char(o, '}');
}

/* The event {"type":..., "object":{...}}: every member copied, "object" filtered. */
size_t kube_fields_filter(const struct kube_fields *f, const char *line, size_t len, char *out, size_t cap)
{
	const char *p = line, *end = line + len;
	struct sink sink = {out, out + cap}, *o = &sink;
	int first = 1;

	p = ws(p, end);
	if (p >= end || *p != '{' || put_char(o, '{'))
		return 0;
	p = ws(p + 1, end);
	for (;;) {
		const char *ks = p, *ke, *vs, *ve;
		if (p >= end || *p != '"' || !(ke = skip_string(p, end)))
			return 0;
		p = ws(ke, end);
		if (p >= end || *p != ':')
			return 0;
		vs = ws(p + 1, end);
		if ((!first && put_char(o, ',')) || put(o, ks, (size_t)(ke - ks)) || put_char(o, ':'))
			return 0;
		first = 0;
		if (ke - ks == 8 && memcmp(ks, "\"object\"", 8) == 0) {
			const char *q = vs;
			if (filter_object(&q, end, o, f, "", 0))
				return 0;
			ve = q;
		} else {
			if (!(ve = skip_value(vs, end)))
				return 0;
			/* An ERROR event's object is a Status whose code (410) the watch needs: never filter it. */
			if (ke - ks == 6 && memcmp(ks, "\"type\"", 6) == 0 && ve - vs == 7 && memcmp(vs, "\"ERROR\"", 7) == 0)
				return 0;
			if (put(o, vs, (size_t)(ve - vs)))
				return 0;
		}
		p = ws(ve, end);
		if (p < end && *p == ',') {
			p = ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			break;
		return 0;
	}
	if (put_char(o, '}'))
		return 0;
	return (size_t)(sink.o - out);
}
