/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_nvml.h — what `kerf status` and `kerf apply` share: opening NVML with a person-readable failure,
 * the picture of a GPU's placement slots, and comma-separated option lists.
 */
#ifndef KERF_CLI_NVML_H
#define KERF_CLI_NVML_H

#include <stdbool.h>
#include <stdio.h>

#include "nvml.h"

/* Opens NVML (library: --library, else $KERF_NVML_LIBRARY, else libnvidia-ml.so.1); prints why not. */
struct nvml *cli_nvml_open(const char *cmd, const char *library);

/* Splits a comma-separated list in place into at most max items; returns the count, or -1 if too many. */
int cli_nvml_split(char *list, const char **items, unsigned max);

/* True if uuid is in the list. */
bool cli_nvml_listed(const char *const *list, unsigned n, const char *uuid);

/*
 * Prints a GPU's header line, the picture of its memory slices and one line per instance:
 *     slices   0 1 2 3 4 5 6 7
 *     layout  |# #|= =|. . . .|     # used  = free  . empty
 * An instance is used if it runs a process or its MIG UUID is in allocated.
 */
void cli_nvml_show_gpu(FILE *f, const struct nvml_gpu *gpu, const char *const *allocated, unsigned n_allocated);

#endif
