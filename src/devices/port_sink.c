/* SPDX-License-Identifier: MIT */
#include "devices/port_sink.h"

#include <errno.h>
#include <string.h>

static const struct port_sink_range ranges[] = {
	{ 0x080, 1, "post", "POST code port; Linux's default io_delay writes it (outb 0x80)" },
	{ 0x081, 15, "dma-page", "DMA page registers 0x81-0x8f (0x87: channel 0); ISA DMA setup, no DMA controller here" },
	{ 0x0ed, 1, "io-delay", "alternative I/O delay port (io_delay=0xed)" },
	{ 0x0f0, 2, "fpu-error", "0xf0 clears the FPU busy latch, 0xf1 resets the coprocessor (IRQ 13 era)" },
	{ 0x2e8, 8, "com4", "absent COM4: the 8250 driver probes it, all ones reads as no UART" },
	{ 0x2f8, 8, "com2", "absent COM2: probed by the 8250 driver" },
	{ 0x378, 3, "lpt1", "absent parallel port: parport_pc probes data/status/control" },
	{ 0x3b0, 0x30, "vga", "VGA/MDA/CGA registers 0x3b0-0x3df: vgacon and the boot code probe for a display" },
	{ 0x3e8, 8, "com3", "absent COM3: probed by the 8250 driver" },
	{ 0xcf8, 8, "pci-config", "PCI configuration mechanism 1/2: no PCI bus, config reads are all ones" },
};

static bool skipped(const struct port_sink *ps, const struct port_sink_range *r)
{
	return ps->without_pci_config && r->base == 0xcf8;
}

const struct port_sink_range *port_sink_ranges(size_t *count)
{
	*count = sizeof(ranges) / sizeof(ranges[0]);
	return ranges;
}

void port_sink_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	(void)dev;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, size);
}

int port_sink_init(struct port_sink *ps, const struct device_host *host, struct vmon_error *err)
{
	ps->host = host;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (skipped(ps, &ranges[i]))
			continue;
		int ret = io_bus_register(host->pio, ranges[i].base, ranges[i].len, ranges[i].name, port_sink_access,
					  ps, err);
		if (ret)
			return ret;
	}
	return 0;
}

unsigned port_sink_resources(const struct port_sink *ps, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	unsigned n = 0;

	_Static_assert(sizeof(ranges) / sizeof(ranges[0]) <= DEVICE_MAX_RESOURCES, "port sink ranges fit a device");
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (!skipped(ps, &ranges[i]))
			res[n++] = (struct device_resource){ DEVICE_RES_PIO, ranges[i].base, ranges[i].len };
	return n;
}

/* ---- device model ----------------------------------------------------------- */

static void port_sink_reset(void *dev)
{
	(void)dev; /* nothing the guest can observe */
}

static void port_sink_save(void *dev, void *state)
{
	(void)dev;
	memset(state, 0, sizeof(struct port_sink_state));
}

static int port_sink_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct port_sink_state s;

	(void)dev;
	memcpy(&s, state, sizeof(s));
	if (s.reserved)
		return error_set(err, -EINVAL, "port-sink state: reserved is 0x%x, not 0", s.reserved);
	return 0;
}

const struct device_ops port_sink_device_ops = {
	.kind = "port-sink",
	.state_version = PORT_SINK_STATE_VERSION,
	.state_size = sizeof(struct port_sink_state),
	.reset = port_sink_reset,
	.save = port_sink_save,
	.restore = port_sink_restore,
};
