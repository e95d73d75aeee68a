/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>

#include "virtio_echo.h"

static void echo_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	struct echo *e = dev;

	assert_true(offset + size <= ECHO_CONFIG_SIZE);
	memcpy(data, e->config + offset, size);
	e->config_reads++;
}

static void echo_config_write(void *dev, uint32_t offset, const void *data, uint32_t size)
{
	struct echo *e = dev;

	assert_true(offset + size <= ECHO_CONFIG_SIZE);
	memcpy(e->config + offset, data, size);
	e->config_writes++;
}

static int echo_activate(void *dev, uint64_t features)
{
	struct echo *e = dev;

	e->activations++;
	e->activated_features = features;
	return e->activate_result;
}

static void echo_queue_notify(void *dev, unsigned q)
{
	struct echo *e = dev;
	struct virtq *vq = virtio_queue(e->vdev, q);
	enum virtq_pop_result r;
	uint8_t buf[256];
	unsigned pushed = 0;

	assert_non_null(vq);
	e->notifies[q]++;
	while ((r = virtq_pop(vq, &e->chain)) == VIRTQ_GOT) {
		size_t n;
		if (e->hold) {
			e->held++;
			continue;
		}
		n = virtq_chain_read(&e->chain, 0, buf, sizeof(buf));
		n = virtq_chain_write(&e->chain, 0, buf, n);
		virtq_push(vq, &e->chain, (uint32_t)n);
		pushed++;
	}
	if (r == VIRTQ_BROKEN && !e->ignore_broken)
		virtio_device_error(e->vdev, "queue %u: %s", q, vq->error);
	if (pushed)
		virtio_queue_done(e->vdev, q);
}

static void echo_reset(void *dev)
{
	struct echo *e = dev;

	e->resets++;
	e->held = 0;
}

const struct virtio_device_ops echo_ops = {
	.name = "virtio-echo",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = ECHO_QUEUES,
	.queue_max_size = ECHO_QUEUE_MAX,
	.config_size = ECHO_CONFIG_SIZE,
	.features = ECHO_F_MODEL_A | ECHO_F_MODEL_B | F_INDIRECT | F_EVENT_IDX,
	.config_read = echo_config_read,
	.config_write = echo_config_write,
	.activate = echo_activate,
	.queue_notify = echo_queue_notify,
	.reset = echo_reset,
};

struct echo_fixture *echo_fixture_make(const struct virtio_harness_options *opts, const struct virtio_device_ops *ops)
{
	struct echo_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	virtio_harness_init(&f->h, opts, ops ? ops : &echo_ops, &f->echo);
	f->echo.vdev = &f->h.t.vdev;
	for (unsigned i = 0; i < ECHO_CONFIG_SIZE; i++)
		f->echo.config[i] = (uint8_t)(0xa0 + i);
	return f;
}

int echo_setup(void **state)
{
	*state = echo_fixture_make(NULL, NULL);
	return 0;
}

int echo_teardown(void **state)
{
	struct echo_fixture *f = *state;

	virtio_harness_destroy(&f->h);
	free(f);
	return 0;
}

uint32_t echo_once(struct echo_fixture *f, unsigned q, const char *msg)
{
	struct virtq_driver *drv = &f->h.drv[q];
	size_t len = strlen(msg);
	struct virtq_driver_buf bufs[2] = { virtq_driver_buf_out(drv, msg, (uint32_t)len),
					    virtq_driver_buf_in(drv, 64) };
	uint16_t head = virtq_driver_add(drv, bufs, 2);
	uint32_t id, written;

	virtio_harness_kick(&f->h, q);
	assert_true(virtq_driver_get_used(drv, &id, &written));
	assert_int_equal(id, head);
	assert_int_equal(written, len);
	assert_memory_equal(virtq_driver_host(drv, bufs[1].gpa, len), msg, len);
	return written;
}
