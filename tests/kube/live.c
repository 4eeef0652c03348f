/* SPDX-License-Identifier: Apache-2.0 */
/* live.c — see live.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "live.h"

const char *live_dir(void)
{
	const char *d = getenv("KERF_CP_DIR");
	if (!d || !*d)
		fail_msg("KERF_CP_DIR is not set: run through CTest (the kube_cp fixture starts the control plane)");
	return d;
}

int live_setup(void **state)
{
	static int counter;
	struct live *l = calloc(1, sizeof(*l));
	struct kube_config cfg;
	struct kerf_err err;
	char path[1024];
	json_t *ns, *out;

	snprintf(path, sizeof(path), "%s/kubeconfig", live_dir());
	if (kube_config_load(path, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	l->c = kube_client_new(&cfg, 20000, &err);
	kube_config_free(&cfg);
	if (!l->c)
		fail_msg("%s", err.msg);
	snprintf(l->ns, sizeof(l->ns), "kerf-t%d-%d-%ld", (int)getpid(), counter++, (long)time(NULL) % 100000);
	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", l->ns);
	out = kube_request(l->c, "POST", "/api/v1/namespaces", ns, NULL, &err);
	json_decref(ns);
	if (!out)
		fail_msg("%s", err.msg);
	json_decref(out);
	*state = l;
	return 0;
}

int live_teardown(void **state)
{
	struct live *l = *state;
	char path[256];
	struct kerf_err err;
	json_t *out;

	/* No namespace controller runs in the test control plane, so the namespace stays Terminating; its
	 * objects go with the control plane's state folder. */
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s", l->ns);
	out = kube_request(l->c, "DELETE", path, NULL, NULL, &err);
	json_decref(out);
	kube_client_free(l->c);
	free(l);
	return 0;
}

void live_ctl(const char *cmd)
{
	char line[2048];
	const char *ctl = getenv("KERF_CP_CTL");
	if (!ctl)
		fail_msg("KERF_CP_CTL is not set");
	snprintf(line, sizeof(line), "'%s' '%s' %s >&2", ctl, live_dir(), cmd);
	if (system(line) != 0)
		fail_msg("%s failed", line);
}

json_t *live_configmap(const char *name, const char *label, const char *value)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
			 "name", name, "labels", "app", label, "data", "v", value);
}

void live_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A port free on 127.0.0.1 now (the kernel's pick; the daemon binds it a moment later). */
int live_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fail_msg("no free port on 127.0.0.1");
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* GET http://127.0.0.1:port/path: the status code (0: no answer), the body into out. */
int live_http_get(int port, const char *path, char *out, size_t cap)
{
	char cmd[256];
	size_t len = 0, n;
	int code = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "curl -s --max-time 5 -w '\\n%%{http_code}' http://127.0.0.1:%d%s", port, path);
	if ((p = popen(cmd, "r")) == NULL)
		fail_msg("curl: cannot run");
	while (len + 1 < cap && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	pclose(p);
	if (len > 0) {
		char *nl = strrchr(out, '\n');

		code = atoi(nl != NULL ? nl + 1 : out);
		if (nl != NULL)
			*nl = '\0';
	}
	return code;
}
