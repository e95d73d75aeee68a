/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_MACHINE_H
#define VMON_VMM_MACHINE_H

#include <stdbool.h>
#include <time.h>

#include "arch/x86/boot.h"
#include "base/error.h"
#include "base/guest_mem.h"
#include "vmm/config.h"
#include "vmm/host_profile.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm.h"

/*
 * A machine, from its description (vm_config) to its exit status, in steps
 * that a boot and a restore share:
 *
 *   boot:     machine_prepare -> machine_load -> machine_build -> machine_boot -> machine_run
 *   restore:  machine_prepare -> machine_build -> (states restored)         -> machine_run
 *
 * machine_prepare: the host profile, every device backend (images, sockets,
 *   networks) and guest memory — all that user input can make fail, and no
 *   KVM yet, so a bad image or socket is a usage error on any host.
 * machine_load: the kernel, initrd and firmware tables into guest memory.
 * machine_build: the KVM VM with its in-kernel devices, the devices on their
 *   buses, and the vCPUs with their CPUID, MSRs and LAPIC — no boot state.
 * machine_boot: the boot protocol's entry state on vCPU 0.
 *
 * Each step returns 0, or the process exit status to end with (VMON_EXIT_USAGE
 * for bad input, VMON_EXIT_HOST_ERROR for the host), err saying why.
 * machine_destroy undoes whatever ran, in any state.
 */
/*
 * Whoever serves guest RAM's page faults when the kernel does not (a
 * restore's userfaultfd backend): machine_destroy stops it first, once every
 * thread that touched guest RAM has ended and while the VM still exists.
 */
struct machine_mem_server {
	void (*stop)(void *ctx);
	void *ctx;
};

struct machine {
	const struct vm_config *cfg;
	struct timespec start;              /* vmon's start: the origin of run and boot times */
	struct host_profile profile;
	struct resources resources;         /* ports, MMIO windows and lines of every device */
	struct virtio_devices *virtio;
	struct guest_mem mem;               /* owned here until machine_build hands it to the VM */
	struct boot_result boot;
	bool loaded;
	struct vm *vm;                      /* NULL before machine_build */
	struct machine_mem_server mem_server;
};

int machine_prepare(struct machine *m, const struct vm_config *cfg, const struct timespec *start,
		    struct vmon_error *err);
int machine_load(struct machine *m, struct vmon_error *err);
int machine_build(struct machine *m, struct vmon_error *err);
int machine_boot(struct machine *m, struct vmon_error *err);
/* Runs until the guest or the user stops it; returns vmon's exit status. */
int machine_run(struct machine *m);
void machine_destroy(struct machine *m);

#endif
