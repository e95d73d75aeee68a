/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-mmio transport (src/virtio/mmio.c) with a
 * real device model behind it, over 2 MiB of fake guest RAM: a hostile
 * driver's register accesses of any offset, size and value, its ring
 * contents, kicks served on the I/O event loop, the device registry's
 * save/restore/reset/pause/resume, and the host side of each model.
 *
 * Input: byte 0 % 5 picks the model (fuzz_mmio_models.c):
 *   0 virtio-rng    1 virtio-blk (64 KiB image in /dev/shm)
 *   2 virtio-net (a fake backend: frames the device sends are checked and counted)
 *   3 virtio-vsock (guest CID 3, a per-pid UNIX socket in /dev/shm; nothing
 *     listens on "<uds>_<port>", so guest connects to the host get RST)
 *   4 virtio-balloon (stats and free page reporting offered; no timer)
 * then 8-byte operations [op, off_lo, off_hi, size, v0, v1, v2, v3]:
 *   op % 9  0 write register (off & 0xfff) of size (size % 9, 4 mostly) with v
 *           1 read register (off & 0xfff) of that size
 *           2 guest RAM: v written at (off & 0xfffc) (the low 64 KiB: rings and buffers)
 *           3 the I/O thread runs: kicks are served
 *           4 restore from the next state_size input bytes (the registry's view)
 *           5 reset   6 pause   7 resume
 *           8 the host side of the model (may take input bytes after the op):
 *             net: size % 4 == 0: deliver a frame of the next (off % 2048) input
 *             bytes; 1: of off bytes, every byte v0; 2: the backend refuses
 *             frames from now on (v0 odd) or takes them; 3: nothing
 *             vsock: size % 4 == 0: a host client connects and sends
 *             "CONNECT <v>\n"; 1: client off % 4 sends v; 2: it closes; 3: nothing
 *             balloon: size odd: a new target of v % 8 MiB; even: the held
 *             statistics buffer is given back (the timer's work)
 *             rng, blk: nothing
 * (Seeds written before net, vsock and balloon used bytes 0 and 1 and ops 0-7: same meaning.)
 * Checked after each: the identification registers read their constants, a
 * queue's QueueNumMax is the model's maximum for an existing queue and 0
 * past them, InterruptStatus holds only its two causes, a status write of 0
 * reads back 0, every line pulse is an edge (1 then 0); the state reached
 * is one restore accepts and saves back unchanged (devices/device.h; but
 * for virtio-vsock's event_pending, which any restore sets); and
 * each model's own bookkeeping (fuzz_mmio_models.c).
 */
#include "fuzz_mmio.h"

#include <linux/virtio_mmio.h>

#include "arch/x86/memory.h"
#include "base/log.h"

static struct guest_mem mem;

static void setup_once(struct side *a, struct side *twin)
{
	static bool done;
	struct vmon_error err = { 0 };

	if (done)
		return;
	done = true;
	/* FUZZ_MMIO_TRACE: the models' own messages too (what they refused, and why). */
	log_set_level(getenv("FUZZ_MMIO_TRACE") ? LOG_DEBUG : LOG_OFF);
	fuzz_models_setup_once();
	if (x86_guest_mem_create(&mem, FUZZ_MMIO_RAM_SIZE, &err) || event_loop_init(&a->loop, &err) ||
	    event_loop_init(&twin->loop, &err)) {
		fprintf(stderr, "fuzz_mmio: set-up: %s\n", err.msg);
		abort();
	}
}

static void side_init(struct side *s, const struct fuzz_model *m, char name)
{
	struct vmon_error err = { 0 };

	fake_host_init(&s->h, &mem);
	s->m = m;
	s->name = name;
	s->restores = 0;
	if (m->create(s, &err) ||
	    virtio_mmio_init(&s->t, &s->h.host, &s->loop, FUZZ_MMIO_BASE, FUZZ_MMIO_GSI, s->ops, s->model, &err)) {
		fprintf(stderr, "fuzz_mmio: set-up of %s: %s\n", m->name, err.msg);
		abort();
	}
}

static void side_free(struct side *s)
{
	/* As the machine: the model stops (no backend delivery), the transport goes, then the model. */
	if (s->m->stop)
		s->m->stop(s);
	virtio_mmio_destroy(&s->t);
	s->m->destroy(s);
}

static uint32_t reg_read(struct side *s, unsigned offset)
{
	uint32_t v = 0xdeadbeef;

	FUZZ_CHECK(io_bus_access(&s->h.mmio, FUZZ_MMIO_BASE + offset, (uint8_t *)&v, 4, false));
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
	FUZZ_CHECK(a->h.irq[FUZZ_MMIO_GSI] != 1); /* pulses end low */
	check_restorable_as(a->reg_ops, &a->t.vdev, &twin->t.vdev, a->m->restored);
	if (a->m->check)
		a->m->check(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side a, twin;
	const struct fuzz_model *m;

	setup_once(&a, &twin);
	if (size < 1)
		return 0;
	m = &fuzz_models[data[0] % fuzz_model_count];
	/* Zero pages again (cheaper than memset: few pages are touched). */
	FUZZ_CHECK(guest_mem_discard(&mem, guest_mem_ptr(&mem, 0, FUZZ_MMIO_RAM_SIZE), FUZZ_MMIO_RAM_SIZE) == 0);
	side_init(&a, m, 'a');
	side_init(&twin, m, 'b');
	for (size_t at = 1; at + 8 <= size; at += 8) {
		const uint8_t *op = data + at;
		unsigned offset = (op[1] | op[2] << 8) & 0xfff, len = op[3] % 9;
		uint8_t buf[8];

		if (len == 0 || len == 3)
			len = 4;
		memset(buf, 0, sizeof(buf));
		memcpy(buf, op + 4, 4);
		switch (op[0] % 9) {
		case 0:
			io_bus_access(&a.h.mmio, FUZZ_MMIO_BASE + offset, buf, len, true);
			if (offset == VIRTIO_MMIO_STATUS && len == 4 && !memcmp(buf, "\0\0\0", 4))
				FUZZ_CHECK(reg_read(&a, VIRTIO_MMIO_STATUS) == 0);
			break;
		case 1:
			io_bus_access(&a.h.mmio, FUZZ_MMIO_BASE + offset, buf, len, false);
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
			if (fuzz_restore_as(a.reg_ops, &a.t.vdev, &twin.t.vdev, data + at + 8, m->restored))
				a.restores++;
			at += a.reg_ops->state_size;
			break;
		case 5:
			a.reg_ops->reset(&a.t.vdev);
			break;
		case 6:
			a.reg_ops->pause(&a.t.vdev);
			break;
		case 7:
			a.reg_ops->resume(&a.t.vdev);
			break;
		default:
			if (a.m->host_op)
				at += a.m->host_op(&a, op, data + at + 8, size - at - 8);
			break;
		}
		check(&a, &twin);
	}
out:
	if (getenv("FUZZ_MMIO_TRACE")) {
		uint16_t used_idx = 0;
		guest_mem_read(&mem, 0x3002, &used_idx, 2);
		fprintf(stderr, "fuzz_mmio: %s, status 0x%x, used idx at 0x3002: %u, status bytes at 0x6000: %02x %02x %02x",
			m->name, a.t.vdev.status, used_idx, *(uint8_t *)guest_mem_ptr(&mem, 0x6000, 1),
			*(uint8_t *)guest_mem_ptr(&mem, 0x6001, 1), *(uint8_t *)guest_mem_ptr(&mem, 0x6002, 1));
		if (m->trace)
			m->trace(&a);
		fputc('\n', stderr);
	}
	/* Kicks still queued are dropped with the eventfds. */
	side_free(&a);
	side_free(&twin);
	return 0;
}
