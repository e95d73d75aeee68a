/* SPDX-License-Identifier: MIT */
#include "vmm/console.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/uart_8250.h"
#include "base/log.h"

int console_init(struct console *c, int in_fd, int out_fd, struct vmon_error *err)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->in_is_tty = isatty(in_fd);
	c->space_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->space_eventfd < 0)
		return error_set(err, -errno, "console eventfd: %s", strerror(errno));
	c->initialized = true;
	return 0;
}

void console_destroy(struct console *c)
{
	if (!c->initialized)
		return;
	console_stop(c);
	close(c->space_eventfd);
	c->initialized = false;
}

void console_output(void *ctx, const uint8_t *buf, size_t len)
{
	struct console *c = ctx;

	while (len) {
		ssize_t n = write(c->out_fd, buf, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return; /* stdout gone (closed pipe): the guest keeps running, output is dropped */
		}
		buf += n;
		len -= (size_t)n;
	}
}

void console_rx_space(void *ctx)
{
	struct console *c = ctx;
	uint64_t one = 1;

	if (write(c->space_eventfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("console eventfd: %s", strerror(errno));
}

void console_start(struct console *c)
{
	if (c->in_is_tty && terminal_enter_raw(c->in_fd) == 0) {
		c->raw = true;
		log_set_raw_terminal(1);
	}
}

void console_stop(struct console *c)
{
	if (c->raw) {
		terminal_restore();
		log_set_raw_terminal(0);
		c->raw = false;
	}
}

static void watch_input(struct console *c, int ep, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = c->in_tag };

	if (!c->in_pollable || on == c->in_watched)
		return;
	if (epoll_ctl(ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, c->in_fd, &ev) == 0)
		c->in_watched = on;
}

/* Hands pending input to the UART; true when all of it was taken. */
static bool push_pending(struct console *c)
{
	while (c->pending_off < c->pending_len) {
		size_t n = uart_8250_receive(c->uart, c->pending + c->pending_off, c->pending_len - c->pending_off);
		if (n == 0)
			return false;
		c->pending_off += n;
	}
	c->pending_off = c->pending_len = 0;
	return true;
}

/* Reads one chunk of input into pending; applies Ctrl-A escapes on a terminal. */
static enum console_result read_input(struct console *c)
{
	uint8_t buf[sizeof(c->pending) / 2];
	ssize_t n;

	/* Only read into an empty buffer: each input byte yields at most two (Ctrl-A + byte). */
	if (c->pending_len)
		return CONSOLE_OK;
	n = read(c->in_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return CONSOLE_OK;
	if (n <= 0) {
		c->in_eof = true;
		return CONSOLE_OK;
	}
	if (!c->in_is_tty) {
		memcpy(c->pending, buf, (size_t)n);
		c->pending_len = (size_t)n;
		return CONSOLE_OK;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t out[2];
		size_t nout = 0;
		switch (term_escape_feed(&c->escape, buf[i], out, &nout)) {
		case TERM_ACTION_QUIT:
			return CONSOLE_QUIT;
		case TERM_ACTION_HELP:
			fputs(term_escape_help(), stderr);
			break;
		default:
			break;
		}
		memcpy(c->pending + c->pending_len, out, nout);
		c->pending_len += nout;
	}
	return CONSOLE_OK;
}

/*
 * Moves input while the UART takes it. Input that epoll cannot watch (a
 * regular file, /dev/null) is read here whenever the FIFO has room.
 */
static enum console_result pump(struct console *c, int ep)
{
	for (;;) {
		if (!push_pending(c)) {
			watch_input(c, ep, false);  /* FIFO full: wait for the space event */
			return CONSOLE_OK;
		}
		if (c->in_eof) {
			watch_input(c, ep, false);
			return CONSOLE_OK;
		}
		if (c->in_pollable) {
			watch_input(c, ep, true);
			return CONSOLE_OK;
		}
		if (read_input(c) == CONSOLE_QUIT)
			return CONSOLE_QUIT;
	}
}

void console_register(struct console *c, int ep, uint32_t in_tag, uint32_t space_tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = space_tag };

	if (!c->uart)
		return;
	c->in_tag = in_tag;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->space_eventfd, &ev);
	ev.data.u32 = in_tag;
	/* epoll refuses regular files and /dev/null (EPERM): those are read on demand. */
	c->in_pollable = epoll_ctl(ep, EPOLL_CTL_ADD, c->in_fd, &ev) == 0;
	c->in_watched = c->in_pollable;
	if (!c->in_pollable)
		pump(c, ep);
}

enum console_result console_handle_event(struct console *c, int ep, bool input_ready)
{
	if (input_ready) {
		if (read_input(c) == CONSOLE_QUIT)
			return CONSOLE_QUIT;
	} else {
		uint64_t count;
		if (read(c->space_eventfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			log_warn("console eventfd: %s", strerror(errno));
	}
	return pump(c, ep);
}
