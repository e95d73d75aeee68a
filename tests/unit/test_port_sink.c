/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/port_sink.h"
#include "devices/rtc.h"
#include "devices/uart_8250.h"
#include "fake_host.h"

struct fixture {
	struct fake_host fh;
	struct port_sink sink;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_host_init(&f->fh);
	assert_int_equal(port_sink_init(&f->sink, &f->fh.host, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void every_sunk_port_reads_all_ones_at_every_width(void **state)
{
	struct fixture *f = *state;
	size_t n;
	const struct port_sink_range *r = port_sink_ranges(&n);

	for (size_t i = 0; i < n; i++) {
		for (uint32_t port = r[i].base; port < (uint32_t)r[i].base + r[i].len; port++) {
			for (unsigned size = 1; size <= 4; size *= 2) {
				uint8_t v[4] = { 0 };
				assert_true(io_bus_access(&f->fh.pio, port, v, size, false));
				for (unsigned b = 0; b < size; b++)
					assert_int_equal(v[b], 0xff);
			}
		}
	}
}

static void writes_are_absorbed_without_side_effects(void **state)
{
	struct fixture *f = *state;
	size_t n;
	const struct port_sink_range *r = port_sink_ranges(&n);

	for (size_t i = 0; i < n; i++) {
		for (uint32_t port = r[i].base; port < (uint32_t)r[i].base + r[i].len; port++) {
			uint8_t v[4] = { 0x12, 0x34, 0x56, 0x78 };
			assert_true(io_bus_access(&f->fh.pio, port, v, 1, true));
			assert_true(io_bus_access(&f->fh.pio, port, v, 4, true));
			v[0] = 0;
			assert_true(io_bus_access(&f->fh.pio, port, v, 1, false));
			assert_int_equal(v[0], 0xff); /* nothing was stored */
		}
	}
	assert_int_equal(f->fh.irq_sets, 0);
	assert_int_equal(f->fh.stops, 0);
}

static void table_is_sorted_disjoint_and_explained(void **state)
{
	size_t n;
	const struct port_sink_range *r = port_sink_ranges(&n);
	(void)state;

	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(r[i].len > 0);
		assert_non_null(r[i].name);
		assert_true(strlen(r[i].reason) > 10);
		if (i > 0)
			assert_true((uint32_t)r[i - 1].base + r[i - 1].len <= r[i].base);
	}
}

static void linux_boot_ports_are_claimed(void **state)
{
	struct fixture *f = *state;
	static const uint16_t ports[] = {
		0x80, 0x81, 0x87, 0x8f, 0xed, 0xf0, 0xf1, 0x2e8, 0x2ef, 0x2f8, 0x2ff, 0x378, 0x37a,
		0x3b0, 0x3c0, 0x3d4, 0x3df, 0x3e8, 0x3ef, 0xcf8, 0xcfc, 0xcff,
	};

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (!io_bus_find(&f->fh.pio, ports[i]))
			fail_msg("port 0x%x not sunk", ports[i]);
}

static void in_kernel_pic_elcr_and_pit_ports_are_left_alone(void **state)
{
	struct fixture *f = *state;
	static const uint16_t ports[] = { 0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61 };

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (io_bus_find(&f->fh.pio, ports[i]))
			fail_msg("port 0x%x belongs to KVM", ports[i]);
}

static void pci_type1_probe_finds_no_host_bridge(void **state)
{
	struct fixture *f = *state;
	uint8_t v[4] = { 0x00, 0x00, 0x00, 0x80 };

	/* Linux's pci_check_type1(): write 0x80000000, expect to read it back. */
	assert_true(io_bus_access(&f->fh.pio, 0xcf8, v, 4, true));
	assert_true(io_bus_access(&f->fh.pio, 0xcf8, v, 4, false));
	assert_memory_not_equal(v, ((uint8_t[]){ 0x00, 0x00, 0x00, 0x80 }), 4);
	assert_true(io_bus_access(&f->fh.pio, 0xcfc, v, 4, false));
	assert_memory_equal(v, ((uint8_t[]){ 0xff, 0xff, 0xff, 0xff }), 4);
}

static void discard_output(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static void all_legacy_devices_share_one_bus(void **state)
{
	struct fixture *f = *state;
	struct uart_8250 uart;
	struct i8042 kbc;
	struct rtc rtc;
	struct debug_exit dbg;
	struct uart_8250_callbacks cb = { .output = discard_output };
	struct vmon_error err = { 0 };

	assert_int_equal(uart_8250_init(&uart, &f->fh.host, X86_PORT_COM1, X86_IRQ_COM1, &cb, &err), 0);
	assert_int_equal(i8042_init(&kbc, &f->fh.host, &err), 0);
	assert_int_equal(rtc_init(&rtc, &f->fh.host, NULL, NULL, &err), 0);
	assert_int_equal(debug_exit_init(&dbg, &f->fh.host, X86_PORT_DEBUG_EXIT, 1, &err), 0);
	assert_string_equal(io_bus_find(&f->fh.pio, X86_PORT_COM1 + 7)->name, "uart_8250");
	assert_string_equal(io_bus_find(&f->fh.pio, X86_PORT_RTC + 1)->name, "rtc");
	uart_8250_destroy(&uart);
	i8042_destroy(&kbc);
	rtc_destroy(&rtc);
}

/* The device model: an empty state round-trips, a non-zero reserved word is refused, ports keep sinking. */
static void state_round_trips_and_ports_keep_reading_ones(void **state)
{
	struct fixture *f = *state;
	const struct device_ops *ops = &port_sink_device_ops;
	struct port_sink_state s, bad = { .reserved = 1 };
	struct vmon_error err = { 0 };

	assert_int_equal(ops->state_size, sizeof(s));
	memset(&s, 0xee, sizeof(s));
	ops->save(&f->sink, &s);
	assert_int_equal(s.reserved, 0);
	assert_int_equal(ops->restore(&f->sink, &s, &err), 0);
	assert_int_equal(ops->restore(&f->sink, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "port-sink state: reserved is 0x1"));
	ops->reset(&f->sink);
	fake_host_outb(&f->fh, 0x80, 0x12);
	assert_int_equal(fake_host_inb(&f->fh, 0x80), 0xff);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(every_sunk_port_reads_all_ones_at_every_width),
		T(writes_are_absorbed_without_side_effects),
		T(table_is_sorted_disjoint_and_explained),
		T(linux_boot_ports_are_claimed),
		T(in_kernel_pic_elcr_and_pit_ports_are_left_alone),
		T(pci_type1_probe_finds_no_host_bridge),
		T(all_legacy_devices_share_one_bus),
		T(state_round_trips_and_ports_keep_reading_ones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
