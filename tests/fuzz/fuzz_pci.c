/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for PCI configuration space and BAR accesses: the PCI host
 * bridge (src/devices/pci_host.c) with a virtio-pci function
 * (src/virtio/pci.c) on it, driven by a hostile guest's ECAM, 0xcf8/0xcfc and
 * PCI-window accesses of any offset, size and value. Built by build.sh with
 * clang (-fsanitize=fuzzer,address,undefined), not by meson.
 *
 * Input: a sequence of 12-byte accesses:
 *   byte 0      bits 0-1 space (0 ECAM, 1 ports 0xcf8-0xcff, 2 PCI window, 3 the function's BAR 0
 *               wherever it is decoded), bit 2 write, bits 4-7 size - 1 (1..16: odd sizes too)
 *   bytes 1-3   offset (little-endian, 24 bits)
 *   bytes 4-11  value written (or ignored)
 *
 * Checked after every access: a decoded BAR lies inside the PCI window and
 * off the ECAM window and RAM; the function's vectors and PBA stay within its
 * table; the ioeventfds KVM would hold sit at the decoded BAR's notify page.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/memory.h"
#include "base/event_loop.h"
#include "base/io_bus.h"
#include "base/log.h"
#include "devices/pci_host.h"
#include "virtio/pci.h"

#define BAR_START 0xc0000000ull

static uint8_t model_config[8];

static void cfg_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	(void)dev;
	memcpy(data, model_config + offset, size);
}

static void cfg_write(void *dev, uint32_t offset, const void *data, uint32_t size)
{
	(void)dev;
	memcpy(model_config + offset, data, size);
}

static int activate(void *dev, uint64_t features)
{
	(void)dev, (void)features;
	return 0;
}

static void queue_notify(void *dev, unsigned q)
{
	(void)dev, (void)q;
}

static const struct virtio_device_ops model_ops = {
	.name = "fuzz", .device_id = 4, .num_queues = 2, .queue_max_size = 16, .config_size = sizeof(model_config),
	.config_read = cfg_read, .config_write = cfg_write, .activate = activate, .queue_notify = queue_notify,
};

struct world {
	struct guest_mem *mem;        /* shared by every input */
	struct io_bus pio, mmio;
	struct device_host host;
	struct event_loop *loop;
	struct pci_host bus;
	struct virtio_dev vdev;
	struct virtio_pci pci;
	int next_gsi;
	int ioeventfds;
};

static int alloc_gsi(void *ctx)
{
	struct world *w = ctx;
	return w->next_gsi++;
}

static int set_route(void *ctx, unsigned gsi, uint64_t a, uint32_t d)
{
	(void)ctx, (void)gsi, (void)a, (void)d;
	return 0;
}

static int add_irqfd(void *ctx, unsigned gsi, int fd)
{
	(void)ctx, (void)gsi, (void)fd;
	return 0;
}

static void remove_irqfd(void *ctx, unsigned gsi, int fd)
{
	(void)ctx, (void)gsi, (void)fd;
}

static int add_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct world *w = ctx;

	(void)len, (void)fd;
	if (addr != w->pci.bar_addr + VIRTIO_PCI_NOTIFY_OFFSET + 4 * value)
		abort();
	w->ioeventfds++;
	return 0;
}

static void remove_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct world *w = ctx;

	(void)addr, (void)len, (void)value, (void)fd;
	if (--w->ioeventfds < 0)
		abort();
}

static struct world *world_make(void)
{
	static struct world w;
	static struct guest_mem mem;
	static struct event_loop loop;
	static bool ready;
	struct vmon_error err = { 0 };

	/* Guest RAM and the event loop outlive the inputs: setting them up per input was most of the time. */
	if (!ready) {
		if (x86_guest_mem_create(&mem, 4u << 20, &err) || event_loop_init(&loop, &err))
			abort();
		ready = true;
	}
	memset(&w, 0, sizeof(w));
	w.mem = &mem;
	w.loop = &loop;
	io_bus_init(&w.pio, "pio");
	io_bus_init(&w.mmio, "mmio");
	w.next_gsi = 24;
	w.host = (struct device_host){ .pio = &w.pio, .mmio = &w.mmio, .mem = w.mem, .ctx = &w,
				       .alloc_msi_gsi = alloc_gsi, .set_msi_route = set_route, .add_irqfd = add_irqfd,
				       .remove_irqfd = remove_irqfd, .add_ioeventfd = add_ioeventfd,
				       .remove_ioeventfd = remove_ioeventfd };
	if (pci_host_init(&w.bus, w.mem, X86_PCI_ECAM_BASE, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END, &err) ||
	    pci_host_attach(&w.bus, &w.pio, &w.mmio, X86_PORT_PCI_CONFIG, &err) ||
	    virtio_pci_init(&w.pci, &w.vdev, &w.host, &w.bus, 1, w.loop, BAR_START, &model_ops, NULL, &err)) {
		fprintf(stderr, "fuzz_pci: set-up: %s\n", err.msg);
		abort();
	}
	return &w;
}

static void world_free(struct world *w)
{
	virtio_pci_destroy(&w->pci);
	pci_host_destroy(&w->bus);
}

static void check(struct world *w)
{
	const struct virtio_pci *p = &w->pci;

	if (p->bar_mapped) {
		if (p->bar_addr < X86_PCI_MMIO_BASE || p->bar_addr + VIRTIO_PCI_BAR_SIZE > X86_PCI_MMIO_END)
			abort();
		if (w->ioeventfds != (int)model_ops.num_queues)
			abort();
	} else if (w->ioeventfds != 0) {
		abort();
	}
	if (p->pba >> p->nvectors)
		abort();
	if (p->msix_config != 0xffff && p->msix_config >= p->nvectors)
		abort();
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (p->queue_vector[q] != 0xffff && p->queue_vector[q] >= p->nvectors)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = world_make();

	log_set_level(LOG_ERROR);
	for (size_t at = 0; at + 12 <= size; at += 12) {
		const uint8_t *op = data + at;
		unsigned space = op[0] & 3, len = (op[0] >> 4) + 1;
		bool is_write = op[0] & 4;
		uint64_t offset = op[1] | (uint64_t)op[2] << 8 | (uint64_t)op[3] << 16;
		uint8_t buf[16];

		memset(buf, 0, sizeof(buf));
		memcpy(buf, op + 4, 8);
		switch (space) {
		case 0: io_bus_access(&w->mmio, X86_PCI_ECAM_BASE + (offset % X86_PCI_ECAM_SIZE), buf, len, is_write); break;
		case 1: io_bus_access(&w->pio, X86_PORT_PCI_CONFIG + offset % 8, buf, len, is_write); break;
		case 2: io_bus_access(&w->mmio, X86_PCI_MMIO_BASE + offset, buf, len, is_write); break;
		default:
			io_bus_access(&w->mmio, w->pci.bar_addr + offset % VIRTIO_PCI_BAR_SIZE, buf, len, is_write);
			break;
		}
		check(w);
	}
	world_free(w);
	return 0;
}
