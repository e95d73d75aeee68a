/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "fake_host.h"

#define PORT X86_PORT_ACPI_PM
#define CONTROL (PORT + ACPI_PM_SLEEP_CONTROL)
#define STATUS (PORT + ACPI_PM_SLEEP_STATUS)
#define RESET (PORT + ACPI_PM_RESET)

struct fixture {
	struct fake_host fh;
	struct acpi_pm pm;
};

static struct fixture *make(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_host_init(&f->fh);
	f->fh.irq_forbidden = "the hardware-reduced PM block has no SCI";
	assert_int_equal(acpi_pm_init(&f->pm, &f->fh.host, PORT, NULL), 0);
	return f;
}

/* What Linux's acpi_hw_extended_sleep() writes: SLP_TYP from \_S5_ in bits 2-4, SLP_EN. */
static uint8_t sleep_value(unsigned type)
{
	return (uint8_t)(ACPI_PM_SLP_EN | (type << ACPI_PM_SLP_TYP_SHIFT));
}

static void s5_with_slp_en_powers_off_with_status_0(void **state)
{
	struct fixture *f = make();
	(void)state;

	fake_host_outb(&f->fh, STATUS, ACPI_PM_WAK_STS);   /* Linux clears WAK_STS first */
	assert_int_equal(f->fh.stops, 0);
	fake_host_outb(&f->fh, CONTROL, sleep_value(ACPI_PM_SLP_TYP_S5));
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_POWER_OFF);
	assert_int_equal(f->fh.status, 0);
	assert_int_equal(sleep_value(ACPI_PM_SLP_TYP_S5), 0x34);
	free(f);
}

static void slp_typ_without_slp_en_does_nothing(void **state)
{
	struct fixture *f = make();
	(void)state;

	f->fh.stop_forbidden = "SLP_EN is clear";
	fake_host_outb(&f->fh, CONTROL, ACPI_PM_SLP_TYP_S5 << ACPI_PM_SLP_TYP_SHIFT);
	assert_int_equal(fake_host_inb(&f->fh, STATUS), 0);
	free(f);
}

static void other_sleep_types_wake_at_once(void **state)
{
	struct fixture *f = make();
	(void)state;

	f->fh.stop_forbidden = "S3 is not offered";
	assert_int_equal(fake_host_inb(&f->fh, STATUS), 0);
	fake_host_outb(&f->fh, CONTROL, sleep_value(3));
	assert_int_equal(fake_host_inb(&f->fh, STATUS), ACPI_PM_WAK_STS);
	/* WAK_STS is write-1-to-clear: writing 0 keeps it, writing 1 clears it. */
	fake_host_outb(&f->fh, STATUS, 0);
	assert_int_equal(fake_host_inb(&f->fh, STATUS), ACPI_PM_WAK_STS);
	fake_host_outb(&f->fh, STATUS, ACPI_PM_WAK_STS);
	assert_int_equal(fake_host_inb(&f->fh, STATUS), 0);
	assert_int_equal(f->pm.s.sleep_status, 0);
	free(f);
}

static void reset_value_resets_and_others_are_ignored(void **state)
{
	struct fixture *f = make();
	(void)state;

	fake_host_outb(&f->fh, RESET, 0x06);
	fake_host_outb(&f->fh, RESET, 0x00);
	assert_int_equal(f->fh.stops, 0);
	fake_host_outb(&f->fh, RESET, ACPI_PM_RESET_VALUE);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_RESET);
	assert_int_equal(f->fh.status, 0);
	free(f);
}

static void control_and_reset_read_as_zero(void **state)
{
	struct fixture *f = make();
	uint8_t wide[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	(void)state;

	assert_int_equal(fake_host_inb(&f->fh, CONTROL), 0);
	assert_int_equal(fake_host_inb(&f->fh, RESET), 0);
	assert_true(io_bus_access(&f->fh.pio, STATUS, wide, 2, false));
	assert_int_equal(wide[0], 0);
	assert_int_equal(wide[1], 0);
	assert_int_equal(wide[2], 0xaa);
	/* The block is exactly three ports. */
	assert_false(io_bus_access(&f->fh.pio, PORT + ACPI_PM_PORTS, wide, 1, false));
	free(f);
}

static void ports_past_0xffff_are_refused(void **state)
{
	struct fake_host fh;
	struct acpi_pm pm;
	struct vmon_error err = { 0 };
	(void)state;

	fake_host_init(&fh);
	assert_int_equal(acpi_pm_init(&pm, &fh.host, 0xfffe, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "0xfffe"));
}

static void state_round_trips_into_a_fresh_device(void **state)
{
	struct fixture *a = make(), *b = make();
	struct device_resource res[DEVICE_MAX_RESOURCES];
	uint8_t saved[sizeof(struct acpi_pm_state)];
	struct vmon_error err = { 0 };
	(void)state;

	a->fh.stop_forbidden = b->fh.stop_forbidden = "S3 is not offered";
	fake_host_outb(&a->fh, CONTROL, sleep_value(3));        /* WAK_STS set */
	acpi_pm_device_ops.save(&a->pm, saved);
	assert_int_equal(acpi_pm_device_ops.restore(&b->pm, saved, &err), 0);
	assert_int_equal(fake_host_inb(&b->fh, STATUS), ACPI_PM_WAK_STS);
	fake_host_outb(&b->fh, STATUS, ACPI_PM_WAK_STS);       /* and it behaves the same from there */
	assert_int_equal(fake_host_inb(&b->fh, STATUS), 0);
	acpi_pm_device_ops.reset(&a->pm);
	assert_int_equal(fake_host_inb(&a->fh, STATUS), 0);
	assert_int_equal(acpi_pm_resources(&a->pm, res), 1);
	assert_int_equal(res[0].kind, DEVICE_RES_PIO);
	assert_int_equal(res[0].base, PORT);
	assert_int_equal(res[0].len, ACPI_PM_PORTS);
	free(a);
	free(b);
}

static void bad_states_are_refused_and_change_nothing(void **state)
{
	struct fixture *f = make();
	struct acpi_pm_state bad = { .sleep_status = 0x01 };
	struct vmon_error err = { 0 };
	(void)state;

	assert_int_equal(acpi_pm_device_ops.restore(&f->pm, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "sleep_status 0x01"));
	bad = (struct acpi_pm_state){ .sleep_status = ACPI_PM_WAK_STS, .reserved = { 0, 7, 0 } };
	assert_int_equal(acpi_pm_device_ops.restore(&f->pm, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "reserved[1]"));
	assert_int_equal(fake_host_inb(&f->fh, STATUS), 0);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(s5_with_slp_en_powers_off_with_status_0),
		cmocka_unit_test(slp_typ_without_slp_en_does_nothing),
		cmocka_unit_test(other_sleep_types_wake_at_once),
		cmocka_unit_test(reset_value_resets_and_others_are_ignored),
		cmocka_unit_test(control_and_reset_read_as_zero),
		cmocka_unit_test(ports_past_0xffff_are_refused),
		cmocka_unit_test(state_round_trips_into_a_fresh_device),
		cmocka_unit_test(bad_states_are_refused_and_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
