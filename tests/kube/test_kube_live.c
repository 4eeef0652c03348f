/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_live.c — requests against the real kube-apiserver: CRUD, paging, conflicts, patches, the status
 * subresource, selectors, events, credentials, and single watch connections.
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

#include "live.h"

#define L(state) ((struct live *)*(state))

static json_t *must(json_t *v, const struct kerf_err *err)
{
	if (!v)
		fail_msg("%s", err->msg);
	return v;
}

static const char *data_v(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "data"), "v"));
}

static const char *rv_of(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void test_create_get_update_delete_round_trip(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	json_t *cm = live_configmap("crud", "x", "one");
	json_t *made = must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err);
	json_t *got = must(kube_get(l->c, &KUBE_CONFIGMAPS, l->ns, "crud", &err), &err), *upd;

	assert_string_equal(data_v(got), "one");
	assert_string_equal(rv_of(got), rv_of(made));
	json_object_set_new(json_object_get(got, "data"), "v", json_string("two"));
	upd = must(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, got, &err), &err);
	assert_string_equal(data_v(upd), "two");
	assert_string_not_equal(rv_of(upd), rv_of(made));
	assert_int_equal(kube_delete(l->c, &KUBE_CONFIGMAPS, l->ns, "crud", &err), 0);
	assert_null(kube_get(l->c, &KUBE_CONFIGMAPS, l->ns, "crud", &err));
	assert_int_equal(err.code, KERF_ENOTFOUND);
	assert_int_equal(kube_err_http_status(&err), 404);
	assert_non_null(strstr(err.msg, "GET /api/v1/namespaces/"));
	json_decref(cm);
	json_decref(made);
	json_decref(got);
	json_decref(upd);
}

static void test_creating_an_existing_object_is_a_conflict_naming_the_reason(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	json_t *cm = live_configmap("twice", "x", "1");
	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	assert_null(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err));
	assert_int_equal(err.code, KERF_ECONFLICT);
	assert_non_null(strstr(err.msg, "AlreadyExists"));
	json_decref(cm);
}

static void test_update_at_a_stale_version_conflicts(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	json_t *cm = live_configmap("stale", "x", "1"), *a, *b;
	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	a = must(kube_get(l->c, &KUBE_CONFIGMAPS, l->ns, "stale", &err), &err);
	b = json_deep_copy(a);
	json_object_set_new(json_object_get(a, "data"), "v", json_string("a"));
	json_decref(must(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, a, &err), &err));
	json_object_set_new(json_object_get(b, "data"), "v", json_string("b"));
	assert_null(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, b, &err));
	assert_int_equal(err.code, KERF_ECONFLICT);
	assert_int_equal(kube_err_http_status(&err), 409);
	json_decref(a);
	json_decref(b);
	json_decref(cm);
}

/*
 * The server's answer reaches the error as fields, not only as text: the HTTP status and the reason of the
 * Status object it sent, for the daemons' logs (status=, reason=) and for callers that branch on them. An
 * error that is not an answer from the server leaves both empty, even in an error that held one before.
 */
static void test_api_errors_carry_the_status_and_reason_the_server_sent(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	json_t *cm = live_configmap("reasons", "x", "1"), *a, *b, *bad = live_configmap("Not_A_Name", "x", "1");

	assert_null(kube_get(l->c, &KUBE_CONFIGMAPS, l->ns, "absent", &err));
	assert_int_equal(err.http_status, 404);
	assert_string_equal(err.reason, "NotFound");
	assert_int_equal(kube_err_http_status(&err), 404);

	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	assert_null(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err));
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.reason, "AlreadyExists");

	a = must(kube_get(l->c, &KUBE_CONFIGMAPS, l->ns, "reasons", &err), &err);
	b = json_deep_copy(a);
	json_object_set_new(json_object_get(a, "data"), "v", json_string("2")); /* an update that changes nothing keeps the version */
	json_decref(must(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, a, &err), &err));
	assert_null(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, b, &err));
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.reason, "Conflict");
	kerf_err_prefix(&err, "ConfigMap reasons"); /* context added on the way up keeps them */
	assert_int_equal(err.http_status, 409);
	assert_string_equal(err.reason, "Conflict");

	assert_null(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, bad, &err));
	assert_int_equal(err.http_status, 422);
	assert_string_equal(err.reason, "Invalid");

	json_object_del(json_object_get(bad, "metadata"), "name"); /* refused before any request */
	assert_null(kube_update(l->c, &KUBE_CONFIGMAPS, l->ns, bad, &err));
	assert_int_equal(err.code, KERF_EINVAL);
	assert_int_equal(err.http_status, 0);
	assert_string_equal(err.reason, "");
	json_decref(a);
	json_decref(b);
	json_decref(bad);
	json_decref(cm);
}

struct racer {
	struct live *l;
	int calls, races;
};

/* Appends "+" to data.v; on the first call, someone else writes first, so that update must conflict. */
static int append_plus(json_t *obj, void *arg, struct kerf_err *err)
{
	struct racer *r = arg;
	char v[64];
	if (r->calls++ == 0) {
		json_t *other = json_deep_copy(obj);
		/* A distinct value each time: an update that changes nothing keeps the resourceVersion. */
		snprintf(v, sizeof(v), r->races ? "other%d" : "other", r->races);
		r->races++;
		json_object_set_new(json_object_get(other, "data"), "v", json_string(v));
		json_t *out = kube_update(r->l->c, &KUBE_CONFIGMAPS, r->l->ns, other, err);
		json_decref(other);
		if (!out)
			return -1;
		json_decref(out);
	}
	snprintf(v, sizeof(v), "%s+", data_v(obj));
	json_object_set_new(json_object_get(obj, "data"), "v", json_string(v));
	return 0;
}

static void test_retry_helper_rereads_after_a_conflict(void **state)
{
	struct live *l = L(state);
	struct racer r = {l, 0, 0};
	struct kerf_err err;
	json_t *cm = live_configmap("retry", "x", "base"), *out;
	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	out = must(kube_update_retry(l->c, &KUBE_CONFIGMAPS, l->ns, "retry", false, 5, append_plus, &r, &err), &err);
	assert_int_equal(r.calls, 2);
	assert_string_equal(data_v(out), "other+"); /* built on the winner's write, not on the stale read */
	json_decref(out);
	json_decref(cm);
}

static int always_conflicts(json_t *obj, void *arg, struct kerf_err *err)
{
	struct racer *r = arg;
	r->calls = 0; /* every attempt races */
	return append_plus(obj, arg, err);
}

static void test_retry_helper_gives_up_after_its_attempts(void **state)
{
	struct live *l = L(state);
	struct racer r = {l, 0, 0};
	struct kerf_err err;
	json_t *cm = live_configmap("giveup", "x", "base");
	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	assert_null(kube_update_retry(l->c, &KUBE_CONFIGMAPS, l->ns, "giveup", false, 3, always_conflicts, &r, &err));
	assert_int_equal(err.code, KERF_ECONFLICT);
	assert_non_null(strstr(err.msg, "gave up after 3"));
	json_decref(cm);
}

struct counter {
	int n;
	unsigned char seen[2000];
};

static int count_item(json_t *item, void *arg)
{
	struct counter *c = arg;
	const char *name = json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
	int i = atoi(name + 2);
	assert_true(i >= 0 && i < 2000);
	assert_int_equal(c->seen[i], 0); /* no object twice across pages */
	c->seen[i] = 1;
	c->n++;
	return 0;
}

static void test_list_pages_through_2000_objects(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct counter cnt = {0};
	struct kube_list_opts o = {.label_selector = "app=many", .limit = 150};
	char name[32], rv[64];
	json_t *page;

	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "cm%d", i);
		json_t *cm = live_configmap(name, "many", "x");
		json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
		json_decref(cm);
	}
	page = must(kube_list(l->c, &KUBE_CONFIGMAPS, l->ns, &o, &err), &err);
	assert_int_equal(json_array_size(json_object_get(page, "items")), 150);
	assert_non_null(json_string_value(json_object_get(json_object_get(page, "metadata"), "continue")));
	json_decref(page);

	assert_int_equal(kube_list_all(l->c, &KUBE_CONFIGMAPS, l->ns, &o, count_item, &cnt, rv, sizeof(rv), &err), 0);
	assert_int_equal(cnt.n, 2000);
	assert_true(rv[0] != '\0');
}

static void test_label_and_field_selectors_filter_on_the_server(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct kube_list_opts by_label = {.label_selector = "app=blue"}, by_field = {.field_selector = "metadata.name=g1"};
	const char *names[] = {"b1", "b2", "g1"}, *labels[] = {"blue", "blue", "green"};
	json_t *page;

	for (int i = 0; i < 3; i++) {
		json_t *cm = live_configmap(names[i], labels[i], "x");
		json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
		json_decref(cm);
	}
	page = must(kube_list(l->c, &KUBE_CONFIGMAPS, l->ns, &by_label, &err), &err);
	assert_int_equal(json_array_size(json_object_get(page, "items")), 2);
	json_decref(page);
	page = must(kube_list(l->c, &KUBE_CONFIGMAPS, l->ns, &by_field, &err), &err);
	assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
	json_decref(page);
}

static void test_merge_patch_and_json_patch(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	json_t *cm = live_configmap("patched", "x", "1"), *p, *out;

	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	p = json_pack("{s:{s:s, s:n}}", "data", "w", "added", "v"); /* null deletes a key (RFC 7386) */
	out = must(kube_patch(l->c, &KUBE_CONFIGMAPS, l->ns, "patched", KUBE_PATCH_MERGE, p, false, &err), &err);
	assert_null(data_v(out));
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "data"), "w")), "added");
	json_decref(p);
	json_decref(out);

	/* A failing "test" op makes the whole JSON patch fail: conditional writes without a read. */
	p = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "op", "test", "path", "/data/w", "value", "wrong", "op",
		      "replace", "path", "/data/w", "value", "never");
	assert_null(kube_patch(l->c, &KUBE_CONFIGMAPS, l->ns, "patched", KUBE_PATCH_JSON, p, false, &err));
	assert_true(kube_err_http_status(&err) >= 400);
	json_decref(p);
	p = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "op", "test", "path", "/data/w", "value", "added", "op",
		      "replace", "path", "/data/w", "value", "replaced");
	out = must(kube_patch(l->c, &KUBE_CONFIGMAPS, l->ns, "patched", KUBE_PATCH_JSON, p, false, &err), &err);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "data"), "w")), "replaced");
	json_decref(p);
	json_decref(out);
	json_decref(cm);
}

static json_int_t obs_gen(const json_t *o)
{
	return json_integer_value(json_object_get(json_object_get(o, "status"), "observedGeneration"));
}

static void test_miglayout_status_subresource_separates_spec_and_status(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	char name[96];
	json_t *ml, *made, *st, *out, *p;

	snprintf(name, sizeof(name), "node-%s", l->ns); /* cluster-scoped: the namespace makes it unique */
	ml = json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:i, s:[{s:s, s:i}]}]}}", "apiVersion", "kerf.dev/v1alpha1", "kind",
		       "MigLayout", "metadata", "name", name, "spec", "gpus", "index", 0, "instances", "profile",
		       "3g.40gb", "start", 4);
	made = must(kube_create(l->c, &KUBE_MIGLAYOUTS, NULL, ml, &err), &err);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(made, "metadata"), "generation")), 1);

	/* The agent's write: status only. A spec change smuggled into it is ignored by the server. */
	st = json_deep_copy(made);
	json_object_set_new(st, "status", json_pack("{s:i, s:i}", "observedGeneration", 1, "gpuCount", 1));
	json_object_set_new(json_object_get(st, "spec"), "gpus", json_array());
	out = must(kube_update_status(l->c, &KUBE_MIGLAYOUTS, NULL, st, &err), &err);
	assert_int_equal(obs_gen(out), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "spec"), "gpus")), 1);
	json_decref(out);

	/* The controller's write: spec only. Status sent with it is ignored, generation moves. */
	p = json_pack("{s:{s:[]}, s:{s:i}}", "spec", "gpus", "status", "observedGeneration", 42);
	out = must(kube_patch(l->c, &KUBE_MIGLAYOUTS, NULL, name, KUBE_PATCH_MERGE, p, false, &err), &err);
	assert_int_equal(obs_gen(out), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "metadata"), "generation")), 2);
	json_decref(out);
	json_decref(p);

	p = json_pack("{s:{s:i}}", "status", "observedGeneration", 2);
	out = must(kube_patch(l->c, &KUBE_MIGLAYOUTS, NULL, name, KUBE_PATCH_MERGE, p, true, &err), &err);
	assert_int_equal(obs_gen(out), 2);
	json_decref(out);
	json_decref(p);

	/* Schema validation is on: a bad type is named by the server. */
	p = json_pack("{s:{s:[{s:s}]}}", "spec", "gpus", "index", "zero");
	assert_null(kube_patch(l->c, &KUBE_MIGLAYOUTS, NULL, name, KUBE_PATCH_MERGE, p, false, &err));
	assert_int_equal(err.code, KERF_EINVAL);
	assert_non_null(strstr(err.msg, "spec.gpus[0]"));
	json_decref(p);

	assert_int_equal(kube_delete(l->c, &KUBE_MIGLAYOUTS, NULL, name, &err), 0);
	json_decref(st);
	json_decref(made);
	json_decref(ml);
}

static void test_event_about_an_object_is_listed_with_it(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct kube_object_ref ref = {"v1", "ConfigMap", l->ns, "evented", NULL};
	struct kube_list_opts o = {.field_selector = "involvedObject.name=evented"};
	json_t *cm = live_configmap("evented", "x", "1"), *made, *page, *ev;

	made = must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err);
	ref.uid = json_string_value(json_object_get(json_object_get(made, "metadata"), "uid"));
	assert_int_equal(kube_event_emit(l->c, &ref, "Warning", "NoMigCapacity",
					 "no node can fit nvidia.com/mig-3g.40gb", "kerf-controller", &err), 0);
	page = must(kube_list(l->c, &KUBE_EVENTS, l->ns, &o, &err), &err);
	assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
	ev = json_array_get(json_object_get(page, "items"), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "reason")), "NoMigCapacity");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "Warning");
	json_decref(page);
	json_decref(made);
	json_decref(cm);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_token_file_is_reread_when_it_rotates(void **state)
{
	struct live *l = L(state);
	struct kube_config cfg;
	struct kerf_err err;
	struct kube_client *c;
	char kc[1024], tok[256];
	json_t *out;

	snprintf(kc, sizeof(kc), "%s/kubeconfig", live_dir());
	if (kube_config_load(kc, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	snprintf(tok, sizeof(tok), "%s/rotating-token-%d", live_dir(), (int)getpid());
	write_text(tok, "not-the-token\n");
	cfg.token_file = strdup(tok);
	{
		char *good = cfg.token;
		cfg.token = NULL;
		c = kube_client_new(&cfg, 10000, &err);
		assert_non_null(c);
		assert_null(kube_get(c, &KUBE_CONFIGMAPS, l->ns, "none", &err));
		assert_int_equal(err.code, KERF_EPERM);
		assert_int_equal(kube_err_http_status(&err), 401);
		live_sleep_ms(20); /* a distinct mtime even on coarse-timestamp file systems */
		write_text(tok, good);
		free(good);
	}
	out = kube_list(c, &KUBE_CONFIGMAPS, l->ns, NULL, &err);
	if (!out)
		fail_msg("after rotation: %s", err.msg);
	json_decref(out);
	unlink(tok);
	kube_client_free(c);
	kube_config_free(&cfg);
}

/*
 * The in-cluster path end to end: a real ServiceAccount, a real token from the TokenRequest API, the files
 * laid out as the kubelet mounts them (token, ca.crt, namespace) and KUBERNETES_SERVICE_HOST/PORT set as in
 * a pod. A token that is not (yet) valid gets 401; once the file holds the real one (a rotation), the same
 * client is authenticated as the service account, and RBAC applies to it: it may read ConfigMaps, as its
 * Role says, and not write them.
 */
static void test_in_cluster_service_account_is_authenticated_and_its_token_reread(void **state)
{
	struct live *l = L(state);
	char path[512], sa_dir[256], cmd[600], host[64] = "", port[16] = "";
	struct kube_config cfg;
	struct kube_client *c;
	struct kerf_err err;
	json_t *body, *out;
	const char *token, *hp;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts", l->ns);
	body = json_pack("{s:{s:s}}", "metadata", "name", "kerf-agent");
	json_decref(must(kube_request(l->c, "POST", path, body, "application/json", &err), &err));
	json_decref(body);
	/* A Role of the test's own: the built-in "view" is an aggregated ClusterRole, filled in by
	 * kube-controller-manager, which the test control plane does not run. */
	snprintf(path, sizeof(path), "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles", l->ns);
	body = json_pack("{s:{s:s},s:[{s:[s],s:[s],s:[s,s,s]}]}", "metadata", "name", "read-configmaps", "rules",
			 "apiGroups", "", "resources", "configmaps", "verbs", "get", "list", "watch");
	json_decref(must(kube_request(l->c, "POST", path, body, "application/json", &err), &err));
	json_decref(body);
	snprintf(path, sizeof(path), "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings", l->ns);
	body = json_pack("{s:{s:s},s:{s:s,s:s,s:s},s:[{s:s,s:s,s:s}]}", "metadata", "name", "kerf-agent-read",
			 "roleRef", "apiGroup", "rbac.authorization.k8s.io", "kind", "Role", "name", "read-configmaps",
			 "subjects", "kind", "ServiceAccount", "name", "kerf-agent", "namespace", l->ns);
	json_decref(must(kube_request(l->c, "POST", path, body, "application/json", &err), &err));
	json_decref(body);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/kerf-agent/token", l->ns);
	body = json_pack("{s:s,s:s,s:{s:i}}", "apiVersion", "authentication.k8s.io/v1", "kind", "TokenRequest",
			 "spec", "expirationSeconds", 600);
	out = must(kube_request(l->c, "POST", path, body, "application/json", &err), &err);
	json_decref(body);
	token = json_string_value(json_object_get(json_object_get(out, "status"), "token"));
	assert_non_null(token);

	snprintf(sa_dir, sizeof(sa_dir), "%s/sa-%d", live_dir(), (int)getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp %s/pki/ca.crt %s/ca.crt", sa_dir, live_dir(), sa_dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	write_text(path, l->ns);
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	write_text(path, "not-yet-a-token");
	/* host and port as the kubelet sets them in a pod, taken from the test kubeconfig's server */
	snprintf(path, sizeof(path), "%s/kubeconfig", live_dir());
	if (kube_config_load(path, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	hp = strstr(cfg.server, "://");
	assert_non_null(hp);
	assert_int_equal(sscanf(hp + 3, "%63[^:]:%15s", host, port), 2);
	kube_config_free(&cfg);
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	setenv("KUBERNETES_SERVICE_HOST", host, 1);
	setenv("KUBERNETES_SERVICE_PORT", port, 1);

	if (kube_config_in_cluster(sa_dir, &cfg, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(cfg.namespace_, l->ns);
	c = kube_client_new(&cfg, 10000, &err);
	assert_non_null(c);
	assert_null(kube_list(c, &KUBE_CONFIGMAPS, l->ns, NULL, &err));
	assert_int_equal(kube_err_http_status(&err), 401);
	live_sleep_ms(20); /* a distinct mtime even on coarse-timestamp file systems */
	write_text(path, token);
	json_decref(out);
	json_decref(must(kube_list(c, &KUBE_CONFIGMAPS, l->ns, NULL, &err), &err)); /* its Role may list */
	/* and no more than that */
	body = live_configmap("from-sa", "x", "1");
	assert_null(kube_create(c, &KUBE_CONFIGMAPS, l->ns, body, &err));
	assert_int_equal(kube_err_http_status(&err), 403);
	json_decref(body);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	kube_client_free(c);
	kube_config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sa_dir);
	assert_int_equal(system(cmd), 0);
}

static void test_client_certificate_user_is_authenticated(void **state)
{
	struct live *l = L(state);
	struct kube_config cfg;
	struct kerf_err err;
	struct kube_client *c;
	char kc[1024];
	json_t *out;

	snprintf(kc, sizeof(kc), "%s/admin.kubeconfig", live_dir());
	if (kube_config_load(kc, NULL, &cfg, &err))
		fail_msg("%s", err.msg);
	assert_non_null(cfg.cert_pem);
	c = kube_client_new(&cfg, 10000, &err);
	out = must(kube_list(c, &KUBE_CONFIGMAPS, l->ns, NULL, &err), &err);
	json_decref(out);
	kube_client_free(c);
	kube_config_free(&cfg);
}

struct wlog {
	int n;
	enum kube_event_type type[8];
	char v[8][16];
};

static int wrecord(enum kube_event_type type, json_t *obj, void *arg)
{
	struct wlog *w = arg;
	if (type == KUBE_BOOKMARK)
		return 0;
	w->type[w->n] = type;
	snprintf(w->v[w->n], sizeof(w->v[0]), "%s", data_v(obj) ? data_v(obj) : "");
	return ++w->n == 3;
}

static void test_watch_from_a_version_delivers_the_changes_since(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct wlog w = {0};
	char rv[64], last[64];
	json_t *cm = live_configmap("watched", "x", "1"), *p;
	json_t *list = must(kube_list(l->c, &KUBE_CONFIGMAPS, l->ns, NULL, &err), &err);
	struct kube_watch_opts o = {.resource_version = rv, .timeout_s = 30};

	snprintf(rv, sizeof(rv), "%s", rv_of(list));
	json_decref(list);
	json_decref(must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err));
	p = json_pack("{s:{s:s}}", "data", "v", "2");
	json_decref(must(kube_patch(l->c, &KUBE_CONFIGMAPS, l->ns, "watched", KUBE_PATCH_MERGE, p, false, &err), &err));
	assert_int_equal(kube_delete(l->c, &KUBE_CONFIGMAPS, l->ns, "watched", &err), 0);

	assert_int_equal(kube_watch(l->c, &KUBE_CONFIGMAPS, l->ns, &o, wrecord, &w, last, sizeof(last), &err),
			 KUBE_WATCH_STOPPED);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.type[0], KUBE_ADDED);
	assert_string_equal(w.v[0], "1");
	assert_int_equal(w.type[1], KUBE_MODIFIED);
	assert_string_equal(w.v[1], "2");
	assert_int_equal(w.type[2], KUBE_DELETED);
	assert_true(strtoull(last, NULL, 10) > strtoull(rv, NULL, 10));
	json_decref(p);
	json_decref(cm);
}

static void test_watch_from_a_compacted_version_is_gone(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct wlog w = {0};
	char last[64], rv[64];
	struct kube_watch_opts o = {.resource_version = rv, .timeout_s = 30};
	json_t *cm = live_configmap("compact-me", "x", "1"), *made, *later;

	made = must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err);
	snprintf(rv, sizeof(rv), "%s", rv_of(made));
	json_object_set_new(json_object_get(cm, "metadata"), "name", json_string("compact-me-later"));
	later = must(kube_create(l->c, &KUBE_CONFIGMAPS, l->ns, cm, &err), &err);
	/* The apiserver's watch cache remembers a window of recent events whatever etcd keeps; restarting it
	 * after compacting etcd leaves no record of rv anywhere, as after a long outage. */
	live_ctl("kill-apiserver");
	live_ctl("compact");
	live_ctl("start-apiserver");
	assert_int_equal(kube_watch(l->c, &KUBE_CONFIGMAPS, l->ns, &o, wrecord, &w, last, sizeof(last), &err),
			 KUBE_WATCH_GONE);
	assert_int_equal(w.n, 0);
	json_decref(later);
	json_decref(made);
	json_decref(cm);
}

static void test_server_ends_a_watch_at_its_timeout_cleanly(void **state)
{
	struct live *l = L(state);
	struct kerf_err err;
	struct wlog w = {0};
	char last[64];
	struct kube_watch_opts o = {.timeout_s = 1};
	assert_int_equal(kube_watch(l->c, &KUBE_CONFIGMAPS, l->ns, &o, wrecord, &w, last, sizeof(last), &err),
			 KUBE_WATCH_CLOSED);
}

static void test_a_refused_connection_is_an_io_error_without_an_http_status(void **state)
{
	struct kube_config cfg = {.server = "https://127.0.0.1:1", .insecure = true};
	struct kerf_err err;
	struct kube_client *c = kube_client_new(&cfg, 2000, &err);
	(void)state;
	assert_null(kube_get(c, &KUBE_NODES, NULL, "n", &err));
	assert_int_equal(err.code, KERF_EIO);
	assert_int_equal(kube_err_http_status(&err), 0);
	kube_client_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_get_update_delete_round_trip),
		T(test_creating_an_existing_object_is_a_conflict_naming_the_reason),
		T(test_update_at_a_stale_version_conflicts),
		T(test_api_errors_carry_the_status_and_reason_the_server_sent),
		T(test_retry_helper_rereads_after_a_conflict),
		T(test_retry_helper_gives_up_after_its_attempts),
		T(test_list_pages_through_2000_objects),
		T(test_label_and_field_selectors_filter_on_the_server),
		T(test_merge_patch_and_json_patch),
		T(test_miglayout_status_subresource_separates_spec_and_status),
		T(test_event_about_an_object_is_listed_with_it),
		T(test_token_file_is_reread_when_it_rotates),
		T(test_client_certificate_user_is_authenticated),
		T(test_in_cluster_service_account_is_authenticated_and_its_token_reread),
		T(test_watch_from_a_version_delivers_the_changes_since),
		T(test_watch_from_a_compacted_version_is_gone),
		T(test_server_ends_a_watch_at_its_timeout_cleanly),
		cmocka_unit_test(test_a_refused_connection_is_an_io_error_without_an_http_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
