/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/backend.h"
#include "unit_skip.h"
#include "virtio/net.h"

/*
 * The TAP backend on a real interface: frames the backend writes are read
 * back through a packet socket on the interface, frames sent through that
 * socket come out of the backend. Needs /dev/net/tun and CAP_NET_ADMIN (to
 * create the interface) and CAP_NET_RAW (packet socket): skipped otherwise.
 */

#define TEST_ETHERTYPE 0x88b5     /* IEEE local experimental: nothing else sends it */
#define MAX_FRAMES 16

struct fixture {
	struct event_loop loop;
	struct net_config cfg;
	char ifname[IFNAMSIZ];
	struct net_backend *be;
	int packet_fd;
	int ifindex;
	bool full;                   /* the sink answers NET_RX_NO_SPACE */
	unsigned calls, refused, count;
	uint8_t seq[MAX_FRAMES];     /* byte 14 of each test frame taken */
};

static enum net_rx_status sink_receive(void *ctx, const void *frame, size_t len)
{
	struct fixture *f = ctx;
	const uint8_t *p = frame;

	f->calls++;
	if (f->full) {
		f->refused++;
		return NET_RX_NO_SPACE;
	}
	/* The kernel may send its own frames on the interface: only ours are recorded. */
	if (len >= 15 && (p[12] << 8 | p[13]) == TEST_ETHERTYPE && f->count < MAX_FRAMES)
		f->seq[f->count++] = p[14];
	return NET_RX_OK;
}

static const char *tap_unusable(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	int s;

	if (fd < 0)
		return "/dev/net/tun cannot be opened";
	strcpy(ifr.ifr_name, "vmonprobe%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return "creating a TAP interface is not permitted (no CAP_NET_ADMIN)";
	}
	close(fd);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (s < 0)
		return "no packet socket (no CAP_NET_RAW)";
	close(s);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmon_error err = { 0 };

	assert_non_null(f);
	assert_int_equal(event_loop_init(&f->loop, &err), 0);
	f->cfg.backend = NET_BACKEND_TAP;
	f->packet_fd = -1;
	snprintf(f->ifname, sizeof(f->ifname), "vmut%d", (int)(getpid() % 100000));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	net_backend_destroy(f->be);
	if (f->packet_fd >= 0)
		close(f->packet_fd);
	event_loop_destroy(&f->loop);
	free(f);
	return 0;
}

static void write_sysctl(const char *path, const char *value)
{
	FILE *fp = fopen(path, "w");

	if (fp) {
		fputs(value, fp);
		fclose(fp);
	}
}

/* Opens the backend on f->ifname, brings the interface up and binds a packet socket to it. */
static void open_tap(struct fixture *f)
{
	struct net_rx_sink sink = { .receive = sink_receive, .ctx = f };
	struct vmon_error err = { 0 };
	struct ifreq ifr = { 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	char path[128];
	int s;

	f->cfg.tap_name = f->ifname;
	if (net_tap_open(&f->be, &f->loop, &f->cfg, &sink, &err))
		fail_msg("net_tap_open: %s", err.msg);
	assert_string_equal(f->be->ops->name, "tap");
	/* Less kernel chatter (router solicitations, MLD) on the test interface. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", f->ifname);
	write_sysctl(path, "1");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	strcpy(ifr.ifr_name, f->ifname);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	f->ifindex = (int)if_nametoindex(f->ifname);
	assert_true(f->ifindex > 0);
	f->packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(f->packet_fd >= 0);
	sll.sll_ifindex = f->ifindex;
	assert_int_equal(bind(f->packet_fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	/* A frame that never comes fails the test instead of hanging it. */
	assert_int_equal(setsockopt(f->packet_fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 2 },
				    sizeof(struct timeval)), 0);
}

static size_t test_frame(uint8_t *p, uint8_t seq, size_t len)
{
	static const uint8_t dst[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(seq + i - 14);
	return len;
}

/* Sends a frame into the interface (it comes out of the TAP fd). */
static void inject(struct fixture *f, uint8_t seq)
{
	uint8_t frame[100];
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = f->ifindex, .sll_halen = 6 };

	test_frame(frame, seq, sizeof(frame));
	memcpy(to.sll_addr, frame, 6);
	assert_int_equal(sendto(f->packet_fd, frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)sizeof(frame));
}

/* Runs the loop until the sink has recorded `want` test frames (or 2 s pass). */
static void run_until_count(struct fixture *f, unsigned want)
{
	for (int i = 0; i < 200 && f->count < want; i++)
		assert_true(event_loop_run_once(&f->loop, 10) >= 0);
	assert_int_equal(f->count, want);
}

static void run_a_while(struct fixture *f)
{
	for (int i = 0; i < 10; i++)
		assert_true(event_loop_run_once(&f->loop, 10) >= 0);
}

static void test_tx_reaches_interface(void **state)
{
	struct fixture *f = *state;
	const char *why = tap_unusable();
	uint8_t frame[200], got[2048];
	ssize_t n;

	if (why)
		unit_skip(why);
	open_tap(f);
	assert_int_equal(net_backend_send(f->be, frame, test_frame(frame, 9, sizeof(frame))), 0);
	for (;;) {
		n = recv(f->packet_fd, got, sizeof(got), 0);
		assert_true(n > 0);
		if (n >= 14 && (got[12] << 8 | got[13]) == TEST_ETHERTYPE)
			break;
	}
	assert_int_equal(n, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_int_equal(net_stat_get(&f->be->stats.tx_frames), 1);
	assert_int_equal(net_stat_get(&f->be->stats.tx_bytes), sizeof(frame));
}

static void test_rx_and_back_pressure(void **state)
{
	struct fixture *f = *state;
	const char *why = tap_unusable();
	unsigned calls;

	if (why)
		unit_skip(why);
	open_tap(f);
	inject(f, 1);
	run_until_count(f, 1);
	assert_int_equal(f->seq[0], 1);

	/* No room: one frame is read and held, then the fd is left alone. */
	f->full = true;
	calls = f->calls;
	inject(f, 2);
	inject(f, 3);
	inject(f, 4);
	run_a_while(f);
	assert_int_equal(f->refused, 1);
	assert_int_equal(f->calls, calls + 1);
	assert_int_equal(f->count, 1);

	/* A resume while still full: the held frame is offered again, refused again, nothing lost. */
	net_backend_rx_resume(f->be);
	run_a_while(f);
	assert_int_equal(f->refused, 2);

	f->full = false;
	net_backend_rx_resume(f->be);
	run_until_count(f, 4);
	assert_int_equal(f->seq[1], 2);
	assert_int_equal(f->seq[2], 3);
	assert_int_equal(f->seq[3], 4);
	assert_int_equal(net_stat_get(&f->be->stats.rx_dropped), 0);
}

static void test_create_named_vmon_interface(void **state)
{
	struct fixture *f = *state;
	struct net_rx_sink sink = { .receive = sink_receive, .ctx = f };
	struct vmon_error err = { 0 };
	const char *why = tap_unusable();

	if (why)
		unit_skip(why);
	f->cfg.tap_name = NULL;      /* "vmon%d" */
	if (net_tap_open(&f->be, &f->loop, &f->cfg, &sink, &err))
		fail_msg("net_tap_open: %s", err.msg);
}

/* Errors that need no privilege to produce. */
static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct net_rx_sink sink = { .receive = sink_receive, .ctx = f };
	struct vmon_error err = { 0 };
	struct virtio_net *net = NULL;
	struct virtio_dev *unused_vdev = NULL;

	f->cfg.tap_name = "a-name-longer-than-ifnamsiz";
	assert_int_equal(net_tap_open(&f->be, &f->loop, &f->cfg, &sink, &err), -EINVAL);
	assert_null(f->be);
	assert_non_null(strstr(err.msg, "a-name-longer-than-ifnamsiz"));

	/* Through the device: the backend's error comes back as is. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(virtio_net_create(&net, unused_vdev, &f->loop, &f->cfg, &err), -EINVAL);
	assert_null(net);
	assert_non_null(strstr(err.msg, "longer than 15 characters"));

	/* lo is no TAP interface (or, unprivileged, not ours): refused with its name. */
	if (access("/dev/net/tun", R_OK | W_OK) == 0) {
		f->cfg.tap_name = "lo";
		memset(&err, 0, sizeof(err));
		assert_true(net_tap_open(&f->be, &f->loop, &f->cfg, &sink, &err) < 0);
		assert_null(f->be);
		assert_non_null(strstr(err.msg, "TAP lo"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_reaches_interface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_and_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_named_vmon_interface, setup, teardown),
	};

	return unit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
