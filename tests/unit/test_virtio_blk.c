/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtio_harness.h"

/*
 * virtio-blk through the real virtio-mmio transport (tests/unit/virtio_harness.h)
 * on image files in /dev/shm (tmpfs: hole punching works there, ZERO_RANGE does not).
 */

#define SECTOR 512u
#define IMAGE_SECTORS 64u
#define STATUS_UNSET 0xeeu
#define F_RO (1ull << VIRTIO_BLK_F_RO)
#define F_DISCARD (1ull << VIRTIO_BLK_F_DISCARD)
#define F_WZ (1ull << VIRTIO_BLK_F_WRITE_ZEROES)
#define ALL_FEATURES (~0ull)

struct fixture {
	char path[64];
	struct virtio_blk *blk;
	struct virtio_harness h;
	bool harness_up;
	uint64_t offered;
};

/* Sector s of the initial image holds the byte (s + 1) everywhere. */
static void make_image(const char *path, uint64_t size)
{
	uint8_t sector[SECTOR];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	for (uint64_t off = 0; off + SECTOR <= size; off += SECTOR) {
		memset(sector, (int)(off / SECTOR + 1), SECTOR);
		assert_int_equal(pwrite(fd, sector, SECTOR, (off_t)off), SECTOR);
	}
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void read_image(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	strcpy(f->path, "/dev/shm/vmon-blk-test-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	make_image(f->path, IMAGE_SECTORS * SECTOR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->harness_up)
		virtio_harness_destroy(&f->h);
	virtio_blk_destroy(f->blk);
	unlink(f->path);
	free(f);
	return 0;
}

static int create_blk(struct fixture *f, struct virtio_blk **blk, bool readonly, const char *id,
		      struct vmon_error *err)
{
	struct drive_config cfg = { .path = f->path, .readonly = readonly, .id = id };

	return virtio_blk_create(blk, &f->h.t.vdev, &cfg, 0, err);
}

/* Creates the drive and brings it to DRIVER_OK with `wanted` features (ops: NULL = its own). */
static void start(struct fixture *f, bool readonly, const struct virtio_device_ops *ops, uint64_t wanted)
{
	struct vmon_error err = { 0 };

	if (create_blk(f, &f->blk, readonly, NULL, &err))
		fail_msg("virtio_blk_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, ops ? ops : virtio_blk_device_ops(f->blk), f->blk);
	f->harness_up = true;
	f->offered = virtio_harness_start(&f->h, wanted, 1, 64);
}

struct request {
	uint32_t type;
	uint64_t sector;
	const void *out;           /* payload after the header (OUT, DISCARD, ...) */
	uint32_t out_len;
	uint32_t in_len;           /* device-writable payload before the status */
	bool indirect;
	/* results */
	uint8_t status;
	uint32_t used_len;
	uint64_t in_gpa;
};

/* header | out payload || in payload | status, each its own descriptor; kick; the used entry back. */
static uint8_t submit(struct fixture *f, struct request *rq)
{
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtio_blk_outhdr hdr = { .type = htole32(rq->type), .sector = htole64(rq->sector) };
	struct virtq_driver_buf bufs[4];
	unsigned n = 0;
	uint32_t id;

	bufs[n++] = virtq_driver_buf_out(drv, &hdr, sizeof(hdr));
	if (rq->out_len)
		bufs[n++] = virtq_driver_buf_out(drv, rq->out, rq->out_len);
	if (rq->in_len) {
		bufs[n] = virtq_driver_buf_in(drv, rq->in_len);
		rq->in_gpa = bufs[n++].gpa;
	}
	bufs[n] = virtq_driver_buf_in(drv, 1);
	uint8_t *status = virtq_driver_host(drv, bufs[n++].gpa, 1);
	*status = STATUS_UNSET;
	uint16_t head = rq->indirect ? virtq_driver_add_indirect(drv, bufs, n) : virtq_driver_add(drv, bufs, n);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, &rq->used_len));
	assert_int_equal(id, head);
	rq->status = *status;
	return rq->status;
}

static uint8_t *in_data(struct fixture *f, const struct request *rq)
{
	return virtq_driver_host(&f->h.drv[0], rq->in_gpa, rq->in_len);
}

static bool needs_reset(struct fixture *f)
{
	return virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* ---- config and features -------------------------------------------------- */

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;

	start(f, false, NULL, ALL_FEATURES);
	assert_int_equal(virtio_harness_read32(&f->h, 0x008 /* DeviceID */), VIRTIO_ID_BLOCK);
	assert_true(f->offered & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(f->offered & (1ull << VIRTIO_BLK_F_SEG_MAX));
	assert_true(f->offered & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f->offered & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	assert_false(f->offered & F_RO);
	/* tmpfs punches holes: discard and write-zeroes are offered. */
	assert_true(f->blk->can_punch_hole);
	assert_true(f->offered & F_DISCARD);
	assert_true(f->offered & F_WZ);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_blk_config, capacity), 8),
			 IMAGE_SECTORS);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_blk_config, blk_size), 4), SECTOR);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_blk_config, seg_max), 4),
			 VIRTIO_BLK_QUEUE_SIZE - 2);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_blk_config, max_discard_seg), 4),
			 VIRTIO_BLK_MAX_RANGES);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_blk_config, write_zeroes_may_unmap),
						    1), 1);
}

/* ---- read / write / flush / get-id ---------------------------------------------- */

static void test_write_then_read(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2 * SECTOR], back[2 * SECTOR];

	start(f, false, NULL, ALL_FEATURES);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	struct request wr = { .type = VIRTIO_BLK_T_OUT, .sector = 5, .out = data, .out_len = sizeof(data) };
	assert_int_equal(submit(f, &wr), VIRTIO_BLK_S_OK);
	assert_int_equal(wr.used_len, 1);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);

	/* The host file shows the write, and its neighbours are untouched. */
	read_image(f->path, 5 * SECTOR, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	read_image(f->path, 7 * SECTOR, back, SECTOR);
	assert_int_equal(back[0], 8);
	assert_int_equal(back[SECTOR - 1], 8);

	struct request rd = { .type = VIRTIO_BLK_T_IN, .sector = 4, .in_len = 3 * SECTOR };
	assert_int_equal(submit(f, &rd), VIRTIO_BLK_S_OK);
	assert_int_equal(rd.used_len, 3 * SECTOR + 1);
	assert_int_equal(in_data(f, &rd)[0], 5);     /* sector 4 of the original image */
	assert_memory_equal(in_data(f, &rd) + SECTOR, data, sizeof(data));
	struct virtio_blk_stats st;
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.reads, 1);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.bytes_written, sizeof(data));
	assert_int_equal(st.bytes_read, 3 * SECTOR);
	assert_int_equal(st.errors, 0);
}

/* The spec forbids assumptions about framing: header+data in one descriptor, data+status in one. */
static void test_any_framing(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv;
	uint8_t out[sizeof(struct virtio_blk_outhdr) + SECTOR];
	struct virtio_blk_outhdr hdr = { .type = htole32(VIRTIO_BLK_T_OUT), .sector = htole64(IMAGE_SECTORS - 1) };
	uint32_t id, len;

	start(f, false, NULL, ALL_FEATURES);
	drv = &f->h.drv[0];
	memcpy(out, &hdr, sizeof(hdr));
	memset(out + sizeof(hdr), 0x42, SECTOR);
	struct virtq_driver_buf w[2] = { virtq_driver_buf_out(drv, out, sizeof(out)), virtq_driver_buf_in(drv, 1) };
	virtq_driver_add(drv, w, 2);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(*(uint8_t *)virtq_driver_host(drv, w[1].gpa, 1), VIRTIO_BLK_S_OK);

	/* Read: data and status in one writable descriptor, split oddly: 100 + 413 bytes. */
	hdr.type = htole32(VIRTIO_BLK_T_IN);
	struct virtq_driver_buf r[3] = { virtq_driver_buf_out(drv, &hdr, sizeof(hdr)), virtq_driver_buf_in(drv, 100),
					 virtq_driver_buf_in(drv, SECTOR + 1 - 100) };
	uint8_t *status = virtq_driver_host(drv, r[2].gpa + SECTOR - 100, 1);
	*status = STATUS_UNSET;
	virtq_driver_add_indirect(drv, r, 3);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(*status, VIRTIO_BLK_S_OK);
	assert_int_equal(len, SECTOR + 1);
	assert_int_equal(*(uint8_t *)virtq_driver_host(drv, r[1].gpa, 1), 0x42);
	assert_int_equal(*(uint8_t *)virtq_driver_host(drv, r[2].gpa + SECTOR - 101, 1), 0x42);
}

static void test_flush_and_get_id(void **state)
{
	struct fixture *f = *state;

	start(f, false, NULL, ALL_FEATURES);
	struct request fl = { .type = VIRTIO_BLK_T_FLUSH };
	assert_int_equal(submit(f, &fl), VIRTIO_BLK_S_OK);
	assert_int_equal(f->blk->flushes, 1);

	struct request id = { .type = VIRTIO_BLK_T_GET_ID, .in_len = VIRTIO_BLK_ID_BYTES };
	assert_int_equal(submit(f, &id), VIRTIO_BLK_S_OK);
	assert_int_equal(id.used_len, VIRTIO_BLK_ID_BYTES + 1);
	assert_string_equal((char *)in_data(f, &id), "vmon-drive0");

	/* A shorter buffer gets the start of the serial. */
	struct request shortid = { .type = VIRTIO_BLK_T_GET_ID, .in_len = 4 };
	assert_int_equal(submit(f, &shortid), VIRTIO_BLK_S_OK);
	assert_int_equal(shortid.used_len, 5);
	assert_memory_equal(in_data(f, &shortid), "vmon", 4);
}

static void test_custom_serial(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_blk *blk;

	assert_int_equal(create_blk(f, &blk, false, "exactly-twenty-chars", &err), 0);
	assert_memory_equal(blk->serial, "exactly-twenty-chars", VIRTIO_BLK_ID_BYTES);
	virtio_blk_destroy(blk);
	assert_int_equal(create_blk(f, &blk, false, "twenty-one-characters", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "twenty-one-characters"));
	assert_null(blk);
}

/* Four requests, one kick: all served, one interrupt. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv;
	struct virtio_blk_outhdr hdr = { .type = htole32(VIRTIO_BLK_T_IN) };
	uint64_t status_gpa[4];
	uint32_t id, len;

	start(f, false, NULL, ALL_FEATURES);
	drv = &f->h.drv[0];
	for (unsigned i = 0; i < 4; i++) {
		hdr.sector = htole64(i);
		struct virtq_driver_buf b[3] = { virtq_driver_buf_out(drv, &hdr, sizeof(hdr)),
						 virtq_driver_buf_in(drv, SECTOR), virtq_driver_buf_in(drv, 1) };
		status_gpa[i] = b[2].gpa;
		*(uint8_t *)virtq_driver_host(drv, b[2].gpa, 1) = STATUS_UNSET;
		virtq_driver_add(drv, b, 3);
	}
	virtio_harness_kick(&f->h, 0);
	for (unsigned i = 0; i < 4; i++) {
		assert_true(virtq_driver_get_used(drv, &id, &len));
		assert_int_equal(len, SECTOR + 1);
		assert_int_equal(*(uint8_t *)virtq_driver_host(drv, status_gpa[i], 1), VIRTIO_BLK_S_OK);
	}
	assert_false(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
}

/* ---- refused requests ---------------------------------------------------------- */

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t data[SECTOR], back[SECTOR];

	start(f, true, NULL, ALL_FEATURES);
	assert_true(f->offered & F_RO);
	assert_false(f->offered & (F_DISCARD | F_WZ));
	memset(data, 0x99, sizeof(data));
	struct request wr = { .type = VIRTIO_BLK_T_OUT, .sector = 2, .out = data, .out_len = SECTOR };
	assert_int_equal(submit(f, &wr), VIRTIO_BLK_S_IOERR);
	read_image(f->path, 2 * SECTOR, back, SECTOR);
	assert_int_equal(back[0], 3);
	assert_int_equal(back[SECTOR - 1], 3);
	/* Reads still work; the device did not stop. */
	struct request rd = { .type = VIRTIO_BLK_T_IN, .sector = 2, .in_len = SECTOR };
	assert_int_equal(submit(f, &rd), VIRTIO_BLK_S_OK);
	assert_int_equal(in_data(f, &rd)[0], 3);
	assert_false(needs_reset(f));
}

/* Plugged with the shared ops (which offer DISCARD), a read-only drive still refuses to change. */
static void test_readonly_with_shared_ops(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_discard_write_zeroes range = { .sector = htole64(0), .num_sectors = htole32(1) };
	uint8_t back[SECTOR];

	start(f, true, &virtio_blk_ops, ALL_FEATURES);
	assert_true(f->offered & F_DISCARD);
	struct request d = { .type = VIRTIO_BLK_T_DISCARD, .out = &range, .out_len = sizeof(range) };
	assert_int_equal(submit(f, &d), VIRTIO_BLK_S_IOERR);
	struct request z = { .type = VIRTIO_BLK_T_WRITE_ZEROES, .out = &range, .out_len = sizeof(range) };
	assert_int_equal(submit(f, &z), VIRTIO_BLK_S_IOERR);
	read_image(f->path, 0, back, SECTOR);
	assert_int_equal(back[100], 1);
}

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2 * SECTOR];

	start(f, false, NULL, ALL_FEATURES);
	memset(data, 0x77, sizeof(data));
	struct request last = { .type = VIRTIO_BLK_T_IN, .sector = IMAGE_SECTORS - 1, .in_len = SECTOR };
	assert_int_equal(submit(f, &last), VIRTIO_BLK_S_OK);
	assert_int_equal(in_data(f, &last)[0], IMAGE_SECTORS);

	struct request past = { .type = VIRTIO_BLK_T_IN, .sector = IMAGE_SECTORS, .in_len = SECTOR };
	assert_int_equal(submit(f, &past), VIRTIO_BLK_S_IOERR);
	assert_int_equal(past.used_len, 1);
	struct request across = { .type = VIRTIO_BLK_T_OUT, .sector = IMAGE_SECTORS - 1, .out = data,
				  .out_len = sizeof(data) };
	assert_int_equal(submit(f, &across), VIRTIO_BLK_S_IOERR);
	/* sector * 512 overflows 64 bits; sector + count overflows too. */
	struct request wrap = { .type = VIRTIO_BLK_T_OUT, .sector = UINT64_MAX / 256, .out = data, .out_len = SECTOR };
	assert_int_equal(submit(f, &wrap), VIRTIO_BLK_S_IOERR);
	struct request wrap2 = { .type = VIRTIO_BLK_T_IN, .sector = UINT64_MAX, .in_len = SECTOR };
	assert_int_equal(submit(f, &wrap2), VIRTIO_BLK_S_IOERR);

	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, IMAGE_SECTORS * SECTOR);    /* nothing written past the end */
	uint8_t back[SECTOR];
	read_image(f->path, (IMAGE_SECTORS - 1) * SECTOR, back, SECTOR);
	assert_int_equal(back[0], IMAGE_SECTORS);
	assert_int_equal(f->blk->errors, 4);
	assert_false(needs_reset(f));
}

static void test_unaligned_length(void **state)
{
	struct fixture *f = *state;
	uint8_t data[SECTOR + 1], back[SECTOR];

	start(f, false, NULL, ALL_FEATURES);
	memset(data, 0x55, sizeof(data));
	struct request rd = { .type = VIRTIO_BLK_T_IN, .sector = 0, .in_len = 100 };
	assert_int_equal(submit(f, &rd), VIRTIO_BLK_S_IOERR);
	assert_int_equal(in_data(f, &rd)[0], 0);      /* nothing read into it */
	struct request wr = { .type = VIRTIO_BLK_T_OUT, .sector = 0, .out = data, .out_len = sizeof(data) };
	assert_int_equal(submit(f, &wr), VIRTIO_BLK_S_IOERR);
	read_image(f->path, 0, back, SECTOR);
	assert_int_equal(back[0], 1);
}

static void test_bad_layouts(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv;
	uint32_t id, len;

	start(f, false, NULL, ALL_FEATURES);
	drv = &f->h.drv[0];

	/* Readable part shorter than the header: IOERR. */
	uint8_t half[8] = { 0 };
	struct virtq_driver_buf b1[2] = { virtq_driver_buf_out(drv, half, sizeof(half)), virtq_driver_buf_in(drv, 1) };
	virtq_driver_add(drv, b1, 2);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(*(uint8_t *)virtq_driver_host(drv, b1[1].gpa, 1), VIRTIO_BLK_S_IOERR);

	/* A read with payload after the header, a flush with data, a write with extra writable bytes: IOERR. */
	uint8_t sector[SECTOR] = { 0 };
	struct request rd = { .type = VIRTIO_BLK_T_IN, .out = sector, .out_len = SECTOR, .in_len = SECTOR };
	assert_int_equal(submit(f, &rd), VIRTIO_BLK_S_IOERR);
	struct request fl = { .type = VIRTIO_BLK_T_FLUSH, .in_len = SECTOR };
	assert_int_equal(submit(f, &fl), VIRTIO_BLK_S_IOERR);
	struct request wr = { .type = VIRTIO_BLK_T_OUT, .out = sector, .out_len = SECTOR, .in_len = SECTOR };
	assert_int_equal(submit(f, &wr), VIRTIO_BLK_S_IOERR);
	struct request gid = { .type = VIRTIO_BLK_T_GET_ID, .out = sector, .out_len = 16, .in_len = 20 };
	assert_int_equal(submit(f, &gid), VIRTIO_BLK_S_IOERR);

	/* Unknown types: UNSUPP. */
	struct request scsi = { .type = 2 /* legacy SCSI_CMD */ };
	assert_int_equal(submit(f, &scsi), VIRTIO_BLK_S_UNSUPP);
	struct request secure = { .type = VIRTIO_BLK_T_SECURE_ERASE };
	assert_int_equal(submit(f, &secure), VIRTIO_BLK_S_UNSUPP);
	assert_false(needs_reset(f));

	/* No writable byte at all: no status can be given, the device needs a reset. */
	struct virtio_blk_outhdr hdr = { .type = htole32(VIRTIO_BLK_T_FLUSH) };
	struct virtq_driver_buf b2[1] = { virtq_driver_buf_out(drv, &hdr, sizeof(hdr)) };
	virtq_driver_add(drv, b2, 1);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(drv, &id, &len));
	assert_true(needs_reset(f));

	/* It serves nothing more until reset; after a reset it works again. */
	struct virtq_driver_buf b3[2] = { virtq_driver_buf_out(drv, &hdr, sizeof(hdr)), virtq_driver_buf_in(drv, 1) };
	virtq_driver_add(drv, b3, 2);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(drv, &id, &len));
	virtio_harness_start(&f->h, ALL_FEATURES, 1, 64);
	struct request again = { .type = VIRTIO_BLK_T_FLUSH };
	assert_int_equal(submit(f, &again), VIRTIO_BLK_S_OK);
}

/* The image shrinks under the VM (another process truncates it): a read past its end fails cleanly. */
static void test_image_shrunk(void **state)
{
	struct fixture *f = *state;

	start(f, false, NULL, ALL_FEATURES);
	assert_int_equal(truncate(f->path, (IMAGE_SECTORS - 2) * SECTOR), 0);
	struct request rd = { .type = VIRTIO_BLK_T_IN, .sector = IMAGE_SECTORS - 3, .in_len = 2 * SECTOR };
	assert_int_equal(submit(f, &rd), VIRTIO_BLK_S_IOERR);
	struct request ok = { .type = VIRTIO_BLK_T_IN, .sector = IMAGE_SECTORS - 3, .in_len = SECTOR };
	assert_int_equal(submit(f, &ok), VIRTIO_BLK_S_OK);
	assert_int_equal(in_data(f, &ok)[0], IMAGE_SECTORS - 2);
	assert_false(needs_reset(f));
}

/* ---- discard / write-zeroes -------------------------------------------------------- */

static uint8_t submit_ranges(struct fixture *f, uint32_t type, const struct virtio_blk_discard_write_zeroes *r,
			     unsigned n)
{
	struct request rq = { .type = type, .out = r, .out_len = (uint32_t)(n * sizeof(*r)) };

	return submit(f, &rq);
}

static struct virtio_blk_discard_write_zeroes range(uint64_t sector, uint32_t count, uint32_t flags)
{
	return (struct virtio_blk_discard_write_zeroes){ .sector = htole64(sector), .num_sectors = htole32(count),
							 .flags = htole32(flags) };
}

static bool sectors_are(const char *path, uint64_t first, unsigned count, uint8_t value)
{
	uint8_t buf[SECTOR];

	for (unsigned s = 0; s < count; s++) {
		read_image(path, (first + s) * SECTOR, buf, SECTOR);
		for (unsigned i = 0; i < SECTOR; i++)
			if (buf[i] != value)
				return false;
	}
	return true;
}

static void test_discard(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_discard_write_zeroes r[2] = { range(8, 8, 0), range(32, 16, 0) };

	start(f, false, NULL, ALL_FEATURES);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, r, 2), VIRTIO_BLK_S_OK);
	/* tmpfs: punched holes read as zeroes; around them nothing changed. */
	assert_true(sectors_are(f->path, 8, 8, 0));
	assert_true(sectors_are(f->path, 32, 16, 0));
	assert_true(sectors_are(f->path, 7, 1, 8));
	assert_true(sectors_are(f->path, 16, 1, 17));
	assert_int_equal(f->blk->discards, 1);

	/* UNMAP is not a discard flag; a range past the end: nothing changes, not even the valid range. */
	struct virtio_blk_discard_write_zeroes bad_flag = range(0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, &bad_flag, 1), VIRTIO_BLK_S_UNSUPP);
	struct virtio_blk_discard_write_zeroes past[2] = { range(0, 1, 0), range(IMAGE_SECTORS - 1, 2, 0) };
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, past, 2), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes wrap = range(UINT64_MAX - 1, 4, 0);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, &wrap, 1), VIRTIO_BLK_S_IOERR);
	assert_true(sectors_are(f->path, 0, 1, 1));

	/* Payload not a whole number of ranges, or no range at all. */
	uint8_t odd[20] = { 0 };
	struct request rq = { .type = VIRTIO_BLK_T_DISCARD, .out = odd, .out_len = sizeof(odd) };
	assert_int_equal(submit(f, &rq), VIRTIO_BLK_S_IOERR);
	struct request none = { .type = VIRTIO_BLK_T_DISCARD };
	assert_int_equal(submit(f, &none), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes many[VIRTIO_BLK_MAX_RANGES + 1];
	for (unsigned i = 0; i < VIRTIO_BLK_MAX_RANGES + 1; i++)
		many[i] = range(i, 1, 0);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, many, VIRTIO_BLK_MAX_RANGES + 1),
			 VIRTIO_BLK_S_IOERR);
	assert_true(sectors_are(f->path, 0, 1, 1));
}

static void test_write_zeroes(void **state)
{
	struct fixture *f = *state;

	start(f, false, NULL, ALL_FEATURES);
	struct virtio_blk_discard_write_zeroes keep = range(2, 3, 0);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &keep, 1), VIRTIO_BLK_S_OK);
	assert_true(sectors_are(f->path, 2, 3, 0));
	assert_true(sectors_are(f->path, 1, 1, 2));
	assert_true(sectors_are(f->path, 5, 1, 6));
	struct virtio_blk_discard_write_zeroes unmap = range(10, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &unmap, 1), VIRTIO_BLK_S_OK);
	assert_true(sectors_are(f->path, 10, 1, 0));
	struct virtio_blk_discard_write_zeroes reserved = range(20, 1, 0x2);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &reserved, 1), VIRTIO_BLK_S_UNSUPP);
	assert_true(sectors_are(f->path, 20, 1, 21));
	assert_int_equal(f->blk->write_zeroes, 2);

	/* Without hole punching or ZERO_RANGE, zeroes are written. */
	f->blk->can_punch_hole = f->blk->can_zero_range = false;
	struct virtio_blk_discard_write_zeroes slow = range(40, 4, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &slow, 1), VIRTIO_BLK_S_OK);
	assert_true(sectors_are(f->path, 40, 4, 0));
	assert_true(sectors_are(f->path, 44, 1, 45));
	/* ... and discard, a hint, does nothing. */
	struct virtio_blk_discard_write_zeroes hint = range(50, 1, 0);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, &hint, 1), VIRTIO_BLK_S_OK);
	assert_true(sectors_are(f->path, 50, 1, 51));
}

/* A driver that did not negotiate DISCARD / WRITE_ZEROES gets UNSUPP for them. */
static void test_ranges_not_negotiated(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_discard_write_zeroes r = range(0, 1, 0);

	start(f, false, NULL, ALL_FEATURES & ~(F_DISCARD | F_WZ));
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_DISCARD, &r, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(submit_ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &r, 1), VIRTIO_BLK_S_UNSUPP);
	assert_true(sectors_are(f->path, 0, 1, 1));
}

/* ---- images refused at create ------------------------------------------------------------- */

static void test_odd_size_refused(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_blk *blk;

	make_image(f->path, 1000);
	assert_int_equal(create_blk(f, &blk, false, NULL, &err), -EINVAL);
	assert_null(blk);
	assert_non_null(strstr(err.msg, "not a multiple of 512"));
	assert_non_null(strstr(err.msg, "1000"));
}

static void test_missing_or_not_a_file(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_blk *blk;
	struct drive_config cfg = { .path = "/dev/shm/vmon-blk-test-does-not-exist" };

	assert_int_equal(virtio_blk_create(&blk, &f->h.t.vdev, &cfg, 0, &err), -ENOENT);
	assert_non_null(strstr(err.msg, cfg.path));
	cfg.path = "/dev/shm";
	assert_int_equal(virtio_blk_create(&blk, &f->h.t.vdev, &cfg, 0, &err), -EISDIR);
	cfg.path = "/dev/null";
	assert_int_equal(virtio_blk_create(&blk, &f->h.t.vdev, &cfg, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_locked_image_refused(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_blk *a, *b, *c;

	assert_int_equal(create_blk(f, &a, false, NULL, &err), 0);
	assert_int_equal(create_blk(f, &b, false, NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "locked"));
	assert_int_equal(create_blk(f, &b, true, NULL, &err), -EBUSY);
	virtio_blk_destroy(a);

	/* Readers share; a writer is refused while they hold it. */
	assert_int_equal(create_blk(f, &a, true, NULL, &err), 0);
	assert_int_equal(create_blk(f, &b, true, NULL, &err), 0);
	assert_int_equal(create_blk(f, &c, false, NULL, &err), -EBUSY);
	virtio_blk_destroy(a);
	virtio_blk_destroy(b);
	/* Released on destroy. */
	assert_int_equal(create_blk(f, &c, false, NULL, &err), 0);
	virtio_blk_destroy(c);
}

/* A live migration on one host: the destination opens unlocked, the source lets go, the destination takes it. */
static void test_lock_handed_over(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct drive_config later = { .path = f->path, .lock_later = true };
	struct virtio_blk *src, *dst, *third;

	assert_int_equal(create_blk(f, &src, false, NULL, &err), 0);
	assert_int_equal(virtio_blk_create(&dst, &f->h.t.vdev, &later, 0, &err), 0);
	assert_false(dst->locked);
	/* While the source holds it, taking it fails and names the image; nothing changes. */
	assert_int_equal(virtio_blk_lock(dst, &err), -EBUSY);
	assert_non_null(strstr(err.msg, f->path));
	assert_non_null(strstr(err.msg, "locked"));
	assert_false(dst->locked);
	virtio_blk_unlock(src);
	assert_false(src->locked);
	assert_int_equal(virtio_blk_lock(dst, &err), 0);
	assert_int_equal(virtio_blk_lock(dst, &err), 0);   /* held already: nothing to do */
	assert_int_equal(virtio_blk_lock(src, &err), -EBUSY);
	assert_int_equal(create_blk(f, &third, false, NULL, &err), -EBUSY);
	/* Handed back (a failed migration): the destination lets go, the source takes it again. */
	virtio_blk_unlock(dst);
	virtio_blk_unlock(dst);                             /* not held: nothing to do */
	assert_int_equal(virtio_blk_lock(src, &err), 0);
	assert_true(src->locked);
	assert_int_equal(virtio_blk_lock(dst, &err), -EBUSY);
	virtio_blk_destroy(dst);
	virtio_blk_destroy(src);

	/* Read-only drives share theirs, and keep out a writer. */
	later.readonly = true;
	assert_int_equal(create_blk(f, &src, true, NULL, &err), 0);
	assert_int_equal(virtio_blk_create(&dst, &f->h.t.vdev, &later, 0, &err), 0);
	assert_int_equal(virtio_blk_lock(dst, &err), 0);
	assert_int_equal(create_blk(f, &third, false, NULL, &err), -EBUSY);
	virtio_blk_unlock(src);
	virtio_blk_unlock(dst);
	assert_int_equal(create_blk(f, &third, false, NULL, &err), 0);
	virtio_blk_destroy(third);
	virtio_blk_destroy(dst);
	virtio_blk_destroy(src);
}

/* A drive whose image changed (PATCH /drives) hands over the new image's lock. */
static void test_replaced_image_keeps_the_lock_rules(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	char other[] = "/dev/shm/vmon-blk-test-other-XXXXXX";
	int fd = mkstemp(other);
	struct virtio_blk *blk, *rival;
	struct drive_config cfg = { .path = other };

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	start(f, false, NULL, ALL_FEATURES);   /* replacing tells the driver: a live transport */
	blk = f->blk;
	assert_int_equal(virtio_blk_replace_image(blk, other, &err), 0);
	assert_true(blk->locked);
	assert_int_equal(virtio_blk_create(&rival, &f->h.t.vdev, &cfg, 0, &err), -EBUSY);
	assert_non_null(strstr(err.msg, other));
	virtio_blk_unlock(blk);
	assert_int_equal(virtio_blk_create(&rival, &f->h.t.vdev, &cfg, 0, &err), 0);
	assert_int_equal(virtio_blk_lock(blk, &err), -EBUSY);
	assert_non_null(strstr(err.msg, other));   /* the message names the image it is on now */
	virtio_blk_destroy(rival);
	unlink(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_then_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_with_shared_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_shrunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges_not_negotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_size_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_or_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_image_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_handed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_image_keeps_the_lock_rules, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
