/* SPDX-License-Identifier: MIT */
/*
 * page_touch: what the first touch of a page of guest RAM costs, for
 * bench/snapshot_uffd.py (a snapshot is restored, then every page is touched).
 * Cmdline: from=MiB size=MiB (default 16 and 224): the range it touches.
 * At start it writes a distinct word into every page of the range (so none is
 * zero in a memory file), calibrates the TSC against the CMOS clock's seconds
 * and prints "page_touch: ready"; then for each byte that arrives on COM1:
 * 'r' reads a word of every page, 'w' writes one, and it prints
 * "page_touch: r|w N pages C cycles T us". Runs until the host stops it.
 * All of it at CPL 3 (user_mode.h), where PVM hosts run it natively too:
 * the passes measure the host's fault path, not an instruction emulator.
 */
#include "lib.h"
#include "user_mode.h"

#define MIB (1ull << 20)
#define PAGE 4096ull
#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define CMOS_NMI_DISABLE 0x80

static uint8_t rtc_seconds(void)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE);
	return inb(CMOS_DATA);
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* TSC ticks in one CMOS second (from one seconds change to the next). */
static uint64_t tsc_hz(void)
{
	uint8_t s = rtc_seconds();
	uint64_t t0;

	while (rtc_seconds() == s)
		;
	s = rtc_seconds();
	t0 = rdtsc();
	while (rtc_seconds() == s)
		;
	return rdtsc() - t0;
}

static volatile uint64_t *base;
static uint64_t pages;
#define STRIDE (PAGE / sizeof(uint64_t))

static __attribute__((noreturn)) void touch_loop(void)
{
	uint64_t hz, pass = 0;

	for (uint64_t i = 0; i < pages; i++)
		base[i * STRIDE] = i + 1;
	hz = tsc_hz();
	printf("page_touch: ready, %lu pages from %lu MiB, TSC %lu Hz\n", (unsigned long)pages,
	       (unsigned long)((uintptr_t)base / MIB), (unsigned long)hz);
	for (;;) {
		while (!(inb(COM1_PORT + UART_LSR) & UART_LSR_DR))
			;
		char op = (char)inb(COM1_PORT + UART_RBR);
		if (op != 'r' && op != 'w')
			continue;
		uint64_t sum = 0, t0 = rdtsc();
		for (uint64_t i = 0; i < pages; i++) {
			if (op == 'r')
				sum += base[i * STRIDE];
			else
				base[i * STRIDE] = i + 1 + pass;
		}
		uint64_t cycles = rdtsc() - t0;
		pass++;
		printf("page_touch: %c %lu pages %lu cycles %lu us (sum %lu)\n", op, (unsigned long)pages,
		       (unsigned long)cycles, (unsigned long)(hz >= 1000 ? cycles * 1000 / (hz / 1000) : 0),
		       (unsigned long)sum);
	}
}

void guest_main(const struct boot_info *bi)
{
	uint64_t from = 16, size = 224;

	cmdline_get_u64(bi, "from=", &from);
	cmdline_get_u64(bi, "size=", &size);
	base = (volatile uint64_t *)(uintptr_t)(from * MIB);
	pages = size * MIB / PAGE;
	user_mode_enter(touch_loop, 1);
}
