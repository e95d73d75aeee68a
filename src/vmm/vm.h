/* SPDX-License-Identifier: MIT */
#ifndef VMON_VM_H
#define VMON_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "arch/x86/boot.h"
#include "arch/x86/kvm_devices.h"
#include "arch/x86/vcpu_state.h"
#include "devices/device.h"
#include "devices/registry.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "base/guest_mem.h"
#include "vmm/host_profile.h"
#include "base/io_bus.h"
#include "vmm/legacy.h"
#include "vmm/resources.h"
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
	struct kvm_gsi_routes gsi_routes; /* KVM's GSI routing table: default routes + MSI-X vectors */
	bool gsi_routes_ready;
	struct resources *resources;     /* the machine's: who holds which ports, MMIO windows, lines */
	struct device_registry registry; /* every device: reset, pause/resume, save/restore, destroy */
	struct legacy_devices legacy;
	struct console console;
	struct host_profile profile;
	struct x86_vcpu_caps vcpu_caps;  /* what this host's KVM saves and restores of a vCPU */
	bool vcpu_caps_probed;           /* vcpu_caps read (at the first save or restore) */
	unsigned ncpus;
	struct vcpu *vcpus;
	struct virtio_devices *virtio;   /* borrowed: opened and closed by the caller; NULL or empty: none */
	bool dirty_logging;              /* vm_dirty_log_start'ed (src/vmm/dirty.h) */
	uint64_t *dirty_slot_bits;       /* KVM_GET_DIRTY_LOG's buffer, sized for the largest memslot */

	atomic_int stop_reason;       /* enum vm_stop_reason; first writer wins */
	int exit_status;              /* written by that first writer */
	int stop_eventfd;             /* wakes the main loop on a stop request */

	/*
	 * Pausing: vm_pause() raises pause_requested and kicks every vCPU; each
	 * completes its pending exit (a KVM_RUN with immediate_exit), parks and
	 * counts itself in vcpus_parked; vm_resume() lowers the flag and wakes them.
	 */
	pthread_mutex_t control_lock;     /* serialises vm_pause/vm_resume callers (API, save/restore timer) */
	unsigned pause_depth;             /* vm_pause calls not yet resumed: the first pauses, the last resumes */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;        /* parked count changed, or the flag dropped */
	atomic_bool pause_requested;
	unsigned vcpus_parked;
	unsigned vcpus_running;           /* threads started and not yet ended */
	uint64_t save_restore_rounds;     /* --test-save-restore rounds done */
	char initrd_summary[256];         /* what the host did to the initrd, for --stats ("" when nothing) */
	/* Stop signals handled (metrics; any thread may read them). */
	_Atomic uint64_t sigint_count, sigterm_count, sighup_count;
	struct timespec start_time;
	/* When set (vm_time_first_run): vCPU 0 logs its first KVM_RUN's delay since first_run_since. */
	const char *first_run_what;
	struct timespec first_run_since;
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
	      const struct timespec *start, struct resources *resources, struct virtio_devices *virtio,
	      struct vmon_error *err);

/* The boot protocol's entry state on the boot vCPU. */
int vm_boot(struct vm *vm, const struct boot_result *boot, struct vmon_error *err);

/*
 * vCPU 0 logs (info) how long after *since, CLOCK_MONOTONIC, its first KVM_RUN
 * starts, "after the <what>": the end of a restore as the guest sees it. Call
 * before vm_run.
 */
void vm_time_first_run(struct vm *vm, const struct timespec *since, const char *what);

/* Runs until the guest or the user stops it; returns vmon's exit status. */
int vm_run(struct vm *vm);

void vm_destroy(struct vm *vm);

/* The --stats report of a finished run: run time, exits, each virtio device's notifications and interrupts. */
void vm_print_stats(struct vm *vm, FILE *out);

/*
 * Any thread but a vCPU's: stops every vCPU outside KVM_RUN with its exit
 * completed, then pauses every device's own I/O; the VM's state is then still
 * and can be saved. vm_resume undoes it (devices first, then vCPUs). Calls
 * nest (the API's pause and a save/restore round may overlap): the first
 * vm_pause pauses, the matching last vm_resume resumes.
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/*
 * (Re)registers every guest RAM region as KVM memslot i (region i) with
 * these KVM_MEM_* flags: 0 at creation, KVM_MEM_LOG_DIRTY_PAGES to log.
 */
int vm_set_memory_slots(struct vm *vm, uint32_t flags, struct vmon_error *err);

/*
 * The locks of every drive's image (virtio_blk_lock): a live migration's
 * handover on one host. vm_lock_images takes all or none (on an error it lets
 * go of those it took); call both with the VM paused.
 */
int vm_lock_images(struct vm *vm, struct vmon_error *err);
void vm_unlock_images(struct vm *vm);

/* Another image behind the running drive drive_id (Firecracker's PATCH /drives). */
int vm_replace_drive_image(struct vm *vm, const char *drive_id, const char *path, struct vmon_error *err);
/* A running drive's / network interface's rate limiters (PATCH): new full buckets; -ENOENT for an unknown id. */
int vm_set_drive_rate_limiter(struct vm *vm, const char *drive_id, const struct rate_limiter_config *cfg,
			      struct vmon_error *err);
int vm_set_net_rate_limiters(struct vm *vm, const char *iface_id, const struct rate_limiter_config *rx,
			     const struct rate_limiter_config *tx, struct vmon_error *err);

/* Presses Ctrl-Alt-Del on the i8042 keyboard (Firecracker's SendCtrlAltDel). */
int vm_send_ctrl_alt_del(struct vm *vm, struct vmon_error *err);

/*
 * The whole machine state apart from guest memory: every registry device's
 * section and every vCPU's state. vm_save/vm_restore need a paused VM.
 */
struct vm_state {
	uint8_t *devices;
	size_t devices_size;
	struct x86_vcpu_state *vcpus;
	unsigned ncpus;
};

int vm_save(struct vm *vm, struct vm_state *st, struct vmon_error *err);
int vm_restore(struct vm *vm, const struct vm_state *st, struct vmon_error *err);
void vm_state_free(struct vm_state *st);

/*
 * One round of --test-save-restore: pause, save, reset every device and
 * vCPU, restore, resume. 0, or the error that stopped the round.
 */
int vm_test_save_restore(struct vm *vm, struct vmon_error *err);

/*
 * A vCPU starts (+1) or stops (-1) running on some thread: vm_pause() waits
 * for every running one to park. Counted before the thread exists, so a
 * pause right after the start waits for it too.
 */
void vm_count_running_vcpu(struct vm *vm, int delta);

/* vCPU threads: parks while a pause is requested (returns at once otherwise). */
void vm_park_vcpu(struct vm *vm);

/* Any thread: records the first stop request and wakes everyone. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status);

static inline bool vm_stopping(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_STOP_NONE;
}

#endif
