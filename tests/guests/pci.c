/* SPDX-License-Identifier: MIT */
#include "pci.h"

#include <stddef.h>

#define COMMON(field) offsetof(struct virtio_pci_common_cfg, field)

static uint64_t ecam_addr(unsigned bus, unsigned dev, unsigned fn, uint32_t off)
{
	return PCI_ECAM_BASE + ((uint64_t)bus << 20 | dev << 15 | fn << 12 | off);
}

static void port_select(unsigned bus, unsigned dev, unsigned fn, uint32_t off)
{
	outl(PCI_CONFIG_ADDRESS, 0x80000000u | (bus & 0xff) << 16 | (dev & 31) << 11 | (fn & 7) << 8 | (off & 0xfc));
}

uint32_t pci_cfg_read(enum pci_mech m, unsigned bus, unsigned dev, unsigned fn, uint32_t off, unsigned size)
{
	if (m == PCI_MECH_ECAM) {
		uint64_t a = ecam_addr(bus, dev, fn, off);
		return size == 1 ? mmio_read8(a) : size == 2 ? mmio_read16(a) : mmio_read32(a);
	}
	port_select(bus, dev, fn, off);
	uint16_t port = (uint16_t)(PCI_CONFIG_DATA + (off & 3));
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

void pci_cfg_write(enum pci_mech m, unsigned bus, unsigned dev, unsigned fn, uint32_t off, unsigned size,
		   uint32_t v)
{
	if (m == PCI_MECH_ECAM) {
		uint64_t a = ecam_addr(bus, dev, fn, off);
		if (size == 1)
			mmio_write8(a, (uint8_t)v);
		else if (size == 2)
			mmio_write16(a, (uint16_t)v);
		else
			mmio_write32(a, v);
		return;
	}
	port_select(bus, dev, fn, off);
	uint16_t port = (uint16_t)(PCI_CONFIG_DATA + (off & 3));
	if (size == 1)
		outb(port, (uint8_t)v);
	else if (size == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

uint64_t pci_bar0(unsigned dev)
{
	uint64_t lo = pci_cfg_read(PCI_MECH_ECAM, 0, dev, 0, PCI_BASE_ADDRESS_0, 4);
	uint64_t hi = pci_cfg_read(PCI_MECH_ECAM, 0, dev, 0, PCI_BASE_ADDRESS_1, 4);

	return hi << 32 | (lo & PCI_BASE_ADDRESS_MEM_MASK);
}

void pci_set_bar0(enum pci_mech m, unsigned dev, uint64_t addr)
{
	pci_cfg_write(m, 0, dev, 0, PCI_BASE_ADDRESS_0, 4, (uint32_t)addr);
	pci_cfg_write(m, 0, dev, 0, PCI_BASE_ADDRESS_1, 4, (uint32_t)(addr >> 32));
}

/* ---- discovery -------------------------------------------------------------------- */

static void walk_caps(enum pci_mech m, struct vpci_dev *d)
{
	uint32_t at = pci_cfg_read(m, 0, d->devnum, 0, PCI_CAPABILITY_LIST, 1) & 0xfc;
	unsigned seen = 0;
	bool have_common = false, have_notify = false, have_isr = false;

	for (; at && seen < 48; seen++, at = pci_cfg_read(m, 0, d->devnum, 0, at + 1, 1) & 0xfc) {
		uint32_t id = pci_cfg_read(m, 0, d->devnum, 0, at, 1);
		if (id == PCI_CAP_ID_MSIX) {
			d->msix_cap = at;
			d->msix_size = (uint16_t)((pci_cfg_read(m, 0, d->devnum, 0, at + PCI_MSIX_FLAGS, 2) &
						   PCI_MSIX_FLAGS_QSIZE) + 1);
			uint32_t table = pci_cfg_read(m, 0, d->devnum, 0, at + PCI_MSIX_TABLE, 4);
			if (table & PCI_MSIX_TABLE_BIR)
				virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "MSI-X table in BAR %u, not 0", table & 7);
			d->msix_table = table & PCI_MSIX_TABLE_OFFSET;
			continue;
		}
		if (id != PCI_CAP_ID_VNDR)
			continue;
		uint32_t type = pci_cfg_read(m, 0, d->devnum, 0, at + offsetof(struct virtio_pci_cap, cfg_type), 1);
		uint32_t bar = pci_cfg_read(m, 0, d->devnum, 0, at + offsetof(struct virtio_pci_cap, bar), 1);
		uint32_t off = pci_cfg_read(m, 0, d->devnum, 0, at + offsetof(struct virtio_pci_cap, offset), 4);
		if (type == VIRTIO_PCI_CAP_PCI_CFG)
			continue;   /* its bar field is the window's, not a location */
		if (bar != 0)
			virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "capability type %u in BAR %u, not 0", type, bar);
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG: d->common = off, have_common = true; break;
		case VIRTIO_PCI_CAP_ISR_CFG: d->isr = off, have_isr = true; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: d->device = off; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = off, have_notify = true;
			d->notify_mult = pci_cfg_read(m, 0, d->devnum, 0,
						      at + offsetof(struct virtio_pci_notify_cap, notify_off_multiplier), 4);
			break;
		default: break;
		}
	}
	if (!have_common || !have_notify || !have_isr || !d->msix_cap)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "00:%02x.0: capabilities missing (common %d notify %d isr %d msix %d)",
			    d->devnum, have_common, have_notify, have_isr, d->msix_cap != 0);
}

void vpci_find(enum pci_mech m, uint32_t virtio_id, struct vpci_dev *d)
{
	memset(d, 0, sizeof(*d));
	for (unsigned dev = 1; dev < 32; dev++) {
		uint32_t ids = pci_cfg_read(m, 0, dev, 0, PCI_VENDOR_ID, 4);
		if ((ids & 0xffff) != 0x1af4 || ids >> 16 != 0x1040 + virtio_id)
			continue;
		d->devnum = dev;
		d->virtio_id = virtio_id;
		d->bar = pci_bar0(dev);
		walk_caps(m, d);
		printf("pci: found %s at 00:%02x.0, BAR 0 at 0x%lx, MSI-X table of %u\n", virtio_id_name(virtio_id),
		       dev, d->bar, d->msix_size);
		return;
	}
	virtio_fail(VIRTIO_EXIT_NO_DEVICE, "no virtio-pci %s on bus 0", virtio_id_name(virtio_id));
}

void vpci_enable(struct vpci_dev *d)
{
	uint32_t cmd = pci_cfg_read(PCI_MECH_ECAM, 0, d->devnum, 0, PCI_COMMAND, 2);

	pci_cfg_write(PCI_MECH_ECAM, 0, d->devnum, 0, PCI_COMMAND, 2, cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	d->bar = pci_bar0(d->devnum);
}

/* ---- common configuration ------------------------------------------------------------ */

static uint64_t common_addr(const struct vpci_dev *d, uint32_t field)
{
	return d->bar + d->common + field;
}

uint64_t vpci_common(const struct vpci_dev *d, uint32_t field)
{
	return common_addr(d, field);
}

uint8_t vpci_status(const struct vpci_dev *d)
{
	return mmio_read8(common_addr(d, COMMON(device_status)));
}

void vpci_negotiate(struct vpci_dev *d, uint64_t wanted)
{
	struct virtio_deadline dl;
	uint64_t offered;

	mmio_write8(common_addr(d, COMMON(device_status)), 0);
	virtio_deadline_start(&dl, VIRTIO_TIMEOUT_S);
	while (vpci_status(d) != 0)
		if (virtio_deadline_expired(&dl))
			virtio_fail(VIRTIO_EXIT_TIMEOUT, "reset: status stays 0x%x", vpci_status(d));
	mmio_write8(common_addr(d, COMMON(device_status)), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_write8(common_addr(d, COMMON(device_status)), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_write32(common_addr(d, COMMON(device_feature_select)), 0);
	offered = mmio_read32(common_addr(d, COMMON(device_feature)));
	mmio_write32(common_addr(d, COMMON(device_feature_select)), 1);
	offered |= (uint64_t)mmio_read32(common_addr(d, COMMON(device_feature))) << 32;
	wanted |= 1ull << VIRTIO_F_VERSION_1;
	if (!(offered & (1ull << VIRTIO_F_VERSION_1)))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "VERSION_1 not offered (0x%lx)", offered);
	d->features = wanted & offered;
	for (uint32_t half = 0; half < 2; half++) {
		mmio_write32(common_addr(d, COMMON(guest_feature_select)), half);
		mmio_write32(common_addr(d, COMMON(guest_feature)), (uint32_t)(d->features >> (32 * half)));
	}
	mmio_write8(common_addr(d, COMMON(device_status)),
		    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(vpci_status(d) & VIRTIO_CONFIG_S_FEATURES_OK))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "FEATURES_OK refused (features 0x%lx)", d->features);
	d->num_queues = mmio_read16(common_addr(d, COMMON(num_queues)));
}

void vpci_driver_ok(struct vpci_dev *d)
{
	mmio_write8(common_addr(d, COMMON(device_status)), (uint8_t)(vpci_status(d) | VIRTIO_CONFIG_S_DRIVER_OK));
}

void vpci_queue_setup(struct vpci_dev *d, struct vq *vq, uint16_t index, uint16_t size, void *page,
		      uint16_t vector)
{
	uint8_t *mem = page;
	uint16_t max;

	mmio_write16(common_addr(d, COMMON(queue_select)), index);
	max = mmio_read16(common_addr(d, COMMON(queue_size)));
	if (max == 0 || size > max || size > VQ_MAX_SIZE || (size & (size - 1)))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "queue %u: size %u (device maximum %u)", index, size, max);
	memset(vq, 0, sizeof(*vq));
	memset(mem, 0, 4096);
	vq->index = index;
	vq->size = size;
	vq->mem = mem;
	vq->desc = (struct vring_desc *)mem;
	vq->avail = (struct vring_avail *)(mem + 1024);
	vq->used = (struct vring_used *)(mem + 2048);
	for (uint16_t i = 0; i < size; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->num_free = size;
	mmio_write16(common_addr(d, COMMON(queue_size)), size);
	mmio_write32(common_addr(d, COMMON(queue_desc_lo)), (uint32_t)(uintptr_t)vq->desc);
	mmio_write32(common_addr(d, COMMON(queue_desc_hi)), 0);
	mmio_write32(common_addr(d, COMMON(queue_avail_lo)), (uint32_t)(uintptr_t)vq->avail);
	mmio_write32(common_addr(d, COMMON(queue_avail_hi)), 0);
	mmio_write32(common_addr(d, COMMON(queue_used_lo)), (uint32_t)(uintptr_t)vq->used);
	mmio_write32(common_addr(d, COMMON(queue_used_hi)), 0);
	mmio_write16(common_addr(d, COMMON(queue_msix_vector)), vector);
	if (mmio_read16(common_addr(d, COMMON(queue_msix_vector))) != vector)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "queue %u: MSI-X vector %u refused", index, vector);
	mmio_write16(common_addr(d, COMMON(queue_enable)), 1);
	if (mmio_read16(common_addr(d, COMMON(queue_enable))) != 1)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "queue %u: queue_enable reads 0 after writing 1", index);
}

void vpci_notify(struct vpci_dev *d, uint16_t queue)
{
	uint16_t off;

	mmio_write16(common_addr(d, COMMON(queue_select)), queue);
	off = mmio_read16(common_addr(d, COMMON(queue_notify_off)));
	mmio_write16(d->bar + d->notify + (uint64_t)off * d->notify_mult, queue);
}

/* ---- MSI-X ---------------------------------------------------------------------------------- */

static struct vpci_dev *msix_owner[IDT_VECTORS];

static void msix_handler(struct isr_frame *frame)
{
	struct vpci_dev *d = msix_owner[frame->vector];

	if (d)
		d->irqs++;
	mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

void vpci_msix_attach(struct vpci_dev *d, unsigned entry, unsigned cpu_vector)
{
	uint64_t e = d->bar + d->msix_table + 16ull * entry;
	uint32_t control;

	if (entry >= d->msix_size || cpu_vector >= IDT_VECTORS || cpu_vector < 0x30)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "MSI-X entry %u / vector 0x%x out of range", entry, cpu_vector);
	msix_owner[cpu_vector] = d;
	idt_set_handler(cpu_vector, msix_handler);
	lapic_virtual_wire();   /* software-enables the LAPIC */
	mmio_write32(e + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)LAPIC_BASE);   /* destination APIC 0, physical */
	mmio_write32(e + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	mmio_write32(e + PCI_MSIX_ENTRY_DATA, cpu_vector);                   /* fixed, edge */
	mmio_write32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	control = pci_cfg_read(PCI_MECH_ECAM, 0, d->devnum, 0, d->msix_cap + PCI_MSIX_FLAGS, 2);
	pci_cfg_write(PCI_MECH_ECAM, 0, d->devnum, 0, d->msix_cap + PCI_MSIX_FLAGS, 2,
		      (control | PCI_MSIX_FLAGS_ENABLE) & ~PCI_MSIX_FLAGS_MASKALL);
	cpu_sti();
}

bool vpci_submit_wait(struct vpci_dev *d, struct vq *vq, const struct vq_seg *segs, unsigned n, uint32_t *len,
		      uint32_t seconds)
{
	uint16_t head = vq_add(vq, segs, n), got;
	struct virtio_deadline dl;

	virtio_mb();
	vpci_notify(d, vq->index);
	virtio_deadline_start(&dl, seconds);
	while (!vq_get_used(vq, &got, len))
		if (virtio_deadline_expired(&dl))
			return false;
	if (got != head)
		virtio_fail(VIRTIO_EXIT_BAD_USED, "queue %u: used id %u, expected %u", vq->index, got, head);
	return true;
}
