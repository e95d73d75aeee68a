/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/seccomp_filter.h"
#include "net/backend.h"

/*
 * The user-mode backend for real: frames a guest would send go in through
 * net_backend_send(), and the replies libslirp produces on its thread are
 * captured by a test sink.
 */

#define MAX_FRAMES 64
#define FRAME_MAX 2048
#define WAIT_MS 5000

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct captured {
	size_t len;
	uint8_t data[FRAME_MAX];
};

struct capture {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool full;                   /* answer NET_RX_NO_SPACE */
	unsigned refused;
	unsigned count;
	struct captured frames[MAX_FRAMES];
};

struct fixture {
	struct capture cap;
	struct net_config cfg;
	struct net_backend *be;
	struct vmon_error err;
};

static enum net_rx_status capture_receive(void *ctx, const void *frame, size_t len)
{
	struct capture *cap = ctx;
	enum net_rx_status st = NET_RX_OK;

	pthread_mutex_lock(&cap->lock);
	if (cap->full) {
		cap->refused++;
		st = NET_RX_NO_SPACE;
	} else if (cap->count < MAX_FRAMES && len <= FRAME_MAX) {
		cap->frames[cap->count].len = len;
		memcpy(cap->frames[cap->count].data, frame, len);
		cap->count++;
		pthread_cond_broadcast(&cap->cond);
	}
	pthread_cond_broadcast(&cap->cond);
	pthread_mutex_unlock(&cap->lock);
	return st;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->cap.lock, NULL);
	pthread_cond_init(&f->cap.cond, NULL);
	f->cfg.backend = NET_BACKEND_USER;
	memcpy(f->cfg.mac, guest_mac, 6);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	net_backend_destroy(f->be);
	pthread_mutex_destroy(&f->cap.lock);
	pthread_cond_destroy(&f->cap.cond);
	free(f);
	return 0;
}

static void open_backend(struct fixture *f)
{
	struct net_rx_sink sink = { .receive = capture_receive, .ctx = &f->cap };
	int r = net_slirp_open(&f->be, NULL, &f->cfg, &sink, &f->err);

	if (r)
		fail_msg("net_slirp_open: %s", f->err.msg);
	assert_string_equal(f->be->ops->name, "user");
}

/* ---- frame building and parsing ----------------------------------------- */

static size_t eth_header(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = type >> 8;
	p[13] = type & 0xff;
	return 14;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_ip(uint8_t *p, const char *text)
{
	assert_int_equal(inet_pton(AF_INET, text, p), 1);
}

static uint32_t ip_of(const char *text)
{
	uint8_t b[4];

	put_ip(b, text);
	return get32(b);
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ARP who-has target_ip, tell 10.0.2.15 (the guest). */
static size_t arp_request(uint8_t *f, const char *target_ip)
{
	size_t n = eth_header(f, broadcast_mac, guest_mac, 0x0806);
	uint8_t *a = f + n;

	put16(a, 1);                /* Ethernet */
	put16(a + 2, 0x0800);       /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);            /* request */
	memcpy(a + 8, guest_mac, 6);
	put_ip(a + 14, "10.0.2.15");
	memset(a + 18, 0, 6);
	put_ip(a + 24, target_ip);
	return n + 28;
}

/* ARP is-at reply from the guest to requester (mac, ip). */
static size_t arp_reply(uint8_t *f, const uint8_t *to_mac, const uint8_t *to_ip)
{
	size_t n = eth_header(f, to_mac, guest_mac, 0x0806);
	uint8_t *a = f + n;

	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);
	memcpy(a + 8, guest_mac, 6);
	put_ip(a + 14, "10.0.2.15");
	memcpy(a + 18, to_mac, 6);
	memcpy(a + 24, to_ip, 4);
	return n + 28;
}

#define BOOTP_LEN 548   /* 236 fixed bytes + 312 of options: what slirp's struct bootp_t holds */

/* DHCPDISCOVER from the guest, broadcast, with transaction id xid. */
static size_t dhcp_discover(uint8_t *f, uint32_t xid)
{
	size_t n = eth_header(f, broadcast_mac, guest_mac, 0x0800);
	uint8_t *ip = f + n, *udp = ip + 20, *bp = udp + 8;
	static const uint8_t magic[4] = { 99, 130, 83, 99 };

	memset(ip, 0, 20 + 8 + BOOTP_LEN);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + BOOTP_LEN);
	ip[8] = 64;
	ip[9] = 17;                 /* UDP */
	put_ip(ip + 12, "0.0.0.0");
	put_ip(ip + 16, "255.255.255.255");
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + BOOTP_LEN);   /* checksum 0: none (IPv4) */
	bp[0] = 1;                  /* BOOTREQUEST */
	bp[1] = 1;
	bp[2] = 6;
	bp[4] = xid >> 24;
	bp[5] = xid >> 16;
	bp[6] = xid >> 8;
	bp[7] = xid;
	memcpy(bp + 28, guest_mac, 6);     /* chaddr */
	memcpy(bp + 236, magic, 4);
	bp[240] = 53;               /* DHCP message type: DISCOVER */
	bp[241] = 1;
	bp[242] = 1;
	bp[243] = 255;
	return n + 20 + 8 + BOOTP_LEN;
}

static uint16_t eth_type(const struct captured *c)
{
	return c->len >= 14 ? get16(c->data + 12) : 0;
}

/* IPv4 payload of a frame, with protocol; NULL when not IPv4. */
static const uint8_t *ipv4_payload(const struct captured *c, uint8_t *proto, size_t *len)
{
	const uint8_t *ip = c->data + 14;
	size_t ihl, total;

	if (eth_type(c) != 0x0800 || c->len < 14 + 20)
		return NULL;
	ihl = (ip[0] & 0x0f) * 4u;
	total = get16(ip + 2);
	assert_true(ihl >= 20 && total >= ihl && 14 + total <= c->len);
	assert_int_equal(ip_checksum(ip, ihl), 0);
	*proto = ip[9];
	*len = total - ihl;
	return ip + ihl;
}

/* Waits until a captured frame satisfies match (from index *from on); returns its index or fails the test. */
static unsigned wait_for(struct fixture *f, bool (*match)(const struct captured *c, void *arg), void *arg,
			 unsigned *from)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&f->cap.lock);
	for (;;) {
		for (; *from < f->cap.count; (*from)++) {
			if (match(&f->cap.frames[*from], arg)) {
				unsigned i = (*from)++;
				pthread_mutex_unlock(&f->cap.lock);
				return i;
			}
		}
		if (pthread_cond_timedwait(&f->cap.cond, &f->cap.lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&f->cap.lock);
	fail_msg("no matching frame within %d ms (%u frames captured)", WAIT_MS, f->cap.count);
	return 0;
}

/* Waits until a counter the slirp thread updates reaches want (and checks it goes no further). */
static void wait_stat(const atomic_uint_least64_t *counter, uint64_t want)
{
	struct timespec pause = { .tv_nsec = 1000 * 1000 };

	for (int i = 0; i < WAIT_MS && net_stat_get(counter) < want; i++)
		nanosleep(&pause, NULL);
	assert_int_equal(net_stat_get(counter), want);
}

static void send_frame(struct fixture *f, const uint8_t *frame, size_t len)
{
	assert_int_equal(net_backend_send(f->be, frame, len), 0);
}

/* ---- ARP ---------------------------------------------------------------- */

/* An ARP reply about the address arg points to (a dotted quad), or 10.0.2.2 when NULL. */
static bool is_arp_reply_from(const struct captured *c, void *arg)
{
	const uint8_t *a = c->data + 14;

	return eth_type(c) == 0x0806 && c->len >= 14 + 28 && get16(a + 6) == 2 &&
	       get32(a + 14) == ip_of(arg ? arg : "10.0.2.2");
}

static bool is_arp_reply_from_gateway(const struct captured *c, void *arg)
{
	(void)arg;
	return is_arp_reply_from(c, NULL);
}

static void test_arp_gateway(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[FRAME_MAX];
	unsigned from = 0, i;
	const struct captured *c;

	open_backend(f);
	send_frame(f, frame, arp_request(frame, "10.0.2.2"));
	i = wait_for(f, is_arp_reply_from_gateway, NULL, &from);
	c = &f->cap.frames[i];
	/* To the guest, about 10.0.2.2, with slirp's MAC as the sender and in the Ethernet source. */
	assert_memory_equal(c->data, guest_mac, 6);
	assert_memory_equal(c->data + 14 + 18, guest_mac, 6);
	assert_int_equal(get32(c->data + 14 + 24), ip_of("10.0.2.15"));
	assert_memory_equal(c->data + 6, c->data + 14 + 8, 6);
	assert_int_equal(net_stat_get(&f->be->stats.tx_frames), 1);
	assert_int_equal(net_stat_get(&f->be->stats.tx_bytes), 42);
	/* Counted once the sink returned: the slirp thread may still be on its way there. */
	wait_stat(&f->be->stats.rx_frames, 1);
	assert_int_equal(net_stat_get(&f->be->stats.rx_bytes), c->len);   /* slirp pads: 64 */
}

/* An address slirp does not own gets no answer; its DNS address does. */
static void test_arp_only_for_slirp_addresses(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[FRAME_MAX];
	unsigned from = 0;

	open_backend(f);
	send_frame(f, frame, arp_request(frame, "10.0.2.77"));
	send_frame(f, frame, arp_request(frame, "10.0.2.3"));
	wait_for(f, is_arp_reply_from, "10.0.2.3", &from);
	/* Frames are handled in order: an answer about .77 would have come first. */
	pthread_mutex_lock(&f->cap.lock);
	assert_int_equal(f->cap.count, 1);
	pthread_mutex_unlock(&f->cap.lock);
}

/* ---- DHCP ---------------------------------------------------------------- */

static bool is_dhcp_reply(const struct captured *c, void *arg)
{
	uint32_t xid = *(uint32_t *)arg;
	uint8_t proto;
	size_t len;
	const uint8_t *udp = ipv4_payload(c, &proto, &len);

	return udp && proto == 17 && len >= 8 + 240 && get16(udp) == 67 && get16(udp + 2) == 68 &&
	       udp[8] == 2 && get32(udp + 8 + 4) == xid;
}

/* The value of DHCP option `code` (its length in *len), or NULL. */
static const uint8_t *dhcp_option(const uint8_t *opts, size_t size, uint8_t code, uint8_t *len)
{
	size_t i = 0;

	while (i < size && opts[i] != 255) {
		if (opts[i] == 0) {
			i++;
			continue;
		}
		if (i + 2 > size || i + 2 + opts[i + 1] > size)
			return NULL;
		if (opts[i] == code) {
			*len = opts[i + 1];
			return opts + i + 2;
		}
		i += 2u + opts[i + 1];
	}
	return NULL;
}

static void test_dhcp_discover_gets_offer(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[FRAME_MAX];
	uint32_t xid = 0x1badcafe;
	unsigned from = 0, i;
	const struct captured *c;
	const uint8_t *udp, *bp, *opt;
	uint8_t proto, olen;
	size_t len;

	open_backend(f);
	send_frame(f, frame, dhcp_discover(frame, xid));
	i = wait_for(f, is_dhcp_reply, &xid, &from);
	c = &f->cap.frames[i];
	udp = ipv4_payload(c, &proto, &len);
	bp = udp + 8;
	assert_int_equal(get32(c->data + 14 + 12), ip_of("10.0.2.2"));  /* from the DHCP server */
	assert_int_equal(get32(bp + 16), ip_of("10.0.2.15"));           /* yiaddr */
	assert_memory_equal(bp + 28, guest_mac, 6);                      /* chaddr */
	assert_int_equal(get32(bp + 236), 0x63825363);                   /* magic cookie */

	opt = dhcp_option(bp + 240, len - 8 - 240, 53, &olen);
	assert_non_null(opt);
	assert_int_equal(olen, 1);
	assert_int_equal(opt[0], 2);                                     /* OFFER */
	opt = dhcp_option(bp + 240, len - 8 - 240, 1, &olen);
	assert_non_null(opt);
	assert_int_equal(get32(opt), ip_of("255.255.255.0"));
	opt = dhcp_option(bp + 240, len - 8 - 240, 3, &olen);
	assert_non_null(opt);
	assert_int_equal(get32(opt), ip_of("10.0.2.2"));                 /* router */
	opt = dhcp_option(bp + 240, len - 8 - 240, 6, &olen);
	assert_non_null(opt);
	assert_int_equal(get32(opt), ip_of("10.0.2.3"));                 /* DNS */
}

/* ---- back-pressure --------------------------------------------------------- */

static void test_no_space_holds_in_order_then_drops_past_the_bound(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[FRAME_MAX];
	unsigned from = 0;
	enum { HELD_MAX = 256, SENT = HELD_MAX + 3 };

	open_backend(f);
	f->cap.full = true;
	/* One reply while the guest has no room: held, not dropped. */
	send_frame(f, frame, arp_request(frame, "10.0.2.2"));
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->cap.refused, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	pthread_mutex_lock(&f->cap.lock);
	assert_int_equal(f->cap.refused, 1);
	assert_int_equal(f->cap.count, 0);
	f->cap.full = false;
	pthread_mutex_unlock(&f->cap.lock);
	assert_int_equal(net_stat_get(&f->be->stats.rx_dropped), 0);
	/* Room again: the held reply arrives. */
	net_backend_rx_resume(f->be);
	wait_for(f, is_arp_reply_from_gateway, NULL, &from);
	wait_stat(&f->be->stats.rx_frames, 1);

	/* Past the bound (256 frames), the rest are dropped and counted. */
	pthread_mutex_lock(&f->cap.lock);
	f->cap.full = true;
	pthread_mutex_unlock(&f->cap.lock);
	for (int i = 0; i < SENT; i++) {
		send_frame(f, frame, arp_request(frame, "10.0.2.2"));
		if (i % 64 == 63)
			usleep(20000);   /* the slirp thread's TX queue is bounded too */
	}
	wait_stat(&f->be->stats.rx_dropped, SENT - HELD_MAX);
	pthread_mutex_lock(&f->cap.lock);
	f->cap.full = false;
	pthread_mutex_unlock(&f->cap.lock);
	net_backend_rx_resume(f->be);
	wait_stat(&f->be->stats.rx_frames, 1 + HELD_MAX);   /* every held frame, none twice */
	pthread_mutex_lock(&f->cap.lock);
	assert_int_equal(f->cap.count, MAX_FRAMES);        /* the capture keeps the first MAX_FRAMES */
	pthread_mutex_unlock(&f->cap.lock);
}

/* Garbage from a hostile guest: slirp survives it and still answers. */
static void test_garbage_frames(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[FRAME_MAX];
	unsigned from = 0;
	size_t n;

	open_backend(f);
	for (size_t len = 1; len < 200; len += 7) {
		for (size_t i = 0; i < len; i++)
			frame[i] = (uint8_t)(i * 37 + len);
		send_frame(f, frame, len);
	}
	/* IPv4 claiming more bytes than the frame has, and a truncated ARP. */
	n = dhcp_discover(frame, 7);
	put16(frame + 14 + 2, 1500);
	send_frame(f, frame, n);
	send_frame(f, frame, arp_request(frame, "10.0.2.2") - 10);
	send_frame(f, frame, arp_request(frame, "10.0.2.2"));
	wait_for(f, is_arp_reply_from_gateway, NULL, &from);
}

/* ---- timers --------------------------------------------------------------------- */

static bool is_router_advert(const struct captured *c, void *arg)
{
	(void)arg;
	/* IPv6, next header ICMPv6, type 134, to all nodes. */
	return eth_type(c) == 0x86dd && c->len >= 14 + 40 + 1 && c->data[14 + 6] == 58 &&
	       c->data[14 + 40] == 134 && c->data[0] == 0x33 && c->data[1] == 0x33;
}

/* libslirp's only SlirpCb timer sends the periodic IPv6 router advert 200-600 s after start. */
static void test_timer_fires_router_advert(void **state)
{
	struct fixture *f = *state;
	unsigned from = 0;

	open_backend(f);
	net_slirp_advance_clock(f->be, 601 * 1000);
	wait_for(f, is_router_advert, NULL, &from);
	/* It re-arms itself: another 600 s brings the next one. */
	net_slirp_advance_clock(f->be, 601 * 1000);
	wait_for(f, is_router_advert, NULL, &from);
}

/* ---- hostfwd ------------------------------------------------------------------- */

/* A TCP port free on 127.0.0.1 right now. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void add_fwd(struct fixture *f, uint16_t host_port, uint16_t guest_port)
{
	f->cfg.hostfwd[f->cfg.nhostfwd++] = (struct net_hostfwd){
		.host_addr = INADDR_LOOPBACK, .host_port = host_port, .guest_port = guest_port,
	};
}

struct syn_match {
	struct fixture *f;
	uint16_t port;
};

/* The SYN toward the guest; answers slirp's ARP questions about the guest on the way. */
static bool is_syn_to_guest(const struct captured *c, void *arg)
{
	struct syn_match *m = arg;
	const uint8_t *tcp;
	uint8_t proto;
	size_t len;

	if (eth_type(c) == 0x0806 && get16(c->data + 14 + 6) == 1 && get32(c->data + 14 + 24) == ip_of("10.0.2.15")) {
		uint8_t reply[64];
		size_t n = arp_reply(reply, c->data + 14 + 8, c->data + 14 + 14);
		/* Called with the capture lock held; send does not take it. */
		net_backend_send(m->f->be, reply, n);
		return false;
	}
	tcp = ipv4_payload(c, &proto, &len);
	return tcp && proto == 6 && len >= 20 && get16(tcp + 2) == m->port && (tcp[13] & 0x12) == 0x02;
}

static void test_hostfwd_connect_sends_syn(void **state)
{
	struct fixture *f = *state;
	uint16_t port = free_port();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };
	struct syn_match m = { .f = f, .port = 22 };
	uint8_t frame[FRAME_MAX];
	unsigned from = 0, i;
	int s;

	add_fwd(f, port, 22);
	open_backend(f);
	/* The guest makes itself known (as a booting guest's ARP for its gateway does). */
	send_frame(f, frame, arp_request(frame, "10.0.2.2"));
	wait_for(f, is_arp_reply_from_gateway, NULL, &from);

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(s >= 0);
	int r = connect(s, (struct sockaddr *)&a, sizeof(a));
	assert_true(r == 0 || errno == EINPROGRESS);
	i = wait_for(f, is_syn_to_guest, &m, &from);
	/* From the gateway (slirp rewrites loopback peers) to the guest's DHCP address. */
	assert_int_equal(get32(f->cap.frames[i].data + 14 + 12), ip_of("10.0.2.2"));
	assert_int_equal(get32(f->cap.frames[i].data + 14 + 16), ip_of("10.0.2.15"));
	assert_memory_equal(f->cap.frames[i].data, guest_mac, 6);
	close(s);
}

static void test_hostfwd_port_taken(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct net_rx_sink sink = { .receive = capture_receive, .ctx = &f->cap };
	socklen_t alen = sizeof(a);
	char port_text[16];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);

	uint16_t good_port = free_port();
	add_fwd(f, good_port, 80);             /* a good rule first: it is undone too */
	add_fwd(f, ntohs(a.sin_port), 22);
	assert_int_equal(net_slirp_open(&f->be, NULL, &f->cfg, &sink, &f->err), -EADDRINUSE);
	assert_null(f->be);
	assert_int_equal(f->err.code, -EADDRINUSE);
	snprintf(port_text, sizeof(port_text), "port %u", ntohs(a.sin_port));
	assert_non_null(strstr(f->err.msg, port_text));
	assert_non_null(strstr(f->err.msg, "hostfwd tcp 127.0.0.1"));
	close(s);

	/* The good rule's port is free again. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(good_port);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s);
}

int main(void)
{
	/*
	 * VMON_TEST_SECCOMP_LEVEL=N (the net_slirp_seccomp run): the slirp thread
	 * installs its filter at that level, as in vmon, and must still do all of
	 * the below (a forbidden call traps: cmocka reports the SIGSYS).
	 */
	const char *level_text = getenv("VMON_TEST_SECCOMP_LEVEL");
	if (level_text) {
		struct vmon_error err = { 0 };
		enum seccomp_level level;
		if (seccomp_parse_level(level_text, &level, &err) || seccomp_setup(level, &err)) {
			fprintf(stderr, "VMON_TEST_SECCOMP_LEVEL: %s\n", err.msg);
			return 1;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_arp_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_only_for_slirp_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_discover_gets_offer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_space_holds_in_order_then_drops_past_the_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_fires_router_advert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_connect_sends_syn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostfwd_port_taken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
