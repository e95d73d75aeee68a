/* SPDX-License-Identifier: MIT */
#ifndef VMON_NET_BACKEND_H
#define VMON_NET_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "base/token_bucket.h"
#include "base/error.h"
#include "base/event_loop.h"


enum net_backend_kind {
	NET_BACKEND_USER,            /* libslirp user-mode networking (no privileges) */
	NET_BACKEND_TAP,             /* a host TAP interface */
};

/* hostfwd=tcp::HOSTPORT-:GUESTPORT (or udp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT) */
struct net_hostfwd {
	bool udp;
	uint32_t host_addr;          /* IPv4, host byte order; 0 = any */
	uint16_t host_port;
	uint32_t guest_addr;         /* 0 = the guest's DHCP address (10.0.2.15) */
	uint16_t guest_port;
};

#define NET_MAX_HOSTFWD 8

/* --net user[,hostfwd=...][,mac=..] | --net tap[=NAME][,mac=..] */
struct net_config {
	enum net_backend_kind backend;
	const char *tap_name;        /* TAP: existing interface; NULL: create one (needs CAP_NET_ADMIN) */
	const char *id;              /* the API's iface_id, NULL from the CLI: how a snapshot load names it */
	uint8_t mac[6];              /* always set after parsing (default 52:54:00:12:34:5N) */
	unsigned nhostfwd;
	struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
	/* Firecracker's rx_rate_limiter / tx_rate_limiter: each frame costs one op and its bytes. */
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

/*
 * A network backend carries Ethernet frames (no virtio header, no FCS)
 * between a virtual NIC and the host: a TAP interface, or libslirp's
 * user-mode stack.
 *
 * Guest -> host: the NIC calls net_backend_send() on the I/O event loop
 * thread. The frame is copied (or written) before it returns.
 *
 * Host -> guest: the backend calls sink->receive() from its own context
 * (TAP: the event loop thread; slirp: the slirp thread). Back-pressure: when
 * the guest has no receive buffers the sink answers NET_RX_NO_SPACE and the
 * frame is NOT taken. The backend then either keeps that one frame and stops
 * reading its source (TAP: the kernel queues or drops, not us), or drops it
 * and counts it (slirp: TCP retransmits), and waits for the sink to call
 * net_backend_rx_resume() when buffers are back.
 */

enum net_rx_status {
	NET_RX_OK,          /* taken: delivered, or dropped for good by the NIC (counted there) */
	NET_RX_NO_SPACE,    /* not taken: no receive buffers; net_backend_rx_resume() follows */
};

struct net_rx_sink {
	enum net_rx_status (*receive)(void *ctx, const void *frame, size_t len);
	void *ctx;
};

/* Updated by the backend, readable from any thread. */
struct net_backend_stats {
	atomic_uint_least64_t tx_frames, tx_bytes;   /* handed to the host side */
	atomic_uint_least64_t tx_dropped;            /* host side refused them (full, error) */
	atomic_uint_least64_t rx_frames, rx_bytes;   /* taken by the sink */
	atomic_uint_least64_t rx_dropped;            /* dropped here for lack of guest buffers */
};

struct net_backend;

struct net_backend_ops {
	const char *name;   /* "tap", "user" */
	/* 0, or a negative errno: the frame was dropped (and counted in tx_dropped). */
	int (*send)(struct net_backend *be, const void *frame, size_t len);
	/* The sink has receive buffers again. Any thread, any lock held: never calls the sink itself. */
	void (*rx_resume)(struct net_backend *be);
	/*
	 * Stops delivery (no sink call once it returns) and frees the backend.
	 * Call it from the event loop thread or once the loop has stopped, and
	 * never with a lock the sink takes.
	 */
	void (*destroy)(struct net_backend *be);
};

/* The part every backend shares; a backend's own struct starts with it. */
struct net_backend {
	const struct net_backend_ops *ops;
	struct net_rx_sink sink;
	struct net_backend_stats stats;
};

/*
 * Opens a backend for cfg; frames for the guest go to *sink (copied).
 * Sources (fds, threads) are set up here, so open before event_loop_start()
 * or on the loop thread.
 */
typedef int (*net_backend_open_fn)(struct net_backend **out, struct event_loop *loop,
				   const struct net_config *cfg, const struct net_rx_sink *sink,
				   struct vmon_error *err);

/*
 * TAP: attaches to cfg->tap_name, or creates "vmon%d" when it is NULL
 * (needs CAP_NET_ADMIN). Plain frames (no IFF_VNET_HDR: vmon offers no
 * offloads). Runs entirely on the event loop thread.
 */
int net_tap_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
		 const struct net_rx_sink *sink, struct vmon_error *err);

/*
 * User-mode networking (libslirp): 10.0.2.0/24, gateway 10.0.2.2, DNS
 * 10.0.2.3, DHCP from 10.0.2.15; IPv6 fec0::/64 (gateway ::2, DNS ::3);
 * cfg->hostfwd rules. libslirp is not thread-safe, so it runs on a thread of
 * its own ("vmon-slirp"); `loop` is unused.
 */
int net_slirp_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
		   const struct net_rx_sink *sink, struct vmon_error *err);

/* For tests: moves the slirp backend's clock `ms` ahead, so its timers (IPv6 router adverts) come due. */
void net_slirp_advance_clock(struct net_backend *be, int64_t ms);

static inline int net_backend_send(struct net_backend *be, const void *frame, size_t len)
{
	return be->ops->send(be, frame, len);
}

static inline void net_backend_rx_resume(struct net_backend *be)
{
	be->ops->rx_resume(be);
}

static inline void net_backend_destroy(struct net_backend *be)
{
	if (be)
		be->ops->destroy(be);
}

/* Backends' shared helpers for the counters. */
static inline void net_stat_add(atomic_uint_least64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline uint64_t net_stat_get(const atomic_uint_least64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

#endif
