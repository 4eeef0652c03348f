/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kgrpc_sock.h — the unix stream socket both ends of kerf's gRPC layer start from (grpc_client.c connects
 * it, grpc_server.c binds and listens on it) and the send both ends hand nghttp2. Private to src/kubelet.
 */
#ifndef KERF_KGRPC_SOCK_H
#define KERF_KGRPC_SOCK_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "err.h"

/*
 * A close-on-exec unix stream socket (flags: 0, or SOCK_NONBLOCK) into *fd, and path's address into *sa.
 * 0, or -1 with err: path longer than sun_path holds (KERF_EINVAL), or socket() failed (KERF_EIO).
 */
int kgrpc_sock_open(const char *path, int flags, struct sockaddr_un *sa, int *fd, struct kerf_err *err);

/*
 * nghttp2's send callback on a non-blocking socket, for both ends: the bytes sent (never SIGPIPE), or
 * NGHTTP2_ERR_WOULDBLOCK when the socket is full, or NGHTTP2_ERR_CALLBACK_FAILURE with err set (KERF_EIO)
 * when the peer is gone or the send failed otherwise.
 */
ssize_t kgrpc_sock_send(int fd, const uint8_t *data, size_t len, struct kerf_err *err);

#endif
