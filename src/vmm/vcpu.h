/* SPDX-License-Identifier: MIT */
#ifndef VMON_VCPU_H
#define VMON_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "arch/x86/boot.h"
#include "arch/x86/emulate.h"
#include "arch/x86/vcpu_state.h"
#include "base/error.h"
#include "vmm/stats.h"

struct vm;

/* One virtual CPU: its KVM fd, the shared kvm_run page, and the thread running it. */
struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	struct vcpu_stats stats;
	struct x86_emu_stats emu_stats;   /* instructions vmon emulated for KVM (host profile) */
	/* Watchdog: exits seen (bumped by the vCPU thread), and the main loop's request to look at RIP. */
	atomic_uint_fast64_t progress;
	atomic_bool watchdog_check;
	uint64_t watchdog_seen_progress;   /* main loop only */
	uint64_t watchdog_suspect_rip;     /* vCPU thread only: RIP of a hypercall seen at the last check */
};

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index, struct vmon_error *err);
void vcpu_destroy(struct vcpu *vcpu);

/* What a vCPU needs whether it boots or is restored: CPUID, MSRs, LAPIC wiring. */
int vcpu_configure(struct vcpu *vcpu, struct vmon_error *err);

/* The boot protocol's entry registers (a fresh boot only). */
int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_result *boot, struct vmon_error *err);

/*
 * A parked vCPU's state (vm_pause), and loading one into it. vcpu_scramble
 * overwrites what the guest can see (registers, segments, LAPIC) with the
 * boot entry state of nothing in particular: for save/restore tests.
 */
int vcpu_save(struct vcpu *vcpu, struct x86_vcpu_state *st, struct vmon_error *err);
int vcpu_restore(struct vcpu *vcpu, const struct x86_vcpu_state *st, struct vmon_error *err);
int vcpu_scramble(struct vcpu *vcpu, struct vmon_error *err);

int vcpu_start(struct vcpu *vcpu, struct vmon_error *err);
/*
 * The boot vCPU on the calling thread instead, so that its first KVM_RUN
 * waits for no thread to be created and scheduled (docs/PERFORMANCE.md,
 * "Start-up"): vcpu_claim_caller() makes it kickable, before any other
 * thread may kick it; vcpu_run_here() runs it until it stops, with the
 * kick signal unblocked only meanwhile. vcpu_join() then joins nothing.
 */
void vcpu_claim_caller(struct vcpu *vcpu);
void vcpu_run_here(struct vcpu *vcpu);
/* Makes a KVM_RUN in progress (or about to start) return promptly. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/*
 * Main loop, every watchdog period: a vCPU that made no exit since the last
 * call is kicked to check whether it sits on an instruction this host never
 * completes (e.g. vmcall on PVM). Two checks in a row on the same one stop
 * the VM with a message naming it.
 */
void vcpu_watchdog_tick(struct vcpu *vcpu);

/* Prints registers (and the bytes at RIP when translatable) for post-mortems. */
void vcpu_dump_state(struct vcpu *vcpu, FILE *out);

/* Installs the no-op handler of the kick signal; call once before vCPU threads start. */
int vcpu_install_kick_handler(struct vmon_error *err);

#endif
