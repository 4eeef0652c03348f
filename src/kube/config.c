/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c — kubeconfig files (libyaml's document API) and the in-cluster service account.
 *
 * Only the fields kerf uses are read; unknown fields are ignored, as kubectl does. Every failure names the
 * file and the field path ("users[0].user.client-key-data: not valid base64"), since a person fixing a
 * kubeconfig by hand needs exactly that.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "kube.h"
#include "kube_exec.h"
#include "kube_internal.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void kube_config_free(struct kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->ca_pem);
	free(cfg->cert_pem);
	if (cfg->key_pem) /* private key material: do not leave it in freed memory */
		memset(cfg->key_pem, 0, strlen(cfg->key_pem));
	free(cfg->key_pem);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->namespace_);
	free(cfg->cert_file);
	free(cfg->key_file);
	free(cfg->tls_server_name);
	free(cfg->proxy_url);
	kube_exec_free(cfg->exec);
	free(cfg->source);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---------------------------------------------------------------- base64 and PEM checks */

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding; whitespace is skipped (kubeconfigs are sometimes wrapped). NULL if invalid. */
static char *b64_decode(const char *in)
{
	size_t len = strlen(in), n = 0;
	char *out = malloc(len / 4 * 3 + 4);
	unsigned acc = 0;
	int bits = 0, pad = 0;

	if (!out)
		return NULL;
	for (const char *p = in; *p; p++) {
		int v;
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		v = b64val((unsigned char)*p);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2 || n == 0)
		goto bad;
	out[n] = '\0';
	if (strlen(out) != n) /* PEM is text; an embedded NUL means this is not what we want */
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

bool kube_looks_like_pem(const char *s, const char *what)
{
	const char *b = strstr(s, "-----BEGIN ");
	return b && strstr(b, what) && strstr(b, "-----END ");
}

/* ---------------------------------------------------------------- YAML document navigation */

struct kc {
	yaml_document_t doc;
	bool loaded;      /* doc holds a parsed document */
	const char *path; /* the file, for messages */
	char dir[4096];   /* its folder, for relative paths */
};

/* The files of one configuration, in precedence order (one for --kubeconfig, several for $KUBECONFIG). */
struct kcset {
	struct kc *k;
	size_t n;
	char names[1024]; /* "a:b", to name them all in a message about none of them in particular */
};

static yaml_node_t *root_of(struct kc *k)
{
	return k->loaded ? yaml_document_get_root_node(&k->doc) : NULL;
}

static yaml_node_t *map_get(struct kc *k, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);
		if (kn && kn->type == YAML_SCALAR_NODE && strcmp((char *)kn->data.scalar.value, key) == 0)
			return yaml_document_get_node(&k->doc, p->value);
	}
	return NULL;
}

/* A scalar string field: NULL and 0 when absent; -1 (err names the path) when present but not a string. */
static int get_str(struct kc *k, yaml_node_t *map, const char *key, const char *path, const char **out,
		   struct kerf_err *err)
{
	yaml_node_t *n = map_get(k, map, key);
	*out = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s%s%s: must be a string", k->path, path, *path ? "." : "",
				    key);
	*out = (const char *)n->data.scalar.value;
	if (**out == '\0')
		*out = NULL;
	return 0;
}

/* A boolean field (true/false); absent = def. */
static int get_bool(struct kc *k, yaml_node_t *map, const char *key, const char *path, bool def, bool *out,
		    struct kerf_err *err)
{
	const char *s;
	if (get_str(k, map, key, path, &s, err))
		return -1;
	*out = def;
	if (!s)
		return 0;
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0)
		*out = false;
	else
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: \"%s\" is not true or false", k->path, path, key, s);
	return 0;
}

/*
 * Finds the entry named name in a top-level list ("clusters", "users", "contexts") of the first file that
 * has one, as kubectl merges; sets *in to that file and path to "list[i].inner".
 */
static yaml_node_t *find_named(struct kcset *s, const char *list, const char *name, const char *inner,
			       struct kc **in, char *path, size_t path_size, struct kerf_err *err)
{
	bool seen = false;

	for (size_t f = 0; f < s->n; f++) {
		struct kc *k = &s->k[f];
		yaml_node_t *seq = map_get(k, root_of(k), list);
		int i = 0;
		if (!seq)
			continue;
		if (seq->type != YAML_SEQUENCE_NODE) {
			kerf_err_set(err, KERF_EINVAL, "%s: %s: missing or not a list", k->path, list);
			return NULL;
		}
		seen = true;
		for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
		     it++, i++) {
			yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
			yaml_node_t *n = map_get(k, e, "name");
			yaml_node_t *body;
			if (!n || n->type != YAML_SCALAR_NODE || strcmp((char *)n->data.scalar.value, name) != 0)
				continue;
			body = map_get(k, e, inner);
			snprintf(path, path_size, "%s[%d].%s", list, i, inner);
			if (!body || body->type != YAML_MAPPING_NODE) {
				kerf_err_set(err, KERF_EINVAL, "%s: %s: missing or not a mapping", k->path, path);
				return NULL;
			}
			*in = k;
			return body;
		}
	}
	if (!seen)
		kerf_err_set(err, KERF_EINVAL, "%s: %s: missing or not a list", s->names, list);
	else
		kerf_err_set(err, KERF_ENOTFOUND, "%s: %s: no entry named \"%s\"", s->names, list, name);
	return NULL;
}

static char *abs_path(struct kc *k, const char *p)
{
	char *out;
	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", k->dir, p) < 0)
		return NULL;
	return out;
}

/*
 * A PEM that may come inline (base64 "-data" field, which wins as in kubectl) or from a file. what is the
 * PEM label fragment that must appear ("CERTIFICATE", "PRIVATE KEY").
 */
static int load_pem(struct kc *k, yaml_node_t *map, const char *path, const char *file_key, const char *what,
		    char **out, char **file_out, struct kerf_err *err)
{
	char data_key[96], *file = NULL;
	const char *data, *fname;

	snprintf(data_key, sizeof(data_key), "%s-data", file_key);
	if (get_str(k, map, data_key, path, &data, err) || get_str(k, map, file_key, path, &fname, err))
		return -1;
	if (data) {
		*out = b64_decode(data);
		if (!*out)
			return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: not valid base64", k->path, path, data_key);
		if (!kube_looks_like_pem(*out, what))
			return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: decodes to something that is not a PEM %s",
					    k->path, path, data_key, what);
		return 0;
	}
	if (!fname)
		return 0;
	file = abs_path(k, fname);
	if (!file)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	*out = kerf_read_file(file, 1 << 20, NULL, err);
	if (file_out)
		*file_out = file;
	else
		free(file);
	if (!*out)
		return kerf_err_prefix(err, "%s: %s.%s", k->path, path, file_key);
	if (!kube_looks_like_pem(*out, what))
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: %s is not a PEM %s", k->path, path, file_key, fname,
				    what);
	return 0;
}

static int load_cluster(struct kcset *s, const char *name, struct kube_config *cfg, struct kerf_err *err)
{
	char path[128];
	const char *server, *sni, *proxy;
	struct kc *k = NULL;
	yaml_node_t *cl = find_named(s, "clusters", name, "cluster", &k, path, sizeof(path), err);
	size_t n;

	if (!cl || get_str(k, cl, "server", path, &server, err))
		return -1;
	if (!server)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.server: missing", k->path, path);
	if (strncmp(server, "https://", 8) != 0 || !server[8])
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.server: \"%s\" is not an https:// URL", k->path, path,
				    server);
	cfg->server = strdup(server);
	if (!cfg->server)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	n = strlen(cfg->server);
	while (n > 8 && cfg->server[n - 1] == '/')
		cfg->server[--n] = '\0';
	if (get_bool(k, cl, "insecure-skip-tls-verify", path, false, &cfg->insecure, err))
		return -1;
	if (get_str(k, cl, "tls-server-name", path, &sni, err) || get_str(k, cl, "proxy-url", path, &proxy, err))
		return -1;
	if (sni) {
		if (sni[strcspn(sni, "/:@ \t[]")] != '\0')
			return kerf_err_set(err, KERF_EINVAL, "%s: %s.tls-server-name: \"%s\" is not a host name", k->path,
					    path, sni);
		if (!(cfg->tls_server_name = strdup(sni)))
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	if (proxy) {
		/* client-go takes http, https and socks5 proxies; Go's socks5 dialer lets the proxy resolve names,
		 * which is libcurl's socks5h. */
		bool socks = strncmp(proxy, "socks5://", 9) == 0;
		if (!socks && strncmp(proxy, "http://", 7) != 0 && strncmp(proxy, "https://", 8) != 0)
			return kerf_err_set(err, KERF_EINVAL,
					    "%s: %s.proxy-url: \"%s\" is not an http://, https:// or socks5:// URL", k->path,
					    path, proxy);
		if (asprintf(&cfg->proxy_url, "%s%s", socks ? "socks5h://" : "", socks ? proxy + 9 : proxy) < 0) {
			cfg->proxy_url = NULL;
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
		}
	}
	return load_pem(k, cl, path, "certificate-authority", "CERTIFICATE", &cfg->ca_pem, NULL, err);
}

/* A list of strings (exec.args) or of {name, value} (exec.env, turned into "name=value"). */
static int load_list(struct kc *k, yaml_node_t *seq, const char *path, bool pairs, char ***out, size_t *n,
		     struct kerf_err *err)
{
	size_t cap, i = 0;

	if (seq->type != YAML_SEQUENCE_NODE)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s: must be a list", k->path, path);
	cap = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (!(*out = calloc(cap + 1, sizeof(**out))))
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
		char ipath[160];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (!pairs) {
			if (!e || e->type != YAML_SCALAR_NODE)
				return kerf_err_set(err, KERF_EINVAL, "%s: %s: must be a string", k->path, ipath);
			(*out)[i] = strdup((char *)e->data.scalar.value);
		} else {
			const char *name, *value;
			if (!e || e->type != YAML_MAPPING_NODE)
				return kerf_err_set(err, KERF_EINVAL, "%s: %s: must be a mapping {name, value}", k->path,
						    ipath);
			if (get_str(k, e, "name", ipath, &name, err) || get_str(k, e, "value", ipath, &value, err))
				return -1;
			if (!name)
				return kerf_err_set(err, KERF_EINVAL, "%s: %s.name: missing", k->path, ipath);
			if (name[strcspn(name, "=")] != '\0')
				return kerf_err_set(err, KERF_EINVAL, "%s: %s.name: \"%s\" holds '='", k->path, ipath, name);
			if (asprintf(&(*out)[i], "%s=%s", name, value ? value : "") < 0)
				(*out)[i] = NULL;
		}
		*n = i + 1;
		if (!(*out)[i])
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	return 0;
}

#define EXEC_V1 "client.authentication.k8s.io/v1"
#define EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"

/* users[i].user.exec: a credential plugin (exec_cred.c runs it). */
static int load_exec(struct kc *k, yaml_node_t *e, const char *upath, struct kube_config *cfg,
		     struct kerf_err *err)
{
	char path[160];
	const char *av, *cmd, *hint, *mode;
	yaml_node_t *args, *env;
	struct kube_exec *x;

	snprintf(path, sizeof(path), "%s.exec", upath);
	if (e->type != YAML_MAPPING_NODE)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s: must be a mapping", k->path, path);
	if (!(x = cfg->exec = calloc(1, sizeof(*x))))
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	if (get_str(k, e, "apiVersion", path, &av, err) || get_str(k, e, "command", path, &cmd, err) ||
	    get_str(k, e, "installHint", path, &hint, err) || get_str(k, e, "interactiveMode", path, &mode, err) ||
	    get_bool(k, e, "provideClusterInfo", path, false, &x->provide_cluster_info, err))
		return -1;
	if (!av)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.apiVersion: missing (" EXEC_V1 " or " EXEC_V1BETA1 ")",
				    k->path, path);
	if (strcmp(av, EXEC_V1) != 0 && strcmp(av, EXEC_V1BETA1) != 0)
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "%s: %s.apiVersion: \"%s\" is not supported (" EXEC_V1 " or " EXEC_V1BETA1
				    "; v1alpha1 was removed in Kubernetes 1.24)",
				    k->path, path, av);
	if (!cmd)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.command: missing", k->path, path);
	/* client.authentication.k8s.io/v1 makes interactiveMode required; v1beta1 defaults it to IfAvailable. */
	if (!mode && strcmp(av, EXEC_V1) == 0)
		return kerf_err_set(err, KERF_EINVAL,
				    "%s: %s.interactiveMode: missing (required by " EXEC_V1 "; Never or IfAvailable)",
				    k->path, path);
	if (mode && strcmp(mode, "Always") == 0)
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "%s: %s.interactiveMode: Always: kerf runs as a daemon with no terminal and never runs "
				    "a plugin interactively; use a plugin (or plugin flags) that gets its credential "
				    "without a person, and interactiveMode Never or IfAvailable",
				    k->path, path);
	if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.interactiveMode: \"%s\" is not Never, IfAvailable or Always",
				    k->path, path, mode);
	x->api_version = strdup(av);
	/* A command with a path separator is a file, relative to the kubeconfig's folder as in client-go; a
	 * bare name is looked up on PATH when it runs. */
	x->command = strchr(cmd, '/') ? abs_path(k, cmd) : strdup(cmd);
	x->install_hint = hint ? strdup(hint) : NULL;
	if (!x->api_version || !x->command || (hint && !x->install_hint) ||
	    asprintf(&x->where, "%s: %s", k->path, path) < 0) {
		x->where = NULL;
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	args = map_get(k, e, "args");
	env = map_get(k, e, "env");
	{
		char sub[200];
		snprintf(sub, sizeof(sub), "%s.args", path);
		if (args && !(args->type == YAML_SCALAR_NODE && !*args->data.scalar.value) &&
		    load_list(k, args, sub, false, &x->args, &x->nargs, err))
			return -1;
		snprintf(sub, sizeof(sub), "%s.env", path);
		if (env && !(env->type == YAML_SCALAR_NODE && !*env->data.scalar.value) &&
		    load_list(k, env, sub, true, &x->env, &x->nenv, err))
			return -1;
	}
	return 0;
}

static int load_user(struct kcset *s, const char *name, struct kube_config *cfg, struct kerf_err *err)
{
	char path[128];
	const char *token, *token_file;
	struct kc *k = NULL;
	yaml_node_t *u = find_named(s, "users", name, "user", &k, path, sizeof(path), err), *ap, *ex;

	if (!u)
		return -1;
	/* Refused rather than ignored: ignoring them meant going out anonymous, and a user then saw a sync
	 * timeout instead of the reason. */
	if ((ap = map_get(k, u, "auth-provider")) != NULL) {
		const char *apn = NULL;
		yaml_node_t *n = map_get(k, ap, "name");
		if (n && n->type == YAML_SCALAR_NODE)
			apn = (const char *)n->data.scalar.value;
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "%s: %s.auth-provider: \"%s\" is not supported: auth-provider plugins were removed from "
				    "client-go in Kubernetes 1.26; use an exec credential plugin instead "
				    "(gke-gcloud-auth-plugin for GKE, kubelogin for AKS and for OIDC, "
				    "aws eks get-token for EKS)",
				    k->path, path, apn ? apn : "(no name)");
	}
	if (map_get(k, u, "username") || map_get(k, u, "password"))
		return kerf_err_set(err, KERF_EUNSUPPORTED,
				    "%s: %s.%s: basic authentication is not supported (kube-apiserver dropped it in 1.19); "
				    "use a token, a client certificate or an exec plugin",
				    k->path, path, map_get(k, u, "username") ? "username" : "password");
	if (load_pem(k, u, path, "client-certificate", "CERTIFICATE", &cfg->cert_pem, &cfg->cert_file, err) ||
	    load_pem(k, u, path, "client-key", "PRIVATE KEY", &cfg->key_pem, &cfg->key_file, err))
		return -1;
	if (!cfg->cert_file != !cfg->key_file) { /* one inline, one a file: nothing to re-read as a pair */
		free(cfg->cert_file);
		free(cfg->key_file);
		cfg->cert_file = cfg->key_file = NULL;
	}
	if (!cfg->cert_pem != !cfg->key_pem)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: missing (the other half of the client key pair is set)",
				    k->path, path, cfg->cert_pem ? "client-key" : "client-certificate");
	if (get_str(k, u, "token", path, &token, err) || get_str(k, u, "tokenFile", path, &token_file, err))
		return -1;
	if ((ex = map_get(k, u, "exec")) != NULL) {
		/* client-go would let a static token silently win over the plugin and fails on a certificate;
		 * kerf says so when the file is read. */
		if (token || token_file || cfg->cert_pem)
			return kerf_err_set(err, KERF_EINVAL,
					    "%s: %s.exec: cannot be combined with %s (one way to authenticate per user)",
					    k->path, path, token ? "token" : token_file ? "tokenFile" : "a client certificate");
		return load_exec(k, ex, path, cfg, err);
	}
	if (token && !(cfg->token = strdup(token)))
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	if (!token && token_file) {
		struct stat st;
		cfg->token_file = abs_path(k, token_file);
		if (!cfg->token_file)
			return kerf_err_set(err, KERF_ENOMEM, "out of memory");
		if (stat(cfg->token_file, &st) != 0)
			return kerf_err_set(err, KERF_EINVAL, "%s: %s.tokenFile: %s: %s", k->path, path,
					    cfg->token_file, strerror(errno));
	}
	return 0;
}

static int load_set(struct kcset *s, const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	const char *cur = context, *cluster, *user, *ns;
	struct kc *k = NULL;
	yaml_node_t *ctx;
	char path[128];

	for (size_t f = 0; f < s->n; f++) {
		yaml_node_t *root = root_of(&s->k[f]);
		/* An empty file is an empty configuration (kubectl merges it as nothing). */
		if (root && root->type != YAML_MAPPING_NODE)
			return kerf_err_set(err, KERF_EINVAL, "%s: not a kubeconfig (the top level is not a mapping)",
					    s->k[f].path);
		if (!cur && get_str(&s->k[f], root, "current-context", "", &cur, err))
			return -1;
	}
	if (!cur)
		return kerf_err_set(err, KERF_EINVAL, "%s: current-context: missing (and no context was named)",
				    s->names);
	ctx = find_named(s, "contexts", cur, "context", &k, path, sizeof(path), err);
	if (!ctx)
		return -1;
	if (get_str(k, ctx, "cluster", path, &cluster, err) || get_str(k, ctx, "user", path, &user, err) ||
	    get_str(k, ctx, "namespace", path, &ns, err))
		return -1;
	if (!cluster)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.cluster: missing", k->path, path);
	cfg->namespace_ = strdup(ns ? ns : "default");
	if (!cfg->namespace_ || asprintf(&cfg->source, "kubeconfig %s, context %s", s->names, cur) < 0) {
		cfg->source = NULL;
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	if (load_cluster(s, cluster, cfg, err))
		return -1;
	/* A context without a user is legal (anonymous access); a named user must exist. */
	return user ? load_user(s, user, cfg, err) : 0;
}

/* Reads and parses one file. Returns 0, or -1 with err (KERF_ENOTFOUND when it does not exist). */
static int kc_open(struct kc *k, const char *path, struct kerf_err *err)
{
	yaml_parser_t parser;
	char *text, *dcopy;
	int rc = -1;

	k->path = path;
	text = kerf_read_file(path, 4 << 20, NULL, err);
	if (!text)
		return -1;
	dcopy = strdup(path);
	if (!dcopy || !yaml_parser_initialize(&parser)) {
		free(dcopy);
		free(text);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	snprintf(k->dir, sizeof(k->dir), "%s", dirname(dcopy));
	yaml_parser_set_input_string(&parser, (unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &k->doc))
		kerf_err_set(err, KERF_EINVAL, "%s: line %zu: %s", path, parser.problem_mark.line + 1,
			     parser.problem ? parser.problem : "not valid YAML");
	else
		k->loaded = true, rc = 0;
	yaml_parser_delete(&parser);
	free(dcopy);
	free(text);
	return rc;
}

int kube_config_load_merged(const char *const *paths, size_t n, const char *context, struct kube_config *cfg,
			    struct kerf_err *err)
{
	struct kcset s = {.k = calloc(n ? n : 1, sizeof(struct kc))};
	size_t used = 0;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (!s.k)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct kerf_err e;
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++) /* kubectl reads a file named twice once */
			dup = strcmp(paths[i], paths[j]) == 0;
		if (dup || !paths[i][0])
			continue;
		if (kc_open(&s.k[used], paths[i], &e)) {
			if (e.code == KERF_ENOTFOUND && n > 1)
				continue; /* a missing file in a list is skipped, as kubectl does */
			if (err)
				*err = e;
			goto out;
		}
		snprintf(s.names + strlen(s.names), sizeof(s.names) - strlen(s.names), "%s%s", used ? ":" : "",
			 paths[i]);
		used++;
	}
	s.n = used;
	if (!used) {
		kerf_err_set(err, KERF_ENOTFOUND, "none of the kubeconfig files exists (%zu named)", n);
		goto out;
	}
	rc = load_set(&s, context, cfg, err);
out:
	for (size_t i = 0; i < n; i++)
		if (s.k[i].loaded)
			yaml_document_delete(&s.k[i].doc);
	free(s.k);
	if (rc)
		kube_config_free(cfg);
	return rc;
}

int kube_config_load(const char *path, const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	return kube_config_load_merged(&path, 1, context, cfg, err);
}


int kube_config_in_cluster(const char *sa_dir, struct kube_config *cfg, struct kerf_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[4096];
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (!sa_dir)
		sa_dir = SA_DIR;
	if (!host || !*host || !port || !*port)
		return kerf_err_set(err, KERF_ENOTFOUND,
				    "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
	/* An IPv6 service address needs brackets in a URL. */
	if (asprintf(&cfg->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
		cfg->server = NULL;
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	cfg->ca_pem = kerf_read_file(path, 1 << 20, NULL, err);
	if (!cfg->ca_pem) {
		kerf_err_prefix(err, "in-cluster config");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	cfg->token_file = strdup(path);
	if (!cfg->token_file) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	{
		char *tok = kerf_read_file(path, 1 << 16, NULL, err); /* fail now, not on the first request */
		if (!tok) {
			kerf_err_prefix(err, "in-cluster config");
			goto out;
		}
		free(tok);
	}
	if (asprintf(&cfg->source, "in-cluster service account (%s, %s)", cfg->server, sa_dir) < 0) {
		cfg->source = NULL;
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	cfg->namespace_ = kerf_read_file(path, 4096, NULL, NULL);
	if (cfg->namespace_)
		cfg->namespace_[strcspn(cfg->namespace_, " \r\n")] = '\0';
	else if (!(cfg->namespace_ = strdup("default"))) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc)
		kube_config_free(cfg);
	return rc;
}

/* ---------------------------------------------------------------- copies and the default order */

static int dup_field(char **dst, const char *src, bool *oom)
{
	*dst = src ? strdup(src) : NULL;
	if (src && !*dst)
		*oom = true;
	return 0;
}

int kube_config_copy(struct kube_config *dst, const struct kube_config *src, struct kerf_err *err)
{
	bool oom = false;

	memset(dst, 0, sizeof(*dst));
	dup_field(&dst->server, src->server, &oom);
	dup_field(&dst->ca_pem, src->ca_pem, &oom);
	dup_field(&dst->cert_pem, src->cert_pem, &oom);
	dup_field(&dst->key_pem, src->key_pem, &oom);
	dup_field(&dst->token, src->token, &oom);
	dup_field(&dst->token_file, src->token_file, &oom);
	dup_field(&dst->namespace_, src->namespace_, &oom);
	dup_field(&dst->cert_file, src->cert_file, &oom);
	dup_field(&dst->key_file, src->key_file, &oom);
	dup_field(&dst->tls_server_name, src->tls_server_name, &oom);
	dup_field(&dst->proxy_url, src->proxy_url, &oom);
	dup_field(&dst->source, src->source, &oom);
	dst->insecure = src->insecure;
	if (src->exec && !(dst->exec = kube_exec_dup(src->exec)))
		oom = true;
	if (oom) {
		kube_config_free(dst);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	return 0;
}

/* $KUBECONFIG split on ':' (empty entries dropped). 1 when it named no file; -1 on out of memory. */
static int load_env_list(const char *list, const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	char *copy = strdup(list), *save = NULL;
	const char **paths = calloc(strlen(list) / 2 + 2, sizeof(*paths));
	size_t n = 0;
	int rc;

	if (!copy || !paths) {
		free(copy);
		free(paths);
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
		paths[n++] = t;
	/* Several names: missing ones are skipped (load_merged); a single one too, as kubectl does. */
	if (n == 1 && access(paths[0], F_OK) != 0 && errno == ENOENT)
		rc = 1;
	else if (n == 0)
		rc = 1;
	else {
		rc = kube_config_load_merged(paths, n, context, cfg, err);
		if (rc && err && err->code == KERF_ENOTFOUND && strstr(err->msg, "none of the kubeconfig files"))
			rc = 1;
		if (rc == 0) {
			char *src;
			if (asprintf(&src, "%s (from $KUBECONFIG)", cfg->source) >= 0) {
				free(cfg->source);
				cfg->source = src;
			}
		}
	}
	free(paths);
	free(copy);
	return rc;
}

static int home_config(char *out, size_t size)
{
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return -1;
	snprintf(out, size, "%s/.kube/config", home);
	return 0;
}

static int in_cluster(const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	if (context)
		return kerf_err_set(err, KERF_EINVAL,
				    "--context %s names a kubeconfig context, but no kubeconfig was found (the in-cluster "
				    "service account was chosen)",
				    context);
	return kube_config_in_cluster(NULL, cfg, err);
}

int kube_config_default(const char *explicit_path, const char *context, enum kube_config_order order,
			struct kube_config *cfg, struct kerf_err *err)
{
	const char *env = getenv("KUBECONFIG"), *host = getenv("KUBERNETES_SERVICE_HOST");
	bool env_set = env && *env, cluster_possible = host && *host;
	char home[4096] = "";
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (explicit_path)
		return kube_config_load(explicit_path, context, cfg, err);
	if (env_set) {
		rc = load_env_list(env, context, cfg, err);
		if (rc <= 0)
			return rc;
		/* $KUBECONFIG named only files that do not exist: kubectl then has an empty configuration and
		 * uses the in-cluster account when it can; it never falls back to ~/.kube/config. */
		if (cluster_possible)
			return in_cluster(context, cfg, err);
		return kerf_err_set(err, KERF_ENOTFOUND, "$KUBECONFIG=%s: none of its files exists", env);
	}
	if (order == KUBE_ORDER_DAEMON && cluster_possible)
		return in_cluster(context, cfg, err);
	if (home_config(home, sizeof(home)) == 0 && access(home, F_OK) == 0)
		return kube_config_load(home, context, cfg, err);
	if (cluster_possible)
		return in_cluster(context, cfg, err);
	return kerf_err_set(err, KERF_ENOTFOUND,
			    "no cluster configuration: no --kubeconfig, $KUBECONFIG unset, not in a pod "
			    "(KUBERNETES_SERVICE_HOST unset), and %s does not exist",
			    home[0] ? home : "~/.kube/config");
}
