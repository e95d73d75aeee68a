/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the 16550A UART (src/devices/uart_8250.c): a hostile
 * guest's port accesses of any offset, size and value, host input bytes,
 * pause/resume/reset, and restores from hostile snapshot bytes.
 *
 * Input: 4-byte operations [op, a, b, c]:
 *   op % 8  0 write port (a & 15) (offsets 8-15 lie past the UART) value b, size c % 4 + 1
 *           1 read port (a & 15), size c % 4 + 1
 *           2 host input: c % 20 bytes b, b+1, ...
 *           3 restore from the next 28 input bytes
 *           4 reset   5 pause   6 resume   7 rx_space
 * Checked after each: the FIFO position and fill are in range; the line
 * driven equals the level the UART believes it drove; the state reached is
 * one restore accepts (devices/device.h); LSR always shows THR and the
 * transmitter empty; SCR reads back what was last written; reads past the
 * UART give 0xff; host input never exceeds the space offered, none while paused.
 */
#include "fuzz_device.h"

#include "devices/uart_8250.h"

#define BASE 0x3f8
#define GSI 4

struct side {
	struct fake_host h;
	struct uart_8250 u;
};

static size_t tx_count;

static void output(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf;
	tx_count += len;
}

static void side_init(struct side *s)
{
	static const struct uart_8250_callbacks cb = { .output = output };
	struct vmon_error err = { 0 };

	fake_host_init(&s->h, NULL);
	if (uart_8250_init(&s->u, &s->h.host, BASE, GSI, &cb, &err)) {
		fprintf(stderr, "fuzz_uart: set-up: %s\n", err.msg);
		abort();
	}
}

static void check(struct side *a, struct side *twin)
{
	const struct uart_8250_state *s = &a->u.s;

	FUZZ_CHECK(s->rx_head < UART_8250_FIFO_SIZE);
	FUZZ_CHECK(s->rx_count <= ((s->fcr & UART_FCR_ENABLE) ? UART_8250_FIFO_SIZE : 1));
	FUZZ_CHECK(a->u.irq_level == a->h.irq[GSI] || (a->u.irq_level == 0 && a->h.irq[GSI] == -1));
	check_restorable(&uart_8250_device_ops, &a->u, &twin->u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side a, twin;
	const struct device_ops *ops = &uart_8250_device_ops;
	uint8_t scr = 0;

	side_init(&a);
	side_init(&twin);
	for (size_t at = 0; at + 4 <= size; at += 4) {
		const uint8_t *op = data + at;
		unsigned port = op[1] & 15, len = op[3] % 4 + 1;
		uint8_t buf[4] = { op[2], op[2], op[2], op[2] };

		switch (op[0] % 8) {
		case 0:
			io_bus_access(&a.h.pio, BASE + port, buf, len, true);
			if (port == UART_SCR)
				scr = op[2];
			break;
		case 1:
			memset(buf, 0x5a, sizeof(buf));
			if (!io_bus_access(&a.h.pio, BASE + port, buf, len, false))
				break; /* past the UART: nobody decodes it */
			for (unsigned i = 1; i < len; i++)
				FUZZ_CHECK(buf[i] == 0xff);
			if (port == UART_LSR)
				FUZZ_CHECK((buf[0] & (UART_LSR_THRE | UART_LSR_TEMT)) == (UART_LSR_THRE | UART_LSR_TEMT));
			if (port == UART_SCR)
				FUZZ_CHECK(buf[0] == scr);
			break;
		case 2: {
			uint8_t in[20];
			size_t n = op[3] % 20, space = uart_8250_rx_space(&a.u), took;

			for (size_t i = 0; i < n; i++)
				in[i] = (uint8_t)(op[2] + i);
			took = uart_8250_receive(&a.u, in, n);
			FUZZ_CHECK(took <= n && took <= space);
			FUZZ_CHECK(!a.u.paused || took == 0);
			break;
		}
		case 3:
			if (at + 4 + ops->state_size > size)
				goto out;
			if (fuzz_restore(ops, &a.u, &twin.u, data + at + 4))
				scr = a.u.s.scr;
			at += ops->state_size;
			break;
		case 4:
			ops->reset(&a.u);
			scr = 0;
			break;
		case 5:
			ops->pause(&a.u);
			FUZZ_CHECK(uart_8250_rx_space(&a.u) == 0);
			break;
		case 6:
			ops->resume(&a.u);
			break;
		default:
			FUZZ_CHECK(uart_8250_rx_space(&a.u) <= UART_8250_FIFO_SIZE);
			break;
		}
		check(&a, &twin);
	}
out:
	ops->destroy(&a.u);
	ops->destroy(&twin.u);
	return 0;
}
