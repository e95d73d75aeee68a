/* SPDX-License-Identifier: MIT */
/*
 * debug_exit: exits through the isa-debug-exit port with the code given as
 * exit=N on the cmdline (decimal or 0x-hex, default 0). The process status is
 * (2N + 1) & 0xff. A malformed or out-of-range N exits with 127.
 */
#include "lib.h"

#define DEBUG_EXIT_BAD_ARGUMENT 127

void guest_main(const struct boot_info *bi)
{
	const char *arg = cmdline_get(bi, "exit=");
	uint64_t code = 0;

	if (arg && (!parse_u64(arg, &code) || code > UINT32_MAX)) {
		printf("debug_exit: FAIL: bad exit= value\n");
		debug_exit(DEBUG_EXIT_BAD_ARGUMENT);
	}
	printf("debug_exit: writing %lu to port 0x%x\n", code, DEBUG_EXIT_PORT);
	debug_exit((uint32_t)code);
}
