/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_decode.c — libFuzzer entry point for kerf's gRPC message decoder (built only with clang):
 *   cmake -DCMAKE_C_COMPILER=clang ... && ./fuzz_kubelet_decode -max_total_time=60
 */
#include "fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one(data, size);
	return 0;
}
