/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_SUPPORTED_CPUID_H
#define VMON_VMM_SUPPORTED_CPUID_H

#include <pthread.h>
#include <stdbool.h>

#include "base/error.h"

struct kvm_cpuid2;

/*
 * KVM_GET_SUPPORTED_CPUID, asked once per VM and on a helper thread while
 * the VM is being built. The ioctl runs CPUID for every leaf in the host
 * kernel, which is slow where the host is itself a guest (0.26 ms on the
 * PVM host, a trap per leaf: the largest single step of vmon's start-up
 * there); the VM's set-up (KVM_CREATE_VM, memory, irqchip, PIT) overlaps it,
 * and every vCPU takes a copy of the one answer.
 */
struct supported_cpuid {
	pthread_t thread;
	bool started;          /* the helper thread runs or ran; joined by the first take */
	bool done;
	int kvm_fd;
	int error;             /* 0 or a negative errno from the ioctl */
	struct kvm_cpuid2 *cpuid;
};

/*
 * Starts asking on a helper thread (asks when take() is called instead if
 * the thread cannot start). kvm_fd must stay open until take() or
 * supported_cpuid_destroy().
 */
void supported_cpuid_start(struct supported_cpuid *q, int kvm_fd);

/*
 * Waits for the answer and copies it into out (room for CPUID_MAX_ENTRIES);
 * 0, or a negative errno with err saying why.
 */
int supported_cpuid_take(struct supported_cpuid *q, struct kvm_cpuid2 *out, struct vmon_error *err);

/* Joins the helper thread if it still runs; frees the answer. */
void supported_cpuid_destroy(struct supported_cpuid *q);

#endif
