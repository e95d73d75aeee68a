/* SPDX-License-Identifier: MIT */
/*
 * triple_fault: loads an IDT with limit 0 and executes ud2. #UD cannot be
 * delivered (#GP), neither can the #GP (#DF), nor the #DF: shutdown.
 * vmon must report a failure; QEMU -no-reboot exits 0.
 */
#include "lib.h"

void guest_main(const struct boot_info *bi)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { 0, 0 };

	(void)bi;
	printf("triple_fault: loading an empty IDT and executing ud2\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(idtr) : "memory");
	printf("triple_fault: FAIL: still running after ud2\n");
	debug_exit(1);
}
