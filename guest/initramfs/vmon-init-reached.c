/* SPDX-License-Identifier: MIT */
/*
 * /bin/vmon-init-reached: tells the monitor that the guest's /init runs, by
 * writing BOOT_TIMER_INIT_REACHED (1) to the boot-timing port BOOT_TIMER_PORT
 * (0x440), both from vmon's own src/devices/boot_timer.h so guest and monitor
 * cannot disagree. A shell cannot execute OUT, hence this program. It asks
 * for the port with ioperm(2) (CONFIG_X86_IOPL_IOPERM), which needs
 * CAP_SYS_RAWIO: /init runs as root.
 *
 * Freestanding (no libc; the header only needs <stdint.h>-level types) so it
 * adds a few KiB to the initramfs instead of a static glibc's 700 KiB: two
 * system calls and one instruction.
 */
#include "devices/boot_timer.h"

#define SYS_WRITE   1
#define SYS_EXIT    60
#define SYS_IOPERM  173

static long syscall3(long nr, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

int vmon_init_reached_main(void);

int vmon_init_reached_main(void)
{
	static const char msg[] = "vmon-init-reached: ioperm() of the boot-timing port failed\n";

	if (syscall3(SYS_IOPERM, BOOT_TIMER_PORT, 1, 1) < 0) {
		syscall3(SYS_WRITE, 2, (long)msg, sizeof(msg) - 1);
		return 1;
	}
	__asm__ volatile("outb %b0, %w1"
			 : : "a"(BOOT_TIMER_INIT_REACHED), "Nd"(BOOT_TIMER_PORT));
	return 0;
}

/* The kernel enters with the stack 16-byte aligned and no return address,
 * so the call leaves it as the ABI expects at a function's entry. */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	call vmon_init_reached_main\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n"      /* SYS_EXIT */
	"	syscall\n");
