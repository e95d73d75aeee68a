/* SPDX-License-Identifier: MIT */
/*
 * pci_evil: a malicious driver for PCI configuration space and virtio-pci
 * BARs. Needs a virtio-rng and a virtio-blk on PCI. Through 0xcf8/0xcfc and
 * through ECAM it reads and writes past the 256 (and 4096) bytes of a
 * function, absent devices, functions and buses, odd sizes and unaligned
 * places, read-only fields; moves BAR 0 over RAM, the ECAM window, the
 * LAPIC and IOAPIC, another device's BAR, to where it wraps at 2^32 and
 * 2^64; toggles memory decoding; writes garbage into the MSI-X table
 * (addresses outside 0xfee00000, huge data, entries and vectors past the
 * table); notifies queues that do not exist; programs queues past
 * num_queues. After each group it checks what a correct host bridge must
 * show (absent things read all ones, read-only bytes stay, a refused BAR
 * decodes nothing). Finally it puts everything back and checks that
 * virtio-rng serves a request end to end with an MSI-X interrupt.
 *
 * Failures: 1 = config space, 2 = BARs, 3 = MSI-X, 4 = common configuration
 * or notifications, 5 = the final request. Library failures: 90..95.
 */
#include <linux/virtio_rng.h>

#include "pci.h"

#define MSIX_VECTOR 0x30u       /* CPU vector of the good MSI-X message */
#define RNG_BYTES 64u
#define ALL_ONES 0xffffffffu

static struct vpci_dev rng, blk;
static struct vq rq;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t entropy[RNG_BYTES];

static void emit(char c, void *ctx)
{
	(void)ctx;
	serial_putc(c);
}

__attribute__((format(printf, 3, 4))) static void expect(bool ok, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	printf("pci_evil: FAIL: ");
	va_start(ap, fmt);
	vformat(emit, NULL, fmt, ap);
	va_end(ap);
	printf("\n");
	debug_exit(code);
}

static uint32_t cfg(enum pci_mech m, unsigned dev, uint32_t off, unsigned size)
{
	return pci_cfg_read(m, 0, dev, 0, off, size);
}

static const char *mech_name(enum pci_mech m)
{
	return m == PCI_MECH_ECAM ? "ECAM" : "0xcf8";
}

/* ---- configuration space ------------------------------------------------------------- */

static void config_space(enum pci_mech m)
{
	unsigned dev = rng.devnum;
	uint32_t ids = cfg(m, dev, PCI_VENDOR_ID, 4), class = cfg(m, dev, PCI_CLASS_REVISION, 4);
	uint32_t cap = cfg(m, dev, PCI_CAPABILITY_LIST, 1);
	unsigned absent = 31;

	while (absent > 0 && cfg(m, absent, PCI_VENDOR_ID, 2) != 0xffff)
		absent--;
	expect(absent > 0, 1, "no absent device number on bus 0");
	/* Absent devices, functions, buses: all ones; writes there change nothing. */
	pci_cfg_write(m, 0, absent, 0, PCI_COMMAND, 2, 0xffff);
	expect(cfg(m, absent, PCI_VENDOR_ID, 4) == ALL_ONES, 1, "%s: absent 00:%02x.0 reads 0x%x", mech_name(m),
	       absent, cfg(m, absent, PCI_VENDOR_ID, 4));
	for (unsigned fn = 1; fn < 8; fn++) {
		pci_cfg_write(m, 0, dev, fn, PCI_COMMAND, 2, 0xffff);
		expect(pci_cfg_read(m, 0, dev, fn, PCI_VENDOR_ID, 4) == ALL_ONES, 1, "%s: function %u reads 0x%x",
		       mech_name(m), fn, pci_cfg_read(m, 0, dev, fn, PCI_VENDOR_ID, 4));
	}
	for (unsigned bus = 1; bus < 256; bus += 127) {
		pci_cfg_write(m, bus, dev, 0, PCI_COMMAND, 2, 0xffff);
		expect(pci_cfg_read(m, bus, dev, 0, PCI_VENDOR_ID, 4) == ALL_ONES, 1, "%s: bus %u reads 0x%x",
		       mech_name(m), bus, pci_cfg_read(m, bus, dev, 0, PCI_VENDOR_ID, 4));
	}
	/* Read-only fields: ids, class, header type, capability pointer, interrupt pin. */
	pci_cfg_write(m, 0, dev, 0, PCI_VENDOR_ID, 4, 0x12345678);
	pci_cfg_write(m, 0, dev, 0, PCI_CLASS_REVISION, 4, 0);
	pci_cfg_write(m, 0, dev, 0, PCI_HEADER_TYPE, 1, 0x81);
	pci_cfg_write(m, 0, dev, 0, PCI_CAPABILITY_LIST, 1, 0x10);
	pci_cfg_write(m, 0, dev, 0, PCI_INTERRUPT_PIN, 1, 1);
	pci_cfg_write(m, 0, dev, 0, PCI_ROM_ADDRESS, 4, ALL_ONES);
	pci_cfg_write(m, 0, dev, 0, PCI_BASE_ADDRESS_2, 4, ALL_ONES);
	expect(cfg(m, dev, PCI_VENDOR_ID, 4) == ids && cfg(m, dev, PCI_CLASS_REVISION, 4) == class &&
	       cfg(m, dev, PCI_HEADER_TYPE, 1) == 0 && cfg(m, dev, PCI_CAPABILITY_LIST, 1) == cap &&
	       cfg(m, dev, PCI_INTERRUPT_PIN, 1) == 0 && cfg(m, dev, PCI_ROM_ADDRESS, 4) == 0 &&
	       cfg(m, dev, PCI_BASE_ADDRESS_2, 4) == 0, 1, "%s: a read-only field changed", mech_name(m));
	/* Every capability byte is read-only but the MSI-X control's enable/mask and the PCI_CFG window. */
	for (uint32_t off = 0x40; off < 0x100; off += 4) {
		uint32_t before = cfg(m, dev, off, 4);
		if (off == rng.msix_cap || off >= 0x90)
			continue;
		pci_cfg_write(m, 0, dev, 0, off, 4, ~before);
		expect(cfg(m, dev, off, 4) == before, 1, "%s: capability dword 0x%x went 0x%x -> 0x%x", mech_name(m),
		       off, before, cfg(m, dev, off, 4));
	}
	/* Odd sizes and unaligned places: all ones, writes dropped. */
	if (m == PCI_MECH_ECAM) {
		uint64_t f = PCI_ECAM_BASE + ((uint64_t)dev << 15);
		uint32_t cmd = cfg(m, dev, PCI_COMMAND, 2);
		expect(mmio_read32(f + 2) == ALL_ONES && mmio_read16(f + 1) == 0xffff &&
		       mmio_read64(f) == ~0ull, 1, "ECAM: unaligned or 8-byte reads do not read all ones");
		mmio_write32(f + PCI_COMMAND + 2, 0);
		mmio_write16(f + PCI_COMMAND + 1, 0);
		mmio_write64(f, 0);
		expect(cfg(m, dev, PCI_COMMAND, 2) == cmd && cfg(m, dev, PCI_VENDOR_ID, 4) == ids, 1,
		       "ECAM: an unaligned write got through");
		/* Past 256 bytes: no extended capabilities (0); past the bus: nothing decodes (all ones). */
		for (uint32_t off = 0x100; off < 0x1000; off += 0x3fc)
			expect(mmio_read32(f + off) == 0, 1, "ECAM: offset 0x%x reads 0x%x", off, mmio_read32(f + off));
		mmio_write32(f + 0x100, ALL_ONES);
		expect(mmio_read32(f + 0x100) == 0, 1, "ECAM: offset 0x100 kept a write");
		(void)mmio_read32(f + 0xffe);   /* across the function's end: KVM splits it; survive it */
		expect(mmio_read32(PCI_ECAM_BASE + PCI_ECAM_BUS_SIZE) == ALL_ONES, 1, "ECAM: bus 1 decodes");
	} else {
		uint32_t cmd = cfg(m, dev, PCI_COMMAND, 2);
		outl(PCI_CONFIG_ADDRESS, 0x80000000u | dev << 11 | PCI_COMMAND);
		expect(inw(PCI_CONFIG_DATA + 1) == 0xffff && inw(PCI_CONFIG_DATA + 3) == 0xffff, 1,
		       "0xcfc: unaligned word reads do not read all ones");
		outw(PCI_CONFIG_DATA + 3, 0);
		outw(PCI_CONFIG_DATA + 1, 0);
		expect(cfg(m, dev, PCI_COMMAND, 2) == cmd, 1, "0xcfc: an unaligned write got through");
		expect(inb(PCI_CONFIG_ADDRESS) == 0xff && inw(PCI_CONFIG_ADDRESS + 2) == 0xffff, 1,
		       "0xcf8: a byte or word read of the address register");
		outb(PCI_CONFIG_ADDRESS + 3, 0);   /* mechanism #2's register: dropped */
		outl(PCI_CONFIG_ADDRESS, ALL_ONES);   /* reserved bits 30:24 and 1:0 do not stick */
		expect(inl(PCI_CONFIG_ADDRESS) == 0x80fffffcu, 1, "0xcf8 reads 0x%x after writing all ones",
		       inl(PCI_CONFIG_ADDRESS));
		expect(inl(PCI_CONFIG_DATA) == ALL_ONES, 1, "bus 255 through 0xcfc decodes");
		outl(PCI_CONFIG_ADDRESS, dev << 11);   /* enable bit clear: nothing */
		expect(inl(PCI_CONFIG_DATA) == ALL_ONES, 1, "0xcfc answers with the enable bit clear");
		outl(PCI_CONFIG_DATA, 0);
		expect(cfg(m, dev, PCI_VENDOR_ID, 4) == ids, 1, "a write with the enable bit clear got through");
	}
	printf("pci_evil: config space through %s: ok\n", mech_name(m));
}

/* ---- BARs -------------------------------------------------------------------------------- */

static bool decodes(const struct vpci_dev *d, uint64_t at)
{
	return mmio_read16(at + d->common + offsetof(struct virtio_pci_common_cfg, num_queues)) == d->num_queues;
}

/* Moves rng's BAR 0 to a place that must be refused, through m: nothing decodes there nor at home. */
static void refused_move(enum pci_mech m, uint64_t to, const char *what, bool probe)
{
	uint64_t home = rng.bar;

	pci_set_bar0(m, rng.devnum, to);
	expect(pci_bar0(rng.devnum) == to, 2, "BAR 0 reads 0x%lx after writing 0x%lx (%s)", pci_bar0(rng.devnum), to,
	       what);
	expect(!decodes(&rng, home), 2, "BAR 0 still decodes at 0x%lx after moving %s", home, what);
	if (probe)
		expect(mmio_read32(to) != 0x12345678u, 2, "%s", what);   /* just that it does not crash */
	pci_set_bar0(m == PCI_MECH_ECAM ? PCI_MECH_PORT : PCI_MECH_ECAM, rng.devnum, home);
	expect(decodes(&rng, home), 2, "BAR 0 does not decode back at 0x%lx after %s", home, what);
	printf("pci_evil: BAR 0 %s through %s: refused, back home: ok\n", what, mech_name(m));
}

static void bars(void)
{
	unsigned dev = rng.devnum;
	uint64_t home = rng.bar, lapic_page = LAPIC_BASE, spare = 0;
	uint32_t lo, hi, cmd = cfg(PCI_MECH_ECAM, dev, PCI_COMMAND, 2);

	expect(decodes(&rng, home) && decodes(&blk, blk.bar), 2, "BARs do not decode at first");
	/* Sizing: all ones reads back the size mask (32 KiB, 64-bit memory). */
	pci_cfg_write(PCI_MECH_PORT, 0, dev, 0, PCI_BASE_ADDRESS_0, 4, ALL_ONES);
	pci_cfg_write(PCI_MECH_PORT, 0, dev, 0, PCI_BASE_ADDRESS_1, 4, ALL_ONES);
	lo = cfg(PCI_MECH_ECAM, dev, PCI_BASE_ADDRESS_0, 4);
	hi = cfg(PCI_MECH_ECAM, dev, PCI_BASE_ADDRESS_1, 4);
	expect(lo == 0xffff8004u && hi == ALL_ONES, 2, "BAR sizing reads 0x%x:0x%x", hi, lo);
	pci_set_bar0(PCI_MECH_ECAM, dev, home | 0x1234);   /* low bits are not writable */
	expect(pci_bar0(dev) == home && decodes(&rng, home), 2, "unaligned BAR write: 0x%lx", pci_bar0(dev));

	for (int k = 0; k < 2; k++) {
		enum pci_mech m = k ? PCI_MECH_PORT : PCI_MECH_ECAM;
		refused_move(m, 0x100000, "over RAM", false);
		refused_move(m, PCI_ECAM_BASE, "over the ECAM window", true);
		refused_move(m, blk.bar, "over virtio-blk's BAR", false);
		refused_move(m, lapic_page, "over the LAPIC", false);
		refused_move(m, IOAPIC_BASE, "over the IOAPIC", false);
		refused_move(m, 0xffff8000ull, "ending at 2^32", false);
		refused_move(m, 0xffffffffffff8000ull, "ending at 2^64", false);
		refused_move(m, 0x100000000ull, "above 4 GiB", false);
	}
	expect(decodes(&blk, blk.bar), 2, "virtio-blk's BAR stopped decoding");
	/* A free place in the window: decoded there, and nowhere else. */
	for (uint64_t at = PCI_WINDOW_END - 0x8000; at > PCI_WINDOW_BASE; at -= 0x8000)
		if ((at < blk.bar || at >= blk.bar + 0x8000) && at != home && !decodes(&rng, at) &&
		    mmio_read32(at) == ALL_ONES) {
			spare = at;
			break;
		}
	expect(spare != 0, 2, "no free 32 KiB in the PCI window");
	pci_set_bar0(PCI_MECH_PORT, dev, spare);
	expect(decodes(&rng, spare) && !decodes(&rng, home), 2, "BAR 0 moved to 0x%lx does not decode there", spare);
	pci_set_bar0(PCI_MECH_ECAM, dev, home);
	/* Memory decoding off and on, many times. */
	for (int i = 0; i < 50; i++) {
		pci_cfg_write(i & 1 ? PCI_MECH_PORT : PCI_MECH_ECAM, 0, dev, 0, PCI_COMMAND, 2,
			      cmd & ~PCI_COMMAND_MEMORY);
		expect(!decodes(&rng, home), 2, "BAR 0 decodes with memory space disabled");
		pci_cfg_write(i & 1 ? PCI_MECH_ECAM : PCI_MECH_PORT, 0, dev, 0, PCI_COMMAND, 2, cmd);
		expect(decodes(&rng, home), 2, "BAR 0 does not decode with memory space enabled");
	}
	/* Past the BAR, still in the window: all ones. */
	expect(mmio_read32(home + 0x8000) == ALL_ONES || home + 0x8000 == blk.bar, 2, "past the BAR decodes");
	printf("pci_evil: BARs: sizing, refused moves, a good move and decode toggling: ok\n");
}

/* ---- MSI-X table, common configuration, notifications -------------------------------------- */

static uint64_t entry_addr(unsigned v)
{
	return rng.bar + rng.msix_table + 16ull * v;
}

static void set_entry(unsigned v, uint64_t addr, uint32_t data, uint32_t ctrl)
{
	mmio_write32(entry_addr(v) + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)addr);
	mmio_write32(entry_addr(v) + PCI_MSIX_ENTRY_UPPER_ADDR, (uint32_t)(addr >> 32));
	mmio_write32(entry_addr(v) + PCI_MSIX_ENTRY_DATA, data);
	mmio_write32(entry_addr(v) + PCI_MSIX_ENTRY_VECTOR_CTRL, ctrl);
}

static uint32_t rng_request(const char *what, bool must_serve)
{
	struct vq_seg seg = { entropy, RNG_BYTES, true };
	uint32_t len = 0;
	bool served = vpci_submit_wait(&rng, &rq, &seg, 1, &len, VIRTIO_TIMEOUT_S);

	expect(served || !must_serve, 5, "%s: no used buffer within %u s", what, VIRTIO_TIMEOUT_S);
	return len;
}

static void setup_rng(void)
{
	vpci_negotiate(&rng, 0);
	vpci_queue_setup(&rng, &rq, 0, 8, ring_page, 0);
	vpci_driver_ok(&rng);
}

static void msix_and_common(void)
{
	uint64_t common = rng.bar + rng.common;
	uint32_t irqs;

	setup_rng();
	vpci_msix_attach(&rng, 0, MSIX_VECTOR);
	/* Entries past the table: dropped, read 0; unaligned and byte accesses: dropped. */
	for (unsigned v = rng.msix_size; v < rng.msix_size + 4u; v++) {
		set_entry(v, LAPIC_BASE, MSIX_VECTOR, 0);
		expect(mmio_read32(entry_addr(v)) == 0, 3, "MSI-X entry %u past the table kept a write", v);
	}
	mmio_write8(entry_addr(1) + 1, 0xff);
	mmio_write16(entry_addr(1) + 2, 0xffff);
	mmio_write32(entry_addr(1) + 2, ALL_ONES);
	expect(mmio_read32(entry_addr(1)) != ALL_ONES, 3, "a partial MSI-X table write got through");
	/* Vectors past the table read back VIRTIO_MSI_NO_VECTOR. */
	mmio_write16(common + offsetof(struct virtio_pci_common_cfg, msix_config), rng.msix_size);
	expect(mmio_read16(common + offsetof(struct virtio_pci_common_cfg, msix_config)) == VIRTIO_MSI_NO_VECTOR, 3,
	       "msix_config past the table was taken");
	/* An address outside the LAPIC's: the message is dropped, the request is still served. */
	set_entry(0, 0xdead0000, MSIX_VECTOR, 0);
	irqs = rng.irqs;
	expect(rng_request("request with a bad MSI-X address", true) == RNG_BYTES, 3, "short entropy");
	set_entry(0, 0xfec00000, MSIX_VECTOR, 0);   /* the IOAPIC */
	rng_request("request with the MSI-X address at the IOAPIC", true);
	expect(rng.irqs == irqs, 3, "%u interrupts from entries not at the LAPIC", rng.irqs - irqs);
	/* Huge data: bits 31:16 are reserved on x86; vmon passes them, KVM delivers the vector (if at all). */
	set_entry(0, LAPIC_BASE, 0xffff0000u | MSIX_VECTOR, 0);
	rng_request("request with reserved MSI-X data bits", true);
	printf("pci_evil: MSI-X garbage: served, %u interrupt(s) from reserved data bits\n", rng.irqs - irqs);

	/* queue_select past num_queues: its registers read 0 and keep no write. */
	for (uint32_t q = rng.num_queues; q < 0x10000; q = q * 4 + 1) {
		mmio_write16(common + offsetof(struct virtio_pci_common_cfg, queue_select), (uint16_t)q);
		mmio_write16(common + offsetof(struct virtio_pci_common_cfg, queue_size), 8);
		mmio_write32(common + offsetof(struct virtio_pci_common_cfg, queue_desc_lo), 0x1000);
		mmio_write16(common + offsetof(struct virtio_pci_common_cfg, queue_msix_vector), 0);
		mmio_write16(common + offsetof(struct virtio_pci_common_cfg, queue_enable), 1);
		expect(mmio_read16(common + offsetof(struct virtio_pci_common_cfg, queue_size)) == 0 &&
		       mmio_read16(common + offsetof(struct virtio_pci_common_cfg, queue_enable)) == 0 &&
		       mmio_read32(common + offsetof(struct virtio_pci_common_cfg, queue_desc_lo)) == 0 &&
		       mmio_read16(common + offsetof(struct virtio_pci_common_cfg, queue_msix_vector)) ==
			       VIRTIO_MSI_NO_VECTOR, 4, "queue %u past num_queues kept a write", q);
	}
	/* Read-only and partial writes. */
	mmio_write16(common + offsetof(struct virtio_pci_common_cfg, num_queues), 100);
	mmio_write8(common + offsetof(struct virtio_pci_common_cfg, device_feature_select) + 1, 1);
	mmio_write64(common + offsetof(struct virtio_pci_common_cfg, queue_select), ~0ull);
	expect(mmio_read16(common + offsetof(struct virtio_pci_common_cfg, num_queues)) == rng.num_queues, 4,
	       "num_queues changed");
	/* Notifications for queues that do not exist, unaligned ones, past the BAR. */
	for (uint32_t q = rng.num_queues; q < 1024u; q = q * 2 + 1)
		mmio_write16(rng.bar + rng.notify + q * rng.notify_mult, (uint16_t)q);
	mmio_write16(rng.bar + rng.notify + 2, 0);
	mmio_write32(rng.bar + rng.notify + 0xffe, 0);
	mmio_write32(rng.bar + 0x7ffe, 0);   /* across the BAR's end */
	/* The PCI_CFG window pointed at another BAR and bad lengths. */
	pci_cfg_write(PCI_MECH_ECAM, 0, rng.devnum, 0, 0x90 + offsetof(struct virtio_pci_cap, bar), 1, 5);
	pci_cfg_write(PCI_MECH_ECAM, 0, rng.devnum, 0, 0x90 + offsetof(struct virtio_pci_cap, length), 4, 3);
	(void)cfg(PCI_MECH_ECAM, rng.devnum, 0x90 + sizeof(struct virtio_pci_cap), 4);
	pci_cfg_write(PCI_MECH_PORT, 0, rng.devnum, 0, 0x90 + sizeof(struct virtio_pci_cap), 4, ALL_ONES);
	printf("pci_evil: common configuration and notifications past the queues: ok\n");
}

static void final_check(void)
{
	uint32_t irqs, len, nonzero = 0;
	struct virtio_deadline d;

	/* Everything back: a fresh set-up, a good entry, a request, its interrupt. */
	expect(pci_bar0(rng.devnum) == rng.bar && decodes(&rng, rng.bar), 5, "BAR 0 is not home");
	setup_rng();
	vpci_msix_attach(&rng, 0, MSIX_VECTOR);
	irqs = rng.irqs;
	memset(entropy, 0, sizeof(entropy));
	len = rng_request("final request", true);
	virtio_deadline_start(&d, VIRTIO_TIMEOUT_S);
	while (rng.irqs == irqs)
		expect(!virtio_deadline_expired(&d), 5, "no MSI-X interrupt for the final request");
	for (unsigned i = 0; i < RNG_BYTES; i++)
		nonzero += entropy[i] != 0;
	expect(len == RNG_BYTES && nonzero > 0, 5, "final request: %u bytes, %u non-zero", len, nonzero);
	printf("pci_evil: virtio-rng serves after the attacks: %u bytes, %u MSI-X interrupt(s)\n", len,
	       rng.irqs - irqs);
}

void guest_main(const struct boot_info *bi)
{
	(void)bi;
	virtio_set_guest_name("pci_evil");
	idt_init();
	pic_init(0);   /* every 8259 line masked: only MSI-X interrupts reach the CPU */
	vpci_find(PCI_MECH_PORT, VIRTIO_ID_RNG, &rng);
	vpci_find(PCI_MECH_ECAM, VIRTIO_ID_BLOCK, &blk);
	/* vmon numbers drives before rng: the lower device wins an overlap, so rng's moves are the refused ones. */
	expect(blk.devnum < rng.devnum, 2, "virtio-blk at 00:%02x.0 is not before virtio-rng at 00:%02x.0",
	       blk.devnum, rng.devnum);
	vpci_enable(&rng);
	vpci_enable(&blk);
	vpci_negotiate(&rng, 0);
	vpci_negotiate(&blk, 0);
	config_space(PCI_MECH_PORT);
	config_space(PCI_MECH_ECAM);
	bars();
	msix_and_common();
	final_check();
	printf("pci_evil: all checks passed, vmon kept serving\n");
	debug_exit(GUEST_EXIT_PASS);
}
