/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_VIRTQ_DRIVER_H
#define VMON_TEST_VIRTQ_DRIVER_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/queue.h"
#include "base/guest_mem.h"

/*
 * The guest driver's side of one split virtqueue, for tests: lays out the
 * rings in guest memory, hands out data buffers from a bump allocator, makes
 * chains available and reads used entries back -- what a virtio driver does.
 * The raw setters let hostile tests write anything a broken guest could.
 *
 * Layout from `base` (16-aligned): descriptor table, available ring (with
 * used_event), used ring (with avail_event) at the next 4-byte boundary.
 * Data buffers follow the rings, 16-aligned, up to the end of low RAM.
 *
 * Descriptors are handed out round-robin, so at most `size` descriptors may
 * be in flight (tests that need more must read used entries first).
 * Failures of the helper itself (out of descriptors or memory) fail the test.
 */

struct virtq_driver_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;              /* device-writable (VRING_DESC_F_WRITE) */
};

struct virtq_driver {
	struct guest_mem *mem;
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint64_t rings_end;         /* first byte after the used ring */

	uint16_t next_desc;         /* next descriptor handed out (round-robin) */
	uint16_t avail_idx;         /* the driver's shadow of avail->idx */
	uint16_t last_used_idx;     /* next used entry to read */

	uint64_t alloc_next, alloc_end; /* bump allocator for data buffers */
};

/* Lays out and zeroes the rings for a queue of `size` at guest-physical `base`. */
void virtq_driver_init(struct virtq_driver *drv, struct guest_mem *mem, uint64_t base, uint16_t size);

/* Enables vq (virtq_init'ed) on these rings with `features` (VIRTIO_RING_F_* bits); returns virtq_enable()'s result. */
int virtq_driver_enable(struct virtq_driver *drv, struct virtq *vq, uint64_t features);

/* Allocates len bytes (16-aligned, zeroed) of guest memory; returns its gpa. */
uint64_t virtq_driver_alloc(struct virtq_driver *drv, uint64_t len);

/* Host pointer for [gpa, gpa+len) (the test fails when not RAM). */
void *virtq_driver_host(struct virtq_driver *drv, uint64_t gpa, uint64_t len);

/* Allocates a buffer of len bytes, copying `data` into it when non-NULL. */
struct virtq_driver_buf virtq_driver_buf_out(struct virtq_driver *drv, const void *data, uint32_t len);
struct virtq_driver_buf virtq_driver_buf_in(struct virtq_driver *drv, uint32_t len);

/*
 * Writes a chain of n buffers into descriptors linked with NEXT, without
 * making it available; returns its head. The _indirect form writes them to an
 * indirect table (allocated in guest memory) behind one INDIRECT descriptor.
 */
uint16_t virtq_driver_write_chain(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n);
uint16_t virtq_driver_write_indirect(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n);

/* Puts head in the next available ring slot and publishes avail->idx (release). */
void virtq_driver_publish(struct virtq_driver *drv, uint16_t head);

/* write_chain/write_indirect + publish; return the head. */
uint16_t virtq_driver_add(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n);
uint16_t virtq_driver_add_indirect(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n);

/* Takes the next used entry, if the device published one. */
bool virtq_driver_get_used(struct virtq_driver *drv, uint32_t *id, uint32_t *len);

/* ---- raw access: whatever a (hostile) driver may write ----------------- */

void virtq_driver_set_desc(struct virtq_driver *drv, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next);
/* Writes a descriptor into an indirect table at gpa (entry idx). */
void virtq_driver_set_table_desc(struct virtq_driver *drv, uint64_t table_gpa, uint16_t idx, uint64_t addr,
				 uint32_t len, uint16_t flags, uint16_t next);
void virtq_driver_set_avail_ring(struct virtq_driver *drv, uint16_t slot, uint16_t head);
/* Sets avail->idx (and the driver's shadow of it). */
void virtq_driver_set_avail_idx(struct virtq_driver *drv, uint16_t idx);
void virtq_driver_set_avail_flags(struct virtq_driver *drv, uint16_t flags);
void virtq_driver_set_used_event(struct virtq_driver *drv, uint16_t used_event);

/* What the device wrote. */
uint16_t virtq_driver_used_idx(struct virtq_driver *drv);
uint16_t virtq_driver_used_flags(struct virtq_driver *drv);
uint16_t virtq_driver_avail_event(struct virtq_driver *drv);

/* True when a driver that just published new_idx (from old_idx) must notify, per the device's suppression. */
bool virtq_driver_needs_kick(struct virtq_driver *drv, bool event_idx, uint16_t old_idx, uint16_t new_idx);

/* ---- a whole test setup ------------------------------------------------ */

/* Where virtq_fixture_new() puts the rings. */
#define VIRTQ_FIXTURE_RING_BASE 0x10000ull

/* A guest, a device-side queue enabled on it, and the driver side: what queue tests start from. */
struct virtq_fixture {
	struct guest_mem mem;
	struct virtq vq;
	struct virtq_driver drv;
	struct virtq_chain chain;   /* for pops */
	uint64_t features;          /* the queue was enabled with */
};

/* Allocates and enables (the test fails if that fails); ram bytes of guest memory. */
struct virtq_fixture *virtq_fixture_new(uint64_t ram, uint16_t size, uint16_t max_size, uint64_t features);
void virtq_fixture_free(struct virtq_fixture *f);

/*
 * cmocka setup/teardown around virtq_fixture_new(): a queue of
 * VIRTQ_FIXTURE_SIZE in VIRTQ_FIXTURE_RAM of guest RAM, 256-entry driver
 * pool; with INDIRECT_DESC and EVENT_IDX negotiated, or (_plain) neither.
 */
#define VIRTQ_FIXTURE_SIZE 16
#define VIRTQ_FIXTURE_RAM (16ull << 20)
int virtq_fixture_setup(void **state);
int virtq_fixture_setup_plain(void **state);
int virtq_fixture_teardown(void **state);

/* Pops and expects VIRTQ_BROKEN with vq.error containing `needle`, and that it stays broken. */
void virtq_fixture_expect_broken(struct virtq_fixture *f, const char *needle);

/* virtq_reset, then fresh rings and re-enable: a good chain must pop again. */
void virtq_fixture_expect_recovers(struct virtq_fixture *f);

#endif
