/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "unit_skip.h"
#include "base/terminal.h"

#define CTRL_A TERM_ESCAPE_CHAR

static enum term_action feed(struct term_escape *e, uint8_t in, uint8_t out[2], size_t *nout)
{
	out[0] = out[1] = 0xee;
	return term_escape_feed(e, in, out, nout);
}

static void plain_bytes_pass_through(void **state)
{
	struct term_escape e = { 0 };
	uint8_t out[2];
	size_t n;
	(void)state;

	for (unsigned b = 0; b < 256; b++) {
		if (b == CTRL_A)
			continue;
		assert_int_equal(feed(&e, (uint8_t)b, out, &n), TERM_ACTION_NONE);
		assert_int_equal(n, 1);
		assert_int_equal(out[0], b);
	}
}

static void ctrl_a_alone_is_held_back(void **state)
{
	struct term_escape e = { 0 };
	uint8_t out[2];
	size_t n;
	(void)state;

	assert_int_equal(feed(&e, CTRL_A, out, &n), TERM_ACTION_NONE);
	assert_int_equal(n, 0);
}

/* Ctrl-A then each of keys, from a fresh state, asks for action and sends nothing. */
static void assert_escape_keys(const char *keys, enum term_action action)
{
	uint8_t out[2];
	size_t n;

	for (const char *k = keys; *k; k++) {
		struct term_escape e = { 0 };
		feed(&e, CTRL_A, out, &n);
		assert_int_equal(feed(&e, (uint8_t)*k, out, &n), action);
		assert_int_equal(n, 0);
	}
}

static void ctrl_a_x_quits(void **state)
{
	(void)state;
	assert_escape_keys("xX", TERM_ACTION_QUIT);
}

static void ctrl_a_h_asks_for_help(void **state)
{
	(void)state;
	assert_escape_keys("hH?", TERM_ACTION_HELP);
}

static void ctrl_a_ctrl_a_sends_one_ctrl_a(void **state)
{
	struct term_escape e = { 0 };
	uint8_t out[2];
	size_t n;
	(void)state;

	feed(&e, CTRL_A, out, &n);
	assert_int_equal(feed(&e, CTRL_A, out, &n), TERM_ACTION_NONE);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], CTRL_A);
	/* The pair is consumed: the next byte is plain again. */
	assert_int_equal(feed(&e, 'x', out, &n), TERM_ACTION_NONE);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'x');
}

static void ctrl_a_then_any_other_byte_sends_both(void **state)
{
	uint8_t out[2];
	size_t n;
	(void)state;

	for (unsigned b = 0; b < 256; b++) {
		struct term_escape e = { 0 };
		if (b == CTRL_A || (b != 0 && strchr("xXhH?", (int)b)))
			continue;
		feed(&e, CTRL_A, out, &n);
		assert_int_equal(feed(&e, (uint8_t)b, out, &n), TERM_ACTION_NONE);
		assert_int_equal(n, 2);
		assert_int_equal(out[0], CTRL_A);
		assert_int_equal(out[1], b);
		assert_int_equal(feed(&e, 'x', out, &n), TERM_ACTION_NONE); /* back to plain */
	}
}

static void escape_after_a_literal_ctrl_a_still_works(void **state)
{
	struct term_escape e = { 0 };
	uint8_t out[2];
	size_t n;
	(void)state;

	feed(&e, CTRL_A, out, &n);
	feed(&e, CTRL_A, out, &n); /* literal */
	assert_int_equal(feed(&e, CTRL_A, out, &n), TERM_ACTION_NONE);
	assert_int_equal(n, 0);
	assert_int_equal(feed(&e, 'x', out, &n), TERM_ACTION_QUIT);
}

static void help_names_the_keys_in_raw_mode_lines(void **state)
{
	const char *h = term_escape_help();
	(void)state;

	assert_non_null(strstr(h, "Ctrl-A x"));
	assert_non_null(strstr(h, "Ctrl-A Ctrl-A"));
	assert_int_equal(strcmp(h + strlen(h) - 2, "\r\n"), 0);
}

/* A pty pair stands in for the user's terminal. */
static int open_pty(int *master)
{
	int slave;

	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0)
		unit_skip("no pseudo-terminals (/dev/ptmx)");
	assert_int_equal(grantpt(*master), 0);
	assert_int_equal(unlockpt(*master), 0);
	slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	return slave;
}

static bool is_cooked(int fd)
{
	struct termios t;
	assert_int_equal(tcgetattr(fd, &t), 0);
	return (t.c_lflag & (ICANON | ECHO | ISIG)) == (ICANON | ECHO | ISIG) && (t.c_oflag & OPOST);
}

static void raw_mode_turns_off_line_discipline_and_output_processing(void **state)
{
	int master, fd = open_pty(&master);
	struct termios t;
	(void)state;

	assert_true(is_cooked(fd));
	assert_int_equal(terminal_enter_raw(fd), 0);
	assert_int_equal(tcgetattr(fd, &t), 0);
	assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
	assert_int_equal(t.c_iflag & (ICRNL | IXON), 0);
	assert_int_equal(t.c_oflag & OPOST, 0);
	assert_int_equal(t.c_cflag & CSIZE, CS8);
	assert_int_equal(t.c_cc[VMIN], 1);
	terminal_restore();
	assert_true(is_cooked(fd));
	terminal_restore(); /* idempotent */
	assert_true(is_cooked(fd));
	close(fd);
	close(master);
}

static void entering_raw_twice_keeps_the_original_settings(void **state)
{
	int master, fd = open_pty(&master);
	(void)state;

	assert_int_equal(terminal_enter_raw(fd), 0);
	assert_int_equal(terminal_enter_raw(fd), 0);
	terminal_restore();
	assert_true(is_cooked(fd));
	close(fd);
	close(master);
}

static void non_tty_input_is_left_alone(void **state)
{
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(terminal_enter_raw(p[0]), 0);
	terminal_restore();
	close(p[0]);
	close(p[1]);
	int null = open("/dev/null", O_RDONLY);
	assert_true(null >= 0);
	assert_int_equal(terminal_enter_raw(null), 0);
	terminal_restore();
	close(null);
}

/* Runs how_to_die in a child that made the pty raw; the parent checks the pty came back. */
static void child_dies_then_terminal_is_cooked(void (*how_to_die)(void), int expect_signal)
{
	int master, fd = open_pty(&master), status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		/* cmocka catches SIGSEGV to report failures; the child must die of it instead. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		if (terminal_enter_raw(fd) != 0 || is_cooked(fd))
			_exit(99);
		how_to_die();
		_exit(98);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (expect_signal) {
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), expect_signal);
	} else {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_true(is_cooked(fd));
	close(fd);
	close(master);
}

static void die_by_abort(void)
{
	abort();
}

static void die_by_segv(void)
{
	raise(SIGSEGV);
}

static void die_by_exit(void)
{
	exit(0);
}

static void abort_restores_the_terminal_and_still_kills(void **state)
{
	(void)state;
	child_dies_then_terminal_is_cooked(die_by_abort, SIGABRT);
}

static void segv_restores_the_terminal_and_still_kills(void **state)
{
	(void)state;
	child_dies_then_terminal_is_cooked(die_by_segv, SIGSEGV);
}

static void exit_restores_the_terminal(void **state)
{
	(void)state;
	child_dies_then_terminal_is_cooked(die_by_exit, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_bytes_pass_through),
		cmocka_unit_test(ctrl_a_alone_is_held_back),
		cmocka_unit_test(ctrl_a_x_quits),
		cmocka_unit_test(ctrl_a_h_asks_for_help),
		cmocka_unit_test(ctrl_a_ctrl_a_sends_one_ctrl_a),
		cmocka_unit_test(ctrl_a_then_any_other_byte_sends_both),
		cmocka_unit_test(escape_after_a_literal_ctrl_a_still_works),
		cmocka_unit_test(help_names_the_keys_in_raw_mode_lines),
		cmocka_unit_test(raw_mode_turns_off_line_discipline_and_output_processing),
		cmocka_unit_test(entering_raw_twice_keeps_the_original_settings),
		cmocka_unit_test(non_tty_input_is_left_alone),
		cmocka_unit_test(abort_restores_the_terminal_and_still_kills),
		cmocka_unit_test(segv_restores_the_terminal_and_still_kills),
		cmocka_unit_test(exit_restores_the_terminal),
	};
	return unit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
