/* SPDX-License-Identifier: MIT */
/* The statistics tags' names, apart from the device model: the API (and its fuzz target) needs only these. */
#include "virtio/balloon.h"

#include <linux/virtio_balloon.h>

static const char *const stat_names[VIRTIO_BALLOON_NUM_STATS] = {
	[VIRTIO_BALLOON_S_SWAP_IN] = "swap_in",
	[VIRTIO_BALLOON_S_SWAP_OUT] = "swap_out",
	[VIRTIO_BALLOON_S_MAJFLT] = "major_faults",
	[VIRTIO_BALLOON_S_MINFLT] = "minor_faults",
	[VIRTIO_BALLOON_S_MEMFREE] = "free_memory",
	[VIRTIO_BALLOON_S_MEMTOT] = "total_memory",
	[VIRTIO_BALLOON_S_AVAIL] = "available_memory",
	[VIRTIO_BALLOON_S_CACHES] = "disk_caches",
	[VIRTIO_BALLOON_S_HTLB_PGALLOC] = "hugetlb_allocations",
	[VIRTIO_BALLOON_S_HTLB_PGFAIL] = "hugetlb_failures",
	/* Linux 6.12's tags (not in this host's header yet): Firecracker's names for them. */
	[10] = "oom_kill",
	[11] = "alloc_stall",
	[12] = "async_scan",
	[13] = "direct_scan",
	[14] = "async_reclaim",
	[15] = "direct_reclaim",
};

const char *virtio_balloon_stat_name(unsigned tag)
{
	return tag < VIRTIO_BALLOON_NUM_STATS ? stat_names[tag] : NULL;
}
