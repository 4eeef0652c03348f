/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_config.c — kubeconfig and in-cluster configuration, as a specification (no server needed).
 *
 * Each malformed field must be named by its path in the error, since that is what a person fixes. Also:
 * $KUBECONFIG lists merged as kubectl merges them, the default order (explicit, $KUBECONFIG, in-cluster,
 * ~/.kube/config), exec credential plugins (their kubeconfig fields, what they print, and running one
 * that fails, is missing or hangs), auth-provider refused, tls-server-name and proxy-url.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube.h"
#include "kube_exec.h"

/* "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" and a key, base64-encoded. */
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCkFBQUEKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
/* The same PEMs as JSON string contents. */
#define CERT_PEM_JSON "-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n"
#define KEY_PEM_JSON "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kerf-kube-config-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (strchr(name, '/')) { /* one level of folder */
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/%.*s", tmpdir, (int)(strrchr(name, '/') - name), name);
		mkdir(dir, 0755);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* A kubeconfig with two contexts; cluster and user bodies are substituted. */
static const char *kubeconfig(const char *cluster_body, const char *user_body)
{
	static char text[4096];
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
		 "contexts:\n"
		 "- name: main\n  context: {cluster: c1, user: u1, namespace: team}\n"
		 "- name: other\n  context: {cluster: c1, user: u2}\n"
		 "clusters:\n- name: c1\n  cluster:\n%s\n"
		 "users:\n- name: u1\n  user:\n%s\n- name: u2\n  user:\n    token: other-token\n",
		 cluster_body, user_body);
	return write_file("config", text);
}

static void test_current_context_with_inline_data_and_token(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	const char *p = kubeconfig("    server: https://10.0.0.1:6443/\n    certificate-authority-data: " CERT_B64,
				   "    token: abc\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://10.0.0.1:6443");
	assert_string_equal(cfg.ca_pem, CERT_PEM);
	assert_string_equal(cfg.token, "abc");
	assert_string_equal(cfg.namespace_, "team");
	assert_null(cfg.cert_pem);
	kube_config_free(&cfg);
}

static void test_named_context_selects_its_user_and_defaults_namespace(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	const char *p = kubeconfig("    server: https://h:1\n", "    token: abc\n");
	assert_int_equal(kube_config_load(p, "other", &cfg, &err), 0);
	assert_string_equal(cfg.token, "other-token");
	assert_string_equal(cfg.namespace_, "default");
	kube_config_free(&cfg);
}

static void test_relative_files_are_read_from_the_kubeconfig_folder(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	write_file("ca.crt", CERT_PEM);
	write_file("client.crt", CERT_PEM);
	write_file("client.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	write_file("tok", "from-file\n");
	const char *p = kubeconfig("    server: https://h:1\n    certificate-authority: ca.crt",
				   "    client-certificate: client.crt\n    client-key: client.key\n    tokenFile: tok\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), 0);
	assert_string_equal(cfg.ca_pem, CERT_PEM);
	assert_non_null(strstr(cfg.key_pem, "PRIVATE KEY"));
	assert_non_null(strstr(cfg.token_file, "/tok"));
	kube_config_free(&cfg);
}

/* Each bad kubeconfig and the field path its error must name. */
static void test_each_malformed_field_is_named(void **state)
{
	static const struct {
		const char *cluster, *user, *context, *want;
	} cases[] = {
		{"    insecure-skip-tls-verify: true", "    token: a", NULL, "clusters[0].cluster.server: missing"},
		{"    server: http://h:1", "    token: a", NULL, "clusters[0].cluster.server: \"http://h:1\" is not an https"},
		{"    server: [a, b]", "    token: a", NULL, "clusters[0].cluster.server: must be a string"},
		{"    server: https://h:1\n    certificate-authority-data: '%%%'", "    token: a", NULL,
		 "clusters[0].cluster.certificate-authority-data: not valid base64"},
		{"    server: https://h:1\n    certificate-authority-data: aGVsbG8=", "    token: a", NULL,
		 "clusters[0].cluster.certificate-authority-data: decodes to something that is not a PEM"},
		{"    server: https://h:1\n    certificate-authority: /nonexistent/ca.crt", "    token: a", NULL,
		 "clusters[0].cluster.certificate-authority: /nonexistent/ca.crt"},
		{"    server: https://h:1", "    client-certificate-data: " CERT_B64, NULL,
		 "users[0].user.client-key: missing"},
		{"    server: https://h:1", "    client-certificate-data: " CERT_B64 "\n    client-key-data: " CERT_B64, NULL,
		 "users[0].user.client-key-data: decodes to something that is not a PEM PRIVATE KEY"},
		{"    server: https://h:1", "    client-key-data: " KEY_B64 "\n    client-certificate-data: '***'", NULL,
		 "users[0].user.client-certificate-data: not valid base64"},
		{"    server: https://h:1", "    tokenFile: /nonexistent/token", NULL, "users[0].user.tokenFile: /nonexistent"},
		{"    server: https://h:1", "    token: a", "nosuch", "contexts: no entry named \"nosuch\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_config cfg;
		struct kerf_err err = {0};
		const char *p = kubeconfig(cases[i].cluster, cases[i].user);
		int rc = kube_config_load(p, cases[i].context, &cfg, &err);
		if (rc == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: want \"%s\" in the error, got rc=%d \"%s\"", i, cases[i].want, rc, err.msg);
		assert_non_null(strstr(err.msg, p)); /* and the file */
	}
}

static void test_structural_errors_are_named(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"apiVersion: v1\nclusters: []\n", "current-context: missing"},
		{"current-context: a\ncontexts: {}\n", "contexts: missing or not a list"},
		{"current-context: a\ncontexts:\n- name: a\n", "contexts[0].context: missing or not a mapping"},
		{"current-context: a\ncontexts:\n- name: a\n  context: {user: u}\n", "contexts[0].context.cluster: missing"},
		{"current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\nclusters: []\n",
		 "clusters: no entry named \"c\""},
		{"- just\n- a list\n", "top level is not a mapping"},
		{"current-context: [unclosed\n", "line "},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_config cfg;
		struct kerf_err err = {0};
		const char *p = write_file("bad", cases[i].text);
		if (kube_config_load(p, NULL, &cfg, &err) == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: want \"%s\" in the error, got \"%s\"", i, cases[i].want, err.msg);
	}
}

static void test_missing_file_is_not_found(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	assert_int_equal(kube_config_load("/nonexistent/kubeconfig", NULL, &cfg, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/kubeconfig"));
}

static void test_in_cluster_reads_the_service_account_folder(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	write_file("ca.crt", CERT_PEM);
	write_file("token", "sa-token\n");
	write_file("namespace", "kerf-system\n");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_config_in_cluster(tmpdir, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://[fd00::1]:443");
	assert_string_equal(cfg.namespace_, "kerf-system");
	assert_non_null(strstr(cfg.token_file, "/token"));
	assert_null(cfg.token);
	kube_config_free(&cfg);

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_in_cluster(tmpdir, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
}


/* ---------------------------------------------------------------- $KUBECONFIG lists */

static void test_kubeconfig_list_merges_with_the_first_file_winning(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	char a[512], b[512], missing[512];
	const char *paths[3];
	(void)state;
	snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
	snprintf(a, sizeof(a), "%s", write_file("a", "current-context: ca\n"
						    "contexts:\n- name: ca\n  context: {cluster: c, user: u}\n"
						    "clusters:\n- name: c\n  cluster: {server: 'https://a:1'}\n"
						    "users:\n- name: u\n  user: {token: from-a}\n"));
	write_file("sub/tok", "tok-b\n");
	snprintf(b, sizeof(b), "%s", write_file("sub/b", "current-context: cb\n"
						      "contexts:\n- name: cb\n  context: {cluster: c2, user: u2, namespace: nb}\n"
						      "- name: ca\n  context: {cluster: c2, user: u2}\n"
						      "clusters:\n- name: c\n  cluster: {server: 'https://b:1'}\n"
						      "- name: c2\n  cluster: {server: 'https://b2:1'}\n"
						      "users:\n- name: u\n  user: {token: from-b}\n"
						      "- name: u2\n  user: {tokenFile: tok}\n"));
	paths[0] = missing, paths[1] = a, paths[2] = b;
	/* current-context from the first file setting it; the context, cluster and user of a name from the
	 * first file having it; a missing file skipped. */
	assert_int_equal(kube_config_load_merged(paths, 3, NULL, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://a:1");
	assert_string_equal(cfg.token, "from-a");
	assert_non_null(strstr(cfg.source, "context ca"));
	kube_config_free(&cfg);
	/* A context only the second file has; its relative tokenFile is read from that file's folder. */
	assert_int_equal(kube_config_load_merged(paths, 3, "cb", &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://b2:1");
	assert_string_equal(cfg.namespace_, "nb");
	assert_non_null(strstr(cfg.token_file, "/sub/tok"));
	kube_config_free(&cfg);
	/* The second file first: its current-context and entries win. */
	paths[0] = b, paths[1] = a;
	assert_int_equal(kube_config_load_merged(paths, 2, NULL, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://b2:1");
	kube_config_free(&cfg);
	/* An entry missing from every file names them all. */
	assert_int_equal(kube_config_load_merged(paths, 2, "nosuch", &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "contexts: no entry named \"nosuch\""));
	assert_non_null(strstr(err.msg, a));
	assert_non_null(strstr(err.msg, b));
	/* Only missing files: not found. */
	paths[0] = missing, paths[1] = missing;
	assert_int_equal(kube_config_load_merged(paths, 2, NULL, &cfg, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
}

static void unset_all(void)
{
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_default_order_is_explicit_env_then_in_cluster_or_home(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	char one[512], two[512], home[512], list[1200];
	const char *old_home = getenv("HOME");
	char *saved_home = old_home ? strdup(old_home) : NULL;
	(void)state;
	snprintf(one, sizeof(one), "%s", kubeconfig("    server: https://one:1", "    token: t1"));
	snprintf(two, sizeof(two), "%s", write_file("two", "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
							   "clusters:\n- name: c\n  cluster: {server: 'https://two:1'}\n"));
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	mkdir(home, 0755);
	write_file("home/.kube/config", "current-context: h\ncontexts:\n- name: h\n  context: {cluster: c}\n"
					 "clusters:\n- name: c\n  cluster: {server: 'https://home:1'}\n");
	setenv("HOME", home, 1);
	unset_all();

	/* Nothing but ~/.kube/config: both orders take it. */
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_DAEMON, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://home:1");
	kube_config_free(&cfg);
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_KUBECTL, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://home:1");
	kube_config_free(&cfg);

	/* $KUBECONFIG, a list with a missing file in it, wins over ~/.kube/config and over the pod's account. */
	snprintf(list, sizeof(list), "%s/missing::%s:%s", tmpdir, two, one);
	setenv("KUBECONFIG", list, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	for (int o = 0; o < 2; o++) {
		assert_int_equal(kube_config_default(NULL, NULL, o ? KUBE_ORDER_DAEMON : KUBE_ORDER_KUBECTL, &cfg, &err), 0);
		assert_string_equal(cfg.server, "https://two:1");
		assert_non_null(strstr(cfg.source, "(from $KUBECONFIG)"));
		kube_config_free(&cfg);
	}
	/* An explicit file wins over everything. */
	assert_int_equal(kube_config_default(one, NULL, KUBE_ORDER_DAEMON, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://one:1");
	kube_config_free(&cfg);

	/* In a pod without $KUBECONFIG: the daemon order takes the service account (here its files are missing,
	 * so the error says it tried), kubectl's order ~/.kube/config. */
	unsetenv("KUBECONFIG");
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_DAEMON, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "in-cluster config"));
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_KUBECTL, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://home:1");
	kube_config_free(&cfg);
	/* A --context with the service account chosen is an error, not ignored. */
	assert_int_equal(kube_config_default(NULL, "x", KUBE_ORDER_DAEMON, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "--context x"));

	/* $KUBECONFIG naming only missing files, not in a pod: an error naming it (no fall-back to ~). */
	unset_all();
	snprintf(list, sizeof(list), "%s/missing", tmpdir);
	setenv("KUBECONFIG", list, 1);
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_KUBECTL, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "$KUBECONFIG="));
	/* Nothing at all: the error says what was looked for. */
	unset_all();
	setenv("HOME", tmpdir, 1);
	assert_int_equal(kube_config_default(NULL, NULL, KUBE_ORDER_DAEMON, &cfg, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/.kube/config"));
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	if (saved_home)
		setenv("HOME", saved_home, 1);
	free(saved_home);
}

/* ---------------------------------------------------------------- exec plugins, auth-provider, TLS, proxy */

static void test_exec_plugin_fields_are_read(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	char want[600];
	(void)state;
	const char *p = kubeconfig("    server: https://h:1\n    tls-server-name: api.internal\n"
				   "    proxy-url: socks5://proxy:1080",
				   "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
				   "      command: ./bin/get-token\n      args: [--cluster, prod]\n"
				   "      env:\n      - {name: REGION, value: eu}\n      - {name: EMPTY}\n"
				   "      installHint: apt install get-token\n      provideClusterInfo: true\n"
				   "      interactiveMode: IfAvailable\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), 0);
	assert_non_null(cfg.exec);
	snprintf(want, sizeof(want), "%s/./bin/get-token", tmpdir);
	assert_string_equal(cfg.exec->command, want); /* a path: relative to the kubeconfig's folder */
	assert_int_equal(cfg.exec->nargs, 2);
	assert_string_equal(cfg.exec->args[1], "prod");
	assert_int_equal(cfg.exec->nenv, 2);
	assert_string_equal(cfg.exec->env[0], "REGION=eu");
	assert_string_equal(cfg.exec->env[1], "EMPTY=");
	assert_string_equal(cfg.exec->install_hint, "apt install get-token");
	assert_true(cfg.exec->provide_cluster_info);
	assert_non_null(strstr(cfg.exec->where, "users[0].user.exec"));
	assert_string_equal(cfg.tls_server_name, "api.internal");
	assert_string_equal(cfg.proxy_url, "socks5h://proxy:1080"); /* the proxy resolves names, as in client-go */
	assert_null(cfg.token);
	kube_config_free(&cfg);

	/* A bare command is looked up on PATH when it runs; v1beta1 needs no interactiveMode. */
	p = kubeconfig("    server: https://h:1",
		       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: get-token\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), 0);
	assert_string_equal(cfg.exec->command, "get-token");
	assert_int_equal(cfg.exec->nargs, 0);
	kube_config_free(&cfg);
}

#define EXEC_HEAD "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n"

static void test_each_malformed_exec_auth_and_transport_field_is_named(void **state)
{
	static const struct {
		const char *cluster, *user, *want;
	} cases[] = {
		{"    server: https://h:1", "    exec: get-token", "users[0].user.exec: must be a mapping"},
		{"    server: https://h:1", "    exec:\n      command: x\n      interactiveMode: Never",
		 "users[0].user.exec.apiVersion: missing"},
		{"    server: https://h:1",
		 "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x",
		 "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported"},
		{"    server: https://h:1", EXEC_HEAD, "users[0].user.exec.command: missing"},
		{"    server: https://h:1", EXEC_HEAD "      command: [a]", "users[0].user.exec.command: must be a string"},
		{"    server: https://h:1", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x",
		 "users[0].user.exec.interactiveMode: missing (required by client.authentication.k8s.io/v1"},
		{"    server: https://h:1",
		 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n      interactiveMode: Always",
		 "users[0].user.exec.interactiveMode: Always: kerf runs as a daemon with no terminal"},
		{"    server: https://h:1",
		 "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n      interactiveMode: Sometimes",
		 "users[0].user.exec.interactiveMode: \"Sometimes\" is not Never, IfAvailable or Always"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      args: --flag",
		 "users[0].user.exec.args: must be a list"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      args: [a, [b]]",
		 "users[0].user.exec.args[1]: must be a string"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      env: [A=b]",
		 "users[0].user.exec.env[0]: must be a mapping"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      env:\n      - {value: b}",
		 "users[0].user.exec.env[0].name: missing"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      env:\n      - {name: A, value: [b]}",
		 "users[0].user.exec.env[0].value: must be a string"},
		{"    server: https://h:1", EXEC_HEAD "      command: x\n      provideClusterInfo: maybe",
		 "users[0].user.exec.provideClusterInfo: \"maybe\" is not true or false"},
		{"    server: https://h:1", "    token: t\n" EXEC_HEAD "      command: x",
		 "users[0].user.exec: cannot be combined with token"},
		{"    server: https://h:1",
		 "    auth-provider:\n      name: gcp\n      config: {access-token: x}",
		 "users[0].user.auth-provider: \"gcp\" is not supported"},
		{"    server: https://h:1", "    username: admin\n    password: secret",
		 "users[0].user.username: basic authentication is not supported"},
		{"    server: https://h:1\n    tls-server-name: 'a:443'", "    token: t",
		 "clusters[0].cluster.tls-server-name: \"a:443\" is not a host name"},
		{"    server: https://h:1\n    proxy-url: ftp://p:21", "    token: t",
		 "clusters[0].cluster.proxy-url: \"ftp://p:21\" is not an http://, https:// or socks5:// URL"},
		{"    server: https://h:1\n    insecure-skip-tls-verify: yes please", "    token: t",
		 "clusters[0].cluster.insecure-skip-tls-verify: \"yes please\" is not true or false"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_config cfg;
		struct kerf_err err = {0};
		const char *p = kubeconfig(cases[i].cluster, cases[i].user);
		int rc = kube_config_load(p, NULL, &cfg, &err);
		if (rc == 0 || !strstr(err.msg, cases[i].want))
			fail_msg("case %zu: want \"%s\" in the error, got rc=%d \"%s\"", i, cases[i].want, rc, err.msg);
		assert_non_null(strstr(err.msg, p));
	}
}

static void test_auth_provider_refusal_names_what_to_use_instead(void **state)
{
	struct kube_config cfg;
	struct kerf_err err;
	(void)state;
	const char *p = kubeconfig("    server: https://h:1", "    auth-provider:\n      name: oidc\n");
	assert_int_equal(kube_config_load(p, NULL, &cfg, &err), -1);
	assert_int_equal(err.code, KERF_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "exec credential plugin"));
	assert_non_null(strstr(err.msg, "gke-gcloud-auth-plugin"));
	assert_non_null(strstr(err.msg, "kubelogin"));
}

static const struct kube_exec test_exec = {
	.api_version = "client.authentication.k8s.io/v1", .command = "get-token", .where = "KC: users[0].user.exec"};

static void test_exec_credential_output_is_read_and_checked(void **state)
{
	static const struct {
		const char *out, *want;
	} bad[] = {
		{"Please log in", "not JSON"},
		{"[1]", "the top level is not an object"},
		{"{\"kind\": \"ExecCredential\", \"status\": {\"token\": \"t\"}}", "apiVersion: missing"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1beta1\", \"kind\": \"ExecCredential\", \"status\": {\"token\": \"t\"}}",
		 "apiVersion: \"client.authentication.k8s.io/v1beta1\", but the kubeconfig asks for \"client.authentication.k8s.io/v1\""},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"Secret\", \"status\": {\"token\": \"t\"}}",
		 "kind: must be \"ExecCredential\""},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\"}", "status: missing"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {}}",
		 "status: has neither token nor clientCertificateData"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": {\"token\": 5}}",
		 "status.token: must be a string"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": "
		 "{\"clientCertificateData\": \"" CERT_PEM_JSON "\"}}",
		 "status.clientKeyData: missing (status.clientCertificateData is set)"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": "
		 "{\"clientCertificateData\": \"" CERT_PEM_JSON "\", \"clientKeyData\": \"" CERT_PEM_JSON "\"}}",
		 "status.clientKeyData: not a PEM PRIVATE KEY"},
		{"{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": "
		 "{\"token\": \"t\", \"expirationTimestamp\": \"tomorrow\"}}",
		 "status.expirationTimestamp: \"tomorrow\" is not an RFC 3339 time"},
	};
	const char *good = "{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": "
			   "{\"token\": \"tok\", \"clientCertificateData\": \"" CERT_PEM_JSON "\", \"clientKeyData\": \"" KEY_PEM_JSON
			   "\", \"expirationTimestamp\": \"2030-01-02T03:04:05Z\"}}";
	struct kube_exec_cred cred;
	struct kerf_err err;
	(void)state;

	assert_int_equal(kube_exec_parse(&test_exec, good, strlen(good), &cred, &err), 0);
	assert_string_equal(cred.token, "tok");
	assert_string_equal(cred.cert_pem, CERT_PEM);
	assert_non_null(strstr(cred.key_pem, "PRIVATE KEY"));
	assert_int_equal((long long)cred.expiry, 1893553445LL);
	kube_exec_cred_clear(&cred);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kerf_err e = {0};
		int rc = kube_exec_parse(&test_exec, bad[i].out, strlen(bad[i].out), &cred, &e);
		if (rc == 0 || !strstr(e.msg, bad[i].want) || !strstr(e.msg, "KC: users[0].user.exec: plugin \"get-token\""))
			fail_msg("case %zu: want \"%s\" in the error, got rc=%d \"%s\"", i, bad[i].want, rc, e.msg);
	}
}

static void test_rfc3339_times(void **state)
{
	time_t t;
	(void)state;
	assert_int_equal(kube_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal((long long)t, 0);
	assert_int_equal(kube_rfc3339("2030-01-02T03:04:05.123456789Z", &t), 0);
	assert_int_equal((long long)t, 1893553445LL);
	assert_int_equal(kube_rfc3339("2030-01-02T05:04:05+02:00", &t), 0);
	assert_int_equal((long long)t, 1893553445LL);
	assert_int_equal(kube_rfc3339("2030-01-02 03:04:05Z", &t), -1);
	assert_int_equal(kube_rfc3339("2030-01-02T03:04:05", &t), -1);
	assert_int_equal(kube_rfc3339("2030-13-02T03:04:05Z", &t), -1);
	assert_int_equal(kube_rfc3339("2030-01-02T03:04:05Zjunk", &t), -1);
}

/* A plugin that fails, one that is not there, one that hangs, one that prints too much. */
static void test_exec_plugin_failures_name_the_plugin(void **state)
{
	struct kube_exec x = test_exec;
	struct kube_exec_cred cred;
	struct kerf_err err;
	char cmd[512];
	char *args[] = {"1"};
	(void)state;

	snprintf(cmd, sizeof(cmd), "%s", write_file("fails.sh", "#!/bin/sh\necho 'login expired: run sso-login' >&2\n"
								 "echo more >&2\nexit 4\n"));
	chmod(cmd, 0755);
	x.command = cmd;
	assert_int_equal(kube_exec_run(&x, NULL, 5000, &cred, &err), -1);
	assert_non_null(strstr(err.msg, "KC: users[0].user.exec: plugin \""));
	assert_non_null(strstr(err.msg, cmd));
	assert_non_null(strstr(err.msg, "exit status 4: login expired: run sso-login"));
	assert_null(strstr(err.msg, "more"));

	x.command = "kerf-no-such-plugin";
	x.install_hint = "install it with: apt install kerf-no-such-plugin";
	assert_int_equal(kube_exec_run(&x, NULL, 5000, &cred, &err), -1);
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_non_null(strstr(err.msg, "plugin \"kerf-no-such-plugin\": not found: install it with: apt install"));

	snprintf(cmd, sizeof(cmd), "%s", write_file("hangs.sh", "#!/bin/sh\nexec sleep \"$1\"\n"));
	chmod(cmd, 0755);
	x.command = cmd;
	x.args = args;
	x.nargs = 1;
	args[0] = "30";
	{
		long long t0 = (long long)time(NULL);
		assert_int_equal(kube_exec_run(&x, NULL, 300, &cred, &err), -1);
		assert_int_equal(err.code, KERF_ETIMEOUT);
		assert_non_null(strstr(err.msg, "still running after 300 ms; killed"));
		assert_true((long long)time(NULL) - t0 < 5);
	}
	x.nargs = 0;
	snprintf(cmd, sizeof(cmd), "%s", write_file("floods.sh", "#!/bin/sh\nexec yes\n"));
	chmod(cmd, 0755);
	assert_int_equal(kube_exec_run(&x, NULL, 5000, &cred, &err), -1);
	assert_non_null(strstr(err.msg, "printed more than"));
}

/* The plugin's environment: kerf's, the kubeconfig's env, KUBERNETES_EXEC_INFO; stdin not a terminal. */
static void test_exec_plugin_gets_exec_info_and_env(void **state)
{
	struct kube_config cfg = {.server = "https://h:6443", .ca_pem = CERT_PEM, .tls_server_name = "api"};
	struct kube_exec x = test_exec;
	struct kube_exec_cred cred;
	struct kerf_err err;
	char cmd[512], info[512], script[1400], *env[] = {"PLUGIN_GREETING=hello", "KERF_TEST_OVERRIDDEN=new"};
	char *text;
	(void)state;

	snprintf(info, sizeof(info), "%s/info", tmpdir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n{ echo \"$KUBERNETES_EXEC_INFO\"; echo \"$PLUGIN_GREETING $KERF_TEST_INHERITED "
		 "$KERF_TEST_OVERRIDDEN\"; [ -t 0 ] && echo tty || echo no-tty; } > '%s'\n"
		 "echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", "
		 "\"status\": {\"token\": \"abc\"}}'\n",
		 info);
	snprintf(cmd, sizeof(cmd), "%s", write_file("info.sh", script));
	chmod(cmd, 0755);
	setenv("KERF_TEST_INHERITED", "inherited", 1);
	setenv("KERF_TEST_OVERRIDDEN", "old", 1);
	x.command = cmd;
	x.env = env;
	x.nenv = 2;
	x.provide_cluster_info = true;
	cfg.exec = &x;
	assert_int_equal(kube_exec_run(&x, &cfg, 5000, &cred, &err), 0);
	assert_string_equal(cred.token, "abc");
	kube_exec_cred_clear(&cred);
	text = NULL;
	{
		FILE *f = fopen(info, "r");
		char buf[4096] = "";
		assert_non_null(f);
		assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
		fclose(f);
		text = strdup(buf);
	}
	assert_non_null(strstr(text, "\"apiVersion\":\"client.authentication.k8s.io/v1\""));
	assert_non_null(strstr(text, "\"kind\":\"ExecCredential\""));
	assert_non_null(strstr(text, "\"interactive\":false"));
	assert_non_null(strstr(text, "\"server\":\"https://h:6443\""));
	assert_non_null(strstr(text, "\"tls-server-name\":\"api\""));
	assert_non_null(strstr(text, "\"certificate-authority-data\":\"" CERT_B64 "\""));
	assert_non_null(strstr(text, "hello inherited new"));
	assert_non_null(strstr(text, "no-tty"));
	free(text);
	unsetenv("KERF_TEST_INHERITED");
	unsetenv("KERF_TEST_OVERRIDDEN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context_with_inline_data_and_token),
		cmocka_unit_test(test_named_context_selects_its_user_and_defaults_namespace),
		cmocka_unit_test(test_relative_files_are_read_from_the_kubeconfig_folder),
		cmocka_unit_test(test_each_malformed_field_is_named),
		cmocka_unit_test(test_structural_errors_are_named),
		cmocka_unit_test(test_missing_file_is_not_found),
		cmocka_unit_test(test_in_cluster_reads_the_service_account_folder),
		cmocka_unit_test(test_kubeconfig_list_merges_with_the_first_file_winning),
		cmocka_unit_test(test_default_order_is_explicit_env_then_in_cluster_or_home),
		cmocka_unit_test(test_exec_plugin_fields_are_read),
		cmocka_unit_test(test_each_malformed_exec_auth_and_transport_field_is_named),
		cmocka_unit_test(test_auth_provider_refusal_names_what_to_use_instead),
		cmocka_unit_test(test_exec_credential_output_is_read_and_checked),
		cmocka_unit_test(test_rfc3339_times),
		cmocka_unit_test(test_exec_plugin_failures_name_the_plugin),
		cmocka_unit_test(test_exec_plugin_gets_exec_info_and_env),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
