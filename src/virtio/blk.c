/* SPDX-License-Identifier: MIT */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio/core.h"
#include "virtio/iov.h"
#include "base/log.h"
#include "base/stat_counter.h"

#define BLK_HDR_SIZE sizeof(struct virtio_blk_outhdr)
#define BLK_RANGE_SIZE sizeof(struct virtio_blk_discard_write_zeroes)

/* Bits every image gets; RO, DISCARD and WRITE_ZEROES depend on the image. */
#define BLK_COMMON_FEATURES                                                                                  \
	((1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) | \
	 VIRTIO_TRANSPORT_FEATURES)

/* ---- image ------------------------------------------------------------- */

static int lock_image(int fd, bool readonly, const char *path, struct vmon_error *err)
{
	/* OFD lock: per open file, so it also stops a second drive in this same process. */
	struct flock fl = { .l_type = readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return error_set(err, -EBUSY, "%s is locked by another user of the image (another vmon?)%s", path,
				 readonly ? "" : "; readonly=on shares it with other readers");
	return error_set(err, -errno, "%s: locking: %s", path, strerror(errno));
}

static int image_size(int fd, const char *path, uint64_t *size, struct vmon_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			return error_set(err, -errno, "%s: size of the block device: %s", path, strerror(errno));
	} else {
		return error_set(err, -EINVAL, "%s is not a regular file or a block device", path);
	}
	if (*size % VIRTIO_BLK_SECTOR)
		return error_set(err, -EINVAL, "%s: size %llu is not a multiple of 512 bytes (raw images only)",
				 path, (unsigned long long)*size);
	return 0;
}

/* Does fallocate(mode) work here? Tried past EOF with KEEP_SIZE: no data changes. */
static bool fallocate_works(int fd, int mode, uint64_t size)
{
	return fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)size, VIRTIO_BLK_SECTOR) == 0;
}

static int set_serial(struct virtio_blk *blk, const struct drive_config *cfg, unsigned index,
		      struct vmon_error *err)
{
	char def[32];
	const char *id = cfg->id;

	if (!id) {
		snprintf(def, sizeof(def), "vmon-drive%u", index);
		id = def;
	}
	if (strlen(id) > VIRTIO_BLK_ID_BYTES)
		return error_set(err, -EINVAL, "drive id '%s' is longer than %u bytes", id, VIRTIO_BLK_ID_BYTES);
	memset(blk->serial, 0, sizeof(blk->serial));
	memcpy(blk->serial, id, strlen(id));
	return 0;
}

static uint64_t image_features(const struct virtio_blk *blk)
{
	uint64_t f = BLK_COMMON_FEATURES;

	if (blk->readonly)
		return f | (1ull << VIRTIO_BLK_F_RO);
	if (blk->can_punch_hole)
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (blk->can_punch_hole || blk->can_zero_range)
		f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void fill_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(blk->capacity);
	c->seg_max = htole32(VIRTIO_BLK_QUEUE_SIZE - 2);  /* the header and the status take two */
	c->blk_size = htole32(VIRTIO_BLK_SECTOR);
	c->max_discard_sectors = htole32(VIRTIO_BLK_MAX_RANGE_SECTORS);
	c->max_discard_seg = htole32(VIRTIO_BLK_MAX_RANGES);
	c->discard_sector_alignment = htole32(1);
	c->max_write_zeroes_sectors = htole32(VIRTIO_BLK_MAX_RANGE_SECTORS);
	c->max_write_zeroes_seg = htole32(VIRTIO_BLK_MAX_RANGES);
	c->write_zeroes_may_unmap = blk->can_punch_hole;
}

int virtio_blk_create(struct virtio_blk **out, struct virtio_dev *vdev, const struct drive_config *cfg,
		      unsigned index, struct vmon_error *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	uint64_t size;
	int r;

	*out = NULL;
	if (!blk)
		return error_set(err, -ENOMEM, "virtio-blk: out of memory");
	blk->vdev = vdev;
	blk->readonly = cfg->readonly;
	if ((r = queue_throttle_init(&blk->throttle, vdev, 0, "virtio-blk", blk->serial, VIRTIO_BLK_ID_BYTES,
				     &cfg->rate_limiter, err))) {
		blk->fd = -1;
		goto fail;
	}
	blk->fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0) {
		r = error_set(err, -errno, "%s: %s", cfg->path, strerror(errno));
		goto fail;
	}
	if (!(blk->path = strdup(cfg->path))) {
		r = error_set(err, -ENOMEM, "virtio-blk: out of memory");
		goto fail;
	}
	if ((!cfg->lock_later && (r = virtio_blk_lock(blk, err))) ||
	    (r = image_size(blk->fd, cfg->path, &size, err)) || (r = set_serial(blk, cfg, index, err)))
		goto fail;
	blk->capacity = size / VIRTIO_BLK_SECTOR;
	if (!blk->readonly) {
		blk->can_punch_hole = fallocate_works(blk->fd, FALLOC_FL_PUNCH_HOLE, size);
		blk->can_zero_range = fallocate_works(blk->fd, FALLOC_FL_ZERO_RANGE, size);
	}
	fill_config(blk);
	blk->ops = virtio_blk_ops;
	blk->ops.features = image_features(blk);
	log_info("virtio-blk: %s, %llu sectors%s%s", cfg->path, (unsigned long long)blk->capacity,
		 blk->readonly ? ", read-only" : "", blk->can_punch_hole ? ", discard" : "");
	*out = blk;
	return 0;
fail:
	virtio_blk_destroy(blk);
	return r;
}

int virtio_blk_replace_image(struct virtio_blk *blk, const char *path, struct vmon_error *err)
{
	uint64_t size;
	int fd = open(path, (blk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	char *copy = NULL;
	int r;

	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if ((r = lock_image(fd, blk->readonly, path, err)) || (r = image_size(fd, path, &size, err)) ||
	    (!(copy = strdup(path)) && (r = error_set(err, -ENOMEM, "virtio-blk: out of memory")))) {
		close(fd);
		return r;
	}
	close(blk->fd);
	blk->fd = fd;
	free(blk->path);
	blk->path = copy;
	blk->locked = true;
	blk->capacity = size / VIRTIO_BLK_SECTOR;
	/* The negotiated features stay: DISCARD / WRITE_ZEROES fall back where this image cannot punch holes. */
	blk->can_punch_hole = !blk->readonly && fallocate_works(fd, FALLOC_FL_PUNCH_HOLE, size);
	blk->can_zero_range = !blk->readonly && fallocate_works(fd, FALLOC_FL_ZERO_RANGE, size);
	fill_config(blk);
	log_info("virtio-blk %.*s: now %s, %llu sectors", VIRTIO_BLK_ID_BYTES, blk->serial, path,
		 (unsigned long long)blk->capacity);
	virtio_config_changed(blk->vdev);
	return 0;
}

int virtio_blk_lock(struct virtio_blk *blk, struct vmon_error *err)
{
	int r;

	if (blk->locked)
		return 0;
	if ((r = lock_image(blk->fd, blk->readonly, blk->path, err)))
		return r;
	blk->locked = true;
	return 0;
}

void virtio_blk_unlock(struct virtio_blk *blk)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (!blk->locked)
		return;
	if (fcntl(blk->fd, F_OFD_SETLK, &fl))
		log_warn("virtio-blk: %s: unlocking: %s", blk->path, strerror(errno));
	blk->locked = false;
}

bool virtio_blk_has_id(const struct virtio_blk *blk, const char *id)
{
	size_t n = strlen(id);

	return n <= VIRTIO_BLK_ID_BYTES && !memcmp(blk->serial, id, n) &&
	       (n == VIRTIO_BLK_ID_BYTES || blk->serial[n] == '\0');
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	if (blk->fd >= 0)
		close(blk->fd);
	queue_throttle_destroy(&blk->throttle);
	free(blk->path);
	free(blk);
}

const struct virtio_device_ops *virtio_blk_device_ops(const struct virtio_blk *blk)
{
	return &blk->ops;
}

/* ---- data transfer ----------------------------------------------------- */

/* Moves all of iov at off, through short transfers and EINTR. The iovecs are consumed. */
static int transfer(int fd, struct iovec *iov, unsigned n, off_t off, bool write)
{
	for (;;) {
		while (n && iov->iov_len == 0) {
			iov++;
			n--;
		}
		if (!n)
			return 0;
		ssize_t done = write ? pwritev(fd, iov, (int)n, off) : preadv(fd, iov, (int)n, off);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (done == 0)
			return -EIO;     /* past EOF: the image shrank under us */
		off += done;
		for (size_t left = (size_t)done; left;) {
			size_t step = left < iov->iov_len ? left : iov->iov_len;
			iov->iov_base = (uint8_t *)iov->iov_base + step;
			iov->iov_len -= step;
			left -= step;
			if (iov->iov_len == 0) {
				iov++;
				n--;
			}
		}
	}
}

static int write_zeroes_slowly(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[64 * 1024];

	while (len) {
		size_t step = len < sizeof(zeroes) ? len : sizeof(zeroes);
		struct iovec iov = { .iov_base = (void *)zeroes, .iov_len = step };
		int r = transfer(fd, &iov, 1, (off_t)off, true);
		if (r)
			return r;
		off += step;
		len -= step;
	}
	return 0;
}

static int punch_hole(int fd, uint64_t off, uint64_t len)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ? -errno : 0;
}

/* Zeroes [off, off + len); unmap: the blocks may be deallocated. */
static int zero_range(struct virtio_blk *blk, uint64_t off, uint64_t len, bool unmap)
{
	if (unmap && blk->can_punch_hole)
		return punch_hole(blk->fd, off, len);
	if (blk->can_zero_range) {
		int mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		return fallocate(blk->fd, mode, (off_t)off, (off_t)len) ? -errno : 0;
	}
	if (blk->can_punch_hole) {
		int r = punch_hole(blk->fd, off, len);
		/* No unmap asked: allocate the blocks again (best effort, e.g. tmpfs has no ZERO_RANGE). */
		if (!r && fallocate(blk->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
			log_debug("virtio-blk: re-allocating zeroed range: %s", strerror(errno));
		return r;
	}
	return write_zeroes_slowly(blk->fd, off, len);
}

/* ---- requests ------------------------------------------------------------ */

void virtio_blk_get_stats(const struct virtio_blk *blk, struct virtio_blk_stats *out)
{
	*out = (struct virtio_blk_stats){
		.reads = stat_get(&blk->reads), .writes = stat_get(&blk->writes), .flushes = stat_get(&blk->flushes),
		.discards = stat_get(&blk->discards), .write_zeroes = stat_get(&blk->write_zeroes),
		.bytes_read = stat_get(&blk->bytes_read), .bytes_written = stat_get(&blk->bytes_written),
		.errors = stat_get(&blk->errors), .rate_limiter_throttled_events = queue_throttle_events(&blk->throttle),
	};
}

/* [sector, sector + count) inside the disk, without overflow. */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t count)
{
	return sector <= blk->capacity && count <= blk->capacity - sector;
}

/* Readable part beyond the header / writable part before the status. */
static uint64_t out_payload(const struct virtq_chain *c)
{
	return c->out_bytes - BLK_HDR_SIZE;
}

static uint64_t in_payload(const struct virtq_chain *c)
{
	return c->in_bytes - 1;
}

static uint8_t blk_read(struct virtio_blk *blk, const struct virtq_chain *c, uint64_t sector, uint64_t *in_len)
{
	uint64_t len = in_payload(c);

	if (out_payload(c) || len % VIRTIO_BLK_SECTOR || !range_ok(blk, sector, len / VIRTIO_BLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	unsigned n = iov_slice(c->iov + c->nout, c->nin, 0, len, blk->data);
	int r = transfer(blk->fd, blk->data, n, (off_t)(sector * VIRTIO_BLK_SECTOR), false);
	if (r) {
		log_warn("virtio-blk: read of %llu bytes at sector %llu: %s", (unsigned long long)len,
			 (unsigned long long)sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	stat_add(&blk->reads, 1);
	stat_add(&blk->bytes_read, len);
	*in_len = len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_write(struct virtio_blk *blk, const struct virtq_chain *c, uint64_t sector)
{
	uint64_t len = out_payload(c);

	if (blk->readonly || in_payload(c) || len % VIRTIO_BLK_SECTOR ||
	    !range_ok(blk, sector, len / VIRTIO_BLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	unsigned n = iov_slice(c->iov, c->nout, BLK_HDR_SIZE, len, blk->data);
	int r = transfer(blk->fd, blk->data, n, (off_t)(sector * VIRTIO_BLK_SECTOR), true);
	if (r) {
		log_warn("virtio-blk: write of %llu bytes at sector %llu: %s", (unsigned long long)len,
			 (unsigned long long)sector, strerror(-r));
		return VIRTIO_BLK_S_IOERR;
	}
	stat_add(&blk->writes, 1);
	stat_add(&blk->bytes_written, len);
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_flush(struct virtio_blk *blk, const struct virtq_chain *c)
{
	if (out_payload(c) || in_payload(c))
		return VIRTIO_BLK_S_IOERR;
	if (fdatasync(blk->fd) < 0) {
		log_warn("virtio-blk: flush: %s", strerror(errno));
		return VIRTIO_BLK_S_IOERR;
	}
	stat_add(&blk->flushes, 1);
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_get_id(struct virtio_blk *blk, const struct virtq_chain *c, uint64_t *in_len)
{
	uint64_t len = in_payload(c);

	if (out_payload(c))
		return VIRTIO_BLK_S_IOERR;
	/* A shorter buffer gets the serial's start, as a longer one gets 20 bytes. */
	*in_len = virtq_chain_write(c, 0, blk->serial, len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES);
	return VIRTIO_BLK_S_OK;
}

/* DISCARD (discard = true) or WRITE_ZEROES: a list of ranges in the readable payload. */
static uint8_t blk_ranges(struct virtio_blk *blk, const struct virtq_chain *c, bool discard)
{
	uint64_t feature = 1ull << (discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES);
	uint32_t allowed_flags = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	uint64_t len = out_payload(c);

	if (!(blk->features & feature))
		return VIRTIO_BLK_S_UNSUPP;
	if (blk->readonly || in_payload(c) || !len || len % BLK_RANGE_SIZE ||
	    len / BLK_RANGE_SIZE > VIRTIO_BLK_MAX_RANGES)
		return VIRTIO_BLK_S_IOERR;
	struct virtio_blk_discard_write_zeroes ranges[VIRTIO_BLK_MAX_RANGES];
	unsigned n = (unsigned)(len / BLK_RANGE_SIZE);
	virtq_chain_read(c, BLK_HDR_SIZE, ranges, len);
	/* All checked before any is applied: a bad request changes nothing. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t sector = le64toh(ranges[i].sector);
		uint32_t count = le32toh(ranges[i].num_sectors), flags = le32toh(ranges[i].flags);
		if (flags & ~allowed_flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (count > VIRTIO_BLK_MAX_RANGE_SECTORS || !range_ok(blk, sector, count))
			return VIRTIO_BLK_S_IOERR;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = le64toh(ranges[i].sector) * VIRTIO_BLK_SECTOR;
		uint64_t bytes = (uint64_t)le32toh(ranges[i].num_sectors) * VIRTIO_BLK_SECTOR;
		bool unmap = le32toh(ranges[i].flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		int r = 0;
		if (bytes && !discard)
			r = zero_range(blk, off, bytes, unmap);
		else if (bytes && blk->can_punch_hole)   /* discard is a hint: without hole punching, nothing */
			r = punch_hole(blk->fd, off, bytes);
		if (r) {
			log_warn("virtio-blk: %s of %llu bytes at %llu: %s", discard ? "discard" : "write-zeroes",
				 (unsigned long long)bytes, (unsigned long long)off, strerror(-r));
			return VIRTIO_BLK_S_IOERR;
		}
	}
	if (discard)
		stat_add(&blk->discards, 1);
	else
		stat_add(&blk->write_zeroes, 1);
	return VIRTIO_BLK_S_OK;
}

/* Serves one request: returns the bytes written to the writable part (status included), -1 on device error. */
static int64_t serve_request(struct virtio_blk *blk, const struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	uint64_t in_len = 0;
	uint8_t status;

	if (c->in_bytes == 0) {
		virtio_device_error(blk->vdev, "request (descriptor %u) has no writable status byte",
				    c->head);
		return -1;
	}
	if (c->out_bytes < BLK_HDR_SIZE) {
		status = VIRTIO_BLK_S_IOERR;
	} else {
		virtq_chain_read(c, 0, &hdr, sizeof(hdr));
		uint64_t sector = le64toh(hdr.sector);
		switch (le32toh(hdr.type)) {
		case VIRTIO_BLK_T_IN: status = blk_read(blk, c, sector, &in_len); break;
		case VIRTIO_BLK_T_OUT: status = blk_write(blk, c, sector); break;
		case VIRTIO_BLK_T_FLUSH: status = blk_flush(blk, c); break;
		case VIRTIO_BLK_T_GET_ID: status = blk_get_id(blk, c, &in_len); break;
		case VIRTIO_BLK_T_DISCARD: status = blk_ranges(blk, c, true); break;
		case VIRTIO_BLK_T_WRITE_ZEROES: status = blk_ranges(blk, c, false); break;
		default: status = VIRTIO_BLK_S_UNSUPP; break;
		}
	}
	if (status != VIRTIO_BLK_S_OK)
		stat_add(&blk->errors, 1);
	virtq_chain_write(c, in_payload(c), &status, 1);
	return (int64_t)in_len + 1;
}

/* ---- rate limiting --------------------------------------------------------- */

/* What a request costs the bandwidth bucket: its data, for reads and writes (as Firecracker counts). */
static uint64_t request_bytes(const struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;

	if (c->out_bytes < BLK_HDR_SIZE || c->in_bytes == 0)
		return 0;
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));
	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN: return in_payload(c);
	case VIRTIO_BLK_T_OUT: return out_payload(c);
	default: return 0;
	}
}

int virtio_blk_attach_loop(struct virtio_blk *blk, struct event_loop *loop, struct vmon_error *err)
{
	return queue_throttle_attach(&blk->throttle, loop, err);
}

int virtio_blk_set_rate_limiter(struct virtio_blk *blk, const struct rate_limiter_config *cfg,
				struct vmon_error *err)
{
	int r = queue_throttle_check(cfg, err);

	if (r)
		return r;
	if (!queue_throttle_attached(&blk->throttle) && rate_limiter_config_limits(cfg))
		return error_set(err, -EINVAL, "rate_limiter: this drive has no I/O loop to resume a throttled queue");
	queue_throttle_replace(&blk->throttle, cfg);
	return 0;
}

/* ---- device-model callbacks -------------------------------------------- */

static void blk_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	struct virtio_blk *blk = dev;

	memcpy(data, (const uint8_t *)&blk->config + offset, size);
}

static int blk_activate(void *dev, uint64_t features)
{
	struct virtio_blk *blk = dev;

	blk->features = features;
	return 0;
}

static void blk_reset(void *dev)
{
	struct virtio_blk *blk = dev;

	blk->features = 0;    /* requests are served synchronously: nothing is in flight */
	queue_throttle_disarm(&blk->throttle);
}

static int64_t serve_one(void *ctx, const struct virtq_chain *c)
{
	struct virtio_blk *blk = ctx;

	if (!queue_throttle_admit(&blk->throttle, request_bytes(c)))
		return VIRTIO_SERVE_LATER;
	return serve_request(blk, c);
}

static void blk_queue_notify(void *dev, unsigned q)
{
	struct virtio_blk *blk = dev;

	/* Held back by the rate limiter: its timer serves the queue, kicks meanwhile change nothing. */
	if (queue_throttle_held(&blk->throttle))
		return;
	virtio_serve_queue(blk->vdev, q, &blk->chain, serve_one, blk);
}

const struct virtio_device_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_blk_config),
	.features = BLK_COMMON_FEATURES | (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES),
	.config_read = blk_config_read,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

/* ---- the registry's view (devices/device.h) ---------------------------- */

_Static_assert(sizeof(struct virtio_blk_state) % 8 == 0, "no tail padding in the saved state");

static void blk_save(void *dev, void *state)
{
	struct virtio_dev *d = dev;
	struct virtio_blk *blk = d->model;
	struct virtio_blk_state s;

	memset(&s, 0, sizeof(s));
	virtio_dev_save(d, &s.core);
	s.capacity = blk->capacity;
	memcpy(s.serial, blk->serial, sizeof(s.serial));
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

static int blk_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_dev *d = dev;
	struct virtio_blk *blk = d->model;
	struct virtio_blk_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	if (s.capacity != blk->capacity)
		return error_set(err, -EINVAL, "virtio-blk capacity: %llu sectors saved, this image has %llu",
				 (unsigned long long)s.capacity, (unsigned long long)blk->capacity);
	for (unsigned i = 0; i < sizeof(s.reserved); i++)
		if (s.reserved[i])
			return error_set(err, -EINVAL, "virtio-blk reserved byte %u is 0x%x (must be 0)", i,
					 s.reserved[i]);
	r = virtio_dev_restore(d, &s.core, err);
	if (r) {
		error_prefix(err, "virtio-blk");
		return r;
	}
	virtio_lock(d);
	memcpy(blk->serial, s.serial, sizeof(blk->serial));
	/* What activate() would have recorded. */
	blk->features = (d->status & VIRTIO_CONFIG_S_DRIVER_OK) ? d->driver_features : 0;
	virtio_unlock(d);
	return 0;
}

const struct device_ops virtio_blk_registry_ops = {
	.kind = "virtio-blk",
	.state_version = VIRTIO_BLK_STATE_VERSION,
	.state_size = sizeof(struct virtio_blk_state),
	.reset = virtio_dev_ops_reset,
	.save = blk_save,
	.restore = blk_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
