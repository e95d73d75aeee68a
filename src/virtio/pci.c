/* SPDX-License-Identifier: MIT */
#include "virtio/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"

/*
 * The driver side this must satisfy is Linux's drivers/virtio/virtio_pci_modern*.c
 * and drivers/pci/msi/.
 */
#define COMMON_CFG_LEN ((uint32_t)sizeof(struct virtio_pci_common_cfg))
#define MSIX_CAP_LEN 12u
#define MSIX_ENTRY_SIZE 16u
#define MSI_ADDRESS_MASK 0xfff00000ull
#define MSI_ADDRESS_LAPIC 0xfee00000ull

_Static_assert(COMMON_CFG_LEN == 56, "virtio 1.2 common configuration: 56 bytes");
_Static_assert(VIRTIO_PCI_MAX_VECTORS <= 32, "the PBA fits one dword");
_Static_assert(VIRTIO_PCI_CAP_PCICFG_AT + sizeof(struct virtio_pci_cfg_cap) <= PCI_CONFIG_SIZE,
	       "capabilities fit the 256-byte config space");
_Static_assert(sizeof(struct virtio_pci_state) == 428, "virtio-pci state layout");

enum {
	LOGGED_COMMON_ACCESS = 1u << 0,
	LOGGED_BAD_NOTIFY = 1u << 1,
	LOGGED_MSIX_ACCESS = 1u << 2,
	LOGGED_MSIX_DISABLED = 1u << 3,
	LOGGED_MSI_ADDRESS = 1u << 4,
	LOGGED_ROUTE = 1u << 5,
	LOGGED_PCI_CFG = 1u << 6,
};


/* Queue q's eventfd context: p with q in its low bits (as virtio-mmio does). */
_Static_assert(_Alignof(struct virtio_pci) >= VIRTIO_MAX_QUEUES, "queue index fits the pointer's alignment bits");

static void *queue_ctx(struct virtio_pci *p, unsigned q)
{
	return (void *)((uintptr_t)p | q);
}

/* ---- MSI-X delivery (vdev lock held) ------------------------------------------------- */

static bool vector_masked(const struct virtio_pci *p, unsigned v)
{
	return p->msix_function_masked || (p->msix[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void fire(struct virtio_pci *p, unsigned v)
{
	const struct virtio_pci_msix_entry *e = &p->msix[v];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
	uint64_t one = 1;

	if ((addr & ~0xfffffull) != MSI_ADDRESS_LAPIC) {
		if (log_first_time(&p->logged, LOGGED_MSI_ADDRESS))
			log_warn("%s: MSI-X vector %u: address 0x%" PRIx64 " is not the LAPIC's; message dropped", p->name,
				 v, addr);
		return;
	}
	if (!p->routed[v] || p->routed_addr[v] != addr || p->routed_data[v] != e->data) {
		int r = p->host->set_msi_route(p->host->ctx, (unsigned)p->gsi[v], addr, e->data);
		if (r < 0) {
			if (log_first_time(&p->logged, LOGGED_ROUTE))
				log_warn("%s: MSI route for vector %u: %s; message dropped", p->name, v, strerror(-r));
			return;
		}
		p->routed[v] = true;
		p->routed_addr[v] = addr;
		p->routed_data[v] = e->data;
	}
	atomic_fetch_add_explicit(&p->interrupts, 1, memory_order_relaxed);
	if (write(p->irq_fd[v], &one, sizeof(one)) < 0)
		log_warn("%s: irqfd of vector %u: %s", p->name, v, strerror(errno));
}

static void signal_vector(struct virtio_pci *p, unsigned v)
{
	if (v >= p->nvectors)
		return;    /* VIRTIO_MSI_NO_VECTOR: the driver wants no interrupt from this source */
	if (!p->msix_enabled) {
		if (log_first_time(&p->logged, LOGGED_MSIX_DISABLED))
			log_debug("%s: interrupt while MSI-X is disabled (the function has no INTx); dropped", p->name);
		return;
	}
	if (vector_masked(p, v)) {
		p->pba |= 1u << v;
		atomic_fetch_add_explicit(&p->masked_interrupts, 1, memory_order_relaxed);
		return;
	}
	fire(p, v);
}

/* Pending vectors no longer masked fire now. */
static void deliver_pending(struct virtio_pci *p)
{
	if (!p->msix_enabled)
		return;
	for (unsigned v = 0; v < p->nvectors; v++) {
		if (!(p->pba & (1u << v)) || vector_masked(p, v))
			continue;
		p->pba &= ~(1u << v);
		fire(p, v);
	}
}

static void pci_interrupt_source(void *ctx, unsigned source)
{
	struct virtio_pci *p = ctx;

	if (source == VIRTIO_INT_SOURCE_CONFIG)
		signal_vector(p, p->msix_config);
	else if (source < VIRTIO_MAX_QUEUES)
		signal_vector(p, p->queue_vector[source]);
}

/* What a pause or a restore deferred: every source with a cause, each vector once. */
static void pci_interrupt(void *ctx)
{
	struct virtio_pci *p = ctx;
	uint32_t sent = 0;
	unsigned v;

	if (p->vdev->interrupt_status & VIRTIO_INT_CONFIG) {
		v = p->msix_config;
		signal_vector(p, v);
		sent |= v < 32 ? 1u << v : 0;
	}
	if (!(p->vdev->interrupt_status & VIRTIO_INT_USED_BUFFER))
		return;
	for (unsigned q = 0; q < p->vdev->ops->num_queues; q++) {
		v = p->queue_vector[q];
		if (v < p->nvectors && !(sent & (1u << v)) && p->vdev->qregs[q].ready) {
			signal_vector(p, v);
			sent |= 1u << v;
		}
	}
}

static void pci_kick(void *ctx, unsigned q)
{
	struct virtio_pci *p = ctx;
	uint64_t one = 1;

	if (write(p->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", p->name, q, strerror(errno));
}

static const struct virtio_transport_hooks pci_hooks = {
	.interrupt = pci_interrupt,
	.kick = pci_kick,
	.interrupt_source = pci_interrupt_source,
};

/* ---- common configuration ----------------------------------------------------------------- */

static uint16_t checked_vector(const struct virtio_pci *p, uint32_t v)
{
	return v < p->nvectors ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void common_read(struct virtio_pci *p, uint32_t off, uint8_t *data, unsigned size)
{
	struct virtio_dev *d = p->vdev;
	struct virtio_queue_regs *r = virtio_dev_selected_queue(d);
	unsigned q = d->queue_sel;
	struct virtio_pci_common_cfg c;

	memset(&c, 0, sizeof(c));
	c.device_feature_select = d->device_features_sel;
	c.device_feature = virtio_dev_device_features_word(d);
	c.guest_feature_select = d->driver_features_sel;
	c.guest_feature = d->driver_features_sel == 0 ? (uint32_t)d->driver_features
			  : d->driver_features_sel == 1 ? (uint32_t)(d->driver_features >> 32) : 0;
	c.msix_config = p->msix_config;
	c.num_queues = (uint16_t)d->ops->num_queues;
	c.device_status = (uint8_t)d->status;
	c.config_generation = (uint8_t)d->config_generation;
	c.queue_select = (uint16_t)d->queue_sel;
	if (r) {
		c.queue_size = r->num;
		c.queue_msix_vector = p->queue_vector[q];
		c.queue_enable = r->ready;
		c.queue_notify_off = (uint16_t)q;
		c.queue_desc_lo = (uint32_t)r->desc;
		c.queue_desc_hi = (uint32_t)(r->desc >> 32);
		c.queue_avail_lo = (uint32_t)r->avail;
		c.queue_avail_hi = (uint32_t)(r->avail >> 32);
		c.queue_used_lo = (uint32_t)r->used;
		c.queue_used_hi = (uint32_t)(r->used >> 32);
	} else {
		c.queue_msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
	if (off + size <= sizeof(c))
		memcpy(data, (const uint8_t *)&c + off, size);
	else
		memset(data, 0, size);   /* past the structure (1.2's notify_data/queue_reset: not offered) */
}

static void set_half(uint64_t *reg, uint32_t off, uint32_t field, uint64_t value, unsigned size)
{
	if (size == 8)
		*reg = value;
	else if (off == field)
		*reg = (*reg & ~0xffffffffull) | (uint32_t)value;
	else
		*reg = (*reg & 0xffffffffull) | (uint64_t)(uint32_t)value << 32;
}

#define FIELD(name) offsetof(struct virtio_pci_common_cfg, name)
#define WIDTH(name) sizeof(((struct virtio_pci_common_cfg *)0)->name)

/* Is [off, off + size) exactly field `at` of `width` bytes (or a 32-bit half of a 64-bit field)? */
static bool is_field(uint32_t off, unsigned size, size_t at, size_t width)
{
	return (off == at && size == width) || (width == 8 && size == 4 && (off == at || off == at + 4));
}

static void common_write(struct virtio_pci *p, uint32_t off, const uint8_t *data, unsigned size)
{
	struct virtio_dev *d = p->vdev;
	uint64_t v = 0;

	memcpy(&v, data, size);
	if (is_field(off, size, FIELD(device_feature_select), 4)) {
		d->device_features_sel = (uint32_t)v;
	} else if (is_field(off, size, FIELD(guest_feature_select), 4)) {
		d->driver_features_sel = (uint32_t)v;
	} else if (is_field(off, size, FIELD(guest_feature), 4)) {
		virtio_dev_write_driver_features(d, (uint32_t)v);
	} else if (is_field(off, size, FIELD(msix_config), 2)) {
		p->msix_config = checked_vector(p, (uint32_t)v);
	} else if (is_field(off, size, FIELD(device_status), 1)) {
		virtio_dev_write_status(d, (uint32_t)v);
		if (v == 0) {   /* reset: the vectors go too (Linux writes them again) */
			p->msix_config = VIRTIO_MSI_NO_VECTOR;
			for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
				p->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
		}
	} else if (is_field(off, size, FIELD(queue_select), 2)) {
		d->queue_sel = (uint32_t)v;
	} else if (is_field(off, size, FIELD(queue_msix_vector), 2)) {
		if (virtio_dev_selected_queue(d))
			p->queue_vector[d->queue_sel] = checked_vector(p, (uint32_t)v);
	} else if (is_field(off, size, FIELD(queue_enable), 2)) {
		virtio_dev_write_queue_ready(d, (uint32_t)v);
	} else if (is_field(off, size, FIELD(queue_size), 2)) {
		struct virtio_queue_regs *r = virtio_dev_writable_queue(d, "queue_size");
		if (r)
			r->num = (uint16_t)v;
	} else if (is_field(off, size, FIELD(queue_desc_lo), 8)) {
		struct virtio_queue_regs *r = virtio_dev_writable_queue(d, "queue_desc");
		if (r)
			set_half(&r->desc, off, FIELD(queue_desc_lo), v, size);
	} else if (is_field(off, size, FIELD(queue_avail_lo), 8)) {
		struct virtio_queue_regs *r = virtio_dev_writable_queue(d, "queue_driver");
		if (r)
			set_half(&r->avail, off, FIELD(queue_avail_lo), v, size);
	} else if (is_field(off, size, FIELD(queue_used_lo), 8)) {
		struct virtio_queue_regs *r = virtio_dev_writable_queue(d, "queue_device");
		if (r)
			set_half(&r->used, off, FIELD(queue_used_lo), v, size);
	} else if (log_first_time(&p->logged, LOGGED_COMMON_ACCESS)) {
		/* Read-only fields, partial or oversized writes: the spec's driver never does them. */
		log_debug("%s: %u-byte write to common configuration offset 0x%x; ignored", p->name, size, off);
	}
}

/* ---- MSI-X table and PBA --------------------------------------------------------------------- */

static void msix_table_access(struct virtio_pci *p, uint32_t off, uint8_t *data, unsigned size, bool is_write)
{
	unsigned v = off / MSIX_ENTRY_SIZE;
	uint32_t *words = (uint32_t *)&p->msix[v];

	/* Dword or aligned qword accesses only (PCI 3.0 §6.8.2); others are dropped. */
	if (!((size == 4 && off % 4 == 0) || (size == 8 && off % 8 == 0))) {
		if (log_first_time(&p->logged, LOGGED_MSIX_ACCESS))
			log_debug("%s: %u-byte MSI-X table access at 0x%x; ignored", p->name, size, off);
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	for (unsigned i = 0; i < size / 4; i++) {
		unsigned w = (off % MSIX_ENTRY_SIZE) / 4 + i;
		uint32_t value;
		if (!is_write) {
			memcpy(data + 4 * i, &words[w], 4);
			continue;
		}
		memcpy(&value, data + 4 * i, 4);
		if (w == 3)   /* Vector Control: only the mask bit exists */
			value &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
		words[w] = value;
	}
	if (is_write)
		deliver_pending(p);
}

/* ---- the BAR ------------------------------------------------------------------------------------ */

static void notify_write(struct virtio_pci *p, uint32_t off)
{
	unsigned q = off / VIRTIO_PCI_NOTIFY_MULTIPLIER;
	uint64_t one = 1;

	if (off % VIRTIO_PCI_NOTIFY_MULTIPLIER || q >= p->vdev->ops->num_queues) {
		if (log_first_time(&p->logged, LOGGED_BAD_NOTIFY))
			log_debug("%s: notification at offset 0x%x, past the %u queues; ignored", p->name, off,
				  p->vdev->ops->num_queues);
		atomic_fetch_add_explicit(&p->ignored_notifies, 1, memory_order_relaxed);
		return;
	}
	if (write(p->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", p->name, q, strerror(errno));
}

void virtio_pci_bar_access(void *dev, unsigned bar, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_pci *p = dev;
	uint32_t off = (uint32_t)(offset & 0xfff);
	uint32_t region = (uint32_t)(offset & ~0xfffull);

	if (bar != 0 || offset >= VIRTIO_PCI_BAR_SIZE || size > 8 || offset + size > VIRTIO_PCI_BAR_SIZE ||
	    off + size > 0x1000) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	virtio_lock(p->vdev);
	switch (region) {
	case VIRTIO_PCI_COMMON_OFFSET:
		if (is_write)
			common_write(p, off, data, size);
		else
			common_read(p, off, data, size);
		break;
	case VIRTIO_PCI_ISR_OFFSET:
		if (!is_write) {
			memset(data, 0, size);
			if (off == 0) {   /* reading clears it (§4.1.4.5) */
				data[0] = (uint8_t)p->vdev->interrupt_status;
				virtio_dev_ack_interrupt(p->vdev, p->vdev->interrupt_status);
			}
		}
		break;
	case VIRTIO_PCI_DEVICE_OFFSET:
		virtio_dev_config_access(p->vdev, off, data, size, is_write);
		break;
	case VIRTIO_PCI_NOTIFY_OFFSET:
		if (is_write)
			notify_write(p, off);
		else
			memset(data, 0, size);
		break;
	case VIRTIO_PCI_MSIX_TABLE_OFFSET:
		if (off < p->nvectors * MSIX_ENTRY_SIZE)
			msix_table_access(p, off, data, size, is_write);
		else if (!is_write)
			memset(data, 0, size);
		break;
	case VIRTIO_PCI_MSIX_PBA_OFFSET:
		if (!is_write) {
			uint64_t pba = off < 8 ? (uint64_t)p->pba >> (8 * off) : 0;
			memcpy(data, &pba, size);
		}
		break;
	default:
		if (!is_write)
			memset(data, 0, size);
		break;
	}
	virtio_unlock(p->vdev);
}

/* ---- config space ---------------------------------------------------------------------------------- */

#define MSIX_CONTROL (VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_FLAGS)
#define PCICFG_BAR (VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_BAR)
#define PCICFG_OFFSET (VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_OFFSET)
#define PCICFG_LENGTH (VIRTIO_PCI_CAP_PCICFG_AT + VIRTIO_PCI_CAP_LENGTH)
#define PCICFG_DATA (VIRTIO_PCI_CAP_PCICFG_AT + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data))

static bool touches(uint32_t off, unsigned size, uint32_t start, uint32_t len)
{
	return off < start + len && start < off + size;
}

/* VIRTIO_PCI_CAP_PCI_CFG: the access the driver set up in the capability, if it is a valid one. */
static bool pci_cfg_window(struct virtio_pci *p, uint32_t *offset, uint32_t *length)
{
	*offset = pci_config_get32(&p->fn, PCICFG_OFFSET);
	*length = pci_config_get32(&p->fn, PCICFG_LENGTH);
	if (p->fn.config[PCICFG_BAR] == 0 && (*length == 1 || *length == 2 || *length == 4) &&
	    *offset % *length == 0 && *offset < VIRTIO_PCI_BAR_SIZE)
		return true;
	if (log_first_time(&p->logged, LOGGED_PCI_CFG))
		log_debug("%s: PCI configuration access to BAR %u offset 0x%x length %u; ignored", p->name,
			  p->fn.config[PCICFG_BAR], *offset, *length);
	return false;
}

static void pci_config_read(void *dev, struct pci_function *f, uint32_t off, unsigned size)
{
	struct virtio_pci *p = dev;
	uint32_t offset, length;

	if (!touches(off, size, PCICFG_DATA, 4) || !pci_cfg_window(p, &offset, &length))
		return;
	memset(&f->config[PCICFG_DATA], 0, 4);
	virtio_pci_bar_access(p, 0, offset, &f->config[PCICFG_DATA], length, false);
}

static void pci_config_write(void *dev, struct pci_function *f, uint32_t off, unsigned size)
{
	struct virtio_pci *p = dev;
	uint32_t offset, length;

	if (touches(off, size, MSIX_CONTROL, 2)) {
		uint16_t control = pci_config_get16(f, MSIX_CONTROL);
		virtio_lock(p->vdev);
		p->msix_enabled = control & PCI_MSIX_FLAGS_ENABLE;
		p->msix_function_masked = control & PCI_MSIX_FLAGS_MASKALL;
		deliver_pending(p);
		virtio_unlock(p->vdev);
	}
	if (touches(off, size, PCICFG_DATA, 4) && pci_cfg_window(p, &offset, &length))
		virtio_pci_bar_access(p, 0, offset, &f->config[PCICFG_DATA], length, true);
}

static void remove_ioeventfds(struct virtio_pci *p)
{
	for (unsigned q = 0; p->ioeventfd && q < p->vdev->ops->num_queues; q++)
		p->host->remove_ioeventfd(p->host->ctx, p->bar_addr + VIRTIO_PCI_NOTIFY_OFFSET + 4 * q, 2, q,
					  p->notify_fd[q]);
	p->ioeventfd = false;
}

static void add_ioeventfds(struct virtio_pci *p)
{
	const struct device_host *host = p->host;

	if (!host->add_ioeventfd || p->ioeventfd_failed)
		return;
	for (unsigned q = 0; q < p->vdev->ops->num_queues; q++) {
		int r = host->add_ioeventfd(host->ctx, p->bar_addr + VIRTIO_PCI_NOTIFY_OFFSET + 4 * q, 2, q,
					    p->notify_fd[q]);
		if (r < 0) {
			log_info("%s: ioeventfd for queue %u: %s; kicks go through MMIO exits", p->name, q,
				 strerror(-r));
			p->ioeventfd = true;
			for (unsigned i = 0; i < q; i++)
				host->remove_ioeventfd(host->ctx, p->bar_addr + VIRTIO_PCI_NOTIFY_OFFSET + 4 * i, 2, i,
						       p->notify_fd[i]);
			p->ioeventfd = false;
			p->ioeventfd_failed = true;
			return;
		}
	}
	p->ioeventfd = true;
}

/* The PCI host moved our BAR (its lock held): KVM's ioeventfds follow it. */
static void pci_bar_mapped(void *dev, unsigned bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *p = dev;

	if (bar != 0)
		return;
	remove_ioeventfds(p);
	p->bar_mapped = mapped;
	p->bar_addr = addr;
	if (mapped)
		add_ioeventfds(p);
}

static const struct pci_function_ops function_ops = {
	.config_read = pci_config_read,
	.config_write = pci_config_write,
	.bar_mapped = pci_bar_mapped,
	.bar_access = virtio_pci_bar_access,
};

/* A virtio vendor capability (struct virtio_pci_cap) at `at`. */
static void add_cap(struct pci_function *f, uint32_t at, uint8_t next, uint8_t len, uint8_t type, uint32_t offset,
		    uint32_t length)
{
	pci_config_set8(f, at + VIRTIO_PCI_CAP_VNDR, PCI_CAP_ID_VNDR);
	pci_config_set8(f, at + VIRTIO_PCI_CAP_NEXT, next);
	pci_config_set8(f, at + VIRTIO_PCI_CAP_LEN, len);
	pci_config_set8(f, at + VIRTIO_PCI_CAP_CFG_TYPE, type);
	pci_config_set8(f, at + VIRTIO_PCI_CAP_BAR, 0);
	pci_config_set32(f, at + VIRTIO_PCI_CAP_OFFSET, offset);
	pci_config_set32(f, at + VIRTIO_PCI_CAP_LENGTH, length);
}

/* Class codes as QEMU gives its virtio-pci devices, so tools show familiar names. */
static uint32_t class_code(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK: return 0x010000;    /* mass storage, SCSI */
	case VIRTIO_ID_NET: return 0x020000;      /* network, Ethernet */
	case VIRTIO_ID_CONSOLE: return 0x078000;  /* communication, other */
	default: return 0xff0000;                 /* unassigned class */
	}
}

static void build_config(struct virtio_pci *p, uint64_t bar_addr)
{
	struct pci_function *f = &p->fn;
	const struct virtio_device_ops *ops = p->vdev->ops;
	bool has_device_cfg = ops->config_size > 0;

	pci_function_init_header(f, VIRTIO_PCI_VENDOR_ID, (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + ops->device_id),
				 class_code(ops->device_id), 1, VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_SUBSYS_ID);
	pci_config_set16(f, PCI_STATUS, PCI_STATUS_CAP_LIST);
	pci_config_set8(f, PCI_CAPABILITY_LIST, VIRTIO_PCI_CAP_MSIX_AT);
	pci_function_set_bar(f, 0, VIRTIO_PCI_BAR_SIZE, true, bar_addr);

	/* MSI-X: table size - 1 read-only, Enable and Function Mask writable; table and PBA in BAR 0. */
	pci_config_set8(f, VIRTIO_PCI_CAP_MSIX_AT + PCI_CAP_LIST_ID, PCI_CAP_ID_MSIX);
	pci_config_set8(f, VIRTIO_PCI_CAP_MSIX_AT + PCI_CAP_LIST_NEXT, VIRTIO_PCI_CAP_COMMON_AT);
	pci_config_set16(f, MSIX_CONTROL, (uint16_t)(p->nvectors - 1));
	pci_wmask_set16(f, MSIX_CONTROL, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	pci_config_set32(f, VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_TABLE_OFFSET | 0);
	pci_config_set32(f, VIRTIO_PCI_CAP_MSIX_AT + PCI_MSIX_PBA, VIRTIO_PCI_MSIX_PBA_OFFSET | 0);

	add_cap(f, VIRTIO_PCI_CAP_COMMON_AT, VIRTIO_PCI_CAP_ISR_AT, sizeof(struct virtio_pci_cap),
		VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET, COMMON_CFG_LEN);
	add_cap(f, VIRTIO_PCI_CAP_ISR_AT, has_device_cfg ? VIRTIO_PCI_CAP_DEVICE_AT : VIRTIO_PCI_CAP_NOTIFY_AT,
		sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 4);
	if (has_device_cfg)
		add_cap(f, VIRTIO_PCI_CAP_DEVICE_AT, VIRTIO_PCI_CAP_NOTIFY_AT, sizeof(struct virtio_pci_cap),
			VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFFSET, ops->config_size);
	add_cap(f, VIRTIO_PCI_CAP_NOTIFY_AT, VIRTIO_PCI_CAP_PCICFG_AT, sizeof(struct virtio_pci_notify_cap),
		VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET, VIRTIO_PCI_NOTIFY_MULTIPLIER * ops->num_queues);
	pci_config_set32(f, VIRTIO_PCI_CAP_NOTIFY_AT + offsetof(struct virtio_pci_notify_cap, notify_off_multiplier),
			 VIRTIO_PCI_NOTIFY_MULTIPLIER);
	/* The access window: BAR, offset, length and data are the driver's to write. */
	add_cap(f, VIRTIO_PCI_CAP_PCICFG_AT, 0, sizeof(struct virtio_pci_cfg_cap), VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	f->wmask[PCICFG_BAR] = 0xff;
	pci_wmask_set32(f, PCICFG_OFFSET, 0xffffffffu);
	pci_wmask_set32(f, PCICFG_LENGTH, 0xffffffffu);
	pci_wmask_set32(f, PCICFG_DATA, 0xffffffffu);
}

/* ---- set-up ------------------------------------------------------------------------------------------- */

static void queue_kicked(void *ctx, uint32_t events)
{
	struct virtio_pci *p = (struct virtio_pci *)((uintptr_t)ctx & ~(uintptr_t)(VIRTIO_MAX_QUEUES - 1));
	unsigned q = (unsigned)((uintptr_t)ctx & (VIRTIO_MAX_QUEUES - 1));
	uint64_t count;

	(void)events;
	if (read(p->notify_fd[q], &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", p->name, q, strerror(errno));
	virtio_lock(p->vdev);
	if (virtio_dev_queue_notify(p->vdev, q))
		atomic_fetch_add_explicit(&p->notifies, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&p->ignored_notifies, 1, memory_order_relaxed);
	virtio_unlock(p->vdev);
}

static void reset_vectors(struct virtio_pci *p)
{
	memset(p->msix, 0, sizeof(p->msix));
	for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		p->msix[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;   /* entries come out of reset masked */
	p->pba = 0;
	p->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	p->msix_enabled = p->msix_function_masked = false;
}

static int init_vectors(struct virtio_pci *p, struct vmon_error *err)
{
	const struct device_host *host = p->host;

	for (unsigned v = 0; v < p->nvectors; v++) {
		int gsi = host->alloc_msi_gsi(host->ctx), r;
		if (gsi < 0)
			return error_set(err, gsi, "%s: no GSI for MSI-X vector %u: %s", p->name, v, strerror(-gsi));
		p->gsi[v] = gsi;
		p->irq_fd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->irq_fd[v] < 0)
			return error_set(err, -errno, "%s: irqfd eventfd: %s", p->name, strerror(errno));
		if ((r = host->add_irqfd(host->ctx, (unsigned)gsi, p->irq_fd[v])) < 0) {
			close(p->irq_fd[v]);
			p->irq_fd[v] = -1;
			return error_set(err, r, "%s: irqfd on GSI %d: %s", p->name, gsi, strerror(-r));
		}
	}
	return 0;
}

static int init_notify_fds(struct virtio_pci *p, struct vmon_error *err)
{
	for (unsigned q = 0; q < p->vdev->ops->num_queues; q++) {
		int r;
		p->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->notify_fd[q] < 0)
			return error_set(err, -errno, "%s: queue %u eventfd: %s", p->name, q, strerror(errno));
		if ((r = event_loop_add(p->loop, p->notify_fd[q], EPOLLIN, queue_kicked, queue_ctx(p, q), err)) < 0)
			return r;
	}
	return 0;
}

int virtio_pci_init(struct virtio_pci *p, struct virtio_dev *vdev, const struct device_host *host,
		    struct pci_host *bus, unsigned devnum, struct event_loop *loop, uint64_t bar_addr,
		    const struct virtio_device_ops *ops, void *model, struct vmon_error *err)
{
	char label[48];
	int r;

	memset(p, 0, sizeof(*p));
	for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		p->gsi[v] = p->irq_fd[v] = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->notify_fd[q] = -1;
	snprintf(p->name, sizeof(p->name), "%s 00:%02x.0", ops->name, devnum);
	if (!host->mem || !host->alloc_msi_gsi || !host->set_msi_route || !host->add_irqfd)
		return error_set(err, -ENOTSUP, "%s: virtio-pci needs guest memory, KVM GSI routing and irqfds "
				 "(MSI-X); use transport=mmio", ops->name);
	if (ops->config_size > 0x1000)
		return error_set(err, -EINVAL, "%s: config space of %u bytes does not fit its BAR page", ops->name,
				 ops->config_size);
	snprintf(label, sizeof(label), "%s at 00:%02x.0", ops->name, devnum);
	if ((r = virtio_dev_init(vdev, ops, model, host->mem, label, &pci_hooks, p, err)))
		return r;
	p->vdev = vdev;
	p->host = host;
	p->bus = bus;
	p->loop = loop;
	p->devnum = devnum;
	p->nvectors = ops->num_queues + 1;
	reset_vectors(p);
	build_config(p, bar_addr);
	memcpy(p->power_on_config, p->fn.config, PCI_CONFIG_SIZE);
	p->fn.ops = &function_ops;
	p->fn.dev = p;
	p->fn.name = p->name;
	if (!(r = init_vectors(p, err)) && !(r = init_notify_fds(p, err)) &&
	    !(r = pci_host_add_function(bus, devnum, &p->fn, err)))
		p->ready = true;
	if (r)
		virtio_pci_destroy(p);
	return r;
}

void virtio_pci_destroy(struct virtio_pci *p)
{
	if (!p->vdev)
		return;
	if (p->ioeventfd)
		remove_ioeventfds(p);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (p->notify_fd[q] < 0)
			continue;
		if (p->loop)
			event_loop_remove(p->loop, p->notify_fd[q]);
		close(p->notify_fd[q]);
		p->notify_fd[q] = -1;
	}
	for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++) {
		if (p->irq_fd[v] < 0)
			continue;
		if (p->host->remove_irqfd)
			p->host->remove_irqfd(p->host->ctx, (unsigned)p->gsi[v], p->irq_fd[v]);
		close(p->irq_fd[v]);
		p->irq_fd[v] = -1;
	}
	virtio_dev_destroy(p->vdev);
	p->vdev = NULL;
	p->ready = false;
}

/* ---- state ------------------------------------------------------------------------------------------------ */

static void transport_reset(void *dev)
{
	struct virtio_pci *p = dev;

	virtio_lock(p->vdev);
	reset_vectors(p);
	memset(p->routed, 0, sizeof(p->routed));
	memcpy(p->fn.config, p->power_on_config, PCI_CONFIG_SIZE);
	virtio_unlock(p->vdev);
	pci_host_update_bars(p->bus);
}

static void transport_save(void *dev, void *state)
{
	struct virtio_pci *p = dev;
	struct virtio_pci_state *s = state;

	memset(s, 0, sizeof(*s));
	virtio_lock(p->vdev);
	memcpy(s->config, p->fn.config, PCI_CONFIG_SIZE);
	memcpy(s->msix, p->msix, sizeof(s->msix));
	s->pba = p->pba;
	s->nvectors = (uint16_t)p->nvectors;
	s->msix_config = p->msix_config;
	memcpy(s->queue_vector, p->queue_vector, sizeof(s->queue_vector));
	virtio_unlock(p->vdev);
}

static int check_vector(const struct virtio_pci *p, uint16_t v, const char *what, unsigned i, struct vmon_error *err)
{
	if (v != VIRTIO_MSI_NO_VECTOR && v >= p->nvectors)
		return error_set(err, -EINVAL, "%s state: %s[%u] = %u, the table has %u vectors", p->name, what, i, v,
				 p->nvectors);
	return 0;
}

static int transport_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_pci *p = dev;
	struct virtio_pci_state s;
	struct pci_function scratch;
	int r;

	memcpy(&s, state, sizeof(s));
	if (s.nvectors != p->nvectors)
		return error_set(err, -EINVAL, "%s state: %u MSI-X vectors, this device has %u", p->name, s.nvectors,
				 p->nvectors);
	if (s.reserved)
		return error_set(err, -EINVAL, "%s state: reserved is 0x%x, not 0", p->name, s.reserved);
	if (s.pba >> p->nvectors)
		return error_set(err, -EINVAL, "%s state: PBA 0x%x has bits past vector %u", p->name, s.pba,
				 p->nvectors - 1);
	if ((r = check_vector(p, s.msix_config, "msix_config", 0, err)))
		return r;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if ((r = check_vector(p, s.queue_vector[q], "queue_vector", q, err)))
			return r;
		if (q >= p->vdev->ops->num_queues && s.queue_vector[q] != VIRTIO_MSI_NO_VECTOR)
			return error_set(err, -EINVAL, "%s state: queue_vector[%u] set for a queue that does not exist",
					 p->name, q);
	}
	for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		if (s.msix[v].ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT || (v >= p->nvectors && s.msix[v].ctrl != 0 &&
		    s.msix[v].ctrl != PCI_MSIX_ENTRY_CTRL_MASKBIT))
			return error_set(err, -EINVAL, "%s state: MSI-X entry %u control 0x%x", p->name, v,
					 s.msix[v].ctrl);
	/* The config space's read-only bytes must be this function's: check on a copy first. */
	scratch = p->fn;
	if ((r = pci_function_restore_config(&scratch, s.config, err)))
		return r;
	virtio_lock(p->vdev);
	memcpy(p->fn.config, s.config, PCI_CONFIG_SIZE);
	memcpy(p->msix, s.msix, sizeof(p->msix));
	p->pba = s.pba;
	p->msix_config = s.msix_config;
	memcpy(p->queue_vector, s.queue_vector, sizeof(p->queue_vector));
	uint16_t control = pci_config_get16(&p->fn, MSIX_CONTROL);
	p->msix_enabled = control & PCI_MSIX_FLAGS_ENABLE;
	p->msix_function_masked = control & PCI_MSIX_FLAGS_MASKALL;
	memset(p->routed, 0, sizeof(p->routed));   /* routes are programmed again on the next message */
	virtio_unlock(p->vdev);
	pci_host_update_bars(p->bus);
	return 0;
}

const struct device_ops virtio_pci_device_ops = {
	.kind = "virtio-pci",
	.state_version = VIRTIO_PCI_STATE_VERSION,
	.state_size = sizeof(struct virtio_pci_state),
	.reset = transport_reset,
	.save = transport_save,
	.restore = transport_restore,
};
