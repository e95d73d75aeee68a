/* SPDX-License-Identifier: MIT */
#ifndef VMON_STATS_H
#define VMON_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Exit accounting for one vCPU (merged at the end): counts by KVM exit reason
 * and by I/O address, and the set of addresses no device owns, each reported
 * once. A fixed-size open-addressing table: a guest can touch at most
 * STATS_MAX_ADDRS distinct addresses before further ones fall into an
 * "other" bucket, so a hostile guest cannot make the monitor allocate.
 */
#define STATS_MAX_REASONS 64
#define STATS_MAX_ADDRS 512

enum stats_space { STATS_PIO, STATS_MMIO };

struct stats_addr {
	uint64_t addr;
	uint64_t count;
	uint8_t used;
	uint8_t space;     /* enum stats_space */
	uint8_t unhandled;
	uint8_t write;     /* last access direction, for the report */
};

/*
 * The counters marked _Atomic may be read by another thread while the vCPU
 * runs (metrics: vmm/metrics_source.h). Their one writer is the vCPU thread,
 * which bumps them with relaxed loads and stores (stats_bump): no locked
 * instruction on the exit path, and a reader sees each value whole.
 */
struct vcpu_stats {
	_Atomic uint64_t exits;
	_Atomic uint64_t by_reason[STATS_MAX_REASONS];
	_Atomic uint64_t other_reason;
	_Atomic uint64_t io_in, io_out;          /* KVM_EXIT_IO exits by direction */
	_Atomic uint64_t mmio_read, mmio_write;  /* KVM_EXIT_MMIO exits by direction */
	_Atomic uint64_t failures;               /* the vCPU stopped on an error (crash, KVM_RUN failing) */
	uint64_t addrs_overflow;      /* accesses to addresses past the table's capacity */
	struct stats_addr addrs[STATS_MAX_ADDRS];
};

/* The one writer's increment (see struct vcpu_stats). */
static inline void stats_bump(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* A relaxed read, for any thread. */
static inline uint64_t stats_read(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void stats_count_exit(struct vcpu_stats *s, uint32_t reason);

/* One I/O exit (a string PIO exit counts once, however many elements it moves). */
void stats_count_io_exit(struct vcpu_stats *s, enum stats_space space, bool write);
void stats_count_failure(struct vcpu_stats *s);

/*
 * Counts an I/O access; returns true the first time an unhandled address is
 * seen (the caller then logs it once).
 */
bool stats_count_io(struct vcpu_stats *s, enum stats_space space, uint64_t addr, bool handled, bool write);

/* Adds src into dst. */
void stats_merge(struct vcpu_stats *dst, const struct vcpu_stats *src);

/* Human-readable report (exit reasons by name, top addresses, unhandled ones). */
void stats_print(const struct vcpu_stats *s, FILE *out);

const char *stats_exit_reason_name(uint32_t reason);

#endif
