/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_SUPPORTED_CPUID_H
#define VMON_VMM_SUPPORTED_CPUID_H

#include "base/error.h"

struct kvm_cpuid2;

/*
 * KVM_GET_SUPPORTED_CPUID, asked once per VM and copied by every vCPU. The
 * ioctl runs CPUID for every leaf in the host kernel, which is slow where the
 * host is itself a guest (0.26 ms on the PVM host, a trap per leaf: the
 * largest single step of vmon's start-up there). Asking it on a helper thread
 * while the VM was built made start-up slower there, not faster (measured:
 * the VM ioctls meanwhile waited for it; docs/PERFORMANCE.md, "Start-up").
 */
struct supported_cpuid {
	struct kvm_cpuid2 *cpuid;   /* NULL until the first take */
};

/*
 * Copies the answer (asked of kvm_fd the first time) into out, which has
 * room for CPUID_MAX_ENTRIES; 0, or a negative errno with err saying why.
 */
int supported_cpuid_take(struct supported_cpuid *q, int kvm_fd, struct kvm_cpuid2 *out, struct vmon_error *err);

void supported_cpuid_destroy(struct supported_cpuid *q);

#endif
