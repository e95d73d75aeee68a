/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the split-virtqueue layer (src/virtio/queue.c): a
 * hostile guest writes whatever it likes into guest memory and the device
 * side runs a sequence of queue operations over it. Built by build.sh with
 * clang (-fsanitize=fuzzer,address,undefined), not by meson.
 *
 * Input layout (make_corpus.py writes the same):
 *   byte 0      config: bit 0 = 4 GiB guest (RAM split around the MMIO hole,
 *               else 2 MiB); bits 1-4 = log2 of the device's max queue size
 *   byte 1      number of operations N
 *   N x 16      operations: opcode byte, 15 argument bytes (little-endian)
 *   the rest    guest memory image, copied to guest-physical 0 (<= 64 KiB)
 *
 * Checked after every operation: a popped chain's iovecs lie inside one RAM
 * region each, nout + nin <= VIRTQ_CHAIN_MAX, the byte totals are the sums
 * of the segment lengths, a broken queue stays broken, copies stay in bounds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/layout.h"
#include "virtio/queue.h"
#include "arch/x86/memory.h"
#include "base/guest_mem.h"

enum op {
	OP_ENABLE,            /* u16 size, u32 desc, u32 avail, u32 used, u8 flags (see enable()) */
	OP_POP,               /* u8 slot, u16 read offset, u16 read len, u16 write offset, u16 write len */
	OP_PUSH,              /* u8 slot, u32 written */
	OP_UNPOP,
	OP_SHOULD_INTERRUPT,
	OP_SET_NOTIFICATION,  /* u8 enable (bit 0) */
	OP_RESET,
	OP_WRITE_MEM,         /* u16 gpa, 8 bytes: the guest changes memory between operations */
	OP_HAS_AVAILABLE,
	OP_COUNT
};

#define OP_SIZE 16
#define IMAGE_MAX (64u << 10)
#define SLOTS 4
#define SMALL_RAM (2ull << 20)
#define BIG_RAM (4ull << 30)
/* Copies the target does into a chain: large enough to cross segments, small enough to stay fast. */
#define COPY_MAX 4096u

/* Chains popped and not yet pushed, and the one being popped: 16 KiB each, so static. */
static struct virtq_chain slots[SLOTS], popping;
static bool slot_used[SLOTS];
static uint8_t copy_buf[COPY_MAX];
/* FUZZ_VIRTQ_TRACE=1: print what each pop and enable did (for checking seeds). */
static bool trace;

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_virtq: invariant broken: %s\n", what);
		abort();
	}
}

/* True when [p, p+len) lies inside one RAM region's host mapping. */
static bool host_range_in_ram(const struct guest_mem *mem, const void *p, size_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const uint8_t *start = mem->regions[i].host;
		uintptr_t off;

		if ((const uint8_t *)p < start)
			continue;
		off = (uintptr_t)((const uint8_t *)p - start);
		if (off < mem->regions[i].size && len <= mem->regions[i].size - off)
			return true;
	}
	return false;
}

static void check_chain(const struct guest_mem *mem, const struct virtq *vq, const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;

	check(c->nout + c->nin <= VIRTQ_CHAIN_MAX, "nout + nin <= VIRTQ_CHAIN_MAX");
	check(c->head < vq->size, "head < queue size");
	for (unsigned i = 0; i < (unsigned)c->nout + c->nin; i++) {
		check(c->iov[i].iov_len > 0, "no empty iovec");
		check(host_range_in_ram(mem, c->iov[i].iov_base, c->iov[i].iov_len), "iovec inside guest RAM");
		if (i < c->nout)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	check(out == c->out_bytes, "out_bytes is the sum of the readable segments");
	check(in == c->in_bytes, "in_bytes is the sum of the writable segments");
	check(out + in <= UINT32_MAX, "chain at most 4 GiB - 1");
}

static size_t expected_copy(uint64_t total, size_t offset, size_t len)
{
	if (offset >= total)
		return 0;
	return total - offset < len ? (size_t)(total - offset) : len;
}

/* Reads from the readable part and writes into the writable part, within COPY_MAX. */
static void copy_through(const struct virtq_chain *c, const uint8_t *a)
{
	size_t roff = get16(a + 1), rlen = get16(a + 3) % (COPY_MAX + 1);
	size_t woff = get16(a + 5), wlen = get16(a + 7) % (COPY_MAX + 1);

	check(virtq_chain_read(c, roff, copy_buf, rlen) == expected_copy(c->out_bytes, roff, rlen),
	      "chain_read copies min(len, out_bytes - offset)");
	check(virtq_chain_write(c, woff, copy_buf, wlen) == expected_copy(c->in_bytes, woff, wlen),
	      "chain_write copies min(len, in_bytes - offset)");
}

/* flags: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bits 2/3/4 put desc/avail/used above 4 GiB, bit 5 far away. */
static void enable(struct virtq *vq, const uint8_t *a)
{
	uint8_t flags = a[14];
	uint64_t features = 0, desc = get32(a + 2), avail = get32(a + 6), used = get32(a + 10);
	int r;

	if (flags & 1)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (flags & 2)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	desc += (flags & 4) ? X86_HIGH_RAM_START : 0;
	avail += (flags & 8) ? X86_HIGH_RAM_START : 0;
	used += (flags & 16) ? X86_HIGH_RAM_START : 0;
	if (flags & 32)
		used = UINT64_MAX - used;
	r = virtq_enable(vq, get16(a), desc, avail, used, features);
	check(r == 0 || r == -EINVAL, "enable returns 0 or -EINVAL");
	check(vq->enabled == (r == 0), "enabled exactly when enable succeeded");
	check(r == 0 || vq->error[0], "failed enable says why");
	if (trace)
		fprintf(stderr, "enable: %d %s\n", r, vq->error);
	memset(slot_used, 0, sizeof(slot_used));
}

static void pop(const struct guest_mem *mem, struct virtq *vq, const uint8_t *a)
{
	unsigned s = a[0] % SLOTS;
	bool was_broken = vq->broken;
	uint16_t last = vq->last_avail_idx;
	enum virtq_pop_result r = virtq_pop(vq, &popping);

	if (trace)
		fprintf(stderr, "pop: %d head %u nout %u nin %u out %llu in %llu %s\n", r, popping.head, popping.nout,
			popping.nin, (unsigned long long)popping.out_bytes, (unsigned long long)popping.in_bytes,
			vq->error);
	if (was_broken)
		check(r == VIRTQ_BROKEN, "a broken queue stays broken");
	check((r == VIRTQ_BROKEN) == vq->broken, "BROKEN exactly when the queue is broken");
	if (r == VIRTQ_BROKEN) {
		check(vq->error[0] != '\0', "a broken queue says why");
		check(memchr(vq->error, '\0', sizeof(vq->error)) != NULL, "error is terminated");
		return;
	}
	if (r == VIRTQ_EMPTY) {
		check(vq->last_avail_idx == last, "EMPTY takes nothing");
		return;
	}
	check(r == VIRTQ_GOT, "pop result is one of the three");
	check(vq->last_avail_idx == (uint16_t)(last + 1), "GOT takes one entry");
	check_chain(mem, vq, &popping);
	copy_through(&popping, a);
	/* A device holds on to what it popped until it pushes it. */
	if (!slot_used[s]) {
		slots[s] = popping;
		slot_used[s] = true;
	}
}

static void run_op(const struct guest_mem *mem, struct virtq *vq, const uint8_t *op)
{
	const uint8_t *a = op + 1;

	switch (op[0] % OP_COUNT) {
	case OP_ENABLE:
		enable(vq, a);
		break;
	case OP_POP:
		pop(mem, vq, a);
		break;
	case OP_PUSH:
		if (slot_used[a[0] % SLOTS]) {
			virtq_push(vq, &slots[a[0] % SLOTS], get32(a + 1));
			slot_used[a[0] % SLOTS] = false;
		}
		break;
	case OP_UNPOP:
		virtq_unpop(vq);
		break;
	case OP_SHOULD_INTERRUPT:
		(void)virtq_should_interrupt(vq);
		break;
	case OP_SET_NOTIFICATION:
		(void)virtq_set_notification(vq, a[0] & 1);
		break;
	case OP_RESET:
		virtq_reset(vq);
		check(!vq->enabled && !vq->broken && !vq->error[0], "reset clears everything");
		memset(slot_used, 0, sizeof(slot_used));
		break;
	case OP_WRITE_MEM:
		check(guest_mem_write(mem, get16(a), a + 2, 8) == 0, "low 64 KiB is RAM");
		break;
	case OP_HAS_AVAILABLE:
		if (virtq_has_available(vq))
			check(vq->enabled && !vq->broken, "only a working queue has buffers available");
		break;
	}
}

/*
 * The two guests, created once: a fresh mapping per input costs more than the
 * input. Between inputs the RAM is dropped (MADV_DONTNEED reads back as zero),
 * so each input starts from zeroed memory as if newly created.
 */
static struct guest_mem *guest(bool big)
{
	static struct guest_mem mems[2];
	static bool created[2];
	struct guest_mem *mem = &mems[big];

	if (!created[big]) {
		if (x86_guest_mem_create(mem, big ? BIG_RAM : SMALL_RAM, NULL) < 0)
			abort();
		/* Small pages: zero-filling a 2 MiB huge page per input would dominate the run time. */
		madvise(mem->mapping, mem->mapping_size, MADV_NOHUGEPAGE);
		created[big] = true;
	}
	return mem;
}

static void wipe(struct guest_mem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		if (madvise(mem->regions[i].host, mem->regions[i].size, MADV_DONTNEED) < 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq vq;
	struct guest_mem *mem;
	size_t nops, image;

	if (size < 2)
		return 0;
	trace = getenv("FUZZ_VIRTQ_TRACE") != NULL;
	mem = guest(data[0] & 1);
	nops = data[1];
	if (nops * OP_SIZE > size - 2)
		nops = (size - 2) / OP_SIZE;
	image = size - 2 - nops * OP_SIZE;
	if (image > IMAGE_MAX)
		image = IMAGE_MAX;
	memcpy(mem->regions[0].host, data + 2 + nops * OP_SIZE, image);

	virtq_init(&vq, mem, (uint16_t)(1u << ((data[0] >> 1) % 16)));
	memset(slot_used, 0, sizeof(slot_used));
	for (size_t i = 0; i < nops; i++)
		run_op(mem, &vq, data + 2 + i * OP_SIZE);

	wipe(mem);
	return 0;
}
