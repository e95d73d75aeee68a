/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/memory.h"
#include "virtio_harness.h"

/* ---- the fake host -------------------------------------------------------- */

static void harness_set_irq(void *ctx, unsigned gsi, int level)
{
	struct virtio_harness *h = ctx;

	if (gsi != VIRTIO_HARNESS_GSI) {
		h->irq_other_gsi++;
		return;
	}
	if (level && !h->irq_level)
		h->irq_edges++;
	h->irq_level = level;
}

static void harness_request_stop(void *ctx, enum vm_stop_reason reason, int status)
{
	(void)ctx;
	fail_msg("virtio device asked the VM to stop (reason %d, status %d)", (int)reason, status);
}

static int harness_add_irqfd(void *ctx, unsigned gsi, int fd)
{
	struct virtio_harness *h = ctx;

	assert_int_equal(gsi, VIRTIO_HARNESS_GSI);
	assert_int_equal(h->irqfd, -1);
	h->irqfd = fd;
	return 0;
}

static void harness_remove_irqfd(void *ctx, unsigned gsi, int fd)
{
	struct virtio_harness *h = ctx;

	assert_int_equal(gsi, VIRTIO_HARNESS_GSI);
	assert_int_equal(fd, h->irqfd);
	h->irqfd_removed++;
}

static int harness_add_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct virtio_harness *h = ctx;

	h->ioeventfd_calls++;
	if (h->opts.ioeventfd_fail_at && h->ioeventfd_calls == h->opts.ioeventfd_fail_at)
		return -ENOSPC;
	assert_true(h->nioeventfds < VIRTIO_HARNESS_MAX_IOEVENTFDS);
	h->ioeventfds[h->nioeventfds++] =
		(struct virtio_harness_ioeventfd){ .addr = addr, .len = len, .value = value, .fd = fd, .active = true };
	return 0;
}

static void harness_remove_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct virtio_harness *h = ctx;

	for (unsigned i = 0; i < h->nioeventfds; i++) {
		struct virtio_harness_ioeventfd *e = &h->ioeventfds[i];
		if (e->active && e->addr == addr && e->len == len && e->value == value && e->fd == fd) {
			e->active = false;
			return;
		}
	}
	fail_msg("remove_ioeventfd(0x%llx, %u, %llu, fd %d) was never added", (unsigned long long)addr, len,
		 (unsigned long long)value, fd);
}

/* ---- setup ------------------------------------------------------------------ */

void virtio_harness_init(struct virtio_harness *h, const struct virtio_harness_options *opts,
			 const struct virtio_device_ops *ops, void *dev)
{
	struct vmon_error err = { 0 };
	int r;

	memset(h, 0, sizeof(*h));
	if (opts)
		h->opts = *opts;
	if (!h->opts.ram_size)
		h->opts.ram_size = VIRTIO_HARNESS_RAM;
	assert_true(h->opts.ram_size >= virtio_harness_queue_base(VIRTIO_MMIO_MAX_QUEUES));
	h->irqfd = -1;
	r = x86_guest_mem_create(&h->mem, h->opts.ram_size, &err);
	if (r < 0)
		fail_msg("guest_mem_create: %s", err.msg);
	io_bus_init(&h->mmio, "mmio");
	r = event_loop_init(&h->loop, &err);
	if (r < 0)
		fail_msg("event_loop_init: %s", err.msg);
	h->host = (struct device_host){
		.mmio = &h->mmio,
		.set_irq = harness_set_irq,
		.request_stop = harness_request_stop,
		.add_irqfd = h->opts.irqfd ? harness_add_irqfd : NULL,
		.remove_irqfd = h->opts.irqfd ? harness_remove_irqfd : NULL,
		.add_ioeventfd = h->opts.ioeventfd ? harness_add_ioeventfd : NULL,
		.remove_ioeventfd = h->opts.ioeventfd ? harness_remove_ioeventfd : NULL,
		.mem = &h->mem,
		.ctx = h,
	};
	r = virtio_mmio_init(&h->t, &h->host, &h->loop, VIRTIO_HARNESS_BASE, VIRTIO_HARNESS_GSI, ops, dev, &err);
	if (r < 0)
		fail_msg("virtio_mmio_init: %s", err.msg);
}

void virtio_harness_destroy(struct virtio_harness *h)
{
	virtio_mmio_destroy(&h->t);
	event_loop_destroy(&h->loop);
	guest_mem_destroy(&h->mem);
}

void virtio_harness_copy_guest(struct virtio_harness *h, const struct virtio_harness *src)
{
	uint64_t size = src->opts.ram_size;
	void *from = guest_mem_ptr(&src->mem, 0, size), *to = guest_mem_ptr(&h->mem, 0, size);

	assert_int_equal(h->opts.ram_size, size);
	assert_non_null(from);
	assert_non_null(to);
	memcpy(to, from, size);
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		h->drv[q] = src->drv[q];
		h->drv[q].mem = &h->mem;
	}
}

/* ---- registers ---------------------------------------------------------------- */

void virtio_harness_access(struct virtio_harness *h, uint64_t offset, void *data, unsigned size, bool is_write)
{
	assert_true(offset < VIRTIO_MMIO_WINDOW);
	if (is_write)
		h->mmio_writes++;
	else
		h->mmio_reads++;
	assert_true(io_bus_access(&h->mmio, VIRTIO_HARNESS_BASE + offset, data, size, is_write));
}

uint32_t virtio_harness_read32(struct virtio_harness *h, uint64_t offset)
{
	uint32_t v;

	virtio_harness_access(h, offset, &v, 4, false);
	return v;
}

/* What KVM does with an ioeventfd: a matching write signals the fd, and vmon never sees it. */
static bool signal_ioeventfd(struct virtio_harness *h, uint64_t addr, uint32_t value)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < h->nioeventfds; i++) {
		const struct virtio_harness_ioeventfd *e = &h->ioeventfds[i];
		if (e->active && e->addr == addr && e->len == 4 && e->value == value) {
			assert_int_equal(write(e->fd, &one, sizeof(one)), sizeof(one));
			return true;
		}
	}
	return false;
}

void virtio_harness_write32(struct virtio_harness *h, uint64_t offset, uint32_t value)
{
	if (signal_ioeventfd(h, VIRTIO_HARNESS_BASE + offset, value))
		return;
	virtio_harness_access(h, offset, &value, 4, true);
}

/* ---- the driver's steps ---------------------------------------------------------- */

void virtio_harness_reset(struct virtio_harness *h)
{
	virtio_harness_write32(h, VIRTIO_MMIO_STATUS, 0);
}

uint32_t virtio_harness_status(struct virtio_harness *h)
{
	return virtio_harness_read32(h, VIRTIO_MMIO_STATUS);
}

uint32_t virtio_harness_add_status(struct virtio_harness *h, uint32_t bits)
{
	virtio_harness_write32(h, VIRTIO_MMIO_STATUS, virtio_harness_status(h) | bits);
	return virtio_harness_status(h);
}

uint64_t virtio_harness_device_features(struct virtio_harness *h)
{
	uint64_t features;

	virtio_harness_write32(h, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	features = (uint64_t)virtio_harness_read32(h, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	virtio_harness_write32(h, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return features | virtio_harness_read32(h, VIRTIO_MMIO_DEVICE_FEATURES);
}

void virtio_harness_write_features(struct virtio_harness *h, uint64_t features)
{
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
}

uint64_t virtio_harness_negotiate(struct virtio_harness *h, uint64_t wanted)
{
	uint64_t offered;

	virtio_harness_reset(h);
	virtio_harness_add_status(h, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_harness_add_status(h, VIRTIO_CONFIG_S_DRIVER);
	offered = virtio_harness_device_features(h);
	virtio_harness_write_features(h, (wanted | 1ull << VIRTIO_F_VERSION_1) & offered);
	assert_true(virtio_harness_add_status(h, VIRTIO_CONFIG_S_FEATURES_OK) & VIRTIO_CONFIG_S_FEATURES_OK);
	return offered;
}

uint64_t virtio_harness_queue_base(unsigned q)
{
	return VIRTIO_HARNESS_QUEUE_AREA + q * VIRTIO_HARNESS_QUEUE_SLOT;
}

bool virtio_harness_setup_queue_raw(struct virtio_harness *h, unsigned q, uint32_t size, uint64_t desc,
				    uint64_t avail, uint64_t used)
{
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, q);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NUM, size);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_READY, 1);
	return virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_READY) == 1;
}

bool virtio_harness_setup_queue(struct virtio_harness *h, unsigned q, uint16_t size)
{
	struct virtq_driver *drv;

	assert_true(q < VIRTIO_MMIO_MAX_QUEUES);
	drv = &h->drv[q];
	virtq_driver_init(drv, &h->mem, virtio_harness_queue_base(q), size);
	drv->alloc_end = virtio_harness_queue_base(q + 1);
	assert_true(drv->alloc_next < drv->alloc_end);
	return virtio_harness_setup_queue_raw(h, q, size, drv->desc_gpa, drv->avail_gpa, drv->used_gpa);
}

uint32_t virtio_harness_driver_ok(struct virtio_harness *h)
{
	return virtio_harness_add_status(h, VIRTIO_CONFIG_S_DRIVER_OK);
}

uint64_t virtio_harness_start(struct virtio_harness *h, uint64_t wanted, unsigned nqueues, uint16_t queue_size)
{
	uint64_t offered = virtio_harness_negotiate(h, wanted);

	for (unsigned q = 0; q < nqueues; q++)
		if (!virtio_harness_setup_queue(h, q, queue_size))
			fail_msg("queue %u (size %u) was refused: %s", q, queue_size, h->t.vdev.queues[q].error);
	assert_int_equal(virtio_harness_driver_ok(h),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
				 VIRTIO_CONFIG_S_DRIVER_OK);
	return offered;
}

int virtio_harness_run_loop(struct virtio_harness *h)
{
	int total = 0;

	/* Bounded: a handler that keeps its fd ready would otherwise hang the test. */
	for (int round = 0; round < 1000; round++) {
		int r = event_loop_run_once(&h->loop, 0);
		assert_true(r >= 0);
		if (r == 0)
			return total;
		total += r;
	}
	fail_msg("the event loop never went idle");
	return total;
}

void virtio_harness_run_with(struct virtio_harness *h, struct event_loop *device_loop)
{
	for (int round = 0; round < 100; round++) {
		int a = virtio_harness_run_loop(h);
		int b = event_loop_run_once(device_loop, 0);
		assert_true(b >= 0);
		if (a == 0 && b == 0)
			return;
	}
	fail_msg("loops never went idle");
}

int virtio_harness_kick(struct virtio_harness *h, uint32_t q)
{
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	return virtio_harness_run_loop(h);
}

/* ---- config space ------------------------------------------------------------------- */

uint64_t virtio_harness_config_read(struct virtio_harness *h, uint32_t offset, unsigned size)
{
	uint64_t v = 0;

	assert_true(size == 1 || size == 2 || size == 4 || size == 8);
	virtio_harness_access(h, VIRTIO_MMIO_CONFIG + offset, &v, size, false);
	return v;
}

void virtio_harness_config_write(struct virtio_harness *h, uint32_t offset, uint64_t value, unsigned size)
{
	assert_true(size == 1 || size == 2 || size == 4 || size == 8);
	virtio_harness_access(h, VIRTIO_MMIO_CONFIG + offset, &value, size, true);
}

uint32_t virtio_harness_config_generation(struct virtio_harness *h)
{
	return virtio_harness_read32(h, VIRTIO_MMIO_CONFIG_GENERATION);
}

/* ---- interrupts ------------------------------------------------------------------------ */

uint32_t virtio_harness_interrupt_status(struct virtio_harness *h)
{
	return virtio_harness_read32(h, VIRTIO_MMIO_INTERRUPT_STATUS);
}

void virtio_harness_ack(struct virtio_harness *h, uint32_t bits)
{
	virtio_harness_write32(h, VIRTIO_MMIO_INTERRUPT_ACK, bits);
}

unsigned virtio_harness_take_interrupts(struct virtio_harness *h)
{
	unsigned edges = h->irq_edges;
	uint64_t count;

	if (h->irqfd >= 0 && read(h->irqfd, &count, sizeof(count)) == sizeof(count))
		edges += (unsigned)count;
	h->irq_edges = 0;
	return edges;
}
