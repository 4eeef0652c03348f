/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_one.h — one fuzz input through kerf's gRPC message decoder, shared by the deterministic mutation
 * fuzzer (test_kubelet_fuzz.c, run by CTest) and the libFuzzer entry point (fuzz_decode.c, clang only).
 *
 * The input is decoded as every message kerf receives. Property: the decoder either refuses the input
 * (no message, a non-OK code) or returns a message that packs again and, unless it carries unknown
 * fields (see fuzz_one.c), decodes again.
 */
#ifndef KERF_FUZZ_ONE_H
#define KERF_FUZZ_ONE_H

#include <stddef.h>
#include <stdint.h>

/* Returns the number of descriptors that accepted the input; aborts if the property breaks. */
int fuzz_one(const uint8_t *data, size_t len);

#endif
