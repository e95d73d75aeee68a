/* SPDX-License-Identifier: MIT */
#include "virtio/queue_throttle.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "virtio/core.h"
#include "base/log.h"
#include "base/stat_counter.h"

int queue_throttle_check(const struct rate_limiter_config *cfg, struct vmon_error *err)
{
	const char *problem;

	if ((problem = token_bucket_config_problem(&cfg->bandwidth)))
		return error_set(err, -EINVAL, "rate_limiter.bandwidth: %s", problem);
	if ((problem = token_bucket_config_problem(&cfg->ops)))
		return error_set(err, -EINVAL, "rate_limiter.ops: %s", problem);
	return 0;
}

int queue_throttle_init(struct queue_throttle *t, struct virtio_dev *vdev, unsigned queue, const char *what,
			const char *id, unsigned id_len, const struct rate_limiter_config *cfg,
			struct vmon_error *err)
{
	int r;

	*t = (struct queue_throttle){
		.timer_fd = -1, .now_ns = event_loop_now_ns, .vdev = vdev, .queue = queue, .what = what,
		.id = id, .id_len = id ? id_len : 0,
	};
	if ((r = queue_throttle_check(cfg, err)))
		return r;
	rate_limiter_init(&t->limiter, cfg, t->now_ns());
	t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->timer_fd < 0)
		return error_set(err, -errno, "%s: timerfd: %s", what, strerror(errno));
	return 0;
}

static void warn_timer(const struct queue_throttle *t, int r)
{
	log_warn("%s%s%.*s: throttle timer: %s", t->what, t->id ? " " : "", (int)t->id_len, t->id ? t->id : "",
		 strerror(-r));
}

/* 0 (disarm) or a relative expiry in ns. */
static void arm_timer(struct queue_throttle *t, uint64_t ns)
{
	int r = event_timer_arm(t->timer_fd, ns);

	if (r)
		warn_timer(t, r);
}

static void timer_expired(void *ctx, uint32_t events)
{
	struct queue_throttle *t = ctx;
	int r = event_timer_drain(t->timer_fd);
	(void)events;

	if (r)
		warn_timer(t, r);
	virtio_lock(t->vdev);
	if (t->throttled) {
		t->throttled = false;
		/* Paused meanwhile: ignored here, and resume re-kicks the queue. */
		virtio_dev_queue_notify(t->vdev, t->queue);
	}
	virtio_unlock(t->vdev);
}

int queue_throttle_attach(struct queue_throttle *t, struct event_loop *loop, struct vmon_error *err)
{
	int r = event_loop_add(loop, t->timer_fd, EPOLLIN, timer_expired, t, err);

	if (r)
		return r;
	t->loop = loop;
	return 0;
}

bool queue_throttle_admit(struct queue_throttle *t, uint64_t bytes)
{
	if (!t->loop)
		return true;
	uint64_t now = t->now_ns();
	if (rate_limiter_consume(&t->limiter, bytes, now))
		return true;
	stat_add(&t->throttled_events, 1);
	t->throttled = true;
	arm_timer(t, rate_limiter_wait_ns(&t->limiter, bytes, now));
	return false;
}

void queue_throttle_disarm(struct queue_throttle *t)
{
	if (t->throttled) {
		t->throttled = false;
		arm_timer(t, 0);
	}
}

void queue_throttle_replace(struct queue_throttle *t, const struct rate_limiter_config *cfg)
{
	virtio_lock(t->vdev);
	rate_limiter_init(&t->limiter, cfg, t->now_ns());
	if (t->throttled)
		arm_timer(t, 1);
	virtio_unlock(t->vdev);
}

uint64_t queue_throttle_events(const struct queue_throttle *t)
{
	return stat_get(&t->throttled_events);
}

void queue_throttle_destroy(struct queue_throttle *t)
{
	if (t->timer_fd < 0)
		return;
	if (t->loop)
		event_loop_remove(t->loop, t->timer_fd);
	close(t->timer_fd);
	t->timer_fd = -1;
	t->loop = NULL;
}
