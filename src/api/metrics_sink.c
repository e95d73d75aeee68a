/* SPDX-License-Identifier: MIT */
#include "api/metrics_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

/* The most a FIFO is grown to for a long line: Linux's default /proc/sys/fs/pipe-max-size. */
#define PIPE_GROW_MAX (1 << 20)

void metrics_sink_init(struct metrics_sink *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int metrics_sink_open(struct metrics_sink *s, const char *path, struct vmon_error *err)
{
	bool fifo = false;
	int fd = log_open_path(path, &fifo, err);

	if (fd < 0) {
		error_prefix(err, "metrics_path");
		return fd;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->is_fifo = fifo;
	s->line_cut = false;
	return 0;
}

void metrics_sink_close(struct metrics_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Waits until the pipe has room for len bytes: 0, or -EAGAIN once the
 * deadline passed. Room is capacity less what is queued, an estimate (a
 * page half read still takes a whole slot): the write loop copes with less.
 */
static int wait_for_room(int fd, size_t len, int64_t deadline)
{
	int cap = fcntl(fd, F_GETPIPE_SZ);

	if (cap > 0 && (size_t)cap < len && len <= PIPE_GROW_MAX) {
		/* Best effort: an unprivileged process may grow a pipe up to pipe-max-size. */
		if (fcntl(fd, F_SETPIPE_SZ, (int)len) >= 0)
			cap = fcntl(fd, F_GETPIPE_SZ);
	}
	if (cap <= 0 || (size_t)cap < len)
		return 0;    /* cannot tell, or can never fit whole: the write loop does what it can */
	for (;;) {
		int queued;
		if (ioctl(fd, FIONREAD, &queued) < 0)
			return 0;
		if ((size_t)cap - (size_t)queued >= len)
			return 0;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -EAGAIN;
		/* poll() says "writable" at PIPE_BUF bytes free, not at len: look again shortly. */
		struct timespec pause = { 0, (left < 1 ? left : 1) * 1000000L };
		nanosleep(&pause, NULL);
	}
}

int metrics_sink_write_line(struct metrics_sink *s, const char *line, int timeout_ms)
{
	size_t n = strlen(line), prefix = s->line_cut ? 1 : 0, len = prefix + n + 1, done = 0;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char *buf;
	int r = 0;

	if (s->fd < 0)
		return -EBADF;
	buf = malloc(len);
	if (!buf) {
		s->fails++;
		return -ENOMEM;
	}
	buf[0] = '\n';
	memcpy(buf + prefix, line, n);
	buf[len - 1] = '\n';
	if (s->is_fifo && wait_for_room(s->fd, len, deadline)) {
		free(buf);
		s->missed++;
		return -EAGAIN;
	}
	while (done < len) {
		ssize_t w = write(s->fd, buf + done, len - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int64_t left = deadline - now_ms();
			if (left > 0) {
				struct pollfd p = { .fd = s->fd, .events = POLLOUT };
				poll(&p, 1, (int)left);
				continue;
			}
		}
		r = w < 0 ? -errno : -EIO;
		break;
	}
	free(buf);
	if (done == len) {
		s->lines++;
		s->line_cut = false;
		return 0;
	}
	if (done == 0 && r == -EAGAIN) {
		s->missed++;
		return r;
	}
	/* Stopped half-way: a fragment is in the stream unless only the old fragment's newline went out. */
	s->line_cut = done > prefix || (done == 0 && s->line_cut);
	s->fails++;
	return r;
}
