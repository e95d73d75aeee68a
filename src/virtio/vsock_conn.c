/* SPDX-License-Identifier: MIT */
#include "virtio/vsock_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/unix_socket.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	/* A guest claiming to have consumed more than it was sent gets no credit rather than a wrapped one. */
	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

struct vsock_conn *vsock_conn_find(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	for (struct vsock_conn *c = vs->conns; c; c = c->next)
		if (!c->dead && c->state != VSOCK_CONN_LINE && c->local_port == local_port && c->peer_port == peer_port)
			return c;
	return NULL;
}

static void conn_buf_free(struct vsock_conn *c)
{
	if (c->buf) {
		free(c->buf);
		c->buf = NULL;
		c->vs->buffered -= VSOCK_CONN_BUF;
	}
	c->buf_head = c->buf_len = 0;
}

bool vsock_conn_reap(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;

	if (!c->dead || c->fd >= 0 || c->pend_rst)
		return false;
	for (struct vsock_conn **p = &vs->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	vs->nconns--;
	conn_buf_free(c);
	free(c);
	/* Buffers freed: tx may go on. */
	if (vs->tx_stalled)
		vsock_tx_drain(vs);
	return true;
}

/* Shuts the fd down so that its own handler wakes (EPOLLHUP) and closes it. */
static void conn_kill_fd(struct vsock_conn *c)
{
	if (c->fd < 0 || c->fd_closing)
		return;
	shutdown(c->fd, SHUT_RDWR);
	c->fd_closing = true;
	vsock_conn_arm(c);
}

void vsock_conn_reset(struct vsock_conn *c, bool send_rst)
{
	/* A host client still waiting for its CONNECT line or the guest's answer has no guest end to reset. */
	if (c->state == VSOCK_CONN_LINE || (c->state == VSOCK_CONN_CONNECTING && c->pend_request))
		send_rst = false;
	if (!c->dead) {
		c->dead = true;
		c->pend_rst = send_rst;
		c->pend_request = c->pend_response = c->pend_credit = c->pend_shutdown = false;
	}
	conn_buf_free(c);
	conn_kill_fd(c);
	if (c->pend_rst)
		vsock_rx_pump(c->vs);
}

void vsock_conn_arm(struct vsock_conn *c)
{
	uint32_t events = EPOLLONESHOT;

	if (c->fd < 0)
		return;
	if (c->fd_closing) {
		events |= EPOLLIN;      /* wakes with EPOLLHUP: the handler closes it */
	} else {
		bool want_read = c->state == VSOCK_CONN_LINE ||
				 (c->state == VSOCK_CONN_ESTABLISHED && !c->host_eof && !c->guest_no_rcv && !c->readable);
		if (want_read)
			events |= EPOLLIN;
		if (c->buf_len)
			events |= EPOLLOUT;
		/* Hung up, nothing to wait for: armed, EPOLLHUP would wake the handler again and again. */
		if (c->hung_up && !(events & (EPOLLIN | EPOLLOUT)))
			events = 0;
	}
	if (!events || events == c->armed)
		return;    /* 0: left as it is; an armed hung-up fd fires once more, then stays disarmed */
	if (event_loop_modify(c->vs->loop, c->fd, events) < 0)
		log_warn("virtio-vsock: watching a connection: %s", strerror(errno));
	c->armed = events;
}

/* ---- guest → host ----------------------------------------------------------- */

/* Writes the buffered guest data to the host. False: the connection failed (reset). */
static bool conn_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t first = VSOCK_CONN_BUF - c->buf_head < c->buf_len ? VSOCK_CONN_BUF - c->buf_head : c->buf_len;
		struct iovec iov[2] = { { c->buf + c->buf_head, first }, { c->buf, c->buf_len - first } };
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = c->buf_len > first ? 2 : 1 };
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			log_info("virtio-vsock: host end of %" PRIu32 ":%" PRIu32 ": %s; resetting", c->local_port,
				 c->peer_port, strerror(errno));
			vsock_conn_reset(c, true);
			return false;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	conn_buf_free(c);
	return true;
}

/* After data reached the host: credit for the guest, and the shutdowns it asked for once drained. */
static void conn_after_forward(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;

	if (c->dead)
		return;
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CONN_BUF / 4)
		c->pend_credit = true;
	if (!c->buf_len && c->guest_no_send && !c->host_wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->host_wr_shut = true;
	}
	/* Both ends are done sending, or the guest closed: the connection ends with an RST. */
	if (!c->buf_len && c->guest_no_send && (c->guest_no_rcv || c->host_eof)) {
		vsock_conn_reset(c, true);
		return;
	}
	if (vs->tx_stalled && vs->buffered < VSOCK_TOTAL_BUF)
		vsock_tx_drain(vs);
}

int vsock_conn_to_host(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len)
{
	struct virtio_vsock *vs = c->vs;
	uint32_t done = 0;

	if (c->buf_len + len > VSOCK_CONN_BUF)
		return -ENOSPC;
	/* The buffer this may need is reserved up front: once bytes went out, the rest must be kept. */
	if (!c->buf && len && vs->buffered + VSOCK_CONN_BUF > VSOCK_TOTAL_BUF)
		return -EAGAIN;
	if (!c->buf_len && len) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
		ssize_t w;
		do
			w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			log_info("virtio-vsock: host end of %" PRIu32 ":%" PRIu32 ": %s; resetting", c->local_port,
				 c->peer_port, strerror(errno));
			vsock_conn_reset(c, true);
			return 0;   /* consumed: the connection is gone */
		}
		if (w > 0) {
			done = (uint32_t)w;
			c->fwd_cnt += done;
		}
	}
	if (done < len) {
		if (!c->buf) {
			c->buf = malloc(VSOCK_CONN_BUF);
			if (!c->buf) {
				log_warn("virtio-vsock: out of memory for a connection buffer; resetting it");
				vsock_conn_reset(c, true);
				return 0;
			}
			vs->buffered += VSOCK_CONN_BUF;
			c->buf_head = 0;
		}
		/* Copy the rest into the ring, skipping the `done` bytes already written. */
		uint32_t skip = done, tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
		for (unsigned i = 0; i < n && done < len; i++) {
			const uint8_t *p = iov[i].iov_base;
			size_t l = iov[i].iov_len;
			if (skip >= l) {
				skip -= (uint32_t)l;
				continue;
			}
			p += skip;
			l -= skip;
			skip = 0;
			while (l) {
				uint32_t room = VSOCK_CONN_BUF - tail;
				uint32_t k = l < room ? (uint32_t)l : room;
				memcpy(c->buf + tail, p, k);
				tail = (tail + k) % VSOCK_CONN_BUF;
				c->buf_len += k;
				done += k;
				p += k;
				l -= k;
			}
		}
	}
	conn_after_forward(c);
	vsock_conn_arm(c);
	return 0;
}

void vsock_conn_guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_no_send = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_no_rcv = true;
	/* The guest closed its socket (both flags): RST once its last data reached the host (as Firecracker). */
	if (c->guest_no_send && c->guest_no_rcv && !c->buf_len) {
		vsock_conn_reset(c, true);
		return;
	}
	conn_after_forward(c);
	if (!c->dead)
		vsock_conn_arm(c);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_ready(void *ctx, uint32_t events);

static struct vsock_conn *conn_new(struct virtio_vsock *vs, int fd, enum vsock_conn_state state, uint32_t events)
{
	struct vsock_conn *c;
	struct vmon_error err;

	if (vs->nconns >= VSOCK_MAX_CONNS) {
		log_warn("virtio-vsock: %u connections open; refusing another", vs->nconns);
		close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_warn("virtio-vsock: out of memory for a connection");
		close(fd);
		return NULL;
	}
	c->vs = vs;
	c->fd = fd;
	c->state = state;
	if (event_loop_add(vs->loop, fd, events | EPOLLONESHOT, conn_ready, c, &err) < 0) {
		log_warn("virtio-vsock: %s", err.msg);
		close(fd);
		free(c);
		return NULL;
	}
	c->armed = events | EPOLLONESHOT;
	c->next = vs->conns;
	vs->conns = c;
	vs->nconns++;
	vs->conns_opened++;
	return c;
}

static void arm_timer(struct virtio_vsock *vs)
{
	struct itimerspec its = { .it_interval = { 0, 250 * 1000000 }, .it_value = { 0, 250 * 1000000 } };

	if (vs->timer_armed)
		return;
	if (timerfd_settime(vs->timer_fd, 0, &its, NULL) < 0)
		log_warn("virtio-vsock: connect timer: %s", strerror(errno));
	vs->timer_armed = true;
}

struct vsock_conn *vsock_conn_guest_request(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd, n;

	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%" PRIu32, vs->uds_path, local_port);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		return NULL;   /* create() checked the length: cannot happen */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("virtio-vsock: socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		/* Nothing listening, or a full backlog (non-blocking UNIX connect answers EAGAIN): the guest gets RST. */
		log_debug("virtio-vsock: guest port %" PRIu32 " → %s: %s", peer_port, addr.sun_path, strerror(errno));
		close(fd);
		return NULL;
	}
	c = conn_new(vs, fd, VSOCK_CONN_ESTABLISHED, 0);
	if (!c)
		return NULL;
	c->local_port = local_port;
	c->peer_port = peer_port;
	c->pend_response = true;
	c->readable = true;     /* try reading; EAGAIN arms EPOLLIN */
	return c;
}

void vsock_conn_established(struct vsock_conn *c)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "OK %" PRIu32 "\n", c->local_port);
	ssize_t w = send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w != n) {
		/* A fresh socket takes a dozen bytes at once; failing that, the client is gone. */
		log_info("virtio-vsock: telling the host client OK: %s", w < 0 ? strerror(errno) : "short write");
		vsock_conn_reset(c, true);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->readable = true;
	vsock_conn_arm(c);
	vsock_rx_pump(c->vs);
}

static bool local_port_in_use(struct virtio_vsock *vs, const struct vsock_conn *self)
{
	for (struct vsock_conn *c = vs->conns; c; c = c->next)
		if (c != self && !c->dead && c->state != VSOCK_CONN_LINE && c->local_port == self->local_port)
			return true;
	return false;
}

/* Host clients' first line: "CONNECT <port>\n", read with MSG_PEEK so that no byte after it is taken. */
static void conn_read_line(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;
	char line[40];
	ssize_t n = recv(c->fd, line, sizeof(line) - 1, MSG_PEEK | MSG_DONTWAIT);
	char *nl, *end = line;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		vsock_conn_reset(c, false);
		return;
	}
	line[n] = '\0';
	nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		if ((size_t)n == sizeof(line) - 1) {
			log_info("virtio-vsock: host client sent no \"CONNECT <port>\\n\" line in %zu bytes; closing it",
				 sizeof(line) - 1);
			vsock_conn_reset(c, false);
		} else if (c->hung_up) {
			vsock_conn_reset(c, false);
		}
		return;
	}
	*nl = '\0';
	char taken[sizeof(line)];
	if (recv(c->fd, taken, (size_t)(nl - line + 1), MSG_DONTWAIT) != nl - line + 1) {
		vsock_conn_reset(c, false);
		return;
	}
	errno = 0;
	unsigned long long port = strncmp(line, "CONNECT ", 8) ? ULLONG_MAX : strtoull(line + 8, &end, 10);
	if (errno || port > UINT32_MAX || line[8] < '0' || line[8] > '9' || *end) {
		log_info("virtio-vsock: host client sent \"%s\"; expected \"CONNECT <port>\"; closing it", line);
		vsock_conn_reset(c, false);
		return;
	}
	/* A local port no other connection uses (at most VSOCK_MAX_CONNS are taken). */
	do {
		if (vs->next_local_port < VSOCK_LOCAL_PORT_BASE)
			vs->next_local_port = VSOCK_LOCAL_PORT_BASE;
		c->local_port = vs->next_local_port++;
	} while (local_port_in_use(vs, c));
	c->peer_port = (uint32_t)port;
	c->state = VSOCK_CONN_CONNECTING;
	c->pend_request = true;
	c->peer_buf_alloc = 0;
	vsock_rx_pump(vs);
}

static void conn_close_fd(struct vsock_conn *c)
{
	event_loop_remove(c->vs->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->armed = 0;
}

static void conn_ready(void *ctx, uint32_t events)
{
	struct vsock_conn *c = ctx;
	struct virtio_vsock *vs = c->vs;

	virtio_lock(vs->vdev);
	c->armed = 0;    /* EPOLLONESHOT: this event disarmed it */
	if (events & (EPOLLHUP | EPOLLERR))
		c->hung_up = true;
	if (!c->fd_closing) {
		if (c->state == VSOCK_CONN_LINE) {
			conn_read_line(c);
		} else if (c->state == VSOCK_CONN_ESTABLISHED) {
			if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				c->readable = true;
			if (c->buf_len && conn_flush(c))
				conn_after_forward(c);
			vsock_rx_pump(vs);    /* data read, credit freed, or an RST owed */
		}
	}
	if (c->fd_closing) {
		conn_close_fd(c);
		vsock_conn_reap(c);
	} else {
		vsock_conn_arm(c);
	}
	virtio_unlock(vs->vdev);
}

/* ---- the listener, the timer, the reset request ----------------------------- */

static void listener_ready(void *ctx, uint32_t events)
{
	struct virtio_vsock *vs = ctx;
	int fd;

	(void)events;
	fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("virtio-vsock: accepting on %s: %s", vs->uds_path, strerror(errno));
		return;
	}
	virtio_lock(vs->vdev);
	struct vsock_conn *c = conn_new(vs, fd, VSOCK_CONN_LINE, EPOLLIN);
	if (c) {
		c->deadline_ms = now_ms() + VSOCK_CONNECT_TIMEOUT_MS;
		arm_timer(vs);
	}
	virtio_unlock(vs->vdev);
}

static void timer_ready(void *ctx, uint32_t events)
{
	struct virtio_vsock *vs = ctx;
	uint64_t ticks, now = now_ms();
	bool waiting = false;

	(void)events;
	if (read(vs->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("virtio-vsock: connect timer: %s", strerror(errno));
	virtio_lock(vs->vdev);
	for (struct vsock_conn *c = vs->conns; c; c = c->next) {
		if (c->dead || c->state == VSOCK_CONN_ESTABLISHED)
			continue;
		if (now >= c->deadline_ms) {
			log_info("virtio-vsock: host connection to guest port %" PRIu32 " not established within %u ms; "
				 "closing it", c->peer_port, VSOCK_CONNECT_TIMEOUT_MS);
			vsock_conn_reset(c, true);
		} else {
			waiting = true;
		}
	}
	if (!waiting) {
		struct itimerspec off = { 0 };
		timerfd_settime(vs->timer_fd, 0, &off, NULL);
		vs->timer_armed = false;
	}
	virtio_unlock(vs->vdev);
}

/* A device reset (vCPU thread) asked for every connection to go: their handlers close them. */
static void wake_ready(void *ctx, uint32_t events)
{
	struct virtio_vsock *vs = ctx;
	uint64_t count;

	(void)events;
	if (read(vs->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("virtio-vsock: wake-up eventfd: %s", strerror(errno));
	virtio_lock(vs->vdev);
	if (vs->reset_requested) {
		vs->reset_requested = false;
		for (struct vsock_conn *c = vs->conns, *next; c; c = next) {
			next = c->next;
			vsock_conn_reset(c, false);
			c->pend_rst = false;
			vsock_conn_reap(c);
		}
	}
	virtio_unlock(vs->vdev);
}

int vsock_host_init_fds(struct virtio_vsock *vs, struct vmon_error *err)
{
	int r;

	vs->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (vs->timer_fd < 0)
		return error_set(err, -errno, "virtio-vsock: timerfd_create: %s", strerror(errno));
	vs->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vs->wake_fd < 0)
		return error_set(err, -errno, "virtio-vsock: eventfd: %s", strerror(errno));
	if ((r = event_loop_add(vs->loop, vs->timer_fd, EPOLLIN, timer_ready, vs, err)) ||
	    (r = event_loop_add(vs->loop, vs->wake_fd, EPOLLIN, wake_ready, vs, err)))
		return r;
	return 0;
}

int vsock_host_listen(struct virtio_vsock *vs, const char *path, struct vmon_error *err)
{
	struct sockaddr_un addr;
	int r;

	if ((r = unix_socket_address(path, &addr, err)) || (r = unix_socket_clear_stale(path, &addr, err))) {
		error_prefix(err, "virtio-vsock");
		return r;
	}
	vs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vs->listen_fd < 0)
		return error_set(err, -errno, "virtio-vsock: socket: %s", strerror(errno));
	if (bind(vs->listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
		return error_set(err, -errno, "virtio-vsock: %s: bind: %s", path, strerror(errno));
	vs->uds_path = strdup(path);    /* from here on, destroy unlinks it */
	if (!vs->uds_path) {
		unlink(path);
		return error_set(err, -ENOMEM, "virtio-vsock: out of memory");
	}
	if (listen(vs->listen_fd, 16) < 0)
		return error_set(err, -errno, "virtio-vsock: %s: listen: %s", path, strerror(errno));
	return event_loop_add(vs->loop, vs->listen_fd, EPOLLIN, listener_ready, vs, err);
}

void vsock_host_close(struct virtio_vsock *vs)
{
	while (vs->conns) {
		struct vsock_conn *c = vs->conns;
		vs->conns = c->next;
		if (c->fd >= 0) {
			event_loop_remove(vs->loop, c->fd);
			close(c->fd);
		}
		free(c->buf);
		free(c);
	}
	vs->nconns = 0;
	vs->buffered = 0;
	if (vs->listen_fd >= 0) {
		event_loop_remove(vs->loop, vs->listen_fd);
		close(vs->listen_fd);
		vs->listen_fd = -1;
	}
	if (vs->uds_path)
		unlink(vs->uds_path);
	if (vs->timer_fd >= 0) {
		event_loop_remove(vs->loop, vs->timer_fd);
		close(vs->timer_fd);
		vs->timer_fd = -1;
	}
	if (vs->wake_fd >= 0) {
		event_loop_remove(vs->loop, vs->wake_fd);
		close(vs->wake_fd);
		vs->wake_fd = -1;
	}
}
