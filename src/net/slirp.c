/* SPDX-License-Identifier: MIT */
/*
 * User-mode networking with libslirp.
 *
 * Threading: libslirp is not thread-safe, so one thread ("vmon-slirp") owns
 * the Slirp instance and is the only one that calls into it after setup. It
 * sleeps in poll() on slirp's sockets plus a wake eventfd, with the timeout
 * slirp asks for and the nearest of its timers (SlirpCb timers are kept here
 * and fired on this thread). Guest frames from the event loop thread are
 * queued (bounded) and the thread woken; it feeds them to slirp_input().
 * Frames slirp sends to the guest go to the sink from this thread; when the
 * guest has no receive buffers (or the device is paused) they are held in a
 * bounded queue, in order, and delivered once the device says it has room
 * again (rx_resume); past the bound they are dropped and counted, as on a
 * congested link (TCP retransmits).
 * A dedicated thread rather than the event loop: slirp's socket set changes
 * on every fill/poll round, which poll() takes as is and epoll would not.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/backend.h"
#include "net/slirp_lib.h"
#include "base/log.h"
#include "base/thread.h"

#define SLIRP_TXQ_MAX_FRAMES 256      /* guest frames waiting for the slirp thread */
#define SLIRP_TXQ_MAX_BYTES (4u << 20)
#define SLIRP_RXQ_MAX_FRAMES 256      /* frames for the guest held while it has no room */
#define SLIRP_RXQ_MAX_BYTES (1u << 20)
#define SLIRP_NET "10.0.2.0"
#define SLIRP_MASK "255.255.255.0"
#define SLIRP_HOST "10.0.2.2"
#define SLIRP_DNS "10.0.2.3"
#define SLIRP_DHCP_START "10.0.2.15"

struct slirp_frame {
	struct slirp_frame *next;
	size_t len;
	uint8_t data[];
};

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerId id;           /* timer_new_opaque timers: fired through slirp_handle_timer */
	SlirpTimerCb cb;           /* timer_new timers: called directly */
	void *cb_opaque;
	int64_t expire_ms;         /* -1: not armed */
};

struct slirp_backend {
	struct net_backend be;     /* first: the ops' struct net_backend * is this */
	const struct slirp_lib *lib;
	Slirp *slirp;
	int wake_fd;               /* eventfd: new TX frames, notify, stop */
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;
	atomic_int_least64_t clock_skew_ns;   /* net_slirp_advance_clock() */
	atomic_bool rx_room;       /* rx_resume() said the guest may have room: retry the held frames */

	pthread_mutex_t txq_lock;  /* the queue below, between the loop thread and the slirp thread */
	struct slirp_frame *txq_head, **txq_tail;
	unsigned txq_frames;
	size_t txq_bytes;

	/* Slirp thread only (or setup / teardown while it is not running). */
	struct pollfd *pfds;
	unsigned npfds, pfds_cap;
	struct slirp_timer *timers;
	bool guest_error_logged;
	struct slirp_frame *rxq_head, **rxq_tail;   /* held frames for the guest, oldest first */
	unsigned rxq_frames;
	size_t rxq_bytes;
};

static struct slirp_backend *to_sb(struct net_backend *be)
{
	return (struct slirp_backend *)be;
}

static void wake(struct slirp_backend *sb)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, the thread is due to wake anyway. */
	if (write(sb->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("slirp: wake eventfd: %s", strerror(errno));
}

/* ---- SlirpCb: called by libslirp on the slirp thread ------------------- */

/* Hands held frames to the guest, oldest first, until it has no room. Slirp thread. */
static void deliver_held(struct slirp_backend *sb)
{
	struct net_backend *be = &sb->be;

	while (sb->rxq_head) {
		struct slirp_frame *f = sb->rxq_head;

		if (be->sink.receive(be->sink.ctx, f->data, f->len) == NET_RX_NO_SPACE)
			return;
		net_stat_add(&be->stats.rx_frames, 1);
		net_stat_add(&be->stats.rx_bytes, f->len);
		sb->rxq_head = f->next;
		if (!sb->rxq_head)
			sb->rxq_tail = &sb->rxq_head;
		sb->rxq_frames--;
		sb->rxq_bytes -= f->len;
		free(f);
	}
}

/* Keeps a frame the guest has no room for; false when the queue is full (or memory is). */
static bool hold(struct slirp_backend *sb, const void *buf, size_t len)
{
	struct slirp_frame *f;

	if (sb->rxq_frames >= SLIRP_RXQ_MAX_FRAMES || sb->rxq_bytes + len > SLIRP_RXQ_MAX_BYTES ||
	    !(f = malloc(sizeof(*f) + len)))
		return false;
	f->next = NULL;
	f->len = len;
	memcpy(f->data, buf, len);
	*sb->rxq_tail = f;
	sb->rxq_tail = &f->next;
	sb->rxq_frames++;
	sb->rxq_bytes += len;
	return true;
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_backend *sb = opaque;
	struct net_backend *be = &sb->be;

	/* Held frames go first: the guest sees frames in the order slirp sent them. */
	deliver_held(sb);
	if (sb->rxq_head || be->sink.receive(be->sink.ctx, buf, len) == NET_RX_NO_SPACE) {
		if (!hold(sb, buf, len))
			net_stat_add(&be->stats.rx_dropped, 1);
	} else {
		net_stat_add(&be->stats.rx_frames, 1);
		net_stat_add(&be->stats.rx_bytes, len);
	}
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_backend *sb = opaque;

	if (!sb->guest_error_logged)
		log_warn("slirp: guest error: %s (further ones at debug level)", msg);
	else
		log_debug("slirp: guest error: %s", msg);
	sb->guest_error_logged = true;
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct slirp_backend *sb = opaque;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + atomic_load(&sb->clock_skew_ns);
}

static struct slirp_timer *add_timer(struct slirp_backend *sb, SlirpTimerId id, SlirpTimerCb cb, void *cb_opaque)
{
	struct slirp_timer *t = calloc(1, sizeof(*t));

	/* libslirp has no way to hear of a failure here; it would crash on NULL later. */
	if (!t)
		abort();
	*t = (struct slirp_timer){ .next = sb->timers, .id = id, .cb = cb, .cb_opaque = cb_opaque, .expire_ms = -1 };
	sb->timers = t;
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	return add_timer(opaque, SLIRP_TIMER_NUM, cb, cb_opaque);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	return add_timer(opaque, id, NULL, cb_opaque);
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_backend *sb = opaque;

	for (struct slirp_timer **p = &sb->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct slirp_timer *)timer)->expire_ms = expire_ms < 0 ? 0 : expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd, (void)opaque;   /* every round's slirp_pollfds_fill lists the fds anyway */
}

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static void cb_init_completed(Slirp *slirp, void *opaque)
{
	(void)slirp, (void)opaque;
}

static const SlirpCb slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_register_poll_fd,
	.notify = cb_notify,
	.init_completed = cb_init_completed,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the slirp thread ---------------------------------------------------- */

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct slirp_backend *sb = opaque;
	short ev = 0;

	if (sb->npfds == sb->pfds_cap) {
		unsigned cap = sb->pfds_cap ? sb->pfds_cap * 2 : 16;
		struct pollfd *p = realloc(sb->pfds, cap * sizeof(*p));
		if (!p)
			return -1;        /* slirp skips the fd this round */
		sb->pfds = p;
		sb->pfds_cap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	sb->pfds[sb->npfds] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)sb->npfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_backend *sb = opaque;
	short rev;
	int events = 0;

	if (idx < 0 || (unsigned)idx >= sb->npfds)
		return 0;
	rev = sb->pfds[idx].revents;
	if (rev & POLLIN)
		events |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		events |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		events |= SLIRP_POLL_PRI;
	if (rev & (POLLERR | POLLNVAL))
		events |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

static int64_t now_ms(struct slirp_backend *sb)
{
	return cb_clock_get_ns(sb) / 1000000;
}

/* Lowers *timeout_ms to the nearest armed timer. */
static void clamp_to_timers(struct slirp_backend *sb, uint32_t *timeout_ms)
{
	int64_t now = now_ms(sb);

	for (struct slirp_timer *t = sb->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		int64_t left = t->expire_ms > now ? t->expire_ms - now : 0;
		if (left < *timeout_ms)
			*timeout_ms = (uint32_t)left;
	}
}

static struct slirp_timer *due_timer(struct slirp_backend *sb, int64_t now)
{
	for (struct slirp_timer *t = sb->timers; t; t = t->next)
		if (t->expire_ms >= 0 && t->expire_ms <= now)
			return t;
	return NULL;
}

static void fire_timers(struct slirp_backend *sb)
{
	int64_t now = now_ms(sb);
	unsigned budget = 0;
	struct slirp_timer *t;

	for (t = sb->timers; t; t = t->next)
		budget++;
	/* A handler may re-arm or free timers: rescan after each, at most one firing per timer. */
	while (budget-- && (t = due_timer(sb, now))) {
		t->expire_ms = -1;
		if (t->cb)
			t->cb(t->cb_opaque);
		else
			sb->lib->handle_timer(sb->slirp, t->id, t->cb_opaque);
	}
}

static struct slirp_frame *take_tx_queue(struct slirp_backend *sb)
{
	struct slirp_frame *list;

	pthread_mutex_lock(&sb->txq_lock);
	list = sb->txq_head;
	sb->txq_head = NULL;
	sb->txq_tail = &sb->txq_head;
	sb->txq_frames = 0;
	sb->txq_bytes = 0;
	pthread_mutex_unlock(&sb->txq_lock);
	return list;
}

static void input_tx_frames(struct slirp_backend *sb)
{
	struct slirp_frame *f = take_tx_queue(sb);

	while (f) {
		struct slirp_frame *next = f->next;
		sb->lib->input(sb->slirp, f->data, (int)f->len);
		free(f);
		f = next;
	}
}

static void *slirp_thread(void *arg)
{
	struct slirp_backend *sb = arg;

	while (!atomic_load(&sb->stopping)) {
		uint32_t timeout = UINT32_MAX;
		int n;

		sb->npfds = 0;
		cb_add_poll(sb->wake_fd, SLIRP_POLL_IN, sb);   /* index 0 */
		sb->lib->pollfds_fill(sb->slirp, &timeout, cb_add_poll, sb);
		clamp_to_timers(sb, &timeout);
		n = poll(sb->pfds, sb->npfds, timeout == UINT32_MAX ? -1 : (int)(timeout > INT32_MAX ? INT32_MAX : timeout));
		if (n < 0 && errno != EINTR)
			log_warn("slirp: poll: %s", strerror(errno));
		if (n > 0 && (sb->pfds[0].revents & POLLIN)) {
			uint64_t count;
			if (read(sb->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				log_warn("slirp: wake eventfd: %s", strerror(errno));
		}
		sb->lib->pollfds_poll(sb->slirp, n < 0, cb_get_revents, sb);
		if (atomic_exchange(&sb->rx_room, false))
			deliver_held(sb);
		input_tx_frames(sb);
		fire_timers(sb);
	}
	return NULL;
}

/* ---- backend ops ------------------------------------------------------- */

static int slirp_send(struct net_backend *be, const void *frame, size_t len)
{
	struct slirp_backend *sb = to_sb(be);
	struct slirp_frame *f = malloc(sizeof(*f) + len);
	bool full;

	if (!f) {
		net_stat_add(&be->stats.tx_dropped, 1);
		return -ENOMEM;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->data, frame, len);
	pthread_mutex_lock(&sb->txq_lock);
	/* Bounded: a guest sending faster than slirp consumes loses frames, as on a congested link. */
	full = sb->txq_frames >= SLIRP_TXQ_MAX_FRAMES || sb->txq_bytes + len > SLIRP_TXQ_MAX_BYTES;
	if (!full) {
		*sb->txq_tail = f;
		sb->txq_tail = &f->next;
		sb->txq_frames++;
		sb->txq_bytes += len;
	}
	pthread_mutex_unlock(&sb->txq_lock);
	if (full) {
		free(f);
		net_stat_add(&be->stats.tx_dropped, 1);
		return -ENOBUFS;
	}
	net_stat_add(&be->stats.tx_frames, 1);
	net_stat_add(&be->stats.tx_bytes, len);
	wake(sb);
	return 0;
}

static void slirp_rx_resume(struct net_backend *be)
{
	struct slirp_backend *sb = to_sb(be);

	/* Any thread, any lock: only flag it; the slirp thread delivers. */
	atomic_store(&sb->rx_room, true);
	wake(sb);
}

static void slirp_destroy(struct net_backend *be)
{
	struct slirp_backend *sb = to_sb(be);

	if (sb->thread_started) {
		atomic_store(&sb->stopping, true);
		wake(sb);
		pthread_join(sb->thread, NULL);
	}
	if (sb->slirp)
		sb->lib->cleanup(sb->slirp);   /* frees its timers through cb_timer_free */
	while (sb->timers)
		cb_timer_free(sb->timers, sb);
	for (struct slirp_frame *f = take_tx_queue(sb), *next; f; f = next) {
		next = f->next;
		free(f);
	}
	for (struct slirp_frame *f = sb->rxq_head, *next; f; f = next) {
		next = f->next;
		free(f);
	}
	free(sb->pfds);
	if (sb->wake_fd >= 0)
		close(sb->wake_fd);
	pthread_mutex_destroy(&sb->txq_lock);
	free(sb);
}

static const struct net_backend_ops slirp_ops = {
	.name = "user",
	.send = slirp_send,
	.rx_resume = slirp_rx_resume,
	.destroy = slirp_destroy,
};

void net_slirp_advance_clock(struct net_backend *be, int64_t ms)
{
	struct slirp_backend *sb = to_sb(be);

	atomic_fetch_add(&sb->clock_skew_ns, ms * 1000000);
	wake(sb);
}

/* ---- setup -------------------------------------------------------------- */

static struct in_addr ipv4(const char *text)
{
	struct in_addr a;

	inet_pton(AF_INET, text, &a);
	return a;
}

static struct in6_addr ipv6(const char *text)
{
	struct in6_addr a;

	inet_pton(AF_INET6, text, &a);
	return a;
}

static int add_hostfwd(struct slirp_backend *sb, const struct net_hostfwd *fwd, struct vmon_error *err)
{
	struct in_addr host = { .s_addr = htonl(fwd->host_addr) };
	struct in_addr guest = fwd->guest_addr ? (struct in_addr){ .s_addr = htonl(fwd->guest_addr) }
					       : ipv4(SLIRP_DHCP_START);
	char host_text[INET_ADDRSTRLEN], guest_text[INET_ADDRSTRLEN];
	const char *proto = fwd->udp ? "udp" : "tcp";

	inet_ntop(AF_INET, &host, host_text, sizeof(host_text));
	inet_ntop(AF_INET, &guest, guest_text, sizeof(guest_text));
	errno = 0;
	if (sb->lib->add_hostfwd(sb->slirp, fwd->udp, host, fwd->host_port, guest, fwd->guest_port) == 0) {
		log_info("user net: %s %s:%u -> %s:%u", proto, host_text, fwd->host_port, guest_text, fwd->guest_port);
		return 0;
	}
	/* libslirp 4.7 leaves bind()'s errno in place; 0 would mean it failed before trying. */
	int e = errno;
	return error_set(err, e ? -e : -EADDRINUSE, "hostfwd %s %s:%u -> %s:%u: cannot listen on host port %u: %s",
			 proto, host_text, fwd->host_port, guest_text, fwd->guest_port, fwd->host_port,
			 e ? strerror(e) : "in use, or not permitted");
}

static int start_thread(struct slirp_backend *sb, struct vmon_error *err)
{
	/* A SIGPIPE from a slirp socket stays pending in this thread, harmless. */
	int r = thread_start_without_signals(&sb->thread, slirp_thread, sb, "vmon-slirp");

	if (r)
		return error_set(err, -r, "user net: starting the slirp thread: %s", strerror(r));
	sb->thread_started = true;
	return 0;
}

static Slirp *new_slirp(struct slirp_backend *sb)
{
	SlirpConfig cfg = {
		.version = 4,
		.restricted = 0,
		.in_enabled = true,
		.vnetwork = ipv4(SLIRP_NET),
		.vnetmask = ipv4(SLIRP_MASK),
		.vhost = ipv4(SLIRP_HOST),
		.in6_enabled = true,
		.vprefix_addr6 = ipv6("fec0::"),
		.vprefix_len = 64,
		.vhost6 = ipv6("fec0::2"),
		.vdhcp_start = ipv4(SLIRP_DHCP_START),
		.vnameserver = ipv4(SLIRP_DNS),
		.vnameserver6 = ipv6("fec0::3"),
	};

	return sb->lib->new_instance(&cfg, &slirp_callbacks, sb);
}

int net_slirp_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
		   const struct net_rx_sink *sink, struct vmon_error *err)
{
	struct slirp_backend *sb = calloc(1, sizeof(*sb));
	int r = 0;

	(void)loop;
	*out = NULL;
	if (!sb)
		return error_set(err, -ENOMEM, "user net: out of memory");
	sb->be.ops = &slirp_ops;
	sb->be.sink = *sink;
	sb->txq_tail = &sb->txq_head;
	sb->rxq_tail = &sb->rxq_head;
	atomic_init(&sb->rx_room, false);
	sb->wake_fd = -1;
	pthread_mutex_init(&sb->txq_lock, NULL);
	atomic_init(&sb->stopping, false);
	atomic_init(&sb->clock_skew_ns, 0);
	/* Room for the wake fd at least, so the thread can always sleep on it. */
	sb->pfds_cap = 16;
	sb->pfds = calloc(sb->pfds_cap, sizeof(*sb->pfds));
	if (!sb->pfds) {
		r = error_set(err, -ENOMEM, "user net: out of memory");
		goto fail;
	}
	sb->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sb->wake_fd < 0) {
		r = error_set(err, -errno, "user net: eventfd: %s", strerror(errno));
		goto fail;
	}
	sb->lib = slirp_lib_load(err);
	if (!sb->lib) {
		r = -ENOENT;
		goto fail;
	}
	sb->slirp = new_slirp(sb);
	if (!sb->slirp) {
		r = error_set(err, -ENOMEM, "user net: libslirp %s refused its configuration",
			      sb->lib->version_string());
		goto fail;
	}
	for (unsigned i = 0; i < cfg->nhostfwd && i < NET_MAX_HOSTFWD && !r; i++)
		r = add_hostfwd(sb, &cfg->hostfwd[i], err);
	if (!r)
		r = start_thread(sb, err);
	if (r)
		goto fail;
	*out = &sb->be;
	return 0;
fail:
	slirp_destroy(&sb->be);
	return r;
}
