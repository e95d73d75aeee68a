/* SPDX-License-Identifier: MIT */
#include "virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_ids.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/iov.h"
#include "virtio/vsock_conn.h"
#include "base/log.h"

/*
 * The packet paths: rx (everything owed to the guest, in vsock_rx_pump),
 * tx (the guest's packets, in vsock_tx_drain) and the event queue. Both
 * pumps can be reached again from inside the other (a reset connection
 * owes an RST; freed buffers un-stall tx): a pump already running just
 * notes that it must go round once more, so each keeps its own scratch
 * chain and neither runs twice at once.
 */

#define HDR_SIZE ((uint32_t)sizeof(struct virtio_vsock_hdr))

/* Guest mistakes logged once per device (vs->logged). */
enum {
	LOG_SRC_CID = 1u << 0,
	LOG_DST_CID = 1u << 1,
	LOG_TYPE = 1u << 2,
	LOG_LEN = 1u << 3,
	LOG_OP = 1u << 4,
	LOG_CREDIT = 1u << 5,
	LOG_STATE = 1u << 6,
};

static void __attribute__((format(printf, 3, 4))) guest_mistake(struct virtio_vsock *vs, uint32_t what,
								  const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	vs->bad_packets++;
	if (vs->logged & what)
		return;
	vs->logged |= what;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("virtio-vsock: guest %s (logged once)", msg);
}

bool vsock_queue_rst(struct virtio_vsock *vs, uint32_t local_port, uint32_t peer_port)
{
	if (vs->rst_count == VSOCK_RST_QUEUE)
		return false;
	vs->rst[(vs->rst_head + vs->rst_count) % VSOCK_RST_QUEUE] = (struct vsock_rst){ local_port, peer_port };
	vs->rst_count++;
	return true;
}

static void fill_hdr(struct virtio_vsock *vs, struct virtio_vsock_hdr *h, uint32_t local_port, uint32_t peer_port,
		     uint16_t op, uint32_t len, uint32_t flags, uint32_t fwd_cnt)
{
	*h = (struct virtio_vsock_hdr){
		.src_cid = htole64(VSOCK_HOST_CID),
		.dst_cid = htole64(vs->guest_cid),
		.src_port = htole32(local_port),
		.dst_port = htole32(peer_port),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.flags = htole32(flags),
		.buf_alloc = htole32(VSOCK_CONN_BUF),
		.fwd_cnt = htole32(fwd_cnt),
	};
}

/* ---- rx: device → driver ---------------------------------------------------- */

static bool conn_can_read(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->readable && !c->host_eof && !c->guest_no_rcv &&
	       vsock_conn_peer_credit(c) > 0;
}

static bool conn_has_work(const struct vsock_conn *c)
{
	if (c->pend_rst)
		return true;
	if (c->dead)
		return false;
	return c->pend_request || c->pend_response || c->pend_credit || c->pend_shutdown || conn_can_read(c);
}

/* Host data into the chain after the header: as much as the guest's credit and the buffer allow. */
static uint32_t conn_read_host(struct virtio_vsock *vs, struct vsock_conn *c, const struct virtq_chain *chain)
{
	uint64_t room = chain->in_bytes - HDR_SIZE;
	uint32_t credit = vsock_conn_peer_credit(c);
	unsigned n;
	ssize_t got;

	if (room > credit)
		room = credit;
	if (room > VSOCK_MAX_PKT)
		room = VSOCK_MAX_PKT;
	if (!room)
		return 0;
	n = iov_slice(chain->iov + chain->nout, chain->nin, HDR_SIZE, room, vs->rx_iov);
	do
		got = readv(c->fd, vs->rx_iov, (int)n);
	while (got < 0 && errno == EINTR);
	if (got > 0) {
		c->rx_cnt += (uint32_t)got;
		vs->rx_bytes += (uint64_t)got;
		return (uint32_t)got;
	}
	if (got == 0) {
		c->host_eof = true;     /* everything it sent went out first: SHUTDOWN follows in order */
		c->pend_shutdown = true;
	} else if (errno == EAGAIN) {
		c->readable = false;
		vsock_conn_arm(c);
	} else {
		log_info("virtio-vsock: reading the host end of %" PRIu32 ":%" PRIu32 ": %s; resetting", c->local_port,
			 c->peer_port, strerror(errno));
		vsock_conn_reset(c, true);
	}
	return 0;
}

/* The next packet c owes the guest, written into chain; its length, or 0 when there was none after all. */
static uint32_t conn_fill(struct virtio_vsock *vs, struct vsock_conn *c, const struct virtq_chain *chain)
{
	struct virtio_vsock_hdr h;
	uint16_t op = VIRTIO_VSOCK_OP_INVALID;
	uint32_t len = 0, flags = 0;

	if (!c->pend_rst && !c->dead) {
		if (c->pend_request) {
			op = VIRTIO_VSOCK_OP_REQUEST;
			c->pend_request = false;
		} else if (c->pend_response) {
			op = VIRTIO_VSOCK_OP_RESPONSE;
			c->pend_response = false;
		} else if (conn_can_read(c) && (len = conn_read_host(vs, c, chain))) {
			op = VIRTIO_VSOCK_OP_RW;
		}
	}
	if (op == VIRTIO_VSOCK_OP_INVALID && c->pend_rst) {
		op = VIRTIO_VSOCK_OP_RST;
		c->pend_rst = false;
		vs->rsts_sent++;
	} else if (op == VIRTIO_VSOCK_OP_INVALID && !c->dead && c->pend_shutdown) {
		op = VIRTIO_VSOCK_OP_SHUTDOWN;
		flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		c->pend_shutdown = false;
	} else if (op == VIRTIO_VSOCK_OP_INVALID && !c->dead && c->pend_credit) {
		op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
	}
	if (op == VIRTIO_VSOCK_OP_INVALID)
		return 0;
	/* Every packet tells the guest how far vmon forwarded its data. */
	c->pend_credit = false;
	c->fwd_cnt_sent = c->fwd_cnt;
	fill_hdr(vs, &h, c->local_port, c->peer_port, op, len, flags, c->fwd_cnt);
	virtq_chain_write(chain, 0, &h, sizeof(h));
	return HDR_SIZE + len;
}

/* Pops an rx buffer into vs->rx_chain. False: none (or the queue broke). */
static bool rx_pop(struct virtio_vsock *vs, struct virtq *vq)
{
	enum virtq_pop_result r = virtq_pop(vq, &vs->rx_chain);

	if (r == VIRTQ_BROKEN)
		virtio_device_error(vs->vdev, "rx queue: %s", vq->error);
	if (r != VIRTQ_GOT) {
		vs->rx_waiting = true;
		return false;
	}
	if (vs->rx_chain.nout || vs->rx_chain.in_bytes < HDR_SIZE) {
		virtio_device_error(vs->vdev, "rx buffer (descriptor %u) has %" PRIu64 " device-readable and %" PRIu64
				    " writable bytes; it needs none and at least %u", vs->rx_chain.head,
				    vs->rx_chain.out_bytes, vs->rx_chain.in_bytes, HDR_SIZE);
		return false;
	}
	vs->rx_waiting = false;
	return true;
}

void vsock_rx_pump(struct virtio_vsock *vs)
{
	struct virtq *vq = virtio_queue(vs->vdev, VSOCK_RX_QUEUE);
	bool pushed = false;

	if (vs->in_rx) {
		vs->rx_again = true;
		return;
	}
	vs->in_rx = true;
	do {
		vs->rx_again = false;
		while (virtio_device_running(vs->vdev)) {
			bool progress = false;
			while (vs->rst_count && virtio_device_running(vs->vdev)) {
				struct virtio_vsock_hdr h;
				const struct vsock_rst *r = &vs->rst[vs->rst_head];
				if (!rx_pop(vs, vq))
					goto out;
				fill_hdr(vs, &h, r->src_port, r->dst_port, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
				virtq_chain_write(&vs->rx_chain, 0, &h, sizeof(h));
				virtq_push(vq, &vs->rx_chain, HDR_SIZE);
				vs->rst_head = (vs->rst_head + 1) % VSOCK_RST_QUEUE;
				vs->rst_count--;
				vs->rsts_sent++;
				pushed = progress = true;
			}
			for (struct vsock_conn *c = vs->conns, *next; c && virtio_device_running(vs->vdev); c = next) {
				next = c->next;
				if (conn_has_work(c)) {
					if (!rx_pop(vs, vq))
						goto out;
					uint32_t len = conn_fill(vs, c, &vs->rx_chain);
					if (len) {
						virtq_push(vq, &vs->rx_chain, len);
						pushed = progress = true;
					} else {
						virtq_unpop(vq);
					}
				}
				vsock_conn_reap(c);
			}
			if (!progress)
				break;
		}
out:;
	} while (vs->rx_again && !vs->rx_waiting && virtio_device_running(vs->vdev));
	vs->in_rx = false;
	if (pushed)
		virtio_queue_done(vs->vdev, VSOCK_RX_QUEUE);
	/* RSTs went out: a tx queue stalled on a full RST ring can go on. */
	if (vs->tx_stalled && vs->rst_count < VSOCK_RST_QUEUE)
		vsock_tx_drain(vs);
}

/* ---- tx: driver → device ---------------------------------------------------- */

/* One packet from the guest. 0: consumed; -EAGAIN: leave it in the ring for now. */
static int tx_packet(struct virtio_vsock *vs, const struct virtq_chain *chain)
{
	struct virtio_vsock_hdr h;
	struct vsock_conn *c;

	/* Room for the RST this packet may need, decided before anything changes. */
	if (vs->rst_count == VSOCK_RST_QUEUE)
		return -EAGAIN;
	virtq_chain_read(chain, 0, &h, sizeof(h));
	uint64_t src_cid = le64toh(h.src_cid), dst_cid = le64toh(h.dst_cid);
	uint32_t src_port = le32toh(h.src_port), dst_port = le32toh(h.dst_port), len = le32toh(h.len);
	uint16_t type = le16toh(h.type), op = le16toh(h.op);
	uint32_t flags = le32toh(h.flags);

	if (src_cid != vs->guest_cid) {
		/* Not from this guest's address: nobody to answer. */
		guest_mistake(vs, LOG_SRC_CID, "packet from CID %" PRIu64 " (the guest is %" PRIu64 "); dropped",
			      src_cid, vs->guest_cid);
		return 0;
	}
	bool bad = true;
	if (len > chain->out_bytes - HDR_SIZE || len > VSOCK_MAX_PKT)
		guest_mistake(vs, LOG_LEN, "packet with len %" PRIu32 " in a buffer of %" PRIu64 " payload bytes "
			      "(at most %u)", len, chain->out_bytes - HDR_SIZE, VSOCK_MAX_PKT);
	else if (dst_cid != VSOCK_HOST_CID)
		guest_mistake(vs, LOG_DST_CID, "packet to CID %" PRIu64 "; only the host (%u) is reachable", dst_cid,
			      VSOCK_HOST_CID);
	else if (type != VIRTIO_VSOCK_TYPE_STREAM)
		guest_mistake(vs, LOG_TYPE, "packet of type %u; only stream (%u) is supported", type,
			      VIRTIO_VSOCK_TYPE_STREAM);
	else if (op < VIRTIO_VSOCK_OP_REQUEST || op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		guest_mistake(vs, LOG_OP, "packet with op %u", op);
	else
		bad = false;
	c = vsock_conn_find(vs, dst_port, src_port);
	if (bad) {
		if (c)
			vsock_conn_reset(c, true);
		else if (op != VIRTIO_VSOCK_OP_RST)
			vsock_queue_rst(vs, dst_port, src_port);
		return 0;
	}
	if (c) {
		c->peer_buf_alloc = le32toh(h.buf_alloc);
		c->peer_fwd_cnt = le32toh(h.fwd_cnt);
	}
	switch (op) {
	case VIRTIO_VSOCK_OP_REQUEST:
		if (c) {
			guest_mistake(vs, LOG_STATE, "REQUEST for connection %" PRIu32 ":%" PRIu32 ", which exists",
				      src_port, dst_port);
			vsock_conn_reset(c, true);
		} else if ((c = vsock_conn_guest_request(vs, dst_port, src_port))) {
			c->peer_buf_alloc = le32toh(h.buf_alloc);
			c->peer_fwd_cnt = le32toh(h.fwd_cnt);
		} else {
			vsock_queue_rst(vs, dst_port, src_port);
		}
		return 0;
	case VIRTIO_VSOCK_OP_RST:
		if (c)
			vsock_conn_reset(c, false);
		return 0;
	default:
		break;
	}
	if (!c) {
		vsock_queue_rst(vs, dst_port, src_port);
		return 0;
	}
	bool established = c->state == VSOCK_CONN_ESTABLISHED;
	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == VSOCK_CONN_CONNECTING && !c->pend_request)
			vsock_conn_established(c);
		else
			vsock_conn_reset(c, true);
		return 0;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (established)
			vsock_conn_guest_shutdown(c, flags);
		else
			vsock_conn_reset(c, true);
		return 0;
	case VIRTIO_VSOCK_OP_RW: {
		if (!established || c->guest_no_send) {
			guest_mistake(vs, LOG_STATE, "data on connection %" PRIu32 ":%" PRIu32 " %s", src_port,
				      dst_port, established ? "after its SHUTDOWN" : "before it was established");
			vsock_conn_reset(c, true);
			return 0;
		}
		unsigned n = iov_slice(chain->iov, chain->nout, HDR_SIZE, len, vs->tx_iov);
		int r = vsock_conn_to_host(c, vs->tx_iov, n, len);
		if (r == -EAGAIN)
			return r;
		if (r == -ENOSPC) {
			guest_mistake(vs, LOG_CREDIT, "sent more than its credit on connection %" PRIu32 ":%" PRIu32
				      "; reset", src_port, dst_port);
			vsock_conn_reset(c, true);
			return 0;
		}
		vs->tx_bytes += len;
		return 0;
	}
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		return 0;    /* the credit fields were taken above; rx_pump uses them */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pend_credit = true;
		return 0;
	}
	return 0;
}

void vsock_tx_drain(struct virtio_vsock *vs)
{
	struct virtq *vq = virtio_queue(vs->vdev, VSOCK_TX_QUEUE);
	bool pushed = false;

	if (vs->in_tx) {
		vs->tx_again = true;
		return;
	}
	if (!virtio_device_running(vs->vdev))
		return;    /* not even the notification flags are touched while stopped or paused */
	vs->in_tx = true;
	do {
		vs->tx_again = false;
		vs->tx_stalled = false;
		virtq_set_notification(vq, false);
		while (virtio_device_running(vs->vdev)) {
			enum virtq_pop_result r = virtq_pop(vq, &vs->tx_chain);
			if (r == VIRTQ_EMPTY)
				break;
			if (r == VIRTQ_BROKEN) {
				virtio_device_error(vs->vdev, "tx queue: %s", vq->error);
				break;
			}
			if (vs->tx_chain.nin || vs->tx_chain.out_bytes < HDR_SIZE) {
				virtio_device_error(vs->vdev, "tx buffer (descriptor %u) has %" PRIu64 " device-readable "
						    "and %" PRIu64 " writable bytes; it needs a %u-byte header and no "
						    "writable part", vs->tx_chain.head, vs->tx_chain.out_bytes,
						    vs->tx_chain.in_bytes, HDR_SIZE);
				break;
			}
			if (tx_packet(vs, &vs->tx_chain) == -EAGAIN) {
				virtq_unpop(vq);
				vs->tx_stalled = true;    /* buffers or the RST ring drain first: they call back */
				break;
			}
			virtq_push(vq, &vs->tx_chain, 0);
			pushed = true;
		}
	} while (!vs->tx_stalled && virtio_device_running(vs->vdev) &&
		 (virtq_set_notification(vq, true) || vs->tx_again));
	vs->in_tx = false;
	if (pushed)
		virtio_queue_done(vs->vdev, VSOCK_TX_QUEUE);
	/* Replies, and data the guest's new credit lets through. */
	vsock_rx_pump(vs);
}

/* ---- the event queue -------------------------------------------------------- */

static void event_deliver(struct virtio_vsock *vs)
{
	struct virtq *vq = virtio_queue(vs->vdev, VSOCK_EVENT_QUEUE);
	struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };

	if (!vs->event_pending || !virtio_device_running(vs->vdev))
		return;
	enum virtq_pop_result r = virtq_pop(vq, &vs->rx_chain);
	if (r == VIRTQ_BROKEN)
		virtio_device_error(vs->vdev, "event queue: %s", vq->error);
	if (r != VIRTQ_GOT)
		return;    /* the driver's next buffer (its kick) brings us back */
	if (vs->rx_chain.nout || vs->rx_chain.in_bytes < sizeof(ev)) {
		virtio_device_error(vs->vdev, "event buffer (descriptor %u) has %" PRIu64 " device-readable and %" PRIu64
				    " writable bytes; it needs none and at least %zu", vs->rx_chain.head,
				    vs->rx_chain.out_bytes, vs->rx_chain.in_bytes, sizeof(ev));
		return;
	}
	virtq_chain_write(&vs->rx_chain, 0, &ev, sizeof(ev));
	virtq_push(vq, &vs->rx_chain, sizeof(ev));
	vs->event_pending = false;
	vs->events_sent++;
	log_info("virtio-vsock: TRANSPORT_RESET sent to the guest");
	virtio_queue_done(vs->vdev, VSOCK_EVENT_QUEUE);
}

/* ---- device model ----------------------------------------------------------- */

int virtio_vsock_create(struct virtio_vsock **out, struct virtio_dev *vdev, struct event_loop *loop,
			uint64_t guest_cid, const char *uds_path, struct vmon_error *err)
{
	struct virtio_vsock *vs;
	int r;

	*out = NULL;
	if (guest_cid < 3 || guest_cid >= UINT32_MAX)
		return error_set(err, -EINVAL, "virtio-vsock: guest CID %" PRIu64 " is reserved; use 3 .. %u",
				 guest_cid, UINT32_MAX - 1);
	if (strlen(uds_path) > VSOCK_UDS_PATH_MAX)
		return error_set(err, -ENAMETOOLONG, "virtio-vsock: uds_path '%s' is longer than %zu bytes "
				 "(\"<uds_path>_<port>\" must fit a UNIX socket address)", uds_path, VSOCK_UDS_PATH_MAX);
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return error_set(err, -ENOMEM, "virtio-vsock: out of memory");
	vs->vdev = vdev;
	vs->loop = loop;
	vs->guest_cid = guest_cid;
	vs->listen_fd = vs->timer_fd = vs->wake_fd = -1;
	vs->rx_waiting = true;
	vs->next_local_port = VSOCK_LOCAL_PORT_BASE;
	vs->config.guest_cid = htole64(guest_cid);
	if ((r = vsock_host_init_fds(vs, err)) || (r = vsock_host_listen(vs, uds_path, err))) {
		virtio_vsock_destroy(vs);
		return r;
	}
	*out = vs;
	return 0;
}

void virtio_vsock_destroy(struct virtio_vsock *vs)
{
	if (!vs)
		return;
	vsock_host_close(vs);
	free(vs->uds_path);
	free(vs);
}

static void vsock_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	struct virtio_vsock *vs = dev;

	memcpy(data, (const uint8_t *)&vs->config + offset, size);
}

static int vsock_activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

/* vCPU thread (status 0): state here; the loop thread drops the connections (wake_fd). */
static void vsock_reset(void *dev)
{
	struct virtio_vsock *vs = dev;
	uint64_t one = 1;

	vs->rst_head = vs->rst_count = 0;
	vs->rx_waiting = true;
	vs->tx_stalled = false;
	vs->event_pending = false;
	if (vs->nconns) {
		vs->reset_requested = true;
		if (write(vs->wake_fd, &one, sizeof(one)) < 0)
			log_warn("virtio-vsock: waking the I/O thread: %s", strerror(errno));
	}
}

static void vsock_queue_notify(void *dev, unsigned q)
{
	struct virtio_vsock *vs = dev;

	if (q == VSOCK_RX_QUEUE)
		vsock_rx_pump(vs);
	else if (q == VSOCK_TX_QUEUE)
		vsock_tx_drain(vs);
	else
		event_deliver(vs);
}

const struct virtio_device_ops virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.queue_max_size = VSOCK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_vsock_config),
	.features = VIRTIO_TRANSPORT_FEATURES,
	.config_read = vsock_config_read,
	.activate = vsock_activate,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

/* ---- the registry's view (devices/device.h) ---------------------------- */

static void vsock_save(void *dev, void *state)
{
	struct virtio_dev *d = dev;
	struct virtio_vsock *vs = d->model;
	struct virtio_vsock_state s;

	memset(&s, 0, sizeof(s));
	virtio_dev_save(d, &s.core);
	virtio_lock(d);
	s.guest_cid = vs->guest_cid;
	s.event_pending = vs->event_pending;
	virtio_unlock(d);
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

static int vsock_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_dev *d = dev;
	struct virtio_vsock *vs = d->model;
	struct virtio_vsock_state s;
	uint64_t one = 1;
	int r;

	memcpy(&s, state, sizeof(s));
	if (s.guest_cid != vs->guest_cid)
		return error_set(err, -EINVAL, "virtio-vsock guest_cid %" PRIu64 " differs from this machine's %" PRIu64,
				 s.guest_cid, vs->guest_cid);
	if (s.event_pending > 1)
		return error_set(err, -EINVAL, "virtio-vsock event_pending %u is not 0 or 1", s.event_pending);
	for (size_t i = 0; i < sizeof(s.reserved); i++)
		if (s.reserved[i])
			return error_set(err, -EINVAL, "virtio-vsock reserved byte %zu is %u, not 0", i, s.reserved[i]);
	r = virtio_dev_restore(d, &s.core, err);
	if (r) {
		error_prefix(err, "virtio-vsock");
		return r;
	}
	virtio_lock(d);
	/*
	 * Host connections are not part of a snapshot: the guest's are stale.
	 * TRANSPORT_RESET tells it so (delivered once it has an event buffer,
	 * at the latest when resume re-kicks the event queue).
	 */
	vs->event_pending = true;
	vs->rst_head = vs->rst_count = 0;
	vs->rx_waiting = true;
	vs->tx_stalled = false;
	if (vs->nconns) {
		vs->reset_requested = true;
		if (write(vs->wake_fd, &one, sizeof(one)) < 0)
			log_warn("virtio-vsock: waking the I/O thread: %s", strerror(errno));
	}
	virtio_unlock(d);
	return 0;
}

const struct device_ops virtio_vsock_registry_ops = {
	.kind = "virtio-vsock",
	.state_version = VIRTIO_VSOCK_STATE_VERSION,
	.state_size = sizeof(struct virtio_vsock_state),
	.reset = virtio_dev_ops_reset,
	.save = vsock_save,
	.restore = vsock_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
