/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plan_example.h — the example cluster of examples/cluster.json, compiled into the binary (generated at
 * build time by embed.cmake, so the file stays the one source of truth) for `kerf demo`.
 */
#ifndef KERF_PLAN_EXAMPLE_H
#define KERF_PLAN_EXAMPLE_H

/* The planner input JSON, NUL-terminated. */
extern const unsigned char plan_example_cluster_json[];

#endif
