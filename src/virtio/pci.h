/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_PCI_H
#define VMON_VIRTIO_PCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/event_loop.h"
#include "devices/device.h"
#include "devices/pci_host.h"
#include "virtio/core.h"
#include "virtio/device.h"

/*
 * virtio-pci, modern only (virtio 1.2 §4.1): vendor 0x1af4, device
 * 0x1040 + device id, revision 1 (no legacy interface), subsystem 0x1af4:0x1100.
 *
 * One 64-bit memory BAR (BAR 0, VIRTIO_PCI_BAR_SIZE bytes) holds everything,
 * a page per structure, each announced by a vendor capability
 * (linux/virtio_pci.h):
 *
 *   0x0000 common configuration (struct virtio_pci_common_cfg)
 *   0x1000 ISR status (read to clear)
 *   0x2000 device-specific configuration (absent when the model has none)
 *   0x3000 notifications: queue q at 0x3000 + 4 q (notify_off_multiplier 4); a
 *          KVM ioeventfd per queue signals the queue's eventfd without an
 *          exit to vmon (2-byte writes of q, what Linux writes), other writes
 *          exit and are signalled here
 *   0x4000 MSI-X table, 0x5000 MSI-X PBA
 *
 * plus the PCI configuration access capability (VIRTIO_PCI_CAP_PCI_CFG: a
 * window into the BAR through config space).
 *
 * Interrupts are MSI-X only (no INTx pin): one vector per queue and one for
 * configuration changes at most (num_queues + 1). Each vector has a GSI of
 * its own with an irqfd; its KVM route is (re)programmed from the table
 * entry when it fires and the entry changed since (device_host
 * set_msi_route). A masked vector (entry or function mask) sets its PBA bit
 * and fires when unmasked. Vectors the driver asks for beyond the table read
 * back VIRTIO_MSI_NO_VECTOR (how Linux learns of the refusal). A message to
 * an address outside the LAPIC range (0xfeexxxxx) is dropped, logged once.
 *
 * Decoding only: what the registers mean is the core's (virtio/core.c), as
 * for virtio-mmio. The transport does not own the struct virtio_dev: the
 * caller gives it (so a model can be created on it before the transport is
 * chosen).
 */

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_ID 0x1100
#define VIRTIO_PCI_BAR_SIZE 0x8000u
#define VIRTIO_PCI_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

#define VIRTIO_PCI_COMMON_OFFSET 0x0000u
#define VIRTIO_PCI_ISR_OFFSET 0x1000u
#define VIRTIO_PCI_DEVICE_OFFSET 0x2000u
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000u
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4u
#define VIRTIO_PCI_MSIX_TABLE_OFFSET 0x4000u
#define VIRTIO_PCI_MSIX_PBA_OFFSET 0x5000u

/* Capability offsets in config space. */
#define VIRTIO_PCI_CAP_MSIX_AT 0x40u
#define VIRTIO_PCI_CAP_COMMON_AT 0x4cu
#define VIRTIO_PCI_CAP_ISR_AT 0x5cu
#define VIRTIO_PCI_CAP_DEVICE_AT 0x6cu
#define VIRTIO_PCI_CAP_NOTIFY_AT 0x7cu
#define VIRTIO_PCI_CAP_PCICFG_AT 0x90u

struct virtio_pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;   /* ctrl bit 0: masked */
};

struct virtio_pci {
	struct virtio_dev *vdev;                 /* the device (the caller's storage) */
	struct pci_function fn;                  /* config space: the PCI host reads and writes it */
	const struct device_host *host;
	struct pci_host *bus;
	struct event_loop *loop;
	unsigned devnum;                         /* 00:devnum.0 */
	unsigned nvectors;                       /* MSI-X table size: num_queues + 1 */
	uint8_t power_on_config[PCI_CONFIG_SIZE];

	/* Guest-visible, saved (struct virtio_pci_state); under vdev->lock. */
	struct virtio_pci_msix_entry msix[VIRTIO_PCI_MAX_VECTORS];
	uint32_t pba;
	uint16_t msix_config;                    /* the config-change vector */
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	bool msix_enabled, msix_function_masked; /* mirrors of the capability's Message Control */

	/* Host side. */
	int gsi[VIRTIO_PCI_MAX_VECTORS];
	int irq_fd[VIRTIO_PCI_MAX_VECTORS];
	bool routed[VIRTIO_PCI_MAX_VECTORS];     /* KVM's route for gsi holds routed_addr/data */
	uint64_t routed_addr[VIRTIO_PCI_MAX_VECTORS];
	uint32_t routed_data[VIRTIO_PCI_MAX_VECTORS];
	int notify_fd[VIRTIO_MAX_QUEUES];
	bool bar_mapped;                         /* under the PCI host's lock */
	uint64_t bar_addr;
	bool ioeventfd;                          /* notifications bypass vmon at bar_addr */
	bool ioeventfd_failed;
	bool ready;
	uint32_t logged;
	char name[24];

	_Atomic uint64_t notifies;
	_Atomic uint64_t interrupts;
	_Atomic uint64_t ignored_notifies;
	_Atomic uint64_t masked_interrupts;      /* held in the PBA */
};

/*
 * Initialises vdev with the model, builds the function's config space, its
 * vectors (GSIs, irqfds) and queue eventfds on `loop`, and puts it at
 * 00:devnum.0 of bus with BAR 0 at bar_addr (decoded once the guest enables
 * memory space). The host must offer irqfds and MSI routes.
 */
int virtio_pci_init(struct virtio_pci *p, struct virtio_dev *vdev, const struct device_host *host,
		    struct pci_host *bus, unsigned devnum, struct event_loop *loop, uint64_t bar_addr,
		    const struct virtio_device_ops *ops, void *model, struct vmon_error *err);
/* Undoes init (after the loop stopped and the vCPUs are gone); safe twice and after a failed init. */
void virtio_pci_destroy(struct virtio_pci *p);

/* The BAR's accesses (for tests): offset into BAR 0. */
void virtio_pci_bar_access(void *dev, unsigned bar, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* ---- state --------------------------------------------------------------------- */

#define VIRTIO_PCI_STATE_VERSION 1u

struct virtio_pci_state {
	uint8_t config[PCI_CONFIG_SIZE];
	struct virtio_pci_msix_entry msix[VIRTIO_PCI_MAX_VECTORS];
	uint32_t pba;
	uint16_t nvectors;                       /* checked: the same table */
	uint16_t msix_config;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint32_t reserved;                       /* 0 */
};

/*
 * The registry's view of the transport ("virtio-pci"; dev: struct
 * virtio_pci). Register it before the model's section so a restore loads
 * the vectors before the core re-sends what is owed. Restore re-derives the
 * BAR's decoding (ioeventfds) and reprograms routes on the next interrupt.
 */
extern const struct device_ops virtio_pci_device_ops;

#endif
