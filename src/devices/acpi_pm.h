/* SPDX-License-Identifier: MIT */
#ifndef VMON_ACPI_PM_H
#define VMON_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * The power-management registers of a hardware-reduced ACPI platform (ACPI
 * 6.3 sections 4.8.3.7 and 4.8.3.6), three byte-wide I/O ports that the FADT
 * points at (src/arch/x86/acpi.c):
 *
 *   base + 0  SLEEP_CONTROL_REG  write SLP_EN | SLP_TYP << 2: SLP_TYP 5 (the
 *                                DSDT's \_S5_) powers off, exit status 0
 *   base + 1  SLEEP_STATUS_REG   bit 7 WAK_STS, write 1 to clear
 *   base + 2  RESET_REG          writing ACPI_PM_RESET_VALUE resets the VM
 *
 * Other sleep states are not offered (the DSDT has only \_S5_); a request
 * for one wakes at once (WAK_STS set) so a guest waiting for the wake-up
 * does not spin forever.
 */
#define ACPI_PM_SLEEP_CONTROL 0
#define ACPI_PM_SLEEP_STATUS  1
#define ACPI_PM_RESET         2
#define ACPI_PM_PORTS         3

#define ACPI_PM_SLP_EN         0x20
#define ACPI_PM_SLP_TYP_SHIFT  2
#define ACPI_PM_SLP_TYP_MASK   0x1c
#define ACPI_PM_WAK_STS        0x80
#define ACPI_PM_SLP_TYP_S5     5      /* the value \_S5_ names */
#define ACPI_PM_RESET_VALUE    0x01   /* the FADT's RESET_VALUE */

/* Guest-visible state; plain data (the snapshot). */
#define ACPI_PM_STATE_VERSION 1
struct acpi_pm_state {
	uint8_t sleep_status;   /* WAK_STS only */
	uint8_t reserved[3];    /* zero */
};

struct acpi_pm {
	struct acpi_pm_state s;
	const struct device_host *host;
	uint16_t port;
	bool warned_sleep_type, warned_reset_value;   /* a misbehaving guest is reported once */
};

/* Registers ports [port, port + ACPI_PM_PORTS) on host->pio. */
int acpi_pm_init(struct acpi_pm *pm, const struct device_host *host, uint16_t port, struct vmon_error *err);

/*
 * The device model (kind "acpi-pm", state struct acpi_pm_state): reset clears
 * WAK_STS; restore refuses any other bit and non-zero reserved bytes. No
 * activity of its own. Accesses are safe from several vCPUs at once (the one
 * mutable byte changes atomically).
 */
extern const struct device_ops acpi_pm_device_ops;
/* Its bus resources: ports [port, port + ACPI_PM_PORTS). Returns 1. */
unsigned acpi_pm_resources(const struct acpi_pm *pm, struct device_resource res[DEVICE_MAX_RESOURCES]);

/* io_access_fn for the block. Only byte-wide registers: wider accesses act on the first byte. */
void acpi_pm_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

#endif
