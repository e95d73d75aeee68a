/* SPDX-License-Identifier: MIT */
/*
 * first_byte: the least a PVH guest can do, for start-up benchmarks
 * (bench/startup.py). At its 32-bit PVH entry it writes '!' to COM1's
 * transmit register and 0 to the debug-exit port (QEMU's isa-debug-exit and
 * vmon exit with status 1), then halts. Two port writes, six instructions:
 * the time to its first byte is the VMM's start-up, not the guest's.
 * No stack, no paging, no GDT of its own: it runs on the PVH entry state.
 */
#define COM1_THR        0x3f8
#define DEBUG_EXIT_PORT 0xf4
#define XEN_ELFNOTE_PHYS32_ENTRY 18

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

	/* Xen PVH entry (xen/include/public/elfnote.h). */
	.section .note.Xen, "a", @note
	.balign 4
	.long	4                          /* namesz: "Xen\0" */
	.long	4                          /* descsz: 32-bit physical address */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.balign 4
	.long	first_byte_entry

	.section .note.GNU-stack, "", @progbits
