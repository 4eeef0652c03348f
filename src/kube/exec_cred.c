/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec_cred.c — credential plugins (kubeconfig users[].user.exec), as kubectl runs them.
 *
 * Managed clusters hand out credentials through a plugin: gke-gcloud-auth-plugin, aws eks get-token,
 * kubelogin, ... The kubeconfig names a command; the client runs it and reads an ExecCredential
 * (client.authentication.k8s.io/v1 or v1beta1) from its standard output: a bearer token or a client
 * certificate and key, perhaps with an expiry.
 *
 * Design:
 *   - The plugin is started with posix_spawn (glibc's is a vfork+exec, safe in a threaded daemon; no shell,
 *     so arguments are never re-split). stdin is /dev/null: kerf is a daemon and never interactive
 *     (interactiveMode Always is refused when the kubeconfig is read). KUBERNETES_EXEC_INFO carries
 *     spec.interactive=false and, with provideClusterInfo, the cluster, as the client.authentication spec says.
 *   - stdout and stderr are read together with poll() until both close, bounded in size (1 MiB of stdout:
 *     a credential is a few KiB) and in time (the caller's timeout; the plugin is killed past it), so a
 *     hung or chatty plugin cannot hang or bloat a daemon.
 *   - A failure names the kubeconfig entry, the command, and what went wrong: not found (with the
 *     kubeconfig's installHint), the exit status with stderr's first line, or the malformed field of what
 *     it printed, by path.
 *   - The credential is cached in memory (kube_exec_source): the plugin runs again shortly before
 *     status.expirationTimestamp, and after the server answered 401 to the credential in use (once per
 *     credential: a refused fresh credential is an error the caller sees, not a loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "kube_exec.h"
#include "kube_internal.h"

extern char **environ;

#define PLUGIN_STDOUT_MAX (1 << 20)
#define PLUGIN_STDERR_KEEP 4096

static void scrub_free(char *s)
{
	if (s)
		memset(s, 0, strlen(s));
	free(s);
}

void kube_exec_cred_clear(struct kube_exec_cred *c)
{
	scrub_free(c->token);
	free(c->cert_pem);
	scrub_free(c->key_pem);
	memset(c, 0, sizeof(*c));
}

void kube_exec_free(struct kube_exec *x)
{
	if (!x)
		return;
	free(x->api_version);
	free(x->command);
	for (size_t i = 0; i < x->nargs; i++)
		free(x->args[i]);
	free(x->args);
	for (size_t i = 0; i < x->nenv; i++)
		free(x->env[i]);
	free(x->env);
	free(x->install_hint);
	free(x->where);
	free(x);
}

static char **dup_list(char *const *in, size_t n, bool *oom)
{
	char **out = calloc(n + 1, sizeof(*out));
	if (!out) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = strdup(in[i])))
			*oom = true;
	return out;
}

struct kube_exec *kube_exec_dup(const struct kube_exec *x)
{
	struct kube_exec *d = calloc(1, sizeof(*d));
	bool oom = !d;

	if (!d)
		return NULL;
	d->api_version = x->api_version ? strdup(x->api_version) : NULL;
	d->command = x->command ? strdup(x->command) : NULL;
	d->install_hint = x->install_hint ? strdup(x->install_hint) : NULL;
	d->where = x->where ? strdup(x->where) : NULL;
	oom |= (x->api_version && !d->api_version) || (x->command && !d->command) ||
	       (x->install_hint && !d->install_hint) || (x->where && !d->where);
	d->args = dup_list(x->args, x->nargs, &oom);
	d->nargs = d->args ? x->nargs : 0;
	d->env = dup_list(x->env, x->nenv, &oom);
	d->nenv = d->env ? x->nenv : 0;
	d->provide_cluster_info = x->provide_cluster_info;
	if (oom) {
		kube_exec_free(d);
		return NULL;
	}
	return d;
}

/* ---------------------------------------------------------------- RFC 3339 */

static int digits(const char **p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

int kube_rfc3339(const char *s, time_t *out)
{
	const char *p = s;
	struct tm tm = {0};
	int y, mo, d, h, mi, se, off = 0;

	if (!s)
		return -1;
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 1 || d > 31 || (*p != 'T' && *p != 't'))
		return -1;
	p++;
	if ((h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 || mi > 59 ||
	    *p++ != ':' || (se = digits(&p, 2)) < 0 || se > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if ((oh = digits(&p, 2)) < 0 || oh > 23 || *p++ != ':' || (om = digits(&p, 2)) < 0 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = timegm(&tm) - off;
	return 0;
}

/* ---------------------------------------------------------------- reading what the plugin printed */

static int cred_err(struct kerf_err *err, const struct kube_exec *x, const char *fmt, const char *a,
		    const char *b)
{
	char what[300];
	snprintf(what, sizeof(what), fmt, a ? a : "", b ? b : "");
	return kerf_err_set(err, KERF_EINVAL, "%s: plugin \"%s\" printed an ExecCredential that kerf cannot use: %s",
			    x->where ? x->where : "exec", x->command, what);
}

/* An optional string member: -1 when present but not a string. */
static int opt_str(json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	if (!**out)
		*out = NULL;
	return 0;
}

int kube_exec_parse(const struct kube_exec *x, const char *out, size_t len, struct kube_exec_cred *cred,
		    struct kerf_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(out, len, 0, &je), *status;
	const char *av, *kind, *token, *cert, *key, *exp;
	int rc = -1;

	memset(cred, 0, sizeof(*cred));
	if (!root) {
		char first[120];
		snprintf(first, sizeof(first), "%.*s", (int)(len < 80 ? len : 80), out);
		first[strcspn(first, "\r\n")] = '\0';
		cred_err(err, x, "not JSON (%s); it began \"%s\"", je.text, first);
		return -1;
	}
	if (!json_is_object(root)) {
		cred_err(err, x, "the top level is not an object%s%s", NULL, NULL);
		goto out;
	}
	if (opt_str(root, "apiVersion", &av) || !av) {
		cred_err(err, x, "apiVersion: missing or not a string (want \"%s\")%s", x->api_version, NULL);
		goto out;
	}
	if (strcmp(av, x->api_version) != 0) {
		cred_err(err, x, "apiVersion: \"%s\", but the kubeconfig asks for \"%s\"", av, x->api_version);
		goto out;
	}
	if (opt_str(root, "kind", &kind) || !kind || strcmp(kind, "ExecCredential") != 0) {
		cred_err(err, x, "kind: must be \"ExecCredential\"%s%s", NULL, NULL);
		goto out;
	}
	status = json_object_get(root, "status");
	if (!json_is_object(status)) {
		cred_err(err, x, "status: missing or not an object%s%s", NULL, NULL);
		goto out;
	}
	if (opt_str(status, "token", &token)) {
		cred_err(err, x, "status.token: must be a string%s%s", NULL, NULL);
		goto out;
	}
	if (opt_str(status, "clientCertificateData", &cert)) {
		cred_err(err, x, "status.clientCertificateData: must be a string%s%s", NULL, NULL);
		goto out;
	}
	if (opt_str(status, "clientKeyData", &key)) {
		cred_err(err, x, "status.clientKeyData: must be a string%s%s", NULL, NULL);
		goto out;
	}
	if (!cert != !key) {
		cred_err(err, x, "status.%s: missing (status.%s is set)", cert ? "clientKeyData" : "clientCertificateData",
			 cert ? "clientCertificateData" : "clientKeyData");
		goto out;
	}
	if (!token && !cert) {
		cred_err(err, x, "status: has neither token nor clientCertificateData and clientKeyData%s%s", NULL, NULL);
		goto out;
	}
	if (cert && !kube_looks_like_pem(cert, "CERTIFICATE")) {
		cred_err(err, x, "status.clientCertificateData: not a PEM CERTIFICATE%s%s", NULL, NULL);
		goto out;
	}
	if (key && !kube_looks_like_pem(key, "PRIVATE KEY")) {
		cred_err(err, x, "status.clientKeyData: not a PEM PRIVATE KEY%s%s", NULL, NULL);
		goto out;
	}
	if (opt_str(status, "expirationTimestamp", &exp)) {
		cred_err(err, x, "status.expirationTimestamp: must be a string%s%s", NULL, NULL);
		goto out;
	}
	if (exp && kube_rfc3339(exp, &cred->expiry)) {
		cred_err(err, x, "status.expirationTimestamp: \"%s\" is not an RFC 3339 time%s", exp, NULL);
		goto out;
	}
	if ((token && !(cred->token = strdup(token))) || (cert && !(cred->cert_pem = strdup(cert))) ||
	    (key && !(cred->key_pem = strdup(key)))) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc)
		kube_exec_cred_clear(cred);
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- running the plugin */

static char *b64_encode(const char *in)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	char *out = malloc((n + 2) / 3 * 4 + 1);
	const unsigned char *s = (const unsigned char *)in;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* KUBERNETES_EXEC_INFO's value: an ExecCredential with only a spec, as client.authentication defines it. */
static char *exec_info(const struct kube_exec *x, const struct kube_config *cfg)
{
	json_t *spec = json_pack("{s:b}", "interactive", 0), *root;
	char *out = NULL;

	if (spec && x->provide_cluster_info && cfg) {
		json_t *cl = json_pack("{s:s}", "server", cfg->server ? cfg->server : "");
		char *ca = cfg->ca_pem ? b64_encode(cfg->ca_pem) : NULL;
		if (cl && cfg->tls_server_name)
			json_object_set_new(cl, "tls-server-name", json_string(cfg->tls_server_name));
		if (cl && cfg->insecure)
			json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
		if (cl && ca)
			json_object_set_new(cl, "certificate-authority-data", json_string(ca));
		if (cl && cfg->proxy_url)
			json_object_set_new(cl, "proxy-url", json_string(cfg->proxy_url));
		free(ca);
		if (cl)
			json_object_set_new(spec, "cluster", cl);
	}
	root = spec ? json_pack("{s:s, s:s, s:o}", "apiVersion", x->api_version, "kind", "ExecCredential", "spec", spec)
		    : NULL;
	if (root)
		out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

static bool env_named(const char *entry, const char *name_eq)
{
	return strncmp(entry, name_eq, strcspn(name_eq, "=") + 1) == 0;
}

/* kerf's environment, less what the kubeconfig's env or KUBERNETES_EXEC_INFO replace, plus those. */
static char **plugin_env(const struct kube_exec *x, const char *info_kv)
{
	size_t n = 0, o = 0;
	char **envp;

	while (environ && environ[n])
		n++;
	envp = calloc(n + x->nenv + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool replaced = env_named(environ[i], info_kv);
		for (size_t j = 0; j < x->nenv && !replaced; j++)
			replaced = env_named(environ[i], x->env[j]);
		if (!replaced)
			envp[o++] = environ[i];
	}
	for (size_t j = 0; j < x->nenv; j++)
		envp[o++] = x->env[j];
	envp[o++] = (char *)info_kv;
	return envp;
}

/*
 * The file a command names: itself when it holds a '/', else the first executable of that name on kerf's
 * PATH (as kubectl's os/exec lookup). NULL with errno when there is none. Looked up here rather than left to
 * posix_spawnp so that "not found" is told apart from a plugin that exits 127 on its own, whatever the
 * spawn implementation (under valgrind it is a fork whose exec failure is only an exit status).
 */
static char *find_command(const char *cmd)
{
	const char *path = getenv("PATH");
	int last = ENOENT;

	if (strchr(cmd, '/')) {
		if (access(cmd, X_OK) != 0)
			return NULL;
		return strdup(cmd);
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *cand;
		if (asprintf(&cand, "%.*s%s%s", (int)n, n ? path : ".", "/", cmd) < 0)
			return NULL;
		if (access(cand, X_OK) == 0)
			return cand;
		if (errno != ENOENT && errno != ENOTDIR)
			last = errno;
		free(cand);
		path += n;
		if (*path == ':')
			path++;
	}
	errno = last;
	return NULL;
}

static long long wall_ms(void)
{
	return kube_now_ms();
}

/* A pipe's output, kept up to the buffer's limit; over: the child wrote more (the rest is dropped). */
struct pipe_buf {
	struct kerf_buf b;
	bool over;
};

/* Appends what fd has; returns 0 at end of file, 1 when more may come, -1 on a read error. */
static int drain(int fd, struct pipe_buf *pb)
{
	struct kerf_buf *b = &pb->b;
	char tmp[8192];
	ssize_t got = read(fd, tmp, sizeof(tmp));

	if (got < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (got == 0)
		return 0;
	if (b->len + (size_t)got > b->max) {
		pb->over = true;
		got = (ssize_t)(b->max - b->len);
	}
	return kerf_buf_add(b, tmp, (size_t)got, NULL) < 0 ? -1 : 1;
}

static void first_line(const struct pipe_buf *b, char *out, size_t size)
{
	const char *s = kerf_buf_str(&b->b);
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	snprintf(out, size, "%.*s", (int)strcspn(s, "\r\n"), s);
}

int kube_exec_run(const struct kube_exec *x, const struct kube_config *cfg, long timeout_ms,
		  struct kube_exec_cred *cred, struct kerf_err *err)
{
	const char *where = x->where ? x->where : "exec";
	char *info = exec_info(x, cfg), *info_kv = NULL, **argv = NULL, **envp = NULL, line[256], *file = NULL;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rc = -1, wst = 0, sp;
	struct pipe_buf out = {.over = false}, errb = {.over = false};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, deflt;
	pid_t pid = -1;
	bool timed_out = false;
	long long deadline = wall_ms() + (timeout_ms > 0 ? timeout_ms : 30000);

	kerf_buf_init(&out.b, PLUGIN_STDOUT_MAX, "plugin output");
	kerf_buf_init(&errb.b, PLUGIN_STDERR_KEEP, "plugin errors");
	memset(cred, 0, sizeof(*cred));
	if (info && asprintf(&info_kv, "KUBERNETES_EXEC_INFO=%s", info) < 0)
		info_kv = NULL;
	if (!info_kv || !(argv = calloc(x->nargs + 2, sizeof(*argv))) || !(envp = plugin_env(x, info_kv))) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto free_all;
	}
	if (!(file = find_command(x->command))) {
		if (errno == ENOENT || errno == ENOTDIR)
			kerf_err_set(err, KERF_ENOTFOUND, "%s: plugin \"%s\": not found%s%s", where, x->command,
				     x->install_hint ? ": " : " (and the kubeconfig gives no installHint)",
				     x->install_hint ? x->install_hint : "");
		else
			kerf_err_set(err, KERF_EIO, "%s: plugin \"%s\": cannot run it: %s", where, x->command,
				     strerror(errno));
		goto free_all;
	}
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		kerf_err_set(err, KERF_EIO, "%s: plugin \"%s\": pipe: %s", where, x->command, strerror(errno));
		goto free_all;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* The daemons ignore SIGPIPE and may block signals in threads; the plugin starts with neither. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	sp = posix_spawn(&pid, file, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (sp != 0) {
		kerf_err_set(err, KERF_EIO, "%s: plugin \"%s\": cannot run it: %s", where, x->command, strerror(sp));
		goto close_all;
	}

	for (bool out_open = true, err_open = true; out_open || err_open;) {
		struct pollfd pf[2];
		int n = 0, left = (int)(deadline - wall_ms());
		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (out_open)
			pf[n++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
		if (err_open)
			pf[n++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
		if (poll(pf, (nfds_t)n, left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			bool is_out = pf[i].fd == outp[0];
			int d;
			if (!pf[i].revents)
				continue;
			d = drain(pf[i].fd, is_out ? &out : &errb);
			if (d <= 0 || (is_out && out.over)) {
				if (is_out)
					out_open = false;
				else
					err_open = false;
			}
		}
		if (out.over)
			break;
	}
	if (timed_out || out.over)
		kill(pid, SIGKILL);
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	first_line(&errb, line, sizeof(line));
	if (timed_out) {
		kerf_err_set(err, KERF_ETIMEOUT, "%s: plugin \"%s\": still running after %ld ms; killed", where,
			     x->command, timeout_ms > 0 ? timeout_ms : 30000);
	} else if (out.over) {
		kerf_err_set(err, KERF_EINVAL, "%s: plugin \"%s\": printed more than %d bytes; killed", where,
			     x->command, PLUGIN_STDOUT_MAX);
	} else if (WIFSIGNALED(wst)) {
		kerf_err_set(err, KERF_EIO, "%s: plugin \"%s\": killed by signal %d%s%s", where, x->command,
			     WTERMSIG(wst), line[0] ? ": " : "", line);
	} else if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
		kerf_err_set(err, KERF_EIO, "%s: plugin \"%s\": exit status %d%s%s", where, x->command,
			     WIFEXITED(wst) ? WEXITSTATUS(wst) : -1, line[0] ? ": " : " (nothing on stderr)", line);
	} else {
		rc = kube_exec_parse(x, kerf_buf_str(&out.b), out.b.len, cred, err);
	}
close_all:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
free_all:
	if (out.b.p)
		memset(out.b.p, 0, out.b.len);
	kerf_buf_reset(&out.b);
	kerf_buf_reset(&errb.b);
	free(envp);
	free(argv);
	free(file);
	free(info_kv);
	free(info);
	return rc;
}

/* ---------------------------------------------------------------- the cache */

void kube_exec_source_init(struct kube_exec_source *s, const struct kube_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	pthread_mutex_init(&s->lock, NULL);
}

void kube_exec_source_destroy(struct kube_exec_source *s)
{
	kube_exec_cred_clear(&s->cred);
	pthread_mutex_destroy(&s->lock);
}

/* Whether the cached credential is missing or expires within the margin. */
static bool stale(const struct kube_exec_source *s, time_t now)
{
	time_t margin;
	if (!s->cred.token && !s->cred.cert_pem)
		return true;
	if (!s->cred.expiry)
		return false;
	margin = (s->cred.expiry - s->obtained) / 4;
	if (margin > 10)
		margin = 10;
	return now >= s->cred.expiry - margin;
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = true;
	return d;
}

int kube_exec_source_get(struct kube_exec_source *s, struct kube_exec_cred *out, unsigned long *gen,
			 struct kerf_err *err)
{
	bool oom = false;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	if (stale(s, time(NULL))) {
		struct kube_exec_cred fresh;
		s->runs++;
		if (kube_exec_run(s->cfg->exec, s->cfg, 30000, &fresh, err)) {
			rc = -1;
			goto out;
		}
		kube_exec_cred_clear(&s->cred);
		s->cred = fresh;
		s->obtained = time(NULL);
		s->gen++;
	}
	out->token = dup_opt(s->cred.token, &oom);
	out->cert_pem = dup_opt(s->cred.cert_pem, &oom);
	out->key_pem = dup_opt(s->cred.key_pem, &oom);
	out->expiry = s->cred.expiry;
	*gen = s->gen;
	if (oom) {
		kube_exec_cred_clear(out);
		rc = kerf_err_set(err, KERF_ENOMEM, "out of memory");
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void kube_exec_source_rejected(struct kube_exec_source *s, unsigned long gen)
{
	pthread_mutex_lock(&s->lock);
	if (gen == s->gen)
		kube_exec_cred_clear(&s->cred);
	pthread_mutex_unlock(&s->lock);
}
