/* SPDX-License-Identifier: MIT */
/*
 * vmm_probe: runs a VMM command line and measures, from the parent's side,
 *   - first_byte_ms: time from fork to the first byte on the child's stdout
 *     (the guest's first serial byte, console on stdout);
 *   - total_ms: time from fork to the child's exit;
 *   - maxrss_kib: the child's peak resident set (wait4 rusage);
 *   - status: the child's exit status;
 *   - bytes: how much it printed.
 * Prints one line: key=value pairs. Static, freestanding of the project, so
 * the same binary measures vmon and QEMU inside the KVM sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	int pipefd[2];
	double start, first = -1;
	long bytes = 0;
	struct rusage ru;
	int status;
	pid_t pid;
	char buf[4096];

	if (argc < 2) {
		fprintf(stderr, "usage: vmm_probe COMMAND [ARGS...]\n");
		return 2;
	}
	if (pipe(pipefd) < 0) {
		perror("pipe");
		return 2;
	}
	start = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "vmm_probe: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (first < 0)
			first = now_ms() - start;
		bytes += n;
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	printf("first_byte_ms=%.3f total_ms=%.3f maxrss_kib=%ld status=%d bytes=%ld\n", first, now_ms() - start,
	       ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), bytes);
	return 0;
}
