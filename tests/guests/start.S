/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the test guests.
 *
 * pvh_entry32 (image start): Xen PVH direct boot ABI. 32-bit flat protected
 * mode, paging off, EBX = physical address of struct hvm_start_info. We load
 * our own GDT and page tables and enter long mode.
 *
 * linux_entry64 (image start + 0x200, ELF e_entry): Linux boot protocol
 * 64-bit entry (Documentation/x86/boot.rst, "64-bit Boot Protocol"): long
 * mode, identity-mapped paging set up by the loader, RSI = struct
 * boot_params. We switch to our own page tables and GDT anyway so that both
 * paths run with the same mappings.
 *
 * Both continue in common64: segments, stack, zero .bss, then
 * boot_entry(info_phys_addr, protocol) in boot.c.
 *
 * The page tables are static data (no loop at run time; the guests run
 * their ring-0 code in an instruction emulator on some hosts): 2 MiB pages
 * identity-mapping 0..1 GiB (write-back) and 3..4 GiB (uncached, for the
 * LAPIC/IOAPIC and the unmapped-MMIO probes).
 */
#include "lib.h"

#define MSR_EFER        0xc0000080
#define EFER_LME        0x100
#define CR0_PE          0x1
#define CR0_PG          0x80000000
#define CR4_PAE         0x20

#define SEL_CODE64      0x08
#define SEL_DATA        0x10

	.section .text.head, "ax"
	.code32
	.globl pvh_entry32
pvh_entry32:
	cli
	cld
	movl	%ebx, %edi                 /* hvm_start_info, survives the mode switch */
	lgdt	gdt_desc
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $pvh_entry64

	.code64
pvh_entry64:
	movl	%edi, %edi                 /* upper halves are undefined after the switch */
	movl	$BOOT_PROTOCOL_PVH, %esi
	jmp	common64

	/* boot.rst: the 64-bit entry is at the protected-mode load address + 0x200. */
	.org	0x200
	.globl linux_entry64
linux_entry64:
	cli
	cld
	movq	%rsi, %rdi                 /* struct boot_params */
	movl	$BOOT_PROTOCOL_LINUX, %esi
	movl	$pml4, %eax
	movq	%rax, %cr3

common64:
	lgdt	gdt_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	stack_top(%rip), %rsp
	pushq	$SEL_CODE64                /* reload CS from our GDT */
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:
	/* .bss is kept to a few hundred bytes: rep stosq costs one emulated
	 * instruction per quadword on some hosts. */
	movq	%rdi, %r8
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq
	movq	%r8, %rdi
	xorl	%ebp, %ebp
	call	boot_entry
2:	cli
	hlt
	jmp	2b

/*
 * Interrupt stubs for vectors 0..63, 16 bytes apart (idt_init computes
 * isr_stubs + 16 * vector). Each pushes a dummy error code where the CPU does
 * not push one, then the vector, so isr_common always sees struct isr_frame.
 */
	.text
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 64
	.balign 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	isr_common
	.set vec, vec + 1
	.endr

	/* Saves the caller-saved registers (boot.c's C handlers keep the rest);
	 * 9 registers + vector + error + the 5-word CPU frame keep RSP 16-byte
	 * aligned at the call, as the CPU aligns it before pushing. */
isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	movq	%rsp, %rdi
	cld
	call	isr_dispatch
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp                  /* vector, error code */
	iretq

	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad	pdpt + 0x003               /* present, writable */
	.fill	511, 8, 0
pdpt:
	.quad	pd_low + 0x003
	.quad	0
	.quad	0
	.quad	pd_high + 0x003
	.fill	508, 8, 0
pd_low:                                    /* 0 .. 1 GiB: present, writable, 2 MiB page */
	.set	i, 0
	.rept	512
	.quad	(i << 21) + 0x083
	.set	i, i + 1
	.endr
pd_high:                                   /* 3 .. 4 GiB: + PWT + PCD (MMIO) */
	.set	i, 0
	.rept	512
	.quad	0xc0000000 + (i << 21) + 0x09b
	.set	i, i + 1
	.endr

	.data
	.balign 16
gdt:
	.quad	0
	.quad	0x00af9b000000ffff         /* 0x08: 64-bit code, DPL 0, accessed */
	.quad	0x00cf93000000ffff         /* 0x10: flat 4 GiB data, accessed */
gdt_end:
	.balign 8
	.word	0
gdt_desc:                                  /* 32-bit lgdt reads the low 4 base bytes */
	.word	gdt_end - gdt - 1
	.quad	gdt

	.section .bss.noinit.stack, "aw", @nobits
	.balign 16
	.space	16384
stack_top:

	xen_pvh_entry_note pvh_entry32

	.section .note.GNU-stack, "", @progbits
