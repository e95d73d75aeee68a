/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_ACPI_H
#define VMON_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"

/*
 * ACPI tables describing a vmon x86 machine (ACPI 6.3): RSDP -> XSDT ->
 * FADT (-> DSDT) and MADT, written into the BIOS area at X86_ACPI_ADDR where
 * Linux finds the RSDP by scanning 0xE0000-0xFFFFF (and through
 * boot_params.acpi_rsdp_addr / PVH rsdp_paddr, which vmon also sets).
 *
 * With a PCI bus (has_pci) the XSDT also lists an MCFG table (ECAM of bus 0)
 * and the DSDT has \_SB.PCI0 (PNP0A08, _CRS: bus 0, ports 0xcf8-0xcff, the
 * memory window) without _PRT: vmon's PCI functions have no INTx pin and
 * interrupt through MSI-X, which the FADT then no longer rules out.
 *
 * The platform is hardware-reduced ACPI (FADT flag HW_REDUCED_ACPI): no
 * PM1 event/control blocks, no SCI, no PM timer, no FACS. Power-off and
 * reset go through three byte registers (devices/acpi_pm.h) that the FADT's
 * SLEEP_CONTROL_REG / SLEEP_STATUS_REG / RESET_REG point at. Why: it is the
 * least to emulate — the classic PM1 model needs status/enable registers with
 * write-1-to-clear bits, the SCI_EN handshake and an SCI line, and all 16 ISA
 * IRQs are already taken by vmon's devices — and it is the model Firecracker
 * and Cloud Hypervisor give Linux on KVM.
 *
 * Interrupts: ISA IRQ n reaches IOAPIC pin (GSI) n, as in the MP table and
 * KVM's default GSI routing (the PIT raises GSI 0, which KVM sends to pin 0).
 * That is ACPI's default for ISA IRQs, so the MADT has no Interrupt Source
 * Override: QEMU's IRQ0 -> GSI2 override reflects QEMU's own routing and
 * would send Linux's timer to the wrong pin here.
 *
 * Everything here is pure: acpi_build() fills a buffer from a plain
 * description of the machine, so the tables are unit-tested byte for byte and
 * checked with ACPICA's iasl.
 */

#define ACPI_MAX_CPUS 1024          /* x2APIC entries beyond APIC ID 254 */
#define ACPI_MAX_ISA_DEVICES 8
#define ACPI_MAX_MMIO_DEVICES 16

struct acpi_io_range {
	uint16_t base;
	uint8_t len;
};

/* A legacy device on the ISA bus: its PNP ID, ports and IRQ. */
struct acpi_isa_device {
	const char *name;               /* ACPI NameSeg, 1-4 characters: "COM1" */
	const char *hid;                /* EISA ID: "PNP0501" */
	unsigned nio;
	struct acpi_io_range io[2];
	int irq;                        /* ISA IRQ 0-15, or -1 for none */
};

/* A memory-mapped device with one interrupt (virtio-mmio). */
struct acpi_mmio_device {
	const char *hid;                /* _HID string: "LNRO0005" (Linux's virtio-mmio ACPI ID) */
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
};

/* A PCI host bridge (bus 0 only): MCFG entry and \_SB.PCI0. */
struct acpi_pci_host {
	uint64_t ecam_base;             /* bus 0's ECAM (1 MiB) */
	uint32_t mmio_base, mmio_end;   /* the memory window BARs live in, [base, end) below 4 GiB */
	uint16_t config_port;           /* 0xcf8: mechanism #1, 8 ports */
};

struct acpi_machine {
	unsigned ncpus;                 /* APIC IDs 0 .. ncpus-1 */
	bool has_pci;                   /* pci describes a host bridge (and MSI is then allowed) */
	struct acpi_pci_host pci;
	uint16_t pm_port;               /* the acpi_pm register block */
	unsigned nisa;
	struct acpi_isa_device isa[ACPI_MAX_ISA_DEVICES];
	unsigned nmmio;
	struct acpi_mmio_device mmio[ACPI_MAX_MMIO_DEVICES];
};

/* Guest-physical addresses of the tables acpi_build() placed. */
struct acpi_layout {
	uint64_t rsdp, xsdt, fadt, madt, dsdt;
	uint64_t mcfg;                  /* 0 without PCI */
	uint64_t end;                   /* first byte after the last table */
};

/*
 * The ISA devices every vmon x86 guest has (COM1, the i8042, the RTC, from
 * arch/x86/layout.h) and the power-management block, for ncpus CPUs; the
 * caller adds the virtio-mmio devices.
 */
void acpi_machine_x86_defaults(struct acpi_machine *m, unsigned ncpus);

/* Describes vmon's PCI host bridge (arch/x86/layout.h): MCFG, \_SB.PCI0, MSI allowed. */
void acpi_machine_add_pci_host(struct acpi_machine *m);

/* Appends a virtio-mmio device (_HID LNRO0005); -ENOSPC when the table is full. */
int acpi_machine_add_virtio_mmio(struct acpi_machine *m, uint64_t base, uint32_t size, uint32_t gsi,
				 struct vmon_error *err);

/*
 * Builds every table into buf, which the guest will see at guest-physical
 * base (16-byte aligned); the RSDP comes first, at base. Returns 0 and the
 * addresses in *out, or -EINVAL (a bad description) / -ENOSPC (cap too small).
 */
int acpi_build(const struct acpi_machine *m, uint64_t base, uint8_t *buf, size_t cap, struct acpi_layout *out,
	       struct vmon_error *err);

/* acpi_build() into guest RAM at X86_ACPI_ADDR (X86_ACPI_MAX_SIZE bytes). */
int acpi_write(struct guest_mem *mem, const struct acpi_machine *m, struct acpi_layout *out,
	       struct vmon_error *err);

/* The byte sum of a table (0 for a valid one), for checks and tests. */
uint8_t acpi_sum(const uint8_t *p, size_t len);

#endif
