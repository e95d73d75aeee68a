/* SPDX-License-Identifier: MIT */
#include "virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/core.h"
#include "virtio/iov.h"
#include "base/unix_socket.h"
#include "base/log.h"

/*
 * The client fd is armed EPOLLONESHOT: every event disarms it and its
 * handler re-arms it for what is wanted then. That is how a hung-up client
 * whose data still waits for guest buffers stays quiet: EPOLLHUP is reported
 * whatever the mask, so such a client is simply not re-armed until the guest
 * gives buffers.
 *
 * Only the client's own handler closes it (a source removed from another
 * handler could still be in the loop's current batch): elsewhere a failing
 * client is shut down, which wakes its handler with EPOLLHUP.
 */

/* ---- the client connection ---------------------------------------------- */

/* Ends the connection from anywhere: its handler sees EPOLLHUP and closes it. */
static void client_fail(struct virtio_console *con, const char *what)
{
	if (what)
		log_info("virtio-console: client %s: %s; disconnecting it", what, strerror(errno));
	shutdown(con->client_fd, SHUT_RDWR);
	con->client_closing = true;
}

static void client_arm(struct virtio_console *con)
{
	uint32_t events = EPOLLONESHOT | EPOLLRDHUP;

	if (con->client_fd < 0)
		return;
	if (!con->rx_waiting)
		events |= EPOLLIN;
	if (con->tx_blocked)
		events |= EPOLLOUT;
	/* A hung-up client reports EPOLLHUP whatever the mask: armed for nothing, it would spin. */
	if (con->client_hung_up && !con->client_closing && !(events & (EPOLLIN | EPOLLOUT)))
		return;
	if (events == con->client_events)
		return;
	if (event_loop_modify(con->loop, con->client_fd, events) < 0)
		log_warn("virtio-console: watching the client: %s", strerror(errno));
	con->client_events = events;
}

/* ---- guest → client --------------------------------------------------- */

/* Sends the rest of con->chain to the client, or discards it without one. False: the socket is full. */
static bool tx_send(struct virtio_console *con)
{
	const struct virtq_chain *c = &con->chain;

	/* The chain is popped again after waiting: the guest may have changed it meanwhile. */
	if (con->tx_offset > c->out_bytes)
		con->tx_offset = c->out_bytes;
	while (con->tx_offset < c->out_bytes) {
		uint64_t left = c->out_bytes - con->tx_offset;
		if (con->client_fd < 0 || con->client_closing) {
			con->tx_discarded += left;
			break;
		}
		struct msghdr msg = { .msg_iov = con->iov };
		msg.msg_iovlen = iov_slice(c->iov, c->nout, con->tx_offset, left, con->iov);
		ssize_t sent = sendmsg(con->client_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent >= 0) {
			con->tx_offset += (uint64_t)sent;
			con->tx_bytes += (uint64_t)sent;
		} else if (errno == EAGAIN) {
			con->tx_blocked = true;
			return false;
		} else if (errno != EINTR) {
			client_fail(con, "sending");
		}
	}
	con->tx_offset = 0;
	return true;
}

static void tx_drain(struct virtio_console *con)
{
	struct virtq *vq = virtio_queue(con->vdev, VIRTIO_CONSOLE_TX_QUEUE);
	bool pushed = false;

	if (con->tx_blocked)
		return;    /* EPOLLOUT brings us back */
	if (!virtio_device_running(con->vdev))
		return;    /* not even the notification flags are touched while stopped or paused */
	do {
		virtq_set_notification(vq, false);
		while (!con->tx_blocked && virtio_device_running(con->vdev)) {
			enum virtq_pop_result r = virtq_pop(vq, &con->chain);
			if (r == VIRTQ_EMPTY)
				break;
			if (r == VIRTQ_BROKEN) {
				virtio_device_error(con->vdev, "transmitq: %s", vq->error);
				break;
			}
			if (con->chain.nin) {
				virtio_device_error(con->vdev, "transmit buffer (descriptor %u) has %llu "
						    "device-writable bytes", con->chain.head,
						    (unsigned long long)con->chain.in_bytes);
				break;
			}
			if (!tx_send(con)) {
				virtq_unpop(vq);
				break;
			}
			virtq_push(vq, &con->chain, 0);
			pushed = true;
		}
	} while (!con->tx_blocked && virtio_device_running(con->vdev) && virtq_set_notification(vq, true));
	if (pushed)
		virtio_queue_done(con->vdev, VIRTIO_CONSOLE_TX_QUEUE);
}

/* ---- client → guest ------------------------------------------------------- */

static bool client_has_data(int fd)
{
	char byte;

	return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Reads the client into the guest's receive buffers while both have some. */
static void rx_fill(struct virtio_console *con)
{
	struct virtq *vq = virtio_queue(con->vdev, VIRTIO_CONSOLE_RX_QUEUE);
	bool pushed = false;

	while (con->client_fd >= 0 && !con->client_closing) {
		if (!virtio_device_running(con->vdev)) {
			con->rx_waiting = true;
			break;
		}
		enum virtq_pop_result r = virtq_pop(vq, &con->chain);
		if (r != VIRTQ_GOT) {
			if (r == VIRTQ_BROKEN)
				virtio_device_error(con->vdev, "receiveq: %s", vq->error);
			con->rx_waiting = true;
			break;
		}
		if (con->chain.nout || !con->chain.in_bytes) {
			virtio_device_error(con->vdev, "receive buffer (descriptor %u) has %llu "
					    "device-readable and %llu writable bytes", con->chain.head,
					    (unsigned long long)con->chain.out_bytes,
					    (unsigned long long)con->chain.in_bytes);
			con->rx_waiting = true;
			break;
		}
		con->rx_waiting = false;
		ssize_t n = readv(con->client_fd, con->chain.iov + con->chain.nout, con->chain.nin);
		if (n > 0) {
			virtq_push(vq, &con->chain, (uint32_t)n);
			con->rx_bytes += (uint64_t)n;
			pushed = true;
			continue;
		}
		virtq_unpop(vq);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		client_fail(con, n == 0 ? NULL : "reading");   /* 0: the client hung up (EOF) */
	}
	/* Hung up with nothing left to deliver: free the slot for the next client without waiting for buffers. */
	if (con->client_fd >= 0 && !con->client_closing && con->client_hung_up && con->rx_waiting &&
	    !client_has_data(con->client_fd))
		client_fail(con, NULL);
	if (pushed)
		virtio_queue_done(con->vdev, VIRTIO_CONSOLE_RX_QUEUE);
}

/* ---- event-loop handlers -------------------------------------------------- */

/* On the client's own handler only: see the comment at the top. */
static void client_close(struct virtio_console *con)
{
	event_loop_remove(con->loop, con->client_fd);
	close(con->client_fd);
	con->client_fd = -1;
	con->client_events = 0;
	con->client_closing = con->client_hung_up = false;
	log_info("virtio-console: client disconnected");
	/* Guest output that waited for this client is discarded now. */
	con->tx_blocked = false;
	tx_drain(con);
}

static void client_ready(void *ctx, uint32_t events)
{
	struct virtio_console *con = ctx;

	virtio_lock(con->vdev);
	con->client_events = 0;    /* EPOLLONESHOT: this event disarmed it */
	if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		con->client_hung_up = true;
	if (!con->client_closing && (events & EPOLLOUT)) {
		con->tx_blocked = false;
		tx_drain(con);
	}
	rx_fill(con);
	if (con->client_closing)
		client_close(con);
	else
		client_arm(con);
	virtio_unlock(con->vdev);
}

static void listener_ready(void *ctx, uint32_t events)
{
	struct virtio_console *con = ctx;
	struct vmon_error err;
	uint32_t armed = EPOLLONESHOT | EPOLLRDHUP;
	int fd;

	(void)events;
	fd = accept4(con->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("virtio-console: accepting on %s: %s", con->socket_path, strerror(errno));
		return;
	}
	virtio_lock(con->vdev);
	if (con->client_fd >= 0) {
		close(fd);
		con->clients_refused++;
		log_info("virtio-console: %s: a client is already connected; new connection closed", con->socket_path);
	} else if (event_loop_add(con->loop, fd, armed, client_ready, con, &err) < 0) {
		close(fd);
		log_warn("virtio-console: %s", err.msg);
	} else {
		con->client_fd = fd;
		con->client_events = armed;
		con->clients++;
		log_info("virtio-console: client connected on %s", con->socket_path);
		rx_fill(con);
		client_arm(con);
	}
	virtio_unlock(con->vdev);
}

/* ---- the listening socket ------------------------------------------------- */

static int listen_on(struct virtio_console *con, const char *path, struct vmon_error *err)
{
	struct sockaddr_un addr;
	int r;

	if ((r = unix_socket_address(path, &addr, err)) || (r = unix_socket_clear_stale(path, &addr, err))) {
		error_prefix(err, "virtio-console");
		return r;
	}
	con->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (con->listen_fd < 0)
		return error_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(con->listen_fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
		return error_set(err, -errno, "%s: bind: %s", path, strerror(errno));
	con->socket_path = strdup(path);    /* from here on, destroy unlinks it */
	if (!con->socket_path) {
		unlink(path);
		return error_set(err, -ENOMEM, "virtio-console: out of memory");
	}
	if (listen(con->listen_fd, 4) < 0)
		return error_set(err, -errno, "%s: listen: %s", path, strerror(errno));
	return event_loop_add(con->loop, con->listen_fd, EPOLLIN, listener_ready, con, err);
}

int virtio_console_create(struct virtio_console **out, struct virtio_dev *vdev, struct event_loop *loop,
			  const char *socket_path, struct vmon_error *err)
{
	struct virtio_console *con = calloc(1, sizeof(*con));
	int r;

	*out = NULL;
	if (!con)
		return error_set(err, -ENOMEM, "virtio-console: out of memory");
	con->vdev = vdev;
	con->loop = loop;
	con->listen_fd = con->client_fd = -1;
	con->rx_waiting = true;     /* no buffers seen yet */
	con->config.max_nr_ports = htole32(1);   /* only meaningful with MULTIPORT, which is not offered */
	if ((r = listen_on(con, socket_path, err))) {
		virtio_console_destroy(con);
		return r;
	}
	*out = con;
	return 0;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con)
		return;
	if (con->client_fd >= 0) {
		event_loop_remove(con->loop, con->client_fd);
		close(con->client_fd);
	}
	if (con->listen_fd >= 0) {
		event_loop_remove(con->loop, con->listen_fd);
		close(con->listen_fd);
	}
	if (con->socket_path)
		unlink(con->socket_path);
	free(con->socket_path);
	free(con);
}

/* ---- device-model callbacks -------------------------------------------- */

static void console_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	struct virtio_console *con = dev;

	memcpy(data, (const uint8_t *)&con->config + offset, size);
}

static int console_activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

/* vCPU thread: only state here; the event loop is touched from its own thread. */
static void console_reset(void *dev)
{
	struct virtio_console *con = dev;

	con->rx_waiting = true;
	con->tx_blocked = false;
	con->tx_offset = 0;
}

static void console_queue_notify(void *dev, unsigned q)
{
	struct virtio_console *con = dev;

	if (q == VIRTIO_CONSOLE_RX_QUEUE)
		rx_fill(con);
	else
		tx_drain(con);
	client_arm(con);
}

const struct virtio_device_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_console_config),
	.features = VIRTIO_TRANSPORT_FEATURES,
	.config_read = console_config_read,
	.activate = console_activate,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
};

/* ---- the registry's view (devices/device.h) ---------------------------- */

static void console_save(void *dev, void *state)
{
	struct virtio_dev *d = dev;
	struct virtio_console *con = d->model;
	struct virtio_console_state s;

	memset(&s, 0, sizeof(s));
	virtio_dev_save(d, &s.core);
	virtio_lock(d);
	s.tx_offset = con->tx_offset;
	virtio_unlock(d);
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

static int console_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_dev *d = dev;
	struct virtio_console *con = d->model;
	struct virtio_console_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	if (s.tx_offset > UINT32_MAX)
		return error_set(err, -EINVAL, "virtio-console tx_offset %llu is beyond any buffer (at most %u bytes)",
				 (unsigned long long)s.tx_offset, UINT32_MAX);
	r = virtio_dev_restore(d, &s.core, err);
	if (r) {
		error_prefix(err, "virtio-console");
		return r;
	}
	virtio_lock(d);
	con->tx_offset = s.tx_offset;
	/* The receive ring is new: wait for a kick (resume gives one when it has buffers). */
	con->rx_waiting = true;
	virtio_unlock(d);
	return 0;
}

const struct device_ops virtio_console_registry_ops = {
	.kind = "virtio-console",
	.state_version = VIRTIO_CONSOLE_STATE_VERSION,
	.state_size = sizeof(struct virtio_console_state),
	.reset = virtio_dev_ops_reset,
	.save = console_save,
	.restore = console_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
