/* SPDX-License-Identifier: MIT */
#include "arch/x86/fpu_image.h"

#include <string.h>

/* Offsets in the legacy area (SDM vol. 1 table 10-2). */
enum {
	FX_FCW = 0, FX_FSW = 2, FX_FTW = 4, FX_FOP = 6,
	FX_FIP = 8, FX_FCS = 12, FX_FDP = 16, FX_FDS = 20,
	FX_MXCSR = 24, FX_MXCSR_MASK = 28, FX_ST = 32, FX_XMM = 160,
	XSAVE_XSTATE_BV = 512,
};

#define XSTATE_X87 1ull
#define XSTATE_SSE 2ull

/* FSW bits FNCLEX clears: PE UE OE ZE DE IE (5:0), SF (6), ES (7), B (15). */
#define FSW_FNCLEX 0x80ffu

static uint8_t *image(struct kvm_xsave *xs)
{
	return (uint8_t *)xs->region;
}

static const uint8_t *cimage(const struct kvm_xsave *xs)
{
	return (const uint8_t *)xs->region;
}

static uint64_t load(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p, n);   /* x86: little-endian, as the area */
	return v;
}

static void store(uint8_t *p, uint64_t v, size_t n)
{
	memcpy(p, &v, n);
}

static void mark(struct kvm_xsave *xs, uint64_t components)
{
	store(image(xs) + XSAVE_XSTATE_BV, x86_fx_xstate_bv(xs) | components, 8);
}

size_t x86_fx_bytes(const struct x86_fx_format *fmt)
{
	return FX_XMM + 16u * (fmt->nxmm > 16 ? 16 : fmt->nxmm);
}

uint16_t x86_fx_fsw(const struct kvm_xsave *xs)
{
	return (uint16_t)load(cimage(xs) + FX_FSW, 2);
}

uint32_t x86_fx_mxcsr(const struct kvm_xsave *xs)
{
	return (uint32_t)load(cimage(xs) + FX_MXCSR, 4);
}

uint64_t x86_fx_xstate_bv(const struct kvm_xsave *xs)
{
	return load(cimage(xs) + XSAVE_XSTATE_BV, 8);
}

bool x86_fx_mxcsr_valid(uint32_t mxcsr, uint32_t mask)
{
	return !(mxcsr & ~(mask ? mask : X86_MXCSR_DEFAULT_MASK));
}

void x86_fx_set_mxcsr(struct kvm_xsave *xs, uint32_t mxcsr)
{
	store(image(xs) + FX_MXCSR, mxcsr, 4);
	mark(xs, XSTATE_SSE);   /* MXCSR is part of the SSE component (vol. 1 §13.5.2) */
}

void x86_fx_clear_exceptions(struct kvm_xsave *xs)
{
	store(image(xs) + FX_FSW, x86_fx_fsw(xs) & ~FSW_FNCLEX, 2);
	mark(xs, XSTATE_X87);
}

void x86_fx_save(const struct kvm_xsave *xs, const struct x86_fx_format *fmt, uint32_t mxcsr_mask, uint8_t *out)
{
	const uint8_t *img = cimage(xs);

	memcpy(out, img, x86_fx_bytes(fmt));
	store(out + FX_MXCSR_MASK, mxcsr_mask ? mxcsr_mask : X86_MXCSR_DEFAULT_MASK, 4);
	if (!fmt->wide) {
		/* FIP[31:0], FCS, reserved; FDP[31:0], FDS, reserved. */
		store(out + FX_FIP, load(img + FX_FIP, 4), 8);
		store(out + FX_FDP, load(img + FX_FDP, 4), 8);
	}
}

bool x86_fx_restore(struct kvm_xsave *xs, const struct x86_fx_format *fmt, uint32_t mxcsr_mask, const uint8_t *in)
{
	uint8_t *img = image(xs);
	const uint32_t mxcsr = (uint32_t)load(in + FX_MXCSR, 4);
	const size_t fip = fmt->wide ? 8 : 4;   /* the 32-bit format's FCS/FDS have no place in the image */

	if (!x86_fx_mxcsr_valid(mxcsr, mxcsr_mask))
		return false;
	memcpy(img + FX_FCW, in + FX_FCW, 5);            /* FCW, FSW, abridged FTW */
	memcpy(img + FX_FOP, in + FX_FOP, 2);
	store(img + FX_FIP, load(in + FX_FIP, fip), 8);
	store(img + FX_FDP, load(in + FX_FDP, fip), 8);
	store(img + FX_MXCSR, mxcsr, 4);
	memcpy(img + FX_ST, in + FX_ST, FX_XMM - FX_ST);
	memcpy(img + FX_XMM, in + FX_XMM, x86_fx_bytes(fmt) - FX_XMM);
	mark(xs, XSTATE_X87 | XSTATE_SSE);
	return true;
}

uint32_t x86_fx_host_mxcsr_mask(void)
{
	_Alignas(16) uint8_t area[X86_FX_SIZE];
	uint32_t mask;

	memset(area, 0, sizeof(area));
	__asm__ volatile("fxsave %0" : "=m"(area));
	mask = (uint32_t)load(area + FX_MXCSR_MASK, 4);
	return mask ? mask : X86_MXCSR_DEFAULT_MASK;
}
