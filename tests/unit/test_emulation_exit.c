/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/emulation_exit.h"

/*
 * vcpu.c's side of an emulation-failure exit, on synthetic kvm_run, kvm_regs
 * and kvm_sregs. A small 64-bit guest: 2 MiB pages, 0..2 MiB user (code at
 * UCODE, stack at USTACK), 2..4 MiB supervisor (GDT, IDT, handlers, kernel
 * stack); GDT 0x10 kernel code64, 0x18 data, 0x2b user data, 0x33 user code64.
 */
#define RAM     (8ull << 20)
#define GDT     0x201000ull
#define IDT     0x202000ull
#define H_UD    0x210000ull
#define H_PF    0x211000ull
#define LSTAR   0x212040ull
#define KCODE   0x213000ull
#define KSTACK  0x280000ull
#define UCODE   0x10000ull
#define USTACK  0x18000ull
#define STAR    0x0023001000000000ull

static struct guest_mem mem;
static struct x86_emu_cpu cpu;
static struct kvm_run *run;
static struct x86_emu_exit ex;
static struct x86_emu_stats stats;
static struct x86_emu_report rep;

static void set64(uint64_t gpa, uint64_t v) { assert_int_equal(guest_mem_write(&mem, gpa, &v, 8), 0); }
static uint64_t get64(uint64_t gpa)
{
	uint64_t v = 0;
	assert_int_equal(guest_mem_read(&mem, gpa, &v, 8), 0);
	return v;
}
static void put(uint64_t gpa, const void *b, size_t n) { assert_int_equal(guest_mem_write(&mem, gpa, b, n), 0); }

static void gate(unsigned vec, uint64_t off)
{
	set64(IDT + vec * 16, (off & 0xffff) | 0x10ull << 16 | (uint64_t)X86_GATE_INT << 40 | 1ull << 47 |
			      ((off >> 16) & 0xffff) << 48);
	set64(IDT + vec * 16 + 8, off >> 32);
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool l, bool db)
{
	return (struct kvm_segment){ .selector = sel, .limit = 0xffffffff, .type = type, .present = 1,
				     .dpl = sel & 3, .db = db, .s = 1, .l = l, .g = 1 };
}

static int setup(void **state __attribute__((unused)))
{
	static const uint64_t gdt[7] = { 0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0,
					 0x00cff3000000ffffull, 0x00affb000000ffffull };

	assert_int_equal(x86_guest_mem_create(&mem, RAM, NULL), 0);
	set64(0x1000, 0x2000 | X86_PTE_P | X86_PTE_W | X86_PTE_U);
	set64(0x2000, 0x3000 | X86_PTE_P | X86_PTE_W | X86_PTE_U);
	set64(0x3000, 0x000000 | X86_PTE_P | X86_PTE_W | X86_PTE_U | X86_PTE_PS);
	set64(0x3008, 0x200000 | X86_PTE_P | X86_PTE_W | X86_PTE_PS);
	put(GDT, gdt, sizeof(gdt));
	gate(X86_VEC_UD, H_UD);
	gate(X86_VEC_PF, H_PF);

	memset(&cpu, 0, sizeof(cpu));
	cpu.mem = &mem;
	cpu.regs.rip = KCODE;
	cpu.regs.rsp = KSTACK;
	cpu.regs.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_AC;
	cpu.sregs.cs = seg(0x10, 0xb, true, false);
	cpu.sregs.ss = seg(0x18, 0x3, false, true);
	cpu.sregs.ds = cpu.sregs.es = cpu.sregs.fs = cpu.sregs.gs = cpu.sregs.ss;
	cpu.sregs.gdt = (struct kvm_dtable){ .base = GDT, .limit = sizeof(gdt) - 1 };
	cpu.sregs.idt = (struct kvm_dtable){ .base = IDT, .limit = 0xfff };
	cpu.sregs.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP | X86_CR0_NE;
	cpu.sregs.cr3 = 0x1000;
	cpu.sregs.cr4 = X86_CR4_PAE;
	cpu.sregs.efer = X86_EFER_LME | X86_EFER_LMA | 1;
	run = calloc(1, sizeof(*run));
	assert_non_null(run);
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	memset(&stats, 0, sizeof(stats));
	memset(&rep, 0, sizeof(rep));
	memset(&ex, 0xa5, sizeof(ex));   /* prepare must fill every field */
	return 0;
}

static int teardown(void **state __attribute__((unused)))
{
	free(run);
	guest_mem_destroy(&mem);
	return 0;
}

/* What KVM with KVM_CAP_EXIT_ON_EMULATION_FAILURE reports. */
static void kvm_reports(const uint8_t *bytes, size_t n)
{
	run->emulation_failure.ndata = 3;
	run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
	run->emulation_failure.insn_size = (uint8_t)n;
	memcpy(run->emulation_failure.insn_bytes, bytes, n < 15 ? n : 15);
}

static const uint8_t clac[] = { 0x0f, 0x01, 0xca };

/* After a CPL3 `syscall` at UCODE that the host left at CPL 3: the #PF at LSTAR, at its clac. */
static void at_broken_syscall(void)
{
	static const uint8_t sys[] = { 0x0f, 0x05 };
	const uint64_t rsp = KSTACK - 48;

	put(UCODE, sys, sizeof(sys));
	put(H_PF, clac, sizeof(clac));
	set64(rsp, X86_PF_P | X86_PF_U);
	set64(rsp + 8, LSTAR);
	set64(rsp + 16, 0x33);
	set64(rsp + 24, X86_RFLAGS_FIXED | X86_RFLAGS_RF);
	set64(rsp + 32, USTACK);
	set64(rsp + 40, 0x2b);
	cpu.regs.rip = H_PF;
	cpu.regs.rsp = rsp;
	cpu.regs.rflags = X86_RFLAGS_FIXED;
	cpu.regs.rcx = UCODE + 2;
	cpu.regs.r11 = X86_RFLAGS_FIXED | X86_RFLAGS_IF;
	cpu.sregs.cr2 = LSTAR;
	kvm_reports(clac, sizeof(clac));
}

#define TEST(name) static void name(void **state __attribute__((unused)))

/* --- what to take from kvm_run ---------------------------------------------------- */

TEST(instruction_bytes_are_copied_out_of_kvm_run)
{
	kvm_reports(clac, sizeof(clac));
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(ex.insn_len, 3);
	assert_memory_equal(ex.insn, clac, 3);
}

TEST(instruction_size_beyond_the_15_bytes_is_clamped)
{
	uint8_t fifteen[15];

	memset(fifteen, 0x66, sizeof(fifteen));
	kvm_reports(fifteen, sizeof(fifteen));
	run->emulation_failure.insn_size = 200;
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(ex.insn_len, 15);
	assert_memory_equal(ex.insn, fifteen, 15);
}

TEST(no_bytes_without_the_flag_or_with_too_little_data)
{
	kvm_reports(clac, sizeof(clac));
	run->emulation_failure.flags = 0;
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(ex.insn_len, 0);

	kvm_reports(clac, sizeof(clac));
	run->emulation_failure.ndata = 2;   /* flags and half the bytes: an older KVM's layout */
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(ex.insn_len, 0);
}

/* --- what else to read -------------------------------------------------------------- */

TEST(fwait_asks_for_the_fpu_state_then_completes_with_it)
{
	static const uint8_t fwait[] = { 0x9b }, prefixed[] = { 0x66, 0x48, 0x9b };
	static struct kvm_xsave xsave;   /* FSW 0: no x87 exception pending */
	const uint8_t *forms[] = { fwait, prefixed };
	const size_t lens[] = { sizeof(fwait), sizeof(prefixed) };

	for (int i = 0; i < 2; i++) {
		cpu.regs.rip = KCODE;
		cpu.fpu = NULL;
		cpu.dirty = 0;
		kvm_reports(forms[i], lens[i]);
		x86_emu_exit_prepare(run, &cpu, &ex);
		/* Without the x87/SSE image: asked for, nothing changed. */
		assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_NEED_FPU);
		assert_int_equal(cpu.regs.rip, KCODE);
		assert_int_equal(cpu.dirty, 0);
		/* With it (what vcpu.c reads with KVM_GET_XSAVE): done. */
		cpu.fpu = &xsave;
		assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);
		assert_int_equal(cpu.regs.rip, KCODE + lens[i]);
	}
	cpu.fpu = NULL;
}

TEST(other_instructions_do_not_need_the_fpu_state)
{
	kvm_reports(clac, sizeof(clac));
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);
	assert_false(cpu.dirty & X86_EMU_DIRTY_FPU);
}

TEST(syscall_msrs_are_read_only_for_a_broken_syscall_state)
{
	kvm_reports(clac, sizeof(clac));
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_false(ex.need_syscall_msrs);

	at_broken_syscall();
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_true(ex.need_syscall_msrs);
}

/* --- the emulation and what to set -------------------------------------------------- */

TEST(plain_clac_sets_the_registers_only)
{
	struct x86_emu_cpu before;

	put(KCODE, clac, sizeof(clac));
	kvm_reports(clac, sizeof(clac));
	before = cpu;
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(cpu.regs.rip, KCODE + 3);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED);
	assert_memory_equal(&cpu.sregs, &before.sregs, sizeof(cpu.sregs));
	assert_int_equal(stats.done[X86_EMU_KIND_CLAC], 1);
}

TEST(broken_syscall_is_completed_once_the_msrs_are_read)
{
	at_broken_syscall();
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_true(ex.need_syscall_msrs);
	cpu.msr_star = STAR;     /* what vcpu.c reads with KVM_GET_MSRS */
	cpu.msr_lstar = LSTAR;
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_SYSCALL_REPAIR);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS);
	assert_int_equal(cpu.regs.rip, LSTAR);
	assert_int_equal(cpu.regs.rsp, USTACK);
	assert_int_equal(cpu.regs.rcx, UCODE + 2);
	assert_int_equal(cpu.regs.r11, X86_RFLAGS_FIXED | X86_RFLAGS_IF);
	assert_int_equal(cpu.regs.rflags, X86_RFLAGS_FIXED);
	assert_int_equal(cpu.sregs.cs.selector, 0x10);
	assert_int_equal(cpu.sregs.cs.dpl, 0);
	assert_int_equal(cpu.sregs.cs.l, 1);
	assert_int_equal(cpu.sregs.ss.selector, 0x18);
	assert_int_equal(stats.done[X86_EMU_KIND_SYSCALL_REPAIR], 1);
	assert_int_equal(stats.done[X86_EMU_KIND_CLAC], 0);
}

TEST(broken_syscall_without_the_msrs_is_an_ordinary_clac)
{
	at_broken_syscall();
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);   /* LSTAR left 0 */
	assert_int_equal(rep.kind, X86_EMU_KIND_CLAC);
	assert_int_equal(cpu.regs.rip, H_PF + 3);
	assert_int_equal(cpu.sregs.cs.selector, 0x10);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
}

TEST(guest_fault_is_delivered_through_the_idt)
{
	static const uint8_t lock_clac[] = { 0xf0, 0x0f, 0x01, 0xca };

	put(KCODE, lock_clac, sizeof(lock_clac));
	kvm_reports(lock_clac, sizeof(lock_clac));
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_DONE);
	assert_int_equal(rep.kind, X86_EMU_KIND_EXCEPTION);
	assert_int_equal(cpu.regs.rip, H_UD);
	assert_int_equal(cpu.dirty & X86_EMU_DIRTY_REGS, X86_EMU_DIRTY_REGS);
	assert_int_equal(get64(cpu.regs.rsp), KCODE);   /* #UD is a fault: the frame's RIP is the instruction */
	assert_int_equal(stats.guest_faults, 1);
	assert_int_equal(stats.done[X86_EMU_KIND_EXCEPTION], 1);
}

TEST(unsupported_instruction_sets_nothing_and_says_where)
{
	static const uint8_t cpuid[] = { 0x0f, 0xa2 };
	struct x86_emu_cpu before;

	put(KCODE, cpuid, sizeof(cpuid));
	kvm_reports(cpuid, sizeof(cpuid));
	before = cpu;
	x86_emu_exit_prepare(run, &cpu, &ex);
	assert_int_equal(x86_emu_exit_run(&cpu, &ex, &stats, &rep), X86_EMU_UNSUPPORTED);
	assert_int_equal(cpu.dirty, 0);
	assert_memory_equal(&cpu.regs, &before.regs, sizeof(cpu.regs));
	assert_non_null(strstr(rep.msg.msg, "0x213000"));
	assert_int_equal(stats.unsupported, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(instruction_bytes_are_copied_out_of_kvm_run),
		T(instruction_size_beyond_the_15_bytes_is_clamped),
		T(no_bytes_without_the_flag_or_with_too_little_data),
		T(fwait_asks_for_the_fpu_state_then_completes_with_it),
		T(other_instructions_do_not_need_the_fpu_state),
		T(syscall_msrs_are_read_only_for_a_broken_syscall_state),
		T(plain_clac_sets_the_registers_only),
		T(broken_syscall_is_completed_once_the_msrs_are_read),
		T(broken_syscall_without_the_msrs_is_an_ordinary_clac),
		T(guest_fault_is_delivered_through_the_idt),
		T(unsupported_instruction_sets_nothing_and_says_where),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
