/* SPDX-License-Identifier: MIT */
#include "devices/debug_exit.h"

#include <errno.h>
#include <string.h>

void debug_exit_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct debug_exit *d = dev;
	uint32_t value = 0;

	(void)offset; /* QEMU ignores the offset within the range too */
	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	if (size == 0 || size > 4)
		return;
	for (unsigned i = 0; i < size; i++)
		value |= (uint32_t)data[i] << (8 * i);
	/*
	 * The full 32-bit (v << 1) | 1 goes into the request; the OS keeps only
	 * the low 8 bits of a process exit status, as with QEMU.
	 */
	device_request_stop(d->host, VM_STOP_DEBUG_EXIT, debug_exit_status(value));
}

int debug_exit_init(struct debug_exit *d, const struct device_host *host, uint16_t port, unsigned iosize,
		    struct vmon_error *err)
{
	if (iosize < 1 || iosize > 4)
		return error_set(err, -EINVAL, "debug-exit: I/O size %u is not 1 to 4", iosize);
	if ((unsigned)port + iosize > 0x10000)
		return error_set(err, -EINVAL, "debug-exit: port 0x%x + %u runs past 0xffff", port, iosize);
	d->host = host;
	d->port = port;
	d->iosize = iosize;
	return io_bus_register(host->pio, port, iosize, "debug-exit", debug_exit_access, d, err);
}

unsigned debug_exit_resources(const struct debug_exit *d, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	res[0] = (struct device_resource){ DEVICE_RES_PIO, d->port, d->iosize };
	return 1;
}

/* ---- device model ----------------------------------------------------------- */

static void debug_exit_reset(void *dev)
{
	(void)dev; /* nothing the guest can observe */
}

static void debug_exit_save(void *dev, void *state)
{
	(void)dev;
	memset(state, 0, sizeof(struct debug_exit_state));
}

static int debug_exit_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct debug_exit_state s;

	(void)dev;
	memcpy(&s, state, sizeof(s));
	if (s.reserved)
		return error_set(err, -EINVAL, "debug-exit state: reserved is 0x%x, not 0", s.reserved);
	return 0;
}

const struct device_ops debug_exit_device_ops = {
	.kind = "debug-exit",
	.state_version = DEBUG_EXIT_STATE_VERSION,
	.state_size = sizeof(struct debug_exit_state),
	.reset = debug_exit_reset,
	.save = debug_exit_save,
	.restore = debug_exit_restore,
};
