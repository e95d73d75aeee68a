/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_DEVICES_H
#define VMON_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "arch/x86/layout.h"
#include "devices/device.h"
#include "devices/registry.h"
#include "devices/pci_host.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "vmm/config.h"
#include "vmm/resources.h"
#include "base/event_loop.h"

/*
 * The VM's virtio devices, built from the config in a fixed order — drives,
 * network devices, rng, console, balloon — each with an MMIO window and an interrupt
 * line from the machine's resource allocator and a registry name KIND<n>
 * ("virtio-blk0"), and the I/O thread that serves them.
 *
 * Two steps, so that a bad image or socket is reported (exit status 2)
 * before KVM is touched, like a bad kernel: open the backends, then (once the
 * VM exists) plug each into its virtio-mmio transport.
 */
struct virtio_slot {
	const char *kind;                       /* "virtio-blk", ... */
	char name[24];                          /* in the registry: "virtio-blk0", ... */
	const struct virtio_device_ops *ops;
	void *model;
	void (*stop_model)(void *model);        /* NULL, or stops threads that call into the transport */
	void (*destroy_model)(void *model);
	enum virtio_transport_kind transport_kind;  /* MMIO or PCI */
	uint64_t base;                          /* MMIO: the window; PCI: BAR 0's initial address */
	unsigned gsi;                           /* MMIO only */
	unsigned pci_dev;                       /* PCI only: 00:pci_dev.0 */
	bool attached;
	/*
	 * The device (transport.vdev: models are created on it) and, for MMIO,
	 * its transport; a PCI slot uses only transport.vdev, its transport is pci.
	 */
	struct virtio_transport transport;
	struct virtio_pci pci;
};

struct virtio_devices {
	unsigned count;
	unsigned pci_count;                     /* slots on PCI: the machine then has a PCI host bridge */
	struct pci_host pci_host;
	bool pci_host_ready;
	struct virtio_slot slots[X86_VIRTIO_MAX_DEVICES];
	struct event_loop loop;                 /* the device I/O thread */
	struct resources *resources;            /* the machine's allocator (borrowed) */
	const struct vm_config *cfg;            /* borrowed: the transports chosen */
	bool loop_ready;
};

/* Opens every backend the config names (images, TAP, slirp, sockets). */
int virtio_devices_open(struct virtio_devices *d, const struct vm_config *cfg, struct resources *pool,
			struct vmon_error *err);

/* The balloon (virtio/balloon.h), or NULL when the VM has none. */
struct virtio_balloon *virtio_devices_balloon(const struct virtio_devices *d);

/* Linux's virtio_mmio.device= words for the MMIO devices, space-separated, into buf ("" when none). */
int virtio_devices_linux_args(const struct virtio_devices *d, char *buf, size_t size);

/*
 * Plugs each device into its transport (virtio-mmio, or virtio-pci behind the
 * PCI host bridge, which comes first in reg) on the VM's buses, interrupts
 * and memory, and into reg.
 */
int virtio_devices_attach(struct virtio_devices *d, const struct device_host *host, struct device_registry *reg,
			  struct vmon_error *err);

/* Counters of slot i's transport, whichever it is. */
static inline uint64_t virtio_slot_notifies(const struct virtio_slot *slot)
{
	return slot->transport_kind == VIRTIO_TRANSPORT_PCI ? slot->pci.notifies : slot->transport.notifies;
}

static inline uint64_t virtio_slot_interrupts(const struct virtio_slot *slot)
{
	return slot->transport_kind == VIRTIO_TRANSPORT_PCI ? slot->pci.interrupts : slot->transport.interrupts;
}

static inline uint64_t virtio_slot_ignored_notifies(const struct virtio_slot *slot)
{
	return slot->transport_kind == VIRTIO_TRANSPORT_PCI ? slot->pci.ignored_notifies
							     : slot->transport.ignored_notifies;
}

static inline bool virtio_slot_ioeventfd(const struct virtio_slot *slot)
{
	return slot->transport_kind == VIRTIO_TRANSPORT_PCI ? slot->pci.ioeventfd : slot->transport.ioeventfd;
}

/* Starts / stops the I/O thread (stop before the transports go away). */
int virtio_devices_start(struct virtio_devices *d, struct vmon_error *err);
void virtio_devices_stop(struct virtio_devices *d);

/* Detaches the transports (call while the VM fd is still open). */
void virtio_devices_detach(struct virtio_devices *d);
/* Closes the backends; safe on a zeroed or partly opened struct. */
void virtio_devices_close(struct virtio_devices *d);

#endif
