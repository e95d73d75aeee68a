/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_MMIO_H
#define VMON_VIRTIO_MMIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "virtio/core.h"
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
 *
 * This file only decodes registers: what they mean (status machine,
 * features, queue setup, interrupt causes) is the core's (virtio/core.c).
 */

#define VIRTIO_MMIO_WINDOW 0x1000u
#define VIRTIO_MMIO_MAX_QUEUES VIRTIO_MAX_QUEUES

/*
 * One virtio-mmio device: the transport-neutral core it owns (vdev: status,
 * features, queues; what a snapshot saves, see virtio/core.h) and the live
 * resources of this transport. Device models are given &t->vdev.
 */
struct virtio_transport {
	struct virtio_dev vdev;
	const struct device_host *host;
	struct event_loop *loop;      /* watches the notify eventfds; NULL until registered */
	uint64_t base;                /* guest-physical window */
	unsigned gsi;
	uint32_t logged;              /* register-level guest mistakes already logged once */
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES];  /* eventfd kicked by QueueNotify = q */

	int irq_fd;                   /* irqfd eventfd, -1 when pulsing host->set_irq */
	bool ioeventfd;               /* notifications bypass vmon's MMIO exit */
	/* Counters (--stats, metrics): any thread may read them (relaxed atomics). */
	_Atomic uint64_t notifies;          /* queue kicks handled */
	_Atomic uint64_t interrupts;        /* interrupts raised */
	_Atomic uint64_t ignored_notifies;  /* kicks for a queue not ready / a device not running or paused */
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
 * stays on host->mmio (the machine may io_bus_unregister(base, t) it while
 * the bus is thawed): destroy at VM teardown, after the vCPUs stopped. Safe
 * after a failed init and twice.
 */
void virtio_mmio_destroy(struct virtio_transport *t);

/* Linux's description of the device, "virtio_mmio.device=4K@0xd0000000:5", into buf. */
int virtio_mmio_linux_arg(const struct virtio_transport *t, char *buf, size_t size);

#endif
