/* SPDX-License-Identifier: MIT */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

/*
 * The test guests' tiny library: boot information, port I/O, polled serial
 * output, printf, cmdline lookup, exits, IDT, 8259 PIC and LAPIC set-up.
 * Freestanding: no libc, general-purpose registers only.
 */

/* Values passed from start.S to boot_entry(). */
#define BOOT_PROTOCOL_PVH   1
#define BOOT_PROTOCOL_LINUX 2

/* xen/include/public/elfnote.h */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#ifndef __ASSEMBLER__

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * debug_exit() codes. 0 = pass. Under QEMU's isa-debug-exit (iosize=4) and
 * under vmon the process exits with status (2 * code + 1) & 0xff.
 * Each guest uses 1..99 for its own failures; the library uses these:
 */
#define GUEST_EXIT_PASS            0
#define GUEST_EXIT_BAD_BOOT        100  /* boot information missing or malformed */
#define GUEST_EXIT_UNEXPECTED_TRAP 101  /* exception or interrupt nobody handles */
#define GUEST_EXIT_RETURNED        102  /* guest_main returned */

/* ---- boot information (boot.c) ---------------------------------------- */

#define BOOT_MEM_MAX 32
#define BOOT_CMDLINE_MAX 1024            /* bytes kept, including the NUL */
#define BOOT_MAPPED_LIMIT 0x40000000ull  /* start.S maps RAM up to 1 GiB */

/* E820 / hvm_memmap types (identical numbering). */
#define MEM_TYPE_RAM      1
#define MEM_TYPE_RESERVED 2
#define MEM_TYPE_ACPI     3
#define MEM_TYPE_NVS      4
#define MEM_TYPE_UNUSABLE 5

struct boot_mem_range {
	uint64_t base;
	uint64_t size;
	uint32_t type;
};

struct boot_info {
	const char *protocol;      /* "pvh" or "linux" */
	const char *cmdline;       /* never NULL; "" when the loader gave none */
	bool cmdline_truncated;    /* longer than BOOT_CMDLINE_MAX - 1 */
	uint32_t mem_count;        /* entries in mem[] */
	uint32_t mem_total;        /* entries the loader passed (may exceed BOOT_MEM_MAX) */
	struct boot_mem_range mem[BOOT_MEM_MAX];
	uint64_t info_addr;        /* hvm_start_info (EBX) or boot_params (RSI) */
};

/* Each guest defines this; boot.c calls it with the normalised information. */
void guest_main(const struct boot_info *bi);

/* ---- CPU helpers ------------------------------------------------------- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void cpu_cli(void)
{
	__asm__ volatile("cli" : : : "memory");
}

static inline void cpu_sti(void)
{
	__asm__ volatile("sti" : : : "memory");
}

/*
 * Wait for one interrupt with interrupts otherwise disabled: the STI shadow
 * covers HLT, so an interrupt pending at STI wakes the HLT instead of being
 * taken before it (no lost wake-up). Call with IF = 0; returns with IF = 0.
 */
static inline void cpu_wait_for_interrupt(void)
{
	__asm__ volatile("sti; hlt; cli" : : : "memory");
}

static inline uint64_t cpu_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpu_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* ---- serial (COM1, 16550) ----------------------------------------------- */

#define COM1_PORT   0x3f8
#define UART_RBR    0   /* read, DLAB = 0 */
#define UART_THR    0   /* write, DLAB = 0 */
#define UART_DLL    0   /* DLAB = 1 */
#define UART_IER    1
#define UART_DLM    1   /* DLAB = 1 */
#define UART_IIR    2   /* read */
#define UART_FCR    2   /* write */
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define UART_MSR    6

#define UART_IER_RDI   0x01
#define UART_IER_THRI  0x02
#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID    0x0e
#define UART_IIR_MSI   0x00
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_RLSI  0x06
#define UART_IIR_CTI   0x0c
#define UART_IIR_FIFO  0xc0  /* both set when the FIFOs are enabled */
#define UART_FCR_ENABLE 0x01
#define UART_LCR_DLAB  0x80
#define UART_LCR_8N1   0x03
#define UART_MCR_DTR   0x01
#define UART_MCR_RTS   0x02
#define UART_MCR_OUT2  0x08
#define UART_LSR_DR    0x01
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40

#define UART_FIFO_SIZE 16

/* 115200 8N1, interrupts off, DTR|RTS. Leaves the FIFO control alone. */
void serial_init(void);
/* Polls LSR until THRE (bounded); returns the last LSR value read. */
uint8_t serial_wait_thre(void);
void serial_putc(char c);
void serial_write(const char *s);

/* ---- formatting ---------------------------------------------------------- */

/*
 * Supports %s %c %d %u %x %ld %lu %lx %% with an optional '0' flag and width
 * (e.g. %016lx, %02u). '\n' is emitted as is (no CR).
 */
typedef void (*format_emit_fn)(char c, void *ctx);
int vformat(format_emit_fn emit, void *ctx, const char *fmt, va_list ap);
__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);

/* ---- strings (GCC may emit calls to mem* even when freestanding) --------- */

size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* ---- cmdline ------------------------------------------------------------- */

/*
 * Value of the first whitespace-separated word starting with key (key
 * includes the '=', e.g. "exit="); NULL when absent. The value ends at the
 * next space or NUL.
 */
const char *cmdline_get(const struct boot_info *bi, const char *key);
/* Decimal or 0x-hex value of key; false when absent or malformed. */
bool cmdline_get_u64(const struct boot_info *bi, const char *key, uint64_t *out);
/* Parses a number ending at space or NUL; false when malformed or overflowing. */
bool parse_u64(const char *s, uint64_t *out);
/* A decimal or 0x-hex number ending at the first other character; *p moves past it. False: no digits, overflow. */
bool parse_number(const char **p, uint64_t *out);

/* ---- exits ------------------------------------------------------------- */

#define DEBUG_EXIT_PORT 0xf4   /* QEMU isa-debug-exit, iosize = 4 */

/* Writes code (32-bit) to the isa-debug-exit port; halts if that returns. */
__attribute__((noreturn)) void debug_exit(uint32_t code);
/* Pulses the reset line through the i8042 (command 0xfe to port 0x64), then halts. */
__attribute__((noreturn)) void reset_via_i8042(void);
__attribute__((noreturn)) void halt_forever(void);

#define I8042_DATA_PORT   0x60
#define I8042_STATUS_PORT 0x64   /* read */
#define I8042_CMD_PORT    0x64   /* write */
#define I8042_STATUS_OBF  0x01
#define I8042_STATUS_IBF  0x02
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_RESET     0xfe

/* ---- interrupts ---------------------------------------------------------- */

/* Layout pushed by start.S (isr_stubs, isr_common), lowest address first. */
struct isr_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*isr_handler_fn)(struct isr_frame *frame);

#define IDT_VECTORS 64
#define PIC_MASTER_VECTOR 0x20
#define PIC_SLAVE_VECTOR  0x28
#define LAPIC_SPURIOUS_VECTOR 0x3f

/* Installs stubs for vectors 0..63 (all reporting "unexpected") and loads the IDT. */
void idt_init(void);
void idt_set_handler(unsigned int vector, isr_handler_fn fn);
/*
 * Points the gate of vector at an assembly entry of the guest's own instead
 * of the library stub (isr_stubs + 16 * vector, which such an entry may jump
 * to after its first instructions). Same selector and gate type.
 */
void idt_set_entry(unsigned int vector, const void *entry);

/*
 * Remaps the 8259 pair to vectors 0x20..0x2f and unmasks the IRQs whose bits
 * are set in irq_mask (bit n = IRQ n; the cascade IRQ2 is added when a slave
 * IRQ is unmasked). Spurious IRQ7/IRQ15 are ignored by the library.
 */
void pic_init(uint16_t irq_mask);
void pic_eoi(unsigned int irq);

/*
 * Puts the local APIC (when present and enabled in IA32_APIC_BASE) in
 * virtual-wire mode: software-enabled, LINT0 = ExtINT, LINT1 = NMI, so 8259
 * interrupts reach the CPU whatever the loader left there.
 */
void lapic_virtual_wire(void);

/* ---- user mode (CPL 3) ----------------------------------------------------- */

/*
 * GDT for guests that drop to CPL 3: kernel code/data where start.S has them
 * (so the library's IDT gates still apply), then the user descriptors in the
 * order SYSCALL/SYSRET need (STAR[63:48] = GDT_USER32_CS: SS = +8, 64-bit
 * CS = +16), and a 64-bit TSS (no I/O bitmap). The user selectors are
 * Linux's (arch/x86/include/asm/segment.h: __USER32_CS 0x23, __USER_DS 0x2b,
 * __USER_CS 0x33): a PVM host returns to guest user mode with those selectors
 * whatever STAR says (measured: CS 0x33 after sysretq with STAR[63:48] 0x1b),
 * so a GDT laid out like Linux's gets the same answers there as on VT-x/SVM.
 */
#define GDT_KERNEL_CS  0x08
#define GDT_KERNEL_SS  0x10
#define GDT_USER32_CS  0x23
#define GDT_USER_SS    0x2b
#define GDT_USER_CS    0x33
#define GDT_TSS_SEL    0x40

/* Loads that GDT and the TSS (TR), with RSP0 = kernel_stack_top for traps taken at CPL 3. */
void cpl3_load_gdt_tss(const void *kernel_stack_top);

#else /* __ASSEMBLER__ */

/*
 * The Xen PVH entry note (xen/include/public/elfnote.h): a PVH loader (vmon,
 * QEMU) enters the kernel at `entry`, in 32-bit protected mode.
 */
.macro xen_pvh_entry_note entry
	.pushsection .note.Xen, "a", @note
	.balign 4
	.long	4                          /* namesz: "Xen\0" */
	.long	4                          /* descsz: 32-bit physical address */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.balign 4
	.long	\entry
	.popsection
.endm

#endif /* __ASSEMBLER__ */
#endif
