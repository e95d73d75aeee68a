/* SPDX-License-Identifier: MIT */
/*
 * Merging a diff memory file onto its base: the diff's data extents (its
 * dirty pages) overwrite the base at the same offsets, its holes leave the
 * base alone. Done in place, as Firecracker's rebase-snap does; copy the
 * base first (cp --sparse=always) to keep it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot_file.h"

#define COPY_CHUNK (1u << 20)

static int copy_range(int from, int to, off_t off, off_t end, uint8_t *buf, const char *diff, const char *base,
		      struct vmon_error *err)
{
	while (off < end) {
		size_t want = end - off < COPY_CHUNK ? (size_t)(end - off) : COPY_CHUNK;
		ssize_t got = pread(from, buf, want, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return error_set(err, got < 0 ? -errno : -EIO, "%s: read at offset %lld: %s", diff,
					 (long long)off, got < 0 ? strerror(errno) : "unexpected end of file");
		for (ssize_t done = 0; done < got;) {
			ssize_t w = pwrite(to, buf + done, (size_t)(got - done), off + done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return error_set(err, w < 0 ? -errno : -EIO, "%s: write at offset %lld: %s", base,
						 (long long)(off + done), w < 0 ? strerror(errno) : "nothing written");
			done += w;
		}
		off += got;
	}
	return 0;
}

/* The next data extent [*data, *hole) at or after off; *data = size when none is left. */
static int next_extent(int fd, off_t off, off_t size, off_t *data, off_t *hole, const char *diff,
		       struct vmon_error *err)
{
	*data = lseek(fd, off, SEEK_DATA);
	if (*data < 0 && errno == ENXIO) {
		*data = *hole = size;
		return 0;
	}
	if (*data < 0)
		return error_set(err, -errno, "%s: lseek SEEK_DATA at %lld: %s", diff, (long long)off, strerror(errno));
	*hole = lseek(fd, *data, SEEK_HOLE);
	if (*hole < 0)
		return error_set(err, -errno, "%s: lseek SEEK_HOLE at %lld: %s", diff, (long long)*data,
				 strerror(errno));
	return 0;
}

int snapshot_mem_merge(const char *base, const char *diff, uint64_t *copied, struct vmon_error *err)
{
	struct stat bst, dst;
	uint8_t *buf = NULL;
	uint64_t total = 0;
	off_t off = 0, data, hole;
	int rc = 0, dfd = -1, bfd = -1;

	if (copied)
		*copied = 0;
	if ((dfd = open(diff, O_RDONLY | O_CLOEXEC)) < 0)
		return error_set(err, -errno, "%s: cannot open: %s", diff, strerror(errno));
	if ((bfd = open(base, O_RDWR | O_CLOEXEC)) < 0) {
		rc = error_set(err, -errno, "%s: cannot open for writing: %s", base, strerror(errno));
		goto out;
	}
	if (fstat(dfd, &dst) || fstat(bfd, &bst)) {
		rc = error_set(err, -errno, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(dst.st_mode) || !S_ISREG(bst.st_mode)) {
		rc = error_set(err, -EINVAL, "%s: not a regular file", S_ISREG(dst.st_mode) ? base : diff);
		goto out;
	}
	if (dst.st_dev == bst.st_dev && dst.st_ino == bst.st_ino) {
		rc = error_set(err, -EINVAL, "%s and %s are the same file", base, diff);
		goto out;
	}
	if (dst.st_size != bst.st_size) {
		rc = error_set(err, -EINVAL, "%s has %lld bytes, the base %s %lld: not the same guest RAM", diff,
			       (long long)dst.st_size, base, (long long)bst.st_size);
		goto out;
	}
	if ((rc = next_extent(dfd, 0, dst.st_size, &data, &hole, diff, err)))
		goto out;
	/*
	 * A filesystem without hole reporting calls the whole file data; merging
	 * that would overwrite the base with the diff's zeros. A diff whose
	 * blocks cover less than its size has holes, so that answer is a lie.
	 */
	if (data == 0 && hole >= dst.st_size && (uint64_t)dst.st_blocks * 512 < (uint64_t)dst.st_size) {
		rc = error_set(err, -ENOTSUP, "%s: its filesystem does not report holes (SEEK_HOLE), so its dirty "
			       "pages cannot be told from its clean ones", diff);
		goto out;
	}
	if (!(buf = malloc(COPY_CHUNK))) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (data < dst.st_size) {
		if ((rc = copy_range(dfd, bfd, data, hole, buf, diff, base, err)))
			goto out;
		total += (uint64_t)(hole - data);
		off = hole;
		if ((rc = next_extent(dfd, off, dst.st_size, &data, &hole, diff, err)))
			goto out;
	}
	if (fsync(bfd)) {
		rc = error_set(err, -errno, "%s: fsync: %s", base, strerror(errno));
		goto out;
	}
	if (copied)
		*copied = total;
out:
	free(buf);
	if (bfd >= 0)
		close(bfd);
	close(dfd);
	return rc;
}
