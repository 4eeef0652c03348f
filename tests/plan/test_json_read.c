/*
 * test_json_read.c — plan_json_read() reads plain JSON exactly as json_loadb(JSON_REJECT_DUPLICATES) does
 * (the same values, integers as integers, the same key order) and declines everything else, so that the
 * planner's input means the same whichever reader read it.
 *
 *   test_json_read [MUTATIONS]   (default 20,000; the valgrind run passes fewer)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_read.h"

static unsigned n_mutations = 20000;

/* Both readers' answers as text (compact, keys in document order), or NULL where jansson refuses. */
static char *jansson_text(const char *doc, size_t len)
{
	json_error_t jerr;
	json_t *v = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
	char *s;

	if (v == NULL)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	return s;
}

static char *fast_text(const char *doc, size_t len)
{
	json_t *v = plan_json_read(doc, len);
	char *s;

	if (v == NULL)
		return NULL;
	s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	assert_non_null(s);
	return s;
}

static const char *const plain[] = {
	"{}",
	"[]",
	" \t\r\n{ \"a\" : 1 , \"b\":[ ] }\n",
	"{\"nodes\": [{\"name\": \"node-a\", \"gpus\": [{\"index\": 0, \"model\": \"NVIDIA H100 80GB HBM3\","
	" \"instances\": [{\"profile\": \"3g.40gb\", \"start\": 4, \"used\": true},"
	" {\"profile\": \"1g.10gb\", \"start\": 0, \"used\": false}]}]}],"
	" \"pending\": [{\"name\": \"team-a/train-7\", \"priority\": -100, \"resources\": {\"nvidia.com/mig-2g.20gb\": 1}}]}",
	"[0, -0, 7, -42, 999999999999999999, -999999999999999999, true, false, null, \"\", \"x y\", {}, [[]]]",
	"{\"z\": 1, \"a\": 2, \"m\": {\"y\": null, \"b\": [true]}}", /* key order is kept */
	"{\"\": \"empty key\"}",
};

static void test_reads_plain_json_as_jansson_does(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *want = jansson_text(plain[i], strlen(plain[i])), *got = fast_text(plain[i], strlen(plain[i]));

		if (got == NULL || want == NULL || strcmp(got, want) != 0)
			fail_msg("plain[%zu]: jansson %s, plan_json_read %s", i, want ? want : "(refused)", got ? got : "(declined)");
		free(want);
		free(got);
	}
}

static const char *const declined[] = {
	"{\"a\": \"line\\nbreak\"}",       /* an escape */
	"{\"a\": \"caf\xc3\xa9\"}",        /* UTF-8 */
	"{\"a\": 1.5}",                    /* a fraction: a real for jansson */
	"{\"a\": 1e3}",                    /* an exponent */
	"{\"a\": 1234567890123456789}",    /* 19 digits */
	"{\"a\": 01}",                     /* a leading zero: jansson refuses it */
	"{\"a\": 1, \"a\": 2}",            /* a duplicate key: jansson names it */
	"{\"a\": 1} x",                    /* text after the document */
	"\"just a string\"",               /* not an object or an array */
	"{\"a\": tru}",                    /* a broken literal */
	"{\"a\": truex}",
	"{\"a\": [1, 2,]}",                /* a trailing comma */
	"{\"a\": 1",                       /* cut short */
	"",
};

static void test_declines_what_is_not_plain(void **state)
{
	char deep[2 * 600 + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
		char *got = fast_text(declined[i], strlen(declined[i]));

		if (got != NULL)
			fail_msg("declined[%zu]: read as %s", i, got);
	}
	assert_null(plan_json_read("{\"a\"\0: 1}", 9)); /* a NUL byte */
	/* Deeper than the reader goes (jansson takes it). */
	memset(deep, '[', 600);
	memset(deep + 600, ']', 600);
	deep[1200] = '\0';
	assert_null(plan_json_read(deep, 1200));
}

static uint64_t rng;

static unsigned rnd(unsigned n)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (unsigned)((z ^ (z >> 31)) % n);
}

/* Every mutation of a plain document that plan_json_read() reads, jansson reads the same way; it may
 * decline what jansson reads, never the other way round. */
static void test_mutations_agree_with_jansson(void **state)
{
	static const char alphabet[] = "{}[],:\"\\ \t\n0123456789-+.eEtrufalsn\x80\xc3\x01";
	const char *base = plain[3];
	size_t base_len = strlen(base);
	char *doc = malloc(base_len + 16);
	unsigned read = 0, refused = 0;

	(void)state;
	assert_non_null(doc);
	rng = 12345;
	for (unsigned m = 0; m < n_mutations; m++) {
		size_t len = base_len, at;
		char *want, *got;

		memcpy(doc, base, base_len);
		for (unsigned k = 1 + rnd(3); k-- > 0;) {
			at = rnd((unsigned)len);
			switch (rnd(3)) {
			case 0: doc[at] = alphabet[rnd(sizeof(alphabet) - 1)]; break;
			case 1: memmove(doc + at, doc + at + 1, len - at - 1), len--; break;
			default:
				if (len < base_len + 15) {
					memmove(doc + at + 1, doc + at, len - at);
					doc[at] = alphabet[rnd(sizeof(alphabet) - 1)];
					len++;
				}
			}
		}
		want = jansson_text(doc, len);
		got = fast_text(doc, len);
		if (got != NULL && (want == NULL || strcmp(got, want) != 0))
			fail_msg("mutation %u (%.*s): jansson %s, plan_json_read %s", m, (int)len, doc,
				 want ? want : "(refused)", got);
		read += got != NULL;
		refused += want == NULL;
		free(want);
		free(got);
	}
	printf("%u mutations: plan_json_read read %u, jansson refused %u\n", n_mutations, read, refused);
	assert_true(read > 0 && refused > 0); /* both kinds were exercised */
	free(doc);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_plain_json_as_jansson_does),
		cmocka_unit_test(test_declines_what_is_not_plain),
		cmocka_unit_test(test_mutations_agree_with_jansson),
	};

	if (argc > 1)
		n_mutations = (unsigned)strtoul(argv[1], NULL, 10);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
