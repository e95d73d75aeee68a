/* SPDX-License-Identifier: MIT */
/*
 * pio_bench: for benchmarks. Sends '!' first (time to first serial byte),
 * then executes iters=N (default 100000) byte writes to port 0x80 in a
 * three-instruction loop, prints a summary and exits with debug_exit(0).
 */
#include "lib.h"

#define PIO_BENCH_PORT 0x80
#define PIO_BENCH_DEFAULT_ITERS 100000

void guest_main(const struct boot_info *bi)
{
	uint64_t iters = PIO_BENCH_DEFAULT_ITERS;
	uint64_t left;

	serial_putc('!');
	if (cmdline_get(bi, "iters=") && !cmdline_get_u64(bi, "iters=", &iters)) {
		printf("\npio_bench: FAIL: bad iters= value\n");
		debug_exit(1);
	}
	left = iters;
	if (left)
		__asm__ volatile("1: outb %%al, %[port]\n\t"
				 "dec %[n]\n\t"
				 "jnz 1b"
				 : [n] "+r"(left)
				 : "a"((uint8_t)0), [port] "i"(PIO_BENCH_PORT)
				 : "memory", "cc");
	printf("\npio_bench: %lu writes to port 0x%x done\n", iters, PIO_BENCH_PORT);
	debug_exit(0);
}
