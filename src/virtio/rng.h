/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_RNG_H
#define VMON_VIRTIO_RNG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "virtio/queue_throttle.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "base/token_bucket.h"

/*
 * virtio-rng / entropy device (virtio 1.2 §5.4): one queue of device-writable
 * buffers, each filled with getrandom() bytes, at most VIRTIO_RNG_MAX_REQUEST
 * per buffer (the driver asks again for more). A buffer with a device-readable
 * segment, or without a writable byte, is a driver bug: virtio_device_error().
 *
 * An optional rate limiter (Firecracker's EntropyDevice rate_limiter): each
 * buffer costs one op and the bytes the device fills in it (its writable
 * length, capped at VIRTIO_RNG_MAX_REQUEST). A buffer the limiter refuses
 * stays in the ring, the queue stops and a timerfd on the I/O loop serves it
 * when the tokens are back, in order, as virtio-blk does.
 */

#define VIRTIO_RNG_QUEUE_SIZE 64u
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024)

struct virtio_rng {
	struct virtio_dev *vdev;
	struct virtq_chain chain;      /* the request being served (too big for the stack) */

	/*
	 * The rate limiter (under virtio_lock): host-side runtime state, not the
	 * guest's, so never saved (a restored device starts with full buckets).
	 */
	struct queue_throttle throttle;

	/* Counters: bumped by the I/O thread, read by any thread (virtio_rng_get_stats). */
	_Atomic uint64_t requests;     /* buffers filled */
	_Atomic uint64_t bytes;        /* random bytes served */
};

struct virtio_rng_stats {
	uint64_t requests, bytes;
	uint64_t rate_limiter_throttled_events;  /* buffers the rate limiter held back (each time) */
};

/* A snapshot of the counters; any thread, no lock. */
void virtio_rng_get_stats(const struct virtio_rng *rng, struct virtio_rng_stats *out);

extern const struct virtio_device_ops virtio_rng_ops;

/*
 * vdev: the core (&transport.vdev) of the transport the caller initialises
 * after this returns, with the model as `dev`. limits: NULL or one that
 * limits nothing for none; a bad bucket is refused naming it
 * ("rate_limiter.ops: ...").
 */
int virtio_rng_create(struct virtio_rng **out, struct virtio_dev *vdev, const struct rate_limiter_config *limits,
		      struct vmon_error *err);
/*
 * Puts the throttle timer on `loop` (the I/O thread's, before it starts).
 * Without it the limiter is not applied: there would be nothing to resume a
 * throttled queue with (unit tests of the request path only).
 */
int virtio_rng_attach_loop(struct virtio_rng *rng, struct event_loop *loop, struct vmon_error *err);
void virtio_rng_destroy(struct virtio_rng *rng);

/*
 * The registry's view (devices/device.h), kind "virtio-rng"; its dev is the
 * transport's core (&transport.vdev). The model has no guest-visible state
 * of its own (no config space; buffers are filled synchronously, so none is
 * in flight once paused): its state is the core's. A buffer held back by the
 * rate limiter is still in the ring, so it is saved with the ring.
 */
#define VIRTIO_RNG_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_rng_state {
	struct virtio_dev_state core;
};

extern const struct device_ops virtio_rng_registry_ops;

#endif
