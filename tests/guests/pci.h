/* SPDX-License-Identifier: MIT */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

/*
 * PCI configuration access (both mechanisms) and a minimal modern virtio-pci
 * driver for the test guests: discovery on bus 0, the capability walk,
 * feature negotiation through the common configuration, split virtqueues
 * (the rings and chains of virtio.c's struct vq), notifications and MSI-X
 * delivery to the LAPIC. Polling waits use virtio.c's deadlines.
 *
 * vmon's layout (src/arch/x86/layout.h): ECAM at 0xe0000000 (bus 0, 1 MiB),
 * the PCI memory window 0xc0000000-0xcfffffff; start.S maps 3..4 GiB
 * uncached, so config space, BARs and the LAPIC are reachable as they are.
 */

#include <linux/pci_regs.h>
#include <linux/virtio_pci.h>

#include "virtio.h"

#define PCI_ECAM_BASE        UINT64_C(0xe0000000)
#define PCI_ECAM_BUS_SIZE    UINT64_C(0x100000)
#define PCI_WINDOW_BASE      UINT64_C(0xc0000000)
#define PCI_WINDOW_END       UINT64_C(0xd0000000)
#define PCI_CONFIG_ADDRESS   0xcf8
#define PCI_CONFIG_DATA      0xcfc
#define LAPIC_BASE           UINT64_C(0xfee00000)
#define IOAPIC_BASE          UINT64_C(0xfec00000)
#define LAPIC_EOI            0xb0

enum pci_mech {
	PCI_MECH_PORT,   /* 0xcf8 / 0xcfc */
	PCI_MECH_ECAM,
};

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)addr = v;
}

static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)addr = v;
}

static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)addr = v;
}

static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline uint64_t mmio_read64(uint64_t addr)
{
	return *(volatile uint64_t *)(uintptr_t)addr;
}

/* Config space of bus:dev.fn at off, size 1, 2 or 4, through mechanism m (no checks: the evil guest's too). */
uint32_t pci_cfg_read(enum pci_mech m, unsigned bus, unsigned dev, unsigned fn, uint32_t off, unsigned size);
void pci_cfg_write(enum pci_mech m, unsigned bus, unsigned dev, unsigned fn, uint32_t off, unsigned size,
		   uint32_t v);

/* BAR 0 of bus 0 device dev, a 64-bit memory BAR: its address; and moving it (both halves). */
uint64_t pci_bar0(unsigned dev);
void pci_set_bar0(enum pci_mech m, unsigned dev, uint64_t addr);

struct vpci_dev {
	unsigned devnum;          /* 00:devnum.0 */
	uint32_t virtio_id;
	uint64_t bar;             /* BAR 0's address */
	uint32_t common, isr, device, notify;   /* offsets into BAR 0 */
	uint32_t notify_mult;
	uint32_t msix_cap;        /* config offset of the MSI-X capability, 0: none */
	uint16_t msix_size;       /* table entries */
	uint32_t msix_table;      /* offset into BAR 0 */
	uint16_t num_queues;
	uint64_t features;
	volatile uint32_t irqs;   /* MSI-X messages taken (vpci_msix_attach) */
};

/*
 * The first virtio-pci device of type virtio_id on bus 0 (vendor 0x1af4,
 * device 0x1040 + id), found through mechanism m; its capabilities walked.
 * Fails the guest (VIRTIO_EXIT_NO_DEVICE) when there is none.
 */
void vpci_find(enum pci_mech m, uint32_t virtio_id, struct vpci_dev *d);
/* Memory Space and Bus Master on. */
void vpci_enable(struct vpci_dev *d);
uint64_t vpci_common(const struct vpci_dev *d, uint32_t field);
/* Reset, ACKNOWLEDGE | DRIVER, VERSION_1 | wanted, FEATURES_OK checked. */
void vpci_negotiate(struct vpci_dev *d, uint64_t wanted);
void vpci_driver_ok(struct vpci_dev *d);
uint8_t vpci_status(const struct vpci_dev *d);
/* Queue `index` with `size` entries (<= VQ_MAX_SIZE), rings in `page` (4 KiB, aligned), MSI-X vector. */
void vpci_queue_setup(struct vpci_dev *d, struct vq *vq, uint16_t index, uint16_t size, void *page,
		      uint16_t vector);
void vpci_notify(struct vpci_dev *d, uint16_t queue);

/*
 * MSI-X: table entry `entry` sends CPU vector `cpu_vector` to APIC 0, the
 * guest's handler counts it (d->irqs) and EOIs the LAPIC; MSI-X enabled.
 */
void vpci_msix_attach(struct vpci_dev *d, unsigned entry, unsigned cpu_vector);

/* Adds the chain, notifies and polls the used ring up to `seconds`; false on timeout. */
bool vpci_submit_wait(struct vpci_dev *d, struct vq *vq, const struct vq_seg *segs, unsigned n, uint32_t *len,
		      uint32_t seconds);

#endif
