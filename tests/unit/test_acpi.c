/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/memory.h"
#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "arch/x86/x86_test_tools.h"

/*
 * The tables are read back here by offset, as the ACPI 6.3 spec lays them out
 * (not through acpi.c's structs), and then handed to ACPICA: iasl must
 * disassemble each without a complaint, recompile the disassembly to the same
 * bytes, and acpiexec must load the DSDT and evaluate \_S5_.
 */

#define BASE X86_ACPI_ADDR
#define CAP X86_ACPI_MAX_SIZE

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

struct built {
	struct acpi_machine m;
	struct acpi_layout l;
	uint8_t buf[CAP];
};

static void machine(struct acpi_machine *m, unsigned ncpus, unsigned nvirtio)
{
	static const unsigned gsis[] = X86_VIRTIO_GSIS;

	acpi_machine_x86_defaults(m, ncpus);
	for (unsigned i = 0; i < nvirtio; i++)
		assert_int_equal(acpi_machine_add_virtio_mmio(m, X86_VIRTIO_MMIO_BASE + i * 0x1000ull, 0x1000, gsis[i],
							      NULL), 0);
}

static struct built *build(unsigned ncpus, unsigned nvirtio)
{
	struct built *b = calloc(1, sizeof(*b));
	struct vmon_error err = { 0 };

	assert_non_null(b);
	machine(&b->m, ncpus, nvirtio);
	if (acpi_build(&b->m, BASE, b->buf, sizeof(b->buf), &b->l, &err))
		fail_msg("acpi_build: %s", err.msg);
	return b;
}

static const uint8_t *at(const struct built *b, uint64_t gpa)
{
	assert_true(gpa >= BASE && gpa < BASE + CAP);
	return b->buf + (gpa - BASE);
}

static uint32_t table_len(const struct built *b, uint64_t gpa)
{
	return le32(at(b, gpa) + 4);
}

static void rsdp_points_to_the_xsdt_with_both_checksums(void **state)
{
	struct built *b = build(1, 0);
	const uint8_t *r = b->buf;
	(void)state;

	assert_int_equal(b->l.rsdp, BASE);
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(acpi_sum(r, 20), 0);   /* ACPI 1.0 checksum */
	assert_int_equal(acpi_sum(r, 36), 0);   /* extended checksum */
	assert_int_equal(r[15], 2);             /* revision 2: XSDT */
	assert_int_equal(le32(r + 16), 0);      /* no RSDT */
	assert_int_equal(le32(r + 20), 36);
	assert_int_equal(le64(r + 24), b->l.xsdt);
	free(b);
}

static void every_table_sums_to_zero_and_the_pointers_chain(void **state)
{
	static const unsigned cpus[] = { 1, 2, 32, 255, 256, 300 };
	(void)state;

	for (size_t c = 0; c < sizeof(cpus) / sizeof(cpus[0]); c++) {
		struct built *b = build(cpus[c], X86_VIRTIO_MAX_MMIO_DEVICES);
		const uint8_t *xsdt = at(b, b->l.xsdt), *fadt = at(b, b->l.fadt);

		assert_memory_equal(xsdt, "XSDT", 4);
		assert_int_equal(table_len(b, b->l.xsdt), 36 + 2 * 8);
		assert_int_equal(le64(xsdt + 36), b->l.fadt);
		assert_int_equal(le64(xsdt + 44), b->l.madt);
		assert_memory_equal(fadt, "FACP", 4);
		assert_int_equal(table_len(b, b->l.fadt), 276);
		assert_int_equal(le64(fadt + 140), b->l.dsdt);    /* X_DSDT */
		assert_int_equal(le32(fadt + 40), b->l.dsdt);     /* DSDT, the same */
		assert_memory_equal(at(b, b->l.madt), "APIC", 4);
		assert_memory_equal(at(b, b->l.dsdt), "DSDT", 4);
		const uint64_t tables[] = { b->l.xsdt, b->l.fadt, b->l.madt, b->l.dsdt };
		for (size_t t = 0; t < 4; t++) {
			assert_int_equal(tables[t] % 8, 0);
			assert_int_equal(acpi_sum(at(b, tables[t]), table_len(b, tables[t])), 0);
		}
		assert_int_equal(b->l.end, b->l.dsdt + table_len(b, b->l.dsdt));
		assert_true(b->l.end <= BASE + CAP);
		free(b);
	}
}

static void madt_has_one_enabled_apic_entry_per_cpu(void **state)
{
	static const unsigned cpus[] = { 1, 4, 32, 255, 300 };
	(void)state;

	for (size_t c = 0; c < sizeof(cpus) / sizeof(cpus[0]); c++) {
		unsigned n = cpus[c], xapic = 0, x2apic = 0, ioapics = 0, nmi = 0, x2nmi = 0, other = 0;
		struct built *b = build(n, 0);
		const uint8_t *madt = at(b, b->l.madt);
		uint32_t len = table_len(b, b->l.madt), off = 44;

		assert_int_equal(le32(madt + 36), X86_LAPIC_ADDR);
		assert_int_equal(le32(madt + 40), 1);   /* PCAT_COMPAT */
		while (off < len) {
			const uint8_t *e = madt + off;
			assert_true(e[1] >= 2 && off + e[1] <= len);
			switch (e[0]) {
			case 0:
				assert_int_equal(e[1], 8);
				assert_int_equal(e[3], xapic);        /* APIC IDs 0, 1, ... */
				assert_int_equal(e[2], xapic);        /* processor UID */
				assert_int_equal(le32(e + 4), 1);     /* enabled */
				xapic++;
				break;
			case 9:
				assert_int_equal(e[1], 16);
				assert_int_equal(le32(e + 4), 255 + x2apic);
				assert_int_equal(le32(e + 8), 1);
				x2apic++;
				break;
			case 1:
				assert_int_equal(e[1], 12);
				assert_int_equal(le32(e + 4), X86_IOAPIC_ADDR);
				assert_int_equal(le32(e + 8), 0);     /* GSI base */
				ioapics++;
				break;
			case 4:
				assert_int_equal(e[1], 6);
				assert_int_equal(e[2], 0xff);         /* all processors */
				assert_int_equal(e[5], 1);            /* LINT1 */
				nmi++;
				break;
			case 10:
				assert_int_equal(e[1], 12);
				assert_int_equal(le32(e + 4), 0xffffffffu);
				assert_int_equal(e[8], 1);
				x2nmi++;
				break;
			default:
				other++;
			}
			off += e[1];
		}
		assert_int_equal(off, len);
		assert_int_equal(xapic, n < 255 ? n : 255);
		assert_int_equal(xapic + x2apic, n);
		assert_int_equal(ioapics, 1);
		assert_int_equal(nmi, 1);
		assert_int_equal(x2nmi, n > 255 ? 1 : 0);
		/* No Interrupt Source Override: ISA IRQ n is GSI n, as in the MP table. */
		assert_int_equal(other, 0);
		free(b);
	}
}

static void fadt_is_hardware_reduced_with_sleep_and_reset_registers(void **state)
{
	struct built *b = build(2, 1);
	const uint8_t *f = at(b, b->l.fadt);
	(void)state;

	assert_int_equal(f[8], 6);                       /* revision */
	assert_int_equal(f[131], 3);                     /* minor: ACPI 6.3 */
	assert_true(le32(f + 112) & (1u << 20));         /* HW_REDUCED_ACPI */
	assert_true(le32(f + 112) & (1u << 10));         /* RESET_REG_SUP */
	assert_int_equal(le16(f + 109) & 0x23, 0x03);    /* legacy devices, 8042, a CMOS RTC */
	assert_int_equal(f[108], 0x32);                  /* RTC century index */
	/* GAS: system I/O, 8 bits, byte access. */
	const struct { size_t off; uint16_t port; } regs[] = {
		{ 116, X86_PORT_ACPI_PM + ACPI_PM_RESET },
		{ 244, X86_PORT_ACPI_PM + ACPI_PM_SLEEP_CONTROL },
		{ 256, X86_PORT_ACPI_PM + ACPI_PM_SLEEP_STATUS },
	};
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *g = f + regs[i].off;
		assert_int_equal(g[0], 1);
		assert_int_equal(g[1], 8);
		assert_int_equal(g[3], 1);
		assert_int_equal(le64(g + 4), regs[i].port);
	}
	assert_int_equal(f[128], ACPI_PM_RESET_VALUE);
	/* No PM1 blocks, SCI or FACS on a hardware-reduced platform. */
	assert_int_equal(le32(f + 36), 0);
	assert_int_equal(le16(f + 46), 0);
	assert_int_equal(le32(f + 56), 0);
	assert_int_equal(le32(f + 64), 0);
	free(b);
}

static void bad_descriptions_are_refused(void **state)
{
	static uint8_t buf[CAP];
	struct acpi_machine m;
	struct acpi_layout l;
	struct vmon_error err = { 0 };
	(void)state;

	machine(&m, 0, 0);
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "0 CPUs"));
	machine(&m, ACPI_MAX_CPUS + 1, 0);
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	machine(&m, 1, 0);
	assert_int_equal(acpi_build(&m, BASE + 8, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "aligned"));
	assert_int_equal(acpi_build(&m, BASE, buf, 200, &l, &err), -ENOSPC);
	assert_int_equal(acpi_build(&m, BASE, buf, 560, &l, &err), -ENOSPC);   /* the DSDT does not fit */
	assert_non_null(strstr(err.msg, "DSDT"));
	machine(&m, ACPI_MAX_CPUS, 0);
	assert_int_equal(acpi_build(&m, BASE, buf, 4096, &l, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "1024 CPUs"));

	machine(&m, 1, 0);
	assert_int_equal(acpi_machine_add_virtio_mmio(&m, 0xfffff000, 0x2000, 5, NULL), 0);
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "below 4 GiB"));
	machine(&m, 1, 0);
	m.isa[0].irq = 16;
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "COM1"));
	machine(&m, 1, 0);
	m.isa[0].name = "com1";
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "DSDT"));
	machine(&m, 1, 0);
	m.isa[0].hid = "PNP501";
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "EISA ID"));
	machine(&m, 1, 0);
	m.pm_port = 0xfffe;
	assert_int_equal(acpi_build(&m, BASE, buf, sizeof(buf), &l, &err), -EINVAL);

	machine(&m, 1, 0);
	for (unsigned i = 0; i < ACPI_MAX_MMIO_DEVICES; i++)
		assert_int_equal(acpi_machine_add_virtio_mmio(&m, 0xd0000000, 0x1000, 5, NULL), 0);
	assert_int_equal(acpi_machine_add_virtio_mmio(&m, 0xd0000000, 0x1000, 5, &err), -ENOSPC);
}

/* Linux without boot_params.acpi_rsdp_addr scans the BIOS area for the first "RSD PTR " on a 16-byte boundary. */
static void acpi_write_puts_the_rsdp_where_a_bios_scan_finds_it(void **state)
{
	struct guest_mem mem;
	struct acpi_machine m;
	struct acpi_layout l;
	(void)state;

	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	machine(&m, 2, 2);
	assert_int_equal(acpi_write(&mem, &m, &l, NULL), 0);
	uint64_t found = 0;
	for (uint64_t a = 0xe0000; a < 0x100000 && !found; a += 16) {
		const uint8_t *p = guest_mem_ptr(&mem, a, 36);
		if (!memcmp(p, "RSD PTR ", 8) && acpi_sum(p, 20) == 0)
			found = a;
	}
	assert_int_equal(found, X86_ACPI_ADDR);
	assert_int_equal(l.rsdp, X86_ACPI_ADDR);
	assert_true(l.end <= X86_BIOS_HOLE_END);
	guest_mem_destroy(&mem);
}

/* Runs a shell command; returns its exit status with its output (stdout + stderr) in out. */
static int run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int status;

	assert_non_null(p);
	while (n + 1 < size) {
		size_t r = fread(out + n, 1, size - 1 - n, p);
		if (r == 0)
			break;
		n += r;
	}
	out[n] = '\0';
	while (fgetc(p) != EOF)
		;
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *dir, const char *name)
{
	char path[512];
	static char text[1 << 20];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s was not written", path);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void assert_clean(const char *what, int rc, const char *out)
{
	if (rc != 0 || strstr(out, "Warning") || strstr(out, "Error") || strstr(out, "Invalid") ||
	    strstr(out, "****"))
		fail_msg("%s (exit %d) complained:\n%s", what, rc, out);
}

/*
 * Bytes of our table and of iasl's recompilation agree after the header,
 * except for resource-template checksums (iasl writes 0 = "not checked",
 * vmon the real sum) right after an EndTag (0x79).
 */
static void assert_same_body(const char *name, const uint8_t *ours, size_t len, const char *dir,
			     const char *recompiled)
{
	char path[512];
	static uint8_t theirs[CAP];

	snprintf(path, sizeof(path), "%s/%s", dir, recompiled);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("iasl wrote no %s", path);
	size_t n = fread(theirs, 1, sizeof(theirs), f);
	fclose(f);
	if (n != len)
		fail_msg("%s: iasl recompiles it to %zu bytes, vmon wrote %zu", name, n, len);
	for (size_t i = 36; i < len; i++) {
		if (ours[i] == theirs[i] || (theirs[i] == 0 && ours[i - 1] == 0x79))
			continue;
		fail_msg("%s: byte 0x%zx is 0x%02x, iasl's recompilation has 0x%02x", name, i, ours[i], theirs[i]);
	}
}

static void acpica_disassembles_recompiles_and_runs_the_tables(void **state)
{
	static const unsigned cpus[] = { 4, 300 };
	char dir[] = "/tmp/vmon-test-acpi-XXXXXX";
	static char out[1 << 16];
	char cmd[1024];
	(void)state;

	if (!IASL[0] || !ACPIEXEC[0])
		fail_msg("iasl or acpiexec was not found when the build was configured: install acpica-tools "
			 "(scripts/install-deps.sh) and reconfigure");
	assert_non_null(mkdtemp(dir));
	for (size_t c = 0; c < sizeof(cpus) / sizeof(cpus[0]); c++) {
		struct built *b = build(cpus[c], 3);
		const struct { const char *name; uint64_t gpa; } tables[] = {
			{ "xsdt", b->l.xsdt }, { "facp", b->l.fadt }, { "apic", b->l.madt }, { "dsdt", b->l.dsdt },
		};
		for (size_t t = 0; t < 4; t++) {
			char dat[32], dsl[32], aml[32];
			uint32_t len = table_len(b, tables[t].gpa);

			snprintf(dat, sizeof(dat), "%s.dat", tables[t].name);
			snprintf(dsl, sizeof(dsl), "%s.dsl", tables[t].name);
			snprintf(aml, sizeof(aml), "re_%s.aml", tables[t].name);
			write_file(dir, dat, at(b, tables[t].gpa), len);
			snprintf(cmd, sizeof(cmd), "cd %s && '%s' -d %s 2>&1", dir, IASL, dat);
			assert_clean(cmd, run(cmd, out, sizeof(out)), out);
			if (!strstr(out, "disassembl"))
				fail_msg("%s did not disassemble:\n%s", dat, out);
			/* -oa: no optimizations, so the AML comes back as written. */
			snprintf(cmd, sizeof(cmd), "cd %s && '%s' -oa -p re_%s %s 2>&1", dir, IASL, tables[t].name, dsl);
			int rc = run(cmd, out, sizeof(out));
			if (rc != 0 || !strstr(out, "Compilation successful. 0 Errors, 0 Warnings, 0 Remarks"))
				fail_msg("recompiling %s (exit %d):\n%s", dsl, rc, out);
			assert_same_body(dat, at(b, tables[t].gpa), len, dir, aml);
		}

		const char *dsdt = read_text(dir, "dsdt.dsl");
		static const char *const wanted[] = {
			"Device (COM1)", "EisaId (\"PNP0501\")", "0x03F8", "IRQNoFlags ()\n                    {4}",
			"Device (PS2K)", "EisaId (\"PNP0303\")", "Device (RTC)", "EisaId (\"PNP0B00\")",
			"Device (VR00)", "Device (VR02)", "\"LNRO0005\"", "0xD0002000",
			"Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )\n                {\n"
			"                    0x00000007,",
			"Name (\\_S5, Package (0x04)",
		};
		for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
			if (!strstr(dsdt, wanted[i]))
				fail_msg("the DSDT disassembly lacks \"%s\":\n%s", wanted[i], dsdt);
		const char *madt = read_text(dir, "apic.dsl");
		assert_non_null(strstr(madt, cpus[c] > 255 ? "[Processor Local x2APIC]" : "[Processor Local APIC]"));
		assert_non_null(strstr(madt, "Address : FEC00000"));
		const char *fadt = read_text(dir, "facp.dsl");
		assert_non_null(strstr(fadt, "Hardware Reduced (V5) : 1"));
		assert_non_null(strstr(fadt, "Address : 0000000000000600"));

		/* acpiexec loads the DSDT into ACPICA's namespace and evaluates objects as an OS would. */
		{
			snprintf(cmd, sizeof(cmd), "cd %s && '%s' -b 'evaluate \\_S5_; evaluate \\_SB.VR01._CRS' dsdt.dat 2>&1",
				 dir, ACPIEXEC);
			int rc = run(cmd, out, sizeof(out));
			assert_clean(cmd, rc, out);
			if (!strstr(out, "[Package] Contains 4 Elements:\n    [Integer] = 0000000000000005") ||
			    !strstr(out, "86 09 00 01 00 10 00 D0 00 10 00 00 89 06 00 03"))
				fail_msg("acpiexec did not evaluate \\_S5_ and VR01._CRS as expected:\n%s", out);
		}
		free(b);
	}
	snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A machine with vmon's PCI host bridge: MCFG in the XSDT, \_SB.PCI0, MSI no longer ruled out. */
static void pci_host_gets_an_mcfg_table_and_a_pci0_device(void **state)
{
	struct built *b = calloc(1, sizeof(*b));
	struct vmon_error err = { 0 };
	char dir[] = "/tmp/vmon-test-acpi-pci-XXXXXX";
	static char out[1 << 16];
	char cmd[1024];
	(void)state;

	assert_non_null(b);
	machine(&b->m, 2, 1);
	acpi_machine_add_pci_host(&b->m);
	if (acpi_build(&b->m, BASE, b->buf, sizeof(b->buf), &b->l, &err))
		fail_msg("acpi_build: %s", err.msg);
	const uint8_t *xsdt = at(b, b->l.xsdt), *mcfg = at(b, b->l.mcfg), *fadt = at(b, b->l.fadt);
	assert_int_equal(table_len(b, b->l.xsdt), 36 + 3 * 8);
	assert_int_equal(le64(xsdt + 52), b->l.mcfg);
	assert_memory_equal(mcfg, "MCFG", 4);
	assert_int_equal(table_len(b, b->l.mcfg), 36 + 8 + 16);
	assert_int_equal(acpi_sum(mcfg, table_len(b, b->l.mcfg)), 0);
	assert_int_equal(le64(mcfg + 44), X86_PCI_ECAM_BASE);
	assert_int_equal(mcfg[52] | mcfg[53] << 8, 0);   /* segment 0 */
	assert_int_equal(mcfg[54], 0);                    /* buses 0 .. 0 */
	assert_int_equal(mcfg[55], 0);
	assert_int_equal(le32(fadt + 109) & 0xffff & (1u << 3), 0);   /* IAPC_BOOT_ARCH: MSI not ruled out */
	assert_int_equal(acpi_sum(at(b, b->l.dsdt), table_len(b, b->l.dsdt)), 0);

	if (!IASL[0])
		fail_msg("iasl was not found when the build was configured: install acpica-tools");
	assert_non_null(mkdtemp(dir));
	write_file(dir, "mcfg.dat", mcfg, table_len(b, b->l.mcfg));
	write_file(dir, "dsdt.dat", at(b, b->l.dsdt), table_len(b, b->l.dsdt));
	snprintf(cmd, sizeof(cmd), "cd %s && '%s' -d mcfg.dat dsdt.dat 2>&1", dir, IASL);
	assert_clean(cmd, run(cmd, out, sizeof(out)), out);
	snprintf(cmd, sizeof(cmd), "cd %s && '%s' -oa -p re_dsdt dsdt.dsl 2>&1", dir, IASL);
	int rc = run(cmd, out, sizeof(out));
	if (rc != 0 || !strstr(out, "Compilation successful. 0 Errors, 0 Warnings, 0 Remarks"))
		fail_msg("recompiling the DSDT (exit %d):\n%s", rc, out);
	assert_same_body("dsdt.dat", at(b, b->l.dsdt), table_len(b, b->l.dsdt), dir, "re_dsdt.aml");
	const char *dsdt = read_text(dir, "dsdt.dsl");
	static const char *const wanted[] = {
		"Device (PCI0)", "EisaId (\"PNP0A08\")", "EisaId (\"PNP0A03\")", "Name (_SEG, Zero)", "Name (_BBN, Zero)",
		"WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,", "0x0CF8",
		"DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
		"0xC0000000,", "0xCFFFFFFF,", "0x10000000,", "Device (VR00)",
	};
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!strstr(dsdt, wanted[i]))
			fail_msg("the DSDT disassembly lacks \"%s\":\n%s", wanted[i], dsdt);
	const char *m = read_text(dir, "mcfg.dsl");
	if (!strstr(m, "Base Address : 00000000E0000000") || !strstr(m, "End Bus Number : 00"))
		fail_msg("iasl reads the MCFG differently:\n%s", m);
	snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rsdp_points_to_the_xsdt_with_both_checksums),
		cmocka_unit_test(every_table_sums_to_zero_and_the_pointers_chain),
		cmocka_unit_test(madt_has_one_enabled_apic_entry_per_cpu),
		cmocka_unit_test(fadt_is_hardware_reduced_with_sleep_and_reset_registers),
		cmocka_unit_test(bad_descriptions_are_refused),
		cmocka_unit_test(acpi_write_puts_the_rsdp_where_a_bios_scan_finds_it),
		cmocka_unit_test(acpica_disassembles_recompiles_and_runs_the_tables),
		cmocka_unit_test(pci_host_gets_an_mcfg_table_and_a_pci0_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
