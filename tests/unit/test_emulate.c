/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulate_fixture.h"

/* The five 8-byte words an IA-32e delivery pushes below top (SS at the top). */
static void expect_frame64(uint64_t top, uint64_t rip, uint64_t cs, uint64_t rflags, uint64_t rsp, uint64_t ss)
{
	const uint64_t want[5] = { rip, cs, rflags, rsp, ss };
	uint64_t got[5];

	assert_int_equal(guest_mem_read(&mem, kphys(top) - 40, got, sizeof(got)), 0);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(got[i], want[i]);
}

static void expect_segment(const struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl, bool l, bool db)
{
	assert_int_equal(s->selector, sel);
	assert_int_equal(s->type, type);
	assert_int_equal(s->dpl, dpl);
	assert_int_equal(s->l, l);
	assert_int_equal(s->db, db);
	assert_int_equal(s->present, 1);
	assert_int_equal(s->limit, 0xffffffff);
}

/* --- clac / stac ---------------------------------------------------------- */

TEST(clac_clears_ac_and_advances_rip)
{
	cpu.regs.rflags |= X86_RFLAGS_AC;
	assert_int_equal(EMULATE(0x0f, 0x01, 0xca), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED | X86_RFLAGS_IF);
	assert_int_equal(cpu.regs.rip, KCODE + 3);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(rep.kind, X86_EMU_KIND_CLAC);
	assert_int_equal(stats.done[X86_EMU_KIND_CLAC], 1);
}

TEST(stac_sets_ac)
{
	assert_int_equal(EMULATE(0x0f, 0x01, 0xcb), X86_EMU_DONE);
	assert_true(cpu.regs.rflags & X86_RFLAGS_AC);
	assert_int_equal(cpu.regs.rip, KCODE + 3);
}

TEST(clac_at_cpl3_raises_ud)
{
	struct x86_emu_cpu before;
	to_user();
	before = cpu;
	expect_fault(EMULATE(0x0f, 0x01, 0xca), &before, X86_VEC_UD, -1);
	assert_int_equal(stats.guest_faults, 1);
}

TEST(lock_prefix_raises_ud)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xf0, 0x0f, 0x01, 0xca), &before, X86_VEC_UD, -1);
}

/* --- popcnt ------------------------------------------------------------------ */

TEST(popcnt_64bit_register_source_clears_flags)
{
	cpu.regs.rbx = 0xf0000000000000f1ull;
	cpu.regs.rflags |= FLAGS_ARITH;
	assert_int_equal(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0xc3), X86_EMU_DONE);   /* popcnt rax, rbx */
	assert_int_equal(cpu.regs.rax, 9);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED | X86_RFLAGS_IF);
	assert_int_equal(cpu.regs.rip, KCODE + 5);
	assert_int_equal(stats.done[X86_EMU_KIND_POPCNT], 1);
}

TEST(popcnt_32bit_zero_extends_and_16bit_keeps_upper_bits)
{
	cpu.regs.rbx = 0xffffffff0000ffffull;
	cpu.regs.rax = 0x1234567812345678ull;
	assert_int_equal(EMULATE(0xf3, 0x0f, 0xb8, 0xc3), X86_EMU_DONE);          /* popcnt eax, ebx */
	assert_int_equal(cpu.regs.rax, 16);
	cpu.regs.rax = 0x1234567812345678ull;
	assert_int_equal(EMULATE(0x66, 0xf3, 0x0f, 0xb8, 0xc3), X86_EMU_DONE);    /* popcnt ax, bx */
	assert_int_equal(cpu.regs.rax, 0x1234567812340010ull);
	assert_int_equal(cpu.regs.rip, KCODE + 4 + 5);
}

TEST(popcnt_of_zero_sets_only_zf)
{
	cpu.regs.rbx = 0xffffffff00000000ull;
	cpu.regs.rflags |= X86_RFLAGS_CF | X86_RFLAGS_SF;
	assert_int_equal(EMULATE(0xf3, 0x0f, 0xb8, 0xc3), X86_EMU_DONE);          /* popcnt eax, ebx */
	assert_int_equal(cpu.regs.rax, 0);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED | X86_RFLAGS_IF | X86_RFLAGS_ZF);
}

TEST(popcnt_rex_r_and_b_select_r8_to_r15)
{
	cpu.regs.r8 = 0x7;
	assert_int_equal(EMULATE(0xf3, 0x4d, 0x0f, 0xb8, 0xc8), X86_EMU_DONE);    /* popcnt r9, r8 */
	assert_int_equal(cpu.regs.r9, 3);
	assert_int_equal(cpu.regs.rcx, 0);
}

TEST(popcnt_memory_source_with_sib_and_disp8)
{
	set64(0x60010, 0x00ff00ff);
	cpu.regs.rbx = KBASE + 0x60000;
	cpu.regs.rcx = 2;
	/* popcnt rax, [rbx + rcx*4 + 8] */
	assert_int_equal(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0x44, 0x8b, 0x08), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rax, 16);
	assert_int_equal(cpu.regs.rip, KCODE + 7);
}

TEST(popcnt_rip_relative_source)
{
	set64(kphys(KCODE + 9 + 0x100), 0xff);
	/* popcnt rax, [rip + 0x100] */
	assert_int_equal(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rax, 8);
}

TEST(popcnt_gs_override_adds_the_gs_base)
{
	cpu.sregs.gs.base = KBASE + 0x61000;
	set64(0x61010, 0x3);
	/* popcnt rax, gs:[0x10] (SIB, no base, no index, disp32) */
	assert_int_equal(EMULATE(0x65, 0xf3, 0x48, 0x0f, 0xb8, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rax, 2);
	assert_int_equal(cpu.regs.rip, KCODE + 11);
}

TEST(popcnt_from_unmapped_memory_raises_pf)
{
	struct x86_emu_cpu before;
	cpu.regs.rbx = UNMAPPED + 8;
	before = cpu;
	expect_fault(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0x03), &before, X86_VEC_PF, 0);  /* popcnt rax, [rbx] */
	assert_int_equal(rep.fault.cr2, UNMAPPED + 8);
}

TEST(popcnt_from_non_canonical_address_raises_gp_or_ss)
{
	struct x86_emu_cpu before;
	cpu.regs.rbx = 0x0000900000000000ull;
	before = cpu;
	expect_fault(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0x03), &before, X86_VEC_GP, 0);
	cpu.regs.rbp = 0x0000900000000000ull;
	before = cpu;
	expect_fault(EMULATE(0xf3, 0x48, 0x0f, 0xb8, 0x45, 0x00), &before, X86_VEC_SS, 0);  /* [rbp+0] */
}

TEST(popcnt_bytes_cut_short_by_kvm_are_fetched_at_rip)
{
	const uint8_t code[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc3, 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };
	put(kphys(KCODE), code, sizeof(code));
	cpu.regs.rbx = 0xff;
	assert_int_equal(EMULATE(0xf3, 0x48, 0x0f, 0xb8), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rax, 8);
	assert_int_equal(rep.insn_len, 5);
	assert_int_equal(x86_emu_instruction(&cpu, NULL, 0, &stats, &rep), X86_EMU_DONE);  /* no bytes at all */
	assert_int_equal(cpu.regs.rip, KCODE + 10);
}

TEST(cut_short_bytes_that_differ_from_memory_are_unsupported)
{
	const uint8_t code[] = { 0xf3, 0x48, 0x0f, 0xbc, 0xc3 };   /* tzcnt now */
	struct x86_emu_cpu before = cpu;
	put(kphys(KCODE), code, sizeof(code));
	assert_int_equal(EMULATE(0xf3, 0x48, 0x0f, 0xb8), X86_EMU_UNSUPPORTED);
	assert_memory_equal(&cpu, &before, sizeof(cpu));
}

TEST(instruction_running_into_an_unmapped_page_raises_fetch_pf)
{
	const uint8_t code[] = { 0xf3, 0x48, 0x0f };
	struct x86_emu_cpu before;
	put(UNMAPPED - 3, code, sizeof(code));
	cpu.regs.rip = UNMAPPED - 3;
	before = cpu;
	expect_fault(EMULATE(0xf3, 0x48, 0x0f), &before, X86_VEC_PF, X86_PF_I);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
}

TEST(instruction_longer_than_15_bytes_raises_gp)
{
	uint8_t code[16];
	struct x86_emu_cpu before = cpu;
	memset(code, 0x3e, sizeof(code));
	expect_fault(emulate(code, 15), &before, X86_VEC_GP, 0);
	put(kphys(KCODE), code, sizeof(code));
	expect_fault(x86_emu_instruction(&cpu, NULL, 0, &stats, &rep), &before, X86_VEC_GP, 0);
	expect_fault(emulate(code, 200), &before, X86_VEC_GP, 0);   /* over-long input is capped */
}

TEST(unknown_instruction_is_unsupported_with_its_bytes)
{
	struct x86_emu_cpu before = cpu;
	assert_int_equal(EMULATE(0x0f, 0x0b), X86_EMU_UNSUPPORTED);   /* ud2 */
	assert_non_null(strstr(rep.msg.msg, "0f 0b"));
	assert_memory_equal(&cpu, &before, sizeof(cpu));
	assert_int_equal(EMULATE(0x0f, 0x01, 0xcc), X86_EMU_UNSUPPORTED);
	assert_int_equal(EMULATE(0xf2, 0x0f, 0xb8, 0xc3), X86_EMU_UNSUPPORTED);
	assert_int_equal(stats.unsupported, 3);
}

/* --- int3 / int n ------------------------------------------------------------ */

TEST(int3_at_cpl0_pushes_an_aligned_frame_on_the_current_stack)
{
	cpu.regs.rsp = KSTACK + 8;
	assert_int_equal(EMULATE(0xcc), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, H_BP);
	assert_int_equal(cpu.regs.rsp, KSTACK - 40);
	expect_frame64(KSTACK, KCODE + 1, 0x10, X86_RFLAGS_FIXED | X86_RFLAGS_IF, KSTACK + 8, 0x18);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED);   /* interrupt gate: IF cleared */
	assert_int_equal(cpu.sregs.cs.selector, 0x10);
	assert_int_equal(cpu.sregs.ss.selector, 0x18);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS);
	assert_int_equal(stats.done[X86_EMU_KIND_INT3], 1);
}

TEST(int3_from_cpl3_switches_to_rsp0_and_loads_a_null_ss)
{
	to_user();
	cpu.regs.rflags |= X86_RFLAGS_TF | X86_RFLAGS_AC;
	assert_int_equal(EMULATE(0xcc), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rsp, RSP0 - 40);
	expect_frame64(RSP0, UCODE + 1, 0x33, X86_RFLAGS_FIXED | X86_RFLAGS_IF | X86_RFLAGS_TF | X86_RFLAGS_AC,
		       USTACK, 0x2b);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED | X86_RFLAGS_AC);
	expect_segment(&cpu.sregs.cs, 0x10, 0xb, 0, true, false);
	expect_segment(&cpu.sregs.ss, 0, 0x3, 0, false, true);   /* null selector, RPL = new CPL */
}

TEST(int_n_through_a_trap_gate_keeps_if)
{
	to_user();
	assert_int_equal(EMULATE(0xcd, 0x80), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, H_OTHER);
	assert_int_equal(get64(kphys(RSP0) - 40), UCODE + 2);
	assert_true(cpu.regs.rflags & X86_RFLAGS_IF);
	assert_int_equal(stats.done[X86_EMU_KIND_INT_N], 1);
}

TEST(ist_gate_uses_the_ist_stack_without_privilege_change)
{
	assert_int_equal(EMULATE(0xcd, 0x21), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rsp, IST1 - 40);
	assert_int_equal(get64(kphys(IST1) - 16), KSTACK);
	assert_int_equal(cpu.sregs.ss.selector, 0x18);
}

TEST(int_n_above_gate_dpl_raises_gp)
{
	struct x86_emu_cpu before;
	to_user();
	before = cpu;
	expect_fault(EMULATE(0xcd, 0x20), &before, X86_VEC_GP, 0x20 * 8 + 2);
	assert_int_equal(get64(kphys(RSP0) - 8), 0);
}

TEST(gate_not_present_raises_np)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xcd, 0x41), &before, X86_VEC_NP, 0x41 * 8 + 2);
}

TEST(gate_to_a_non_64bit_code_segment_raises_gp_selector)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xcd, 0x42), &before, X86_VEC_GP, 0x08);
	expect_fault(EMULATE(0xcd, 0x46), &before, X86_VEC_GP, 0x18);   /* a data segment */
}

TEST(gate_of_invalid_type_raises_gp)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xcd, 0x43), &before, X86_VEC_GP, 0x43 * 8 + 2);
	expect_fault(EMULATE(0xcd, 0x99), &before, X86_VEC_GP, 0x99 * 8 + 2);   /* all-zero entry */
}

TEST(gate_to_a_non_present_code_segment_raises_np_selector)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xcd, 0x44), &before, X86_VEC_NP, 0x50);
}

TEST(loading_cs_sets_the_descriptor_accessed_bit)
{
	assert_int_equal(EMULATE(0xcd, 0x45), X86_EMU_DONE);
	assert_int_equal(cpu.sregs.cs.selector, 0x58);
	assert_int_equal(cpu.sregs.cs.type, 0xb);
	assert_int_equal(get64(GDT + 0x58), 0x00af9b000000ffffull);
}

TEST(int3_onto_an_unmapped_stack_raises_pf_and_writes_nothing)
{
	struct x86_emu_cpu before;
	cpu.regs.rsp = UNMAPPED + 0x10;
	before = cpu;
	expect_fault(EMULATE(0xcc), &before, X86_VEC_PF, X86_PF_W);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
	assert_int_equal(get64(UNMAPPED - 8), 0);
	assert_int_equal(get64(UNMAPPED - 24), 0);
}

TEST(vector_beyond_the_idt_limit_raises_gp)
{
	struct x86_emu_cpu before;
	cpu.sregs.idt.limit = 3 * 16 + 14;
	before = cpu;
	expect_fault(EMULATE(0xcc), &before, X86_VEC_GP, 3 * 8 + 2);
}

TEST(idt_outside_ram_is_an_error)
{
	struct x86_emu_cpu before;
	cpu.sregs.idt.base = NOT_RAM;
	before = cpu;
	assert_int_equal(EMULATE(0xcc), X86_EMU_ERROR);
	assert_memory_equal(&cpu, &before, sizeof(cpu));
	cpu.sregs.idt.base = 0x0000800000000000ull;   /* non-canonical */
	before = cpu;
	expect_fault(EMULATE(0xcc), &before, X86_VEC_GP, 0);
	assert_int_equal(stats.errors, 1);
}

/* 32-bit protected mode, paging off: same GDT, 8-byte gates at 0xc000, 32-bit TSS at 0xd000. */
static void gate32(unsigned vec, uint32_t off, uint16_t sel, unsigned type, unsigned dpl)
{
	set64(0xc000 + vec * 8, (off & 0xffff) | (uint64_t)sel << 16 | (uint64_t)type << 40 | (uint64_t)dpl << 45 |
				1ull << 47 | (uint64_t)(off >> 16) << 48);
}

static void to_protected32(unsigned cpl)
{
	cpu.sregs.efer = 0;
	cpu.sregs.cr0 = X86_CR0_PE;
	cpu.sregs.cr4 = 0;
	cpu.sregs.gdt.base = GDT;
	cpu.sregs.idt = (struct kvm_dtable){ .base = 0xc000, .limit = 0x7ff };
	cpu.sregs.tr = (struct kvm_segment){ .selector = 0x40, .base = 0xd000, .limit = 0x67, .type = 0xb,
					     .present = 1 };
	gate32(X86_VEC_BP, 0x12345, 0x08, X86_GATE_INT, 3);
	set64(0xd000 + X86_TSS32_ESP0, 0xa000);
	set64(0xd000 + X86_TSS32_SS0, 0x18);
	cpu.sregs.cs = cpl ? seg(0x23, 0xb, false, true) : seg(0x08, 0xb, false, true);
	cpu.sregs.ss = cpl ? seg(0x2b, 0x3, false, true) : seg(0x18, 0x3, false, true);
	cpu.regs.rip = 0x5000;
	cpu.regs.rsp = 0x9000;
}

TEST(int3_in_32bit_protected_mode_at_cpl0)
{
	const uint32_t want[3] = { 0x5001, 0x08, X86_RFLAGS_FIXED | X86_RFLAGS_IF };
	uint32_t frame[3];
	to_protected32(0);
	assert_int_equal(EMULATE(0xcc), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, 0x12345);
	assert_int_equal(cpu.regs.rsp, 0x9000 - 12);
	assert_int_equal(guest_mem_read(&mem, 0x9000 - 12, frame, sizeof(frame)), 0);
	assert_memory_equal(frame, want, sizeof(want));
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED);
}

TEST(int3_in_32bit_mode_from_ring3_switches_to_ss0_esp0)
{
	const uint32_t want[5] = { 0x5001, 0x23, X86_RFLAGS_FIXED | X86_RFLAGS_IF, 0x9000, 0x2b };
	uint32_t frame[5];
	to_protected32(3);
	assert_int_equal(EMULATE(0xcc), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rsp, 0xa000 - 20);
	assert_int_equal(guest_mem_read(&mem, 0xa000 - 20, frame, sizeof(frame)), 0);
	assert_memory_equal(frame, want, sizeof(want));
	assert_int_equal(cpu.sregs.ss.selector, 0x18);
	assert_int_equal(cpu.sregs.ss.dpl, 0);
	assert_int_equal(cpu.sregs.cs.selector, 0x08);
}

TEST(int3_in_real_mode_is_unsupported)
{
	struct x86_emu_cpu before;
	memset(&cpu.sregs, 0, sizeof(cpu.sregs));
	cpu.sregs.cs = (struct kvm_segment){ .selector = 0xf000, .base = 0xf0000, .limit = 0xffff, .type = 0xb,
					     .present = 1, .s = 1 };
	cpu.regs.rip = 0xfff0;
	before = cpu;
	assert_int_equal(EMULATE(0xcc), X86_EMU_UNSUPPORTED);
	assert_memory_equal(&cpu, &before, sizeof(cpu));
}

/* --- syscall repair -------------------------------------------------------------- */

/* The state at the clac exit after a CPL3 syscall the host left at CPL3 (notes: error code 5). */
static void at_broken_syscall_pf(uint64_t frame_rip, uint64_t frame_cs)
{
	const uint8_t sys[] = { 0x0f, 0x05 };
	uint64_t rsp = RSP0 - 48;

	put(UCODE + 0x10, sys, sizeof(sys));
	set64(kphys(rsp), X86_PF_P | X86_PF_U);
	set64(kphys(rsp) + 8, frame_rip);
	set64(kphys(rsp) + 16, frame_cs);
	set64(kphys(rsp) + 24, X86_RFLAGS_FIXED | X86_RFLAGS_RF);   /* after FMASK; RF from the fault */
	set64(kphys(rsp) + 32, USTACK);
	set64(kphys(rsp) + 40, 0x2b);
	cpu.regs.rip = H_PF;
	cpu.regs.rsp = rsp;
	cpu.regs.rflags = X86_RFLAGS_FIXED;
	cpu.regs.rcx = UCODE + 0x12;
	cpu.regs.r11 = 0x246;
	cpu.sregs.ss = (struct kvm_segment){ .limit = 0xffffffff, .type = 3, .present = 1, .db = 1, .s = 1, .g = 1 };
	cpu.sregs.cr4 |= X86_CR4_SMAP | X86_CR4_SMEP;
	cpu.sregs.cr2 = LSTAR;
	cpu.msr_lstar = LSTAR;
	cpu.msr_star = 0x0023001000000000ull;
}

static enum x86_emu_result clac_exit(void)
{
	static const uint8_t clac[] = { 0x0f, 0x01, 0xca };
	return x86_emu_emulation_failure(&cpu, clac, sizeof(clac), &stats, &rep);
}

static void expect_plain_clac(const struct x86_emu_cpu *before)
{
	assert_int_equal(clac_exit(), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_CLAC);
	assert_int_equal(cpu.regs.rip, before->regs.rip + 3);
	assert_int_equal(cpu.regs.rsp, before->regs.rsp);
	assert_memory_equal(&cpu.sregs, &before->sregs, sizeof(cpu.sregs));
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(stats.done[X86_EMU_KIND_SYSCALL_REPAIR], 0);
}

TEST(true_syscall_frame_is_repaired)
{
	at_broken_syscall_pf(LSTAR, 0x33);
	assert_true(x86_emu_syscall_check(&cpu, NULL, NULL));
	assert_int_equal(clac_exit(), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_SYSCALL_REPAIR);
	assert_int_equal(cpu.regs.rip, LSTAR);
	assert_int_equal(cpu.regs.rsp, USTACK);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED);
	assert_int_equal(cpu.regs.rcx, UCODE + 0x12);
	assert_int_equal(cpu.regs.r11, 0x246);
	expect_segment(&cpu.sregs.cs, 0x10, 0xb, 0, true, false);
	expect_segment(&cpu.sregs.ss, 0x18, 0x3, 0, false, true);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS);
	assert_int_equal(stats.done[X86_EMU_KIND_SYSCALL_REPAIR], 1);
	assert_int_equal(stats.done[X86_EMU_KIND_CLAC], 0);
}

TEST(handler_opening_with_endbr64_is_recognised)
{
	const uint8_t endbr[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	at_broken_syscall_pf(LSTAR, 0x33);
	put(kphys(H_PF), endbr, sizeof(endbr));
	cpu.regs.rip = H_PF + 4;
	assert_int_equal(clac_exit(), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_SYSCALL_REPAIR);
}

TEST(frame_with_kernel_cs_is_an_ordinary_clac)
{
	struct vmon_error why = { 0 };
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR, 0x10);
	before = cpu;
	assert_false(x86_emu_syscall_check(&cpu, NULL, &why));
	assert_non_null(strstr(why.msg, "CS"));
	expect_plain_clac(&before);
}

TEST(frame_rip_other_than_lstar_is_an_ordinary_clac)
{
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR + 0x10, 0x33);
	cpu.sregs.cr2 = LSTAR + 0x10;
	before = cpu;
	assert_true(x86_emu_syscall_suspect(&cpu, NULL, NULL));
	expect_plain_clac(&before);
}

TEST(cr2_other_than_lstar_is_an_ordinary_clac)
{
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR, 0x33);
	cpu.sregs.cr2 = LSTAR + 0x1000;
	before = cpu;
	expect_plain_clac(&before);
}

TEST(unmapped_stack_is_an_ordinary_clac)
{
	struct vmon_error why = { 0 };
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR, 0x33);
	cpu.regs.rsp = UNMAPPED - 16;   /* frame runs into the unmapped page */
	before = cpu;
	assert_false(x86_emu_syscall_suspect(&cpu, NULL, &why));
	assert_non_null(strstr(why.msg, "frame"));
	expect_plain_clac(&before);
}

TEST(genuine_user_page_fault_is_left_alone)
{
	struct x86_emu_cpu before;
	at_broken_syscall_pf(UCODE + 0x20, 0x33);
	set64(kphys(cpu.regs.rsp), X86_PF_U | X86_PF_W);
	cpu.sregs.cr2 = UNMAPPED + 0x123;
	before = cpu;
	expect_plain_clac(&before);
	assert_int_equal(get64(kphys(cpu.regs.rsp) + 8), UCODE + 0x20);
	assert_int_equal(get64(kphys(cpu.regs.rsp) + 16), 0x33);
}

TEST(clac_outside_the_pf_handler_is_an_ordinary_clac)
{
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR, 0x33);
	cpu.regs.rip = H_GP;
	before = cpu;
	expect_plain_clac(&before);
}

TEST(no_syscall_before_rcx_is_an_ordinary_clac)
{
	const uint8_t nops[] = { 0x90, 0x90 };
	struct x86_emu_cpu before;
	at_broken_syscall_pf(LSTAR, 0x33);
	put(UCODE + 0x10, nops, sizeof(nops));
	before = cpu;
	expect_plain_clac(&before);
}

TEST(suspect_needs_no_msrs_and_check_needs_lstar)
{
	struct x86_syscall_frame f;
	at_broken_syscall_pf(LSTAR, 0x33);
	cpu.msr_lstar = cpu.msr_star = 0;
	assert_true(x86_emu_syscall_suspect(&cpu, &f, NULL));
	assert_int_equal(f.error_code, X86_PF_P | X86_PF_U);
	assert_int_equal(f.rsp, USTACK);
	assert_int_equal(f.ss, 0x2b);
	assert_false(x86_emu_syscall_check(&cpu, NULL, NULL));
}

/*
 * The repair held to what a real SYSCALL leaves (SDM vol. 2B SYSCALL; AMD APM
 * vol. 3 SYSCALL): RCX = the next RIP, R11 = RFLAGS with RF cleared,
 * RFLAGS &= ~SFMASK (and RF cleared), RIP = LSTAR, RSP unchanged, CS = flat
 * 64-bit DPL-0 code with selector STAR[47:32] & ~3, SS = flat DPL-0 data with
 * selector STAR[47:32] + 8, every other register untouched. The user starts
 * with garbage in RCX/R11 and flags SFMASK only partly covers.
 */
#define RFLAGS_DF (1ull << 10)
#define SFMASK (X86_RFLAGS_TF | X86_RFLAGS_IF | RFLAGS_DF | X86_RFLAGS_AC | X86_RFLAGS_NT)

struct user_state {
	struct kvm_regs regs;   /* at the syscall instruction */
	struct kvm_sregs sregs;
};

static struct user_state user_at_syscall(void)
{
	struct user_state u = { .sregs = cpu.sregs };

	u.regs = (struct kvm_regs){ .rax = 39, .rbx = 0x1111, .rcx = 0xdeadbeefcafef00dull, .rdx = 0x3333,
		.rsi = 0x4444, .rdi = 0x5555, .rsp = USTACK, .rbp = 0x6666, .r8 = 8, .r9 = 9, .r10 = 10,
		.r11 = 0x0badc0de0badc0deull, .r12 = 12, .r13 = 13, .r14 = 14, .r15 = 15, .rip = UCODE + 0x10,
		.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_ZF | X86_RFLAGS_IF | RFLAGS_DF |
			  X86_RFLAGS_AC | X86_RFLAGS_RF };
	u.sregs.cs = seg(0x33, 0xb, true, false);
	u.sregs.ss = seg(0x2b, 0x3, false, true);
	return u;
}

/* What the host's SYSCALL did (notes: everything but CS/SS), then the #PF it ran into at LSTAR. */
static void host_partial_syscall(const struct user_state *u, uint64_t star, uint64_t lstar)
{
	const uint8_t sys[] = { 0x0f, 0x05 };
	const uint64_t masked = u->regs.rflags & ~(SFMASK | X86_RFLAGS_RF);
	const uint64_t rsp = RSP0 - 48;   /* RSP0 is 16-byte aligned: the frame starts right below */

	put(u->regs.rip, sys, sizeof(sys));
	cpu.regs = u->regs;
	cpu.sregs = u->sregs;
	cpu.regs.rcx = u->regs.rip + 2;
	cpu.regs.r11 = u->regs.rflags & ~X86_RFLAGS_RF;
	/* The fetch at LSTAR (supervisor page) from CPL 3: #PF, error P|U, frame RF = 1 (a fault). */
	set64(kphys(rsp), X86_PF_P | X86_PF_U);
	set64(kphys(rsp) + 8, lstar);
	set64(kphys(rsp) + 16, u->sregs.cs.selector);
	set64(kphys(rsp) + 24, masked | X86_RFLAGS_RF);
	set64(kphys(rsp) + 32, u->regs.rsp);
	set64(kphys(rsp) + 40, u->sregs.ss.selector);
	/* Interrupt-gate entry to the #PF handler at CPL 0: IF, TF, NT, RF cleared; SS = null with RPL 0. */
	cpu.regs.rip = H_PF;
	cpu.regs.rsp = rsp;
	cpu.regs.rflags = masked & ~(X86_RFLAGS_IF | X86_RFLAGS_TF | X86_RFLAGS_NT);
	cpu.sregs.cs = seg(0x10, 0xb, true, false);
	cpu.sregs.ss = (struct kvm_segment){ .limit = 0xffffffff, .type = 3, .present = 1, .db = 1, .s = 1, .g = 1 };
	cpu.sregs.cr2 = lstar;
	cpu.msr_star = star;
	cpu.msr_lstar = lstar;
}

/* SDM vol. 2B SYSCALL, "Operation", from the user state. */
static struct user_state real_syscall(const struct user_state *u, uint64_t star, uint64_t lstar)
{
	struct user_state k = *u;
	const uint16_t sel = (uint16_t)(star >> 32);

	k.regs.rcx = u->regs.rip + 2;
	k.regs.r11 = u->regs.rflags & ~X86_RFLAGS_RF;
	k.regs.rflags = u->regs.rflags & ~SFMASK & ~X86_RFLAGS_RF;
	k.regs.rip = lstar;
	k.sregs.cs = (struct kvm_segment){ .selector = sel & 0xfffc, .base = 0, .limit = 0xffffffff, .type = 0xb,
		.s = 1, .dpl = 0, .present = 1, .l = 1, .db = 0, .g = 1 };
	k.sregs.ss = (struct kvm_segment){ .selector = (uint16_t)(sel + 8), .base = 0, .limit = 0xffffffff,
		.type = 0x3, .s = 1, .dpl = 0, .present = 1, .db = 1, .g = 1 };
	return k;
}

static void expect_same_segment(const struct kvm_segment *got, const struct kvm_segment *want)
{
	assert_int_equal(got->selector, want->selector);
	assert_int_equal(got->base, want->base);
	assert_int_equal(got->limit, want->limit);
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->s, want->s);
	assert_int_equal(got->dpl, want->dpl);
	assert_int_equal(got->present, want->present);
	assert_int_equal(got->l, want->l);
	assert_int_equal(got->db, want->db);
	assert_int_equal(got->g, want->g);
	assert_int_equal(got->unusable, 0);
}

static void expect_real_syscall_after_repair(uint64_t star)
{
	const struct user_state u = user_at_syscall();
	const struct user_state want = real_syscall(&u, star, LSTAR);

	host_partial_syscall(&u, star, LSTAR);
	assert_int_equal(clac_exit(), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_SYSCALL_REPAIR);
	assert_int_equal(cpu.regs.rcx, UCODE + 0x12);
	assert_int_equal(cpu.regs.r11, X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_ZF | X86_RFLAGS_IF |
					       RFLAGS_DF | X86_RFLAGS_AC);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_ZF);
	assert_memory_equal(&cpu.regs, &want.regs, sizeof(cpu.regs));   /* RSP, RIP and every other GPR */
	expect_same_segment(&cpu.sregs.cs, &want.sregs.cs);
	expect_same_segment(&cpu.sregs.ss, &want.sregs.ss);
	assert_int_equal(cpu.sregs.cs.selector & 3, 0);   /* CPL 0 */
	assert_memory_equal(&cpu.sregs.ds, &want.sregs.ds, sizeof(cpu.sregs.ds));
	assert_memory_equal(&cpu.sregs.es, &want.sregs.es, sizeof(cpu.sregs.es));
	assert_memory_equal(&cpu.sregs.fs, &want.sregs.fs, sizeof(cpu.sregs.fs));
	assert_memory_equal(&cpu.sregs.gs, &want.sregs.gs, sizeof(cpu.sregs.gs));
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS);
}

TEST(repair_leaves_what_a_real_syscall_leaves)
{
	expect_real_syscall_after_repair(0x0023001000000000ull);   /* Linux: __KERNEL_CS 0x10, SS 0x18 */
}

TEST(repair_forces_cs_rpl_0_and_takes_ss_as_star_plus_8)
{
	expect_real_syscall_after_repair(0x0023001300000000ull);   /* CS 0x10, SS 0x1b (SDM: no RPL masking) */
}

/* --- exception delivery ---------------------------------------------------------- */

TEST(raised_page_fault_sets_cr2_and_pushes_the_error_code)
{
	const struct x86_fault pf = { .vector = X86_VEC_PF, .has_error_code = true, .error_code = 2, .cr2 = 0x1234 };
	assert_int_equal(x86_emu_raise(&cpu, &pf, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, H_PF);
	assert_int_equal(cpu.sregs.cr2, 0x1234);
	assert_int_equal(cpu.regs.rsp, KSTACK - 48);
	assert_int_equal(get64(kphys(KSTACK) - 48), 2);
	assert_int_equal(get64(kphys(KSTACK) - 40), KCODE);   /* a fault: RIP of the instruction */
	assert_int_equal(get64(kphys(KSTACK) - 24), X86_RFLAGS_FIXED | X86_RFLAGS_IF | X86_RFLAGS_RF);
	assert_int_equal(stats.done[X86_EMU_KIND_EXCEPTION], 1);
}

TEST(fault_during_delivery_of_a_benign_exception_is_delivered_next)
{
	const struct x86_fault ud = { .vector = X86_VEC_UD };
	/* IDT entry 6 is empty: #GP(6*8 + IDT + EXT) follows. */
	assert_int_equal(x86_emu_raise(&cpu, &ud, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, H_GP);
	assert_int_equal(get64(kphys(KSTACK) - 48), X86_VEC_UD * 8 + 3);
}

TEST(contributory_fault_during_gp_delivery_becomes_double_fault)
{
	const struct x86_fault gp = { .vector = X86_VEC_GP, .has_error_code = true };
	gate(X86_VEC_GP, H_GP, 0x10, X86_GATE_INT, 0, 0, false);
	assert_int_equal(x86_emu_raise(&cpu, &gp, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, H_DF);
	assert_int_equal(cpu.regs.rsp, IST1 - 48);
	assert_int_equal(get64(kphys(IST1) - 48), 0);
}

TEST(undeliverable_double_fault_is_a_triple_fault)
{
	const struct x86_fault pf = { .vector = X86_VEC_PF, .has_error_code = true, .cr2 = 0x10 };
	cpu.regs.rsp = UNMAPPED + 0x100;   /* #PF frame → #PF → #DF on IST1 */
	gate(X86_VEC_DF, H_DF, 0x10, X86_GATE_INT, 0, 1, false);
	assert_int_equal(x86_emu_raise(&cpu, &pf, &stats, &rep), X86_EMU_TRIPLE_FAULT);
	assert_int_equal(stats.triple_faults, 1);
}

TEST(stats_print_names_each_kind)
{
	struct x86_emu_stats total = { 0 };
	char *text = NULL;
	size_t size = 0;
	FILE *out;
	assert_int_equal(EMULATE(0x0f, 0x01, 0xca), X86_EMU_DONE);
	assert_int_equal(EMULATE(0x0f, 0x01, 0xca), X86_EMU_DONE);
	assert_int_equal(EMULATE(0x0f, 0x0b), X86_EMU_UNSUPPORTED);
	x86_emu_stats_merge(&total, &stats);
	x86_emu_stats_merge(&total, &stats);
	assert_int_equal(total.done[X86_EMU_KIND_CLAC], 4);
	out = open_memstream(&text, &size);
	assert_non_null(out);
	x86_emu_stats_print(&total, out);
	fclose(out);
	assert_non_null(strstr(text, "emulated in the monitor: 4"));
	assert_non_null(strstr(text, "clac"));
	assert_non_null(strstr(text, "unsupported"));
	assert_null(strstr(text, "popcnt"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(clac_clears_ac_and_advances_rip),
		T(stac_sets_ac),
		T(clac_at_cpl3_raises_ud),
		T(lock_prefix_raises_ud),
		T(popcnt_64bit_register_source_clears_flags),
		T(popcnt_32bit_zero_extends_and_16bit_keeps_upper_bits),
		T(popcnt_of_zero_sets_only_zf),
		T(popcnt_rex_r_and_b_select_r8_to_r15),
		T(popcnt_memory_source_with_sib_and_disp8),
		T(popcnt_rip_relative_source),
		T(popcnt_gs_override_adds_the_gs_base),
		T(popcnt_from_unmapped_memory_raises_pf),
		T(popcnt_from_non_canonical_address_raises_gp_or_ss),
		T(popcnt_bytes_cut_short_by_kvm_are_fetched_at_rip),
		T(cut_short_bytes_that_differ_from_memory_are_unsupported),
		T(instruction_running_into_an_unmapped_page_raises_fetch_pf),
		T(instruction_longer_than_15_bytes_raises_gp),
		T(unknown_instruction_is_unsupported_with_its_bytes),
		T(int3_at_cpl0_pushes_an_aligned_frame_on_the_current_stack),
		T(int3_from_cpl3_switches_to_rsp0_and_loads_a_null_ss),
		T(int_n_through_a_trap_gate_keeps_if),
		T(ist_gate_uses_the_ist_stack_without_privilege_change),
		T(int_n_above_gate_dpl_raises_gp),
		T(gate_not_present_raises_np),
		T(gate_to_a_non_64bit_code_segment_raises_gp_selector),
		T(gate_of_invalid_type_raises_gp),
		T(gate_to_a_non_present_code_segment_raises_np_selector),
		T(loading_cs_sets_the_descriptor_accessed_bit),
		T(int3_onto_an_unmapped_stack_raises_pf_and_writes_nothing),
		T(vector_beyond_the_idt_limit_raises_gp),
		T(idt_outside_ram_is_an_error),
		T(int3_in_32bit_protected_mode_at_cpl0),
		T(int3_in_32bit_mode_from_ring3_switches_to_ss0_esp0),
		T(int3_in_real_mode_is_unsupported),
		T(true_syscall_frame_is_repaired),
		T(handler_opening_with_endbr64_is_recognised),
		T(frame_with_kernel_cs_is_an_ordinary_clac),
		T(frame_rip_other_than_lstar_is_an_ordinary_clac),
		T(cr2_other_than_lstar_is_an_ordinary_clac),
		T(unmapped_stack_is_an_ordinary_clac),
		T(genuine_user_page_fault_is_left_alone),
		T(clac_outside_the_pf_handler_is_an_ordinary_clac),
		T(no_syscall_before_rcx_is_an_ordinary_clac),
		T(suspect_needs_no_msrs_and_check_needs_lstar),
		T(repair_leaves_what_a_real_syscall_leaves),
		T(repair_forces_cs_rpl_0_and_takes_ss_as_star_plus_8),
		T(raised_page_fault_sets_cr2_and_pushes_the_error_code),
		T(fault_during_delivery_of_a_benign_exception_is_delivered_next),
		T(contributory_fault_during_gp_delivery_becomes_double_fault),
		T(undeliverable_double_fault_is_a_triple_fault),
		T(stats_print_names_each_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
