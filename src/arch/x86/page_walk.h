/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_PAGE_WALK_H
#define VMON_X86_PAGE_WALK_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Guest linear → guest-physical translation through the guest's own page
 * tables (SDM vol. 3 chapter 4), for the monitor-side instruction emulator:
 * paging off (identity), 32-bit (4 KiB / 4 MiB pages), PAE, and IA-32e
 * 4-level / 5-level paging (4 KiB / 2 MiB / 1 GiB pages). Access rights
 * (present, R/W with CR0.WP, U/S, XD with EFER.NXE, SMEP, SMAP) are checked
 * and a fault is reported exactly as the CPU would raise it. Protection keys
 * are not modelled (CR4.PKE: the PKRU is not part of the state we get).
 *
 * Every table and data access goes through guest_mem_ptr(); a walk visits at
 * most five entries. All functions return 0, -EFAULT when the guest access
 * faults (the fault is filled: raise it in the guest), -ENXIO when a page
 * table or the data lies outside RAM (MMIO: the monitor cannot emulate it),
 * or -EINVAL for a bad length; err (if non-NULL) gets one message.
 */

/* Exception vectors (SDM vol. 3 table 6-1). */
#define X86_VEC_DE  0
#define X86_VEC_DB  1
#define X86_VEC_BP  3
#define X86_VEC_UD  6
#define X86_VEC_NM  7
#define X86_VEC_DF  8
#define X86_VEC_TS  10
#define X86_VEC_NP  11
#define X86_VEC_SS  12
#define X86_VEC_GP  13
#define X86_VEC_PF  14
#define X86_VEC_MF  16

/* #PF error code bits (SDM vol. 3 §4.7). */
#define X86_PF_P    (1u << 0)
#define X86_PF_W    (1u << 1)
#define X86_PF_U    (1u << 2)
#define X86_PF_RSVD (1u << 3)
#define X86_PF_I    (1u << 4)

/* Control register and EFER bits the walk and the emulator look at. */
#define X86_CR0_PE   (1ull << 0)
#define X86_CR0_MP   (1ull << 1)
#define X86_CR0_EM   (1ull << 2)
#define X86_CR0_TS   (1ull << 3)
#define X86_CR0_NE   (1ull << 5)
#define X86_CR0_WP   (1ull << 16)
#define X86_CR0_PG   (1ull << 31)
#define X86_CR4_PSE  (1ull << 4)
#define X86_CR4_PAE  (1ull << 5)
#define X86_CR4_OSFXSR (1ull << 9)
#define X86_CR4_LA57 (1ull << 12)
#define X86_CR4_SMEP (1ull << 20)
#define X86_CR4_SMAP (1ull << 21)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)
#define X86_EFER_FFXSR (1ull << 14)   /* AMD fast FXSAVE/FXRSTOR */

/* Page table entry bits. */
#define X86_PTE_P   (1ull << 0)
#define X86_PTE_W   (1ull << 1)
#define X86_PTE_U   (1ull << 2)
#define X86_PTE_A   (1ull << 5)
#define X86_PTE_D   (1ull << 6)
#define X86_PTE_PS  (1ull << 7)
#define X86_PTE_XD  (1ull << 63)

/* An exception the guest access (or instruction) raises. */
struct x86_fault {
	uint8_t vector;
	bool has_error_code;
	uint32_t error_code;
	uint64_t cr2;          /* #PF only: the faulting linear address */
};

/*
 * Access kinds, OR-ed. WRITE, USER and FETCH sit at their #PF error code
 * positions. USER means an explicit access at CPL 3; implicit accesses to
 * system structures (GDT, IDT, TSS) are supervisor accesses whatever the CPL
 * and SMAP applies to them regardless of RFLAGS.AC (SDM vol. 3 §4.6).
 */
#define PAGE_WALK_WRITE   (1u << 1)
#define PAGE_WALK_USER    (1u << 2)
#define PAGE_WALK_FETCH   (1u << 4)
#define PAGE_WALK_NO_SMAP (1u << 8)   /* explicit supervisor access with RFLAGS.AC = 1 */
#define PAGE_WALK_PEEK    (1u << 9)   /* inspection: leave accessed/dirty bits alone */

/* Longest read/write: at most two pages are touched. */
#define PAGE_WALK_MAX_LEN 4096u

/* Access flags for an explicit data access at privilege level cpl with RFLAGS rflags. */
unsigned page_walk_data_access(unsigned cpl, uint64_t rflags, bool write);

/* True when la is canonical for the current paging mode (always outside IA-32e mode). */
bool page_walk_canonical(const struct kvm_sregs *sregs, uint64_t la);

/* Translates one linear address; sets accessed/dirty bits like the CPU unless PEEK. */
int page_walk_translate(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
			unsigned access, uint64_t *gpa, struct x86_fault *fault, struct vmon_error *err);

/*
 * Reads/writes len (1 .. PAGE_WALK_MAX_LEN) bytes at linear address la, which
 * may cross into a second page. Both pages are translated before any byte
 * moves, so a faulting write leaves guest memory untouched.
 */
int page_walk_read(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
		   void *dst, size_t len, unsigned access, struct x86_fault *fault, struct vmon_error *err);
int page_walk_write(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t la,
		    const void *src, size_t len, unsigned access, struct x86_fault *fault,
		    struct vmon_error *err);

#endif
