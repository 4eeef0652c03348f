/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kgrpc_sock.h — the unix stream socket both ends of kerf's gRPC layer start from: grpc_client.c connects
 * it, grpc_server.c binds and listens on it. Private to src/kubelet.
 */
#ifndef KERF_KGRPC_SOCK_H
#define KERF_KGRPC_SOCK_H

#include <sys/un.h>

#include "err.h"

/*
 * A close-on-exec unix stream socket (flags: 0, or SOCK_NONBLOCK) into *fd, and path's address into *sa.
 * 0, or -1 with err: path longer than sun_path holds (KERF_EINVAL), or socket() failed (KERF_EIO).
 */
int kgrpc_sock_open(const char *path, int flags, struct sockaddr_un *sa, int *fd, struct kerf_err *err);

#endif
