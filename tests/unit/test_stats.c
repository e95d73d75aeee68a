/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/stats.h"

static void exits_are_counted_by_reason(void **state)
{
	struct vcpu_stats *s = calloc(1, sizeof(*s));
	(void)state;
	stats_count_exit(s, KVM_EXIT_IO);
	stats_count_exit(s, KVM_EXIT_IO);
	stats_count_exit(s, KVM_EXIT_MMIO);
	stats_count_exit(s, 1000);
	assert_int_equal(s->exits, 4);
	assert_int_equal(s->by_reason[KVM_EXIT_IO], 2);
	assert_int_equal(s->by_reason[KVM_EXIT_MMIO], 1);
	assert_int_equal(s->other_reason, 1);
	free(s);
}

static void unhandled_address_reported_once(void **state)
{
	struct vcpu_stats *s = calloc(1, sizeof(*s));
	(void)state;
	assert_true(stats_count_io(s, STATS_PIO, 0x510, false, false));
	assert_false(stats_count_io(s, STATS_PIO, 0x510, false, true));
	assert_false(stats_count_io(s, STATS_PIO, 0x3f8, true, true));
	/* The same number in another space is another address. */
	assert_true(stats_count_io(s, STATS_MMIO, 0x510, false, false));
	free(s);
}

static void hostile_guest_cannot_grow_the_table(void **state)
{
	struct vcpu_stats *s = calloc(1, sizeof(*s));
	unsigned reported = 0;
	(void)state;
	for (uint64_t port = 0; port < 65536; port++)
		reported += stats_count_io(s, STATS_PIO, port, false, false);
	assert_int_equal(reported, STATS_MAX_ADDRS);
	assert_int_equal(s->addrs_overflow, 65536 - STATS_MAX_ADDRS);
	free(s);
}

static void merge_adds_counts(void **state)
{
	struct vcpu_stats *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	(void)state;
	stats_count_exit(a, KVM_EXIT_IO);
	stats_count_io(a, STATS_PIO, 0x80, true, true);
	stats_count_exit(b, KVM_EXIT_IO);
	stats_count_io(b, STATS_PIO, 0x80, true, true);
	stats_count_io(b, STATS_PIO, 0x81, true, true);
	stats_merge(a, b);
	assert_int_equal(a->by_reason[KVM_EXIT_IO], 2);
	unsigned found = 0;
	for (unsigned i = 0; i < STATS_MAX_ADDRS; i++) {
		if (a->addrs[i].used && a->addrs[i].addr == 0x80) {
			assert_int_equal(a->addrs[i].count, 2);
			found++;
		}
		if (a->addrs[i].used && a->addrs[i].addr == 0x81)
			found++;
	}
	assert_int_equal(found, 2);
	free(a);
	free(b);
}

static void report_names_reasons_and_ports(void **state)
{
	struct vcpu_stats *s = calloc(1, sizeof(*s));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	(void)state;
	stats_count_exit(s, KVM_EXIT_IO);
	stats_count_io(s, STATS_PIO, 0x3f8, true, true);
	stats_count_io(s, STATS_PIO, 0x510, false, false);
	stats_print(s, f);
	fclose(f);
	assert_non_null(strstr(buf, "io"));
	assert_non_null(strstr(buf, "0x3f8"));
	assert_non_null(strstr(buf, "0x510"));
	assert_non_null(strstr(buf, "(no device)"));
	free(buf);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exits_are_counted_by_reason),
		cmocka_unit_test(unhandled_address_reported_once),
		cmocka_unit_test(hostile_guest_cannot_grow_the_table),
		cmocka_unit_test(merge_adds_counts),
		cmocka_unit_test(report_names_reasons_and_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
