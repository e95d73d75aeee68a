/* SPDX-License-Identifier: MIT */
#ifndef VMON_TESTS_UNIT_SKIP_H
#define VMON_TESTS_UNIT_SKIP_H

/*
 * cmocka's skip() marks a test skipped but its runner still exits 0, which
 * meson counts as a pass. unit_skip() records the skip, and unit_status()
 * turns a group's result into the exit status meson reads: 1 on any failure,
 * else 77 (SKIP) when any test skipped, else 0. The executable is then
 * reported as skipped as a whole, never as passed.
 */
#include <stdio.h>

static int unit_skipped;

#define unit_skip(why)                                              \
	do {                                                        \
		print_message("skipped: %s\n", (why));              \
		unit_skipped++;                                     \
		skip();                                             \
	} while (0)

static inline int unit_status(int failed)
{
	if (failed)
		return 1;
	if (unit_skipped) {
		fprintf(stderr, "%d test(s) skipped: reporting this executable as skipped\n", unit_skipped);
		return 77;
	}
	return 0;
}

#endif
