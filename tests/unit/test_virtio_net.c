/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_net_backend.h"
#include "net/backend.h"
#include "virtio/net.h"
#include "virtio_harness.h"

/*
 * virtio-net through the real virtio-mmio transport, with a fake backend:
 * the test is the guest driver (rings in guest memory) and the network
 * (frames handed to the sink, frames the device sends).
 */

#define F_MAC (1ull << VIRTIO_NET_F_MAC)
#define F_STATUS (1ull << VIRTIO_NET_F_STATUS)
#define F_MRG (1ull << VIRTIO_NET_F_MRG_RXBUF)
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define HDR VIRTIO_NET_HDR_SIZE
#define RXQ VIRTIO_NET_QUEUE_RX
#define TXQ VIRTIO_NET_QUEUE_TX
#define BIG (VIRTIO_NET_TX_FRAME_MAX + 16)

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* ---- the fake backend (fake_net_backend.c) and one that fails to open ---- */

static int failing_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
			const struct net_rx_sink *sink, struct vmon_error *err)
{
	(void)out, (void)loop, (void)cfg, (void)sink;
	return error_set(err, -EBUSY, "fake backend busy");
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
	struct virtio_harness h;
	struct event_loop dev_loop;   /* the device's own sources (the harness loop needs the device first) */
	struct virtio_net *net;
	struct fake_net_backend *fb;
	bool backend_destroyed;
	uint8_t frame[BIG];
};

/* A device on its own event loop, behind the harness; open: the backend (the fake or the real slirp). */
static struct fixture *fixture_new(net_backend_open_fn open)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_config cfg = { .backend = NET_BACKEND_USER };
	struct vmon_error err = { 0 };

	assert_non_null(f);
	memcpy(cfg.mac, test_mac, 6);
	assert_int_equal(event_loop_init(&f->dev_loop, &err), 0);
	if (virtio_net_create_with(&f->net, &f->h.t.vdev, &f->dev_loop, &cfg, open, &err))
		fail_msg("virtio_net_create_with: %s", err.msg);
	virtio_harness_init(&f->h, NULL, &virtio_net_ops, f->net);
	return f;
}

static int setup(void **state)
{
	struct fixture *f = fixture_new(fake_net_backend_open);

	f->fb = fake_net_backend_opened;
	f->fb->destroyed = &f->backend_destroyed;
	for (size_t i = 0; i < sizeof(f->frame); i++)
		f->frame[i] = (uint8_t)(i * 7 + i / 251);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_net_stop(f->net);           /* before the transport goes */
	assert_true(f->backend_destroyed);
	virtio_harness_destroy(&f->h);
	virtio_net_destroy(f->net);
	event_loop_destroy(&f->dev_loop);
	free(f);
	return 0;
}

/* Both loops, without waiting, until idle. */
static void run_loops(struct fixture *f)
{
	virtio_harness_run_with(&f->h, &f->dev_loop);
}

static void kick(struct fixture *f, unsigned q)
{
	virtio_harness_kick(&f->h, q);
	run_loops(f);
}

static void start(struct fixture *f, uint64_t features, uint16_t queue_size)
{
	virtio_harness_start(&f->h, features, 2, queue_size);
	run_loops(f);
	virtio_harness_take_interrupts(&f->h);
}

static bool needs_reset(struct fixture *f)
{
	return virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static struct virtio_net_stats stats(struct fixture *f)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(f->net, &s);
	return s;
}

static enum net_rx_status deliver(struct fixture *f, const void *frame, size_t len)
{
	return f->fb->be.sink.receive(f->fb->be.sink.ctx, frame, len);
}

/* ---- transmit helpers --------------------------------------------------------- */

/* A TX chain: a virtio_net_hdr_v1 (hdr, or zeroes) then frame, split into buffers of the given sizes (0-terminated). */
static uint16_t add_tx(struct fixture *f, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len,
		       const uint32_t *split)
{
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtio_net_hdr_v1 zero = { 0 };
	struct virtq_driver_buf bufs[16];
	uint8_t *all = malloc(HDR + len);
	size_t off = 0;
	unsigned n = 0;
	uint16_t head;

	assert_non_null(all);
	memcpy(all, hdr ? hdr : &zero, HDR);
	memcpy(all + HDR, frame, len);
	for (; split && split[n] && off < HDR + len; n++) {
		uint32_t part = split[n] < HDR + len - off ? split[n] : (uint32_t)(HDR + len - off);
		bufs[n] = virtq_driver_buf_out(drv, all + off, part);
		off += part;
	}
	if (off < HDR + len)
		bufs[n++] = virtq_driver_buf_out(drv, all + off, (uint32_t)(HDR + len - off));
	head = virtq_driver_add(drv, bufs, n);
	free(all);
	return head;
}

static void expect_used(struct fixture *f, unsigned q, uint16_t head, uint32_t len)
{
	uint32_t id, got_len;

	assert_true(virtq_driver_get_used(&f->h.drv[q], &id, &got_len));
	assert_int_equal(id, head);
	assert_int_equal(got_len, len);
}

static void expect_no_used(struct fixture *f, unsigned q)
{
	uint32_t id, len;

	assert_false(virtq_driver_get_used(&f->h.drv[q], &id, &len));
}

/* ---- features and config ------------------------------------------------------ */

static void test_identity_features_config(void **state)
{
	struct fixture *f = *state;
	uint64_t offered;

	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	offered = virtio_harness_device_features(&f->h);
	assert_int_equal(offered, F_MAC | F_STATUS | F_MRG | F_INDIRECT | F_EVENT_IDX | (1ull << VIRTIO_F_VERSION_1));
	/* No offload is offered: the device does none. */
	assert_false(offered & ((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
				(1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_CTRL_VQ) |
				(1ull << VIRTIO_NET_F_MQ)));
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(virtio_harness_config_read(&f->h, i, 1), test_mac[i]);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), le32toh(*(const uint32_t *)test_mac));
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_net_config, status), 2),
			 VIRTIO_NET_S_LINK_UP);
	assert_int_equal(virtio_net_ops.config_size, 8);     /* mac, status */
	/* Writes are ignored: the MAC stays. */
	virtio_harness_config_write(&f->h, 0, 0xff, 1);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 1), test_mac[0]);
}

static void test_backend_open_failure(void **state)
{
	struct fixture *f = *state;
	struct net_config cfg = { .backend = NET_BACKEND_USER };
	struct virtio_net *n = (struct virtio_net *)1;
	struct vmon_error err = { 0 };

	assert_int_equal(virtio_net_create_with(&n, &f->h.t.vdev, &f->dev_loop, &cfg, failing_open, &err), -EBUSY);
	assert_null(n);
	assert_string_equal(err.msg, "fake backend busy");
}

/* ---- transmit ---------------------------------------------------------------------- */

static void test_tx_header_stripped(void **state)
{
	struct fixture *f = *state;
	static const uint32_t one_buffer[] = { HDR + 60, 0 };
	static const uint32_t odd_split[] = { 5, 9, 1, 30, 0 };   /* header split over 2 buffers, frame over 4 */
	uint16_t a, b;

	start(f, F_MAC | F_STATUS | F_MRG, 64);
	a = add_tx(f, NULL, f->frame, 60, one_buffer);
	b = add_tx(f, NULL, f->frame + 100, 1514, odd_split);
	kick(f, TXQ);
	expect_used(f, TXQ, a, 0);
	expect_used(f, TXQ, b, 0);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	assert_int_equal(f->fb->nsent, 2);
	assert_int_equal(f->fb->sent_len[0], 60);
	assert_memory_equal(f->fb->sent[0], f->frame, 60);
	assert_int_equal(f->fb->sent_len[1], 1514);
	assert_memory_equal(f->fb->sent[1], f->frame + 100, 1514);
	assert_int_equal(stats(f).tx_frames, 2);
	assert_int_equal(stats(f).tx_bytes, 1574);
	assert_int_equal(stats(f).tx_dropped, 0);
	assert_false(needs_reset(f));
}

static void test_tx_indirect(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct virtq_driver_buf bufs[2];
	uint16_t head;

	start(f, F_INDIRECT, 64);
	bufs[0] = virtq_driver_buf_out(drv, &hdr, HDR);
	bufs[1] = virtq_driver_buf_out(drv, f->frame, 42);
	head = virtq_driver_add_indirect(drv, bufs, 2);
	kick(f, TXQ);
	expect_used(f, TXQ, head, 0);
	assert_int_equal(f->fb->nsent, 1);
	assert_memory_equal(f->fb->sent[0], f->frame, 42);
}

/* Bad sizes and offload requests: dropped and counted; the device keeps serving. */
static void test_tx_bad_frames_dropped(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(34) };
	struct virtio_net_hdr_v1 tso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = htole16(1448) };
	uint16_t empty, runt, huge, max, c, t, good;

	start(f, F_MRG, 64);
	empty = add_tx(f, NULL, f->frame, 0, NULL);
	runt = add_tx(f, NULL, f->frame, VIRTIO_NET_FRAME_MIN - 1, NULL);
	huge = add_tx(f, NULL, f->frame, VIRTIO_NET_TX_FRAME_MAX + 1, NULL);
	max = add_tx(f, NULL, f->frame, VIRTIO_NET_TX_FRAME_MAX, NULL);
	c = add_tx(f, &csum, f->frame, 100, NULL);
	t = add_tx(f, &tso, f->frame, 3000, NULL);
	good = add_tx(f, NULL, f->frame + 1, 64, NULL);
	kick(f, TXQ);
	/* Every chain is given back, dropped or not. */
	expect_used(f, TXQ, empty, 0);
	expect_used(f, TXQ, runt, 0);
	expect_used(f, TXQ, huge, 0);
	expect_used(f, TXQ, max, 0);
	expect_used(f, TXQ, c, 0);
	expect_used(f, TXQ, t, 0);
	expect_used(f, TXQ, good, 0);
	assert_false(needs_reset(f));
	assert_int_equal(f->fb->nsent, 2);
	assert_int_equal(f->fb->sent_len[0], VIRTIO_NET_TX_FRAME_MAX);
	assert_memory_equal(f->fb->sent[0], f->frame, VIRTIO_NET_TX_FRAME_MAX);
	assert_int_equal(f->fb->sent_len[1], 64);
	assert_int_equal(stats(f).tx_dropped, 5);
	assert_int_equal(stats(f).tx_frames, 2);
}

static void test_tx_backend_refuses(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	start(f, 0, 64);
	f->fb->send_result = -EAGAIN;
	head = add_tx(f, NULL, f->frame, 60, NULL);
	kick(f, TXQ);
	expect_used(f, TXQ, head, 0);
	assert_int_equal(stats(f).tx_dropped, 1);
	assert_int_equal(stats(f).tx_frames, 0);
	assert_false(needs_reset(f));
}

static void test_tx_short_header_is_driver_bug(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtq_driver_buf buf;

	start(f, 0, 64);
	buf = virtq_driver_buf_out(drv, f->frame, HDR - 1);
	virtq_driver_add(drv, &buf, 1);
	kick(f, TXQ);
	assert_true(needs_reset(f));
	assert_int_equal(f->fb->nsent, 0);
	/* Nothing more is served until the driver resets. */
	add_tx(f, NULL, f->frame, 60, NULL);
	kick(f, TXQ);
	assert_int_equal(f->fb->nsent, 0);
}

static void test_tx_writable_segment_is_driver_bug(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct virtq_driver_buf bufs[3];

	start(f, 0, 64);
	bufs[0] = virtq_driver_buf_out(drv, &hdr, HDR);
	bufs[1] = virtq_driver_buf_out(drv, f->frame, 60);
	bufs[2] = virtq_driver_buf_in(drv, 16);
	virtq_driver_add(drv, bufs, 3);
	kick(f, TXQ);
	assert_true(needs_reset(f));
	assert_int_equal(f->fb->nsent, 0);
}

/* A kick before DRIVER_OK is ignored by the transport; activation looks at the queue anyway. */
static void test_tx_queued_before_driver_ok(void **state)
{
	struct fixture *f = *state;

	virtio_harness_negotiate(&f->h, 0);
	assert_true(virtio_harness_setup_queue(&f->h, RXQ, 64));
	assert_true(virtio_harness_setup_queue(&f->h, TXQ, 64));
	add_tx(f, NULL, f->frame, 60, NULL);
	kick(f, TXQ);
	assert_int_equal(f->fb->nsent, 0);
	virtio_harness_driver_ok(&f->h);
	run_loops(f);
	assert_int_equal(f->fb->nsent, 1);
}

/* ---- receive ----------------------------------------------------------------------- */

static struct virtq_driver_buf add_rx(struct fixture *f, uint32_t len, uint16_t *head)
{
	struct virtq_driver_buf buf = virtq_driver_buf_in(&f->h.drv[RXQ], len);

	*head = virtq_driver_add(&f->h.drv[RXQ], &buf, 1);
	return buf;
}

static const struct virtio_net_hdr_v1 *rx_header(struct fixture *f, const struct virtq_driver_buf *buf)
{
	return virtq_driver_host(&f->h.drv[RXQ], buf->gpa, HDR);
}

static void test_rx_single_buffer(void **state)
{
	struct fixture *f = *state;
	uint16_t head;
	struct virtq_driver_buf buf;
	const struct virtio_net_hdr_v1 *hdr;
	struct virtio_net_hdr_v1 zero = { .num_buffers = htole16(1) };

	start(f, F_MAC, 64);
	buf = add_rx(f, 1526, &head);
	memset(virtq_driver_host(&f->h.drv[RXQ], buf.gpa, 1526), 0xee, 1526);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_OK);
	expect_used(f, RXQ, head, HDR + 100);
	hdr = rx_header(f, &buf);
	assert_memory_equal(hdr, &zero, HDR);       /* all zero but num_buffers = 1 */
	assert_memory_equal((const uint8_t *)hdr + HDR, f->frame, 100);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	assert_int_equal(stats(f).rx_frames, 1);
	assert_int_equal(stats(f).rx_bytes, 100);
}

static void test_rx_mergeable_spans_buffers(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[RXQ];
	struct virtq_driver_buf b0[2], b1, b2;
	uint16_t h0, h1, h2;
	const struct virtio_net_hdr_v1 *hdr;
	uint8_t got[2500];

	start(f, F_MRG, 64);
	/* The first chain has two descriptors, the header split across them. */
	b0[0] = virtq_driver_buf_in(drv, 7);
	b0[1] = virtq_driver_buf_in(drv, 993);
	h0 = virtq_driver_add(drv, b0, 2);
	b1 = add_rx(f, 1000, &h1);
	b2 = add_rx(f, 1000, &h2);
	add_rx(f, 1000, &(uint16_t){ 0 });        /* one more, not needed */
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 2500), NET_RX_OK);
	expect_used(f, RXQ, h0, 1000);
	expect_used(f, RXQ, h1, 1000);
	expect_used(f, RXQ, h2, 512);
	expect_no_used(f, RXQ);
	assert_int_equal(virtq_driver_used_idx(drv), 3);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);

	/* Reassemble as the driver does: 12 header bytes, then the rest in order. */
	memcpy(got, (const uint8_t *)virtq_driver_host(drv, b0[0].gpa, 7), 7);
	memcpy(got + 7, virtq_driver_host(drv, b0[1].gpa, 993), 993);
	hdr = (const struct virtio_net_hdr_v1 *)got;
	assert_int_equal(le16toh(hdr->num_buffers), 3);
	assert_int_equal(hdr->flags, 0);
	assert_int_equal(hdr->gso_type, 0);
	assert_memory_equal(got + HDR, f->frame, 1000 - HDR);
	assert_memory_equal(virtq_driver_host(drv, b1.gpa, 1000), f->frame + 1000 - HDR, 1000);
	assert_memory_equal(virtq_driver_host(drv, b2.gpa, 512), f->frame + 2000 - HDR, 512);

	/* A small frame next takes one buffer, num_buffers = 1. */
	assert_int_equal(deliver(f, f->frame, 60), NET_RX_OK);
	assert_int_equal(virtq_driver_used_idx(drv), 4);
	assert_int_equal(stats(f).rx_frames, 2);
}

/* A 64 KiB frame over many small buffers, with EVENT_IDX and indirect chains in the mix. */
static void test_rx_mergeable_large_frame(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[RXQ];
	struct virtq_driver_buf bufs[40];
	const size_t len = 65536;
	uint8_t *got = malloc(HDR + len);
	size_t off = 0;
	uint32_t id, ulen;
	unsigned used = 0;

	assert_non_null(got);
	start(f, F_MRG | F_EVENT_IDX | F_INDIRECT, 64);
	for (unsigned i = 0; i < 40; i++) {
		bufs[i] = virtq_driver_buf_in(drv, 2048);
		if (i % 2)
			virtq_driver_add_indirect(drv, &bufs[i], 1);
		else
			virtq_driver_add(drv, &bufs[i], 1);
	}
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, len), NET_RX_OK);
	while (virtq_driver_get_used(drv, &id, &ulen)) {
		memcpy(got + off, virtq_driver_host(drv, bufs[used].gpa, ulen), ulen);
		off += ulen;
		used++;
	}
	assert_int_equal(used, (HDR + len + 2047) / 2048);
	assert_int_equal(off, HDR + len);
	assert_int_equal(le16toh(((struct virtio_net_hdr_v1 *)got)->num_buffers), used);
	assert_memory_equal(got + HDR, f->frame, len);
	free(got);
}

/* No buffers: refused (not taken), and the backend is resumed when the driver adds some. */
static void test_rx_back_pressure(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	start(f, F_MRG, 64);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
	assert_int_equal(stats(f).rx_no_space, 2);
	assert_int_equal(stats(f).rx_frames, 0);
	assert_int_equal(stats(f).rx_dropped, 0);
	assert_int_equal(f->fb->resumes, 0);

	add_rx(f, 1526, &head);
	kick(f, RXQ);
	assert_int_equal(f->fb->resumes, 1);
	/* Another kick with nothing refused since: no resume. */
	kick(f, RXQ);
	assert_int_equal(f->fb->resumes, 1);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_OK);
	expect_used(f, RXQ, head, HDR + 100);
}

/* Part of a mergeable frame fits: nothing is used, all buffers stay for later. */
static void test_rx_mergeable_partial_space(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[RXQ];
	uint16_t h0, h1, h2;

	start(f, F_MRG, 64);
	add_rx(f, 1000, &h0);
	add_rx(f, 1000, &h1);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 2500), NET_RX_NO_SPACE);
	expect_no_used(f, RXQ);
	assert_int_equal(virtq_driver_used_idx(drv), 0);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 0);

	add_rx(f, 1000, &h2);
	kick(f, RXQ);
	assert_int_equal(f->fb->resumes, 1);
	assert_int_equal(deliver(f, f->frame, 2500), NET_RX_OK);
	expect_used(f, RXQ, h0, 1000);
	expect_used(f, RXQ, h1, 1000);
	expect_used(f, RXQ, h2, 512);
}

/* Without MRG_RXBUF a frame larger than the buffer is dropped; the buffer serves the next one. */
static void test_rx_too_big_dropped(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	start(f, 0, 64);
	add_rx(f, 512, &head);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 1000), NET_RX_OK);
	expect_no_used(f, RXQ);
	assert_int_equal(stats(f).rx_dropped, 1);
	assert_int_equal(deliver(f, f->frame, 500), NET_RX_OK);
	expect_used(f, RXQ, head, HDR + 500);
	assert_int_equal(stats(f).rx_frames, 1);
	assert_false(needs_reset(f));
}

/* With MRG_RXBUF, a frame larger than the whole ring can never fit: dropped, not waited for. */
static void test_rx_larger_than_ring_dropped(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	start(f, F_MRG, 4);
	for (int i = 0; i < 4; i++)
		add_rx(f, 100, &head);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 1000), NET_RX_OK);
	expect_no_used(f, RXQ);
	assert_int_equal(stats(f).rx_dropped, 1);
	assert_int_equal(deliver(f, f->frame, 300), NET_RX_OK);   /* 312 bytes: 4 buffers */
	assert_int_equal(virtq_driver_used_idx(&f->h.drv[RXQ]), 4);
}

static void test_rx_readable_segment_is_driver_bug(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[RXQ];
	struct virtq_driver_buf bufs[2];

	start(f, F_MRG, 64);
	bufs[0] = virtq_driver_buf_out(drv, f->frame, 16);
	bufs[1] = virtq_driver_buf_in(drv, 1500);
	virtq_driver_add(drv, bufs, 2);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_OK);
	assert_true(needs_reset(f));
	expect_no_used(f, RXQ);
	/* Stopped: later frames wait for the reset. */
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
}

static void test_rx_buffer_shorter_than_header_is_driver_bug(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	start(f, F_MRG, 64);
	add_rx(f, 1000, &head);
	add_rx(f, HDR - 1, &head);
	kick(f, RXQ);
	/* The first buffer is fine, the second (needed for 1500 bytes) is not. */
	assert_int_equal(deliver(f, f->frame, 1500), NET_RX_OK);
	assert_true(needs_reset(f));
	expect_no_used(f, RXQ);
}

/* Frames before DRIVER_OK are refused; activation resumes the backend. After a reset, the same. */
static void test_rx_before_activation_and_after_reset(void **state)
{
	struct fixture *f = *state;
	uint16_t head;

	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
	start(f, 0, 64);
	assert_int_equal(f->fb->resumes, 1);
	add_rx(f, 1526, &head);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_OK);

	virtio_harness_reset(&f->h);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
	start(f, F_MRG, 64);
	assert_int_equal(f->fb->resumes, 2);
	add_rx(f, 1526, &head);
	kick(f, RXQ);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_OK);
	expect_used(f, RXQ, head, HDR + 100);
}

/* The RX queue never set up: refused, not dropped (the driver may still set it up). */
static void test_rx_queue_not_ready(void **state)
{
	struct fixture *f = *state;

	virtio_harness_negotiate(&f->h, 0);
	assert_true(virtio_harness_setup_queue(&f->h, TXQ, 64));
	virtio_harness_driver_ok(&f->h);
	run_loops(f);
	assert_int_equal(deliver(f, f->frame, 100), NET_RX_NO_SPACE);
	assert_int_equal(stats(f).rx_dropped, 0);
	assert_false(needs_reset(f));
}

/* ---- end to end with the real user-mode backend --------------------------- */

static int setup_user(void **state)
{
	*state = fixture_new(net_slirp_open);
	return 0;
}

static int teardown_user(void **state)
{
	struct fixture *f = *state;

	virtio_net_stop(f->net);
	virtio_harness_destroy(&f->h);
	virtio_net_destroy(f->net);
	event_loop_destroy(&f->dev_loop);
	free(f);
	return 0;
}

/* The guest asks for the gateway's MAC through the TX queue; slirp's answer arrives, from its thread, in an RX buffer. */
static void test_user_backend_arp_round_trip(void **state)
{
	struct fixture *f = *state;
	static const uint8_t arp[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 10, 0, 2, 15,
		0, 0, 0, 0, 0, 0, 10, 0, 2, 2,
	};
	static const uint8_t gateway_ip[4] = { 10, 0, 2, 2 };
	struct timespec pause = { .tv_nsec = 1000 * 1000 };
	struct virtq_driver_buf buf;
	const uint8_t *reply;
	uint16_t head;
	uint32_t id, len = 0;
	bool got = false;

	start(f, F_MRG | F_EVENT_IDX, 64);
	buf = add_rx(f, 1526, &head);
	kick(f, RXQ);
	add_tx(f, NULL, arp, sizeof(arp), NULL);
	kick(f, TXQ);
	for (int i = 0; i < 5000 && !got; i++) {
		virtio_lock(&f->h.t.vdev);    /* the slirp thread writes the ring under it */
		got = virtq_driver_get_used(&f->h.drv[RXQ], &id, &len);
		virtio_unlock(&f->h.t.vdev);
		if (!got)
			nanosleep(&pause, NULL);
	}
	assert_true(got);
	assert_int_equal(id, head);
	assert_true(len >= HDR + 42);
	reply = virtq_driver_host(&f->h.drv[RXQ], buf.gpa, len);
	assert_memory_equal(reply + HDR, test_mac, 6);                       /* to the guest */
	assert_int_equal(reply[HDR + 12] << 8 | reply[HDR + 13], 0x0806);   /* ARP */
	assert_int_equal(reply[HDR + 14 + 7], 2);                            /* reply */
	assert_memory_equal(reply + HDR + 14 + 14, gateway_ip, 4);
	assert_int_equal(stats(f).tx_frames, 1);
	assert_int_equal(stats(f).rx_frames, 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_identity_features_config),
		T(test_backend_open_failure),
		T(test_tx_header_stripped),
		T(test_tx_indirect),
		T(test_tx_bad_frames_dropped),
		T(test_tx_backend_refuses),
		T(test_tx_short_header_is_driver_bug),
		T(test_tx_writable_segment_is_driver_bug),
		T(test_tx_queued_before_driver_ok),
		T(test_rx_single_buffer),
		T(test_rx_mergeable_spans_buffers),
		T(test_rx_mergeable_large_frame),
		T(test_rx_back_pressure),
		T(test_rx_mergeable_partial_space),
		T(test_rx_too_big_dropped),
		T(test_rx_larger_than_ring_dropped),
		T(test_rx_readable_segment_is_driver_bug),
		T(test_rx_buffer_shorter_than_header_is_driver_bug),
		T(test_rx_before_activation_and_after_reset),
		T(test_rx_queue_not_ready),
		cmocka_unit_test_setup_teardown(test_user_backend_arp_round_trip, setup_user, teardown_user),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
