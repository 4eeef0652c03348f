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
#include <sys/stat.h>

#include <yaml.h>

#include "kube.h"
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
	memset(cfg, 0, sizeof(*cfg));
}

char *kube_read_file(const char *path, size_t max, struct kerf_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 4096;

	if (!f) {
		kerf_err_set(err, errno == ENOENT ? KERF_ENOTFOUND : KERF_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 == cap) {
			char *nb = cap * 2 > max + 1 ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				kerf_err_set(err, KERF_EINVAL, "%s: larger than %zu bytes", path, max);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (!buf) {
		kerf_err_set(err, KERF_ENOMEM, "%s: out of memory", path);
	} else if (ferror(f)) {
		kerf_err_set(err, KERF_EIO, "%s: read failed", path);
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
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

static bool looks_like_pem(const char *s, const char *what)
{
	const char *b = strstr(s, "-----BEGIN ");
	return b && strstr(b, what) && strstr(b, "-----END ");
}

/* ---------------------------------------------------------------- YAML document navigation */

struct kc {
	yaml_document_t doc;
	const char *path; /* the file, for messages */
	char dir[4096];   /* its folder, for relative paths */
};

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
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: must be a string", k->path, path, key);
	*out = (const char *)n->data.scalar.value;
	if (**out == '\0')
		*out = NULL;
	return 0;
}

/* Finds the entry named name in a top-level list ("clusters", "users", "contexts"); sets the path. */
static yaml_node_t *find_named(struct kc *k, yaml_node_t *root, const char *list, const char *name,
			       const char *inner, char *path, size_t path_size, struct kerf_err *err)
{
	yaml_node_t *seq = map_get(k, root, list);
	int i = 0;

	if (!seq || seq->type != YAML_SEQUENCE_NODE) {
		kerf_err_set(err, KERF_EINVAL, "%s: %s: missing or not a list", k->path, list);
		return NULL;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
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
		return body;
	}
	kerf_err_set(err, KERF_ENOTFOUND, "%s: %s: no entry named \"%s\"", k->path, list, name);
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
		    char **out, struct kerf_err *err)
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
		if (!looks_like_pem(*out, what))
			return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: decodes to something that is not a PEM %s",
					    k->path, path, data_key, what);
		return 0;
	}
	if (!fname)
		return 0;
	file = abs_path(k, fname);
	if (!file)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	*out = kube_read_file(file, 1 << 20, err);
	free(file);
	if (!*out)
		return kerf_err_prefix(err, "%s: %s.%s", k->path, path, file_key);
	if (!looks_like_pem(*out, what))
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: %s is not a PEM %s", k->path, path, file_key, fname,
				    what);
	return 0;
}

static int load_cluster(struct kc *k, yaml_node_t *root, const char *name, struct kube_config *cfg,
			struct kerf_err *err)
{
	char path[128];
	const char *server, *insecure;
	yaml_node_t *cl = find_named(k, root, "clusters", name, "cluster", path, sizeof(path), err);
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
	if (get_str(k, cl, "insecure-skip-tls-verify", path, &insecure, err))
		return -1;
	cfg->insecure = insecure && strcmp(insecure, "true") == 0;
	return load_pem(k, cl, path, "certificate-authority", "CERTIFICATE", &cfg->ca_pem, err);
}

static int load_user(struct kc *k, yaml_node_t *root, const char *name, struct kube_config *cfg,
		     struct kerf_err *err)
{
	char path[128];
	const char *token, *token_file;
	yaml_node_t *u = find_named(k, root, "users", name, "user", path, sizeof(path), err);

	if (!u)
		return -1;
	if (load_pem(k, u, path, "client-certificate", "CERTIFICATE", &cfg->cert_pem, err) ||
	    load_pem(k, u, path, "client-key", "PRIVATE KEY", &cfg->key_pem, err))
		return -1;
	if (!cfg->cert_pem != !cfg->key_pem)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.%s: missing (the other half of the client key pair is set)",
				    k->path, path, cfg->cert_pem ? "client-key" : "client-certificate");
	if (get_str(k, u, "token", path, &token, err) || get_str(k, u, "tokenFile", path, &token_file, err))
		return -1;
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

static int load_doc(struct kc *k, const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	yaml_node_t *root = yaml_document_get_root_node(&k->doc), *ctx;
	const char *cur = context, *cluster, *user, *ns;
	char path[128];

	if (!root || root->type != YAML_MAPPING_NODE)
		return kerf_err_set(err, KERF_EINVAL, "%s: not a kubeconfig (the top level is not a mapping)", k->path);
	if (!cur && get_str(k, root, "current-context", "", &cur, err))
		return kerf_err_set(err, KERF_EINVAL, "%s: current-context: must be a string", k->path);
	if (!cur)
		return kerf_err_set(err, KERF_EINVAL, "%s: current-context: missing (and no context was named)",
				    k->path);
	ctx = find_named(k, root, "contexts", cur, "context", path, sizeof(path), err);
	if (!ctx)
		return -1;
	if (get_str(k, ctx, "cluster", path, &cluster, err) || get_str(k, ctx, "user", path, &user, err) ||
	    get_str(k, ctx, "namespace", path, &ns, err))
		return -1;
	if (!cluster)
		return kerf_err_set(err, KERF_EINVAL, "%s: %s.cluster: missing", k->path, path);
	cfg->namespace_ = strdup(ns ? ns : "default");
	if (!cfg->namespace_)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	if (load_cluster(k, root, cluster, cfg, err))
		return -1;
	/* A context without a user is legal (anonymous access); a named user must exist. */
	return user ? load_user(k, root, user, cfg, err) : 0;
}

int kube_config_load(const char *path, const char *context, struct kube_config *cfg, struct kerf_err *err)
{
	struct kc k = {.path = path};
	yaml_parser_t parser;
	char *text = NULL, *dcopy = NULL;
	int rc = -1, have_doc = 0;

	memset(cfg, 0, sizeof(*cfg));
	text = kube_read_file(path, 4 << 20, err);
	if (!text)
		goto out;
	dcopy = strdup(path);
	if (!dcopy) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(k.dir, sizeof(k.dir), "%s", dirname(dcopy));
	if (!yaml_parser_initialize(&parser)) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &k.doc)) {
		kerf_err_set(err, KERF_EINVAL, "%s: line %zu: %s", path, parser.problem_mark.line + 1,
			     parser.problem ? parser.problem : "not valid YAML");
		yaml_parser_delete(&parser);
		goto out;
	}
	have_doc = 1;
	yaml_parser_delete(&parser);
	rc = load_doc(&k, context, cfg, err);
out:
	if (have_doc)
		yaml_document_delete(&k.doc);
	free(dcopy);
	free(text);
	if (rc)
		kube_config_free(cfg);
	return rc;
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
	cfg->ca_pem = kube_read_file(path, 1 << 20, err);
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
		char *tok = kube_read_file(path, 1 << 16, err); /* fail now, not on the first request */
		if (!tok) {
			kerf_err_prefix(err, "in-cluster config");
			goto out;
		}
		free(tok);
	}
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	cfg->namespace_ = kube_read_file(path, 4096, NULL);
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
