/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void floating_pointer_and_table_are_valid(void **state)
{
	struct guest_mem mem;
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	assert_int_equal(mptable_write(&mem, 1, NULL), 0);
	const uint8_t *mpf = guest_mem_ptr(&mem, MPTABLE_ADDR, 16);
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(sum(mpf, 16), 0);
	assert_int_equal(mpf[8], 1);   /* length in paragraphs */
	assert_int_equal(mpf[9], 4);   /* spec 1.4 */
	assert_int_equal(mpf[11], 0);  /* feature1: table present, no default configuration */
	uint32_t table = le32(mpf + 4);
	const uint8_t *mpc = guest_mem_ptr(&mem, table, 44);
	assert_memory_equal(mpc, "PCMP", 4);
	uint16_t len = (uint16_t)(mpc[4] | mpc[5] << 8);
	assert_int_equal(sum(guest_mem_ptr(&mem, table, len), len), 0);
	assert_int_equal(le32(mpc + 36), X86_LAPIC_ADDR);
	/* 1 CPU + bus + IOAPIC + 16 ISA interrupts + LINT0/LINT1. */
	assert_int_equal(mpc[34] | mpc[35] << 8, 1 + 1 + 1 + 16 + 2);
	assert_int_equal(table, MPTABLE_CONFIG_ADDR);
	assert_true(table + len <= MPTABLE_CONFIG_ADDR + MPTABLE_CONFIG_MAX_SIZE);
	guest_mem_destroy(&mem);
}

static void entries_describe_cpus_ioapic_and_isa_irqs(void **state)
{
	struct guest_mem mem;
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	assert_int_equal(mptable_write(&mem, 4, NULL), 0);
	const uint8_t *e = guest_mem_ptr(&mem, MPTABLE_CONFIG_ADDR + 44, 0x300);
	for (unsigned i = 0; i < 4; i++, e += 20) {
		assert_int_equal(e[0], 0);                     /* processor */
		assert_int_equal(e[1], i);                     /* APIC ID */
		assert_int_equal(e[3], i == 0 ? 3 : 1);        /* enabled, BSP only for CPU 0 */
	}
	assert_int_equal(e[0], 1);                             /* bus */
	assert_memory_equal(e + 2, "ISA   ", 6);
	e += 8;
	assert_int_equal(e[0], 2);                             /* IOAPIC, ID after the CPUs */
	assert_int_equal(e[1], 4);
	assert_int_equal(le32(e + 4), X86_IOAPIC_ADDR);
	e += 8;
	for (unsigned irq = 0; irq < 16; irq++, e += 8) {
		assert_int_equal(e[0], 3);
		assert_int_equal(e[5], irq);                   /* source bus IRQ */
		assert_int_equal(e[6], 4);                     /* to the IOAPIC */
		assert_int_equal(e[7], irq);                   /* pin = IRQ, KVM's default routing */
	}
	assert_int_equal(e[0], 4);                             /* LINT0 ExtINT to all LAPICs */
	assert_int_equal(e[1], 3);
	assert_int_equal(e[6], 0xff);
	assert_int_equal(e[8 + 1], 1);                         /* LINT1 NMI */
	assert_int_equal(e[8 + 7], 1);
	guest_mem_destroy(&mem);
}

static void too_many_cpus_are_refused(void **state)
{
	struct guest_mem mem;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	/* 8-bit APIC IDs: CPUs 0..253, the IOAPIC 254 (255 is the broadcast ID). */
	assert_int_equal(mptable_max_cpus(), 254);
	assert_int_equal(mptable_write(&mem, mptable_max_cpus(), NULL), 0);
	const uint8_t *mpc = guest_mem_ptr(&mem, MPTABLE_CONFIG_ADDR, 44);
	uint16_t len = (uint16_t)(mpc[4] | mpc[5] << 8);
	assert_int_equal(sum(guest_mem_ptr(&mem, MPTABLE_CONFIG_ADDR, len), len), 0);
	const uint8_t *ioapic = mpc + 44 + 254 * 20 + 8;
	assert_int_equal(ioapic[0], 2);
	assert_int_equal(ioapic[1], 254);
	assert_int_equal(mptable_write(&mem, mptable_max_cpus() + 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "do not fit"));
	assert_int_equal(mptable_write(&mem, 0, &err), -EINVAL);
	guest_mem_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(floating_pointer_and_table_are_valid),
		cmocka_unit_test(entries_describe_cpus_ioapic_and_isa_irqs),
		cmocka_unit_test(too_many_cpus_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
