/* SPDX-License-Identifier: MIT */
#include "lib.h"

/*
 * Bounds for polling loops. Virtual UARTs and i8042s answer at once; the
 * bounds only keep a broken device from hanging a guest in a busy loop.
 */
#define SERIAL_POLL_MAX 100000

/* ---- serial -------------------------------------------------------------- */

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0);
	outb(COM1_PORT + UART_LCR, UART_LCR_DLAB);
	outb(COM1_PORT + UART_DLL, 1);   /* 115200 baud: divisor 1 of 1.8432 MHz / 16 */
	outb(COM1_PORT + UART_DLM, 0);
	outb(COM1_PORT + UART_LCR, UART_LCR_8N1);
	outb(COM1_PORT + UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
}

uint8_t serial_wait_thre(void)
{
	uint8_t lsr = inb(COM1_PORT + UART_LSR);

	for (int i = 0; !(lsr & UART_LSR_THRE) && i < SERIAL_POLL_MAX; i++) {
		__asm__ volatile("pause");
		lsr = inb(COM1_PORT + UART_LSR);
	}
	return lsr;
}

void serial_putc(char c)
{
	serial_wait_thre();
	outb(COM1_PORT + UART_THR, (uint8_t)c);
}

void serial_write(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

/* ---- formatting ---------------------------------------------------------- */

static int emit_number(format_emit_fn emit, void *ctx, uint64_t v, unsigned int base, bool negative,
		       unsigned int width, char pad)
{
	char digits[24];
	unsigned int n = 0;
	int count = 0;

	do {
		unsigned int d = (unsigned int)(v % base);
		digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (negative && pad == '0') {
		emit('-', ctx);
		count++;
	}
	for (unsigned int len = n + (negative ? 1u : 0u); len < width; len++) {
		emit(pad, ctx);
		count++;
	}
	if (negative && pad != '0') {
		emit('-', ctx);
		count++;
	}
	while (n) {
		emit(digits[--n], ctx);
		count++;
	}
	return count;
}

int vformat(format_emit_fn emit, void *ctx, const char *fmt, va_list ap)
{
	int count = 0;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(*fmt, ctx);
			count++;
			continue;
		}
		fmt++;
		char pad = ' ';
		unsigned int width = 0;
		bool is_long = false;

		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		if (*fmt == 'l') {
			is_long = true;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			unsigned int len;

			if (!s)
				s = "(null)";
			len = (unsigned int)strlen(s);
			for (; len < width; len++, count++)
				emit(' ', ctx);
			for (; *s; s++, count++)
				emit(*s, ctx);
			break;
		}
		case 'c':
			emit((char)va_arg(ap, int), ctx);
			count++;
			break;
		case 'd': {
			int64_t v = is_long ? va_arg(ap, long) : va_arg(ap, int);
			uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

			count += emit_number(emit, ctx, mag, 10, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);

			count += emit_number(emit, ctx, v, *fmt == 'x' ? 16 : 10, false, width, pad);
			break;
		}
		case '%':
			emit('%', ctx);
			count++;
			break;
		case '\0':
			return count;
		default:              /* unknown conversion: show it verbatim */
			emit('%', ctx);
			emit(*fmt, ctx);
			count += 2;
			break;
		}
	}
	return count;
}

static void emit_serial(char c, void *ctx)
{
	(void)ctx;
	serial_putc(c);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vformat(emit_serial, NULL, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- strings ------------------------------------------------------------- */

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i] || !a[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
	}
	return 0;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] - y[i];
	}
	return 0;
}

/* ---- cmdline ------------------------------------------------------------- */

const char *cmdline_get(const struct boot_info *bi, const char *key)
{
	size_t klen = strlen(key);
	const char *p = bi->cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (!strncmp(p, key, klen))
			return p + klen;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool parse_number(const char **p, uint64_t *out)
{
	const char *s = *p;
	unsigned int base = 10;
	uint64_t v = 0;
	bool any = false;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
		any = true;
	}
	*p = s;
	*out = v;
	return any;
}

bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;

	if (!parse_number(&s, &v) || (*s && *s != ' '))
		return false;
	*out = v;
	return true;
}

bool cmdline_get_u64(const struct boot_info *bi, const char *key, uint64_t *out)
{
	const char *v = cmdline_get(bi, key);

	return v && parse_u64(v, out);
}

/* ---- exits --------------------------------------------------------------- */

void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" : : : "memory");
}

void debug_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	halt_forever();
}

void reset_via_i8042(void)
{
	/* The controller ignores commands while its input buffer is full. */
	for (int i = 0; i < SERIAL_POLL_MAX && (inb(I8042_STATUS_PORT) & I8042_STATUS_IBF); i++)
		__asm__ volatile("pause");
	outb(I8042_CMD_PORT, I8042_CMD_RESET);
	halt_forever();
}

/* ---- interrupts ---------------------------------------------------------- */

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

/* Not zeroed by start.S (.bss.noinit): idt_init writes every entry. */
static struct idt_gate idt[IDT_VECTORS] __attribute__((section(".bss.noinit.idt"), aligned(16)));
static isr_handler_fn isr_handlers[IDT_VECTORS] __attribute__((section(".bss.noinit.handlers")));

extern const char isr_stubs[];   /* start.S: 16-byte stubs, one per vector */

#define CODE64_SELECTOR 0x08
#define GATE_INTERRUPT_PRESENT 0x8e

void idt_init(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	for (unsigned int v = 0; v < IDT_VECTORS; v++) {
		uint64_t addr = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);

		idt[v] = (struct idt_gate){
			.offset_low = (uint16_t)addr,
			.selector = CODE64_SELECTOR,
			.type_attr = GATE_INTERRUPT_PRESENT,
			.offset_mid = (uint16_t)(addr >> 16),
			.offset_high = (uint32_t)(addr >> 32),
		};
		isr_handlers[v] = NULL;
	}
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

void idt_set_handler(unsigned int vector, isr_handler_fn fn)
{
	if (vector < IDT_VECTORS)
		isr_handlers[vector] = fn;
}

void idt_set_entry(unsigned int vector, const void *entry)
{
	uint64_t addr = (uint64_t)(uintptr_t)entry;

	if (vector >= IDT_VECTORS)
		return;
	idt[vector].offset_low = (uint16_t)addr;
	idt[vector].offset_mid = (uint16_t)(addr >> 16);
	idt[vector].offset_high = (uint32_t)(addr >> 32);
}

void isr_dispatch(struct isr_frame *frame);   /* called from start.S */

void isr_dispatch(struct isr_frame *frame)
{
	uint64_t v = frame->vector;

	if (v < IDT_VECTORS && isr_handlers[v]) {
		isr_handlers[v](frame);
		return;
	}
	/* 8259 spurious interrupts (IRQ7 / IRQ15) and the LAPIC spurious vector
	 * need no EOI to the device that did not raise them; a slave spurious
	 * IRQ15 still went through the master's cascade input. */
	if (v == PIC_MASTER_VECTOR + 7 || v == LAPIC_SPURIOUS_VECTOR)
		return;
	if (v == PIC_SLAVE_VECTOR + 7) {
		outb(0x20, 0x20);
		return;
	}
	printf("guest: unexpected vector %lu, error 0x%lx, rip 0x%lx\n", v, frame->error, frame->rip);
	debug_exit(GUEST_EXIT_UNEXPECTED_TRAP);
}

#define PIC_MASTER_CMD  0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_CMD   0xa0
#define PIC_SLAVE_DATA  0xa1
#define PIC_ICW1_INIT_ICW4 0x11  /* edge triggered, cascade, ICW4 follows */
#define PIC_ICW4_8086      0x01
#define PIC_EOI            0x20

void pic_init(uint16_t irq_mask)
{
	outb(PIC_MASTER_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC_SLAVE_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC_MASTER_DATA, PIC_MASTER_VECTOR);   /* ICW2: vector base */
	outb(PIC_SLAVE_DATA, PIC_SLAVE_VECTOR);
	outb(PIC_MASTER_DATA, 1 << 2);              /* ICW3: slave on IRQ2 */
	outb(PIC_SLAVE_DATA, 2);                    /* ICW3: slave identity */
	outb(PIC_MASTER_DATA, PIC_ICW4_8086);
	outb(PIC_SLAVE_DATA, PIC_ICW4_8086);
	if (irq_mask & 0xff00)
		irq_mask |= 1 << 2;
	outb(PIC_MASTER_DATA, (uint8_t)~irq_mask);  /* OCW1: 1 = masked */
	outb(PIC_SLAVE_DATA, (uint8_t)~(irq_mask >> 8));
}

void pic_eoi(unsigned int irq)
{
	if (irq >= 8)
		outb(PIC_SLAVE_CMD, PIC_EOI);
	outb(PIC_MASTER_CMD, PIC_EOI);
}

#define MSR_IA32_APIC_BASE 0x1b
#define APIC_BASE_ENABLE   (1u << 11)
#define CPUID1_EDX_APIC    (1u << 9)
#define LAPIC_SVR          0xf0
#define LAPIC_LVT_LINT0    0x350
#define LAPIC_LVT_LINT1    0x360
#define LAPIC_SVR_ENABLE   0x100
#define LAPIC_DM_NMI       0x400
#define LAPIC_DM_EXTINT    0x700

void lapic_virtual_wire(void)
{
	uint32_t a, b, c, d;
	uint64_t base;

	cpu_cpuid(1, &a, &b, &c, &d);
	if (!(d & CPUID1_EDX_APIC))
		return;
	base = cpu_rdmsr(MSR_IA32_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE))
		return;   /* globally disabled: the 8259 output goes to the CPU directly */
	base &= ~0xfffull;
	if (base < 0xc0000000ull || base >= 0x100000000ull)
		return;   /* start.S maps only the 3..4 GiB MMIO window */
	mmio_write32(base + LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SPURIOUS_VECTOR);
	mmio_write32(base + LAPIC_LVT_LINT0, LAPIC_DM_EXTINT);
	mmio_write32(base + LAPIC_LVT_LINT1, LAPIC_DM_NMI);
}

/* ---- user mode (CPL 3) ----------------------------------------------------- */

/* 64-bit TSS (SDM vol. 3 8.7): only RSP0 is used; no I/O bitmap. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

static struct tss64 cpl3_tss __attribute__((aligned(16))) = { .iomap_base = sizeof(struct tss64) };

static uint64_t cpl3_gdt[10] __attribute__((aligned(16))) = {
	0,
	0x00af9b000000ffffull,   /* 0x08: kernel 64-bit code */
	0x00cf93000000ffffull,   /* 0x10: kernel data */
	0,                       /* 0x18: unused (Linux's kernel data slot) */
	0x00cffb000000ffffull,   /* 0x20: user 32-bit code (SYSRET's base) */
	0x00cff3000000ffffull,   /* 0x28: user data */
	0x00affb000000ffffull,   /* 0x30: user 64-bit code */
	0,                       /* 0x38: unused */
	0, 0,                    /* 0x40: TSS, filled in below */
};

void cpl3_load_gdt_tss(const void *kernel_stack_top)
{
	const uint64_t base = (uint64_t)(uintptr_t)&cpl3_tss;
	const uint64_t limit = sizeof(cpl3_tss) - 1;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = { sizeof(cpl3_gdt) - 1, (uint64_t)(uintptr_t)cpl3_gdt };

	cpl3_tss.rsp[0] = (uint64_t)(uintptr_t)kernel_stack_top;
	/* System descriptor, type 9 (available 64-bit TSS), present, DPL 0. */
	cpl3_gdt[GDT_TSS_SEL / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
				    ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	cpl3_gdt[GDT_TSS_SEL / 8 + 1] = base >> 32;
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS_SEL) : "memory");
}
