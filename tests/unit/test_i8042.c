/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/i8042.h"
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
