/* SPDX-License-Identifier: MIT */
/*
 * i8042_reset: probes the keyboard controller (self-test 0xaa must answer
 * 0x55), then resets the machine with command 0xfe.
 * Expected: vmon exits 0, QEMU -no-reboot exits 0.
 * Failures: 1 = self-test answer wrong, 2 = controller never ready / no answer.
 */
#include "lib.h"

#define I8042_POLL_MAX 10000
#define I8042_SELF_TEST_OK 0x55

static bool wait_input_empty(void)
{
	for (int i = 0; i < I8042_POLL_MAX; i++) {
		if (!(inb(I8042_STATUS_PORT) & I8042_STATUS_IBF))
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

static bool wait_output_full(void)
{
	for (int i = 0; i < I8042_POLL_MAX; i++) {
		if (inb(I8042_STATUS_PORT) & I8042_STATUS_OBF)
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

void guest_main(const struct boot_info *bi)
{
	uint8_t answer;

	(void)bi;
	printf("i8042_reset: status 0x%x\n", inb(I8042_STATUS_PORT));
	/* Drop stale output (firmware may have left a byte) so the answer read is ours. */
	for (int i = 0; i < 16 && (inb(I8042_STATUS_PORT) & I8042_STATUS_OBF); i++)
		(void)inb(I8042_DATA_PORT);
	if (!wait_input_empty()) {
		printf("i8042_reset: FAIL: input buffer never empties\n");
		debug_exit(2);
	}
	outb(I8042_CMD_PORT, I8042_CMD_SELF_TEST);
	if (!wait_output_full()) {
		printf("i8042_reset: FAIL: no answer to self-test\n");
		debug_exit(2);
	}
	answer = inb(I8042_DATA_PORT);
	printf("i8042_reset: self-test answered 0x%x (expected 0x%x)\n", answer, I8042_SELF_TEST_OK);
	if (answer != I8042_SELF_TEST_OK) {
		printf("i8042_reset: FAIL: self-test\n");
		debug_exit(1);
	}
	printf("i8042_reset: pulsing reset (0xfe to port 0x64)\n");
	reset_via_i8042();
}
