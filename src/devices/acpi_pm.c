/* SPDX-License-Identifier: MIT */
#include "devices/acpi_pm.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"

static void sleep_control_write(struct acpi_pm *pm, uint8_t v)
{
	unsigned type = (v & ACPI_PM_SLP_TYP_MASK) >> ACPI_PM_SLP_TYP_SHIFT;

	if (!(v & ACPI_PM_SLP_EN))
		return;   /* SLP_TYP alone does nothing until SLP_EN */
	if (type == ACPI_PM_SLP_TYP_S5) {
		device_request_stop(pm->host, VM_STOP_POWER_OFF, 0);   /* a clean power-off: exit status 0 */
		return;
	}
	if (!pm->warned_sleep_type)
		log_warn("acpi-pm: the guest asked for sleep type %u, which vmon does not offer (only S5 = %u); "
			 "waking it at once (reported once)", type, ACPI_PM_SLP_TYP_S5);
	pm->warned_sleep_type = true;
	__atomic_fetch_or(&pm->s.sleep_status, ACPI_PM_WAK_STS, __ATOMIC_SEQ_CST);
}

void acpi_pm_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct acpi_pm *pm = dev;

	if (size == 0)
		return;
	if (!is_write) {
		memset(data, 0, size);
		/* The control and reset registers read as 0 (write-only in effect). */
		if (offset == ACPI_PM_SLEEP_STATUS)
			data[0] = __atomic_load_n(&pm->s.sleep_status, __ATOMIC_SEQ_CST);
		return;
	}
	switch (offset) {
	case ACPI_PM_SLEEP_CONTROL:
		sleep_control_write(pm, data[0]);
		break;
	case ACPI_PM_SLEEP_STATUS:
		__atomic_fetch_and(&pm->s.sleep_status, (uint8_t)~(data[0] & ACPI_PM_WAK_STS), __ATOMIC_SEQ_CST);   /* write 1 to clear */
		break;
	case ACPI_PM_RESET:
		if (data[0] == ACPI_PM_RESET_VALUE)
			device_request_stop(pm->host, VM_STOP_RESET, 0);
		else if (!pm->warned_reset_value)
			log_warn("acpi-pm: reset register written with 0x%02x, not the FADT's RESET_VALUE 0x%02x; "
				 "ignored (reported once)", data[0], ACPI_PM_RESET_VALUE);
		pm->warned_reset_value |= data[0] != ACPI_PM_RESET_VALUE;
		break;
	}
}

int acpi_pm_init(struct acpi_pm *pm, const struct device_host *host, uint16_t port, struct vmon_error *err)
{
	if ((unsigned)port + ACPI_PM_PORTS > 0x10000)
		return error_set(err, -EINVAL, "acpi-pm: ports 0x%x + %u run past 0xffff", port, ACPI_PM_PORTS);
	memset(pm, 0, sizeof(*pm));
	pm->host = host;
	pm->port = port;
	return io_bus_register(host->pio, port, ACPI_PM_PORTS, "acpi-pm", acpi_pm_access, pm, err);
}

static void acpi_pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;

	__atomic_store_n(&pm->s.sleep_status, 0, __ATOMIC_SEQ_CST);
}

static void acpi_pm_save(void *dev, void *state)
{
	const struct acpi_pm *pm = dev;
	struct acpi_pm_state s = { .sleep_status = __atomic_load_n(&pm->s.sleep_status, __ATOMIC_SEQ_CST) };

	memcpy(state, &s, sizeof(s));
}

static int acpi_pm_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct acpi_pm *pm = dev;
	struct acpi_pm_state s;

	memcpy(&s, state, sizeof(s));
	if (s.sleep_status & ~ACPI_PM_WAK_STS)
		return error_set(err, -EINVAL, "acpi-pm state: sleep_status 0x%02x has bits other than WAK_STS",
				 s.sleep_status);
	for (size_t i = 0; i < sizeof(s.reserved); i++)
		if (s.reserved[i])
			return error_set(err, -EINVAL, "acpi-pm state: reserved[%zu] is 0x%02x, not 0", i, s.reserved[i]);
	__atomic_store_n(&pm->s.sleep_status, s.sleep_status, __ATOMIC_SEQ_CST);
	return 0;
}

const struct device_ops acpi_pm_device_ops = {
	.kind = "acpi-pm",
	.state_version = ACPI_PM_STATE_VERSION,
	.state_size = sizeof(struct acpi_pm_state),
	.reset = acpi_pm_reset,
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
};

unsigned acpi_pm_resources(const struct acpi_pm *pm, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	res[0] = (struct device_resource){ DEVICE_RES_PIO, pm->port, ACPI_PM_PORTS };
	return 1;
}
