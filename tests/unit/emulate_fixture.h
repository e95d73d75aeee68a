/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_EMULATE_FIXTURE_H
#define VMON_TEST_EMULATE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arch/x86/emulate.h"

/*
 * A synthetic 64-bit guest laid out like Linux (SDM vol. 3 ch. 4-7):
 *   page tables: PML4 0x1000; PML4[0] → identity map of the low 2 MiB (4 KiB
 *   pages: supervisor, user at 0x100000-0x10ffff, 0x1f0000 not present,
 *   0x1f8000 → a gpa outside RAM); PML4[511] → KBASE + x = phys x (supervisor).
 *   GDT (KBASE+0x6000): Linux selectors 0x08 code32, 0x10 code64, 0x18 data,
 *   0x23 user code32, 0x2b user data, 0x33 user code64, 0x40 TSS, 0x50 code64
 *   not present, 0x58 code64 with the accessed bit clear.
 *   IDT (KBASE+0x7000), TSS (KBASE+0x8000): RSP0, IST1.
 */
#define RAM      (8ull << 20)
#define KBASE    0xffffffff80000000ull
#define GDT      0x6000ull
#define IDT      0x7000ull
#define TSS      0x8000ull
#define KSTACK   (KBASE + 0x88000)
#define RSP0     (KBASE + 0x90000)
#define IST1     (KBASE + 0xa0000)
#define KCODE    (KBASE + 0x40000)
#define H_BP     (KBASE + 0x20000)
#define H_PF     (KBASE + 0x21000)
#define H_GP     (KBASE + 0x22000)
#define H_DF     (KBASE + 0x23000)
#define H_OTHER  (KBASE + 0x24000)
#define LSTAR    (KBASE + 0x30040)
#define UCODE    0x100000ull
#define USTACK   0x10f008ull
#define UNMAPPED 0x1f0000ull
#define NOT_RAM  0x1f8000ull
#define P X86_PTE_P
#define W X86_PTE_W
#define U X86_PTE_U
#define FLAGS_ARITH (X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | X86_RFLAGS_SF | X86_RFLAGS_OF)

extern struct guest_mem mem;
extern struct x86_emu_cpu cpu;
extern struct x86_emu_stats stats;
extern struct x86_emu_report rep;

void set64(uint64_t gpa, uint64_t v);
uint64_t get64(uint64_t gpa);
void put(uint64_t gpa, const void *b, size_t n);
uint64_t kphys(uint64_t la);
void gate(unsigned vec, uint64_t off, uint16_t sel, unsigned type, unsigned dpl, unsigned ist, bool present);
struct kvm_segment seg(uint16_t sel, uint8_t type, bool l, bool db);
int setup(void **state);
int teardown(void **state);
void to_user(void);
enum x86_emu_result emulate(const uint8_t *b, size_t n);

/* One behaviour per test; every test gets a fresh guest from setup(). */
#define TEST(name) static void name(void **state __attribute__((unused)))

#define EMULATE(...) ({ static const uint8_t insn_[] = { __VA_ARGS__ }; emulate(insn_, sizeof(insn_)); })

/* GUEST_FAULT with exactly this exception, and no register changed. */
void expect_fault(enum x86_emu_result res, const struct x86_emu_cpu *before, uint8_t vec, int code);

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

#endif
