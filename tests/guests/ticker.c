/* SPDX-License-Identifier: MIT */
/*
 * ticker: a guest whose progress the host can watch and the API can pause.
 * Prints "tick N" each time the CMOS clock's seconds change (so about one
 * line a second, on any host speed), and watches the i8042 keyboard: every
 * byte the keyboard sends is printed ("key 0xNN"); Ctrl, Alt and Delete
 * pressed in scancode set 1 (what the controller sends while translating,
 * its power-on setting) print "ctrl-alt-del" and reset the machine through
 * the controller (command 0xfe), as Linux's reboot=k does.
 * Cmdline: ticks=N exits (pass) after N ticks; default: runs until reset.
 * beat=N also prints "beat K" every N polling rounds: progress many times a
 * second, so a host can see within a fraction of a second whether the guest
 * runs (the soak test's pause checks); default: no beats.
 * Failures: 1 = keyboard bytes other than the expected sequence.
 */
#include "lib.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define CMOS_NMI_DISABLE 0x80
#define RTC_SECONDS 0x00

static uint8_t rtc_seconds(void)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE | RTC_SECONDS);
	return inb(CMOS_DATA);
}

void guest_main(const struct boot_info *bi)
{
	static const uint8_t cad[] = { 0x1d, 0x38, 0xe0, 0x53 };  /* LCtrl, LAlt, Delete: set 1 make codes */
	uint64_t max_ticks = 0, ticks = 0, beat_rounds = 0, rounds = 0, beats = 0;
	unsigned cad_seen = 0;
	uint8_t last = rtc_seconds();

	cmdline_get_u64(bi, "ticks=", &max_ticks);
	cmdline_get_u64(bi, "beat=", &beat_rounds);
	printf("ticker: running\n");
	for (;;) {
		uint8_t now = rtc_seconds();
		if (now != last) {
			last = now;
			printf("tick %lu\n", (unsigned long)++ticks);
			if (max_ticks && ticks >= max_ticks)
				debug_exit(GUEST_EXIT_PASS);
		}
		uint8_t status = inb(I8042_STATUS_PORT);
		if ((status & I8042_STATUS_OBF) && !(status & 0x20)) {
			uint8_t key = inb(I8042_DATA_PORT);
			printf("key 0x%02x\n", key);
			if (key != cad[cad_seen])
				debug_exit(1);
			if (++cad_seen == sizeof(cad)) {
				printf("ctrl-alt-del\n");
				outb(I8042_STATUS_PORT, 0xfe);   /* pulse the reset line */
				for (;;)
					__asm__ volatile("hlt");
			}
		}
		if (beat_rounds && ++rounds % beat_rounds == 0)
			printf("beat %lu\n", (unsigned long)++beats);
		for (int i = 0; i < 1000; i++)
			__asm__ volatile("pause");
	}
}
