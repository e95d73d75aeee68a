/* SPDX-License-Identifier: MIT */
#include "vmm/legacy.h"

#include <stddef.h>
#include <stdint.h>

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

static int i8042_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
		    const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return i8042_init(&l->i8042, host, err);
}

static int rtc_up(struct legacy_devices *l, const struct device_host *host, struct console *console,
		  const struct timespec *start, struct vmon_error *err)
{
	(void)console;
	(void)start;
	return rtc_init(&l->rtc, host, NULL, NULL, err);
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

/* Resources of an initialized device, in the form the registry and the allocator take. */
typedef unsigned (*resources_fn)(const void *dev, struct device_resource res[DEVICE_MAX_RESOURCES]);

/* One adapter per model: each takes its own object type. */
#define RESOURCES_OF(type, fn)                                                                      \
	static unsigned fn##_any(const void *dev, struct device_resource res[DEVICE_MAX_RESOURCES]) \
	{                                                                                           \
		return fn((const type *)dev, res);                                                  \
	}
RESOURCES_OF(struct uart_8250, uart_8250_resources)
RESOURCES_OF(struct i8042, i8042_resources)
RESOURCES_OF(struct rtc, rtc_resources)
RESOURCES_OF(struct debug_exit, debug_exit_resources)
RESOURCES_OF(struct port_sink, port_sink_resources)
RESOURCES_OF(struct boot_timer, boot_timer_resources)
RESOURCES_OF(struct acpi_pm, acpi_pm_resources)
#define RES(fn) fn##_any

static const struct {
	const char *name;
	int (*init)(struct legacy_devices *l, const struct device_host *host, struct console *console,
		    const struct timespec *start, struct vmon_error *err);
	const struct device_ops *ops;
	size_t offset;                 /* of the device object in struct legacy_devices */
	resources_fn resources;
} legacy_table[] = {
	{ "com1", com1_init, &uart_8250_device_ops, offsetof(struct legacy_devices, com1), RES(uart_8250_resources) },
	{ "i8042", i8042_up, &i8042_device_ops, offsetof(struct legacy_devices, i8042), RES(i8042_resources) },
	{ "rtc", rtc_up, &rtc_device_ops, offsetof(struct legacy_devices, rtc), RES(rtc_resources) },
	{ "debug-exit", debug_exit_up, &debug_exit_device_ops, offsetof(struct legacy_devices, debug_exit),
	  RES(debug_exit_resources) },
	{ "port-sink", port_sink_up, &port_sink_device_ops, offsetof(struct legacy_devices, port_sink),
	  RES(port_sink_resources) },
	{ "boot-timer", boot_timer_up, &boot_timer_device_ops, offsetof(struct legacy_devices, boot_timer),
	  RES(boot_timer_resources) },
	{ "acpi-pm", acpi_pm_up, &acpi_pm_device_ops, offsetof(struct legacy_devices, acpi_pm),
	  RES(acpi_pm_resources) },
};

int legacy_devices_init(struct legacy_devices *l, const struct device_host *host, struct console *console,
			const struct timespec *start, struct device_registry *reg, struct resources *pool,
			struct vmon_error *err)
{
	for (size_t i = 0; i < sizeof(legacy_table) / sizeof(legacy_table[0]); i++) {
		void *dev = (uint8_t *)l + legacy_table[i].offset;
		struct device_resource res[DEVICE_MAX_RESOURCES];
		const char *name = legacy_table[i].name;
		int r = legacy_table[i].init(l, host, console, start, err);

		if (r) {
			error_prefix(err, "%s", name);
			return r;
		}
		unsigned n = legacy_table[i].resources(dev, res);
		if ((r = resources_add_device(pool, reg, name, legacy_table[i].ops, dev, res, n, err)))
			return r;
	}
	return 0;
}
