/* SPDX-License-Identifier: MIT */
/* The UART as a device model: reset, save -> fresh device -> restore, refused states, pause. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/uart_8250.h"
#include "device_state_check.h"
#include "fake_host.h"

#define COM1 X86_PORT_COM1
#define IRQ X86_IRQ_COM1

static const struct device_ops *ops = &uart_8250_device_ops;

struct board {
	struct fake_host fh;
	struct uart_8250 uart;
	uint8_t out[64];
	size_t nout;
	int space_calls;
};

static void board_output(void *ctx, const uint8_t *buf, size_t len)
{
	struct board *b = ctx;
	assert_true(b->nout + len <= sizeof(b->out));
	memcpy(b->out + b->nout, buf, len);
	b->nout += len;
}

static void board_space(void *ctx)
{
	((struct board *)ctx)->space_calls++;
}

static struct board *board_new(void)
{
	struct board *b = calloc(1, sizeof(*b));
	struct uart_8250_callbacks cb = { .output = board_output, .rx_space_available = board_space };
	struct vmon_error err = { 0 };

	assert_non_null(b);
	cb.ctx = b;
	fake_host_init(&b->fh);
	b->fh.stop_forbidden = "the UART never stops the VM";
	assert_int_equal(uart_8250_init(&b->uart, &b->fh.host, COM1, IRQ, &cb, &err), 0);
	return b;
}

static void board_free(struct board *b)
{
	ops->destroy(&b->uart);
	free(b);
}

static uint8_t in(struct board *b, unsigned reg) { return fake_host_inb(&b->fh, COM1 + reg); }
static void out(struct board *b, unsigned reg, uint8_t v) { fake_host_outb(&b->fh, COM1 + reg, v); }

static void receive(struct board *b, const char *s, size_t expect_taken)
{
	assert_int_equal(uart_8250_receive(&b->uart, (const uint8_t *)s, strlen(s)), expect_taken);
}

/*
 * FIFOs on (trigger 8), divisor 3, 8N1 with break, all four interrupts on,
 * an overrun latched in loopback, MSR deltas from entering and leaving
 * loopback, the FIFO wrapped round its end, THRE latched, OUT2 on: the IRQ
 * line is high with a line-status interrupt on top.
 */
static void drive_into_busy_state(struct board *b)
{
	out(b, UART_MCR, UART_MCR_RTS | UART_MCR_OUT2);
	out(b, UART_FCR, UART_FCR_ENABLE | 0x80);
	out(b, UART_LCR, UART_LCR_DLAB);
	out(b, UART_DLL, 3);
	out(b, UART_DLM, 0);
	out(b, UART_LCR, 0x43);
	out(b, UART_IER, 0x0f);
	out(b, UART_SCR, 0x5a);
	out(b, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_DTR | UART_MCR_OUT1);
	for (char c = 'A'; c <= 'Q'; c++)   /* 17 bytes into a 16-byte FIFO: overrun */
		out(b, UART_THR, (uint8_t)c);
	out(b, UART_MCR, UART_MCR_RTS | UART_MCR_OUT2);
	for (int i = 0; i < 10; i++)
		in(b, UART_RBR);
	receive(b, "xyz", 3);               /* the ring wraps past index 15 */
	assert_int_equal(b->fh.irq[IRQ], 1);
}

static void save(struct board *b, struct uart_8250_state *s)
{
	memset(s, 0, sizeof(*s));
	ops->save(&b->uart, s);
}

/* One guest access or host event, applied to both boards: the results must agree. */
enum step_kind { READ, WRITE, RECEIVE };
struct step {
	enum step_kind kind;
	unsigned reg;
	uint8_t val;
	const char *input;
};

static void same_behaviour(struct board *a, struct board *b, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		switch (s->kind) {
		case READ: {
			uint8_t va = in(a, s->reg), vb = in(b, s->reg);
			if (va != vb)
				fail_msg("step %zu: read of register %u: 0x%02x before, 0x%02x after restore", i, s->reg,
					 va, vb);
			break;
		}
		case WRITE:
			out(a, s->reg, s->val);
			out(b, s->reg, s->val);
			break;
		case RECEIVE: {
			size_t len = strlen(s->input);
			assert_int_equal(uart_8250_receive(&a->uart, (const uint8_t *)s->input, len),
					 uart_8250_receive(&b->uart, (const uint8_t *)s->input, len));
			break;
		}
		}
		if (a->fh.irq[IRQ] != b->fh.irq[IRQ])
			fail_msg("step %zu: IRQ line %d before, %d after restore", i, a->fh.irq[IRQ], b->fh.irq[IRQ]);
		assert_int_equal(a->nout, b->nout);
		assert_memory_equal(a->out, b->out, a->nout);
	}
}

static void restored_uart_behaves_like_the_saved_one(void **state)
{
	struct board *a = board_new(), *b = board_new();
	struct uart_8250_state s, s2;
	struct vmon_error err = { 0 };
	(void)state;

	drive_into_busy_state(a);
	save(a, &s);
	assert_int_equal(ops->restore(&b->uart, &s, &err), 0);
	assert_int_equal(b->fh.irq[IRQ], 1);   /* the fresh host's line was driven, not assumed */
	save(b, &s2);
	assert_memory_equal(&s, &s2, sizeof(s));

	const struct step steps[] = {
		{ READ, UART_IIR, 0, NULL },  /* line status (overrun) */
		{ READ, UART_LSR, 0, NULL },  /* OE + DR, clears OE */
		{ READ, UART_IIR, 0, NULL },  /* received data: 9 bytes >= trigger 8 */
		{ READ, UART_MSR, 0, NULL },  /* lines and deltas, clears deltas */
		{ READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL },
		{ READ, UART_IIR, 0, NULL },  /* 6 left: character timeout */
		{ READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL },
		{ READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL }, { READ, UART_RBR, 0, NULL },
		{ READ, UART_RBR, 0, NULL },  /* empty: the last byte again */
		{ READ, UART_IIR, 0, NULL },  /* THRE, and reading clears it */
		{ READ, UART_IIR, 0, NULL },  /* nothing: the line drops */
		{ READ, UART_LCR, 0, NULL }, { READ, UART_MCR, 0, NULL }, { READ, UART_SCR, 0, NULL },
		{ READ, UART_IER, 0, NULL },
		{ WRITE, UART_LCR, 0xc3, NULL }, { READ, UART_DLL, 0, NULL }, { READ, UART_DLM, 0, NULL },
		{ WRITE, UART_LCR, 0x03, NULL },
		{ RECEIVE, 0, 0, "0123456789abcdefXYZ" },  /* takes 16 */
		{ READ, UART_IIR, 0, NULL },
		{ WRITE, UART_THR, 'T', NULL }, /* output, THRE again */
		{ WRITE, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX, NULL },
		{ READ, UART_IIR, 0, NULL }, { READ, UART_LSR, 0, NULL },
	};
	same_behaviour(a, b, steps, sizeof(steps) / sizeof(steps[0]));
	assert_int_equal(a->nout, 1);
	board_free(a);
	board_free(b);
}

static void restore_without_fifo_and_idle_line(void **state)
{
	struct board *a = board_new(), *b = board_new();
	struct uart_8250_state s;
	(void)state;

	/* b's line is high; a's state (no FIFO, one byte, interrupts off) brings it down. */
	drive_into_busy_state(b);
	out(a, UART_MCR, UART_MCR_RTS | UART_MCR_OUT2);
	receive(a, "q", 1);
	save(a, &s);
	assert_int_equal(ops->restore(&b->uart, &s, NULL), 0);
	assert_int_equal(b->fh.irq[IRQ], 0);
	const struct step steps[] = {
		{ RECEIVE, 0, 0, "r" },       /* full: takes none */
		{ READ, UART_LSR, 0, NULL }, { READ, UART_IIR, 0, NULL },
		{ WRITE, UART_IER, UART_IER_ERBFI, NULL },
		{ READ, UART_IIR, 0, NULL }, { READ, UART_RBR, 0, NULL }, { READ, UART_IIR, 0, NULL },
		{ RECEIVE, 0, 0, "st" },
		{ READ, UART_RBR, 0, NULL },
	};
	same_behaviour(a, b, steps, sizeof(steps) / sizeof(steps[0]));
	board_free(a);
	board_free(b);
}

/* The device's idea of its line is not trusted: an irqchip restored or reset on its own gets the level again. */
static void restore_drives_the_line_whatever_the_device_last_drove(void **state)
{
	struct board *b = board_new();
	struct uart_8250_state s;
	(void)state;

	drive_into_busy_state(b);
	save(b, &s);
	b->fh.irq[IRQ] = 0;
	assert_int_equal(ops->restore(&b->uart, &s, NULL), 0);
	assert_int_equal(b->fh.irq[IRQ], 1);
	b->fh.irq[IRQ] = 1;
	ops->reset(&b->uart);
	b->fh.irq[IRQ] = 1;
	ops->reset(&b->uart);
	assert_int_equal(b->fh.irq[IRQ], 0);
	board_free(b);
}

/* Restoring s (one damaged field) into a busy UART is refused by name and changes nothing. */
static void expect_refused(const struct uart_8250_state *s, const char *why)
{
	struct board *b = board_new();

	drive_into_busy_state(b);
	int sets = b->fh.irq_sets;
	expect_restore_refused(ops, &b->uart, s, why);
	assert_int_equal(b->fh.irq_sets, sets);
	board_free(b);
}

static void damaged_states_are_refused_by_field(void **state)
{
	struct board *a = board_new();
	struct uart_8250_state good, s;
	(void)state;

	drive_into_busy_state(a);
	save(a, &good);
	board_free(a);

	s = good; s.rx_head = 16;                expect_refused(&s, "rx_head 16");
	s = good; s.rx_count = 17;               expect_refused(&s, "rx_count 17");
	s = good; s.fcr = 0; s.rx_count = 2;     expect_refused(&s, "rx_count 2 exceeds the receiver's 1");
	s = good; s.fcr = 0x21;                  expect_refused(&s, "fcr 0x21");
	s = good; s.fcr = 0x80; s.rx_count = 0;  expect_refused(&s, "fcr 0x80 has FIFO settings with the FIFOs off");
	s = good; s.ier = 0x1f;                  expect_refused(&s, "ier 0x1f");
	s = good; s.mcr = 0x22;                  expect_refused(&s, "mcr 0x22");
	s = good; s.lsr = UART_LSR_DR;           expect_refused(&s, "lsr 0x01");
	s = good; s.msr = 0x00;                  expect_refused(&s, "msr 0x00: lines 0x00 do not follow mcr");
	s = good; s.thre_pending = 2;            expect_refused(&s, "thre_pending 2");
}

static void reset_returns_to_power_on_and_drops_the_line(void **state)
{
	struct board *b = board_new(), *fresh = board_new();
	struct uart_8250_state s, power_on;
	(void)state;

	drive_into_busy_state(b);
	ops->reset(&b->uart);
	assert_int_equal(b->fh.irq[IRQ], 0);
	save(b, &s);
	save(fresh, &power_on);
	assert_memory_equal(&s, &power_on, sizeof(s));
	assert_int_equal(in(b, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(in(b, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	out(b, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(in(b, UART_DLL), 12);
	/* After reset RTS is low: host input waits for the driver again. */
	assert_int_equal(uart_8250_rx_space(&b->uart), 0);
	board_free(b);
	board_free(fresh);
}

static void paused_uart_takes_no_input_and_raises_nothing(void **state)
{
	struct board *b = board_new();
	(void)state;

	out(b, UART_MCR, UART_MCR_RTS | UART_MCR_OUT2);
	out(b, UART_IER, UART_IER_ERBFI);
	ops->pause(&b->uart);
	b->fh.irq_forbidden = "a paused UART raised its IRQ";
	assert_int_equal(uart_8250_rx_space(&b->uart), 0);
	receive(b, "a", 0);
	b->fh.irq_forbidden = NULL;
	b->space_calls = 0;
	ops->resume(&b->uart);
	assert_int_equal(b->space_calls, 1);   /* the input thread is told to retry */
	receive(b, "a", 1);
	assert_int_equal(b->fh.irq[IRQ], 1);
	/* No room after resume: no call. */
	ops->pause(&b->uart);
	ops->resume(&b->uart);
	assert_int_equal(b->space_calls, 1);
	board_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restored_uart_behaves_like_the_saved_one),
		cmocka_unit_test(restore_without_fifo_and_idle_line),
		cmocka_unit_test(restore_drives_the_line_whatever_the_device_last_drove),
		cmocka_unit_test(damaged_states_are_refused_by_field),
		cmocka_unit_test(reset_returns_to_power_on_and_drops_the_line),
		cmocka_unit_test(paused_uart_takes_no_input_and_raises_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
