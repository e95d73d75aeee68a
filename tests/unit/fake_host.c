/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "fake_host.h"

static void fake_set_irq(void *ctx, unsigned gsi, int level)
{
	struct fake_host *h = ctx;

	if (h->irq_forbidden)
		fail_msg("%s (set_irq gsi %u level %d)", h->irq_forbidden, gsi, level);
	assert_true(gsi < FAKE_HOST_GSIS);
	h->irq[gsi] = level;
	h->irq_sets++;
}

static void fake_request_stop(void *ctx, enum vm_stop_reason reason, int status)
{
	struct fake_host *h = ctx;

	if (h->stop_forbidden)
		fail_msg("%s (request_stop reason %d status %d)", h->stop_forbidden, (int)reason, status);
	h->stops++;
	h->reason = reason;
	h->status = status;
}

void fake_host_init(struct fake_host *h)
{
	memset(h, 0, sizeof(*h));
	io_bus_init(&h->pio, "pio");
	h->host = (struct device_host){ .pio = &h->pio, .set_irq = fake_set_irq,
					.request_stop = fake_request_stop, .ctx = h };
}

uint8_t fake_host_inb(struct fake_host *h, uint16_t port)
{
	uint8_t v = 0;

	assert_true(io_bus_access(&h->pio, port, &v, 1, false));
	return v;
}

void fake_host_outb(struct fake_host *h, uint16_t port, uint8_t v)
{
	assert_true(io_bus_access(&h->pio, port, &v, 1, true));
}
