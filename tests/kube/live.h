/* SPDX-License-Identifier: Apache-2.0 */
/*
 * live.h — what the integration tests share: a client for the real control plane that
 * scripts/controlplane/start.sh started (CTest's kube_cp fixture passes its folder in KERF_CP_DIR), a fresh
 * namespace per test, and the control script for killing and restarting components.
 */
#ifndef KERF_TEST_KUBE_LIVE_H
#define KERF_TEST_KUBE_LIVE_H

#include <stdbool.h>

#include "kube.h"

struct live {
	struct kube_client *c;
	char ns[64];
};

/* cmocka setup/teardown: connects with the test kubeconfig (token user) and creates a namespace. */
int live_setup(void **state);
int live_teardown(void **state);

/* The control plane's folder (KERF_CP_DIR); fails the test when unset. */
const char *live_dir(void);

/* Runs scripts/controlplane/ctl.sh DIR cmd; fails the test when it fails. */
void live_ctl(const char *cmd);

/* A ConfigMap {name, labels {app: label}, data {v: value}}. */
json_t *live_configmap(const char *name, const char *label, const char *value);

void live_sleep_ms(long ms);

/* A port free on 127.0.0.1 now (the kernel's pick), for a daemon's --listen. */
int live_free_port(void);

/* GET http://127.0.0.1:port/path with curl: the status code (0: no answer), the body into out. */
int live_http_get(int port, const char *path, char *out, size_t cap);

#endif
