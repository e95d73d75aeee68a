/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_LAYOUT_H
#define VMON_X86_LAYOUT_H

/*
 * Guest-physical memory map of a vmon x86 guest.
 *
 *   0x00000000  real-mode IVT / BDA (left zero)
 *   0x00000500  boot GDT
 *   0x00000520  boot IDT (empty; the guest installs its own)
 *   0x00006000  PVH hvm_start_info, then its module list and memory map
 *   0x00007000  Linux zero page (struct boot_params)
 *   0x00009000  boot page tables: PML4, PDPT, 4 page directories (identity map of 4 GiB, 2 MiB pages)
 *   0x00020000  kernel command line (up to X86_CMDLINE_MAX bytes)
 *   0x0009fc00  end of low conventional memory: EBDA, MP floating pointer (mptable.c)
 *   0x000a0000  VGA / BIOS hole up to 1 MiB (e820 reserved from the EBDA on, with the MP and ACPI tables)
 *   0x000e0000  ACPI tables (acpi.c): RSDP first (the OS scans 0xE0000-0xFFFFF for it), then XSDT,
 *               FADT, MADT, DSDT, in at most X86_ACPI_MAX_SIZE bytes
 *   0x000f0000  MP configuration table (mptable.c), up to 1 MiB
 *   0x00100000  kernel (ELF segments at their physical addresses; bzImage protected-mode code)
 *   ...         initrd at the top of low RAM, below initrd_addr_max
 *   0xc0000000  32-bit MMIO hole up to 4 GiB: the PCI memory window (BARs) 0xc0000000-0xcfffffff,
 *               virtio-mmio windows from 0xd0000000, the PCI ECAM window at 0xe0000000 (bus 0: 1 MiB,
 *               e820-reserved), IOAPIC 0xfec00000, LAPIC 0xfee00000
 *   0x100000000 RAM above the hole for guests larger than 3 GiB
 *
 * KVM needs three pages for the VMX real-mode TSS and an identity-map page;
 * they live just below the IOAPIC, inside the hole, where no RAM is.
 */
#define X86_BOOT_GDT_ADDR        0x500ull
#define X86_BOOT_IDT_ADDR        0x520ull
#define X86_PVH_START_INFO_ADDR  0x6000ull
#define X86_ZERO_PAGE_ADDR       0x7000ull
#define X86_BOOT_PML4_ADDR       0x9000ull
#define X86_BOOT_PDPT_ADDR       0xa000ull
#define X86_BOOT_PD_ADDR         0xb000ull   /* four pages: 0xb000 .. 0xefff */
#define X86_CMDLINE_ADDR         0x20000ull
#define X86_CMDLINE_MAX          0x10000ull  /* bytes, including the NUL */
#define X86_EBDA_START           0x9fc00ull
#define X86_BIOS_HOLE_END        0x100000ull
#define X86_ACPI_ADDR            0xe0000ull
#define X86_ACPI_MAX_SIZE        0x10000ull  /* up to the MP configuration table at 0xf0000 */
#define X86_KERNEL_DEFAULT_ADDR  0x100000ull

#define X86_MMIO_HOLE_START      0xc0000000ull
#define X86_HIGH_RAM_START       0x100000000ull
#define X86_IOAPIC_ADDR          0xfec00000ull
#define X86_LAPIC_ADDR           0xfee00000ull
#define X86_KVM_TSS_ADDR         0xfeffd000ull  /* 3 pages */
#define X86_KVM_IDENTITY_MAP_ADDR 0xfeffc000ull /* 1 page */

/*
 * Device MMIO windows are handed out from X86_VIRTIO_MMIO_BASE up (by the
 * machine's allocator, src/vmm/resources.c), and device interrupt lines from
 * X86_VIRTIO_GSIS: the ISA IRQs (= GSI, = IOAPIC pin) no vmon device or legacy
 * PC function uses (0 PIT, 1 keyboard, 2 cascade, 3/4 serial, 8 RTC, 12 PS/2
 * mouse, 13 FPU are taken).
 */
#define X86_VIRTIO_MMIO_BASE     0xd0000000ull
#define X86_VIRTIO_GSIS          { 5, 6, 7, 9, 10, 11, 14, 15 }
#define X86_VIRTIO_MAX_MMIO_DEVICES 8   /* one line each from X86_VIRTIO_GSIS */
/*
 * All virtio devices, either transport: virtio-pci interrupts through MSI-X
 * and needs no line (PCI device numbers 1..31 would allow more; 16 covers
 * Kata's root drive and pool of 8 placeholder drives beside net, vsock, rng).
 */
#define X86_VIRTIO_MAX_DEVICES   16

/*
 * PCI (src/devices/pci_host.c): BARs are placed in [X86_PCI_MMIO_BASE,
 * X86_PCI_MMIO_END) — the window the DSDT's PCI0._CRS gives Linux, so it keeps
 * vmon's placement — and configuration space is at X86_PCI_ECAM_BASE
 * (MMCONFIG, the MCFG table; 1 MiB: bus 0 only, reserved in the e820 map as
 * Linux requires) and behind ports 0xcf8/0xcfc. MSI-X vectors get GSIs above
 * the IOAPIC's 24 pins (KVM_MSI_GSI_BASE, arch/x86/kvm_devices.h).
 */
#define X86_PCI_MMIO_BASE        0xc0000000ull
#define X86_PCI_MMIO_END         0xd0000000ull
#define X86_PCI_ECAM_BASE        0xe0000000ull
#define X86_PCI_ECAM_SIZE        0x100000ull
#define X86_PORT_PCI_CONFIG      0xcf8  /* 0xcf8 address, 0xcfc-0xcff data */

/* Legacy I/O ports vmon emulates. */
#define X86_PORT_COM1            0x3f8
#define X86_IRQ_COM1             4
#define X86_PORT_I8042_DATA      0x60
#define X86_PORT_I8042_CMD       0x64
#define X86_IRQ_KEYBOARD         1
#define X86_PORT_RTC             0x70
#define X86_IRQ_RTC              8
#define X86_PORT_DEBUG_EXIT      0xf4   /* QEMU isa-debug-exit compatible */
#define X86_PORT_ACPI_PM         0x600  /* ACPI sleep control/status and reset registers (acpi_pm.c), 3 ports */

#endif
