/* SPDX-License-Identifier: MIT */
#include "vmm/legacy.h"

#include "arch/x86/layout.h"

static int com1_init(struct legacy_devices *l, const struct device_host *host, struct console *console,
		     const struct timespec *start, struct vmon_error *err)
{
	const struct uart_8250_callbacks cb = {
		.output = console_output,
		.rx_space_available = console_rx_space,
		.ctx = console,
	};
	(void)start;
	int r = uart_8250_init(&l->com1, host, X86_PORT_COM1, X86_IRQ_COM1, &cb, err);

	if (!r)
		console->uart = &l->com1;
	return r;
}

static void com1_destroy(struct legacy_devices *l)
{
	uart_8250_destroy(&l->com1);
}

static int i8042_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
		    const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return i8042_init(&l->i8042, host, err);
}

static void i8042_down(struct legacy_devices *l)
{
	i8042_destroy(&l->i8042);
}

static int rtc_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
		  const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return rtc_init(&l->rtc, host, NULL, NULL, err);
}

static void rtc_down(struct legacy_devices *l)
{
	rtc_destroy(&l->rtc);
}

static int debug_exit_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
			 const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	/* iosize 4 as QEMU tests use it (-device isa-debug-exit,iobase=0xf4,iosize=0x04). */
	return debug_exit_init(&l->debug_exit, host, X86_PORT_DEBUG_EXIT, 4, err);
}

static int port_sink_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
			const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return port_sink_init(&l->port_sink, host, err);
}

static int boot_timer_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
			 const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	return boot_timer_init(&l->boot_timer, host, start, NULL, NULL, err);
}

static int acpi_pm_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
		      const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return acpi_pm_init(&l->acpi_pm, host, X86_PORT_ACPI_PM, err);
}

static const struct {
	const char *name;
	int (*init)(struct legacy_devices *l, const struct device_host *host, struct console *console,
		    const struct timespec *start, struct vmon_error *err);
	void (*destroy)(struct legacy_devices *l);  /* NULL: nothing to free */
} legacy_table[] = {
	{ "com1", com1_init, com1_destroy },
	{ "i8042", i8042_up, i8042_down },
	{ "rtc", rtc_up, rtc_down },
	{ "debug-exit", debug_exit_up, NULL },
	{ "port-sink", port_sink_up, NULL },
	{ "boot-timer", boot_timer_up, NULL },
	{ "acpi-pm", acpi_pm_up, NULL },
};

int legacy_devices_init(struct legacy_devices *l, const struct device_host *host, struct console *console,
			const struct timespec *start, struct vmon_error *err)
{
	for (l->initialized = 0; l->initialized < sizeof(legacy_table) / sizeof(legacy_table[0]); l->initialized++) {
		int r = legacy_table[l->initialized].init(l, host, console, start, err);
		if (r) {
			error_prefix(err, "%s", legacy_table[l->initialized].name);
			legacy_devices_destroy(l);
			return r;
		}
	}
	return 0;
}

void legacy_devices_destroy(struct legacy_devices *l)
{
	while (l->initialized > 0) {
		l->initialized--;
		if (legacy_table[l->initialized].destroy)
			legacy_table[l->initialized].destroy(l);
	}
}
