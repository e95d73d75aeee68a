/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_CPUID_H
#define VMON_X86_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#include "base/error.h"

/*
 * The CPUID a vCPU sees: KVM_GET_SUPPORTED_CPUID, adjusted so the topology
 * leaves describe this VM (one package of ncpus cores, one thread per core)
 * and the hypervisor leaves carry the KVM signature. Pure data transformation:
 * unit-tested.
 */
#define CPUID_MAX_ENTRIES 256

struct kvm_cpuid2;

/* Finds (function, index); index is ignored for leaves without subleaves. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function, uint32_t index);

/*
 * Rewrites cpuid in place for vCPU vcpu_index of ncpus. Entries must have room
 * for CPUID_MAX_ENTRIES (leaves may be added).
 */
int cpuid_configure(struct kvm_cpuid2 *cpuid, unsigned vcpu_index, unsigned ncpus, struct vmon_error *err);

/* Allocates a struct kvm_cpuid2 with room for CPUID_MAX_ENTRIES entries. */
struct kvm_cpuid2 *cpuid_alloc(void);

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_KVM_SIGNATURE_LEAF 0x40000000u
#define CPUID_KVM_FEATURES_LEAF 0x40000001u

#endif
