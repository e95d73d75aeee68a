/* SPDX-License-Identifier: MIT */
#include "net.h"

#define NET_EXIT_BAD_RECEIVE 8   /* the guests' own code for a malformed receive */

const uint8_t eth_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* No offloads: the same all-zero header before every frame sent. */
static struct virtio_net_hdr_v1 tx_hdr;

uint16_t ip_checksum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint8_t *eth_build(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return f + ETH_HLEN;
}

void arp_build(uint8_t *a, uint16_t op, const uint8_t *sender_mac, uint32_t sender_ip, const uint8_t *target_mac,
	       uint32_t target_ip)
{
	put16(a, 1);            /* Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sender_mac, 6);
	put32(a + 14, sender_ip);
	if (target_mac)
		memcpy(a + 18, target_mac, 6);
	else
		memset(a + 18, 0, 6);
	put32(a + 24, target_ip);
}

uint8_t *ipv4_udp_build(uint8_t *ip, uint16_t id, uint32_t src, uint32_t dst, uint16_t src_port, uint16_t dst_port,
			uint32_t payload_len)
{
	uint8_t *udp = ip + 20;

	memset(ip, 0, IPV4_UDP_HLEN);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IPV4_UDP_HLEN + payload_len));
	put16(ip + 4, id);
	ip[8] = 64;             /* TTL */
	ip[9] = 17;             /* UDP */
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, src_port);
	put16(udp + 2, dst_port);
	put16(udp + 4, (uint16_t)(8 + payload_len));
	return udp + 8;
}

void net_read_mac(const struct virtio_dev *dev, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++)
		mac[i] = virtio_cfg8(dev, offsetof(struct virtio_net_config, mac) + (uint32_t)i);
}

void net_rx_post(struct net_rx *rx, unsigned int buf)
{
	struct vq_seg seg = { rx->bufs + buf * rx->stride, rx->buf_len, true };

	rx->buf_of_head[vq_add(rx->q, &seg, 1)] = (uint8_t)buf;
}

uint32_t net_rx_frame(struct net_rx *rx, struct virtio_deadline *d, uint32_t *buffers)
{
	uint32_t total = 0, want = 1, len;
	uint16_t head;

	*buffers = 0;
	while (*buffers < want) {
		if (!vq_get_used(rx->q, &head, &len)) {
			if (virtio_deadline_expired(d)) {
				if (*buffers)
					virtio_fail(NET_EXIT_BAD_RECEIVE, "frame announced %u buffers, only %u arrived",
						    want, *buffers);
				return 0;
			}
			continue;
		}
		const uint8_t *buf = rx->bufs + rx->buf_of_head[head] * rx->stride;
		uint32_t skip = 0;

		if (*buffers == 0) {
			const struct virtio_net_hdr_v1 *h = (const void *)buf;

			if (len < sizeof(*h))
				virtio_fail(NET_EXIT_BAD_RECEIVE, "receive buffer with %u bytes, less than the %u-byte header",
					    len, (uint32_t)sizeof(*h));
			want = h->num_buffers;
			if (want == 0 || want > rx->nbufs)
				virtio_fail(NET_EXIT_BAD_RECEIVE, "num_buffers %u (1..%u buffers posted)", want, rx->nbufs);
			skip = sizeof(*h);
		}
		if (total + len - skip > rx->frame_max)
			virtio_fail(NET_EXIT_BAD_RECEIVE, "frame longer than %u bytes", rx->frame_max);
		memcpy(rx->frame + total, buf + skip, len - skip);
		total += len - skip;
		(*buffers)++;
		net_rx_post(rx, rx->buf_of_head[head]);
	}
	vq_kick(rx->q);
	return total;
}

void net_tx_frame(struct vq *txq, uint8_t *f, uint32_t len, const char *what)
{
	struct vq_seg segs[2] = {
		{ &tx_hdr, sizeof(tx_hdr), false },
		{ f, len < ETH_MIN_FRAME ? ETH_MIN_FRAME : len, false },
	};

	if (len < ETH_MIN_FRAME)
		memset(f + len, 0, ETH_MIN_FRAME - len);
	vq_submit_wait(txq, segs, 2, what);
}
