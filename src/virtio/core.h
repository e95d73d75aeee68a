/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_CORE_H
#define VMON_VIRTIO_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"
#include "virtio/device.h"
#include "virtio/queue.h"

/*
 * The transport-neutral virtio device (virtio 1.2 §2, §3): everything a
 * transport (virtio-mmio today, virtio-pci later) would otherwise duplicate.
 * The transport decodes its registers and calls the functions below; it
 * never changes the fields itself, except the queue registers returned by
 * virtio_dev_writable_queue().
 *
 *  - the status machine: bits only go forward (§2.1.1), in §3.1.1's order;
 *    FEATURES_OK only with VIRTIO_F_VERSION_1 and nothing unoffered; status
 *    0 resets; DEVICE_NEEDS_RESET is the device's (virtio_device_error);
 *  - features: 64 device bits read, and 64 driver bits written, 32 at a
 *    time through the selectors (0 = bits 0..31, 1 = bits 32..63, others
 *    read 0 and ignore writes), frozen once FEATURES_OK is accepted;
 *  - config generation (bumped by virtio_config_changed) and the
 *    interrupt causes (VIRTIO_INT_*: the same bits as MMIO's
 *    InterruptStatus and PCI's ISR);
 *  - per queue: the driver's registers (size, ring addresses, ready) and the
 *    device's ring state (struct virtq: indices, event-index and indirect
 *    flags, broken);
 *  - save / restore of all of it (struct virtio_dev_state), pause / resume.
 *
 * Locking: d->lock (recursive) serialises the transport's register accesses
 * (vCPU threads), queue notifications (the I/O thread) and the model's own
 * work (virtio_lock). Functions here marked "lock held" expect the caller to
 * hold it; the others take it.
 *
 * Pause: a paused device is not "running" (virtio_device_running() is
 * false), so notifications are ignored, models do not pop or push, backends
 * are refused (NET_RX_NO_SPACE), and interrupts are recorded in
 * interrupt_status but their edge is deferred. Every handler holds d->lock
 * for its whole run, so virtio_dev_pause() returning means none is running.
 * Resume delivers a deferred edge and re-kicks (through the transport, on
 * the I/O thread) every queue with available buffers not yet taken.
 */

#define VIRTIO_MAX_QUEUES 8u

/* Interrupt causes: the same bits in virtio-mmio's InterruptStatus and virtio-pci's ISR. */
#define VIRTIO_INT_USED_BUFFER 1u
#define VIRTIO_INT_CONFIG 2u

/* The driver's view of one queue (what it wrote to the transport's queue registers). */
struct virtio_queue_regs {
	uint16_t num;                 /* queue size the driver chose (starts at the maximum) */
	uint64_t desc, avail, used;   /* guest-physical ring addresses */
	bool ready;
};

/* What the core asks of its transport. Called with d->lock held. */
struct virtio_transport_hooks {
	/* Deliver one interrupt edge to the driver (the causes are in interrupt_status). */
	void (*interrupt)(void *ctx);
	/* Have queue q processed on the I/O thread, as a driver kick would. */
	void (*kick)(void *ctx, unsigned q);
	/*
	 * Optional, for transports with one interrupt per source (virtio-pci's
	 * MSI-X): every event of source (a queue index, or VIRTIO_INT_SOURCE_CONFIG)
	 * is handed over, not only the first of each cause (there is no status
	 * register the driver acks in that mode). interrupt() then only delivers
	 * what a pause or a restore deferred, to every source with a cause.
	 */
	void (*interrupt_source)(void *ctx, unsigned source);
};

#define VIRTIO_INT_SOURCE_CONFIG 0xffffu

struct virtio_dev {
	/* Fixed at init. */
	const struct virtio_device_ops *ops;
	void *model;                  /* the device model (ops' dev argument) */
	const struct guest_mem *mem;
	const struct virtio_transport_hooks *hooks;
	void *hooks_ctx;
	char label[48];               /* "virtio-blk at 0xd0000000", for messages */
	uint64_t device_features;     /* model features | VIRTIO_F_VERSION_1 (transport bits filtered) */
	pthread_mutex_t lock;
	bool lock_ready;

	/* Guest-visible state: saved by virtio_dev_save(). */
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;    /* VIRTIO_INT_* */
	uint32_t config_generation;
	struct virtio_queue_regs qregs[VIRTIO_MAX_QUEUES];
	struct virtq queues[VIRTIO_MAX_QUEUES];

	/* Host side. */
	bool paused;
	bool interrupt_deferred;      /* an edge is owed to the driver (raised while paused, or restored) */
	bool error_logged;
	uint32_t logged;              /* guest mistakes already logged once */
};

/*
 * Checks the model (1..VIRTIO_MAX_QUEUES queues, a power-of-2 queue size up
 * to VIRTQ_MAX_SIZE), sets up the lock and the queues in their reset state.
 * label: for messages. 0 or a negative errno.
 */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_device_ops *ops, void *model,
		    const struct guest_mem *mem, const char *label, const struct virtio_transport_hooks *hooks,
		    void *hooks_ctx, struct vmon_error *err);
/* Safe after a failed init and twice. */
void virtio_dev_destroy(struct virtio_dev *d);

/* ---- what a transport's register decoder calls (lock held) -------------- */

/* The 32 device feature bits device_features_sel selects. */
uint32_t virtio_dev_device_features_word(const struct virtio_dev *d);
/* 32 driver feature bits into the half driver_features_sel selects (ignored after FEATURES_OK). */
void virtio_dev_write_driver_features(struct virtio_dev *d, uint32_t value);
/* The driver writes the status register: 0 resets, otherwise bits are added in order. */
void virtio_dev_write_status(struct virtio_dev *d, uint32_t value);
/* The queue queue_sel selects, or NULL when there is none. */
struct virtio_queue_regs *virtio_dev_selected_queue(struct virtio_dev *d);
/*
 * The selected queue's registers for the transport to write, or NULL (logged
 * once) when the queue does not exist or is ready: its layout is then fixed.
 * what: the register's name, for the message.
 */
struct virtio_queue_regs *virtio_dev_writable_queue(struct virtio_dev *d, const char *what);
/* QueueReady written for the selected queue: 1 enables it (checked, §2.7), 0 resets it. */
void virtio_dev_write_queue_ready(struct virtio_dev *d, uint32_t value);
/* The driver acknowledged these interrupt causes. */
void virtio_dev_ack_interrupt(struct virtio_dev *d, uint32_t bits);
/*
 * The driver kicked queue q (the I/O thread's side): the model serves it
 * when the device runs and the queue is ready. False: ignored (logged once).
 */
bool virtio_dev_queue_notify(struct virtio_dev *d, unsigned q);
/* Device config space at offset (size 1, 2, 4 or 8, within config_size; anything else is ignored, reads 0). */
void virtio_dev_config_access(struct virtio_dev *d, uint32_t offset, void *data, unsigned size, bool is_write);

/* ---- lifecycle (device_ops): take the lock ------------------------------- */

/* Power-on state: the model's reset, queues reset, status 0, config generation 0. */
void virtio_dev_reset(struct virtio_dev *d);
void virtio_dev_pause(struct virtio_dev *d);
void virtio_dev_resume(struct virtio_dev *d);

/* ---- state ------------------------------------------------------------------ */

/*
 * One queue's saved state: the driver's registers and the device's ring
 * indices. Host pointers are not saved: restore recomputes them from the
 * addresses (virtq_enable: alignment, size, every ring inside guest RAM).
 * The event-index and indirect flags follow from driver_features.
 */
struct virtio_queue_state {
	uint64_t desc_addr;
	uint64_t avail_addr;
	uint64_t used_addr;
	uint16_t size;                /* the driver's queue size (QueueNum) */
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	uint8_t ready;                /* 0 or 1 */
	uint8_t signalled_used_valid; /* 0 or 1 */
	uint8_t broken;               /* 0 or 1 */
	uint8_t reserved[5];          /* 0 */
};

#define VIRTIO_DEV_STATE_VERSION 1u

struct virtio_dev_state {
	uint32_t device_id;           /* checked: the same model */
	uint32_t num_queues;          /* checked: the same model */
	uint64_t device_features;     /* checked: the same offer */
	uint64_t driver_features;
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtio_queue_state queues[VIRTIO_MAX_QUEUES];
};

/* A model's state version: the core's layout and the model's own, so a change to either is caught. */
#define VIRTIO_MODEL_STATE_VERSION(model_version) ((VIRTIO_DEV_STATE_VERSION << 16) | (model_version))

void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *s);
/*
 * Checks every field of s against this device (same model and offer; a
 * status the status machine can reach; interrupt causes, flags and reserved
 * bytes in range; for each ready queue a valid size and rings inside guest
 * RAM, in-flight count <= size; a queue not ready has no ring state), then
 * loads it. On error nothing changed and err names the field. Guest RAM must
 * be restored first: the rings are looked up in it. A device restored
 * paused owes the driver an edge when interrupt causes are pending; resume
 * delivers it and re-kicks queues with pending buffers.
 */
int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_state *s, struct vmon_error *err);

/* For a model's device_ops table: the core's reset/pause/resume, dev being a struct virtio_dev. */
void virtio_dev_ops_reset(void *dev);
void virtio_dev_ops_pause(void *dev);
void virtio_dev_ops_resume(void *dev);

#endif
