/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.c — filling struct kerf_err. See err.h for the convention.
 *
 * Messages are truncated, never overflowed: vsnprintf bounds every write, and vjoin() builds the new
 * text in a scratch buffer first because the old message is one of its own inputs.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kerf_err_set(struct kerf_err *err, enum kerf_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	err->http_status = 0;
	err->reason[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Formats the context from fmt/ap and puts it before err's message, joined by sep (or by the separator a
 * path needs when sep is NULL: nothing before "[3]", a dot before a field name). */
static void vjoin(struct kerf_err *err, const char *sep, const char *fmt, va_list ap)
{
	char ctx[KERF_ERR_MSG_MAX];
	char joined[KERF_ERR_MSG_MAX];

	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	if (sep == NULL)
		sep = err->msg[0] == '[' ? "" : ".";
	snprintf(joined, sizeof(joined), "%s%s%s", ctx, sep, err->msg);
	memcpy(err->msg, joined, sizeof(err->msg));
}

int kerf_err_prefix(struct kerf_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vjoin(err, ": ", fmt, ap);
	va_end(ap);
	return -1;
}

int kerf_err_path(struct kerf_err *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vjoin(err, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

void kerf_err_http(struct kerf_err *err, int status, const char *reason)
{
	if (err == NULL)
		return;
	err->http_status = status;
	snprintf(err->reason, sizeof(err->reason), "%s", reason ? reason : "");
}

void kerf_err_clear(struct kerf_err *err)
{
	if (err == NULL)
		return;
	err->code = KERF_OK;
	err->http_status = 0;
	err->reason[0] = '\0';
	err->msg[0] = '\0';
}
