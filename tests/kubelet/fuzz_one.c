/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_one.c — see fuzz_one.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deviceplugin_v1beta1.pb-c.h"
#include "fuzz_one.h"
#include "kgrpc.h"
#include "podresources_v1.pb-c.h"

static const ProtobufCMessageDescriptor *const received[] = {
	&v1beta1__allocate_request__descriptor,          &v1beta1__preferred_allocation_request__descriptor,
	&v1beta1__pre_start_container_request__descriptor, &v1beta1__empty__descriptor,
	&v1beta1__register_request__descriptor,          &v1__list_pod_resources_response__descriptor,
	&v1__allocatable_resources_response__descriptor,
};

/* Whether m or a message inside it kept unknown fields. protobuf-c keeps them verbatim, and it accepts
 * a field number 0 written as a two-byte varint (0x80 0x00) that it refuses once re-packed in one byte;
 * such a field is ignored by kerf, so messages carrying unknown fields are exempt from the round trip. */
static bool has_unknown(const ProtobufCMessage *m)
{
	if (m == NULL)
		return false;
	if (m->n_unknown_fields > 0)
		return true;
	for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
		const char *base = (const char *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);

			for (size_t k = 0; k < n; k++)
				if (has_unknown(arr[k]))
					return true;
		} else if (has_unknown(*(ProtobufCMessage *const *)(base + f->offset))) {
			return true;
		}
	}
	return false;
}

int fuzz_one(const uint8_t *data, size_t len)
{
	int accepted = 0;

	for (size_t i = 0; i < sizeof(received) / sizeof(received[0]); i++) {
		ProtobufCMessage *m = NULL, *again = NULL;
		enum kgrpc_code code = KGRPC_OK;
		uint8_t *frame = NULL;
		size_t flen = 0;

		if (kgrpc_frame_decode(data, len, 1u << 16, received[i], &m, &code, NULL) < 0) {
			if (m != NULL || code == KGRPC_OK) {
				fprintf(stderr, "fuzz: %s: refused input left a message or an OK code\n", received[i]->name);
				abort();
			}
			continue;
		}
		accepted++;
		if (kgrpc_frame_encode(m, &frame, &flen, NULL) < 0 ||
		    (kgrpc_frame_decode(frame, flen, 1u << 20, received[i], &again, &code, NULL) < 0 && !has_unknown(m))) {
			fprintf(stderr, "fuzz: %s: an accepted message does not survive re-encoding:", received[i]->name);
			for (size_t k = 0; k < len; k++)
				fprintf(stderr, " %02x", data[k]);
			fprintf(stderr, "\n re-encoded:");
			for (size_t k = 0; k < flen; k++)
				fprintf(stderr, " %02x", frame[k]);
			fprintf(stderr, "\n");
			abort();
		}
		protobuf_c_message_free_unpacked(m, NULL);
		protobuf_c_message_free_unpacked(again, NULL);
		free(frame);
	}
	return accepted;
}
