/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_quantity.h — Kubernetes resource quantities ("500m", "1.5", "2Gi", "1e9") as whole numbers.
 *
 * The grammar is resource.Quantity's (k8s.io/apimachinery/pkg/api/resource): an unsigned decimal number,
 * then one suffix: a binary one (Ki Mi Gi Ti Pi Ei), a decimal one (n u m "" k M G T P E), or a decimal
 * exponent (e3, E-2). Values are rounded up, as the scheduler rounds a request: 0.1 CPU is 100 millicores,
 * 1.5 bytes is 2. Negative quantities (never valid in requests or allocatable) are refused.
 *
 * Pure functions: no allocation, no I/O.
 */
#ifndef KERF_KUBE_QUANTITY_H
#define KERF_KUBE_QUANTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Sets *out to s in units (milli = false: bytes, pods, devices) or thousandths (milli = true: CPU in
 * millicores), rounded up. -1 for text that is not a quantity or a value past INT64_MAX. */
int kube_quantity_parse(const char *s, bool milli, int64_t *out);

/* A resource amount as requests and allocatable give it (a quantity string, or a JSON integer), in whole units,
 * "cpu" in millicores; -1 if v is neither. */
int64_t kube_resource_amount(const char *resource, const json_t *v);

#endif
