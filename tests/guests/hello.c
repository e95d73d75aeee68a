/* SPDX-License-Identifier: MIT */
/*
 * hello: polled serial output with a sanity check of LSR before every byte
 * (THRE and TEMT set, i.e. the transmitter is idle), then a reset through
 * the i8042 (vmon exits 0; QEMU -no-reboot exits 0).
 * Fails with debug_exit(1) when LSR looked wrong for any byte.
 */
#include "lib.h"

static unsigned int bytes_sent;
static unsigned int bad_lsr;
static uint8_t first_bad_lsr;

static void emit_checked(char c, void *ctx)
{
	uint8_t lsr = serial_wait_thre();

	(void)ctx;
	/* 0xff is what an absent device reads as. */
	if (lsr == 0xff || (lsr & (UART_LSR_THRE | UART_LSR_TEMT)) != (UART_LSR_THRE | UART_LSR_TEMT)) {
		if (!bad_lsr)
			first_bad_lsr = lsr;
		bad_lsr++;
	}
	outb(COM1_PORT + UART_THR, (uint8_t)c);
	bytes_sent++;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(emit_checked, NULL, fmt, ap);
	va_end(ap);
}

void guest_main(const struct boot_info *bi)
{
	say("Hello from the vmon test guest (protocol %s)\n", bi->protocol);
	say("cmdline: %s\n", bi->cmdline);
	say("hello: LSR had THRE|TEMT before each byte: %s\n", bad_lsr ? "no" : "yes");
	if (bad_lsr) {
		printf("hello: FAIL: %u of %u bytes saw a bad LSR, first 0x%x\n", bad_lsr, bytes_sent,
		       first_bad_lsr);
		debug_exit(1);
	}
	say("hello: resetting via the i8042\n");
	reset_via_i8042();
}
