/* SPDX-License-Identifier: MIT */
/*
 * unix_client: the host end of a vmon --vconsole socket, for the tests.
 *
 *   unix_client PATH WAIT_FOR SEND EXPECT TIMEOUT_S
 *
 * Connects to the UNIX stream socket PATH (retrying until vmon has created
 * it), reads until WAIT_FOR has arrived, sends SEND (C escapes \n and \r
 * are understood), then reads until EXPECT has arrived. Prints everything it
 * received as "client got: <bytes>" and exits 0 when EXPECT came, 1 on
 * timeout or hang-up, 2 on bad usage. Static, so it runs in the KVM sandbox.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && (s[1] == 'n' || s[1] == 'r')) {
			*out++ = s[1] == 'n' ? '\n' : '\r';
			s++;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Reads into buf (NUL-terminated, appending) until want appears; 0, or -1 on timeout / EOF. */
static int read_until(int fd, char *buf, size_t size, size_t *used, const char *want, double deadline)
{
	while (!strstr(buf, want)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = (int)((deadline - now()) * 1000);
		ssize_t n;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return -1;
		n = read(fd, buf + *used, size - 1 - *used);
		if (n <= 0)
			return -1;
		*used += (size_t)n;
		buf[*used] = '\0';
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	static char buf[65536];
	size_t used = 0;
	double deadline;
	int fd = -1, status = 1;

	if (argc != 6 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: unix_client PATH WAIT_FOR SEND EXPECT TIMEOUT_S\n");
		return 2;
	}
	deadline = now() + atof(argv[5]);
	strcpy(addr.sun_path, argv[1]);
	unescape(argv[3]);
	while (now() < deadline) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		usleep(20000);
	}
	if (fd < 0) {
		printf("client: could not connect to %s\n", argv[1]);
		return 1;
	}
	if (read_until(fd, buf, sizeof(buf), &used, argv[2], deadline) == 0 &&
	    write(fd, argv[3], strlen(argv[3])) == (ssize_t)strlen(argv[3]) &&
	    read_until(fd, buf, sizeof(buf), &used, argv[4], deadline) == 0)
		status = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = '|';
	printf("client got: %s\n", buf);
	close(fd);
	return status;
}
