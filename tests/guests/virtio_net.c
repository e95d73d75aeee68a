/* SPDX-License-Identifier: MIT */
/*
 * virtio_net: the first virtio-net device on user-mode networking (slirp:
 * guest 10.0.2.15, gateway 10.0.2.2 with a DHCP server).
 *  - negotiates MAC, STATUS and MRG_RXBUF (header: struct virtio_net_hdr_v1,
 *    12 bytes), reads the MAC and the link status;
 *  - posts small receive buffers (rxbuf=N bytes, default 256), so that
 *    larger frames arrive merged over several buffers (num_buffers > 1);
 *  - sends an ARP request for 10.0.2.2 from 10.0.2.15 and waits for the
 *    reply; prints the gateway's MAC;
 *  - sends a DHCPDISCOVER and waits for the DHCPOFFER (a 590-byte frame: it
 *    spans buffers), which must offer 10.0.2.15.
 * Cmdline: mac=52:54:00:.. (expected MAC, optional), rxbuf=N (64..2048),
 * dhcp=0 (skip DHCP).
 * Failures: 1 = MAC or MRG_RXBUF not offered, 2 = link down, 3 = MAC differs,
 * 4 = no ARP reply, 5 = ARP reply malformed, 6 = no DHCP offer, 7 = offer for
 * another address, 8 = malformed receive (num_buffers, length), 13 = bad
 * cmdline. Library failures: 90..95 (virtio.h).
 */
#include "net.h"

#define RX_BUFFERS 16u
#define RX_BUF_MAX 2048u
#define FRAME_MAX 2048u
#define BOOTP_SIZE 548u         /* RFC 951 header + 312 bytes of options (RFC 2131 minimum) */
#define DHCP_XID 0x766d6f6eu    /* "vmon" */
#define NET_TIMEOUT_S VIRTIO_TIMEOUT_S

static struct virtio_dev dev;
static struct vq rxq, txq;
static uint8_t mac[6];
static uint8_t rx_bufs[RX_BUFFERS][RX_BUF_MAX] __attribute__((section(".bss.noinit.rx"), aligned(64)));
static uint8_t tx_frame[FRAME_MAX] __attribute__((section(".bss.noinit.tx"), aligned(64)));
static uint8_t frame[FRAME_MAX] __attribute__((section(".bss.noinit.frame"), aligned(64)));
static struct net_rx rx = {
	.q = &rxq, .bufs = rx_bufs[0], .stride = RX_BUF_MAX, .buf_len = 256, .nbufs = RX_BUFFERS,
	.frame = frame, .frame_max = FRAME_MAX,
};
static uint32_t merged_max;   /* most buffers one frame used */

/* ---- printing ------------------------------------------------------------ */

static void print_ip(uint32_t ip)
{
	printf("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

static void print_mac(const uint8_t *m)
{
	printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* ---- queues ------------------------------------------------------------ */

/* One received frame into `frame`; its length, 0 on timeout. */
static uint32_t receive_frame(struct virtio_deadline *d)
{
	uint32_t buffers, len = net_rx_frame(&rx, d, &buffers);

	if (buffers > merged_max)
		merged_max = buffers;
	return len;
}

/* ---- ARP ---------------------------------------------------------------- */

static void send_arp_request(void)
{
	arp_build(eth_build(tx_frame, eth_broadcast, mac, ETH_P_ARP), 1, mac, IP_GUEST, NULL, IP_GATEWAY);
	net_tx_frame(&txq, tx_frame, ETH_HLEN + ARP_LEN, "ARP request");
	printf("virtio_net: ARP who-has 10.0.2.2 tell 10.0.2.15 sent\n");
}

static void wait_arp_reply(void)
{
	struct virtio_deadline d;
	uint32_t len;

	virtio_deadline_start(&d, NET_TIMEOUT_S);
	while ((len = receive_frame(&d))) {
		const uint8_t *a = frame + ETH_HLEN;

		if (len < ETH_HLEN + ARP_LEN || get16(frame + 12) != ETH_P_ARP || get16(a + 6) != 2)
			continue;
		if (get32(a + 14) != IP_GATEWAY || get32(a + 24) != IP_GUEST || memcmp(a + 18, mac, 6) ||
		    memcmp(frame, mac, 6))
			virtio_fail(5, "ARP reply not from 10.0.2.2 to us (sender ip 0x%x, target ip 0x%x)",
				    get32(a + 14), get32(a + 24));
		printf("virtio_net: 10.0.2.2 is at ");
		print_mac(a + 8);
		printf("\n");
		return;
	}
	virtio_fail(4, "no ARP reply from 10.0.2.2 within %u s", NET_TIMEOUT_S);
}

/* ---- DHCP --------------------------------------------------------------- */

static void send_dhcp_discover(void)
{
	uint8_t *ip = eth_build(tx_frame, eth_broadcast, mac, ETH_P_IP);
	uint8_t *bootp = ipv4_udp_build(ip, 0, 0, 0xffffffffu, 68, 67, BOOTP_SIZE), *opt = bootp + 236;

	memset(bootp, 0, BOOTP_SIZE);
	bootp[0] = 1;           /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	put32(bootp + 4, DHCP_XID);
	memcpy(bootp + 28, mac, 6);
	put32(opt, 0x63825363u);   /* magic cookie */
	opt[4] = 53;            /* DHCP message type */
	opt[5] = 1;
	opt[6] = 1;             /* DHCPDISCOVER */
	opt[7] = 255;
	net_tx_frame(&txq, tx_frame, ETH_HLEN + IPV4_UDP_HLEN + BOOTP_SIZE, "DHCPDISCOVER");
	printf("virtio_net: DHCPDISCOVER sent (%u-byte frame)\n", ETH_HLEN + IPV4_UDP_HLEN + BOOTP_SIZE);
}

static void wait_dhcp_offer(void)
{
	struct virtio_deadline d;
	uint32_t len;

	virtio_deadline_start(&d, NET_TIMEOUT_S);
	while ((len = receive_frame(&d))) {
		const uint8_t *ip = frame + ETH_HLEN;
		uint32_t ihl = (ip[0] & 0xf) * 4u;
		const uint8_t *udp = ip + ihl, *bootp = udp + 8;

		if (len < ETH_HLEN + 20 || get16(frame + 12) != ETH_P_IP || ip[9] != 17 ||
		    len < ETH_HLEN + ihl + 8 + 240 || get16(udp) != 67 || get16(udp + 2) != 68 || bootp[0] != 2 ||
		    get32(bootp + 4) != DHCP_XID)
			continue;
		printf("virtio_net: DHCP offer ");
		print_ip(get32(bootp + 16));
		printf(" from ");
		print_ip(get32(ip + 12));
		printf(" (%u-byte frame)\n", len);
		if (get32(bootp + 16) != IP_GUEST)
			virtio_fail(7, "DHCP offered 0x%x, expected 10.0.2.15", get32(bootp + 16));
		return;
	}
	virtio_fail(6, "no DHCP offer within %u s", NET_TIMEOUT_S);
}

/* ---- set-up --------------------------------------------------------------- */

static void check_mac(const struct boot_info *bi)
{
	const char *want = cmdline_get(bi, "mac=");

	net_read_mac(&dev, mac);
	printf("virtio_net: mac ");
	print_mac(mac);
	if (virtio_has_feature(&dev, VIRTIO_NET_F_STATUS)) {
		uint16_t st = virtio_cfg16(&dev, offsetof(struct virtio_net_config, status));

		printf(", link %s", st & VIRTIO_NET_S_LINK_UP ? "up" : "down");
		if (!(st & VIRTIO_NET_S_LINK_UP)) {
			printf("\n");
			virtio_fail(2, "link down (status 0x%x)", st);
		}
	}
	printf("\n");
	if (!want)
		return;
	for (int i = 0; i < 6; i++) {
		uint64_t byte = 0;

		for (int k = 0; k < 2; k++) {
			char c = want[i * 3 + k];
			unsigned int v = c >= '0' && c <= '9' ? (unsigned int)(c - '0') :
					 c >= 'a' && c <= 'f' ? (unsigned int)(c - 'a' + 10) :
					 c >= 'A' && c <= 'F' ? (unsigned int)(c - 'A' + 10) : 16;

			if (v == 16 || (i < 5 && want[i * 3 + 2] != ':'))
				virtio_fail(13, "bad mac= value");
			byte = byte * 16 + v;
		}
		if (mac[i] != byte)
			virtio_fail(3, "MAC byte %d is 0x%x, mac= says 0x%lx", i, mac[i], byte);
	}
}

void guest_main(const struct boot_info *bi)
{
	uint64_t v;
	bool dhcp = true;

	virtio_set_guest_name("virtio_net");
	if (cmdline_get(bi, "rxbuf=")) {
		if (!cmdline_get_u64(bi, "rxbuf=", &v) || v < 64 || v > RX_BUF_MAX)
			virtio_fail(13, "rxbuf= must be 64..%u", RX_BUF_MAX);
		rx.buf_len = (uint32_t)v;
	}
	if (cmdline_get(bi, "dhcp=")) {
		if (!cmdline_get_u64(bi, "dhcp=", &v))
			virtio_fail(13, "bad dhcp= value");
		dhcp = v != 0;
	}
	virtio_find(bi, VIRTIO_ID_NET, 0, &dev);
	virtio_negotiate(&dev, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
				       (1ull << VIRTIO_NET_F_MRG_RXBUF));
	if (!virtio_has_feature(&dev, VIRTIO_NET_F_MAC) || !virtio_has_feature(&dev, VIRTIO_NET_F_MRG_RXBUF))
		virtio_fail(1, "MAC and MRG_RXBUF wanted, offered features 0x%lx", dev.offered);
	check_mac(bi);
	virtq_setup(&rxq, &dev, 0, 32);
	virtq_setup(&txq, &dev, 1, 16);
	for (unsigned int i = 0; i < RX_BUFFERS && i < rxq.size; i++)
		net_rx_post(&rx, i);
	virtio_driver_ok(&dev);
	vq_kick(&rxq);
	printf("virtio_net: %u receive buffers of %u bytes posted\n", RX_BUFFERS < rxq.size ? RX_BUFFERS : rxq.size,
	       rx.buf_len);

	send_arp_request();
	wait_arp_reply();
	if (dhcp) {
		send_dhcp_discover();
		wait_dhcp_offer();
		printf("virtio_net: largest frame took %u receive buffer%s\n", merged_max, merged_max == 1 ? "" : "s");
	}
	if (virtio_needs_reset(&dev))
		virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_status(&dev));
	printf("virtio_net: all checks passed\n");
	debug_exit(0);
}
