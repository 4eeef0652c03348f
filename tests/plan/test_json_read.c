/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_json_read.c — plan_json_read() reads plain JSON exactly as json_loadb(JSON_REJECT_DUPLICATES) does
 * (the same values, integers as integers, the same key order) and declines everything else, so that the
 * planner's input means the same whichever reader read it; and plan_input_parse(), which reads the nodes'
 * GPUs straight from the text, fills the same input, or fails with the same message, as the jansson-only
 * plan_input_parse_jansson() on seeded mutations of a planner input.
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
#include "plan.h"

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
	json_t *v = plan_json_read(doc, len, NULL, NULL);
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
	assert_null(plan_json_read("{\"a\"\0: 1}", 9, NULL, NULL)); /* a NUL byte */
	/* Deeper than the reader goes (jansson takes it). */
	memset(deep, '[', 600);
	memset(deep + 600, ']', 600);
	deep[1200] = '\0';
	assert_null(plan_json_read(deep, 1200, NULL, NULL));
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
			case 1:
				memmove(doc + at, doc + at + 1, len - at - 1);
				len--;
				break;
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

/* A planner input as text, every field the planner reads, to compare two parses. */
static char *dump_input(const struct plan_input *in)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	for (unsigned i = 0; i < in->n_nodes; i++) {
		fprintf(f, "node %s:", in->nodes[i].name);
		for (unsigned j = 0; j < in->nodes[i].n_gpus; j++) {
			const struct plan_gpu *g = &in->nodes[i].gpus[j];

			fprintf(f, " [%u %s", g->index, g->model->name);
			for (unsigned k = 0; k < g->layout.n; k++)
				fprintf(f, " %u@%u%s", g->layout.inst[k].profile, g->layout.inst[k].start,
					g->layout.inst[k].used ? "u" : "");
			fputs("]", f);
		}
		fputs("\n", f);
	}
	for (unsigned i = 0; i < in->n_pods; i++) {
		const struct plan_pod *p = &in->pods[i];

		fprintf(f, "pod %s %d group %u:", p->name, p->priority, p->group);
		for (unsigned d = 0; d < p->n_demands; d++)
			fprintf(f, " %s=%u", p->demands[d].resource, p->demands[d].count);
		fputs("\n", f);
	}
	for (unsigned g = 0; g < in->n_groups; g++) {
		fprintf(f, "group %u:", g);
		for (unsigned n = 0; n < in->n_nodes; n++)
			fprintf(f, "%u", in->groups[g].allowed[n]);
		fputs("\n", f);
	}
	fprintf(f, "room %s\n", in->room != NULL ? "yes" : "no");
	assert_int_equal(fclose(f), 0);
	return text;
}

static const char planner_input[] =
	"{\"nodes\": [{\"name\": \"a\", \"labels\": {\"zone\": \"z1\"}, \"gpus\": ["
	"{\"index\": 0, \"model\": \"NVIDIA H100 80GB HBM3\", \"instances\": [{\"profile\": \"3g.40gb\", \"start\": 4, "
	"\"used\": true}, {\"profile\": \"1g.10gb\", \"start\": 0, \"used\": false}]},"
	"{\"index\": 1, \"model\": \"A30-24GB\", \"instances\": [{\"profile\": \"2g.12gb\", \"start\": 2, \"used\": false}]},"
	"{\"index\": 2, \"model\": \"A100-80GB\", \"instances\": []}]},"
	"{\"name\": \"b\", \"gpus\": [{\"model\": \"H200-141GB-SXM\", \"index\": 3, \"instances\": [{\"used\": false, "
	"\"start\": 0, \"profile\": \"7g.141gb\"}]}], \"taints\": [{\"key\": \"k\", \"effect\": \"NoSchedule\"}]}],"
	" \"pending\": [{\"name\": \"t/p\", \"priority\": 5, \"resources\": {\"nvidia.com/mig-2g.20gb\": 1, "
	"\"nvidia.com/mig-1g.6gb\": 2}, \"nodeSelector\": {\"zone\": \"z1\"}}]}";

/* Both parses of doc: equal inputs, or the same error. Returns whether the GPUs were read straight. */
static int parses_agree(const char *doc, size_t len, unsigned m)
{
	const struct mig_catalog *cat = mig_catalog_builtin();
	struct plan_json_gpus gpus = {0};
	struct plan_input a, b;
	struct kerf_err ea = {0}, eb = {0};
	int ra = plan_input_parse(doc, len, cat, &a, &ea), rb = plan_input_parse_jansson(doc, len, cat, &b, &eb);
	json_t *root = plan_json_read(doc, len, cat, &gpus);
	int straight = root != NULL && gpus.n > 0 && gpus.node[0].read;

	json_decref(root);
	plan_json_gpus_free(&gpus);
	if (ra != rb)
		fail_msg("mutation %u (%.*s): plan_input_parse %d (%s), jansson alone %d (%s)", m, (int)len, doc, ra,
			 ra ? ea.msg : "", rb, rb ? eb.msg : "");
	if (ra != 0) {
		if (strcmp(ea.msg, eb.msg) != 0)
			fail_msg("mutation %u: \"%s\" against \"%s\"", m, ea.msg, eb.msg);
		return straight;
	}
	{
		char *da = dump_input(&a), *db = dump_input(&b);

		if (strcmp(da, db) != 0)
			fail_msg("mutation %u (%.*s):\n%s\nagainst jansson alone:\n%s", m, (int)len, doc, da, db);
		free(da);
		free(db);
	}
	plan_input_free(&a);
	plan_input_free(&b);
	return straight;
}

/* Edits of planner_input, each breaking (or bending) one rule the GPU reader must check as parse_gpu does. */
static const struct {
	const char *from, *to;
} edits[] = {
	{"\"index\": 1,", "\"index\": 0,"},                         /* a duplicate GPU index */
	{"\"index\": 1,", "\"index\": 4096,"},                      /* out of range */
	{"\"index\": 1,", "\"index\": -1,"},
	{"\"index\": 1,", "\"index\": \"1\","},                     /* a string */
	{"\"A30-24GB\"", "\"A31-24GB\""},                            /* an unknown model */
	{"\"A30-24GB\"", "\"\""},                                    /* an empty one */
	{"\"A30-24GB\"", "\"nvidia a30\""},                          /* a name in another case */
	{"\"2g.12gb\"", "\"2g.13gb\""},                              /* an unknown profile */
	{"\"2g.12gb\"", "\"MIG 2g.12gb\""},                          /* a profile named as NVML does */
	{"\"start\": 2", "\"start\": 1"},                            /* an illegal start */
	{"\"start\": 2", "\"start\": 4"},                            /* past the A30's slots */
	{"\"start\": 2", "\"start\": 16"},
	{"\"start\": 4,", "\"start\": 0,"},                          /* 3g.40gb over 1g.10gb@0 */
	{"\"used\": true", "\"used\": 1"},                           /* not a boolean */
	{"\"used\": true", "\"used\": null"},
	{", \"used\": false}]},", "}]},"},                              /* used missing */
	{"\"instances\": []", "\"instances\": {}"},                   /* not an array */
	{"\"instances\": []", "\"instances\": [], \"instances\": []"}, /* a duplicate member */
	{"\"instances\": []", "\"instances\": [], \"uuid\": \"GPU-1\""}, /* an extra member: ignored */
	{"\"instances\": []", "\"instances\": [{\"profile\": \"1g.10gb\", \"start\": 0, \"used\": false}, "
				"{\"profile\": \"1g.10gb\", \"start\": 0, \"used\": false}]"}, /* the same instance twice */
	{"\"instances\": []", "\"instances\": [{\"profile\": \"7g.80gb\", \"start\": 0, \"used\": false, \"x\": 1}]"},
	{"\"gpus\": [{\"model", "\"gpus\": [], \"gpus\": [{\"model"},    /* "gpus" twice */
	{"\"gpus\": [{\"model", "\"gpus\": {}, \"x\": [{\"model"},      /* gpus not an array */
	{"{\"name\": \"b\", \"gpus\": [", "{\"name\": \"b\", \"gpus\": [7, "}, /* a GPU that is not an object */
	{"{\"name\": \"b\", \"gpus\": [", "{\"name\": \"a\", \"gpus\": ["}, /* a duplicate node name */
};

static void test_planner_input_edits_parse_as_with_jansson_alone(void **state)
{
	char doc[sizeof(planner_input) + 256];

	(void)state;
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const char *at = strstr(planner_input, edits[i].from);
		size_t pre, n;

		assert_non_null(at);
		pre = (size_t)(at - planner_input);
		n = (size_t)snprintf(doc, sizeof(doc), "%.*s%s%s", (int)pre, planner_input, edits[i].to,
				     at + strlen(edits[i].from));
		assert_true(n < sizeof(doc));
		parses_agree(doc, n, (unsigned)i);
	}
}

static void test_planner_input_parses_as_with_jansson_alone(void **state)
{
	size_t base_len = strlen(planner_input);
	char *doc = malloc(base_len + 16);
	unsigned straight = 0;

	(void)state;
	assert_non_null(doc);
	assert_int_equal(parses_agree(planner_input, base_len, 0), 1); /* the unmutated input: read straight */
	rng = 777;
	for (unsigned m = 1; m <= n_mutations / 4; m++) {
		static const char alphabet[] = "{}[],:\"\\ 0123456789-.tfn\x80";
		size_t len = base_len, at = rnd((unsigned)len);

		memcpy(doc, planner_input, base_len);
		if (rnd(2) == 0) {
			doc[at] = alphabet[rnd(sizeof(alphabet) - 1)];
		} else {
			memmove(doc + at, doc + at + 1, len - at - 1);
			len--;
		}
		straight += (unsigned)parses_agree(doc, len, m);
	}
	printf("%u planner input mutations: GPUs read straight in %u\n", n_mutations / 4, straight);
	assert_true(straight > 0);
	free(doc);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_plain_json_as_jansson_does),
		cmocka_unit_test(test_declines_what_is_not_plain),
		cmocka_unit_test(test_mutations_agree_with_jansson),
		cmocka_unit_test(test_planner_input_edits_parse_as_with_jansson_alone),
		cmocka_unit_test(test_planner_input_parses_as_with_jansson_alone),
	};

	if (argc > 1)
		n_mutations = (unsigned)strtoul(argv[1], NULL, 10);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
