/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8042.h"
#include "device_state_check.h"
#include "fake_host.h"

struct fixture {
	struct fake_host fh;
	struct i8042 kbc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_host_init(&f->fh);
	assert_int_equal(i8042_init(&f->kbc, &f->fh.host, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	i8042_destroy(&f->kbc);
	free(f);
	return 0;
}

static uint8_t in(struct fixture *f, uint16_t port)
{
	return fake_host_inb(&f->fh, port);
}

static void out(struct fixture *f, uint16_t port, uint8_t v)
{
	fake_host_outb(&f->fh, port, v);
}

static uint8_t status(struct fixture *f)
{
	return in(f, I8042_PORT_COMMAND);
}

/* Issues a command and its one parameter byte, as Linux's i8042_command() sends them. */
static void command_param(struct fixture *f, uint8_t cmd, uint8_t param)
{
	out(f, I8042_PORT_COMMAND, cmd);
	out(f, I8042_PORT_DATA, param);
}

/* Issues a command and reads its one-byte reply, as Linux's i8042_command() does. */
static uint8_t command_reply(struct fixture *f, uint8_t cmd)
{
	out(f, I8042_PORT_COMMAND, cmd);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	return in(f, I8042_PORT_DATA);
}

static void reset_status_is_an_idle_controller_with_sys_flag(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(status(f), I8042_STR_SYS | I8042_STR_KEYLOCK);
}

static void read_ctr_returns_the_config_byte(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0x20),
			 I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS | I8042_CTR_XLATE);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
}

static void write_ctr_round_trips(void **state)
{
	struct fixture *f = *state;

	out(f, I8042_PORT_COMMAND, 0x60);
	assert_int_equal(status(f) & I8042_STR_CMDDAT, I8042_STR_CMDDAT);
	out(f, I8042_PORT_DATA, 0x31);
	assert_int_equal(status(f) & I8042_STR_CMDDAT, 0);
	assert_int_equal(command_reply(f, 0x20), 0x31);
	/* SYS in the status mirrors the CTR's system flag. */
	assert_int_equal(status(f) & I8042_STR_SYS, 0);
}

static void controller_ram_bytes_round_trip(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0x7f, 0xc3);
	command_param(f, 0x61, 0x12);
	assert_int_equal(command_reply(f, 0x3f), 0xc3);
	assert_int_equal(command_reply(f, 0x21), 0x12);
}

static void self_test_answers_0x55_and_sets_sys(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0x60, 0x00);
	assert_int_equal(command_reply(f, 0xaa), 0x55);
	assert_int_equal(status(f) & I8042_STR_SYS, I8042_STR_SYS);
}

static void interface_tests_report_no_error(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0xab), 0x00);
	assert_int_equal(command_reply(f, 0xa9), 0x00);
}

static void disable_and_enable_commands_set_ctr_bits(void **state)
{
	struct fixture *f = *state;

	out(f, I8042_PORT_COMMAND, 0xad);
	out(f, I8042_PORT_COMMAND, 0xa7);
	assert_int_equal(command_reply(f, 0x20) & (I8042_CTR_KBDDIS | I8042_CTR_AUXDIS),
			 I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	out(f, I8042_PORT_COMMAND, 0xae);
	assert_int_equal(command_reply(f, 0x20) & (I8042_CTR_KBDDIS | I8042_CTR_AUXDIS), I8042_CTR_AUXDIS);
	out(f, I8042_PORT_COMMAND, 0xa8);
	assert_int_equal(command_reply(f, 0x20) & (I8042_CTR_KBDDIS | I8042_CTR_AUXDIS), 0);
	/* None of them answers with a byte. */
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
}

static void output_port_reads_back_reset_high_and_a20(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(command_reply(f, 0xd0), I8042_OUT_RESET | I8042_OUT_A20);
	command_param(f, 0xd1, I8042_OUT_RESET);
	assert_int_equal(f->fh.stops, 0);
	assert_int_equal(command_reply(f, 0xd0), I8042_OUT_RESET);
}

static void output_port_write_with_bit0_clear_resets(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0xd1, I8042_OUT_A20);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_RESET);
}

static void pulse_reset_stops_once_per_0xfe(void **state)
{
	struct fixture *f = *state;

	out(f, I8042_PORT_COMMAND, 0xfe);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_RESET);
	assert_int_equal(f->fh.status, 0);
	out(f, I8042_PORT_COMMAND, 0xfe);
	assert_int_equal(f->fh.stops, 2);
	/* 0xFF pulses nothing; 0xFD pulses A20 only. */
	out(f, I8042_PORT_COMMAND, 0xff);
	out(f, I8042_PORT_COMMAND, 0xfd);
	assert_int_equal(f->fh.stops, 2);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
}

static void aux_loopback_echoes_as_mouse_data_on_irq12(void **state)
{
	struct fixture *f = *state;

	/* Linux's AUX IRQ test: AUX_LOOP 0xa5 must arrive with AUXDATA on IRQ 12. */
	command_param(f, 0xd3, 0xa5);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF | I8042_STR_AUXDATA);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 1);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
	assert_int_equal(in(f, I8042_PORT_DATA), 0xa5);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 0);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
}

static void kbd_loopback_echoes_as_keyboard_data_on_irq1(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0xd2, 0x1c);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 1);
	assert_int_equal(in(f, I8042_PORT_DATA), 0x1c);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
}

static void irq_lines_obey_ctr_interrupt_enables(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0x60, I8042_CTR_SYS); /* both interrupts off */
	command_param(f, 0xd2, 0x1c);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
	in(f, I8042_PORT_DATA);
	command_param(f, 0xd3, 0x1c);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 0);
	/* Enabling the interrupt with a byte waiting raises the line. */
	command_param(f, 0x60, I8042_CTR_SYS | I8042_CTR_AUXINT);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 1);
}

static void byte_for_absent_keyboard_is_nakked_with_timeout(void **state)
{
	struct fixture *f = *state;

	out(f, I8042_PORT_DATA, 0xf2); /* atkbd's GET ID */
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA | I8042_STR_TIMEOUT),
			 I8042_STR_OBF | I8042_STR_TIMEOUT);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 1);
	assert_int_equal(in(f, I8042_PORT_DATA), 0xfe);
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_TIMEOUT), 0);
}

static void byte_for_absent_mouse_is_nakked_with_timeout(void **state)
{
	struct fixture *f = *state;

	command_param(f, 0xd4, 0xff); /* psmouse reset */
	assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA | I8042_STR_TIMEOUT),
			 I8042_STR_OBF | I8042_STR_AUXDATA | I8042_STR_TIMEOUT);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 1);
	assert_int_equal(in(f, I8042_PORT_DATA), 0xfe);
	assert_int_equal(f->fh.stops, 0);
}

static void mux_probe_sees_a_plain_loopback(void **state)
{
	struct fixture *f = *state;
	static const uint8_t seq[] = { 0xf0, 0x56, 0xa4 };

	/* Linux's i8042_set_mux_mode(): an echo of the third byte means "no MUX". */
	for (size_t i = 0; i < sizeof(seq); i++) {
		command_param(f, 0xd3, seq[i]);
		assert_int_equal(in(f, I8042_PORT_DATA), seq[i]);
	}
}

static void unknown_command_gets_no_reply(void **state)
{
	struct fixture *f = *state;

	out(f, I8042_PORT_COMMAND, 0xc0);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	/* and a following data byte goes to the (absent) keyboard, not to the command */
	out(f, I8042_PORT_DATA, 0xee);
	assert_int_equal(in(f, I8042_PORT_DATA), 0xfe);
}

static void system_control_port_a_keeps_a20_and_fast_resets_on_rising_bit0(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in(f, I8042_PORT_SCPA) & 0x02, 0x02);
	out(f, I8042_PORT_SCPA, 0x00);
	assert_int_equal(in(f, I8042_PORT_SCPA), 0x00);
	out(f, I8042_PORT_SCPA, 0x02);
	assert_int_equal(in(f, I8042_PORT_SCPA), 0x02);
	assert_int_equal(f->fh.stops, 0);
	out(f, I8042_PORT_SCPA, 0x03);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_RESET);
	out(f, I8042_PORT_SCPA, 0x03); /* still high: no new edge */
	assert_int_equal(f->fh.stops, 1);
	out(f, I8042_PORT_SCPA, 0x02);
	out(f, I8042_PORT_SCPA, 0x01);
	assert_int_equal(f->fh.stops, 2);
}

static void port_0x61_is_left_to_the_in_kernel_pit(void **state)
{
	struct fixture *f = *state;

	assert_null(io_bus_find(&f->fh.pio, 0x61));
	assert_null(io_bus_find(&f->fh.pio, 0x62));
	assert_null(io_bus_find(&f->fh.pio, 0x63));
	assert_non_null(io_bus_find(&f->fh.pio, 0x60));
	assert_non_null(io_bus_find(&f->fh.pio, 0x64));
	assert_non_null(io_bus_find(&f->fh.pio, 0x92));
}

static void wide_status_read_pads_with_ones(void **state)
{
	struct fixture *f = *state;
	uint8_t v[2] = { 0 };

	assert_true(io_bus_access(&f->fh.pio, I8042_PORT_COMMAND, v, 2, false));
	assert_int_equal(v[0], I8042_STR_SYS | I8042_STR_KEYLOCK);
	assert_int_equal(v[1], 0xff);
}

/* ---- the device model: reset, save -> fresh controller -> restore ------------ */

static const struct device_ops *ops = &i8042_device_ops;

static struct fixture *fixture_new(void)
{
	void *f;
	setup(&f);
	return f;
}

static void fixture_free(struct fixture *f)
{
	void *p = f;
	teardown(&p);
}

static void save(struct fixture *f, struct i8042_state *s)
{
	memset(s, 0, sizeof(*s));
	ops->save(&f->kbc, s);
}

/*
 * Own CTR and RAM bytes, A20 and a spare bit in port 0x92, a mouse byte
 * waiting (IRQ 12 high), and a write-output-port command waiting for its
 * data byte.
 */
static void drive_into_busy_state(struct fixture *f)
{
	command_param(f, 0x60, I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS | I8042_CTR_KBDDIS);
	command_param(f, 0x65, 0x5a);
	out(f, I8042_PORT_SCPA, 0x0a);
	command_param(f, 0xd3, 0xab);
	out(f, I8042_PORT_COMMAND, 0xd1);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 1);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
}

struct step {
	uint16_t port;
	int write;     /* 0: read */
	uint8_t val;
};

static void same_behaviour(struct fixture *a, struct fixture *b, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (steps[i].write) {
			out(a, steps[i].port, steps[i].val);
			out(b, steps[i].port, steps[i].val);
		} else {
			uint8_t va = in(a, steps[i].port), vb = in(b, steps[i].port);
			if (va != vb)
				fail_msg("step %zu: port 0x%x read 0x%02x before, 0x%02x after restore", i,
					 steps[i].port, va, vb);
		}
		for (unsigned irq = 0; irq < FAKE_HOST_GSIS; irq++)
			if (a->fh.irq[irq] != b->fh.irq[irq])
				fail_msg("step %zu: IRQ %u %d before, %d after restore", i, irq, a->fh.irq[irq],
					 b->fh.irq[irq]);
		assert_int_equal(a->fh.stops, b->fh.stops);
	}
}

#define D I8042_PORT_DATA
#define C I8042_PORT_COMMAND

static void restored_controller_behaves_like_the_saved_one(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct i8042_state s, s2;
	struct vmon_error err = { 0 };
	(void)state;

	drive_into_busy_state(a);
	save(a, &s);
	assert_int_equal(ops->restore(&b->kbc, &s, &err), 0);
	assert_int_equal(b->fh.irq[I8042_IRQ_AUX], 1);
	assert_int_equal(b->fh.irq[I8042_IRQ_KBD], 0);
	save(b, &s2);
	assert_memory_equal(&s, &s2, sizeof(s));

	const struct step steps[] = {
		{ C, 0, 0 }, { D, 0, 0 }, { C, 0, 0 },      /* status, the mouse byte, status (CMD/DATA still 1) */
		{ D, 1, 0x03 },                             /* completes 0xd1: output port 0x03, no reset */
		{ C, 1, 0xd0 }, { D, 0, 0 },                /* reads it back */
		{ C, 1, 0x20 }, { D, 0, 0 }, { C, 1, 0x25 }, { D, 0, 0 },
		{ I8042_PORT_SCPA, 0, 0 },
		{ D, 1, 0xff }, { C, 0, 0 }, { D, 0, 0 },   /* to the absent keyboard: NAK, timeout, IRQ 1 */
		{ C, 1, 0xd4 }, { D, 1, 0xf4 }, { C, 0, 0 }, { D, 0, 0 },
		{ C, 1, 0xfe },                             /* the classic reboot: one stop on both */
	};
	same_behaviour(a, b, steps, sizeof(steps) / sizeof(steps[0]));
	assert_int_equal(a->fh.stops, 1);
	fixture_free(a);
	fixture_free(b);
}

static void restored_ram_write_completes_with_the_next_byte(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct i8042_state s;
	(void)state;

	out(a, C, 0x7f);              /* write RAM byte 0x1f, data pending */
	save(a, &s);
	drive_into_busy_state(b);     /* b's IRQ 12 is high: the restore brings it down */
	assert_int_equal(ops->restore(&b->kbc, &s, NULL), 0);
	assert_int_equal(b->fh.irq[I8042_IRQ_AUX], 0);
	const struct step steps[] = {
		{ C, 0, 0 }, { D, 1, 0x99 }, { C, 1, 0x3f }, { D, 0, 0 }, { C, 0, 0 },
	};
	same_behaviour(a, b, steps, sizeof(steps) / sizeof(steps[0]));
	fixture_free(a);
	fixture_free(b);
}

static void expect_refused(const struct i8042_state *s, const char *why)
{
	struct fixture *f = fixture_new();

	drive_into_busy_state(f);
	int sets = f->fh.irq_sets;
	expect_restore_refused(ops, &f->kbc, s, why);
	assert_int_equal(f->fh.irq_sets, sets);
	fixture_free(f);
}

static void damaged_states_are_refused_by_field(void **state)
{
	struct fixture *a = fixture_new();
	struct i8042_state good, s;
	(void)state;

	drive_into_busy_state(a);
	save(a, &good);
	fixture_free(a);
	s = good; s.out_full = 2;       expect_refused(&s, "out_full 2");
	s = good; s.out_aux = 0x80;     expect_refused(&s, "out_aux 128");
	s = good; s.out_timeout = 3;    expect_refused(&s, "out_timeout 3");
	s = good; s.last_was_cmd = 9;   expect_refused(&s, "last_was_cmd 9");
	s = good; s.pending_cmd = 0xd0; expect_refused(&s, "pending_cmd 0xd0");
	s = good; s.pending_cmd = 0x20; expect_refused(&s, "pending_cmd 0x20");
	s = good; s.pending_cmd = 0x80; expect_refused(&s, "pending_cmd 0x80");
	s = good; s.kbd_count = 8;      expect_refused(&s, "kbd_count 8");
}

static void reset_is_power_on_without_a_vm_reset(void **state)
{
	struct fixture *f = fixture_new(), *fresh = fixture_new();
	struct i8042_state s, power_on;
	(void)state;

	drive_into_busy_state(f);
	f->fh.stop_forbidden = "a device reset is not a VM reset";
	ops->reset(&f->kbc);
	assert_int_equal(f->fh.irq[I8042_IRQ_AUX], 0);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
	save(f, &s);
	save(fresh, &power_on);
	assert_memory_equal(&s, &power_on, sizeof(s));
	assert_int_equal(status(f), I8042_STR_SYS | I8042_STR_KEYLOCK);
	fixture_free(f);
	fixture_free(fresh);
}

/* Reads the keyboard bytes the guest would, checking IRQ 1 rises anew for each. */
static void expect_keys(struct fixture *f, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(status(f) & (I8042_STR_OBF | I8042_STR_AUXDATA), I8042_STR_OBF);
		assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 1);
		int sets = f->fh.irq_sets;
		assert_int_equal(in(f, I8042_PORT_DATA), want[i]);
		if (i + 1 < n)
			assert_int_equal(f->fh.irq_sets, sets + 2);   /* lowered, raised again: a new edge */
	}
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	assert_int_equal(f->fh.irq[I8042_IRQ_KBD], 0);
}

static void ctrl_alt_del_arrives_in_set1_when_translating(void **state)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53 };
	struct fixture *f = *state;

	assert_int_equal(i8042_press_ctrl_alt_del(&f->kbc, NULL), 0);
	expect_keys(f, set1, sizeof(set1));
}

static void ctrl_alt_del_arrives_in_set2_without_translation(void **state)
{
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71 };
	struct fixture *f = *state;

	command_param(f, 0x60, I8042_CTR_KBDINT | I8042_CTR_SYS);
	assert_int_equal(i8042_press_ctrl_alt_del(&f->kbc, NULL), 0);
	expect_keys(f, set2, sizeof(set2));
}

static void keys_wait_while_the_keyboard_is_disabled(void **state)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53 };
	struct fixture *f = *state;

	out(f, I8042_PORT_COMMAND, 0xad);   /* disable the keyboard side */
	assert_int_equal(i8042_press_ctrl_alt_del(&f->kbc, NULL), 0);
	assert_int_equal(status(f) & I8042_STR_OBF, 0);
	out(f, I8042_PORT_COMMAND, 0xae);   /* enable: the queued bytes flow */
	expect_keys(f, set1, sizeof(set1));
}

static void a_second_press_before_the_first_is_read_is_busy(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	out(f, I8042_PORT_COMMAND, 0xad);
	assert_int_equal(i8042_press_ctrl_alt_del(&f->kbc, NULL), 0);
	assert_int_equal(i8042_press_ctrl_alt_del(&f->kbc, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "not read"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(reset_status_is_an_idle_controller_with_sys_flag),
		T(read_ctr_returns_the_config_byte),
		T(write_ctr_round_trips),
		T(controller_ram_bytes_round_trip),
		T(self_test_answers_0x55_and_sets_sys),
		T(interface_tests_report_no_error),
		T(disable_and_enable_commands_set_ctr_bits),
		T(output_port_reads_back_reset_high_and_a20),
		T(output_port_write_with_bit0_clear_resets),
		T(pulse_reset_stops_once_per_0xfe),
		T(aux_loopback_echoes_as_mouse_data_on_irq12),
		T(kbd_loopback_echoes_as_keyboard_data_on_irq1),
		T(irq_lines_obey_ctr_interrupt_enables),
		T(byte_for_absent_keyboard_is_nakked_with_timeout),
		T(byte_for_absent_mouse_is_nakked_with_timeout),
		T(mux_probe_sees_a_plain_loopback),
		T(unknown_command_gets_no_reply),
		T(system_control_port_a_keeps_a20_and_fast_resets_on_rising_bit0),
		T(port_0x61_is_left_to_the_in_kernel_pit),
		T(wide_status_read_pads_with_ones),
		T(ctrl_alt_del_arrives_in_set1_when_translating),
		T(ctrl_alt_del_arrives_in_set2_without_translation),
		T(keys_wait_while_the_keyboard_is_disabled),
		T(a_second_press_before_the_first_is_read_is_busy),
		cmocka_unit_test(restored_controller_behaves_like_the_saved_one),
		cmocka_unit_test(restored_ram_write_completes_with_the_next_byte),
		cmocka_unit_test(damaged_states_are_refused_by_field),
		cmocka_unit_test(reset_is_power_on_without_a_vm_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
