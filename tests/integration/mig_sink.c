/* SPDX-License-Identifier: MIT */
/*
 * mig_sink: a live-migration destination that fails on purpose
 * (tests/integration/test_migration.py): listens on a UNIX socket, accepts
 * one source, reads BYTES bytes of its stream, then either exits (`close`:
 * the destination died mid-stream) or stops reading and holds the
 * connection open for 60 s (`hold`: a stalled destination, for cancel).
 * Prints "sink: read N bytes" when it stops reading.
 * Usage: mig_sink PATH BYTES close|hold
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[4096];
	long want, got = 0;
	int fd, conn;

	if (argc != 4 || strlen(argv[1]) >= sizeof(sun.sun_path) || (want = atol(argv[2])) <= 0 ||
	    (strcmp(argv[3], "close") && strcmp(argv[3], "hold"))) {
		fprintf(stderr, "usage: mig_sink PATH BYTES close|hold\n");
		return 2;
	}
	strcpy(sun.sun_path, argv[1]);
	unlink(argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 1)) {
		perror("mig_sink: listen");
		return 1;
	}
	conn = accept(fd, NULL, NULL);
	if (conn < 0) {
		perror("mig_sink: accept");
		return 1;
	}
	while (got < want) {
		ssize_t n = read(conn, buf, (size_t)(want - got) < sizeof(buf) ? (size_t)(want - got) : sizeof(buf));
		if (n <= 0)
			break;
		got += n;
	}
	printf("sink: read %ld bytes\n", got);
	fflush(stdout);
	if (!strcmp(argv[3], "hold"))
		sleep(60);
	return 0;
}
