/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_CPU_STATE_H
#define VMON_X86_CPU_STATE_H

#include <linux/kvm.h>
#include <stddef.h>

#include "arch/x86/boot.h"
#include "base/guest_mem.h"

/*
 * The architectural state a vCPU starts in, computed as plain KVM structs so
 * it can be checked without KVM: the boot GDT and identity page tables in
 * guest memory, segment/control registers for 64-bit Linux or 32-bit PVH
 * entry, general registers, MSR defaults and the LAPIC's LINT0/LINT1 wiring.
 */

/* GDT selectors (the Linux 64-bit boot protocol wants __BOOT_CS 0x10, __BOOT_DS 0x18). */
#define X86_BOOT_SEL_CODE32 0x08
#define X86_BOOT_SEL_CODE64 0x10
#define X86_BOOT_SEL_DATA   0x18
#define X86_BOOT_SEL_TSS    0x20

#define X86_BOOT_STACK_TOP  0x8ff0ull  /* scratch stack in the page after the zero page */

/* MSR indices (SDM vol. 4) vmon sets at boot or reads for the syscall repair. */
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

/* Writes the boot GDT and identity page tables (4 GiB, 2 MiB pages) into guest memory. */
int x86_write_boot_tables(struct guest_mem *mem, struct vmon_error *err);

/* Fills sregs (starting from KVM's reset values in *sregs) for the entry mode. */
void x86_boot_sregs(struct kvm_sregs *sregs, enum boot_entry_mode mode);

/* General registers at entry: RIP, RSI/EBX boot info, RFLAGS. */
void x86_boot_regs(struct kvm_regs *regs, const struct boot_result *boot);

/* MSRs a vCPU starts with; returns the number written into entries (at most max). */
size_t x86_boot_msrs(struct kvm_msr_entry *entries, size_t max);

/* LVT LINT0 = ExtINT (the 8259 PIC output), LINT1 = NMI, as a PC's BIOS leaves them. */
void x86_lapic_wire_lints(struct kvm_lapic_state *lapic);

/* Register offsets inside struct kvm_lapic_state.regs (the LAPIC register page). */
#define X86_APIC_LVT_LINT0 0x350
#define X86_APIC_LVT_LINT1 0x360
#define X86_APIC_DM_EXTINT (7u << 8)
#define X86_APIC_DM_NMI    (4u << 8)
#define X86_APIC_LVT_MASKED (1u << 16)

#endif
