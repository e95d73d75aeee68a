/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_DEVICE_H
#define VMON_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/queue.h"

/*
 * The contract between a virtio device model (blk, net, rng, console) and
 * the transport that exposes it to the guest (virtio-mmio today; PCI could
 * be another). The model never sees registers; the transport never sees
 * requests.
 *
 * The model talks to the transport-neutral core (struct virtio_dev,
 * virtio/core.h), which the transport owns and drives.
 *
 * Threading: every callback below runs with the device's lock held —
 * register accesses come from vCPU threads, queue notifications from the I/O
 * event loop thread. A model that produces work on its own (a network backend
 * receiving a frame, a socket becoming readable) takes the same lock with
 * virtio_lock() before touching queues, and checks virtio_device_running()
 * first: it is false while the device is paused, and then the model must
 * neither touch guest memory nor raise interrupts.
 */

struct virtio_dev;           /* the transport-neutral device (virtio/core.h); models only use the calls below */

struct virtio_device_ops {
	const char *name;            /* "virtio-blk", for messages */
	uint32_t device_id;          /* VIRTIO_ID_* (linux/virtio_ids.h) */
	unsigned num_queues;
	uint16_t queue_max_size;     /* power of 2 */
	uint32_t config_size;        /* bytes of device config space */
	/*
	 * Feature bits the model offers: its own (VIRTIO_BLK_F_*, ...) plus any
	 * of VIRTIO_TRANSPORT_FEATURES it can handle. The transport adds
	 * VIRTIO_F_VERSION_1 and drops other transport bits (24..40).
	 */
	uint64_t features;

	/*
	 * Config space access, [offset, offset + size) already checked to lie in
	 * config_size; size is 1, 2, 4 or 8. config_write NULL: writes ignored.
	 */
	void (*config_read)(void *dev, uint32_t offset, void *data, uint32_t size);
	void (*config_write)(void *dev, uint32_t offset, const void *data, uint32_t size);

	/*
	 * DRIVER_OK with these negotiated features (device bits and the
	 * transport's ring bits): queues are enabled, work may start. Non-zero:
	 * the device cannot run that way; the transport sets NEEDS_RESET.
	 */
	int (*activate)(void *dev, uint64_t features);

	/* The driver kicked queue q (queue enabled, device activated). */
	void (*queue_notify)(void *dev, unsigned q);

	/* Driver wrote status 0: drop in-flight work and return to the initial state. Queues are reset by the transport. */
	void (*reset)(void *dev);
};

/* Feature bits a device model may offer besides its own (the transport adds VERSION_1 always). */
#define VIRTIO_TRANSPORT_FEATURES \
	((1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX))

/* ---- what the transport offers a device model -------------------------- */

/* Queue q (q < num_queues). */
struct virtq *virtio_queue(struct virtio_dev *d, unsigned q);

/* After pushing used buffers on queue q: interrupts the driver if it wants one (virtq_should_interrupt). */
void virtio_queue_done(struct virtio_dev *d, unsigned q);

/* The device's config space changed: bumps ConfigGeneration and raises the config interrupt. */
void virtio_config_changed(struct virtio_dev *d);

/*
 * The driver broke the device's rules (bad request layout, broken queue):
 * logs `why` once per device, sets DEVICE_NEEDS_RESET and raises the config
 * interrupt. The device stops serving until the driver resets it.
 */
void virtio_device_error(struct virtio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True once DRIVER_OK is set, no error is pending and the device is not paused (it may use its queues). */
bool virtio_device_running(struct virtio_dev *d);

/*
 * The request loop of a device that serves each chain on its own (blk, rng):
 * drains queue q with kicks suppressed, re-arming them at the end and
 * draining again what came meanwhile; serve(ctx, chain) returns the bytes it
 * wrote into the chain, or < 0 when it reported a device error (the loop then
 * stops). A broken queue becomes a device error. Interrupts once at the end
 * when anything was used. chain: the model's scratch chain (large).
 * VIRTIO_SERVE_LATER: not now (a rate limiter): the chain goes back to the
 * ring unserved, the loop stops with kicks left suppressed, and the model
 * serves the queue again itself (its timer), in the same order.
 */
#define VIRTIO_SERVE_LATER (-2)
typedef int64_t (*virtio_serve_fn)(void *ctx, const struct virtq_chain *chain);
void virtio_serve_queue(struct virtio_dev *d, unsigned q, struct virtq_chain *chain, virtio_serve_fn serve,
			void *ctx);

/* For work a model starts itself (backend threads): serialises with the callbacks above. */
void virtio_lock(struct virtio_dev *d);
void virtio_unlock(struct virtio_dev *d);

#endif
