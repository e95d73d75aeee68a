/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/uart_8250.h"
#include "fake_host.h"

#define COM1 X86_PORT_COM1

struct fixture {
	struct fake_host fh;
	struct uart_8250 uart;
	uint8_t out[256];
	size_t nout;
	int space_calls;
	sem_t space_sem;
	bool refill_from_callback; /* rx_space_available pushes 'R' itself */
};

static void fake_output(void *ctx, const uint8_t *buf, size_t len)
{
	struct fixture *f = ctx;
	assert_true(f->nout + len <= sizeof(f->out));
	memcpy(f->out + f->nout, buf, len);
	f->nout += len;
}

static void fake_space(void *ctx)
{
	struct fixture *f = ctx;
	f->space_calls++;
	sem_post(&f->space_sem);
	if (f->refill_from_callback) {
		const uint8_t r = 'R';
		uart_8250_receive(&f->uart, &r, 1);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct uart_8250_callbacks cb = { .output = fake_output, .rx_space_available = fake_space, .ctx = f };
	struct vmon_error err = { 0 };

	assert_non_null(f);
	fake_host_init(&f->fh);
	f->fh.stop_forbidden = "the UART never stops the VM";
	sem_init(&f->space_sem, 0, 0);
	assert_int_equal(uart_8250_init(&f->uart, &f->fh.host, COM1, X86_IRQ_COM1, &cb, &err), 0);
	/* A driver raises RTS when it opens the port; host input flows only then. */
	fake_host_outb(&f->fh, COM1 + UART_MCR, UART_MCR_RTS);
	f->space_calls = 0;
	sem_destroy(&f->space_sem);
	sem_init(&f->space_sem, 0, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uart_8250_destroy(&f->uart);
	sem_destroy(&f->space_sem);
	free(f);
	return 0;
}

static uint8_t in(struct fixture *f, unsigned reg)
{
	return fake_host_inb(&f->fh, COM1 + reg);
}

static void out(struct fixture *f, unsigned reg, uint8_t v)
{
	fake_host_outb(&f->fh, COM1 + reg, v);
}

static void push(struct fixture *f, const char *s, size_t expect_taken)
{
	assert_int_equal(uart_8250_receive(&f->uart, (const uint8_t *)s, strlen(s)), expect_taken);
}

static void polled_transmit_reaches_output_and_thr_stays_empty(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	out(f, UART_THR, 'o');
	out(f, UART_THR, 'k');
	assert_int_equal(in(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(f->nout, 2);
	assert_memory_equal(f->out, "ok", 2);
}

static void divisor_latch_round_trips_under_dlab(void **state)
{
	struct fixture *f = *state;

	out(f, UART_LCR, UART_LCR_DLAB | 0x03);
	out(f, UART_DLL, 0x01);
	out(f, UART_DLM, 0x02);
	assert_int_equal(in(f, UART_DLL), 0x01);
	assert_int_equal(in(f, UART_DLM), 0x02);
	assert_int_equal(f->nout, 0); /* DLL writes are not transmitted */
	out(f, UART_LCR, 0x03);
	assert_int_equal(in(f, UART_IER), 0); /* the divisor did not land in IER */
	assert_int_equal(in(f, UART_LCR), 0x03);
	out(f, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(in(f, UART_DLL), 0x01);
	assert_int_equal(in(f, UART_DLM), 0x02);
}

static void scratch_register_keeps_its_value(void **state)
{
	struct fixture *f = *state;

	out(f, UART_SCR, 0xa5);
	assert_int_equal(in(f, UART_SCR), 0xa5);
	out(f, UART_SCR, 0x5a);
	assert_int_equal(in(f, UART_SCR), 0x5a);
}

static void ier_keeps_only_the_four_16550_bits(void **state)
{
	struct fixture *f = *state;

	out(f, UART_IER, 0xff);
	assert_int_equal(in(f, UART_IER), 0x0f);
}

static void without_fifo_receiver_holds_one_byte(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(uart_8250_rx_space(&f->uart), 1);
	push(f, "ab", 1);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(in(f, UART_IIR), UART_IIR_NO_INT); /* FIFO bits clear, nothing enabled */
	assert_int_equal(in(f, UART_RBR), 'a');
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, 0);
}

static void fifo_enable_gives_sixteen_bytes_and_iir_fifo_bits(void **state)
{
	struct fixture *f = *state;
	char buf[21] = "0123456789abcdefghij";

	out(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
	assert_int_equal(uart_8250_rx_space(&f->uart), 16);
	push(f, buf, 16);
	assert_int_equal(uart_8250_rx_space(&f->uart), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(in(f, UART_RBR), buf[i]);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, 0);
}

static void fifo_reset_bit_empties_receiver(void **state)
{
	struct fixture *f = *state;

	out(f, UART_FCR, UART_FCR_ENABLE);
	push(f, "abc", 3);
	out(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(uart_8250_rx_space(&f->uart), 16);
	/* The reset bits are self-clearing: the FIFO stays enabled. */
	assert_int_equal(in(f, UART_IIR) & UART_IIR_FIFO, UART_IIR_FIFO);
}

static void fifo_disable_empties_receiver(void **state)
{
	struct fixture *f = *state;

	out(f, UART_FCR, UART_FCR_ENABLE);
	push(f, "abc", 3);
	out(f, UART_FCR, 0);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(in(f, UART_IIR) & UART_IIR_FIFO, 0);
	assert_int_equal(uart_8250_rx_space(&f->uart), 1);
}

static void fcr_bit5_is_ignored_on_16550a(void **state)
{
	struct fixture *f = *state;

	/* Linux's 16750 probe: the 64-byte FIFO bit must not show in IIR. */
	out(f, UART_FCR, UART_FCR_ENABLE | 0x20);
	assert_int_equal(in(f, UART_IIR) & 0x30, 0);
	assert_int_equal(uart_8250_rx_space(&f->uart), 16);
}

static void rx_trigger_level_selects_data_available_interrupt(void **state)
{
	struct fixture *f = *state;
	static const struct { uint8_t fcr; size_t level; } levels[] = {
		{ 0x00, 1 }, { 0x40, 4 }, { 0x80, 8 }, { 0xc0, 14 },
	};

	out(f, UART_IER, UART_IER_ERBFI);
	for (size_t i = 0; i < 4; i++) {
		out(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | levels[i].fcr);
		for (size_t n = 1; n < levels[i].level; n++) {
			push(f, "x", 1);
			assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
		}
		push(f, "x", 1);
		assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
	}
}

static void character_timeout_reported_below_trigger_until_drained(void **state)
{
	struct fixture *f = *state;

	out(f, UART_IER, UART_IER_ERBFI);
	out(f, UART_FCR, UART_FCR_ENABLE | UART_FCR_TRIGGER);
	push(f, "ab", 2);
	assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
	assert_int_equal(in(f, UART_RBR), 'a');
	assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_CTI);
	assert_int_equal(in(f, UART_RBR), 'b');
	assert_int_equal(in(f, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
}

static void loopback_fifo_overrun_sets_oe_and_drops_the_new_byte(void **state)
{
	struct fixture *f = *state;

	out(f, UART_FCR, UART_FCR_ENABLE);
	out(f, UART_MCR, UART_MCR_LOOP);
	for (int i = 0; i < 17; i++)
		out(f, UART_THR, (uint8_t)('A' + i));
	assert_int_equal(f->nout, 0);
	assert_int_equal(in(f, UART_LSR), UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_OE, 0); /* cleared by the read */
	for (int i = 0; i < 16; i++)
		assert_int_equal(in(f, UART_RBR), 'A' + i);
	assert_int_equal(in(f, UART_LSR) & UART_LSR_DR, 0);
}

static void loopback_overrun_without_fifo_overwrites_rbr(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_LOOP);
	out(f, UART_THR, '1');
	assert_int_equal(in(f, UART_LSR) & UART_LSR_OE, 0);
	out(f, UART_THR, '2');
	assert_int_equal(in(f, UART_LSR) & (UART_LSR_OE | UART_LSR_DR), UART_LSR_OE | UART_LSR_DR);
	assert_int_equal(in(f, UART_RBR), '2');
}

static void iir_reports_line_status_then_data_then_thre_then_modem(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_LOOP);
	out(f, UART_IER, 0x0f);                        /* THRE pending from the ETBEI edge */
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR); /* DSR changes: modem status */
	out(f, UART_THR, 'x');
	out(f, UART_THR, 'y');                          /* overrun: line status */
	assert_int_equal(in(f, UART_IIR), UART_IIR_RLSI);
	assert_int_equal(in(f, UART_IIR), UART_IIR_RLSI); /* stays until LSR is read */
	in(f, UART_LSR);
	assert_int_equal(in(f, UART_IIR), UART_IIR_RDI);
	assert_int_equal(in(f, UART_RBR), 'y');
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(in(f, UART_IIR), UART_IIR_MSI);  /* the THRE read cleared THRE */
	assert_int_equal(in(f, UART_MSR) & UART_MSR_DDSR, UART_MSR_DDSR);
	assert_int_equal(in(f, UART_IIR), UART_IIR_NO_INT);
}

static void thre_interrupt_clears_on_iir_read_and_returns_with_etbei(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	out(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	assert_int_equal(in(f, UART_IIR), UART_IIR_NO_INT);
	/* Rewriting the same IER is not an edge. */
	out(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(in(f, UART_IIR), UART_IIR_NO_INT);
	/* Linux's start-up test: IER off and on again must re-raise THRE. */
	out(f, UART_IER, 0);
	out(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI);
}

static void transmitting_a_byte_empties_thr_again_and_raises_thre(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_OUT2);
	out(f, UART_IER, UART_IER_ETBEI);
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	/* The interrupt-driven TX path: each write is sent at once and THR is empty again. */
	out(f, UART_THR, 'a');
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI);
	out(f, UART_IER, 0); /* driver stops TX when its buffer is empty */
	out(f, UART_THR, 'b');
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	assert_int_equal(in(f, UART_IIR), UART_IIR_NO_INT);
	assert_memory_equal(f->out, "ab", 2);
}

static void irq_line_follows_out2_gating(void **state)
{
	struct fixture *f = *state;

	out(f, UART_IER, UART_IER_ERBFI);
	push(f, "z", 1);
	assert_int_equal(in(f, UART_IIR), UART_IIR_RDI);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0); /* pending, but OUT2 is off */
	out(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	out(f, UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	out(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	assert_int_equal(in(f, UART_RBR), 'z');
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
}

static void loopback_disconnects_the_irq_pin(void **state)
{
	struct fixture *f = *state;

	out(f, UART_IER, UART_IER_ETBEI);
	out(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 1);
	out(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
	assert_int_equal(in(f, UART_IIR), UART_IIR_THRI); /* still reported in IIR */
}

static void irq_updates_only_on_level_changes(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS);
	out(f, UART_IER, UART_IER_ERBFI);
	push(f, "a", 1);
	assert_int_equal(f->fh.irq_sets, 1);
	in(f, UART_LSR);
	in(f, UART_SCR);
	assert_int_equal(f->fh.irq_sets, 1);
	in(f, UART_RBR);
	assert_int_equal(f->fh.irq_sets, 2);
	assert_int_equal(f->fh.irq[X86_IRQ_COM1], 0);
}

static void loopback_sends_tx_to_rx_and_mirrors_mcr_in_msr(void **state)
{
	struct fixture *f = *state;

	/* Outside loopback the host end looks like a connected modem. */
	assert_int_equal(in(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	/* Linux's autoconfig loopback check: MCR = LOOP | OUT2 | RTS reads back DCD | CTS. */
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
	assert_int_equal(in(f, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	assert_int_equal(in(f, UART_MSR) & 0xf0, UART_MSR_DSR | UART_MSR_RI);
	out(f, UART_THR, 'q');
	assert_int_equal(f->nout, 0);
	assert_int_equal(in(f, UART_RBR), 'q');
	/* The receiver is off the line: host input waits. */
	push(f, "h", 0);
	assert_int_equal(uart_8250_rx_space(&f->uart), 0);
	out(f, UART_MCR, UART_MCR_RTS);
	assert_int_equal(uart_8250_rx_space(&f->uart), 1);
	out(f, UART_THR, 'w');
	assert_int_equal(f->nout, 1);
}

static void msr_delta_bits_latch_and_clear_on_read(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_LOOP);
	in(f, UART_MSR); /* entering loopback dropped every input: clear those deltas */
	assert_int_equal(in(f, UART_MSR), 0);
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	assert_int_equal(in(f, UART_MSR), UART_MSR_CTS | UART_MSR_DCTS);
	assert_int_equal(in(f, UART_MSR), UART_MSR_CTS);
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	assert_int_equal(in(f, UART_MSR) & 0x0f, UART_MSR_DCTS); /* RI rising is not TERI */
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	assert_int_equal(in(f, UART_MSR), UART_MSR_DCD | UART_MSR_DDCD | UART_MSR_TERI);
	out(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_DTR);
	assert_int_equal(in(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_DDSR);
}

static void host_input_waits_until_the_guest_raises_rts(void **state)
{
	struct fixture *f = *state;

	out(f, UART_MCR, UART_MCR_DTR | UART_MCR_OUT2);
	assert_int_equal(uart_8250_rx_space(&f->uart), 0);
	push(f, "early", 0);
	assert_false(in(f, UART_LSR) & UART_LSR_DR);
	/* Raising RTS opens the line and tells the input side to send. */
	out(f, UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	assert_int_equal(f->space_calls, 1);
	push(f, "e", 1);
	assert_int_equal(in(f, UART_RBR), 'e');
	/* Dropping RTS again stops input but keeps what was received. */
	push(f, "x", 1);
	out(f, UART_MCR, UART_MCR_DTR);
	push(f, "y", 0);
	assert_int_equal(in(f, UART_RBR), 'x');
}

static void rx_space_available_fires_when_the_guest_drains(void **state)
{
	struct fixture *f = *state;

	push(f, "a", 1);
	push(f, "b", 0);
	assert_int_equal(f->space_calls, 0);
	assert_int_equal(in(f, UART_RBR), 'a');
	assert_int_equal(f->space_calls, 1);
	in(f, UART_RBR); /* empty: nothing freed */
	assert_int_equal(f->space_calls, 1);
	push(f, "c", 1);
	out(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(f->space_calls, 2);
}

static void rx_space_available_may_call_receive(void **state)
{
	struct fixture *f = *state;

	f->refill_from_callback = true;
	push(f, "a", 1);
	assert_int_equal(in(f, UART_RBR), 'a'); /* the callback pushes 'R' outside the lock */
	assert_int_equal(in(f, UART_RBR), 'R');
}

static void empty_rbr_returns_the_last_byte(void **state)
{
	struct fixture *f = *state;

	push(f, "k", 1);
	assert_int_equal(in(f, UART_RBR), 'k');
	assert_int_equal(in(f, UART_RBR), 'k');
}

static void wide_read_pads_with_ones(void **state)
{
	struct fixture *f = *state;
	uint8_t v[4] = { 0 };

	assert_true(io_bus_access(&f->fh.pio, COM1 + UART_LSR, v, 4, false));
	assert_int_equal(v[0], UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(v[1], 0xff);
	assert_int_equal(v[3], 0xff);
	v[0] = 'w';
	v[1] = 'x';
	assert_true(io_bus_access(&f->fh.pio, COM1 + UART_THR, v, 2, true));
	assert_int_equal(f->nout, 1);
	assert_int_equal(f->out[0], 'w');
}

struct stream {
	struct fixture *f;
	size_t len;
};

static void *producer(void *arg)
{
	struct stream *st = arg;
	size_t sent = 0;

	while (sent < st->len) {
		uint8_t b[7];
		size_t n = 0, chunk = st->len - sent < sizeof(b) ? st->len - sent : sizeof(b);
		for (size_t i = 0; i < chunk; i++)
			b[i] = (uint8_t)((sent + i) * 7);
		n = uart_8250_receive(&st->f->uart, b, chunk);
		sent += n;
		if (n < chunk)
			sem_wait(&st->f->space_sem);
	}
	return NULL;
}

static void input_thread_and_guest_reads_lose_nothing(void **state)
{
	struct fixture *f = *state;
	struct stream st = { .f = f, .len = 20000 };
	pthread_t t;
	size_t got = 0;

	out(f, UART_FCR, UART_FCR_ENABLE);
	assert_int_equal(pthread_create(&t, NULL, producer, &st), 0);
	while (got < st.len) {
		if (!(in(f, UART_LSR) & UART_LSR_DR))
			continue;
		uint8_t b = in(f, UART_RBR);
		if (b != (uint8_t)(got * 7))
			fail_msg("byte %zu is 0x%02x", got, b);
		got++;
	}
	pthread_join(t, NULL);
	assert_int_equal(in(f, UART_LSR) & (UART_LSR_DR | UART_LSR_OE), 0);
}

static void init_refuses_missing_output_and_taken_ports(void **state)
{
	struct fixture *f = *state;
	struct uart_8250 other;
	struct uart_8250_callbacks none = { 0 }, cb = { .output = fake_output, .ctx = f };
	struct vmon_error err = { 0 };

	assert_int_equal(uart_8250_init(&other, &f->fh.host, 0x2f8, 3, &none, &err), -EINVAL);
	assert_int_equal(uart_8250_init(&other, &f->fh.host, COM1 + 4, 3, &cb, &err), -EEXIST);
	assert_int_equal(uart_8250_init(&other, &f->fh.host, 0xfffc, 3, &cb, &err), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(polled_transmit_reaches_output_and_thr_stays_empty),
		T(divisor_latch_round_trips_under_dlab),
		T(scratch_register_keeps_its_value),
		T(ier_keeps_only_the_four_16550_bits),
		T(without_fifo_receiver_holds_one_byte),
		T(fifo_enable_gives_sixteen_bytes_and_iir_fifo_bits),
		T(fifo_reset_bit_empties_receiver),
		T(fifo_disable_empties_receiver),
		T(fcr_bit5_is_ignored_on_16550a),
		T(rx_trigger_level_selects_data_available_interrupt),
		T(character_timeout_reported_below_trigger_until_drained),
		T(loopback_fifo_overrun_sets_oe_and_drops_the_new_byte),
		T(loopback_overrun_without_fifo_overwrites_rbr),
		T(iir_reports_line_status_then_data_then_thre_then_modem),
		T(thre_interrupt_clears_on_iir_read_and_returns_with_etbei),
		T(transmitting_a_byte_empties_thr_again_and_raises_thre),
		T(irq_line_follows_out2_gating),
		T(loopback_disconnects_the_irq_pin),
		T(irq_updates_only_on_level_changes),
		T(loopback_sends_tx_to_rx_and_mirrors_mcr_in_msr),
		T(msr_delta_bits_latch_and_clear_on_read),
		T(host_input_waits_until_the_guest_raises_rts),
		T(rx_space_available_fires_when_the_guest_drains),
		T(rx_space_available_may_call_receive),
		T(empty_rbr_returns_the_last_byte),
		T(wide_read_pads_with_ones),
		T(input_thread_and_guest_reads_lose_nothing),
		T(init_refuses_missing_output_and_taken_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
