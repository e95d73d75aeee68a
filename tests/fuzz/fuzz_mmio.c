/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-mmio transport (src/virtio/mmio.c) with a
 * real device model behind it, virtio-rng or virtio-blk (on a 64 KiB image
 * in /dev/shm), over 2 MiB of fake guest RAM: a hostile driver's register
 * accesses of any offset, size and value, its ring contents, kicks served on
 * the I/O event loop, and the device registry's save/restore/reset/pause/resume.
 *
 * Input: byte 0 bit 0: the model (0 virtio-rng, 1 virtio-blk), then 8-byte
 * operations [op, off_lo, off_hi, size, v0, v1, v2, v3]:
 *   op % 8  0 write register (off & 0xfff) of size (size % 9, 4 mostly) with v
 *           1 read register (off & 0xfff) of that size
 *           2 guest RAM: v written at (off & 0xfffc) (the low 64 KiB: rings and buffers)
 *           3 the I/O thread runs: kicks are served
 *           4 restore from the next state_size input bytes (the registry's view)
 *           5 reset   6 pause   7 resume
 * Checked after each: the identification registers read their constants, a
 * queue's QueueNumMax is the model's maximum for an existing queue and 0
 * past them, InterruptStatus holds only its two causes, a status write of 0
 * reads back 0, every line pulse is an edge (1 then 0); the state reached
 * is one restore accepts and saves back unchanged (devices/device.h).
 */
#include "fuzz_device.h"

#include <fcntl.h>
#include <linux/virtio_mmio.h>
#include <unistd.h>

#include "arch/x86/memory.h"
#include "base/event_loop.h"
#include "base/log.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

#define BASE 0xd0000000ull
#define GSI 5
#define RAM_SIZE (2u << 20)
#define IMAGE_SIZE (64u << 10)

struct side {
	struct fake_host h;
	struct event_loop loop;
	struct virtio_transport t;
	struct virtio_rng *rng;
	struct virtio_blk *blk;
	const struct device_ops *reg_ops;
};

static struct guest_mem mem;
static char image_path[64];

static void remove_image(void)
{
	unlink(image_path);
}

static void setup_once(struct side *a, struct side *twin)
{
	static bool done;
	struct vmon_error err = { 0 };
	int fd;

	if (done)
		return;
	done = true;
	log_set_level(LOG_OFF);
	snprintf(image_path, sizeof(image_path), "/dev/shm/vmon-fuzz-mmio-%d.img", (int)getpid());
	fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE) || close(fd)) {
		perror(image_path);
		abort();
	}
	atexit(remove_image); /* every input opens it again */
	if (x86_guest_mem_create(&mem, RAM_SIZE, &err) || event_loop_init(&a->loop, &err) ||
	    event_loop_init(&twin->loop, &err)) {
		fprintf(stderr, "fuzz_mmio: set-up: %s\n", err.msg);
		abort();
	}
}

static void side_init(struct side *s, bool blk)
{
	const struct drive_config drive = { .path = image_path, .id = "fuzz", .lock_later = true };
	const struct virtio_device_ops *ops;
	struct vmon_error err = { 0 };
	void *model;
	int r;

	fake_host_init(&s->h, &mem);
	s->rng = NULL;
	s->blk = NULL;
	if (blk) {
		r = virtio_blk_create(&s->blk, &s->t.vdev, &drive, 0, &err);
		ops = r ? NULL : virtio_blk_device_ops(s->blk);
		model = s->blk;
		s->reg_ops = &virtio_blk_registry_ops;
	} else {
		r = virtio_rng_create(&s->rng, &s->t.vdev, &err);
		ops = &virtio_rng_ops;
		model = s->rng;
		s->reg_ops = &virtio_rng_registry_ops;
	}
	if (r || virtio_mmio_init(&s->t, &s->h.host, &s->loop, BASE, GSI, ops, model, &err)) {
		fprintf(stderr, "fuzz_mmio: set-up: %s\n", err.msg);
		abort();
	}
}

static void side_free(struct side *s)
{
	virtio_mmio_destroy(&s->t);
	if (s->blk)
		virtio_blk_destroy(s->blk);
	if (s->rng)
		virtio_rng_destroy(s->rng);
}

static uint32_t reg_read(struct side *s, unsigned offset)
{
	uint32_t v = 0xdeadbeef;

	FUZZ_CHECK(io_bus_access(&s->h.mmio, BASE + offset, (uint8_t *)&v, 4, false));
	return v;
}

static void check(struct side *a, struct side *twin)
{
	uint32_t sel = a->t.vdev.queue_sel, max = reg_read(a, VIRTIO_MMIO_QUEUE_NUM_MAX);

	FUZZ_CHECK(reg_read(a, VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976u);
	FUZZ_CHECK(reg_read(a, VIRTIO_MMIO_VERSION) == 2);
	FUZZ_CHECK(reg_read(a, VIRTIO_MMIO_DEVICE_ID) == a->t.vdev.ops->device_id);
	FUZZ_CHECK(max == (sel < a->t.vdev.ops->num_queues ? a->t.vdev.ops->queue_max_size : 0));
	FUZZ_CHECK(!(reg_read(a, VIRTIO_MMIO_INTERRUPT_STATUS) & ~3u));
	FUZZ_CHECK(a->h.irq[GSI] != 1); /* pulses end low */
	check_restorable(a->reg_ops, &a->t.vdev, &twin->t.vdev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side a, twin;
	bool blk;

	setup_once(&a, &twin);
	if (size < 1)
		return 0;
	blk = data[0] & 1;
	/* Zero pages again (cheaper than memset: few pages are touched). */
	FUZZ_CHECK(guest_mem_discard(&mem, guest_mem_ptr(&mem, 0, RAM_SIZE), RAM_SIZE) == 0);
	side_init(&a, blk);
	side_init(&twin, blk);
	for (size_t at = 1; at + 8 <= size; at += 8) {
		const uint8_t *op = data + at;
		unsigned offset = (op[1] | op[2] << 8) & 0xfff, len = op[3] % 9;
		uint8_t buf[8];

		if (len == 0 || len == 3)
			len = 4;
		memset(buf, 0, sizeof(buf));
		memcpy(buf, op + 4, 4);
		switch (op[0] % 8) {
		case 0:
			io_bus_access(&a.h.mmio, BASE + offset, buf, len, true);
			if (offset == VIRTIO_MMIO_STATUS && len == 4 && !memcmp(buf, "\0\0\0", 4))
				FUZZ_CHECK(reg_read(&a, VIRTIO_MMIO_STATUS) == 0);
			break;
		case 1:
			io_bus_access(&a.h.mmio, BASE + offset, buf, len, false);
			break;
		case 2:
			FUZZ_CHECK(guest_mem_write(&mem, (op[1] | op[2] << 8) & 0xfffc, op + 4, 4) == 0);
			break;
		case 3:
			FUZZ_CHECK(event_loop_run_once(&a.loop, 0) >= 0);
			break;
		case 4:
			if (at + 8 + a.reg_ops->state_size > size)
				goto out;
			fuzz_restore(a.reg_ops, &a.t.vdev, &twin.t.vdev, data + at + 8);
			at += a.reg_ops->state_size;
			break;
		case 5:
			a.reg_ops->reset(&a.t.vdev);
			break;
		case 6:
			a.reg_ops->pause(&a.t.vdev);
			break;
		default:
			a.reg_ops->resume(&a.t.vdev);
			break;
		}
		check(&a, &twin);
	}
out:
	if (getenv("FUZZ_MMIO_TRACE")) {
		uint16_t used_idx = 0;
		guest_mem_read(&mem, 0x3002, &used_idx, 2);
		fprintf(stderr, "fuzz_mmio: %s, status 0x%x, used idx at 0x3002: %u, status bytes at 0x6000: %02x %02x %02x\n",
			blk ? "blk" : "rng", a.t.vdev.status, used_idx, *(uint8_t *)guest_mem_ptr(&mem, 0x6000, 1),
			*(uint8_t *)guest_mem_ptr(&mem, 0x6001, 1), *(uint8_t *)guest_mem_ptr(&mem, 0x6002, 1));
	}
	/* Kicks still queued are dropped with the eventfds. */
	side_free(&a);
	side_free(&twin);
	return 0;
}
