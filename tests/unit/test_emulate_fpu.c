/* SPDX-License-Identifier: MIT */
/*
 * The x87/SSE state instructions of Linux's FPU code (arch/x86/kernel/fpu/
 * core.c, legacy.h): fwait, fnclex, ldmxcsr, stmxcsr, fxsave(64) and
 * fxrstor(64), on the synthetic guest of emulate_fixture.h with a synthetic
 * KVM_GET_XSAVE image. Operand forms are the ones Linux's code uses:
 * `ldmxcsr 0x4(%rsp)`, `fxsaveq (%rdi)`, `fxsave sym(%rip)`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulate_fixture.h"

/* Offsets in an FXSAVE area / the XSAVE image (SDM vol. 1 table 10-2). */
#define FCW 0
#define FSW 2
#define FTW 4
#define FOP 6
#define FIP 8
#define FDP 16
#define MXCSR 24
#define MXCSR_MASK 28
#define ST0 32
#define XMM0 160
#define XSTATE_BV 512
#define MASK_NO_DAZ 0xffbfu   /* this CPU's MXCSR_MASK in the tests: DAZ (bit 6) reserved */

#define AREA     (KBASE + 0x60000)   /* 16-byte aligned, supervisor, writable */
#define CROSSING (KBASE + 0x60ff0)   /* an FXSAVE area here runs into the next page */

static struct kvm_xsave fpu;

static uint8_t *img(void) { return (uint8_t *)fpu.region; }
static uint64_t img_get(size_t off, size_t n) { uint64_t v = 0; memcpy(&v, img() + off, n); return v; }
static void img_set(size_t off, uint64_t v, size_t n) { memcpy(img() + off, &v, n); }
static uint64_t mem_get(uint64_t la, size_t n)
{
	uint64_t v = 0;
	assert_int_equal(guest_mem_read(&mem, kphys(la), &v, n), 0);
	return v;
}

/* Linux at CPL 0 with CR4.OSFXSR; the x87/SSE state as after FNINIT and reset (XSTATE_BV 0: both initial). */
static int setup_fpu(void **state)
{
	setup(state);
	cpu.sregs.cr4 |= X86_CR4_OSFXSR;
	memset(&fpu, 0, sizeof(fpu));
	img_set(FCW, 0x37f, 2);
	img_set(MXCSR, 0x1f80, 4);
	cpu.fpu = &fpu;
	cpu.mxcsr_mask = MASK_NO_DAZ;
	return 0;
}

#define TF(f) cmocka_unit_test_setup_teardown(f, setup_fpu, teardown)

/* A recognisable state: every field a different value, XMM i = bytes 0xa0+i. */
static void fill_state(void)
{
	img_set(FCW, 0x027f, 2);
	img_set(FSW, 0x3021, 2);
	img_set(FTW, 0x81, 1);
	img_set(FOP, 0x05d9, 2);
	img_set(FIP, 0xffffffff81234567ull, 8);
	img_set(FDP, 0xffff888012345678ull, 8);
	img_set(MXCSR, 0x9fa0, 4);
	for (unsigned i = 0; i < 8; i++)
		memset(img() + ST0 + 16 * i, 0x10 + i, 10);
	for (unsigned i = 0; i < 16; i++)
		memset(img() + XMM0 + 16 * i, 0xa0 + i, 16);
	img_set(XSTATE_BV, 3, 8);
}

/* The state must be exactly as before (compared byte for byte). */
static void expect_fault_untouched(enum x86_emu_result res, const struct x86_emu_cpu *before,
				   const struct kvm_xsave *fpu_before, uint8_t vec, int code)
{
	expect_fault(res, before, vec, code);
	assert_memory_equal(&fpu, fpu_before, sizeof(fpu));
}

/* --- fwait, fnclex ------------------------------------------------------------ */

TEST(fwait_is_a_noop_without_pending_x87_exception)
{
	img_set(FSW, 0x3800, 2);   /* TOP = 7, no exception flags */
	assert_int_equal(EMULATE(0x9b), X86_EMU_DONE);
	assert_int_equal(cpu.regs.rip, KCODE + 1);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(stats.done[X86_EMU_KIND_FWAIT], 1);
}

TEST(fwait_with_pending_unmasked_exception_raises_mf)
{
	struct x86_emu_cpu before;
	img_set(FSW, 0x0081, 2);   /* IE + ES */
	before = cpu;
	expect_fault(EMULATE(0x9b), &before, X86_VEC_MF, -1);
}

TEST(fwait_with_pending_exception_and_ne_clear_is_unsupported)
{
	img_set(FSW, 0x0081, 2);
	cpu.sregs.cr0 &= ~X86_CR0_NE;
	assert_int_equal(EMULATE(0x9b), X86_EMU_UNSUPPORTED);
	assert_non_null(strstr(rep.msg.msg, "CR0.NE"));
}

TEST(fwait_with_ts_and_mp_raises_nm)
{
	struct x86_emu_cpu before;
	cpu.sregs.cr0 |= X86_CR0_TS | X86_CR0_MP;
	before = cpu;
	expect_fault(EMULATE(0x9b), &before, X86_VEC_NM, -1);
}

TEST(fnclex_clears_exception_flags_stack_fault_summary_and_busy)
{
	img_set(FSW, 0xb8ff, 2);   /* B, TOP = 7, ES, SF, all six flags */
	assert_int_equal(EMULATE(0xdb, 0xe2), X86_EMU_DONE);
	assert_int_equal(img_get(FSW, 2), 0x3800);
	assert_int_equal(img_get(XSTATE_BV, 8), 1);   /* the x87 component now holds state */
	assert_int_equal(cpu.regs.rip, KCODE + 2);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_FPU);
	assert_int_equal(stats.done[X86_EMU_KIND_FNCLEX], 1);
}

TEST(fnclex_with_em_raises_nm)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before = fpu;
	cpu.sregs.cr0 |= X86_CR0_EM;
	before = cpu;
	expect_fault_untouched(EMULATE(0xdb, 0xe2), &before, &fpu_before, X86_VEC_NM, -1);
}

/* --- the state on demand --------------------------------------------------------- */

TEST(instruction_without_the_state_asks_for_it_and_counts_nothing)
{
	struct x86_emu_cpu before;
	struct x86_emu_stats zero = { 0 };
	cpu.fpu = NULL;
	before = cpu;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x54, 0x24, 0x04), X86_EMU_NEED_FPU);   /* ldmxcsr 0x4(%rsp) */
	assert_memory_equal(&cpu, &before, sizeof(cpu));
	assert_memory_equal(&stats, &zero, sizeof(stats));
	assert_int_equal(rep.kind, X86_EMU_KIND_LDMXCSR);
	cpu.fpu = &fpu;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x54, 0x24, 0x04), X86_EMU_DONE);
	assert_int_equal(stats.done[X86_EMU_KIND_LDMXCSR], 1);
}

TEST(exception_checks_come_before_asking_for_the_state)
{
	struct x86_emu_cpu before;
	cpu.fpu = NULL;
	cpu.sregs.cr0 |= X86_CR0_TS;
	before = cpu;
	expect_fault(EMULATE(0x48, 0x0f, 0xae, 0x07), &before, X86_VEC_NM, -1);   /* fxsaveq (%rdi) */
}

/* --- ldmxcsr, stmxcsr ----------------------------------------------------------- */

TEST(ldmxcsr_rsp_disp8_as_in_kernel_fpu_begin)
{
	set64(kphys(KSTACK), 0x00001f80ull << 32);   /* MXCSR_DEFAULT at 4(%rsp) */
	img_set(MXCSR, 0x9fe0, 4);                    /* FZ, masks, PE: what user code left */
	assert_int_equal(EMULATE(0x0f, 0xae, 0x54, 0x24, 0x04), X86_EMU_DONE);
	assert_int_equal(img_get(MXCSR, 4), 0x1f80);
	assert_int_equal(img_get(XSTATE_BV, 8), 2);   /* SSE component: MXCSR belongs to it */
	assert_int_equal(cpu.regs.rip, KCODE + 5);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_FPU);
	assert_string_equal(rep.msg.msg, "ldmxcsr at rip 0xffffffff80040000");
}

TEST(ldmxcsr_rip_relative_and_rex_w_ignored)
{
	set64(kphys(KCODE + 8 + 0x200), 0x7f80);
	/* ldmxcsr 0x200(%rip) with a redundant REX.W */
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x15, 0x00, 0x02, 0x00, 0x00), X86_EMU_DONE);
	assert_int_equal(img_get(MXCSR, 4), 0x7f80);
	assert_int_equal(cpu.regs.rip, KCODE + 8);
}

TEST(ldmxcsr_operand_crossing_a_page_is_read_whole)
{
	const uint8_t v[4] = { 0x80, 0x1f, 0x00, 0x00 };
	put(kphys(KBASE + 0x60ffe), v, 4);
	cpu.regs.rbx = KBASE + 0x60ffe;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x13), X86_EMU_DONE);   /* ldmxcsr (%rbx) */
	assert_int_equal(img_get(MXCSR, 4), 0x1f80);
}

TEST(ldmxcsr_reserved_bit_raises_gp_and_keeps_the_state)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before;
	set64(kphys(KSTACK), 0x00011f80ull << 32);   /* bit 16: reserved on every CPU */
	before = cpu;
	fpu_before = fpu;
	expect_fault_untouched(EMULATE(0x0f, 0xae, 0x54, 0x24, 0x04), &before, &fpu_before, X86_VEC_GP, 0);
	assert_non_null(strstr(rep.msg.msg, "reserved"));
}

TEST(ldmxcsr_daz_follows_the_mxcsr_mask)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before;
	set64(kphys(KSTACK), 0x1fc0);   /* DAZ */
	before = cpu;
	fpu_before = fpu;
	expect_fault_untouched(EMULATE(0x0f, 0xae, 0x14, 0x24), &before, &fpu_before, X86_VEC_GP, 0);
	cpu.mxcsr_mask = 0;   /* unknown: the default mask, DAZ reserved too */
	expect_fault_untouched(EMULATE(0x0f, 0xae, 0x14, 0x24), &before, &fpu_before, X86_VEC_GP, 0);
	cpu.mxcsr_mask = 0xffff;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x14, 0x24), X86_EMU_DONE);   /* ldmxcsr (%rsp) */
	assert_int_equal(img_get(MXCSR, 4), 0x1fc0);
}

TEST(ldmxcsr_operand_running_into_an_unmapped_page_raises_pf)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before = fpu;
	cpu.regs.rbx = UNMAPPED - 2;
	before = cpu;
	expect_fault_untouched(EMULATE(0x0f, 0xae, 0x13), &before, &fpu_before, X86_VEC_PF, 0);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
}

TEST(ldmxcsr_from_outside_ram_is_an_error)
{
	cpu.regs.rbx = NOT_RAM;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x13), X86_EMU_ERROR);
	assert_int_equal(cpu.dirty, 0);
	assert_non_null(strstr(rep.msg.msg, "ldmxcsr at rip"));
}

TEST(ldmxcsr_without_osfxsr_or_with_em_raises_ud_and_with_ts_nm)
{
	struct x86_emu_cpu before;
	cpu.sregs.cr4 &= ~X86_CR4_OSFXSR;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x13), &before, X86_VEC_UD, -1);
	cpu.sregs.cr4 |= X86_CR4_OSFXSR;
	cpu.sregs.cr0 |= X86_CR0_EM | X86_CR0_TS;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x13), &before, X86_VEC_UD, -1);
	cpu.sregs.cr0 &= ~X86_CR0_EM;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x13), &before, X86_VEC_NM, -1);
}

TEST(ldmxcsr_non_canonical_raises_gp_and_via_rsp_ss)
{
	struct x86_emu_cpu before;
	cpu.regs.rbx = 0x0000800000000000ull;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x13), &before, X86_VEC_GP, 0);
	cpu.regs.rsp = 0x0000800000000000ull;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x14, 0x24), &before, X86_VEC_SS, 0);
}

TEST(prefixed_and_register_forms_of_0f_ae_are_not_ours)
{
	struct x86_emu_cpu before = cpu;
	assert_int_equal(EMULATE(0x66, 0x0f, 0xae, 0x13), X86_EMU_UNSUPPORTED);
	assert_int_equal(EMULATE(0xf3, 0x0f, 0xae, 0x13), X86_EMU_UNSUPPORTED);
	assert_int_equal(EMULATE(0x0f, 0xae, 0xe8), X86_EMU_UNSUPPORTED);        /* lfence */
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x27), X86_EMU_UNSUPPORTED);  /* xsave64 (%rdi) */
	assert_int_equal(EMULATE(0xdb, 0xe3), X86_EMU_UNSUPPORTED);              /* fninit: KVM's */
	assert_memory_equal(&cpu, &before, sizeof(cpu));
	assert_int_equal(stats.unsupported, 5);
}

TEST(lock_prefixed_ldmxcsr_raises_ud)
{
	struct x86_emu_cpu before = cpu;
	expect_fault(EMULATE(0xf0, 0x0f, 0xae, 0x13), &before, X86_VEC_UD, -1);
}

TEST(stmxcsr_stores_mxcsr_and_leaves_the_state_clean)
{
	img_set(MXCSR, 0x9fa0, 4);
	set64(kphys(KSTACK), ~0ull);
	assert_int_equal(EMULATE(0x0f, 0xae, 0x5c, 0x24, 0x04), X86_EMU_DONE);   /* stmxcsr 0x4(%rsp) */
	assert_int_equal(get64(kphys(KSTACK)), 0x00009fa0ffffffffull);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(stats.done[X86_EMU_KIND_STMXCSR], 1);
}

TEST(stmxcsr_running_into_an_unmapped_page_raises_pf_and_writes_nothing)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before = fpu;
	set64(UNMAPPED - 8, 0x1122334455667788ull);
	cpu.regs.rbx = UNMAPPED - 2;
	before = cpu;
	expect_fault_untouched(EMULATE(0x0f, 0xae, 0x1b), &before, &fpu_before, X86_VEC_PF, X86_PF_W);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
	assert_int_equal(get64(UNMAPPED - 8), 0x1122334455667788ull);
}

/* --- fxsave, fxrstor ------------------------------------------------------------ */

TEST(fxsave64_writes_the_64bit_layout_and_nothing_past_xmm15)
{
	fill_state();
	for (unsigned i = 0; i < X86_FX_SIZE; i += 8)
		set64(kphys(AREA) + i, 0xccccccccccccccccull);
	cpu.regs.rdi = AREA;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x07), X86_EMU_DONE);   /* fxsaveq (%rdi) */
	assert_int_equal(mem_get(AREA + FCW, 2), 0x027f);
	assert_int_equal(mem_get(AREA + FSW, 2), 0x3021);
	assert_int_equal(mem_get(AREA + FTW, 1), 0x81);
	assert_int_equal(mem_get(AREA + FOP, 2), 0x05d9);
	assert_int_equal(mem_get(AREA + FIP, 8), 0xffffffff81234567ull);
	assert_int_equal(mem_get(AREA + FDP, 8), 0xffff888012345678ull);
	assert_int_equal(mem_get(AREA + MXCSR, 4), 0x9fa0);
	assert_int_equal(mem_get(AREA + MXCSR_MASK, 4), MASK_NO_DAZ);
	assert_int_equal(mem_get(AREA + ST0 + 7 * 16, 8), 0x1717171717171717ull);
	assert_int_equal(mem_get(AREA + XMM0 + 15 * 16 + 8, 8), 0xafafafafafafafafull);
	assert_int_equal(mem_get(AREA + 416, 8), 0xccccccccccccccccull);    /* reserved: not written */
	assert_int_equal(mem_get(AREA + 504, 8), 0xccccccccccccccccull);    /* the software's */
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS);
	assert_int_equal(cpu.regs.rip, KCODE + 4);
	assert_string_equal(rep.msg.msg, "fxsave64 at rip 0xffffffff80040000");
	assert_int_equal(stats.done[X86_EMU_KIND_FXSAVE], 1);
}

TEST(fxsave_without_rex_w_stores_32bit_fip_and_fdp_with_zero_selectors)
{
	fill_state();
	/* fxsave 0xff9(%rip) = KCODE + 0x1000: Linux's MXCSR_MASK probe at boot */
	assert_int_equal(EMULATE(0x0f, 0xae, 0x05, 0xf9, 0x0f, 0x00, 0x00), X86_EMU_DONE);
	assert_int_equal(mem_get(KCODE + 0x1000 + FIP, 8), 0x81234567ull);   /* FIP[31:0], FCS 0 */
	assert_int_equal(mem_get(KCODE + 0x1000 + FDP, 8), 0x12345678ull);   /* FDP[31:0], FDS 0 */
	assert_int_equal(mem_get(KCODE + 0x1000 + XMM0 + 15 * 16, 8), 0xafafafafafafafafull);
	assert_string_equal(rep.msg.msg, "fxsave at rip 0xffffffff80040000");
}

TEST(fxsave_misaligned_raises_gp_and_writes_nothing)
{
	struct x86_emu_cpu before;
	set64(kphys(AREA + 8), 0x5555);
	cpu.regs.rdi = AREA + 8;
	before = cpu;
	expect_fault(EMULATE(0x48, 0x0f, 0xae, 0x07), &before, X86_VEC_GP, 0);
	assert_int_equal(mem_get(AREA + 8, 8), 0x5555);
	assert_non_null(strstr(rep.msg.msg, "16-byte aligned"));
}

TEST(fxsave_crossing_a_page_writes_both)
{
	fill_state();
	cpu.regs.rdi = CROSSING;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x07), X86_EMU_DONE);
	assert_int_equal(mem_get(CROSSING + FCW, 2), 0x027f);
	assert_int_equal(mem_get(CROSSING + XMM0, 8), 0xa0a0a0a0a0a0a0a0ull);
}

TEST(fxsave_running_into_an_unmapped_page_raises_pf_and_writes_nothing)
{
	struct x86_emu_cpu before;
	fill_state();
	set64(UNMAPPED - 256, 0x4242);
	cpu.regs.rdi = UNMAPPED - 256;
	before = cpu;
	expect_fault(EMULATE(0x48, 0x0f, 0xae, 0x07), &before, X86_VEC_PF, X86_PF_W);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
	assert_int_equal(get64(UNMAPPED - 256), 0x4242);
}

TEST(fxsave_with_ts_or_em_raises_nm)
{
	struct x86_emu_cpu before;
	cpu.regs.rdi = AREA;
	cpu.sregs.cr0 |= X86_CR0_EM;
	before = cpu;
	expect_fault(EMULATE(0x48, 0x0f, 0xae, 0x07), &before, X86_VEC_NM, -1);
}

TEST(fast_fxsave_at_cpl0_skips_the_xmm_registers)
{
	fill_state();
	set64(kphys(AREA + XMM0), 0x77);
	cpu.sregs.efer |= X86_EFER_FFXSR;
	cpu.regs.rdi = AREA;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x07), X86_EMU_DONE);
	assert_int_equal(mem_get(AREA + MXCSR, 4), 0x9fa0);
	assert_int_equal(mem_get(AREA + XMM0, 8), 0x77);
}

TEST(fxsave_in_32bit_mode_saves_eight_xmm_registers)
{
	fill_state();
	cpu.sregs.efer = 0;
	cpu.sregs.cr0 = X86_CR0_PE;
	cpu.sregs.cr4 = X86_CR4_OSFXSR;
	cpu.sregs.cs = seg(0x08, 0xb, false, true);
	cpu.sregs.ds = cpu.sregs.ss = seg(0x18, 0x3, false, true);
	cpu.regs.rip = 0x5000;
	cpu.regs.rdi = 0x9000;
	set64(0x9000 + XMM0 + 8 * 16, 0x88);
	assert_int_equal(EMULATE(0x0f, 0xae, 0x07), X86_EMU_DONE);   /* fxsave (%edi) */
	assert_int_equal(get64(0x9000 + FIP), 0x81234567ull);
	assert_int_equal(get64(0x9000 + XMM0 + 7 * 16), 0xa7a7a7a7a7a7a7a7ull);
	assert_int_equal(get64(0x9000 + XMM0 + 8 * 16), 0x88);       /* XMM8: none in this mode */
	assert_int_equal(cpu.regs.rip, 0x5003);
}

TEST(fxsave_into_a_read_only_segment_raises_gp)
{
	struct x86_emu_cpu before;
	cpu.sregs.efer = 0;
	cpu.sregs.cr0 = X86_CR0_PE;
	cpu.sregs.cs = seg(0x08, 0xb, false, true);
	cpu.sregs.ds = seg(0x18, 0x1, false, true);   /* data, read-only, accessed */
	cpu.regs.rip = 0x5000;
	cpu.regs.rdi = 0x9000;
	before = cpu;
	expect_fault(EMULATE(0x0f, 0xae, 0x07), &before, X86_VEC_GP, 0);
}

/* Writes the area fxrstor64 reads: the fill_state() values, MXCSR as given. */
static void put_area(uint64_t la, uint32_t mxcsr)
{
	struct kvm_xsave saved = fpu;
	const struct x86_fx_format fmt = { .wide = true, .nxmm = 16 };
	uint8_t area[X86_FX_SIZE] = { 0 };

	fill_state();
	x86_fx_save(&fpu, &fmt, MASK_NO_DAZ, area);
	memcpy(area + MXCSR, &mxcsr, 4);
	put(kphys(la), area, sizeof(area));
	fpu = saved;
}

TEST(fxrstor64_loads_every_field_and_marks_both_components)
{
	put_area(AREA, 0x1fa0);
	img_set(MXCSR_MASK, 0xffff, 4);
	cpu.regs.rdi = AREA;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x0f), X86_EMU_DONE);   /* fxrstorq (%rdi) */
	assert_int_equal(img_get(FCW, 2), 0x027f);
	assert_int_equal(img_get(FSW, 2), 0x3021);
	assert_int_equal(img_get(FTW, 1), 0x81);
	assert_int_equal(img_get(FOP, 2), 0x05d9);
	assert_int_equal(img_get(FIP, 8), 0xffffffff81234567ull);
	assert_int_equal(img_get(FDP, 8), 0xffff888012345678ull);
	assert_int_equal(img_get(MXCSR, 4), 0x1fa0);
	assert_int_equal(img_get(MXCSR_MASK, 4), 0xffff);                  /* not loaded */
	assert_int_equal(img_get(ST0 + 3 * 16, 8), 0x1313131313131313ull);
	assert_int_equal(img_get(XMM0 + 15 * 16 + 8, 8), 0xafafafafafafafafull);
	assert_int_equal(img_get(XSTATE_BV, 8), 3);
	assert_int_equal(cpu.dirty, X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_FPU);
	assert_string_equal(rep.msg.msg, "fxrstor64 at rip 0xffffffff80040000");
	assert_int_equal(stats.done[X86_EMU_KIND_FXRSTOR], 1);
}

TEST(fxrstor_without_rex_w_takes_32bit_fip_and_fdp)
{
	put_area(AREA, 0x1f80);
	cpu.regs.rdi = AREA;
	assert_int_equal(EMULATE(0x0f, 0xae, 0x0f), X86_EMU_DONE);   /* fxrstor (%rdi) */
	assert_int_equal(img_get(FIP, 8), 0x81234567ull);
	assert_int_equal(img_get(FDP, 8), 0x12345678ull);
}

TEST(fxrstor_with_reserved_mxcsr_bits_raises_gp_and_keeps_the_state)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before;
	put_area(AREA, 0x1fc0);   /* DAZ: reserved under MASK_NO_DAZ */
	cpu.regs.rdi = AREA;
	before = cpu;
	fpu_before = fpu;
	expect_fault_untouched(EMULATE(0x48, 0x0f, 0xae, 0x0f), &before, &fpu_before, X86_VEC_GP, 0);
}

TEST(fxrstor_misaligned_raises_gp)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before = fpu;
	cpu.regs.rdi = AREA + 4;
	before = cpu;
	expect_fault_untouched(EMULATE(0x48, 0x0f, 0xae, 0x0f), &before, &fpu_before, X86_VEC_GP, 0);
}

TEST(fxrstor_running_into_an_unmapped_page_raises_pf)
{
	struct x86_emu_cpu before;
	struct kvm_xsave fpu_before = fpu;
	cpu.regs.rdi = UNMAPPED - 16;
	before = cpu;
	expect_fault_untouched(EMULATE(0x48, 0x0f, 0xae, 0x0f), &before, &fpu_before, X86_VEC_PF, 0);
	assert_int_equal(rep.fault.cr2, UNMAPPED);
}

TEST(fxsave_then_fxrstor_across_a_page_gives_the_state_back)
{
	struct kvm_xsave filled;
	fill_state();
	filled = fpu;
	cpu.regs.rdi = CROSSING;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x07), X86_EMU_DONE);   /* fxsaveq (%rdi) */
	memset(&fpu, 0, sizeof(fpu));
	img_set(FCW, 0x37f, 2);
	img_set(MXCSR, 0x1f80, 4);
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x0f), X86_EMU_DONE);   /* fxrstorq (%rdi) */
	assert_memory_equal(&fpu, &filled, sizeof(fpu));
}

TEST(fxrstor_from_outside_ram_is_an_error)
{
	cpu.regs.rdi = NOT_RAM;
	assert_int_equal(EMULATE(0x48, 0x0f, 0xae, 0x0f), X86_EMU_ERROR);
	assert_int_equal(cpu.dirty, 0);
}

TEST(host_mxcsr_mask_is_a_plausible_mask)
{
	uint32_t mask = x86_fx_host_mxcsr_mask();
	/*
	 * Every SSE CPU has the flags, masks, RC and FZ (bits 0-5, 7-15); DAZ (6)
	 * is optional, and AMD's misaligned-SSE mask MM (17) makes 0x2ffff.
	 */
	assert_int_equal(mask & 0xffbf, 0xffbf);
	assert_int_equal(mask & ~0x2ffffu, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(fwait_is_a_noop_without_pending_x87_exception),
		TF(fwait_with_pending_unmasked_exception_raises_mf),
		TF(fwait_with_pending_exception_and_ne_clear_is_unsupported),
		TF(fwait_with_ts_and_mp_raises_nm),
		TF(fnclex_clears_exception_flags_stack_fault_summary_and_busy),
		TF(fnclex_with_em_raises_nm),
		TF(instruction_without_the_state_asks_for_it_and_counts_nothing),
		TF(exception_checks_come_before_asking_for_the_state),
		TF(ldmxcsr_rsp_disp8_as_in_kernel_fpu_begin),
		TF(ldmxcsr_rip_relative_and_rex_w_ignored),
		TF(ldmxcsr_operand_crossing_a_page_is_read_whole),
		TF(ldmxcsr_reserved_bit_raises_gp_and_keeps_the_state),
		TF(ldmxcsr_daz_follows_the_mxcsr_mask),
		TF(ldmxcsr_operand_running_into_an_unmapped_page_raises_pf),
		TF(ldmxcsr_from_outside_ram_is_an_error),
		TF(ldmxcsr_without_osfxsr_or_with_em_raises_ud_and_with_ts_nm),
		TF(ldmxcsr_non_canonical_raises_gp_and_via_rsp_ss),
		TF(prefixed_and_register_forms_of_0f_ae_are_not_ours),
		TF(lock_prefixed_ldmxcsr_raises_ud),
		TF(stmxcsr_stores_mxcsr_and_leaves_the_state_clean),
		TF(stmxcsr_running_into_an_unmapped_page_raises_pf_and_writes_nothing),
		TF(fxsave64_writes_the_64bit_layout_and_nothing_past_xmm15),
		TF(fxsave_without_rex_w_stores_32bit_fip_and_fdp_with_zero_selectors),
		TF(fxsave_misaligned_raises_gp_and_writes_nothing),
		TF(fxsave_crossing_a_page_writes_both),
		TF(fxsave_running_into_an_unmapped_page_raises_pf_and_writes_nothing),
		TF(fxsave_with_ts_or_em_raises_nm),
		TF(fast_fxsave_at_cpl0_skips_the_xmm_registers),
		TF(fxsave_in_32bit_mode_saves_eight_xmm_registers),
		TF(fxsave_into_a_read_only_segment_raises_gp),
		TF(fxrstor64_loads_every_field_and_marks_both_components),
		TF(fxrstor_without_rex_w_takes_32bit_fip_and_fdp),
		TF(fxrstor_with_reserved_mxcsr_bits_raises_gp_and_keeps_the_state),
		TF(fxrstor_misaligned_raises_gp),
		TF(fxrstor_running_into_an_unmapped_page_raises_pf),
		TF(fxsave_then_fxrstor_across_a_page_gives_the_state_back),
		TF(fxrstor_from_outside_ram_is_an_error),
		TF(host_mxcsr_mask_is_a_plausible_mask),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
