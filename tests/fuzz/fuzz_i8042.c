/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the i8042 controller and port 0x92
 * (src/devices/i8042.c): a hostile guest's reads and writes of ports 0x60,
 * 0x64 and 0x92 of any size and value, host Ctrl-Alt-Del presses, resets,
 * and restores from hostile snapshot bytes.
 *
 * Input: 4-byte operations [op, a, b, c]:
 *   op % 8  0 write port (a % 3: 0x60, 0x64, 0x92) value b, size c % 4 + 1
 *           1 read port (a % 3), size c % 4 + 1
 *           2 Ctrl-Alt-Del   3 restore from the next 48 input bytes   4 reset
 *           5 command b then data c (a command and its data byte at once)
 *           6, 7 as 0, 1
 * Checked after each: flags are 0 or 1, the keyboard queue is within its
 * size, the lines driven (IRQ 1, 12) are the levels the controller believes
 * it drove, every stop request is a reset; the state reached is one restore
 * accepts (devices/device.h); a status read agrees with the output buffer;
 * RAM written through command 0x60+i reads back through command 0x20+i.
 */
#include "fuzz_device.h"

#include "devices/i8042.h"

struct side {
	struct fake_host h;
	struct i8042 k;
};

static const uint16_t ports[3] = { I8042_PORT_DATA, I8042_PORT_COMMAND, I8042_PORT_SCPA };

static void side_init(struct side *s)
{
	struct vmon_error err = { 0 };

	fake_host_init(&s->h, NULL);
	if (i8042_init(&s->k, &s->h.host, &err)) {
		fprintf(stderr, "fuzz_i8042: set-up: %s\n", err.msg);
		abort();
	}
}

static void check_line(const struct side *a, int believed, unsigned gsi)
{
	FUZZ_CHECK(believed == a->h.irq[gsi] || (believed == 0 && a->h.irq[gsi] == -1));
}

static void check(struct side *a, struct side *twin)
{
	const struct i8042_state *s = &a->k.s;

	FUZZ_CHECK(s->out_full <= 1 && s->out_aux <= 1 && s->out_timeout <= 1 && s->last_was_cmd <= 1);
	FUZZ_CHECK(s->kbd_count <= I8042_KBD_QUEUE);
	check_line(a, a->k.irq_level[0], I8042_IRQ_KBD);
	check_line(a, a->k.irq_level[1], I8042_IRQ_AUX);
	FUZZ_CHECK(a->h.stops == 0 || a->h.last_stop == VM_STOP_RESET);
	check_restorable(&i8042_device_ops, &a->k, &twin->k);
}

static uint8_t access_port(struct side *a, unsigned which, uint8_t value, unsigned len, bool is_write)
{
	uint8_t buf[4] = { value, value, value, value };

	FUZZ_CHECK(io_bus_access(&a->h.pio, ports[which], buf, len, is_write));
	if (!is_write)
		for (unsigned i = 1; i < len; i++)
			FUZZ_CHECK(buf[i] == 0xff);
	return buf[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side a, twin;
	const struct device_ops *ops = &i8042_device_ops;
	struct vmon_error err = { 0 };

	side_init(&a);
	side_init(&twin);
	for (size_t at = 0; at + 4 <= size; at += 4) {
		const uint8_t *op = data + at;
		unsigned which = op[1] % 3, len = op[3] % 4 + 1;

		switch (op[0] % 8) {
		case 0:
		case 6:
			access_port(&a, which, op[2], len, true);
			break;
		case 1:
		case 7: {
			bool full = a.k.s.out_full;
			uint8_t v = access_port(&a, which, 0, len, false);
			if (which == 1)
				FUZZ_CHECK(!!(v & I8042_STR_OBF) == full && !(v & I8042_STR_IBF));
			break;
		}
		case 2:
			err.msg[0] = '\0';
			if (i8042_press_ctrl_alt_del(&a.k, &err))
				FUZZ_CHECK(err.msg[0] != '\0');
			break;
		case 3:
			if (at + 4 + ops->state_size > size)
				goto out;
			fuzz_restore(ops, &a.k, &twin.k, data + at + 4);
			at += ops->state_size;
			break;
		case 4:
			ops->reset(&a.k);
			break;
		default: {
			uint8_t cmd = op[2], val = op[3];
			access_port(&a, 1, cmd, 1, true);
			access_port(&a, 0, val, 1, true);
			if (cmd >= 0x60 && cmd < 0x80) {
				/* Drain what the keyboard queue may hold, then read the byte back. */
				access_port(&a, 1, (uint8_t)(cmd - 0x40), 1, true);
				FUZZ_CHECK(a.k.s.out_full && a.k.s.out_data == val);
			}
			break;
		}
		}
		check(&a, &twin);
	}
out:
	ops->destroy(&a.k);
	ops->destroy(&twin.k);
	return 0;
}
