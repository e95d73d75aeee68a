/* SPDX-License-Identifier: MIT */
/*
 * hypercall: issues one KVM hypercall instruction from CPL 0 and reports
 * what became of it. insn=vmcall (default; Intel's) or insn=vmmcall (AMD's),
 * with RAX = 0x7fffffff, a number no KVM hypercall has.
 *
 * Prints "hypercall: issuing INSN at rip 0x..." first, then one of:
 *  - "hypercall: INSN returned rax=0x...": a hypervisor completed it. KVM on
 *    VT-x/AMD-V answers an unknown number with -KVM_ENOSYS (rax
 *    0xfffffffffffffc18), also for the other vendor's instruction, which it
 *    rewrites in place (KVM_X86_QUIRK_FIX_HYPERCALL_INSN);
 *  - "hypercall: INSN raised #UD": nothing took it (QEMU TCG without
 *    VMX/SVM guest mode);
 *  - nothing: the host parked the vCPU on it. PVM hosts do that to guest
 *    kernel code (shared/notes/host-pvm.md); vmon's watchdog must then stop
 *    the VM with a message naming the instruction.
 * Then debug_exit(0). Failures: 1 = bad insn=, 2 = returned to the wrong place
 * (the instruction after it did not run).
 */
#include "lib.h"

#define UNKNOWN_HYPERCALL UINT64_C(0x7fffffff)

extern const char vmcall_at[], vmmcall_at[];
static volatile bool ud_seen;

/* #UD: note it and step over the 3-byte instruction. */
static void on_ud(struct isr_frame *f)
{
	if (f->rip != (uint64_t)(uintptr_t)vmcall_at && f->rip != (uint64_t)(uintptr_t)vmmcall_at) {
		printf("hypercall: FAIL: #UD at rip 0x%lx, not at the hypercall\n", f->rip);
		debug_exit(2);
	}
	ud_seen = true;
	f->rip += 3;
}

/* One copy each (noinline): the labels name the instruction for the report. */
__attribute__((noinline)) static uint64_t do_vmcall(uint64_t rax, volatile uint64_t *after)
{
	__asm__ volatile(".globl vmcall_at\nvmcall_at: vmcall\n\tmovq $1, %1"
			 : "+a"(rax), "=m"(*after) : : "memory");
	return rax;
}

__attribute__((noinline)) static uint64_t do_vmmcall(uint64_t rax, volatile uint64_t *after)
{
	__asm__ volatile(".globl vmmcall_at\nvmmcall_at: vmmcall\n\tmovq $1, %1"
			 : "+a"(rax), "=m"(*after) : : "memory");
	return rax;
}

void guest_main(const struct boot_info *bi)
{
	const char *insn = cmdline_get(bi, "insn=");
	bool amd = false;
	volatile uint64_t after = 0;
	uint64_t rax;

	if (insn && !strncmp(insn, "vmmcall", 7) && (insn[7] == ' ' || !insn[7]))
		amd = true;
	else if (insn && !(strncmp(insn, "vmcall", 6) == 0 && (insn[6] == ' ' || !insn[6]))) {
		printf("hypercall: FAIL: insn= must be vmcall or vmmcall\n");
		debug_exit(1);
	}
	idt_set_handler(6, on_ud);
	printf("hypercall: issuing %s at rip 0x%lx (rax 0x%lx)\n", amd ? "vmmcall" : "vmcall",
	       (uint64_t)(uintptr_t)(amd ? vmmcall_at : vmcall_at), UNKNOWN_HYPERCALL);
	rax = amd ? do_vmmcall(UNKNOWN_HYPERCALL, &after) : do_vmcall(UNKNOWN_HYPERCALL, &after);
	if (after != 1) {
		printf("hypercall: FAIL: the instruction after the hypercall did not run\n");
		debug_exit(2);
	}
	if (ud_seen)
		printf("hypercall: %s raised #UD\n", amd ? "vmmcall" : "vmcall");
	else
		printf("hypercall: %s returned rax=0x%lx\n", amd ? "vmmcall" : "vmcall", rax);
	debug_exit(0);
}
