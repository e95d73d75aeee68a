/* SPDX-License-Identifier: MIT */
/* The pure half of vcpu_state: which MSRs to save, and checking a state before KVM sees it. */
#include "arch/x86/vcpu_state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(struct kvm_msr_entry) == 16, "kvm_msr_entry layout");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events layout");
_Static_assert(sizeof(struct kvm_lapic_state) == 1024, "kvm_lapic_state layout");
_Static_assert(sizeof(((struct kvm_xsave *)0)->region) == X86_XSAVE_SIZE, "kvm_xsave layout");
_Static_assert(sizeof(struct x86_vcpu_state) % 8 == 0, "x86_vcpu_state has no tail padding");

/*
 * The saveable MSRs, in the order KVM_SET_MSRS gets them. Order matters
 * where one MSR's write depends on another: TSC before TSC_ADJUST (a
 * host-initiated TSC write only resynchronises; the adjust is then taken as
 * given), the async-PF vector before async PF is enabled, the TSC deadline
 * after the LAPIC (x86_msr_after_lapic).
 */
static const struct saved_msr {
	uint32_t index;
	const char *name;
	bool after_lapic;
} saved_msrs[] = {
	{ 0x00000174, "IA32_SYSENTER_CS", false },
	{ 0x00000175, "IA32_SYSENTER_ESP", false },
	{ 0x00000176, "IA32_SYSENTER_EIP", false },
	{ 0xc0000081, "STAR", false },
	{ 0xc0000082, "LSTAR", false },
	{ 0xc0000083, "CSTAR", false },
	{ 0xc0000084, "SYSCALL_MASK", false },
	{ 0xc0000102, "KERNEL_GS_BASE", false },
	{ 0xc0000103, "TSC_AUX", false },
	{ 0x00000277, "IA32_PAT", false },
	{ 0x000001a0, "IA32_MISC_ENABLE", false },
	{ 0x00000140, "MISC_FEATURES_ENABLES", false },
	{ 0x00000010, "IA32_TSC", false },
	{ 0x0000003b, "IA32_TSC_ADJUST", false },
	{ 0x00000048, "IA32_SPEC_CTRL", false },
	{ 0xc001011f, "AMD64_VIRT_SPEC_CTRL", false },
	{ 0x00000da0, "IA32_XSS", false },
	{ 0x000001d9, "IA32_DEBUGCTL", false },
	{ 0x000000e1, "IA32_UMWAIT_CONTROL", false },
	{ 0x00000011, "KVM_WALL_CLOCK", false },
	{ 0x00000012, "KVM_SYSTEM_TIME", false },
	{ 0x4b564d00, "KVM_WALL_CLOCK_NEW", false },
	{ 0x4b564d01, "KVM_SYSTEM_TIME_NEW", false },
	{ 0x4b564d06, "KVM_ASYNC_PF_INT", false },
	{ 0x4b564d02, "KVM_ASYNC_PF_EN", false },
	{ 0x4b564d03, "KVM_STEAL_TIME", false },
	{ 0x4b564d04, "KVM_PV_EOI_EN", false },
	{ 0x4b564d05, "KVM_POLL_CONTROL", false },
	{ 0x000006e0, "IA32_TSC_DEADLINE", true },
};
#define NSAVED (sizeof(saved_msrs) / sizeof(saved_msrs[0]))
_Static_assert(NSAVED <= X86_VCPU_MAX_MSRS, "X86_VCPU_MAX_MSRS holds every saveable MSR");

static const struct saved_msr *find_msr(uint32_t index)
{
	for (size_t i = 0; i < NSAVED; i++)
		if (saved_msrs[i].index == index)
			return &saved_msrs[i];
	return NULL;
}

bool x86_msr_is_saveable(uint32_t index)
{
	return find_msr(index) != NULL;
}

const char *x86_msr_name(uint32_t index)
{
	const struct saved_msr *m = find_msr(index);
	return m ? m->name : NULL;
}

bool x86_msr_after_lapic(uint32_t index)
{
	const struct saved_msr *m = find_msr(index);
	return m && m->after_lapic;
}

unsigned x86_saved_msrs_select(const uint32_t *kvm_list, unsigned n, uint32_t *out, unsigned max)
{
	unsigned count = 0;

	for (size_t i = 0; i < NSAVED && count < max; i++)
		for (unsigned j = 0; j < n; j++)
			if (kvm_list[j] == saved_msrs[i].index) {
				out[count++] = saved_msrs[i].index;
				break;
			}
	return count;
}

static const char *const set_steps[] = {
	"tsc_khz", "msrs", "regs", "sregs", "xsave", "xcrs", "debugregs", "lapic",
	"msrs_after_lapic", "mp_state", "vcpu_events", "kvmclock_ctrl",
};

const char *x86_vcpu_set_step(unsigned i)
{
	return i < sizeof(set_steps) / sizeof(set_steps[0]) ? set_steps[i] : NULL;
}

/* ---- checking a state ------------------------------------------------------ */

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* RFLAGS bits that must be zero (3, 5, 15, 22-63); bit 1 must be one. */
#define RFLAGS_RESERVED_ZERO (0xffffffffffc00000ull | (1u << 3) | (1u << 5) | (1u << 15))
/* EFER: SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE, AUTOIBRS. */
#define EFER_KNOWN ((1ull << 0) | (1ull << 8) | (1ull << 10) | (1ull << 11) | (1ull << 12) | (1ull << 13) | \
		    (1ull << 14) | (1ull << 15) | (1ull << 21))
/* IA32_APIC_BASE: bits 0-7 and 9 reserved. */
#define APIC_BASE_RESERVED 0x2ffull
#define EVENTS_KNOWN_FLAGS (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
			    KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD | \
			    KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
#define XSAVE_HEADER 512          /* offset of the XSAVE header: xstate_bv, xcomp_bv, 48 reserved bytes */

static int check_segment(const struct kvm_segment *s, const char *name, struct vmon_error *err)
{
	if (s->type > 15 || s->dpl > 3)
		return error_set(err, -EINVAL, "sregs.%s: type %u / dpl %u out of range", name, s->type, s->dpl);
	if (s->present > 1 || s->db > 1 || s->s > 1 || s->l > 1 || s->g > 1 || s->avl > 1 || s->unusable > 1)
		return error_set(err, -EINVAL, "sregs.%s: a flag (present/db/s/l/g/avl/unusable) is not 0 or 1", name);
	return 0;
}

static int check_regs(const struct x86_vcpu_state *st, struct vmon_error *err)
{
	const struct kvm_sregs *s = &st->sregs;
	const struct { const struct kvm_segment *seg; const char *name; } segs[] = {
		{ &s->cs, "cs" }, { &s->ds, "ds" }, { &s->es, "es" }, { &s->fs, "fs" },
		{ &s->gs, "gs" }, { &s->ss, "ss" }, { &s->tr, "tr" }, { &s->ldt, "ldt" },
	};
	unsigned pending = 0;
	int r;

	if ((st->regs.rflags & RFLAGS_RESERVED_ZERO) || !(st->regs.rflags & 2))
		return error_set(err, -EINVAL, "regs.rflags 0x%llx: reserved bits wrong",
				 (unsigned long long)st->regs.rflags);
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
		if ((r = check_segment(segs[i].seg, segs[i].name, err)))
			return r;
	if (s->cr0 >> 32 || s->cr4 >> 32)
		return error_set(err, -EINVAL, "sregs: cr0 0x%llx / cr4 0x%llx set bits above 31",
				 (unsigned long long)s->cr0, (unsigned long long)s->cr4);
	if (s->cr8 > 15)
		return error_set(err, -EINVAL, "sregs.cr8 %llu above 15", (unsigned long long)s->cr8);
	if (s->efer & ~EFER_KNOWN)
		return error_set(err, -EINVAL, "sregs.efer 0x%llx sets reserved bits", (unsigned long long)s->efer);
	if (s->apic_base & APIC_BASE_RESERVED)
		return error_set(err, -EINVAL, "sregs.apic_base 0x%llx sets reserved bits",
				 (unsigned long long)s->apic_base);
	for (size_t i = 0; i < sizeof(s->interrupt_bitmap) / sizeof(s->interrupt_bitmap[0]); i++)
		pending += (unsigned)__builtin_popcountll(s->interrupt_bitmap[i]);
	if (pending > 1)
		return error_set(err, -EINVAL, "sregs.interrupt_bitmap has %u pending interrupts (at most 1)", pending);
	return 0;
}

static int check_msrs(const struct x86_vcpu_state *st, struct vmon_error *err)
{
	if (st->nmsrs > X86_VCPU_MAX_MSRS)
		return error_set(err, -EINVAL, "nmsrs %u above %u", st->nmsrs, X86_VCPU_MAX_MSRS);
	for (uint32_t i = 0; i < st->nmsrs; i++) {
		const struct kvm_msr_entry *m = &st->msrs[i];
		if (!x86_msr_is_saveable(m->index))
			return error_set(err, -EINVAL, "msrs[%u]: MSR 0x%x is not one vmon saves", i, m->index);
		if (m->reserved)
			return error_set(err, -EINVAL, "msrs[%u] (MSR 0x%x): reserved field %u", i, m->index, m->reserved);
		for (uint32_t j = 0; j < i; j++)
			if (st->msrs[j].index == m->index)
				return error_set(err, -EINVAL, "msrs[%u]: MSR 0x%x appears twice", i, m->index);
	}
	if (!all_zero(&st->msrs[st->nmsrs], (X86_VCPU_MAX_MSRS - st->nmsrs) * sizeof(st->msrs[0])))
		return error_set(err, -EINVAL, "msrs: entries past nmsrs %u are not zero", st->nmsrs);
	return 0;
}

static int check_fpu(const struct x86_vcpu_state *st, struct vmon_error *err)
{
	const uint8_t *x = (const uint8_t *)st->xsave;
	uint64_t xstate_bv, xcomp_bv;
	uint32_t mxcsr;

	memcpy(&mxcsr, x + 24, sizeof(mxcsr));
	memcpy(&xstate_bv, x + XSAVE_HEADER, sizeof(xstate_bv));
	memcpy(&xcomp_bv, x + XSAVE_HEADER + 8, sizeof(xcomp_bv));
	if (mxcsr >> 16)
		return error_set(err, -EINVAL, "xsave: MXCSR 0x%x sets reserved bits", mxcsr);
	if (xcomp_bv)
		return error_set(err, -EINVAL, "xsave: xcomp_bv 0x%llx (KVM's image is never compacted)",
				 (unsigned long long)xcomp_bv);
	if (xstate_bv >> 63)
		return error_set(err, -EINVAL, "xsave: xstate_bv 0x%llx sets bit 63", (unsigned long long)xstate_bv);
	if (!all_zero(x + XSAVE_HEADER + 16, 48))
		return error_set(err, -EINVAL, "xsave: the XSAVE header's reserved bytes are not zero");

	if (!(st->parts & X86_VCPU_HAS_XCRS)) {
		if (!all_zero(&st->xcrs, sizeof(st->xcrs)))
			return error_set(err, -EINVAL, "xcrs: set but the state says it has none");
		return 0;
	}
	if (st->xcrs.nr_xcrs > KVM_MAX_XCRS || st->xcrs.flags || !all_zero(st->xcrs.padding, sizeof(st->xcrs.padding)))
		return error_set(err, -EINVAL, "xcrs: nr_xcrs %u (max %u), flags 0x%x or padding not zero",
				 st->xcrs.nr_xcrs, KVM_MAX_XCRS, st->xcrs.flags);
	for (uint32_t i = 0; i < st->xcrs.nr_xcrs; i++) {
		const struct kvm_xcr *c = &st->xcrs.xcrs[i];
		if (c->xcr != 0 || c->reserved)
			return error_set(err, -EINVAL, "xcrs[%u]: XCR%u (only XCR0 exists) or reserved %u", i, c->xcr,
					 c->reserved);
		/* x87 is always enabled; AVX needs SSE (SDM 13.3). */
		if (!(c->value & 1) || ((c->value & 4) && !(c->value & 2)))
			return error_set(err, -EINVAL, "xcrs[%u]: XCR0 0x%llx is not a valid feature set", i,
					 (unsigned long long)c->value);
	}
	return 0;
}

static int check_events(const struct kvm_vcpu_events *e, struct vmon_error *err)
{
	if (e->flags & ~EVENTS_KNOWN_FLAGS)
		return error_set(err, -EINVAL, "vcpu_events.flags 0x%x has unknown bits", e->flags);
	if (e->exception.injected > 1 || e->exception.pending > 1 || e->exception.has_error_code > 1 ||
	    e->exception_has_payload > 1)
		return error_set(err, -EINVAL, "vcpu_events.exception: a flag is not 0 or 1");
	if ((e->exception.injected || e->exception.pending) && e->exception.nr > 31)
		return error_set(err, -EINVAL, "vcpu_events.exception.nr %u above 31", e->exception.nr);
	if (e->interrupt.injected > 1 || e->interrupt.soft > 1 || e->interrupt.shadow & ~3u)
		return error_set(err, -EINVAL, "vcpu_events.interrupt: injected %u soft %u shadow 0x%x out of range",
				 e->interrupt.injected, e->interrupt.soft, e->interrupt.shadow);
	if (e->nmi.injected > 1 || e->nmi.pending > 1 || e->nmi.masked > 1 || e->nmi.pad)
		return error_set(err, -EINVAL, "vcpu_events.nmi: a flag is not 0 or 1, or pad is set");
	if (e->smi.smm > 1 || e->smi.pending > 1 || e->smi.smm_inside_nmi > 1 || e->smi.latched_init > 1 ||
	    e->triple_fault.pending > 1)
		return error_set(err, -EINVAL, "vcpu_events.smi/triple_fault: a flag is not 0 or 1");
	if (!all_zero(e->reserved, sizeof(e->reserved)))
		return error_set(err, -EINVAL, "vcpu_events.reserved is not zero");
	return 0;
}

int x86_vcpu_state_check(const struct x86_vcpu_state *st, struct vmon_error *err)
{
	const struct kvm_debugregs *d = &st->debugregs;
	int r;

	if (st->version != X86_VCPU_STATE_VERSION)
		return error_set(err, -EINVAL, "vCPU state version %u, this vmon reads %u", st->version,
				 X86_VCPU_STATE_VERSION);
	if (st->parts & ~X86_VCPU_KNOWN_PARTS)
		return error_set(err, -EINVAL, "vCPU state parts 0x%x has unknown bits", st->parts);
	if (st->pad)
		return error_set(err, -EINVAL, "vCPU state pad %u is not zero", st->pad);
	if ((r = check_regs(st, err)) || (r = check_msrs(st, err)) || (r = check_fpu(st, err)) ||
	    (r = check_events(&st->events, err)))
		return r;
	if (!(st->parts & X86_VCPU_HAS_TSC_KHZ) ? st->tsc_khz != 0 : st->tsc_khz == 0)
		return error_set(err, -EINVAL, "tsc_khz %u does not match the parts flag", st->tsc_khz);
	if (d->flags || !all_zero(d->reserved, sizeof(d->reserved)))
		return error_set(err, -EINVAL, "debugregs: flags 0x%llx or reserved not zero",
				 (unsigned long long)d->flags);
	if (d->dr6 >> 32 || d->dr7 >> 32)
		return error_set(err, -EINVAL, "debugregs: dr6 0x%llx / dr7 0x%llx set bits above 31",
				 (unsigned long long)d->dr6, (unsigned long long)d->dr7);
	switch (st->mp_state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_SIPI_RECEIVED:
	case KVM_MP_STATE_AP_RESET_HOLD:
		break;
	default:
		return error_set(err, -EINVAL, "mp_state %u is not an x86 state", st->mp_state);
	}
	return 0;
}

int x86_vcpu_state_check_host(const struct x86_vcpu_state *st, const struct x86_vcpu_caps *caps,
			      struct vmon_error *err)
{
	if ((st->parts & X86_VCPU_HAS_XCRS) && !caps->xcrs)
		return error_set(err, -ENOTSUP, "the state has XCRs but this host's KVM lacks KVM_CAP_XCRS");
	for (uint32_t i = 0; i < st->nmsrs && i < X86_VCPU_MAX_MSRS; i++) {
		bool found = false;
		for (unsigned j = 0; j < caps->nmsrs && !found; j++)
			found = caps->msrs[j] == st->msrs[i].index;
		if (!found)
			return error_set(err, -ENOTSUP, "the state has MSR 0x%x (%s) but this host's KVM does not list it",
					 st->msrs[i].index, x86_msr_name(st->msrs[i].index) ?: "?");
	}
	return 0;
}
