/* SPDX-License-Identifier: MIT */
#ifndef VMON_STATS_H
#define VMON_STATS_H

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

struct vcpu_stats {
	uint64_t exits;
	uint64_t by_reason[STATS_MAX_REASONS];
	uint64_t other_reason;
	uint64_t addrs_overflow;      /* accesses to addresses past the table's capacity */
	struct stats_addr addrs[STATS_MAX_ADDRS];
};

void stats_count_exit(struct vcpu_stats *s, uint32_t reason);

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
