/* SPDX-License-Identifier: MIT */
#ifndef VMON_BASE_STAT_COUNTER_H
#define VMON_BASE_STAT_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

/*
 * A device's statistics counter: bumped by one writer at a time (the thread
 * serving the queue, under the device's lock), read by any thread. A relaxed
 * load and store, no locked instruction on the I/O path.
 */
static inline void stat_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t stat_get(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

#endif
