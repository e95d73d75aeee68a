/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arch/x86/memory.h"
#include "guest_fixture.h"

int guest_fixture_setup(void **state)
{
	assert_non_null(*state);
	return x86_guest_mem_create(*state, GUEST_FIXTURE_RAM, NULL);
}

int guest_fixture_teardown(void **state)
{
	guest_mem_destroy(*state);
	return 0;
}
