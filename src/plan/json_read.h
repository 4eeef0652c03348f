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

/* The document (an object or an array, as json_loadb requires), or NULL: read it with json_loadb(). */
json_t *plan_json_read(const char *text, size_t len);

#endif
