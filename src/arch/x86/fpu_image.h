/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_FPU_IMAGE_H
#define VMON_X86_FPU_IMAGE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The guest's x87/SSE state as KVM_GET_XSAVE gives it and KVM_SET_XSAVE takes
 * it back: bytes 0-511 of the region are the legacy area in the FXSAVE64
 * layout (SDM vol. 1 §10.5.1 table 10-2), bytes 512-519 XSTATE_BV, whose bits
 * 0 (x87) and 1 (SSE) say which of the two components hold state rather than
 * their initial values (vol. 1 §13.4.2). KVM_GET_XSAVE fills a component in
 * its initial state with the initial values, so the legacy area can always be
 * read as it stands. KVM_GET_FPU/KVM_SET_FPU would not do: they leave MXCSR out.
 *
 * Functions for the monitor-side emulation of FXSAVE, FXRSTOR, LDMXCSR,
 * STMXCSR, FNCLEX and FWAIT: pure code on that image, no ioctls. A function
 * that changes a component sets its XSTATE_BV bit, so that KVM_SET_XSAVE
 * takes the new values instead of the initial ones.
 */

#define X86_FX_SIZE            512u       /* an FXSAVE area */
#define X86_FX_ALIGN           16u        /* FXSAVE/FXRSTOR: #GP(0) unless the operand is 16-byte aligned */
#define X86_MXCSR_DEFAULT_MASK 0xffbfu    /* MXCSR_MASK when the CPU stores 0 (vol. 1 §11.6.6) */
#define X86_FSW_ES             0x0080u    /* error summary: an unmasked x87 exception is pending */

/* Layout of an FXSAVE area: which formats and how many XMM registers (vol. 1 §10.5.1). */
struct x86_fx_format {
	bool wide;        /* REX.W: 64-bit FIP/FDP at 8 and 16 (FXSAVE64); else FIP:FCS, FDP:FDS (32-bit) */
	unsigned nxmm;    /* XMM registers saved/restored: 16 in 64-bit mode, 8 (0 without CR4.OSFXSR) else */
};

/* Bytes of the area that FXSAVE writes and FXRSTOR reads: up to the last XMM register of the format. */
size_t x86_fx_bytes(const struct x86_fx_format *fmt);

uint16_t x86_fx_fsw(const struct kvm_xsave *xs);
uint32_t x86_fx_mxcsr(const struct kvm_xsave *xs);
uint64_t x86_fx_xstate_bv(const struct kvm_xsave *xs);

/* True when mxcsr sets no bit outside mask (0 stands for the default mask). */
bool x86_fx_mxcsr_valid(uint32_t mxcsr, uint32_t mask);

/* LDMXCSR; mxcsr must be valid. */
void x86_fx_set_mxcsr(struct kvm_xsave *xs, uint32_t mxcsr);

/* FNCLEX: clears FSW's exception flags, stack fault, error summary and busy bit. */
void x86_fx_clear_exceptions(struct kvm_xsave *xs);

/*
 * FXSAVE: writes the first x86_fx_bytes(fmt) bytes of an FXSAVE area (the
 * rest is reserved or the software's: the CPU leaves it alone) to out, with
 * mxcsr_mask (0 stands for the default) as MXCSR_MASK. The 32-bit format
 * stores FCS and FDS as 0: the image does not hold them.
 */
void x86_fx_save(const struct kvm_xsave *xs, const struct x86_fx_format *fmt, uint32_t mxcsr_mask, uint8_t *out);

/*
 * FXRSTOR from the first x86_fx_bytes(fmt) bytes at in. Returns false, with
 * xs untouched, when the MXCSR in the area sets a bit outside mxcsr_mask
 * (the instruction raises #GP(0)).
 */
bool x86_fx_restore(struct kvm_xsave *xs, const struct x86_fx_format *fmt, uint32_t mxcsr_mask, const uint8_t *in);

/*
 * The MXCSR_MASK of the CPU vmon runs on (FXSAVE in vmon itself), which the
 * guest's vCPU shares: what the guest's own FXSAVE would report.
 */
uint32_t x86_fx_host_mxcsr_mask(void);

#endif
