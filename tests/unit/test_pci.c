/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge (config cycles through ECAM and 0xcf8/0xcfc, masks, BAR
 * sizing, moves and refusals) and the virtio-pci transport on it (capability
 * walk, common configuration, ISR, MSI-X table/mask/PBA, notifications, state
 * round trip), with the echo model behind it and a fake machine recording
 * irqfds, MSI routes and ioeventfds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "arch/x86/memory.h"
#include "base/event_loop.h"
#include "base/io_bus.h"
#include "devices/pci_host.h"
#include "virtio/pci.h"
#include "virtio_echo.h"

#define BAR_A 0xc0000000ull
#define DEV 1u

struct fixture {
	struct guest_mem mem;
	struct io_bus pio, mmio;
	struct device_host host;
	struct event_loop loop;
	struct pci_host bus;
	struct virtio_dev vdev;
	struct virtio_pci pci;
	struct echo echo;
	int next_gsi;
	unsigned routes_set;
	uint64_t route_addr[64];
	uint32_t route_data[64];
	unsigned ioeventfds;               /* currently assigned */
	uint64_t ioeventfd_addr[16];
};

static int fake_alloc_msi_gsi(void *ctx)
{
	struct fixture *f = ctx;

	return f->next_gsi < 64 ? f->next_gsi++ : -ENOSPC;
}

static int fake_set_msi_route(void *ctx, unsigned gsi, uint64_t address, uint32_t data)
{
	struct fixture *f = ctx;

	assert_true(gsi < 64);
	f->routes_set++;
	f->route_addr[gsi] = address;
	f->route_data[gsi] = data;
	return 0;
}

static int fake_add_irqfd(void *ctx, unsigned gsi, int fd)
{
	(void)ctx, (void)gsi, (void)fd;
	return 0;
}

static void fake_remove_irqfd(void *ctx, unsigned gsi, int fd)
{
	(void)ctx, (void)gsi, (void)fd;
}

static int fake_add_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct fixture *f = ctx;

	(void)fd;
	assert_int_equal(len, 2);
	assert_int_equal(value, f->ioeventfds);   /* queue q's datamatch is q, added in order */
	f->ioeventfd_addr[f->ioeventfds++] = addr;
	return 0;
}

static void fake_remove_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct fixture *f = ctx;

	(void)addr, (void)len, (void)value, (void)fd;
	assert_true(f->ioeventfds > 0);
	f->ioeventfds--;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmon_error err = { 0 };

	assert_non_null(f);
	assert_int_equal(x86_guest_mem_create(&f->mem, 32u << 20, &err), 0);
	io_bus_init(&f->pio, "pio");
	io_bus_init(&f->mmio, "mmio");
	assert_int_equal(event_loop_init(&f->loop, &err), 0);
	f->next_gsi = 24;
	f->host = (struct device_host){ .pio = &f->pio, .mmio = &f->mmio, .mem = &f->mem, .ctx = f,
					.alloc_msi_gsi = fake_alloc_msi_gsi, .set_msi_route = fake_set_msi_route,
					.add_irqfd = fake_add_irqfd, .remove_irqfd = fake_remove_irqfd,
					.add_ioeventfd = fake_add_ioeventfd, .remove_ioeventfd = fake_remove_ioeventfd };
	assert_int_equal(pci_host_init(&f->bus, &f->mem, X86_PCI_ECAM_BASE, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END, &err), 0);
	assert_int_equal(pci_host_attach(&f->bus, &f->pio, &f->mmio, X86_PORT_PCI_CONFIG, &err), 0);
	f->echo.vdev = &f->vdev;
	for (unsigned i = 0; i < ECHO_CONFIG_SIZE; i++)
		f->echo.config[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(virtio_pci_init(&f->pci, &f->vdev, &f->host, &f->bus, DEV, &f->loop, BAR_A, &echo_ops, &f->echo,
					 &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_pci_destroy(&f->pci);
	pci_host_destroy(&f->bus);
	event_loop_destroy(&f->loop);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* ---- config access helpers ---------------------------------------------------- */

static uint32_t ecam_read(struct fixture *f, unsigned dev, uint32_t reg, unsigned size)
{
	uint32_t v = 0;

	assert_true(io_bus_access(&f->mmio, X86_PCI_ECAM_BASE + ((uint64_t)dev << 15) + reg, (uint8_t *)&v, size, false));
	return v;
}

static void ecam_write(struct fixture *f, unsigned dev, uint32_t reg, uint32_t v, unsigned size)
{
	assert_true(io_bus_access(&f->mmio, X86_PCI_ECAM_BASE + ((uint64_t)dev << 15) + reg, (uint8_t *)&v, size, true));
}

static uint32_t cf8_read(struct fixture *f, unsigned dev, uint32_t reg, unsigned size)
{
	uint32_t addr = 0x80000000u | dev << 11 | (reg & 0xfc), v = 0;

	assert_true(io_bus_access(&f->pio, 0xcf8, (uint8_t *)&addr, 4, true));
	assert_true(io_bus_access(&f->pio, 0xcfc + (reg & 3), (uint8_t *)&v, size, false));
	return v;
}

static uint64_t bar_read(struct fixture *f, uint64_t addr, unsigned size)
{
	uint64_t v = 0;

	io_bus_access(&f->mmio, addr, (uint8_t *)&v, size, false);
	return v;
}

static void bar_write(struct fixture *f, uint64_t addr, uint64_t v, unsigned size)
{
	io_bus_access(&f->mmio, addr, (uint8_t *)&v, size, true);
}

static void enable_memory(struct fixture *f)
{
	ecam_write(f, DEV, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* ---- host bridge ---------------------------------------------------------------------- */

static void both_mechanisms_read_the_same_ids(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 2), PCI_HOST_VENDOR_ID);
	assert_int_equal(cf8_read(f, 0, PCI_VENDOR_ID, 4), PCI_HOST_VENDOR_ID | PCI_HOST_DEVICE_ID << 16);
	assert_int_equal(ecam_read(f, DEV, PCI_VENDOR_ID, 4), VIRTIO_PCI_VENDOR_ID | (0x1040u + 0) << 16 |
			 (uint32_t)echo_ops.device_id << 16);
	assert_int_equal(cf8_read(f, DEV, PCI_DEVICE_ID, 2), 0x1040u + echo_ops.device_id);
	assert_int_equal(cf8_read(f, DEV, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cf8_read(f, DEV, PCI_INTERRUPT_PIN, 1), 0);   /* MSI-X only */
	/* Absent functions: all ones, by either mechanism. */
	assert_int_equal(ecam_read(f, 7, PCI_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(cf8_read(f, 9, PCI_VENDOR_ID, 2), 0xffff);
	assert_int_equal(ecam_read(f, DEV, 0x100, 4), 0);                 /* no extended capabilities */
	assert_true(f->bus.config_accesses > 0);
}

static void bad_accesses_are_dropped(void **state)
{
	struct fixture *f = *state;
	uint32_t v = 0x12345678, before = ecam_read(f, DEV, PCI_VENDOR_ID, 4);

	assert_int_equal(cf8_read(f, DEV, PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR_ID);

	/* Read-only fields stay. */
	ecam_write(f, DEV, PCI_VENDOR_ID, 0xdeadbeef, 4);
	assert_int_equal(ecam_read(f, DEV, PCI_VENDOR_ID, 4), before);
	/* Unaligned / odd-sized ECAM accesses read all ones and write nothing. */
	assert_int_equal(ecam_read(f, DEV, PCI_VENDOR_ID + 1, 2), 0xffff);
	assert_true(io_bus_access(&f->mmio, X86_PCI_ECAM_BASE + (DEV << 15) + 4, (uint8_t *)&v, 3, true));
	assert_int_equal(ecam_read(f, DEV, PCI_COMMAND, 2), 0);
	/* Byte writes to 0xcf8 are not the address register; a dword crossing 0xcfe is dropped. */
	uint8_t b = 0x01;
	assert_true(io_bus_access(&f->pio, 0xcfb, &b, 1, true));
	uint32_t addr = 0;
	assert_true(io_bus_access(&f->pio, 0xcf8, (uint8_t *)&addr, 4, false));
	assert_int_equal(addr, 0x80000000u | DEV << 11);   /* still what cf8_read put there */
	v = 0;
	assert_true(io_bus_access(&f->pio, 0xcfe, (uint8_t *)&v, 4, false));
	assert_int_equal(v, 0xffffffffu);
	/* Config address with the enable bit clear: no cycle. */
	addr = DEV << 11;
	assert_true(io_bus_access(&f->pio, 0xcf8, (uint8_t *)&addr, 4, true));
	assert_true(io_bus_access(&f->pio, 0xcfc, (uint8_t *)&v, 4, false));
	assert_int_equal(v, 0xffffffffu);
}

static void bar_sizing_placement_and_refusals(void **state)
{
	struct fixture *f = *state;

	/* Sizing: all ones reads back the size mask with the type bits (64-bit memory). */
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, 0xffffffffu, 4);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_1, 0xffffffffu, 4);
	assert_int_equal(ecam_read(f, DEV, PCI_BASE_ADDRESS_0, 4), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1) | 0x4);
	assert_int_equal(ecam_read(f, DEV, PCI_BASE_ADDRESS_1, 4), 0xffffffffu);
	assert_int_equal(ecam_read(f, DEV, PCI_BASE_ADDRESS_2, 4), 0);   /* taken by the upper half / absent */
	/* Placed back where vmon put it; decoded only with memory space on. */
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, (uint32_t)BAR_A, 4);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_1, 0, 4);
	assert_false(f->pci.bar_mapped);
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_COMMON_OFFSET + 18, 2), 0xffff);   /* nothing decodes */
	enable_memory(f);
	assert_true(f->pci.bar_mapped);
	assert_int_equal(f->ioeventfds, ECHO_QUEUES);
	assert_int_equal(f->ioeventfd_addr[0], BAR_A + VIRTIO_PCI_NOTIFY_OFFSET);
	assert_int_equal(f->ioeventfd_addr[1], BAR_A + VIRTIO_PCI_NOTIFY_OFFSET + 4);
	assert_int_equal(bar_read(f, BAR_A + offsetof(struct virtio_pci_common_cfg, num_queues), 2), ECHO_QUEUES);

	/* Moved: the ioeventfds follow. */
	uint64_t moved = BAR_A + 0x100000;
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, (uint32_t)moved, 4);
	assert_int_equal(f->pci.bar_addr, moved);
	assert_int_equal(f->ioeventfds, ECHO_QUEUES);
	assert_int_equal(f->ioeventfd_addr[0], moved + VIRTIO_PCI_NOTIFY_OFFSET);
	assert_int_equal(bar_read(f, moved + offsetof(struct virtio_pci_common_cfg, num_queues), 2), ECHO_QUEUES);
	assert_int_equal(bar_read(f, BAR_A + offsetof(struct virtio_pci_common_cfg, num_queues), 2), 0xffff);

	/* Over RAM, over the ECAM window, wrapping, outside the window: not decoded, the VM goes on. */
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, 0x100000, 4);
	assert_false(f->pci.bar_mapped);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, (uint32_t)X86_PCI_ECAM_BASE, 4);
	assert_false(f->pci.bar_mapped);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, 0xffff8000u, 4);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_1, 0xffffffffu, 4);
	assert_false(f->pci.bar_mapped);   /* its end would wrap past the window's: outside */
	assert_true(f->pci.fn.refusals_logged & PCI_BAR_OUTSIDE_WINDOW);
	assert_true(f->pci.fn.refusals_logged & PCI_BAR_OVER_RAM);
	assert_true(f->pci.fn.refusals_logged & PCI_BAR_OVER_ECAM);
	assert_int_equal(f->ioeventfds, 0);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_1, 0, 4);
	ecam_write(f, DEV, PCI_BASE_ADDRESS_0, (uint32_t)BAR_A, 4);
	assert_true(f->pci.bar_mapped);
	/* Memory space off: undecoded again. */
	ecam_write(f, DEV, PCI_COMMAND, 0, 2);
	assert_false(f->pci.bar_mapped);
	assert_int_equal(f->ioeventfds, 0);
}

static void overlapping_bars_decode_only_the_first(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev vdev2;
	struct virtio_pci pci2;
	struct echo echo2 = { .vdev = &vdev2 };
	struct vmon_error err = { 0 };

	/* A second function at a free address, then moved over the first one's BAR. */
	assert_int_equal(virtio_pci_init(&pci2, &vdev2, &f->host, &f->bus, 2, &f->loop, BAR_A + VIRTIO_PCI_BAR_SIZE,
					 &echo_ops, &echo2, &err), 0);
	f->host.add_ioeventfd = NULL;   /* only decoding matters here */
	enable_memory(f);
	ecam_write(f, 2, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(f->pci.bar_mapped);
	assert_true(pci2.bar_mapped);
	ecam_write(f, 2, PCI_BASE_ADDRESS_0, (uint32_t)BAR_A, 4);
	assert_true(f->pci.bar_mapped);
	assert_false(pci2.bar_mapped);
	assert_true(pci2.fn.refusals_logged & PCI_BAR_OVERLAP);
	/* Taking device 2's place twice is refused. */
	assert_int_equal(pci_host_add_function(&f->bus, 2, &f->pci.fn, &err), -EEXIST);
	virtio_pci_destroy(&pci2);
	f->bus.functions[2] = NULL;
}

/* ---- virtio-pci ------------------------------------------------------------------------ */

static void capabilities_describe_one_bar(void **state)
{
	struct fixture *f = *state;
	unsigned seen = 0, msix = 0, guard = 0;

	assert_true(ecam_read(f, DEV, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (uint32_t at = ecam_read(f, DEV, PCI_CAPABILITY_LIST, 1); at; at = ecam_read(f, DEV, at + 1, 1)) {
		assert_true(at >= 0x40 && at < 0x100 && ++guard < 16);
		uint32_t id = ecam_read(f, DEV, at, 1);
		if (id == PCI_CAP_ID_MSIX) {
			msix++;
			assert_int_equal(ecam_read(f, DEV, at + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, ECHO_QUEUES);
			assert_int_equal(ecam_read(f, DEV, at + PCI_MSIX_TABLE, 4), VIRTIO_PCI_MSIX_TABLE_OFFSET);
			assert_int_equal(ecam_read(f, DEV, at + PCI_MSIX_PBA, 4), VIRTIO_PCI_MSIX_PBA_OFFSET);
			continue;
		}
		assert_int_equal(id, PCI_CAP_ID_VNDR);
		unsigned type = ecam_read(f, DEV, at + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		assert_int_equal(ecam_read(f, DEV, at + VIRTIO_PCI_CAP_BAR, 1), 0);
		seen |= 1u << type;
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			assert_int_equal(ecam_read(f, DEV, at + 16, 4), VIRTIO_PCI_NOTIFY_MULTIPLIER);
		if (type == VIRTIO_PCI_CAP_DEVICE_CFG)
			assert_int_equal(ecam_read(f, DEV, at + VIRTIO_PCI_CAP_LENGTH, 4), ECHO_CONFIG_SIZE);
	}
	assert_int_equal(msix, 1);
	assert_int_equal(seen, 1u << VIRTIO_PCI_CAP_COMMON_CFG | 1u << VIRTIO_PCI_CAP_NOTIFY_CFG |
				       1u << VIRTIO_PCI_CAP_ISR_CFG | 1u << VIRTIO_PCI_CAP_DEVICE_CFG |
				       1u << VIRTIO_PCI_CAP_PCI_CFG);
}

#define COMMON(field) (BAR_A + VIRTIO_PCI_COMMON_OFFSET + offsetof(struct virtio_pci_common_cfg, field))

static void common_configuration_and_isr(void **state)
{
	struct fixture *f = *state;

	f->host.add_ioeventfd = NULL;
	enable_memory(f);
	bar_write(f, COMMON(device_feature_select), 1, 4);
	assert_int_equal(bar_read(f, COMMON(device_feature), 4), 1);   /* VIRTIO_F_VERSION_1 is bit 32 */
	bar_write(f, COMMON(queue_select), 1, 2);
	assert_int_equal(bar_read(f, COMMON(queue_size), 2), ECHO_QUEUE_MAX);
	assert_int_equal(bar_read(f, COMMON(queue_notify_off), 2), 1);
	bar_write(f, COMMON(queue_desc_lo), 0x1000, 4);
	bar_write(f, COMMON(queue_desc_hi), 0, 4);
	assert_int_equal(bar_read(f, COMMON(queue_desc_lo), 4), 0x1000);
	/* Vectors beyond the table read back as NO_VECTOR (how Linux learns of the refusal). */
	bar_write(f, COMMON(queue_msix_vector), 1, 2);
	assert_int_equal(bar_read(f, COMMON(queue_msix_vector), 2), 1);
	bar_write(f, COMMON(queue_msix_vector), 77, 2);
	assert_int_equal(bar_read(f, COMMON(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(f, COMMON(msix_config), ECHO_QUEUES, 2);
	assert_int_equal(bar_read(f, COMMON(msix_config), 2), ECHO_QUEUES);
	/* No queue past num_queues. */
	bar_write(f, COMMON(queue_select), 5, 2);
	assert_int_equal(bar_read(f, COMMON(queue_size), 2), 0);
	/* Device config through its page. */
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_DEVICE_OFFSET, 1), 0xa0);
	/* ISR: read to clear. */
	f->vdev.interrupt_status = VIRTIO_INT_CONFIG;
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_INT_CONFIG);
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_ISR_OFFSET, 1), 0);
	/* Status 0 resets the vectors too. */
	bar_write(f, COMMON(device_status), 0, 1);
	assert_int_equal(bar_read(f, COMMON(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
}

static uint64_t irq_count(struct fixture *f, unsigned v)
{
	uint64_t n = 0;

	if (read(f->pci.irq_fd[v], &n, sizeof(n)) < 0)
		return 0;
	return n;
}

static void msix_masking_pba_and_delivery(void **state)
{
	struct fixture *f = *state;
	uint64_t entry1 = BAR_A + VIRTIO_PCI_MSIX_TABLE_OFFSET + 16;

	f->host.add_ioeventfd = NULL;
	enable_memory(f);
	bar_write(f, COMMON(msix_config), 1, 2);
	/* MSI-X off: nothing is delivered (no INTx either). */
	virtio_config_changed(&f->vdev);
	assert_int_equal(irq_count(f, 1), 0);
	ecam_write(f, DEV, VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	bar_write(f, entry1, 0xfee00000u, 4);
	bar_write(f, entry1 + 8, 0x4041, 4);
	/* Entry masked from reset, function masked: the PBA holds it. */
	virtio_config_changed(&f->vdev);
	assert_int_equal(irq_count(f, 1), 0);
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_MSIX_PBA_OFFSET, 8), 1u << 1);
	bar_write(f, entry1 + 12, 0, 4);           /* entry unmasked, function still masked */
	assert_int_equal(irq_count(f, 1), 0);
	ecam_write(f, DEV, VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(irq_count(f, 1), 1);      /* the pending message went on unmask */
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_MSIX_PBA_OFFSET, 4), 0);
	assert_int_equal(f->route_addr[f->pci.gsi[1]], 0xfee00000u);
	assert_int_equal(f->route_data[f->pci.gsi[1]], 0x4041);
	/* Every event is a message; the route is programmed once while it stays the same. */
	unsigned routes = f->routes_set;
	virtio_config_changed(&f->vdev);
	virtio_config_changed(&f->vdev);
	assert_int_equal(irq_count(f, 1), 2);
	assert_int_equal(f->routes_set, routes);
	/* Garbage in the table: a non-LAPIC address is dropped; reserved control bits do not stick. */
	bar_write(f, entry1, 0x12345678u, 4);
	virtio_config_changed(&f->vdev);
	assert_int_equal(irq_count(f, 1), 0);
	bar_write(f, entry1 + 12, 0xfffffffeu, 4);
	assert_int_equal(bar_read(f, entry1 + 12, 4), 0);
	/* Odd-sized table accesses and entries past the table are harmless. */
	bar_write(f, entry1 + 1, 0xff, 1);
	assert_int_equal(bar_read(f, BAR_A + VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 * 40, 4), 0);
}

static void notifications_signal_their_queue_only(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 0;

	f->host.add_ioeventfd = NULL;   /* every kick exits: the BAR handler signals */
	enable_memory(f);
	bar_write(f, BAR_A + VIRTIO_PCI_NOTIFY_OFFSET + 4, 1, 2);
	assert_int_equal(read(f->pci.notify_fd[1], &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	/* Past the queues or between their addresses: ignored and counted. */
	bar_write(f, BAR_A + VIRTIO_PCI_NOTIFY_OFFSET + 4 * 9, 9, 2);
	bar_write(f, BAR_A + VIRTIO_PCI_NOTIFY_OFFSET + 2, 0, 2);
	assert_int_equal(f->pci.ignored_notifies, 2);
	assert_true(read(f->pci.notify_fd[0], &n, sizeof(n)) < 0);
	/* Through the PCI configuration access capability: the same BAR. */
	ecam_write(f, DEV, VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_OFFSET,
		   VIRTIO_PCI_COMMON_OFFSET + offsetof(struct virtio_pci_common_cfg, num_queues), 4);
	ecam_write(f, DEV, VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_LENGTH, 2, 4);
	assert_int_equal(ecam_read(f, DEV, VIRTIO_PCI_CAP_PCICFG_AT + 16, 2), ECHO_QUEUES);
	ecam_write(f, DEV, VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_LENGTH, 3, 4);   /* bad length: ignored */
	ecam_read(f, DEV, VIRTIO_PCI_CAP_PCICFG_AT + 16, 4);
}

static void state_round_trip_rebuilds_the_bar(void **state)
{
	struct fixture *f = *state;
	struct virtio_pci_state saved, again;
	struct vmon_error err = { 0 };

	f->host.add_ioeventfd = NULL;
	enable_memory(f);
	ecam_write(f, DEV, VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	bar_write(f, BAR_A + VIRTIO_PCI_MSIX_TABLE_OFFSET, 0xfee01000u, 4);
	bar_write(f, COMMON(msix_config), 0, 2);
	bar_write(f, COMMON(queue_select), 1, 2);
	bar_write(f, COMMON(queue_msix_vector), 2, 2);
	virtio_pci_device_ops.save(&f->pci, &saved);
	virtio_pci_device_ops.reset(&f->pci);
	assert_false(f->pci.bar_mapped);
	assert_false(f->pci.msix_enabled);
	assert_int_equal(virtio_pci_device_ops.restore(&f->pci, &saved, &err), 0);
	assert_true(f->pci.bar_mapped);
	assert_true(f->pci.msix_enabled);
	assert_int_equal(f->pci.queue_vector[1], 2);
	virtio_pci_device_ops.save(&f->pci, &again);
	assert_memory_equal(&saved, &again, sizeof(saved));
	/* A state naming another device's ids, or a vector past the table, is refused and changes nothing. */
	struct virtio_pci_state bad = saved;
	bad.config[PCI_DEVICE_ID] ^= 1;
	assert_int_equal(virtio_pci_device_ops.restore(&f->pci, &bad, &err), -EINVAL);
	bad = saved;
	bad.queue_vector[0] = 9;
	assert_int_equal(virtio_pci_device_ops.restore(&f->pci, &bad, &err), -EINVAL);
	bad = saved;
	bad.pba = 0x80;
	assert_int_equal(virtio_pci_device_ops.restore(&f->pci, &bad, &err), -EINVAL);
	virtio_pci_device_ops.save(&f->pci, &again);
	assert_memory_equal(&saved, &again, sizeof(saved));
	/* The host bridge's own section. */
	struct pci_host_state hs;
	pci_host_device_ops.save(&f->bus, &hs);
	assert_int_equal(pci_host_device_ops.restore(&f->bus, &hs, &err), 0);
	hs.config_address = 3;
	assert_int_equal(pci_host_device_ops.restore(&f->bus, &hs, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(both_mechanisms_read_the_same_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_accesses_are_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(bar_sizing_placement_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(overlapping_bars_decode_only_the_first, setup, teardown),
		cmocka_unit_test_setup_teardown(capabilities_describe_one_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(common_configuration_and_isr, setup, teardown),
		cmocka_unit_test_setup_teardown(msix_masking_pba_and_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(notifications_signal_their_queue_only, setup, teardown),
		cmocka_unit_test_setup_teardown(state_round_trip_rebuilds_the_bar, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
