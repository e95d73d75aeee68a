/* SPDX-License-Identifier: MIT */
#ifndef VMON_CONSOLE_H
#define VMON_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/terminal.h"

struct uart_8250;

/*
 * The host end of the serial console: guest output to out_fd, host input from
 * in_fd into the UART's receive FIFO. Input is only read while the FIFO has
 * room (flow control), so nothing typed or piped is dropped. A terminal on
 * in_fd is put in raw mode for the VM's life and Ctrl-A escapes apply; a pipe,
 * file or /dev/null is passed through as is.
 */
struct console {
	bool initialized;
	int in_fd;
	int out_fd;
	bool in_is_tty;
	bool in_pollable;      /* epoll can watch in_fd (not a regular file or /dev/null) */
	bool in_eof;
	bool in_watched;       /* in_fd currently in the epoll set */
	bool raw;
	int space_eventfd;     /* the UART signals "RX FIFO has room" here */
	struct uart_8250 *uart;
	struct term_escape escape;
	uint8_t pending[256];  /* input read but not yet taken by the UART */
	size_t pending_off, pending_len;
	uint32_t in_tag;
};

enum console_result { CONSOLE_OK, CONSOLE_QUIT };

int console_init(struct console *c, int in_fd, int out_fd, struct vmon_error *err);
void console_destroy(struct console *c);

/* UART callbacks: guest output, and "the receive FIFO has room again". */
void console_output(void *ctx, const uint8_t *buf, size_t len);
void console_rx_space(void *ctx);

/* Raw terminal mode on (if a tty) / off. */
void console_start(struct console *c);
void console_stop(struct console *c);

/* Adds the console's fds to the epoll set with the given tags. */
void console_register(struct console *c, int epoll_fd, uint32_t in_tag, uint32_t space_tag);
/* Handles an event with one of those tags (input_ready: the in_tag one). */
enum console_result console_handle_event(struct console *c, int epoll_fd, bool input_ready);

#endif
