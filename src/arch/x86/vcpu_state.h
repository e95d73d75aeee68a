/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_VCPU_STATE_H
#define VMON_X86_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Everything needed to recreate an x86 vCPU in a fresh VM: general and
 * segment/control registers, the MSRs worth saving, the XSAVE image (x87,
 * SSE, AVX...), XCRs, the LAPIC page, pending events, mp_state, debug
 * registers and the TSC frequency. A plain struct of fixed-width fields
 * (KVM's own ABI structs, which are fixed-width): what a snapshot writes.
 *
 * CPUID is not part of it: the caller sets CPUID (KVM_SET_CPUID2) on the new
 * vCPU before x86_vcpu_state_set(), because the MSRs, XCR0 and the LAPIC
 * timer modes KVM accepts depend on it.
 */
#define X86_VCPU_STATE_VERSION 1
#define X86_VCPU_MAX_MSRS 32
#define X86_XSAVE_SIZE 4096               /* struct kvm_xsave's region[] */

/* Bits of x86_vcpu_state.parts: optional pieces this state carries. */
#define X86_VCPU_HAS_XCRS    (1u << 0)    /* KVM_CAP_XCRS (the host CPU has XSAVE) */
#define X86_VCPU_HAS_TSC_KHZ (1u << 1)    /* KVM_CAP_GET_TSC_KHZ */
#define X86_VCPU_KNOWN_PARTS (X86_VCPU_HAS_XCRS | X86_VCPU_HAS_TSC_KHZ)

struct x86_vcpu_state {
	uint32_t version;                 /* X86_VCPU_STATE_VERSION */
	uint32_t parts;                   /* X86_VCPU_HAS_* */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint32_t nmsrs;                   /* entries used in msrs[] */
	uint32_t tsc_khz;                 /* with X86_VCPU_HAS_TSC_KHZ */
	struct kvm_msr_entry msrs[X86_VCPU_MAX_MSRS];
	uint32_t xsave[X86_XSAVE_SIZE / 4];   /* non-compacted XSAVE image, as KVM_GET_XSAVE gives it */
	struct kvm_xcrs xcrs;             /* with X86_VCPU_HAS_XCRS */
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	uint32_t mp_state;                /* KVM_MP_STATE_* */
	uint32_t pad;
};

/* What this host's KVM offers for a vCPU's state; probed once per VM. Host-side, never saved. */
struct x86_vcpu_caps {
	unsigned nmsrs;
	uint32_t msrs[X86_VCPU_MAX_MSRS];  /* the saveable MSRs KVM lists, in the order they are set */
	bool xcrs;                         /* KVM_CAP_XCRS */
	bool get_tsc_khz;                  /* KVM_CAP_GET_TSC_KHZ */
	bool set_tsc_khz;                  /* KVM_CAP_TSC_CONTROL: KVM can scale the guest TSC */
	bool kvmclock_ctrl;                /* KVM_CAP_KVMCLOCK_CTRL: tell the guest it was stopped */
	uint32_t xsave_size;               /* KVM_CAP_XSAVE2 on the VM (bytes), 4096 without it */
};

/* ---- pure helpers (no KVM; unit-tested) ------------------------------------- */

/*
 * The MSRs vmon saves, like Firecracker: a fixed list of architectural and
 * KVM paravirtual MSRs (SYSENTER, SYSCALL, KERNEL_GS_BASE, TSC, TSC_AUX, PAT,
 * MISC_ENABLE, SPEC_CTRL, kvmclock, async PF, steal time, PV EOI, TSC
 * deadline...), kept only where KVM_GET_MSR_INDEX_LIST lists them. EFER and
 * APIC_BASE are not in it: KVM_SET_SREGS carries them. Writes out the
 * selection in set order; returns its length (<= max).
 */
unsigned x86_saved_msrs_select(const uint32_t *kvm_list, unsigned n, uint32_t *out, unsigned max);

/* Whether index is one of the saveable MSRs above, and its name (NULL if not). */
bool x86_msr_is_saveable(uint32_t index);
const char *x86_msr_name(uint32_t index);

/*
 * MSRs that KVM only accepts once the LAPIC state is in place (the TSC
 * deadline is dropped unless the LAPIC timer is in TSC-deadline mode): set
 * after KVM_SET_LAPIC.
 */
bool x86_msr_after_lapic(uint32_t index);

/*
 * Checks a state read from elsewhere (a snapshot file): version, parts,
 * counts in range, reserved fields zero, flags KVM knows, register values
 * the architecture allows. 0 or -EINVAL with err naming the field.
 * The LAPIC page is left to KVM (it validates the APIC ID and mode).
 */
int x86_vcpu_state_check(const struct x86_vcpu_state *st, struct vmon_error *err);

/* Whether this host can take st: every MSR and part it carries is supported. 0 or -ENOTSUP. */
int x86_vcpu_state_check_host(const struct x86_vcpu_state *st, const struct x86_vcpu_caps *caps,
			      struct vmon_error *err);

/*
 * The steps x86_vcpu_state_set() takes, in order (for tests and messages):
 * "tsc_khz", "msrs", "regs", "sregs", "xsave", "xcrs", "debugregs", "lapic",
 * "msrs_after_lapic", "mp_state", "vcpu_events", "kvmclock_ctrl". NULL past the last.
 */
const char *x86_vcpu_set_step(unsigned i);

/* ---- KVM ------------------------------------------------------------------- */

/*
 * Probes caps from /dev/kvm (kvm_fd) and the VM (vm_fd). Fails with -ENOTSUP
 * naming the missing capability when KVM lacks one vmon cannot do without
 * (XSAVE, VCPU_EVENTS, DEBUGREGS, MP_STATE, the MSR index list).
 */
int x86_vcpu_caps_probe(int kvm_fd, int vm_fd, struct x86_vcpu_caps *caps, struct vmon_error *err);

/*
 * Reads the state of a vCPU that is not running (outside KVM_RUN; after an
 * I/O or MMIO exit, re-enter KVM_RUN once with immediate_exit set first so
 * KVM completes the instruction). Errors name the ioctl.
 */
int x86_vcpu_state_get(int vcpu_fd, const struct x86_vcpu_caps *caps, struct x86_vcpu_state *st,
		       struct vmon_error *err);

/*
 * Loads st into a vCPU whose CPUID is already set, after checking it
 * (x86_vcpu_state_check + _check_host: a refused state changes nothing), in
 * the order of x86_vcpu_set_step(). Errors name the ioctl, and for
 * KVM_SET_MSRS the first MSR KVM refused; after such an error the vCPU is
 * partly loaded: discard it. Guest memory must be in place (kvmclock, steal
 * time and async PF MSRs point into it). Where KVM ignores TSC writes (PVM),
 * the guest's TSC is the host's: a jump forward by the time since the save
 * is accepted, a TSC behind the saved one refused (-ENOTSUP).
 */
int x86_vcpu_state_set(int vcpu_fd, const struct x86_vcpu_caps *caps, const struct x86_vcpu_state *st,
		       struct vmon_error *err);

#endif
