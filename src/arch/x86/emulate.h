/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_EMULATE_H
#define VMON_X86_EMULATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/x86/descriptor.h"
#include "arch/x86/fpu_image.h"
#include "arch/x86/page_walk.h"
#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Monitor-side emulation of the instructions KVM's emulator rejects on PVM
 * hosts (KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION; see
 * shared/notes/host-pvm.md): clac, stac, popcnt, int3 and int n; the x87/SSE
 * state instructions of Linux's FPU code (fwait, fnclex, ldmxcsr, stmxcsr,
 * and fxsave/fxrstor, which KVM's emulator refuses in 64-bit mode); plus the
 * repair of a CPL3 `syscall` that the host left without its privilege
 * switch. Pure code over a CPU-state struct: the caller does the ioctls.
 *
 * Use at an emulation-failure exit:
 *   KVM_GET_REGS/KVM_GET_SREGS into cpu.regs/cpu.sregs, cpu.mem = guest RAM;
 *   if (x86_emu_syscall_suspect(&cpu, NULL, NULL)) read MSR_STAR/MSR_LSTAR into cpu;
 *   res = x86_emu_emulation_failure(&cpu, insn_bytes, insn_size, &stats, &rep);
 *   NEED_FPU: KVM_GET_XSAVE into a struct kvm_xsave, cpu.fpu = it,
 *         cpu.mxcsr_mask = x86_fx_host_mxcsr_mask(); call again.
 *   DONE: KVM_SET_REGS if cpu.dirty & X86_EMU_DIRTY_REGS, KVM_SET_SREGS if
 *         cpu.dirty & X86_EMU_DIRTY_SREGS, KVM_SET_XSAVE if
 *         cpu.dirty & X86_EMU_DIRTY_FPU; KVM_RUN again.
 *   GUEST_FAULT: rep.fault is the exception the instruction raises (state is
 *         untouched): x86_emu_raise() delivers it through the guest IDT (or
 *         inject it with KVM_SET_VCPU_EVENTS).
 *   UNSUPPORTED / ERROR: log rep.msg.msg and stop the VM.
 */

#define X86_EMU_MAX_INSN 15   /* architectural instruction length limit */

struct x86_emu_cpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t msr_star, msr_lstar;  /* syscall repair only; 0 = not read */
	struct kvm_xsave *fpu;         /* x87/SSE state (KVM_GET_XSAVE, arch/x86/fpu_image.h); NULL = not read */
	uint32_t mxcsr_mask;           /* the CPU's MXCSR_MASK (x86_fx_host_mxcsr_mask); 0 = the default */
	const struct guest_mem *mem;
	unsigned dirty;                /* X86_EMU_DIRTY_*, OR-ed in by the emulator; the caller clears it */
};

#define X86_EMU_DIRTY_REGS  1u     /* write back with KVM_SET_REGS */
#define X86_EMU_DIRTY_SREGS 2u     /* write back with KVM_SET_SREGS */
#define X86_EMU_DIRTY_FPU   4u     /* write cpu.fpu back with KVM_SET_XSAVE */

enum x86_emu_result {
	X86_EMU_DONE,          /* state updated (see cpu.dirty) */
	X86_EMU_UNSUPPORTED,   /* not an instruction or mode we emulate; state untouched */
	X86_EMU_GUEST_FAULT,   /* the instruction raises rep.fault; state untouched */
	X86_EMU_ERROR,         /* guest state points outside RAM (page tables, IDT, operand in MMIO) */
	X86_EMU_TRIPLE_FAULT,  /* x86_emu_raise: #DF could not be delivered; the guest shuts down */
	X86_EMU_NEED_FPU,      /* the instruction works on cpu.fpu, which is NULL: read it, call again; untouched */
};

enum x86_emu_kind {
	X86_EMU_KIND_NONE,
	X86_EMU_KIND_CLAC,
	X86_EMU_KIND_STAC,
	X86_EMU_KIND_FWAIT,
	X86_EMU_KIND_POPCNT,
	X86_EMU_KIND_INT3,
	X86_EMU_KIND_INT_N,
	X86_EMU_KIND_FNCLEX,
	X86_EMU_KIND_LDMXCSR,
	X86_EMU_KIND_STMXCSR,
	X86_EMU_KIND_FXSAVE,           /* fxsave and fxsave64 */
	X86_EMU_KIND_FXRSTOR,          /* fxrstor and fxrstor64 */
	X86_EMU_KIND_SYSCALL_REPAIR,
	X86_EMU_KIND_EXCEPTION,        /* x86_emu_raise */
	X86_EMU_KIND_COUNT
};

/* Per-vCPU counts for --stats (merge them at the end). */
struct x86_emu_stats {
	uint64_t done[X86_EMU_KIND_COUNT];
	uint64_t guest_faults;
	uint64_t unsupported;
	uint64_t errors;
	uint64_t triple_faults;
};

struct x86_emu_report {
	enum x86_emu_kind kind;            /* what was recognised (NONE if nothing) */
	struct x86_fault fault;            /* GUEST_FAULT: the exception to raise */
	uint8_t insn[X86_EMU_MAX_INSN];    /* the bytes decoded */
	uint8_t insn_len;
	struct vmon_error msg;             /* one line for the log, for every result */
};

/*
 * Emulates the instruction at CS:RIP. bytes/len are what KVM reported
 * (emulation_failure.insn_bytes/insn_size); len may be 0 or short (KVM stops
 * fetching where its decoder gave up): the rest is fetched at CS:RIP through
 * the guest page tables. stats may be NULL.
 */
enum x86_emu_result x86_emu_instruction(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len,
					struct x86_emu_stats *stats, struct x86_emu_report *rep);

/*
 * The emulation-failure handler: as x86_emu_instruction, except that a clac
 * which x86_emu_syscall_check() recognises completes the broken syscall
 * instead (kind X86_EMU_KIND_SYSCALL_REPAIR).
 */
enum x86_emu_result x86_emu_emulation_failure(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len,
					      struct x86_emu_stats *stats, struct x86_emu_report *rep);

/* --- syscall repair (src/arch/x86/syscall_repair.c) --- */

/* The #PF exception frame at RSP, lowest address first. */
struct x86_syscall_frame {
	uint64_t error_code, rip, cs, rflags, rsp, ss;
};

/*
 * The MSR-free part of the syscall signature: 64-bit mode at CPL 0, RIP at the
 * entry of the guest's #PF handler (IDT vector 14, optionally after an
 * endbr64), a readable exception frame at RSP with a CPL3 CS, a user-mode error
 * code and frame RIP == CR2. Reads guest memory without side effects. frame
 * and why may be NULL; why gets the first condition that failed.
 */
bool x86_emu_syscall_suspect(const struct x86_emu_cpu *cpu, struct x86_syscall_frame *frame,
			     struct vmon_error *why);

/*
 * The whole decision: suspect, and frame RIP == CR2 == LSTAR (non-zero), and
 * the two bytes before RCX (the return address the CPU saved) are 0f 05.
 */
bool x86_emu_syscall_check(const struct x86_emu_cpu *cpu, struct x86_syscall_frame *frame,
			   struct vmon_error *why);

/*
 * Completes the syscall as the CPU should have (SDM vol. 2 SYSCALL): CS =
 * STAR[47:32] & ~3 (64-bit code, DPL 0), SS = STAR[47:32] + 8, RIP = LSTAR,
 * RSP = the frame's (user) RSP, RFLAGS = the frame's without RF (FMASK was
 * already applied); RCX/R11 keep what the CPU stored.
 */
void x86_emu_syscall_complete(struct x86_emu_cpu *cpu, const struct x86_syscall_frame *frame);

/*
 * Delivers exception fault (a fault-class exception at the current RIP, e.g.
 * rep.fault after GUEST_FAULT) through the guest IDT, setting CR2 for #PF.
 * A fault during delivery becomes #DF per SDM vol. 3 table 6-5 or is delivered
 * in turn; TRIPLE_FAULT when #DF itself cannot be delivered.
 */
enum x86_emu_result x86_emu_raise(struct x86_emu_cpu *cpu, const struct x86_fault *fault,
				  struct x86_emu_stats *stats, struct x86_emu_report *rep);

const char *x86_emu_kind_name(enum x86_emu_kind kind);
void x86_emu_stats_merge(struct x86_emu_stats *dst, const struct x86_emu_stats *src);
void x86_emu_stats_print(const struct x86_emu_stats *s, FILE *out);

#endif
