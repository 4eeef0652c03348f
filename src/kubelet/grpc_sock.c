/* SPDX-License-Identifier: Apache-2.0 */
/* grpc_sock.c — see private/kgrpc_sock.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <nghttp2/nghttp2.h>

#include "kgrpc_sock.h"

int kgrpc_sock_open(const char *path, int flags, struct sockaddr_un *sa, int *fd, struct kerf_err *err)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return kerf_err_set(err, KERF_EINVAL, "%s: socket path is longer than %zu bytes", path,
				    sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, len + 1);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (*fd < 0)
		return kerf_err_set(err, KERF_EIO, "socket: %s", strerror(errno));
	return 0;
}

ssize_t kgrpc_sock_send(int fd, const uint8_t *data, size_t len, struct kerf_err *err)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return NGHTTP2_ERR_WOULDBLOCK;
	kerf_err_set(err, KERF_EIO, "send: %s", strerror(errno));
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}
