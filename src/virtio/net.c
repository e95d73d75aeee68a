/* SPDX-License-Identifier: MIT */
#include "virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

/* Chains handled per kick before other loop sources get a turn (the rest: tx_more_fd). */
#define TX_BATCH 256u

_Static_assert(sizeof(struct virtio_net_hdr_v1) == VIRTIO_NET_HDR_SIZE, "virtio_net_hdr_v1 is 12 bytes");

/* ---- config space ---------------------------------------------------------- */

static void net_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	struct virtio_net *n = dev;

	/* The transport checked [offset, offset + size) against config_size. */
	memcpy(data, (const uint8_t *)&n->config + offset, size);
}

/* ---- rate limiting ------------------------------------------------------- */

/* 0 disarms; otherwise fires once, ns from now. */
static void arm_timer(int fd, uint64_t ns)
{
	int r = event_timer_arm(fd, ns);

	if (r)
		log_warn("virtio-net: throttle timer: %s", strerror(-r));
}

static void drain_timer(int fd)
{
	int r = event_timer_drain(fd);

	if (r)
		log_warn("virtio-net: throttle timer: %s", strerror(-r));
}

/* ---- transmit ------------------------------------------------------------- */

static void tx_drop(struct virtio_net *n, const char *why, uint64_t value)
{
	net_stat_add(&n->tx_dropped, 1);
	if (!n->tx_drop_logged)
		log_warn("virtio-net: transmit frame dropped: %s (%llu); further drops are only counted", why,
			 (unsigned long long)value);
	n->tx_drop_logged = true;
}

/* One transmit chain; false when the driver broke the layout (the device then needs a reset). */
static bool tx_one(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_v1 hdr;
	uint64_t len;

	if (c->nin) {
		virtio_device_error(n->vdev, "transmit chain %u has %u device-writable segments", c->head, c->nin);
		return false;
	}
	if (c->out_bytes < VIRTIO_NET_HDR_SIZE) {
		virtio_device_error(n->vdev, "transmit chain %u: %llu bytes, shorter than the %u-byte header", c->head,
				    (unsigned long long)c->out_bytes, VIRTIO_NET_HDR_SIZE);
		return false;
	}
	len = c->out_bytes - VIRTIO_NET_HDR_SIZE;
	if (len < VIRTIO_NET_FRAME_MIN || len > VIRTIO_NET_TX_FRAME_MAX) {
		tx_drop(n, "frame length out of range", len);
		return true;
	}
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));
	/* No offload was offered: a frame that needs one cannot be sent as it is. */
	if (hdr.flags || hdr.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		tx_drop(n, "header asks for an offload that was not negotiated (flags | gso_type << 8)",
			hdr.flags | (unsigned)hdr.gso_type << 8);
		return true;
	}
	/* One copy: the guest may rewrite the buffer while the backend works. */
	virtq_chain_read(c, VIRTIO_NET_HDR_SIZE, n->tx_frame, len);
	if (!n->be || net_backend_send(n->be, n->tx_frame, len) < 0) {
		net_stat_add(&n->tx_dropped, 1);
		return true;
	}
	net_stat_add(&n->tx_frames, 1);
	net_stat_add(&n->tx_bytes, len);
	return true;
}

static void signal_tx_more(struct virtio_net *n)
{
	uint64_t one = 1;

	if (write(n->tx_more_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("virtio-net: eventfd: %s", strerror(errno));
}

/* Under virtio_lock, on the loop thread. */
static void process_tx(struct virtio_net *n)
{
	struct virtq *vq = virtio_queue(n->vdev, VIRTIO_NET_QUEUE_TX);
	unsigned done = 0;
	enum virtq_pop_result r = VIRTQ_EMPTY;

	if (n->tx_throttled)
		return;       /* the timer resumes the queue */
	while (done < TX_BATCH && (r = virtq_pop(vq, &n->tx_chain)) == VIRTQ_GOT) {
		const struct virtq_chain *c = &n->tx_chain;
		/* A malformed chain costs nothing: tx_one reports or drops it. */
		uint64_t len = !c->nin && c->out_bytes >= VIRTIO_NET_HDR_SIZE ? c->out_bytes - VIRTIO_NET_HDR_SIZE : 0;
		uint64_t now = n->now_ns();
		if (!rate_limiter_consume(&n->tx_limiter, len, now)) {
			virtq_unpop(vq);
			net_stat_add(&n->tx_throttled_events, 1);
			n->tx_throttled = true;
			arm_timer(n->tx_timer_fd, rate_limiter_wait_ns(&n->tx_limiter, len, now));
			break;
		}
		if (!tx_one(n, &n->tx_chain))
			break;
		virtq_push(vq, &n->tx_chain, 0);
		done++;
	}
	if (r == VIRTQ_BROKEN)
		virtio_device_error(n->vdev, "transmit queue: %s", vq->error);
	if (done)
		virtio_queue_done(n->vdev, VIRTIO_NET_QUEUE_TX);
	if (done == TX_BATCH && !n->tx_throttled)
		signal_tx_more(n);
}

static void tx_timer_expired(void *ctx, uint32_t events)
{
	struct virtio_net *n = ctx;
	(void)events;

	drain_timer(n->tx_timer_fd);
	if (!atomic_load(&n->attached))
		return;
	virtio_lock(n->vdev);
	n->tx_throttled = false;
	/* Paused: resume re-kicks the queue. */
	if (n->active && virtio_device_running(n->vdev))
		process_tx(n);
	virtio_unlock(n->vdev);
}

static void tx_more(void *ctx, uint32_t events)
{
	struct virtio_net *n = ctx;
	uint64_t count;
	(void)events;

	if (read(n->tx_more_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("virtio-net: eventfd: %s", strerror(errno));
	if (!atomic_load(&n->attached))
		return;
	virtio_lock(n->vdev);
	if (n->active && virtio_device_running(n->vdev))
		process_tx(n);
	virtio_unlock(n->vdev);
}

/* ---- receive -------------------------------------------------------------- */

static void unpop(struct virtq *vq, unsigned count)
{
	while (count--)
		virtq_unpop(vq);
}

enum rx_outcome { RX_DONE, RX_NO_SPACE, RX_DROPPED, RX_DRIVER_BUG };

/* Checks a popped receive chain; false: the driver broke the rules (already reported). */
static bool rx_chain_ok(struct virtio_net *n, const struct virtq_chain *c)
{
	if (c->nout) {
		virtio_device_error(n->vdev, "receive chain %u has %u device-readable segments", c->head, c->nout);
		return false;
	}
	if (c->in_bytes < VIRTIO_NET_HDR_SIZE) {
		virtio_device_error(n->vdev, "receive chain %u: %llu bytes, shorter than the %u-byte header", c->head,
				    (unsigned long long)c->in_bytes, VIRTIO_NET_HDR_SIZE);
		return false;
	}
	return true;
}

/*
 * Writes header + frame into as many chains as needed (one without
 * MRG_RXBUF). Chains are written as popped and all given back on failure:
 * writing a buffer the driver made available is harmless until it is used.
 */
static enum rx_outcome rx_fill(struct virtio_net *n, struct virtq *vq, const uint8_t *frame, size_t len)
{
	const size_t total = VIRTIO_NET_HDR_SIZE + len;
	const unsigned max_chains = n->mrg_rxbuf ? vq->size : 1;
	struct virtio_net_hdr_v1 hdr = { .num_buffers = htole16(1) };
	unsigned nchains = 0;
	size_t done = 0, hdr_here;

	if (!vq->enabled)
		return RX_NO_SPACE;     /* the driver has not set the queue up (yet) */
	while (done < total) {
		struct virtq_chain *c = nchains ? &n->rx_chain : &n->rx_first;
		enum virtq_pop_result r;
		size_t chunk;

		if (nchains == max_chains) {
			unpop(vq, nchains);
			return RX_DROPPED;    /* larger than the buffer, or than the whole ring */
		}
		r = virtq_pop(vq, c);
		if (r != VIRTQ_GOT) {
			unpop(vq, nchains);
			if (r == VIRTQ_EMPTY)
				return RX_NO_SPACE;
			virtio_device_error(n->vdev, "receive queue: %s", vq->error);
			return RX_DRIVER_BUG;
		}
		nchains++;
		if (!rx_chain_ok(n, c)) {
			unpop(vq, nchains);
			return RX_DRIVER_BUG;
		}
		chunk = c->in_bytes < total - done ? c->in_bytes : total - done;
		/* The first chain holds the whole header (rx_chain_ok), the others frame bytes only. */
		hdr_here = nchains == 1 ? VIRTIO_NET_HDR_SIZE : 0;
		if (hdr_here)
			virtq_chain_write(c, 0, &hdr, sizeof(hdr));
		virtq_chain_write(c, hdr_here, frame + (done + hdr_here - VIRTIO_NET_HDR_SIZE), chunk - hdr_here);
		n->rx_used[nchains - 1] = (struct vring_used_elem){ .id = c->head, .len = (uint32_t)chunk };
		done += chunk;
	}
	if (nchains == 1) {
		virtq_push(vq, &n->rx_first, n->rx_used[0].len);
	} else {
		uint16_t count = htole16((uint16_t)nchains);
		virtq_chain_write(&n->rx_first, offsetof(struct virtio_net_hdr_v1, num_buffers), &count, sizeof(count));
		/* One used->idx update: a driver that saw the first chain (num_buffers = k) before the rest drops the frame. */
		virtq_push_many(vq, n->rx_used, nchains);
	}
	return RX_DONE;
}

static enum net_rx_status receive_locked(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	struct virtq *vq = virtio_queue(n->vdev, VIRTIO_NET_QUEUE_RX);

	if (!n->active || !virtio_device_running(n->vdev))
		return NET_RX_NO_SPACE;
	if (n->rx_throttled)
		return NET_RX_NO_SPACE;      /* the timer resumes the backend */
	/* Asked first, paid once delivered: a frame refused for lack of buffers comes again and pays then. */
	uint64_t now = n->now_ns(), wait = rate_limiter_wait_ns(&n->rx_limiter, len, now);
	if (wait) {
		net_stat_add(&n->rx_throttled_events, 1);
		n->rx_throttled = true;
		arm_timer(n->rx_timer_fd, wait);
		return NET_RX_NO_SPACE;
	}
	switch (rx_fill(n, vq, frame, len)) {
	case RX_DONE:
		rate_limiter_consume(&n->rx_limiter, len, now);
		net_stat_add(&n->rx_frames, 1);
		net_stat_add(&n->rx_bytes, len);
		virtio_queue_done(n->vdev, VIRTIO_NET_QUEUE_RX);
		return NET_RX_OK;
	case RX_NO_SPACE:
		return NET_RX_NO_SPACE;
	case RX_DROPPED:
		net_stat_add(&n->rx_dropped, 1);
		return NET_RX_OK;
	case RX_DRIVER_BUG:
		/* Not running any more: the next frame waits for the driver's reset. */
		net_stat_add(&n->rx_dropped, 1);
		return NET_RX_OK;
	}
	return NET_RX_OK;
}

/* The backend's sink: any thread, no lock held. */
static enum net_rx_status net_receive(void *ctx, const void *frame, size_t len)
{
	struct virtio_net *n = ctx;
	enum net_rx_status st;

	/*
	 * Blocked first, then attached: activate() sets attached, then clears
	 * blocked and resumes, so one of the two sides sees the other.
	 */
	if (!atomic_load(&n->attached)) {
		atomic_store(&n->rx_blocked, true);
		if (!atomic_load(&n->attached))
			return NET_RX_NO_SPACE;
	}
	virtio_lock(n->vdev);
	st = receive_locked(n, frame, len);
	if (st == NET_RX_NO_SPACE) {
		if (!n->rx_throttled)
			net_stat_add(&n->rx_no_space, 1);
		atomic_store(&n->rx_blocked, true);
	}
	virtio_unlock(n->vdev);
	return st;
}

/* Buffers may be back (a receive kick, activation): let a backend that was refused go on. */
static void resume_backend(struct virtio_net *n)
{
	if (atomic_exchange(&n->rx_blocked, false) && n->be)
		net_backend_rx_resume(n->be);
}

static void rx_timer_expired(void *ctx, uint32_t events)
{
	struct virtio_net *n = ctx;
	bool was;
	(void)events;

	drain_timer(n->rx_timer_fd);
	if (!atomic_load(&n->attached))
		return;
	virtio_lock(n->vdev);
	was = n->rx_throttled;
	n->rx_throttled = false;
	virtio_unlock(n->vdev);
	if (was)
		resume_backend(n);
}

static int check_limiters(const struct rate_limiter_config *rx, const struct rate_limiter_config *tx,
			  struct vmon_error *err)
{
	const char *problem;

	if ((problem = token_bucket_config_problem(&rx->bandwidth)) ||
	    (problem = token_bucket_config_problem(&rx->ops)))
		return error_set(err, -EINVAL, "rx_rate_limiter: %s", problem);
	if ((problem = token_bucket_config_problem(&tx->bandwidth)) ||
	    (problem = token_bucket_config_problem(&tx->ops)))
		return error_set(err, -EINVAL, "tx_rate_limiter: %s", problem);
	return 0;
}

int virtio_net_set_rate_limiters(struct virtio_net *n, const struct rate_limiter_config *rx,
				 const struct rate_limiter_config *tx, struct vmon_error *err)
{
	int r = check_limiters(rx, tx, err);

	if (r)
		return r;
	virtio_lock(n->vdev);
	uint64_t now = n->now_ns();
	rate_limiter_init(&n->rx_limiter, rx, now);
	rate_limiter_init(&n->tx_limiter, tx, now);
	/* A direction the old buckets held: its timer fires now and the new ones decide. */
	if (n->rx_throttled)
		arm_timer(n->rx_timer_fd, 1);
	if (n->tx_throttled)
		arm_timer(n->tx_timer_fd, 1);
	virtio_unlock(n->vdev);
	return 0;
}

/* ---- device callbacks ----------------------------------------------------- */

static int net_activate(void *dev, uint64_t features)
{
	struct virtio_net *n = dev;

	n->mrg_rxbuf = features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	n->active = true;
	atomic_store(&n->attached, true);
	resume_backend(n);
	/* Kicks before DRIVER_OK were ignored by the transport: look at the transmit queue now. */
	signal_tx_more(n);
	return 0;
}

static void net_queue_notify(void *dev, unsigned q)
{
	struct virtio_net *n = dev;

	if (q == VIRTIO_NET_QUEUE_TX)
		process_tx(n);
	else if (q == VIRTIO_NET_QUEUE_RX)
		resume_backend(n);
}

static void net_reset(void *dev)
{
	struct virtio_net *n = dev;

	n->active = false;
	n->mrg_rxbuf = false;
	n->rx_throttled = n->tx_throttled = false;
	arm_timer(n->rx_timer_fd, 0);
	arm_timer(n->tx_timer_fd, 0);
}

const struct virtio_device_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.queue_max_size = VIRTIO_NET_QUEUE_SIZE,
	/* mac and status; max_virtqueue_pairs and later fields belong to features not offered. */
	.config_size = offsetof(struct virtio_net_config, max_virtqueue_pairs),
	.features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
		    VIRTIO_TRANSPORT_FEATURES,
	.config_read = net_config_read,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

/* ---- lifecycle -------------------------------------------------------------- */

static int open_cfg_backend(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
			    const struct net_rx_sink *sink, struct vmon_error *err)
{
	if (cfg->backend == NET_BACKEND_TAP)
		return net_tap_open(out, loop, cfg, sink, err);
	return net_slirp_open(out, loop, cfg, sink, err);
}

int virtio_net_create(struct virtio_net **out, struct virtio_dev *vdev, struct event_loop *loop,
		      const struct net_config *cfg, struct vmon_error *err)
{
	return virtio_net_create_with(out, vdev, loop, cfg, open_cfg_backend, err);
}

int virtio_net_create_with(struct virtio_net **out, struct virtio_dev *vdev, struct event_loop *loop,
			   const struct net_config *cfg, net_backend_open_fn open_backend, struct vmon_error *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	struct net_rx_sink sink;
	int r;

	*out = NULL;
	if (!n)
		return error_set(err, -ENOMEM, "virtio-net: out of memory");
	n->vdev = vdev;
	n->loop = loop;
	n->now_ns = event_loop_now_ns;
	n->rx_timer_fd = n->tx_timer_fd = -1;
	atomic_init(&n->attached, false);
	atomic_init(&n->rx_blocked, false);
	memcpy(n->config.mac, cfg->mac, sizeof(n->config.mac));
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->tx_more_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->tx_more_fd < 0) {
		r = error_set(err, -errno, "virtio-net: eventfd: %s", strerror(errno));
		goto fail;
	}
	r = event_loop_add(loop, n->tx_more_fd, EPOLLIN, tx_more, n, err);
	if (r)
		goto fail;
	n->rx_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	n->tx_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (n->rx_timer_fd < 0 || n->tx_timer_fd < 0) {
		r = error_set(err, -errno, "virtio-net: timerfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = event_loop_add(loop, n->rx_timer_fd, EPOLLIN, rx_timer_expired, n, err)) ||
	    (r = event_loop_add(loop, n->tx_timer_fd, EPOLLIN, tx_timer_expired, n, err)) ||
	    (r = check_limiters(&cfg->rx_rate_limiter, &cfg->tx_rate_limiter, err)))
		goto fail;
	/* The transport (and its lock) comes after: nothing else sees n yet. */
	rate_limiter_init(&n->rx_limiter, &cfg->rx_rate_limiter, n->now_ns());
	rate_limiter_init(&n->tx_limiter, &cfg->tx_rate_limiter, n->now_ns());
	sink = (struct net_rx_sink){ .receive = net_receive, .ctx = n };
	r = open_backend(&n->be, loop, cfg, &sink, err);
	if (r)
		goto fail;
	*out = n;
	return 0;
fail:
	virtio_net_destroy(n);
	return r;
}

void virtio_net_stop(struct virtio_net *n)
{
	struct net_backend *be = n->be;

	/* be is read by the loop thread's callbacks: the caller has that thread stopped (or is it). */
	n->be = NULL;
	net_backend_destroy(be);
}

static void close_timer(struct virtio_net *n, int fd)
{
	if (fd < 0)
		return;
	event_loop_remove(n->loop, fd);
	close(fd);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_net_stop(n);
	if (n->tx_more_fd >= 0) {
		event_loop_remove(n->loop, n->tx_more_fd);
		close(n->tx_more_fd);
	}
	close_timer(n, n->rx_timer_fd);
	close_timer(n, n->tx_timer_fd);
	free(n);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
	*out = (struct virtio_net_stats){
		.tx_frames = net_stat_get(&n->tx_frames), .tx_bytes = net_stat_get(&n->tx_bytes),
		.tx_dropped = net_stat_get(&n->tx_dropped),
		.rx_frames = net_stat_get(&n->rx_frames), .rx_bytes = net_stat_get(&n->rx_bytes),
		.rx_dropped = net_stat_get(&n->rx_dropped), .rx_no_space = net_stat_get(&n->rx_no_space),
		.backend_rx_dropped = n->be ? net_stat_get(&n->be->stats.rx_dropped) : 0,
		.rx_rate_limiter_throttled = net_stat_get(&n->rx_throttled_events),
		.tx_rate_limiter_throttled = net_stat_get(&n->tx_throttled_events),
	};
}

/* ---- the registry's view (devices/device.h) ---------------------------- */

_Static_assert(sizeof(struct virtio_net_state) % 8 == 0, "no tail padding in the saved state");

static void net_save(void *dev, void *state)
{
	struct virtio_dev *d = dev;
	struct virtio_net *n = d->model;
	struct virtio_net_state s;

	memset(&s, 0, sizeof(s));
	virtio_dev_save(d, &s.core);
	virtio_lock(d);
	memcpy(s.mac, n->config.mac, sizeof(s.mac));
	s.link_status = le16toh(n->config.status);
	virtio_unlock(d);
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

static int net_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_dev *d = dev;
	struct virtio_net *n = d->model;
	struct virtio_net_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	if (s.link_status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE))
		return error_set(err, -EINVAL, "virtio-net link_status 0x%x has unknown bits", s.link_status);
	r = virtio_dev_restore(d, &s.core, err);
	if (r) {
		error_prefix(err, "virtio-net");
		return r;
	}
	virtio_lock(d);
	memcpy(n->config.mac, s.mac, sizeof(s.mac));
	n->config.status = htole16(s.link_status);
	/* What activate() and reset would have left. */
	n->active = (d->status & VIRTIO_CONFIG_S_DRIVER_OK) != 0;
	n->mrg_rxbuf = n->active && (d->driver_features & (1ull << VIRTIO_NET_F_MRG_RXBUF));
	if (n->active)
		atomic_store(&n->attached, true);
	virtio_unlock(d);
	return 0;
}

const struct device_ops virtio_net_registry_ops = {
	.kind = "virtio-net",
	.state_version = VIRTIO_NET_STATE_VERSION,
	.state_size = sizeof(struct virtio_net_state),
	.reset = virtio_dev_ops_reset,
	.save = net_save,
	.restore = net_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
