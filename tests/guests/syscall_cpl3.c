/* SPDX-License-Identifier: MIT */
/*
 * syscall_cpl3: system calls from user mode, the way a 64-bit kernel sets
 * them up (SDM vol. 2 SYSCALL/SYSRET, vol. 3 5.8.8 and 7.7).
 *
 * Kernel side (CPL 0):
 *  - GDT in the order SYSCALL/SYSRET need: 0x08 kernel code, 0x10 kernel data
 *    (STAR[47:32] = 0x08, SS = +8), 0x20 user 32-bit code, 0x28 user data,
 *    0x30 user 64-bit code (STAR[63:48] = 0x23: SS = +8, CS = +16; Linux's
 *    user selectors, see lib.h), 0x40 TSS with RSP0 = the kernel stack;
 *  - EFER.SCE, STAR, LSTAR = syscall_entry, SFMASK = IF|TF|DF|AC;
 *  - CR4.SMAP when CPUID.7.0:EBX[20] offers it, and then the #PF gate points
 *    at an entry whose first instruction is `clac`, as Linux's: on hosts that
 *    run ring 0 in an emulator, that clac is where the monitor completes a
 *    syscall the host left at CPL 3 (shared/notes/host-pvm.md). CR4.SMEP
 *    stays off;
 *  - #UD, #DF, #TS, #NP, #SS, #GP, #PF report vector, error code, RIP, CS and
 *    fail.
 * User pages: PML4 entry 1 (virtual 512 GiB) maps the page holding the user
 * code (read-only) and a user stack page, U = 1 at every level; the start
 * code's identity map stays supervisor-only.
 *
 * User side (CPL 3, entered with iretq, IF = 1 as Linux user space always
 * runs, and as PVM hosts run guest user mode whatever the guest asks; the
 * 8259 is remapped and masked, and any external interrupt that still arrives
 * is acknowledged and counted): sets RFLAGS.AC|DF (so that
 * SFMASK has something to clear and SYSRET something to restore), then
 * makes calls=N (default 100) `add` system calls (RAX = 1, RDI + RSI
 * returned in RAX), checking after each the result, RFLAGS and CS/SS, and
 * ends with an `exit` system call (RAX = 60, RDI = calls made).
 *
 * syscall_entry checks on every call: CS and SS are the STAR kernel
 * selectors (RPL 0), RCX is the user return address, RSP is still the
 * user's (RDX carries a copy), R11 holds the user RFLAGS, and RFLAGS has the
 * SFMASK bits clear; then it switches to the kernel stack, adds, counts and
 * returns with sysretq: 27 ring-0 instructions a call. The ABI of this
 * toy kernel: RAX, RCX, R8-R11 are clobbered.
 *
 * Failures: 1 = bad calls= value, 2 = exception, 3 = CS at the syscall entry
 * is not the kernel CS, 4 = SS is not the kernel SS, 5 = RCX is not the
 * return address, 6 = RSP is not the user's, 7 = R11 is not the user RFLAGS,
 * 8 = SFMASK bits not cleared, 9 = unknown system call, 10 = user got a wrong
 * result, 11 = user RFLAGS not restored by sysretq, 12 = user CS/SS wrong
 * after sysretq, 13 = exit with a wrong call count.
 */
#include "lib.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define KERNEL_CS   GDT_KERNEL_CS
#define KERNEL_SS   GDT_KERNEL_SS
#define USER32_CS   GDT_USER32_CS    /* STAR[63:48]: SYSRET adds 8 (SS) and 16 (64-bit CS) */
#define USER_SS     GDT_USER_SS
#define USER_CS     GDT_USER_CS

#define USER_VA         0x8000000000   /* PML4 entry 1 */
#define USER_STACK_TOP  0x8000002000   /* second user page */

#define SYS_ADD  1
#define SYS_FAIL 2                     /* user reports a failed check: RDI = code, RSI = value */
#define SYS_EXIT 60

#define RFLAGS_FIXED 0x2
#define RFLAGS_TF    0x100
#define RFLAGS_IF    0x200
#define RFLAGS_DF    0x400
#define RFLAGS_IOPL  0x3000
#define RFLAGS_NT    0x4000
#define RFLAGS_AC    0x40000
#define SFMASK_BITS  (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC)
/* Bits syscall_entry and the user compare (the arithmetic flags vary). */
#define RFLAGS_CHECKED (RFLAGS_FIXED | RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_IOPL | RFLAGS_NT | RFLAGS_AC)
#define RFLAGS_USER    (RFLAGS_FIXED | RFLAGS_IF | RFLAGS_DF | RFLAGS_AC)   /* what the user runs with */

#define MSR_EFER   0xc0000080
#define MSR_STAR   0xc0000081
#define MSR_LSTAR  0xc0000082
#define MSR_SFMASK 0xc0000084
#define EFER_SCE   0x1
#define CR4_SMEP   (1ull << 20)
#define CR4_SMAP   (1ull << 21)
#define CPUID7_EBX_SMAP (1u << 20)

#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4

#define DEFAULT_CALLS 100

/* debug_exit codes (the header comment lists them). */
#define FAIL_CALLS_ARG       1
#define FAIL_EXCEPTION       2
#define FAIL_KERNEL_CS       3
#define FAIL_KERNEL_SS       4
#define FAIL_RCX             5
#define FAIL_RSP             6
#define FAIL_R11             7
#define FAIL_SFMASK          8
#define FAIL_SYSCALL_NR      9
#define FAIL_RESULT          10
#define FAIL_USER_RFLAGS     11
#define FAIL_USER_SEGMENTS   12
#define FAIL_COUNT           13

/*
 * User code: one page of its own, position independent (it runs at
 * USER_VA). user_syscall is the only `syscall` instruction, so RCX always
 * points at user_syscall_ret.
 */
__asm__(
	"	.pushsection .text.user, \"ax\"\n"
	"	.balign 4096\n"
	"	.globl	user_text, user_syscall_ret\n"
	"user_text:\n"
	/* RDI = calls to make; RSP = USER_STACK_TOP. */
	"	pushfq\n"
	"	orq	$(" STR(RFLAGS_AC) " | " STR(RFLAGS_DF) "), (%rsp)\n"
	"	popfq\n"
	"	movq	%rdi, %r12\n"
	"	xorl	%ebx, %ebx\n"
	"	movabsq	$0x0123456789abcdef, %r14\n"
	"1:	cmpq	%r12, %rbx\n"
	"	jae	3f\n"
	"	movl	$" STR(SYS_ADD) ", %eax\n"
	"	movq	%rbx, %rdi\n"
	"	leaq	(%r14,%rbx), %rsi\n"
	"	leaq	(%rdi,%rsi), %r13\n"     /* expected result */
	"	call	user_syscall\n"
	"	cmpq	%r13, %rax\n"
	"	jne	4f\n"
	"	pushfq\n"
	"	popq	%r13\n"
	"	andl	$" STR(RFLAGS_CHECKED) ", %r13d\n"
	"	cmpl	$" STR(RFLAGS_USER) ", %r13d\n"
	"	jne	5f\n"
	"	movl	%cs, %r13d\n"
	"	cmpl	$" STR(USER_CS) ", %r13d\n"
	"	jne	6f\n"
	"	movl	%ss, %r13d\n"
	"	cmpl	$" STR(USER_SS) ", %r13d\n"
	"	jne	6f\n"
	"	incq	%rbx\n"
	"	jmp	1b\n"
	"3:	movl	$" STR(SYS_EXIT) ", %eax\n"
	"	movq	%rbx, %rdi\n"
	"	call	user_syscall\n"
	"	ud2\n"
	"4:	movq	%rax, %rsi\n"
	"	movl	$" STR(FAIL_RESULT) ", %edi\n"
	"	jmp	7f\n"
	"5:	movq	%r13, %rsi\n"
	"	movl	$" STR(FAIL_USER_RFLAGS) ", %edi\n"
	"	jmp	7f\n"
	"6:	movq	%r13, %rsi\n"
	"	movl	$" STR(FAIL_USER_SEGMENTS) ", %edi\n"
	"7:	pushfq\n"                      /* keep R11 valid: report this, not that */
	"	orq	$(" STR(RFLAGS_AC) " | " STR(RFLAGS_DF) "), (%rsp)\n"
	"	popfq\n"
	"	movl	$" STR(SYS_FAIL) ", %eax\n"
	"	call	user_syscall\n"
	"	ud2\n"
	"user_syscall:\n"
	"	movq	%rsp, %rdx\n"            /* the kernel checks that RSP survived */
	"	syscall\n"
	"user_syscall_ret:\n"
	"	ret\n"
	/* Nothing else on the user page; the assembler refuses if the code outgrows it. */
	"	.org	user_text + 4096, 0xcc\n"
	"	.popsection\n"

	/* Kernel entries. */
	"	.pushsection .text.syscall_cpl3, \"ax\"\n"
	"	.globl	syscall_entry\n"
	"	.balign 16\n"
	"syscall_entry:\n"
	"	movq	%rsp, %r10\n"            /* SYSCALL leaves RSP alone */
	"	leaq	kernel_stack_top(%rip), %rsp\n"
	"	movl	%cs, %r8d\n"
	"	cmpl	$" STR(KERNEL_CS) ", %r8d\n"
	"	jne	10f\n"
	"	movl	%ss, %r8d\n"
	"	cmpl	$" STR(KERNEL_SS) ", %r8d\n"
	"	jne	11f\n"
	"	movabsq	$(" STR(USER_VA) " + (user_syscall_ret - user_text)), %r8\n"
	"	cmpq	%r8, %rcx\n"
	"	jne	12f\n"
	"	cmpq	%rdx, %r10\n"
	"	jne	13f\n"
	"	movl	%r11d, %r8d\n"
	"	andl	$" STR(RFLAGS_CHECKED) ", %r8d\n"
	"	cmpl	$" STR(RFLAGS_USER) ", %r8d\n"
	"	jne	14f\n"
	"	pushfq\n"
	"	popq	%r8\n"
	"	testl	$" STR(SFMASK_BITS) ", %r8d\n"
	"	jnz	15f\n"
	"	cmpq	$" STR(SYS_ADD) ", %rax\n"
	"	jne	16f\n"
	"	leaq	(%rdi,%rsi), %rax\n"
	"	incq	syscall_count(%rip)\n"
	"	movq	%r10, %rsp\n"
	"	sysretq\n"
	"10:	movl	$" STR(FAIL_KERNEL_CS) ", %edi\n"
	"	jmp	19f\n"
	"11:	movl	$" STR(FAIL_KERNEL_SS) ", %edi\n"
	"	jmp	19f\n"
	"12:	movq	%rcx, %r8\n"
	"	movl	$" STR(FAIL_RCX) ", %edi\n"
	"	jmp	19f\n"
	"13:	movq	%r10, %r8\n"
	"	movl	$" STR(FAIL_RSP) ", %edi\n"
	"	jmp	19f\n"
	"14:	movq	%r11, %r8\n"
	"	movl	$" STR(FAIL_R11) ", %edi\n"
	"	jmp	19f\n"
	"15:	movl	$" STR(FAIL_SFMASK) ", %edi\n"
	"19:	movq	%r8, %rsi\n"
	"	call	kernel_fail\n"
	"16:	movq	%rsi, %rdx\n"
	"	movq	%rdi, %rsi\n"
	"	movq	%rax, %rdi\n"
	"	call	syscall_slow\n"
	"	ud2\n"

	/* #PF with SMAP: clac first, as Linux's entry code; then the library stub. */
	"	.globl	pf_entry_clac\n"
	"	.balign 16\n"
	"pf_entry_clac:\n"
	"	clac\n"
	"	jmp	isr_stubs + 16 * 14\n"

	/* RDI = calls; iretq to user_text at CPL 3 with IF = 1. */
	"	.globl	enter_user\n"
	"	.balign 16\n"
	"enter_user:\n"
	"	pushq	$" STR(USER_SS) "\n"
	"	movabsq	$" STR(USER_STACK_TOP) ", %rax\n"
	"	pushq	%rax\n"
	"	pushq	$(" STR(RFLAGS_FIXED) " | " STR(RFLAGS_IF) ")\n"
	"	pushq	$" STR(USER_CS) "\n"
	"	movabsq	$" STR(USER_VA) ", %rax\n"
	"	pushq	%rax\n"
	"	iretq\n"
	"	.popsection\n"

	/* User mapping (static, so no ring-0 loop fills it): PML4[1] -> PDPT -> PD -> PT. */
	"	.pushsection .data.syscall_cpl3_pt, \"aw\"\n"
	"	.balign 4096\n"
	"	.globl	user_pdpt\n"
	"user_pdpt:\n"
	"	.quad	user_pd + " STR(PTE_P | PTE_W | PTE_U) "\n"
	"	.fill	511, 8, 0\n"
	"user_pd:\n"
	"	.quad	user_pt + " STR(PTE_P | PTE_W | PTE_U) "\n"
	"	.fill	511, 8, 0\n"
	"user_pt:\n"
	"	.quad	user_text + " STR(PTE_P | PTE_U) "\n"      /* code: read-only */
	"	.quad	user_stack + " STR(PTE_P | PTE_W | PTE_U) "\n"
	"	.fill	510, 8, 0\n"
	"	.popsection\n"

	/* Stacks: not zeroed (.bss.noinit), written before they are read. */
	"	.pushsection .bss.noinit.syscall_cpl3, \"aw\", @nobits\n"
	"	.balign 4096\n"
	"user_stack:\n"
	"	.space	4096\n"
	"	.balign 16\n"
	"	.space	8192\n"
	"	.globl	kernel_stack_top\n"
	"kernel_stack_top:\n"
	"	.popsection\n");

extern const char syscall_entry[], pf_entry_clac[], kernel_stack_top[];
extern const char user_text[], user_syscall_ret[];
extern uint64_t user_pdpt[];
__attribute__((noreturn)) void enter_user(uint64_t calls);

/* Called from syscall_entry on the kernel stack. */
__attribute__((noreturn)) void kernel_fail(uint32_t code, uint64_t value);
__attribute__((noreturn)) void syscall_slow(uint64_t nr, uint64_t arg0, uint64_t arg1);

uint64_t syscall_count;   /* add calls completed; syscall_entry counts them */
static uint64_t calls;
static volatile uint64_t interrupts;   /* external interrupts taken (user mode runs with IF = 1) */


static void emit_serial(char c, void *ctx)
{
	(void)ctx;
	serial_putc(c);
}

__attribute__((noreturn, format(printf, 2, 3))) static void fail(uint32_t code, const char *fmt, ...)
{
	va_list ap;

	printf("syscall_cpl3: FAIL: ");
	va_start(ap, fmt);
	vformat(emit_serial, NULL, fmt, ap);
	va_end(ap);
	printf("\n");
	debug_exit(code);
}

void kernel_fail(uint32_t code, uint64_t value)
{
	switch (code) {
	case FAIL_KERNEL_CS:
		fail(code, "syscall entry ran with CS 0x%lx (RPL %lu), expected 0x%x (RPL 0)", value, value & 3,
		     KERNEL_CS);
	case FAIL_KERNEL_SS:
		fail(code, "syscall entry ran with SS 0x%lx, expected 0x%x", value, KERNEL_SS);
	case FAIL_RCX:
		fail(code, "RCX 0x%lx at the syscall entry, expected the return address 0x%lx", value,
		     USER_VA + (uint64_t)(user_syscall_ret - user_text));
	case FAIL_RSP:
		fail(code, "RSP 0x%lx at the syscall entry is not the user's (call %lu)", value, syscall_count);
	case FAIL_R11:
		fail(code, "R11 0x%lx at the syscall entry does not hold the user RFLAGS (0x%x in the checked bits)",
		     value, RFLAGS_USER);
	default:
		fail(code, "RFLAGS 0x%lx at the syscall entry: SFMASK bits 0x%x not cleared", value,
		     SFMASK_BITS);
	}
}

void syscall_slow(uint64_t nr, uint64_t arg0, uint64_t arg1)
{
	if (nr == SYS_EXIT) {
		if (arg0 != calls || syscall_count != calls)
			fail(FAIL_COUNT, "exit after %lu calls (the kernel counted %lu, expected %lu)", arg0,
			     syscall_count, calls);
		printf("syscall_cpl3: %lu system calls from CPL3 returned correctly (%lu external interrupts "
		       "taken)\n", calls, interrupts);
		debug_exit(0);
	}
	if (nr == SYS_FAIL && arg0 == FAIL_RESULT)
		fail(FAIL_RESULT, "call %lu returned 0x%lx to user mode", syscall_count, arg1);
	if (nr == SYS_FAIL && arg0 == FAIL_USER_RFLAGS)
		fail(FAIL_USER_RFLAGS, "user RFLAGS after sysretq: 0x%lx in the checked bits, expected 0x%x", arg1,
		     RFLAGS_USER);
	if (nr == SYS_FAIL && arg0 == FAIL_USER_SEGMENTS)
		fail(FAIL_USER_SEGMENTS, "user segment 0x%lx after sysretq (expected CS 0x%x, SS 0x%x), call %lu",
		     arg1, USER_CS, USER_SS, syscall_count);
	fail(FAIL_SYSCALL_NR, "unknown system call %lu (rdi 0x%lx)", nr, arg0);
}

static void trap_report(struct isr_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	printf("syscall_cpl3: FAIL: exception %lu, error 0x%lx, rip 0x%lx, cs 0x%lx, rsp 0x%lx, cr2 0x%lx\n",
	       f->vector, f->error, f->rip, f->cs, f->rsp, cr2);
	debug_exit(FAIL_EXCEPTION);
}

/* An 8259 interrupt (all are masked, but one may be in flight): acknowledge it and go on. */
static void external_interrupt(struct isr_frame *f)
{
	interrupts++;
	pic_eoi((unsigned int)(f->vector - PIC_MASTER_VECTOR));
}

static bool cpu_has_smap(void)
{
	uint32_t max, b, c, d;

	cpu_cpuid(0, &max, &b, &c, &d);
	if (max < 7)
		return false;
	cpu_cpuid(7, &max, &b, &c, &d);
	return b & CPUID7_EBX_SMAP;
}

void guest_main(const struct boot_info *bi)
{
	static const unsigned int traps[] = { 6, 8, 10, 11, 12, 13, 14 };
	uint64_t cr3, cr4;
	bool smap;

	calls = DEFAULT_CALLS;
	if (cmdline_get(bi, "calls=") && !cmdline_get_u64(bi, "calls=", &calls))
		fail(FAIL_CALLS_ARG, "bad calls= value");

	cpl3_load_gdt_tss(kernel_stack_top);
	for (unsigned int i = 0; i < sizeof(traps) / sizeof(traps[0]); i++)
		idt_set_handler(traps[i], trap_report);
	pic_init(0);
	for (unsigned int v = PIC_MASTER_VECTOR; v < PIC_MASTER_VECTOR + 16; v++)
		if (v != PIC_MASTER_VECTOR + 7 && v != PIC_SLAVE_VECTOR + 7)   /* spurious: the library's */
			idt_set_handler(v, external_interrupt);

	smap = cpu_has_smap();
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 &= ~CR4_SMEP;
	if (smap) {
		cr4 |= CR4_SMAP;
		idt_set_entry(14, pf_entry_clac);
	}
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");

	cpu_wrmsr(MSR_EFER, cpu_rdmsr(MSR_EFER) | EFER_SCE);
	cpu_wrmsr(MSR_STAR, (uint64_t)USER32_CS << 48 | (uint64_t)KERNEL_CS << 32);
	cpu_wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)syscall_entry);
	cpu_wrmsr(MSR_SFMASK, SFMASK_BITS);

	/* A not-present entry becoming present needs no TLB flush (SDM vol. 3 4.10.4.3). */
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	((uint64_t *)(uintptr_t)(cr3 & ~0xfffull))[USER_VA >> 39] =
		(uint64_t)(uintptr_t)user_pdpt | PTE_P | PTE_W | PTE_U;

	printf("syscall_cpl3: %lu calls from CPL3, SMAP %s\n", calls,
	       smap ? "on (#PF entry starts with clac)" : "not offered");
	enter_user(calls);
}
