/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_VSOCK_CONN_H
#define VMON_VIRTIO_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/vsock.h"

/*
 * virtio-vsock's connection table and host side (vsock_conn.c), shared with
 * the packet paths (vsock.c). Everything runs on the I/O loop thread with
 * virtio_lock() held.
 *
 * A connection's fd is armed EPOLLONESHOT; only its own handler closes it
 * (another handler may share the loop's batch with its event). To end a
 * connection elsewhere, vsock_conn_reset() shuts the fd down, which wakes
 * that handler; the struct is freed once the fd is closed and the RST owed
 * to the guest (if any) went out.
 */

enum vsock_conn_state {
	VSOCK_CONN_LINE,          /* a host client connected; its "CONNECT <port>\n" not read yet */
	VSOCK_CONN_CONNECTING,    /* REQUEST to the guest; waiting for its RESPONSE */
	VSOCK_CONN_ESTABLISHED,
};

struct vsock_conn {
	struct vsock_conn *next;
	struct virtio_vsock *vs;
	enum vsock_conn_state state;
	uint32_t local_port;      /* the host's end (CID 2) */
	uint32_t peer_port;       /* the guest's end */
	int fd;                   /* -1 once closed */
	uint32_t armed;           /* the events the fd is armed for (0: disarmed) */
	bool fd_closing;          /* shut down: its handler closes it */
	bool hung_up;             /* EPOLLHUP seen */
	bool readable;            /* EPOLLIN seen and not read to EAGAIN yet */
	bool dead;                /* reset: not in the table any more; freed when fd and RST are done */
	bool host_eof;            /* the host stopped sending (SHUTDOWN SEND owed or sent) */
	bool host_wr_shut;        /* shutdown(SHUT_WR) done after the guest's SHUTDOWN SEND */
	bool guest_no_send;       /* guest SHUTDOWN flags received */
	bool guest_no_rcv;
	uint64_t deadline_ms;     /* LINE / CONNECTING: CLOCK_MONOTONIC ms by which to be established */

	/* Packets owed to the guest, sent in this order (data between RESPONSE and SHUTDOWN). */
	bool pend_request, pend_response, pend_credit, pend_shutdown, pend_rst;

	/* guest → host */
	uint8_t *buf;             /* VSOCK_CONN_BUF ring, allocated while data waits for the host socket */
	uint32_t buf_head, buf_len;
	uint32_t fwd_cnt;         /* guest bytes handed to the host socket */
	uint32_t fwd_cnt_sent;    /* fwd_cnt the guest last heard */

	/* host → guest */
	uint32_t rx_cnt;          /* bytes sent to the guest */
	uint32_t peer_buf_alloc;  /* the guest's receive buffer and how much of it it consumed */
	uint32_t peer_fwd_cnt;
};

/* ---- vsock_conn.c ---------------------------------------------------------- */

int vsock_host_listen(struct virtio_vsock *vs, const char *path, struct vmon_error *err);
int vsock_host_init_fds(struct virtio_vsock *vs, struct vmon_error *err);
/* Destroy: every fd closed and every connection freed (loop stopped or on its thread). */
void vsock_host_close(struct virtio_vsock *vs);

/* The live (not dead) connection with these ports, or NULL. */
struct vsock_conn *vsock_conn_find(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port);
/* The guest asks for host port local_port: connects to "<uds_path>_<local_port>". NULL: RST it. */
struct vsock_conn *vsock_conn_guest_request(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port);
/* The guest accepted a host-initiated connection: tells the host client "OK <port>\n". */
void vsock_conn_established(struct vsock_conn *c);
/*
 * Guest payload for the host socket: written at once as far as the socket
 * takes it, the rest buffered. 0; -ENOSPC: over the credit vmon gave (the
 * caller resets the connection); -EAGAIN: the buffers of all connections are
 * full (stall the tx queue, nothing consumed).
 */
int vsock_conn_to_host(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len);
/* The guest's SHUTDOWN flags. */
void vsock_conn_guest_shutdown(struct vsock_conn *c, uint32_t flags);
/* Ends the connection: host fd shut down, RST to the guest when send_rst. */
void vsock_conn_reset(struct vsock_conn *c, bool send_rst);
/* Frees c if its fd is closed and nothing is owed to the guest; true when freed. */
bool vsock_conn_reap(struct vsock_conn *c);
/* Re-arms c's fd for what it wants now. */
void vsock_conn_arm(struct vsock_conn *c);
/* Guest credit for host → guest data. */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

/* ---- vsock.c --------------------------------------------------------------- */

/* Sends what is owed to the guest while it has rx buffers. */
void vsock_rx_pump(struct virtio_vsock *vs);
/* Takes the guest's tx packets (again, after a stall). */
void vsock_tx_drain(struct virtio_vsock *vs);
/* Queues an RST for a packet without a connection; false when the ring is full. */
bool vsock_queue_rst(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port);

#endif
