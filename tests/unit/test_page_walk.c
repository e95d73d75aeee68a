/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/page_walk.h"

/*
 * A synthetic guest with its own page tables (SDM vol. 3 chapter 4). IA-32e
 * 4-level layout, CR3 = 0x1000:
 *   PML4 0x1000 → PDPT 0x2000 → PD 0x3000 → PT 0x4000 (all P|W|U)
 *   PML4[1] → 0x20000000 (outside the 8 MiB of RAM)
 *   PDPT[1]: 1 GiB page at 0;  PD[1]: 2 MiB page at 0x400000 (supervisor)
 *   PT[0x10] sup RW, [0x11] sup RO, [0x12] user RW, [0x13] user RO,
 *   [0x14] sup RW XD → 0x50000, [0x15] not present,
 *   [0x16] → 0x30000, [0x17] → 0x20000 (discontiguous), [0x18] → outside RAM
 */
#define RAM (8ull << 20)
#define P X86_PTE_P
#define W X86_PTE_W
#define U X86_PTE_U
#define RFLAGS_AC (1ull << 18)

static struct guest_mem mem;
static struct kvm_sregs sregs;
static struct x86_fault fault;
static struct vmon_error err;

static void set64(uint64_t gpa, uint64_t v)
{
	assert_int_equal(guest_mem_write(&mem, gpa, &v, 8), 0);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v = 0;
	assert_int_equal(guest_mem_read(&mem, gpa, &v, 8), 0);
	return v;
}

static void set32(uint64_t gpa, uint32_t v)
{
	assert_int_equal(guest_mem_write(&mem, gpa, &v, 4), 0);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, RAM, NULL), 0);
	set64(0x1000, 0x2000 | P | W | U);
	set64(0x1008, 0x20000000 | P | W | U);
	set64(0x2000, 0x3000 | P | W | U);
	set64(0x2008, 0x0 | P | W | X86_PTE_PS);
	set64(0x3000, 0x4000 | P | W | U);
	set64(0x3008, 0x400000 | P | W | X86_PTE_PS);
	set64(0x4000 + 0x10 * 8, 0x10000 | P | W);
	set64(0x4000 + 0x11 * 8, 0x11000 | P);
	set64(0x4000 + 0x12 * 8, 0x12000 | P | W | U);
	set64(0x4000 + 0x13 * 8, 0x13000 | P | U);
	set64(0x4000 + 0x14 * 8, 0x50000 | P | W | X86_PTE_XD);
	set64(0x4000 + 0x16 * 8, 0x30000 | P | W);
	set64(0x4000 + 0x17 * 8, 0x20000 | P | W);
	set64(0x4000 + 0x18 * 8, 0x10000000 | P | W);
	memset(&sregs, 0, sizeof(sregs));
	sregs.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	sregs.cr3 = 0x1000;
	memset(&fault, 0, sizeof(fault));
	error_clear(&err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	guest_mem_destroy(&mem);
	return 0;
}

static int translate(uint64_t la, unsigned access, uint64_t *gpa)
{
	return page_walk_translate(&mem, &sregs, la, access, gpa, &fault, &err);
}

static void expect_pf(uint64_t la, unsigned access, uint32_t code)
{
	uint64_t gpa = 0;
	assert_int_equal(translate(la, access, &gpa), -EFAULT);
	assert_int_equal(fault.vector, X86_VEC_PF);
	assert_true(fault.has_error_code);
	assert_int_equal(fault.error_code, code);
	assert_int_equal(fault.cr2, la);
}

static void expect_gpa(uint64_t la, unsigned access, uint64_t want)
{
	uint64_t gpa = 0;
	assert_int_equal(translate(la, access, &gpa), 0);
	assert_int_equal(gpa, want);
}

static void paging_off_is_identity_truncated_to_32_bits(void **state)
{
	(void)state;
	sregs.cr0 = X86_CR0_PE;
	sregs.efer = 0;
	expect_gpa(0x12345678, 0, 0x12345678);
	expect_gpa(0x100012345ull, PAGE_WALK_WRITE, 0x12345);
}

static void four_kib_page_keeps_the_offset(void **state)
{
	(void)state;
	expect_gpa(0x10abc, 0, 0x10abc);
	expect_gpa(0x16123, PAGE_WALK_WRITE, 0x30123);
}

static void two_mib_page_translates(void **state)
{
	(void)state;
	expect_gpa(0x212345, 0, 0x412345);
}

static void one_gib_page_translates(void **state)
{
	(void)state;
	expect_gpa(0x40001234, PAGE_WALK_WRITE, 0x1234);
}

static void not_present_page_faults_with_access_bits(void **state)
{
	(void)state;
	expect_pf(0x15008, 0, 0);
	expect_pf(0x15008, PAGE_WALK_WRITE | PAGE_WALK_USER, X86_PF_W | X86_PF_U);
	assert_non_null(strstr(err.msg, "not present"));
}

static void supervisor_write_to_read_only_page_faults_only_with_cr0_wp(void **state)
{
	(void)state;
	expect_pf(0x11000, PAGE_WALK_WRITE, X86_PF_P | X86_PF_W);
	sregs.cr0 &= ~X86_CR0_WP;
	expect_gpa(0x11000, PAGE_WALK_WRITE, 0x11000);
}

static void user_access_to_supervisor_page_faults(void **state)
{
	(void)state;
	expect_pf(0x10000, PAGE_WALK_USER, X86_PF_P | X86_PF_U);
	/* U/S must be set at every level: the 2 MiB page is supervisor. */
	expect_pf(0x200000, PAGE_WALK_USER, X86_PF_P | X86_PF_U);
	expect_gpa(0x12000, PAGE_WALK_USER | PAGE_WALK_WRITE, 0x12000);
}

static void user_write_to_read_only_user_page_faults(void **state)
{
	(void)state;
	expect_pf(0x13000, PAGE_WALK_USER | PAGE_WALK_WRITE, X86_PF_P | X86_PF_W | X86_PF_U);
	expect_gpa(0x13000, PAGE_WALK_USER, 0x13000);
}

static void fetch_from_xd_page_faults_with_id_bit(void **state)
{
	(void)state;
	expect_pf(0x14000, PAGE_WALK_FETCH, X86_PF_P | X86_PF_I);
	expect_gpa(0x14000, 0, 0x50000);
}

static void xd_without_efer_nxe_is_a_reserved_bit_fault(void **state)
{
	(void)state;
	sregs.efer &= ~X86_EFER_NXE;
	expect_pf(0x14000, 0, X86_PF_P | X86_PF_RSVD);
}

static void smap_blocks_supervisor_data_access_to_user_page_unless_ac(void **state)
{
	(void)state;
	sregs.cr4 |= X86_CR4_SMAP;
	expect_pf(0x12000, 0, X86_PF_P);
	expect_gpa(0x12000, page_walk_data_access(0, RFLAGS_AC, false), 0x12000);
	/* Implicit supervisor accesses (no NO_SMAP) stay blocked whatever AC says. */
	expect_pf(0x12000, PAGE_WALK_WRITE, X86_PF_P | X86_PF_W);
}

static void smep_blocks_supervisor_fetch_from_user_page(void **state)
{
	(void)state;
	sregs.cr4 |= X86_CR4_SMEP;
	expect_pf(0x12000, PAGE_WALK_FETCH, X86_PF_P | X86_PF_I);
	expect_gpa(0x12000, PAGE_WALK_FETCH | PAGE_WALK_USER, 0x12000);
}

static void data_access_flags_follow_cpl_and_ac(void **state)
{
	(void)state;
	assert_int_equal(page_walk_data_access(3, RFLAGS_AC, true), PAGE_WALK_USER | PAGE_WALK_WRITE);
	assert_int_equal(page_walk_data_access(0, 0, false), 0);
	assert_int_equal(page_walk_data_access(0, RFLAGS_AC, false), PAGE_WALK_NO_SMAP);
}

static void walk_sets_accessed_and_dirty_bits_unless_peeking(void **state)
{
	uint64_t gpa;
	(void)state;
	assert_int_equal(translate(0x10000, PAGE_WALK_WRITE | PAGE_WALK_PEEK, &gpa), 0);
	assert_int_equal(get64(0x1000) & X86_PTE_A, 0);
	assert_int_equal(get64(0x4080) & (X86_PTE_A | X86_PTE_D), 0);
	assert_int_equal(translate(0x10000, 0, &gpa), 0);
	assert_int_equal(get64(0x4080) & (X86_PTE_A | X86_PTE_D), X86_PTE_A);
	assert_int_equal(translate(0x10000, PAGE_WALK_WRITE, &gpa), 0);
	assert_int_equal(get64(0x1000) & (X86_PTE_A | X86_PTE_D), X86_PTE_A);
	assert_int_equal(get64(0x2000) & (X86_PTE_A | X86_PTE_D), X86_PTE_A);
	assert_int_equal(get64(0x3000) & (X86_PTE_A | X86_PTE_D), X86_PTE_A);
	assert_int_equal(get64(0x4080) & (X86_PTE_A | X86_PTE_D), X86_PTE_A | X86_PTE_D);
	assert_int_equal(get64(0x4080) & ~(X86_PTE_A | X86_PTE_D), 0x10000 | P | W);
}

static void faulting_walk_sets_no_bits(void **state)
{
	uint64_t gpa;
	(void)state;
	assert_int_equal(translate(0x11000, PAGE_WALK_WRITE, &gpa), -EFAULT);
	assert_int_equal(get64(0x1000) & X86_PTE_A, 0);
	assert_int_equal(get64(0x4088) & (X86_PTE_A | X86_PTE_D), 0);
}

static void non_canonical_address_is_gp0(void **state)
{
	uint64_t gpa;
	(void)state;
	assert_int_equal(translate(0x0000800000000000ull, 0, &gpa), -EFAULT);
	assert_int_equal(fault.vector, X86_VEC_GP);
	assert_int_equal(fault.error_code, 0);
	assert_false(page_walk_canonical(&sregs, 0xffff7fffffffffffull));
	assert_true(page_walk_canonical(&sregs, 0xffff800000000000ull));
	sregs.cr4 |= X86_CR4_LA57;
	assert_true(page_walk_canonical(&sregs, 0x0000800000000000ull));
	assert_false(page_walk_canonical(&sregs, 0x0100000000000000ull));
}

static void page_table_outside_ram_is_enxio(void **state)
{
	uint64_t gpa;
	(void)state;
	assert_int_equal(translate(0x8000000000ull, 0, &gpa), -ENXIO);
	assert_non_null(strstr(err.msg, "outside RAM"));
	sregs.cr3 = RAM;   /* the PML4 itself past the end of RAM */
	assert_int_equal(translate(0x1000, 0, &gpa), -ENXIO);
}

static void data_outside_ram_is_enxio(void **state)
{
	uint8_t b;
	(void)state;
	assert_int_equal(page_walk_read(&mem, &sregs, 0x18000, &b, 1, 0, &fault, &err), -ENXIO);
}

static void read_crosses_into_a_discontiguous_page(void **state)
{
	uint64_t a = 0x1111111111111111ull, b = 0x2222222222222222ull, got[2] = { 0, 0 };
	(void)state;
	set64(0x30ff8, a);
	set64(0x20000, b);
	assert_int_equal(page_walk_read(&mem, &sregs, 0x16ff8, got, 16, 0, &fault, &err), 0);
	assert_int_equal(got[0], a);
	assert_int_equal(got[1], b);
}

static void write_faulting_on_second_page_writes_nothing(void **state)
{
	const uint8_t data[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	(void)state;
	set64(0x50ff8, 0);
	assert_int_equal(page_walk_write(&mem, &sregs, 0x14ff8, data, 16, 0, &fault, &err), -EFAULT);
	assert_int_equal(fault.vector, X86_VEC_PF);
	assert_int_equal(fault.cr2, 0x15000);
	assert_int_equal(fault.error_code, X86_PF_W);
	assert_int_equal(get64(0x50ff8), 0);
}

static void write_lands_in_both_pages(void **state)
{
	const uint64_t data[2] = { 0xaaaaaaaaaaaaaaaaull, 0xbbbbbbbbbbbbbbbbull };
	(void)state;
	assert_int_equal(page_walk_write(&mem, &sregs, 0x16ff8, data, 16, 0, &fault, &err), 0);
	assert_int_equal(get64(0x30ff8), data[0]);
	assert_int_equal(get64(0x20000), data[1]);
}

static void bad_lengths_are_einval(void **state)
{
	uint8_t buf[PAGE_WALK_MAX_LEN + 1];
	(void)state;
	assert_int_equal(page_walk_read(&mem, &sregs, 0x10000, buf, 0, 0, &fault, &err), -EINVAL);
	assert_int_equal(page_walk_read(&mem, &sregs, 0x10000, buf, sizeof(buf), 0, &fault, &err), -EINVAL);
}

static void pae_paging_translates_through_the_pdpte(void **state)
{
	(void)state;
	sregs.efer = 0;
	sregs.cr3 = 0x5020;                 /* PDPT: 32-byte aligned */
	set64(0x5020 + 8 * 1, 0x6000 | P);  /* PDPTE[1]: linear 0x40000000..0x7fffffff */
	set64(0x6000, 0x7000 | P | W);
	set64(0x6008, 0x600000 | P | W | X86_PTE_PS);
	set64(0x7008, 0x9000 | P | W);
	expect_gpa(0x40001234, 0, 0x9234);
	expect_gpa(0x40212345, 0, 0x612345);
	expect_pf(0x10000, 0, 0);           /* PDPTE[0] not present */
}

static void legacy_32bit_paging_with_4kib_and_4mib_pages(void **state)
{
	(void)state;
	sregs.efer = 0;
	sregs.cr4 = X86_CR4_PSE;
	sregs.cr3 = 0x8000;
	set32(0x8000, 0x9000 | P | W);
	set32(0x9008, 0xa000 | P);
	set32(0x8004, 0x400000 | P | W | X86_PTE_PS);
	set32(0x8008, (1u << 13) | P | W | X86_PTE_PS);   /* PSE-36: physical bits 39:32 = 1 */
	expect_gpa(0x2abc, 0, 0xaabc);
	expect_pf(0x2abc, PAGE_WALK_WRITE, X86_PF_P | X86_PF_W);
	expect_gpa(0x400123, PAGE_WALK_WRITE, 0x400123);
	expect_gpa(0x800010, 0, 0x100000010ull);
	/* Without CR4.PSE the PS bit is ignored: the PDE points at a page table. */
	sregs.cr4 = 0;
	set32(0x400000, 0xc000 | P);
	expect_gpa(0x400123, 0, 0xc123);
}

static void five_level_paging_adds_a_level(void **state)
{
	(void)state;
	sregs.cr4 |= X86_CR4_LA57;
	sregs.cr3 = 0xb000;
	set64(0xb000, 0x1000 | P | W | U);
	expect_gpa(0x10abc, 0, 0x10abc);
	expect_pf(0x0002000000000000ull, 0, 0);   /* PML5[2] not present */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(paging_off_is_identity_truncated_to_32_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(four_kib_page_keeps_the_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(two_mib_page_translates, setup, teardown),
		cmocka_unit_test_setup_teardown(one_gib_page_translates, setup, teardown),
		cmocka_unit_test_setup_teardown(not_present_page_faults_with_access_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(supervisor_write_to_read_only_page_faults_only_with_cr0_wp, setup, teardown),
		cmocka_unit_test_setup_teardown(user_access_to_supervisor_page_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(user_write_to_read_only_user_page_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(fetch_from_xd_page_faults_with_id_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(xd_without_efer_nxe_is_a_reserved_bit_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(smap_blocks_supervisor_data_access_to_user_page_unless_ac, setup, teardown),
		cmocka_unit_test_setup_teardown(smep_blocks_supervisor_fetch_from_user_page, setup, teardown),
		cmocka_unit_test_setup_teardown(data_access_flags_follow_cpl_and_ac, setup, teardown),
		cmocka_unit_test_setup_teardown(walk_sets_accessed_and_dirty_bits_unless_peeking, setup, teardown),
		cmocka_unit_test_setup_teardown(faulting_walk_sets_no_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(non_canonical_address_is_gp0, setup, teardown),
		cmocka_unit_test_setup_teardown(page_table_outside_ram_is_enxio, setup, teardown),
		cmocka_unit_test_setup_teardown(data_outside_ram_is_enxio, setup, teardown),
		cmocka_unit_test_setup_teardown(read_crosses_into_a_discontiguous_page, setup, teardown),
		cmocka_unit_test_setup_teardown(write_faulting_on_second_page_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(write_lands_in_both_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_lengths_are_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(pae_paging_translates_through_the_pdpte, setup, teardown),
		cmocka_unit_test_setup_teardown(legacy_32bit_paging_with_4kib_and_4mib_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(five_level_paging_adds_a_level, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
