/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_auth.c — what a kubeconfig asks of the connection, against the real kube-apiserver: a real exec
 * credential plugin (tests/kube/exec-plugin.sh, a shell script printing an ExecCredential), run again
 * after its credential expires and after the server refuses it; a failing plugin named in the error;
 * auth-provider refused; client certificate files re-read when rotated; tls-server-name as the name the
 * certificate is checked against; proxy-url through a CONNECT proxy this test runs; Retry-After on 429 from
 * a small TLS server this test runs (kube-apiserver cannot be made to answer 429 on cue).
 *
 * Each test fails without its feature: without exec support the client goes out anonymous (403 on the
 * namespace list), without the expiry or 401 handling the run counter stays at 1 (or the list fails with
 * 401), without the re-read the server still sees the old certificate's user, without tls-server-name the
 * wrong name is not refused, without proxy-url the proxy sees nothing, without Retry-After the 429 is the
 * answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "live.h"

#ifndef KERF_EXEC_PLUGIN
#error "KERF_EXEC_PLUGIN (the path of tests/kube/exec-plugin.sh) must be defined by the build"
#endif

static long long kube_now_ms_for_tests(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char dir[512];    /* this run's files: kubeconfigs, the plugin's counter and info */
static char server[256]; /* the test apiserver, from the control plane's kubeconfig */

static int setup(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	char kc[1024];
	(void)state;
	snprintf(kc, sizeof(kc), "%s/kubeconfig", live_dir());
	if (kube_config_load(kc, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	snprintf(server, sizeof(server), "%s", cfg.server);
	kube_config_free(&cfg);
	snprintf(dir, sizeof(dir), "%s/auth-%d", live_dir(), (int)getpid());
	mkdir(dir, 0755);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A kubeconfig for the test apiserver with the given cluster extras and user body; returns its path. */
static const char *kubeconfig(const char *name, const char *cluster_extra, const char *user)
{
	static char path[700];
	char text[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
		 "contexts:\n- name: t\n  context: {cluster: c, user: u}\n"
		 "clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority: %s/pki/ca.crt\n%s"
		 "users:\n- name: u\n  user:\n%s",
		 server, live_dir(), cluster_extra, user);
	write_text(path, text);
	return path;
}

/* The exec user: the test plugin in mode, with a counter file and an expiry (ttl "" for none). */
static const char *exec_user(const char *api, const char *mode, const char *ttl, const char *counter)
{
	static char text[2048];
	snprintf(text, sizeof(text),
		 "    exec:\n      apiVersion: %s\n      command: %s\n      args: [%s]\n"
		 "      interactiveMode: IfAvailable\n      provideClusterInfo: true\n"
		 "      installHint: it is tests/kube/exec-plugin.sh\n"
		 "      env:\n      - {name: PLUGIN_PKI, value: %s/pki}\n      - {name: PLUGIN_MODE, value: %s}\n"
		 "      - {name: PLUGIN_COUNTER, value: %s}\n      - {name: PLUGIN_TTL, value: '%s'}\n"
		 "      - {name: PLUGIN_INFO, value: %s/info}\n",
		 api, KERF_EXEC_PLUGIN, api, live_dir(), mode, counter, ttl, dir);
	return text;
}

static int runs(const char *counter)
{
	FILE *f = fopen(counter, "r");
	int n = 0, ch;
	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static struct kube_client *client_for(const char *kc_path)
{
	struct kube_config cfg;
	struct kube_client *c;
	struct kerf_err err;
	if (kube_config_load(kc_path, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	c = kube_client_new(&cfg, 10000, &err);
	kube_config_free(&cfg);
	if (!c)
		fail_msg("%s", err.msg);
	return c;
}

/* Listing namespaces needs a cluster-wide right: anonymous gets 403, the admin certificate and the token
 * user (cluster-admin through RBAC) get the list. */
static json_t *list_namespaces(struct kube_client *c, struct kerf_err *err)
{
	return kube_request(c, "GET", "/api/v1/namespaces", NULL, NULL, err);
}

static void list_ok(struct kube_client *c)
{
	struct kerf_err err;
	json_t *out = list_namespaces(c, &err);
	if (!out)
		fail_msg("%s", err.msg);
	assert_true(json_array_size(json_object_get(out, "items")) > 0);
	json_decref(out);
}

static char *read_all(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---------------------------------------------------------------- exec plugins */

static void test_exec_plugin_client_certificate_lists_namespaces(void **state)
{
	char counter[700], want[400];
	struct kube_client *c;
	const char *info;
	(void)state;
	snprintf(counter, sizeof(counter), "%s/cert.count", dir);
	c = client_for(kubeconfig("cert", "", exec_user("client.authentication.k8s.io/v1", "cert", "", counter)));
	assert_int_equal(runs(counter), 0); /* run when a request needs it, not before */
	list_ok(c);
	list_ok(c);
	assert_int_equal(runs(counter), 1); /* no expiry: cached for the client's life */
	info = read_all(strcat(strcpy(want, dir), "/info"));
	assert_non_null(strstr(info, "\"interactive\":false"));
	snprintf(want, sizeof(want), "\"server\":\"%s\"", server);
	assert_non_null(strstr(info, want)); /* provideClusterInfo */
	assert_non_null(strstr(info, "\"certificate-authority-data\":\"LS0t"));
	assert_non_null(strstr(info, "stdin: not a terminal"));
	kube_client_free(c);
}

static void test_exec_plugin_runs_again_after_its_credential_expires(void **state)
{
	char counter[700];
	struct kube_client *c;
	(void)state;
	snprintf(counter, sizeof(counter), "%s/ttl.count", dir);
	/* v1beta1 this time; the token user; expiry 4 s ahead (RFC 3339 has whole seconds: 3 to 4 s of life). */
	c = client_for(kubeconfig("ttl", "", exec_user("client.authentication.k8s.io/v1beta1", "token", "4", counter)));
	list_ok(c);
	list_ok(c);
	assert_int_equal(runs(counter), 1);
	live_sleep_ms(4200);
	list_ok(c);
	assert_int_equal(runs(counter), 2);
	list_ok(c);
	assert_int_equal(runs(counter), 2);
	kube_client_free(c);
}

static void test_exec_plugin_runs_again_once_after_a_401(void **state)
{
	char counter[700];
	struct kube_client *c;
	(void)state;
	snprintf(counter, sizeof(counter), "%s/401.count", dir);
	/* The first run prints a token the server does not know (as a revoked one): 401, run again, retried. */
	c = client_for(kubeconfig("401", "", exec_user("client.authentication.k8s.io/v1", "bad-first", "", counter)));
	list_ok(c);
	assert_int_equal(runs(counter), 2);
	list_ok(c);
	assert_int_equal(runs(counter), 2);
	kube_client_free(c);
}

static void test_failing_exec_plugin_is_named_with_its_status_and_stderr(void **state)
{
	char counter[700];
	struct kube_client *c;
	struct kerf_err err;
	(void)state;
	snprintf(counter, sizeof(counter), "%s/fail.count", dir);
	c = client_for(kubeconfig("fail", "", exec_user("client.authentication.k8s.io/v1", "fail", "", counter)));
	assert_null(list_namespaces(c, &err));
	assert_non_null(strstr(err.msg, "users[0].user.exec: plugin \"" KERF_EXEC_PLUGIN "\""));
	assert_non_null(strstr(err.msg, "exit status 3: error: the token service at https://sso.example is unreachable"));
	assert_null(strstr(err.msg, "second line"));
	/* Not cached: the next request tries again. */
	assert_null(list_namespaces(c, &err));
	assert_int_equal(runs(counter), 2);
	kube_client_free(c);
}

static void test_plugin_that_is_not_installed_shows_the_install_hint(void **state)
{
	struct kube_client *c;
	struct kerf_err err;
	(void)state;
	c = client_for(kubeconfig("missing", "",
				  "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
				  "      command: kerf-test-no-such-auth-plugin\n      interactiveMode: Never\n"
				  "      installHint: 'install it: apt install kerf-test-no-such-auth-plugin'\n"));
	assert_null(list_namespaces(c, &err));
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "plugin \"kerf-test-no-such-auth-plugin\": not found: install it: apt install"));
	kube_client_free(c);
}

static void test_auth_provider_is_refused_instead_of_going_anonymous(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	const char *p = kubeconfig("ap", "", "    auth-provider:\n      name: gcp\n      config: {cmd-path: gcloud}\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), -1);
	assert_int_equal(err.code, KERF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "users[0].user.auth-provider: \"gcp\" is not supported"));
	assert_non_null(strstr(err.msg, "gke-gcloud-auth-plugin"));
}

/* ---------------------------------------------------------------- client certificate files */

/* Who the server takes this client for (SelfSubjectReview). */
static char *whoami(struct kube_client *c)
{
	static char name[200];
	struct kerf_err err;
	json_t *body = json_pack("{s:s, s:s}", "apiVersion", "authentication.k8s.io/v1", "kind", "SelfSubjectReview");
	json_t *out = kube_request(c, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body, NULL, &err);
	json_decref(body);
	if (!out)
		fail_msg("%s", err.msg);
	snprintf(name, sizeof(name), "%s",
		 json_string_value(json_object_get(json_object_get(json_object_get(out, "status"), "userInfo"), "username")));
	json_decref(out);
	return name;
}

static void copy_file(const char *from, const char *to)
{
	char cmd[2000];
	/* A new file renamed over the old one, as cert-manager and the kubelet write them. */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.new' && mv '%s.new' '%s'", from, to, to, to);
	assert_int_equal(system(cmd), 0);
}

static void test_client_certificate_files_are_reread_when_they_change(void **state)
{
	char crt[700], key[700], from[700], user[1600];
	struct kube_client *c;
	(void)state;
	snprintf(crt, sizeof(crt), "%s/rot.crt", dir);
	snprintf(key, sizeof(key), "%s/rot.key", dir);
	snprintf(from, sizeof(from), "%s/pki/scheduler.crt", live_dir());
	copy_file(from, crt);
	snprintf(from, sizeof(from), "%s/pki/scheduler.key", live_dir());
	copy_file(from, key);
	snprintf(user, sizeof(user), "    client-certificate: rot.crt\n    client-key: rot.key\n");
	c = client_for(kubeconfig("rot", "", user));
	assert_string_equal(whoami(c), "system:kube-scheduler");
	snprintf(from, sizeof(from), "%s/pki/admin.crt", live_dir());
	copy_file(from, crt);
	snprintf(from, sizeof(from), "%s/pki/admin.key", live_dir());
	copy_file(from, key);
	assert_string_equal(whoami(c), "kerf-admin"); /* the same client, the rotated certificate */
	kube_client_free(c);
}

/* ---------------------------------------------------------------- tls-server-name */

static void test_tls_server_name_is_the_name_the_certificate_is_checked_against(void **state)
{
	char counter[700];
	struct kube_client *c;
	struct kerf_err err;
	(void)state;
	snprintf(counter, sizeof(counter), "%s/tls.count", dir);
	/* The serving certificate names 127.0.0.1, localhost and kubernetes.default.svc. */
	c = client_for(kubeconfig("sni-good", "    tls-server-name: kubernetes.default.svc\n",
				  exec_user("client.authentication.k8s.io/v1", "cert", "", counter)));
	list_ok(c);
	kube_client_free(c);
	/* A name the certificate does not carry is refused, though the URL's 127.0.0.1 would pass. */
	c = client_for(kubeconfig("sni-bad", "    tls-server-name: not-the-apiserver.example\n",
				  exec_user("client.authentication.k8s.io/v1", "cert", "", counter)));
	assert_null(list_namespaces(c, &err));
	assert_int_equal(err.code, KERF_EIO);
	assert_non_null(strstr(err.msg, "SSL"));
	kube_client_free(c);
}

/* ---------------------------------------------------------------- proxy-url */

/* A CONNECT proxy on loopback, one tunnel at a time, counting the tunnels and keeping the last target. */
struct proxy {
	int lfd, port;
	volatile int stop;
	int tunnels;
	char target[256];
	pthread_t th;
};

static void relay(int a, int b, volatile int *stop)
{
	char buf[16384];
	while (!*stop) {
		struct pollfd pf[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		if (poll(pf, 2, 200) < 0)
			return;
		for (int i = 0; i < 2; i++) {
			if (!pf[i].revents)
				continue;
			ssize_t n = read(pf[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(i ? a : b, buf, (size_t)n) != n)
				return;
		}
	}
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	while (!p->stop) {
		struct pollfd pf = {.fd = p->lfd, .events = POLLIN};
		char req[2048] = "", host[200];
		size_t got = 0;
		int port, cfd, sfd;
		struct sockaddr_in to = {.sin_family = AF_INET};
		if (poll(&pf, 1, 200) <= 0)
			continue;
		if ((cfd = accept(p->lfd, NULL, NULL)) < 0)
			continue;
		while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t n = read(cfd, req + got, sizeof(req) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			req[got] = '\0';
		}
		if (sscanf(req, "CONNECT %199[^:]:%d ", host, &port) != 2 || inet_pton(AF_INET, host, &to.sin_addr) != 1) {
			close(cfd);
			continue;
		}
		to.sin_port = htons((uint16_t)port);
		sfd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(sfd, (struct sockaddr *)&to, sizeof(to)) != 0) {
			close(sfd);
			close(cfd);
			continue;
		}
		p->tunnels++;
		snprintf(p->target, sizeof(p->target), "%s:%d", host, port);
		if (write(cfd, "HTTP/1.1 200 Connection established\r\n\r\n", 39) == 39)
			relay(cfd, sfd, &p->stop);
		close(sfd);
		close(cfd);
	}
	return NULL;
}

static void proxy_start(struct proxy *p)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	memset(p, 0, sizeof(*p));
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(p->lfd, 8), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &len), 0);
	p->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&p->th, NULL, proxy_main, p), 0);
}

static void proxy_stop(struct proxy *p)
{
	p->stop = 1;
	pthread_join(p->th, NULL);
	close(p->lfd);
}

static void test_proxy_url_carries_the_requests(void **state)
{
	char counter[700], extra[200], want[300];
	struct kube_client *c;
	struct proxy p;
	(void)state;
	proxy_start(&p);
	snprintf(counter, sizeof(counter), "%s/proxy.count", dir);
	snprintf(extra, sizeof(extra), "    proxy-url: http://127.0.0.1:%d\n", p.port);
	c = client_for(kubeconfig("proxy", extra, exec_user("client.authentication.k8s.io/v1", "cert", "", counter)));
	list_ok(c);
	kube_client_free(c); /* closes the tunnel */
	proxy_stop(&p);
	assert_int_equal(p.tunnels, 1);
	snprintf(want, sizeof(want), "https://%s", p.target);
	assert_string_equal(want, server); /* the tunnel went to the apiserver's own address */
}

/* ---------------------------------------------------------------- Retry-After */

/*
 * An HTTPS server on loopback with the test control plane's serving certificate: answers the first
 * `throttle` requests with 429 and "Retry-After: <retry_after>", then 200 with a JSON body. HTTP/1.1 with
 * keep-alive (curl reuses the connection), one connection at a time.
 */
struct throttler {
	int lfd, port, throttle, requests;
	const char *retry_after;
	volatile int stop;
	SSL_CTX *ctx;
	pthread_t th;
};

static void *throttler_main(void *arg)
{
	struct throttler *t = arg;
	while (!t->stop) {
		struct pollfd pf = {.fd = t->lfd, .events = POLLIN};
		SSL *ssl;
		int cfd;
		if (poll(&pf, 1, 200) <= 0 || (cfd = accept(t->lfd, NULL, NULL)) < 0)
			continue;
		ssl = SSL_new(t->ctx);
		SSL_set_fd(ssl, cfd);
		if (SSL_accept(ssl) == 1) {
			for (;;) {
				char req[8192] = "", resp[512];
				int got = 0, n;
				while (got < (int)sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
					if ((n = SSL_read(ssl, req + got, (int)sizeof(req) - 1 - got)) <= 0)
						break;
					got += n;
					req[got] = '\0';
				}
				if (!strstr(req, "\r\n\r\n"))
					break;
				if (t->requests++ < t->throttle)
					n = snprintf(resp, sizeof(resp),
						     "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Type: "
						     "application/json\r\nContent-Length: 74\r\n\r\n{\"kind\":\"Status\",\"reason\":"
						     "\"TooManyRequests\",\"message\":\"too many requests\"}",
						     t->retry_after);
				else
					n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
									 "Content-Length: 11\r\n\r\n{\"ok\":true}");
				if (SSL_write(ssl, resp, n) != n)
					break;
			}
		}
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(cfd);
	}
	return NULL;
}

static void throttler_start(struct throttler *t, int throttle, const char *retry_after)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char crt[600], key[600];
	memset(t, 0, sizeof(*t));
	t->throttle = throttle;
	t->retry_after = retry_after;
	snprintf(crt, sizeof(crt), "%s/pki/apiserver.crt", live_dir());
	snprintf(key, sizeof(key), "%s/pki/apiserver.key", live_dir());
	t->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(t->ctx);
	assert_int_equal(SSL_CTX_use_certificate_file(t->ctx, crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM), 1);
	t->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(t->lfd, 8), 0);
	assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&a, &len), 0);
	t->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&t->th, NULL, throttler_main, t), 0);
}

static void throttler_stop(struct throttler *t)
{
	t->stop = 1;
	pthread_join(t->th, NULL);
	close(t->lfd);
	SSL_CTX_free(t->ctx);
}

static struct kube_client *throttled_client(const struct throttler *t, long timeout_ms)
{
	struct kube_config cfg;
	struct kube_client *c;
	struct kerf_err err;
	char path[700], text[1200];
	snprintf(path, sizeof(path), "%s/throttled", dir);
	snprintf(text, sizeof(text),
		 "current-context: t\ncontexts:\n- name: t\n  context: {cluster: c}\n"
		 "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:%d\n"
		 "    certificate-authority: %s/pki/ca.crt\n",
		 t->port, live_dir());
	write_text(path, text);
	if (kube_config_load(path, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	c = kube_client_new(&cfg, timeout_ms, &err);
	kube_config_free(&cfg);
	assert_non_null(c);
	return c;
}

static void test_429_is_retried_after_the_time_retry_after_gives(void **state)
{
	struct throttler t;
	struct kube_client *c;
	struct kerf_err err;
	long long t0;
	json_t *out;
	(void)state;
	throttler_start(&t, 2, "1");
	c = throttled_client(&t, 20000);
	t0 = kube_now_ms_for_tests();
	out = kube_request(c, "GET", "/api/v1/namespaces", NULL, NULL, &err);
	if (!out)
		fail_msg("%s", err.msg);
	assert_true(json_is_true(json_object_get(out, "ok")));
	json_decref(out);
	assert_int_equal(t.requests, 3);                     /* two 429s, then the answer */
	assert_true(kube_now_ms_for_tests() - t0 >= 1900); /* waited 1 s each time */
	kube_client_free(c);
	throttler_stop(&t);
}

static void test_429_whose_wait_would_pass_the_timeout_is_returned_at_once(void **state)
{
	struct throttler t;
	struct kube_client *c;
	struct kerf_err err;
	long long t0;
	(void)state;
	throttler_start(&t, 100, "3600");
	c = throttled_client(&t, 3000);
	t0 = kube_now_ms_for_tests();
	assert_null(kube_request(c, "GET", "/api/v1/namespaces", NULL, NULL, &err));
	assert_int_equal(kube_err_http_status(&err), 429);
	assert_int_equal(err.code, KERF_EBUSY);
	assert_int_equal(t.requests, 1);
	assert_true(kube_now_ms_for_tests() - t0 < 2000);
	kube_client_free(c);
	throttler_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_plugin_client_certificate_lists_namespaces),
		cmocka_unit_test(test_exec_plugin_runs_again_after_its_credential_expires),
		cmocka_unit_test(test_exec_plugin_runs_again_once_after_a_401),
		cmocka_unit_test(test_failing_exec_plugin_is_named_with_its_status_and_stderr),
		cmocka_unit_test(test_plugin_that_is_not_installed_shows_the_install_hint),
		cmocka_unit_test(test_auth_provider_is_refused_instead_of_going_anonymous),
		cmocka_unit_test(test_client_certificate_files_are_reread_when_they_change),
		cmocka_unit_test(test_tls_server_name_is_the_name_the_certificate_is_checked_against),
		cmocka_unit_test(test_proxy_url_carries_the_requests),
		cmocka_unit_test(test_429_is_retried_after_the_time_retry_after_gives),
		cmocka_unit_test(test_429_whose_wait_would_pass_the_timeout_is_returned_at_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
