/* SPDX-License-Identifier: MIT */
/*
 * TAP backend: frames go to and come from a host TAP interface through
 * /dev/net/tun. Everything runs on the event loop thread: reading the fd,
 * delivering to the sink, writing guest frames. rx_resume may come from any
 * thread, so it only signals an eventfd the loop watches.
 *
 * Back-pressure: when the sink has no room, the frame just read is kept
 * (one, `pending`) and the fd is no longer watched; the kernel queues the
 * rest (and drops past its txqueuelen, as a real NIC's link would).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/backend.h"
#include "base/log.h"

#define TAP_FRAME_MAX 65536u     /* a TAP read never returns more than the interface's MTU + header */
#define TAP_READS_PER_WAKEUP 64  /* then let other loop sources run; epoll is level-triggered */

struct tap_backend {
	struct net_backend be;       /* first: the ops' struct net_backend * is this */
	struct event_loop *loop;
	int fd;                      /* /dev/net/tun, attached, nonblocking */
	int resume_fd;               /* eventfd: rx_resume from any thread */
	char ifname[IFNAMSIZ];
	bool paused;                 /* fd not watched: waiting for rx_resume */
	bool gone;                   /* the interface went away: fd off the loop for good */
	size_t pending_len;          /* a frame read but not taken by the sink (0: none) */
	bool read_error_logged, write_error_logged;
	uint8_t buf[TAP_FRAME_MAX];
};

static struct tap_backend *to_tap(struct net_backend *be)
{
	return (struct tap_backend *)be;
}

static int tap_send(struct net_backend *be, const void *frame, size_t len)
{
	struct tap_backend *tap = to_tap(be);
	ssize_t n = write(tap->fd, frame, len);
	int e = errno;

	if (n == (ssize_t)len) {
		net_stat_add(&be->stats.tx_frames, 1);
		net_stat_add(&be->stats.tx_bytes, len);
		return 0;
	}
	net_stat_add(&be->stats.tx_dropped, 1);
	if (n >= 0)
		return -EIO;
	/* EAGAIN: the interface's queue is full, a dropped frame as on a real link. */
	if (e != EAGAIN && !tap->write_error_logged) {
		tap->write_error_logged = true;
		log_warn("TAP %s: write: %s%s (frames are dropped)", tap->ifname, strerror(e),
			 e == EIO ? ", is the interface up?" : "");
	}
	return -e;
}

static void tap_set_paused(struct tap_backend *tap, bool paused)
{
	if (tap->paused == paused)
		return;
	tap->paused = paused;
	event_loop_modify(tap->loop, tap->fd, paused ? 0 : EPOLLIN);
}

/* Gives the held frame to the sink; true when it was taken (or there was none). */
static bool tap_deliver_pending(struct tap_backend *tap)
{
	struct net_backend *be = &tap->be;

	if (!tap->pending_len)
		return true;
	if (be->sink.receive(be->sink.ctx, tap->buf, tap->pending_len) == NET_RX_NO_SPACE)
		return false;
	net_stat_add(&be->stats.rx_frames, 1);
	net_stat_add(&be->stats.rx_bytes, tap->pending_len);
	tap->pending_len = 0;
	return true;
}

static void tap_readable(void *ctx, uint32_t events)
{
	struct tap_backend *tap = ctx;

	/* The interface went away (deleted under us): reported even while paused, so stop watching for good. */
	if (events & (EPOLLERR | EPOLLHUP)) {
		log_error("TAP %s: the interface is gone; receiving stopped", tap->ifname);
		event_loop_remove(tap->loop, tap->fd);
		tap->paused = tap->gone = true;
		return;
	}
	for (int i = 0; i < TAP_READS_PER_WAKEUP && !tap->paused; i++) {
		ssize_t n = read(tap->fd, tap->buf, sizeof(tap->buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* Unexpected (interface gone?): stop watching rather than spin on it. */
			log_error("TAP %s: read: %s; receiving stopped", tap->ifname, strerror(errno));
			tap_set_paused(tap, true);
			return;
		}
		if (n == 0)
			continue;
		tap->pending_len = (size_t)n;
		if (!tap_deliver_pending(tap))
			tap_set_paused(tap, true);
	}
}

static void tap_resume_signalled(void *ctx, uint32_t events)
{
	struct tap_backend *tap = ctx;
	uint64_t count;
	(void)events;

	if (read(tap->resume_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("TAP %s: resume eventfd: %s", tap->ifname, strerror(errno));
	if (tap->paused && !tap->gone && tap_deliver_pending(tap))
		tap_set_paused(tap, false);
}

static void tap_rx_resume(struct net_backend *be)
{
	struct tap_backend *tap = to_tap(be);
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
	if (write(tap->resume_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("TAP %s: resume eventfd: %s", tap->ifname, strerror(errno));
}

static void tap_destroy(struct net_backend *be)
{
	struct tap_backend *tap = to_tap(be);

	if (tap->fd >= 0) {
		event_loop_remove(tap->loop, tap->fd);
		close(tap->fd);
	}
	if (tap->resume_fd >= 0) {
		event_loop_remove(tap->loop, tap->resume_fd);
		close(tap->resume_fd);
	}
	free(tap);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.send = tap_send,
	.rx_resume = tap_rx_resume,
	.destroy = tap_destroy,
};

static int tap_attach(struct tap_backend *tap, const char *name, struct vmon_error *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	const char *shown = name ? name : "vmon%d";

	if (strlen(shown) >= IFNAMSIZ)
		return error_set(err, -EINVAL, "TAP interface name \"%s\" is longer than %d characters", shown,
				 IFNAMSIZ - 1);
	strcpy(ifr.ifr_name, shown);
	tap->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tap->fd < 0) {
		int e = errno;
		return error_set(err, -e, "TAP: /dev/net/tun: %s%s", strerror(e),
				 e == ENOENT ? " (is the tun module loaded?)" : "");
	}
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		if (e == EPERM && !name)
			return error_set(err, -e, "TAP: creating an interface needs CAP_NET_ADMIN; create one for "
					 "your user (ip tuntap add NAME mode tap user $USER) and use --net tap=NAME");
		if (e == EPERM)
			return error_set(err, -e, "TAP %s: not permitted (the interface must belong to your user "
					 "or group, or vmon needs CAP_NET_ADMIN)", name);
		if (e == EBUSY)
			return error_set(err, -e, "TAP %s: busy (another process has it open)", shown);
		if (e == EINVAL)
			return error_set(err, -e, "TAP %s: not a TAP interface (a TUN one, or another kind?)", shown);
		return error_set(err, -e, "TAP %s: TUNSETIFF: %s", shown, strerror(e));
	}
	memcpy(tap->ifname, ifr.ifr_name, IFNAMSIZ);
	tap->ifname[IFNAMSIZ - 1] = '\0';
	return 0;
}

int net_tap_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
		 const struct net_rx_sink *sink, struct vmon_error *err)
{
	struct tap_backend *tap = calloc(1, sizeof(*tap));
	int r;

	*out = NULL;
	if (!tap)
		return error_set(err, -ENOMEM, "TAP: out of memory");
	tap->be.ops = &tap_ops;
	tap->be.sink = *sink;
	tap->loop = loop;
	tap->fd = -1;
	tap->resume_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tap->resume_fd < 0) {
		r = error_set(err, -errno, "TAP: eventfd: %s", strerror(errno));
		goto fail;
	}
	r = tap_attach(tap, cfg->tap_name, err);
	if (r)
		goto fail;
	/* On failure tap_destroy's event_loop_remove of an fd never added is a no-op. */
	r = event_loop_add(loop, tap->resume_fd, EPOLLIN, tap_resume_signalled, tap, err);
	if (!r)
		r = event_loop_add(loop, tap->fd, EPOLLIN, tap_readable, tap, err);
	if (r)
		goto fail;
	log_info("TAP interface %s attached", tap->ifname);
	*out = &tap->be;
	return 0;
fail:
	tap_destroy(&tap->be);
	return r;
}
