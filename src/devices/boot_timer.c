/* SPDX-License-Identifier: MIT */
#include "devices/boot_timer.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"

_Static_assert(sizeof(struct boot_timer_state) == 80, "boot_timer_state has no implicit padding");

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
	int ret = pthread_mutex_init(&t->lock, NULL);
	if (ret)
		return error_set(err, -ret, "boot-timer: mutex: %s", strerror(ret));
	ret = io_bus_register(host->pio, BOOT_TIMER_PORT, 1, "boot-timer", boot_timer_access, t, err);
	if (ret)
		pthread_mutex_destroy(&t->lock);
	return ret;
}

void boot_timer_destroy(struct boot_timer *t)
{
	pthread_mutex_destroy(&t->lock);
}

void boot_timer_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct boot_timer *t = dev;
	struct timespec now;
	int64_t ns;
	bool recorded = false;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, size);
		return;
	}
	if (size != 1)
		return;
	/* Marks are rare, a bounded array is enough. The clock is read under the lock, so times stay in order. */
	pthread_mutex_lock(&t->lock);
	if (t->s.nmarks < BOOT_TIMER_MAX_MARKS) {
		t->clock(t->clock_ctx, &now);
		ns = (int64_t)(now.tv_sec - t->start.tv_sec) * 1000000000 + (now.tv_nsec - t->start.tv_nsec);
		t->s.value[t->s.nmarks] = data[0];
		t->s.elapsed_ns[t->s.nmarks] = ns;
		t->s.nmarks++;
		recorded = true;
	}
	pthread_mutex_unlock(&t->lock);
	if (recorded && data[0] == BOOT_TIMER_INIT_REACHED) {
		if (t->announce)
			log_info("Guest-boot-time = %lld us %lld ms", (long long)(ns / 1000), (long long)(ns / 1000000));
		else
			log_info("guest init reached %.3f s after start", (double)ns / 1e9);
	}
}

double boot_timer_seconds(struct boot_timer *t, uint8_t value)
{
	double seconds = -1;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->s.nmarks; i++) {
		if (t->s.value[i] == value) {
			seconds = (double)t->s.elapsed_ns[i] / 1e9;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return seconds;
}

unsigned boot_timer_resources(const struct boot_timer *t, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	(void)t;
	res[0] = (struct device_resource){ DEVICE_RES_PIO, BOOT_TIMER_PORT, 1 };
	return 1;
}

/* ---- device model ----------------------------------------------------------- */

static void timer_reset(void *dev)
{
	struct boot_timer *t = dev;

	pthread_mutex_lock(&t->lock);
	memset(&t->s, 0, sizeof(t->s));
	pthread_mutex_unlock(&t->lock);
}

static void timer_save(void *dev, void *state)
{
	struct boot_timer *t = dev;

	pthread_mutex_lock(&t->lock);
	memcpy(state, &t->s, sizeof(t->s));
	pthread_mutex_unlock(&t->lock);
}

static int check_state(const struct boot_timer_state *s, struct vmon_error *err)
{
	if (s->nmarks > BOOT_TIMER_MAX_MARKS)
		return error_set(err, -EINVAL, "boot-timer state: nmarks %u is above %d", s->nmarks,
				 BOOT_TIMER_MAX_MARKS);
	for (unsigned i = 0; i < sizeof(s->reserved); i++)
		if (s->reserved[i])
			return error_set(err, -EINVAL, "boot-timer state: reserved[%u] is 0x%02x, not 0", i, s->reserved[i]);
	for (unsigned i = 0; i < BOOT_TIMER_MAX_MARKS; i++) {
		if (i >= s->nmarks && (s->value[i] || s->elapsed_ns[i]))
			return error_set(err, -EINVAL, "boot-timer state: unused mark %u (of %u) is not zero", i,
					 s->nmarks);
		if (i < s->nmarks && s->elapsed_ns[i] < 0)
			return error_set(err, -EINVAL, "boot-timer state: elapsed_ns[%u] %lld is before the start", i,
					 (long long)s->elapsed_ns[i]);
		if (i > 0 && i < s->nmarks && s->elapsed_ns[i] < s->elapsed_ns[i - 1])
			return error_set(err, -EINVAL, "boot-timer state: elapsed_ns[%u] %lld is before mark %u's", i,
					 (long long)s->elapsed_ns[i], i - 1);
	}
	return 0;
}

static int timer_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct boot_timer *t = dev;
	struct boot_timer_state s;

	memcpy(&s, state, sizeof(s));
	if (check_state(&s, err))
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	t->s = s;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void timer_destroy(void *dev)
{
	boot_timer_destroy(dev);
}

const struct device_ops boot_timer_device_ops = {
	.kind = "boot-timer",
	.state_version = BOOT_TIMER_STATE_VERSION,
	.state_size = sizeof(struct boot_timer_state),
	.reset = timer_reset,
	.save = timer_save,
	.restore = timer_restore,
	.destroy = timer_destroy,
};
