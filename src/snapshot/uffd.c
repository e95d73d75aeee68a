/* SPDX-License-Identifier: MIT */
#include "snapshot/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/thread.h"
#include "snapshot/uffd_map.h"

#define FAULTS_PER_READ 32

struct uffd_backend {
	bool external;
	_Atomic int uffd;              /* -1 once let go */
	int stop_fd;                   /* eventfd: the thread ends */
	pthread_t thread;
	bool thread_started;
	_Atomic(struct vm *) vm;
	atomic_bool failed;
	char failure[sizeof(((struct vmon_error *)0)->msg)];  /* written before failed is raised */
	uint64_t page;
	/* In-process: the memory file behind [base, base + size), a block buffer, the blocks already filled. */
	char *mem_path;
	int mem_fd;
	uint8_t *base;
	uint64_t size;
	uint8_t *buf;
	uint64_t *filled;
	uint64_t faults, blocks_copied, blocks_zero, serve_ns;   /* serve_ns: time spent answering them */
	/* External: the handler's socket, and its process (pidfd, -1 when the socket's hang-up is all we have). */
	char *sock_path;
	int sock;
	int pidfd;
	pid_t peer;
};

/* A userfaultfd for the whole process (kernel faults included); both ways Linux offers to create one. */
static int open_userfaultfd(struct vmon_error *err)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int e = errno;

	if (fd >= 0)
		return fd;
	if (e == EPERM || e == ENOSYS) {
		/* Since 6.1 /dev/userfaultfd hands them out by file permission (Firecracker's way). */
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
			if (fd >= 0)
				return fd;
		}
	}
	if (e == EPERM) {
		char setting[16] = "?";
		FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
		if (f) {
			if (!fgets(setting, sizeof(setting), f))
				snprintf(setting, sizeof(setting), "?");
			setting[strcspn(setting, "\n")] = '\0';
			fclose(f);
		}
		return error_set(err, -EPERM, "userfaultfd: not permitted: the Uffd backend needs CAP_SYS_PTRACE (run "
				 "vmon as root), read-write access to /dev/userfaultfd, or "
				 "/proc/sys/vm/unprivileged_userfaultfd = 1 (it is %s)", setting);
	}
	return error_set(err, -e, "userfaultfd: %s%s", strerror(e),
			 e == ENOSYS ? " (a kernel without CONFIG_USERFAULTFD)" : "");
}

/* UFFDIO_API, then the guest RAM in missing-page mode; copy and zero-page must be offered for it. */
static int register_ram(int uffd, uint8_t *base, uint64_t size, struct vmon_error *err)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)base, .len = size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	const uint64_t need = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE);

	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		return error_set(err, -errno, "userfaultfd: UFFDIO_API: %s", strerror(errno));
	/* Huge pages would make a fault's unit 2 MiB for some handlers and 4 KiB for others: pages, always. */
	madvise(base, size, MADV_NOHUGEPAGE);
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return error_set(err, -errno, "userfaultfd: registering %llu MiB of guest RAM: %s",
				 (unsigned long long)(size >> 20), strerror(errno));
	if ((reg.ioctls & need) != need)
		return error_set(err, -ENOTSUP, "userfaultfd: this kernel offers no UFFDIO_COPY/ZEROPAGE for guest RAM");
	return 0;
}

/* Records the first failure, and stops the VM (if there is one yet: else the restore sees it). */
static void fail(struct uffd_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct uffd_backend *b, const char *fmt, ...)
{
	struct vm *vm;
	va_list ap;

	if (atomic_load(&b->failed))
		return;
	va_start(ap, fmt);
	vsnprintf(b->failure, sizeof(b->failure), fmt, ap);
	va_end(ap);
	atomic_store(&b->failed, true);
	log_error("%s; stopping the VM", b->failure);
	if ((vm = atomic_load(&b->vm)))
		vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
}

/* Lets go of the userfaultfd: if nobody else holds it, the RAM is unregistered and every waiting fault resolves. */
static void let_go(struct uffd_backend *b)
{
	int fd = atomic_exchange(&b->uffd, -1);

	if (fd >= 0)
		close(fd);
}

static void wake(struct uffd_backend *b, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	if (ioctl(atomic_load(&b->uffd), UFFDIO_WAKE, &r) < 0 && errno != ENOENT)
		log_warn("userfaultfd: UFFDIO_WAKE at 0x%llx: %s", (unsigned long long)addr, strerror(errno));
}

/*
 * Fills [dst, dst + len) with src (UFFDIO_COPY) or zeros (src NULL:
 * UFFDIO_ZEROPAGE), which also wakes the threads waiting there. EAGAIN (the
 * address space is changing) is retried from where it stopped; a page that
 * exists already (EEXIST: raced in) is skipped, its waiters woken. 0, or
 * -errno when the range is gone (ENOENT, ESRCH: the process is tearing down).
 */
static int fill(struct uffd_backend *b, uint64_t dst, const uint8_t *src, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		int64_t got;
		int r;

		if (src) {
			struct uffdio_copy c = { .dst = dst + done, .src = (uint64_t)(uintptr_t)(src + done),
						 .len = len - done };
			r = ioctl(atomic_load(&b->uffd), UFFDIO_COPY, &c);
			got = c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { .start = dst + done, .len = len - done } };
			r = ioctl(atomic_load(&b->uffd), UFFDIO_ZEROPAGE, &z);
			got = z.zeropage;
		}
		if (r == 0)
			return 0;
		int e = errno;
		if (got > 0)
			done += (uint64_t)got;
		if (e == EAGAIN || e == EINTR)
			continue;
		if (e != EEXIST)
			return -e;
		wake(b, dst + done, b->page);
		done += b->page;
	}
	return 0;
}

static int read_block(struct uffd_backend *b, const struct uffd_block *blk)
{
	uint64_t done = 0;

	while (done < blk->len) {
		ssize_t n = pread(b->mem_fd, b->buf + done, blk->len - done, (off_t)(blk->start + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(b, "Uffd backend: reading %s at offset %llu: %s", b->mem_path,
			     (unsigned long long)(blk->start + done), n < 0 ? strerror(errno) : "the file has shrunk");
			return -1;
		}
		done += (uint64_t)n;
	}
	return 0;
}

/* One fault: fill its block from the file once; a fault in a block filled already raced with the fill: wake it. */
static void serve(struct uffd_backend *b, uint64_t addr)
{
	uint64_t base = (uint64_t)(uintptr_t)b->base;
	struct uffd_block blk;
	int r;

	b->faults++;
	addr &= ~(b->page - 1);
	if (addr < base || addr - base >= b->size) {
		log_warn("userfaultfd: a fault at 0x%llx, outside guest RAM", (unsigned long long)addr);
		return;
	}
	blk = uffd_block_of(addr - base, b->size, UFFD_BLOCK_SIZE);
	if (b->filled[blk.index / 64] & (1ull << (blk.index % 64))) {
		wake(b, addr, b->page);
		return;
	}
	/* After a failure the VM is stopping: zeros let every waiting thread get there. */
	bool zero = atomic_load(&b->failed) || read_block(b, &blk) || uffd_all_zero(b->buf, blk.len);
	if (zero)
		b->blocks_zero++;
	else
		b->blocks_copied++;
	if ((r = fill(b, base + blk.start, zero ? NULL : b->buf, blk.len)))
		log_debug("userfaultfd: filling 0x%llx: %s", (unsigned long long)(base + blk.start), strerror(-r));
	b->filled[blk.index / 64] |= 1ull << (blk.index % 64);
}

static void *serve_thread(void *arg)
{
	struct uffd_backend *b = arg;
	struct uffd_msg msgs[FAULTS_PER_READ];
	struct pollfd p[2] = { { .fd = atomic_load(&b->uffd), .events = POLLIN }, { .fd = b->stop_fd, .events = POLLIN } };

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				log_warn("userfaultfd: poll: %s", strerror(errno));
			continue;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLERR | POLLNVAL)) {
			/* Nothing more can be served: letting go resolves every waiting fault (the VM is stopping). */
			fail(b, "userfaultfd: poll reports an error on it");
			let_go(b);
			break;
		}
		ssize_t n = read(p[0].fd, msgs, sizeof(msgs));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("userfaultfd: read: %s", strerror(errno));
			continue;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				serve(b, msgs[i].arg.pagefault.address);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		b->serve_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec));
	}
	return NULL;
}

/* External: waits for the handler's end (or ours); its end stops the VM, and a VM that will not stop ends vmon. */
static void *watch_thread(void *arg)
{
	struct uffd_backend *b = arg;
	struct pollfd p[2] = {
		{ .fd = b->pidfd >= 0 ? b->pidfd : b->sock, .events = b->pidfd >= 0 ? POLLIN : POLLIN | POLLRDHUP },
		{ .fd = b->stop_fd, .events = POLLIN },
	};
	char discard[256];

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				log_warn("Uffd handler watch: poll: %s", strerror(errno));
			continue;
		}
		if (p[1].revents)
			return NULL;
		if (b->pidfd < 0 && !(p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) &&
		    recv(b->sock, discard, sizeof(discard), MSG_DONTWAIT) != 0)
			continue;   /* bytes the handler sent: nothing to say to them */
		break;
	}
	fail(b, "the Uffd page-fault handler behind %s (pid %d) %s: guest memory can no longer be served",
	     b->sock_path, (int)b->peer, b->pidfd >= 0 ? "exited" : "closed its socket");
	/* Threads blocked on faults wake up (to zero pages; the VM is stopping and never runs on them). */
	let_go(b);
	p[1].revents = 0;
	while (poll(&p[1], 1, UFFD_GONE_GRACE_S * 1000) < 0 && errno == EINTR)
		;
	if (!p[1].revents) {
		log_error("the VM did not stop within %d s of its Uffd handler's end; exiting", UFFD_GONE_GRACE_S);
		_exit(VMON_EXIT_HOST_ERROR);
	}
	return NULL;
}

static int start_in_process(struct uffd_backend *b, const char *path, struct vmon_error *err)
{
	struct stat st;

	b->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->mem_fd < 0 || fstat(b->mem_fd, &st) < 0)
		return error_set(err, -EINVAL, "memory file %s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size != b->size)
		return error_set(err, -EINVAL, "memory file %s: %llu bytes, the guest has %llu bytes of RAM", path,
				 (unsigned long long)st.st_size, (unsigned long long)b->size);
	/* One bit per block: 2 MiB for 1 TiB of RAM, zero pages from the kernel until a bit is set. */
	b->filled = calloc(uffd_block_count(b->size, UFFD_BLOCK_SIZE) / 64 + 1, sizeof(uint64_t));
	b->buf = malloc(UFFD_BLOCK_SIZE);
	if (!b->filled || !b->buf)
		return error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Firecracker's handshake: connect, the userfaultfd and the mappings in one message; then watch the peer. */
static int start_external(struct uffd_backend *b, const struct guest_mem *mem, const char *path,
			  struct vmon_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = UFFD_HANDSHAKE_TIMEOUT_S };
	struct uffd_mapping maps[GUEST_MEM_MAX_REGIONS];
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	char json[GUEST_MEM_MAX_REGIONS * 160];
	int len;

	if (strlen(path) >= sizeof(addr.sun_path))
		return error_set(err, -EINVAL, "Uffd handler socket %s: the path is too long for a UNIX socket", path);
	memcpy(addr.sun_path, path, strlen(path));
	len = uffd_mappings_json(maps, uffd_mappings_of(mem, b->page, maps), json, sizeof(json));
	if (len < 0)
		return error_set(err, -ENOSPC, "the Uffd mappings message does not fit in %zu bytes", sizeof(json));
	b->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->sock < 0)
		return error_set(err, -errno, "socket: %s", strerror(errno));
	/* Bounds connect() (a full backlog) and the send: a handler that never accepts does not hang the load. */
	setsockopt(b->sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (connect(b->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		return error_set(err, -EINVAL, "Uffd handler socket %s: connect: %s%s", path, strerror(e),
				 e == EAGAIN ? " (no accept within the handshake timeout)" : "");
	}
	if (getsockopt(b->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0)
		b->peer = cred.pid;

	int fd = atomic_load(&b->uffd);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control = { 0 };
	struct iovec iov = { .iov_base = json, .iov_len = (size_t)len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t sent;
	while ((sent = sendmsg(b->sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (sent != len)
		return error_set(err, -EINVAL, "Uffd handler socket %s: sending the userfaultfd: %s", path,
				 sent < 0 ? strerror(errno) : "short write");
	/* The process, not the socket: Firecracker's handlers may close the socket once they have the fd. */
	errno = 0;
	b->pidfd = b->peer > 0 ? (int)syscall(SYS_pidfd_open, b->peer, 0) : -1;
	if (b->pidfd < 0 && errno == ESRCH)
		return error_set(err, -EINVAL, "the Uffd handler behind %s (pid %d) exited during the handshake", path,
				 (int)b->peer);
	log_info("guest memory served by the Uffd handler behind %s (pid %d): %s", path, (int)b->peer, json);
	return 0;
}

int uffd_backend_start(struct uffd_backend **out, const struct guest_mem *mem, const char *path,
		       struct vmon_error *err)
{
	struct uffd_backend *b = calloc(1, sizeof(*b));
	struct stat st;
	int fd, r;

	*out = NULL;
	if (!b)
		return error_set(err, -ENOMEM, "out of memory");
	atomic_init(&b->uffd, -1);
	b->stop_fd = b->mem_fd = b->sock = b->pidfd = -1;
	b->page = (uint64_t)sysconf(_SC_PAGESIZE);
	b->base = mem->regions[0].host;
	b->size = mem->ram_size;
	if (stat(path, &st) < 0) {
		r = error_set(err, -EINVAL, "mem_backend %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = error_set(err, -EINVAL, "mem_backend %s: neither a UNIX socket (an external Uffd handler) nor a "
			      "memory file (served in-process)", path);
		goto fail;
	}
	b->external = S_ISSOCK(st.st_mode);
	if (b->external ? !(b->sock_path = strdup(path)) : !(b->mem_path = strdup(path))) {
		r = error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = b->external ? 0 : start_in_process(b, path, err)))
		goto fail;
	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (b->stop_fd < 0) {
		r = error_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((fd = open_userfaultfd(err)) < 0) {
		r = fd;
		goto fail;
	}
	atomic_store(&b->uffd, fd);
	if ((r = register_ram(fd, b->base, b->size, err)) || (b->external && (r = start_external(b, mem, path, err))))
		goto fail;
	if ((r = -thread_start_without_signals(&b->thread, b->external ? watch_thread : serve_thread, b,
					       b->external ? "vmon-uffd-watch" : "vmon-uffd"))) {
		error_set(err, r, "cannot start the userfaultfd thread: %s", strerror(-r));
		goto fail;
	}
	b->thread_started = true;
	*out = b;
	return 0;
fail:
	uffd_backend_stop(b);
	return r;
}

void uffd_backend_attach_vm(struct uffd_backend *b, struct vm *vm)
{
	atomic_store(&b->vm, vm);
	if (atomic_load(&b->failed))
		vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
}

bool uffd_backend_failed(struct uffd_backend *b, struct vmon_error *err)
{
	if (!atomic_load(&b->failed))
		return false;
	error_set(err, -EIO, "%s", b->failure);
	return true;
}

void uffd_backend_stop(struct uffd_backend *b)
{
	uint64_t one = 1;

	if (!b)
		return;
	if (b->thread_started) {
		if (write(b->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("stopping the userfaultfd thread: %s", strerror(errno));
		pthread_join(b->thread, NULL);
	}
	if (!b->external && b->faults)
		log_info("Uffd backend: %llu faults served, %llu blocks of %u KiB copied, %llu zero; %.1f us per "
			 "fault in the handler", (unsigned long long)b->faults, (unsigned long long)b->blocks_copied,
			 UFFD_BLOCK_SIZE >> 10, (unsigned long long)b->blocks_zero, (double)b->serve_ns / 1e3 / (double)b->faults);
	let_go(b);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	if (b->mem_fd >= 0)
		close(b->mem_fd);
	if (b->sock >= 0)
		close(b->sock);
	if (b->pidfd >= 0)
		close(b->pidfd);
	free(b->mem_path);
	free(b->sock_path);
	free(b->buf);
	free(b->filled);
	free(b);
}
