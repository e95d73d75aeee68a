/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/console.h"
#include "virtio_harness.h"

/*
 * virtio-console through the real virtio-mmio transport, with the harness's
 * event loop run by hand and real UNIX-socket clients.
 */

#define RXQ VIRTIO_CONSOLE_RX_QUEUE
#define TXQ VIRTIO_CONSOLE_TX_QUEUE
#define MAX_BUFS 64

struct fixture {
	char dir[64];
	char path[96];
	struct virtio_console *con;
	struct virtio_harness h;
	/* RX buffers made available, by head, to read what the device wrote. */
	uint64_t rx_gpa[MAX_BUFS];
	uint64_t rx_len[MAX_BUFS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmon_error err = { 0 };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vmon-console-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/console.sock", f->dir);
	/* The transport exists first (the model registers on its loop), the model is plugged in after. */
	virtio_harness_init(&f->h, NULL, &virtio_console_ops, NULL);
	if (virtio_console_create(&f->con, &f->h.t.vdev, &f->h.loop, f->path, &err))
		fail_msg("virtio_console_create: %s", err.msg);
	f->h.t.vdev.model = f->con;
	virtio_harness_start(&f->h, ~0ull, 2, 64);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	virtio_console_destroy(f->con);
	assert_int_equal(lstat(f->path, &st), -1);    /* destroy unlinked the socket */
	virtio_harness_destroy(&f->h);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_client(struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	virtio_harness_run_loop(&f->h);     /* the device accepts it */
	return fd;
}

static void client_send(int fd, const void *data, size_t len)
{
	assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* What the client has received so far (non-blocking). */
static size_t client_recv(int fd, void *buf, size_t len)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

static void add_rx_buffers(struct fixture *f, unsigned n, uint32_t len)
{
	struct virtq_driver *drv = &f->h.drv[RXQ];

	for (unsigned i = 0; i < n; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(drv, len);
		uint16_t head = virtq_driver_add(drv, &b, 1);
		assert_true(head < MAX_BUFS);
		f->rx_gpa[head] = b.gpa;
		f->rx_len[head] = len;
	}
	virtio_harness_kick(&f->h, RXQ);
}

/* Concatenates the RX buffers the device returned (up to len bytes); returns the byte count. */
static size_t take_rx(struct fixture *f, void *buf, size_t len)
{
	struct virtq_driver *drv = &f->h.drv[RXQ];
	uint32_t id, used;
	size_t got = 0;

	while (virtq_driver_get_used(drv, &id, &used)) {
		assert_true(id < MAX_BUFS);
		assert_true(used <= f->rx_len[id] && got + used <= len);
		memcpy((uint8_t *)buf + got, virtq_driver_host(drv, f->rx_gpa[id], used), used);
		got += used;
	}
	return got;
}

/* One TX buffer of len bytes from the guest; kicks. */
static void guest_send(struct fixture *f, const void *data, uint32_t len)
{
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtq_driver_buf b = virtq_driver_buf_out(drv, data, len);

	virtq_driver_add(drv, &b, 1);
	virtio_harness_kick(&f->h, TXQ);
}

static unsigned tx_returned(struct fixture *f)
{
	uint32_t id, len;
	unsigned n = 0;

	while (virtq_driver_get_used(&f->h.drv[TXQ], &id, &len)) {
		assert_int_equal(len, 0);
		n++;
	}
	return n;
}

static bool needs_reset(struct fixture *f)
{
	return virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	uint64_t features = virtio_harness_device_features(&f->h);

	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	assert_false(features & (1ull << VIRTIO_CONSOLE_F_SIZE));
	assert_false(features & (1ull << VIRTIO_CONSOLE_F_MULTIPORT));
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_console_config, cols), 2), 0);
	assert_int_equal(virtio_harness_config_read(&f->h, offsetof(struct virtio_console_config, rows), 2), 0);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

static void test_both_ways(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int c = connect_client(f);

	add_rx_buffers(f, 4, 16);
	client_send(c, "hello guest", 11);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx(f, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello guest", 11);

	guest_send(f, "hello host", 10);
	assert_int_equal(tx_returned(f), 1);
	assert_int_equal(client_recv(c, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "hello host", 10);
	assert_int_equal(f->con->rx_bytes, 11);
	assert_int_equal(f->con->tx_bytes, 10);
	close(c);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(f->con->client_fd, -1);
}

/* A client that connects after the guest posted its buffers is read at once. */
static void test_buffers_before_client(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	add_rx_buffers(f, 2, 8);
	int c = connect_client(f);
	client_send(c, "early", 5);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx(f, buf, sizeof(buf)), 5);
	close(c);
	virtio_harness_run_loop(&f->h);
}

static void test_no_client_discards(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	guest_send(f, "nobody", 6);
	guest_send(f, "listens", 7);
	assert_int_equal(tx_returned(f), 2);       /* the guest gets its buffers back */
	assert_int_equal(f->con->tx_discarded, 13);
	int c = connect_client(f);
	assert_int_equal(client_recv(c, buf, sizeof(buf)), 0);   /* nothing replayed */
	close(c);
	virtio_harness_run_loop(&f->h);
}

/* No RX buffers: the client's data waits in the socket (the loop stays idle), and arrives later, whole. */
static void test_rx_backpressure(void **state)
{
	struct fixture *f = *state;
	static uint8_t data[10000], got[10000];
	int c = connect_client(f);

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + i / 256);
	client_send(c, data, sizeof(data));
	virtio_harness_run_loop(&f->h);            /* fails the test if the device spins */
	assert_int_equal(f->con->rx_bytes, 0);
	assert_true(f->con->rx_waiting);

	add_rx_buffers(f, 2, 4096);                /* 8192 bytes of room */
	assert_int_equal(take_rx(f, got, sizeof(got)), 8192);
	assert_true(f->con->rx_waiting);
	add_rx_buffers(f, 2, 4096);
	assert_int_equal(take_rx(f, got + 8192, sizeof(got) - 8192), sizeof(data) - 8192);
	assert_memory_equal(got, data, sizeof(data));
	assert_false(f->con->rx_waiting);
	close(c);
	virtio_harness_run_loop(&f->h);
}

/* The client writes and hangs up while the guest has no buffers: its data still arrives, then it is closed. */
static void test_hangup_with_pending_data(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int c = connect_client(f);

	client_send(c, "last words", 10);
	close(c);
	virtio_harness_run_loop(&f->h);            /* HUP is reported whatever the mask: must not spin */
	assert_true(f->con->client_fd >= 0);

	add_rx_buffers(f, 1, 16);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx(f, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "last words", 10);
	assert_int_equal(f->con->client_fd, -1);
	int c2 = connect_client(f);
	assert_int_equal(f->con->clients, 2);
	close(c2);
	virtio_harness_run_loop(&f->h);
}

/* Hang-up with nothing pending frees the slot at once, even without RX buffers. */
static void test_reconnect(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int c1 = connect_client(f);

	close(c1);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(f->con->client_fd, -1);
	int c2 = connect_client(f);
	assert_true(f->con->client_fd >= 0);
	add_rx_buffers(f, 1, 16);
	client_send(c2, "again", 5);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx(f, buf, sizeof(buf)), 5);
	guest_send(f, "back", 4);
	assert_int_equal(client_recv(c2, buf, sizeof(buf)), 4);
	assert_int_equal(f->con->clients, 2);
	close(c2);
	virtio_harness_run_loop(&f->h);
}

static void test_second_client_refused(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int c1 = connect_client(f);
	int c2 = connect_client(f);

	assert_int_equal(recv(c2, buf, sizeof(buf), 0), 0);     /* closed by the device, nothing sent */
	assert_int_equal(f->con->clients_refused, 1);
	guest_send(f, "to one", 6);
	assert_int_equal(client_recv(c1, buf, sizeof(buf)), 6);
	close(c2);
	close(c1);
	virtio_harness_run_loop(&f->h);
}

/* A client that does not read: guest output waits (buffers held), none lost, and flows once it reads. */
static void test_tx_backpressure(void **state)
{
	struct fixture *f = *state;
	enum { CHUNK = 16384, CHUNKS = 8 };
	static uint8_t data[CHUNK * CHUNKS], got[CHUNK * CHUNKS];
	int small = 4096;
	int c = connect_client(f);
	size_t have = 0;

	/* Small socket buffers, so the guest fills them quickly. */
	assert_int_equal(setsockopt(f->con->client_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	for (unsigned i = 0; i < CHUNKS; i++)
		guest_send(f, data + i * CHUNK, CHUNK);
	assert_true(f->con->tx_blocked);
	unsigned returned = tx_returned(f);
	assert_true(returned < CHUNKS);

	for (int round = 0; round < 1000 && have < sizeof(data); round++) {
		have += client_recv(c, got + have, sizeof(got) - have);
		virtio_harness_run_loop(&f->h);
		returned += tx_returned(f);
	}
	assert_int_equal(have, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(returned, CHUNKS);
	assert_false(f->con->tx_blocked);
	assert_int_equal(f->con->tx_discarded, 0);
	close(c);
	virtio_harness_run_loop(&f->h);
}

/* The client leaves while guest output waits for it: the rest is discarded and the buffers come back. */
static void test_tx_blocked_client_leaves(void **state)
{
	struct fixture *f = *state;
	static uint8_t data[65536];
	int small = 4096;
	int c = connect_client(f);

	assert_int_equal(setsockopt(f->con->client_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	guest_send(f, data, sizeof(data));
	guest_send(f, data, 100);
	assert_true(f->con->tx_blocked);
	assert_int_equal(tx_returned(f), 0);
	close(c);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(f->con->client_fd, -1);
	assert_int_equal(tx_returned(f), 2);
	assert_int_equal(f->con->tx_bytes + f->con->tx_discarded, sizeof(data) + 100);
	assert_true(f->con->tx_discarded > 0);
}

static void test_bad_buffers(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[TXQ];
	int c = connect_client(f);
	char buf[8];

	/* A device-writable segment in a transmit buffer. */
	struct virtq_driver_buf tx[2] = { virtq_driver_buf_out(drv, "ab", 2), virtq_driver_buf_in(drv, 4) };
	virtq_driver_add(drv, tx, 2);
	virtio_harness_kick(&f->h, TXQ);
	assert_true(needs_reset(f));
	assert_int_equal(client_recv(c, buf, sizeof(buf)), 0);

	/* After a reset, a device-readable segment in a receive buffer. */
	virtio_harness_start(&f->h, ~0ull, 2, 64);
	assert_false(needs_reset(f));
	drv = &f->h.drv[RXQ];
	struct virtq_driver_buf rx[2] = { virtq_driver_buf_out(drv, "xy", 2), virtq_driver_buf_in(drv, 4) };
	virtq_driver_add(drv, rx, 2);
	virtio_harness_kick(&f->h, RXQ);
	client_send(c, "data", 4);
	virtio_harness_run_loop(&f->h);
	assert_true(needs_reset(f));
	assert_int_equal(f->con->rx_bytes, 0);
	close(c);
	virtio_harness_run_loop(&f->h);
}

/* ---- the socket path ---------------------------------------------------------------- */

static void test_path_refused(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_console *other;
	char file[128];

	/* Our own, live socket. */
	assert_int_equal(virtio_console_create(&other, &f->h.t.vdev, &f->h.loop, f->path, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "listening"));
	virtio_harness_run_loop(&f->h);            /* the probe connection is accepted and dropped */
	assert_int_equal(f->con->client_fd, -1);

	/* A file that is not a socket. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(virtio_console_create(&other, &f->h.t.vdev, &f->h.loop, file, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);

	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(virtio_console_create(&other, &f->h.t.vdev, &f->h.loop, longpath, &err), -ENAMETOOLONG);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_console *other;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char stale[128];

	/* A socket file nobody listens on, as a crashed vmon leaves it. */
	snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
	strcpy(addr.sun_path, stale);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(virtio_console_create(&other, &f->h.t.vdev, &f->h.loop, stale, &err), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	virtio_console_destroy(other);
	assert_int_equal(access(stale, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffers_before_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_client_discards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_with_pending_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_blocked_client_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
