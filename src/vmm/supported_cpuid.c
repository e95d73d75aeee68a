/* SPDX-License-Identifier: MIT */
#include "vmm/supported_cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpuid.h"

int supported_cpuid_take(struct supported_cpuid *q, int kvm_fd, struct kvm_cpuid2 *out, struct vmon_error *err)
{
	if (!q->cpuid) {
		struct kvm_cpuid2 *cpuid = cpuid_alloc();

		if (!cpuid)
			return error_set(err, -ENOMEM, "out of memory for CPUID");
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
			int e = errno;
			free(cpuid);
			return error_set(err, -e, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
		}
		q->cpuid = cpuid;
	}
	if (q->cpuid->nent > CPUID_MAX_ENTRIES)
		return error_set(err, -E2BIG, "KVM_GET_SUPPORTED_CPUID returned %u entries, room for %u",
				 q->cpuid->nent, CPUID_MAX_ENTRIES);
	out->nent = q->cpuid->nent;
	memcpy(out->entries, q->cpuid->entries, q->cpuid->nent * sizeof(out->entries[0]));
	return 0;
}

void supported_cpuid_destroy(struct supported_cpuid *q)
{
	free(q->cpuid);
	q->cpuid = NULL;
}
