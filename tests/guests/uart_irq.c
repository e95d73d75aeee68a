/* SPDX-License-Identifier: MIT */
/*
 * uart_irq: interrupt-driven COM1, the way Linux's 8250 driver drives it.
 *  - 8259 remapped to 0x20, IRQ4 unmasked, LAPIC in virtual-wire mode;
 *  - FIFOs enabled (RX trigger 1 byte), MCR = DTR|RTS|OUT2, IER = RDI|THRI;
 *  - transmit: text goes into a ring; the THRE interrupt handler moves up to
 *    16 bytes into the FIFO per interrupt; IER.THRI is cleared when the ring
 *    is empty and set again when there is more (enabling THRI with the
 *    transmitter empty raises the interrupt at once). No LSR polling on TX.
 *  - receive: one byte per RDI/CTI identification, HLT between interrupts,
 *    until '\n'; then "echo: <LINE IN UPPER CASE>" through the same TX path.
 * The host must send the line after the banner line ("uart_irq: ready, ..."):
 * bytes that arrive before the FIFOs are switched on may be lost (a 16550
 * clears its FIFOs when FCR.FE changes), although the guest keeps one
 * already sitting in RBR.
 * Failures: 1 = IIR did not report FIFOs enabled, 2 = unexpected IIR
 * identification, 3 = interrupt storm (IIR never said "no interrupt").
 */
#include "lib.h"

#define COM1_IRQ 4
#define TX_RING_SIZE 256    /* power of two */
#define LINE_MAX 80
#define IIR_LOOP_MAX 64

static char tx_ring[TX_RING_SIZE];
static volatile uint32_t tx_head, tx_tail;   /* head: producer (main), tail: ISR */
static volatile uint8_t ier;
static char line[LINE_MAX + 1];
static volatile uint32_t line_len;
static volatile bool line_done;
static volatile uint32_t thre_irqs, rx_irqs, max_burst;

static void uart_out(unsigned int reg, uint8_t v)
{
	outb(COM1_PORT + reg, v);
}

static uint8_t uart_in(unsigned int reg)
{
	return inb(COM1_PORT + reg);
}

__attribute__((noreturn)) static void fail(unsigned int code, const char *what, unsigned int value)
{
	/* Polled output: the interrupt path may be what is broken. */
	printf("\nuart_irq: FAIL: %s (0x%x)\n", what, value);
	debug_exit(code);
}

/* ISR side: fill the FIFO from the ring, at most UART_FIFO_SIZE bytes. */
static void tx_fill(void)
{
	uint32_t n = 0;

	while (tx_tail != tx_head && n < UART_FIFO_SIZE) {
		uart_out(UART_THR, (uint8_t)tx_ring[tx_tail % TX_RING_SIZE]);
		tx_tail = tx_tail + 1;
		n++;
	}
	if (n > max_burst)
		max_burst = n;
	if (tx_tail == tx_head) {
		/* Nothing left: stop THRE interrupts (as 8250 __stop_tx does). */
		ier = (uint8_t)(ier & ~UART_IER_THRI);
		uart_out(UART_IER, ier);
	}
}

static void rx_char(char c)
{
	if (line_done || c == '\r')
		return;
	if (c == '\n') {
		line_done = true;
		return;
	}
	if (line_len < LINE_MAX)
		line[line_len++] = c;
}

static void com1_isr(struct isr_frame *frame)
{
	(void)frame;
	for (int i = 0;; i++) {
		uint8_t iir = uart_in(UART_IIR);

		if (i == IIR_LOOP_MAX)
			fail(3, "IIR keeps reporting an interrupt", iir);
		if (iir & UART_IIR_NO_INT)
			break;
		if ((iir & UART_IIR_FIFO) != UART_IIR_FIFO)
			fail(1, "IIR FIFO bits not set with FIFOs enabled", iir);
		switch (iir & UART_IIR_ID) {
		case UART_IIR_THRI:   /* reading IIR cleared it */
			thre_irqs = thre_irqs + 1;
			tx_fill();
			break;
		case UART_IIR_RDI:
		case UART_IIR_CTI:
			rx_irqs = rx_irqs + 1;
			rx_char((char)uart_in(UART_RBR));
			break;
		case UART_IIR_RLSI:
			(void)uart_in(UART_LSR);
			break;
		case UART_IIR_MSI:
			(void)uart_in(UART_MSR);
			break;
		default:
			fail(2, "unexpected IIR", iir);
		}
	}
	pic_eoi(COM1_IRQ);
}

static void emit_ring(char c, void *ctx)
{
	(void)ctx;
	/* Ring full: let the interrupt handler drain it. */
	while (tx_head - tx_tail >= TX_RING_SIZE)
		cpu_wait_for_interrupt();
	tx_ring[tx_head % TX_RING_SIZE] = c;
	tx_head = tx_head + 1;
}

/* Queues text and makes sure THRE interrupts are on (8250 start_tx). Call with IF = 0. */
__attribute__((format(printf, 1, 2))) static void irq_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vformat(emit_ring, NULL, fmt, ap);
	va_end(ap);
	if (!(ier & UART_IER_THRI)) {
		ier = (uint8_t)(ier | UART_IER_THRI);
		uart_out(UART_IER, ier);
	}
}

static void wait_tx_drained(void)
{
	while (tx_tail != tx_head || (ier & UART_IER_THRI))
		cpu_wait_for_interrupt();
}

void guest_main(const struct boot_info *bi)
{
	(void)bi;
	cpu_cli();
	idt_set_handler(PIC_MASTER_VECTOR + COM1_IRQ, com1_isr);
	pic_init(1u << COM1_IRQ);
	lapic_virtual_wire();

	/*
	 * Drop RTS while reprogramming so a host that honours flow control (vmon)
	 * holds its input back; keep a byte that arrived before, since enabling
	 * the FIFOs clears them. Hosts without flow control (QEMU with a
	 * pre-filled stdin) may still lose bytes here: they must send after the
	 * banner.
	 */
	uart_out(UART_MCR, UART_MCR_DTR | UART_MCR_OUT2);
	bool early = uart_in(UART_LSR) & UART_LSR_DR;
	uint8_t early_byte = early ? uart_in(UART_RBR) : 0;

	uart_out(UART_FCR, UART_FCR_ENABLE);   /* RX trigger level 1 byte */
	if (early)
		rx_char((char)early_byte);
	uart_out(UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);

	irq_printf("uart_irq: ready, interrupt-driven transmit (THRE, up to 16 bytes each); "
		   "send a line\n");
	ier = UART_IER_RDI | UART_IER_THRI;
	uart_out(UART_IER, ier);

	while (!line_done)
		cpu_wait_for_interrupt();
	wait_tx_drained();

	for (uint32_t i = 0; i < line_len; i++) {
		if (line[i] >= 'a' && line[i] <= 'z')
			line[i] = (char)(line[i] - 'a' + 'A');
	}
	line[line_len] = '\0';
	irq_printf("echo: %s\n", line);
	wait_tx_drained();
	irq_printf("uart_irq: %u THRE interrupts (largest burst %u bytes), %u RX interrupts\n",
		   thre_irqs, max_burst, rx_irqs);
	wait_tx_drained();
	debug_exit(0);
}
