/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_BALLOON_H
#define VMON_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/event_loop.h"
#include "devices/device.h"
#include "virtio/core.h"
#include "virtio/device.h"

/*
 * virtio-balloon / traditional memory balloon (virtio 1.2 §5.5), as Linux's
 * drivers/virtio/virtio_balloon.c drives it:
 *
 *  - config space: num_pages (the target, set by the host) and actual (what
 *    the driver holds, written by it); free_page_hint_cmd_id and poison_val
 *    read 0 (hinting and poisoning are not offered);
 *  - inflateq (0) / deflateq (1): buffers of little-endian 32-bit page frame
 *    numbers (4 KiB frames). Inflated frames are released on the host
 *    (guest_mem_discard: the memory goes back to the host, RSS drops);
 *    deflated ones are only counted (MUST_TELL_HOST is not offered, so the
 *    guest may use a page again without telling us, and a released page
 *    simply faults back in as zero);
 *  - statsq (VIRTIO_BALLOON_F_STATS_VQ, offered when stats_interval_s > 0):
 *    the driver's one buffer of (le16 tag, le64 value) entries is read and
 *    HELD; every interval the device gives it back (used, interrupt), the
 *    driver refills and re-queues it, and the device reads it again;
 *  - reporting_vq (VIRTIO_BALLOON_F_REPORTING): each buffer's descriptors
 *    name guest-physical ranges the guest freed; released like inflated
 *    pages, then given back;
 *  - VIRTIO_BALLOON_F_DEFLATE_ON_OOM: only a promise to the driver (it may
 *    take pages back under memory pressure, and then keeps MemTotal).
 *
 * Queue numbers: an absent queue takes no number, as virtio-mmio/pci drivers
 * (Linux's find_vqs with a NULL name) lay them out — inflate 0, deflate 1,
 * then stats, then reporting, each only when its feature was negotiated. The
 * device offers 2 + (stats) + (reporting) queues and maps queue numbers to
 * roles at DRIVER_OK from the negotiated features.
 *
 * Every frame number and range from the guest is checked against guest RAM
 * (guest_mem_ptr): a bad one is logged once and skipped, never touched.
 */

#define VIRTIO_BALLOON_QUEUE_SIZE 256u
#define VIRTIO_BALLOON_CONFIG_SIZE 16u       /* num_pages, actual, free_page_hint_cmd_id, poison_val */
/* Tags 0 (SWAP_IN) .. 9 (HTLB_PGFAIL) of linux/virtio_balloon.h, 10 (OOM_KILL) .. 15 (DIRECT_RECLAIM) of Linux 6.12. */
#define VIRTIO_BALLOON_NUM_STATS 16u
#define VIRTIO_BALLOON_MAX_QUEUES 4u         /* inflate, deflate, stats, reporting */
/*
 * Frames one inflate/deflate buffer may name (Linux sends at most 256): a
 * hostile list as long as RAM, with no two frames adjacent, would make the
 * I/O thread madvise() page by page for minutes inside one buffer, where a
 * pause cannot reach it. The rest of a longer list is skipped as bad input.
 */
#define VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER 4096u

/* What the user asks for (CLI --balloon, PUT /balloon). */
struct balloon_config {
	bool enabled;
	uint32_t amount_mib;          /* the initial target */
	bool deflate_on_oom;
	uint32_t stats_interval_s;    /* 0: no statistics queue */
	bool free_page_reporting;
};

/* The largest target: num_pages is a 32-bit count of 4 KiB pages. */
#define BALLOON_MAX_MIB (UINT32_MAX / 256u)
/* Firecracker's stats_polling_interval_s is a u16 of seconds. */
#define BALLOON_MAX_STATS_INTERVAL_S 65535u

enum balloon_queue_role {
	BALLOON_Q_INFLATE,
	BALLOON_Q_DEFLATE,
	BALLOON_Q_STATS,
	BALLOON_Q_REPORTING,
	BALLOON_Q_NONE,
};

/* The driver's last statistics: valid bit i <=> tag i was in its last buffer. */
struct balloon_stats {
	uint64_t valid;
	uint64_t value[VIRTIO_BALLOON_NUM_STATS];
};

/* Guest-visible state beyond the core's: plain data, saved as is (little-endian host assumed, as the core). */
struct virtio_balloon_model_state {
	uint32_t num_pages;           /* target, 4 KiB pages */
	uint32_t actual;              /* as the driver last wrote it */
	uint32_t stats_interval_s;
	uint16_t stats_head;          /* the held statistics buffer's head (when stats_held) */
	uint8_t stats_held;           /* 0 or 1 */
	uint8_t reserved[9];          /* 0 */
	struct balloon_stats stats;
	uint64_t inflated_pages;      /* frames received on inflateq (valid ones) */
	uint64_t deflated_pages;      /* frames received on deflateq (valid ones) */
	uint64_t reported_bytes;      /* bytes released through the reporting queue */
};

struct virtio_balloon {
	struct virtio_dev *vdev;
	struct virtio_device_ops ops;         /* virtio_balloon_ops with this device's features and queue count */
	struct balloon_config cfg;
	struct event_loop *loop;              /* NULL: no timer (tests drive virtio_balloon_request_stats) */
	int timer_fd;                         /* statistics interval; -1 when none */
	uint64_t features;                    /* negotiated (0 before DRIVER_OK) */
	uint8_t role[VIRTIO_BALLOON_MAX_QUEUES];   /* queue number -> enum balloon_queue_role */
	struct virtio_balloon_model_state st;
	uint64_t bad_frames;                  /* refused frame numbers / ranges (not guest RAM) */
	uint64_t released_bytes;              /* given back to the host (inflate + reporting) */
	bool bad_logged;
	struct virtq_chain chain;             /* the buffer being read (too big for the stack) */
};

extern const struct virtio_device_ops virtio_balloon_ops;

/*
 * vdev: the core the caller's transport initialises after this returns with
 * b->ops (virtio_balloon_device_ops) and b as the model. loop: where the
 * statistics timer runs (NULL: none; virtio_balloon_request_stats by hand).
 * cfg is checked: a target beyond BALLOON_MAX_MIB is refused.
 */
int virtio_balloon_create(struct virtio_balloon **out, struct virtio_dev *vdev, struct event_loop *loop,
			  const struct balloon_config *cfg, struct vmon_error *err);
void virtio_balloon_destroy(struct virtio_balloon *b);
/* Stops the statistics timer (before the I/O loop goes away). */
void virtio_balloon_stop(struct virtio_balloon *b);

const struct virtio_device_ops *virtio_balloon_device_ops(const struct virtio_balloon *b);

/* A new target in MiB (PATCH /balloon): num_pages changes, the driver gets a config interrupt. */
int virtio_balloon_set_target(struct virtio_balloon *b, uint32_t amount_mib, struct vmon_error *err);

/*
 * A new statistics interval (PATCH /balloon/statistics). Firecracker's rule:
 * statistics cannot be turned on or off after start (the queue exists or
 * not), only the interval changed.
 */
int virtio_balloon_set_stats_interval(struct virtio_balloon *b, uint32_t seconds, struct vmon_error *err);

/* Gives the held statistics buffer back to the driver (the timer's work). False: none held / not running. */
bool virtio_balloon_request_stats(struct virtio_balloon *b);

/* A consistent copy of what GET /balloon and /balloon/statistics report. */
struct balloon_status {
	struct balloon_config cfg;    /* with the current target and interval */
	uint32_t target_pages, actual_pages;
	bool stats_enabled;
	struct balloon_stats stats;
	uint64_t inflated_pages, deflated_pages, reported_bytes, released_bytes, bad_frames;
};
void virtio_balloon_status(struct virtio_balloon *b, struct balloon_status *out);

/* Firecracker's names of the statistics tags (swap_in, ..., hugetlb_failures), NULL past the last. */
const char *virtio_balloon_stat_name(unsigned tag);

/*
 * The registry's view (devices/device.h), kind "virtio-balloon"; its dev is
 * the transport's core. State: the core's and the model's (target, actual,
 * interval, the held statistics buffer, the last statistics, counters).
 */
#define VIRTIO_BALLOON_STATE_VERSION VIRTIO_MODEL_STATE_VERSION(1)

struct virtio_balloon_state {
	struct virtio_dev_state core;
	struct virtio_balloon_model_state model;
};

extern const struct device_ops virtio_balloon_registry_ops;

#endif
