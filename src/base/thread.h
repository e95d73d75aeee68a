/* SPDX-License-Identifier: MIT */
#ifndef VMON_THREAD_H
#define VMON_THREAD_H

#include <pthread.h>

/*
 * Starts a helper thread (I/O loop, slirp) with every signal blocked: signals
 * belong to the main thread's signalfd. name shows in ps/top (<= 15 chars).
 * Returns 0 or a positive errno, as pthread_create.
 */
int thread_start_without_signals(pthread_t *thread, void *(*fn)(void *), void *arg, const char *name);

#endif
