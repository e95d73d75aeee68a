/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_DESCRIPTOR_H
#define VMON_X86_DESCRIPTOR_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/page_walk.h"
#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Protected-mode and IA-32e system structures (SDM vol. 3 ch. 3, 6, 7):
 * segment descriptors in the GDT/LDT, IDT gates, the TSS stack pointers, and
 * the delivery of an interrupt or exception through them as the CPU does it
 * (§6.12 for 32-bit protected mode, §6.14 for IA-32e mode). Pure functions
 * over guest memory and KVM's register structs; all guest structures are read
 * through page_walk as implicit supervisor accesses.
 *
 * Return values follow page_walk: 0, -EFAULT with *fault filled (the guest
 * takes that exception), -ENXIO (a structure lies outside RAM), -ENOTSUP (a
 * case this module does not model: task gates, 16-bit gates or stacks,
 * virtual-8086 or real mode).
 */

#define X86_RFLAGS_CF    (1ull << 0)
#define X86_RFLAGS_FIXED (1ull << 1)
#define X86_RFLAGS_PF    (1ull << 2)
#define X86_RFLAGS_AF    (1ull << 4)
#define X86_RFLAGS_ZF    (1ull << 6)
#define X86_RFLAGS_SF    (1ull << 7)
#define X86_RFLAGS_TF    (1ull << 8)
#define X86_RFLAGS_IF    (1ull << 9)
#define X86_RFLAGS_OF    (1ull << 11)
#define X86_RFLAGS_NT    (1ull << 14)
#define X86_RFLAGS_RF    (1ull << 16)
#define X86_RFLAGS_VM    (1ull << 17)
#define X86_RFLAGS_AC    (1ull << 18)

/* System descriptor / gate types (S = 0). */
#define X86_GATE_TASK    0x5
#define X86_GATE_INT16   0x6
#define X86_GATE_TRAP16  0x7
#define X86_GATE_INT     0xe   /* 32-bit interrupt gate, or 64-bit in IA-32e mode */
#define X86_GATE_TRAP    0xf

/* TSS offsets: 64-bit TSS RSP0 at 4 (RSPn at 4 + 8n), IST1 at 0x24 (ISTn at 0x1c + 8n);
 * 32-bit TSS ESPn at 4 + 8n, SSn at 8 + 8n. */
#define X86_TSS64_RSP0   0x04
#define X86_TSS64_IST1   0x24
#define X86_TSS32_ESP0   0x04
#define X86_TSS32_SS0    0x08

/* CPL in protected mode is CS.RPL (§5.5); 0 with CR0.PE clear. Callers treat RFLAGS.VM themselves. */
unsigned descriptor_cpl(const struct kvm_sregs *sregs);

struct descriptor_gate {
	uint64_t offset;
	uint16_t selector;
	uint8_t type;      /* X86_GATE_*, or another value for an invalid entry */
	uint8_t dpl;
	uint8_t ist;       /* IA-32e gates only */
	bool present;
	bool system;       /* S bit clear, as every gate has it */
};

/*
 * Reads IDT entry vector (16 bytes in IA-32e mode, 8 otherwise). An entry past
 * the IDT limit raises #GP(vector*8 + 2 + ext). access may add PAGE_WALK_PEEK.
 */
int descriptor_read_gate(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint8_t vector,
			 bool ext, unsigned access, struct descriptor_gate *gate, struct x86_fault *fault,
			 struct vmon_error *err);

/*
 * Reads the 8-byte descriptor selector names in the GDT (or LDT when TI is
 * set). A selector past the table limit raises fault_vector(selector + ext).
 * *la (if non-NULL) gets the descriptor's linear address.
 */
int descriptor_read(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint16_t selector,
		    uint8_t fault_vector, bool ext, uint64_t *raw, uint64_t *la, struct x86_fault *fault,
		    struct vmon_error *err);

/* The segment-register cache KVM_SET_SREGS takes, for a code/data descriptor. */
void descriptor_to_segment(uint64_t raw, uint16_t selector, struct kvm_segment *seg);

enum descriptor_event_kind {
	DESCRIPTOR_EVENT_SOFT_INT,   /* INT n: gate DPL checked against CPL */
	DESCRIPTOR_EVENT_SOFT_EXC,   /* INT3: also DPL-checked (§6.12.1.1) */
	DESCRIPTOR_EVENT_HW_EXC,     /* an exception the CPU raises: no DPL check, EXT = 1 */
};

struct descriptor_event {
	enum descriptor_event_kind kind;
	uint8_t vector;
	bool has_error_code;
	uint32_t error_code;
	bool fault_class;            /* a fault: the pushed RFLAGS has RF set (§17.3.1.1) */
	uint64_t return_rip;         /* pushed RIP: next instruction (INT n, traps) or the faulting one */
};

/*
 * Delivers ev through the guest IDT: gate and code-segment checks, stack
 * switch (IST, TSS RSPn/SSn:ESPn, or the current stack), frame push, CS/SS/RIP/
 * RSP/RFLAGS update. On any error regs and sregs are untouched (the accessed
 * bit of a loaded descriptor may already be set, as on the CPU).
 */
int descriptor_deliver(const struct guest_mem *mem, struct kvm_regs *regs, struct kvm_sregs *sregs,
		       const struct descriptor_event *ev, struct x86_fault *fault, struct vmon_error *err);

#endif
