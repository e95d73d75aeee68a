/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_EMULATION_EXIT_H
#define VMON_X86_EMULATION_EXIT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/emulate.h"

/*
 * The KVM side of monitor-side emulation (emulate.h) at a
 * KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION exit, as pure code:
 * what to take from kvm_run, which extra vCPU state the emulator needs, and
 * the emulation with a raised guest fault delivered through the guest IDT.
 * The caller (vcpu.c) only does the ioctls:
 *
 *   KVM_GET_REGS/KVM_GET_SREGS into cpu.regs/cpu.sregs, cpu.mem = guest RAM;
 *   x86_emu_exit_prepare(run, &cpu, &exit);
 *   exit.need_syscall_msrs: KVM_GET_MSRS MSR_STAR, MSR_LSTAR into cpu.msr_star/msr_lstar;
 *   res = x86_emu_exit_run(&cpu, &exit, stats, &rep);
 *   NEED_FPU (x87/SSE state instructions, nothing changed yet): KVM_GET_XSAVE
 *         into a struct kvm_xsave, cpu.fpu = it, cpu.mxcsr_mask =
 *         x86_fx_host_mxcsr_mask(); run again;
 *   DONE: KVM_SET_SREGS if cpu.dirty & X86_EMU_DIRTY_SREGS, then KVM_SET_REGS
 *         if cpu.dirty & X86_EMU_DIRTY_REGS, KVM_SET_XSAVE if X86_EMU_DIRTY_FPU;
 *         KVM_RUN again.
 *   otherwise: log rep.msg.msg and stop the VM.
 */
struct x86_emu_exit {
	uint8_t insn[X86_EMU_MAX_INSN];   /* what KVM reported, copied out of the shared kvm_run */
	size_t insn_len;                  /* 0: KVM gave none; the emulator fetches at CS:RIP */
	bool need_syscall_msrs;           /* the state looks like a broken syscall (x86_emu_syscall_suspect) */
};

/* After KVM_GET_REGS/KVM_GET_SREGS: the instruction bytes and what else to read. */
void x86_emu_exit_prepare(const struct kvm_run *run, const struct x86_emu_cpu *cpu, struct x86_emu_exit *exit);

/* Emulates (or repairs the syscall); a guest fault is delivered through the IDT. */
enum x86_emu_result x86_emu_exit_run(struct x86_emu_cpu *cpu, const struct x86_emu_exit *exit,
				     struct x86_emu_stats *stats, struct x86_emu_report *rep);

#endif
