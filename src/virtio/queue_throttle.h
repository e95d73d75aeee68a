/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_QUEUE_THROTTLE_H
#define VMON_VIRTIO_QUEUE_THROTTLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/device.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "base/token_bucket.h"

/*
 * One virtqueue held back by a token-bucket rate limiter (Firecracker's
 * rate_limiter), as virtio-blk and virtio-rng use it. A chain the limiter
 * refuses stays in the ring, the queue stops (kicks suppressed: the device's
 * queue_notify asks queue_throttle_held) and timer_fd, a one-shot timerfd on
 * the I/O loop, kicks the queue again when the tokens are back: no polling,
 * no reordering.
 *
 * State is under virtio_lock(vdev), except throttled_events (any thread
 * reads it). Host-side runtime state, never saved: a restored device starts
 * with full buckets.
 */
struct queue_throttle {
	struct rate_limiter limiter;
	bool throttled;                  /* timer_fd is armed: the queue waits for it */
	int timer_fd;                    /* -1 when none */
	struct event_loop *loop;         /* timer_fd's, once attached */
	uint64_t (*now_ns)(void);        /* CLOCK_MONOTONIC; tests may swap it */
	_Atomic uint64_t throttled_events;  /* chains held back (each time); one writer, the I/O thread */
	struct virtio_dev *vdev;
	unsigned queue;
	const char *what;                /* for messages: "virtio-blk" */
	const char *id;                  /* and the device's id (NUL-padded, id_len bytes at most), or NULL */
	unsigned id_len;
};

/* 0 when cfg's buckets are well-formed, else error_set ("rate_limiter.ops: ..."). */
int queue_throttle_check(const struct rate_limiter_config *cfg, struct vmon_error *err);

/*
 * Checks cfg, fills the buckets and creates the timer. Messages name the
 * device as `what` and, when id is not NULL, its id (read when a message is
 * written, so it may change later). On failure nothing is held and
 * queue_throttle_destroy is still safe.
 */
int queue_throttle_init(struct queue_throttle *t, struct virtio_dev *vdev, unsigned queue, const char *what,
			const char *id, unsigned id_len, const struct rate_limiter_config *cfg,
			struct vmon_error *err);

/* Puts the timer on `loop` (the I/O thread's, before it starts or on it). Unattached, nothing is limited. */
int queue_throttle_attach(struct queue_throttle *t, struct event_loop *loop, struct vmon_error *err);

static inline bool queue_throttle_attached(const struct queue_throttle *t)
{
	return t->loop != NULL;
}

/* Lock held. Is the queue waiting for its timer? Then a kick changes nothing. */
static inline bool queue_throttle_held(const struct queue_throttle *t)
{
	return t->throttled;
}

/*
 * Lock held. May a chain that costs one op and `bytes` go now? If not, the
 * queue is held and the timer armed for when it may. Always yes unattached
 * (unit tests of the request paths: nothing would resume the queue).
 */
bool queue_throttle_admit(struct queue_throttle *t, uint64_t bytes);

/* Lock held (device reset): a waiting queue is gone with the rings, the timer is disarmed. */
void queue_throttle_disarm(struct queue_throttle *t);

/*
 * Takes virtio_lock. New buckets, full (cfg checked by queue_throttle_check);
 * a queue the old ones held: the timer fires now and the new ones decide.
 */
void queue_throttle_replace(struct queue_throttle *t, const struct rate_limiter_config *cfg);

/* Any thread, no lock. */
uint64_t queue_throttle_events(const struct queue_throttle *t);

void queue_throttle_destroy(struct queue_throttle *t);

#endif
