/* SPDX-License-Identifier: MIT */
/*
 * virtio_net_flood: virtio-net receive under sustained load. The host
 * (tests/integration/udp_flood.c, reached through slirp at 10.0.2.2:port)
 * sends count= UDP datagrams; the guest checks that each arrives exactly
 * once, in order, intact: frame s carries s, ~s and flood_byte(s, i) in
 * flood_len(s) bytes (16..1472, so about a third of the frames span two of
 * the 1 KiB receive buffers: MRG_RXBUF).
 *
 * Flow control keeps any loss the device's: the guest grants credits ("CRED"
 * + the number of frames it may have been sent in all) for at most WINDOW
 * frames beyond those it has taken, and WINDOW frames of two buffers each
 * leave RX_SPARE of the RX_BUFS buffers for frames nobody asked for (ARP,
 * IPv6 router adverts). A lost frame is then a fault, never congestion.
 *
 * Set-up at CPL 0; the receive loop runs at CPL 3 (user_mode.c), natively
 * even where the host emulates guest ring 0, polling (no interrupts).
 * Cmdline: port=P (required), count=N (default 4096, 1..1000000).
 * Prints "virtio_net_flood: N frames, B bytes in order and intact (...)".
 * Failures: 1 = bad cmdline, 2 = MAC or MRG_RXBUF not offered, 3 = no ARP
 * reply from 10.0.2.2, 4 = a frame missing (a later one came first), 5 = a
 * frame again or out of order (an earlier one came), 6 = a frame corrupted
 * (length, header, payload), 7 = no frame for NET_TIMEOUT_S, 8 = malformed
 * receive (num_buffers, length), 9 = exception at CPL 3; 90..95 library.
 */
#include "net.h"
#include "user_mode.h"

#define RX_BUFS VQ_MAX_SIZE
#define RX_BUF_BYTES 1024u
#define WINDOW 24u                 /* frames in flight: at most 2 buffers each */
#define RX_SPARE (RX_BUFS - 2 * WINDOW)
#define CREDIT_EVERY 8u
#define FRAME_MAX 2048u
#define GUEST_PORT 40000u
#define NET_TIMEOUT_S VIRTIO_TIMEOUT_S

_Static_assert(RX_SPARE >= 8, "room for frames nobody asked for");

static struct virtio_dev dev;
static struct vq rxq, txq;
static uint8_t mac[6], gateway_mac[6];
static uint16_t host_port, ip_id;
static uint32_t count = 4096;
static uint8_t rx_bufs[RX_BUFS][RX_BUF_BYTES] __attribute__((section(".bss.noinit.rx"), aligned(64)));
static uint8_t tx_frame[128] __attribute__((aligned(64)));
static uint8_t frame[FRAME_MAX] __attribute__((section(".bss.noinit.frame"), aligned(64)));
static struct net_rx rx = {
	.q = &rxq, .bufs = rx_bufs[0], .stride = RX_BUF_BYTES, .buf_len = RX_BUF_BYTES, .nbufs = RX_BUFS,
	.frame = frame, .frame_max = FRAME_MAX,
};
static uint32_t merged, others, arp_replies;

/* Keep these two in step with tests/integration/udp_flood.c. */
static uint32_t flood_len(uint32_t s)
{
	return 16 + (s * 389u) % 1457u;
}

static uint8_t flood_byte(uint32_t s, uint32_t i)
{
	return (uint8_t)(s * 131u + i * 7u + (i >> 8));
}

/* ---- queues ------------------------------------------------------------------ */

/* The frame (Ethernet header from us to dst) in tx_frame, payload_len bytes after the header. */
static void send_frame(const uint8_t *dst, uint16_t type, uint32_t payload_len, const char *what)
{
	eth_build(tx_frame, dst, mac, type);
	net_tx_frame(&txq, tx_frame, ETH_HLEN + payload_len, what);
}

/* One frame into `frame`; its length, 0 after NET_TIMEOUT_S without one. */
static uint32_t receive_frame(void)
{
	struct virtio_deadline d;
	uint32_t buffers, len;

	virtio_deadline_start(&d, NET_TIMEOUT_S);
	len = net_rx_frame(&rx, &d, &buffers);
	merged += buffers > 1;
	return len;
}

/* ---- ARP and UDP ------------------------------------------------------------- */

static void send_arp(uint16_t op, const uint8_t *dst_mac, uint32_t dst_ip)
{
	arp_build(tx_frame + ETH_HLEN, op, mac, IP_GUEST, dst_mac, dst_ip);
	send_frame(dst_mac ? dst_mac : eth_broadcast, ETH_P_ARP, ARP_LEN, op == 1 ? "ARP request" : "ARP reply");
}

/* Answers an ARP request for our address; true when the frame was ARP. */
static bool handle_arp(uint32_t len)
{
	const uint8_t *a = frame + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN || get16(frame + 12) != ETH_P_ARP)
		return false;
	if (get16(a + 6) == 1 && get32(a + 24) == IP_GUEST) {
		send_arp(2, a + 8, get32(a + 14));
		arp_replies++;
	}
	return true;
}

static void send_credit(uint32_t upto)
{
	uint8_t *p = ipv4_udp_build(tx_frame + ETH_HLEN, ip_id++, IP_GUEST, IP_GATEWAY, GUEST_PORT, host_port, 8);

	memcpy(p, "CRED", 4);
	put32(p + 4, upto);
	send_frame(gateway_mac, ETH_P_IP, IPV4_UDP_HLEN + 8, "credit");
}

/* The UDP payload of a flood frame in `frame`, or NULL for anything else. */
static const uint8_t *flood_payload(uint32_t len, uint32_t *payload_len)
{
	const uint8_t *ip = frame + ETH_HLEN, *udp;
	uint32_t ihl;

	if (len < ETH_HLEN + 20 || get16(frame + 12) != ETH_P_IP || (ip[0] >> 4) != 4 || ip[9] != 17)
		return NULL;
	ihl = (ip[0] & 0xf) * 4u;
	udp = ip + ihl;
	if (len < ETH_HLEN + ihl + 8 || get32(ip + 12) != IP_GATEWAY || get32(ip + 16) != IP_GUEST ||
	    get16(udp) != host_port || get16(udp + 2) != GUEST_PORT)
		return NULL;
	*payload_len = get16(udp + 4) - 8u;
	if (get16(udp + 4) < 8 || ETH_HLEN + ihl + 8 + *payload_len > len || get16(ip + 2) != ihl + 8 + *payload_len)
		virtio_fail(6, "UDP length %u does not fit the %u-byte frame (IP length %u)", get16(udp + 4), len,
			    get16(ip + 2));
	return udp + 8;
}

static void check_flood_frame(uint32_t want, const uint8_t *p, uint32_t n)
{
	uint32_t s;

	if (n < 8)
		virtio_fail(6, "frame %u: %u-byte payload, shorter than its header", want, n);
	s = get32(p);
	if (get32(p + 4) != ~s)
		virtio_fail(6, "frame %u: header 0x%x 0x%x is not s, ~s (corrupted)", want, s, get32(p + 4));
	if (s > want)
		virtio_fail(4, "frame %u missing: frame %u came next (dropped or reordered)", want, s);
	if (s < want)
		virtio_fail(5, "frame %u came again after frame %u (duplicated or reordered)", s, want - 1);
	if (n != flood_len(s))
		virtio_fail(6, "frame %u: %u bytes, sent %u (corrupted)", s, n, flood_len(s));
	for (uint32_t i = 8; i < n; i++)
		if (p[i] != flood_byte(s, i))
			virtio_fail(6, "frame %u: byte %u is 0x%x, sent 0x%x (corrupted)", s, i, p[i], flood_byte(s, i));
}

/* ---- the loop (CPL 3) ---------------------------------------------------------- */

static void flood_main(void)
{
	uint64_t bytes = 0;
	uint32_t next = 0, granted, len, n;

	send_arp(1, NULL, IP_GATEWAY);
	while ((len = receive_frame())) {
		const uint8_t *a = frame + ETH_HLEN;

		if (handle_arp(len) && get16(a + 6) == 2 && get32(a + 14) == IP_GATEWAY)
			break;
		others++;
	}
	if (!len)
		virtio_fail(3, "no ARP reply from 10.0.2.2 within %u s", NET_TIMEOUT_S);
	memcpy(gateway_mac, frame + ETH_HLEN + 8, 6);

	granted = WINDOW < count ? WINDOW : count;
	send_credit(granted);
	printf("virtio_net_flood: start: %u frames from 10.0.2.2:%u, %u in flight, %u receive buffers of %u bytes\n",
	       count, host_port, WINDOW, RX_BUFS, RX_BUF_BYTES);
	while (next < count) {
		const uint8_t *p;

		if (!(len = receive_frame()))
			virtio_fail(7, "no frame for %u s after %u of %u (granted %u)", NET_TIMEOUT_S, next, count,
				    granted);
		if (handle_arp(len) || !(p = flood_payload(len, &n))) {
			others++;
			continue;
		}
		check_flood_frame(next, p, n);
		next++;
		bytes += n;
		if (granted < count && next + WINDOW - granted >= CREDIT_EVERY) {
			granted = next + WINDOW < count ? next + WINDOW : count;
			send_credit(granted);
		}
	}
	if (virtio_needs_reset(&dev))
		virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_status(&dev));
	printf("virtio_net_flood: %u frames, %lu bytes in order and intact (%u over two buffers; %u other frames, "
	       "%u ARP replies sent)\n", next, bytes, merged, others, arp_replies);
	debug_exit(0);
}

/* ---- set-up (CPL 0) -------------------------------------------------------------- */

void guest_main(const struct boot_info *bi)
{
	uint64_t v;

	virtio_set_guest_name("virtio_net_flood");
	if (!cmdline_get_u64(bi, "port=", &v) || v == 0 || v > 65535)
		virtio_fail(1, "port= (1..65535, the host's UDP port) is required");
	host_port = (uint16_t)v;
	if (cmdline_get(bi, "count=")) {
		if (!cmdline_get_u64(bi, "count=", &v) || v == 0 || v > 1000000)
			virtio_fail(1, "count= must be 1..1000000");
		count = (uint32_t)v;
	}
	virtio_find(bi, VIRTIO_ID_NET, 0, &dev);
	virtio_negotiate(&dev, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_MRG_RXBUF));
	if (!virtio_has_feature(&dev, VIRTIO_NET_F_MAC) || !virtio_has_feature(&dev, VIRTIO_NET_F_MRG_RXBUF))
		virtio_fail(2, "MAC and MRG_RXBUF wanted, offered features 0x%lx", dev.offered);
	net_read_mac(&dev, mac);
	virtq_setup(&rxq, &dev, 0, RX_BUFS);
	virtq_setup(&txq, &dev, 1, 16);
	if (rxq.size < RX_BUFS)
		virtio_fail(2, "receive queue of %u entries, %u wanted", rxq.size, RX_BUFS);
	rxq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;   /* polled */
	txq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	for (unsigned int i = 0; i < RX_BUFS; i++)
		net_rx_post(&rx, i);
	virtio_driver_ok(&dev);
	vq_kick(&rxq);
	user_mode_enter(flood_main, 9);
}
