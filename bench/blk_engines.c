/* SPDX-License-Identifier: MIT */
/*
 * Which I/O engine should virtio-blk use? preadv/pwritev (synchronous, one
 * request after the other, what src/virtio/blk.c does) against io_uring
 * (READV/WRITEV, up to `depth` in flight), on a file in tmpfs so the storage
 * itself costs nothing and only the engine's overhead shows.
 *
 * Workloads: 4 KiB random reads and writes, 64 KiB sequential reads and
 * writes; queue depth 1 and 32 (for preadv/pwritev, depth 32 is a batch of
 * 32 served one by one, as a single-queue device drains its ring).
 *
 *   blk_engines [FILE [SIZE_MIB [SECONDS]]]   default /dev/shm/vmon-blk-bench 256 1
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32

struct workload {
	const char *name;
	size_t block;
	bool random;
	bool write;
};

struct job {
	int fd;
	uint64_t file_size;
	size_t block;
	bool random;
	bool write;
	unsigned depth;
	double seconds;
	uint64_t seq_next;      /* next sequential offset */
	uint64_t rng;           /* xorshift state */
	uint8_t *bufs;          /* depth buffers of `block` bytes */
};

struct result {
	uint64_t ops;
	double elapsed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_offset(struct job *j)
{
	uint64_t blocks = j->file_size / j->block;

	if (j->random) {
		j->rng ^= j->rng << 13;
		j->rng ^= j->rng >> 7;
		j->rng ^= j->rng << 17;
		return (j->rng % blocks) * j->block;
	}
	uint64_t off = j->seq_next;
	j->seq_next = (j->seq_next + j->block) % (blocks * j->block);
	return off;
}

static void die(const char *what, int e)
{
	fprintf(stderr, "blk_engines: %s: %s\n", what, strerror(e));
	exit(1);
}

/* ---- preadv / pwritev ---------------------------------------------------- */

static struct result run_sync(struct job *j)
{
	struct result res = { 0 };
	double start = now(), end = start + j->seconds;

	while (now() < end) {
		/* One "ring drain": depth requests served in turn (checking the clock once per batch). */
		for (unsigned i = 0; i < j->depth; i++) {
			struct iovec iov = { .iov_base = j->bufs + (size_t)i * j->block, .iov_len = j->block };
			off_t off = (off_t)next_offset(j);
			ssize_t n = j->write ? pwritev(j->fd, &iov, 1, off) : preadv(j->fd, &iov, 1, off);
			if (n != (ssize_t)j->block)
				die(j->write ? "pwritev" : "preadv", n < 0 ? errno : EIO);
			res.ops++;
		}
	}
	res.elapsed = now() - start;
	return res;
}

/* ---- io_uring ------------------------------------------------------------- */

static void queue_one(struct io_uring *ring, struct job *j, struct iovec *iov, unsigned slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		die("io_uring_get_sqe", EBUSY);
	iov[slot] = (struct iovec){ .iov_base = j->bufs + (size_t)slot * j->block, .iov_len = j->block };
	if (j->write)
		io_uring_prep_writev(sqe, j->fd, &iov[slot], 1, next_offset(j));
	else
		io_uring_prep_readv(sqe, j->fd, &iov[slot], 1, next_offset(j));
	io_uring_sqe_set_data64(sqe, slot);
}

static struct result run_uring(struct job *j)
{
	struct io_uring ring;
	struct iovec iov[MAX_DEPTH];
	struct result res = { 0 };
	unsigned inflight = 0;
	int r = io_uring_queue_init(MAX_DEPTH * 2, &ring, 0);

	if (r < 0)
		die("io_uring_queue_init", -r);
	double start = now(), end = start + j->seconds;
	for (unsigned i = 0; i < j->depth; i++, inflight++)
		queue_one(&ring, j, iov, i);
	bool stopping = false;
	while (inflight) {
		struct io_uring_cqe *cqe;
		/* Submit what is queued and wait for at least one completion: one syscall per round. */
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR)
			die("io_uring_submit_and_wait", -r);
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != (int)j->block)
				die(j->write ? "io_uring writev" : "io_uring readv", cqe->res < 0 ? -cqe->res : EIO);
			unsigned slot = (unsigned)io_uring_cqe_get_data64(cqe);
			seen++;
			inflight--;
			res.ops++;
			if (!stopping) {
				queue_one(&ring, j, iov, slot);
				inflight++;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (!stopping && now() >= end)
			stopping = true;
	}
	res.elapsed = now() - start;
	io_uring_queue_exit(&ring);
	return res;
}

/* ---- main ------------------------------------------------------------------- */

static void fill_file(int fd, uint64_t size)
{
	static uint8_t chunk[1 << 20];

	memset(chunk, 0xa5, sizeof(chunk));
	for (uint64_t off = 0; off < size; off += sizeof(chunk))
		if (pwrite(fd, chunk, sizeof(chunk), (off_t)off) != (ssize_t)sizeof(chunk))
			die("filling the file", errno);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/shm/vmon-blk-bench";
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 0) : 256) << 20;
	double seconds = argc > 3 ? strtod(argv[3], NULL) : 1.0;
	static const struct workload workloads[] = {
		{ "4k-randread", 4096, true, false },
		{ "4k-randwrite", 4096, true, true },
		{ "64k-seqread", 65536, false, false },
		{ "64k-seqwrite", 65536, false, true },
	};
	static const unsigned depths[] = { 1, 32 };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		die(path, errno);
	fill_file(fd, size);
	uint8_t *bufs = aligned_alloc(4096, (size_t)MAX_DEPTH * 65536);
	if (!bufs)
		die("buffers", ENOMEM);
	memset(bufs, 0x5a, (size_t)MAX_DEPTH * 65536);

	printf("file %s, %llu MiB, %.1f s per run\n", path, (unsigned long long)(size >> 20), seconds);
	printf("%-14s %5s  %16s %10s  %16s %10s  %s\n", "workload", "depth", "preadv IOPS", "MB/s", "io_uring IOPS",
	       "MB/s", "io_uring/preadv");
	for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
		for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
			struct job job = { .fd = fd, .file_size = size, .block = workloads[w].block,
					   .random = workloads[w].random, .write = workloads[w].write,
					   .depth = depths[d], .seconds = seconds, .rng = 0x9e3779b97f4a7c15ull,
					   .bufs = bufs };
			struct result s = run_sync(&job);
			job.seq_next = 0;
			job.rng = 0x9e3779b97f4a7c15ull;
			struct result u = run_uring(&job);
			double s_iops = (double)s.ops / s.elapsed, u_iops = (double)u.ops / u.elapsed;
			printf("%-14s %5u  %16.0f %10.0f  %16.0f %10.0f  %.2f\n", workloads[w].name, depths[d], s_iops,
			       s_iops * (double)job.block / 1e6, u_iops, u_iops * (double)job.block / 1e6, u_iops / s_iops);
			fflush(stdout);
		}
	}
	free(bufs);
	close(fd);
	unlink(path);
	return 0;
}
