/* SPDX-License-Identifier: MIT */
/* Reading and loading an x86 vCPU's whole state through KVM (the ioctl half of vcpu_state). */
#include "arch/x86/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Most MSRs KVM_GET_MSR_INDEX_LIST may list (6.x lists under 100; E2BIG tells us if not). */
#define KVM_MSR_LIST_MAX 1024
/* Host TSC calibration differs by up to this much between boots of one machine (QEMU uses the same). */
#define TSC_KHZ_TOLERANCE_PPM 250

static bool has_cap(int fd, long cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

int x86_vcpu_caps_probe(int kvm_fd, int vm_fd, struct x86_vcpu_caps *caps, struct vmon_error *err)
{
	static const struct { long cap; const char *name; } required[] = {
		{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
		{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
		{ KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS" },
		{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	};
	struct kvm_msr_list *list;
	int xsave2;

	memset(caps, 0, sizeof(*caps));
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!has_cap(kvm_fd, required[i].cap))
			return error_set(err, -ENOTSUP, "KVM lacks %s, needed to save a vCPU", required[i].name);
	caps->xcrs = has_cap(kvm_fd, KVM_CAP_XCRS);
	caps->get_tsc_khz = has_cap(kvm_fd, KVM_CAP_GET_TSC_KHZ);
	caps->set_tsc_khz = has_cap(kvm_fd, KVM_CAP_TSC_CONTROL);
	caps->kvmclock_ctrl = has_cap(kvm_fd, KVM_CAP_KVMCLOCK_CTRL);
	/* Above 4096 only once the VM has enabled dynamic XSAVE features (AMX); vmon never does. */
	xsave2 = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	caps->xsave_size = xsave2 > 0 ? (uint32_t)xsave2 : X86_XSAVE_SIZE;

	list = calloc(1, sizeof(*list) + KVM_MSR_LIST_MAX * sizeof(uint32_t));
	if (!list)
		return error_set(err, -ENOMEM, "out of memory for the MSR index list");
	list->nmsrs = KVM_MSR_LIST_MAX;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int e = errno;
		free(list);
		return error_set(err, -e, "KVM_GET_MSR_INDEX_LIST: %s", strerror(e));
	}
	caps->nmsrs = x86_saved_msrs_select(list->indices, list->nmsrs, caps->msrs, X86_VCPU_MAX_MSRS);
	free(list);
	return 0;
}

/* KVM_GET_MSRS / KVM_SET_MSRS's argument with room for every MSR vmon saves. */
struct msr_list {
	struct kvm_msrs hdr;
	struct kvm_msr_entry entries[X86_VCPU_MAX_MSRS];
};

/* ---- get -------------------------------------------------------------------- */

static int get_msrs(int vcpu_fd, const struct x86_vcpu_caps *caps, struct x86_vcpu_state *st,
		    struct vmon_error *err)
{
	struct msr_list msrs;
	int n;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = caps->nmsrs;
	for (unsigned i = 0; i < caps->nmsrs; i++)
		msrs.entries[i].index = caps->msrs[i];
	n = ioctl(vcpu_fd, KVM_GET_MSRS, &msrs);
	if (n < 0)
		return error_set(err, -errno, "KVM_GET_MSRS (%u MSRs): %s", caps->nmsrs, strerror(errno));
	if ((unsigned)n < caps->nmsrs)
		return error_set(err, -EIO, "KVM_GET_MSRS read %d of %u MSRs: KVM refused MSR 0x%x (%s), which it lists",
				 n, caps->nmsrs, caps->msrs[n], x86_msr_name(caps->msrs[n]) ?: "?");
	st->nmsrs = caps->nmsrs;
	memcpy(st->msrs, msrs.entries, caps->nmsrs * sizeof(msrs.entries[0]));
	return 0;
}

/* One vCPU ioctl; on failure returns from the caller with err naming the request. */
#define VCPU_IOCTL(fd, req, arg) \
	do { \
		if (ioctl(fd, req, arg) < 0) \
			return error_set(err, -errno, #req ": %s", strerror(errno)); \
	} while (0)

int x86_vcpu_state_get(int vcpu_fd, const struct x86_vcpu_caps *caps, struct x86_vcpu_state *st,
		       struct vmon_error *err)
{
	struct kvm_mp_state mp;
	struct kvm_xsave *xsave;
	int r;

	memset(st, 0, sizeof(*st));
	st->version = X86_VCPU_STATE_VERSION;
	if (caps->xsave_size > X86_XSAVE_SIZE)
		return error_set(err, -ENOTSUP, "the VM's XSAVE state is %u bytes (dynamic features such as AMX enabled); "
				 "vmon saves %u", caps->xsave_size, X86_XSAVE_SIZE);
	/* First: KVM_GET_MP_STATE applies pending INIT/SIPI, which changes the registers read next. */
	VCPU_IOCTL(vcpu_fd, KVM_GET_MP_STATE, &mp);
	st->mp_state = mp.mp_state;
	VCPU_IOCTL(vcpu_fd, KVM_GET_REGS, &st->regs);
	VCPU_IOCTL(vcpu_fd, KVM_GET_SREGS, &st->sregs);
	xsave = calloc(1, sizeof(*xsave));
	if (!xsave)
		return error_set(err, -ENOMEM, "out of memory for KVM_GET_XSAVE");
	if (ioctl(vcpu_fd, KVM_GET_XSAVE, xsave) < 0) {
		r = error_set(err, -errno, "KVM_GET_XSAVE: %s", strerror(errno));
		free(xsave);
		return r;
	}
	memcpy(st->xsave, xsave->region, X86_XSAVE_SIZE);
	free(xsave);
	if (caps->xcrs) {
		VCPU_IOCTL(vcpu_fd, KVM_GET_XCRS, &st->xcrs);
		st->parts |= X86_VCPU_HAS_XCRS;
	}
	VCPU_IOCTL(vcpu_fd, KVM_GET_DEBUGREGS, &st->debugregs);
	VCPU_IOCTL(vcpu_fd, KVM_GET_LAPIC, &st->lapic);
	VCPU_IOCTL(vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events);
	if ((r = get_msrs(vcpu_fd, caps, st, err)))
		return r;
	if (caps->get_tsc_khz) {
		r = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
		if (r <= 0)
			return error_set(err, r < 0 ? -errno : -EIO, "KVM_GET_TSC_KHZ: %s",
					 r < 0 ? strerror(errno) : "returned 0");
		st->tsc_khz = (uint32_t)r;
		st->parts |= X86_VCPU_HAS_TSC_KHZ;
	}
	/* What KVM hands out must pass the check set() applies: catch a KVM we misread here, not at restore. */
	if ((r = x86_vcpu_state_check(st, err)))
		error_prefix(err, "the state KVM returned");
	return r;
}

/* ---- set -------------------------------------------------------------------- */

static int set_tsc_khz(int vcpu_fd, const struct x86_vcpu_caps *caps, const struct x86_vcpu_state *st,
		       struct vmon_error *err)
{
	int now;
	uint64_t diff;

	if (!(st->parts & X86_VCPU_HAS_TSC_KHZ) || !caps->get_tsc_khz)
		return 0;
	now = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (now <= 0)
		return error_set(err, now < 0 ? -errno : -EIO, "KVM_GET_TSC_KHZ: %s",
				 now < 0 ? strerror(errno) : "returned 0");
	diff = (uint64_t)(now > (int)st->tsc_khz ? (uint32_t)now - st->tsc_khz : st->tsc_khz - (uint32_t)now);
	if (diff * 1000000 <= (uint64_t)st->tsc_khz * TSC_KHZ_TOLERANCE_PPM)
		return 0;
	if (!caps->set_tsc_khz)
		return error_set(err, -ENOTSUP, "the guest's TSC ran at %u kHz, this host's at %d kHz, and KVM cannot "
				 "scale it (no KVM_CAP_TSC_CONTROL)", st->tsc_khz, now);
	if (ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)st->tsc_khz) < 0)
		return error_set(err, -errno, "KVM_SET_TSC_KHZ %u (host %d kHz): %s", st->tsc_khz, now, strerror(errno));
	return 0;
}

/* Sets the saved MSRs whose x86_msr_after_lapic() is after_lapic. */
static int set_msrs(int vcpu_fd, const struct x86_vcpu_state *st, bool after_lapic, struct vmon_error *err)
{
	struct msr_list msrs;
	int n;

	memset(&msrs, 0, sizeof(msrs));
	for (uint32_t i = 0; i < st->nmsrs; i++)
		if (x86_msr_after_lapic(st->msrs[i].index) == after_lapic)
			msrs.entries[msrs.hdr.nmsrs++] = st->msrs[i];
	if (!msrs.hdr.nmsrs)
		return 0;
	n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return error_set(err, -errno, "KVM_SET_MSRS (%u MSRs): %s", msrs.hdr.nmsrs, strerror(errno));
	/* KVM stops at the first MSR it refuses and returns how many it set. */
	if ((uint32_t)n < msrs.hdr.nmsrs) {
		const struct kvm_msr_entry *bad = &msrs.entries[n];
		return error_set(err, -EINVAL, "KVM_SET_MSRS set %d of %u MSRs: KVM refused MSR 0x%x (%s) = 0x%llx", n,
				 msrs.hdr.nmsrs, bad->index, x86_msr_name(bad->index) ?: "?",
				 (unsigned long long)bad->data);
	}
	return 0;
}

#define MSR_IA32_TSC 0x10
/* A restored TSC this close to the saved value is taken as exact (the read-back itself takes microseconds). */
#define TSC_EXACT_MS 10

static int read_tsc(int vcpu_fd, uint64_t *tsc, struct vmon_error *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e.index = MSR_IA32_TSC };

	if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1)
		return error_set(err, -EIO, "KVM_GET_MSRS (IA32_TSC read-back) failed");
	*tsc = m.e.data;
	return 0;
}

/*
 * KVM_SET_MSRS does not always leave the TSC at the value written:
 * - KVM takes a host write within one second of "the TSC the VM would have
 *   now" as an attempt to synchronise vCPUs and keeps the VM's offset
 *   instead (kvm_synchronize_tsc, before Linux 6.7's user_set_tsc): a
 *   guest saved in its first seconds comes back with the wrong TSC. Where
 *   KVM has the vCPU attribute KVM_VCPU_TSC_OFFSET, the offset is corrected.
 * - PVM hosts ignore the write: the guest's TSC is the host's (measured:
 *   KVM_SET_MSRS returns 1, the read-back is the host TSC). The guest then
 *   sees its TSC jump by the host time since the save, which it survives
 *   like a pause; a TSC behind the saved one would be time going back, so
 *   such a restore is refused.
 */
static int restore_tsc(int vcpu_fd, const struct x86_vcpu_state *st, struct vmon_error *err)
{
	uint64_t saved = 0, now = 0, offset = 0;
	uint64_t exact = (uint64_t)(st->tsc_khz ? st->tsc_khz : 1000000) * TSC_EXACT_MS;
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET, .addr = (uintptr_t)&offset,
	};
	bool found = false;
	int r;

	for (uint32_t i = 0; i < st->nmsrs && !found; i++)
		if (st->msrs[i].index == MSR_IA32_TSC) {
			saved = st->msrs[i].data;
			found = true;
		}
	if (!found)
		return 0;
	if ((r = read_tsc(vcpu_fd, &now, err)))
		return r;
	if (now >= saved && now - saved <= exact)
		return 0;
	if (ioctl(vcpu_fd, KVM_HAS_DEVICE_ATTR, &attr) == 0) {
		if (ioctl(vcpu_fd, KVM_GET_DEVICE_ATTR, &attr) < 0)
			return error_set(err, -errno, "KVM_GET_DEVICE_ATTR (KVM_VCPU_TSC_OFFSET): %s", strerror(errno));
		offset += saved - now;
		if (ioctl(vcpu_fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
			return error_set(err, -errno, "KVM_SET_DEVICE_ATTR (KVM_VCPU_TSC_OFFSET): %s", strerror(errno));
		if ((r = read_tsc(vcpu_fd, &now, err)))
			return r;
	}
	if (now < saved)
		return error_set(err, -ENOTSUP, "KVM did not take the saved TSC 0x%llx (reads 0x%llx): this host's KVM "
				 "keeps the guest TSC at the host's (as PVM does), and it is behind the saved one",
				 (unsigned long long)saved, (unsigned long long)now);
	return 0;
}

int x86_vcpu_state_set(int vcpu_fd, const struct x86_vcpu_caps *caps, const struct x86_vcpu_state *st,
		       struct vmon_error *err)
{
	struct kvm_mp_state mp = { .mp_state = st->mp_state };
	struct kvm_vcpu_events events;
	struct kvm_xsave *xsave;
	int r;

	if ((r = x86_vcpu_state_check(st, err)) || (r = x86_vcpu_state_check_host(st, caps, err)))
		return r;
	/* The steps, in x86_vcpu_set_step() order; why this order: */
	/* The TSC rate first: the TSC MSR below is a value at that rate. */
	if ((r = set_tsc_khz(vcpu_fd, caps, st, err)))
		return r;
	/* MSRs after CPUID (the caller's), before anything that reads them. */
	if ((r = set_msrs(vcpu_fd, st, false, err)) || (r = restore_tsc(vcpu_fd, st, err)))
		return r;
	/* KVM_SET_REGS drops a pending exception: vcpu_events restore it at the end. */
	VCPU_IOCTL(vcpu_fd, KVM_SET_REGS, &st->regs);
	/* SREGS carry EFER and APIC_BASE, which the LAPIC state below needs. */
	VCPU_IOCTL(vcpu_fd, KVM_SET_SREGS, &st->sregs);
	xsave = calloc(1, sizeof(*xsave));
	if (!xsave)
		return error_set(err, -ENOMEM, "out of memory for KVM_SET_XSAVE");
	memcpy(xsave->region, st->xsave, X86_XSAVE_SIZE);
	r = ioctl(vcpu_fd, KVM_SET_XSAVE, xsave) < 0 ? error_set(err, -errno, "KVM_SET_XSAVE: %s", strerror(errno)) : 0;
	free(xsave);
	if (r)
		return r;
	if (st->parts & X86_VCPU_HAS_XCRS)
		VCPU_IOCTL(vcpu_fd, KVM_SET_XCRS, &st->xcrs);
	VCPU_IOCTL(vcpu_fd, KVM_SET_DEBUGREGS, &st->debugregs);
	VCPU_IOCTL(vcpu_fd, KVM_SET_LAPIC, &st->lapic);
	/* The TSC deadline only sticks once the LAPIC timer is in TSC-deadline mode. */
	if ((r = set_msrs(vcpu_fd, st, true, err)))
		return r;
	VCPU_IOCTL(vcpu_fd, KVM_SET_MP_STATE, &mp);
	/*
	 * Events last: they restore what the steps above cleared (pending
	 * exception, interrupt shadow, NMI). KVM_GET_VCPU_EVENTS never reports
	 * a SIPI vector; set only the fields it reported valid.
	 */
	events = st->events;
	events.flags &= ~(uint32_t)KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	VCPU_IOCTL(vcpu_fd, KVM_SET_VCPU_EVENTS, &events);
	/*
	 * Tell the guest's kvmclock it was stopped, so its soft-lockup watchdog
	 * does not fire. EINVAL: the guest has no kvmclock registered.
	 */
	if (caps->kvmclock_ctrl && ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		return error_set(err, -errno, "KVM_KVMCLOCK_CTRL: %s", strerror(errno));
	return 0;
}
