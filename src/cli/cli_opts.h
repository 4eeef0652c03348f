/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_opts.h — the one option parser of the `kerf` subcommands. A subcommand describes its options as a
 * table (name, kind, where the value goes, its range) and hands argv to cli_opts_parse(), so every command
 * reads options the same way:
 *
 *   - `--name VALUE` and `--name=VALUE` (a flag takes no value: `--once=1` is refused);
 *   - an unknown option, a missing value or a bad number is refused with one line on stderr that names the
 *     command, the option and the bad value (the caller exits KERF_EXIT_USAGE and prints nothing on stdout);
 *   - numbers go through cli_opts_number() only: the whole string, never empty, no sign, within the range;
 *   - an old spelling (CLI_ALIAS) still works and says once on stderr which name replaces it.
 *
 * What a value means (a layout, a model, a file) is the command's business, not the parser's: CLI_FUNC hands
 * the text to the command's own function. The help texts stay hand-written in each command, since they
 * group and explain options in ways a table would flatten.
 */
#ifndef KERF_CLI_OPTS_H
#define KERF_CLI_OPTS_H

#include <stdbool.h>

enum cli_kind {
	CLI_END = 0,  /* ends the table */
	CLI_FLAG,     /* bool *dst = true */
	CLI_SET,      /* int *dst = (int)min: e.g. --progress / --no-progress on one int */
	CLI_STRING,   /* const char **dst = the value (pointing into argv; the last one given wins) */
	CLI_INT,      /* long *dst = a whole number in [min, max]; noun names it in the message */
	CLI_MILLIS,   /* CLI_INT whose noun is "number of milliseconds" */
	CLI_DOUBLE,   /* double *dst = strtod's whole-string reading */
	CLI_LIST,     /* const char **dst[*count++] = the value, at most max of them, none empty */
	CLI_FUNC,     /* fn(arg, name, value): 0, or -1 after a line on stderr */
	CLI_ALIAS,    /* a deprecated spelling of the option named by alias_of */
};

struct cli_opt {
	const char *name; /* "--gpu" (or a short "-i") */
	enum cli_kind kind;
	void *dst;
	long long min, max; /* CLI_INT / CLI_MILLIS: the range; CLI_SET: the value (min); CLI_LIST: capacity (max) */
	const char *noun;   /* CLI_INT: what the number is, "whole number" when NULL */
	unsigned *count;    /* CLI_LIST: how many values dst holds */
	int (*fn)(void *arg, const char *name, const char *value); /* CLI_FUNC */
	const char *alias_of; /* CLI_ALIAS: the option's current name */
};

/*
 * Reads argv[1..argc-1] (argv[0] is the subcommand) into the table's destinations, in order; cmd names the
 * command in messages ("status" -> "kerf status: ..."). Arguments that are not options go to pos (at most
 * max_pos of them, counted in *n_pos); with pos NULL any such argument is refused. Returns 0, 1 when --help
 * or -h came (the caller prints its usage; later arguments are not read), -1 on bad usage (said on stderr).
 */
int cli_opts_parse(const char *cmd, const struct cli_opt *opts, int argc, char **argv, const char **pos,
		   unsigned max_pos, unsigned *n_pos);

/*
 * Sets one option by its name (with or without the leading "--") as if it had come on the command line;
 * value is NULL for a flag. For options read from somewhere else (kerf simulate's scenario files).
 * 0, or -1 said on stderr.
 */
int cli_opts_set(const char *cmd, const struct cli_opt *opts, const char *name, const char *value);

/* The one number reader: text is a whole decimal number in [min, max], all of it (no sign, no blank, not
 * empty). 0 and *out set, or -1 and *out untouched. */
int cli_opts_number(const char *text, unsigned long long min, unsigned long long max, unsigned long long *out);

#endif
