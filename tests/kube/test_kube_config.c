/*
 * test_kube_config.c — kubeconfig and in-cluster configuration, as a specification (no server needed).
 *
 * Each malformed field must be named by its path in the error, since that is what a person fixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube.h"

/* "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" and a key, base64-encoded. */
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCkFBQUEKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
