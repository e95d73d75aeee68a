/* SPDX-License-Identifier: MIT */
#include "base/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/log.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Highest x86-64 system call number named in reports (346..423 are unused, 450s the newest). */
#define SYSCALL_NAMES 512

static enum seccomp_level current_level = SECCOMP_LEVEL_OFF;   /* until seccomp_setup */
static const char *syscall_names[SYSCALL_NAMES];   /* prepared before any filter: the handler only reads */
static int selftest_kind = -1;
static atomic_bool selftest_done;
static __thread char thread_name[16] = "main";     /* initial-exec TLS: safe to read in the handler */

/*
 * The allow-lists. Every thread gets BASE; the kinds add groups (kind_set).
 * At level 2 the syscalls arg_checked() names are allowed only with the
 * arguments add_checked_rules gives each kind; at level 1 they are allowed
 * outright.
 */

/* Every thread: I/O on fds it already holds, memory (malloc), locks, time, signals, exiting. */
static const int BASE[] = {
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_close, SYS_lseek, SYS_fstat, SYS_newfstatat, SYS_fcntl,
	SYS_futex, SYS_exit, SYS_exit_group, SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_restart_syscall,
	SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday,
	SYS_getpid, SYS_gettid, SYS_tgkill,        /* vCPU kicks (pthread_kill), abort() */
	SYS_sched_yield, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise, SYS_brk, SYS_mremap,
	SYS_epoll_wait, SYS_epoll_pwait, SYS_poll, SYS_ppoll,
	SYS_getrandom,                             /* virtio-rng, glibc's malloc */
	SYS_prctl,                                 /* PR_GET_NAME: the thread name in Firecracker-format log lines */
	SYS_sysinfo,                               /* glibc's qsort asks sysconf(_SC_PHYS_PAGES) (the --stats report) */
};

/*
 * Device back ends (virtio queues, vsock, consoles, TAP, slirp): served on
 * the I/O thread, and on the vCPU thread where a notification is handled in
 * its exit, so both kinds carry them.
 */
static const int DEVICE[] = {
	SYS_pread64, SYS_pwrite64, SYS_preadv, SYS_pwritev, SYS_preadv2, SYS_pwritev2,   /* virtio-blk */
	SYS_fsync, SYS_fdatasync, SYS_fallocate,                                     /* flush, discard, write zeroes */
	SYS_sendmsg, SYS_recvmsg, SYS_sendto, SYS_recvfrom, SYS_shutdown,            /* net, vsock, console sockets */
	SYS_socket, SYS_connect, SYS_accept4,           /* vsock's host connections (families checked at 2) */
	SYS_getsockopt, SYS_setsockopt, SYS_getsockname, SYS_getpeername,
	SYS_epoll_ctl, SYS_timerfd_settime, SYS_timerfd_gettime,                     /* watching new fds, timers */
	SYS_ioctl,                                       /* KVM (interrupts, the vCPU's own), FIONREAD, terminal */
	SYS_openat,   /* read-only at 2: libslirp reads /etc/resolv.conf on whichever thread feeds it a frame */
};

/* The I/O threads: vmon-events makes its epoll set and timers (watchdog, save/restore rounds) as it starts. */
static const int IO[] = { SYS_epoll_create1, SYS_timerfd_create };

/* libslirp's thread: /etc/resolv.conf when the guest first asks its DNS address (read-only at 2), hostfwd. */
static const int SLIRP[] = {
	SYS_openat,
	SYS_accept,   /* hostfwd: a host connection to a forwarded port */
};

/* The API thread: requests that open files (snapshots, logger, metrics, drives), migration, its helper threads. */
static const int API[] = {
	SYS_openat, SYS_unlink, SYS_rename, SYS_renameat, SYS_renameat2, SYS_ftruncate, SYS_statx,
	SYS_pread64, SYS_pwrite64, SYS_fsync, SYS_fdatasync, SYS_fallocate,
	SYS_accept4, SYS_sendmsg, SYS_recvmsg, SYS_sendto, SYS_recvfrom, SYS_shutdown,
	SYS_socket, SYS_connect, SYS_getsockopt, SYS_setsockopt, SYS_getsockname, SYS_getpeername,
	SYS_bind, SYS_listen,                            /* PUT /migration/receive listens */
	SYS_epoll_ctl, SYS_ioctl,                        /* KVM (snapshot create reads the VM's state), BLKGETSIZE64 */
	SYS_timerfd_settime, SYS_timerfd_gettime,         /* PATCH /balloon/statistics: the polling interval */
	/* starting fc_metrics and vmon-migrate: clone (threads only at 2), their start-up, their own filter */
	SYS_clone, SYS_clone3, SYS_set_robust_list, SYS_rseq, SYS_seccomp,
};

/* The main thread after start-up: vCPU 0 may run on it; then tear-down removes its sockets. */
static const int MAIN[] = { SYS_unlink, SYS_unlinkat };

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan's and LeakSanitizer's runtime (sanitized builds only): reports read
 * /proc/self/maps, and the leak check at exit stops the world from a clone()d
 * tracer that ptrace()s every thread.
 */
static const int SANITIZER[] = {
	SYS_openat, SYS_open, SYS_readlink, SYS_readlinkat, SYS_getdents, SYS_getdents64, SYS_clone, SYS_ptrace, SYS_wait4,
	SYS_prctl, SYS_sched_getaffinity, SYS_sigaltstack, SYS_rt_sigaction, SYS_pipe2, SYS_dup, SYS_dup2,
	SYS_getppid, SYS_kill, SYS_mincore, SYS_process_vm_readv, SYS_uname, SYS_getrlimit, SYS_prlimit64,
	SYS_set_robust_list, SYS_rseq, SYS_arch_prctl, SYS_rt_sigtimedwait, SYS_munlock, SYS_sched_getparam,
};
#endif

/* Level 2: these syscalls are allowed only with the arguments add_checked_rules gives each kind. */
static bool arg_checked(int nr)
{
	return nr == SYS_ioctl || nr == SYS_mmap || nr == SYS_mprotect || nr == SYS_socket || nr == SYS_clone ||
	       nr == SYS_clone3 || nr == SYS_prctl || nr == SYS_openat;
}

int seccomp_parse_level(const char *text, enum seccomp_level *out, struct vmon_error *err)
{
	if (text && text[0] >= '0' && text[0] <= '2' && !text[1]) {
		*out = (enum seccomp_level)(text[0] - '0');
		return 0;
	}
	return error_set(err, -EINVAL, "--seccomp-level: '%s' is not a level: 0 (off), 1 (basic: system calls) "
			 "or 2 (filtered: also their arguments)", text ? text : "");
}

enum seccomp_level seccomp_level(void)
{
	return current_level;
}

enum seccomp_thread_kind seccomp_kind_of_thread(const char *name)
{
	static const char *const api[] = { "fc_api", "fc_metrics", "vmon-migrate" };

	for (size_t i = 0; i < NELEMS(api); i++)
		if (!strcmp(name, api[i]))
			return SECCOMP_THREAD_API;
	return !strcmp(name, "vmon-slirp") ? SECCOMP_THREAD_SLIRP : SECCOMP_THREAD_IO;
}

const char *seccomp_kind_name(enum seccomp_thread_kind kind)
{
	static const char *const names[SECCOMP_THREAD_KINDS] = { "main", "vcpu", "io", "api", "slirp" };

	return kind < SECCOMP_THREAD_KINDS ? names[kind] : "?";
}

/* --- the SIGSYS handler: only write(2), _exit(2) and reads of tables prepared before --- */

static size_t put_str(char *buf, size_t at, size_t size, const char *s)
{
	while (*s && at < size)
		buf[at++] = *s++;
	return at;
}

static size_t put_uint(char *buf, size_t at, size_t size, unsigned long v, unsigned base)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = "0123456789abcdef"[v % base];
	while ((v /= base) && n < (int)sizeof(digits));
	while (n && at < size)
		buf[at++] = digits[--n];
	return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t n = 0;
	int nr = si->si_syscall;
	int log_fd = log_output_fd();

	(void)sig;
	n = put_str(line, n, sizeof(line), "vmon: seccomp: thread ");
	n = put_str(line, n, sizeof(line), thread_name);
	n = put_str(line, n, sizeof(line), " made forbidden syscall ");
	if (nr >= 0 && nr < SYSCALL_NAMES && syscall_names[nr]) {
		n = put_str(line, n, sizeof(line), syscall_names[nr]);
		n = put_str(line, n, sizeof(line), " (");
		n = put_uint(line, n, sizeof(line), (unsigned long)nr, 10);
		n = put_str(line, n, sizeof(line), ")");
	} else {
		n = put_str(line, n, sizeof(line), "number ");
		n = put_uint(line, n, sizeof(line), (unsigned long)(unsigned)nr, 10);
	}
	if (nr == SYS_ioctl && uctx) {
		/* Which request: level 2 lists KVM's one by one, so "ioctl" alone would not say what to add. */
		const ucontext_t *uc = uctx;
		n = put_str(line, n, sizeof(line), " request 0x");
		n = put_uint(line, n, sizeof(line), (unsigned long)(uint32_t)uc->uc_mcontext.gregs[REG_RSI], 16);
	}
	n = put_str(line, n, sizeof(line), "\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing left to tell it to */
	}
	if (log_fd >= 0 && log_fd != STDERR_FILENO && write(log_fd, line, n) < 0) {
		/* the stderr line stands */
	}
	_exit(SECCOMP_EXIT_STATUS);
}

int seccomp_setup(enum seccomp_level level, struct vmon_error *err)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	const char *selftest = getenv("VMON_SECCOMP_SELFTEST");

	current_level = level;
	/* Read at level 0 too: the same call then goes through, which shows the hook is what a test sees. */
	if (selftest && selftest[0]) {
		for (int k = 0; k < SECCOMP_THREAD_KINDS; k++)
			if (!strcmp(selftest, seccomp_kind_name((enum seccomp_thread_kind)k)))
				selftest_kind = k;
		if (selftest_kind < 0)
			return error_set(err, -EINVAL, "VMON_SECCOMP_SELFTEST: '%s' is not a thread kind "
					 "(main, vcpu, io, api or slirp)", selftest);
	}
	if (level == SECCOMP_LEVEL_OFF)
		return 0;
	/* libseccomp probes the kernel's seccomp interface once: here, before any filter forbids the probe. */
	if (seccomp_api_get() < 2)
		return error_set(err, -ENOSYS, "seccomp: this kernel lacks seccomp(2) filters with SECCOMP_RET_TRAP "
				 "(run with --seccomp-level 0)");
	/* glibc reads /etc/localtime at the first gmtime/localtime/timegm (RTC, log lines): now, not later. */
	tzset();
	for (int nr = 0; nr < SYSCALL_NAMES; nr++)
		if (!syscall_names[nr])
			syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return error_set(err, -errno, "seccomp: sigaction(SIGSYS): %s", strerror(errno));
	return 0;
}

/* --- building a filter --- */

#define SYSCALL_SET_WORDS ((SYSCALL_NAMES + 63) / 64)

struct syscall_set {
	uint64_t bits[SYSCALL_SET_WORDS];
};

static void set_add(struct syscall_set *s, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s->bits[nrs[i] / 64] |= 1ull << (nrs[i] % 64);
}

#define ADD(set, list) set_add(set, list, NELEMS(list))

static void kind_set(enum seccomp_thread_kind kind, struct syscall_set *s)
{
	memset(s, 0, sizeof(*s));
	ADD(s, BASE);
	switch (kind) {
	case SECCOMP_THREAD_MAIN:
		ADD(s, DEVICE);
		ADD(s, MAIN);
		break;
	case SECCOMP_THREAD_VCPU:
		ADD(s, DEVICE);
		break;
	case SECCOMP_THREAD_IO:
		ADD(s, DEVICE);
		ADD(s, IO);
		break;
	case SECCOMP_THREAD_SLIRP:
		ADD(s, DEVICE);
		ADD(s, IO);
		ADD(s, SLIRP);
		break;
	case SECCOMP_THREAD_API:
		ADD(s, API);
		break;
	default:
		break;
	}
#if defined(__SANITIZE_ADDRESS__)
	ADD(s, SANITIZER);
#endif
}

/*
 * Level 2's KVM requests. The machine is built (KVM_CREATE_VM, _VCPU,
 * _IRQCHIP, _PIT2, memory slots, TSS and identity map, CPUID, capabilities)
 * and restored or received before any filter exists; after that a thread
 * only moves interrupts and reads or loads the state of what exists. So a
 * thread taken over cannot make a VM, add vCPUs or map host memory into the
 * guest. Which threads use them: a guest's MSI-X and DRIVER_OK writes (vCPU),
 * device resets and interrupts (vCPU, I/O, slirp), snapshot create (API),
 * migration (vmon-migrate), the save/restore rounds and watchdog (vmon-events),
 * exit emulation on PVM hosts (vCPU).
 */
static const unsigned long KVM_RUNTIME[] = {
	KVM_IRQ_LINE, KVM_IRQFD, KVM_IOEVENTFD, KVM_SET_GSI_ROUTING,
	KVM_GET_CLOCK, KVM_SET_CLOCK, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2,
	KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST,   /* the vCPU state's layout, probed at the first save */
	KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS, KVM_SET_MSRS,
	KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
	KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ, KVM_HAS_DEVICE_ATTR, KVM_GET_DEVICE_ATTR, KVM_SET_DEVICE_ATTR,
	KVM_KVMCLOCK_CTRL, KVM_TRANSLATE,
};
/* Running a vCPU: its own thread, and the main thread, where vCPU 0 may run. */
static const unsigned long KVM_VCPU_RUN[] = { KVM_RUN };
/* Dirty-page logging (migration, diff snapshots): its slot flag on and off, the bitmaps. */
static const unsigned long KVM_DIRTY_LOG[] = { KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG };

/* userfaultfd's ioctls share one type byte (UFFDIO, 0xAA). */
#define IOCTL_TYPE_MASK 0xff00u

static int allow(scmp_filter_ctx ctx, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
}

static int allow1(scmp_filter_ctx ctx, int nr, struct scmp_arg_cmp cmp)
{
	return allow(ctx, nr, 1, &cmp);
}

static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && !r; i++)
		r = allow1(ctx, SYS_ioctl, SCMP_A1_32(SCMP_CMP_EQ, (uint32_t)reqs[i]));
	return r;
}

/* Level 2's argument checks for the syscalls arg_checked() names, as far as kind's set has them. */
static int add_checked_rules(scmp_filter_ctx ctx, enum seccomp_thread_kind kind, const struct syscall_set *s)
{
	static const unsigned long terminal[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD };
	static const unsigned long api_only[] = { BLKGETSIZE64 };
	bool has_ioctl = s->bits[SYS_ioctl / 64] & (1ull << (SYS_ioctl % 64));
	int r = 0;

	/* No executable mappings after start-up: guest data never becomes host code. */
	r = r ? r : allow1(ctx, SYS_mmap, SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r = r ? r : allow1(ctx, SYS_mprotect, SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (has_ioctl) {
		r = r ? r : allow_ioctls(ctx, KVM_RUNTIME, NELEMS(KVM_RUNTIME));
		if (kind == SECCOMP_THREAD_VCPU || kind == SECCOMP_THREAD_MAIN)
			r = r ? r : allow_ioctls(ctx, KVM_VCPU_RUN, NELEMS(KVM_VCPU_RUN));
		if (kind == SECCOMP_THREAD_API)
			r = r ? r : allow_ioctls(ctx, KVM_DIRTY_LOG, NELEMS(KVM_DIRTY_LOG));
		r = r ? r : allow_ioctls(ctx, terminal, NELEMS(terminal));
		if (kind == SECCOMP_THREAD_IO || kind == SECCOMP_THREAD_MAIN)   /* the uffd server, its tear-down */
			r = r ? r : allow1(ctx, SYS_ioctl, SCMP_A1_32(SCMP_CMP_MASKED_EQ, IOCTL_TYPE_MASK, UFFDIO << 8));
		if (kind == SECCOMP_THREAD_API)   /* PATCH /drives: the new image's size */
			r = r ? r : allow_ioctls(ctx, api_only, 1);
	}
	if (s->bits[SYS_socket / 64] & (1ull << (SYS_socket % 64))) {
		/* vsock and the consoles are Unix sockets; slirp (I/O) and migration (API) speak IP too. */
		r = r ? r : allow1(ctx, SYS_socket, SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX));
		if (kind == SECCOMP_THREAD_SLIRP || kind == SECCOMP_THREAD_API) {
			r = r ? r : allow1(ctx, SYS_socket, SCMP_A0_32(SCMP_CMP_EQ, AF_INET));
			r = r ? r : allow1(ctx, SYS_socket, SCMP_A0_32(SCMP_CMP_EQ, AF_INET6));
		}
	}
	if (s->bits[SYS_openat / 64] & (1ull << (SYS_openat % 64))) {
		/* The API opens files to write (snapshots, logs); the device back ends only read. */
#if defined(__SANITIZE_ADDRESS__)
		bool read_only = false;   /* the sanitizers' runtime opens files from any thread */
#else
		bool read_only = kind != SECCOMP_THREAD_API;
#endif
		if (read_only)
			r = r ? r : allow1(ctx, SYS_openat, SCMP_A2_32(SCMP_CMP_MASKED_EQ,
								 O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY));
		else
			r = r ? r : allow(ctx, SYS_openat, 0, NULL);
	}
	if (s->bits[SYS_clone / 64] & (1ull << (SYS_clone % 64))) {
#if defined(__SANITIZE_ADDRESS__)
		r = r ? r : allow(ctx, SYS_clone, 0, NULL);   /* LeakSanitizer's tracer is a process */
#else
		r = r ? r : allow1(ctx, SYS_clone, SCMP_A0_64(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
#endif
		/* clone3's flags are in memory, out of a filter's reach: ENOSYS makes glibc fall back to clone. */
		r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SYS_clone3, 0);
	}
	if (s->bits[SYS_prctl / 64] & (1ull << (SYS_prctl % 64))) {
		/*
		 * The log's thread names; a new thread names itself and installs its
		 * own filter (libseccomp sets no_new_privs first): nothing else.
		 */
		r = r ? r : allow1(ctx, SYS_prctl, SCMP_A0_32(SCMP_CMP_EQ, PR_GET_NAME));
		r = r ? r : allow1(ctx, SYS_prctl, SCMP_A0_32(SCMP_CMP_EQ, PR_SET_NAME));
		r = r ? r : allow1(ctx, SYS_prctl, SCMP_A0_32(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
#if defined(__SANITIZE_ADDRESS__)
		r = r ? r : allow(ctx, SYS_prctl, 0, NULL);
#endif
	}
	return r;
}

int seccomp_install(enum seccomp_thread_kind kind, const char *name, struct vmon_error *err)
{
	struct syscall_set set;
	scmp_filter_ctx ctx;
	sigset_t sys;
	int r = 0;

	if (current_level == SECCOMP_LEVEL_OFF)
		return 0;
	if (kind >= SECCOMP_THREAD_KINDS)
		return error_set(err, -EINVAL, "seccomp: no thread kind %d", (int)kind);
	strncpy(thread_name, name, sizeof(thread_name) - 1);
	/*
	 * A blocked SIGSYS would make the kernel kill with a core dump instead of
	 * running the handler (helper threads start with every signal blocked).
	 */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);

	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return error_set(err, -ENOMEM, "seccomp: seccomp_init failed (out of memory)");
	kind_set(kind, &set);
	for (int nr = 0; nr < SYSCALL_NAMES && !r; nr++) {
		if (!(set.bits[nr / 64] & (1ull << (nr % 64))))
			continue;
		if (current_level == SECCOMP_LEVEL_FILTERED && arg_checked(nr))
			continue;
		r = allow(ctx, nr, 0, NULL);
		if (r)
			error_set(err, r, "seccomp: allowing syscall %d for %s threads: %s", nr,
				  seccomp_kind_name(kind), strerror(-r));
	}
	if (!r && current_level == SECCOMP_LEVEL_FILTERED && (r = add_checked_rules(ctx, kind, &set)))
		error_set(err, r, "seccomp: argument rules for %s threads: %s", seccomp_kind_name(kind), strerror(-r));
	if (!r && (r = seccomp_load(ctx)))
		error_set(err, r, "seccomp: loading the %s filter: %s", seccomp_kind_name(kind), strerror(-r));
	seccomp_release(ctx);
	return r;
}

void seccomp_selftest(enum seccomp_thread_kind kind)
{
	if (selftest_kind != (int)kind || atomic_exchange(&selftest_done, true))
		return;
	log_warn("seccomp self-test (VMON_SECCOMP_SELFTEST=%s): thread %s calls personality()",
		 seccomp_kind_name(kind), thread_name);
	syscall(SYS_personality, 0xffffffffUL);
	log_error("seccomp self-test: personality() was allowed on thread %s (level %d)", thread_name,
		  (int)current_level);
}
