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
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_net_backend.h"
#include "net/backend.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio_harness.h"

/*
 * virtio-blk, virtio-net and virtio-console through their registry ops
 * (device_ops): pause, save, a fresh device on a copy of the guest's RAM,
 * restore, resume; the driver side then carries on on the restored rings
 * (indices continue, data right, nothing lost or done twice). And the
 * model-specific refusals, which leave the device unchanged.
 */

#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define F_MRG (1ull << VIRTIO_NET_F_MRG_RXBUF)
#define SECTOR 512u

static struct virtio_dev *vdev(struct virtio_harness *h)
{
	return &h->t.vdev;
}

/* save() into a buffer, one byte off alignment like a registry section may be. */
static uint8_t *save_state(const struct device_ops *ops, struct virtio_harness *h)
{
	uint8_t *buf = malloc(ops->state_size + 1);

	assert_non_null(buf);
	memset(buf, 0x5a, ops->state_size + 1);
	ops->save(vdev(h), buf + 1);
	return buf;
}

/* Restores and checks that saving again gives the very same bytes. */
static void restore_state(const struct device_ops *ops, struct virtio_harness *h, const uint8_t *saved)
{
	struct vmon_error err = { 0 };
	uint8_t *again;

	if (ops->restore(vdev(h), saved + 1, &err))
		fail_msg("%s restore: %s", ops->kind, err.msg);
	again = save_state(ops, h);
	assert_memory_equal(saved + 1, again + 1, ops->state_size);
	free(again);
}

/* A refused restore: err contains needle, and the device's state is what it was. */
static void expect_refused(const struct device_ops *ops, struct virtio_harness *h, const void *state,
			   const char *needle)
{
	struct vmon_error err = { 0 };
	uint8_t *before = save_state(ops, h), *after;

	assert_int_equal(ops->restore(vdev(h), state, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("expected '%s' in '%s'", needle, err.msg);
	after = save_state(ops, h);
	assert_memory_equal(before + 1, after + 1, ops->state_size);
	free(before);
	free(after);
}

/* ---- virtio-blk -------------------------------------------------------------- */

struct drive {
	struct virtio_harness h;
	struct virtio_device_ops ops;     /* a copy: it outlives the model it came from */
	struct virtio_blk *blk;
};

static void make_image(const char *path, unsigned sectors)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)sectors * SECTOR), 0);
	close(fd);
}

/* The transport first (with the ops of an image like this one), the model plugged in after. */
static struct drive *drive_new(const char *path, const struct virtio_device_ops *ops)
{
	struct drive *d = calloc(1, sizeof(*d));
	struct drive_config cfg = { .path = path, .id = "state-test" };
	struct vmon_error err = { 0 };

	assert_non_null(d);
	if (virtio_blk_create(&d->blk, &d->h.t.vdev, &cfg, 0, &err))
		fail_msg("virtio_blk_create: %s", err.msg);
	d->ops = ops ? *ops : *virtio_blk_device_ops(d->blk);
	virtio_harness_init(&d->h, NULL, &d->ops, d->blk);
	return d;
}

static void drive_free(struct drive *d)
{
	virtio_harness_destroy(&d->h);
	virtio_blk_destroy(d->blk);
	free(d);
}

/* Makes a request available (not kicked): header | data | status. Returns its head. */
static uint16_t blk_add(struct drive *d, uint32_t type, uint64_t sector, uint8_t fill, uint64_t *data_gpa,
			uint64_t *status_gpa)
{
	struct virtq_driver *drv = &d->h.drv[0];
	struct virtio_blk_outhdr hdr = { .type = htole32(type), .sector = htole64(sector) };
	uint8_t data[SECTOR];
	struct virtq_driver_buf bufs[3];

	memset(data, fill, sizeof(data));
	bufs[0] = virtq_driver_buf_out(drv, &hdr, sizeof(hdr));
	bufs[1] = type == VIRTIO_BLK_T_OUT ? virtq_driver_buf_out(drv, data, SECTOR) : virtq_driver_buf_in(drv, SECTOR);
	bufs[2] = virtq_driver_buf_in(drv, 1);
	*data_gpa = bufs[1].gpa;
	*status_gpa = bufs[2].gpa;
	return virtq_driver_add(drv, bufs, 3);
}

/* The next used entry is head's, with status OK (and a read's sector full of `fill`). */
static void blk_expect_done(struct drive *d, uint16_t head, uint32_t type, uint8_t fill, uint64_t data_gpa,
			    uint64_t status_gpa)
{
	struct virtq_driver *drv = &d->h.drv[0];
	uint32_t id, len;

	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(*(uint8_t *)virtq_driver_host(drv, status_gpa, 1), VIRTIO_BLK_S_OK);
	if (type == VIRTIO_BLK_T_IN) {
		uint8_t expect[SECTOR];
		memset(expect, fill, sizeof(expect));
		assert_int_equal(len, SECTOR + 1);
		assert_memory_equal(virtq_driver_host(drv, data_gpa, SECTOR), expect, SECTOR);
	}
}

static void blk_do(struct drive *d, uint32_t type, uint64_t sector, uint8_t fill)
{
	uint64_t data_gpa, status_gpa;
	uint16_t head = blk_add(d, type, sector, fill, &data_gpa, &status_gpa);

	virtio_harness_kick(&d->h, 0);
	blk_expect_done(d, head, type, fill, data_gpa, status_gpa);
}

static void test_blk_round_trip(void **state)
{
	const struct device_ops *ops = &virtio_blk_registry_ops;
	char path[] = "/dev/shm/vmon-blk-state-XXXXXX", small[] = "/dev/shm/vmon-blk-state-small-XXXXXX";
	uint64_t data_gpa, status_gpa;
	(void)state;

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	make_image(path, 64);
	struct drive *a = drive_new(path, NULL);
	virtio_harness_start(&a->h, F_EVENT_IDX, 1, 16);
	for (unsigned s = 0; s < 20; s++)                    /* more than the ring: indices wrap the slots */
		blk_do(a, VIRTIO_BLK_T_OUT, s, (uint8_t)(0x40 + s));
	blk_do(a, VIRTIO_BLK_T_IN, 3, 0x43);
	/* In the middle of a sequence: a write the guest made available but vmon has not seen yet. */
	uint16_t pending = blk_add(a, VIRTIO_BLK_T_OUT, 30, 0x99, &data_gpa, &status_gpa);
	ops->pause(vdev(&a->h));
	uint8_t *saved = save_state(ops, &a->h);

	/* The new device: same image (a's lock released first), a copy of a's RAM. */
	struct virtio_device_ops same_ops = a->ops;
	struct drive *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	b->ops = same_ops;
	virtio_harness_init(&b->h, NULL, &b->ops, NULL);
	virtio_harness_copy_guest(&b->h, &a->h);
	drive_free(a);
	struct drive_config cfg = { .path = path, .id = "another-id" };
	struct vmon_error err = { 0 };
	assert_int_equal(virtio_blk_create(&b->blk, vdev(&b->h), &cfg, 0, &err), 0);
	vdev(&b->h)->model = b->blk;
	ops->pause(vdev(&b->h));
	restore_state(ops, &b->h, saved);
	assert_memory_equal(b->blk->serial, "state-test", 10);       /* the id the guest read */
	assert_int_equal(b->blk->features, vdev(&b->h)->driver_features);

	/* Nothing moves while paused; resume serves the pending write once. */
	assert_int_equal(virtio_harness_run_loop(&b->h), 0);
	ops->resume(vdev(&b->h));
	virtio_harness_run_loop(&b->h);
	blk_expect_done(b, pending, VIRTIO_BLK_T_OUT, 0x99, data_gpa, status_gpa);
	uint32_t id, len;
	assert_false(virtq_driver_get_used(&b->h.drv[0], &id, &len));
	assert_int_equal(b->blk->writes, 1);

	/* The driver carries on: reads see what was written before and after the snapshot. */
	blk_do(b, VIRTIO_BLK_T_IN, 30, 0x99);
	for (unsigned s = 0; s < 20; s++)
		blk_do(b, VIRTIO_BLK_T_IN, s, (uint8_t)(0x40 + s));
	blk_do(b, VIRTIO_BLK_T_OUT, 40, 0x77);
	blk_do(b, VIRTIO_BLK_T_IN, 40, 0x77);
	assert_int_equal(virtq_driver_used_idx(&b->h.drv[0]), 20 + 1 + 1 + 1 + 20 + 2);

	/* Refused: an image of another size, and a reserved byte. */
	struct virtio_blk_state s;
	memcpy(&s, saved + 1, sizeof(s));
	s.reserved[1] = 3;
	ops->pause(vdev(&b->h));
	expect_refused(ops, &b->h, &s, "virtio-blk reserved byte 1");
	s.reserved[1] = 0;
	s.core.queues[0].size = 24;
	expect_refused(ops, &b->h, &s, "virtio-blk: queue 0 size");
	drive_free(b);

	fd = mkstemp(small);
	assert_true(fd >= 0);
	close(fd);
	make_image(small, 32);
	struct drive *c = drive_new(small, &same_ops);
	ops->pause(vdev(&c->h));
	expect_refused(ops, &c->h, saved + 1, "virtio-blk capacity: 64 sectors saved, this image has 32");
	drive_free(c);
	free(saved);
	unlink(path);
	unlink(small);
}

/* ---- virtio-net (on fake_net_backend.c) ----------------------------------------- */

struct nic {
	struct virtio_harness h;
	struct event_loop loop;           /* the model's own sources */
	struct virtio_net *net;
	struct fake_net_backend *fb;
};

static struct nic *nic_new(uint8_t mac_last)
{
	struct nic *n = calloc(1, sizeof(*n));
	struct net_config cfg = { .backend = NET_BACKEND_USER, .mac = { 0x52, 0x54, 0, 0, 0, mac_last } };
	struct vmon_error err = { 0 };

	assert_non_null(n);
	assert_int_equal(event_loop_init(&n->loop, &err), 0);
	if (virtio_net_create_with(&n->net, vdev(&n->h), &n->loop, &cfg, fake_net_backend_open, &err))
		fail_msg("virtio_net_create_with: %s", err.msg);
	n->fb = fake_net_backend_opened;
	virtio_harness_init(&n->h, NULL, &virtio_net_ops, n->net);
	return n;
}

static void nic_free(struct nic *n)
{
	virtio_net_stop(n->net);
	virtio_harness_destroy(&n->h);
	virtio_net_destroy(n->net);
	event_loop_destroy(&n->loop);
	free(n);
}

static void nic_run(struct nic *n)
{
	for (int round = 0; round < 100; round++) {
		int a = virtio_harness_run_loop(&n->h);
		int b = event_loop_run_once(&n->loop, 0);
		assert_true(b >= 0);
		if (a == 0 && b == 0)
			return;
	}
	fail_msg("loops never went idle");
}

static void make_frame(uint8_t *frame, size_t len, uint8_t tag)
{
	for (size_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(tag + i);
}

/* The backend hands the device a frame. */
static enum net_rx_status deliver(struct nic *n, uint8_t tag)
{
	uint8_t frame[40];

	make_frame(frame, sizeof(frame), tag);
	return n->fb->be.sink.receive(n->fb->be.sink.ctx, frame, sizeof(frame));
}

/* The driver takes the next received frame: it must be tag's, in buffer `head` with num_buffers 1. */
static void expect_received(struct nic *n, const uint64_t *rx_gpa, uint8_t tag)
{
	struct virtq_driver *drv = &n->h.drv[VIRTIO_NET_QUEUE_RX];
	uint8_t frame[40];
	uint32_t id, len;

	make_frame(frame, sizeof(frame), tag);
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(len, VIRTIO_NET_HDR_SIZE + sizeof(frame));
	const struct virtio_net_hdr_v1 *hdr = virtq_driver_host(drv, rx_gpa[id], VIRTIO_NET_HDR_SIZE);
	assert_int_equal(le16toh(hdr->num_buffers), 1);
	assert_memory_equal(virtq_driver_host(drv, rx_gpa[id] + VIRTIO_NET_HDR_SIZE, sizeof(frame)), frame,
			    sizeof(frame));
}

static uint16_t queue_tx(struct nic *n, uint8_t tag)
{
	uint8_t buf[VIRTIO_NET_HDR_SIZE + 30] = { 0 };

	make_frame(buf + VIRTIO_NET_HDR_SIZE, 30, tag);
	struct virtq_driver_buf b = virtq_driver_buf_out(&n->h.drv[VIRTIO_NET_QUEUE_TX], buf, sizeof(buf));
	return virtq_driver_add(&n->h.drv[VIRTIO_NET_QUEUE_TX], &b, 1);
}

static void expect_sent(struct fake_net_backend *fb, unsigned i, uint8_t tag)
{
	uint8_t frame[30];

	make_frame(frame, sizeof(frame), tag);
	assert_true(i < fb->nsent);
	assert_int_equal(fb->sent_len[i], sizeof(frame));
	assert_memory_equal(fb->sent[i], frame, sizeof(frame));
}

static void test_net_round_trip(void **state)
{
	const struct device_ops *ops = &virtio_net_registry_ops;
	uint64_t rx_gpa[16] = { 0 };
	(void)state;

	struct nic *a = nic_new(0xa);
	virtio_harness_start(&a->h, F_EVENT_IDX | F_MRG, 2, 16);
	nic_run(a);
	for (int i = 0; i < 6; i++) {           /* six receive buffers of 128 bytes */
		struct virtq_driver_buf b = virtq_driver_buf_in(&a->h.drv[VIRTIO_NET_QUEUE_RX], 128);
		rx_gpa[virtq_driver_add(&a->h.drv[VIRTIO_NET_QUEUE_RX], &b, 1)] = b.gpa;
	}
	virtio_harness_kick(&a->h, VIRTIO_NET_QUEUE_RX);
	assert_int_equal(deliver(a, 1), NET_RX_OK);
	assert_int_equal(deliver(a, 2), NET_RX_OK);
	expect_received(a, rx_gpa, 1);
	queue_tx(a, 0x10);
	virtio_harness_kick(&a->h, VIRTIO_NET_QUEUE_TX);
	nic_run(a);
	expect_sent(a->fb, 0, 0x10);

	/* Paused: a frame is refused (the backend keeps or drops it), nothing reaches guest memory. */
	queue_tx(a, 0x11);                        /* made available, not kicked */
	ops->pause(vdev(&a->h));
	uint16_t used_before = virtq_driver_used_idx(&a->h.drv[VIRTIO_NET_QUEUE_RX]);
	assert_int_equal(deliver(a, 3), NET_RX_NO_SPACE);
	assert_int_equal(virtq_driver_used_idx(&a->h.drv[VIRTIO_NET_QUEUE_RX]), used_before);
	virtio_harness_kick(&a->h, VIRTIO_NET_QUEUE_TX);
	nic_run(a);
	assert_int_equal(a->fb->nsent, 1);
	uint8_t *saved = save_state(ops, &a->h);

	/* The new device: another MAC configured, a copy of a's RAM. */
	struct nic *b = nic_new(0xb);
	virtio_harness_copy_guest(&b->h, &a->h);
	ops->pause(vdev(&b->h));
	restore_state(ops, &b->h, saved);
	assert_int_equal(virtio_harness_config_read(&b->h, 5, 1), 0xa);   /* the MAC the guest knows */
	ops->resume(vdev(&b->h));
	nic_run(b);
	/* The transmit made available before the snapshot goes out once, through b. */
	assert_int_equal(b->fb->nsent, 1);
	expect_sent(b->fb, 0, 0x11);
	/* The frame received before the snapshot but not yet taken by the driver is still there, then new ones follow. */
	expect_received(b, rx_gpa, 2);
	assert_int_equal(deliver(b, 4), NET_RX_OK);
	expect_received(b, rx_gpa, 4);
	uint32_t id, len;
	assert_false(virtq_driver_get_used(&b->h.drv[VIRTIO_NET_QUEUE_RX], &id, &len));
	queue_tx(b, 0x12);
	virtio_harness_kick(&b->h, VIRTIO_NET_QUEUE_TX);
	nic_run(b);
	expect_sent(b->fb, 1, 0x12);

	/* a, resumed: the refused backend is told to go on, since the ring has buffers. */
	unsigned resumes = a->fb->resumes;
	ops->resume(vdev(&a->h));
	nic_run(a);
	assert_int_equal(a->fb->resumes, resumes + 1);
	assert_int_equal(a->fb->nsent, 2);     /* a's own copy of the guest sends its pending frame too */

	/* Refused: link status bits that do not exist. */
	struct virtio_net_state s;
	memcpy(&s, saved + 1, sizeof(s));
	s.link_status = 0x8;
	ops->pause(vdev(&b->h));
	expect_refused(ops, &b->h, &s, "virtio-net link_status 0x8");
	free(saved);
	nic_free(a);
	nic_free(b);
}

/* ---- virtio-console -------------------------------------------------------------- */

struct console {
	struct virtio_harness h;
	struct virtio_console *con;
	char path[108];
};

static struct console *console_new(const char *dir, const char *name)
{
	struct console *c = calloc(1, sizeof(*c));
	struct vmon_error err = { 0 };

	assert_non_null(c);
	snprintf(c->path, sizeof(c->path), "%s/%s", dir, name);
	virtio_harness_init(&c->h, NULL, &virtio_console_ops, NULL);
	if (virtio_console_create(&c->con, vdev(&c->h), &c->h.loop, c->path, &err))
		fail_msg("virtio_console_create: %s", err.msg);
	vdev(&c->h)->model = c->con;
	return c;
}

static void console_free(struct console *c)
{
	virtio_console_destroy(c->con);
	virtio_harness_destroy(&c->h);
	free(c);
}

static int console_client(struct console *c)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, c->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	virtio_harness_run_loop(&c->h);
	return fd;
}

/* The next receive buffer the device used holds exactly `text`. */
static void console_expect_rx(struct console *c, const uint64_t *gpa, const char *text)
{
	uint32_t id, len;

	virtio_harness_run_loop(&c->h);
	assert_true(virtq_driver_get_used(&c->h.drv[VIRTIO_CONSOLE_RX_QUEUE], &id, &len));
	assert_int_equal(len, strlen(text));
	assert_memory_equal(virtq_driver_host(&c->h.drv[VIRTIO_CONSOLE_RX_QUEUE], gpa[id], len), text, len);
}

static void console_expect_client_gets(int fd, const char *text)
{
	char buf[64] = { 0 };

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

static void console_guest_send(struct console *c, const char *text)
{
	struct virtq_driver_buf b = virtq_driver_buf_out(&c->h.drv[VIRTIO_CONSOLE_TX_QUEUE], text, (uint32_t)strlen(text));

	virtq_driver_add(&c->h.drv[VIRTIO_CONSOLE_TX_QUEUE], &b, 1);
	virtio_harness_kick(&c->h, VIRTIO_CONSOLE_TX_QUEUE);
}

static void test_console_round_trip(void **state)
{
	const struct device_ops *ops = &virtio_console_registry_ops;
	char dir[] = "/tmp/vmon-console-state-XXXXXX";
	uint64_t rx_gpa[16] = { 0 };
	(void)state;

	assert_non_null(mkdtemp(dir));
	struct console *a = console_new(dir, "a.sock");
	virtio_harness_start(&a->h, F_EVENT_IDX, 2, 16);
	for (int i = 0; i < 4; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(&a->h.drv[VIRTIO_CONSOLE_RX_QUEUE], 32);
		rx_gpa[virtq_driver_add(&a->h.drv[VIRTIO_CONSOLE_RX_QUEUE], &b, 1)] = b.gpa;
	}
	virtio_harness_kick(&a->h, VIRTIO_CONSOLE_RX_QUEUE);
	int client_a = console_client(a);
	assert_int_equal(send(client_a, "hello", 5, MSG_NOSIGNAL), 5);
	console_expect_rx(a, rx_gpa, "hello");
	console_guest_send(a, "from guest");
	console_expect_client_gets(client_a, "from guest");

	/* Paused: the client's bytes wait in its socket. */
	ops->pause(vdev(&a->h));
	assert_int_equal(send(client_a, "late", 4, MSG_NOSIGNAL), 4);
	virtio_harness_run_loop(&a->h);
	uint32_t id, len;
	assert_false(virtq_driver_get_used(&a->h.drv[VIRTIO_CONSOLE_RX_QUEUE], &id, &len));
	uint8_t *saved = save_state(ops, &a->h);

	struct console *b = console_new(dir, "b.sock");
	virtio_harness_copy_guest(&b->h, &a->h);
	ops->pause(vdev(&b->h));
	restore_state(ops, &b->h, saved);
	ops->resume(vdev(&b->h));
	int client_b = console_client(b);
	assert_int_equal(send(client_b, "again", 5, MSG_NOSIGNAL), 5);
	console_expect_rx(b, rx_gpa, "again");      /* into the restored ring, the next buffer */
	assert_int_equal(virtq_driver_used_idx(&b->h.drv[VIRTIO_CONSOLE_RX_QUEUE]), 2);
	console_guest_send(b, "still here");
	console_expect_client_gets(client_b, "still here");

	/* a, resumed, reads what its client sent while paused. */
	ops->resume(vdev(&a->h));
	console_expect_rx(a, rx_gpa, "late");

	struct virtio_console_state s;
	memcpy(&s, saved + 1, sizeof(s));
	s.tx_offset = 1ull << 40;
	ops->pause(vdev(&b->h));
	expect_refused(ops, &b->h, &s, "virtio-console tx_offset");
	close(client_a);
	close(client_b);
	free(saved);
	console_free(a);
	console_free(b);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_round_trip),
		cmocka_unit_test(test_net_round_trip),
		cmocka_unit_test(test_console_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
