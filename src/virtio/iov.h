/* SPDX-License-Identifier: MIT */
#ifndef VMON_VIRTIO_IOV_H
#define VMON_VIRTIO_IOV_H

#include <stdint.h>
#include <sys/uio.h>

/*
 * dst = the bytes [offset, offset + len) of src[0 .. n), as at most n
 * iovecs pointing into the same buffers (nothing is copied); returns how
 * many. Fewer bytes when src is shorter.
 */
unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t offset, uint64_t len, struct iovec *dst);

#endif
