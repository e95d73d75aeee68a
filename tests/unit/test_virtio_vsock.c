/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
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

#include "virtio/vsock.h"
#include "virtio/vsock_conn.h"
#include "virtio_harness.h"

/*
 * virtio-vsock through the real virtio-mmio transport: the test is the
 * guest driver (packets written into its tx ring, rx buffers read back) and
 * the host processes (real UNIX sockets), with the event loop run by hand.
 */

#define RXQ VSOCK_RX_QUEUE
#define TXQ VSOCK_TX_QUEUE
#define EVQ VSOCK_EVENT_QUEUE
#define QSIZE 128
#define CID 42u
#define HDR sizeof(struct virtio_vsock_hdr)
#define RX_BUF (HDR + 4096)

struct fixture {
	char dir[64];
	char path[96];
	struct virtio_vsock *vs;
	struct virtio_harness h;
	uint64_t rx_gpa[QSIZE];
};

struct pkt {
	struct virtio_vsock_hdr h;
	uint8_t data[4096];
};

static void make_fixture(struct fixture *f, uint64_t cid)
{
	struct vmon_error err = { 0 };

	virtio_harness_init(&f->h, NULL, &virtio_vsock_ops, NULL);
	if (virtio_vsock_create(&f->vs, &f->h.t.vdev, &f->h.loop, cid, f->path, &err))
		fail_msg("virtio_vsock_create: %s", err.msg);
	f->h.t.vdev.model = f->vs;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vmon-vsock-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	make_fixture(f, CID);
	virtio_harness_start(&f->h, ~0ull, 3, QSIZE);
	*state = f;
	return 0;
}

static void free_fixture(struct fixture *f)
{
	virtio_vsock_destroy(f->vs);
	virtio_harness_destroy(&f->h);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char cmd[128];

	free_fixture(f);
	assert_int_equal(lstat(f->path, &st), -1);    /* destroy unlinked the socket */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- the guest's side --------------------------------------------------- */

static void add_rx_buffers(struct fixture *f, unsigned n)
{
	struct virtq_driver *drv = &f->h.drv[RXQ];

	for (unsigned i = 0; i < n; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(drv, RX_BUF);
		uint16_t head = virtq_driver_add(drv, &b, 1);
		assert_true(head < QSIZE);
		f->rx_gpa[head] = b.gpa;
	}
	virtio_harness_kick(&f->h, RXQ);
}

/* The next packet the device put in an rx buffer; false when none. */
static bool take_rx(struct fixture *f, struct pkt *p, uint32_t *len)
{
	uint32_t id, used;

	if (!virtq_driver_get_used(&f->h.drv[RXQ], &id, &used))
		return false;
	assert_true(id < QSIZE && used >= HDR && used <= RX_BUF);
	memcpy(p, virtq_driver_host(&f->h.drv[RXQ], f->rx_gpa[id], used), used);
	assert_int_equal(le32toh(p->h.len), used - HDR);
	assert_int_equal(le64toh(p->h.src_cid), 2);
	assert_int_equal(le64toh(p->h.dst_cid), CID);
	assert_int_equal(le16toh(p->h.type), VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(le32toh(p->h.buf_alloc), VSOCK_CONN_BUF);
	if (len)
		*len = used - HDR;
	return true;
}

static uint16_t take_rx_op(struct fixture *f, struct pkt *p)
{
	if (!take_rx(f, p, NULL))
		fail_msg("no rx packet from the device");
	return le16toh(p->h.op);
}

static struct virtio_vsock_hdr hdr(uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t len,
				   uint32_t buf_alloc, uint32_t fwd_cnt)
{
	return (struct virtio_vsock_hdr){
		.src_cid = htole64(CID), .dst_cid = htole64(2), .src_port = htole32(src_port),
		.dst_port = htole32(dst_port), .len = htole32(len), .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op), .buf_alloc = htole32(buf_alloc), .fwd_cnt = htole32(fwd_cnt),
	};
}

/* One tx packet (header and payload in one buffer), without kicking. */
static void guest_queue(struct fixture *f, struct virtio_vsock_hdr h, const void *data, uint32_t len)
{
	struct virtq_driver *drv = &f->h.drv[TXQ];
	struct virtq_driver_buf b = virtq_driver_buf_out(drv, NULL, (uint32_t)HDR + len);
	uint8_t *p = virtq_driver_host(drv, b.gpa, b.len);

	memcpy(p, &h, HDR);
	if (len)
		memcpy(p + HDR, data, len);
	virtq_driver_add(drv, &b, 1);
}

static void guest_send(struct fixture *f, struct virtio_vsock_hdr h, const void *data, uint32_t len)
{
	guest_queue(f, h, data, len);
	virtio_harness_kick(&f->h, TXQ);
}

static unsigned tx_returned(struct fixture *f)
{
	uint32_t id, len;
	unsigned n = 0;

	while (virtq_driver_get_used(&f->h.drv[TXQ], &id, &len))
		n++;
	return n;
}

/* ---- the host's side ------------------------------------------------------ */

static int host_listen(struct fixture *f, uint32_t port)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", f->path, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int host_connect(struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	virtio_harness_run_loop(&f->h);
	return fd;
}

static size_t host_recv(int fd, void *buf, size_t len)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

/* A guest-initiated connection guest_port → host port, accepted by the test: returns the host's fd. */
static int open_guest_conn(struct fixture *f, int listener, uint32_t guest_port, uint32_t port, uint32_t buf_alloc)
{
	struct pkt p;
	int fd;

	guest_send(f, hdr(guest_port, port, VIRTIO_VSOCK_OP_REQUEST, 0, buf_alloc, 0), NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(le32toh(p.h.src_port), port);
	assert_int_equal(le32toh(p.h.dst_port), guest_port);
	fd = accept(listener, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_identity_and_config(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	assert_false(virtio_harness_device_features(&f->h) & (1ull << VIRTIO_VSOCK_F_SEQPACKET));
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 8), CID);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), CID);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

static void test_bad_config_refused(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock *vs;
	struct vmon_error err = { 0 };
	char longpath[200];

	assert_int_equal(virtio_vsock_create(&vs, &f->h.t.vdev, &f->h.loop, 2, "/tmp/x", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "CID 2"));
	assert_int_equal(virtio_vsock_create(&vs, &f->h.t.vdev, &f->h.loop, UINT32_MAX, "/tmp/x", &err), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[VSOCK_UDS_PATH_MAX + 1] = '\0';
	assert_int_equal(virtio_vsock_create(&vs, &f->h.t.vdev, &f->h.loop, 3, longpath, &err), -ENAMETOOLONG);
	/* The path is in use by this fixture's device: a live socket is refused. */
	assert_int_not_equal(virtio_vsock_create(&vs, &f->h.t.vdev, &f->h.loop, 3, f->path, &err), 0);
}

static void test_guest_connects_both_ways(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 1234);
	struct pkt p;
	uint32_t len;
	char buf[64];

	add_rx_buffers(f, 8);
	int fd = open_guest_conn(f, listener, 5000, 1234, 4096);
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_RW, 10, 4096, 0), "hello host", 10);
	assert_int_equal(tx_returned(f), 2);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "hello host", 10);

	assert_int_equal(send(fd, "hello guest", 11, 0), 11);
	virtio_harness_run_loop(&f->h);
	assert_true(take_rx(f, &p, &len));
	assert_int_equal(le16toh(p.h.op), VIRTIO_VSOCK_OP_RW);
	assert_int_equal(len, 11);
	assert_memory_equal(p.data, "hello guest", 11);
	assert_int_equal(le32toh(p.h.fwd_cnt), 10);

	/* The host closes: the guest hears SHUTDOWN(SEND); its own close then ends it with an RST. */
	close(fd);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(le32toh(p.h.flags), VIRTIO_VSOCK_SHUTDOWN_SEND);
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_SHUTDOWN, 0, 4096, 0), NULL, 0);
	f->h.drv[TXQ].last_used_idx = virtq_driver_used_idx(&f->h.drv[TXQ]);
	/* SHUTDOWN with flags 0 changes nothing; both flags close it. */
	struct virtio_vsock_hdr h = hdr(5000, 1234, VIRTIO_VSOCK_OP_SHUTDOWN, 0, 4096, 0);
	h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
	guest_send(f, h, NULL, 0);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	assert_int_equal(f->vs->nconns, 0);
	close(listener);
}

static void test_rst_for_unknown_port_and_connection(void **state)
{
	struct fixture *f = *state;
	struct pkt p;

	add_rx_buffers(f, 8);
	/* Nothing listens on <uds>_7777. */
	guest_send(f, hdr(5000, 7777, VIRTIO_VSOCK_OP_REQUEST, 0, 4096, 0), NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	assert_int_equal(le32toh(p.h.src_port), 7777);
	assert_int_equal(le32toh(p.h.dst_port), 5000);
	/* Data, credit and shutdown for a connection that does not exist. */
	guest_send(f, hdr(5001, 80, VIRTIO_VSOCK_OP_RW, 3, 4096, 0), "abc", 3);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	guest_send(f, hdr(5001, 80, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 4096, 0), NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	/* An RST is never answered. */
	guest_send(f, hdr(5001, 80, VIRTIO_VSOCK_OP_RST, 0, 4096, 0), NULL, 0);
	assert_false(take_rx(f, &p, NULL));
	assert_int_equal(tx_returned(f), 4);
	assert_int_equal(f->vs->nconns, 0);
}

static void test_header_validation(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_hdr h;
	struct pkt p;

	add_rx_buffers(f, 8);
	/* Not from the guest's CID: dropped without an answer. */
	h = hdr(5000, 1234, VIRTIO_VSOCK_OP_REQUEST, 0, 4096, 0);
	h.src_cid = htole64(CID + 1);
	guest_send(f, h, NULL, 0);
	assert_false(take_rx(f, &p, NULL));
	/* To another guest, of another type, an unknown op, len beyond the buffer: RST. */
	h = hdr(5000, 1234, VIRTIO_VSOCK_OP_REQUEST, 0, 4096, 0);
	h.dst_cid = htole64(7);
	guest_send(f, h, NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	h = hdr(5000, 1234, VIRTIO_VSOCK_OP_REQUEST, 0, 4096, 0);
	h.type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET);
	guest_send(f, h, NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	guest_send(f, hdr(5000, 1234, 99, 0, 4096, 0), NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_RW, 100, 4096, 0), "short", 5);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	assert_int_equal(f->vs->bad_packets, 5);
	assert_false(virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* A tx buffer shorter than a header is a broken driver. */
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->h.drv[TXQ], "xx", 2);
	virtq_driver_add(&f->h.drv[TXQ], &b, 1);
	virtio_harness_kick(&f->h, TXQ);
	assert_true(virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_host_to_guest_respects_credit(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 1234);
	static uint8_t data[3000];
	uint8_t got[3000];
	size_t total = 0;
	struct pkt p;
	uint32_t len;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	add_rx_buffers(f, 16);
	int fd = open_guest_conn(f, listener, 5000, 1234, 1000);    /* the guest has 1000 bytes of room */
	assert_int_equal(send(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	virtio_harness_run_loop(&f->h);
	while (take_rx(f, &p, &len)) {
		assert_int_equal(le16toh(p.h.op), VIRTIO_VSOCK_OP_RW);
		memcpy(got + total, p.data, len);
		total += len;
	}
	assert_int_equal(total, 1000);
	/* The guest read 600 of them: 600 more. */
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 1000, 600), NULL, 0);
	while (take_rx(f, &p, &len)) {
		memcpy(got + total, p.data, len);
		total += len;
	}
	assert_int_equal(total, 1600);
	/* A larger buffer: the rest. */
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 100000, 1600), NULL, 0);
	while (take_rx(f, &p, &len)) {
		memcpy(got + total, p.data, len);
		total += len;
	}
	assert_int_equal(total, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	/* CREDIT_REQUEST is answered with vmon's credit. */
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 100000, 3000), NULL, 0);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(le32toh(p.h.fwd_cnt), 0);
	close(fd);
	close(listener);
}

static void test_guest_to_host_back_pressure(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 1234);
	static uint8_t chunk[4096];
	uint32_t sent = 0, fwd_seen = 0;
	struct pkt p;

	add_rx_buffers(f, 32);
	int fd = open_guest_conn(f, listener, 5000, 1234, 4096);
	/* The host does not read: the socket fills, then vmon's buffer; the guest keeps to its credit. */
	for (int round = 0; round < 400; round++) {
		uint32_t credit = VSOCK_CONN_BUF - (sent - fwd_seen);
		if (credit < sizeof(chunk))
			break;
		memset(chunk, (uint8_t)round, sizeof(chunk));
		guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_RW, sizeof(chunk), 4096, 0), chunk, sizeof(chunk));
		sent += sizeof(chunk);
		tx_returned(f);
		while (take_rx(f, &p, NULL))
			fwd_seen = le32toh(p.h.fwd_cnt);
	}
	assert_true(f->vs->conns->buf_len > 0);       /* data waits in vmon, nothing dropped */
	assert_int_equal(f->vs->conns->fwd_cnt + f->vs->conns->buf_len, sent);
	/* Exceeding the credit resets the connection. */
	uint32_t over = VSOCK_CONN_BUF - f->vs->conns->buf_len + 1;
	uint8_t *big = calloc(1, over);
	assert_non_null(big);
	assert_true(over <= VSOCK_MAX_PKT);
	guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_RW, over, 4096, 0), big, over);
	free(big);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	/* The host still gets everything sent within the credit, in order, then EOF. */
	virtio_harness_run_loop(&f->h);
	uint8_t *all = malloc(sent + 1);
	size_t got = 0;
	for (int tries = 0; tries < 1000 && got < sent; tries++) {
		got += host_recv(fd, all + got, sent + 1 - got);
		virtio_harness_run_loop(&f->h);
	}
	/* Reset: vmon dropped its buffer with the connection (the guest was told by RST). */
	assert_true(got <= sent);
	for (size_t i = 0; i < got; i++)
		assert_int_equal(all[i], (uint8_t)(i / sizeof(chunk)));
	free(all);
	close(fd);
	close(listener);
}

static void test_buffer_drains_in_order(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 1234);
	static uint8_t chunk[4096];
	uint32_t sent = 0, fwd_seen = 0;
	struct pkt p;
	bool credit_update = false;

	add_rx_buffers(f, 32);
	int fd = open_guest_conn(f, listener, 5000, 1234, 4096);
	while (VSOCK_CONN_BUF - (sent - fwd_seen) >= sizeof(chunk)) {
		memset(chunk, (uint8_t)(sent / sizeof(chunk)), sizeof(chunk));
		guest_send(f, hdr(5000, 1234, VIRTIO_VSOCK_OP_RW, sizeof(chunk), 4096, 0), chunk, sizeof(chunk));
		sent += sizeof(chunk);
		tx_returned(f);
	}
	assert_true(f->vs->conns->buf_len > 0);
	/* The host reads everything; vmon's buffer drains and the guest hears of the credit. */
	uint8_t *all = malloc(sent);
	size_t got = 0;
	for (int tries = 0; tries < 1000 && got < sent; tries++) {
		got += host_recv(fd, all + got, sent - got);
		virtio_harness_run_loop(&f->h);
	}
	assert_int_equal(got, sent);
	for (size_t i = 0; i < got; i++)
		if (all[i] != (uint8_t)(i / sizeof(chunk)))
			fail_msg("byte %zu is %u, expected %u", i, all[i], (uint8_t)(i / sizeof(chunk)));
	free(all);
	while (take_rx(f, &p, NULL))
		if (le16toh(p.h.op) == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
			credit_update = true;
			fwd_seen = le32toh(p.h.fwd_cnt);
		}
	assert_true(credit_update);
	assert_int_equal(fwd_seen, sent);
	assert_int_equal(f->vs->buffered, 0);
	close(fd);
	close(listener);
}

static void test_rst_ring_full_stalls_tx(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	unsigned rsts = 0, n = VSOCK_RST_QUEUE + 10;

	/* No rx buffers: RSTs pile up; past the ring's size the guest's packets stay in its ring. */
	for (unsigned i = 0; i < n; i++)
		guest_queue(f, hdr(6000 + i, 80, VIRTIO_VSOCK_OP_RW, 1, 4096, 0), "x", 1);
	virtio_harness_kick(&f->h, TXQ);
	assert_int_equal(tx_returned(f), VSOCK_RST_QUEUE);
	assert_true(f->vs->tx_stalled);
	/* Buffers come: every packet is answered, in order. */
	add_rx_buffers(f, 60);
	while (take_rx(f, &p, NULL)) {
		assert_int_equal(le16toh(p.h.op), VIRTIO_VSOCK_OP_RST);
		assert_int_equal(le32toh(p.h.dst_port), 6000 + rsts);
		rsts++;
	}
	add_rx_buffers(f, 60);
	while (take_rx(f, &p, NULL)) {
		assert_int_equal(le32toh(p.h.dst_port), 6000 + rsts);
		rsts++;
	}
	assert_int_equal(rsts, n);
	assert_int_equal(tx_returned(f), n - VSOCK_RST_QUEUE);
	assert_false(f->vs->tx_stalled);
}

static void test_host_connect_handshake(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	char line[64];

	add_rx_buffers(f, 8);
	int fd = host_connect(f);
	/* CONNECT and the first data in one write: the data waits for the connection. */
	assert_int_equal(send(fd, "CONNECT 52\nearly", 16, 0), 16);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(le32toh(p.h.dst_port), 52);
	uint32_t local = le32toh(p.h.src_port);
	assert_int_equal(local, VSOCK_LOCAL_PORT_BASE);
	assert_false(take_rx(f, &p, NULL));
	guest_send(f, hdr(52, local, VIRTIO_VSOCK_OP_RESPONSE, 0, 4096, 0), NULL, 0);
	virtio_harness_run_loop(&f->h);
	snprintf(line, sizeof(line), "OK %u\n", local);
	char got[64] = { 0 };
	assert_int_equal(host_recv(fd, got, sizeof(got)), strlen(line));
	assert_string_equal(got, line);
	uint32_t len;
	assert_true(take_rx(f, &p, &len));
	assert_int_equal(le16toh(p.h.op), VIRTIO_VSOCK_OP_RW);
	assert_int_equal(len, 5);
	assert_memory_equal(p.data, "early", 5);
	close(fd);

	/* The guest refuses (RST): the client's socket is closed. */
	fd = host_connect(f);
	assert_int_equal(send(fd, "CONNECT 53\n", 11, 0), 11);
	virtio_harness_run_loop(&f->h);
	while (take_rx(f, &p, NULL) && le16toh(p.h.op) != VIRTIO_VSOCK_OP_REQUEST)
		;
	assert_int_equal(le32toh(p.h.dst_port), 53);
	guest_send(f, hdr(53, le32toh(p.h.src_port), VIRTIO_VSOCK_OP_RST, 0, 4096, 0), NULL, 0);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(recv(fd, got, sizeof(got), 0), 0);
	close(fd);

	/* Not a CONNECT line: closed. */
	fd = host_connect(f);
	assert_int_equal(send(fd, "HELLO 1\n", 8, 0), 8);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(recv(fd, got, sizeof(got), 0), 0);
	close(fd);
	fd = host_connect(f);
	assert_int_equal(send(fd, "CONNECT 99999999999\n", 20, 0), 20);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(recv(fd, got, sizeof(got), 0), 0);
	close(fd);
	virtio_harness_run_loop(&f->h);
}

static void test_connect_timeout_closes_the_client(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	char c;

	add_rx_buffers(f, 4);
	/* One client says nothing, one asks for a port the guest never answers. */
	int quiet = host_connect(f);
	int unanswered = host_connect(f);
	assert_int_equal(send(unanswered, "CONNECT 80\n", 11, 0), 11);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_REQUEST);
	uint32_t local = le32toh(p.h.src_port);
	/* The timer ticks every 250 ms; both are closed after VSOCK_CONNECT_TIMEOUT_MS. */
	for (int i = 0; i < 40 && f->vs->nconns; i++)
		event_loop_run_once(&f->h.loop, 100);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(f->vs->nconns, 0);
	assert_int_equal(recv(quiet, &c, 1, 0), 0);
	assert_int_equal(recv(unanswered, &c, 1, 0), 0);
	/* The guest hears that the connection it was asked for is gone. */
	assert_int_equal(take_rx_op(f, &p), VIRTIO_VSOCK_OP_RST);
	assert_int_equal(le32toh(p.h.src_port), local);
	close(quiet);
	close(unanswered);
}

static void test_save_restore_sends_transport_reset(void **state)
{
	struct fixture *f = *state;
	struct fixture *g = calloc(1, sizeof(*g));
	struct virtio_vsock_state s;
	struct vmon_error err = { 0 };
	uint32_t id, len;

	assert_non_null(g);
	assert_int_equal(virtio_vsock_registry_ops.state_size, sizeof(s));
	/* The guest gave event buffers; nothing to say before a restore. */
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->h.drv[EVQ], 4);
	virtq_driver_add(&f->h.drv[EVQ], &b, 1);
	virtio_harness_kick(&f->h, EVQ);
	assert_false(virtq_driver_get_used(&f->h.drv[EVQ], &id, &len));
	virtio_dev_pause(&f->h.t.vdev);
	virtio_vsock_registry_ops.save(&f->h.t.vdev, &s);
	assert_int_equal(s.guest_cid, CID);

	/* Another machine: same CID, another socket path. */
	strcpy(g->dir, f->dir);
	snprintf(g->path, sizeof(g->path), "%s/w.sock", g->dir);
	make_fixture(g, CID);
	virtio_harness_copy_guest(&g->h, &f->h);
	virtio_dev_pause(&g->h.t.vdev);
	if (virtio_vsock_registry_ops.restore(&g->h.t.vdev, &s, &err))
		fail_msg("restore: %s", err.msg);
	virtio_dev_resume(&g->h.t.vdev);
	virtio_harness_run_loop(&g->h);
	assert_true(virtq_driver_get_used(&g->h.drv[EVQ], &id, &len));
	assert_int_equal(len, 4);
	struct virtio_vsock_event *ev = virtq_driver_host(&g->h.drv[EVQ], b.gpa, 4);
	assert_int_equal(le32toh(ev->id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	assert_int_equal(g->vs->events_sent, 1);

	/* New connections work at once on the restored device. */
	for (unsigned i = 0; i < QSIZE; i++)
		g->rx_gpa[i] = f->rx_gpa[i];
	int listener = host_listen(g, 1234);
	add_rx_buffers(g, 4);
	int fd = open_guest_conn(g, listener, 5000, 1234, 4096);
	close(fd);
	close(listener);

	/* Checked fields. */
	struct virtio_vsock_state bad = s;
	bad.guest_cid = CID + 1;
	assert_int_equal(virtio_vsock_registry_ops.restore(&g->h.t.vdev, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "guest_cid"));
	bad = s;
	bad.event_pending = 2;
	assert_int_equal(virtio_vsock_registry_ops.restore(&g->h.t.vdev, &bad, &err), -EINVAL);
	bad = s;
	bad.reserved[3] = 1;
	assert_int_equal(virtio_vsock_registry_ops.restore(&g->h.t.vdev, &bad, &err), -EINVAL);
	virtio_dev_resume(&f->h.t.vdev);
	free_fixture(g);
	free(g);
}

static void test_device_reset_drops_connections(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 1234);
	char c;

	add_rx_buffers(f, 4);
	int fd = open_guest_conn(f, listener, 5000, 1234, 4096);
	assert_int_equal(f->vs->nconns, 1);
	virtio_harness_reset(&f->h);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(f->vs->nconns, 0);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
	close(listener);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connects_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_for_unknown_port_and_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_to_guest_respects_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_to_host_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_drains_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_ring_full_stalls_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout_closes_the_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore_sends_transport_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_reset_drops_connections, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
