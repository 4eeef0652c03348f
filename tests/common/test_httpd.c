/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_httpd.c — the probe and metrics listener over a real TCP connection on 127.0.0.1: the answers to
 * /healthz, /readyz (200 or 503 with the reason, as the daemon's check says at that moment), /metrics, an
 * unknown path, a method other than GET and HEAD, and a request that never ends (the deadline frees the
 * listener for the next one).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd.h"

static bool ready;

static int readyz(void *arg, char *why, size_t cap)
{
	(void)arg;
	if (!ready)
		snprintf(why, cap, "the caches have not synced");
	return ready;
}

static int dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The whole answer to request (sent as is). */
static void ask(int port, const char *request, char *out, size_t cap)
{
	int fd = dial(port);
	size_t len = 0;
	ssize_t r;

	assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	while (len + 1 < cap && (r = recv(fd, out + len, cap - 1 - len, 0)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(fd);
}

static void test_probes_metrics_and_errors(void **state)
{
	struct metrics *m = metrics_new();
	struct httpd_routes routes = {.readyz = readyz, .metrics = m};
	struct kerf_err err;
	struct httpd *h;
	char got[8192];
	int stuck;

	(void)state;
	metric_add(metrics_counter(m, "kerf_rounds_total", "Rounds.", NULL), 3);
	h = httpd_start("127.0.0.1:0", &routes, &err);
	assert_non_null(h);
	assert_true(httpd_port(h) > 0);

	ask(httpd_port(h), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(got, "\r\n\r\nok\n"));

	ready = false;
	ask(httpd_port(h), "GET /readyz HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
	assert_non_null(strstr(got, "not ok: the caches have not synced\n"));
	ready = true;
	ask(httpd_port(h), "GET /readyz?verbose HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);

	ask(httpd_port(h), "GET /metrics HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_non_null(strstr(got, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(got, "\nkerf_rounds_total 3\n"));
	ask(httpd_port(h), "HEAD /metrics HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_null(strstr(got, "kerf_rounds_total")); /* HEAD: headers only */

	ask(httpd_port(h), "GET /nope HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 404 ", 13) == 0);
	ask(httpd_port(h), "POST /metrics HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 405 ", 13) == 0);
	ask(httpd_port(h), "garbage\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 400 ", 13) == 0);

	stuck = dial(httpd_port(h)); /* sends nothing: the listener gives up on it after its deadline */
	ask(httpd_port(h), "GET /healthz HTTP/1.1\r\n\r\n", got, sizeof(got));
	assert_true(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	close(stuck);

	httpd_stop(h);
	assert_null(httpd_start("127.0.0.1", &routes, &err));
	assert_non_null(strstr(err.msg, "expected HOST:PORT"));
	assert_null(httpd_start("127.0.0.1:99999", &routes, &err));
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probes_metrics_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
