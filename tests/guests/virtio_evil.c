/* SPDX-License-Identifier: MIT */
/*
 * virtio_evil: a malicious driver for the first virtio-blk device. One attack
 * per run (cmdline attack=NAME), then recovery: the device must end up in
 * DEVICE_NEEDS_RESET where the attack breaks the queue (with a
 * configuration-change interrupt, and serving nothing more), and after a
 * reset and a new set-up a good read of sector 0 must succeed. The monitor
 * must survive all of it.
 *
 * The image holds the virtio_blk pattern: byte(o) = ((o >> 9) * 59 + (o & 511)) & 0xff.
 *
 * Attacks (those marked * break the queue):
 *   desc_loop*        a chain 0 -> 1 -> 2 -> 1 (all device-readable)
 *   indirect_loop*    the same loop in an indirect table
 *   oob_addr*         a data buffer at 0xd0000000 (MMIO, not RAM)
 *   oob_wrap*         a data buffer at 0xfffffffffffff000 + 0x2000 bytes (wraps)
 *   huge_len*         a data buffer of 0xffffffff bytes
 *   wrap_idx*         avail idx 0x8000 ahead of the last one
 *   notify_early      a request kicked after QueueReady but before DRIVER_OK, then
 *                     QueueNotify for queues 7 and 0xffff (which do not exist)
 *   reset_mid_io      8 reads kicked, reset at once (8 rounds); the old rings and
 *                     buffers must stay untouched after the last reset completed
 *   bad_ring*         QueueDesc = 0xc0000000 (outside RAM) before QueueReady; the device
 *                     may instead refuse the queue (QueueReady reads 0, no NEEDS_RESET)
 *   readable_after_writable*  header, status (device-writable), then a readable buffer
 * strict=1: notify_early fails when the device served the request before DRIVER_OK.
 *
 * Failures: 1 = unknown attack=, 2 = no DEVICE_NEEDS_RESET, 3 = no
 * configuration-change interrupt bit, 4 = a request was served while the
 * device needed a reset, 5 = the good read returned a bad status or bad data,
 * 6 = served before DRIVER_OK (strict=1), 7 = the device wrote old rings or
 * buffers after its reset. Library failures: 90..95 (virtio.h).
 */
#include <linux/virtio_blk.h>

#include "virtio.h"

#define SECTOR 512u
#define MID_IO_REQUESTS 8u
#define MID_IO_ROUNDS 8u
#define QUEUE_SIZE 32u   /* room for MID_IO_REQUESTS three-descriptor reads */
#define OOB_ADDR UINT64_C(0xd0000000)
#define BAD_RING_ADDR UINT64_C(0xc0000000)
#define SETTLE_S 1u   /* how long a device gets to (not) answer */

struct blk_req {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
};

static struct virtio_dev dev;
static struct vq vq, vq_fresh;
static struct blk_req reqs[MID_IO_REQUESTS];
static uint8_t data[MID_IO_REQUESTS][SECTOR] __attribute__((section(".bss.noinit.evil"), aligned(4096)));
static struct vring_desc indirect_table[4] __attribute__((aligned(16)));
static bool strict;

static uint8_t pattern_byte(uint64_t offset)
{
	return (uint8_t)((offset >> 9) * 59 + (offset & 511));
}

static uint64_t addr(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void set_desc(struct vring_desc *d, uint64_t a, uint32_t len, uint16_t flags, uint16_t next)
{
	d->addr = a;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void fill_read(struct blk_req *r, uint64_t sector)
{
	r->hdr.type = VIRTIO_BLK_T_IN;
	r->hdr.ioprio = 0;
	r->hdr.sector = sector;
	r->status = 0xff;
}

/* The usual three-descriptor read, through the library. */
static uint16_t add_read(struct vq *q, unsigned int slot, uint64_t sector)
{
	struct vq_seg segs[3] = {
		{ &reqs[slot].hdr, sizeof(reqs[slot].hdr), false },
		{ data[slot], SECTOR, true },
		{ &reqs[slot].status, 1, true },
	};

	fill_read(&reqs[slot], sector);
	return vq_add(q, segs, 3);
}

static void setup(struct vq *q)
{
	virtio_negotiate(&dev, 1ull << VIRTIO_RING_F_INDIRECT_DESC);
	virtq_setup(q, &dev, 0, QUEUE_SIZE);
	virtio_driver_ok(&dev);
}

static void good_read(struct vq *q, const char *when)
{
	uint16_t head = add_read(q, 0, 0), got;
	uint32_t len;

	memset(data[0], 0, SECTOR);
	vq_kick(q);
	vq_wait_used(q, &got, &len, "good read");
	if (got != head || reqs[0].status != VIRTIO_BLK_S_OK)
		virtio_fail(5, "good read %s: id %u (expected %u), status %u", when, got, head, reqs[0].status);
	for (uint32_t i = 0; i < SECTOR; i++) {
		if (data[0][i] != pattern_byte(i))
			virtio_fail(5, "good read %s: byte %u is 0x%x, expected 0x%x", when, i, data[0][i],
				    pattern_byte(i));
	}
	printf("virtio_evil: good read of sector 0 %s: ok\n", when);
}

/* Publishes a raw chain starting at descriptor `head` and kicks queue 0. */
static void publish_raw(uint16_t head)
{
	vq_publish(&vq, head);
	virtio_notify(&dev, 0);
}

/* After a queue-breaking attack. */
static void expect_broken(const char *attack, bool ring_usable)
{
	bool broken = virtio_wait_needs_reset(&dev, VIRTIO_TIMEOUT_S);
	uint32_t isr = virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS);
	struct virtio_deadline d;
	uint16_t before;

	printf("virtio_evil: %s: status 0x%x, InterruptStatus 0x%x\n", attack, virtio_status(&dev), isr);
	if (!broken)
		virtio_fail(2, "%s: the device did not set DEVICE_NEEDS_RESET within %u s", attack, VIRTIO_TIMEOUT_S);
	if (!(isr & VIRTIO_MMIO_INT_CONFIG))
		virtio_fail(3, "%s: DEVICE_NEEDS_RESET without the configuration-change interrupt bit", attack);
	printf("virtio_evil: %s: device set DEVICE_NEEDS_RESET\n", attack);
	virtio_ack_interrupt(&dev);
	if (!ring_usable)
		return;
	/* A device that needs a reset serves nothing, not even a good request. */
	before = __atomic_load_n(&vq.used->idx, __ATOMIC_SEQ_CST);
	add_read(&vq, 1, 0);
	virtio_notify(&dev, 0);
	virtio_deadline_start(&d, SETTLE_S);
	while (!virtio_deadline_expired(&d)) {
		if (__atomic_load_n(&vq.used->idx, __ATOMIC_SEQ_CST) != before)
			virtio_fail(4, "%s: a request was served while the device needed a reset", attack);
	}
	printf("virtio_evil: %s: no request served while broken\n", attack);
}

/* ---- the attacks ---------------------------------------------------------- */

/*
 * The loops are all device-readable (a write-only descriptor followed by a
 * readable one would be a different error) and close on the second entry,
 * not the head.
 */
static void attack_desc_loop(void)
{
	fill_read(&reqs[0], 0);
	set_desc(&vq.desc[0], addr(&reqs[0].hdr), sizeof(reqs[0].hdr), VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[1], addr(data[0]), SECTOR, VRING_DESC_F_NEXT, 2);
	set_desc(&vq.desc[2], addr(data[1]), SECTOR, VRING_DESC_F_NEXT, 1);
	printf("virtio_evil: desc_loop: chain 0 -> 1 -> 2 -> 1 kicked\n");
	publish_raw(0);
	expect_broken("desc_loop", true);
}

static void attack_indirect_loop(void)
{
	fill_read(&reqs[0], 0);
	set_desc(&indirect_table[0], addr(&reqs[0].hdr), sizeof(reqs[0].hdr), VRING_DESC_F_NEXT, 1);
	set_desc(&indirect_table[1], addr(data[0]), SECTOR, VRING_DESC_F_NEXT, 2);
	set_desc(&indirect_table[2], addr(data[1]), SECTOR, VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[0], addr(indirect_table), 3 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	printf("virtio_evil: indirect_loop: indirect table 0 -> 1 -> 2 -> 1 kicked (INDIRECT_DESC %s)\n",
	       virtio_has_feature(&dev, VIRTIO_RING_F_INDIRECT_DESC) ? "negotiated" : "not negotiated");
	publish_raw(0);
	expect_broken("indirect_loop", true);
}

static void attack_bad_buffer(const char *name, uint64_t buf, uint32_t len)
{
	fill_read(&reqs[0], 0);
	set_desc(&vq.desc[0], addr(&reqs[0].hdr), sizeof(reqs[0].hdr), VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[1], buf, len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(&vq.desc[2], addr(&reqs[0].status), 1, VRING_DESC_F_WRITE, 0);
	printf("virtio_evil: %s: read into 0x%lx, %u bytes, kicked\n", name, buf, len);
	publish_raw(0);
	expect_broken(name, true);
}

static void attack_wrap_idx(void)
{
	uint16_t idx;

	add_read(&vq, 0, 0);
	idx = (uint16_t)(vq.avail_idx - 1 + 0x8000);
	/* The chain is fine; the index claims 0x8000 entries in a 16-entry ring. */
	__atomic_store_n(&vq.avail->idx, idx, __ATOMIC_SEQ_CST);
	printf("virtio_evil: wrap_idx: avail idx %u with a %u-entry ring, kicked\n", idx, vq.size);
	virtio_notify(&dev, 0);
	expect_broken("wrap_idx", true);
}

static void attack_readable_after_writable(void)
{
	fill_read(&reqs[0], 0);
	set_desc(&vq.desc[0], addr(&reqs[0].hdr), sizeof(reqs[0].hdr), VRING_DESC_F_NEXT, 1);
	set_desc(&vq.desc[1], addr(&reqs[0].status), 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(&vq.desc[2], addr(data[0]), SECTOR, 0, 0);
	printf("virtio_evil: readable_after_writable: header (r), status (w), data (r) kicked\n");
	publish_raw(0);
	expect_broken("readable_after_writable", true);
}

static void attack_bad_ring(void)
{
	uint32_t ready;

	/* Valid avail and used rings in the queue's own memory; the descriptor table in the MMIO hole. */
	virtio_negotiate(&dev, 0);
	virtq_setup(&vq, &dev, 0, QUEUE_SIZE);
	virtio_negotiate(&dev, 0);
	virtq_setup_raw(&dev, 0, QUEUE_SIZE, BAD_RING_ADDR, addr(vq.avail), addr(vq.used));
	ready = virtio_read(&dev, VIRTIO_MMIO_QUEUE_READY);
	printf("virtio_evil: bad_ring: QueueDesc 0x%lx, QueueReady reads %u, status 0x%x\n", BAD_RING_ADDR, ready,
	       virtio_status(&dev));
	if (!virtio_needs_reset(&dev)) {
		virtio_driver_ok(&dev);
		memset(vq.avail, 0, sizeof(struct vring_avail) + 2u * QUEUE_SIZE);
		vq.avail->ring[0] = 0;
		__atomic_store_n(&vq.avail->idx, 1, __ATOMIC_SEQ_CST);
		printf("virtio_evil: bad_ring: DRIVER_OK, descriptor 0 made available, kicked\n");
		virtio_notify(&dev, 0);
	}
	/* Refusing the queue (QueueReady stays 0) is the other sound answer: it never went live. */
	if (ready == 0 && !virtio_needs_reset(&dev)) {
		printf("virtio_evil: bad_ring: queue refused (QueueReady 0), status 0x%x\n", virtio_status(&dev));
		return;
	}
	expect_broken("bad_ring", false);
}

static void attack_notify_early(void)
{
	uint16_t head, got = 0xffff;
	uint32_t len;
	enum vq_wait_result early;

	virtio_negotiate(&dev, 0);
	virtq_setup(&vq, &dev, 0, QUEUE_SIZE);
	head = add_read(&vq, 0, 0);
	virtio_notify(&dev, 0);
	virtio_notify(&dev, 7);
	virtio_notify(&dev, 0xffff);
	printf("virtio_evil: notify_early: queue 0 kicked with a read before DRIVER_OK; queues 7, 0xffff kicked\n");
	early = vq_try_wait_used(&vq, &got, &len, SETTLE_S);
	printf("virtio_evil: notify_early: %s before DRIVER_OK, status 0x%x\n",
	       early == VQ_WAIT_USED ? "served" : "not served", virtio_status(&dev));
	if (early == VQ_WAIT_USED && strict)
		virtio_fail(6, "notify_early: the request was served before DRIVER_OK");
	virtio_driver_ok(&dev);
	virtio_notify(&dev, 7);
	virtio_notify(&dev, 0xffff);
	if (early != VQ_WAIT_USED) {
		virtio_notify(&dev, 0);
		vq_wait_used(&vq, &got, &len, "read kicked again after DRIVER_OK");
	}
	if (got != head || reqs[0].status != VIRTIO_BLK_S_OK)
		virtio_fail(5, "notify_early: early read: id %u (expected %u), status %u", got, head, reqs[0].status);
	printf("virtio_evil: notify_early: early read completed after DRIVER_OK, status 0x%x\n",
	       virtio_status(&dev));
	if (!virtio_needs_reset(&dev))
		good_read(&vq, "without a reset");
}

static void attack_reset_mid_io(void)
{
	uint16_t used_after_reset = 0, used[MID_IO_ROUNDS];
	static uint8_t sums[MID_IO_REQUESTS];

	/* Several rounds: how far the device got before the reset varies with timing. */
	for (unsigned int round = 0; round < MID_IO_ROUNDS; round++) {
		if (round)
			setup(&vq);
		for (unsigned int i = 0; i < MID_IO_REQUESTS; i++) {
			memset(data[i], 0, SECTOR);
			add_read(&vq, i, i);
		}
		vq_kick(&vq);
		virtio_reset(&dev);
		used_after_reset = __atomic_load_n(&vq.used->idx, __ATOMIC_SEQ_CST);
		used[round] = used_after_reset;
	}
	printf("virtio_evil: reset_mid_io: %u rounds of %u reads kicked and reset at once; used before the reset:",
	       MID_IO_ROUNDS, MID_IO_REQUESTS);
	for (unsigned int round = 0; round < MID_IO_ROUNDS; round++)
		printf(" %u", used[round]);
	printf("\n");
	for (unsigned int i = 0; i < MID_IO_REQUESTS; i++) {
		uint8_t s = reqs[i].status;

		for (uint32_t j = 0; j < SECTOR; j++)
			s = (uint8_t)(s * 31 + data[i][j]);
		sums[i] = s;
	}
	/* New rings elsewhere; the old ones must now stay as they are. */
	setup(&vq_fresh);
	good_read(&vq_fresh, "on new rings after the reset");
	if (__atomic_load_n(&vq.used->idx, __ATOMIC_SEQ_CST) != used_after_reset)
		virtio_fail(7, "reset_mid_io: old used idx moved from %u to %u after the reset", used_after_reset,
			    vq.used->idx);
	/* Request 0's buffers are the good read's. */
	for (unsigned int i = 1; i < MID_IO_REQUESTS; i++) {
		uint8_t s = reqs[i].status;

		for (uint32_t j = 0; j < SECTOR; j++)
			s = (uint8_t)(s * 31 + data[i][j]);
		if (s != sums[i])
			virtio_fail(7, "reset_mid_io: request %u's buffers changed after the reset", i);
	}
	printf("virtio_evil: reset_mid_io: old rings and buffers untouched after the reset\n");
}

struct attack {
	const char *name;
	bool needs_setup;    /* runs on a set-up, DRIVER_OK device */
	void (*run)(void);
};

static void attack_oob_addr(void)
{
	attack_bad_buffer("oob_addr", OOB_ADDR, SECTOR);
}

static void attack_oob_wrap(void)
{
	attack_bad_buffer("oob_wrap", UINT64_C(0xfffffffffffff000), 0x2000);
}

static void attack_huge_len(void)
{
	attack_bad_buffer("huge_len", addr(data[0]), 0xffffffffu);
}

static const struct attack attacks[] = {
	{ "desc_loop", true, attack_desc_loop },
	{ "indirect_loop", true, attack_indirect_loop },
	{ "oob_addr", true, attack_oob_addr },
	{ "oob_wrap", true, attack_oob_wrap },
	{ "huge_len", true, attack_huge_len },
	{ "wrap_idx", true, attack_wrap_idx },
	{ "notify_early", false, attack_notify_early },
	{ "reset_mid_io", true, attack_reset_mid_io },
	{ "bad_ring", false, attack_bad_ring },
	{ "readable_after_writable", true, attack_readable_after_writable },
};

void guest_main(const struct boot_info *bi)
{
	const char *name = cmdline_get(bi, "attack=");
	uint64_t v;

	virtio_set_guest_name("virtio_evil");
	strict = cmdline_get_u64(bi, "strict=", &v) && v;
	for (size_t i = 0; name && i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		size_t n = strlen(attacks[i].name);

		if (strncmp(name, attacks[i].name, n) || (name[n] && name[n] != ' '))
			continue;
		virtio_find(bi, VIRTIO_ID_BLOCK, 0, &dev);
		if (attacks[i].needs_setup)
			setup(&vq);
		printf("virtio_evil: attack %s\n", attacks[i].name);
		attacks[i].run();
		printf("virtio_evil: resetting and setting the device up again\n");
		setup(&vq);
		good_read(&vq, "after the reset");
		if (virtio_needs_reset(&dev))
			virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "DEVICE_NEEDS_RESET after the good read");
		printf("virtio_evil: %s survived, device serves again\n", attacks[i].name);
		debug_exit(0);
	}
	virtio_fail(1, "attack= must name one of desc_loop indirect_loop oob_addr oob_wrap huge_len wrap_idx "
		       "notify_early reset_mid_io bad_ring readable_after_writable");
}
