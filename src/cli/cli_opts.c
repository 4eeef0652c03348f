/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_opts.c — the table-driven option parser (cli_opts.h). One pass over argv: each argument is looked up
 * in the table by its name (the part before '=' when there is one), its value taken from after the '=' or
 * from the next argument, and stored by kind. The table is walked linearly: a command has at most a few
 * dozen options, and this runs once per process.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"

int cli_opts_number(const char *text, unsigned long long min, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	/* strtoull alone would take "", " 5", "+5" and "-1" (as a huge number): only digits are a number here. */
	if (text == NULL || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (*end != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The entry named name (len characters of it), following one alias; NULL if none. *old is the alias used. */
static const struct cli_opt *find(const struct cli_opt *opts, const char *name, size_t len, const struct cli_opt **old)
{
	*old = NULL;
	for (const struct cli_opt *o = opts; o->kind != CLI_END; o++) {
		if (strlen(o->name) != len || strncmp(o->name, name, len) != 0)
			continue;
		if (o->kind != CLI_ALIAS)
			return o;
		*old = o;
		return find(opts, o->alias_of, strlen(o->alias_of), &(const struct cli_opt *){ NULL });
	}
	return NULL;
}

static bool takes_value(const struct cli_opt *o)
{
	return o->kind != CLI_FLAG && o->kind != CLI_SET;
}

static int store_number(const char *cmd, const struct cli_opt *o, const char *v)
{
	const char *noun = o->kind == CLI_MILLIS ? "number of milliseconds" : o->noun ? o->noun : "whole number";
	unsigned long long n;

	if (cli_opts_number(v, (unsigned long long)o->min, (unsigned long long)o->max, &n) != 0) {
		fprintf(stderr, "kerf %s: %s: \"%s\" is not a %s from %lld to %lld\n", cmd, o->name, v, noun, o->min,
			o->max);
		return -1;
	}
	*(long *)o->dst = (long)n;
	return 0;
}

/* Stores value v (NULL for a flag) into o's destination. 0, or -1 said on stderr. */
static int store(const char *cmd, const struct cli_opt *o, const char *v)
{
	char *end;

	switch (o->kind) {
	case CLI_FLAG:
		*(bool *)o->dst = true;
		return 0;
	case CLI_SET:
		*(int *)o->dst = (int)o->min;
		return 0;
	case CLI_STRING:
		*(const char **)o->dst = v;
		return 0;
	case CLI_INT:
	case CLI_MILLIS:
		return store_number(cmd, o, v);
	case CLI_DOUBLE:
		errno = 0;
		*(double *)o->dst = strtod(v, &end);
		if (end == v || *end != '\0' || errno != 0) {
			fprintf(stderr, "kerf %s: %s: \"%s\" is not a number\n", cmd, o->name, v);
			return -1;
		}
		return 0;
	case CLI_LIST:
		if (v[0] == '\0' || *o->count >= (unsigned)o->max) {
			fprintf(stderr, "kerf %s: %s: %s\n", cmd, o->name, v[0] ? "too many values" : "empty value");
			return -1;
		}
		((const char **)o->dst)[(*o->count)++] = v;
		return 0;
	case CLI_FUNC:
		return o->fn(o->dst, o->name, v);
	case CLI_END:
	case CLI_ALIAS:
		break;
	}
	fprintf(stderr, "kerf %s: %s: not a usable option (table error)\n", cmd, o->name);
	return -1;
}

static void deprecated(const char *cmd, const struct cli_opt *old, const struct cli_opt *o)
{
	if (old != NULL)
		fprintf(stderr, "kerf %s: %s is deprecated, use %s\n", cmd, old->name, o->name);
}

int cli_opts_set(const char *cmd, const struct cli_opt *opts, const char *name, const char *value)
{
	char full[128];
	const struct cli_opt *o, *old;

	snprintf(full, sizeof(full), "%s%s", strncmp(name, "--", 2) != 0 ? "--" : "", name);
	if ((o = find(opts, full, strlen(full), &old)) == NULL) {
		fprintf(stderr, "kerf %s: unknown option \"%s\" (see kerf %s --help)\n", cmd, full, cmd);
		return -1;
	}
	deprecated(cmd, old, o);
	if (takes_value(o) && value == NULL) {
		fprintf(stderr, "kerf %s: %s: a value is missing (see kerf %s --help)\n", cmd, full, cmd);
		return -1;
	}
	return store(cmd, o, takes_value(o) ? value : NULL);
}

int cli_opts_parse(const char *cmd, const struct cli_opt *opts, int argc, char **argv, const char **pos,
		   unsigned max_pos, unsigned *n_pos)
{
	if (n_pos != NULL)
		*n_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '='), *v;
		size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		const struct cli_opt *o, *old;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		if (a[0] != '-' || a[1] == '\0') { /* "-" is a value (standard input), not an option */
			if (pos == NULL || *n_pos >= max_pos) {
				fprintf(stderr, "kerf %s: %s \"%s\" (see kerf %s --help)\n", cmd,
					pos == NULL ? "unexpected argument" : "too many arguments", a, cmd);
				return -1;
			}
			pos[(*n_pos)++] = a;
			continue;
		}
		if ((o = find(opts, a, len, &old)) == NULL) {
			fprintf(stderr, "kerf %s: unknown option \"%.*s\" (see kerf %s --help)\n", cmd, (int)len, a, cmd);
			return -1;
		}
		deprecated(cmd, old, o);
		if (!takes_value(o)) {
			if (eq != NULL) {
				fprintf(stderr, "kerf %s: %s takes no value (\"%s\")\n", cmd, o->name, a);
				return -1;
			}
			v = NULL;
		} else if (eq != NULL) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			fprintf(stderr, "kerf %s: %s: a value is missing (see kerf %s --help)\n", cmd, o->name, cmd);
			return -1;
		}
		if (store(cmd, o, v) != 0)
			return -1;
	}
	return 0;
}
