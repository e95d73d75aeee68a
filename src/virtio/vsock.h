/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_VSOCK_H
#define VMON_VIRTIO_VSOCK_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "base/error.h"
#include "base/event_loop.h"

/*
 * virtio-vsock (virtio 1.2 §5.10), stream sockets only, with Firecracker's
 * host side (firecracker docs/vsock.md):
 *
 *  - host → guest: a host process connects to the UNIX socket uds_path and
 *    writes "CONNECT <port>\n"; vmon opens a guest connection to that port
 *    and answers "OK <local_port>\n" once the guest accepts (the connection
 *    is closed when the guest refuses it or does not answer within
 *    VSOCK_CONNECT_TIMEOUT_MS). From then on the socket carries the stream.
 *  - guest → host: a guest connection to CID 2 port P becomes a connection
 *    to the UNIX socket "<uds_path>_<P>"; nothing listening there: RST.
 *
 * Queues: 0 rx (device → driver), 1 tx (driver → device), 2 event.
 *
 * Flow control (§5.10.6.3): vmon advertises VSOCK_CONN_BUF bytes per
 * connection; guest data its host socket cannot take at once waits in that
 * connection's buffer (allocated when first needed), which the guest's
 * credit guarantees is enough — a guest that sends more than its credit
 * has its connection reset. Host data is read only as far as the guest's
 * credit (buf_alloc − (sent − fwd_cnt)) allows, so a slow guest reader
 * back-pressures the host socket. When the buffers of all connections
 * together reach VSOCK_TOTAL_BUF, or replies cannot be queued, vmon stops
 * taking the guest's tx buffers until that drains: nothing is dropped.
 *
 * Every header field from the guest is checked: src_cid must be the guest's
 * CID (else the packet is dropped), dst_cid the host (2), type STREAM, len
 * within the buffer and VSOCK_MAX_PKT; anything else gets RST, as do
 * packets for unknown connections.
 *
 * Sockets are non-blocking and served on the I/O event loop under
 * virtio_lock(); vCPU threads never touch them.
 */

#define VSOCK_QUEUE_SIZE 256u
#define VSOCK_RX_QUEUE 0u
#define VSOCK_TX_QUEUE 1u
#define VSOCK_EVENT_QUEUE 2u

#define VSOCK_HOST_CID 2u
#define VSOCK_MAX_PKT (64u * 1024)          /* payload of one packet (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE) */
#define VSOCK_CONN_BUF (256u * 1024)        /* buf_alloc vmon advertises per connection */
#define VSOCK_TOTAL_BUF (32u * 1024 * 1024) /* all connections' guest → host buffers together */
#define VSOCK_MAX_CONNS 256u                /* connections (pending host clients included) */
#define VSOCK_RST_QUEUE 64u                 /* RSTs for packets that have no connection */
#define VSOCK_CONNECT_TIMEOUT_MS 2000u      /* "CONNECT" line, and the guest's RESPONSE */
#define VSOCK_LOCAL_PORT_BASE (1u << 30)    /* host-initiated connections' local ports (as Firecracker) */

struct vsock_conn;

struct vsock_rst {
	uint32_t src_port;      /* ours (host side) */
	uint32_t dst_port;      /* the guest's */
};

struct virtio_vsock {
	struct virtio_dev *vdev;
	struct event_loop *loop;
	uint64_t guest_cid;
	char *uds_path;
	int listen_fd;
	int timer_fd;           /* connect deadlines: armed while a connection waits */
	int wake_fd;            /* eventfd: a device reset (vCPU thread) asks the loop to drop connections */
	bool timer_armed;
	bool reset_requested;   /* set by reset(): the loop drops every connection */

	struct vsock_conn *conns;   /* list */
	unsigned nconns;
	uint32_t next_local_port;
	uint64_t buffered;      /* bytes in all connections' guest → host buffers */

	struct vsock_rst rst[VSOCK_RST_QUEUE];   /* ring of RSTs to send */
	unsigned rst_head, rst_count;

	bool rx_waiting;        /* the rx queue had no buffer: wait for a kick */
	bool tx_stalled;        /* tx buffers left in the ring until buffers or the RST ring drain */
	bool event_pending;     /* TRANSPORT_RESET owed to the driver (after a restore) */
	bool in_rx, rx_again;   /* the rx pump is running / must go round again (reentered) */
	bool in_tx, tx_again;
	struct virtio_vsock_config config;

	/* Scratch (too big for the stack). */
	struct virtq_chain rx_chain;    /* rx and event queue */
	struct virtq_chain tx_chain;
	struct iovec rx_iov[VIRTQ_CHAIN_MAX];
	struct iovec tx_iov[VIRTQ_CHAIN_MAX];

	/* Statistics. */
	uint64_t rx_bytes;      /* host → guest payload */
	uint64_t tx_bytes;      /* guest → host payload */
	uint64_t conns_opened;
	uint64_t rsts_sent;
	uint64_t bad_packets;   /* refused headers */
	uint64_t events_sent;
	uint32_t logged;        /* guest mistakes already logged once (bits) */
};

extern const struct virtio_device_ops virtio_vsock_ops;

/*
 * Listens on uds_path (a stale socket there is replaced, anything else is
 * refused; unlinked on destroy), registered on loop. guest_cid: 3 ..
 * UINT32_MAX - 1. vdev: the core (&transport.vdev) of the transport the
 * caller initialises after this returns, with the model as `dev`.
 */
int virtio_vsock_create(struct virtio_vsock **out, struct virtio_dev *vdev, struct event_loop *loop,
			uint64_t guest_cid, const char *uds_path, struct vmon_error *err);
/* Closes every connection and the socket. Call on the loop thread or after the loop stopped. */
void virtio_vsock_destroy(struct virtio_vsock *vs);

/* Longest uds_path: "<uds_path>_<port>" must still fit a sockaddr_un. */
#define VSOCK_UDS_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 12)

/*
 * The registry's view (devices/device.h), kind "virtio-vsock"; its dev is
 * the transport's core. State: the core's and the guest CID (checked: the
 * restored machine must have the same). Host connections are not saved (as
 * Firecracker): after a restore the driver gets
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue as soon as it has a
 * buffer there, and its old connections fail; new ones work at once.
 */
#define VIRTIO_VSOCK_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_vsock_state {
	struct virtio_dev_state core;
	uint64_t guest_cid;
	uint8_t event_pending;  /* 0 or 1: a TRANSPORT_RESET not yet delivered */
	uint8_t reserved[7];    /* 0 */
};

extern const struct device_ops virtio_vsock_registry_ops;

#endif
