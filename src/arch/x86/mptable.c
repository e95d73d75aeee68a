/* SPDX-License-Identifier: MIT */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

/* Layouts from the MP spec 1.4, chapter 4 (all little endian, packed). */
struct mpf_intel {
	char signature[4];     /* "_MP_" */
	uint32_t physptr;      /* configuration table */
	uint8_t length;        /* in 16-byte units: 1 */
	uint8_t specification; /* 4 = 1.4 */
	uint8_t checksum;
	uint8_t feature1;      /* 0: a configuration table is present */
	uint8_t feature2;      /* bit 7 IMCR: 0 = virtual wire mode available */
	uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4];     /* "PCMP" */
	uint16_t length;       /* base table incl. entries */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;     /* number of entries */
	uint32_t lapic;
	uint16_t reserved_ext_length;
	uint8_t reserved_ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;          /* 0 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;       /* bit 0 enabled, bit 1 bootstrap processor */
	uint32_t cpufeature;   /* family/model/stepping signature */
	uint32_t featureflag;  /* CPUID.1:EDX */
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;          /* 1 */
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;          /* 2 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;         /* bit 0 enabled */
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;          /* 3 I/O interrupt, 4 local interrupt */
	uint8_t irqtype;       /* 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
	uint16_t irqflag;      /* 0: polarity/trigger conform to the bus */
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP configuration table header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_bus) == 8 && sizeof(struct mpc_ioapic) == 8 && sizeof(struct mpc_intsrc) == 8,
	       "bus, IOAPIC and interrupt entries are 8 bytes");

#define MP_ISA_IRQS 16
#define MP_LAPIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
#define MP_ALL_LAPICS 0xff

static size_t table_size(unsigned ncpus)
{
	return sizeof(struct mpc_table) + ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) + (MP_ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
}

/* APIC IDs 0..ncpus-1 for the CPUs, ncpus for the IOAPIC; 0xff is the broadcast ID. */
#define MP_MAX_CPUS 254
_Static_assert(sizeof(struct mpf_intel) <= MPTABLE_MAX_SIZE, "the floating pointer fits its place");

unsigned mptable_max_cpus(void)
{
	unsigned n = 1;
	while (n < MP_MAX_CPUS && table_size(n + 1) <= MPTABLE_CONFIG_MAX_SIZE)
		n++;
	return n;
}

/* Bytes summing to zero (mod 256) over the structure, as the spec's checksums do. */
static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

int mptable_write(struct guest_mem *mem, unsigned ncpus, struct vmon_error *err)
{
	struct mpf_intel *mpf = guest_mem_ptr(mem, MPTABLE_ADDR, MPTABLE_MAX_SIZE);
	struct mpc_table *mpc = guest_mem_ptr(mem, MPTABLE_CONFIG_ADDR, MPTABLE_CONFIG_MAX_SIZE);
	uint8_t *p;
	uint16_t entries = 0;

	if (ncpus == 0 || ncpus > mptable_max_cpus())
		return error_set(err, -EINVAL, "MP table: %u CPUs do not fit (1 to %u, 8-bit APIC IDs)", ncpus,
				 mptable_max_cpus());
	if (!mpf || !mpc)
		return error_set(err, -ENOMEM, "MP table: guest RAM does not reach 0x%llx",
				 MPTABLE_CONFIG_ADDR + MPTABLE_CONFIG_MAX_SIZE);
	memset(mpf, 0, MPTABLE_MAX_SIZE);
	memset(mpc, 0, table_size(ncpus));
	p = (uint8_t *)(mpc + 1);

	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {
			.type = 0, .apicid = (uint8_t)i, .apicver = MP_LAPIC_VERSION,
			.cpuflag = 1 | (i == 0 ? 2 : 0),
			/* Family 6; Linux takes the real values from CPUID. */
			.cpufeature = 0x600, .featureflag = (1u << 9) /* APIC */ | 1u /* FPU */,
		};
		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
		entries++;
	}
	const struct mpc_bus isa = { .type = 1, .busid = 0, .bustype = { 'I', 'S', 'A', ' ', ' ', ' ' } };
	memcpy(p, &isa, sizeof(isa));
	p += sizeof(isa);
	entries++;
	/* The IOAPIC's ID follows the CPUs' (IDs are one namespace on xAPIC systems). */
	const uint8_t ioapic_id = (uint8_t)ncpus;
	const struct mpc_ioapic ioapic = { .type = 2, .apicid = ioapic_id, .apicver = MP_IOAPIC_VERSION, .flags = 1,
					   .apicaddr = (uint32_t)X86_IOAPIC_ADDR };
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	entries++;
	/* ISA IRQ n reaches IOAPIC pin n: KVM's default GSI routing (GSI n = pin n, PIT on GSI 0). */
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		const struct mpc_intsrc src = { .type = 3, .irqtype = MP_INT, .srcbus = 0, .srcbusirq = irq,
						.dstapic = ioapic_id, .dstirq = irq };
		memcpy(p, &src, sizeof(src));
		p += sizeof(src);
		entries++;
	}
	/* Every LAPIC: LINT0 is the 8259's ExtINT, LINT1 is NMI (matches the LVT vmon programs). */
	const struct mpc_intsrc lint0 = { .type = 4, .irqtype = MP_EXTINT, .dstapic = MP_ALL_LAPICS, .dstirq = 0 };
	const struct mpc_intsrc lint1 = { .type = 4, .irqtype = MP_NMI, .dstapic = MP_ALL_LAPICS, .dstirq = 1 };
	memcpy(p, &lint0, sizeof(lint0));
	p += sizeof(lint0);
	memcpy(p, &lint1, sizeof(lint1));
	p += sizeof(lint1);
	entries += 2;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "VMON    ", 8);
	memcpy(mpc->productid, "VMON 0.1    ", 12);
	mpc->oemcount = entries;
	mpc->lapic = (uint32_t)X86_LAPIC_ADDR;
	mpc->checksum = checksum((const uint8_t *)mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)MPTABLE_CONFIG_ADDR;
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum((const uint8_t *)mpf, sizeof(*mpf));
	return 0;
}
