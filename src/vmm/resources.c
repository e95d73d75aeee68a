/* SPDX-License-Identifier: MIT */
#include "vmm/resources.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/layout.h"

static const char *const kind_names[] = { "I/O ports", "MMIO", "interrupt line" };

void resources_init(struct resources *r, uint64_t mmio_base, uint64_t mmio_end, const unsigned *irqs,
		    unsigned nirqs)
{
	memset(r, 0, sizeof(*r));
	r->mmio_next = mmio_base;
	r->mmio_end = mmio_end;
	if (nirqs > RESOURCES_MAX_IRQS)
		nirqs = RESOURCES_MAX_IRQS;
	memcpy(r->irq_pool, irqs, nirqs * sizeof(*irqs));
	r->irq_pool_size = nirqs;
}

void resources_init_x86(struct resources *r)
{
	static const unsigned irqs[] = X86_VIRTIO_GSIS;

	resources_init(r, X86_VIRTIO_MMIO_BASE, X86_IOAPIC_ADDR, irqs, sizeof(irqs) / sizeof(irqs[0]));
	resources_set_pci_window(r, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END);
}

void resources_set_pci_window(struct resources *r, uint64_t base, uint64_t end)
{
	r->pci_next = base;
	r->pci_end = end;
}

static bool overlaps(const struct resource_claim *c, enum resource_kind kind, uint64_t base, uint64_t len)
{
	return c->kind == kind && base <= c->base + c->len - 1 && c->base <= base + len - 1;
}

static int claim(struct resources *r, enum resource_kind kind, uint64_t base, uint64_t len, const char *owner,
		 struct vmon_error *err)
{
	if (len == 0 || base + len - 1 < base)
		return error_set(err, -EINVAL, "%s: %s range at 0x%llx length 0x%llx is empty or wraps", owner,
				 kind_names[kind], (unsigned long long)base, (unsigned long long)len);
	for (unsigned i = 0; i < r->nclaims; i++)
		if (overlaps(&r->claims[i], kind, base, len))
			return error_set(err, -EEXIST, "%s: %s 0x%llx..0x%llx are taken by %s", owner, kind_names[kind],
					 (unsigned long long)base, (unsigned long long)(base + len - 1),
					 r->claims[i].owner);
	if (r->nclaims >= RESOURCES_MAX_CLAIMS)
		return error_set(err, -ENOSPC, "%s: no room for more resource claims (%d)", owner,
				 RESOURCES_MAX_CLAIMS);
	struct resource_claim *c = &r->claims[r->nclaims++];
	c->kind = kind;
	c->base = base;
	c->len = len;
	snprintf(c->owner, sizeof(c->owner), "%s", owner);
	return 0;
}

int resources_claim_pio(struct resources *r, uint64_t base, uint64_t len, const char *owner, struct vmon_error *err)
{
	if (base + len > 0x10000)
		return error_set(err, -EINVAL, "%s: I/O ports 0x%llx+%llu go past 0xffff", owner,
				 (unsigned long long)base, (unsigned long long)len);
	return claim(r, RESOURCE_PIO, base, len, owner, err);
}

int resources_claim_mmio(struct resources *r, uint64_t base, uint64_t len, const char *owner,
			 struct vmon_error *err)
{
	return claim(r, RESOURCE_MMIO, base, len, owner, err);
}

int resources_claim_irq(struct resources *r, unsigned gsi, const char *owner, struct vmon_error *err)
{
	return claim(r, RESOURCE_IRQ, gsi, 1, owner, err);
}

int resources_claim_device(struct resources *r, const char *owner, const struct device_resource *res, unsigned n,
			   struct vmon_error *err)
{
	for (unsigned i = 0; i < n; i++) {
		int e = res[i].kind == DEVICE_RES_PIO    ? resources_claim_pio(r, res[i].base, res[i].len, owner, err)
			: res[i].kind == DEVICE_RES_MMIO ? resources_claim_mmio(r, res[i].base, res[i].len, owner, err)
							 : resources_claim_irq(r, (unsigned)res[i].base, owner, err);
		if (e)
			return e;
	}
	return 0;
}

int resources_add_device(struct resources *r, struct device_registry *reg, const char *name,
			 const struct device_ops *ops, void *dev, const struct device_resource *res, unsigned n,
			 struct vmon_error *err)
{
	int e = registry_add(reg, name, ops, dev, res, n, err);

	if (e) {
		/* Not in the registry: it would not be destroyed with it. */
		if (ops->destroy)
			ops->destroy(dev);
		return e;
	}
	return resources_claim_device(r, name, res, n, err);
}

/* First fit in [start, end): windows freed by hot-unplug are found again. */
static int alloc_in(struct resources *r, uint64_t start, uint64_t end, uint64_t len, uint64_t align,
		    const char *owner, uint64_t *base, struct vmon_error *err)
{
	if (!align || (align & (align - 1)) || !len)
		return error_set(err, -EINVAL, "%s: MMIO window of 0x%llx bytes aligned to 0x%llx is not valid", owner,
				 (unsigned long long)len, (unsigned long long)align);
	for (uint64_t at = (start + align - 1) & ~(align - 1); at + len <= end && at >= start; at += align) {
		bool taken = false;

		for (unsigned i = 0; i < r->nclaims && !taken; i++)
			taken = overlaps(&r->claims[i], RESOURCE_MMIO, at, len);
		if (taken)
			continue;
		*base = at;
		return claim(r, RESOURCE_MMIO, at, len, owner, err);
	}
	return error_set(err, -ENOSPC, "%s: no free MMIO window of 0x%llx bytes left", owner, (unsigned long long)len);
}

int resources_alloc_mmio(struct resources *r, uint64_t len, uint64_t align, const char *owner, uint64_t *base,
			 struct vmon_error *err)
{
	return alloc_in(r, r->mmio_next, r->mmio_end, len, align, owner, base, err);
}

int resources_alloc_pci_bar(struct resources *r, uint64_t len, const char *owner, uint64_t *base,
			    struct vmon_error *err)
{
	return alloc_in(r, r->pci_next, r->pci_end, len, len, owner, base, err);
}

int resources_alloc_irq(struct resources *r, const char *owner, unsigned *gsi, struct vmon_error *err)
{
	for (unsigned i = 0; i < r->irq_pool_size; i++) {
		bool taken = false;

		for (unsigned c = 0; c < r->nclaims && !taken; c++)
			taken = overlaps(&r->claims[c], RESOURCE_IRQ, r->irq_pool[i], 1);
		if (taken)
			continue;
		*gsi = r->irq_pool[i];
		return claim(r, RESOURCE_IRQ, *gsi, 1, owner, err);
	}
	return error_set(err, -ENOSPC, "%s: no free interrupt line left (vmon has %u for devices)", owner,
			 r->irq_pool_size);
}

unsigned resources_release(struct resources *r, const char *owner)
{
	unsigned kept = 0, released;

	for (unsigned i = 0; i < r->nclaims; i++)
		if (strcmp(r->claims[i].owner, owner))
			r->claims[kept++] = r->claims[i];
	released = r->nclaims - kept;
	r->nclaims = kept;
	return released;
}
