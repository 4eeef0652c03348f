/*
 * cli_daemon.h — what `kerf agent` and `kerf controller` share as long-running processes: connecting to the
 * cluster (a kubeconfig, else the in-cluster service account) and log lines with a UTC timestamp on stderr.
 */
#ifndef KERF_CLI_DAEMON_H
#define KERF_CLI_DAEMON_H

#include "err.h"
#include "kube.h"

/* kubeconfig NULL: the in-cluster service account. NULL on failure. */
struct kube_client *cli_daemon_connect(const char *kubeconfig, const char *context, struct kerf_err *err);

/* "2026-11-30T07:00:00Z kerf <arg>: <line>" on stderr; arg is the command's name (a const char *). */
void cli_daemon_log(void *arg, const char *line);

#endif
