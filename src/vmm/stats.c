/* SPDX-License-Identifier: MIT */
#include "vmm/stats.h"

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

void stats_count_exit(struct vcpu_stats *s, uint32_t reason)
{
	stats_bump(&s->exits);
	stats_bump(reason < STATS_MAX_REASONS ? &s->by_reason[reason] : &s->other_reason);
}

void stats_count_io_exit(struct vcpu_stats *s, enum stats_space space, bool write)
{
	if (space == STATS_PIO)
		stats_bump(write ? &s->io_out : &s->io_in);
	else
		stats_bump(write ? &s->mmio_write : &s->mmio_read);
}

void stats_count_failure(struct vcpu_stats *s)
{
	stats_bump(&s->failures);
}

static struct stats_addr *lookup(struct vcpu_stats *s, enum stats_space space, uint64_t addr)
{
	/* Fibonacci hashing, linear probing. */
	uint64_t h = ((addr ^ ((uint64_t)space << 63)) * 0x9e3779b97f4a7c15ull) >> 55; /* 9 bits = 512 */

	for (unsigned probe = 0; probe < STATS_MAX_ADDRS; probe++) {
		struct stats_addr *a = &s->addrs[(h + probe) % STATS_MAX_ADDRS];
		if (!a->used) {
			a->used = 1;
			a->addr = addr;
			a->space = (uint8_t)space;
			return a;
		}
		if (a->addr == addr && a->space == space)
			return a;
	}
	return NULL;
}

bool stats_count_io(struct vcpu_stats *s, enum stats_space space, uint64_t addr, bool handled, bool write)
{
	struct stats_addr *a = lookup(s, space, addr);
	bool first_unhandled;

	if (!a) {
		s->addrs_overflow++;
		return false;
	}
	first_unhandled = !handled && a->count == 0;
	a->count++;
	a->unhandled = !handled;
	a->write = write;
	return first_unhandled;
}

void stats_merge(struct vcpu_stats *dst, const struct vcpu_stats *src)
{
	dst->exits += src->exits;
	for (unsigned i = 0; i < STATS_MAX_REASONS; i++)
		dst->by_reason[i] += src->by_reason[i];
	dst->other_reason += src->other_reason;
	dst->io_in += src->io_in;
	dst->io_out += src->io_out;
	dst->mmio_read += src->mmio_read;
	dst->mmio_write += src->mmio_write;
	dst->failures += src->failures;
	dst->addrs_overflow += src->addrs_overflow;
	for (unsigned i = 0; i < STATS_MAX_ADDRS; i++) {
		const struct stats_addr *a = &src->addrs[i];
		struct stats_addr *d;
		if (!a->used)
			continue;
		d = lookup(dst, a->space, a->addr);
		if (!d) {
			dst->addrs_overflow += a->count;
			continue;
		}
		d->count += a->count;
		d->unhandled |= a->unhandled;
	}
}

const char *stats_exit_reason_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "unknown";
	case KVM_EXIT_EXCEPTION: return "exception";
	case KVM_EXIT_IO: return "io";
	case KVM_EXIT_HYPERCALL: return "hypercall";
	case KVM_EXIT_DEBUG: return "debug";
	case KVM_EXIT_HLT: return "hlt";
	case KVM_EXIT_MMIO: return "mmio";
	case KVM_EXIT_IRQ_WINDOW_OPEN: return "irq_window_open";
	case KVM_EXIT_SHUTDOWN: return "shutdown";
	case KVM_EXIT_FAIL_ENTRY: return "fail_entry";
	case KVM_EXIT_INTR: return "intr";
	case KVM_EXIT_SET_TPR: return "set_tpr";
	case KVM_EXIT_TPR_ACCESS: return "tpr_access";
	case KVM_EXIT_NMI: return "nmi";
	case KVM_EXIT_INTERNAL_ERROR: return "internal_error";
	case KVM_EXIT_SYSTEM_EVENT: return "system_event";
	case KVM_EXIT_IOAPIC_EOI: return "ioapic_eoi";
	case KVM_EXIT_X86_RDMSR: return "x86_rdmsr";
	case KVM_EXIT_X86_WRMSR: return "x86_wrmsr";
	default: return "other";
	}
}

static int by_count_desc(const void *a, const void *b)
{
	const struct stats_addr *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

void stats_print(const struct vcpu_stats *s, FILE *out)
{
	struct stats_addr *sorted;
	unsigned n = 0;

	fprintf(out, "vmon: exits: %llu\n", (unsigned long long)s->exits);
	for (unsigned i = 0; i < STATS_MAX_REASONS; i++)
		if (s->by_reason[i])
			fprintf(out, "vmon:   %-16s %12llu\n", stats_exit_reason_name(i),
				(unsigned long long)s->by_reason[i]);
	if (s->other_reason)
		fprintf(out, "vmon:   %-16s %12llu\n", "other", (unsigned long long)s->other_reason);

	sorted = malloc(sizeof(s->addrs));
	if (!sorted)
		return;
	for (unsigned i = 0; i < STATS_MAX_ADDRS; i++)
		if (s->addrs[i].used)
			sorted[n++] = s->addrs[i];
	qsort(sorted, n, sizeof(*sorted), by_count_desc);
	if (n)
		fprintf(out, "vmon: I/O exits by address:\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "vmon:   %-4s 0x%-10llx %12llu%s\n", sorted[i].space == STATS_PIO ? "pio" : "mmio",
			(unsigned long long)sorted[i].addr, (unsigned long long)sorted[i].count,
			sorted[i].unhandled ? "  (no device)" : "");
	if (s->addrs_overflow)
		fprintf(out, "vmon:   (%llu accesses to further addresses not itemised)\n",
			(unsigned long long)s->addrs_overflow);
	free(sorted);
}
