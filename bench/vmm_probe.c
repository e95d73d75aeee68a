/* SPDX-License-Identifier: MIT */
/*
 * vmm_probe: runs a VMM command line and measures, from the parent's side,
 *   - first_byte_ms: time from fork to the first byte on the child's stdout
 *     (the guest's first serial byte, console on stdout);
 *   - total_ms: time from fork to the child's exit;
 *   - maxrss_kib: the child's peak resident set (wait4 rusage);
 *   - status: the child's exit status;
 *   - bytes: how much it printed;
 *   - user_ms, sys_ms: the child's CPU time (wait4 rusage, all its threads);
 *     KVM counts the time a vCPU spends in guest mode as user time;
 *   - with --mark STR (up to 8): markN_ms, the time from fork to the first
 *     appearance of the Nth string on the child's stdout (-1: never), and
 *     markN_cpu_ms / markN_guest_ms, the child's user + system time and its
 *     guest-mode part read from /proc/PID/stat at that moment (clock ticks,
 *     so 10 ms resolution; -1 when unreadable).
 * Prints one line: key=value pairs, the original five first (bench/run.py
 * parses them). --echo copies the child's stdout to stderr. Static,
 * freestanding of the project, so the same binary measures vmon and QEMU
 * inside the KVM sandbox.
 *
 * Usage: vmm_probe [--echo] [--mark STR]... [--] COMMAND [ARGS...]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MARKS 8
#define MARK_MAX_LEN 256
/* /proc/PID/stat fields (proc(5)), counted from 1: utime 14, stime 15, guest_time 43. */
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_GUEST_TIME 43

struct mark {
	const char *text;
	size_t len;
	double at_ms;       /* -1: not seen yet */
	double cpu_ms;      /* utime + stime when seen */
	double guest_ms;    /* guest_time when seen */
};

static struct mark marks[MAX_MARKS];
static int mark_count;
static size_t mark_max_len;
static bool echo_output;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double timeval_ms(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/* CPU and guest time of pid so far, from /proc/PID/stat; false when unreadable. */
static bool read_proc_times(pid_t pid, double *cpu_ms, double *guest_ms)
{
	char path[64], buf[4096], *p;
	unsigned long long utime = 0, stime = 0, guest = 0;
	long ticks = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and ')': fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || ticks <= 0)
		return false;
	p++;
	for (field = 3; field <= STAT_GUEST_TIME; field++) {
		char *end;
		unsigned long long v;

		while (*p == ' ')
			p++;
		if (!*p)
			return false;
		v = strtoull(p, &end, 10);
		if (field == STAT_UTIME)
			utime = v;
		else if (field == STAT_STIME)
			stime = v;
		else if (field == STAT_GUEST_TIME)
			guest = v;
		p = end;
		while (*p && *p != ' ')   /* field 3 is a letter */
			p++;
	}
	*cpu_ms = (double)(utime + stime) * 1e3 / (double)ticks;
	*guest_ms = (double)guest * 1e3 / (double)ticks;
	return true;
}

/*
 * Looks for the marks not seen yet in the output so far: `window` holds the
 * last mark_max_len - 1 bytes of earlier reads followed by this read.
 */
static void scan_marks(pid_t pid, const char *window, size_t len, double t)
{
	for (int i = 0; i < mark_count; i++) {
		struct mark *m = &marks[i];

		if (m->at_ms >= 0 || !memmem(window, len, m->text, m->len))
			continue;
		m->at_ms = t;
		if (!read_proc_times(pid, &m->cpu_ms, &m->guest_ms))
			m->cpu_ms = m->guest_ms = -1;
	}
}

static int parse_options(int argc, char **argv)
{
	int i = 1;

	while (i < argc) {
		if (!strcmp(argv[i], "--")) {
			return i + 1;
		} else if (!strcmp(argv[i], "--mark") && i + 1 < argc) {
			size_t len = strlen(argv[i + 1]);

			if (mark_count == MAX_MARKS || len == 0 || len > MARK_MAX_LEN) {
				fprintf(stderr, "vmm_probe: --mark: at most %d marks of 1..%d bytes\n", MAX_MARKS,
					MARK_MAX_LEN);
				exit(2);
			}
			marks[mark_count++] = (struct mark){ argv[i + 1], len, -1, -1, -1 };
			if (len > mark_max_len)
				mark_max_len = len;
			i += 2;
		} else if (!strcmp(argv[i], "--echo")) {
			echo_output = true;
			i++;
		} else {
			return i;
		}
	}
	return i;
}

int main(int argc, char **argv)
{
	int pipefd[2];
	int cmd = parse_options(argc, argv);
	double start, first = -1;
	long bytes = 0;
	struct rusage ru;
	int status;
	pid_t pid;
	char window[MARK_MAX_LEN + 4096];
	size_t kept = 0;

	if (cmd >= argc) {
		fprintf(stderr, "usage: vmm_probe [--echo] [--mark STR]... [--] COMMAND [ARGS...]\n");
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
		execvp(argv[cmd], argv + cmd);
		fprintf(stderr, "vmm_probe: exec %s: %s\n", argv[cmd], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		ssize_t n = read(pipefd[0], window + kept, sizeof(window) - kept);
		double t;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		t = now_ms() - start;
		if (first < 0)
			first = t;
		bytes += n;
		if (echo_output)
			fwrite(window + kept, 1, (size_t)n, stderr);
		kept += (size_t)n;
		if (mark_count) {
			size_t keep = mark_max_len - 1;

			scan_marks(pid, window, kept, t);
			/* Keep the tail a mark could still complete in the next read. */
			if (kept > keep) {
				memmove(window, window + kept - keep, keep);
				kept = keep;
			}
		} else {
			kept = 0;
		}
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	printf("first_byte_ms=%.3f total_ms=%.3f maxrss_kib=%ld status=%d bytes=%ld user_ms=%.3f sys_ms=%.3f", first,
	       now_ms() - start, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       bytes, timeval_ms(ru.ru_utime), timeval_ms(ru.ru_stime));
	for (int i = 0; i < mark_count; i++)
		printf(" mark%d_ms=%.3f mark%d_cpu_ms=%.1f mark%d_guest_ms=%.1f", i, marks[i].at_ms, i, marks[i].cpu_ms, i,
		       marks[i].guest_ms);
	printf("\n");
	return 0;
}
