/* SPDX-License-Identifier: MIT */
#include "virtio/iov.h"

unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t offset, uint64_t len, struct iovec *dst)
{
	unsigned count = 0;

	for (unsigned i = 0; i < n && len; i++) {
		if (offset >= src[i].iov_len) {
			offset -= src[i].iov_len;
			continue;
		}
		uint64_t take = src[i].iov_len - offset;
		if (take > len)
			take = len;
		dst[count++] = (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + offset, .iov_len = take };
		len -= take;
		offset = 0;
	}
	return count;
}
