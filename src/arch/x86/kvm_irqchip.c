/* SPDX-License-Identifier: MIT */
/* "kvm-irqchip": KVM's in-kernel 8259 pair and IOAPIC as one device (KVM_GET/SET_IRQCHIP). */
#include "arch/x86/kvm_devices.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/log.h"

_Static_assert(sizeof(struct kvm_irqchip_ioapic) == sizeof(struct kvm_ioapic_state), "ioapic mirror");
_Static_assert(offsetof(struct kvm_ioapic_state, redirtbl) == offsetof(struct kvm_irqchip_ioapic, redirtbl),
	       "ioapic mirror");
_Static_assert(sizeof(struct kvm_pic_state) == 16, "kvm_pic_state layout");

/* ELCR bits that exist: IRQ 0-2 (master) and 8 and 13 (slave) are always edge (KVM's i8259.c). */
static const uint8_t elcr_mask[2] = { 0xf8, 0xde };
static const int chip_ids[3] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC };
static const char *const chip_names[3] = { "PIC master", "PIC slave", "IOAPIC" };

const struct device_resource kvm_irqchip_resources[KVM_IRQCHIP_NRES] = {
	{ DEVICE_RES_PIO, 0x20, 2 },
	{ DEVICE_RES_PIO, 0xa0, 2 },
	{ DEVICE_RES_PIO, 0x4d0, 2 },
	{ DEVICE_RES_MMIO, KVM_IOAPIC_BASE, 0x1000 },
};

struct kvm_irqchip_dev {
	int vm_fd;
	struct kvm_irqchip_state power_on;
};

/* Reads the three chips; 0 or -errno with err naming the chip. */
static int read_chips(int vm_fd, struct kvm_irqchip_state *s, struct vmon_error *err)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 3; i++) {
		struct kvm_irqchip chip = { .chip_id = (uint32_t)chip_ids[i] };
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			return error_set(err, -errno, "KVM_GET_IRQCHIP (%s): %s", chip_names[i], strerror(errno));
		if (i < 2)
			s->pic[i] = chip.chip.pic;
		else
			memcpy(&s->ioapic, &chip.chip.ioapic, sizeof(s->ioapic));
	}
	return 0;
}

static int write_chips(int vm_fd, const struct kvm_irqchip_state *s, struct vmon_error *err)
{
	for (int i = 0; i < 3; i++) {
		struct kvm_irqchip chip = { .chip_id = (uint32_t)chip_ids[i] };
		if (i < 2)
			chip.chip.pic = s->pic[i];
		else
			memcpy(&chip.chip.ioapic, &s->ioapic, sizeof(s->ioapic));
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			return error_set(err, -errno, "KVM_SET_IRQCHIP (%s): %s", chip_names[i], strerror(errno));
	}
	return 0;
}

static int check_pic(const struct kvm_pic_state *p, int i, struct vmon_error *err)
{
	const char *name = chip_names[i];

	if (p->elcr_mask != elcr_mask[i])
		return error_set(err, -EINVAL, "%s: elcr_mask 0x%02x, the chip's is 0x%02x", name, p->elcr_mask,
				 elcr_mask[i]);
	if (p->elcr & ~p->elcr_mask)
		return error_set(err, -EINVAL, "%s: elcr 0x%02x sets edge-only lines (mask 0x%02x)", name, p->elcr,
				 p->elcr_mask);
	if (p->priority_add > 7)
		return error_set(err, -EINVAL, "%s: priority_add %u above 7", name, p->priority_add);
	if (p->irq_base & 7)
		return error_set(err, -EINVAL, "%s: irq_base 0x%02x is not a multiple of 8", name, p->irq_base);
	if (p->init_state > 3)
		return error_set(err, -EINVAL, "%s: init_state %u above 3", name, p->init_state);
	if (p->read_reg_select > 1 || p->poll > 1 || p->special_mask > 1 || p->auto_eoi > 1 ||
	    p->rotate_on_auto_eoi > 1 || p->special_fully_nested_mode > 1 || p->init4 > 1)
		return error_set(err, -EINVAL, "%s: a mode flag (read_reg_select/poll/special_mask/auto_eoi/"
				 "rotate_on_auto_eoi/special_fully_nested_mode/init4) is not 0 or 1", name);
	return 0;
}

int kvm_irqchip_state_check(const struct kvm_irqchip_state *s, struct vmon_error *err)
{
	const struct kvm_irqchip_ioapic *io = &s->ioapic;
	int r;

	if (s->save_errno)
		return error_set(err, -EINVAL, "the irqchip state is incomplete: KVM_GET_IRQCHIP failed when it was "
				 "saved (%s)", strerror((int)s->save_errno));
	if (s->pad)
		return error_set(err, -EINVAL, "irqchip state pad %u is not zero", s->pad);
	for (int i = 0; i < 2; i++)
		if ((r = check_pic(&s->pic[i], i, err)))
			return r;
	/* KVM routes the IOAPIC's MMIO by the address it was created at; the state cannot move it. */
	if (io->base_address != KVM_IOAPIC_BASE)
		return error_set(err, -EINVAL, "IOAPIC: base_address 0x%llx, KVM's is 0x%llx",
				 (unsigned long long)io->base_address, KVM_IOAPIC_BASE);
	if (io->ioregsel > 0xff)
		return error_set(err, -EINVAL, "IOAPIC: ioregsel 0x%x is wider than 8 bits", io->ioregsel);
	if (io->id > 15)
		return error_set(err, -EINVAL, "IOAPIC: id %u is wider than 4 bits", io->id);
	if (io->irr >> KVM_IOAPIC_PINS)
		return error_set(err, -EINVAL, "IOAPIC: irr 0x%x names pins above %u", io->irr, KVM_IOAPIC_PINS - 1);
	if (io->pad)
		return error_set(err, -EINVAL, "IOAPIC: pad %u is not zero", io->pad);
	/* Redirection entries: every bit pattern is one a guest can write; KVM keeps them as written. */
	return 0;
}

void *kvm_irqchip_dev_create(int vm_fd, struct vmon_error *err)
{
	struct kvm_irqchip_dev *d = calloc(1, sizeof(*d));

	if (!d) {
		error_set(err, -ENOMEM, "out of memory for the kvm-irqchip device");
		return NULL;
	}
	d->vm_fd = vm_fd;
	if (read_chips(vm_fd, &d->power_on, err)) {
		free(d);
		return NULL;
	}
	return d;
}

/*
 * A machine reset: both PICs and the IOAPIC back to the state KVM created
 * them in (PICs uninitialised with ICWs pending, IOAPIC entries masked).
 * The LAPICs belong to the vCPUs.
 */
static void irqchip_reset(void *dev)
{
	struct kvm_irqchip_dev *d = dev;
	struct vmon_error err = { 0 };

	if (write_chips(d->vm_fd, &d->power_on, &err))
		log_error("kvm-irqchip reset: %s", err.msg);
}

static void irqchip_save(void *dev, void *state)
{
	struct kvm_irqchip_dev *d = dev;
	struct kvm_irqchip_state *s = state;
	struct vmon_error err = { 0 };

	if (read_chips(d->vm_fd, s, &err)) {
		log_error("kvm-irqchip save: %s", err.msg);
		s->save_errno = (uint32_t)-err.code;
	}
}

static int irqchip_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct kvm_irqchip_dev *d = dev;
	struct kvm_irqchip_state s, before;
	struct vmon_error ignored = { 0 };
	int r;

	memcpy(&s, state, sizeof(s));
	if ((r = kvm_irqchip_state_check(&s, err)))
		return r;
	/* KVM takes the chips one by one: keep what was there, to put it back if a later one fails. */
	if ((r = read_chips(d->vm_fd, &before, err)))
		return r;
	if ((r = write_chips(d->vm_fd, &s, err)) && write_chips(d->vm_fd, &before, &ignored))
		log_error("kvm-irqchip: could not put the previous state back: %s", ignored.msg);
	return r;
}

static void irqchip_destroy(void *dev)
{
	free(dev);
}

const struct device_ops kvm_irqchip_device_ops = {
	.kind = "kvm-irqchip",
	.state_version = KVM_IRQCHIP_STATE_VERSION,
	.state_size = sizeof(struct kvm_irqchip_state),
	.reset = irqchip_reset,
	.save = irqchip_save,
	.restore = irqchip_restore,
	.destroy = irqchip_destroy,
};

/* ---- GSI routing ------------------------------------------------------------ */

#define DEFAULT_ROUTES (KVM_IOAPIC_PINS + 16)

void kvm_gsi_routes_init(struct kvm_gsi_routes *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
}

void kvm_gsi_routes_destroy(struct kvm_gsi_routes *r)
{
	pthread_mutex_destroy(&r->lock);
}

int kvm_gsi_routes_alloc_msi(struct kvm_gsi_routes *r)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	if (r->nmsi < KVM_MSI_ROUTES_MAX)
		gsi = (int)(KVM_MSI_GSI_BASE + r->nmsi++);
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

/* The table KVM_CREATE_IRQCHIP starts with (kvm/irq_comm.c), then the MSI routes that are set. Lock held. */
static int push_routes(struct kvm_gsi_routes *r)
{
	size_t n = 0, cap = DEFAULT_ROUTES + r->nmsi;
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + cap * sizeof(t->entries[0]));
	int ret = 0;

	if (!t)
		return -ENOMEM;
	for (unsigned gsi = 0; gsi < KVM_IOAPIC_PINS; gsi++) {
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi } };
		if (gsi < 16)
			t->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 } };
	}
	for (unsigned i = 0; i < r->nmsi; i++)
		if (r->msi[i].set)
			t->entries[n++] = (struct kvm_irq_routing_entry){
				.gsi = KVM_MSI_GSI_BASE + i, .type = KVM_IRQ_ROUTING_MSI,
				.u.msi = { .address_lo = (uint32_t)r->msi[i].address,
					   .address_hi = (uint32_t)(r->msi[i].address >> 32), .data = r->msi[i].data } };
	t->nr = (uint32_t)n;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		ret = -errno;
	free(t);
	return ret;
}

int kvm_gsi_routes_set_msi(struct kvm_gsi_routes *r, unsigned gsi, uint64_t address, uint32_t data)
{
	int ret;

	pthread_mutex_lock(&r->lock);
	if (gsi < KVM_MSI_GSI_BASE || gsi - KVM_MSI_GSI_BASE >= r->nmsi) {
		pthread_mutex_unlock(&r->lock);
		return -EINVAL;
	}
	unsigned i = gsi - KVM_MSI_GSI_BASE;
	__typeof__(r->msi[0]) before = r->msi[i];
	r->msi[i].set = true;
	r->msi[i].address = address;
	r->msi[i].data = data;
	if ((ret = push_routes(r)) < 0)
		r->msi[i] = before;
	pthread_mutex_unlock(&r->lock);
	return ret;
}
