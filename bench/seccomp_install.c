/* SPDX-License-Identifier: MIT */
/*
 * What a thread's seccomp_install costs (libseccomp builds the BPF program and
 * loads it), per thread kind and level: each sample in a fresh forked child,
 * as each vmon thread installs once. Usage: build/bench/seccomp_install [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/seccomp_filter.h"

static double one_install(enum seccomp_thread_kind kind, enum seccomp_level level)
{
	double us = -1;
	int p[2];

	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct vmon_error err = { 0 };
		struct timespec a, b;
		double t = -1;
		if (!seccomp_setup(level, &err)) {
			clock_gettime(CLOCK_MONOTONIC, &a);
			int r = seccomp_install(kind, "bench", &err);
			clock_gettime(CLOCK_MONOTONIC, &b);
			if (!r)
				t = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
		}
		if (t < 0)
			fprintf(stderr, "seccomp_install: %s\n", err.msg);
		_exit(write(p[1], &t, sizeof(t)) == sizeof(t) ? 0 : 1);
	}
	if (pid > 0 && read(p[0], &us, sizeof(us)) != sizeof(us))
		us = -1;
	if (pid > 0)
		waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
	return us;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;

	if (n < 1) {
		fprintf(stderr, "usage: seccomp_install [SAMPLES >= 1]\n");
		return 2;
	}
	for (int kind = 0; kind < SECCOMP_THREAD_KINDS; kind++) {
		for (int level = SECCOMP_LEVEL_BASIC; level <= SECCOMP_LEVEL_FILTERED; level++) {
			double total = 0, min = 1e12;
			for (int i = 0; i < n; i++) {
				double us = one_install((enum seccomp_thread_kind)kind, (enum seccomp_level)level);
				if (us < 0)
					return 1;
				total += us;
				min = us < min ? us : min;
			}
			printf("%-5s level %d: seccomp_install mean %.0f us, min %.0f us (%d samples)\n",
			       seccomp_kind_name((enum seccomp_thread_kind)kind), level, total / n, min, n);
		}
	}
	return 0;
}
