/* SPDX-License-Identifier: MIT */
/*
 * udp_flood: the host end of the virtio-net receive flood
 * (tests/guests/virtio_net_flood.c), for the tests.
 *
 *   udp_flood COUNT COMMAND [ARG...]
 *
 * Binds a UDP socket to 127.0.0.1 (any free port), runs COMMAND with every
 * "@PORT@" in its arguments replaced by that port (vmon, whose slirp maps the
 * guest's 10.0.2.2 to the host's 127.0.0.1), and serves the guest while it
 * runs: a datagram from the guest is a credit, "CRED" + the big-endian number
 * of frames it may have been sent in all; it gets frames up to that number
 * (never beyond COUNT). Frame s is a datagram of flood_len(s) bytes:
 * s (big-endian 32 bits), ~s, then flood_byte(s, i) for i = 8..len-1.
 * The guest must see all COUNT frames once each, in order, intact.
 *
 * Prints "udp_flood: sent N of COUNT frames (B bytes), C credits" on stderr
 * when COMMAND has ended, and exits with COMMAND's status (128 + N for a
 * death by signal N); 2 on bad usage, 3 when the socket or the command
 * cannot be set up. Static, so it runs in the KVM sandbox.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Keep these two in step with tests/guests/virtio_net_flood.c. */
static uint32_t flood_len(uint32_t s)
{
	return 16 + (s * 389u) % 1457u;   /* 16..1472: up to a 1500-byte IP datagram */
}

static uint8_t flood_byte(uint32_t s, uint32_t i)
{
	return (uint8_t)(s * 131u + i * 7u + (i >> 8));
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* argv with "@PORT@" replaced: a copy, so the caller's strings stay as they are. */
static char **with_port(char **argv, int argc, unsigned port)
{
	char **out = calloc((size_t)argc + 1, sizeof(*out));

	for (int i = 0; out && i < argc; i++) {
		const char *at = strstr(argv[i], "@PORT@");
		size_t n = strlen(argv[i]) + 8;

		if (!(out[i] = malloc(n)))
			return NULL;
		if (at)
			snprintf(out[i], n, "%.*s%u%s", (int)(at - argv[i]), argv[i], port, at + 6);
		else
			snprintf(out[i], n, "%s", argv[i]);
	}
	return out;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(addr);
	uint64_t sent = 0, bytes = 0, credits = 0, allowed = 0, count;
	uint8_t frame[1500];
	char *end;
	int fd, status;
	pid_t pid;

	if (argc < 3 || (count = strtoull(argv[1], &end, 10), *end) || count > UINT32_MAX) {
		fprintf(stderr, "usage: udp_flood COUNT COMMAND [ARG...]\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
		fprintf(stderr, "udp_flood: socket on 127.0.0.1: %s\n", strerror(errno));
		return 3;
	}
	char **cmd = with_port(argv + 2, argc - 2, ntohs(addr.sin_port));
	if (!cmd || (pid = fork()) < 0) {
		fprintf(stderr, "udp_flood: cannot start %s: %s\n", argv[2], strerror(errno));
		return 3;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "udp_flood: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sockaddr_in guest;
		socklen_t glen = sizeof(guest);
		uint8_t msg[64];
		ssize_t n;

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvfrom(fd, msg, sizeof(msg), 0, (struct sockaddr *)&guest, &glen);
		if (n != 8 || memcmp(msg, "CRED", 4)) {
			fprintf(stderr, "udp_flood: ignored a %zd-byte datagram that is not a credit\n", n);
			continue;
		}
		credits++;
		uint64_t upto = (uint64_t)msg[4] << 24 | msg[5] << 16 | msg[6] << 8 | msg[7];
		if (upto > allowed)
			allowed = upto < count ? upto : count;
		for (; sent < allowed; sent++) {
			uint32_t s = (uint32_t)sent, len = flood_len(s);

			put32(frame, s);
			put32(frame + 4, ~s);
			for (uint32_t i = 8; i < len; i++)
				frame[i] = flood_byte(s, i);
			if (sendto(fd, frame, len, 0, (struct sockaddr *)&guest, glen) != (ssize_t)len) {
				fprintf(stderr, "udp_flood: sendto frame %u: %s\n", s, strerror(errno));
				break;
			}
			bytes += len;
		}
	}
	fprintf(stderr, "udp_flood: sent %llu of %llu frames (%llu bytes), %llu credits\n",
		(unsigned long long)sent, (unsigned long long)count, (unsigned long long)bytes,
		(unsigned long long)credits);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
