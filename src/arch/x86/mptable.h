/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_MPTABLE_H
#define VMON_X86_MPTABLE_H

#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Intel MultiProcessor Specification 1.4 tables: the floating pointer at the
 * start of the EBDA (0x9fc00, where Linux looks: "last KB of base memory")
 * and the configuration table it points at in the BIOS area at 0xf0000 (the
 * EBDA's first KB holds 40 CPUs; the spec lets the table live anywhere), both
 * inside the e820-reserved 640K-1M hole. They tell the guest about the CPUs'
 * LAPICs, the IOAPIC and how ISA IRQs reach it. Without them (and without
 * ACPI) Linux runs in "virtual wire, no configuration" mode: no IOAPIC, no
 * LAPIC timer, every tick through the 8259 — which under nested KVM could
 * leave the PIT's interrupt pending forever (docs/LINUX.md).
 */
#define MPTABLE_ADDR 0x9fc00ull
#define MPTABLE_MAX_SIZE 0x10ull           /* the floating pointer */
#define MPTABLE_CONFIG_ADDR 0xf0000ull
#define MPTABLE_CONFIG_MAX_SIZE 0x10000ull /* up to the end of the BIOS area */

/* Writes the tables for ncpus CPUs (APIC IDs 0..ncpus-1; CPU 0 boots). */
int mptable_write(struct guest_mem *mem, unsigned ncpus, struct vmon_error *err);

/* The largest ncpus the tables describe: 8-bit APIC IDs, the IOAPIC's after the CPUs' (254). */
unsigned mptable_max_cpus(void);

#endif
