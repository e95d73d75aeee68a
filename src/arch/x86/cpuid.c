/* SPDX-License-Identifier: MIT */
#include "arch/x86/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Leaves whose output depends on ECX (the subleaf index), per the SDM. */
static int leaf_has_subleaves(uint32_t function)
{
	switch (function) {
	case 0x4: case 0x7: case 0xb: case 0xd: case 0xf: case 0x10: case 0x12: case 0x14:
	case 0x17: case 0x18: case 0x1d: case 0x1e: case 0x1f: case 0x20: case 0x23: case 0x24:
	case 0x8000001d: case 0x80000020:
		return 1;
	default:
		return 0;
	}
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function != function)
			continue;
		if (!leaf_has_subleaves(function) || e->index == index)
			return e;
	}
	return NULL;
}

struct kvm_cpuid2 *cpuid_alloc(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (c)
		c->nent = CPUID_MAX_ENTRIES;
	return c;
}

static struct kvm_cpuid_entry2 *cpuid_add(struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index,
					  uint32_t flags)
{
	struct kvm_cpuid_entry2 *e;

	if (cpuid->nent >= CPUID_MAX_ENTRIES)
		return NULL;
	e = &cpuid->entries[cpuid->nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	return e;
}

/* Bits needed to number n items (x2APIC ID shift widths). */
static unsigned order_base_2(unsigned n)
{
	unsigned bits = 0;
	while ((1u << bits) < n)
		bits++;
	return bits;
}

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

int cpuid_configure(struct kvm_cpuid2 *cpuid, unsigned vcpu_index, unsigned ncpus, struct vmon_error *err)
{
	struct kvm_cpuid_entry2 *e;
	unsigned core_bits = order_base_2(ncpus);
	uint32_t apic_id = vcpu_index;

	if (ncpus == 0 || vcpu_index >= ncpus)
		return error_set(err, -EINVAL, "cpuid: vCPU %u of %u is out of range", vcpu_index, ncpus);

	e = cpuid_find(cpuid, 1, 0);
	if (!e)
		return error_set(err, -ENOENT, "cpuid: KVM reports no leaf 1");
	/*
	 * EBX[31:24] initial APIC ID, [23:16] addressable logical processors: an
	 * 8-bit field, so 255 stands for the 256 IDs of 129..254 CPUs (a 256 would
	 * spill into the APIC ID).
	 */
	unsigned addressable = ncpus > 1 ? (1u << core_bits) : 1u;
	if (addressable > 0xff)
		addressable = 0xff;
	e->ebx = (e->ebx & 0x0000ffffu) | ((apic_id & 0xffu) << 24) | (addressable << 16);
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	if (ncpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;

	/* Leaf 4 (Intel deterministic cache): EAX[31:26] cores per package - 1, [25:14] sharing threads - 1. */
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *c = &cpuid->entries[i];
		if (c->function != 4 || (c->eax & 0x1f) == 0)
			continue;
		c->eax &= 0x00003fffu;
		/* 6- and 12-bit fields: 64 cores per package at most here. */
		c->eax |= (((1u << core_bits) - 1) & 0x3fu) << 26;
		/* L1/L2 are per core; the L3 (level 3) is shared by the package. */
		if (((c->eax >> 5) & 7) == 3)
			c->eax |= (((1u << core_bits) - 1) & 0xfffu) << 14;
	}

	/* Leaves 0xb and 0x1f (extended topology): level 0 = SMT (1 thread), level 1 = core (ncpus). */
	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x14) {
		for (uint32_t i = 0; i < cpuid->nent; i++) {
			struct kvm_cpuid_entry2 *c = &cpuid->entries[i];
			if (c->function != leaf)
				continue;
			c->edx = apic_id;
			switch (c->index) {
			case 0:
				c->eax = 0;
				c->ebx = 1;
				c->ecx = (1u << 8) | 0;
				break;
			case 1:
				c->eax = core_bits;
				c->ebx = ncpus;
				c->ecx = (2u << 8) | 1;
				break;
			default:
				c->eax = 0;
				c->ebx = 0;
				c->ecx = c->index & 0xff;
				break;
			}
		}
	}

	/* AMD: 0x80000008 ECX[7:0] NC = cores - 1, [15:12] ApicIdCoreIdSize. */
	e = cpuid_find(cpuid, 0x80000008, 0);
	if (e)
		e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | (core_bits << 12);

	/* Hypervisor leaves: KVM signature, so Linux turns on kvmclock and friends. */
	e = cpuid_find(cpuid, CPUID_KVM_SIGNATURE_LEAF, 0);
	if (!e) {
		e = cpuid_add(cpuid, CPUID_KVM_SIGNATURE_LEAF, 0, 0);
		if (!e)
			return error_set(err, -ENOSPC, "cpuid: no room for the KVM signature leaf");
	}
	if (e->eax < CPUID_KVM_FEATURES_LEAF)
		e->eax = CPUID_KVM_FEATURES_LEAF;
	memcpy(&e->ebx, "KVMK", 4);
	memcpy(&e->ecx, "VMKV", 4);
	memcpy(&e->edx, "M\0\0\0", 4);
	if (!cpuid_find(cpuid, CPUID_KVM_FEATURES_LEAF, 0) && !cpuid_add(cpuid, CPUID_KVM_FEATURES_LEAF, 0, 0))
		return error_set(err, -ENOSPC, "cpuid: no room for the KVM features leaf");
	return 0;
}
