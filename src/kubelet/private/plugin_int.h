/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plugin_int.h — the device plugin's shared state, private to plugin.c and registrar.c.
 *
 * Locking: everything below is under kubelet_plugin.lock, except what is marked as owned by a thread.
 */
#ifndef KERF_PLUGIN_INT_H
#define KERF_PLUGIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "kgrpc.h"
#include "kubelet.h"

#define PLUGIN_MAX_RESOURCES 24 /* every MIG profile of every supported model fits with room to spare */
#define PLUGIN_ENDPOINT_MAX 128
#define PLUGIN_PATH_MAX 108     /* sun_path */
#define PLUGIN_MAX_REQUEST_ITEMS 1024 /* containers per request, device IDs per container */

struct plugin_dev {
	struct kubelet_device d;
	bool withdrawn; /* kept out of the list and refused by Allocate until reinstated or gone */
	bool allocated; /* an Allocate answer included it, at allocated_at (CLOCK_MONOTONIC) */
	struct timespec allocated_at;
};

struct plugin_resource {
	struct kubelet_plugin *plugin;
	char name[KUBELET_RESOURCE_MAX];
	char endpoint[PLUGIN_ENDPOINT_MAX]; /* file name inside plugin_dir, as sent in RegisterRequest */
	char path[PLUGIN_PATH_MAX];
	int lid;                            /* listener id in the gRPC server */
	struct plugin_dev *devs;
	size_t n;
	uint64_t gen;      /* bumped on every change to the advertised list */
	uint64_t acked;    /* every open ListAndWatch stream has written at least this generation */
	size_t watchers;
	bool registered;   /* with the kubelet that currently owns kubelet.sock */
};

struct kubelet_plugin {
	struct kubelet_plugin_config cfg; /* strings point into the arrays below */
	char plugin_dir[PLUGIN_PATH_MAX];
	char prefix[64];
	char cdi_kind[128];
	char kubelet_sock[PLUGIN_PATH_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* acked or registered changed */
	struct plugin_resource *res[PLUGIN_MAX_RESOURCES];
	size_t n_res;
	unsigned long registrations;
	unsigned long allocations;
	struct kgrpc_server *srv;
	/* registrar */
	pthread_t registrar;
	bool registrar_started;
	bool stop;
	int reg_wake_fd;
	int inotify_fd;
};

int plugin_registrar_start(struct kubelet_plugin *p, struct kerf_err *err);
void plugin_registrar_wake(struct kubelet_plugin *p);
void plugin_registrar_stop(struct kubelet_plugin *p);

#endif
