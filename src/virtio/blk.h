/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_BLK_H
#define VMON_VIRTIO_BLK_H

#include <linux/virtio_blk.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"
#include "virtio/queue_throttle.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "base/token_bucket.h"

/* --drive path=FILE[,readonly=on|off][,id=NAME] */
struct drive_config {
	const char *path;
	bool readonly;
	const char *id;              /* serial the guest reads with GET_ID (<= 20 bytes); NULL: "vmon-drive<N>" */
	/*
	 * Open the image without its lock; virtio_blk_lock takes it later. A live
	 * migration's destination on the same host: the source holds the lock
	 * until it stands still for the final round (not part of the description).
	 */
	bool lock_later;
	/* Firecracker's rate_limiter: each request costs one op and its data bytes (reads and writes). */
	struct rate_limiter_config rate_limiter;
};

/*
 * virtio-blk (virtio 1.2 §5.2) on a raw image: a regular file or a block
 * device, one queue, requests served synchronously on the I/O thread with
 * preadv/pwritev straight into guest memory (bench/blk_engines.c: io_uring
 * gains nothing at the depths one queue sees).
 *
 * The image:
 *  - is opened O_RDWR (O_RDONLY with readonly) and locked with an OFD lock,
 *    exclusive (shared for readonly), so two VMs never write one image;
 *    a held lock is refused with a message;
 *  - must be a multiple of 512 bytes long: any other size is refused
 *    ("not a multiple of 512 bytes") rather than silently hiding a tail;
 *  - is cached by the host page cache; FLUSH is fdatasync().
 *
 * Features: SEG_MAX, BLK_SIZE (512), FLUSH, RO with readonly, DISCARD when
 * fallocate(PUNCH_HOLE) works on the image, WRITE_ZEROES when PUNCH_HOLE or
 * ZERO_RANGE does (probed at create, past EOF with KEEP_SIZE, so no data is
 * touched), and the transport's INDIRECT_DESC / EVENT_IDX.
 *
 * Request layout (header | out-payload || in-payload | status):
 *  - a chain with no writable byte has nowhere to put a status: the driver
 *    broke the queue, virtio_device_error() (DEVICE_NEEDS_RESET);
 *  - any other malformed request is answered VIRTIO_BLK_S_IOERR and the
 *    device keeps serving: readable part shorter than the 16-byte header,
 *    payload where the type has none, data not a multiple of 512, a range
 *    past the capacity (or overflowing), OUT/DISCARD/WRITE_ZEROES on a
 *    read-only drive (nothing is written);
 *  - an unknown type, DISCARD/WRITE_ZEROES not negotiated, or reserved range
 *    flags: VIRTIO_BLK_S_UNSUPP.
 * The status is the last writable byte, wherever the descriptors split.
 */

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_QUEUE_SIZE 256u
#define VIRTIO_BLK_MAX_RANGES 32u             /* DISCARD / WRITE_ZEROES segments per request */
#define VIRTIO_BLK_MAX_RANGE_SECTORS (1u << 22)  /* 2 GiB per segment */

struct virtio_blk {
	struct virtio_dev *vdev;
	struct virtio_device_ops ops;         /* virtio_blk_ops with this image's feature bits */
	int fd;
	char *path;                           /* the image's, for messages */
	bool readonly;
	bool locked;                          /* holds the image's lock (virtio_blk_lock) */
	bool can_punch_hole;                  /* fallocate(PUNCH_HOLE | KEEP_SIZE) works */
	bool can_zero_range;                  /* fallocate(ZERO_RANGE | KEEP_SIZE) works */
	uint64_t capacity;                    /* sectors */
	uint64_t features;                    /* negotiated */
	char serial[VIRTIO_BLK_ID_BYTES];     /* NUL-padded, not necessarily terminated */
	struct virtio_blk_config config;      /* little-endian, as the guest reads it */

	/* The rate limiter: a refused request waits in the ring for the throttle's timer. */
	struct queue_throttle throttle;

	/* Scratch for the request being served (too big for the stack). */
	struct virtq_chain chain;
	struct iovec data[VIRTQ_CHAIN_MAX];

	/* Counters: bumped by the I/O thread, read by any thread (virtio_blk_get_stats). */
	_Atomic uint64_t reads, writes, flushes, discards, write_zeroes, bytes_read, bytes_written;
	_Atomic uint64_t errors;              /* requests answered IOERR or UNSUPP */
};

struct virtio_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes;  /* requests done (status OK) */
	uint64_t bytes_read, bytes_written;
	uint64_t errors;                      /* requests answered IOERR or UNSUPP */
	uint64_t rate_limiter_throttled_events;  /* requests the rate limiter held back (each time) */
};

/* A snapshot of the counters; any thread, no lock (each read whole, not all at one instant). */
void virtio_blk_get_stats(const struct virtio_blk *blk, struct virtio_blk_stats *out);

/*
 * The ops every drive can use. Its `features` are the bits common to all
 * images; virtio_blk_device_ops() adds RO and drops DISCARD / WRITE_ZEROES
 * per image. A drive plugged with this table still behaves correctly: OUT
 * on a read-only drive fails, DISCARD without hole punching is a no-op (it
 * is a hint), WRITE_ZEROES falls back to writing zeroes.
 */
extern const struct virtio_device_ops virtio_blk_ops;

/* This drive's ops: virtio_blk_ops with its exact feature bits (lives as long as blk). */
const struct virtio_device_ops *virtio_blk_device_ops(const struct virtio_blk *blk);

/*
 * Opens and locks cfg->path (unless cfg->lock_later). vdev: the core (&transport.vdev) of the
 * transport the caller initialises after this returns, with the model as
 * `dev`; used only from the callbacks.
 * index: for the default serial "vmon-drive<index>" when cfg->id is NULL.
 */
int virtio_blk_create(struct virtio_blk **out, struct virtio_dev *vdev, const struct drive_config *cfg,
		      unsigned index, struct vmon_error *err);
/*
 * Puts another image behind the drive (Firecracker's PATCH /drives
 * path_on_host; Kata hot-plugs disks so): opened and locked like the first,
 * the old one closed, the capacity updated and the guest told with a
 * configuration-change interrupt. Call with the device's I/O paused (no
 * request in flight). On error the old image stays.
 */
int virtio_blk_replace_image(struct virtio_blk *blk, const char *path, struct vmon_error *err);

/*
 * The image's lock: an OFD lock on the whole file, write for a writable
 * drive, read (shared) for a read-only one; held from virtio_blk_create on,
 * so two vmon processes never write one image. A live migration on one host
 * hands it over: the source lets go once its VM stands still for the final
 * round, the destination takes it before it says READY (and the source takes
 * it back if the migration fails). Locking a drive that holds it does nothing.
 */
int virtio_blk_lock(struct virtio_blk *blk, struct vmon_error *err);
void virtio_blk_unlock(struct virtio_blk *blk);

/*
 * Puts the throttle timer on `loop` (the I/O thread's, before it starts or
 * on it). Without it a limiting rate limiter is refused: a throttled queue
 * would never resume.
 */
int virtio_blk_attach_loop(struct virtio_blk *blk, struct event_loop *loop, struct vmon_error *err);

/*
 * Replaces the rate limiter with full buckets (Firecracker's PATCH /drives
 * rate_limiter: update_buckets), any thread; a queue throttled by the old
 * one is looked at again on the I/O thread. -EINVAL for a bucket out of range
 * or a limiting one without a loop attached.
 */
int virtio_blk_set_rate_limiter(struct virtio_blk *blk, const struct rate_limiter_config *cfg,
				struct vmon_error *err);

/* Is id the drive's serial (its drive_id)? */
bool virtio_blk_has_id(const struct virtio_blk *blk, const char *id);

/* Closes the image (releasing the lock). NULL is fine. */
void virtio_blk_destroy(struct virtio_blk *blk);

/*
 * The registry's view (devices/device.h), kind "virtio-blk"; its dev is the
 * transport's core (&transport.vdev) with this model plugged in. State: the
 * core's (status, features, queues) and what the guest was told about the
 * disk. Requests are served synchronously in the notify handler, so once
 * paused nothing is in flight: the saved ring indices say it all.
 * Restore refuses an image of another capacity (the guest's view of the
 * disk would be wrong) and takes the saved serial (GET_ID).
 */
#define VIRTIO_BLK_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_blk_state {
	struct virtio_dev_state core;
	uint64_t capacity;                    /* sectors; checked against this image */
	uint8_t serial[VIRTIO_BLK_ID_BYTES];  /* GET_ID */
	uint8_t reserved[4];                  /* 0 */
};

extern const struct device_ops virtio_blk_registry_ops;

#endif
