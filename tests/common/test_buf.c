/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_buf.c — struct kerf_buf and kerf_grow(): limits exact to the byte, printf output that crosses a
 * growth, the empty state after a failure, handing the contents over; and the FNV-1a of hash.h against
 * the published test vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "hash.h"

static void test_limit_exact(void **state)
{
	struct kerf_buf b;
	struct kerf_err err = {0};

	(void)state;
	kerf_buf_init(&b, 10, "answer");
	assert_int_equal(kerf_buf_add(&b, "0123456789", 10, &err), 0); /* exactly max: fits */
	assert_int_equal(b.len, 10);
	assert_string_equal(kerf_buf_str(&b), "0123456789");
	assert_true(b.cap <= 11); /* never more than max + the NUL */
	assert_int_equal(kerf_buf_add(&b, "", 0, &err), 0);
	assert_int_equal(kerf_buf_add(&b, "x", 1, &err), -1); /* one byte more: refused */
	assert_int_equal(err.code, KERF_ENOMEM);
	assert_string_equal(err.msg, "answer: larger than 10 bytes");
	kerf_buf_reset(&b);
}

static void test_failure_leaves_empty(void **state)
{
	struct kerf_buf b;
	struct kerf_err err = {0};

	(void)state;
	kerf_buf_init(&b, 8, "line");
	assert_int_equal(kerf_buf_adds(&b, "abcd", &err), 0);
	assert_int_equal(kerf_buf_adds(&b, "efghi", &err), -1);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 8); /* the limit and name stay */
	assert_string_equal(kerf_buf_str(&b), "");
	/* usable again, from empty */
	assert_int_equal(kerf_buf_adds(&b, "12345678", &err), 0);
	assert_string_equal(kerf_buf_str(&b), "12345678");
	assert_int_equal(kerf_buf_addf(&b, &err, "%d", 9), -1);
	assert_string_equal(err.msg, "line: larger than 8 bytes");
	assert_null(b.p);
	kerf_buf_reset(&b);
}

static void test_printf_crosses_growth(void **state)
{
	struct kerf_buf b;
	struct kerf_err err = {0};
	char want[2000];
	size_t n = 0;

	(void)state;
	kerf_buf_init(&b, 1 << 20, "page");
	/* 200 pieces of 9 bytes cross the first size (256) and several doublings mid-piece */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(kerf_buf_addf(&b, &err, "%s=%04d;", "ab", i), 0);
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s=%04d;", "ab", i);
	}
	assert_int_equal(b.len, n);
	assert_string_equal(kerf_buf_str(&b), want);
	/* one piece longer than the whole first allocation */
	kerf_buf_reset(&b);
	assert_int_equal(kerf_buf_addf(&b, &err, "%0600d|", 7), 0);
	assert_int_equal(b.len, 601);
	assert_int_equal(b.p[599], '7');
	assert_int_equal(b.p[600], '|');
	assert_int_equal(b.p[601], '\0');
	kerf_buf_reset(&b);
}

static void test_printf_limit_exact(void **state)
{
	struct kerf_buf b;
	struct kerf_err err = {0};

	(void)state;
	kerf_buf_init(&b, 300, "metrics page");
	assert_int_equal(kerf_buf_addf(&b, &err, "%0299d", 1), 0);
	assert_int_equal(kerf_buf_addf(&b, &err, "%c", 'z'), 0); /* 300: fits */
	assert_int_equal(b.len, 300);
	assert_int_equal(kerf_buf_addf(&b, &err, "%c", 'z'), -1); /* 301: refused */
	assert_string_equal(err.msg, "metrics page: larger than 300 bytes");
	assert_int_equal(b.len, 0);
	kerf_buf_reset(&b);
}

static void test_take(void **state)
{
	struct kerf_buf b;
	struct kerf_err err = {0};
	size_t len = 99;
	char *p;

	(void)state;
	kerf_buf_init(&b, 100, "body");
	assert_null(kerf_buf_take(&b, &len)); /* nothing added: nothing to hand over */
	assert_int_equal(len, 0);
	assert_int_equal(kerf_buf_add(&b, "a\0b", 3, &err), 0); /* binary data kept whole */
	p = kerf_buf_take(&b, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 4);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(p);
}

static void test_grow(void **state)
{
	struct kerf_err err = {0};
	uint32_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(kerf_grow(&v, &cap, 1, sizeof(*v), 100, "pods", &err), 0);
	assert_int_equal(cap, 16);
	assert_int_equal(kerf_grow(&v, &cap, 17, sizeof(*v), 100, "pods", &err), 0);
	assert_int_equal(cap, 32);
	for (uint32_t i = 0; i < 32; i++)
		v[i] = i;
	assert_int_equal(kerf_grow(&v, &cap, 100, sizeof(*v), 100, "pods", &err), 0); /* clamped at max */
	assert_int_equal(cap, 100);
	assert_int_equal(v[31], 31); /* kept across the move */
	v[99] = 1;
	assert_int_equal(kerf_grow(&v, &cap, 101, sizeof(*v), 100, "pods", &err), -1);
	assert_string_equal(err.msg, "pods: more than 100 items");
	assert_int_equal(cap, 100); /* unchanged: the caller still owns v */
	assert_int_equal(kerf_grow(&v, &cap, 2, sizeof(*v), SIZE_MAX, "huge", &err), 0); /* no growth needed */
	free(v);
}

static void test_hash_vectors(void **state)
{
	(void)state;
	/* FNV-1a 64 test vectors (Fowler, Noll, Vo) */
	assert_true(kerf_hash_str("", KERF_FNV_OFFSET) == 0xcbf29ce484222325ull);
	assert_true(kerf_hash_str("a", KERF_FNV_OFFSET) == 0xaf63dc4c8601ec8cull);
	assert_true(kerf_hash_str("foobar", KERF_FNV_OFFSET) == 0x85944171f73967e8ull);
	assert_true(kerf_hash_bytes("foobar", 6, KERF_FNV_OFFSET) == 0x85944171f73967e8ull);
	/* words: order matters, equal words give equal hashes */
	uint64_t a[2] = {1, 2}, b[2] = {2, 1};
	assert_true(kerf_hash_words(a, 2, KERF_FNV_OFFSET) != kerf_hash_words(b, 2, KERF_FNV_OFFSET));
	assert_true(kerf_hash_words(a, 2, 7) == kerf_hash_word(kerf_hash_word(7, 1), 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_exact),
		cmocka_unit_test(test_failure_leaves_empty),
		cmocka_unit_test(test_printf_crosses_growth),
		cmocka_unit_test(test_printf_limit_exact),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_hash_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
