/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_opts.c — the CLI's option parser (src/cli/cli_opts.h): both value spellings, every refusal
 * (unknown option, missing value, bad, empty, signed and out-of-range numbers, a value given to a flag),
 * deprecated aliases with their one note, repeated options, positional arguments and options set by name.
 * stderr is read back through a temporary file, so each refusal is checked to name the option and value,
 * and stdout is checked to stay empty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_opts.h"

/* What one parse wrote on stderr and stdout. */
static char err_text[1024], out_text[256];

struct vals {
	const char *name, *lib, *list[3];
	unsigned n_list;
	long gpu, ms;
	double load;
	bool once;
	int progress;
};

static struct vals v;

static const struct cli_opt opts[] = {
	{ .name = "--name", .kind = CLI_STRING, .dst = &v.name },
	{ .name = "--nvml-library", .kind = CLI_STRING, .dst = &v.lib },
	{ .name = "--library", .kind = CLI_ALIAS, .alias_of = "--nvml-library" },
	{ .name = "--gpu", .kind = CLI_INT, .dst = &v.gpu, .max = 7, .noun = "GPU index" },
	{ .name = "--interval", .kind = CLI_MILLIS, .dst = &v.ms, .min = 100, .max = 60000 },
	{ .name = "--load", .kind = CLI_DOUBLE, .dst = &v.load },
	{ .name = "--once", .kind = CLI_FLAG, .dst = &v.once },
	{ .name = "--progress", .kind = CLI_SET, .dst = &v.progress, .min = 1 },
	{ .name = "--no-progress", .kind = CLI_SET, .dst = &v.progress, .min = 0 },
	{ .name = "--scheduler", .kind = CLI_LIST, .dst = v.list, .max = 3, .count = &v.n_list },
	{ 0 },
};

static void slurp(FILE *f, char *buf, size_t n)
{
	size_t got;

	rewind(f);
	got = fread(buf, 1, n - 1, f);
	buf[got] = '\0';
	fclose(f);
}

/* stderr and stdout into temporary files, until capture_end() reads them into err_text and out_text. */
static FILE *cap_err, *cap_out;
static int saved_err, saved_out;

static void capture_begin(void)
{
	cap_err = tmpfile();
	cap_out = tmpfile();
	assert_non_null(cap_err);
	assert_non_null(cap_out);
	fflush(stderr);
	fflush(stdout);
	saved_err = dup(STDERR_FILENO);
	saved_out = dup(STDOUT_FILENO);
	dup2(fileno(cap_err), STDERR_FILENO);
	dup2(fileno(cap_out), STDOUT_FILENO);
}

static void capture_end(void)
{
	fflush(stderr);
	fflush(stdout);
	dup2(saved_err, STDERR_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_err);
	close(saved_out);
	slurp(cap_err, err_text, sizeof(err_text));
	slurp(cap_out, out_text, sizeof(out_text));
}

/* Parses the NULL-terminated arguments after "cmd" with stderr and stdout captured; returns the result. */
static int parse(const char *first, ...)
{
	char *argv[16] = { "cmd" };
	int argc = 1, rc;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	memset(&v, 0, sizeof(v));
	v.gpu = v.ms = -1;
	v.progress = -1;
	capture_begin();
	rc = cli_opts_parse("cmd", opts, argc, argv, NULL, 0, NULL);
	capture_end();
	return rc;
}

static void assert_err_has(const char *want)
{
	if (strstr(err_text, want) == NULL)
		fail_msg("stderr \"%s\" lacks \"%s\"", err_text, want);
}

/* A refusal: -1, a line on stderr with each of the given pieces, nothing on stdout. */
static void assert_refused(int rc, const char *piece1, const char *piece2)
{
	assert_int_equal(rc, -1);
	assert_err_has("kerf cmd: ");
	assert_err_has(piece1);
	if (piece2 != NULL)
		assert_err_has(piece2);
	assert_string_equal(out_text, "");
}

static void test_value_after_equals_or_as_next_argument(void **state)
{
	(void)state;
	assert_int_equal(parse("--name=a=b", "--gpu", "3", NULL), 0);
	assert_string_equal(v.name, "a=b"); /* only the first '=' splits */
	assert_int_equal(v.gpu, 3);
	assert_int_equal(parse("--name", "x", "--gpu=7", NULL), 0);
	assert_string_equal(v.name, "x");
	assert_int_equal(v.gpu, 7);
	assert_int_equal(parse("--name=", NULL), 0); /* an empty string is a value for a string */
	assert_string_equal(v.name, "");
	assert_int_equal(parse("--name", "--once", NULL), 0); /* the next argument is the value, whatever it looks like */
	assert_string_equal(v.name, "--once");
	assert_false(v.once);
	assert_string_equal(err_text, "");
}

static void test_unknown_option_is_refused_by_name(void **state)
{
	(void)state;
	assert_refused(parse("--gpu", "1", "--gpus=2", NULL), "unknown option \"--gpus\"", NULL);
	assert_refused(parse("-x", NULL), "unknown option \"-x\"", NULL);
	assert_refused(parse("stray", NULL), "unexpected argument \"stray\"", NULL);
}

static void test_missing_value_is_refused(void **state)
{
	(void)state;
	assert_refused(parse("--once", "--name", NULL), "--name: a value is missing", NULL);
	assert_refused(parse("--gpu", NULL), "--gpu: a value is missing", NULL);
}

static void test_bad_numbers_are_refused_with_option_and_value(void **state)
{
	static const char *bad[] = { "", "1x", "x", " 1", "1 ", "+1", "-1", "0x1", "1.0", "99999999999999999999999" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\"%s\" is not a GPU index from 0 to 7", bad[i]);
		assert_refused(parse("--gpu", bad[i], NULL), "--gpu: ", want);
		assert_int_equal(v.gpu, -1); /* untouched */
	}
}

static void test_empty_gpu_is_not_gpu_zero(void **state)
{
	(void)state;
	assert_refused(parse("--gpu", "", NULL), "--gpu: \"\" is not a GPU index", NULL);
	assert_refused(parse("--gpu=", NULL), "--gpu: \"\" is not a GPU index", NULL);
	assert_int_equal(v.gpu, -1);
}

static void test_numbers_outside_the_range_are_refused(void **state)
{
	(void)state;
	assert_refused(parse("--gpu", "8", NULL), "\"8\" is not a GPU index from 0 to 7", NULL);
	assert_int_equal(parse("--gpu", "0", "--interval", "100", NULL), 0);
	assert_int_equal(v.gpu, 0);
	assert_int_equal(v.ms, 100);
	assert_refused(parse("--interval", "99", NULL), "--interval: \"99\" is not a number of milliseconds from 100 to 60000",
		       NULL);
	assert_refused(parse("--interval=60001", NULL), "\"60001\" is not a number of milliseconds", NULL);
	assert_int_equal(parse("--interval=60000", NULL), 0);
	assert_int_equal(v.ms, 60000);
}

static void test_number_reader_alone(void **state)
{
	unsigned long long u = 42;

	(void)state;
	assert_int_equal(cli_opts_number("18446744073709551615", 0, ~0ull, &u), 0);
	assert_true(u == ~0ull);
	assert_int_equal(cli_opts_number("18446744073709551616", 0, ~0ull, &u), -1); /* overflow */
	assert_int_equal(cli_opts_number("5", 6, 9, &u), -1);
	assert_int_equal(cli_opts_number(NULL, 0, 9, &u), -1);
	assert_true(u == ~0ull);
	assert_int_equal(cli_opts_number("007", 0, 9, &u), 0);
	assert_true(u == 7);
}

static void test_deprecated_alias_works_and_says_so_once(void **state)
{
	(void)state;
	assert_int_equal(parse("--library", "/x/libnvidia-ml.so.1", NULL), 0);
	assert_string_equal(v.lib, "/x/libnvidia-ml.so.1");
	assert_string_equal(err_text, "kerf cmd: --library is deprecated, use --nvml-library\n");
	assert_string_equal(out_text, "");
	assert_int_equal(parse("--library=/y", NULL), 0);
	assert_string_equal(v.lib, "/y");
	assert_string_equal(err_text, "kerf cmd: --library is deprecated, use --nvml-library\n");
	assert_int_equal(parse("--nvml-library", "/z", NULL), 0); /* the current name: no note */
	assert_string_equal(v.lib, "/z");
	assert_string_equal(err_text, "");
}

static void test_flags_take_no_value(void **state)
{
	(void)state;
	assert_int_equal(parse("--once", NULL), 0);
	assert_true(v.once);
	assert_refused(parse("--once=yes", NULL), "--once takes no value", NULL);
	assert_int_equal(parse("--progress", "--no-progress", NULL), 0); /* the last one wins */
	assert_int_equal(v.progress, 0);
	assert_int_equal(parse("--no-progress", "--progress", NULL), 0);
	assert_int_equal(v.progress, 1);
}

static void test_doubles_read_whole(void **state)
{
	(void)state;
	assert_int_equal(parse("--load", "0.75", NULL), 0);
	assert_true(v.load == 0.75);
	assert_refused(parse("--load", "0.75x", NULL), "--load: \"0.75x\" is not a number", NULL);
	assert_refused(parse("--load=", NULL), "--load: \"\" is not a number", NULL);
}

static void test_repeated_option_collects_up_to_its_capacity(void **state)
{
	(void)state;
	assert_int_equal(parse("--scheduler", "a", "--scheduler=b", NULL), 0);
	assert_int_equal(v.n_list, 2);
	assert_string_equal(v.list[0], "a");
	assert_string_equal(v.list[1], "b");
	assert_refused(parse("--scheduler", "a", "--scheduler", "b", "--scheduler", "c", "--scheduler", "d", NULL),
		       "--scheduler: too many values", NULL);
	assert_refused(parse("--scheduler", "", NULL), "--scheduler: empty value", NULL);
}

static void test_help_stops_the_parse(void **state)
{
	(void)state;
	assert_int_equal(parse("--once", "--help", "--nonsense", NULL), 1);
	assert_int_equal(parse("-h", NULL), 1);
	assert_refused(parse("--nonsense", "--help", NULL), "unknown option \"--nonsense\"", NULL);
}

static void test_positional_arguments_up_to_the_limit(void **state)
{
	const char *pos[2] = { NULL, NULL };
	char *argv[] = { "cmd", "A30-24GB", "--once", "-", NULL };
	char *three[] = { "cmd", "a", "b", "c", NULL };
	unsigned n = 9;

	(void)state;
	assert_int_equal(cli_opts_parse("cmd", opts, 4, argv, pos, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pos[0], "A30-24GB");
	assert_string_equal(pos[1], "-"); /* "-" is standard input, a value */
	capture_begin();
	assert_int_equal(cli_opts_parse("cmd", opts, 4, three, pos, 2, &n), -1);
	capture_end();
	assert_err_has("too many arguments \"c\"");
}

static void test_set_by_name_as_a_scenario_file_does(void **state)
{
	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(cli_opts_set("cmd", opts, "gpu", "5"), 0);
	assert_int_equal(v.gpu, 5);
	assert_int_equal(cli_opts_set("cmd", opts, "--once", NULL), 0);
	assert_true(v.once);
	capture_begin();
	assert_int_equal(cli_opts_set("cmd", opts, "library", "/l"), 0);
	assert_int_equal(cli_opts_set("cmd", opts, "name", NULL), -1);
	assert_int_equal(cli_opts_set("cmd", opts, "nope", "1"), -1);
	assert_int_equal(cli_opts_set("cmd", opts, "gpu", ""), -1);
	capture_end();
	assert_string_equal(v.lib, "/l");
	assert_int_equal(v.gpu, 5);
	assert_err_has("--library is deprecated, use --nvml-library");
	assert_err_has("--name: a value is missing");
	assert_err_has("unknown option \"--nope\"");
	assert_err_has("--gpu: \"\" is not a GPU index");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_value_after_equals_or_as_next_argument),
		cmocka_unit_test(test_unknown_option_is_refused_by_name),
		cmocka_unit_test(test_missing_value_is_refused),
		cmocka_unit_test(test_bad_numbers_are_refused_with_option_and_value),
		cmocka_unit_test(test_empty_gpu_is_not_gpu_zero),
		cmocka_unit_test(test_numbers_outside_the_range_are_refused),
		cmocka_unit_test(test_number_reader_alone),
		cmocka_unit_test(test_deprecated_alias_works_and_says_so_once),
		cmocka_unit_test(test_flags_take_no_value),
		cmocka_unit_test(test_doubles_read_whole),
		cmocka_unit_test(test_repeated_option_collects_up_to_its_capacity),
		cmocka_unit_test(test_help_stops_the_parse),
		cmocka_unit_test(test_positional_arguments_up_to_the_limit),
		cmocka_unit_test(test_set_by_name_as_a_scenario_file_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
