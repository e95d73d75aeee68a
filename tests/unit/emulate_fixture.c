/* SPDX-License-Identifier: MIT */
/* The synthetic guest of test_emulate.c and test_emulate_fpu.c (layout in emulate_fixture.h). */
#include "arch/x86/memory.h"
#include "emulate_fixture.h"

#include <string.h>

struct guest_mem mem;
struct x86_emu_cpu cpu;
struct x86_emu_stats stats;
struct x86_emu_report rep;

void set64(uint64_t gpa, uint64_t v) { assert_int_equal(guest_mem_write(&mem, gpa, &v, 8), 0); }
uint64_t get64(uint64_t gpa)
{
	uint64_t v = 0;
	assert_int_equal(guest_mem_read(&mem, gpa, &v, 8), 0);
	return v;
}
void put(uint64_t gpa, const void *b, size_t n) { assert_int_equal(guest_mem_write(&mem, gpa, b, n), 0); }
uint64_t kphys(uint64_t la) { return la - KBASE; }

void gate(unsigned vec, uint64_t off, uint16_t sel, unsigned type, unsigned dpl, unsigned ist, bool present)
{
	set64(IDT + vec * 16, (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)ist << 32 | (uint64_t)type << 40 |
			      (uint64_t)dpl << 45 | (uint64_t)present << 47 | ((off >> 16) & 0xffff) << 48);
	set64(IDT + vec * 16 + 8, off >> 32);
}

struct kvm_segment seg(uint16_t sel, uint8_t type, bool l, bool db)
{
	return (struct kvm_segment){ .selector = sel, .limit = 0xffffffff, .type = type, .present = 1,
				     .dpl = sel & 3, .db = db, .s = 1, .l = l, .g = 1 };
}

int setup(void **state)
{
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, RAM, NULL), 0);
	set64(0x1000, 0x2000 | P | W | U);
	set64(0x1000 + 511 * 8, 0x3000 | P | W);
	set64(0x2000, 0x4000 | P | W | U);
	set64(0x3000 + 510 * 8, 0x4000 | P | W);
	set64(0x4000, 0x5000 | P | W | U);
	for (uint64_t i = 0; i < 512; i++)
		set64(0x5000 + i * 8, i << 12 | P | W | (i >= 0x100 && i < 0x110 ? U : 0));
	set64(0x5000 + (UNMAPPED >> 12) * 8, 0);
	set64(0x5000 + (NOT_RAM >> 12) * 8, 0x40000000 | P | W);

	const uint64_t gdt[12] = {
		0, 0x00cf9b000000ffffull, 0x00af9b000000ffffull, 0x00cf93000000ffffull,
		0x00cffb000000ffffull, 0x00cff3000000ffffull, 0x00affb000000ffffull, 0,
		0x00008b0080000067ull | (0xffull << 56), 0xffffffffull, 0x00af1b000000ffffull, 0x00af9a000000ffffull,
	};
	put(GDT, gdt, sizeof(gdt));
	gate(X86_VEC_BP, H_BP, 0x10, X86_GATE_INT, 3, 0, true);
	gate(X86_VEC_PF, H_PF, 0x10, X86_GATE_INT, 0, 0, true);
	gate(X86_VEC_GP, H_GP, 0x10, X86_GATE_INT, 0, 0, true);
	gate(X86_VEC_DF, H_DF, 0x10, X86_GATE_INT, 0, 1, true);
	gate(0x80, H_OTHER, 0x10, X86_GATE_TRAP, 3, 0, true);
	gate(0x20, H_OTHER, 0x10, X86_GATE_INT, 0, 0, true);
	gate(0x21, H_OTHER, 0x10, X86_GATE_INT, 3, 1, true);
	gate(0x41, H_OTHER, 0x10, X86_GATE_INT, 3, 0, false);
	gate(0x42, H_OTHER, 0x08, X86_GATE_INT, 3, 0, true);
	gate(0x43, H_OTHER, 0x10, 0xc, 3, 0, true);
	gate(0x44, H_OTHER, 0x50, X86_GATE_INT, 3, 0, true);
	gate(0x45, H_OTHER, 0x58, X86_GATE_INT, 3, 0, true);
	gate(0x46, H_OTHER, 0x18, X86_GATE_INT, 3, 0, true);
	set64(TSS + X86_TSS64_RSP0, RSP0);
	set64(TSS + X86_TSS64_IST1, IST1);

	memset(&cpu, 0, sizeof(cpu));
	cpu.mem = &mem;
	cpu.regs.rip = KCODE;
	cpu.regs.rsp = KSTACK;
	cpu.regs.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_IF;
	cpu.sregs.cs = seg(0x10, 0xb, true, false);
	cpu.sregs.ss = seg(0x18, 0x3, false, true);
	cpu.sregs.ds = cpu.sregs.es = cpu.sregs.fs = cpu.sregs.gs = seg(0x18, 0x3, false, true);
	cpu.sregs.tr = (struct kvm_segment){ .selector = 0x40, .base = KBASE + TSS, .limit = 0x67, .type = 0xb,
					     .present = 1 };
	cpu.sregs.gdt = (struct kvm_dtable){ .base = KBASE + GDT, .limit = sizeof(gdt) - 1 };
	cpu.sregs.idt = (struct kvm_dtable){ .base = KBASE + IDT, .limit = 0xfff };
	cpu.sregs.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP | X86_CR0_NE;
	cpu.sregs.cr3 = 0x1000;
	cpu.sregs.cr4 = X86_CR4_PAE;
	cpu.sregs.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE | 1;
	memset(&stats, 0, sizeof(stats));
	memset(&rep, 0, sizeof(rep));
	return 0;
}

int teardown(void **state)
{
	(void)state;
	guest_mem_destroy(&mem);
	return 0;
}

void to_user(void)
{
	cpu.sregs.cs = seg(0x33, 0xb, true, false);
	cpu.sregs.ss = seg(0x2b, 0x3, false, true);
	cpu.regs.rip = UCODE;
	cpu.regs.rsp = USTACK;
}

enum x86_emu_result emulate(const uint8_t *b, size_t n)
{
	return x86_emu_instruction(&cpu, b, n, &stats, &rep);
}

void expect_fault(enum x86_emu_result res, const struct x86_emu_cpu *before, uint8_t vec, int code)
{
	assert_int_equal(res, X86_EMU_GUEST_FAULT);
	assert_int_equal(rep.fault.vector, vec);
	assert_int_equal(rep.fault.has_error_code, code >= 0);
	if (code >= 0)
		assert_int_equal(rep.fault.error_code, (uint32_t)code);
	assert_memory_equal(&cpu.regs, &before->regs, sizeof(cpu.regs));
	assert_memory_equal(&cpu.sregs, &before->sregs, sizeof(cpu.sregs));
	assert_int_equal(cpu.dirty, 0);
}

