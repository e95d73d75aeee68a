/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_MMIO_H
#define VMON_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "virtio/device.h"
#include "base/error.h"
#include "base/event_loop.h"

/*
 * virtio-mmio transport, version 2 only (virtio 1.2 §4.2.2; legacy v1 is
 * refused by offering Version 2 and requiring VIRTIO_F_VERSION_1).
 *
 * One device per 4 KiB window (registers 0x000-0x0ff, device config from
 * 0x100). Interrupts: an edge on the device's GSI through a KVM irqfd (or
 * host->set_irq pulses where irqfd is unavailable); InterruptStatus bit 0
 * used buffer, bit 1 config change, cleared by InterruptACK.
 * Notifications: a write of queue index q to QueueNotify signals queue q's
 * eventfd, handled on the I/O event loop: KVM signals it directly through an
 * ioeventfd (no exit to vmon); where ioeventfd is unavailable the MMIO write
 * handler signals it itself. Either way the vCPU thread only kicks.
 */

#define VIRTIO_MMIO_WINDOW 0x1000u
#define VIRTIO_MMIO_MAX_QUEUES 8u

struct virtio_mmio_queue_regs {
	uint16_t num;                 /* QueueNum */
	uint64_t desc, avail, used;   /* QueueDesc/Driver/Device */
	bool ready;
	int notify_fd;                /* eventfd kicked by QueueNotify */
};

/* All transport state: one struct, the future snapshot. */
struct virtio_transport {
	const struct virtio_device_ops *ops;
	void *dev;                    /* the device model */
	const struct device_host *host;
	struct event_loop *loop;      /* watches the notify eventfds; NULL until registered */
	uint64_t base;                /* guest-physical window */
	unsigned gsi;
	uint64_t device_features;     /* model features | VIRTIO_F_VERSION_1 | transport features */

	pthread_mutex_t lock;
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	bool error_logged;
	uint32_t logged;              /* VIRTIO_MMIO_LOGGED_* bits: guest mistakes already logged once */
	struct virtio_mmio_queue_regs qregs[VIRTIO_MMIO_MAX_QUEUES];
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];

	int irq_fd;                   /* irqfd eventfd, -1 when pulsing host->set_irq */
	bool ioeventfd;               /* notifications bypass vmon's MMIO exit */
	uint64_t notifies;            /* queue kicks handled (for --stats) */
	uint64_t interrupts;          /* interrupts raised */
	uint64_t ignored_notifies;    /* kicks for a queue not ready / a device not running */
};

/*
 * Registers the window [base, base + VIRTIO_MMIO_WINDOW) on host->mmio, the
 * queue eventfds on `loop` (and as KVM ioeventfds when the host can), and
 * the irqfd on gsi. ops->num_queues <= VIRTIO_MMIO_MAX_QUEUES.
 */
int virtio_mmio_init(struct virtio_transport *t, const struct device_host *host, struct event_loop *loop,
		     uint64_t base, unsigned gsi, const struct virtio_device_ops *ops, void *dev,
		     struct vmon_error *err);
/*
 * Undoes init: the loop's watches (call it after event_loop_stop(), or on the
 * loop thread), the ioeventfds, the irqfd, the eventfds. The MMIO window
 * stays on host->mmio (io_bus has no unregister): destroy at VM teardown,
 * after the vCPUs stopped. Safe after a failed init and twice.
 */
void virtio_mmio_destroy(struct virtio_transport *t);

/* Linux's description of the device, "virtio_mmio.device=4K@0xd0000000:5", into buf. */
int virtio_mmio_linux_arg(const struct virtio_transport *t, char *buf, size_t size);

#endif
