/* SPDX-License-Identifier: MIT */
/*
 * Every legacy device in one registry, registered the way the machine does
 * (ports and lines from each device's *_resources()): the whole registry is
 * saved, restored into a fresh set of devices on a fresh host, and the two
 * machines then answer the guest alike.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/boot_timer.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/port_sink.h"
#include "devices/registry.h"
#include "devices/rtc.h"
#include "devices/uart_8250.h"
#include "fake_host.h"

#define COM1 0x3f8
#define COM1_IRQ 4
#define DEBUG_EXIT_IOSIZE 4

/* One clock for both machines' RTC and boot timer: they are compared at the same instants. */
static struct timespec fake_now;

static void fake_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	*now = fake_now;
}

static void discard_output(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

struct machine {
	struct fake_host fh;
	struct uart_8250 com1;
	struct i8042 i8042;
	struct rtc rtc;
	struct debug_exit debug_exit;
	struct port_sink port_sink;
	struct boot_timer boot_timer;
	struct device_registry reg;
};

static void add(struct machine *m, const char *name, const struct device_ops *ops, void *dev,
		const struct device_resource *res, unsigned nres)
{
	struct vmon_error err = { 0 };

	if (registry_add(&m->reg, name, ops, dev, res, nres, &err))
		fail_msg("registering %s: %s", name, err.msg);
}

static struct machine *machine_new(void)
{
	struct machine *m = calloc(1, sizeof(*m));
	const struct uart_8250_callbacks cb = { .output = discard_output };
	const struct timespec start = { .tv_sec = 1700000000, .tv_nsec = 0 };
	struct device_resource res[DEVICE_MAX_RESOURCES];
	struct vmon_error err = { 0 };

	assert_non_null(m);
	fake_host_init(&m->fh);
	registry_init(&m->reg);
	assert_int_equal(uart_8250_init(&m->com1, &m->fh.host, COM1, COM1_IRQ, &cb, &err), 0);
	add(m, "com1", &uart_8250_device_ops, &m->com1, res, uart_8250_resources(&m->com1, res));
	assert_int_equal(i8042_init(&m->i8042, &m->fh.host, &err), 0);
	add(m, "i8042", &i8042_device_ops, &m->i8042, res, i8042_resources(&m->i8042, res));
	assert_int_equal(rtc_init(&m->rtc, &m->fh.host, fake_clock, NULL, &err), 0);
	add(m, "rtc", &rtc_device_ops, &m->rtc, res, rtc_resources(&m->rtc, res));
	assert_int_equal(debug_exit_init(&m->debug_exit, &m->fh.host, DEBUG_EXIT_PORT, DEBUG_EXIT_IOSIZE, &err), 0);
	add(m, "debug-exit", &debug_exit_device_ops, &m->debug_exit, res, debug_exit_resources(&m->debug_exit, res));
	assert_int_equal(port_sink_init(&m->port_sink, &m->fh.host, &err), 0);
	add(m, "port-sink", &port_sink_device_ops, &m->port_sink, res, port_sink_resources(&m->port_sink, res));
	assert_int_equal(boot_timer_init(&m->boot_timer, &m->fh.host, &start, fake_clock, NULL, &err), 0);
	add(m, "boot-timer", &boot_timer_device_ops, &m->boot_timer, res, boot_timer_resources(&m->boot_timer, res));
	return m;
}

static void machine_free(struct machine *m)
{
	registry_destroy(&m->reg);
	free(m);
}

static uint8_t in(struct machine *m, uint16_t port) { return fake_host_inb(&m->fh, port); }
static void out(struct machine *m, uint16_t port, uint8_t v) { fake_host_outb(&m->fh, port, v); }
static void cmos_write(struct machine *m, uint8_t idx, uint8_t v) { out(m, 0x70, idx); out(m, 0x71, v); }

/* The guest at work: UART FIFO with bytes and interrupts, a pending i8042 reply, RTC alarm and RAM, boot marks. */
static void drive(struct machine *m)
{
	out(m, COM1 + UART_MCR, UART_MCR_RTS | UART_MCR_OUT2);
	out(m, COM1 + UART_FCR, UART_FCR_ENABLE | 0x40);
	out(m, COM1 + UART_IER, UART_IER_ERBFI | UART_IER_ETBEI);
	out(m, COM1 + UART_SCR, 0x77);
	assert_int_equal(uart_8250_receive(&m->com1, (const uint8_t *)"hello", 5), 5);
	out(m, I8042_PORT_COMMAND, 0xd2);
	out(m, I8042_PORT_DATA, 0x1c);          /* a "keyboard" byte waiting: IRQ 1 */
	out(m, I8042_PORT_COMMAND, 0x61);       /* a RAM write waiting for its byte */
	cmos_write(m, RTC_REG_B, RTC_B_24H | RTC_B_DM | RTC_B_AIE | RTC_B_UIE);
	cmos_write(m, RTC_SECONDS_ALARM, 0xc0);
	cmos_write(m, RTC_MINUTES_ALARM, 0xc0);
	cmos_write(m, RTC_HOURS_ALARM, 0xc0);   /* every second */
	cmos_write(m, 0x40, 0xab);
	out(m, BOOT_TIMER_PORT, BOOT_TIMER_INIT_REACHED);
	assert_int_equal(m->fh.irq[COM1_IRQ], 1);
	assert_int_equal(m->fh.irq[I8042_IRQ_KBD], 1);
}

/* The same guest accesses on both machines at the same instants: the same answers and interrupt lines. */
static void same_behaviour(struct machine *a, struct machine *b)
{
	static const uint16_t reads[] = {
		COM1 + UART_IIR, COM1 + UART_LSR, COM1 + UART_RBR, COM1 + UART_RBR, COM1 + UART_IIR, COM1 + UART_SCR,
		I8042_PORT_COMMAND, I8042_PORT_DATA, I8042_PORT_COMMAND, I8042_PORT_SCPA, 0x80, 0xcf8,
		DEBUG_EXIT_PORT + 1,
	};

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
			uint8_t va = in(a, reads[i]), vb = in(b, reads[i]);
			if (va != vb)
				fail_msg("round %d: port 0x%x reads 0x%02x before, 0x%02x after restore", round, reads[i],
					 va, vb);
		}
		for (uint8_t idx = 0; idx < RTC_CMOS_SIZE; idx++) {
			out(a, 0x70, idx);
			out(b, 0x70, idx);
			uint8_t va = in(a, 0x71), vb = in(b, 0x71);
			if (va != vb)
				fail_msg("round %d: CMOS 0x%02x reads 0x%02x before, 0x%02x after restore", round, idx, va,
					 vb);
		}
		assert_memory_equal(a->fh.irq, b->fh.irq, sizeof(a->fh.irq));
		out(a, I8042_PORT_DATA, (uint8_t)(0x10 + round));
		out(b, I8042_PORT_DATA, (uint8_t)(0x10 + round));
		fake_now.tv_sec += 1;
	}
	assert_float_equal(boot_timer_seconds(&b->boot_timer, BOOT_TIMER_INIT_REACHED),
			   boot_timer_seconds(&a->boot_timer, BOOT_TIMER_INIT_REACHED), 1e-9);
	out(a, DEBUG_EXIT_PORT, 3);
	out(b, DEBUG_EXIT_PORT, 3);
	assert_int_equal(b->fh.status, a->fh.status);
}

static uint8_t *save_all(struct machine *m, size_t *size)
{
	*size = registry_state_size(&m->reg);
	uint8_t *buf = malloc(*size);
	assert_non_null(buf);
	assert_int_equal(registry_save(&m->reg, buf, *size), *size);
	return buf;
}

static void resources_match_what_each_device_put_on_the_bus(void **state)
{
	struct machine *m = machine_new();
	unsigned irqs = 0;
	(void)state;

	for (unsigned i = 0; i < m->reg.count; i++) {
		const struct device *d = &m->reg.devices[i];
		for (unsigned j = 0; j < d->nres; j++) {
			const struct device_resource *r = &d->res[j];
			if (r->kind == DEVICE_RES_IRQ) {
				assert_int_equal(r->len, 1);
				assert_false(irqs & (1u << r->base));   /* no line twice */
				irqs |= 1u << r->base;
				continue;
			}
			const struct io_range *range = io_bus_find(&m->fh.pio, r->base);
			if (!range || range->dev != d->dev || range->base != r->base || range->len != r->len)
				fail_msg("%s: resource 0x%llx+%llu is not its range on the bus", d->name,
					 (unsigned long long)r->base, (unsigned long long)r->len);
		}
	}
	assert_int_equal(irqs, (1u << COM1_IRQ) | (1u << I8042_IRQ_KBD) | (1u << I8042_IRQ_AUX) | (1u << RTC_IRQ));
	assert_int_equal(m->fh.pio.nranges, 1 + 3 + 1 + 1 + 10 + 1);   /* every range on the bus is some device's resource */
	machine_free(m);
}

static void whole_registry_round_trips_into_fresh_devices(void **state)
{
	struct machine *a = machine_new(), *b = machine_new();
	struct vmon_error err = { 0 };
	size_t size, size2;
	(void)state;

	fake_now = (struct timespec){ .tv_sec = 1700000100, .tv_nsec = 100000000 };
	drive(a);
	fake_now.tv_sec += 2;
	uint8_t *buf = save_all(a, &size);
	registry_pause(&b->reg);
	if (registry_restore(&b->reg, buf, size, &err))
		fail_msg("restore: %s", err.msg);
	registry_resume(&b->reg);
	uint8_t *again = save_all(b, &size2);
	assert_int_equal(size, size2);
	assert_memory_equal(buf, again, size);
	same_behaviour(a, b);
	free(buf);
	free(again);
	machine_free(a);
	machine_free(b);
}

static void a_refused_device_leaves_every_device_as_it_was(void **state)
{
	struct machine *a = machine_new(), *b = machine_new();
	struct vmon_error err = { 0 };
	size_t size, before_size, after_size;
	(void)state;

	fake_now = (struct timespec){ .tv_sec = 1700000200, .tv_nsec = 0 };
	drive(a);
	uint8_t *buf = save_all(a, &size);
	/* The RTC's register D, in the third section: com1 and i8042 are restored first, then rolled back. */
	size_t off = 0;
	for (unsigned i = 0; i < 2; i++)
		off += sizeof(struct registry_section) + b->reg.devices[i].ops->state_size;
	off += sizeof(struct registry_section) + offsetof(struct rtc_state, cmos) + RTC_REG_D;
	buf[off] = 0;
	uint8_t *before = save_all(b, &before_size);
	int irq_before[FAKE_HOST_GSIS];
	memcpy(irq_before, b->fh.irq, sizeof(irq_before));
	assert_int_equal(registry_restore(&b->reg, buf, size, &err), -EINVAL);
	if (!strstr(err.msg, "restoring rtc: rtc state: register D 0x00"))
		fail_msg("error '%s' does not name the RTC's register D", err.msg);
	uint8_t *after = save_all(b, &after_size);
	assert_memory_equal(before, after, before_size);
	assert_memory_equal(irq_before, b->fh.irq, sizeof(irq_before));
	free(buf);
	free(before);
	free(after);
	machine_free(a);
	machine_free(b);
}

static void registry_reset_and_pause_reach_every_device(void **state)
{
	struct machine *m = machine_new(), *fresh = machine_new();
	(void)state;

	fake_now = (struct timespec){ .tv_sec = 1700000300, .tv_nsec = 0 };
	drive(m);
	registry_pause(&m->reg);
	assert_int_equal(uart_8250_receive(&m->com1, (const uint8_t *)"x", 1), 0);
	registry_resume(&m->reg);
	registry_reset(&m->reg);
	for (unsigned gsi = 0; gsi < FAKE_HOST_GSIS; gsi++)
		assert_int_equal(m->fh.irq[gsi], 0);
	assert_int_equal(in(m, COM1 + UART_SCR), 0);
	assert_int_equal(in(m, I8042_PORT_COMMAND), in(fresh, I8042_PORT_COMMAND));
	assert_true(boot_timer_seconds(&m->boot_timer, BOOT_TIMER_INIT_REACHED) < 0);
	out(m, 0x70, 0x40);                /* CMOS RAM is battery-backed and stays */
	assert_int_equal(in(m, 0x71), 0xab);
	machine_free(m);
	machine_free(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(resources_match_what_each_device_put_on_the_bus),
		cmocka_unit_test(whole_registry_round_trips_into_fresh_devices),
		cmocka_unit_test(a_refused_device_leaves_every_device_as_it_was),
		cmocka_unit_test(registry_reset_and_pause_reach_every_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
