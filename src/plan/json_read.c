/* SPDX-License-Identifier: Apache-2.0 */
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
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json_read.h"

#define MAX_DEPTH 512 /* jansson's limit is 2048; deeper documents go to jansson */
#define MAX_KEY 256   /* longer keys (never in the planner's input) go to jansson */

/* Where a value sits, as far as the GPU reader cares. */
enum place { ELSEWHERE, ROOT, NODES, NODE };

struct reader {
	const char *p, *end;
	unsigned depth;
	const struct mig_catalog *cat; /* NULL: GPUs stay in the tree */
	struct plan_json_gpus *gpus;
};

static json_t *value(struct reader *r, enum place at, size_t index);
static int read_gpus(struct reader *r, size_t node);

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

static json_t *object(struct reader *r, enum place at, size_t index)
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
		if (at == NODE && r->cat != NULL && strcmp(key, "gpus") == 0) {
			if (read_gpus(r, index) != 0)
				goto fail;
			goto next;
		}
		if ((v = value(r, at == ROOT && strcmp(key, "nodes") == 0 ? NODES : ELSEWHERE, 0)) == NULL)
			goto fail;
		if (json_object_get(o, key) != NULL) { /* JSON_REJECT_DUPLICATES: jansson says where */
			json_decref(v);
			goto fail;
		}
		if (json_object_set_new_nocheck(o, key, v) != 0)
			goto fail;
next:
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

static json_t *array(struct reader *r, enum place at)
{
	json_t *a = json_array(), *v;
	size_t i = 0;

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
		if ((v = value(r, at == NODES ? NODE : ELSEWHERE, i++)) == NULL || json_array_append_new(a, v) != 0)
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

static json_t *value(struct reader *r, enum place at, size_t index)
{
	json_t *v = NULL;
	const char *s;
	size_t n;

	if (r->p == r->end || ++r->depth > MAX_DEPTH)
		return NULL;
	switch (*r->p) {
	case '{': v = object(r, at, index); break;
	case '[': v = array(r, at); break;
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

json_t *plan_json_read(const char *text, size_t len, const struct mig_catalog *cat, struct plan_json_gpus *gpus)
{
	struct reader r = { text, text + len, 0, gpus != NULL ? cat : NULL, gpus };
	json_t *v;

	blank(&r);
	if (!next_is(&r, '{') && !next_is(&r, '['))
		return NULL;
	if ((v = value(&r, ROOT, 0)) == NULL)
		return NULL;
	blank(&r);
	if (r.p != r.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* ---- GPUs straight into struct plan_gpu ---------------------------------------------------------------- */

void plan_json_gpus_free(struct plan_json_gpus *gpus)
{
	for (size_t i = 0; i < gpus->n; i++)
		free(gpus->node[i].gpus);
	free(gpus->node);
	memset(gpus, 0, sizeof(*gpus));
}

/* A member of an object read by hand: its key into key (NUL-terminated), positioned at its value. */
static int member_key(struct reader *r, char *key, size_t keysz)
{
	const char *k;
	size_t n;

	blank(r);
	if ((k = string(r, &n)) == NULL || n >= keysz)
		return -1;
	memcpy(key, k, n);
	key[n] = '\0';
	blank(r);
	if (!next_is(r, ':'))
		return -1;
	r->p++;
	blank(r);
	return 0;
}

/* After a member: 1 at the object's end, 0 before the next member, -1 on anything else. */
static int member_end(struct reader *r)
{
	blank(r);
	if (next_is(r, '}')) {
		r->p++;
		return 1;
	}
	if (!next_is(r, ','))
		return -1;
	r->p++;
	return 0;
}

static int int_in(struct reader *r, long long lo, long long hi, long long *out)
{
	json_t *v;

	if (!(next_is(r, '-') || (r->p < r->end && *r->p >= '0' && *r->p <= '9')) || (v = integer(r)) == NULL)
		return -1;
	*out = json_integer_value(v);
	json_decref(v);
	return *out < lo || *out > hi ? -1 : 0;
}

/* An empty object: {} (the loop below would not see its end). */
static int empty_object(struct reader *r)
{
	r->p++;
	blank(r);
	if (next_is(r, '}')) {
		r->p++;
		return 1;
	}
	return 0;
}

struct raw_instance {
	const char *profile;
	size_t profile_len;
	long long start;
	int used;
	unsigned have; /* 1 profile, 2 start, 4 used */
};

static int read_instance(struct reader *r, struct raw_instance *in)
{
	char key[MAX_KEY];
	int end;

	memset(in, 0, sizeof(*in));
	if (!next_is(r, '{') || empty_object(r))
		return -1; /* not an object, or one without the required members */
	do {
		if (member_key(r, key, sizeof(key)) != 0)
			return -1;
		if (strcmp(key, "profile") == 0 && !(in->have & 1)) {
			if ((in->profile = string(r, &in->profile_len)) == NULL)
				return -1;
			in->have |= 1;
		} else if (strcmp(key, "start") == 0 && !(in->have & 2)) {
			if (int_in(r, 0, MIG_MAX_SLOTS - 1, &in->start) != 0)
				return -1;
			in->have |= 2;
		} else if (strcmp(key, "used") == 0 && !(in->have & 4)) {
			if (word(r, "true"))
				in->used = 1;
			else if (!word(r, "false"))
				return -1;
			in->have |= 4;
		} else {
			return -1; /* a duplicate, or a member the planner ignores: the tree reader checks those */
		}
	} while ((end = member_end(r)) == 0);
	return end == 1 && in->have == 7 ? 0 : -1;
}

/* The rest of what parse_gpu() checks, once the model is known. */
static int resolve_gpu(struct reader *r, struct plan_gpu *g, const char *model, const struct raw_instance *raw,
		       unsigned n)
{
	struct kerf_err err;
	char name[MIG_NAME_MAX + 8];

	if (model[0] == '\0' || (g->model = mig_catalog_find(r->cat, model, &err)) == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct mig_instance *in = &g->layout.inst[i];
		int p;

		if (raw[i].profile_len == 0 || raw[i].profile_len >= sizeof(name))
			return -1;
		memcpy(name, raw[i].profile, raw[i].profile_len);
		name[raw[i].profile_len] = '\0';
		if ((p = mig_profile_by_name(g->model, name)) < 0 || raw[i].start > (long long)g->model->slots - 1)
			return -1;
		in->profile = (uint8_t)p;
		in->start = (uint8_t)raw[i].start;
		in->used = raw[i].used != 0;
		for (unsigned k = 0; k < i; k++)
			if (g->layout.inst[k].profile == in->profile && g->layout.inst[k].start == in->start)
				return -1;
	}
	g->layout.n = n;
	return mig_layout_check(g->model, &g->layout, &err) != 0 ? -1 : 0;
}

static int read_gpu(struct reader *r, struct plan_gpu *g)
{
	struct raw_instance raw[MIG_MAX_INSTANCES];
	char key[MAX_KEY], model[MIG_MODEL_NAME_MAX];
	unsigned n = 0, have = 0; /* 1 index, 2 model, 4 instances */
	long long index = 0;
	int end;

	memset(g, 0, sizeof(*g));
	if (!next_is(r, '{') || empty_object(r))
		return -1;
	do {
		if (member_key(r, key, sizeof(key)) != 0)
			return -1;
		if (strcmp(key, "index") == 0 && !(have & 1)) {
			if (int_in(r, 0, 4095, &index) != 0)
				return -1;
			g->index = (unsigned)index;
			have |= 1;
		} else if (strcmp(key, "model") == 0 && !(have & 2)) {
			const char *s;
			size_t len;

			if ((s = string(r, &len)) == NULL || len >= sizeof(model))
				return -1;
			memcpy(model, s, len);
			model[len] = '\0';
			have |= 2;
		} else if (strcmp(key, "instances") == 0 && !(have & 4)) {
			if (!next_is(r, '['))
				return -1;
			r->p++;
			blank(r);
			if (next_is(r, ']'))
				r->p++;
			else
				for (;;) {
					blank(r);
					if (n == MIG_MAX_INSTANCES || read_instance(r, &raw[n++]) != 0)
						return -1;
					blank(r);
					if (next_is(r, ']')) {
						r->p++;
						break;
					}
					if (!next_is(r, ','))
						return -1;
					r->p++;
				}
			have |= 4;
		} else {
			return -1;
		}
	} while ((end = member_end(r)) == 0);
	if (end != 1 || have != 7)
		return -1;
	return resolve_gpu(r, g, model, raw, n);
}

/* nodes[node].gpus, at r->p: into r->gpus->node[node]. */
static int read_gpus(struct reader *r, size_t node)
{
	struct plan_json_gpus *t = r->gpus;
	struct plan_json_node *nd;
	size_t cap = 0;

	if (node >= t->cap) {
		size_t old = t->cap;

		if (kerf_grow(&t->node, &t->cap, (size_t)node + 1, sizeof(*t->node), SIZE_MAX / sizeof(*t->node),
			      "nodes", NULL) < 0)
			return -1;
		memset(t->node + old, 0, (t->cap - old) * sizeof(*t->node));
	}
	if (node >= t->n)
		t->n = node + 1;
	nd = &t->node[node];
	if (nd->read || !next_is(r, '['))
		return -1; /* "gpus" twice in one node: jansson refuses the duplicate */
	nd->read = 1;
	r->p++;
	blank(r);
	if (next_is(r, ']')) {
		r->p++;
		return 0;
	}
	for (;;) {
		blank(r);
		if (kerf_grow(&nd->gpus, &cap, (size_t)nd->n_gpus + 1, sizeof(*nd->gpus), UINT_MAX, "GPUs", NULL) < 0)
			return -1;
		if (read_gpu(r, &nd->gpus[nd->n_gpus]) != 0)
			return -1;
		for (unsigned j = 0; j < nd->n_gpus; j++)
			if (nd->gpus[j].index == nd->gpus[nd->n_gpus].index)
				return -1;
		nd->n_gpus++;
		blank(r);
		if (next_is(r, ']')) {
			r->p++;
			return 0;
		}
		if (!next_is(r, ','))
			return -1;
		r->p++;
	}
}
