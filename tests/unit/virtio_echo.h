/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_VIRTIO_ECHO_H
#define VMON_TEST_VIRTIO_ECHO_H

#include <linux/virtio_config.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/device.h"
#include "virtio_harness.h"

/*
 * The device model the transport tests run: "echo" copies each chain's
 * readable bytes into its writable part, on ECHO_QUEUES queues, with a
 * 12-byte config space (initially a0 a1 .. ab) and counters of every
 * callback the transport made.
 */

#define ECHO_QUEUES 2u
#define ECHO_QUEUE_MAX 64u
#define ECHO_CONFIG_SIZE 12u
#define ECHO_F_MODEL_A (1ull << 0)
#define ECHO_F_MODEL_B (1ull << 5)
#define F_VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER VIRTIO_CONFIG_S_DRIVER
#define S_FEATURES_OK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_RUNNING (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

struct echo {
	struct virtio_dev *vdev;
	uint8_t config[ECHO_CONFIG_SIZE];
	unsigned config_reads, config_writes;
	unsigned activations, resets, notifies[ECHO_QUEUES];
	uint64_t activated_features;
	int activate_result;
	bool hold;                  /* pop but do not complete (in-flight I/O) */
	unsigned held;
	bool ignore_broken;         /* a careless model: leaves VIRTQ_BROKEN to the transport */
	struct virtq_chain chain;
};

extern const struct virtio_device_ops echo_ops;

/* An echo device behind the real transport (virtio_harness). */
struct echo_fixture {
	struct virtio_harness h;
	struct echo echo;
};

/* opts, ops: NULL for the defaults (ops: echo_ops; another ops gets the echo struct as dev too). */
struct echo_fixture *echo_fixture_make(const struct virtio_harness_options *opts, const struct virtio_device_ops *ops);
/* cmocka setup/teardown: *state is a default echo_fixture. */
int echo_setup(void **state);
int echo_teardown(void **state);

/* One echo request on queue q (rings set up, device running); checks the echo and returns its length. */
uint32_t echo_once(struct echo_fixture *f, unsigned q, const char *msg);

#endif
