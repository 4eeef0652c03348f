/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kubelet_fuzz.c — deterministic mutation fuzzing of the gRPC message decoder.
 *
 * Debian's gcc has no libFuzzer, so CTest runs this instead: seeds are valid frames of every message
 * kerf receives, mutated (bit flips, byte overwrites with boundary values, varint-length tweaks,
 * truncation, splicing, prefix edits) by a seeded xorshift generator, for a bounded number of inputs.
 * The seed is printed; KERF_FUZZ_SEED and KERF_FUZZ_ITERS (or argv[1]) reproduce or extend a run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deviceplugin_v1beta1.pb-c.h"
#include "fuzz_one.h"
#include "kgrpc.h"
#include "podresources_v1.pb-c.h"

#define FUZZ_MAX_INPUT 4096

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct seed {
	uint8_t *b;
	size_t n;
};

static void add(struct seed *s, size_t *n, const ProtobufCMessage *m)
{
	if (kgrpc_frame_encode(m, &s[*n].b, &s[*n].n, NULL) == 0)
		(*n)++;
}

static size_t make_seeds(struct seed *s)
{
	char *ids[] = {(char *)"MIG-4f1c0a6e-1b2c-5d3e-8f90-a1b2c3d4e5f6", (char *)"MIG-b", (char *)""};
	V1beta1__ContainerAllocateRequest car = V1BETA1__CONTAINER_ALLOCATE_REQUEST__INIT;
	V1beta1__ContainerAllocateRequest *cars[] = {&car, &car};
	V1beta1__AllocateRequest ar = V1BETA1__ALLOCATE_REQUEST__INIT;
	V1beta1__ContainerPreferredAllocationRequest cpr = V1BETA1__CONTAINER_PREFERRED_ALLOCATION_REQUEST__INIT;
	V1beta1__ContainerPreferredAllocationRequest *cprs[] = {&cpr};
	V1beta1__PreferredAllocationRequest pr = V1BETA1__PREFERRED_ALLOCATION_REQUEST__INIT;
	V1beta1__DevicePluginOptions o = V1BETA1__DEVICE_PLUGIN_OPTIONS__INIT;
	V1beta1__RegisterRequest rr = V1BETA1__REGISTER_REQUEST__INIT;
	V1__NUMANode numa = V1__NUMANODE__INIT;
	V1__NUMANode *numas[] = {&numa};
	V1__TopologyInfo topo = V1__TOPOLOGY_INFO__INIT;
	V1__ContainerDevices cd = V1__CONTAINER_DEVICES__INIT;
	V1__ContainerDevices *cds[] = {&cd};
	V1__ContainerResources cr = V1__CONTAINER_RESOURCES__INIT;
	V1__ContainerResources *crs[] = {&cr};
	V1__PodResources pod = V1__POD_RESOURCES__INIT;
	V1__PodResources *pods[] = {&pod, &pod};
	V1__ListPodResourcesResponse lr = V1__LIST_POD_RESOURCES_RESPONSE__INIT;
	V1__AllocatableResourcesResponse al = V1__ALLOCATABLE_RESOURCES_RESPONSE__INIT;
	int64_t cpus[] = {0, 1, -1, INT64_MAX};
	V1beta1__Empty e = V1BETA1__EMPTY__INIT;
	size_t n = 0;

	car.n_devices_ids = 3;
	car.devices_ids = ids;
	ar.n_container_requests = 2;
	ar.container_requests = cars;
	add(s, &n, &ar.base);
	cpr.n_available_deviceids = 3;
	cpr.available_deviceids = ids;
	cpr.n_must_include_deviceids = 1;
	cpr.must_include_deviceids = ids;
	cpr.allocation_size = -7;
	pr.n_container_requests = 1;
	pr.container_requests = cprs;
	add(s, &n, &pr.base);
	o.get_preferred_allocation_available = true;
	rr.version = (char *)"v1beta1";
	rr.endpoint = (char *)"kerf-mig-1g.10gb.sock";
	rr.resource_name = (char *)"nvidia.com/mig-1g.10gb";
	rr.options = &o;
	add(s, &n, &rr.base);
	numa.id = 1;
	topo.n_nodes = 1;
	topo.nodes = numas;
	cd.resource_name = (char *)"nvidia.com/mig-3g.40gb";
	cd.n_device_ids = 2;
	cd.device_ids = ids;
	cd.topology = &topo;
	cr.name = (char *)"main";
	cr.n_devices = 1;
	cr.devices = cds;
	cr.n_cpu_ids = 4;
	cr.cpu_ids = cpus;
	pod.name = (char *)"train-0";
	pod.namespace_ = (char *)"ml";
	pod.n_containers = 1;
	pod.containers = crs;
	lr.n_pod_resources = 2;
	lr.pod_resources = pods;
	add(s, &n, &lr.base);
	al.n_devices = 1;
	al.devices = cds;
	al.n_cpu_ids = 4;
	al.cpu_ids = cpus;
	add(s, &n, &al.base);
	add(s, &n, &e.base);
	return n;
}

static size_t mutate(uint8_t *b, size_t n, const struct seed *seeds, size_t n_seeds)
{
	static const uint8_t edge[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x1a, 0x08, 0x0f};
	int rounds = 1 + (int)(next() % 4);

	for (int r = 0; r < rounds; r++) {
		size_t at = n ? next() % n : 0;

		switch (next() % 7) {
		case 0: /* flip a bit */
			if (n)
				b[at] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* a boundary byte */
			if (n)
				b[at] = edge[next() % sizeof(edge)];
			break;
		case 2: /* truncate */
			n = at;
			break;
		case 3: /* insert a byte */
			if (n < FUZZ_MAX_INPUT) {
				memmove(b + at + 1, b + at, n - at);
				b[at] = (uint8_t)next();
				n++;
			}
			break;
		case 4: /* splice in part of another seed */
		{
			const struct seed *o = &seeds[next() % n_seeds];
			size_t from = next() % o->n, len = next() % (o->n - from + 1);

			if (at + len > FUZZ_MAX_INPUT)
				len = FUZZ_MAX_INPUT - at;
			memcpy(b + at, o->b + from, len);
			if (at + len > n)
				n = at + len;
			break;
		}
		case 5: /* a random prefix length */
			if (n >= KGRPC_HDR_LEN)
				b[1 + next() % 4] = (uint8_t)next();
			break;
		default: /* a large varint (lengths, field numbers) */
			if (n >= 5 && at + 5 <= n)
				memcpy(b + at, "\xff\xff\xff\xff\x0f", 5);
			break;
		}
	}
	/* Most of the time, make the prefix agree with the mutated length so that the protobuf layer is
	 * reached; otherwise the framing checks are what gets exercised. */
	if (n >= KGRPC_HDR_LEN && next() % 4 != 0) {
		uint32_t m = (uint32_t)(n - KGRPC_HDR_LEN);

		b[0] = 0;
		b[1] = (uint8_t)(m >> 24);
		b[2] = (uint8_t)(m >> 16);
		b[3] = (uint8_t)(m >> 8);
		b[4] = (uint8_t)m;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct seed seeds[8];
	size_t n_seeds = make_seeds(seeds);
	const char *es = getenv("KERF_FUZZ_SEED"), *ei = getenv("KERF_FUZZ_ITERS");
	uint64_t seed = es ? strtoull(es, NULL, 0) : 20261125; /* fixed: CTest runs are reproducible */
	long iters = argc > 1 ? atol(argv[1]) : ei ? atol(ei) : 100000;
	long accepted = 0;
	static uint8_t buf[FUZZ_MAX_INPUT + 8];

	rng = seed ? seed : 1;
	printf("kubelet fuzz: seed %" PRIu64 " (KERF_FUZZ_SEED), %ld inputs, %zu seeds\n", seed, iters, n_seeds);
	fflush(stdout);
	for (size_t i = 0; i < n_seeds; i++)
		if (fuzz_one(seeds[i].b, seeds[i].n) == 0) {
			fprintf(stderr, "seed %zu is not accepted by any descriptor\n", i);
			return 1;
		}
	for (long it = 0; it < iters; it++) {
		const struct seed *s = &seeds[next() % n_seeds];
		size_t n = s->n < FUZZ_MAX_INPUT ? s->n : FUZZ_MAX_INPUT;

		memcpy(buf, s->b, n);
		n = mutate(buf, n, seeds, n_seeds);
		accepted += fuzz_one(buf, n) > 0;
	}
	printf("kubelet fuzz: %ld of %ld mutated inputs decoded as some message; no crash, no broken round trip\n",
	       accepted, iters);
	for (size_t i = 0; i < n_seeds; i++)
		free(seeds[i].b);
	return 0;
}
