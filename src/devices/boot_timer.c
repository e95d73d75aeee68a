/* SPDX-License-Identifier: MIT */
#include "devices/boot_timer.h"

#include <string.h>

#include "base/log.h"

static void monotonic_now(void *ctx, struct timespec *now)
{
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, now);
}

int boot_timer_init(struct boot_timer *t, const struct device_host *host, const struct timespec *start,
		    boot_timer_clock_fn clock, void *clock_ctx, struct vmon_error *err)
{
	memset(t, 0, sizeof(*t));
	t->start = *start;
	t->clock = clock ? clock : monotonic_now;
	t->clock_ctx = clock_ctx;
	return io_bus_register(host->pio, BOOT_TIMER_PORT, 1, "boot-timer", boot_timer_access, t, err);
}

void boot_timer_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct boot_timer *t = dev;
	struct timespec now;
	int64_t ns;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	/* Only single-vCPU guests exist yet; marks are rare, a bounded array is enough. */
	if (size != 1 || t->s.nmarks >= BOOT_TIMER_MAX_MARKS)
		return;
	t->clock(t->clock_ctx, &now);
	ns = (int64_t)(now.tv_sec - t->start.tv_sec) * 1000000000 + (now.tv_nsec - t->start.tv_nsec);
	t->s.value[t->s.nmarks] = data[0];
	t->s.elapsed_ns[t->s.nmarks] = ns;
	t->s.nmarks++;
	if (data[0] == BOOT_TIMER_INIT_REACHED)
		log_info("guest init reached %.3f s after start", (double)ns / 1e9);
}

double boot_timer_seconds(const struct boot_timer *t, uint8_t value)
{
	for (unsigned i = 0; i < t->s.nmarks; i++)
		if (t->s.value[i] == value)
			return (double)t->s.elapsed_ns[i] / 1e9;
	return -1;
}
