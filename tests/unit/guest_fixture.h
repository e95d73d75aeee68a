/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_GUEST_FIXTURE_H
#define VMON_TEST_GUEST_FIXTURE_H

#include "base/guest_mem.h"

/* RAM of the guest the kernel-loader tests load into: enough for a kernel at 16 MiB and an initrd. */
#define GUEST_FIXTURE_RAM (64ull << 20)

/*
 * cmocka setup/teardown giving each test a fresh, zeroed guest: *state is
 * the struct guest_mem to create, passed with
 * cmocka_unit_test_prestate_setup_teardown(test, guest_fixture_setup, guest_fixture_teardown, &mem).
 */
int guest_fixture_setup(void **state);
int guest_fixture_teardown(void **state);

#endif
