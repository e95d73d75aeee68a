/* SPDX-License-Identifier: MIT */
/*
 * virtio-net's rx and tx rate limiters through the real virtio-mmio transport
 * and a fake backend: a throttled direction waits for its timer on the
 * device's loop (one wake-up, no polling), frames keep their order, nothing
 * is lost; a live update releases a throttled direction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_net_backend.h"
#include "net/backend.h"
#include "virtio/net.h"
#include "virtio_harness.h"

#define HDR VIRTIO_NET_HDR_SIZE
#define RXQ VIRTIO_NET_QUEUE_RX
#define TXQ VIRTIO_NET_QUEUE_TX

struct fixture {
	struct virtio_harness h;
	struct event_loop dev_loop;   /* the device's sources, its throttle timers among them */
	struct virtio_net *net;
	struct fake_net_backend *fb;
	bool backend_destroyed;
	uint8_t frame[2048];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_config cfg = { .backend = NET_BACKEND_USER, .mac = { 0x52, 0x54, 0, 1, 2, 3 } };
	struct vmon_error err = { 0 };

	assert_non_null(f);
	assert_int_equal(event_loop_init(&f->dev_loop, &err), 0);
	if (virtio_net_create_with(&f->net, &f->h.t.vdev, &f->dev_loop, &cfg, fake_net_backend_open, &err))
		fail_msg("virtio_net_create_with: %s", err.msg);
	virtio_harness_init(&f->h, NULL, &virtio_net_ops, f->net);
	f->fb = fake_net_backend_opened;
	f->fb->destroyed = &f->backend_destroyed;
	for (size_t i = 0; i < sizeof(f->frame); i++)
		f->frame[i] = (uint8_t)i;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_net_stop(f->net);
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

static void start(struct fixture *f, const struct rate_limiter_config *rx, const struct rate_limiter_config *tx)
{
	struct vmon_error err = { 0 };

	if (virtio_net_set_rate_limiters(f->net, rx, tx, &err))
		fail_msg("virtio_net_set_rate_limiters: %s", err.msg);
	virtio_harness_start(&f->h, 0, 2, 64);
	run_loops(f);
}

static void add_tx(struct fixture *f, size_t len)
{
	struct virtq_driver *drv = &f->h.drv[TXQ];
	uint8_t hdr[HDR] = { 0 };
	struct virtq_driver_buf b[2] = { virtq_driver_buf_out(drv, hdr, HDR), virtq_driver_buf_out(drv, f->frame, (uint32_t)len) };

	virtq_driver_add(drv, b, 2);
}

static struct virtio_net_stats stats(struct fixture *f)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(f->net, &s);
	return s;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* tx: 2 frames per 100 ms; four queued: two now, then one per 50 ms timer wake-up, in order. */
static void test_tx_ops_limit(void **state)
{
	const struct rate_limiter_config none = { 0 }, tx = { .ops = { .size = 2, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &none, &tx);
	for (unsigned i = 0; i < 4; i++)
		add_tx(f, 60 + i);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, TXQ);
	run_loops(f);
	assert_int_equal(f->fb->nsent, 2);
	assert_int_equal(stats(f).tx_rate_limiter_throttled, 1);
	/* A kick while throttled sends nothing. */
	virtio_harness_kick(&f->h, TXQ);
	run_loops(f);
	assert_int_equal(f->fb->nsent, 2);
	for (unsigned wakeups = 1; wakeups <= 2; wakeups++) {
		assert_int_equal(event_loop_run_once(&f->dev_loop, 2000), 1);
		assert_int_equal(f->fb->nsent, 2 + wakeups);
		assert_true(now_ms() - t0 >= 50 * wakeups - 2);
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(f->fb->sent_len[i], 60 + i);
	assert_int_equal(event_loop_run_once(&f->dev_loop, 200), 0);
	assert_int_equal(stats(f).tx_frames, 4);
	assert_int_equal(stats(f).tx_dropped, 0);
}

/* rx: 1000 bytes per 100 ms: a frame the bucket cannot pay is refused, not dropped, and the backend resumed later. */
static void test_rx_bandwidth_limit(void **state)
{
	const struct rate_limiter_config none = { 0 }, rx = { .bandwidth = { .size = 1000, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &rx, &none);
	for (unsigned i = 0; i < 4; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(&f->h.drv[RXQ], 2048);
		virtq_driver_add(&f->h.drv[RXQ], &b, 1);
	}
	virtio_harness_kick(&f->h, RXQ);
	run_loops(f);
	struct net_rx_sink *sink = &f->fb->be.sink;
	assert_int_equal(sink->receive(sink->ctx, f->frame, 600), NET_RX_OK);
	unsigned resumes = f->fb->resumes;
	uint64_t t0 = now_ms();
	assert_int_equal(sink->receive(sink->ctx, f->frame, 600), NET_RX_NO_SPACE);
	assert_int_equal(stats(f).rx_rate_limiter_throttled, 1);
	assert_int_equal(stats(f).rx_no_space, 0);            /* buffers there were */
	/* Refused again while the timer runs, without counting another throttle. */
	assert_int_equal(sink->receive(sink->ctx, f->frame, 600), NET_RX_NO_SPACE);
	assert_int_equal(stats(f).rx_rate_limiter_throttled, 1);
	/* 200 bytes missing at 10 per ms: the timer resumes the backend after 20 ms. */
	assert_int_equal(event_loop_run_once(&f->dev_loop, 2000), 1);
	assert_true(now_ms() - t0 >= 18);
	assert_int_equal(f->fb->resumes, resumes + 1);
	assert_int_equal(sink->receive(sink->ctx, f->frame, 600), NET_RX_OK);
	assert_int_equal(stats(f).rx_frames, 2);
	assert_int_equal(stats(f).rx_dropped, 0);
}

/* A PATCH that lifts the tx limit sends the waiting frame at once; bad buckets are refused. */
static void test_live_update(void **state)
{
	const struct rate_limiter_config none = { 0 }, slow = { .ops = { .size = 1, .refill_time_ms = 60000 } };
	const struct rate_limiter_config bad = { .bandwidth = { .size = 1, .refill_time_ms = TOKEN_BUCKET_MAX_REFILL_MS + 1 } };
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	start(f, &none, &slow);
	add_tx(f, 60);
	add_tx(f, 61);
	virtio_harness_kick(&f->h, TXQ);
	run_loops(f);
	assert_int_equal(f->fb->nsent, 1);
	assert_int_equal(virtio_net_set_rate_limiters(f->net, &none, &bad, &err), -EINVAL);
	assert_string_equal(err.msg, "tx_rate_limiter: refill_time exceeds 2^64 nanoseconds");
	assert_int_equal(virtio_net_set_rate_limiters(f->net, &bad, &none, &err), -EINVAL);
	assert_string_equal(err.msg, "rx_rate_limiter: refill_time exceeds 2^64 nanoseconds");
	uint64_t t0 = now_ms();
	assert_int_equal(virtio_net_set_rate_limiters(f->net, &none, &none, &err), 0);
	assert_int_equal(event_loop_run_once(&f->dev_loop, 2000), 1);
	assert_int_equal(f->fb->nsent, 2);
	assert_true(now_ms() - t0 < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tx_ops_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_bandwidth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_update, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
