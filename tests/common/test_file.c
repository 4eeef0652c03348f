/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_file.c — kerf_read_file() and kerf_read_stream(): whole files at and around their limit, missing
 * and unreadable files named, standard input as a stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"

static char dir[] = "/tmp/kerf-test-file-XXXXXX";

static const char *write_file(const char *name, size_t n)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
	return path;
}

static void check_content(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != 'a' + (int)(i % 26))
			fail_msg("byte %zu is '%c'", i, buf[i]);
	assert_int_equal(buf[n], '\0');
}

/* Sizes around every doubling of the buffer and around the limit: each is read whole, or refused when over. */
static void test_files_up_to_the_limit_are_read_whole_and_larger_ones_refused(void **state)
{
	const size_t max = 3 * 4096 + 5;
	const size_t sizes[] = {0, 1, 4094, 4095, 4096, 4097, 8191, 8192, 8193, max - 1, max, max + 1, max + 4096};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const char *path = write_file("f", sizes[i]);
		struct kerf_err err;
		size_t len = 12345;
		char *buf = kerf_read_file(path, max, &len, &err);

		if (sizes[i] <= max) {
			if (buf == NULL)
				fail_msg("%zu bytes: %s", sizes[i], err.msg);
			assert_int_equal(len, sizes[i]);
			check_content(buf, len);
		} else {
			assert_null(buf);
			assert_int_equal(err.code, KERF_EINVAL);
			assert_non_null(strstr(err.msg, "larger than 12293 bytes"));
			assert_non_null(strstr(err.msg, path));
		}
		free(buf);
	}
}

static void test_a_limit_of_zero_takes_only_an_empty_file(void **state)
{
	struct kerf_err err;
	size_t len = 1;
	char *buf = kerf_read_file(write_file("empty", 0), 0, &len, &err);

	(void)state;
	assert_non_null(buf);
	assert_int_equal(len, 0);
	free(buf);
	assert_null(kerf_read_file(write_file("one", 1), 0, NULL, &err));
	assert_int_equal(err.code, KERF_EINVAL);
}

static void test_a_missing_file_is_not_found_and_named(void **state)
{
	struct kerf_err err;

	(void)state;
	assert_null(kerf_read_file("/nonexistent/kerf/kubeconfig", 100, NULL, &err));
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/kerf/kubeconfig: "));
	/* a folder opens but cannot be read */
	assert_null(kerf_read_file(dir, 100, NULL, &err));
	assert_int_equal(err.code, KERF_EIO);
	assert_non_null(strstr(err.msg, dir));
}

/* A pipe delivers in pieces: the stream is read to its end all the same, under the name given. */
static void test_a_pipe_is_read_to_its_end(void **state)
{
	int fds[2];
	const size_t n = 100000;
	struct kerf_err err;
	size_t len;
	char *buf;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char chunk[777];
		close(fds[0]);
		for (size_t i = 0; i < n;) {
			size_t k = 0;
			for (; k < sizeof(chunk) && i < n; k++, i++)
				chunk[k] = (char)('a' + (int)(i % 26));
			if (write(fds[1], chunk, k) != (ssize_t)k)
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "rb");
	buf = kerf_read_stream(f, "<stdin>", n, &len, &err);
	fclose(f);
	if (buf == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(len, n);
	check_content(buf, n);
	free(buf);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_up_to_the_limit_are_read_whole_and_larger_ones_refused),
		cmocka_unit_test(test_a_limit_of_zero_takes_only_an_empty_file),
		cmocka_unit_test(test_a_missing_file_is_not_found_and_named),
		cmocka_unit_test(test_a_pipe_is_read_to_its_end),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
