/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakenvml_ctl.c — `fakenvml-ctl`: sets up and inspects the simulated GPUs of tests/fakenvml, and arms its
 * faults. It edits the state file directly, as an operator or a CUDA process would act on a real GPU, so
 * what it does is visible to every process using the simulated libnvidia-ml.so.1. Usage: docs/nvml.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakestate.h"
#include "nvml_abi.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fakenvml-ctl [--state FILE] COMMAND [ARGS]   (FILE defaults to $" FK_ENV_STATE ")\n\n"
		"  init MODEL [MODEL...]        new state: one GPU per model (kerf models names), MIG on, empty\n"
		"  show                         print GPUs, instances, faults and call counts\n"
		"  create GPU LAYOUT            add GPU instances + one full compute instance each (\"2g.20gb@0,...\")\n"
		"  process GPU START PID        the MIG device whose GPU instance starts at START runs process PID\n"
		"                               (PID 0: no process)\n"
		"  process-uuid UUID PID        the same for the MIG device with this UUID (MIG-...)\n"
		"  process-kind GPU START KIND  which NVML list shows that process: compute (default), graphics, mps\n"
		"  mig GPU on|off               set MIG mode (current and pending)\n"
		"  fail FUNC NTH CODE           call FUNC returns CODE (number or name, e.g. IN_USE) on its NTH use\n"
		"  kill FUNC NTH [before|after] SIGKILL the calling process at FUNC's NTH use (default: before)\n"
		"  delay FUNC USEC [NTH]        FUNC sleeps USEC microseconds (on every use, or only the NTH)\n"
		"  clear-faults                 disarm every fault\n"
		"  trace on|off                 count every call of every function (see show / calls)\n"
		"  calls                        print the call counts\n"
		"  violations                   print how many destroys hit a busy instance (exit 1 if any)\n");
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v > 0xffffffffu)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static const struct {
	const char *name;
	int code;
} codes[] = {
	{ "INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT },
	{ "NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED },
	{ "NO_PERMISSION", NVML_ERROR_NO_PERMISSION },
	{ "NOT_FOUND", NVML_ERROR_NOT_FOUND },
	{ "DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED },
	{ "TIMEOUT", NVML_ERROR_TIMEOUT },
	{ "GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST },
	{ "IN_USE", NVML_ERROR_IN_USE },
	{ "INSUFFICIENT_RESOURCES", NVML_ERROR_INSUFFICIENT_RESOURCES },
	{ "UNKNOWN", NVML_ERROR_UNKNOWN },
};

static int parse_code(const char *s, int *out)
{
	unsigned v;

	if (strncmp(s, "NVML_ERROR_", 11) == 0)
		s += 11;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(s, codes[i].name) == 0) {
			*out = codes[i].code;
			return 0;
		}
	if (parse_uint(s, &v) != 0 || v == 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int add_fault(struct fk_state *st, int argc, char **argv, struct kerf_err *err)
{
	struct fk_fault f;

	memset(&f, 0, sizeof(f));
	if (argc < 3)
		return kerf_err_set(err, KERF_EINVAL, "%s: missing arguments", argv[0]);
	snprintf(f.func, sizeof(f.func), "%s", argv[1]);
	if (strcmp(argv[0], "fail") == 0) {
		f.action = FK_FAIL;
		if (argc != 4 || parse_uint(argv[2], &f.nth) != 0 || f.nth == 0 || parse_code(argv[3], &f.code) != 0)
			return kerf_err_set(err, KERF_EINVAL, "fail: want FUNC NTH CODE (NTH >= 1)");
	} else if (strcmp(argv[0], "kill") == 0) {
		f.action = FK_KILL_BEFORE;
		if (parse_uint(argv[2], &f.nth) != 0 || f.nth == 0 || argc > 4)
			return kerf_err_set(err, KERF_EINVAL, "kill: want FUNC NTH [before|after]");
		if (argc == 4 && strcmp(argv[3], "after") == 0)
			f.action = FK_KILL_AFTER;
		else if (argc == 4 && strcmp(argv[3], "before") != 0)
			return kerf_err_set(err, KERF_EINVAL, "kill: \"%s\" is not before or after", argv[3]);
	} else {
		f.action = FK_DELAY;
		if (parse_uint(argv[2], &f.usec) != 0 || argc > 4 || (argc == 4 && parse_uint(argv[3], &f.nth) != 0))
			return kerf_err_set(err, KERF_EINVAL, "delay: want FUNC USEC [NTH]");
	}
	return fk_add_fault(st, &f, err);
}

/* Commands that edit a locked state; returns 0, 1 (ran, found a problem) or -1 (err). */
static int run_locked(struct fk_state *st, int argc, char **argv, bool *save, struct kerf_err *err)
{
	const char *cmd = argv[0];
	unsigned a, b, c;

	*save = true;
	if (strcmp(cmd, "show") == 0 || strcmp(cmd, "calls") == 0 || strcmp(cmd, "violations") == 0) {
		*save = false;
		if (strcmp(cmd, "show") == 0)
			fk_print(st, stdout);
		else if (strcmp(cmd, "calls") == 0)
			for (unsigned i = 0; i < st->n_calls; i++)
				printf("%s %u\n", st->calls[i].func, st->calls[i].n);
		else
			printf("%u\n", st->violations);
		return strcmp(cmd, "violations") == 0 && st->violations > 0;
	}
	if (strcmp(cmd, "create") == 0) {
		if (argc != 3 || parse_uint(argv[1], &a) != 0)
			return kerf_err_set(err, KERF_EINVAL, "create: want GPU LAYOUT");
		return fk_create_layout(st, a, argv[2], err);
	}
	if (strcmp(cmd, "process") == 0) {
		if (argc != 4 || parse_uint(argv[1], &a) || parse_uint(argv[2], &b) || parse_uint(argv[3], &c))
			return kerf_err_set(err, KERF_EINVAL, "process: want GPU START PID");
		return fk_set_pid(st, a, b, c, err);
	}
	if (strcmp(cmd, "process-kind") == 0) {
		static const char *const kinds[] = {"compute", "graphics", "mps"};

		if (argc != 4 || parse_uint(argv[1], &a) || parse_uint(argv[2], &b))
			return kerf_err_set(err, KERF_EINVAL, "process-kind: want GPU START compute|graphics|mps");
		for (c = 0; c < 3 && strcmp(argv[3], kinds[c]) != 0; c++)
			;
		if (c == 3)
			return kerf_err_set(err, KERF_EINVAL, "process-kind: \"%s\" is not compute, graphics or mps", argv[3]);
		return fk_set_pid_kind(st, a, b, c, err);
	}
	if (strcmp(cmd, "process-uuid") == 0) {
		if (argc != 3 || parse_uint(argv[2], &c))
			return kerf_err_set(err, KERF_EINVAL, "process-uuid: want UUID PID");
		return fk_set_pid_uuid(st, argv[1], c, err);
	}
	if (strcmp(cmd, "mig") == 0) {
		if (argc != 3 || parse_uint(argv[1], &a) != 0 || a >= st->n_gpus ||
		    (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0))
			return kerf_err_set(err, KERF_EINVAL, "mig: want GPU on|off");
		st->gpu[a].mig_current = st->gpu[a].mig_pending = strcmp(argv[2], "on") == 0;
		return 0;
	}
	if (strcmp(cmd, "fail") == 0 || strcmp(cmd, "kill") == 0 || strcmp(cmd, "delay") == 0)
		return add_fault(st, argc, argv, err);
	if (strcmp(cmd, "clear-faults") == 0) {
		st->n_faults = 0;
		return 0;
	}
	if (strcmp(cmd, "trace") == 0) {
		if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
			return kerf_err_set(err, KERF_EINVAL, "trace: want on|off");
		st->trace = strcmp(argv[1], "on") == 0;
		st->n_calls = 0;
		return 0;
	}
	return kerf_err_set(err, KERF_EINVAL, "unknown command \"%s\"", cmd);
}

int main(int argc, char **argv)
{
	const char *path = fk_state_path();
	struct fk_state *st = NULL;
	struct kerf_err err;
	bool save = false;
	int fd, rc = 2;

	if (argc >= 3 && strcmp(argv[1], "--state") == 0) {
		path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (path == NULL) {
		fprintf(stderr, "fakenvml-ctl: no state file: set " FK_ENV_STATE " or pass --state FILE\n");
		return 2;
	}
	if (strcmp(argv[1], "init") == 0) {
		if (fk_init(path, (const char *const *)argv + 2, (unsigned)argc - 2, &err) != 0) {
			fprintf(stderr, "fakenvml-ctl init: %s\n", err.msg);
			return 2;
		}
		return 0;
	}
	st = malloc(sizeof(*st));
	if (st == NULL || (fd = fk_lock(path, st, &err)) < 0) {
		fprintf(stderr, "fakenvml-ctl: %s\n", st ? err.msg : "out of memory");
		free(st);
		return 2;
	}
	rc = run_locked(st, argc - 1, argv + 1, &save, &err);
	if (rc < 0) {
		fprintf(stderr, "fakenvml-ctl %s: %s\n", argv[1], err.msg);
		save = false;
		rc = 2;
	}
	if (fk_unlock(fd, st, save, &err) != 0) {
		fprintf(stderr, "fakenvml-ctl: %s\n", err.msg);
		rc = 2;
	}
	free(st);
	return rc;
}
