/* SPDX-License-Identifier: MIT */
#ifndef VMON_LEGACY_H
#define VMON_LEGACY_H

#include <stdbool.h>

#include "devices/acpi_pm.h"
#include "devices/boot_timer.h"
#include "devices/debug_exit.h"
#include "devices/device.h"
#include "devices/i8042.h"
#include "devices/port_sink.h"
#include "devices/rtc.h"
#include "devices/uart_8250.h"
#include "devices/registry.h"
#include "vmm/console.h"
#include "vmm/resources.h"

/*
 * The PC's legacy devices every vmon x86 guest gets: COM1 wired to the
 * console, the i8042 (probe + reset), the CMOS RTC, the debug-exit port, the
 * sink for harmless ports and the ACPI power-off/reset registers. One table drives their set-up: each is
 * initialized, added to the machine's device registry (which resets, saves,
 * restores and destroys it from then on) and its ports and lines claimed in
 * the machine's resource allocator.
 */
struct legacy_devices {
	struct uart_8250 com1;
	struct i8042 i8042;
	struct rtc rtc;
	struct debug_exit debug_exit;
	struct port_sink port_sink;
	struct boot_timer boot_timer;
	struct acpi_pm acpi_pm;
};

/* On failure the devices already added stay in reg: registry_destroy() frees them. */
int legacy_devices_init(struct legacy_devices *l, const struct device_host *host, struct console *console,
			const struct timespec *start, struct device_registry *reg, struct resources *pool,
			struct vmon_error *err);

#endif
