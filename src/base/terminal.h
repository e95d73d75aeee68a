/* SPDX-License-Identifier: MIT */
#ifndef VMON_TERMINAL_H
#define VMON_TERMINAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * The host side of the guest console: raw mode for the controlling tty and
 * the Ctrl-A escape keys.
 */

/*
 * Puts the tty on fd into raw mode: no line editing, no echo, no signals from
 * Ctrl-C/Ctrl-Z (they go to the guest), and no output processing (the guest
 * sends its own CR LF, as with QEMU). The previous settings come back on
 * terminal_restore(), at exit(), and on SIGSEGV/SIGABRT/SIGBUS/SIGFPE (the
 * handler restores, then hands the signal back to the action it replaced,
 * normally the default: the process still dies and dumps core).
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT are the caller's: it should stop the VM and
 * return through exit(). A fd that is not a tty (pipe, /dev/null, file) is
 * left alone. Calling it again while raw does nothing. 0 or a negative errno.
 */
int terminal_enter_raw(int fd);

/* Restores the saved settings, if any. Idempotent and async-signal-safe. */
void terminal_restore(void);

#define TERM_ESCAPE_CHAR 0x01 /* Ctrl-A */

enum term_action {
	TERM_ACTION_NONE,  /* forward the *nout bytes in out to the guest (possibly none) */
	TERM_ACTION_QUIT,  /* Ctrl-A x: stop the VM */
	TERM_ACTION_HELP,  /* Ctrl-A h or ?: print term_escape_help() */
};

/* Escape parser state; zero-initialise. Only feed it from a tty: piped input is data. */
struct term_escape {
	int pending; /* the previous byte was an unconsumed Ctrl-A */
};

/*
 * Feeds one input byte; out must hold 2 bytes. Ctrl-A x/X quits, Ctrl-A h/H/?
 * asks for help, Ctrl-A Ctrl-A sends one Ctrl-A. Ctrl-A followed by any other
 * byte sends both bytes, so keys the monitor does not use reach the guest.
 */
enum term_action term_escape_feed(struct term_escape *e, uint8_t in, uint8_t out[2], size_t *nout);

/* Help for the escape keys, lines ending in "\r\n" (the terminal is raw). */
const char *term_escape_help(void);

#endif
