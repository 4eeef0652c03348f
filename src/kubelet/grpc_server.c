/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc_server.c — a single-threaded gRPC server on unix sockets (unary and server-streaming methods).
 *
 * One thread owns every socket and nghttp2 session, so handlers never race each other and a stream's
 * state needs no lock. Other threads talk to it through the listener table (under a mutex) and an
 * eventfd that wakes its poll(). Handlers must be quick: they run on this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "buf.h"
#include "kgrpc.h"
#include "kgrpc_sock.h"

#define MAX_LISTENERS 32
#define PATH_MAX_LEN 108

struct listener {
	bool used;                     /* slot taken (under the lock) */
	bool live;                     /* adopted by the server thread (its own flag) */
	int fd;                        /* owned by the server thread once published */
	int pending_fd;                /* a fresh socket waiting to replace fd, or -1 */
	char path[PATH_MAX_LEN];
	const struct kgrpc_method *methods;
	size_t n_methods;
	const struct kgrpc_stream_ops *ops;
	void *ctx;
};

struct stream {
	int32_t id;
	struct stream *next;
	const struct kgrpc_method *method;
	char path[128];
	size_t header_bytes;
	bool bad_method, bad_type, path_seen;
	struct kerf_buf req; /* the request's frame, at most KGRPC_MAX_MSG + KGRPC_HDR_LEN */
	bool req_too_big, dispatched;
	int64_t opened_ms;
	/* response: the bytes of the message being sent */
	uint8_t *out;
	size_t out_len, out_off;
	bool unary, trailers_sent;
	/* streaming */
	bool watching;
	uint64_t built_gen;  /* generation of the message in out (or last one built) */
	uint64_t frame_gen;  /* generation completed by the DATA frame being sent */
	uint64_t sent_gen;   /* generation whose last byte has been written to the socket */
};

struct conn {
	struct kgrpc_server *srv;
	int fd;
	int listener;
	nghttp2_session *s;
	struct stream *streams;
	int64_t last_ms;  /* last byte received */
	bool dead;
	struct conn *next;
};

struct kgrpc_server {
	pthread_t thread;
	bool thread_started;
	int wake_fd;
	pthread_mutex_t lock; /* listeners[] and stop */
	bool stop;
	struct listener listeners[MAX_LISTENERS];
	/* server-thread only */
	struct conn *conns;
	size_t n_conns;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
};

/* ---- sockets ---- */

static int listen_unix(const char *path, int *out, struct kerf_err *err)
{
	struct sockaddr_un sa;
	int fd;

	if (kgrpc_sock_open(path, SOCK_NONBLOCK, &sa, &fd, err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT) {
		close(fd);
		return kerf_err_set(err, KERF_EIO, "%s: unlink: %s", path, strerror(errno));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return kerf_err_set(err, KERF_EIO, "%s: bind/listen: %s", path, strerror(e));
	}
	*out = fd;
	return 0;
}

static void wake(struct kgrpc_server *srv)
{
	uint64_t one = 1;

	if (write(srv->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("kgrpc: eventfd write");
}

/* ---- streams ---- */

static struct conn *conn_of(void *user)
{
	return user;
}

static void stream_free(struct stream *st)
{
	kerf_buf_reset(&st->req);
	free(st->out);
	free(st);
}

static struct stream *stream_find(struct conn *c, int32_t id)
{
	for (struct stream *st = c->streams; st != NULL; st = st->next)
		if (st->id == id)
			return st;
	return NULL;
}

static void report_progress(struct kgrpc_server *srv, int lid)
{
	struct listener *l = &srv->listeners[lid];
	uint64_t min = UINT64_MAX;
	size_t n = 0;

	if (l->ops == NULL || l->ops->progress == NULL)
		return;
	for (struct conn *c = srv->conns; c != NULL; c = c->next) {
		if (c->listener != lid || c->dead)
			continue;
		for (struct stream *st = c->streams; st != NULL; st = st->next)
			if (st->watching) {
				n++;
				if (st->sent_gen < min)
					min = st->sent_gen;
			}
	}
	l->ops->progress(l->ctx, min, n);
}

/* Percent-encodes what gRPC requires for grpc-message: bytes outside 0x20..0x7E, and '%'. */
static void percent_encode(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && o + 4 < cap; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
	}
	out[o] = '\0';
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

/* Answers with headers only, carrying the status ("trailers-only" in the gRPC spec). */
static void respond_status(nghttp2_session *s, struct stream *st, enum kgrpc_code code, const char *msg)
{
	char codestr[8], enc[400];

	snprintf(codestr, sizeof(codestr), "%d", (int)code);
	percent_encode(msg, enc, sizeof(enc));
	const nghttp2_nv hdrs[] = {
		NV(":status", "200"), NV("content-type", "application/grpc"),
		NV("grpc-status", codestr), NV("grpc-message", enc),
	};
	st->dispatched = true;
	nghttp2_submit_response(s, st->id, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), NULL);
}

static ssize_t out_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			   nghttp2_data_source *src, void *user)
{
	struct stream *st = src->ptr;
	struct conn *c = conn_of(user);
	size_t n;

	if (st->out_off == st->out_len && st->watching) {
		struct listener *l = &c->srv->listeners[c->listener];
		uint8_t *frame = NULL;
		size_t flen = 0;
		uint64_t gen = st->built_gen;

		if (l->ops->next(l->ctx, &gen, &frame, &flen) != 1)
			return NGHTTP2_ERR_DEFERRED;
		free(st->out);
		st->out = frame;
		st->out_len = flen;
		st->out_off = 0;
		st->built_gen = gen;
	}
	n = st->out_len - st->out_off;
	if (n > len)
		n = len;
	memcpy(buf, st->out + st->out_off, n);
	st->out_off += n;
	if (st->out_off == st->out_len)
		st->frame_gen = st->built_gen;
	if (st->unary && st->out_off == st->out_len) {
		const nghttp2_nv trailers[] = {NV("grpc-status", "0")};

		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(s, id, trailers, 1) != 0)
			*flags &= ~(uint32_t)NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
	return (ssize_t)n;
}

static void dispatch(nghttp2_session *s, struct conn *c, struct stream *st)
{
	struct kgrpc_server *srv = c->srv;
	struct listener *l = &srv->listeners[c->listener];
	struct kgrpc_reply reply = {.code = KGRPC_OK};
	ProtobufCMessage *req = NULL;
	enum kgrpc_code code;
	struct kerf_err err;
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = out_read_cb};
	const nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc")};

	if (st->bad_method || st->bad_type) {
		respond_status(s, st, KGRPC_INTERNAL, "a gRPC request is a POST with content-type application/grpc");
		return;
	}
	if (st->method == NULL) {
		respond_status(s, st, KGRPC_UNIMPLEMENTED, "unknown method");
		return;
	}
	if (st->req_too_big) {
		respond_status(s, st, KGRPC_RESOURCE_EXHAUSTED, "request message exceeds the server's limit");
		return;
	}
	if (kgrpc_frame_decode((const uint8_t *)st->req.p, st->req.len, KGRPC_MAX_MSG, st->method->req_desc, &req, &code, &err) < 0) {
		respond_status(s, st, code, err.msg);
		return;
	}
	st->method->call(l->ctx, req, &reply);
	protobuf_c_message_free_unpacked(req, NULL);
	if (reply.code != KGRPC_OK) {
		free(reply.body);
		respond_status(s, st, reply.code, reply.msg);
		return;
	}
	st->dispatched = true;
	if (st->method->streaming) {
		free(reply.body);
		st->watching = true;
	} else {
		st->unary = true;
		st->out = reply.body;
		st->out_len = reply.len;
	}
	nghttp2_submit_response(s, st->id, hdrs, 2, &dp);
	if (st->watching)
		report_progress(srv, c->listener);
}

static int begin_headers_cb(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *c = conn_of(user);
	struct stream *st;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	kerf_buf_init(&st->req, KGRPC_MAX_MSG + KGRPC_HDR_LEN, "gRPC request");
	st->id = f->hd.stream_id;
	st->opened_ms = kgrpc_now_ms();
	st->bad_type = true; /* until a grpc content-type is seen */
	st->next = c->streams;
	c->streams = st;
	return 0;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct conn *c = conn_of(user);
	struct stream *st = stream_find(c, f->hd.stream_id);
	struct listener *l = &c->srv->listeners[c->listener];

	(void)s;
	(void)flags;
	if (st == NULL || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	st->header_bytes += nlen + vlen;
	if (st->header_bytes > KGRPC_MAX_HEADER_BYTES)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
	if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
		snprintf(st->path, sizeof(st->path), "%.*s", (int)(vlen < 127 ? vlen : 127), (const char *)value);
		st->path_seen = true;
		for (size_t i = 0; i < l->n_methods; i++)
			if (strlen(l->methods[i].path) == vlen && memcmp(l->methods[i].path, value, vlen) == 0)
				st->method = &l->methods[i];
	} else if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
		st->bad_method = !(vlen == 4 && memcmp(value, "POST", 4) == 0);
	} else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
		st->bad_type = !(vlen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
				 (vlen == 16 || value[16] == '+' || value[16] == ';'));
	}
	return 0;
}

static int data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
	struct stream *st = stream_find(conn_of(user), id);

	(void)s;
	(void)flags;
	if (st == NULL || st->req_too_big)
		return 0;
	if (len > st->req.max - st->req.len) {
		st->req_too_big = true; /* keep reading (flow control) but keep nothing */
		kerf_buf_reset(&st->req);
		return 0;
	}
	if (kerf_buf_add(&st->req, data, len, NULL) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int frame_recv_cb(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *c = conn_of(user);
	struct stream *st;

	if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = stream_find(c, f->hd.stream_id);
	if (st != NULL && !st->dispatched)
		dispatch(s, c, st);
	return 0;
}

static int frame_send_cb(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct conn *c = conn_of(user);
	struct stream *st;

	(void)s;
	if (f->hd.type != NGHTTP2_DATA)
		return 0;
	st = stream_find(c, f->hd.stream_id);
	if (st != NULL && st->watching && st->frame_gen > st->sent_gen) {
		st->sent_gen = st->frame_gen;
		report_progress(c->srv, c->listener);
	}
	return 0;
}

static int stream_close_cb(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct conn *c = conn_of(user);
	bool watching = false;

	(void)s;
	(void)code;
	for (struct stream **pp = &c->streams; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct stream *st = *pp;

			watching = st->watching;
			*pp = st->next;
			stream_free(st);
			break;
		}
	}
	if (watching)
		report_progress(c->srv, c->listener);
	return 0;
}

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
	struct kerf_err ignored; /* a connection that fails is closed; nothing asks why */

	(void)s;
	(void)flags;
	return kgrpc_sock_send(conn_of(user)->fd, data, len, &ignored);
}

/* ---- connections ---- */

static void conn_accept(struct kgrpc_server *srv, int lid)
{
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, KGRPC_MAX_STREAMS},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, KGRPC_MAX_HEADER_BYTES},
	};
	struct conn *c;
	int fd = accept4(srv->listeners[lid].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (srv->n_conns >= KGRPC_MAX_CONNS) {
		close(fd); /* refuse rather than grow without bound */
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || nghttp2_session_server_new2(&c->s, srv->cbs, c, srv->opt) != 0) {
		free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->last_ms = kgrpc_now_ms();
	c->fd = fd;
	c->listener = lid;
	nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	c->next = srv->conns;
	srv->conns = c;
	srv->n_conns++;
}

static void conn_read(struct conn *c)
{
	uint8_t buf[16384];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		c->dead = true;
		return;
	}
	c->last_ms = kgrpc_now_ms();
	/* Malformed HTTP/2 makes nghttp2 queue a GOAWAY and return an error; the connection ends after it. */
	if (n > 0 && nghttp2_session_mem_recv(c->s, buf, (size_t)n) < 0)
		c->dead = true;
}

static void conn_free(struct kgrpc_server *srv, struct conn *c)
{
	int lid = c->listener;
	bool had_watch = false;

	for (struct stream *st = c->streams, *nx; st != NULL; st = nx) {
		nx = st->next;
		had_watch |= st->watching;
		stream_free(st);
	}
	c->streams = NULL;
	nghttp2_session_del(c->s);
	close(c->fd);
	free(c);
	srv->n_conns--;
	if (had_watch)
		report_progress(srv, lid);
}

/* Requests that never finish arriving would hold a stream slot for ever; they are reset. A connection
 * with no stream open and nothing received for KGRPC_IDLE_TIMEOUT_MS is ended (GOAWAY), so that idle or
 * silent clients cannot use up the KGRPC_MAX_CONNS slots; grpc-go reconnects on its next call. */
static void expire_requests(struct conn *c, int64_t now)
{
	if (c->streams == NULL && now - c->last_ms > KGRPC_IDLE_TIMEOUT_MS) {
		nghttp2_session_terminate_session(c->s, NGHTTP2_NO_ERROR);
		return;
	}
	for (struct stream *st = c->streams; st != NULL; st = st->next)
		if (!st->dispatched && now - st->opened_ms > KGRPC_REQUEST_TIMEOUT_MS) {
			st->dispatched = true;
			nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		}
}

static void resume_watchers(struct kgrpc_server *srv)
{
	for (struct conn *c = srv->conns; c != NULL; c = c->next)
		for (struct stream *st = c->streams; st != NULL; st = st->next)
			if (st->watching)
				nghttp2_session_resume_data(c->s, st->id);
	for (int i = 0; i < MAX_LISTENERS; i++)
		if (srv->listeners[i].live)
			report_progress(srv, i);
}

/* Adopts sockets published by other threads; returns false when the server must stop. */
static bool sync_listeners(struct kgrpc_server *srv)
{
	bool run;

	pthread_mutex_lock(&srv->lock);
	run = !srv->stop;
	for (int i = 0; i < MAX_LISTENERS; i++) {
		struct listener *l = &srv->listeners[i];

		if (l->used && l->pending_fd >= 0) {
			if (l->fd >= 0)
				close(l->fd);
			l->fd = l->pending_fd;
			l->pending_fd = -1;
			l->live = true;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return run;
}

static void *server_main(void *arg)
{
	struct kgrpc_server *srv = arg;
	struct pollfd pfd[1 + MAX_LISTENERS + KGRPC_MAX_CONNS];
	struct conn *pc[KGRPC_MAX_CONNS];
	int lids[MAX_LISTENERS];

	while (sync_listeners(srv)) {
		size_t np = 0, nl = 0, nc = 0;
		int64_t now = kgrpc_now_ms();

		pfd[np++] = (struct pollfd){.fd = srv->wake_fd, .events = POLLIN};
		for (int i = 0; i < MAX_LISTENERS; i++)
			if (srv->listeners[i].live) {
				lids[nl++] = i;
				pfd[np++] = (struct pollfd){.fd = srv->listeners[i].fd, .events = POLLIN};
			}
		for (struct conn **pp = &srv->conns; *pp != NULL;) {
			struct conn *c = *pp;

			expire_requests(c, now);
			if (!c->dead && nghttp2_session_send(c->s) != 0)
				c->dead = true;
			if (c->dead || (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s))) {
				*pp = c->next;
				conn_free(srv, c);
				continue;
			}
			pc[nc++] = c;
			pfd[np++] = (struct pollfd){
				.fd = c->fd, .events = POLLIN | (nghttp2_session_want_write(c->s) ? POLLOUT : 0)};
			pp = &c->next;
		}
		if (poll(pfd, np, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("kgrpc: poll");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(srv->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				perror("kgrpc: eventfd read");
			resume_watchers(srv);
		}
		for (size_t i = 0; i < nl; i++)
			if (pfd[1 + i].revents & POLLIN)
				conn_accept(srv, lids[i]);
		for (size_t i = 0; i < nc; i++)
			if (pfd[1 + nl + i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(pc[i]);
	}
	while (srv->conns != NULL) {
		struct conn *c = srv->conns;

		srv->conns = c->next;
		conn_free(srv, c);
	}
	return NULL;
}

/* ---- public ---- */

int kgrpc_server_start(struct kgrpc_server **out, struct kerf_err *err)
{
	struct kgrpc_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory for the gRPC server");
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&srv->lock, NULL);
	for (int i = 0; i < MAX_LISTENERS; i++)
		srv->listeners[i].fd = srv->listeners[i].pending_fd = -1;
	if (srv->wake_fd < 0 || nghttp2_session_callbacks_new(&srv->cbs) != 0 || nghttp2_option_new(&srv->opt) != 0) {
		kgrpc_server_stop(srv);
		return kerf_err_set(err, KERF_ENOMEM, "could not set up the gRPC server");
	}
	nghttp2_session_callbacks_set_send_callback(srv->cbs, send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(srv->cbs, begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(srv->cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(srv->cbs, data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(srv->cbs, frame_recv_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(srv->cbs, frame_send_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(srv->cbs, stream_close_cb);
	nghttp2_option_set_max_send_header_block_length(srv->opt, KGRPC_MAX_HEADER_BYTES);
	if (pthread_create(&srv->thread, NULL, server_main, srv) != 0) {
		kgrpc_server_stop(srv);
		return kerf_err_set(err, KERF_EIO, "could not start the gRPC server thread");
	}
	srv->thread_started = true;
	*out = srv;
	return 0;
}

int kgrpc_server_listen(struct kgrpc_server *srv, const char *path, const struct kgrpc_method *methods,
			size_t n_methods, const struct kgrpc_stream_ops *ops, void *ctx, struct kerf_err *err)
{
	int fd, id = -1;

	if (strlen(path) >= PATH_MAX_LEN)
		return kerf_err_set(err, KERF_EINVAL, "%s: socket path is too long", path);
	if (listen_unix(path, &fd, err) < 0)
		return -1;
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; i < MAX_LISTENERS && id < 0; i++)
		if (!srv->listeners[i].used)
			id = i;
	if (id >= 0) {
		struct listener *l = &srv->listeners[id];

		/* field by field: `live` belongs to the server thread, which reads it without the lock */
		l->used = true;
		l->fd = -1;
		l->pending_fd = fd;
		l->methods = methods;
		l->n_methods = n_methods;
		l->ops = ops;
		l->ctx = ctx;
		snprintf(l->path, sizeof(l->path), "%s", path);
	}
	pthread_mutex_unlock(&srv->lock);
	if (id < 0) {
		close(fd);
		unlink(path);
		return kerf_err_set(err, KERF_ENOMEM, "%s: all %d listener slots are in use", path, MAX_LISTENERS);
	}
	wake(srv);
	return id;
}

int kgrpc_server_relisten(struct kgrpc_server *srv, int id, struct kerf_err *err)
{
	char path[PATH_MAX_LEN];
	int fd;

	pthread_mutex_lock(&srv->lock);
	snprintf(path, sizeof(path), "%s", srv->listeners[id].path);
	pthread_mutex_unlock(&srv->lock);
	if (listen_unix(path, &fd, err) < 0)
		return -1;
	pthread_mutex_lock(&srv->lock);
	if (srv->listeners[id].pending_fd >= 0)
		close(srv->listeners[id].pending_fd);
	srv->listeners[id].pending_fd = fd;
	pthread_mutex_unlock(&srv->lock);
	wake(srv);
	return 0;
}

void kgrpc_server_kick(struct kgrpc_server *srv)
{
	wake(srv);
}

void kgrpc_server_stop(struct kgrpc_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->thread_started) {
		pthread_mutex_lock(&srv->lock);
		srv->stop = true;
		pthread_mutex_unlock(&srv->lock);
		wake(srv);
		pthread_join(srv->thread, NULL);
	}
	for (int i = 0; i < MAX_LISTENERS; i++) {
		struct listener *l = &srv->listeners[i];

		if (!l->used)
			continue;
		if (l->fd >= 0)
			close(l->fd);
		if (l->pending_fd >= 0)
			close(l->pending_fd);
		unlink(l->path);
	}
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	nghttp2_session_callbacks_del(srv->cbs);
	nghttp2_option_del(srv->opt);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
