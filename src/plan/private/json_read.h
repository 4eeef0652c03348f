/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json_read.h — the planner's JSON input read into jansson's tree without jansson's lexer.
 *
 * `kerf plan` on a 1,000-node cluster reads 1.5 MB of JSON; jansson reads it a character at a time through
 * a callback, which took three quarters of the parse (docs/planner.md, "Speed and memory"). Inputs are
 * machine-written and plain: ASCII strings without escapes, integers, no duplicate keys. plan_json_read()
 * reads exactly those, and returns NULL for anything else (an escape, a non-ASCII byte, a fraction or an
 * exponent, a very long integer, a duplicate key, deep nesting, malformed text, out of memory): the caller
 * then reads the text with json_loadb(), which either reads it or names the error with line and column. So
 * for every text the caller ends with what json_loadb(text, len, JSON_REJECT_DUPLICATES) gives: the same
 * values, the same key order (tests/plan/test_json_read.c checks both on mutated inputs).
 */
#ifndef KERF_PLAN_JSON_READ_H
#define KERF_PLAN_JSON_READ_H

#include <stddef.h>

#include <jansson.h>

#include "plan.h"

/*
 * The GPUs of the top-level "nodes" array, read straight into struct plan_gpu instead of the tree: they are
 * nine tenths of a large input, and building then freeing a tree node per instance field cost more than
 * reading them (docs/planner.md). node[i] holds nodes[i]'s "gpus" when read is set; that node's object in the
 * tree then has no "gpus" member. GPUs are read only when every rule parse_gpu() (plan_json.c) checks holds
 * (the model and profiles known, starts legal, mig_layout_check(), no duplicate instance or index) and
 * their objects have no other members; else
 * the reader declines the whole document, and json_loadb's reading names the fault.
 */
struct plan_json_gpus {
	size_t n, cap;
	struct plan_json_node {
		struct plan_gpu *gpus; /* malloc'd; the caller may take it (and set it NULL) */
		unsigned n_gpus;
		int read;
	} *node;
};

/* The document (an object or an array, as json_loadb requires), or NULL: read it with json_loadb(). With
 * cat and gpus (zeroed by the caller) not NULL, nodes' GPUs go to gpus as above; free it either way. */
json_t *plan_json_read(const char *text, size_t len, const struct mig_catalog *cat, struct plan_json_gpus *gpus);

void plan_json_gpus_free(struct plan_json_gpus *gpus);

/* plan_input_parse() (plan.h) with jansson's reader alone: the reference the fast path is tested against. */
int plan_input_parse_jansson(const char *text, size_t len, const struct mig_catalog *cat, struct plan_input *in,
			     struct kerf_err *err);

#endif
