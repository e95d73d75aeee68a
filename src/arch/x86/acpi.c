/* SPDX-License-Identifier: MIT */
#include "arch/x86/acpi.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"

/* Table layouts, ACPI 6.3 chapter 5 (little endian, packed). */
struct acpi_rsdp {
	char signature[8];          /* "RSD PTR " */
	uint8_t checksum;           /* first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;           /* 2: ACPI 2.0+ */
	uint32_t rsdt_address;      /* 0: no RSDT, the XSDT is used */
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;  /* all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure (5.2.3.2). */
struct acpi_gas {
	uint8_t space_id;           /* 1: system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;        /* 1: byte */
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;     /* FACS: none (optional when hardware-reduced) */
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len, gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk, x_pm2_cnt_blk, x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {             /* type 0 */
	uint8_t type, length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;             /* bit 0 enabled */
} __attribute__((packed));

struct madt_ioapic {            /* type 1 */
	uint8_t type, length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_lapic_nmi {         /* type 4 */
	uint8_t type, length;
	uint8_t processor_uid;      /* 0xff: all processors */
	uint16_t flags;             /* MPS INTI flags, 0: conforms to the bus */
	uint8_t lint;
} __attribute__((packed));

struct madt_x2apic {            /* type 9 */
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;
	uint32_t processor_uid;
} __attribute__((packed));

struct madt_x2apic_nmi {        /* type 10 */
	uint8_t type, length;
	uint16_t flags;
	uint32_t processor_uid;     /* 0xffffffff: all processors */
	uint8_t lint;
	uint8_t reserved[3];
} __attribute__((packed));

/* MCFG (PCI Firmware 3.2 §4.1.2): header, 8 reserved bytes, one allocation per segment/bus range. */
struct mcfg_allocation {
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus, end_bus;
	uint32_t reserved;
} __attribute__((packed));

static_assert(sizeof(struct mcfg_allocation) == 16, "MCFG allocation entry is 16 bytes");
static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes (5.2.5.3)");
static_assert(sizeof(struct acpi_header) == 36, "table header is 36 bytes (5.2.6)");
static_assert(sizeof(struct acpi_gas) == 12, "GAS is 12 bytes (5.2.3.2)");
static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6 is 276 bytes (5.2.9)");
static_assert(offsetof(struct acpi_fadt, flags) == 112 && offsetof(struct acpi_fadt, x_dsdt) == 140 &&
	      offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT field offsets (table 5-34)");
static_assert(sizeof(struct madt_lapic) == 8 && sizeof(struct madt_ioapic) == 12 &&
	      sizeof(struct madt_lapic_nmi) == 6 && sizeof(struct madt_x2apic) == 16 &&
	      sizeof(struct madt_x2apic_nmi) == 12, "MADT entry sizes (5.2.12)");
static_assert(X86_ACPI_ADDR % 16 == 0 && X86_ACPI_ADDR >= 0xe0000 &&
	      X86_ACPI_ADDR + X86_ACPI_MAX_SIZE <= X86_BIOS_HOLE_END,
	      "the RSDP lies on a 16-byte boundary in 0xE0000-0xFFFFF, where the OS scans for it");

#define FADT_REVISION 6
#define FADT_MINOR_REVISION 3           /* ACPI 6.3 */
#define MADT_REVISION 5                 /* ACPI 6.3 */
#define DSDT_REVISION 2                 /* 64-bit AML integers */

#define FADT_WBINVD           (1u << 0)
#define FADT_PWR_BUTTON       (1u << 4)   /* no fixed-feature power button */
#define FADT_SLP_BUTTON       (1u << 5)   /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP    (1u << 10)
#define FADT_HW_REDUCED_ACPI  (1u << 20)

#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042           (1u << 1)
#define BOOT_ARCH_NO_VGA         (1u << 2)
#define BOOT_ARCH_NO_MSI         (1u << 3)   /* no PCI bus, nothing could use MSI */
#define BOOT_ARCH_NO_CMOS_RTC    (1u << 5)

#define MADT_PCAT_COMPAT 1u             /* KVM's in-kernel irqchip has the two 8259s */
#define MADT_ENABLED 1u
#define MADT_LINT1 1
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define RTC_CENTURY_INDEX 0x32          /* devices/rtc.h RTC_CENTURY */
#define XAPIC_MAX_ID 254                /* 0xff is the xAPIC broadcast ID */

uint8_t acpi_sum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

static void fill_header(struct acpi_header *h, const char *signature, uint32_t length, uint8_t revision,
			const char *table_id)
{
	memcpy(h->signature, signature, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, "VMON  ", 6);
	memcpy(h->oem_table_id, table_id, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "VMON", 4);
	h->creator_revision = 1;
}

/* Sets a table's checksum so that its length bytes sum to zero. */
static void seal(uint8_t *table)
{
	struct acpi_header *h = (struct acpi_header *)table;

	h->checksum = 0;
	h->checksum = (uint8_t)-acpi_sum(table, h->length);
}

static struct acpi_gas io_byte_register(uint16_t port)
{
	return (struct acpi_gas){ .space_id = GAS_SYSTEM_IO, .bit_width = 8, .bit_offset = 0,
				  .access_size = GAS_ACCESS_BYTE, .address = port };
}

static const struct acpi_isa_device *find_isa(const struct acpi_machine *m, const char *hid)
{
	for (unsigned i = 0; i < m->nisa; i++)
		if (!strcmp(m->isa[i].hid, hid))
			return &m->isa[i];
	return NULL;
}

static size_t fadt_build(const struct acpi_machine *m, uint8_t *out, uint64_t dsdt)
{
	struct acpi_fadt f;

	memset(&f, 0, sizeof(f));
	fill_header(&f.h, "FACP", sizeof(f), FADT_REVISION, "VMONFACP");
	f.minor_version = FADT_MINOR_REVISION;
	f.dsdt = (uint32_t)dsdt;    /* the tables live below 1 MiB: both fields agree */
	f.x_dsdt = dsdt;
	f.flags = FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_WBINVD;
	f.iapc_boot_arch = BOOT_ARCH_NO_VGA | (m->has_pci ? 0 : BOOT_ARCH_NO_MSI);
	if (m->nisa)
		f.iapc_boot_arch |= BOOT_ARCH_LEGACY_DEVICES;
	/* Linux treats a FADT without the 8042 flag as "no i8042" and skips probing it. */
	if (find_isa(m, "PNP0303"))
		f.iapc_boot_arch |= BOOT_ARCH_8042;
	if (find_isa(m, "PNP0B00"))
		f.century = RTC_CENTURY_INDEX;
	else
		f.iapc_boot_arch |= BOOT_ARCH_NO_CMOS_RTC;
	f.reset_reg = io_byte_register((uint16_t)(m->pm_port + ACPI_PM_RESET));
	f.reset_value = ACPI_PM_RESET_VALUE;
	f.sleep_control_reg = io_byte_register((uint16_t)(m->pm_port + ACPI_PM_SLEEP_CONTROL));
	f.sleep_status_reg = io_byte_register((uint16_t)(m->pm_port + ACPI_PM_SLEEP_STATUS));
	memcpy(&f.hypervisor_vendor_id, "vmon\0\0\0\0", 8);
	memcpy(out, &f, sizeof(f));
	seal(out);
	return sizeof(f);
}

static size_t madt_size(unsigned ncpus)
{
	size_t n = sizeof(struct acpi_madt) + sizeof(struct madt_ioapic) + sizeof(struct madt_lapic_nmi);

	for (unsigned i = 0; i < ncpus; i++)
		n += i <= XAPIC_MAX_ID ? sizeof(struct madt_lapic) : sizeof(struct madt_x2apic);
	if (ncpus > XAPIC_MAX_ID + 1)
		n += sizeof(struct madt_x2apic_nmi);
	return n;
}

static size_t madt_build(const struct acpi_machine *m, uint8_t *out)
{
	struct acpi_madt madt;
	uint8_t *p = out + sizeof(madt);

	for (unsigned i = 0; i < m->ncpus; i++) {
		if (i <= XAPIC_MAX_ID) {
			const struct madt_lapic e = { .type = 0, .length = sizeof(e), .processor_uid = (uint8_t)i,
						      .apic_id = (uint8_t)i, .flags = MADT_ENABLED };
			memcpy(p, &e, sizeof(e));
			p += sizeof(e);
		} else {
			const struct madt_x2apic e = { .type = 9, .length = sizeof(e), .x2apic_id = i,
						       .flags = MADT_ENABLED, .processor_uid = i };
			memcpy(p, &e, sizeof(e));
			p += sizeof(e);
		}
	}
	/* The IOAPIC's ID follows the CPUs' as in the MP table (mptable.c); 8 bits wide here. */
	const struct madt_ioapic io = { .type = 1, .length = sizeof(io),
					.ioapic_id = (uint8_t)(m->ncpus <= XAPIC_MAX_ID ? m->ncpus : XAPIC_MAX_ID),
					.address = (uint32_t)X86_IOAPIC_ADDR, .gsi_base = 0 };
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	/* LINT1 is NMI on every LAPIC (the LVT vmon programs; LINT0 is the 8259's ExtINT). */
	const struct madt_lapic_nmi nmi = { .type = 4, .length = sizeof(nmi), .processor_uid = 0xff, .flags = 0,
					    .lint = MADT_LINT1 };
	memcpy(p, &nmi, sizeof(nmi));
	p += sizeof(nmi);
	if (m->ncpus > XAPIC_MAX_ID + 1) {
		const struct madt_x2apic_nmi x2nmi = { .type = 10, .length = sizeof(x2nmi), .flags = 0,
						       .processor_uid = 0xffffffffu, .lint = MADT_LINT1 };
		memcpy(p, &x2nmi, sizeof(x2nmi));
		p += sizeof(x2nmi);
	}
	memset(&madt, 0, sizeof(madt));
	fill_header(&madt.h, "APIC", (uint32_t)(p - out), MADT_REVISION, "VMONAPIC");
	madt.lapic_address = (uint32_t)X86_LAPIC_ADDR;
	madt.flags = MADT_PCAT_COMPAT;
	memcpy(out, &madt, sizeof(madt));
	seal(out);
	return (size_t)(p - out);
}

static void dsdt_isa_device(struct aml *a, const struct acpi_isa_device *d)
{
	struct aml_resources r;

	aml_device_begin(a, d->name);
	aml_name(a, "_HID");
	aml_eisaid_integer(a, d->hid);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_res_init(&r);
	for (unsigned i = 0; i < d->nio; i++)
		aml_res_io(&r, d->io[i].base, d->io[i].len);
	if (d->irq >= 0)
		aml_res_irq(&r, (unsigned)d->irq);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);
}

static void dsdt_mmio_device(struct aml *a, const struct acpi_mmio_device *d, unsigned index)
{
	struct aml_resources r;
	char name[5];

	/* VR00, VR01, ...: unique NameSegs (index < 256 by ACPI_MAX_MMIO_DEVICES). */
	snprintf(name, sizeof(name), "VR%02X", index & 0xff);
	aml_device_begin(a, name);
	aml_name(a, "_HID");
	aml_string(a, d->hid);
	aml_name(a, "_UID");
	aml_integer(a, index);
	aml_res_init(&r);
	aml_res_memory32_fixed(&r, (uint32_t)d->base, d->size);
	/* Edge, active high: how vmon raises virtio interrupts (an irqfd pulse), as ISA IRQs are. */
	aml_res_interrupt(&r, d->gsi, AML_EDGE, AML_ACTIVE_HIGH);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);
}

/* \_SB.PCI0: the host bridge, bus 0, its config ports and memory window; no _PRT (MSI-X only). */
static void dsdt_pci_host(struct aml *a, const struct acpi_pci_host *p)
{
	struct aml_resources r;

	aml_device_begin(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid_integer(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid_integer(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_res_init(&r);
	aml_res_word_bus_number(&r, 0, 0);
	aml_res_io(&r, p->config_port, 8);
	aml_res_dword_memory(&r, p->mmio_base, p->mmio_end - 1);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);
}

static size_t mcfg_build(const struct acpi_machine *m, uint8_t *out)
{
	struct acpi_header h;
	const struct mcfg_allocation e = { .base = m->pci.ecam_base, .segment = 0, .start_bus = 0, .end_bus = 0 };
	size_t len = sizeof(h) + 8 + sizeof(e);

	memset(&h, 0, sizeof(h));
	fill_header(&h, "MCFG", (uint32_t)len, 1, "VMONMCFG");
	memcpy(out, &h, sizeof(h));
	memset(out + sizeof(h), 0, 8);
	memcpy(out + sizeof(h) + 8, &e, sizeof(e));
	seal(out);
	return len;
}

static int dsdt_build(const struct acpi_machine *m, uint8_t *out, size_t cap, size_t *len, struct vmon_error *err)
{
	struct acpi_header h;
	struct aml a;
	size_t body;
	int ret;

	if (cap < sizeof(h))
		return error_set(err, -ENOSPC, "ACPI: no room for the DSDT");
	aml_init(&a, out + sizeof(h), cap - sizeof(h));
	aml_scope_begin(&a, "\\_SB_");
	for (unsigned i = 0; i < m->nisa; i++)
		dsdt_isa_device(&a, &m->isa[i]);
	for (unsigned i = 0; i < m->nmmio; i++)
		dsdt_mmio_device(&a, &m->mmio[i], i);
	if (m->has_pci)
		dsdt_pci_host(&a, &m->pci);
	aml_end(&a);
	/* \_S5_: SLP_TYPa, SLP_TYPb, reserved, reserved. Hardware-reduced ACPI uses SLP_TYPa only. */
	aml_name(&a, "\\_S5_");
	aml_package_begin(&a);
	aml_integer(&a, ACPI_PM_SLP_TYP_S5);
	aml_integer(&a, ACPI_PM_SLP_TYP_S5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a);
	if ((ret = aml_finish(&a, &body, err))) {
		error_prefix(err, "ACPI DSDT");
		return ret;
	}
	memset(&h, 0, sizeof(h));
	fill_header(&h, "DSDT", (uint32_t)(sizeof(h) + body), DSDT_REVISION, "VMONDSDT");
	memcpy(out, &h, sizeof(h));
	seal(out);
	*len = sizeof(h) + body;
	return 0;
}

static int check_machine(const struct acpi_machine *m, struct vmon_error *err)
{
	if (m->ncpus == 0 || m->ncpus > ACPI_MAX_CPUS)
		return error_set(err, -EINVAL, "ACPI: %u CPUs (1 to %d are described)", m->ncpus, ACPI_MAX_CPUS);
	if (m->nisa > ACPI_MAX_ISA_DEVICES || m->nmmio > ACPI_MAX_MMIO_DEVICES)
		return error_set(err, -EINVAL, "ACPI: %u ISA and %u MMIO devices (at most %d and %d)", m->nisa,
				 m->nmmio, ACPI_MAX_ISA_DEVICES, ACPI_MAX_MMIO_DEVICES);
	if ((unsigned)m->pm_port + ACPI_PM_PORTS > 0x10000)
		return error_set(err, -EINVAL, "ACPI: PM ports 0x%x + %u run past 0xffff", m->pm_port, ACPI_PM_PORTS);
	for (unsigned i = 0; i < m->nisa; i++) {
		const struct acpi_isa_device *d = &m->isa[i];
		if (!d->name || !d->hid || d->nio > 2 || d->irq < -1 || d->irq > 15)
			return error_set(err, -EINVAL, "ACPI: ISA device %u (%s) needs a name, an EISA ID, at most 2 "
					 "port ranges and an IRQ of 0-15 or none", i, d->name ? d->name : "unnamed");
	}
	if (m->has_pci && (m->pci.ecam_base % (1u << 20) || m->pci.mmio_end <= m->pci.mmio_base))
		return error_set(err, -EINVAL, "ACPI: PCI ECAM 0x%llx is not 1 MiB aligned or the window 0x%x-0x%x "
				 "is empty", (unsigned long long)m->pci.ecam_base, m->pci.mmio_base, m->pci.mmio_end);
	for (unsigned i = 0; i < m->nmmio; i++) {
		const struct acpi_mmio_device *d = &m->mmio[i];
		if (!d->hid || !d->size || d->base > 0x100000000ull - d->size)
			return error_set(err, -EINVAL, "ACPI: MMIO device %u at 0x%llx + 0x%x must have a _HID and lie "
					 "below 4 GiB (Memory32Fixed)", i, (unsigned long long)d->base, d->size);
	}
	return 0;
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

int acpi_build(const struct acpi_machine *m, uint64_t base, uint8_t *buf, size_t cap, struct acpi_layout *out,
	       struct vmon_error *err)
{
	size_t xsdt_off = ALIGN16(sizeof(struct acpi_rsdp));
	size_t xsdt_len = sizeof(struct acpi_header) + (m->has_pci ? 3 : 2) * sizeof(uint64_t);
	size_t fadt_off = ALIGN16(xsdt_off + xsdt_len);
	size_t madt_off = ALIGN16(fadt_off + sizeof(struct acpi_fadt));
	size_t mcfg_off, dsdt_off, dsdt_len;
	int ret;

	if ((ret = check_machine(m, err)))
		return ret;
	if (base % 16)
		return error_set(err, -EINVAL, "ACPI: base 0x%llx is not 16-byte aligned", (unsigned long long)base);
	mcfg_off = ALIGN16(madt_off + madt_size(m->ncpus));
	dsdt_off = m->has_pci ? ALIGN16(mcfg_off + sizeof(struct acpi_header) + 8 + sizeof(struct mcfg_allocation))
			      : mcfg_off;
	if (dsdt_off > cap)
		return error_set(err, -ENOSPC, "ACPI: tables for %u CPUs need more than the %zu bytes reserved",
				 m->ncpus, cap);
	memset(buf, 0, cap);
	if ((ret = dsdt_build(m, buf + dsdt_off, cap - dsdt_off, &dsdt_len, err)))
		return ret;

	fadt_build(m, buf + fadt_off, base + dsdt_off);
	madt_build(m, buf + madt_off);
	if (m->has_pci)
		mcfg_build(m, buf + mcfg_off);

	struct acpi_header xsdt;
	const uint64_t entries[3] = { base + fadt_off, base + madt_off, base + mcfg_off };
	memset(&xsdt, 0, sizeof(xsdt));
	fill_header(&xsdt, "XSDT", (uint32_t)xsdt_len, 1, "VMONXSDT");
	memcpy(buf + xsdt_off, &xsdt, sizeof(xsdt));
	memcpy(buf + xsdt_off + sizeof(xsdt), entries, xsdt_len - sizeof(xsdt));
	seal(buf + xsdt_off);

	struct acpi_rsdp rsdp;
	memset(&rsdp, 0, sizeof(rsdp));
	memcpy(rsdp.signature, "RSD PTR ", 8);
	memcpy(rsdp.oem_id, "VMON  ", 6);
	rsdp.revision = 2;
	rsdp.length = sizeof(rsdp);
	rsdp.xsdt_address = base + xsdt_off;
	rsdp.checksum = (uint8_t)-acpi_sum((const uint8_t *)&rsdp, 20);
	rsdp.extended_checksum = (uint8_t)-acpi_sum((const uint8_t *)&rsdp, sizeof(rsdp));
	memcpy(buf, &rsdp, sizeof(rsdp));

	*out = (struct acpi_layout){ .rsdp = base, .xsdt = base + xsdt_off, .fadt = base + fadt_off,
				     .madt = base + madt_off, .dsdt = base + dsdt_off,
				     .mcfg = m->has_pci ? base + mcfg_off : 0,
				     .end = base + dsdt_off + dsdt_len };
	return 0;
}

int acpi_write(struct guest_mem *mem, const struct acpi_machine *m, struct acpi_layout *out,
	       struct vmon_error *err)
{
	uint8_t *area = guest_mem_ptr(mem, X86_ACPI_ADDR, X86_ACPI_MAX_SIZE);

	if (!area)
		return error_set(err, -ENOMEM, "ACPI: guest RAM does not reach 0x%llx",
				 X86_ACPI_ADDR + X86_ACPI_MAX_SIZE);
	return acpi_build(m, X86_ACPI_ADDR, area, X86_ACPI_MAX_SIZE, out, err);
}

void acpi_machine_x86_defaults(struct acpi_machine *m, unsigned ncpus)
{
	memset(m, 0, sizeof(*m));
	m->ncpus = ncpus;
	m->pm_port = X86_PORT_ACPI_PM;
	m->isa[m->nisa++] = (struct acpi_isa_device){ .name = "COM1", .hid = "PNP0501", .nio = 1,
						      .io = { { X86_PORT_COM1, 8 } }, .irq = X86_IRQ_COM1 };
	/* PS/2 keyboard controller: data and command ports, keyboard IRQ 1. */
	m->isa[m->nisa++] = (struct acpi_isa_device){ .name = "PS2K", .hid = "PNP0303", .nio = 2,
						      .io = { { X86_PORT_I8042_DATA, 1 }, { X86_PORT_I8042_CMD, 1 } },
						      .irq = X86_IRQ_KEYBOARD };
	m->isa[m->nisa++] = (struct acpi_isa_device){ .name = "RTC", .hid = "PNP0B00", .nio = 1,
						      .io = { { X86_PORT_RTC, 2 } }, .irq = X86_IRQ_RTC };
}

void acpi_machine_add_pci_host(struct acpi_machine *m)
{
	m->has_pci = true;
	m->pci = (struct acpi_pci_host){ .ecam_base = X86_PCI_ECAM_BASE, .mmio_base = (uint32_t)X86_PCI_MMIO_BASE,
					 .mmio_end = (uint32_t)X86_PCI_MMIO_END, .config_port = X86_PORT_PCI_CONFIG };
}

int acpi_machine_add_virtio_mmio(struct acpi_machine *m, uint64_t base, uint32_t size, uint32_t gsi,
				 struct vmon_error *err)
{
	if (m->nmmio == ACPI_MAX_MMIO_DEVICES)
		return error_set(err, -ENOSPC, "ACPI: more than %d MMIO devices", ACPI_MAX_MMIO_DEVICES);
	m->mmio[m->nmmio++] = (struct acpi_mmio_device){ .hid = "LNRO0005", .base = base, .size = size, .gsi = gsi };
	return 0;
}
