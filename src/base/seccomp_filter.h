/* SPDX-License-Identifier: MIT */
#ifndef VMON_SECCOMP_FILTER_H
#define VMON_SECCOMP_FILTER_H

#include "base/error.h"

/*
 * seccomp-bpf, one allow-list per kind of thread (Firecracker's model): a
 * thread installs its kind's filter itself, before it does its work; any
 * other system call traps (SIGSYS), is reported as
 *
 *   vmon: seccomp: thread <name> made forbidden syscall <name> (<number>)
 *
 * on stderr and the log destination, and ends the process with
 * SECCOMP_EXIT_STATUS.
 *
 * Filters are inherited by threads created later and stack (the kernel runs
 * every one and the most restrictive answer wins), so a thread's filter is
 * its own list intersected with its creator's. vmon keeps that harmless:
 * every thread is started by the main thread before the main thread installs
 * its own filter (vm_run), except those the API thread starts (fc_metrics,
 * vmon-migrate), which are of the API kind themselves.
 */
enum seccomp_level {
	SECCOMP_LEVEL_OFF = 0,       /* no filter */
	SECCOMP_LEVEL_BASIC = 1,     /* system call numbers only */
	SECCOMP_LEVEL_FILTERED = 2,  /* also arguments: ioctl requests, socket families, PROT_EXEC, clone flags */
};

enum seccomp_thread_kind {
	SECCOMP_THREAD_MAIN,   /* the main thread once start-up is done (it may run vCPU 0 too) */
	SECCOMP_THREAD_VCPU,   /* fc_vcpu N */
	SECCOMP_THREAD_IO,     /* vmon-io, vmon-events, vmon-uffd, vmon-uffd-watch */
	SECCOMP_THREAD_API,    /* fc_api, fc_metrics, vmon-migrate */
	SECCOMP_THREAD_SLIRP,  /* vmon-slirp: the I/O list, and libslirp reads /etc/resolv.conf (DNS) */
	SECCOMP_THREAD_KINDS
};

/* Firecracker's exit code for a bad system call (FcExitCode::BadSyscall). */
#define SECCOMP_EXIT_STATUS 148

/* "0", "1" or "2"; 0 or -EINVAL naming the accepted values. */
int seccomp_parse_level(const char *text, enum seccomp_level *out, struct vmon_error *err);

/*
 * The process-wide level, set once by the main thread before any other thread
 * exists (vmon's command lines default to SECCOMP_LEVEL_FILTERED; until this
 * is called, as in unit tests and fuzzers, no filter is installed). Above 0 it also installs the
 * SIGSYS handler and prepares the system call names it prints, and reads the
 * test hook VMON_SECCOMP_SELFTEST (see seccomp_selftest). 0 or -errno.
 */
int seccomp_setup(enum seccomp_level level, struct vmon_error *err);
enum seccomp_level seccomp_level(void);

/* The kind of a helper thread by its name (thread_start_without_signals). */
enum seccomp_thread_kind seccomp_kind_of_thread(const char *name);
const char *seccomp_kind_name(enum seccomp_thread_kind kind);

/*
 * Installs kind's allow-list on the calling thread at the process level (a
 * no-op at 0); name is what a violation reports. 0 or -errno with err.
 */
int seccomp_install(enum seccomp_thread_kind kind, const char *name, struct vmon_error *err);

/*
 * Test hook: when the environment variable VMON_SECCOMP_SELFTEST named this
 * kind ("main", "vcpu", "io", "api", "slirp") at seccomp_setup, the first thread of
 * that kind to get here makes one system call no list allows (personality,
 * a query that changes nothing), which must end the process. Called by each
 * thread right after it installed its filter.
 */
void seccomp_selftest(enum seccomp_thread_kind kind);

#endif
