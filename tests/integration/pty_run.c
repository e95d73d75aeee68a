/* SPDX-License-Identifier: MIT */
/*
 * pty_run: runs a command on a pseudo-terminal, as a user at a terminal would,
 * to test vmon's console handling (raw mode, Ctrl-A escapes, restoring the
 * terminal). Static, so it also runs inside the KVM sandbox.
 *
 *   pty_run [--wait-for TEXT] [--timeout S] INPUT -- COMMAND [ARGS...]
 *
 * INPUT is typed once TEXT has appeared in the output (C escapes \n \r \xHH
 * allowed). Prints the command's output, then one line
 *   @@PTY status=N restored=yes|no@@
 * where restored says whether the terminal settings after the command equal
 * those before it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static size_t unescape(const char *in, char *out)
{
	size_t n = 0;
	while (*in) {
		if (in[0] == '\\' && in[1] == 'n') {
			out[n++] = '\n';
			in += 2;
		} else if (in[0] == '\\' && in[1] == 'r') {
			out[n++] = '\r';
			in += 2;
		} else if (in[0] == '\\' && in[1] == 'x' && in[2] && in[3]) {
			char hex[3] = { in[2], in[3], 0 };
			out[n++] = (char)strtol(hex, NULL, 16);
			in += 4;
		} else {
			out[n++] = *in++;
		}
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *wait_for = NULL;
	double timeout = 30;
	int i = 1, master, slave, status = 0;
	char input[4096], out[1 << 16];
	size_t input_len, out_len = 0;
	struct termios before, after;
	int sent = 0;
	pid_t pid;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--"); i += 2) {
		if (i + 1 >= argc)
			return 2;
		if (!strcmp(argv[i], "--wait-for"))
			wait_for = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout"))
			timeout = atof(argv[i + 1]);
		else
			return 2;
	}
	if (i + 2 >= argc || strcmp(argv[i + 1], "--")) {
		fprintf(stderr, "usage: pty_run [--wait-for TEXT] [--timeout S] INPUT -- COMMAND...\n");
		return 2;
	}
	input_len = unescape(argv[i], input);
	if (openpty(&master, &slave, NULL, NULL, NULL) < 0) {
		perror("openpty");
		return 2;
	}
	tcgetattr(slave, &before);
	pid = fork();
	if (pid == 0) {
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close(master);
		close(slave);
		execvp(argv[i + 2], argv + i + 2);
		_exit(127);
	}
	double deadline = now_s() + timeout;
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		if (!sent && (!wait_for || memmem(out, out_len, wait_for, strlen(wait_for)))) {
			if (write(master, input, input_len) != (ssize_t)input_len)
				perror("write");
			sent = 1;
		}
		if (now_s() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 100) > 0) {
			ssize_t n = read(master, out + out_len, sizeof(out) - out_len - 1);
			if (n > 0)
				out_len += (size_t)n;
			else if (n < 0 && errno != EINTR && errno != EAGAIN)
				break; /* EIO: every slave fd of the child is closed */
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = 0;
			/* drain what is left */
			while (poll(&(struct pollfd){ .fd = master, .events = POLLIN }, 1, 50) > 0) {
				ssize_t n = read(master, out + out_len, sizeof(out) - out_len - 1);
				if (n <= 0)
					break;
				out_len += (size_t)n;
			}
			break;
		}
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	tcgetattr(slave, &after);
	fwrite(out, 1, out_len, stdout);
	printf("\n@@PTY status=%d restored=%s@@\n",
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       memcmp(&before, &after, sizeof(before)) == 0 ? "yes" : "no");
	return 0;
}
