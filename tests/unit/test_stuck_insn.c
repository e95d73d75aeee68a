/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arch/x86/stuck_insn.h"

static void hypercalls_are_named(void **state)
{
	(void)state;
	assert_string_equal(x86_stuck_instruction((const uint8_t[]){ 0x0f, 0x01, 0xc1, 0x90 }, 4), "vmcall");
	assert_string_equal(x86_stuck_instruction((const uint8_t[]){ 0x0f, 0x01, 0xd9 }, 3), "vmmcall");
	/* Prefixes before the opcode do not hide it. */
	assert_string_equal(x86_stuck_instruction((const uint8_t[]){ 0x66, 0x2e, 0x0f, 0x01, 0xc1 }, 5), "vmcall");
}

static void other_instructions_and_short_buffers_are_not(void **state)
{
	(void)state;
	assert_null(x86_stuck_instruction((const uint8_t[]){ 0x0f, 0x01, 0xca }, 3)); /* clac */
	assert_null(x86_stuck_instruction((const uint8_t[]){ 0xf4 }, 1));             /* hlt */
	assert_null(x86_stuck_instruction((const uint8_t[]){ 0x0f, 0x01 }, 2));
	assert_null(x86_stuck_instruction((const uint8_t[]){ 0 }, 0));
	uint8_t prefixes[20];
	for (int i = 0; i < 20; i++)
		prefixes[i] = 0x66;
	assert_null(x86_stuck_instruction(prefixes, sizeof(prefixes)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hypercalls_are_named),
		cmocka_unit_test(other_instructions_and_short_buffers_are_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
