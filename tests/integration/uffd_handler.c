/* SPDX-License-Identifier: MIT */
/*
 * uffd_handler: an external page-fault handler for vmon's Uffd memory backend
 * (and Firecracker's), for the tests.
 *
 *   uffd_handler [--die-after N] SOCKET MEMFILE
 *
 * Listens on the UNIX stream socket SOCKET (prints "uffd_handler: listening"
 * once it does), accepts one VMM, receives the userfaultfd (SCM_RIGHTS) with
 * the JSON array of mappings (base_host_virt_addr, size, offset, page_size),
 * maps MEMFILE MAP_PRIVATE and answers each fault with UFFDIO_COPY of its
 * page. Ends when the VMM closes the socket: prints what it served and exits
 * 0. --die-after N: exits 3 at fault N+1, without answering it (a handler that
 * crashes). Exits 1 on errors, 2 on bad usage. Static, so it runs in the KVM
 * sandbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MAPPINGS 8
#define ACCEPT_TIMEOUT_MS 60000

struct mapping {
	uint64_t base, size, offset, page_size;
};

static void die(const char *what)
{
	fprintf(stderr, "uffd_handler: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The number after "key": inside [obj, end); 0 when it is not there. */
static int number(const char *obj, const char *end, const char *key, uint64_t *out)
{
	char quoted[64];
	const char *at;

	snprintf(quoted, sizeof(quoted), "\"%s\":", key);
	at = strstr(obj, quoted);
	if (!at || at >= end)
		return -1;
	*out = strtoull(at + strlen(quoted), NULL, 10);
	return 0;
}

/* The JSON array of objects vmon (or Firecracker) sends; returns the count, -1 when malformed. */
static int parse_mappings(const char *json, struct mapping *m)
{
	int n = 0;

	if (json[0] != '[')
		return -1;
	for (const char *obj = strchr(json, '{'); obj; obj = strchr(obj + 1, '{')) {
		const char *end = strchr(obj, '}');
		if (!end || n == MAX_MAPPINGS || number(obj, end, "base_host_virt_addr", &m[n].base) ||
		    number(obj, end, "size", &m[n].size) || number(obj, end, "offset", &m[n].offset) ||
		    (number(obj, end, "page_size", &m[n].page_size) &&
		     number(obj, end, "page_size_kib", &m[n].page_size)))
			return -1;
		n++;
	}
	return n;
}

static int receive(int conn, char *json, size_t size)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = json, .iov_len = size - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
	struct cmsghdr *c;
	int fd;

	if (n <= 0)
		die("recvmsg");
	json[n] = '\0';
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
		fprintf(stderr, "uffd_handler: no file descriptor came with the mappings\n");
		exit(1);
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void copy_page(int uffd, uint64_t dst, const uint8_t *src, uint64_t page)
{
	for (;;) {
		struct uffdio_copy c = { .dst = dst, .src = (uint64_t)(uintptr_t)src, .len = page };
		if (ioctl(uffd, UFFDIO_COPY, &c) == 0 || errno == EEXIST)
			return;   /* EEXIST: two faults on one page, the first copy answered both */
		if (errno != EAGAIN)
			die("UFFDIO_COPY");
	}
}

int main(int argc, char **argv)
{
	long die_after = -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct mapping maps[MAX_MAPPINGS];
	char json[4096];
	struct stat st;
	long served = 0;
	int argi = 1;

	if (argc > 2 && !strcmp(argv[1], "--die-after")) {
		die_after = atol(argv[2]);
		argi = 3;
	}
	if (argc - argi != 2 || strlen(argv[argi]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: uffd_handler [--die-after N] SOCKET MEMFILE\n");
		return 2;
	}
	int mem = open(argv[argi + 1], O_RDONLY | O_CLOEXEC);
	if (mem < 0 || fstat(mem, &st) < 0)
		die(argv[argi + 1]);
	const uint8_t *file = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, mem, 0) : NULL;
	if (file == MAP_FAILED)
		die("mmap");

	int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(addr.sun_path, argv[argi], strlen(argv[argi]));
	unlink(argv[argi]);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lsock, 1) < 0)
		die(argv[argi]);
	printf("uffd_handler: listening on %s\n", argv[argi]);
	fflush(stdout);
	struct pollfd lp = { .fd = lsock, .events = POLLIN };
	if (poll(&lp, 1, ACCEPT_TIMEOUT_MS) != 1) {
		fprintf(stderr, "uffd_handler: no VMM connected within %d s\n", ACCEPT_TIMEOUT_MS / 1000);
		return 1;
	}
	int conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		die("accept");
	int uffd = receive(conn, json, sizeof(json));
	int n = parse_mappings(json, maps);
	if (n <= 0) {
		fprintf(stderr, "uffd_handler: bad mappings message: %s\n", json);
		return 1;
	}
	printf("uffd_handler: %d mappings: %s\n", n, json);
	for (int i = 0; i < n; i++)
		if (maps[i].offset > (uint64_t)st.st_size || maps[i].size > (uint64_t)st.st_size - maps[i].offset ||
		    !maps[i].page_size || maps[i].page_size & (maps[i].page_size - 1)) {
			fprintf(stderr, "uffd_handler: mapping %d does not fit the %lld-byte memory file\n", i,
				(long long)st.st_size);
			return 1;
		}
	fflush(stdout);

	for (;;) {
		struct pollfd p[2] = { { .fd = uffd, .events = POLLIN }, { .fd = conn, .events = POLLIN | POLLRDHUP } };
		struct uffd_msg msg;
		char byte;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[1].revents && recv(conn, &byte, 1, MSG_DONTWAIT) <= 0)
			break;   /* the VMM has gone */
		if (!(p[0].revents & POLLIN))
			continue;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("read userfaultfd");
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if (die_after >= 0 && served >= die_after) {
			printf("uffd_handler: dying at fault %ld without answering it\n", served + 1);
			fflush(stdout);
			_exit(3);
		}
		uint64_t addr = msg.arg.pagefault.address;
		int i;
		for (i = 0; i < n && !(addr >= maps[i].base && addr - maps[i].base < maps[i].size); i++)
			;
		if (i == n) {
			fprintf(stderr, "uffd_handler: fault at 0x%llx outside every mapping\n", (unsigned long long)addr);
			return 1;
		}
		uint64_t page_off = (addr - maps[i].base) & ~(maps[i].page_size - 1);
		copy_page(uffd, maps[i].base + page_off, file + maps[i].offset + page_off, maps[i].page_size);
		served++;
	}
	printf("uffd_handler: the VMM closed the socket; %ld faults served\n", served);
	return 0;
}
