/* SPDX-License-Identifier: MIT */
/*
 * virtio_blk: drives the first virtio-blk device the way a driver should,
 * and checks the answers against an image whose content the host chose.
 *
 * The image holds the pattern byte(o) = ((o >> 9) * 59 + (o & 511)) & 0xff
 * at file offset o (each 512-byte sector differs). Cmdline:
 *   sectors=N   sectors 0..N-1 are read and checked (default 8, at most 16)
 *   write=S     sector written with wbyte(S, j) = (j * 3 + S * 17 + 0xa5) & 0xff (default 8)
 *   ro=1        the drive is read-only: RO must be offered, the write must end
 *               in VIRTIO_BLK_S_IOERR and leave the sector as it was
 *   capacity=C  expected capacity in sectors (optional)
 *   id=SERIAL   expected GET_ID answer (optional)
 *   disk=N      use the Nth virtio-blk device (default 0, the first)
 *   irq=0       no interrupts (default: the 8259 delivers them and at least
 *               one must arrive)
 * Failures: 1 = capacity, 2 = RO feature offered when it should not be or
 * the other way round, 3 = read data differs, 4 = status not OK, 5 = used
 * length wrong, 6 = out-of-range read not IOERR, 7 = unknown request type not
 * UNSUPP, 8 = read-back after the write differs, 9 = read-only write not
 * IOERR, 10 = no FLUSH offered, 11 = GET_ID differs, 12 = no interrupt,
 * 13 = bad cmdline, 14 = DEVICE_NEEDS_RESET after a request the device had to
 * answer with an error status. Library failures: 90..95 (virtio.h).
 */
#include <linux/virtio_blk.h>

#include "virtio.h"

#define SECTOR 512u
#define MAX_SECTORS 16u
#define TYPE_UNKNOWN 0x54u   /* no such request type; without the OUT bit */

static struct virtio_dev dev;
static struct vq vq;
static struct virtio_blk_outhdr hdr;
static volatile uint8_t status;
static uint8_t data[MAX_SECTORS * SECTOR] __attribute__((section(".bss.noinit.blk"), aligned(4096)));
static char id_buf[VIRTIO_BLK_ID_BYTES + 1];

static uint8_t pattern_byte(uint64_t offset)
{
	return (uint8_t)((offset >> 9) * 59 + (offset & 511));
}

static uint8_t write_byte(uint64_t sector, uint32_t j)
{
	return (uint8_t)(j * 3 + sector * 17 + 0xa5);
}

/*
 * One request: header, the data split into `pieces` descriptors, status.
 * Returns the status byte (0xff when the device did not write it); *written
 * gets the used length.
 */
static uint8_t blk_request(uint32_t type, uint64_t sector, void *buf, uint32_t len, unsigned int pieces,
			   uint32_t *written, const char *what)
{
	struct vq_seg segs[2 + 4];
	bool device_writes = type != VIRTIO_BLK_T_OUT;
	uint32_t chunk = pieces > 1 ? len / pieces / SECTOR * SECTOR : len, off = 0;
	unsigned int n = 0;

	hdr.type = type;
	hdr.ioprio = 0;
	hdr.sector = sector;
	status = 0xff;
	segs[n++] = (struct vq_seg){ &hdr, sizeof(hdr), false };
	for (unsigned int i = 0; len && i < pieces; i++) {
		uint32_t part = i + 1 < pieces ? chunk : len - off;

		segs[n++] = (struct vq_seg){ (uint8_t *)buf + off, part, device_writes };
		off += part;
	}
	segs[n++] = (struct vq_seg){ &status, 1, true };
	*written = vq_submit_wait(&vq, segs, n, what);
	return status;
}

static void expect_status(uint8_t got, uint8_t want, uint32_t code, const char *what)
{
	if (got != want)
		virtio_fail(code, "%s: status %u, expected %u", what, got, want);
}

static void expect_len(uint32_t got, uint32_t want, const char *what)
{
	if (got != want)
		virtio_fail(5, "%s: used length %u, expected %u (bytes the device wrote)", what, got, want);
}

static void check_pattern(uint64_t first_sector, uint32_t sectors, const char *what)
{
	for (uint32_t i = 0; i < sectors * SECTOR; i++) {
		uint64_t off = first_sector * SECTOR + i;

		if (data[i] != pattern_byte(off))
			virtio_fail(3, "%s: byte 0x%lx of the image is 0x%x, expected 0x%x", what, off, data[i],
				    pattern_byte(off));
	}
}

static void read_sectors(uint64_t sector, uint32_t count, unsigned int pieces, const char *what)
{
	uint32_t written;

	memset(data, 0, count * SECTOR);
	expect_status(blk_request(VIRTIO_BLK_T_IN, sector, data, count * SECTOR, pieces, &written, what), VIRTIO_BLK_S_OK,
		      4, what);
	expect_len(written, count * SECTOR + 1, what);
}

static void expect_error_status(uint32_t type, uint64_t sector, uint32_t count, uint8_t want, uint32_t code,
				const char *what)
{
	uint32_t written;
	uint8_t got = blk_request(type, sector, data, count * SECTOR, 1, &written, what);

	printf("virtio_blk: %s: status %u\n", what, got);
	expect_status(got, want, code, what);
	if (virtio_needs_reset(&dev))
		virtio_fail(14, "%s: device set DEVICE_NEEDS_RESET for a well-formed request", what);
}

static uint64_t cmdline_or(const struct boot_info *bi, const char *key, uint64_t dflt)
{
	uint64_t v;

	if (!cmdline_get(bi, key))
		return dflt;
	if (!cmdline_get_u64(bi, key, &v))
		virtio_fail(13, "bad %s value", key);
	return v;
}

static void check_config(const struct boot_info *bi, bool ro, uint64_t *capacity)
{
	uint64_t want = cmdline_or(bi, "capacity=", 0);

	*capacity = virtio_cfg64(&dev, offsetof(struct virtio_blk_config, capacity));
	printf("virtio_blk: capacity %lu sectors", *capacity);
	if (virtio_has_feature(&dev, VIRTIO_BLK_F_BLK_SIZE))
		printf(", blk_size %u", virtio_cfg32(&dev, offsetof(struct virtio_blk_config, blk_size)));
	if (virtio_has_feature(&dev, VIRTIO_BLK_F_SEG_MAX))
		printf(", seg_max %u", virtio_cfg32(&dev, offsetof(struct virtio_blk_config, seg_max)));
	printf(", %s\n", virtio_has_feature(&dev, VIRTIO_BLK_F_RO) ? "read-only" : "read-write");
	if (want && *capacity != want)
		virtio_fail(1, "capacity %lu sectors, expected %lu", *capacity, want);
	if (ro != virtio_has_feature(&dev, VIRTIO_BLK_F_RO))
		virtio_fail(2, "VIRTIO_BLK_F_RO %s, but the cmdline says ro=%u",
			    virtio_has_feature(&dev, VIRTIO_BLK_F_RO) ? "offered" : "not offered", ro);
	if (!virtio_has_feature(&dev, VIRTIO_BLK_F_FLUSH))
		virtio_fail(10, "VIRTIO_BLK_F_FLUSH not offered (features 0x%lx)", dev.offered);
}

static void check_write(uint64_t sector, bool ro)
{
	uint32_t written;
	uint8_t got;

	for (uint32_t j = 0; j < SECTOR; j++)
		data[j] = write_byte(sector, j);
	got = blk_request(VIRTIO_BLK_T_OUT, sector, data, SECTOR, 1, &written, "write");
	printf("virtio_blk: write sector %lu: status %u\n", sector, got);
	if (ro) {
		expect_status(got, VIRTIO_BLK_S_IOERR, 9, "write to a read-only drive");
		if (virtio_needs_reset(&dev))
			virtio_fail(14, "write to a read-only drive: device set DEVICE_NEEDS_RESET");
	} else {
		expect_status(got, VIRTIO_BLK_S_OK, 4, "write");
		expect_len(written, 1, "write");
	}
	read_sectors(sector, 1, 1, "read-back");
	for (uint32_t j = 0; j < SECTOR; j++) {
		uint8_t want = ro ? pattern_byte(sector * SECTOR + j) : write_byte(sector, j);

		if (data[j] != want)
			virtio_fail(8, "read-back of sector %lu: byte %u is 0x%x, expected 0x%x", sector, j, data[j],
				    want);
	}
	printf("virtio_blk: sector %lu reads back %s\n", sector, ro ? "unchanged" : "as written");
}

static void check_get_id(const struct boot_info *bi)
{
	const char *want = cmdline_get(bi, "id=");
	char want_buf[VIRTIO_BLK_ID_BYTES + 2];
	uint32_t written;
	size_t n = 0;

	memset(id_buf, 0, sizeof(id_buf));
	expect_status(blk_request(VIRTIO_BLK_T_GET_ID, 0, id_buf, VIRTIO_BLK_ID_BYTES, 1, &written, "GET_ID"),
		      VIRTIO_BLK_S_OK, 4, "GET_ID");
	printf("virtio_blk: id '%s'\n", id_buf);
	if (!want)
		return;
	while (want[n] && want[n] != ' ' && n < VIRTIO_BLK_ID_BYTES + 1) {
		want_buf[n] = want[n];
		n++;
	}
	want_buf[n] = '\0';
	/* Shorter than 20 bytes: NUL-terminated; exactly 20: no terminator. */
	if (n > VIRTIO_BLK_ID_BYTES || strncmp(id_buf, want_buf, VIRTIO_BLK_ID_BYTES))
		virtio_fail(11, "GET_ID answered '%s', expected '%s'", id_buf, want_buf);
}

void guest_main(const struct boot_info *bi)
{
	uint64_t sectors = cmdline_or(bi, "sectors=", 8);
	uint64_t wsector = cmdline_or(bi, "write=", 8);
	bool ro = cmdline_or(bi, "ro=", 0) != 0;
	bool use_irq = cmdline_or(bi, "irq=", 1) != 0;
	uint64_t capacity;
	uint32_t written;

	virtio_set_guest_name("virtio_blk");
	if (sectors < 1 || sectors > MAX_SECTORS)
		virtio_fail(13, "sectors=%lu: 1..%u", sectors, MAX_SECTORS);
	virtio_find(bi, VIRTIO_ID_BLOCK, (unsigned int)cmdline_or(bi, "disk=", 0), &dev);
	virtio_negotiate(&dev, (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
				       (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_RO));
	check_config(bi, ro, &capacity);
	if (capacity < sectors || capacity <= wsector)
		virtio_fail(1, "capacity %lu sectors is too small for sectors=%lu write=%lu", capacity, sectors,
			    wsector);
	virtq_setup(&vq, &dev, 0, 64);
	if (use_irq && !virtio_irq_attach(&dev))
		use_irq = false;
	virtio_driver_ok(&dev);
	printf("virtio_blk: queue 0 has %u entries, interrupts %s\n", vq.size, use_irq ? "on" : "off");

	read_sectors(0, (uint32_t)sectors, sectors > 1 ? 2 : 1, "read");
	check_pattern(0, (uint32_t)sectors, "read");
	printf("virtio_blk: sectors 0..%lu match the pattern (one request, %u data descriptors)\n", sectors - 1,
	       sectors > 1 ? 2 : 1);
	for (uint64_t s = 0; s < sectors; s++) {
		read_sectors(s, 1, 1, "single-sector read");
		check_pattern(s, 1, "single-sector read");
	}
	printf("virtio_blk: %lu single-sector reads match\n", sectors);

	expect_error_status(VIRTIO_BLK_T_IN, capacity, 1, VIRTIO_BLK_S_IOERR, 6, "read at the capacity");
	expect_error_status(VIRTIO_BLK_T_IN, capacity - 1, 2, VIRTIO_BLK_S_IOERR, 6, "read across the end");
	expect_error_status(TYPE_UNKNOWN, 0, 1, VIRTIO_BLK_S_UNSUPP, 7, "unknown request type");

	check_write(wsector, ro);
	expect_status(blk_request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, &written, "FLUSH"), VIRTIO_BLK_S_OK, 4, "FLUSH");
	printf("virtio_blk: FLUSH ok\n");
	check_get_id(bi);

	if (use_irq) {
		cpu_cli();
		printf("virtio_blk: %u interrupts, InterruptStatus bits seen 0x%x\n", dev.irqs, dev.irq_status_seen);
		if (!dev.irqs || !(dev.irq_status_seen & VIRTIO_MMIO_INT_VRING))
			virtio_fail(12, "no used-buffer interrupt on IRQ %u", dev.irq);
	}
	if (virtio_needs_reset(&dev))
		virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_status(&dev));
	printf("virtio_blk: all checks passed\n");
	debug_exit(0);
}
