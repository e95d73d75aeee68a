/* SPDX-License-Identifier: MIT */
#include "arch/x86/page_walk.h"

#include <errno.h>
#include <string.h>

#define PAGE_SIZE_4K 4096ull
#define ADDR_MASK_64 0x000ffffffffff000ull   /* entry bits 51:12 (MAXPHYADDR is at most 52) */
#define ADDR_MASK_32 0xfffff000ull
#define PSE_4M_RSVD  (1ull << 21)             /* 32-bit PDE with PS: bit 21 is reserved (PSE-36) */
#define MAX_LEVELS   5

unsigned page_walk_data_access(unsigned cpl, uint64_t rflags, bool write)
{
	unsigned access = write ? PAGE_WALK_WRITE : 0;

	if (cpl == 3)
		access |= PAGE_WALK_USER;
	else if (rflags & (1ull << 18))   /* RFLAGS.AC lifts SMAP for explicit accesses (§4.6.1) */
		access |= PAGE_WALK_NO_SMAP;
	return access;
}

bool page_walk_canonical(const struct kvm_sregs *sregs, uint64_t la)
{
	unsigned bits = (sregs->cr4 & X86_CR4_LA57) ? 57 : 48;

	if (!(sregs->efer & X86_EFER_LMA))
		return true;
	return (uint64_t)((int64_t)(la << (64 - bits)) >> (64 - bits)) == la;
}

static uint64_t load_entry(const void *p, bool wide)
{
	/* Another vCPU may be rewriting the entry: one atomic load, like the CPU. */
	if (wide)
		return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

/* Sets A/D bits in a guest page-table entry: a write by vmon, so marked for dirty-page tracking. */
static void set_entry_bits(const struct guest_mem *mem, void *p, bool wide, uint64_t bits)
{
	if (wide) {
		if ((__atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED) & bits) != bits) {
			__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_SEQ_CST);
			guest_mem_mark_host(mem, p, 8);
		}
	} else {
		if ((__atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED) & bits) != bits) {
			__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
			guest_mem_mark_host(mem, p, 4);
		}
	}
}

static int page_fault(struct x86_fault *fault, uint64_t la, uint32_t code, const char *why,
		      struct vmon_error *err)
{
	fault->vector = X86_VEC_PF;
	fault->has_error_code = true;
	fault->error_code = code;
	fault->cr2 = la;
	return error_set(err, -EFAULT, "#PF(0x%x) at linear 0x%llx: %s", code, (unsigned long long)la, why);
}

static int table_outside_ram(uint64_t la, uint64_t gpa, struct vmon_error *err)
{
	return error_set(err, -ENXIO, "linear 0x%llx: page-table entry at gpa 0x%llx is outside RAM",
			 (unsigned long long)la, (unsigned long long)gpa);
}

/* The rights accumulated over all levels of a walk (SDM vol. 3 §4.6). */
static bool access_allowed(const struct kvm_sregs *sregs, unsigned access, bool rw, bool us, bool xd)
{
	bool write = access & PAGE_WALK_WRITE, fetch = access & PAGE_WALK_FETCH;

	if (fetch && xd)
		return false;
	if (access & PAGE_WALK_USER)
		return us && (!write || rw);
	if (write && !rw && (sregs->cr0 & X86_CR0_WP))
		return false;
	if (us && fetch && (sregs->cr4 & X86_CR4_SMEP))
		return false;
	if (us && !fetch && (sregs->cr4 & X86_CR4_SMAP) && !(access & PAGE_WALK_NO_SMAP))
		return false;
	return true;
}

int page_walk_translate(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
			unsigned access, uint64_t *gpa, struct x86_fault *fault, struct vmon_error *err)
{
	bool lma = sregs->efer & X86_EFER_LMA, nxe = sregs->efer & X86_EFER_NXE;
	bool wide, rw = true, us = true, xd = false;
	uint32_t code = access & (X86_PF_W | X86_PF_U);
	uint64_t table, frame = 0, page_size = PAGE_SIZE_4K;
	void *touched[MAX_LEVELS];
	unsigned levels, ntouched = 0;

	if (!(sregs->cr0 & X86_CR0_PG)) {
		*gpa = (uint32_t)la;   /* paging off: linear addresses are 32 bits */
		return 0;
	}
	if (lma && !page_walk_canonical(sregs, la)) {
		*fault = (struct x86_fault){ .vector = X86_VEC_GP, .has_error_code = true };
		return error_set(err, -EFAULT, "#GP(0): linear address 0x%llx is not canonical",
				 (unsigned long long)la);
	}
	/* I/D is reported only where XD or SMEP can make a fetch fault (§4.7). */
	if ((access & PAGE_WALK_FETCH) &&
	    (((sregs->cr4 & X86_CR4_PAE) && nxe) || (sregs->cr4 & X86_CR4_SMEP)))
		code |= X86_PF_I;

	if (lma) {
		wide = true;
		levels = (sregs->cr4 & X86_CR4_LA57) ? 5 : 4;
		table = sregs->cr3 & ADDR_MASK_64;
	} else if (sregs->cr4 & X86_CR4_PAE) {
		/* The CPU caches the four PDPTEs at the CR3 load; re-reading them is the best we have. */
		uint64_t pdpte_gpa = (sregs->cr3 & 0xffffffe0ull) + ((la >> 30) & 3) * 8;
		const void *p = guest_mem_ptr(mem, pdpte_gpa, 8);
		uint64_t pdpte;

		la = (uint32_t)la;
		if (!p)
			return table_outside_ram(la, pdpte_gpa, err);
		pdpte = load_entry(p, true);
		if (!(pdpte & X86_PTE_P))
			return page_fault(fault, la, code, "PDPTE not present", err);
		wide = true;
		levels = 2;
		table = pdpte & ADDR_MASK_64;
	} else {
		la = (uint32_t)la;
		wide = false;
		levels = 2;
		table = sregs->cr3 & ADDR_MASK_32;
	}

	for (unsigned level = levels; level >= 1; level--) {
		unsigned shift = wide ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
		uint64_t index = (la >> shift) & (wide ? 0x1ff : 0x3ff);
		uint64_t entry_gpa = table + index * (wide ? 8 : 4);
		void *p = guest_mem_ptr(mem, entry_gpa, wide ? 8 : 4);
		uint64_t e;
		bool leaf;

		if (!p)
			return table_outside_ram(la, entry_gpa, err);
		e = load_entry(p, wide);
		if (!(e & X86_PTE_P))
			return page_fault(fault, la, code, "not present", err);
		if (wide && (e & X86_PTE_XD) && !nxe)
			return page_fault(fault, la, code | X86_PF_P | X86_PF_RSVD, "XD set without EFER.NXE", err);
		if (wide && level >= 4 && (e & X86_PTE_PS))
			return page_fault(fault, la, code | X86_PF_P | X86_PF_RSVD, "PS set in a PML4E/PML5E", err);
		rw = rw && (e & X86_PTE_W);
		us = us && (e & X86_PTE_U);
		xd = xd || (nxe && (e & X86_PTE_XD));
		touched[ntouched++] = p;

		leaf = level == 1 || ((e & X86_PTE_PS) && (wide || (sregs->cr4 & X86_CR4_PSE)));
		if (!leaf) {
			table = e & (wide ? ADDR_MASK_64 : ADDR_MASK_32);
			continue;
		}
		if (level == 1) {
			frame = e & (wide ? ADDR_MASK_64 : ADDR_MASK_32);
		} else if (wide) {
			/* 2 MiB / 1 GiB page: bit 12 is PAT, bits shift-1..13 are reserved. */
			page_size = 1ull << shift;
			if (e & (page_size - 1) & ~0x1fffull)
				return page_fault(fault, la, code | X86_PF_P | X86_PF_RSVD,
						  "large page address not aligned", err);
			frame = e & ADDR_MASK_64 & ~(page_size - 1);
		} else {
			/* 4 MiB page: bits 20:13 are physical address bits 39:32 (PSE-36). */
			page_size = 4ull << 20;
			if (e & PSE_4M_RSVD)
				return page_fault(fault, la, code | X86_PF_P | X86_PF_RSVD,
						  "reserved bit 21 set in a 4 MiB PDE", err);
			frame = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
		}
		break;
	}

	if (!access_allowed(sregs, access, rw, us, xd))
		return page_fault(fault, la, code | X86_PF_P, "protection violation", err);
	if (!(access & PAGE_WALK_PEEK)) {
		for (unsigned i = 0; i < ntouched; i++)
			set_entry_bits(mem, touched[i], wide, X86_PTE_A);
		if (access & PAGE_WALK_WRITE)
			set_entry_bits(mem, touched[ntouched - 1], wide, X86_PTE_D);
	}
	*gpa = frame | (la & (page_size - 1));
	return 0;
}

/* Host pointers for the (at most two) page pieces of [la, la+len). */
static int map_span(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la, size_t len,
		    unsigned access, uint8_t *host[2], size_t part[2], struct x86_fault *fault,
		    struct vmon_error *err)
{
	if (len == 0 || len > PAGE_WALK_MAX_LEN)
		return error_set(err, -EINVAL, "guest access of %zu bytes at linear 0x%llx (limit %u)",
				 len, (unsigned long long)la, PAGE_WALK_MAX_LEN);
	part[0] = PAGE_SIZE_4K - (la & (PAGE_SIZE_4K - 1));
	if (part[0] > len)
		part[0] = len;
	part[1] = len - part[0];
	for (unsigned i = 0; i < 2 && part[i]; i++) {
		uint64_t piece = i ? la + part[0] : la;
		uint64_t gpa;
		int r = page_walk_translate(mem, sregs, piece, access, &gpa, fault, err);

		if (r < 0)
			return r;
		host[i] = guest_mem_ptr(mem, gpa, part[i]);
		if (!host[i])
			return error_set(err, -ENXIO, "linear 0x%llx maps to gpa 0x%llx, outside RAM",
					 (unsigned long long)piece, (unsigned long long)gpa);
	}
	return 0;
}

int page_walk_read(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
		   void *dst, size_t len, unsigned access, struct x86_fault *fault, struct vmon_error *err)
{
	uint8_t *host[2] = { NULL, NULL };
	size_t part[2];
	int r = map_span(mem, sregs, la, len, access & ~PAGE_WALK_WRITE, host, part, fault, err);

	if (r < 0)
		return r;
	memcpy(dst, host[0], part[0]);
	if (part[1])
		memcpy((uint8_t *)dst + part[0], host[1], part[1]);
	return 0;
}

int page_walk_write(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
		    const void *src, size_t len, unsigned access, struct x86_fault *fault,
		    struct vmon_error *err)
{
	uint8_t *host[2] = { NULL, NULL };
	size_t part[2];
	int r = map_span(mem, sregs, la, len, access | PAGE_WALK_WRITE, host, part, fault, err);

	if (r < 0)
		return r;
	/* vmon's instruction emulator writes for the guest: KVM's dirty log does not see it. */
	memcpy(host[0], src, part[0]);
	guest_mem_mark_host(mem, host[0], part[0]);
	if (part[1]) {
		memcpy(host[1], (const uint8_t *)src + part[0], part[1]);
		guest_mem_mark_host(mem, host[1], part[1]);
	}
	return 0;
}
