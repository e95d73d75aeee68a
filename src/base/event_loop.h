/* SPDX-License-Identifier: MIT */
#ifndef VMON_EVENT_LOOP_H
#define VMON_EVENT_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/*
 * The device I/O thread: one epoll loop that runs device work (queue kicks,
 * backend sockets, timers) off the vCPU threads. Handlers run on the loop
 * thread, one at a time.
 *
 * Sources may be added before the loop starts or from a handler on the loop
 * thread; event_loop_remove() likewise (or after stop).
 */
typedef void (*event_handler_fn)(void *ctx, uint32_t epoll_events);

struct event_source;

struct event_loop {
	int epoll_fd;
	int wake_fd;                 /* eventfd: wakes the loop to stop */
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	struct event_source *sources;  /* list, owned */
};

int event_loop_init(struct event_loop *loop, struct vmon_error *err);

/* Calls fn(ctx, events) on the loop thread whenever fd is ready for `events` (EPOLLIN, ...). */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn fn, void *ctx,
		   struct vmon_error *err);
/* Changes the events watched for fd. */
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events);
void event_loop_remove(struct event_loop *loop, int fd);

/*
 * Without the thread: waits up to timeout_ms (-1: forever, 0: poll) and runs
 * the handlers of what is ready. Returns how many ran, or a negative errno.
 * For tests, and for a loop driven by its owner.
 */
int event_loop_run_once(struct event_loop *loop, int timeout_ms);

/* Starts the thread (name shows in ps / top as "vmon-io"). */
int event_loop_start(struct event_loop *loop, struct vmon_error *err);
/* Stops and joins the thread; handlers in progress finish first. */
void event_loop_stop(struct event_loop *loop);
void event_loop_destroy(struct event_loop *loop);

/*
 * One-shot timerfds for handlers that resume work later (the rate limiters):
 * CLOCK_MONOTONIC in ns (the clock the timers use), arming a timer ns from now
 * (0 disarms), and reading off its expiry count. 0 or -errno.
 */
uint64_t event_loop_now_ns(void);
int event_timer_arm(int fd, uint64_t ns);
int event_timer_drain(int fd);

#endif
