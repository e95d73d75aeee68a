/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mmio's table of device models (fuzz_mmio.h): each is created as
 * src/vmm/virtio_devices.c creates it, with cheap in-process back ends, and
 * checked for the bookkeeping its header promises.
 */
#include "fuzz_mmio.h"

#include <fcntl.h>
#include <linux/virtio_balloon.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/backend.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "virtio/vsock_conn.h"

#define BLK_IMAGE_SIZE (64u << 10)
#define VSOCK_GUEST_CID 3u

static char blk_image[64];

static void remove_blk_image(void)
{
	unlink(blk_image);
}

void fuzz_models_setup_once(void)
{
	int fd;

	snprintf(blk_image, sizeof(blk_image), "/dev/shm/vmon-fuzz-mmio-%d.img", (int)getpid());
	fd = open(blk_image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, BLK_IMAGE_SIZE) || close(fd)) {
		perror(blk_image);
		abort();
	}
	atexit(remove_blk_image); /* every blk input opens it again */
}

/* ---- virtio-rng ---- */

static int rng_create(struct side *s, struct vmon_error *err)
{
	struct virtio_rng *rng;
	int r = virtio_rng_create(&rng, &s->t.vdev, NULL, err);

	s->model = rng;
	s->ops = &virtio_rng_ops;
	s->reg_ops = &virtio_rng_registry_ops;
	return r;
}

static void rng_destroy(struct side *s)
{
	virtio_rng_destroy(s->model);
}

/* ---- virtio-blk ---- */

static int blk_create(struct side *s, struct vmon_error *err)
{
	const struct drive_config drive = { .path = blk_image, .id = "fuzz", .lock_later = true };
	struct virtio_blk *blk;
	int r = virtio_blk_create(&blk, &s->t.vdev, &drive, 0, err);

	if (r)
		return r;
	s->model = blk;
	s->ops = virtio_blk_device_ops(blk);
	s->reg_ops = &virtio_blk_registry_ops;
	return 0;
}

static void blk_destroy(struct side *s)
{
	virtio_blk_destroy(s->model);
}

/* ---- virtio-net, on a fake backend ---- */

struct fuzz_net_backend {
	struct net_backend be;
	bool refuse;                  /* send fails (a full TAP) */
	uint64_t frames, bytes;       /* taken */
	uint8_t sum;                  /* every byte sent is read (ASan sees a bad copy) */
	struct fuzz_net_backend **owner;
};

static int fuzz_net_send(struct net_backend *be, const void *frame, size_t len)
{
	struct fuzz_net_backend *fb = (struct fuzz_net_backend *)be;

	/* net.h: a frame outside these bounds is dropped before the backend. */
	FUZZ_CHECK(len >= VIRTIO_NET_FRAME_MIN && len <= VIRTIO_NET_TX_FRAME_MAX);
	for (size_t i = 0; i < len; i++)
		fb->sum += ((const uint8_t *)frame)[i];
	if (fb->refuse) {
		net_stat_add(&be->stats.tx_dropped, 1);
		return -ENOBUFS;
	}
	fb->frames++;
	fb->bytes += len;
	return 0;
}

static void fuzz_net_rx_resume(struct net_backend *be)
{
	(void)be;
}

static void fuzz_net_destroy(struct net_backend *be)
{
	struct fuzz_net_backend *fb = (struct fuzz_net_backend *)be;

	*fb->owner = NULL;
	free(fb);
}

static const struct net_backend_ops fuzz_net_ops = {
	.name = "fuzz", .send = fuzz_net_send, .rx_resume = fuzz_net_rx_resume, .destroy = fuzz_net_destroy,
};

static struct fuzz_net_backend *fuzz_net_opened;   /* net_backend_open_fn has no context argument */

static int fuzz_net_open(struct net_backend **out, struct event_loop *loop, const struct net_config *cfg,
			 const struct net_rx_sink *sink, struct vmon_error *err)
{
	struct fuzz_net_backend *fb = calloc(1, sizeof(*fb));

	(void)loop, (void)cfg;
	if (!fb)
		return error_set(err, -ENOMEM, "fuzz net backend: out of memory");
	fb->be.ops = &fuzz_net_ops;
	fb->be.sink = *sink;
	fuzz_net_opened = fb;
	*out = &fb->be;
	return 0;
}

static int net_create(struct side *s, struct vmon_error *err)
{
	const struct net_config cfg = { .backend = NET_BACKEND_TAP, .id = "fuzz",
					.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
	struct virtio_net *net;
	int r = virtio_net_create_with(&net, &s->t.vdev, &s->loop, &cfg, fuzz_net_open, err);

	if (r)
		return r;
	s->model = net;
	s->ops = &virtio_net_ops;
	s->reg_ops = &virtio_net_registry_ops;
	s->net_be = fuzz_net_opened;
	s->net_be->owner = &s->net_be;
	s->net_rx_ok = s->net_rx_no_space = 0;
	return 0;
}

static void net_stop(struct side *s)
{
	virtio_net_stop(s->model);
}

static void net_destroy(struct side *s)
{
	virtio_net_destroy(s->model);
	FUZZ_CHECK(s->net_be == NULL);    /* the backend went with the device */
}

static size_t net_host_op(struct side *s, const uint8_t op[8], const uint8_t *in, size_t left)
{
	static uint8_t frame[1u << 16];
	size_t len = op[1] | op[2] << 8, took = 0;
	enum net_rx_status st;
	bool attached;

	switch (op[3] % 4) {
	case 0:
		len %= 2048;
		if (len > left)
			len = left;
		memcpy(frame, in, len);
		took = len;
		break;
	case 1:
		memset(frame, op[4], len);
		break;
	case 2:
		if (s->net_be)
			s->net_be->refuse = op[4] & 1;
		return 0;
	default:
		return 0;
	}
	if (!s->net_be)
		return took;
	/* Before the first activation the device refuses without counting (net.h: nothing to lock yet). */
	attached = atomic_load(&((struct virtio_net *)s->model)->attached);
	st = s->net_be->be.sink.receive(s->net_be->be.sink.ctx, frame, len);
	FUZZ_CHECK(st == NET_RX_OK || st == NET_RX_NO_SPACE);
	FUZZ_CHECK(attached || st == NET_RX_NO_SPACE);
	if (st == NET_RX_OK)
		s->net_rx_ok++;
	else if (attached)
		s->net_rx_no_space++;     /* no rate limiter: never throttled, so always counted */
	return took;
}

static void net_check(struct side *s)
{
	struct virtio_net *n = s->model;

	/* Every frame the backend took is counted once, and every answer to a delivered frame too. */
	FUZZ_CHECK(s->net_be);
	FUZZ_CHECK(net_stat_get(&n->tx_frames) == s->net_be->frames);
	FUZZ_CHECK(net_stat_get(&n->tx_bytes) == s->net_be->bytes);
	FUZZ_CHECK(net_stat_get(&n->rx_frames) + net_stat_get(&n->rx_dropped) == s->net_rx_ok);
	FUZZ_CHECK(net_stat_get(&n->rx_no_space) == s->net_rx_no_space);
}

static void net_trace(struct side *s)
{
	struct virtio_net *n = s->model;

	fprintf(stderr, "; net: tx %llu frames (%llu dropped), rx %llu frames (%llu dropped, %llu refused)",
		(unsigned long long)net_stat_get(&n->tx_frames), (unsigned long long)net_stat_get(&n->tx_dropped),
		(unsigned long long)net_stat_get(&n->rx_frames), (unsigned long long)net_stat_get(&n->rx_dropped),
		(unsigned long long)net_stat_get(&n->rx_no_space));
}

/* ---- virtio-vsock ---- */

static void vsock_path(const struct side *s, char *path, size_t size)
{
	snprintf(path, size, "/dev/shm/vmon-fuzz-mmio-%d-%c.vsock", (int)getpid(), s->name);
}

static int vsock_create(struct side *s, struct vmon_error *err)
{
	struct virtio_vsock *vs;
	char path[108];
	int r;

	vsock_path(s, path, sizeof(path));
	r = virtio_vsock_create(&vs, &s->t.vdev, &s->loop, VSOCK_GUEST_CID, path, err);
	if (r)
		return r;
	s->model = vs;
	s->ops = &virtio_vsock_ops;
	s->reg_ops = &virtio_vsock_registry_ops;
	for (unsigned i = 0; i < FUZZ_VSOCK_CLIENTS; i++)
		s->vsock_client[i] = -1;
	return 0;
}

static void vsock_destroy(struct side *s)
{
	for (unsigned i = 0; i < FUZZ_VSOCK_CLIENTS; i++)
		if (s->vsock_client[i] >= 0)
			close(s->vsock_client[i]);
	virtio_vsock_destroy(s->model);
}

/* A host process connects and asks for a guest port (firecracker docs/vsock.md). */
static void vsock_connect(struct side *s, uint32_t port)
{
	struct virtio_vsock *vs = s->model;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char line[32];
	int fd, n;
	unsigned i;

	for (i = 0; i < FUZZ_VSOCK_CLIENTS && s->vsock_client[i] >= 0; i++)
		;
	if (i == FUZZ_VSOCK_CLIENTS)
		return;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", vs->uds_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fd >= 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		/* The socket exists while the device does: only a full backlog may refuse us. */
		FUZZ_CHECK(errno == EAGAIN);
		close(fd);
		return;
	}
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL);   /* a full or reset socket is the device's business */
	s->vsock_client[i] = fd;
}

static size_t vsock_host_op(struct side *s, const uint8_t op[8], const uint8_t *in, size_t left)
{
	int *client = &s->vsock_client[op[1] % FUZZ_VSOCK_CLIENTS];
	uint32_t v;

	(void)in, (void)left;
	memcpy(&v, op + 4, 4);
	switch (op[3] % 4) {
	case 0:
		vsock_connect(s, v);
		break;
	case 1:
		if (*client >= 0)
			(void)!send(*client, op + 4, 4, MSG_NOSIGNAL);
		break;
	case 2:
		if (*client >= 0)
			close(*client);
		*client = -1;
		break;
	default:
		break;
	}
	return 0;
}

static void vsock_check(struct side *s)
{
	struct virtio_vsock *vs = s->model;
	unsigned conns = 0, bufs = 0;

	/* vsock.h: the connection limit, the buffer accounting, the RST ring's bounds. */
	for (const struct vsock_conn *c = vs->conns; c; c = c->next) {
		conns++;
		bufs += c->buf != NULL;
		FUZZ_CHECK(c->buf_len <= VSOCK_CONN_BUF && c->buf_head < VSOCK_CONN_BUF);
		FUZZ_CHECK(c->buf || !c->buf_len);
	}
	FUZZ_CHECK(conns == vs->nconns && conns <= VSOCK_MAX_CONNS);
	FUZZ_CHECK(vs->buffered == (uint64_t)bufs * VSOCK_CONN_BUF && vs->buffered <= VSOCK_TOTAL_BUF);
	FUZZ_CHECK(vs->rst_count <= VSOCK_RST_QUEUE && vs->rst_head < VSOCK_RST_QUEUE);
	FUZZ_CHECK(vs->guest_cid == VSOCK_GUEST_CID);
}

/* vsock.h: host connections are not saved, so any restore owes the driver a TRANSPORT_RESET. */
static void vsock_restored(void *state)
{
	((struct virtio_vsock_state *)state)->event_pending = 1;
}

static void vsock_trace(struct side *s)
{
	struct virtio_vsock *vs = s->model;

	fprintf(stderr, "; vsock: %u connections (%llu opened), %llu RSTs, %llu bad packets, tx %llu bytes, rx %llu bytes",
		vs->nconns, (unsigned long long)vs->conns_opened, (unsigned long long)vs->rsts_sent,
		(unsigned long long)vs->bad_packets, (unsigned long long)vs->tx_bytes, (unsigned long long)vs->rx_bytes);
}

/* ---- virtio-balloon ---- */

static int balloon_create(struct side *s, struct vmon_error *err)
{
	/*
	 * Every queue offered. No loop: the statistics timer would make an
	 * input's outcome depend on time; operation 8 does the timer's work.
	 */
	const struct balloon_config cfg = { .enabled = true, .amount_mib = 1, .deflate_on_oom = true,
					    .stats_interval_s = 1, .free_page_reporting = true };
	struct virtio_balloon *b;
	int r = virtio_balloon_create(&b, &s->t.vdev, NULL, &cfg, err);

	if (r)
		return r;
	s->model = b;
	s->ops = virtio_balloon_device_ops(b);
	s->reg_ops = &virtio_balloon_registry_ops;
	s->balloon_target = b->st.num_pages;
	s->balloon_restores = 0;
	return 0;
}

static void balloon_stop(struct side *s)
{
	virtio_balloon_stop(s->model);
}

static void balloon_destroy(struct side *s)
{
	virtio_balloon_destroy(s->model);
}

static size_t balloon_host_op(struct side *s, const uint8_t op[8], const uint8_t *in, size_t left)
{
	struct virtio_balloon *b = s->model;
	struct vmon_error err = { 0 };

	(void)in, (void)left;
	if (op[3] & 1) {
		FUZZ_CHECK(virtio_balloon_set_target(b, op[4] % 8, &err) == 0);
		s->balloon_target = (op[4] % 8) << (20 - VIRTIO_BALLOON_PFN_SHIFT);
	} else {
		virtio_balloon_request_stats(b);
	}
	return 0;
}

static void balloon_check(struct side *s)
{
	struct virtio_balloon *b = s->model;
	uint32_t num_pages = 0;

	if (s->restores != s->balloon_restores) {
		s->balloon_target = b->st.num_pages;    /* the snapshot's target */
		s->balloon_restores = s->restores;
	}
	/* The target is the host's: the guest cannot move it, and reads it as set. */
	FUZZ_CHECK(b->st.num_pages == s->balloon_target);
	FUZZ_CHECK(io_bus_access(&s->h.mmio, FUZZ_MMIO_BASE + 0x100 + offsetof(struct virtio_balloon_config, num_pages),
				 (uint8_t *)&num_pages, 4, false));
	FUZZ_CHECK(le32toh(num_pages) == s->balloon_target);
	/* Only frames the guest gave up and ranges it reported are released (the counters are saved: no restore). */
	if (!s->restores)
		FUZZ_CHECK(b->released_bytes <= (b->st.inflated_pages << VIRTIO_BALLOON_PFN_SHIFT) + b->st.reported_bytes);
	FUZZ_CHECK(b->st.stats_held <= 1);
}

static void balloon_trace(struct side *s)
{
	struct virtio_balloon *b = s->model;

	fprintf(stderr, "; balloon: actual %u, inflated %llu, deflated %llu, reported %llu bytes, released %llu bytes, "
		"%llu bad frames, stats held %u valid 0x%llx",
		b->st.actual, (unsigned long long)b->st.inflated_pages, (unsigned long long)b->st.deflated_pages,
		(unsigned long long)b->st.reported_bytes, (unsigned long long)b->released_bytes,
		(unsigned long long)b->bad_frames, b->st.stats_held, (unsigned long long)b->st.stats.valid);
}

const struct fuzz_model fuzz_models[] = {
	{ .name = "rng", .create = rng_create, .destroy = rng_destroy },
	{ .name = "blk", .create = blk_create, .destroy = blk_destroy },
	{ .name = "net", .create = net_create, .stop = net_stop, .destroy = net_destroy, .host_op = net_host_op,
	  .check = net_check, .trace = net_trace },
	{ .name = "vsock", .create = vsock_create, .destroy = vsock_destroy, .host_op = vsock_host_op,
	  .check = vsock_check, .restored = vsock_restored, .trace = vsock_trace },
	{ .name = "balloon", .create = balloon_create, .stop = balloon_stop, .destroy = balloon_destroy,
	  .host_op = balloon_host_op, .check = balloon_check, .trace = balloon_trace },
};
const unsigned fuzz_model_count = sizeof(fuzz_models) / sizeof(fuzz_models[0]);
