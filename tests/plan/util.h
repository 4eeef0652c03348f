/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.h — what the planner's randomized tests share: a seeded generator of valid random clusters, an
 * independent list of every valid layout of a model, and a checker of every safety property of a plan.
 * Nothing here uses the planner's internals, so the tests check the planner against separate code.
 */
#ifndef KERF_TEST_PLAN_UTIL_H
#define KERF_TEST_PLAN_UTIL_H

#include <stdint.h>

#include "plan.h"

struct rng {
	uint64_t s;
};

uint64_t rng_next(struct rng *r);
unsigned rng_below(struct rng *r, unsigned n); /* uniform in 0..n-1 */

/* Every valid layout of m (mig_layout_check over all non-overlapping placement sets), computed once. */
struct valid_layouts {
	const struct mig_model *m;
	unsigned n;
	struct mig_layout *l;
};
const struct valid_layouts *valid_layouts_of(const struct mig_model *m);

struct gen_params {
	unsigned max_nodes, max_gpus_per_node, max_gpus_total, max_pods, max_demands, max_count, max_levels;
	unsigned max_groups; /* node constraints: up to this many groups (plan_input.groups), 0 = none */
};

#define GEN_MAX_GROUPS 4

struct gen_case {
	struct plan_input in;
	struct plan_node nodes[64];
	struct plan_gpu gpus[512];
	struct plan_pod pods[256];
	struct plan_group groups[GEN_MAX_GROUPS];
	unsigned char allowed[GEN_MAX_GROUPS][64];
};

/* Fills c with a random valid cluster drawn from seed. */
void gen_case(struct gen_case *c, uint64_t seed, const struct gen_params *p);

/* Checks every promise of plan.h about out for in; on a breach returns -1 and writes why into msg. */
int check_plan(const struct plan_input *in, const struct plan_output *out, char *msg, size_t msgsz);

/* The number of test cases to run: `full`, or `sanitized` when KERF_FLAVOUR=sanitized (ASan is ~10x slower). */
unsigned case_count(unsigned full, unsigned sanitized);

#endif
