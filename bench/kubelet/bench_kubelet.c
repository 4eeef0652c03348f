/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kubelet.c — how long the kubelet waits to hear about a device-list change.
 *
 * Measures, against the Go kubelet stand-in (grpc-go, official k8s.io/kubelet API), the time from the
 * call that changes kerf's device list to the moment the peer's ListAndWatch Recv() returns the new list
 * (both stamps are CLOCK_MONOTONIC), for two changes:
 *   set_devices  a re-layout: a device disappears or appears (kubelet_plugin_set_devices)
 *   withdraw     withdraw-before-destroy (kubelet_plugin_withdraw), plus how long the call itself blocks
 * Usage: bench_kubelet STANDIN [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet.h"
#include "peer.h"

#define RES "nvidia.com/mig-1g.10gb"
#define NDEV 7 /* a full A100/H100 of 1g instances */

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static void report(const char *what, long long *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-36s n=%d  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, n, v[n / 2] / 1e6,
	       v[n * 9 / 10] / 1e6, v[n * 99 / 100] / 1e6, v[n - 1] / 1e6);
}

static void ids_of(const struct kubelet_device *d, int n, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", d[i].uuid);
}

/* Waits for the list equal to want; returns the peer's receive stamp. */
static long long received(struct peer *p, size_t *from, const char *want)
{
	for (;;) {
		json_t *ev = peer_wait(p, from, "list", "resource", RES);
		char got[1024];

		if (ev == NULL) {
			fprintf(stderr, "bench: the peer never got [%s]\n", want);
			exit(1);
		}
		peer_list_ids(ev, got, sizeof(got));
		if (strcmp(got, want) == 0)
			return json_integer_value(json_object_get(ev, "mono_ns"));
	}
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/kerf-bench-XXXXXX", podres[64], want[1024], cmd[64];
	int rounds = argc > 2 ? atoi(argv[2]) : 200;
	struct kubelet_device d[NDEV];
	struct kubelet_plugin *plugin;
	struct kubelet_plugin_config cfg = {.register_retry_ms = 100};
	long long *change = calloc((size_t)rounds, sizeof(long long));
	long long *wd = calloc((size_t)rounds, sizeof(long long));
	long long *wd_call = calloc((size_t)rounds, sizeof(long long));
	struct kerf_err err;
	struct peer peer;
	size_t from = 0;

	if (argc < 2 || rounds < 1 || !change || !wd || !wd_call || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: %s KUBELET_STANDIN [ROUNDS]\n", argv[0]);
		return 2;
	}
	snprintf(podres, sizeof(podres), "%s/podres.sock", dir);
	if (peer_start(&peer, argv[1], dir, podres) < 0)
		return 1;
	cfg.plugin_dir = dir;
	for (int i = 0; i < NDEV; i++) {
		d[i] = (struct kubelet_device){.gpu_index = 0, .numa_node = 0, .healthy = true};
		snprintf(d[i].uuid, sizeof(d[i].uuid), "MIG-%08x-1111-2222-3333-%012d", i, i);
		snprintf(d[i].resource, sizeof(d[i].resource), RES);
	}
	if (kubelet_plugin_start(&cfg, &plugin, &err) < 0 || kubelet_plugin_set_devices(plugin, d, NDEV, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	ids_of(d, NDEV, want, sizeof(want));
	received(&peer, &from, want);
	for (int r = 0; r < rounds; r++) {
		int n = r % 2 ? NDEV : NDEV - 1; /* the last device goes, then comes back */
		long long t0;

		ids_of(d, n, want, sizeof(want));
		t0 = peer_mono_ns();
		if (kubelet_plugin_set_devices(plugin, d, (size_t)n, &err) < 0)
			return 1;
		change[r] = received(&peer, &from, want) - t0;
	}
	for (int r = 0; r < rounds; r++) {
		const char *u = d[r % 2].uuid;
		long long t0, t1;

		t0 = peer_mono_ns();
		if (kubelet_plugin_withdraw(plugin, u, &err) < 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			return 1;
		}
		t1 = peer_mono_ns();
		{
			size_t o = 0;

			want[0] = '\0';
			for (int i = 0; i < NDEV; i++)
				if (i != r % 2)
					o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", o ? "," : "", d[i].uuid);
		}
		wd[r] = received(&peer, &from, want) - t0;
		wd_call[r] = t1 - t0;
		if (kubelet_plugin_reinstate(plugin, u, &err) < 0)
			return 1;
		ids_of(d, NDEV, want, sizeof(want));
		received(&peer, &from, want);
	}
	printf("kubelet device plugin, %d rounds, %d devices, peer = grpc-go kubelet stand-in\n", rounds, NDEV);
	report("set_devices -> peer has new list", change, rounds);
	report("withdraw -> peer has new list", wd, rounds);
	report("withdraw call (returns after write)", wd_call, rounds);
	kubelet_plugin_stop(plugin);
	peer_stop(&peer);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	free(change);
	free(wd);
	free(wd_call);
	return 0;
}
