/* SPDX-License-Identifier: MIT */
#include "user_mode.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define RFLAGS_USER 0x3002        /* IOPL 3, IF 0 */
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

/* Static tables (no ring-0 loop fills them, as in start.S); stacks outside the zeroed .bss. */
__asm__(
	"	.pushsection .data.user_mode_pt, \"aw\"\n"
	"	.balign 4096\n"
	"user_mode_pml4:\n"
	"	.quad	user_mode_pdpt + 0x007\n"
	"	.fill	511, 8, 0\n"
	"user_mode_pdpt:\n"
	"	.quad	user_mode_pd_low + 0x007\n"
	"	.quad	0, 0\n"
	"	.quad	user_mode_pd_high + 0x007\n"
	"	.fill	508, 8, 0\n"
	"user_mode_pd_low:\n"
	"	.set	i, 0\n"
	"	.rept	512\n"
	"	.quad	(i << 21) + 0x087\n"
	"	.set	i, i + 1\n"
	"	.endr\n"
	"user_mode_pd_high:\n"
	"	.set	i, 0\n"
	"	.rept	512\n"
	"	.quad	0xc0000000 + (i << 21) + 0x09f\n"
	"	.set	i, i + 1\n"
	"	.endr\n"
	"	.popsection\n"
	"	.pushsection .bss.noinit.user_mode_stacks, \"aw\", @nobits\n"
	"	.balign 4096\n"
	"	.space	16384\n"
	"user_mode_stack_top:\n"
	"	.space	8192\n"
	"user_mode_kernel_stack_top:\n"
	"	.popsection\n"
	/* iretq to fn (RDI) at CPL 3, as if called (RSP + 8 16-byte aligned). */
	"	.text\n"
	"	.balign 16\n"
	"user_mode_iret:\n"
	"	pushq	$" STR(GDT_USER_SS) "\n"
	"	leaq	user_mode_stack_top - 8(%rip), %rax\n"
	"	pushq	%rax\n"
	"	pushq	$" STR(RFLAGS_USER) "\n"
	"	pushq	$" STR(GDT_USER_CS) "\n"
	"	pushq	%rdi\n"
	"	iretq\n");

extern const char user_mode_pml4[], user_mode_kernel_stack_top[];
__attribute__((noreturn)) void user_mode_iret(void (*fn)(void));

static uint32_t trap_exit_code;

static void trap_report(struct isr_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	printf("FAIL: exception %lu at CPL %lu, error 0x%lx, rip 0x%lx, rsp 0x%lx, cr2 0x%lx\n", f->vector, f->cs & 3,
	       f->error, f->rip, f->rsp, cr2);
	debug_exit(trap_exit_code);
}

/*
 * Port I/O at CPL 3: PVM hosts drop the IOPL 3 of the iretq (the #GP frame
 * shows RFLAGS 0x10002), so in/out raise #GP there; the handler does it at CPL 0
 * and steps over it: in/out with an imm8 or DX port, byte, word (0x66) or
 * dword, and cli. Returns false for anything else.
 */
static bool emulate_port_io(struct isr_frame *f)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)f->rip;
	bool word = false;
	uint16_t port;
	uint8_t op;
	uint64_t len = 1;

	if ((f->cs & 3) != 3)
		return false;
	if (p[0] == 0xfa) {   /* cli (virtio_fail's): IF is 0 at CPL 3 already */
		f->rip++;
		return true;
	}
	if (p[0] == 0x66) {
		word = true;
		p++;
		len++;
	}
	op = p[0];
	if (op == 0xe4 || op == 0xe5 || op == 0xe6 || op == 0xe7) {
		port = p[1];
		len++;
	} else if (op == 0xec || op == 0xed || op == 0xee || op == 0xef) {
		port = (uint16_t)f->rdx;
	} else {
		return false;
	}
	switch (op & 3) {
	case 0: f->rax = (f->rax & ~0xffull) | inb(port); break;
	case 2: outb(port, (uint8_t)f->rax); break;
	case 1:
		if (word)
			f->rax = (f->rax & ~0xffffull) | inw(port);
		else
			f->rax = inl(port);   /* a 32-bit destination is zero-extended */
		break;
	case 3:
		if (word)
			outw(port, (uint16_t)f->rax);
		else
			outl(port, (uint32_t)f->rax);
		break;
	}
	f->rip += len;
	return true;
}

static void on_gp(struct isr_frame *f)
{
	if (!emulate_port_io(f))
		trap_report(f);
}

void user_mode_enter(void (*fn)(void), uint32_t trap_code)
{
	static const unsigned int traps[] = { 0, 6, 8, 10, 11, 12, 14 };
	uint64_t cr4;

	trap_exit_code = trap_code;
	cpl3_load_gdt_tss(user_mode_kernel_stack_top);
	for (unsigned int i = 0; i < sizeof(traps) / sizeof(traps[0]); i++)
		idt_set_handler(traps[i], trap_report);
	idt_set_handler(13, on_gp);
	/* Every page is a user page now: ring 0 must be free to run and touch them. */
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 & ~(CR4_SMEP | CR4_SMAP)) : "memory");
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)user_mode_pml4) : "memory");
	user_mode_iret(fn);
}
