/* SPDX-License-Identifier: MIT */
#include "virtio/rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/log.h"
#include "base/stat_counter.h"
#include "virtio/core.h"

int virtio_rng_create(struct virtio_rng **out, struct virtio_dev *vdev, const struct rate_limiter_config *limits,
		      struct vmon_error *err)
{
	static const struct rate_limiter_config none;
	struct virtio_rng *rng;
	int r;

	*out = NULL;
	if (!limits)
		limits = &none;
	if (!(rng = calloc(1, sizeof(*rng))))
		return error_set(err, -ENOMEM, "virtio-rng: out of memory");
	rng->vdev = vdev;
	if ((r = queue_throttle_init(&rng->throttle, vdev, 0, "virtio-rng", NULL, 0, limits, err))) {
		free(rng);
		return r;
	}
	*out = rng;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	queue_throttle_destroy(&rng->throttle);
	free(rng);
}

void virtio_rng_get_stats(const struct virtio_rng *rng, struct virtio_rng_stats *out)
{
	*out = (struct virtio_rng_stats){
		.requests = stat_get(&rng->requests), .bytes = stat_get(&rng->bytes),
		.rate_limiter_throttled_events = queue_throttle_events(&rng->throttle),
	};
}

/* Fills buf with random bytes; getrandom() may return short (signals) but not fail once seeded. */
static int random_fill(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* What the device fills in this buffer: its writable bytes, at most VIRTIO_RNG_MAX_REQUEST. */
static uint64_t request_bytes(const struct virtq_chain *c)
{
	return c->in_bytes < VIRTIO_RNG_MAX_REQUEST ? c->in_bytes : VIRTIO_RNG_MAX_REQUEST;
}

/* Returns the bytes written into the chain, or -1 after a device error. */
static int64_t serve_request(struct virtio_rng *rng, const struct virtq_chain *c)
{
	uint64_t want = request_bytes(c);
	uint64_t done = 0;

	if (c->nout || c->in_bytes == 0) {
		virtio_device_error(rng->vdev, "buffer (descriptor %u) has %llu readable and %llu writable bytes; "
				    "only writable ones are allowed",
				    c->head, (unsigned long long)c->out_bytes, (unsigned long long)c->in_bytes);
		return -1;
	}
	for (unsigned i = c->nout; i < c->nout + c->nin && done < want; i++) {
		size_t len = c->iov[i].iov_len < want - done ? c->iov[i].iov_len : want - done;
		int r = random_fill(c->iov[i].iov_base, len);
		if (r) {
			log_warn("virtio-rng: getrandom: %s", strerror(-r));
			break;     /* serve what we have: the driver asks again */
		}
		done += len;
	}
	stat_add(&rng->requests, 1);
	stat_add(&rng->bytes, done);
	return (int64_t)done;
}

int virtio_rng_attach_loop(struct virtio_rng *rng, struct event_loop *loop, struct vmon_error *err)
{
	return queue_throttle_attach(&rng->throttle, loop, err);
}

static int64_t serve_one(void *ctx, const struct virtq_chain *c)
{
	struct virtio_rng *rng = ctx;

	/*
	 * The cost is what the device would fill (the bytes Firecracker's entropy
	 * device charges): a malformed buffer costs the same and then fails.
	 */
	if (!queue_throttle_admit(&rng->throttle, request_bytes(c)))
		return VIRTIO_SERVE_LATER;
	return serve_request(rng, c);
}

static void rng_queue_notify(void *dev, unsigned q)
{
	struct virtio_rng *rng = dev;

	/* Held back by the rate limiter: its timer serves the queue, kicks meanwhile change nothing. */
	if (queue_throttle_held(&rng->throttle))
		return;
	virtio_serve_queue(rng->vdev, q, &rng->chain, serve_one, rng);
}

static void rng_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	(void)dev;
	(void)offset;
	memset(data, 0, size);    /* no config space; config_size is 0, so never called */
}

static int rng_activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

static void rng_reset(void *dev)
{
	struct virtio_rng *rng = dev;

	/* Requests are served synchronously: nothing is in flight; a waiting queue is gone with the rings. */
	queue_throttle_disarm(&rng->throttle);
}

const struct virtio_device_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
	.config_size = 0,
	.features = VIRTIO_TRANSPORT_FEATURES,
	.config_read = rng_config_read,
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
};

/* ---- the registry's view (devices/device.h) ---------------------------- */

static void rng_save(void *dev, void *state)
{
	struct virtio_rng_state s;

	virtio_dev_save(dev, &s.core);
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

static int rng_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_rng_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	r = virtio_dev_restore(dev, &s.core, err);
	if (r)
		error_prefix(err, "virtio-rng");
	return r;
}

const struct device_ops virtio_rng_registry_ops = {
	.kind = "virtio-rng",
	.state_version = VIRTIO_RNG_STATE_VERSION,
	.state_size = sizeof(struct virtio_rng_state),
	.reset = virtio_dev_ops_reset,
	.save = rng_save,
	.restore = rng_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
