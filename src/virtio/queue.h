/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_QUEUE_H
#define VMON_VIRTIO_QUEUE_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/guest_mem.h"

/*
 * Split virtqueues (virtio 1.2 §2.7) as a device sees them. This is THE
 * boundary where guest-controlled data enters vmon: every ring address,
 * index, length, flag, chain length, indirect table and guest-physical range
 * is checked here, against guest RAM, before a device model sees it. A device
 * model only ever gets iovecs that lie inside guest RAM.
 *
 * A queue that breaks a rule (descriptor out of range, loop, write-only
 * descriptor before a read-only one, indirect inside indirect, avail index
 * running more than `size` ahead, ...) is marked broken: every later pop
 * returns VIRTQ_BROKEN until virtq_reset(), and vq->error says why. The
 * transport then sets DEVICE_NEEDS_RESET for the driver (§2.1.1).
 *
 * Not thread-safe: the transport serialises all calls for one queue.
 * Guest memory may change under us at any time (the guest is another CPU):
 * every guest-written field is read exactly once into a local before use.
 */

#define VIRTQ_MAX_SIZE 32768u      /* §2.7: Queue Size is a power of 2, at most 32768 */
#define VIRTQ_CHAIN_MAX 1024u      /* segments in one chain, direct + indirect together */

struct virtq {
	/* Set by virtq_init(). */
	const struct guest_mem *mem;
	uint16_t max_size;          /* what the device offers (QueueNumMax) */

	/* Set by virtq_enable() from the driver's registers. */
	bool enabled;
	uint16_t size;
	uint64_t desc_addr, avail_addr, used_addr;
	bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	struct vring_desc *desc;    /* host views of the three areas, checked once at enable */
	struct vring_avail *avail;
	struct vring_used *used;

	/* Device-side state. */
	uint16_t last_avail_idx;    /* next avail ring entry to pop */
	uint16_t used_idx;          /* next used ring entry to fill (published in used->idx) */
	uint16_t signalled_used;    /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_used_valid;
	bool broken;
	char error[160];            /* why it broke; "" when fine */
	const char *bad_field;      /* virtq_enable refused this argument: "size", "desc_addr", "avail_addr", "used_addr" */
};

/* One available buffer: device-readable segments first, then device-writable ones. */
struct virtq_chain {
	uint16_t head;              /* descriptor index to give back in virtq_push() */
	const struct guest_mem *mem; /* the queue's: virtq_chain_write marks what it writes (dirty tracking) */
	uint16_t nout;              /* device-readable: iov[0 .. nout) */
	uint16_t nin;               /* device-writable: iov[nout .. nout + nin) */
	uint64_t out_bytes;         /* sum of the readable lengths */
	uint64_t in_bytes;          /* sum of the writable lengths */
	struct iovec iov[VIRTQ_CHAIN_MAX];
};

enum virtq_pop_result {
	VIRTQ_BROKEN = -1,          /* queue broken (now or earlier): see vq->error */
	VIRTQ_EMPTY = 0,            /* nothing available */
	VIRTQ_GOT = 1,              /* *chain filled */
};

/* Starts disabled. max_size: a power of 2, 1 .. VIRTQ_MAX_SIZE. */
void virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size);

/* Back to the disabled, unbroken state (device reset or QueueReset). */
void virtq_reset(struct virtq *vq);

/*
 * QueueReady = 1: checks size (power of 2, <= max_size), alignment (desc 16,
 * avail 2, used 4) and that the three areas (with the event fields when
 * EVENT_IDX is negotiated) lie in guest RAM, then caches their host views.
 * features: the negotiated feature bits (only the ring bits are used).
 * Returns 0, or -EINVAL with vq->error set (vq->bad_field names the
 * refused argument) and the queue left disabled.
 */
int virtq_enable(struct virtq *vq, uint16_t size, uint64_t desc_addr, uint64_t avail_addr, uint64_t used_addr,
		 uint64_t features);

/*
 * Takes the next available chain. VIRTQ_EMPTY also re-arms driver
 * notifications (avail_event, or clears NO_NOTIFY) behind a full fence, so a
 * device that pops until EMPTY after each kick never loses one. A
 * zero-length descriptor is allowed: it gets no iovec (nothing is mapped).
 */
enum virtq_pop_result virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/*
 * Puts a chain popped earlier back as used, `written` bytes written into its
 * device-writable part (clamped to in_bytes), and publishes used->idx (with
 * a release barrier). Does not interrupt: see virtq_should_interrupt().
 */
void virtq_push(struct virtq *vq, const struct virtq_chain *chain, uint32_t written);

/*
 * Several chains used at once, published with ONE used->idx update: a frame
 * spread over several receive buffers (virtio-net MRG_RXBUF) must appear to
 * the driver whole. elems: (head, bytes written) pairs, 1 <= count <= size;
 * lengths are the caller's to bound (by each chain's in_bytes).
 */
void virtq_push_many(struct virtq *vq, const struct vring_used_elem *elems, unsigned count);

/* Gives back a chain without using it (e.g. RX buffer not filled): it will be popped again. */
void virtq_unpop(struct virtq *vq);

/*
 * After one or more pushes: does the driver want an interrupt now?
 * Honours VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX (§2.7.10).
 * Updates the "signalled" state, so call it once per batch and interrupt when true.
 */
bool virtq_should_interrupt(struct virtq *vq);

/*
 * Driver→device notification suppression (§2.7.10): enable=false tells the
 * driver not to kick while the device is polling; enable=true asks for kicks
 * again and returns true when buffers became available meanwhile (the caller
 * must then keep processing, or a kick is lost).
 */
bool virtq_set_notification(struct virtq *vq, bool enable);

/* True when the driver has made buffers available that were not popped yet. */
bool virtq_has_available(struct virtq *vq);

/* Gather from the readable part / scatter into the writable part, starting at byte `offset` of that part. Return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src, size_t len);

#endif
