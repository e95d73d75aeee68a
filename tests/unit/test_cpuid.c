/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"

/* A synthetic "supported CPUID" shaped like KVM's answer on an Intel host. */
static struct kvm_cpuid2 *fake_supported(void)
{
	struct kvm_cpuid2 *c = cpuid_alloc();
	struct kvm_cpuid_entry2 base[] = {
		{ .function = 0, .eax = 0x1f },
		{ .function = 1, .eax = 0x806f8, .ebx = 0xff0a0800, .ecx = 0x7ffefbff, .edx = 0xbfebfbff },
		{ .function = 4, .index = 0, .eax = 0xfc004121 }, /* L1d */
		{ .function = 4, .index = 1, .eax = 0xfc004143 }, /* L2 */
		{ .function = 4, .index = 2, .eax = 0xfc01c163 }, /* L3 */
		{ .function = 4, .index = 3, .eax = 0 },
		{ .function = 0xb, .index = 0, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7 },
		{ .function = 0xb, .index = 1, .eax = 7, .ebx = 56, .ecx = 0x201, .edx = 7 },
		{ .function = 0xb, .index = 2, .eax = 0, .ebx = 0, .ecx = 2, .edx = 7 },
		{ .function = 0x80000008, .eax = 0x3030, .ecx = 0x703f },
	};
	c->nent = sizeof(base) / sizeof(base[0]);
	memcpy(c->entries, base, sizeof(base));
	return c;
}

static void leaf1_carries_apic_id_and_hypervisor_bit(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	(void)state;
	assert_int_equal(cpuid_configure(c, 0, 1, NULL), 0);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 0);
	assert_int_equal((e->ebx >> 16) & 0xff, 1);
	assert_int_equal(e->ebx & 0xffff, 0x0800); /* brand index / clflush size untouched */
	assert_true(e->ecx & (1u << 31));
	assert_false(e->edx & (1u << 28));         /* no HTT with one CPU */
	free(c);
}

static void topology_leaves_describe_the_vcpu_count(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	(void)state;
	assert_int_equal(cpuid_configure(c, 2, 4, NULL), 0);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 2);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_true(e->edx & (1u << 28));

	e = cpuid_find(c, 0xb, 0);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	assert_int_equal(e->ecx, 0x100);
	assert_int_equal(e->edx, 2);
	e = cpuid_find(c, 0xb, 1);
	assert_int_equal(e->eax, 2); /* 4 cores: 2 bits of APIC ID */
	assert_int_equal(e->ebx, 4);
	assert_int_equal(e->ecx, 0x201);
	e = cpuid_find(c, 0xb, 2);
	assert_int_equal(e->ebx, 0);
	assert_int_equal(e->ecx, 2);  /* level type 0 = invalid: enumeration ends */

	e = cpuid_find(c, 4, 0);
	assert_int_equal(e->eax >> 26, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 0);   /* L1 not shared */
	e = cpuid_find(c, 4, 2);
	assert_int_equal((e->eax >> 14) & 0xfff, 3);   /* L3 shared by the package */
	e = cpuid_find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 3);
	assert_int_equal((e->ecx >> 12) & 0xf, 2);
	free(c);
}

/* 129..254 CPUs need 256 IDs: the 8-bit count saturates instead of spilling into the APIC ID. */
static void many_cpus_keep_the_apic_id_intact(void **state)
{
	(void)state;
	for (unsigned n = 128; n <= 254; n += 126) {
		struct kvm_cpuid2 *c = fake_supported();
		assert_int_equal(cpuid_configure(c, 2, n, NULL), 0);
		struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
		assert_int_equal(e->ebx >> 24, 2);
		assert_int_equal((e->ebx >> 16) & 0xff, n == 128 ? 128 : 255);
		e = cpuid_find(c, 4, 0);
		assert_int_equal(e->eax >> 26, 63);
		e = cpuid_find(c, 0xb, 1);
		assert_int_equal(e->ebx, n);
		assert_int_equal(e->edx, 2);
		free(c);
	}
}

static void kvm_signature_leaf_is_present(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	(void)state;
	assert_null(cpuid_find(c, CPUID_KVM_SIGNATURE_LEAF, 0));
	assert_int_equal(cpuid_configure(c, 0, 1, NULL), 0);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, CPUID_KVM_SIGNATURE_LEAF, 0);
	assert_non_null(e);
	char sig[13] = { 0 };
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	assert_string_equal(sig, "KVMKVMKVM");
	assert_true(e->eax >= CPUID_KVM_FEATURES_LEAF);
	assert_non_null(cpuid_find(c, CPUID_KVM_FEATURES_LEAF, 0));
	free(c);
}

static void out_of_range_vcpu_is_an_error(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_not_equal(cpuid_configure(c, 1, 1, &err), 0);
	assert_non_null(strstr(err.msg, "vCPU 1 of 1"));
	assert_int_not_equal(cpuid_configure(c, 0, 0, &err), 0);
	free(c);
}

static void subleaf_lookup_distinguishes_indices(void **state)
{
	struct kvm_cpuid2 *c = fake_supported();
	(void)state;
	assert_int_equal(cpuid_find(c, 4, 1)->eax, 0xfc004143);
	/* Leaf 1 has no subleaves: any index finds it. */
	assert_non_null(cpuid_find(c, 1, 5));
	assert_null(cpuid_find(c, 4, 9));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leaf1_carries_apic_id_and_hypervisor_bit),
		cmocka_unit_test(topology_leaves_describe_the_vcpu_count),
		cmocka_unit_test(many_cpus_keep_the_apic_id_intact),
		cmocka_unit_test(kvm_signature_leaf_is_present),
		cmocka_unit_test(out_of_range_vcpu_is_an_error),
		cmocka_unit_test(subleaf_lookup_distinguishes_indices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
