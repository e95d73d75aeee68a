/* SPDX-License-Identifier: MIT */
#include "arch/x86/cpu_state.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

/* Flat descriptors: base 0, limit 4 GiB (G=1). */
#define GDT_CODE32 0x00cf9b000000ffffull
#define GDT_CODE64 0x00af9b000000ffffull
#define GDT_DATA   0x00cf93000000ffffull
#define GDT_TSS32  0x00008b0000000067ull  /* busy 32-bit TSS, base 0, limit 0x67 */

int x86_write_boot_tables(struct guest_mem *mem, struct vmon_error *err)
{
	const uint64_t gdt[] = { 0, GDT_CODE32, GDT_CODE64, GDT_DATA, GDT_TSS32 };
	uint64_t *pml4 = guest_mem_ptr(mem, X86_BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(mem, X86_BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(mem, X86_BOOT_PD_ADDR, 4 * 4096);

	if (!pml4 || !pdpt || !pd || guest_mem_write(mem, X86_BOOT_GDT_ADDR, gdt, sizeof(gdt)))
		return error_set(err, -ENOMEM, "guest memory too small for the boot tables below 64 KiB");
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (X86_BOOT_PD_ADDR + i * 4096) | PTE_P | PTE_RW;
	/* 2048 entries of 2 MiB: identity map of the first 4 GiB, MMIO hole included. */
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = code64 ? 0 : 1;
}

void x86_boot_sregs(struct kvm_sregs *sregs, enum boot_entry_mode mode)
{
	struct kvm_segment data;

	flat_segment(&data, X86_BOOT_SEL_DATA, 0x3 /* RW, accessed */, 0);
	if (mode == BOOT_ENTRY_LONG_MODE)
		flat_segment(&sregs->cs, X86_BOOT_SEL_CODE64, 0xb /* XR, accessed */, 1);
	else
		flat_segment(&sregs->cs, X86_BOOT_SEL_CODE32, 0xb, 0);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;

	memset(&sregs->tr, 0, sizeof(sregs->tr));
	sregs->tr.selector = X86_BOOT_SEL_TSS;
	sregs->tr.limit = 0x67;
	sregs->tr.type = 0xb; /* busy 32-bit TSS (also valid as a 64-bit TSS type) */
	sregs->tr.present = 1;

	sregs->gdt.base = X86_BOOT_GDT_ADDR;
	sregs->gdt.limit = 5 * 8 - 1;
	sregs->idt.base = X86_BOOT_IDT_ADDR;
	sregs->idt.limit = 0;   /* no IDT until the guest loads one: an early fault is a clean triple fault */

	sregs->cr0 = CR0_PE | CR0_ET | CR0_NE;
	sregs->cr4 = 0;
	sregs->efer = 0;
	sregs->cr3 = 0;
	if (mode == BOOT_ENTRY_LONG_MODE) {
		sregs->cr3 = X86_BOOT_PML4_ADDR;
		sregs->cr4 = CR4_PAE;
		sregs->cr0 |= CR0_PG;
		sregs->efer = EFER_LME | EFER_LMA;
	}
}

void x86_boot_regs(struct kvm_regs *regs, const struct boot_result *boot)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;  /* bit 1 is reserved-one; IF clear */
	regs->rip = boot->entry;
	if (boot->mode == BOOT_ENTRY_LONG_MODE) {
		regs->rsi = boot->boot_info_addr;
		regs->rsp = regs->rbp = X86_BOOT_STACK_TOP;
	} else {
		regs->rbx = boot->boot_info_addr;
	}
}

#define MISC_ENABLE_FAST_STRING 1ull
#define MTRR_DEF_TYPE_ENABLE (1ull << 11)
#define MTRR_TYPE_WRBACK 6ull

size_t x86_boot_msrs(struct kvm_msr_entry *entries, size_t max)
{
	const struct kvm_msr_entry defaults[] = {
		{ .index = MSR_IA32_SYSENTER_CS }, { .index = MSR_IA32_SYSENTER_ESP },
		{ .index = MSR_IA32_SYSENTER_EIP }, { .index = MSR_STAR }, { .index = MSR_LSTAR },
		{ .index = MSR_CSTAR }, { .index = MSR_SYSCALL_MASK }, { .index = MSR_KERNEL_GS_BASE },
		/* Fast strings on, as firmware leaves it; Linux expects it for rep movs. */
		{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
		/* MTRRs enabled with write-back default: without it all RAM is uncached. */
		{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK },
	};
	size_t n = sizeof(defaults) / sizeof(defaults[0]);

	if (n > max)
		n = max;
	memcpy(entries, defaults, n * sizeof(defaults[0]));
	return n;
}

static uint32_t lapic_get(const struct kvm_lapic_state *lapic, unsigned reg)
{
	uint32_t v;
	memcpy(&v, &lapic->regs[reg], sizeof(v));
	return v;
}

static void lapic_set(struct kvm_lapic_state *lapic, unsigned reg, uint32_t v)
{
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

void x86_lapic_wire_lints(struct kvm_lapic_state *lapic)
{
	/* Keep vector/trigger bits, replace delivery mode (bits 8-10), unmask. */
	uint32_t lint0 = lapic_get(lapic, X86_APIC_LVT_LINT0) & ~(0x700u | X86_APIC_LVT_MASKED);
	uint32_t lint1 = lapic_get(lapic, X86_APIC_LVT_LINT1) & ~(0x700u | X86_APIC_LVT_MASKED);

	lapic_set(lapic, X86_APIC_LVT_LINT0, lint0 | X86_APIC_DM_EXTINT);
	lapic_set(lapic, X86_APIC_LVT_LINT1, lint1 | X86_APIC_DM_NMI);
}
