/* SPDX-License-Identifier: MIT */
/*
 * first_byte: the least a PVH guest can do, for start-up benchmarks
 * (bench/startup.py). At its 32-bit PVH entry it writes '!' to COM1's
 * transmit register and 0 to the debug-exit port (QEMU's isa-debug-exit and
 * vmon exit with status 1), then halts. Two port writes, six instructions:
 * the time to its first byte is the VMM's start-up, not the guest's.
 * No stack, no paging, no GDT of its own: it runs on the PVH entry state.
 */
#include "lib.h"               /* its assembler part: the PVH note */

#define COM1_THR        0x3f8
#define DEBUG_EXIT_PORT 0xf4

	.section .text, "ax"
	.code32
	.globl first_byte_entry
first_byte_entry:
	movw	$COM1_THR, %dx
	movb	$'!', %al
	outb	%al, %dx
	movw	$DEBUG_EXIT_PORT, %dx
	xorl	%eax, %eax
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

	xen_pvh_entry_note first_byte_entry

	.section .note.GNU-stack, "", @progbits
