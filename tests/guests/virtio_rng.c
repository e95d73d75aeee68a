/* SPDX-License-Identifier: MIT */
/*
 * virtio_rng: reads 64 bytes from the first virtio-rng device twice (the
 * device may answer with fewer bytes than asked: the guest asks again for
 * the rest) and checks that neither block is all zeros and that they differ.
 * Failures: 1 = a block is all zeros, 2 = the two blocks are equal, 3 = the
 * device kept answering 0 bytes. Library failures: 90..95 (virtio.h).
 */
#include "virtio.h"

#define BLOCK 64u
#define MAX_REQUESTS 64

static struct virtio_dev dev;
static struct vq vq;
static uint8_t blocks[2][BLOCK] __attribute__((aligned(64)));

/* Returns the number of requests it took. */
static unsigned int read_block(uint8_t *buf)
{
	uint32_t have = 0;
	unsigned int requests = 0;

	memset(buf, 0, BLOCK);
	while (have < BLOCK) {
		struct vq_seg seg = { buf + have, BLOCK - have, true };

		if (++requests > MAX_REQUESTS)
			virtio_fail(3, "%u requests gave only %u of %u bytes", MAX_REQUESTS, have, BLOCK);
		have += vq_submit_wait(&vq, &seg, 1, "entropy request");
	}
	return requests;
}

static bool all_zero(const uint8_t *buf)
{
	for (uint32_t i = 0; i < BLOCK; i++) {
		if (buf[i])
			return false;
	}
	return true;
}

void guest_main(const struct boot_info *bi)
{
	virtio_set_guest_name("virtio_rng");
	virtio_find(bi, VIRTIO_ID_RNG, 0, &dev);
	virtio_negotiate(&dev, 0);
	virtq_setup(&vq, &dev, 0, 8);
	virtio_driver_ok(&dev);

	for (int b = 0; b < 2; b++) {
		unsigned int requests = read_block(blocks[b]);

		printf("virtio_rng: block %d: %u bytes in %u request%s, starts %02x%02x%02x%02x\n", b, BLOCK, requests,
		       requests == 1 ? "" : "s", blocks[b][0], blocks[b][1], blocks[b][2], blocks[b][3]);
		if (all_zero(blocks[b]))
			virtio_fail(1, "block %d is all zeros", b);
	}
	if (!memcmp(blocks[0], blocks[1], BLOCK))
		virtio_fail(2, "the two %u-byte blocks are equal", BLOCK);
	if (virtio_needs_reset(&dev))
		virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "device set DEVICE_NEEDS_RESET (status 0x%x)", virtio_status(&dev));
	printf("virtio_rng: all checks passed\n");
	debug_exit(0);
}
