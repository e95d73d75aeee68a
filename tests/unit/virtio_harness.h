/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_VIRTIO_HARNESS_H
#define VMON_TEST_VIRTIO_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "virtio/mmio.h"
#include "virtq_driver.h"
#include "base/event_loop.h"
#include "base/guest_mem.h"
#include "base/io_bus.h"

/*
 * A device model under test, plugged into the REAL virtio-mmio transport:
 * the test plays the guest driver through the transport's registers, and the
 * I/O event loop (never started as a thread) is run by hand.
 *
 *   struct virtio_harness h;
 *   virtio_harness_init(&h, NULL, &my_ops, &my_dev);        // default options
 *   virtio_harness_start(&h, wanted_features, 1);           // reset .. DRIVER_OK, queue 0 ready
 *   virtq_driver_add(&h.drv[0], bufs, 2);                   // the guest makes a buffer available
 *   virtio_harness_kick(&h, 0);                             // QueueNotify + run the loop
 *   assert_true(virtq_driver_get_used(&h.drv[0], &id, &len));
 *   assert_int_equal(virtio_harness_take_interrupts(&h), 1);
 *   virtio_harness_destroy(&h);
 *
 * Everything fails the test (cmocka) when the harness itself cannot work;
 * what the device or transport decides is returned for the test to check.
 *
 * Guest memory: VIRTIO_HARNESS_RAM bytes. Queue q's rings and data buffers
 * live in their own VIRTIO_HARNESS_QUEUE_SLOT-byte slot starting at
 * virtio_harness_queue_base(q); below VIRTIO_HARNESS_QUEUE_AREA is free for
 * the test (e.g. a device that DMAs elsewhere, or hostile addresses).
 *
 * Threading: single-threaded. A test that starts threads of its own (a
 * backend) must take virtio_lock(&h.t) like a real one would.
 */

#define VIRTIO_HARNESS_RAM (32ull << 20)
#define VIRTIO_HARNESS_QUEUE_AREA (1ull << 20)
#define VIRTIO_HARNESS_QUEUE_SLOT (2ull << 20)
#define VIRTIO_HARNESS_BASE 0xd0000000ull     /* the MMIO window's guest-physical address */
#define VIRTIO_HARNESS_GSI 5u
#define VIRTIO_HARNESS_MAX_IOEVENTFDS 16

struct virtio_harness_options {
	/* RAM size; 0: VIRTIO_HARNESS_RAM. Must hold the queue slots. */
	uint64_t ram_size;
	/*
	 * Give the transport an add_irqfd: interrupts then arrive as eventfd
	 * writes (counted the same way by virtio_harness_take_interrupts()).
	 * Default: no irqfd, so the transport pulses set_irq(gsi, 1/0).
	 */
	bool irqfd;
	/*
	 * Give the transport an add_ioeventfd, like KVM's: registrations are
	 * recorded in h->ioeventfds[], and virtio_harness_write32() of a matching
	 * (address, 4 bytes, value) signals the fd directly instead of reaching
	 * the MMIO handler (as KVM does), so h->mmio_writes does not move.
	 */
	bool ioeventfd;
	/* With ioeventfd: the Nth add_ioeventfd call (1-based) fails with -ENOSPC; 0: none fails. */
	unsigned ioeventfd_fail_at;
};

struct virtio_harness_ioeventfd {
	uint64_t addr;
	unsigned len;
	uint64_t value;
	int fd;
	bool active;                  /* false once removed */
};

struct virtio_harness {
	struct guest_mem mem;
	struct io_bus mmio;
	struct event_loop loop;
	struct device_host host;      /* what the transport is given; points into this struct */
	struct virtio_transport t;    /* the transport under test (h.t.vdev.status, h.t.vdev.queues[q], ...) */
	struct virtio_harness_options opts;

	/* The driver's side of each queue, filled by virtio_harness_setup_queue(). */
	struct virtq_driver drv[VIRTIO_MMIO_MAX_QUEUES];

	/* Interrupt recorder. */
	unsigned irq_edges;           /* rising edges on VIRTIO_HARNESS_GSI (set_irq 0->1, or irqfd signals) */
	int irq_level;                /* last set_irq level (set_irq mode) */
	unsigned irq_other_gsi;       /* set_irq calls for any other GSI (should stay 0) */
	int irqfd;                    /* the fd registered by add_irqfd, -1 if none */
	unsigned irqfd_removed;       /* remove_irqfd calls */

	/* ioeventfd recorder (opts.ioeventfd). */
	unsigned nioeventfds;
	struct virtio_harness_ioeventfd ioeventfds[VIRTIO_HARNESS_MAX_IOEVENTFDS];
	unsigned ioeventfd_calls;     /* add_ioeventfd calls, failed ones included */

	/* Accesses that reached the transport's MMIO handler. */
	unsigned mmio_reads, mmio_writes;
};

/*
 * Creates RAM, the MMIO bus, the event loop and the fake host, then
 * virtio_mmio_init()s the transport at VIRTIO_HARNESS_BASE / GSI with ops
 * and dev. opts NULL: defaults (no irqfd, no ioeventfd).
 */
void virtio_harness_init(struct virtio_harness *h, const struct virtio_harness_options *opts,
			 const struct virtio_device_ops *ops, void *dev);
/* virtio_mmio_destroy(), then everything else. */
void virtio_harness_destroy(struct virtio_harness *h);

/*
 * For restore tests: h (initialised, the same RAM size) gets a copy of src's
 * guest RAM and src's driver-side queues (now pointing at h's RAM): the
 * guest of src, brought back in h.
 */
void virtio_harness_copy_guest(struct virtio_harness *h, const struct virtio_harness *src);

/* ---- raw register access (offsets within the 4 KiB window) ------------- */

uint32_t virtio_harness_read32(struct virtio_harness *h, uint64_t offset);
/* Goes to a matching ioeventfd first (opts.ioeventfd), else the MMIO handler. */
void virtio_harness_write32(struct virtio_harness *h, uint64_t offset, uint32_t value);
/* Any size, straight to the MMIO handler (the test fails if nothing owns the address). */
void virtio_harness_access(struct virtio_harness *h, uint64_t offset, void *data, unsigned size, bool is_write);

/* ---- the driver's steps ------------------------------------------------- */

/* Status 0. */
void virtio_harness_reset(struct virtio_harness *h);
uint32_t virtio_harness_status(struct virtio_harness *h);
/* Writes status | bits (Linux's virtio_add_status()); returns the status read back. */
uint32_t virtio_harness_add_status(struct virtio_harness *h, uint32_t bits);
/* The 64-bit DeviceFeatures, read through the selector as Linux does. */
uint64_t virtio_harness_device_features(struct virtio_harness *h);
/* Writes both DriverFeatures halves. */
void virtio_harness_write_features(struct virtio_harness *h, uint64_t features);

/*
 * Reset, ACKNOWLEDGE, DRIVER, DriverFeatures = wanted & offered (plus
 * VIRTIO_F_VERSION_1), FEATURES_OK, which must stick. Returns the offered set.
 */
uint64_t virtio_harness_negotiate(struct virtio_harness *h, uint64_t wanted);

/* Guest-physical base of queue q's slot (rings first, then its data buffers). */
uint64_t virtio_harness_queue_base(unsigned q);

/*
 * Lays out queue q's rings (virtq_driver_init into h->drv[q], size entries,
 * its allocator limited to the slot), writes QueueSel/Num/Desc/Driver/Device
 * and QueueReady = 1. Returns QueueReady read back (true: the device took it).
 */
bool virtio_harness_setup_queue(struct virtio_harness *h, unsigned q, uint16_t size);
/* The same registers with any values (hostile or odd setups); returns QueueReady read back. */
bool virtio_harness_setup_queue_raw(struct virtio_harness *h, unsigned q, uint32_t size, uint64_t desc,
				    uint64_t avail, uint64_t used);

/* Sets DRIVER_OK; returns the status read back (check VIRTIO_CONFIG_S_NEEDS_RESET). */
uint32_t virtio_harness_driver_ok(struct virtio_harness *h);

/*
 * negotiate(wanted), setup_queue(q, queue_size) for q < nqueues, DRIVER_OK;
 * asserts each step took. Returns the offered features.
 */
uint64_t virtio_harness_start(struct virtio_harness *h, uint64_t wanted, unsigned nqueues, uint16_t queue_size);

/* Writes QueueNotify = q, then runs the event loop until idle; returns the handlers that ran. */
int virtio_harness_kick(struct virtio_harness *h, uint32_t q);
/* Runs the event loop (poll, no waiting) until nothing is ready; returns the handlers that ran. */
int virtio_harness_run_loop(struct virtio_harness *h);
/* Runs the transport's loop and a device's own loop (e.g. virtio-net's backend loop) until both are idle. */
void virtio_harness_run_with(struct virtio_harness *h, struct event_loop *device_loop);

/* ---- device config space (offset within config, size 1/2/4/8) ---------- */

uint64_t virtio_harness_config_read(struct virtio_harness *h, uint32_t offset, unsigned size);
void virtio_harness_config_write(struct virtio_harness *h, uint32_t offset, uint64_t value, unsigned size);
uint32_t virtio_harness_config_generation(struct virtio_harness *h);

/* ---- interrupts ----------------------------------------------------------- */

uint32_t virtio_harness_interrupt_status(struct virtio_harness *h);
void virtio_harness_ack(struct virtio_harness *h, uint32_t bits);
/* Interrupt edges raised since the last call (irqfd signals included), then zero. */
unsigned virtio_harness_take_interrupts(struct virtio_harness *h);

#endif
