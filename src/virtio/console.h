/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_CONSOLE_H
#define VMON_VIRTIO_CONSOLE_H

#include <linux/virtio_console.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "base/error.h"
#include "base/event_loop.h"

/*
 * virtio-console (virtio 1.2 §5.3) with one port (no MULTIPORT, no SIZE:
 * cols = rows = 0), backed by a UNIX stream socket vmon listens on. Linux
 * shows the port as /dev/hvc0. Queue 0 receiveq (client → guest), queue 1
 * transmitq (guest → client).
 *
 *  - The socket path: refused when it exists, unless it is a stale socket
 *    (nobody accepts connections on it), which is replaced. The socket is
 *    unlinked on destroy.
 *  - One client at a time: a second connection is accepted and closed at
 *    once, with nothing sent (counted in clients_refused).
 *  - Client → guest: the client is read only while the guest has receive
 *    buffers; otherwise its data waits in the socket (nothing is dropped,
 *    the client's writes block once the socket buffer is full).
 *  - Guest → client: written as the guest sends it; when the client does not
 *    keep up, guest output waits (its transmit buffers are not returned)
 *    until the socket is writable again. With no client connected, guest
 *    output is discarded (counted in tx_discarded).
 *  - The client hanging up (or closing its sending side: EOF) ends the
 *    connection, after what it sent has reached the guest; the next client
 *    is then accepted.
 *
 * Everything runs on the I/O event loop thread under virtio_lock().
 */

#define VIRTIO_CONSOLE_QUEUE_SIZE 128u
#define VIRTIO_CONSOLE_RX_QUEUE 0u
#define VIRTIO_CONSOLE_TX_QUEUE 1u

struct virtio_console {
	struct virtio_dev *vdev;
	struct event_loop *loop;
	char *socket_path;
	int listen_fd;
	int client_fd;               /* -1: no client */
	uint32_t client_events;      /* what the client fd is armed for (EPOLLONESHOT) */
	bool client_closing;         /* shut down; its own handler closes it */
	bool client_hung_up;         /* the peer hung up (its data may still wait for the guest) */
	bool rx_waiting;             /* the guest has no receive buffers: the client is not read */
	bool tx_blocked;             /* the client's socket is full: guest output waits for EPOLLOUT */
	uint64_t tx_offset;          /* bytes of the waiting transmit buffer already sent */
	struct virtio_console_config config;

	/* Scratch (too big for the stack). */
	struct virtq_chain chain;
	struct iovec iov[VIRTQ_CHAIN_MAX];

	/* Statistics. */
	uint64_t rx_bytes;           /* client → guest */
	uint64_t tx_bytes;           /* guest → client */
	uint64_t tx_discarded;       /* guest output with no client to take it */
	uint64_t clients;            /* connections accepted as the client */
	uint64_t clients_refused;    /* connections closed because a client was connected */
};

extern const struct virtio_device_ops virtio_console_ops;

/*
 * Listens on socket_path (registered on loop). vdev: the core
 * (&transport.vdev) of the transport the caller initialises after this
 * returns, with the model as `dev`.
 */
int virtio_console_create(struct virtio_console **out, struct virtio_dev *vdev, struct event_loop *loop,
			  const char *socket_path, struct vmon_error *err);
/* Closes the client and the socket (unlinking it). Call on the loop thread or after the loop stopped. */
void virtio_console_destroy(struct virtio_console *con);

/*
 * The registry's view (devices/device.h), kind "virtio-console"; its dev is
 * the transport's core (&transport.vdev). One port, no MULTIPORT: there is
 * no port open/close state (no control queue), and the config space is
 * constant. State: the core's, and how much of the first pending transmit
 * buffer already went to a client (its socket was full), so that buffer is
 * not sent twice. The client connection itself is a live resource: it is
 * neither saved nor touched by restore.
 *
 * Paused: client data stays in its socket, guest output waits in the
 * transmit ring; resume re-kicks the queues that have buffers.
 */
#define VIRTIO_CONSOLE_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_console_state {
	struct virtio_dev_state core;
	uint64_t tx_offset;          /* <= UINT32_MAX (a chain's byte limit) */
};

extern const struct device_ops virtio_console_registry_ops;

#endif
