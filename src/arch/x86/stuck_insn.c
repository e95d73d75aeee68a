/* SPDX-License-Identifier: MIT */
#include "arch/x86/stuck_insn.h"

#include <stdbool.h>

static bool is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65: case 0x66: case 0x67:
	case 0xf0: case 0xf2: case 0xf3:
		return true;
	default:
		return false;
	}
}

const char *x86_stuck_instruction(const uint8_t *bytes, size_t len)
{
	size_t i = 0;

	/* An instruction is at most 15 bytes: never scan further. */
	while (i < len && i < 14 && is_legacy_prefix(bytes[i]))
		i++;
	if (len - i < 3 || bytes[i] != 0x0f || bytes[i + 1] != 0x01)
		return NULL;
	switch (bytes[i + 2]) {
	case 0xc1: return "vmcall";
	case 0xd9: return "vmmcall";
	default: return NULL;
	}
}
