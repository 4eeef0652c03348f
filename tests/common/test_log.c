/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c — log events: the level filter, fields from a printf format, logfmt quoting and JSON escaping of
 * untrusted text (every JSON line is parsed back with jansson and must give the original value), and the
 * status and reason of an HTTP error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "err.h"
#include "log.h"

static const char *value_of(const struct kerf_log_event *ev, const char *key)
{
	for (unsigned i = 0; i < ev->n; i++)
		if (strcmp(ev->f[i].key, key) == 0)
			return ev->f[i].value;
	return NULL;
}

static void test_log_fields_take_each_conversion_by_its_type(void **state)
{
	struct kerf_log_event ev;
	(void)state;

	kerf_log_init(&ev, KERF_LOG_INFO, "spec written");
	kerf_log_fields(&ev, "pod=%s/%s gpu=%u generation=%lld ms=%zu ratio=%.2f pct=%d%% c=%c neg=%ld",
			"ml", "train-1", 3u, 1234567890123LL, (size_t)42, 0.5, 7, 'x', -5L);
	assert_int_equal(ev.n, 8);
	assert_string_equal(value_of(&ev, "pod"), "ml/train-1");
	assert_false(ev.f[0].num);
	assert_string_equal(value_of(&ev, "gpu"), "3");
	assert_true(ev.f[1].num);
	assert_string_equal(value_of(&ev, "generation"), "1234567890123");
	assert_string_equal(value_of(&ev, "ms"), "42");
	assert_string_equal(value_of(&ev, "ratio"), "0.50");
	assert_true(ev.f[4].num);
	assert_string_equal(value_of(&ev, "pct"), "7%");
	assert_false(ev.f[5].num); /* text after the number: a string */
	assert_string_equal(value_of(&ev, "c"), "x");
	assert_string_equal(value_of(&ev, "neg"), "-5");
}

/* '*' widths and precisions take their int argument first, so the arguments after them stay in step. */
static void test_log_fields_take_star_widths_and_precisions(void **state)
{
	struct kerf_log_event ev;
	(void)state;

	kerf_log_init(&ev, KERF_LOG_INFO, "m");
	kerf_log_fields(&ev, "cut=%.*s pad=%*u left=%-*d all=%.*s after=%u", 3, "abcdef", 4, 7u, 3, 5, -1, "whole", 9u);
	assert_int_equal(ev.n, 5);
	assert_string_equal(value_of(&ev, "cut"), "abc");
	assert_string_equal(value_of(&ev, "pad"), "   7");
	assert_string_equal(value_of(&ev, "left"), "5  ");
	assert_string_equal(value_of(&ev, "all"), "whole");
	assert_string_equal(value_of(&ev, "after"), "9");
}

/* A field past the limit is left out, but its argument is still taken: the ones after it stay in step. */
static void test_log_fields_past_the_limit_are_left_out(void **state)
{
	struct kerf_log_event ev;
	(void)state;

	kerf_log_init(&ev, KERF_LOG_INFO, "m");
	for (unsigned i = 0; i < KERF_LOG_FIELDS_MAX - 1; i++)
		kerf_log_fields(&ev, "k=%u", i);
	kerf_log_fields(&ev, "last=%s dropped=%lld also=%s", "kept", 9LL, "gone");
	assert_int_equal(ev.n, KERF_LOG_FIELDS_MAX);
	assert_string_equal(ev.f[KERF_LOG_FIELDS_MAX - 1].value, "kept");
	assert_null(value_of(&ev, "also"));
}

/* Values longer than the event's text are cut, never overflowed; later fields get what is left. */
static void test_log_long_values_are_cut(void **state)
{
	struct kerf_log_event ev;
	char big[KERF_LOG_TEXT_MAX * 2];
	(void)state;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kerf_log_init(&ev, KERF_LOG_INFO, "m");
	kerf_log_fields(&ev, "big=%s after=%u", big, 5u);
	kerf_log_add(&ev, "more", big);
	assert_true(strlen(value_of(&ev, "big")) < KERF_LOG_TEXT_MAX);
	assert_true(ev.used <= KERF_LOG_TEXT_MAX);
	for (unsigned i = 0; i < ev.n; i++)
		assert_true(strlen(ev.f[i].value) < KERF_LOG_TEXT_MAX);
}

static void test_log_logfmt_quotes_only_what_needs_it(void **state)
{
	struct kerf_log_event ev;
	char *line;
	(void)state;

	kerf_log_init(&ev, KERF_LOG_WARN, "node left out");
	kerf_log_fields(&ev, "node=%s gpu=%u why=%s empty=%s eq=%s q=%s nl=%s bs=%s", "n1", 0u, "agent silent", "", "a=b",
			"say \"hi\"", "two\nlines\ttab\x01", "C:\\x");
	line = kerf_log_format_line(KERF_LOG_TEXT, "2026-12-01T22:40:00.123Z", "controller", &ev);
	assert_non_null(line);
	assert_string_equal(line, "ts=2026-12-01T22:40:00.123Z level=warn component=controller msg=\"node left out\" "
				  "node=n1 gpu=0 why=\"agent silent\" empty=\"\" eq=\"a=b\" q=\"say \\\"hi\\\"\" "
				  "nl=\"two\\nlines\\ttab\\u0001\" bs=\"C:\\\\x\"\n");
	free(line);
}

/* The API's message is untrusted: whatever bytes it holds, the JSON line parses and gives the text back
 * (bytes that are not UTF-8 as U+FFFD). */
static void test_log_json_escapes_untrusted_text(void **state)
{
	static const char *const nasty[] = {
		"plain",
		"quote \" and backslash \\ and slash /",
		"newline\n cr\r tab\t bell\a nul-free \x01\x1f del\x7f",
		"\"},\"level\":\"error\",\"x\":{\"",
		"utf-8: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		struct kerf_log_event ev;
		json_error_t je;
		json_t *obj;
		char *line;

		kerf_log_init(&ev, KERF_LOG_ERROR, nasty[i]);
		kerf_log_fields(&ev, "message=%s gpu=%u", nasty[i], 2u);
		line = kerf_log_format_line(KERF_LOG_JSON, "T", "agent", &ev);
		assert_non_null(line);
		assert_int_equal(line[strlen(line) - 1], '\n');
		assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1); /* one line */
		obj = json_loads(line, 0, &je);
		if (obj == NULL)
			fail_msg("case %zu: not JSON (%s): %s", i, je.text, line);
		assert_string_equal(json_string_value(json_object_get(obj, "msg")), nasty[i]);
		assert_string_equal(json_string_value(json_object_get(obj, "message")), nasty[i]);
		assert_string_equal(json_string_value(json_object_get(obj, "level")), "error");
		assert_string_equal(json_string_value(json_object_get(obj, "component")), "agent");
		assert_int_equal(json_integer_value(json_object_get(obj, "gpu")), 2);
		assert_int_equal(json_object_size(obj), 6);
		json_decref(obj);
		free(line);
	}
}

static void test_log_json_replaces_bytes_that_are_not_utf8(void **state)
{
	struct kerf_log_event ev;
	json_t *obj;
	char *line;
	(void)state;

	kerf_log_init(&ev, KERF_LOG_INFO, "m");
	kerf_log_fields(&ev, "v=%s", "a\xff" "b\xc3(c\xed\xa0\x80" "d"); /* a stray byte, a cut pair, a surrogate */
	line = kerf_log_format_line(KERF_LOG_JSON, "T", NULL, &ev);
	obj = json_loads(line, 0, NULL);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "v")),
			    "a\xef\xbf\xbd" "b\xef\xbf\xbd(c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d");
	assert_null(json_object_get(obj, "component"));
	json_decref(obj);
	free(line);
}

static void test_log_error_carries_status_and_reason(void **state)
{
	struct kerf_log_event ev;
	struct kerf_err err;
	char *line;
	json_t *obj;
	(void)state;

	kerf_err_set(&err, KERF_EPERM, "GET /api/v1/pods: HTTP 403 Forbidden: pods is forbidden: User \"x\" cannot");
	kerf_err_http(&err, 403, "Forbidden");
	kerf_err_prefix(&err, "pods");
	kerf_log_init(&ev, KERF_LOG_ERROR, "watch failed");
	ev.err = &err;
	line = kerf_log_format_line(KERF_LOG_TEXT, "T", NULL, &ev);
	assert_string_equal(line, "ts=T level=error msg=\"watch failed\" error=\"pods: GET /api/v1/pods: HTTP 403 Forbidden: "
				  "pods is forbidden: User \\\"x\\\" cannot\" status=403 reason=Forbidden\n");
	free(line);
	line = kerf_log_format_line(KERF_LOG_JSON, "T", NULL, &ev);
	obj = json_loads(line, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(obj, "status")), 403);
	assert_string_equal(json_string_value(json_object_get(obj, "reason")), "Forbidden");
	json_decref(obj);
	free(line);

	/* Not an HTTP answer: no status, no reason; and kerf_err_set() forgets an earlier answer's. */
	kerf_err_set(&err, KERF_EIO, "connection refused");
	assert_int_equal(err.http_status, 0);
	line = kerf_log_format_line(KERF_LOG_TEXT, "T", NULL, &ev);
	assert_string_equal(line, "ts=T level=error msg=\"watch failed\" error=\"connection refused\"\n");
	free(line);
}

static void test_log_sink_drops_levels_above_its_own(void **state)
{
	static const enum kerf_log_level order[] = {KERF_LOG_ERROR, KERF_LOG_WARN, KERF_LOG_INFO, KERF_LOG_DEBUG};
	(void)state;

	for (unsigned s = 0; s < 4; s++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct kerf_log_sink sink = {.level = order[s], .format = KERF_LOG_TEXT, .component = "agent", .out = f};
		unsigned lines = 0;

		for (unsigned l = 0; l < 4; l++)
			kerf_log_emit(kerf_log_write, &sink, order[l], NULL, "event", "n=%u", l);
		fclose(f);
		for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
			lines++;
		assert_int_equal(lines, s + 1);
		assert_non_null(strstr(buf, "level=error"));
		assert_true((strstr(buf, "level=debug") != NULL) == (order[s] == KERF_LOG_DEBUG));
		free(buf);
	}
	kerf_log_emit(NULL, NULL, KERF_LOG_ERROR, NULL, "no callback: nothing happens", NULL);
}

static void test_log_level_and_format_names(void **state)
{
	enum kerf_log_level l;
	enum kerf_log_format f;
	(void)state;

	assert_int_equal(kerf_log_level_parse("debug", &l), 0);
	assert_int_equal(l, KERF_LOG_DEBUG);
	assert_int_equal(kerf_log_level_parse("warn", &l), 0);
	assert_int_equal(l, KERF_LOG_WARN);
	assert_int_equal(kerf_log_level_parse("warning", &l), -1);
	assert_int_equal(kerf_log_level_parse("INFO", &l), -1);
	assert_int_equal(kerf_log_level_parse("", &l), -1);
	assert_int_equal(kerf_log_format_parse("json", &f), 0);
	assert_int_equal(f, KERF_LOG_JSON);
	assert_int_equal(kerf_log_format_parse("logfmt", &f), -1);
	assert_string_equal(kerf_log_level_name(KERF_LOG_ERROR), "error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_fields_take_each_conversion_by_its_type),
		cmocka_unit_test(test_log_fields_take_star_widths_and_precisions),
		cmocka_unit_test(test_log_fields_past_the_limit_are_left_out),
		cmocka_unit_test(test_log_long_values_are_cut),
		cmocka_unit_test(test_log_logfmt_quotes_only_what_needs_it),
		cmocka_unit_test(test_log_json_escapes_untrusted_text),
		cmocka_unit_test(test_log_json_replaces_bytes_that_are_not_utf8),
		cmocka_unit_test(test_log_error_carries_status_and_reason),
		cmocka_unit_test(test_log_sink_drops_levels_above_its_own),
		cmocka_unit_test(test_log_level_and_format_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
