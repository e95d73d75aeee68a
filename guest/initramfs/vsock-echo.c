/* SPDX-License-Identifier: MIT */
/*
 * /bin/vsock-echo: the guest end of vmon's vsock tests (AF_VSOCK streams).
 *
 *   vsock-echo listen PORT [COUNT]   accept COUNT (default 1) connections one after the other,
 *                                    echo each until EOF; prints "vsock-echo: listening on PORT"
 *                                    once ready and "vsock-echo: echoed N bytes crc32 X" per connection
 *   vsock-echo connect CID PORT BYTES
 *                                    send BYTES pseudo-random bytes (then shut down the sending
 *                                    side) while reading the echo back; prints what was sent and
 *                                    received with their CRC-32s and "match" or "MISMATCH"
 *   vsock-echo hold CID PORT         connect, print "vsock-echo: holding", then read until EOF or
 *                                    an error, which it prints ("read error -104": ECONNRESET)
 *
 * CRC-32 is zlib's (IEEE 802.3), so the host checks with Python's zlib.crc32.
 * Exit status 0 on success. Freestanding like vmon-init-reached (no libc): a
 * static glibc would add 700 KiB to an initramfs the guest kernel unpacks
 * slowly under emulation.
 */
#include <stdint.h>

#define SYS_READ 0
#define SYS_WRITE 1
#define SYS_CLOSE 3
#define SYS_SOCKET 41
#define SYS_CONNECT 42
#define SYS_ACCEPT 43
#define SYS_SHUTDOWN 48
#define SYS_BIND 49
#define SYS_LISTEN 50
#define SYS_FORK 57
#define SYS_EXIT 60
#define SYS_WAIT4 61

#define AF_VSOCK 40
#define SOCK_STREAM 1
#define SHUT_WR 1
#define VMADDR_CID_ANY 0xffffffffu

struct sockaddr_vm {
	uint16_t svm_family;
	uint16_t svm_reserved1;
	uint32_t svm_port;
	uint32_t svm_cid;
	uint8_t svm_flags;
	uint8_t svm_zero[3];
};

static long sys6(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static unsigned long slen(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

static void out(const char *s)
{
	sys6(SYS_WRITE, 1, (long)s, (long)slen(s), 0);
}

static char *utoa(uint64_t v, char *end)
{
	*--end = '\0';
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

static void out_num(uint64_t v)
{
	char buf[24];

	out(utoa(v, buf + sizeof(buf)));
}

static void out_hex(uint32_t v)
{
	char buf[9];

	for (int i = 7; i >= 0; i--, v >>= 4)
		buf[i] = "0123456789abcdef"[v & 15];
	buf[8] = '\0';
	out(buf);
}

static __attribute__((noreturn)) void die(const char *what, long err)
{
	out("vsock-echo: ");
	out(what);
	out(" error -");
	out_num((uint64_t)-err);
	out("\n");
	sys6(SYS_EXIT, 1, 0, 0, 0);
	__builtin_unreachable();
}

static int parse(const char *s, uint64_t *v)
{
	*v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	return 0;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Running CRC: start with 0, as zlib.crc32. */
static uint32_t crc32(uint32_t crc, const uint8_t *p, unsigned long n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* xorshift64: the bytes both the sender and the checker generate. */
static void fill(uint64_t *state, uint8_t *p, unsigned long n)
{
	for (unsigned long i = 0; i < n; i += 8) {
		uint64_t x = *state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		for (unsigned k = 0; k < 8 && i + k < n; k++)
			p[i + k] = (uint8_t)(x >> (8 * k));
	}
}

#define CHUNK 65536
static uint8_t buf[CHUNK], want[CHUNK];

static void write_all(int fd, const uint8_t *p, long n)
{
	while (n > 0) {
		long w = sys6(SYS_WRITE, fd, (long)p, n, 0);
		if (w < 0)
			die("write", w);
		p += w;
		n -= w;
	}
}

static int vsock_socket(void)
{
	long fd = sys6(SYS_SOCKET, AF_VSOCK, SOCK_STREAM, 0, 0);

	if (fd < 0)
		die("socket", fd);
	return (int)fd;
}

static int do_listen(uint64_t port, uint64_t count)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_port = (uint32_t)port, .svm_cid = VMADDR_CID_ANY };
	int fd = vsock_socket();
	long r;

	if ((r = sys6(SYS_BIND, fd, (long)&addr, sizeof(addr), 0)) < 0)
		die("bind", r);
	if ((r = sys6(SYS_LISTEN, fd, 4, 0, 0)) < 0)
		die("listen", r);
	out("vsock-echo: listening on ");
	out_num(port);
	out("\n");
	for (uint64_t i = 0; i < count; i++) {
		long c = sys6(SYS_ACCEPT, fd, 0, 0, 0);
		uint64_t total = 0;
		uint32_t crc = 0;
		if (c < 0)
			die("accept", c);
		for (;;) {
			long n = sys6(SYS_READ, c, (long)buf, CHUNK, 0);
			if (n < 0)
				die("read", n);
			if (n == 0)
				break;
			crc = crc32(crc, buf, (unsigned long)n);
			total += (uint64_t)n;
			write_all((int)c, buf, n);
		}
		sys6(SYS_CLOSE, c, 0, 0, 0);
		out("vsock-echo: echoed ");
		out_num(total);
		out(" bytes crc32 ");
		out_hex(crc);
		out("\n");
	}
	return 0;
}

static int connect_to(uint64_t cid, uint64_t port)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_port = (uint32_t)port, .svm_cid = (uint32_t)cid };
	int fd = vsock_socket();
	long r = sys6(SYS_CONNECT, fd, (long)&addr, sizeof(addr), 0);

	if (r < 0)
		die("connect", r);
	return fd;
}

static int do_connect(uint64_t cid, uint64_t port, uint64_t bytes)
{
	int fd = connect_to(cid, port);
	uint64_t seed = 0x9e3779b97f4a7c15ull, received = 0;
	uint32_t crc = 0;
	int match = 1;
	long pid = sys6(SYS_FORK, 0, 0, 0, 0);

	if (pid < 0)
		die("fork", pid);
	if (pid == 0) {
		for (uint64_t done = 0; done < bytes;) {
			unsigned long n = bytes - done < CHUNK ? (unsigned long)(bytes - done) : CHUNK;
			fill(&seed, buf, n);
			write_all(fd, buf, (long)n);
			done += n;
		}
		sys6(SYS_SHUTDOWN, fd, SHUT_WR, 0, 0);
		sys6(SYS_EXIT, 0, 0, 0, 0);
	}
	/* The parent checks the echo against the same stream, CHUNK bytes of it at a time. */
	uint64_t have = 0, pos = 0;
	for (;;) {
		long n = sys6(SYS_READ, fd, (long)buf, CHUNK, 0);
		if (n < 0)
			die("read", n);
		if (n == 0)
			break;
		crc = crc32(crc, buf, (unsigned long)n);
		for (long i = 0; i < n; i++, pos++) {
			if (pos == have) {
				unsigned long k = bytes - have < CHUNK ? (unsigned long)(bytes - have) : CHUNK;
				if (!k) {
					match = 0;
					break;
				}
				fill(&seed, want, k);
				have += k;
			}
			if (buf[i] != want[pos % CHUNK])
				match = 0;
		}
		received += (uint64_t)n;
	}
	int status = 0;
	sys6(SYS_WAIT4, pid, (long)&status, 0, 0);
	match = match && received == bytes && status == 0;
	out("vsock-echo: sent ");
	out_num(bytes);
	out(" received ");
	out_num(received);
	out(" crc32 ");
	out_hex(crc);
	out(match ? " match\n" : " MISMATCH\n");
	return match ? 0 : 1;
}

static int do_hold(uint64_t cid, uint64_t port)
{
	int fd = connect_to(cid, port);

	out("vsock-echo: holding\n");
	for (;;) {
		long n = sys6(SYS_READ, fd, (long)buf, CHUNK, 0);
		if (n < 0)
			die("read", n);
		if (n == 0) {
			out("vsock-echo: EOF\n");
			return 0;
		}
	}
}

static int usage(void)
{
	out("usage: vsock-echo listen PORT [COUNT] | connect CID PORT BYTES | hold CID PORT\n");
	return 2;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int vsock_main(int argc, char **argv)
{
	uint64_t a, b, c = 1;

	crc_init();
	if (argc >= 3 && argc <= 4 && streq(argv[1], "listen") && !parse(argv[2], &a) &&
	    (argc == 3 || !parse(argv[3], &c)))
		return do_listen(a, c);
	if (argc == 5 && streq(argv[1], "connect") && !parse(argv[2], &a) && !parse(argv[3], &b) &&
	    !parse(argv[4], &c))
		return do_connect(a, b, c);
	if (argc == 4 && streq(argv[1], "hold") && !parse(argv[2], &a) && !parse(argv[3], &b))
		return do_hold(a, b);
	return usage();
}

/* The kernel's entry: argc at (%rsp), argv after it. */
__attribute__((used)) static void start_c(long *sp)
{
	sys6(SYS_EXIT, vsock_main((int)sp[0], (char **)(sp + 1)), 0, 0, 0);
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call start_c\n"
	"	hlt\n");
