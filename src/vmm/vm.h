/* SPDX-License-Identifier: MIT */
#ifndef VMON_VM_H
#define VMON_VM_H

#include <stdatomic.h>
#include <stdbool.h>

#include "arch/x86/boot.h"
#include "devices/device.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "base/guest_mem.h"
#include "vmm/host_profile.h"
#include "base/io_bus.h"
#include "vmm/legacy.h"
#include "vmm/stats.h"
#include "vmm/supported_cpuid.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_devices.h"

/*
 * A virtual machine: the KVM VM fd, guest memory, the two I/O buses, the
 * devices, the vCPUs, and the stop state every thread may set once.
 */
struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct supported_cpuid supported_cpuid;   /* asked once, copied by each vCPU */
	struct guest_mem mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct device_host host;
	struct legacy_devices legacy;
	struct console console;
	struct host_profile profile;
	unsigned ncpus;
	struct vcpu *vcpus;
	struct virtio_devices *virtio;   /* borrowed: opened and closed by the caller; NULL or empty: none */

	atomic_int stop_reason;       /* enum vm_stop_reason; first writer wins */
	int exit_status;              /* written by that first writer */
	int stop_eventfd;             /* wakes the main loop on a stop request */
	struct timespec start_time;
};

/*
 * Opens KVM and builds the VM around guest memory: irqchip, PIT, devices, and
 * vCPUs configured (CPUID, MSRs, LAPIC) but without boot state. Takes
 * ownership of *mem (and zeroes the caller's copy), on failure too. virtio:
 * devices opened by virtio_devices_open(), attached here, detached by
 * vm_destroy(). start: when vmon started (CLOCK_MONOTONIC), the origin of run
 * and boot times.
 */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct guest_mem *mem, const struct host_profile *profile,
	      const struct timespec *start, struct virtio_devices *virtio, struct vmon_error *err);

/* The boot protocol's entry state on the boot vCPU. */
int vm_boot(struct vm *vm, const struct boot_result *boot, struct vmon_error *err);

/* Runs until the guest or the user stops it; returns vmon's exit status. */
int vm_run(struct vm *vm);

void vm_destroy(struct vm *vm);

/* Any thread: records the first stop request and wakes everyone. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status);

static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_STOP_NONE;
}

#endif
