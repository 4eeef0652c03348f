/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httpd.c — see httpd.h.
 *
 * The listening socket and a pipe are polled together; httpd_stop() writes to the pipe, so the thread wakes
 * at once instead of on the next connection. Request bytes are untrusted: the request line is taken only from
 * a NUL-terminated buffer of bounded size, and nothing but the method and the path (query cut off) is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "httpd.h"

#define REQUEST_MAX 8192
#define REQUEST_DEADLINE_S 2

struct httpd {
	struct httpd_routes routes;
	int fd, port, wake[2];
	pthread_t thread;
	bool running;
};

/* Splits "HOST:PORT" / ":PORT" into host (NULL for any) and port; -1 when it is not that. */
static int split_addr(const char *addr, char *host, size_t cap, char *port, size_t pcap)
{
	const char *colon = strrchr(addr, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) >= pcap)
		return -1;
	hl = (size_t)(colon - addr);
	if (hl >= cap)
		return -1;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* "[::1]:8081" */
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	snprintf(port, pcap, "%s", colon + 1);
	return 0;
}

static int listen_on(const char *addr, int *port_out, struct kerf_err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res, *ai;
	char host[256], port[16];
	int fd = -1, rc, one = 1;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0 || atoi(port) > 65535)
		return kerf_err_set(err, KERF_EINVAL, "listen address \"%s\": expected HOST:PORT or :PORT", addr);
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0)
		return kerf_err_set(err, KERF_EINVAL, "listen address \"%s\": %s", addr, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return kerf_err_set(err, KERF_EIO, "listen on %s: %s", addr, strerror(errno));
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		getsockname(fd, (struct sockaddr *)&ss, &len);
		*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							  : ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return; /* the prober hung up: nothing to do */
		p += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, int code, const char *type, const char *body, bool head)
{
	const char *text = code == 200 ? "OK" : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed"
				: code == 400 ? "Bad Request" : code == 503 ? "Service Unavailable" : "Internal Server Error";
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
			 text, type, strlen(body));

	send_all(fd, hdr, (size_t)n);
	if (!head)
		send_all(fd, body, strlen(body));
}

/* Reads the request head (up to the blank line, or REQUEST_MAX bytes) into buf, NUL-terminated. */
static bool read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);

		if (r <= 0)
			return false;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
			return true;
	}
	return strchr(buf, '\n') != NULL; /* a head too long: the request line is all that is used */
}

static void check(int fd, int (*fn)(void *, char *, size_t), void *arg, bool head)
{
	char why[256] = "", body[300];
	int ok = fn == NULL || fn(arg, why, sizeof(why));

	snprintf(body, sizeof(body), ok ? "ok\n" : "not ok: %s\n", why);
	answer(fd, ok ? 200 : 503, "text/plain; charset=utf-8", body, head);
}

static void serve(struct httpd *h, int fd)
{
	struct timeval tv = {REQUEST_DEADLINE_S, 0};
	char buf[REQUEST_MAX], method[8], path[256];
	bool head;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!read_head(fd, buf, sizeof(buf)) || sscanf(buf, "%7s %255s HTTP/", method, path) != 2) {
		answer(fd, 400, "text/plain; charset=utf-8", "bad request\n", false);
		return;
	}
	path[strcspn(path, "?#")] = '\0';
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		answer(fd, 405, "text/plain; charset=utf-8", "only GET and HEAD\n", false);
	} else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0) {
		check(fd, h->routes.healthz, h->routes.arg, head);
	} else if (strcmp(path, "/readyz") == 0) {
		check(fd, h->routes.readyz, h->routes.arg, head);
	} else if (strcmp(path, "/metrics") == 0 && h->routes.metrics != NULL) {
		char *text = metrics_render(h->routes.metrics);

		if (text == NULL)
			answer(fd, 500, "text/plain; charset=utf-8", "out of memory\n", head);
		else
			answer(fd, 200, "text/plain; version=0.0.4; charset=utf-8", text, head);
		free(text);
	} else {
		answer(fd, 404, "text/plain; charset=utf-8", "not found: /healthz, /readyz, /metrics\n", head);
	}
}

static void *run(void *arg)
{
	struct httpd *h = arg;
	struct pollfd p[2] = {{.fd = h->fd, .events = POLLIN}, {.fd = h->wake[0], .events = POLLIN}};

	for (;;) {
		int c;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if ((c = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		serve(h, c);
		close(c);
	}
	return NULL;
}

struct httpd *httpd_start(const char *addr, const struct httpd_routes *routes, struct kerf_err *err)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		kerf_err_set(err, KERF_ENOMEM, "http listener: out of memory");
		return NULL;
	}
	h->routes = *routes;
	h->wake[0] = h->wake[1] = -1;
	if ((h->fd = listen_on(addr, &h->port, err)) < 0)
		goto fail;
	if (pipe2(h->wake, O_CLOEXEC) < 0) {
		kerf_err_set(err, KERF_EIO, "http listener: pipe: %s", strerror(errno));
		goto fail;
	}
	if ((errno = pthread_create(&h->thread, NULL, run, h)) != 0) {
		kerf_err_set(err, KERF_EIO, "http listener: thread: %s", strerror(errno));
		goto fail;
	}
	h->running = true;
	return h;
fail:
	httpd_stop(h);
	return NULL;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->running) {
		if (write(h->wake[1], "x", 1) < 0) {
			/* the pipe cannot be full or closed here; nothing else would wake the thread */
		}
		pthread_join(h->thread, NULL);
	}
	if (h->fd >= 0)
		close(h->fd);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	free(h);
}
