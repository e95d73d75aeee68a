/* SPDX-License-Identifier: MIT */
/*
 * The repair of a CPL3 `syscall` that a PVM host left without its privilege
 * switch (declared in emulate.h; shared/notes/host-pvm.md): recognise it at
 * the clac of the guest's #PF handler, complete it as the CPU should have.
 */
#include "arch/x86/emulate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool not_syscall(struct vmon_error *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool not_syscall(struct vmon_error *why, const char *fmt, ...)
{
	va_list ap;

	if (why) {
		va_start(ap, fmt);
		vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
		va_end(ap);
		why->code = -EINVAL;
	}
	return false;
}

bool x86_emu_syscall_suspect(const struct x86_emu_cpu *cpu, struct x86_syscall_frame *frame,
			     struct vmon_error *why)
{
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	const struct kvm_sregs *s = &cpu->sregs;
	struct x86_syscall_frame f;
	struct descriptor_gate gate;
	struct x86_fault fault;
	uint8_t entry[4];

	if (!(s->efer & X86_EFER_LMA) || !s->cs.l)
		return not_syscall(why, "not in 64-bit mode (EFER 0x%llx, CS.L %u)", (unsigned long long)s->efer,
				   s->cs.l);
	if (descriptor_cpl(s) != 0)
		return not_syscall(why, "CPL %u at the exit (CS 0x%x)", descriptor_cpl(s), s->cs.selector);
	if (page_walk_read(cpu->mem, s, cpu->regs.rsp, &f, sizeof(f), PAGE_WALK_PEEK, &fault, why) < 0) {
		error_prefix(why, "no exception frame at RSP");
		return false;
	}
	if ((f.cs & 3) != 3)
		return not_syscall(why, "frame CS 0x%llx is not a CPL3 selector", (unsigned long long)f.cs);
	if (!(f.error_code & X86_PF_U))
		return not_syscall(why, "error code 0x%llx is not a user-mode access",
				   (unsigned long long)f.error_code);
	if (f.rip != s->cr2)
		return not_syscall(why, "frame RIP 0x%llx differs from CR2 0x%llx", (unsigned long long)f.rip,
				   (unsigned long long)s->cr2);
	if (descriptor_read_gate(cpu->mem, s, X86_VEC_PF, false, PAGE_WALK_PEEK, &gate, &fault, why) < 0)
		return false;
	/* The handler may open with endbr64 (CONFIG_X86_KERNEL_IBT) before its clac. */
	if (cpu->regs.rip != gate.offset &&
	    (cpu->regs.rip != gate.offset + 4 ||
	     page_walk_read(cpu->mem, s, gate.offset, entry, 4, PAGE_WALK_FETCH | PAGE_WALK_PEEK, &fault, NULL) < 0 ||
	     memcmp(entry, endbr64, 4) != 0))
		return not_syscall(why, "RIP 0x%llx is not the entry of the #PF handler 0x%llx",
				   (unsigned long long)cpu->regs.rip, (unsigned long long)gate.offset);
	if (frame)
		*frame = f;
	return true;
}

bool x86_emu_syscall_check(const struct x86_emu_cpu *cpu, struct x86_syscall_frame *frame,
			   struct vmon_error *why)
{
	struct x86_syscall_frame f;
	struct x86_fault fault;
	uint8_t insn[2];

	if (!x86_emu_syscall_suspect(cpu, &f, why))
		return false;
	if (cpu->msr_lstar == 0 || f.rip != cpu->msr_lstar)
		return not_syscall(why, "frame RIP 0x%llx is not LSTAR 0x%llx", (unsigned long long)f.rip,
				   (unsigned long long)cpu->msr_lstar);
	/* RCX holds the return address SYSCALL saved: the instruction before it must be 0f 05. */
	if (page_walk_read(cpu->mem, &cpu->sregs, cpu->regs.rcx - 2, insn, 2,
			   PAGE_WALK_USER | PAGE_WALK_FETCH | PAGE_WALK_PEEK, &fault, NULL) < 0 ||
	    insn[0] != 0x0f || insn[1] != 0x05)
		return not_syscall(why, "no syscall instruction before RCX 0x%llx",
				   (unsigned long long)cpu->regs.rcx);
	if (frame)
		*frame = f;
	return true;
}

void x86_emu_syscall_complete(struct x86_emu_cpu *cpu, const struct x86_syscall_frame *frame)
{
	const uint16_t sel = (uint16_t)(cpu->msr_star >> 32);

	/* SYSCALL loads fixed flat descriptors, not the GDT's (SDM vol. 2 SYSCALL). */
	cpu->sregs.cs = (struct kvm_segment){ .selector = sel & 0xfffc, .limit = 0xffffffff, .type = 0xb,
		.present = 1, .s = 1, .l = 1, .g = 1 };
	cpu->sregs.ss = (struct kvm_segment){ .selector = (uint16_t)(sel + 8), .limit = 0xffffffff, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1 };
	cpu->regs.rip = cpu->msr_lstar;
	cpu->regs.rsp = frame->rsp;
	cpu->regs.rflags = (frame->rflags & ~X86_RFLAGS_RF) | X86_RFLAGS_FIXED;
	cpu->dirty |= X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS;
}

