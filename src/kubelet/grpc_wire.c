/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc_wire.c — gRPC message framing: the 5-byte prefix around one protobuf message.
 *
 * Kept free of I/O so that the fuzz test can drive kgrpc_frame_decode with arbitrary bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "kgrpc.h"

int64_t kgrpc_now_ms(void)
{
	return kerf_mono_ms();
}

int kgrpc_frame_encode(const ProtobufCMessage *msg, uint8_t **buf, size_t *len, struct kerf_err *err)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *b;

	if (n > UINT32_MAX)
		return kerf_err_set(err, KERF_EINVAL, "%s: message of %zu bytes does not fit a gRPC frame",
				    msg->descriptor->name, n);
	b = malloc(KGRPC_HDR_LEN + n);
	if (b == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for a %zu-byte message", n);
	b[0] = 0; /* never compressed */
	b[1] = (uint8_t)(n >> 24);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	if (protobuf_c_message_pack(msg, b + KGRPC_HDR_LEN) != n) {
		free(b);
		return kerf_err_set(err, KERF_EINTERNAL, "%s: packed size changed while packing", msg->descriptor->name);
	}
	*buf = b;
	*len = KGRPC_HDR_LEN + n;
	return 0;
}

static int fail(enum kgrpc_code *code, enum kgrpc_code c, struct kerf_err *err, enum kerf_errcode kc, const char *what,
		size_t a, size_t b)
{
	*code = c;
	return kerf_err_set(err, kc, what, a, b);
}

int kgrpc_frame_decode(const uint8_t *buf, size_t len, size_t max_msg, const ProtobufCMessageDescriptor *desc,
		       ProtobufCMessage **out, enum kgrpc_code *code, struct kerf_err *err)
{
	uint32_t n;
	enum kgrpc_code dummy;

	if (code == NULL)
		code = &dummy;
	*out = NULL;
	*code = KGRPC_OK;
	if (len < KGRPC_HDR_LEN)
		return fail(code, KGRPC_INTERNAL, err, KERF_EINVAL,
			    "message frame: %zu bytes is shorter than the %zu-byte prefix", len, KGRPC_HDR_LEN);
	if (buf[0] != 0) {
		*code = buf[0] == 1 ? KGRPC_UNIMPLEMENTED : KGRPC_INTERNAL;
		return kerf_err_set(err, KERF_EINVAL, "message frame: flag byte %u (only uncompressed messages are accepted)",
				    buf[0]);
	}
	n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if (n > max_msg)
		return fail(code, KGRPC_RESOURCE_EXHAUSTED, err, KERF_EINVAL,
			    "message frame: %zu bytes exceeds the limit of %zu", (size_t)n, max_msg);
	if ((size_t)n != len - KGRPC_HDR_LEN)
		return fail(code, KGRPC_INTERNAL, err, KERF_EINVAL,
			    "message frame: prefix says %zu bytes but %zu follow (exactly one message expected)",
			    (size_t)n, len - KGRPC_HDR_LEN);
	*out = protobuf_c_message_unpack(desc, NULL, n, buf + KGRPC_HDR_LEN);
	if (*out == NULL) {
		*code = KGRPC_INTERNAL;
		return kerf_err_set(err, KERF_EINVAL, "message frame: %u bytes are not a valid %s", n, desc->name);
	}
	return 0;
}

void kgrpc_reply_status(struct kgrpc_reply *reply, enum kgrpc_code code, const char *fmt, ...)
{
	va_list ap;

	reply->code = code;
	va_start(ap, fmt);
	vsnprintf(reply->msg, sizeof(reply->msg), fmt, ap);
	va_end(ap);
	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
}

void kgrpc_reply_pack(struct kgrpc_reply *reply, const ProtobufCMessage *msg)
{
	struct kerf_err err;

	free(reply->body);
	reply->body = NULL;
	if (kgrpc_frame_encode(msg, &reply->body, &reply->len, &err) < 0) {
		kgrpc_reply_status(reply, KGRPC_INTERNAL, "%s", err.msg);
		return;
	}
	reply->code = KGRPC_OK;
	reply->msg[0] = '\0';
}
