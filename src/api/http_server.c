/* SPDX-License-Identifier: MIT */
#include "api/http_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/unix_socket.h"
#include "base/log.h"
#include "base/thread.h"

/* Queued responses past this: stop reading the client until it takes them. */
#define OUT_HIGH_WATER (256 * 1024)
/* After our Connection: close, input is read and dropped this long (at most), so
 * that closing with unread bytes does not reset the client before it reads the answer. */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
/* Reads per readiness event, so that one busy client leaves room for the others. */
#define READS_PER_EVENT 4
/* After accept fails for want of fds or memory, the listening socket rests this long. */
#define ACCEPT_PAUSE_MS 100

struct server_conn {
	int fd;
	struct http_conn *core;
	struct http_buf out;
	uint32_t events;        /* registered with epoll */
	bool closing;           /* no more requests: flush, then close */
	bool lingering;         /* write side shut, input dropped until EOF */
	bool read_eof;
	bool dead;              /* a socket error or no memory: close now */
	size_t lingered;
	uint64_t last_progress_ms;
};

struct http_server {
	char *path;
	dev_t dev;              /* of the socket file we made, to unlink only ours */
	ino_t ino;
	int listen_fd;
	int epoll_fd;
	int wake_fd;
	size_t max_body;
	http_handler_fn handler;
	void *ctx;
	unsigned idle_ms;
	unsigned stall_ms;
	uint64_t accept_paused_until;
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	struct server_conn *conns[HTTP_SERVER_MAX_CONNS];
	char read_buf[16384];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int epoll_set(struct http_server *s, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(s->epoll_fd, op, fd, &ev) ? -errno : 0;
}

static void conn_close(struct http_server *s, struct server_conn *c)
{
	for (size_t i = 0; i < HTTP_SERVER_MAX_CONNS; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	http_conn_destroy(c->core);
	http_buf_free(&c->out);
	free(c);
}

/* Feeds the core (no bytes: resumes its held input) and takes in its verdict. */
static void conn_feed(struct server_conn *c, const char *bytes, size_t len)
{
	switch (http_conn_feed(c->core, bytes, len, &c->out)) {
	case HTTP_CONN_OPEN:
		break;
	case HTTP_CONN_CLOSE:
		c->closing = true;
		break;
	default:
		log_warn("API socket: out of memory for a request or its response; closing the connection");
		c->dead = true;
	}
}

/* Input held back for a client slow to read is parsed once its queue is under the mark. */
static void conn_resume(struct server_conn *c)
{
	while (http_conn_held(c->core) && c->out.len < OUT_HIGH_WATER && !c->closing && !c->dead)
		conn_feed(c, NULL, 0);
}

static void conn_read(struct http_server *s, struct server_conn *c)
{
	conn_resume(c);
	for (int i = 0; i < READS_PER_EVENT && !c->read_eof && !c->dead; i++) {
		ssize_t n;

		if (!c->lingering && (c->closing || c->out.len >= OUT_HIGH_WATER || http_conn_held(c->core)))
			return;
		n = recv(c->fd, s->read_buf, sizeof(s->read_buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			return;
		}
		if (n == 0) {
			c->read_eof = true;
			return;
		}
		c->last_progress_ms = now_ms();
		if (c->lingering) {
			c->lingered += (size_t)n;
			c->dead = c->lingered > LINGER_MAX_BYTES;
			continue;
		}
		conn_feed(c, s->read_buf, (size_t)n);
	}
}

static void conn_flush(struct server_conn *c)
{
	while (c->out.len && !c->dead) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			return;
		}
		http_buf_consume(&c->out, (size_t)n);
		c->last_progress_ms = now_ms();
	}
}

/* Decides what the connection waits for next (or closes it) after any event. */
static void conn_settle(struct http_server *s, struct server_conn *c)
{
	uint32_t events = 0;

	if (!c->dead && !c->out.len) {
		if (c->read_eof) {
			/* Everything answered and nothing more can come. */
			conn_close(s, c);
			return;
		}
		if (c->closing && !c->lingering) {
			shutdown(c->fd, SHUT_WR);
			c->lingering = true;
			c->last_progress_ms = now_ms();
		}
	}
	if (c->dead) {
		conn_close(s, c);
		return;
	}
	if (!c->read_eof && (c->lingering || (!c->closing && c->out.len < OUT_HIGH_WATER &&
						      !http_conn_held(c->core))))
		events |= EPOLLIN;
	if (c->out.len)
		events |= EPOLLOUT;
	if (events != c->events) {
		if (epoll_set(s, EPOLL_CTL_MOD, c->fd, events, c)) {
			conn_close(s, c);
			return;
		}
		c->events = events;
	}
}

static void conn_event(struct http_server *s, struct server_conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(s, c);
	conn_flush(c);
	if (http_conn_held(c->core)) {
		conn_resume(c);
		conn_flush(c);
	}
	/* A peer gone both ways (EPOLLHUP) will read nothing we still queue. */
	if ((events & (EPOLLHUP | EPOLLERR)) && !c->lingering && c->out.len)
		c->dead = true;
	conn_settle(s, c);
}

/* The answer to a client over the connection limit, written on its fresh (empty) socket. */
static void refuse_busy(int fd)
{
	char body[128], msg[384];
	int len = snprintf(body, sizeof(body), "{\"fault_message\": \"too many API connections at once (the limit is %d)\"}",
			   HTTP_SERVER_MAX_CONNS);
	int n = snprintf(msg, sizeof(msg), "HTTP/1.1 503 Service Unavailable\r\nServer: vmon\r\n"
			 "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			 len, body);

	if (send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("API socket: refusing a connection over the limit: %s", strerror(errno));
	close(fd);
}

static void accept_clients(struct http_server *s)
{
	for (int round = 0; round < 16; round++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct server_conn *c;
		size_t slot;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_warn("API socket: accept: %s; pausing %d ms", strerror(errno), ACCEPT_PAUSE_MS);
				s->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
				epoll_set(s, EPOLL_CTL_MOD, s->listen_fd, 0, &s->listen_fd);
			}
			return;
		}
		for (slot = 0; slot < HTTP_SERVER_MAX_CONNS && s->conns[slot]; slot++)
			;
		if (slot == HTTP_SERVER_MAX_CONNS) {
			refuse_busy(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->core = http_conn_create(s->max_body, s->handler, s->ctx);
		if (c && c->core)
			http_conn_set_output_limit(c->core, OUT_HIGH_WATER);
		if (!c || !c->core || epoll_set(s, EPOLL_CTL_ADD, fd, EPOLLIN, c)) {
			log_warn("API socket: no memory for a new connection; closing it");
			if (c)
				http_conn_destroy(c->core);
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->events = EPOLLIN;
		c->last_progress_ms = now_ms();
		s->conns[slot] = c;
	}
}

static bool conn_stalled(const struct server_conn *c)
{
	return c->out.len || c->closing || http_conn_mid_request(c->core);
}

static uint64_t conn_deadline(const struct http_server *s, const struct server_conn *c)
{
	unsigned limit = c->lingering ? LINGER_MS : conn_stalled(c) ? s->stall_ms : s->idle_ms;

	return limit ? c->last_progress_ms + limit : UINT64_MAX;
}

/* Closes the connections past their deadline; returns the epoll timeout to the next one. */
static int expire(struct http_server *s)
{
	uint64_t now = now_ms(), next = s->accept_paused_until ? s->accept_paused_until : UINT64_MAX;

	if (s->accept_paused_until && now >= s->accept_paused_until) {
		s->accept_paused_until = 0;
		next = UINT64_MAX;
		epoll_set(s, EPOLL_CTL_MOD, s->listen_fd, EPOLLIN, &s->listen_fd);
	}
	for (size_t i = 0; i < HTTP_SERVER_MAX_CONNS; i++) {
		struct server_conn *c = s->conns[i];
		uint64_t deadline;

		if (!c)
			continue;
		deadline = conn_deadline(s, c);
		if (deadline <= now) {
			log_debug("API socket: closing a connection without progress for %llu ms",
				  (unsigned long long)(now - c->last_progress_ms));
			conn_close(s, c);
		} else if (deadline < next) {
			next = deadline;
		}
	}
	if (next == UINT64_MAX)
		return -1;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void *serve(void *arg)
{
	struct http_server *s = arg;
	struct epoll_event events[16];

	while (!atomic_load(&s->stopping)) {
		int n = epoll_wait(s->epoll_fd, events, 16, expire(s));

		if (n < 0 && errno != EINTR) {
			log_error("API socket: epoll_wait: %s; the API server stops", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;

			if (ptr == &s->wake_fd)
				break;
			if (ptr == &s->listen_fd)
				accept_clients(s);
			else
				conn_event(s, ptr, events[i].events);
		}
	}
	return NULL;
}

static int listen_at(struct http_server *s, const char *path, struct vmon_error *err)
{
	struct sockaddr_un addr;
	struct stat st;
	int r;

	if ((r = unix_socket_address(path, &addr, err)) || (r = unix_socket_clear_stale(path, &addr, err)))
		return r;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return error_set(err, -errno, "%s: socket: %s", path, strerror(errno));
	/* The mode of the socket inode is the file's mode at bind: never a moment open to others. */
	if (fchmod(s->listen_fd, 0600))
		return error_set(err, -errno, "%s: fchmod 0600: %s", path, strerror(errno));
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)))
		return error_set(err, -errno, "%s: bind: %s", path, strerror(errno));
	if (chmod(path, 0600) || lstat(path, &st)) {
		int e = errno;

		unlink(path);
		return error_set(err, -e, "%s: chmod 0600: %s", path, strerror(e));
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->path = strdup(path);
	if (!s->path) {
		unlink(path);
		return error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	if (listen(s->listen_fd, HTTP_SERVER_MAX_CONNS))
		return error_set(err, -errno, "%s: listen: %s", path, strerror(errno));
	return 0;
}

int http_server_create(struct http_server **out, const char *path, size_t max_body, http_handler_fn handler,
		       void *ctx, struct vmon_error *err)
{
	struct http_server *s = calloc(1, sizeof(*s));
	int r;

	*out = NULL;
	if (!s)
		return error_set(err, -ENOMEM, "API socket: out of memory");
	if (!handler) {
		free(s);
		return error_set(err, -EINVAL, "%s: no request handler", path);
	}
	s->listen_fd = s->epoll_fd = s->wake_fd = -1;
	s->max_body = max_body;
	s->handler = handler;
	s->ctx = ctx;
	s->idle_ms = HTTP_SERVER_IDLE_MS;
	s->stall_ms = HTTP_SERVER_STALL_MS;
	r = listen_at(s, path, err);
	if (r)
		goto fail;
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epoll_fd < 0 || s->wake_fd < 0) {
		r = error_set(err, -errno, "API socket: %s", strerror(errno));
		goto fail;
	}
	r = epoll_set(s, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN, &s->listen_fd);
	if (!r)
		r = epoll_set(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN, &s->wake_fd);
	if (r) {
		error_set(err, r, "API socket: epoll_ctl: %s", strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	http_server_destroy(s);
	return r;
}

void http_server_set_timeouts(struct http_server *s, unsigned idle_ms, unsigned stall_ms)
{
	s->idle_ms = idle_ms;
	s->stall_ms = stall_ms;
}

int http_server_start(struct http_server *s, struct vmon_error *err)
{
	int r = thread_start_without_signals(&s->thread, serve, s, "fc_api");

	if (r)
		return error_set(err, -r, "API socket: starting its thread: %s", strerror(r));
	s->started = true;
	return 0;
}

void http_server_destroy(struct http_server *s)
{
	struct stat st;

	if (!s)
		return;
	if (s->started) {
		uint64_t one = 1;

		atomic_store(&s->stopping, true);
		if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("API socket: waking its thread: %s", strerror(errno));
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < HTTP_SERVER_MAX_CONNS; i++)
		if (s->conns[i])
			conn_close(s, s->conns[i]);
	if (s->path && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	free(s->path);
	free(s);
}
