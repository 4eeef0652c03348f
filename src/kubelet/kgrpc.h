/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kgrpc.h — the small part of gRPC that kerf needs, over unix sockets (private to src/kubelet/).
 *
 * What it is: HTTP/2 (nghttp2) carrying gRPC's length-prefixed protobuf messages (protobuf-c), as a
 * blocking unary client with a deadline, and a single-threaded server for unary and server-streaming
 * methods. What it is not: a general gRPC library. No TLS (unix sockets only), no compression (a
 * compressed message is refused), no client streaming, no name resolution, no retries.
 *
 * Every size is bounded: one message (KGRPC_MAX_MSG unless a caller passes less), the request header
 * block, the number of connections and of concurrent streams. A malformed frame ends its stream (or its
 * connection) with a gRPC status; it never ends the process. Wire format (gRPC over HTTP/2 spec):
 * a message is 1 byte "compressed" flag, 4 bytes big-endian length, then the protobuf bytes; the status
 * travels in trailers "grpc-status" / "grpc-message", or alone in the response headers ("trailers-only").
 */
#ifndef KERF_KGRPC_H
#define KERF_KGRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "err.h"

#define KGRPC_HDR_LEN 5
#define KGRPC_MAX_MSG (4u << 20)       /* gRPC's own default receive limit */
#define KGRPC_MAX_HEADER_BYTES 16384   /* request header block, names plus values */
#define KGRPC_MAX_CONNS 64
#define KGRPC_MAX_STREAMS 32           /* advertised SETTINGS_MAX_CONCURRENT_STREAMS */
#define KGRPC_REQUEST_TIMEOUT_MS 10000 /* a request must arrive whole within this time */
#define KGRPC_IDLE_TIMEOUT_MS 60000    /* a connection with no open stream is ended after this */

/* gRPC status codes (grpc/doc/statuscodes.md) that kerf sends or maps. */
enum kgrpc_code {
	KGRPC_OK = 0,
	KGRPC_CANCELLED = 1,
	KGRPC_UNKNOWN = 2,
	KGRPC_INVALID_ARGUMENT = 3,
	KGRPC_DEADLINE_EXCEEDED = 4,
	KGRPC_NOT_FOUND = 5,
	KGRPC_RESOURCE_EXHAUSTED = 8,
	KGRPC_FAILED_PRECONDITION = 9,
	KGRPC_UNIMPLEMENTED = 12,
	KGRPC_INTERNAL = 13,
	KGRPC_UNAVAILABLE = 14,
};

/* ---- framing (pure; the fuzz target) ---- */

/* Packs msg behind a 5-byte prefix into a new malloc'd buffer (*buf, *len). */
int kgrpc_frame_encode(const ProtobufCMessage *msg, uint8_t **buf, size_t *len, struct kerf_err *err);

/*
 * Decodes a request or response body that must hold exactly one uncompressed message of at most max_msg
 * bytes. *out is owned by the caller (protobuf_c_message_free_unpacked). On failure *code says which
 * gRPC status describes the problem (RESOURCE_EXHAUSTED for size, INTERNAL/UNIMPLEMENTED otherwise).
 */
int kgrpc_frame_decode(const uint8_t *buf, size_t len, size_t max_msg, const ProtobufCMessageDescriptor *desc,
		       ProtobufCMessage **out, enum kgrpc_code *code, struct kerf_err *err);

/* ---- client ---- */

/*
 * One unary call to `method` ("/package.Service/Method") on the server at socket_path, waiting at most
 * timeout_ms for the whole exchange. *resp is owned by the caller (protobuf_c_message_free_unpacked).
 * A non-OK gRPC status is an error whose sentence carries the code and message; KERF_ETIMEOUT when the
 * deadline passes, KERF_EIO for transport failures, KERF_EUNSUPPORTED for UNIMPLEMENTED.
 */
int kgrpc_unary(const char *socket_path, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp_desc, size_t max_resp, int timeout_ms, ProtobufCMessage **resp,
		struct kerf_err *err);

/* ---- server ---- */

/* What a unary handler answers: a packed message (from kgrpc_reply_pack) or a non-OK status. */
struct kgrpc_reply {
	enum kgrpc_code code;
	char msg[256];
	uint8_t *body; /* frame (prefix + message), malloc'd; freed by the server */
	size_t len;
};

/* Packs msg into reply as the OK answer; on failure sets reply to INTERNAL. */
void kgrpc_reply_pack(struct kgrpc_reply *reply, const ProtobufCMessage *msg);
void kgrpc_reply_status(struct kgrpc_reply *reply, enum kgrpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct kgrpc_method {
	const char *path;                             /* "/v1beta1.DevicePlugin/Allocate" */
	const ProtobufCMessageDescriptor *req_desc;
	/* Unary: answer in reply. Streaming: an OK reply opens the stream (body ignored), else refuses it. */
	void (*call)(void *ctx, const ProtobufCMessage *req, struct kgrpc_reply *reply);
	bool streaming;
};

/*
 * Server-streaming methods pull: when a stream may send, the server asks next() for a message newer
 * than *gen; next returns 1 with a malloc'd frame and the new *gen, or 0 when there is nothing newer.
 * After every change in what the listener's open streams have sent (a frame written to the socket, a
 * stream opened or closed), progress() reports the lowest generation all of them have fully sent
 * (UINT64_MAX when none is open). Both run on the server thread.
 */
struct kgrpc_stream_ops {
	int (*next)(void *ctx, uint64_t *gen, uint8_t **frame, size_t *len);
	void (*progress)(void *ctx, uint64_t min_sent, size_t n_streams);
};

struct kgrpc_server;

int kgrpc_server_start(struct kgrpc_server **out, struct kerf_err *err);

/*
 * Serves methods on a new unix socket at path (an existing file there is replaced). ctx is passed to
 * the handlers; it must outlive the server. Returns the listener's id (>= 0) or -1.
 */
int kgrpc_server_listen(struct kgrpc_server *srv, const char *path, const struct kgrpc_method *methods,
			size_t n_methods, const struct kgrpc_stream_ops *ops, void *ctx, struct kerf_err *err);

/* Replaces listener id's socket file with a fresh one (after a kubelet restart removed it). */
int kgrpc_server_relisten(struct kgrpc_server *srv, int id, struct kerf_err *err);

/* Tells the server thread that streams may have something new to send; returns at once. */
void kgrpc_server_kick(struct kgrpc_server *srv);

/* Stops the thread, closes every connection and removes the socket files. NULL is a no-op. */
void kgrpc_server_stop(struct kgrpc_server *srv);

/* Milliseconds on CLOCK_MONOTONIC (shared by the module's deadlines). */
int64_t kgrpc_now_ms(void);

#endif
