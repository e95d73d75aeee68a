/* SPDX-License-Identifier: MIT */
#ifndef VMON_DEVICE_H
#define VMON_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/guest_mem.h"
#include "base/error.h"
#include "base/io_bus.h"

/*
 * What a device may ask of the machine it is plugged into. Devices never see
 * struct vm: this narrow interface is all they get, so unit tests can plug a
 * device into fakes.
 */
enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_RESET,      /* guest asked for a reset (i8042 0xFE, triple fault is separate) */
	VM_STOP_POWER_OFF,  /* guest powered off */
	VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port */
	VM_STOP_USER,       /* Ctrl-A x, SIGINT, SIGTERM */
	VM_STOP_ERROR,      /* the monitor or KVM failed */
};

struct device_host {
	struct io_bus *pio;
	struct io_bus *mmio;
	/* Drive an interrupt line (GSI) to level 0 or 1. */
	void (*set_irq)(void *ctx, unsigned gsi, int level);
	/* Ask the VM to stop; exit_status is vmon's process exit status. */
	void (*request_stop)(void *ctx, enum vm_stop_reason reason, int exit_status);
	/*
	 * Optional (NULL: unavailable; devices fall back to set_irq / their own
	 * MMIO handler). add_irqfd: writing 1 to fd raises an edge on gsi (KVM
	 * irqfd). add_ioeventfd: a `len`-byte guest write of `value` to MMIO
	 * address addr signals fd without an exit to vmon (KVM ioeventfd with
	 * datamatch). Both return 0 or a negative errno.
	 */
	int (*add_irqfd)(void *ctx, unsigned gsi, int fd);
	void (*remove_irqfd)(void *ctx, unsigned gsi, int fd);
	int (*add_ioeventfd)(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd);
	void (*remove_ioeventfd)(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd);
	/*
	 * Optional (NULL: no MSI): alloc_msi_gsi hands out a GSI of its own for
	 * one MSI vector (>= 0, or a negative errno), routed nowhere until
	 * set_msi_route points it at the message (address, data) the guest
	 * programmed (KVM GSI routing; an irqfd on the GSI then delivers that
	 * message). set_msi_route returns 0 or a negative errno.
	 */
	int (*alloc_msi_gsi)(void *ctx);
	int (*set_msi_route)(void *ctx, unsigned gsi, uint64_t address, uint32_t data);
	/* Guest RAM, for devices that DMA (virtio). */
	const struct guest_mem *mem;
	void *ctx;
};

/* ---- the device model interface ------------------------------------------- */

/*
 * What every device of the machine offers the registry (src/devices/registry.h),
 * whatever it is: a legacy device (UART, i8042, RTC, ...), a virtio device
 * (independent of its transport), or one of KVM's in-kernel devices (PIC and
 * IOAPIC, PIT, kvmclock). Modelled on kvmtool's init lists and Firecracker's
 * Persist trait.
 *
 * A device's saved state is one plain struct of state_size bytes — no host
 * pointers, no fds, fixed-width fields — versioned by state_version: it is
 * what a snapshot writes. Live resources (threads, fds, mappings, backends)
 * are not part of it; a restore keeps the device's own and re-derives
 * anything computed from guest addresses.
 *
 * Calling rules: save, restore and reset run while the device is paused and
 * no vCPU runs; restore() gets state that may come from a file: it checks
 * every field before changing anything, and on error leaves the device as it
 * was and names the bad field in err.
 */
struct device_ops {
	const char *kind;            /* the model: "uart-8250", "virtio-blk", "kvm-pit" */
	uint32_t state_version;      /* bump when the state struct's layout or meaning changes */
	uint32_t state_size;         /* sizeof the state struct */

	/* Back to the power-on state (backends stay open). */
	void (*reset)(void *dev);
	/* Copies the guest-visible state into state (state_size bytes). */
	void (*save)(void *dev, void *state);
	/* Loads a state saved by save() of this kind and version. 0 or -EINVAL. */
	int (*restore)(void *dev, const void *state, struct vmon_error *err);
	/*
	 * Stop and restart the device's own activity (I/O threads' work on its
	 * queues, timers, backend input): between pause and resume it neither
	 * touches guest memory nor raises interrupts. NULL: it has none.
	 */
	void (*pause)(void *dev);
	void (*resume)(void *dev);
	/* Frees what the device holds. NULL: nothing. */
	void (*destroy)(void *dev);
};

enum device_resource_kind {
	DEVICE_RES_PIO,              /* I/O ports [base, base + len) */
	DEVICE_RES_MMIO,             /* guest-physical [base, base + len) */
	DEVICE_RES_IRQ,              /* interrupt line (GSI) base; len 1 */
};

struct device_resource {
	enum device_resource_kind kind;
	uint64_t base;
	uint64_t len;
};

#define DEVICE_NAME_MAX 24
/* The port sink claims 10 port ranges; the i8042 three ports and two lines. */
#define DEVICE_MAX_RESOURCES 12

/* One device in the registry: its instance name, model, object and bus resources. */
struct device {
	char name[DEVICE_NAME_MAX];  /* instance: "com1", "virtio-blk0", "kvm-pit" */
	const struct device_ops *ops;
	void *dev;
	unsigned nres;
	struct device_resource res[DEVICE_MAX_RESOURCES];
};

static inline void device_set_irq(const struct device_host *host, unsigned gsi, int level)
{
	host->set_irq(host->ctx, gsi, level);
}

static inline void device_request_stop(const struct device_host *host, enum vm_stop_reason reason, int status)
{
	host->request_stop(host->ctx, reason, status);
}

#endif
