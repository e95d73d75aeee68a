/* SPDX-License-Identifier: MIT */
#include "base/terminal.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "base/log.h"

/* Settings to restore; written before raw mode is entered, read from signal handlers. */
static struct termios saved_termios;
static int saved_fd = -1;
static volatile sig_atomic_t saved_valid;
static bool atexit_registered;

/* Signals that kill the process without running atexit handlers, and what they did before us. */
static const int fatal_signals[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE };
static struct sigaction previous_actions[sizeof(fatal_signals) / sizeof(fatal_signals[0])];

void terminal_restore(void)
{
	/* Only tcsetattr(), which POSIX lists as async-signal-safe, and plain stores. */
	if (!saved_valid)
		return;
	tcsetattr(saved_fd, TCSANOW, &saved_termios);
	saved_valid = 0;
	log_set_raw_terminal(0);
}

static void fatal_signal_handler(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;

	(void)uctx;
	terminal_restore();
	/* Hand the signal back to whoever had it (usually the default action: die, dump core). */
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &previous_actions[i], NULL);
	/*
	 * A hardware fault re-executes the instruction on return and faults
	 * again into that action with its real siginfo; a sent signal (abort(),
	 * kill) must be sent again. It stays blocked, so it arrives on return.
	 */
	if (info->si_code <= 0)
		raise(sig);
	errno = saved_errno;
}

static int install_hooks(void)
{
	if (!atexit_registered) {
		if (atexit(terminal_restore) != 0)
			return -ENOMEM;
		atexit_registered = true;
	}
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old, sa = { 0 };

		if (sigaction(fatal_signals[i], NULL, &old) < 0)
			return -errno;
		/* Still ours from an earlier raw period: keep the action we chain to. */
		if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == fatal_signal_handler)
			continue;
		previous_actions[i] = old;
		sa.sa_sigaction = fatal_signal_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		if (sigaction(fatal_signals[i], &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

int terminal_enter_raw(int fd)
{
	struct termios raw;
	int ret;

	if (saved_valid)
		return 0;
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &saved_termios) < 0)
		return -errno;
	ret = install_hooks();
	if (ret)
		return ret;
	raw = saved_termios;
	/*
	 * cfmakeraw also clears OPOST: the guest's serial output already has
	 * its CR LF pairs, so ONLCR would double the CRs (QEMU does the same).
	 */
	cfmakeraw(&raw);
	saved_fd = fd;
	saved_valid = 1;
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		ret = -errno;
		saved_valid = 0;
		return ret;
	}
	log_set_raw_terminal(1);
	return 0;
}

enum term_action term_escape_feed(struct term_escape *e, uint8_t in, uint8_t out[2], size_t *nout)
{
	*nout = 0;
	if (!e->pending) {
		if (in == TERM_ESCAPE_CHAR) {
			e->pending = 1;
			return TERM_ACTION_NONE;
		}
		out[(*nout)++] = in;
		return TERM_ACTION_NONE;
	}
	e->pending = 0;
	switch (in) {
	case TERM_ESCAPE_CHAR:
		out[(*nout)++] = TERM_ESCAPE_CHAR;
		return TERM_ACTION_NONE;
	case 'x':
	case 'X':
		return TERM_ACTION_QUIT;
	case 'h':
	case 'H':
	case '?':
		return TERM_ACTION_HELP;
	default:
		out[(*nout)++] = TERM_ESCAPE_CHAR;
		out[(*nout)++] = in;
		return TERM_ACTION_NONE;
	}
}

const char *term_escape_help(void)
{
	return "\r\n"
	       "Ctrl-A x       exit vmon (stops the guest)\r\n"
	       "Ctrl-A h or ?  this help\r\n"
	       "Ctrl-A Ctrl-A  send Ctrl-A to the guest\r\n"
	       "Ctrl-A other   sends both keys to the guest\r\n";
}
