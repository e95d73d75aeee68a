/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_FAKE_NET_BACKEND_H
#define VMON_TEST_FAKE_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/backend.h"

#define FAKE_NET_MAX_SENT 8

/*
 * The network behind a virtio-net under test: it keeps the frames the device
 * sends, counts rx_resume calls, and gives the test its sink (be.sink) to
 * hand the device frames.
 */
struct fake_net_backend {
	struct net_backend be;
	unsigned resumes;
	int send_result;             /* what send returns (0: taken) */
	unsigned nsent;
	size_t sent_len[FAKE_NET_MAX_SENT];
	uint8_t *sent[FAKE_NET_MAX_SENT];
	bool *destroyed;             /* set when the device stops it */
};

/* A net_backend_open_fn: a new fake backend, also left in fake_net_backend_opened. */
int fake_net_backend_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
			  const struct net_rx_sink *sink, struct vmon_error *err);

/* The last backend fake_net_backend_open() made; NULL once it is destroyed. */
extern struct fake_net_backend *fake_net_backend_opened;

#endif
