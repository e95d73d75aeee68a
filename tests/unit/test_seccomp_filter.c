/* SPDX-License-Identifier: MIT */
/*
 * The per-thread seccomp allow-lists: a forked child installs one kind's list
 * at a level and makes one system call; the parent checks whether the child
 * lived (the call was allowed) or ended with SECCOMP_EXIT_STATUS and the
 * handler's line naming the call (it was refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/seccomp_filter.h"

enum probe {
	PROBE_GETPID,          /* allowed everywhere */
	PROBE_PERSONALITY,     /* in no list */
	PROBE_MMAP_EXEC,       /* mmap is listed; PROT_EXEC refused at 2 */
	PROBE_SOCKET_NETLINK,  /* socket is listed for vCPU/I/O/API; AF_NETLINK refused at 2 */
	PROBE_IOCTL_TIOCSTI,   /* ioctl is listed; a request neither KVM's nor the terminal's refused at 2 */
	PROBE_IOCTL_KVM,       /* a KVM request every kind may make (on a bad fd: EBADF, but allowed) */
	PROBE_KVM_RUN,         /* vCPU and main threads only at 2 */
	PROBE_KVM_DIRTY_LOG,   /* the API kind's only at 2 (migration, diff snapshots) */
	PROBE_KVM_CREATE_VM,   /* building a machine: nobody's at 2 */
	PROBE_OPENAT,          /* read-only everywhere at 2 (libslirp reads /etc/resolv.conf where it is fed) */
	PROBE_OPENAT_WRITE,    /* ... to write: the API thread only */
	PROBE_FORK,            /* clone without CLONE_THREAD: a process, refused at 2 (API) */
};

static void run_probe(enum probe p)
{
	switch (p) {
	case PROBE_GETPID:
		syscall(SYS_getpid);
		break;
	case PROBE_PERSONALITY:
		syscall(SYS_personality, 0xffffffffUL);
		break;
	case PROBE_MMAP_EXEC: {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m != MAP_FAILED)
			munmap(m, 4096);
		break;
	}
	case PROBE_SOCKET_NETLINK: {
		long fd = syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
		if (fd >= 0)
			close((int)fd);
		break;
	}
	case PROBE_IOCTL_TIOCSTI:
		syscall(SYS_ioctl, -1, TIOCSTI, NULL);
		break;
	case PROBE_IOCTL_KVM:
		syscall(SYS_ioctl, -1, KVM_IRQ_LINE, NULL);
		break;
	case PROBE_KVM_RUN:
		syscall(SYS_ioctl, -1, KVM_RUN, 0);
		break;
	case PROBE_KVM_DIRTY_LOG:
		syscall(SYS_ioctl, -1, KVM_GET_DIRTY_LOG, NULL);
		break;
	case PROBE_KVM_CREATE_VM:
		syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0);
		break;
	case PROBE_OPENAT: {
		long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
		if (fd >= 0)
			close((int)fd);
		break;
	}
	case PROBE_OPENAT_WRITE: {
		long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
		if (fd >= 0)
			close((int)fd);
		break;
	}
	case PROBE_FORK: {
		/* SIGCHLD only: what fork() asks for, without glibc's fork handlers. */
		long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
		if (pid == 0)
			_exit(0);
		break;   /* not waited for (wait4 is in no list): init reaps it once the probe exits */
	}
	}
}

/*
 * True: the probe was allowed (the child went on and exited 0); false:
 * refused with the report, which is copied to report when one is given.
 */
static bool allowed_reporting(enum seccomp_thread_kind kind, enum seccomp_level level, enum probe p, char *report,
			      size_t report_size)
{
	int out[2], status;
	char buf[512] = "";
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vmon_error err = { 0 };
		dup2(out[1], STDERR_FILENO);
		close(out[0]);
		if (seccomp_setup(level, &err) || seccomp_install(kind, "probe", &err)) {
			fprintf(stderr, "setup: %s\n", err.msg);
			_exit(99);
		}
		run_probe(p);
		_exit(0);
	}
	close(out[1]);
	n = read(out[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 0) {
		assert_string_equal(buf, "");
		return true;
	}
	if (WEXITSTATUS(status) != SECCOMP_EXIT_STATUS)
		fail_msg("kind %s level %d probe %d: exit %d, stderr: %s", seccomp_kind_name(kind), (int)level, (int)p,
			 WEXITSTATUS(status), buf);
	assert_non_null(strstr(buf, "vmon: seccomp: thread probe made forbidden syscall "));
	if (report)
		snprintf(report, report_size, "%s", buf);
	return false;
}

static bool allowed(enum seccomp_thread_kind kind, enum seccomp_level level, enum probe p)
{
	return allowed_reporting(kind, level, p, NULL, 0);
}

static const enum seccomp_thread_kind kinds[] = { SECCOMP_THREAD_MAIN, SECCOMP_THREAD_VCPU, SECCOMP_THREAD_IO,
						   SECCOMP_THREAD_API, SECCOMP_THREAD_SLIRP };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void level_0_allows_everything(void **state)
{
	(void)state;
	for (size_t k = 0; k < NKINDS; k++) {
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_OFF, PROBE_PERSONALITY));
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_OFF, PROBE_SOCKET_NETLINK));
	}
}

static void every_kind_refuses_an_unlisted_call_and_names_it(void **state)
{
	int out[2], status;
	char buf[512] = "";
	ssize_t n;

	(void)state;
	for (size_t k = 0; k < NKINDS; k++) {
		for (int level = SECCOMP_LEVEL_BASIC; level <= SECCOMP_LEVEL_FILTERED; level++) {
			assert_true(allowed(kinds[k], (enum seccomp_level)level, PROBE_GETPID));
			assert_false(allowed(kinds[k], (enum seccomp_level)level, PROBE_PERSONALITY));
		}
	}
	/* The line names the call and its number. */
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct vmon_error err = { 0 };
		dup2(out[1], STDERR_FILENO);
		if (seccomp_setup(SECCOMP_LEVEL_FILTERED, &err) || seccomp_install(SECCOMP_THREAD_VCPU, "fc_vcpu 7", &err))
			_exit(99);
		syscall(SYS_personality, 0xffffffffUL);
		_exit(0);
	}
	close(out[1]);
	n = read(out[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(out[0]);
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), SECCOMP_EXIT_STATUS);
	assert_string_equal(buf, "vmon: seccomp: thread fc_vcpu 7 made forbidden syscall personality (135)\n");
}

static void level_2_checks_arguments_level_1_does_not(void **state)
{
	(void)state;
	for (size_t k = 0; k < NKINDS; k++) {
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_BASIC, PROBE_MMAP_EXEC));
		assert_false(allowed(kinds[k], SECCOMP_LEVEL_FILTERED, PROBE_MMAP_EXEC));
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_BASIC, PROBE_IOCTL_TIOCSTI));
		assert_false(allowed(kinds[k], SECCOMP_LEVEL_FILTERED, PROBE_IOCTL_TIOCSTI));
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_FILTERED, PROBE_IOCTL_KVM));
		assert_true(allowed(kinds[k], SECCOMP_LEVEL_BASIC, PROBE_SOCKET_NETLINK));
		assert_false(allowed(kinds[k], SECCOMP_LEVEL_FILTERED, PROBE_SOCKET_NETLINK));
	}
#if !defined(__SANITIZE_ADDRESS__)   /* LeakSanitizer's tracer needs a plain clone in sanitized builds */
	assert_true(allowed(SECCOMP_THREAD_API, SECCOMP_LEVEL_BASIC, PROBE_FORK));
	assert_false(allowed(SECCOMP_THREAD_API, SECCOMP_LEVEL_FILTERED, PROBE_FORK));
#endif
}

static void only_the_api_thread_opens_files_to_write(void **state)
{
	(void)state;
	assert_true(allowed(SECCOMP_THREAD_API, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT));
	assert_true(allowed(SECCOMP_THREAD_API, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT_WRITE));
	/* slirp reads /etc/resolv.conf: to read only, at level 2. */
	assert_true(allowed(SECCOMP_THREAD_SLIRP, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT));
	assert_true(allowed(SECCOMP_THREAD_SLIRP, SECCOMP_LEVEL_BASIC, PROBE_OPENAT_WRITE));
#if !defined(__SANITIZE_ADDRESS__)   /* ASan's runtime opens /proc/self/maps from any thread */
	assert_true(allowed(SECCOMP_THREAD_VCPU, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT));
	assert_true(allowed(SECCOMP_THREAD_MAIN, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT));
	assert_false(allowed(SECCOMP_THREAD_VCPU, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT_WRITE));
	assert_false(allowed(SECCOMP_THREAD_IO, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT_WRITE));
	assert_false(allowed(SECCOMP_THREAD_MAIN, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT_WRITE));
	assert_false(allowed(SECCOMP_THREAD_VCPU, SECCOMP_LEVEL_FILTERED, PROBE_FORK));
	assert_false(allowed(SECCOMP_THREAD_SLIRP, SECCOMP_LEVEL_FILTERED, PROBE_OPENAT_WRITE));
#endif
}

/* After start-up no thread builds: KVM_RUN is the vCPUs', the dirty log the API's, KVM_CREATE_VM nobody's. */
static void level_2_gives_each_kind_its_kvm_requests(void **state)
{
	char report[512];

	(void)state;
	for (size_t k = 0; k < NKINDS; k++) {
		enum seccomp_thread_kind kind = kinds[k];
		assert_true(allowed(kind, SECCOMP_LEVEL_BASIC, PROBE_KVM_CREATE_VM));
		assert_false(allowed(kind, SECCOMP_LEVEL_FILTERED, PROBE_KVM_CREATE_VM));
		assert_int_equal(allowed(kind, SECCOMP_LEVEL_FILTERED, PROBE_KVM_RUN),
				 kind == SECCOMP_THREAD_VCPU || kind == SECCOMP_THREAD_MAIN);
		assert_int_equal(allowed(kind, SECCOMP_LEVEL_FILTERED, PROBE_KVM_DIRTY_LOG), kind == SECCOMP_THREAD_API);
	}
	/* The report names the request: what a user would quote, and what the list would need. */
	assert_false(allowed_reporting(SECCOMP_THREAD_IO, SECCOMP_LEVEL_FILTERED, PROBE_KVM_CREATE_VM, report,
				       sizeof(report)));
	assert_string_equal(report, "vmon: seccomp: thread probe made forbidden syscall ioctl (16) request 0xae01\n");
}

static void levels_and_thread_kinds_parse(void **state)
{
	struct vmon_error err = { 0 };
	enum seccomp_level level;

	(void)state;
	assert_int_equal(seccomp_parse_level("0", &level, &err), 0);
	assert_int_equal(level, SECCOMP_LEVEL_OFF);
	assert_int_equal(seccomp_parse_level("2", &level, &err), 0);
	assert_int_equal(level, SECCOMP_LEVEL_FILTERED);
	assert_int_equal(seccomp_parse_level("3", &level, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'3' is not a level"));
	assert_int_equal(seccomp_parse_level("", &level, &err), -EINVAL);
	assert_int_equal(seccomp_parse_level("01", &level, &err), -EINVAL);
	assert_int_equal(seccomp_kind_of_thread("fc_api"), SECCOMP_THREAD_API);
	assert_int_equal(seccomp_kind_of_thread("fc_metrics"), SECCOMP_THREAD_API);
	assert_int_equal(seccomp_kind_of_thread("vmon-migrate"), SECCOMP_THREAD_API);
	assert_int_equal(seccomp_kind_of_thread("vmon-io"), SECCOMP_THREAD_IO);
	assert_int_equal(seccomp_kind_of_thread("vmon-events"), SECCOMP_THREAD_IO);
	assert_int_equal(seccomp_kind_of_thread("vmon-slirp"), SECCOMP_THREAD_SLIRP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(levels_and_thread_kinds_parse),
		cmocka_unit_test(level_0_allows_everything),
		cmocka_unit_test(every_kind_refuses_an_unlisted_call_and_names_it),
		cmocka_unit_test(level_2_checks_arguments_level_1_does_not),
		cmocka_unit_test(only_the_api_thread_opens_files_to_write),
		cmocka_unit_test(level_2_gives_each_kind_its_kvm_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
