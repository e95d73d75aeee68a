/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fake_net_backend.h"

struct fake_net_backend *fake_net_backend_opened;

static int fake_send(struct net_backend *be, const void *frame, size_t len)
{
	struct fake_net_backend *fb = (struct fake_net_backend *)be;

	if (fb->send_result)
		return fb->send_result;
	assert_true(fb->nsent < FAKE_NET_MAX_SENT);
	fb->sent[fb->nsent] = malloc(len);
	assert_non_null(fb->sent[fb->nsent]);
	memcpy(fb->sent[fb->nsent], frame, len);
	fb->sent_len[fb->nsent++] = len;
	return 0;
}

static void fake_rx_resume(struct net_backend *be)
{
	((struct fake_net_backend *)be)->resumes++;
}

static void fake_destroy(struct net_backend *be)
{
	struct fake_net_backend *fb = (struct fake_net_backend *)be;

	for (unsigned i = 0; i < fb->nsent; i++)
		free(fb->sent[i]);
	if (fb->destroyed)
		*fb->destroyed = true;
	if (fake_net_backend_opened == fb)
		fake_net_backend_opened = NULL;
	free(fb);
}

static const struct net_backend_ops fake_ops = {
	.name = "fake", .send = fake_send, .rx_resume = fake_rx_resume, .destroy = fake_destroy,
};

int fake_net_backend_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
			  const struct net_rx_sink *sink, struct vmon_error *err)
{
	struct fake_net_backend *fb = calloc(1, sizeof(*fb));

	(void)loop, (void)cfg, (void)err;
	assert_non_null(fb);
	fb->be.ops = &fake_ops;
	fb->be.sink = *sink;
	fake_net_backend_opened = fb;
	*out = &fb->be;
	return 0;
}
