/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_plan_table.h — a plan as a table a person reads: `kerf plan --output table` and `kerf demo`.
 */
#ifndef KERF_CLI_PLAN_TABLE_H
#define KERF_CLI_PLAN_TABLE_H

#include <stdio.h>

#include "plan.h"

/* Writes, for every changed GPU its layout before and after (instances in use marked), then the
 * assignments with the instances each pod gets, then the unplaced pods with their reasons. */
void cli_plan_table(FILE *f, const struct plan_input *in, const struct plan_output *out);

#endif
