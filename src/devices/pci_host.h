/* SPDX-License-Identifier: MIT */
#ifndef VMON_PCI_HOST_H
#define VMON_PCI_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"
#include "base/io_bus.h"
#include "devices/device.h"

/*
 * A PCI host bridge with one bus (bus 0), as a PCIe root complex's
 * configuration mechanisms present it (PCI Local Bus 3.0 ch. 6, PCIe 4.0
 * §7.2):
 *
 *  - ECAM (MMCONFIG): 4 KiB per function at ecam_base + (dev << 15 | fn << 12),
 *    described to the guest by the ACPI MCFG table; only bus 0 (1 MiB);
 *  - configuration mechanism #1: the address register at 0xcf8 (dword
 *    accesses only; bit 31 enables, bus 23:16, device 15:11, function 10:8,
 *    register 7:2) and the data window 0xcfc-0xcff (1, 2 or 4 bytes, not
 *    crossing the dword).
 *
 * 00:00.0 is the host bridge itself (class 06 00 00), vendor 0x1b36 (Red Hat's
 * range for virtual hardware) device 0x0008 — the ID QEMU's generic PCIe host
 * bridge uses, which Linux attaches no quirk to. Other functions (devices
 * 1..31, function 0) are registered with a struct pci_function.
 *
 * Config space: 256 bytes per function (header + capabilities); the rest of
 * an ECAM function's 4 KiB reads 0 (no extended capabilities), absent
 * functions read all ones, and writes there are dropped. Every byte's
 * writability is the function's wmask (read-only fields stay read-only) and
 * w1c (write-1-to-clear, the status register's error bits). Accesses must be
 * naturally aligned 1, 2 or 4 bytes (anything else reads all ones, writes are
 * dropped, logged once): every offset and size is checked in one place.
 *
 * BARs: 32-bit or 64-bit memory BARs of a power-of-2 size >= 16 bytes,
 * sized the standard way (a write of all ones reads back the size mask,
 * enforced by wmask). A BAR is decoded only while the function's Memory
 * Space Enable bit is set and its address lies wholly inside the PCI memory
 * window [mmio_base, mmio_end) the host bridge owns on the MMIO bus and
 * overlaps no other decoded BAR, guest RAM or the ECAM window; otherwise it is
 * not mapped (logged once per function and reason) and the VM keeps running.
 * The bus never changes while vCPUs run (base/io_bus.h): the host bridge
 * registers its whole window once and dispatches inside it; a BAR that moves
 * is announced to its function (bar_mapped) so that it can move what KVM
 * decodes itself (ioeventfds).
 *
 * Interrupts: functions have no INTx pin (Interrupt Pin 0); vmon's functions
 * interrupt through MSI-X only, so Linux needs no _PRT.
 *
 * Locking: h->lock (a rwlock) — config accesses and BAR changes take it for
 * writing, BAR accesses for reading; a function's callbacks run with it held
 * and may take their own device lock (the order is always host, then device).
 */

#define PCI_CONFIG_SIZE 256u
#define PCI_ECAM_FUNCTION_SIZE 4096u
#define PCI_MAX_DEVICES 32u
#define PCI_NUM_BARS 6u

#define PCI_HOST_VENDOR_ID 0x1b36
#define PCI_HOST_DEVICE_ID 0x0008

struct pci_function;

struct pci_function_ops {
	/*
	 * Optional: before a config read of [offset, offset + size), so the
	 * function can refresh bytes that are not plain storage.
	 */
	void (*config_read)(void *dev, struct pci_function *f, uint32_t offset, unsigned size);
	/* Optional: after a config write of [offset, offset + size) was applied through the masks. */
	void (*config_write)(void *dev, struct pci_function *f, uint32_t offset, unsigned size);
	/* BAR `bar` is now decoded at addr (mapped) or no longer decoded (mapped false). Optional. */
	void (*bar_mapped)(void *dev, unsigned bar, uint64_t addr, bool mapped);
	/* An access inside BAR `bar`, [offset, offset + size) within its size; size 1, 2, 4 or 8. */
	void (*bar_access)(void *dev, unsigned bar, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
};

/* Why a BAR is not decoded (logged once per function and reason). */
enum pci_bar_refusal {
	PCI_BAR_OUTSIDE_WINDOW = 1u << 0,
	PCI_BAR_OVER_RAM = 1u << 1,
	PCI_BAR_OVER_ECAM = 1u << 2,
	PCI_BAR_OVERLAP = 1u << 3,
	PCI_BAR_WRAPS = 1u << 4,
};

struct pci_function {
	/* Guest-visible: config space and what each byte's bits allow (set by the function before registering). */
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];
	uint8_t w1cmask[PCI_CONFIG_SIZE];
	uint64_t bar_size[PCI_NUM_BARS];     /* 0: no BAR (the upper half of a 64-bit BAR is 0 too) */
	bool bar_64[PCI_NUM_BARS];

	/* Host side. */
	const struct pci_function_ops *ops;
	void *dev;
	const char *name;
	unsigned devfn;                      /* device << 3 | function */
	bool bar_decoded[PCI_NUM_BARS];
	uint64_t bar_addr[PCI_NUM_BARS];     /* where it is decoded, when bar_decoded */
	uint32_t refusals_logged;            /* enum pci_bar_refusal bits */
};

struct pci_host {
	pthread_rwlock_t lock;
	bool lock_ready;
	const struct guest_mem *mem;         /* RAM a BAR may not cover */
	uint64_t ecam_base;
	uint64_t mmio_base, mmio_end;        /* the PCI memory window */
	uint32_t config_address;             /* the 0xcf8 register */
	uint32_t logged;
	struct pci_function bridge;          /* 00:00.0 */
	struct pci_function *functions[PCI_MAX_DEVICES]; /* by device number, function 0 only; [0] = &bridge */
	_Atomic uint64_t config_accesses;    /* both mechanisms, for --stats */
};

/*
 * Sets up the host bridge with its configuration mechanisms and memory
 * window. Nothing is on a bus yet: see pci_host_attach.
 */
int pci_host_init(struct pci_host *h, const struct guest_mem *mem, uint64_t ecam_base, uint64_t mmio_base,
		  uint64_t mmio_end, struct vmon_error *err);
/* Registers the ECAM window and the PCI window on mmio, ports 0xcf8-0xcff on pio. */
int pci_host_attach(struct pci_host *h, struct io_bus *pio, struct io_bus *mmio, uint16_t config_port,
		    struct vmon_error *err);
void pci_host_destroy(struct pci_host *h);

/*
 * Puts f (config space, masks and BAR sizes filled in) at 00:dev.0; dev 1..31.
 * Its BARs are decoded at once if the config space says so. 0, -EEXIST, -EINVAL.
 */
int pci_host_add_function(struct pci_host *h, unsigned dev, struct pci_function *f, struct vmon_error *err);

/*
 * Re-derives every BAR's decoding from the config space (after a restore
 * rewrote it): takes the lock. Announces changes to the functions.
 */
void pci_host_update_bars(struct pci_host *h);

/* ---- helpers for functions filling their config space -------------------- */

void pci_config_set8(struct pci_function *f, uint32_t off, uint8_t v);
void pci_config_set16(struct pci_function *f, uint32_t off, uint16_t v);
void pci_config_set32(struct pci_function *f, uint32_t off, uint32_t v);
uint16_t pci_config_get16(const struct pci_function *f, uint32_t off);
uint32_t pci_config_get32(const struct pci_function *f, uint32_t off);
/* Writable bits of [off, off + 2/4). */
void pci_wmask_set16(struct pci_function *f, uint32_t off, uint16_t mask);
void pci_wmask_set32(struct pci_function *f, uint32_t off, uint32_t mask);

/*
 * A type 0 header: ids, class (base << 16 | sub << 8 | prog-if), revision,
 * subsystem ids; Command writable for Memory Space, Bus Master and INTx
 * Disable; Status with the capability-list bit when caps, and its error bits
 * write-1-to-clear; Interrupt Line writable, Interrupt Pin 0.
 */
void pci_function_init_header(struct pci_function *f, uint16_t vendor, uint16_t device, uint32_t class_code,
			      uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/* BAR i: a memory BAR of `size` bytes (a power of 2 >= 16) at addr; 64-bit takes BAR i + 1 too. */
void pci_function_set_bar(struct pci_function *f, unsigned i, uint64_t size, bool is_64, uint64_t addr);

/* Config access through ECAM-style addressing (for tests and the fuzzer): offset into the ECAM window. */
void pci_host_ecam_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
/* The 0xcf8-0xcff ports; offset from 0xcf8. */
void pci_host_port_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
/* The PCI memory window; offset from mmio_base. */
void pci_host_window_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* ---- state ------------------------------------------------------------------ */

#define PCI_HOST_STATE_VERSION 1u

/* The host bridge's own state: the 0xcf8 register and its config space. Functions save theirs. */
struct pci_host_state {
	uint32_t config_address;
	uint32_t reserved;               /* 0 */
	uint8_t bridge_config[PCI_CONFIG_SIZE];
};

/* The registry's view of the host bridge ("pci-host"). */
extern const struct device_ops pci_host_device_ops;

/*
 * Checks a function's saved config space against f's read-only bytes (what a
 * restore may not change: ids, class, capability layout), then loads it.
 * Caller re-derives the BARs (pci_host_update_bars). 0 or -EINVAL naming the byte.
 */
int pci_function_restore_config(struct pci_function *f, const uint8_t config[PCI_CONFIG_SIZE],
				struct vmon_error *err);

#endif
