/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "vmm/resources.h"

#define EXPECT_MSG(err, text) do { if (!strstr((err).msg, (text))) fail_msg("'%s' lacks '%s'", (err).msg, (text)); } while (0)

static void fixed_claims_never_overlap(void **state)
{
	struct resources r;
	struct vmon_error err = { 0 };
	(void)state;

	resources_init_x86(&r);
	assert_int_equal(resources_claim_pio(&r, 0x3f8, 8, "com1", NULL), 0);
	assert_int_equal(resources_claim_pio(&r, 0x70, 2, "rtc", NULL), 0);
	assert_int_equal(resources_claim_pio(&r, 0x3fc, 1, "intruder", &err), -EEXIST);
	EXPECT_MSG(err, "intruder: I/O ports 0x3fc..0x3fc are taken by com1");
	assert_int_equal(resources_claim_pio(&r, 0x3f0, 8, "edge", NULL), 0);   /* touching, not overlapping */
	assert_int_equal(resources_claim_pio(&r, 0xfffe, 4, "wrap", &err), -EINVAL);
	assert_int_equal(resources_claim_pio(&r, 0x10, 0, "empty", &err), -EINVAL);
	/* Ports and MMIO are separate spaces. */
	assert_int_equal(resources_claim_mmio(&r, 0x3f8, 8, "mmio-at-same-number", NULL), 0);
	assert_int_equal(resources_claim_irq(&r, 4, "com1", NULL), 0);
	assert_int_equal(resources_claim_irq(&r, 4, "other", &err), -EEXIST);
	EXPECT_MSG(err, "taken by com1");
}

static void mmio_windows_are_aligned_disjoint_and_reused_after_release(void **state)
{
	struct resources r;
	struct vmon_error err = { 0 };
	uint64_t a, b, c, d;
	(void)state;

	resources_init_x86(&r);
	assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1000, "v0", &a, NULL), 0);
	assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1000, "v1", &b, NULL), 0);
	assert_int_equal(a, X86_VIRTIO_MMIO_BASE);
	assert_int_equal(b, X86_VIRTIO_MMIO_BASE + 0x1000);
	assert_int_equal(resources_alloc_mmio(&r, 0x2000, 0x2000, "big", &c, NULL), 0);
	assert_int_equal(c % 0x2000, 0);
	assert_true(c >= b + 0x1000);
	assert_int_equal(resources_release(&r, "v0"), 1);
	assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1000, "v2", &d, NULL), 0);
	assert_int_equal(d, a);
	assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1800, "bad", &d, &err), -EINVAL);
	assert_int_equal(resources_alloc_mmio(&r, 0, 0x1000, "bad", &d, &err), -EINVAL);
}

static void mmio_area_runs_out(void **state)
{
	struct resources r;
	struct vmon_error err = { 0 };
	static const unsigned irqs[] = { 5 };
	uint64_t base;
	(void)state;

	resources_init(&r, 0x10000, 0x13000, irqs, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1000, "w", &base, NULL), 0);
	assert_int_equal(resources_alloc_mmio(&r, 0x1000, 0x1000, "w4", &base, &err), -ENOSPC);
	EXPECT_MSG(err, "w4: no free MMIO window");
}

static void irq_lines_come_from_the_pool_skipping_claimed_ones(void **state)
{
	struct resources r;
	struct vmon_error err = { 0 };
	static const unsigned pool[] = X86_VIRTIO_GSIS;
	unsigned gsi;
	(void)state;

	resources_init_x86(&r);
	assert_int_equal(resources_claim_irq(&r, pool[1], "fixed", NULL), 0);
	assert_int_equal(resources_alloc_irq(&r, "d0", &gsi, NULL), 0);
	assert_int_equal(gsi, pool[0]);
	assert_int_equal(resources_alloc_irq(&r, "d1", &gsi, NULL), 0);
	assert_int_equal(gsi, pool[2]);
	for (unsigned i = 3; i < X86_VIRTIO_MAX_MMIO_DEVICES; i++)
		assert_int_equal(resources_alloc_irq(&r, "dn", &gsi, NULL), 0);
	assert_int_equal(resources_alloc_irq(&r, "last", &gsi, &err), -ENOSPC);
	EXPECT_MSG(err, "no free interrupt line");
	assert_int_equal(resources_release(&r, "d0"), 1);
	assert_int_equal(resources_alloc_irq(&r, "again", &gsi, NULL), 0);
	assert_int_equal(gsi, pool[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_claims_never_overlap),
		cmocka_unit_test(mmio_windows_are_aligned_disjoint_and_reused_after_release),
		cmocka_unit_test(mmio_area_runs_out),
		cmocka_unit_test(irq_lines_come_from_the_pool_skipping_claimed_ones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
