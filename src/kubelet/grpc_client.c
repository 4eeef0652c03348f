/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc_client.c — one blocking unary gRPC call over a unix socket, with a deadline.
 *
 * A fresh connection per call: the kubelet's sockets are local and calls are rare (a List before each
 * destroy, a Register per resource), so connection reuse would buy nothing and cost state.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "buf.h"
#include "kgrpc.h"
#include "kgrpc_sock.h"

struct call {
	int fd;
	const uint8_t *req;
	size_t req_len, req_off;
	struct kerf_buf body; /* the answer's frame, at most max_resp + KGRPC_HDR_LEN */
	int http_status;
	int grpc_status; /* -1 until seen */
	char grpc_message[256];
	bool closed;
	uint32_t rst_code;
	bool too_big;
	struct kerf_err io_err;
	bool io_failed;
};

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
	struct call *c = user;
	ssize_t n = kgrpc_sock_send(c->fd, data, len, &c->io_err);

	(void)s;
	(void)flags;
	if (n == NGHTTP2_ERR_CALLBACK_FAILURE)
		c->io_failed = true;
	return n;
}

static ssize_t req_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			   nghttp2_data_source *src, void *user)
{
	struct call *c = user;
	size_t n = c->req_len - c->req_off;

	(void)s;
	(void)id;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, c->req + c->req_off, n);
	c->req_off += n;
	if (c->req_off == c->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
	struct call *c = user;
	(void)flags;
	if (c->too_big)
		return 0;
	if (len > c->body.max - c->body.len) {
		/* Stop reading at once: an oversized answer is refused, not buffered. */
		c->too_big = true;
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		return 0;
	}
	if (kerf_buf_add(&c->body, data, len, NULL) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct call *c = user;
	char v[256];

	(void)s;
	(void)f;
	(void)flags;
	snprintf(v, sizeof(v), "%.*s", (int)(vlen < 255 ? vlen : 255), (const char *)value);
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		c->http_status = atoi(v);
	else if (nlen == 11 && memcmp(name, "grpc-status", 11) == 0)
		c->grpc_status = atoi(v);
	else if (nlen == 12 && memcmp(name, "grpc-message", 12) == 0)
		snprintf(c->grpc_message, sizeof(c->grpc_message), "%s", v);
	return 0;
}

static int close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct call *c = user;

	(void)s;
	(void)id;
	c->closed = true;
	c->rst_code = code;
	return 0;
}

static int connect_unix(const char *path, int *out, struct kerf_err *err)
{
	struct sockaddr_un sa;
	int fd;

	if (kgrpc_sock_open(path, 0, &sa, &fd, err) < 0)
		return -1;
	/* A local connect either succeeds or fails at once (or EAGAIN on a full backlog), so it is done
	 * blocking; everything after it is non-blocking and bounded by the deadline. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return kerf_err_set(err, e == ENOENT || e == ECONNREFUSED ? KERF_ENOTFOUND : KERF_EIO,
				    "%s: connect: %s", path, strerror(e));
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return kerf_err_set(err, KERF_EIO, "fcntl: %s", strerror(errno));
	}
	*out = fd;
	return 0;
}

static int pump(nghttp2_session *s, struct call *c, int64_t deadline, struct kerf_err *err)
{
	while (!c->closed) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t left = deadline - kgrpc_now_ms();
		int rc;

		if (nghttp2_session_send(s) != 0 || c->io_failed)
			return c->io_failed ? kerf_err_set(err, c->io_err.code, "%s", c->io_err.msg)
					    : kerf_err_set(err, KERF_EIO, "HTTP/2 send failed");
		if (c->closed)
			break;
		if (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s))
			return kerf_err_set(err, KERF_EIO, "the server ended the HTTP/2 session before answering");
		if (left <= 0)
			return kerf_err_set(err, KERF_ETIMEOUT, "no complete answer within the deadline");
		if (nghttp2_session_want_write(s))
			pfd.events |= POLLOUT;
		rc = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
		if (rc < 0 && errno != EINTR)
			return kerf_err_set(err, KERF_EIO, "poll: %s", strerror(errno));
		if (rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			uint8_t buf[16384];
			ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

			if (n == 0)
				return kerf_err_set(err, KERF_EIO, "the server closed the connection before answering");
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return kerf_err_set(err, KERF_EIO, "recv: %s", strerror(errno));
			if (n > 0 && nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
				return kerf_err_set(err, KERF_EIO, "the server sent malformed HTTP/2");
		}
	}
	return 0;
}

static enum kerf_errcode code_for(int grpc_status)
{
	switch (grpc_status) {
	case KGRPC_UNIMPLEMENTED: return KERF_EUNSUPPORTED;
	case KGRPC_DEADLINE_EXCEEDED: return KERF_ETIMEOUT;
	case KGRPC_NOT_FOUND: return KERF_ENOTFOUND;
	case KGRPC_INVALID_ARGUMENT: return KERF_EINVAL;
	case KGRPC_FAILED_PRECONDITION: return KERF_ECONFLICT;
	default: return KERF_EIO;
	}
}

static int finish(struct call *c, const ProtobufCMessageDescriptor *resp_desc, size_t max_resp,
		  ProtobufCMessage **resp, struct kerf_err *err)
{
	if (c->too_big)
		return kerf_err_set(err, KERF_EIO, "the answer is larger than the limit of %zu bytes", max_resp);
	if (c->http_status != 200)
		return kerf_err_set(err, KERF_EIO, "HTTP status %d (stream reset with code %u)", c->http_status,
				    c->rst_code);
	if (c->grpc_status < 0)
		return kerf_err_set(err, KERF_EIO, "the answer carries no grpc-status (stream reset with code %u)",
				    c->rst_code);
	if (c->grpc_status != KGRPC_OK)
		return kerf_err_set(err, code_for(c->grpc_status), "grpc-status %d: %s", c->grpc_status,
				    c->grpc_message);
	return kgrpc_frame_decode((const uint8_t *)c->body.p, c->body.len, max_resp, resp_desc, resp, NULL, err);
}

int kgrpc_unary(const char *socket_path, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp_desc, size_t max_resp, int timeout_ms, ProtobufCMessage **resp,
		struct kerf_err *err)
{
	struct call c = {.fd = -1, .grpc_status = -1};
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_session *s = NULL;
	uint8_t *frame = NULL;
	int64_t deadline = kgrpc_now_ms() + timeout_ms;
	char tmo[32];
	int rc = -1;

	kerf_buf_init(&c.body, max_resp + KGRPC_HDR_LEN, "gRPC answer");
	*resp = NULL;
	snprintf(tmo, sizeof(tmo), "%dm", timeout_ms);
	const nghttp2_nv hdrs[] = {
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
		NV(":method", "POST"),           NV(":scheme", "http"),
		NV(":path", method),             NV(":authority", "localhost"),
		NV("content-type", "application/grpc"), NV("te", "trailers"),
		NV("grpc-timeout", tmo),         NV("user-agent", "kerf-kgrpc/0.1"),
#undef NV
	};
	nghttp2_data_provider dp = {.read_callback = req_read_cb};
	if (kgrpc_frame_encode(req, &frame, &c.req_len, err) < 0)
		goto out;
	c.req = frame;
	if (connect_unix(socket_path, &c.fd, err) < 0)
		goto out;
	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory for HTTP/2 callbacks");
		goto out;
	}
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);
	if (nghttp2_session_client_new(&s, cbs, &c) != 0) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory for an HTTP/2 session");
		goto out;
	}
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	if (nghttp2_submit_request(s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp, &c) < 0) {
		kerf_err_set(err, KERF_EIO, "could not submit the HTTP/2 request");
		goto out;
	}
	if (pump(s, &c, deadline, err) < 0)
		goto out;
	rc = finish(&c, resp_desc, max_resp, resp, err);
out:
	if (rc < 0)
		kerf_err_prefix(err, "%s %s", socket_path, method);
	nghttp2_session_del(s);
	nghttp2_session_callbacks_del(cbs);
	if (c.fd >= 0)
		close(c.fd);
	kerf_buf_reset(&c.body);
	free(frame);
	return rc;
}
