/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_NET_H
#define VMON_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/backend.h"
#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "base/token_bucket.h"

/*
 * virtio-net (virtio 1.2 §5.1): queue 0 receive, queue 1 transmit; no
 * control queue, no multiqueue. Features: MAC (from the config), STATUS
 * (link always up), MRG_RXBUF, and the transport's INDIRECT_DESC /
 * EVENT_IDX. No checksum or segmentation offloads: the guest sends
 * complete, checksummed frames of at most its MTU and gets the same.
 *
 * Every buffer starts with the 12-byte struct virtio_net_hdr_v1 (VERSION_1).
 *
 * Transmit (I/O event loop thread, on the kick): each chain's readable part
 * is header + frame, copied out and handed to the backend.
 *  - driver bugs, virtio_device_error(): a device-writable segment, or a
 *    readable part shorter than the header;
 *  - dropped and counted, the device keeps serving: a frame shorter than an
 *    Ethernet header (14 bytes) or longer than VIRTIO_NET_TX_FRAME_MAX, a
 *    header asking for an offload (flags or gso_type set), a backend that
 *    refuses the frame.
 *
 * Receive (backend context, under virtio_lock): a zeroed header, then the
 * frame, written across as many chains as it needs with MRG_RXBUF (their
 * count in num_buffers, all published at once), else into one chain
 * (num_buffers = 1). Without enough buffers the frame is refused
 * (NET_RX_NO_SPACE) and the backend resumed when the driver adds some.
 *  - driver bugs: a receive chain with a device-readable segment, or
 *    shorter than the header;
 *  - dropped and counted: a frame larger than the one buffer (no
 *    MRG_RXBUF) or than the whole ring.
 */

#define VIRTIO_NET_QUEUE_RX 0u
#define VIRTIO_NET_QUEUE_TX 1u
#define VIRTIO_NET_QUEUE_SIZE 256u
#define VIRTIO_NET_HDR_SIZE 12u             /* sizeof(struct virtio_net_hdr_v1) */
#define VIRTIO_NET_TX_FRAME_MAX 65550u      /* 64 KiB IP datagram + Ethernet and VLAN headers */
#define VIRTIO_NET_FRAME_MIN 14u            /* an Ethernet header */

struct virtio_net_stats {
	uint64_t tx_frames, tx_bytes;           /* handed to the backend, which took them */
	uint64_t tx_dropped;                    /* bad size or header, or the backend refused */
	uint64_t rx_frames, rx_bytes;           /* written to guest buffers */
	uint64_t rx_dropped;                    /* too large for the guest's buffers, or a broken queue */
	uint64_t rx_no_space;                   /* refused for lack of buffers (the backend kept or dropped it) */
	uint64_t backend_rx_dropped;            /* of those, dropped by the backend (user networking) */
	uint64_t rx_rate_limiter_throttled, tx_rate_limiter_throttled;  /* frames held back (each time) */
};

struct virtio_net {
	struct virtio_dev *vdev;             /* set up by the caller after create; used once attached */
	struct event_loop *loop;
	struct net_backend *be;
	struct virtio_net_config config;        /* little-endian, as the guest reads it */
	int tx_more_fd;                         /* eventfd: transmit work left after a batch */

	/* Lock-free: the backend may call in before the transport exists (attached) or after a refusal. */
	atomic_bool attached;                   /* the transport activated us once: virtio_lock is usable */
	atomic_bool rx_blocked;                 /* a frame was refused: resume the backend on new buffers */

	/* Under virtio_lock. */
	bool active;                            /* DRIVER_OK, not reset since */
	bool mrg_rxbuf;                         /* negotiated */
	bool tx_drop_logged;

	/*
	 * Rate limiters (under virtio_lock), Firecracker's rx_rate_limiter and
	 * tx_rate_limiter: a frame costs one op and its bytes. A transmit chain
	 * the limiter refuses stays in the ring and tx_timer_fd resumes the queue;
	 * a received frame it refuses is refused to the backend (NET_RX_NO_SPACE,
	 * as without buffers: TAP keeps it, the user backend drops it and TCP
	 * resends) and rx_timer_fd resumes the backend. timerfds on the loop.
	 */
	struct rate_limiter rx_limiter, tx_limiter;
	bool rx_throttled, tx_throttled;        /* the matching timer is armed */
	int rx_timer_fd, tx_timer_fd;
	uint64_t (*now_ns)(void);               /* CLOCK_MONOTONIC; tests may swap it */
	atomic_uint_least64_t rx_throttled_events, tx_throttled_events;

	/* Counters: bumped under virtio_lock, read by any thread without it (virtio_net_get_stats). */
	atomic_uint_least64_t tx_frames, tx_bytes, tx_dropped;
	atomic_uint_least64_t rx_frames, rx_bytes, rx_dropped, rx_no_space;

	/* Scratch (too big for the stack), under virtio_lock. */
	struct virtq_chain tx_chain;
	struct virtq_chain rx_first;            /* the chain holding the header */
	struct virtq_chain rx_chain;            /* the others */
	struct vring_used_elem rx_used[VIRTIO_NET_QUEUE_SIZE];
	uint8_t tx_frame[VIRTIO_NET_TX_FRAME_MAX];
};

extern const struct virtio_device_ops virtio_net_ops;

/*
 * Opens cfg's backend (TAP or user) on `loop` (before the loop starts).
 * vdev: the core (&transport.vdev) of the transport the caller
 * initialises after this returns, with the
 * model as `dev`; used only from callbacks, and by the backend once the
 * driver has activated the device.
 */
int virtio_net_create(struct virtio_net **out, struct virtio_dev *vdev, struct event_loop *loop,
		      const struct net_config *cfg, struct vmon_error *err);

/* The same with any backend (tests plug a fake one). */
int virtio_net_create_with(struct virtio_net **out, struct virtio_dev *vdev, struct event_loop *loop,
			   const struct net_config *cfg, net_backend_open_fn open_backend, struct vmon_error *err);

/*
 * Stops the backend (no frame arrives after it returns). Call it before the
 * transport is destroyed, with the event loop stopped (or on its thread);
 * virtio_net_destroy() does it too.
 */
void virtio_net_stop(struct virtio_net *net);

/* Stops and frees. NULL is fine. */
void virtio_net_destroy(struct virtio_net *net);

/*
 * Replaces both rate limiters with full buckets (Firecracker's PATCH
 * /network-interfaces), any thread; a direction throttled by the old ones
 * is looked at again on the I/O thread. -EINVAL for a bucket out of range.
 */
int virtio_net_set_rate_limiters(struct virtio_net *net, const struct rate_limiter_config *rx,
				 const struct rate_limiter_config *tx, struct vmon_error *err);

/* A snapshot of the counters; any thread, no lock taken (each counter is read whole, not all at one instant). */
void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *out);

/*
 * The registry's view (devices/device.h), kind "virtio-net"; its dev is the
 * transport's core (&transport.vdev). State: the core's, and the config
 * space the guest read (MAC, link status): restore takes the saved MAC, so
 * the guest keeps the address it configured. MRG_RXBUF and "active" follow
 * from the restored features and status.
 *
 * Paused: transmit kicks are ignored (resume re-kicks a queue with pending
 * buffers); a frame the backend delivers is refused (NET_RX_NO_SPACE), as
 * when the guest has no buffers: the TAP backend keeps that frame and stops
 * reading (the kernel queues the rest, or drops when its queue is full),
 * the user backend drops it and counts it (TCP retransmits). Nothing is
 * written into guest memory, and no frame is half-delivered: a frame goes
 * into the ring whole, under the lock, or not at all. Resume re-kicks the
 * receive queue when it has buffers, which resumes the backend.
 */
#define VIRTIO_NET_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_net_state {
	struct virtio_dev_state core;
	uint8_t mac[6];
	uint16_t link_status;                   /* config status: VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE */
};

extern const struct device_ops virtio_net_registry_ops;

#endif
