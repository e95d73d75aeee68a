/* SPDX-License-Identifier: MIT */
#ifndef GUEST_NET_H
#define GUEST_NET_H

/*
 * What the virtio-net guests share: network byte order, building Ethernet,
 * ARP and IPv4/UDP headers, slirp's fixed addresses, and the virtio-net
 * queues (receive buffers merged with MRG_RXBUF, sends waited for). Usable at
 * CPL 0 and at CPL 3 (user_mode.h).
 */

#include <linux/if_ether.h>
#include <linux/virtio_net.h>

#include "virtio.h"

#define IP_GUEST 0x0a00020fu    /* 10.0.2.15: slirp's guest */
#define IP_GATEWAY 0x0a000202u  /* 10.0.2.2: slirp's gateway, the host */
#define ETH_MIN_FRAME 60u       /* Ethernet minimum, FCS aside */
#define ARP_LEN 28u             /* Ethernet/IPv4 ARP packet */
#define IPV4_UDP_HLEN 28u       /* IPv4 header without options + UDP header */

/* ---- network byte order --------------------------------------------------- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* ---- headers ------------------------------------------------------------------ */

/* The Internet checksum (RFC 1071) of len bytes (even) at p. */
uint16_t ip_checksum(const uint8_t *p, uint32_t len);

extern const uint8_t eth_broadcast[6];

/* The Ethernet header at f; returns what follows it. */
uint8_t *eth_build(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type);

/* An Ethernet/IPv4 ARP packet (ARP_LEN bytes) at a; target_mac NULL: zeros (a request). */
void arp_build(uint8_t *a, uint16_t op, const uint8_t *sender_mac, uint32_t sender_ip, const uint8_t *target_mac,
	       uint32_t target_ip);

/*
 * IPv4 (no options, TTL 64, checksummed) and UDP (checksum 0: none, RFC 768)
 * headers at ip for payload_len bytes of UDP payload; returns the payload.
 */
uint8_t *ipv4_udp_build(uint8_t *ip, uint16_t id, uint32_t src, uint32_t dst, uint16_t src_port, uint16_t dst_port,
			uint32_t payload_len);

/* ---- the device ----------------------------------------------------------------- */

/* The MAC address from the config space (VIRTIO_NET_F_MAC negotiated). */
void net_read_mac(const struct virtio_dev *dev, uint8_t mac[6]);

/*
 * Receive side: nbufs buffers of stride bytes at bufs, each posted with
 * buf_len device-writable bytes, and the frame they are gathered into.
 */
struct net_rx {
	struct vq *q;
	uint8_t *bufs;
	uint32_t stride, buf_len, nbufs;
	uint8_t *frame;
	uint32_t frame_max;
	uint8_t buf_of_head[VQ_MAX_SIZE];
};

/* Posts buffer buf (no kick). */
void net_rx_post(struct net_rx *rx, unsigned int buf);

/*
 * One received frame (without the virtio header) into rx->frame, gathered
 * from the header's num_buffers used buffers, which are posted again.
 * Returns its length, 0 when d expired first; *buffers: how many it took.
 * Fails the guest with code 8 on a malformed receive.
 */
uint32_t net_rx_frame(struct net_rx *rx, struct virtio_deadline *d, uint32_t *buffers);

/* Sends the Ethernet frame at f (len bytes, zero-padded to ETH_MIN_FRAME in place) and waits for it. */
void net_tx_frame(struct vq *txq, uint8_t *f, uint32_t len, const char *what);

#endif
