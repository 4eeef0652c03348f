/* SPDX-License-Identifier: Apache-2.0 */
/*
 * peer.c — process and pipe handling for the Go kubelet stand-in (see peer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

long long peer_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int peer_start(struct peer *p, const char *binary, const char *dir, const char *podres)
{
	int in[2], out[2];

	memset(p, 0, sizeof(*p));
	p->next_tag = 1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl(binary, binary, "-dir", dir, "-podres", podres, (char *)NULL);
		perror(binary);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->log = json_array();
	{
		size_t from = 0;

		if (peer_wait(p, &from, "ready", NULL, NULL) == NULL) {
			peer_stop(p);
			return -1;
		}
	}
	return 0;
}

void peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		if (write(p->in_fd, "{\"op\":\"quit\"}\n", 14) < 0)
			kill(p->pid, SIGTERM);
		close(p->in_fd);
		waitpid(p->pid, NULL, 0);
		close(p->out_fd);
		p->pid = 0;
	}
	json_decref(p->log);
	p->log = NULL;
}

static int vsend(struct peer *p, const char *fmt, va_list ap)
{
	char cmd[8192], line[8300];
	int tag = p->next_tag++;
	int n;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	/* splice the tag in after the opening brace */
	n = snprintf(line, sizeof(line), "{\"tag\":%d,%s\n", tag, cmd + 1);
	if (n <= 0 || (size_t)n >= sizeof(line) || write(p->in_fd, line, (size_t)n) != n)
		return -1;
	return tag;
}

int peer_send(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	int tag;

	va_start(ap, fmt);
	tag = vsend(p, fmt, ap);
	va_end(ap);
	return tag;
}

/* Reads what is available (waiting at most ms), appending complete lines to the log. */
static int pump(struct peer *p, int ms)
{
	struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
	ssize_t n;
	char *nl;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = read(p->out_fd, p->buf + p->buf_len, sizeof(p->buf) - 1 - p->buf_len);
	if (n <= 0)
		return -1;
	p->buf_len += (size_t)n;
	p->buf[p->buf_len] = '\0';
	while ((nl = strchr(p->buf, '\n')) != NULL) {
		json_error_t je;
		json_t *ev;

		*nl = '\0';
		ev = json_loads(p->buf, 0, &je);
		if (ev != NULL)
			json_array_append_new(p->log, ev);
		else
			fprintf(stderr, "peer: unparsable line: %s\n", p->buf);
		p->buf_len -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->buf_len + 1);
	}
	if (p->buf_len == sizeof(p->buf) - 1)
		p->buf_len = 0; /* a line longer than the buffer is dropped */
	return 1;
}

static bool matches(json_t *ev, const char *name, const char *key, const char *value)
{
	const char *e = json_string_value(json_object_get(ev, "ev"));

	if (e == NULL || strcmp(e, name) != 0)
		return false;
	if (key == NULL)
		return true;
	if (json_is_integer(json_object_get(ev, key)))
		return atoll(value) == json_integer_value(json_object_get(ev, key));
	return json_string_value(json_object_get(ev, key)) != NULL &&
	       strcmp(json_string_value(json_object_get(ev, key)), value) == 0;
}

json_t *peer_wait(struct peer *p, size_t *from, const char *ev, const char *key, const char *value)
{
	long long deadline = peer_mono_ns() + (long long)PEER_WAIT_MS * 1000000LL;

	for (;;) {
		for (size_t i = *from; i < json_array_size(p->log); i++)
			if (matches(json_array_get(p->log, i), ev, key, value)) {
				*from = i + 1;
				return json_array_get(p->log, i);
			}
		if (peer_mono_ns() > deadline || pump(p, 100) < 0) {
			fprintf(stderr, "peer: no \"%s\" event%s%s%s%s within %d ms\n", ev, key ? " with " : "",
				key ? key : "", key ? "=" : "", value ? value : "", PEER_WAIT_MS);
			return NULL;
		}
	}
}

json_t *peer_result(struct peer *p, int tag)
{
	char t[16];
	size_t from = 0;

	snprintf(t, sizeof(t), "%d", tag);
	return peer_wait(p, &from, "result", "tag", t);
}

json_t *peer_call(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	int tag;

	va_start(ap, fmt);
	tag = vsend(p, fmt, ap);
	va_end(ap);
	return tag < 0 ? NULL : peer_result(p, tag);
}

size_t peer_events(const struct peer *p)
{
	return json_array_size(p->log);
}

void peer_list_ids(json_t *list_ev, char *out, size_t cap)
{
	json_t *devs = json_object_get(list_ev, "devices");
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < json_array_size(devs) && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "",
				      json_string_value(json_object_get(json_array_get(devs, i), "id")));
}
