/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_RESOURCES_H
#define VMON_VMM_RESOURCES_H

#include <stdint.h>

#include "base/error.h"
#include "devices/device.h"
#include "devices/registry.h"

/*
 * The machine's one allocator of bus resources: I/O port ranges (claimed at
 * fixed addresses: legacy devices have theirs), MMIO windows (handed out from
 * the device window area, aligned) and interrupt lines (handed out from the
 * lines no fixed device uses, or claimed by number). Every claim is checked
 * against every earlier one, so two devices never share an address or a line
 * by accident; what each got is recorded under its name for messages and for
 * the tables the guest reads (ACPI, kernel arguments).
 */
#define RESOURCES_MAX_CLAIMS 64
#define RESOURCES_MAX_IRQS 24

enum resource_kind { RESOURCE_PIO, RESOURCE_MMIO, RESOURCE_IRQ };

struct resource_claim {
	enum resource_kind kind;
	uint64_t base, len;
	char owner[24];
};

struct resources {
	uint64_t mmio_next, mmio_end;          /* device MMIO window area, [next, end) still free */
	uint64_t pci_next, pci_end;            /* the PCI memory window, where BARs start out */
	unsigned irq_pool[RESOURCES_MAX_IRQS]; /* lines handed out by resources_alloc_irq(), in order */
	unsigned irq_pool_size;
	unsigned nclaims;
	struct resource_claim claims[RESOURCES_MAX_CLAIMS];
};

/* An empty allocator: MMIO windows from [mmio_base, mmio_end), interrupt lines from irqs[0..nirqs). */
void resources_init(struct resources *r, uint64_t mmio_base, uint64_t mmio_end, const unsigned *irqs,
		    unsigned nirqs);

/* vmon's x86 PC: the virtio-mmio window area and the ISA lines no legacy device uses (arch/x86/layout.h). */
void resources_init_x86(struct resources *r);

/* Fixed claims. 0, or -EEXIST naming the earlier owner, -ENOSPC, -EINVAL for an empty or wrapping range. */
int resources_claim_pio(struct resources *r, uint64_t base, uint64_t len, const char *owner, struct vmon_error *err);
int resources_claim_mmio(struct resources *r, uint64_t base, uint64_t len, const char *owner,
			 struct vmon_error *err);
int resources_claim_irq(struct resources *r, unsigned gsi, const char *owner, struct vmon_error *err);

/* Claims every resource a device lists (its ports, windows and lines), so nothing else is handed the same. */
int resources_claim_device(struct resources *r, const char *owner, const struct device_resource *res, unsigned n,
			   struct vmon_error *err);

/*
 * A device of fixed resources joins the machine: added to reg (which then
 * owns and destroys it) and its resources claimed. If reg refuses it, the
 * device is destroyed here.
 */
int resources_add_device(struct resources *r, struct device_registry *reg, const char *name,
			 const struct device_ops *ops, void *dev, const struct device_resource *res, unsigned n,
			 struct vmon_error *err);

/* The next free MMIO window of len bytes aligned to align (a power of 2). 0, -ENOSPC or -EINVAL. */
int resources_alloc_mmio(struct resources *r, uint64_t len, uint64_t align, const char *owner, uint64_t *base,
			 struct vmon_error *err);
/* The PCI memory window BARs are placed in (empty until set). */
void resources_set_pci_window(struct resources *r, uint64_t base, uint64_t end);
/* A BAR's initial address: the next free naturally aligned len bytes (a power of 2) of the PCI window. */
int resources_alloc_pci_bar(struct resources *r, uint64_t len, const char *owner, uint64_t *base,
			    struct vmon_error *err);
/* The next free interrupt line of the pool. 0 or -ENOSPC. */
int resources_alloc_irq(struct resources *r, const char *owner, unsigned *gsi, struct vmon_error *err);

/* Gives back everything owner holds (a device going away). Returns how many claims went. */
unsigned resources_release(struct resources *r, const char *owner);

#endif
