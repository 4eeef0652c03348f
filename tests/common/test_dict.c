/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dict.c — struct kerf_dict: many keys through several growths, every key colliding (a constant
 * hash), removal in the middle of probe runs that wrap round the end of the table, removal while
 * iterating, the limit and its message, and the same order for the same operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dict.h"
#include "hash.h"

struct item {
	char key[16];
	unsigned seen;
};

static int item_eq(const void *item, const void *key)
{
	return strcmp(((const struct item *)item)->key, key) == 0;
}

static uint64_t str_hash(const char *s)
{
	return kerf_hash_str(s, KERF_FNV_OFFSET);
}

static uint64_t same_hash(const char *s)
{
	(void)s;
	return 42;
}

/* n items named "k0".."k<n-1>", added under hash(). */
static struct item *fill(struct kerf_dict *d, unsigned n, uint64_t (*hash)(const char *))
{
	struct item *v = calloc(n, sizeof(*v));
	struct kerf_err err = {0};

	assert_non_null(v);
	for (unsigned i = 0; i < n; i++) {
		snprintf(v[i].key, sizeof(v[i].key), "k%u", i);
		assert_null(kerf_dict_find(d, hash(v[i].key), v[i].key, item_eq));
		assert_int_equal(kerf_dict_add(d, hash(v[i].key), &v[i], &err), 0);
	}
	assert_int_equal(d->n, n);
	return v;
}

/* Every item of v whose index passes keep(i) is found, the rest are not; so is a key never added. */
static void check(const struct kerf_dict *d, const struct item *v, unsigned n, uint64_t (*hash)(const char *),
		  int (*keep)(unsigned))
{
	for (unsigned i = 0; i < n; i++) {
		const void *got = kerf_dict_find(d, hash(v[i].key), v[i].key, item_eq);

		if (keep(i))
			assert_ptr_equal(got, &v[i]);
		else
			assert_null(got);
	}
	assert_null(kerf_dict_find(d, hash("absent"), "absent", item_eq));
}

static int all(unsigned i)
{
	(void)i;
	return 1;
}

static int odd(unsigned i)
{
	return i % 2;
}

static void test_many_keys_grow(void **state)
{
	struct kerf_dict d;
	struct item *v;

	(void)state;
	kerf_dict_init(&d, SIZE_MAX, "keys");
	assert_null(kerf_dict_find(&d, 1, "k0", item_eq)); /* nothing allocated yet */
	v = fill(&d, 100000, str_hash);
	check(&d, v, 100000, str_hash, all);
	assert_true(d.n * 2 <= d.mask + 1); /* the load stays at most one half */
	kerf_dict_free(&d);
	assert_null(d.slot);
	assert_int_equal(d.n, 0);
	free(v);
}

/* Removing every other item, from runs of one hash and from runs made of many, keeps the rest findable. */
static void remove_half(uint64_t (*hash)(const char *), unsigned n)
{
	struct kerf_dict d;
	struct kerf_err err = {0};
	struct item *v;

	kerf_dict_init(&d, SIZE_MAX, "keys");
	v = fill(&d, n, hash);
	for (unsigned i = 0; i < n; i += 2)
		assert_ptr_equal(kerf_dict_remove(&d, hash(v[i].key), v[i].key, item_eq), &v[i]);
	assert_null(kerf_dict_remove(&d, hash(v[0].key), v[0].key, item_eq)); /* gone already */
	assert_int_equal(d.n, n / 2);
	check(&d, v, n, hash, odd);
	for (unsigned i = 0; i < n; i += 2) /* and back again */
		assert_int_equal(kerf_dict_add(&d, hash(v[i].key), &v[i], &err), 0);
	check(&d, v, n, hash, all);
	kerf_dict_free(&d);
	free(v);
}

static void test_remove_reinsert(void **state)
{
	(void)state;
	remove_half(str_hash, 20000);
}

static void test_collisions(void **state)
{
	(void)state;
	remove_half(same_hash, 1000); /* one run of 1,000, wrapping round the end of the table */
}

/* A probe run that wraps past the last slot: the items before the end are shifted back correctly when
 * one of them goes, and iteration (which starts at an empty slot) sees each item once. */
static void test_wrapped_run(void **state)
{
	struct kerf_dict d;
	struct kerf_err err = {0};
	struct kerf_dict_iter it;
	struct item v[6] = {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}, {"e", 0}, {"f", 0}};
	/* homes in a 16-slot table: a, b, c at 14 (run 14, 15, 0); d at 15 (-> 1); e, f at 0 (-> 2, 3) */
	const uint64_t h[6] = {14, 14, 14, 15, 0, 0};
	unsigned n = 0;
	void *x;

	(void)state;
	kerf_dict_init(&d, 6, "wrap");
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(kerf_dict_add(&d, h[i], &v[i], &err), 0);
	assert_int_equal(d.mask, 15);
	assert_ptr_equal(kerf_dict_remove(&d, 14, "a", item_eq), &v[0]);
	for (unsigned i = 1; i < 6; i++)
		assert_ptr_equal(kerf_dict_find(&d, h[i], v[i].key, item_eq), &v[i]);
	kerf_dict_iter_init(&d, &it);
	while ((x = kerf_dict_next(&d, &it)) != NULL) {
		((struct item *)x)->seen++;
		n++;
	}
	assert_int_equal(n, 5);
	for (unsigned i = 1; i < 6; i++)
		assert_int_equal(v[i].seen, 1);
	/* the limit: 6 items is the most */
	assert_int_equal(kerf_dict_add(&d, 1, &v[0], &err), 0);
	assert_int_equal(kerf_dict_add(&d, 2, &v[0], &err), -1);
	assert_int_equal(err.code, KERF_ENOMEM);
	assert_string_equal(err.msg, "wrap: more than 6 entries");
	assert_int_equal(d.n, 6);
	kerf_dict_free(&d);
}

/* Removing the current item while iterating (every other one, and under a constant hash, where each
 * removal shifts a whole run): every item is visited exactly once, and what is left is what was kept. */
static void iterate_removing(uint64_t (*hash)(const char *), unsigned n)
{
	struct kerf_dict d;
	struct kerf_dict_iter it;
	struct item *v, *x;
	unsigned visited = 0;

	kerf_dict_init(&d, SIZE_MAX, "keys");
	v = fill(&d, n, hash);
	kerf_dict_iter_init(&d, &it);
	while ((x = kerf_dict_next(&d, &it)) != NULL) {
		unsigned i = (unsigned)(x - v);

		x->seen++;
		visited++;
		if (i % 2 == 0)
			kerf_dict_remove_current(&d, &it);
	}
	assert_int_equal(visited, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(v[i].seen, 1);
	assert_int_equal(d.n, n / 2);
	check(&d, v, n, hash, odd);
	kerf_dict_free(&d);
	free(v);
}

static void test_iterate_remove(void **state)
{
	(void)state;
	iterate_removing(str_hash, 5000);
	iterate_removing(same_hash, 500);
}

static void test_empty_iteration(void **state)
{
	struct kerf_dict d;
	struct kerf_dict_iter it;

	(void)state;
	kerf_dict_init(&d, 10, NULL);
	kerf_dict_iter_init(&d, &it);
	assert_null(kerf_dict_next(&d, &it));
	assert_null(kerf_dict_remove(&d, 7, "x", item_eq));
	kerf_dict_free(&d);
}

/* The same operations give the same order (no seed): two dicts built alike iterate alike. */
static void test_order_deterministic(void **state)
{
	struct kerf_dict a, b;
	struct kerf_dict_iter ia, ib;
	struct item *va, *vb, *x;
	unsigned n = 0;

	(void)state;
	kerf_dict_init(&a, SIZE_MAX, "a");
	kerf_dict_init(&b, SIZE_MAX, "b");
	va = fill(&a, 3000, str_hash);
	vb = fill(&b, 3000, str_hash);
	kerf_dict_iter_init(&a, &ia);
	kerf_dict_iter_init(&b, &ib);
	while ((x = kerf_dict_next(&a, &ia)) != NULL) {
		struct item *y = kerf_dict_next(&b, &ib);

		assert_non_null(y);
		assert_int_equal(x - va, y - vb);
		n++;
	}
	assert_null(kerf_dict_next(&b, &ib));
	assert_int_equal(n, 3000);
	kerf_dict_free(&a);
	kerf_dict_free(&b);
	free(va);
	free(vb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_keys_grow),   cmocka_unit_test(test_remove_reinsert),
		cmocka_unit_test(test_collisions),       cmocka_unit_test(test_wrapped_run),
		cmocka_unit_test(test_iterate_remove),   cmocka_unit_test(test_empty_iteration),
		cmocka_unit_test(test_order_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
