/* SPDX-License-Identifier: MIT */
/*
 * smp: starts every CPU the firmware describes and checks they all run.
 *
 * The BSP finds the RSDP in the BIOS area (0xe0000-0xfffff), follows the
 * XSDT (or the RSDT of an ACPI 1.0 RSDP) to the MADT and collects the APIC
 * IDs of the enabled processors (local APIC and x2APIC entries). It copies a
 * trampoline to TRAMPOLINE_ADDR and sends each AP, by its APIC ID, INIT and
 * two STARTUP IPIs through its local APIC's ICR. An AP starts in real mode at
 * the trampoline, enters 32-bit protected mode (flat, no paging: it needs no
 * stack), takes a slot with `lock xadd`, records its local APIC ID register
 * and its CPUID.1:EBX[31:24] initial APIC ID there, counts itself done with
 * `lock inc` and halts with interrupts off. The BSP waits (10 s at most, by
 * the CMOS clock) until every AP is done, then checks: as many APs as the
 * MADT has besides the BSP, distinct IDs, each one the MADT lists and not the
 * BSP's, CPUID agreeing with the APIC ID register.
 *
 * cmdline: cpus=N (the MADT must list N CPUs), idle=1 (after the checks,
 * print "smp: idling" and halt the BSP with interrupts off too instead of
 * exiting: every CPU halted, for measuring what halted vCPUs cost the host),
 * ap_fault=1 (each AP triple-faults in the trampoline instead: an empty IDT
 * and ud2; the BSP then waits for APs that never report, and the VMM must
 * stop the whole machine on the first AP's fault).
 *
 * Failure codes: 1 = no RSDP / MADT, 2 = MADT count != cpus=, 3 = not every
 * AP came up in time, 4 = an ID twice, unknown or the BSP's, 5 = CPUID
 * initial APIC ID != APIC ID register, 6 = bad cmdline, 7 = more CPUs than
 * SMP_MAX_CPUS, 8 = no local APIC.
 */
#include "lib.h"

#define SMP_MAX_CPUS 256
#define TRAMPOLINE_ADDR 0x8000      /* SIPI vector 0x08; free low RAM under vmon and QEMU */
#define STARTUP_TIMEOUT_S 10

#define MSR_IA32_APIC_BASE 0x1b
#define LAPIC_ID        0x20
#define LAPIC_ICR_LOW   0x300
#define LAPIC_ICR_HIGH  0x310
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_LEVEL_ASSERT     (1u << 14)
#define ICR_INIT             (5u << 8)
#define ICR_STARTUP          (6u << 8)

#define CMOS_INDEX_PORT 0x70
#define CMOS_DATA_PORT  0x71

/* Written by the APs in the trampoline (32-bit absolute addresses: the image sits at 1 MiB). */
volatile uint32_t smp_ap_fault;   /* set by the BSP before the APs start */
volatile uint32_t smp_ap_ticket;
volatile uint32_t smp_ap_done;
volatile uint32_t smp_ap_lapic_id[SMP_MAX_CPUS];
volatile uint32_t smp_ap_cpuid_id[SMP_MAX_CPUS];

extern const uint8_t smp_trampoline[], smp_trampoline_end[];

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Runs at TRAMPOLINE_ADDR: every address inside it is TRAMP_BASE plus its
 * offset. The LAPIC is at its reset base (INIT resets IA32_APIC_BASE).
 */
__asm__(
	"	.section .text.smp_trampoline, \"ax\"\n"
	"	.globl smp_trampoline, smp_trampoline_end\n"
	"	.set TRAMP_BASE, " STR(TRAMPOLINE_ADDR) "\n"
	"	.code16\n"
	"smp_trampoline:\n"
	"	cli\n"
	"	xorw %ax, %ax\n"
	"	movw %ax, %ds\n"
	"	lgdtl TRAMP_BASE + (tramp_gdt_desc - smp_trampoline)\n"
	"	movl %cr0, %eax\n"
	"	orl $1, %eax\n"
	"	movl %eax, %cr0\n"
	"	ljmpl $0x08, $(TRAMP_BASE + (tramp_pm - smp_trampoline))\n"
	"	.code32\n"
	"tramp_pm:\n"
	"	movl $0x10, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl %eax, %ss\n"
	"	cmpl $0, smp_ap_fault\n"
	"	je 3f\n"
	"	lidtl TRAMP_BASE + (tramp_no_idt - smp_trampoline)\n"
	"	ud2\n"                            /* #UD -> #DF -> shutdown */
	"3:	movl $1, %eax\n"
	"	xorl %ecx, %ecx\n"
	"	cpuid\n"
	"	shrl $24, %ebx\n"                 /* CPUID initial APIC ID */
	"	movl 0xfee00020, %edx\n"
	"	shrl $24, %edx\n"                 /* APIC ID register */
	"	movl $1, %ecx\n"
	"	lock xaddl %ecx, smp_ap_ticket\n"
	"	cmpl $" STR(SMP_MAX_CPUS) ", %ecx\n"
	"	jae 1f\n"
	"	movl %edx, smp_ap_lapic_id(,%ecx,4)\n"
	"	movl %ebx, smp_ap_cpuid_id(,%ecx,4)\n"
	"1:	lock incl smp_ap_done\n"
	"2:	cli\n"
	"	hlt\n"
	"	jmp 2b\n"
	"	.balign 8\n"
	"tramp_gdt:\n"
	"	.quad 0\n"
	"	.quad 0x00cf9a000000ffff\n"       /* 0x08: 32-bit flat code */
	"	.quad 0x00cf92000000ffff\n"       /* 0x10: flat data */
	"tramp_no_idt:\n"
	"	.word 0\n"
	"	.long 0\n"
	"tramp_gdt_desc:\n"
	"	.word 23\n"
	"	.long TRAMP_BASE + (tramp_gdt - smp_trampoline)\n"
	"smp_trampoline_end:\n"
	"	.code64\n"
	"	.previous\n");

static __attribute__((noreturn)) void fail(uint32_t code, const char *why)
{
	printf("smp: FAIL: %s\n", why);
	debug_exit(code);
}

/* ---- ACPI: RSDP -> XSDT/RSDT -> MADT ---------------------------------------- */

static uint8_t byte_sum(const uint8_t *p, uint32_t len)
{
	uint8_t s = 0;
	while (len--)
		s += *p++;
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* A table header at phys with a sane length (inside the mapped RAM) and a zero sum, or NULL. */
static const uint8_t *acpi_table(uint64_t phys)
{
	const uint8_t *t = (const uint8_t *)(uintptr_t)phys;

	if (phys == 0 || phys + 36 > BOOT_MAPPED_LIMIT)
		return NULL;
	uint32_t len = rd32(t + 4);
	if (len < 36 || phys + len > BOOT_MAPPED_LIMIT || byte_sum(t, len))
		return NULL;
	return t;
}

static const uint8_t *find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)(uintptr_t)a;
		if (!memcmp(p, "RSD PTR ", 8) && byte_sum(p, 20) == 0)
			return p;
	}
	return NULL;
}

static const uint8_t *find_madt(void)
{
	const uint8_t *rsdp = find_rsdp();
	const uint8_t *sdt;
	unsigned width;

	if (!rsdp)
		return NULL;
	if (rsdp[15] >= 2 && rd64(rsdp + 24)) {
		sdt = acpi_table(rd64(rsdp + 24));
		width = 8;
	} else {
		sdt = acpi_table(rd32(rsdp + 16));
		width = 4;
	}
	if (!sdt)
		return NULL;
	for (uint32_t off = 36; off + width <= rd32(sdt + 4); off += width) {
		const uint8_t *t = acpi_table(width == 8 ? rd64(sdt + off) : rd32(sdt + off));
		if (t && !memcmp(t, "APIC", 4))
			return t;
	}
	return NULL;
}

/* The enabled processors' APIC IDs; returns how many (may exceed max: then only max are stored). */
static unsigned madt_apic_ids(const uint8_t *madt, uint32_t *ids, unsigned max)
{
	uint32_t len = rd32(madt + 4);
	unsigned n = 0;

	for (uint32_t off = 44; off + 2 <= len && madt[off + 1] >= 2 && off + madt[off + 1] <= len;
	     off += madt[off + 1]) {
		const uint8_t *e = madt + off;
		uint32_t id;

		if (e[0] == 0 && e[1] >= 8 && (rd32(e + 4) & 1))
			id = e[3];               /* Processor Local APIC */
		else if (e[0] == 9 && e[1] >= 16 && (rd32(e + 8) & 1))
			id = rd32(e + 4);        /* Processor Local x2APIC */
		else
			continue;
		if (n < max)
			ids[n] = id;
		n++;
	}
	return n;
}

/* ---- local APIC and IPIs --------------------------------------------------- */

static uint64_t lapic_base;

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(lapic_base + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_base + reg, v);
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* A short pause between the IPIs of one start-up (the MP spec's waits, shortened as Linux does). */
static void delay_cycles(uint64_t cycles)
{
	uint64_t start = rdtsc();
	while (rdtsc() - start < cycles)
		__asm__ volatile("pause");
}

static void send_ipi(uint32_t apic_id, uint32_t command)
{
	for (unsigned i = 0; i < 1000000 && (lapic_read(LAPIC_ICR_LOW) & ICR_DELIVERY_PENDING); i++)
		__asm__ volatile("pause");
	lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
	lapic_write(LAPIC_ICR_LOW, command);
}

static void start_ap(uint32_t apic_id)
{
	send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSERT);
	delay_cycles(1000000);
	send_ipi(apic_id, ICR_STARTUP | (TRAMPOLINE_ADDR >> 12));
	delay_cycles(200000);
	send_ipi(apic_id, ICR_STARTUP | (TRAMPOLINE_ADDR >> 12));
}

static uint8_t cmos_seconds(void)
{
	outb(CMOS_INDEX_PORT, 0);
	return inb(CMOS_DATA_PORT);
}

/* Waits until `want` APs are done or STARTUP_TIMEOUT_S CMOS seconds passed; returns how many are. */
static uint32_t wait_for_aps(uint32_t want)
{
	uint8_t last = cmos_seconds();
	unsigned ticks = 0;

	while (smp_ap_done < want && ticks <= STARTUP_TIMEOUT_S) {
		for (int i = 0; i < 10000 && smp_ap_done < want; i++)
			__asm__ volatile("pause");
		uint8_t now = cmos_seconds();
		if (now != last) {
			last = now;
			ticks++;
		}
	}
	return smp_ap_done;
}

void guest_main(const struct boot_info *bi)
{
	static uint32_t ids[SMP_MAX_CPUS];
	const char *arg;
	uint64_t want_cpus = 0, idle = 0, ap_fault = 0, hold = 0;
	uint32_t a, b, c, d;

	if (((arg = cmdline_get(bi, "cpus=")) && (!parse_u64(arg, &want_cpus) || want_cpus == 0)) ||
	    ((arg = cmdline_get(bi, "idle=")) && (!parse_u64(arg, &idle) || idle > 1)) ||
	    ((arg = cmdline_get(bi, "ap_fault=")) && (!parse_u64(arg, &ap_fault) || ap_fault > 1)) ||
	    ((arg = cmdline_get(bi, "hold=")) && (!parse_u64(arg, &hold) || hold > 60)))
		fail(6, "bad cpus=, idle=, ap_fault= or hold= value");

	const uint8_t *madt = find_madt();
	if (!madt)
		fail(1, "no ACPI MADT found (RSDP in 0xe0000-0xfffff -> XSDT/RSDT -> APIC)");
	unsigned ncpus = madt_apic_ids(madt, ids, SMP_MAX_CPUS);
	if (ncpus > SMP_MAX_CPUS)
		fail(7, "the MADT lists more CPUs than this guest handles");
	if (want_cpus && ncpus != want_cpus) {
		printf("smp: the MADT lists %u CPUs, cpus=%lu\n", ncpus, want_cpus);
		fail(2, "CPU count differs");
	}

	cpu_cpuid(1, &a, &b, &c, &d);
	uint64_t base = cpu_rdmsr(MSR_IA32_APIC_BASE);
	if (!(d & (1u << 9)) || !(base & (1u << 11)))
		fail(8, "no enabled local APIC");
	lapic_base = base & ~0xfffull;
	lapic_virtual_wire();   /* software-enables the LAPIC */
	uint32_t bsp_id = lapic_read(LAPIC_ID) >> 24;
	printf("smp: the MADT lists %u CPUs; the BSP has APIC ID %u\n", ncpus, bsp_id);

	smp_ap_fault = (uint32_t)ap_fault;
	if (ap_fault)
		printf("smp: the APs will triple-fault\n");
	memcpy((void *)(uintptr_t)TRAMPOLINE_ADDR, smp_trampoline, (size_t)(smp_trampoline_end - smp_trampoline));
	for (unsigned i = 0; i < ncpus; i++)
		if (ids[i] != bsp_id)
			start_ap(ids[i]);
	uint32_t done = wait_for_aps(ncpus - 1);
	if (done != ncpus - 1) {
		printf("smp: %u of %u APs came up within %d s\n", done, ncpus - 1, STARTUP_TIMEOUT_S);
		fail(3, "not every AP started");
	}

	/* Each AP: an ID the MADT lists, not the BSP's, not seen before, the same through CPUID. */
	static uint8_t seen[SMP_MAX_CPUS];
	for (uint32_t s = 0; s < done; s++) {
		uint32_t id = smp_ap_lapic_id[s];
		bool listed = false;
		for (unsigned i = 0; i < ncpus; i++)
			listed |= ids[i] == id;
		if (!listed || id == bsp_id || id >= SMP_MAX_CPUS || seen[id]) {
			printf("smp: AP %u reported APIC ID %u\n", s, id);
			fail(4, "APIC ID twice, unknown or the BSP's");
		}
		seen[id] = 1;
		if (smp_ap_cpuid_id[s] != (id & 0xff)) {
			printf("smp: APIC ID %u, CPUID.1:EBX[31:24] %u\n", id, smp_ap_cpuid_id[s]);
			fail(5, "CPUID initial APIC ID differs from the APIC ID register");
		}
	}
	printf("smp: %u APs started, each with its own APIC ID (CPUID agrees):", done);
	for (uint32_t id = 0; id < SMP_MAX_CPUS; id++)
		if (seen[id])
			printf(" %u", id);
	printf("\nsmp: all %u CPUs up\n", ncpus);
	if (idle) {
		printf("smp: idling (every CPU halted, interrupts off)\n");
		halt_forever();
	}
	/* hold=N: N more RTC seconds of running before the exit (for a monitor's periodic work to meet the guest). */
	for (uint8_t last = cmos_seconds(); hold; ) {
		uint8_t now = cmos_seconds();
		if (now != last) {
			last = now;
			hold--;
		}
		__asm__ volatile("pause");
	}
	debug_exit(GUEST_EXIT_PASS);
}
