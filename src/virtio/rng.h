/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_RNG_H
#define VMON_VIRTIO_RNG_H

#include <stdint.h>

#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "base/error.h"

/*
 * virtio-rng / entropy device (virtio 1.2 §5.4): one queue of device-writable
 * buffers, each filled with getrandom() bytes, at most VIRTIO_RNG_MAX_REQUEST
 * per buffer (the driver asks again for more). A buffer with a device-readable
 * segment, or without a writable byte, is a driver bug: virtio_device_error().
 */

#define VIRTIO_RNG_QUEUE_SIZE 64u
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024)

struct virtio_rng {
	struct virtio_dev *vdev;
	struct virtq_chain chain;      /* the request being served (too big for the stack) */
	uint64_t requests;             /* buffers filled */
	uint64_t bytes;                /* random bytes served */
};

extern const struct virtio_device_ops virtio_rng_ops;

/* vdev: the core (&transport.vdev) of the transport the caller initialises after this returns, with the model as `dev`. */
int virtio_rng_create(struct virtio_rng **out, struct virtio_dev *vdev, struct vmon_error *err);
void virtio_rng_destroy(struct virtio_rng *rng);

/*
 * The registry's view (devices/device.h), kind "virtio-rng"; its dev is the
 * transport's core (&transport.vdev). The model has no guest-visible state
 * of its own (no config space; buffers are filled synchronously, so none is
 * in flight once paused): its state is the core's.
 */
#define VIRTIO_RNG_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_rng_state {
	struct virtio_dev_state core;
};

extern const struct device_ops virtio_rng_registry_ops;

#endif
