/* SPDX-License-Identifier: MIT */
/*
 * dirtier: a guest that writes guest RAM at a fixed rate, for live
 * migration (tests/integration/test_migration.py, docs/PERFORMANCE.md).
 * It writes whole 4 KiB pages of a working set from 64 MiB up, in a cycle,
 * at `rate` pages per millisecond (timed with the TSC, calibrated against
 * the CMOS clock at start), from CPL 3 so that hosts running guest ring 0
 * in an emulator (PVM) run the loop natively. Page i of the cycle holds
 * the sequence number of its last write in every word, so the guest can
 * check at any time that each page holds exactly the value its last write
 * put there: a page a migration lost (or sent stale) fails the check.
 * Once a second: "dirtier: second S, W pages written, memory checked".
 * Cmdline: pages=N (working set, default 8192 = 32 MiB), rate=R (pages per
 * ms, default 10; 0: never writes after the first pass), seconds=S (exit
 * with pass after S seconds; default: run until stopped).
 * Failures: 1 = bad cmdline, 2 = a page does not hold its last write, 9 = a trap at CPL 3.
 */
#include "lib.h"
#include "user_mode.h"

#define BASE (64ull << 20)
#define PAGE 4096
#define WORDS (PAGE / 8)
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71

static uint64_t npages = 8192, rate = 10, seconds, tsc_per_ms;
static uint64_t seq;   /* writes so far: the next one writes page seq % npages with value seq + 1 */

static uint8_t rtc_seconds(void)
{
	outb(CMOS_INDEX, 0x80);
	return inb(CMOS_DATA);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static volatile uint64_t *page_at(uint64_t i)
{
	return (volatile uint64_t *)(uintptr_t)(BASE + i * PAGE);
}

static void write_one(void)
{
	volatile uint64_t *p = page_at(seq % npages);
	uint64_t v = ++seq;

	for (unsigned w = 0; w < WORDS; w++)
		p[w] = v;
}

/* Every page holds the value of its last write (first and last word, and one in the middle). */
static void check_memory(void)
{
	for (uint64_t i = 0; i < npages; i++) {
		/* The last write to page i: the largest s <= seq with s - 1 == i (mod npages); none yet: 0. */
		uint64_t want = seq > i ? seq - (seq - 1 - i) % npages : 0;
		volatile uint64_t *p = page_at(i);
		if (p[0] != want || p[WORDS / 2] != want || p[WORDS - 1] != want) {
			printf("dirtier: page %lu holds %lu, its last write was %lu\n", (unsigned long)i,
			       (unsigned long)p[0], (unsigned long)want);
			debug_exit(2);
		}
	}
}

static void dirty_main(void)
{
	uint64_t start = rdtsc(), next_report = tsc_per_ms * 1000, second = 0;

	/* The first pass makes every page of the working set hold something. */
	while (seq < npages)
		write_one();
	uint64_t origin = rdtsc(), base = seq;
	for (;;) {
		uint64_t now = rdtsc(), elapsed = now - start;
		uint64_t target = base + (now - origin) / tsc_per_ms * rate;
		/* Far behind (the VM stood still, during a migration's pause say): the rate restarts from now. */
		if (target > seq + rate * 100) {
			origin = now;
			base = target = seq;
		}
		while (seq < target)
			write_one();
		if (elapsed >= next_report) {
			next_report += tsc_per_ms * 1000;
			check_memory();
			printf("dirtier: second %lu, %lu pages written, memory checked\n", (unsigned long)++second,
			       (unsigned long)seq);
			if (seconds && second >= seconds)
				debug_exit(GUEST_EXIT_PASS);
		}
	}
}

void guest_main(const struct boot_info *bi)
{
	if ((cmdline_get(bi, "pages=") && (!cmdline_get_u64(bi, "pages=", &npages) || npages == 0 ||
					   BASE + npages * PAGE > (1ull << 30))) ||
	    (cmdline_get(bi, "rate=") && (!cmdline_get_u64(bi, "rate=", &rate) || rate > 1000000)) ||
	    (cmdline_get(bi, "seconds=") && !cmdline_get_u64(bi, "seconds=", &seconds))) {
		printf("dirtier: bad cmdline (pages=N below 1 GiB from 64 MiB, rate=PAGES_PER_MS, seconds=S)\n");
		debug_exit(1);
	}
	/* TSC ticks per ms: one CMOS second, from one edge to the next. */
	uint8_t s = rtc_seconds();
	while (rtc_seconds() == s)
		;
	uint64_t t0 = rdtsc();
	s = rtc_seconds();
	while (rtc_seconds() == s)
		;
	tsc_per_ms = (rdtsc() - t0) / 1000;
	if (!tsc_per_ms)
		tsc_per_ms = 1;
	printf("dirtier: %lu pages from 0x%lx, %lu pages/ms, TSC %lu kHz\n", (unsigned long)npages,
	       (unsigned long)BASE, (unsigned long)rate, (unsigned long)tsc_per_ms);
	user_mode_enter(dirty_main, 9);
}
