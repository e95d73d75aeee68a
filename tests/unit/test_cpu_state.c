/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/cpu_state.h"
#include "arch/x86/layout.h"

/* Walks the 4-level page tables in guest memory the way the MMU would. */
static uint64_t translate(struct guest_mem *mem, uint64_t cr3, uint64_t va)
{
	uint64_t *pml4 = guest_mem_ptr(mem, cr3, 4096);
	uint64_t e = pml4[(va >> 39) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	uint64_t *pdpt = guest_mem_ptr(mem, e & ~0xfffull, 4096);
	e = pdpt[(va >> 30) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	uint64_t *pd = guest_mem_ptr(mem, e & ~0xfffull, 4096);
	e = pd[(va >> 21) & 511];
	if (!(e & 1) || !(e & (1 << 7)))
		return UINT64_MAX;
	return (e & ~0x1fffffull) | (va & 0x1fffff);
}

static void page_tables_identity_map_4gib(void **state)
{
	struct guest_mem mem;
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	assert_int_equal(x86_write_boot_tables(&mem, NULL), 0);
	const uint64_t probes[] = { 0, 0x7000, 0x100000, 0x1234567, 0xbfffffff, X86_LAPIC_ADDR, 0xffffffff };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(translate(&mem, X86_BOOT_PML4_ADDR, probes[i]), probes[i]);
	assert_int_equal(translate(&mem, X86_BOOT_PML4_ADDR, 0x100000000ull), UINT64_MAX);
	guest_mem_destroy(&mem);
}

static void gdt_has_linux_boot_selectors(void **state)
{
	struct guest_mem mem;
	uint64_t gdt[5];
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 4 << 20, NULL), 0);
	assert_int_equal(x86_write_boot_tables(&mem, NULL), 0);
	assert_int_equal(guest_mem_read(&mem, X86_BOOT_GDT_ADDR, gdt, sizeof(gdt)), 0);
	/* __BOOT_CS 0x10 is a 64-bit code segment (L=1, D=0), __BOOT_DS 0x18 writable data. */
	uint64_t cs = gdt[X86_BOOT_SEL_CODE64 / 8], ds = gdt[X86_BOOT_SEL_DATA / 8];
	assert_true(cs & (1ull << 53));
	assert_false(cs & (1ull << 54));
	assert_int_equal((cs >> 40) & 0x9a, 0x9a);   /* present, code, readable */
	assert_int_equal((ds >> 40) & 0x92, 0x92);   /* present, data, writable */
	uint64_t cs32 = gdt[X86_BOOT_SEL_CODE32 / 8];
	assert_true(cs32 & (1ull << 54));            /* D=1: 32-bit */
	guest_mem_destroy(&mem);
}

static void long_mode_sregs(void **state)
{
	struct kvm_sregs s;
	(void)state;
	memset(&s, 0xcc, sizeof(s));
	x86_boot_sregs(&s, BOOT_ENTRY_LONG_MODE);
	assert_int_equal(s.cs.selector, 0x10);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.ds.selector, 0x18);
	assert_int_equal(s.ss.selector, 0x18);
	assert_true(s.cr0 & 1);
	assert_true(s.cr0 & (1u << 31));
	assert_true(s.cr4 & (1u << 5));
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.cr3, X86_BOOT_PML4_ADDR);
	assert_int_equal(s.gdt.base, X86_BOOT_GDT_ADDR);
}

static void pvh_sregs_are_flat_32bit_without_paging(void **state)
{
	struct kvm_sregs s;
	(void)state;
	memset(&s, 0xcc, sizeof(s));
	x86_boot_sregs(&s, BOOT_ENTRY_PROTECTED);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.base, 0);
	assert_int_equal(s.cs.limit, 0xffffffff);
	assert_true(s.cr0 & 1);
	assert_false(s.cr0 & (1u << 31));
	assert_int_equal(s.cr4, 0);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.tr.present, 1);
}

static void entry_registers_follow_the_protocol(void **state)
{
	struct kvm_regs r;
	struct boot_result linux_boot = { .mode = BOOT_ENTRY_LONG_MODE, .entry = 0x1000000, .boot_info_addr = 0x7000 };
	struct boot_result pvh = { .mode = BOOT_ENTRY_PROTECTED, .entry = 0x100040, .boot_info_addr = 0x6000 };
	(void)state;
	x86_boot_regs(&r, &linux_boot);
	assert_int_equal(r.rip, 0x1000000);
	assert_int_equal(r.rsi, 0x7000);
	assert_int_equal(r.rflags, 2);
	x86_boot_regs(&r, &pvh);
	assert_int_equal(r.rip, 0x100040);
	assert_int_equal(r.rbx, 0x6000);
	assert_int_equal(r.rsi, 0);
}

static void lapic_lint0_extint_lint1_nmi(void **state)
{
	struct kvm_lapic_state lapic;
	uint32_t v;
	(void)state;
	memset(&lapic, 0, sizeof(lapic));
	v = X86_APIC_LVT_MASKED;
	memcpy(&lapic.regs[X86_APIC_LVT_LINT0], &v, 4);
	memcpy(&lapic.regs[X86_APIC_LVT_LINT1], &v, 4);
	x86_lapic_wire_lints(&lapic);
	memcpy(&v, &lapic.regs[X86_APIC_LVT_LINT0], 4);
	assert_int_equal(v, X86_APIC_DM_EXTINT);
	memcpy(&v, &lapic.regs[X86_APIC_LVT_LINT1], 4);
	assert_int_equal(v, X86_APIC_DM_NMI);
}

static void msr_defaults_enable_mtrrs(void **state)
{
	struct kvm_msr_entry e[32];
	size_t n;
	int found = 0;
	(void)state;
	n = x86_boot_msrs(e, 32);
	for (size_t i = 0; i < n; i++)
		if (e[i].index == 0x2ff) {
			assert_int_equal(e[i].data, (1u << 11) | 6);
			found = 1;
		}
	assert_true(found);
	assert_int_equal(x86_boot_msrs(e, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(page_tables_identity_map_4gib),
		cmocka_unit_test(gdt_has_linux_boot_selectors),
		cmocka_unit_test(long_mode_sregs),
		cmocka_unit_test(pvh_sregs_are_flat_32bit_without_paging),
		cmocka_unit_test(entry_registers_follow_the_protocol),
		cmocka_unit_test(lapic_lint0_extint_lint1_nmi),
		cmocka_unit_test(msr_defaults_enable_mtrrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
