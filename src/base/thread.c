/* SPDX-License-Identifier: MIT */
#include "base/thread.h"

#include "base/log.h"
#include "base/seccomp_filter.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct named_start {
	void *(*fn)(void *);
	void *arg;
	char name[16];
};

/*
 * The new thread names itself (one prctl) rather than being named by its
 * creator (open, write, close of /proc/self/task/N/comm): the creator is
 * often the main thread on its way to vCPU 0's first KVM_RUN.
 */
static void *named_thread(void *p)
{
	struct named_start start = *(struct named_start *)p;
	enum seccomp_thread_kind kind = seccomp_kind_of_thread(start.name);
	struct vmon_error err = { 0 };

	free(p);
	pthread_setname_np(pthread_self(), start.name);
	/* The thread's own filter before its work; failing to install one fails closed. */
	if (seccomp_install(kind, start.name, &err)) {
		log_error("thread %s: %s", start.name, err.msg);
		_exit(SECCOMP_EXIT_STATUS);
	}
	seccomp_selftest(kind);
	return start.fn(start.arg);
}

int thread_start_without_signals(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name)
{
	struct named_start *start = malloc(sizeof(*start));
	sigset_t all, old;
	int r;

	if (!start)
		return ENOMEM;
	*start = (struct named_start){ .fn = fn, .arg = arg };
	strncpy(start->name, name, sizeof(start->name) - 1);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(thread, NULL, named_thread, start);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		free(start);
	return r;
}
