/* SPDX-License-Identifier: MIT */
#include "base/event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/thread.h"

struct event_source {
	int fd;
	event_handler_fn fn;
	void *ctx;
	struct event_source *next;
};

int event_loop_init(struct event_loop *loop, struct vmon_error *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	memset(loop, 0, sizeof(*loop));
	atomic_init(&loop->stopping, false);
	loop->wake_fd = -1;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0)
		return error_set(err, -errno, "epoll_create1: %s", strerror(errno));
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0 || epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
		int e = errno;
		event_loop_destroy(loop);
		return error_set(err, -e, "event loop wake-up eventfd: %s", strerror(e));
	}
	return 0;
}

static struct event_source **find_source(struct event_loop *loop, int fd)
{
	struct event_source **p = &loop->sources;

	while (*p && (*p)->fd != fd)
		p = &(*p)->next;
	return p;
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn fn, void *ctx,
		   struct vmon_error *err)
{
	struct event_source *src;
	struct epoll_event ev;

	if (*find_source(loop, fd))
		return error_set(err, -EEXIST, "event loop: fd %d added twice", fd);
	src = calloc(1, sizeof(*src));
	if (!src)
		return error_set(err, -ENOMEM, "event loop: out of memory");
	*src = (struct event_source){ .fd = fd, .fn = fn, .ctx = ctx, .next = loop->sources };
	ev = (struct epoll_event){ .events = events, .data.ptr = src };
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(src);
		return error_set(err, -e, "event loop: watching fd %d: %s", fd, strerror(e));
	}
	loop->sources = src;
	return 0;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events)
{
	struct event_source *src = *find_source(loop, fd);
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (!src)
		return -ENOENT;
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void event_loop_remove(struct event_loop *loop, int fd)
{
	struct event_source **p = find_source(loop, fd);
	struct event_source *src = *p;

	if (!src)
		return;
	epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	*p = src->next;
	free(src);
}

int event_loop_run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event events[32];
	int ran = 0;
	int n = epoll_wait(loop->epoll_fd, events, 32, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !atomic_load(&loop->stopping); i++) {
		struct event_source *src = events[i].data.ptr;
		if (src) {   /* NULL: the wake-up eventfd */
			src->fn(src->ctx, events[i].events);
			ran++;
		}
	}
	return ran;
}

static void *loop_thread(void *arg)
{
	struct event_loop *loop = arg;

	while (!atomic_load(&loop->stopping)) {
		int r = event_loop_run_once(loop, -1);
		if (r < 0) {
			log_error("I/O event loop: epoll_wait: %s", strerror(-r));
			break;
		}
	}
	return NULL;
}

int event_loop_start(struct event_loop *loop, struct vmon_error *err)
{
	int r = thread_start_without_signals(&loop->thread, loop_thread, loop, "vmon-io");

	if (r)
		return error_set(err, -r, "starting the I/O thread: %s", strerror(r));
	loop->started = true;
	return 0;
}

void event_loop_stop(struct event_loop *loop)
{
	uint64_t one = 1;

	if (!loop->started)
		return;
	atomic_store(&loop->stopping, true);
	if (write(loop->wake_fd, &one, sizeof(one)) < 0)
		log_warn("waking the I/O thread: %s", strerror(errno));
	pthread_join(loop->thread, NULL);
	loop->started = false;
}

void event_loop_destroy(struct event_loop *loop)
{
	event_loop_stop(loop);
	while (loop->sources)
		event_loop_remove(loop, loop->sources->fd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	loop->wake_fd = loop->epoll_fd = -1;
}

uint64_t event_loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int event_timer_arm(int fd, uint64_t ns)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ns / 1000000000u),
						.tv_nsec = (long)(ns % 1000000000u) } };

	return timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0;
}

int event_timer_drain(int fd)
{
	uint64_t count;

	return read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN ? -errno : 0;
}
