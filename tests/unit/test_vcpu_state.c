/* SPDX-License-Identifier: MIT */
/* The pure half of arch/x86/vcpu_state: MSR selection, state checks, the order of set(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/vcpu_state.h"

/* KVM_GET_MSR_INDEX_LIST as a PVM host (kvm_pvm, Linux 6.18) returned it, in its order. */
static const uint32_t pvm_list[] = {
	0x174, 0x175, 0x176, 0xc0000081, 0xc0000083, 0xc0000102, 0xc0000084, 0xc0000082, 0x10, 0x277,
	0xc0010117, 0x1d9, 0x1db, 0x1dc, 0x1dd, 0x1de, 0x12, 0x11, 0x4b564d01, 0x4b564d00,
	0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d06, 0x4b564d07, 0x3b, 0x6e0, 0x10a, 0x345, 0x1a0,
	0x17a, 0x17b, 0x34, 0xce, 0x140, 0xc001011f, 0x1fc, 0x8b, 0xc0010015, 0x4b564d05,
};
#define NPVM (sizeof(pvm_list) / sizeof(pvm_list[0]))

static int position(const uint32_t *list, unsigned n, uint32_t index)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == index)
			return (int)i;
	return -1;
}

static void selection_keeps_only_listed_saveable_msrs_in_set_order(void **state)
{
	uint32_t out[X86_VCPU_MAX_MSRS];
	unsigned n = x86_saved_msrs_select(pvm_list, NPVM, out, X86_VCPU_MAX_MSRS);
	(void)state;

	/* 29 saveable, of which this host lacks TSC_AUX, SPEC_CTRL, XSS and UMWAIT_CONTROL. */
	assert_int_equal(n, 25);
	for (unsigned i = 0; i < n; i++) {
		assert_true(x86_msr_is_saveable(out[i]));
		assert_true(position(pvm_list, NPVM, out[i]) >= 0);
	}
	assert_int_equal(position(out, n, 0xc0000103), -1);  /* TSC_AUX: not listed by KVM */
	assert_int_equal(position(out, n, 0x10a), -1);       /* ARCH_CAPABILITIES: a feature MSR, not state */
	assert_int_equal(position(out, n, 0xc0010117), -1);  /* VM_HSAVE_PA: nested SVM, not saved */
	assert_int_equal(position(out, n, 0x4b564d07), -1);  /* ASYNC_PF_ACK: a doorbell */
	/* Dependencies between MSRs hold whatever order KVM lists them in. */
	assert_true(position(out, n, 0x10) < position(out, n, 0x3b));
	assert_true(position(out, n, 0x4b564d06) < position(out, n, 0x4b564d02));
	assert_int_equal(out[n - 1], 0x6e0);
	assert_string_equal(x86_msr_name(0x4b564d01), "KVM_SYSTEM_TIME_NEW");
	assert_null(x86_msr_name(0x10a));
}

static void selection_stops_at_max_and_handles_empty_lists(void **state)
{
	uint32_t out[4];
	(void)state;

	assert_int_equal(x86_saved_msrs_select(pvm_list, NPVM, out, 4), 4);
	assert_int_equal(out[0], 0x174);
	assert_int_equal(x86_saved_msrs_select(pvm_list, 0, out, 4), 0);
	assert_int_equal(x86_saved_msrs_select(pvm_list, NPVM, out, 0), 0);
}

static void only_the_tsc_deadline_waits_for_the_lapic(void **state)
{
	uint32_t out[X86_VCPU_MAX_MSRS];
	unsigned n = x86_saved_msrs_select(pvm_list, NPVM, out, X86_VCPU_MAX_MSRS);
	(void)state;

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(x86_msr_after_lapic(out[i]), out[i] == 0x6e0);
	assert_false(x86_msr_after_lapic(0x10a));
}

static int step(const char *name)
{
	for (unsigned i = 0; x86_vcpu_set_step(i); i++)
		if (!strcmp(x86_vcpu_set_step(i), name))
			return (int)i;
	fail_msg("no step %s", name);
	return -1;
}

static void set_order_respects_kvm_dependencies(void **state)
{
	(void)state;
	assert_int_equal(step("tsc_khz"), 0);                            /* the TSC MSR is a value at that rate */
	assert_true(step("tsc_khz") < step("msrs"));
	assert_true(step("regs") < step("vcpu_events"));                /* SET_REGS drops a pending exception */
	assert_true(step("sregs") < step("vcpu_events"));               /* SET_SREGS rewrites the interrupt queue */
	assert_true(step("sregs") < step("lapic"));                     /* APIC_BASE comes with the sregs */
	assert_true(step("lapic") < step("msrs_after_lapic"));          /* TSC deadline needs the timer mode */
	assert_true(step("mp_state") < step("vcpu_events"));
	assert_true(step("vcpu_events") < step("kvmclock_ctrl"));
	assert_null(x86_vcpu_set_step(12));
}

/* A state as KVM hands out for a real-mode vCPU at reset, with every saveable MSR. */
static void valid_state(struct x86_vcpu_state *st)
{
	uint32_t out[X86_VCPU_MAX_MSRS];
	unsigned n = x86_saved_msrs_select(pvm_list, NPVM, out, X86_VCPU_MAX_MSRS);
	uint32_t mxcsr = 0x1f80;

	memset(st, 0, sizeof(*st));
	st->version = X86_VCPU_STATE_VERSION;
	st->parts = X86_VCPU_HAS_XCRS | X86_VCPU_HAS_TSC_KHZ;
	st->regs.rflags = 2;
	st->regs.rip = 0xfff0;
	st->sregs.cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000, .type = 11,
					     .present = 1, .s = 1 };
	st->sregs.cr0 = 0x60000010;
	st->sregs.apic_base = 0xfee00900;
	st->nmsrs = n;
	for (unsigned i = 0; i < n; i++)
		st->msrs[i] = (struct kvm_msr_entry){ .index = out[i], .data = i };
	memcpy((uint8_t *)st->xsave + 24, &mxcsr, 4);
	st->xcrs.nr_xcrs = 1;
	st->xcrs.xcrs[0].value = 1;
	st->events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	st->debugregs.dr6 = 0xffff0ff0;
	st->debugregs.dr7 = 0x400;
	st->tsc_khz = 2596132;
	st->mp_state = KVM_MP_STATE_RUNNABLE;
}

static void refused(struct x86_vcpu_state *st, const char *needle)
{
	struct vmon_error err = { 0 };

	assert_int_equal(x86_vcpu_state_check(st, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not name \"%s\"", err.msg, needle);
	valid_state(st);
}

static void check_accepts_a_valid_state(void **state)
{
	struct x86_vcpu_state st;
	struct vmon_error err = { 0 };
	(void)state;

	valid_state(&st);
	assert_int_equal(x86_vcpu_state_check(&st, &err), 0);
	st.parts = 0;                 /* a host without XCRs or TSC frequency */
	st.tsc_khz = 0;
	memset(&st.xcrs, 0, sizeof(st.xcrs));
	assert_int_equal(x86_vcpu_state_check(&st, &err), 0);
}

static void check_names_each_bad_field(void **state)
{
	struct x86_vcpu_state st;
	uint64_t v;
	(void)state;

	valid_state(&st);
	st.version = 2; refused(&st, "version 2");
	st.parts |= 1u << 7; refused(&st, "parts");
	st.pad = 1; refused(&st, "pad");
	st.regs.rflags = 0; refused(&st, "rflags");
	st.regs.rflags = 2 | (1ull << 40); refused(&st, "rflags");
	st.sregs.ss.dpl = 4; refused(&st, "sregs.ss");
	st.sregs.tr.present = 2; refused(&st, "sregs.tr");
	st.sregs.cr4 = 1ull << 33; refused(&st, "cr4");
	st.sregs.cr8 = 16; refused(&st, "cr8");
	st.sregs.efer = 1ull << 1; refused(&st, "efer");
	st.sregs.apic_base |= 1; refused(&st, "apic_base");
	st.sregs.interrupt_bitmap[0] = 3; refused(&st, "interrupt_bitmap");
	st.nmsrs = X86_VCPU_MAX_MSRS + 1; refused(&st, "nmsrs");
	st.msrs[3].index = 0x10a; refused(&st, "msrs[3]: MSR 0x10a");
	st.msrs[4].index = st.msrs[2].index; refused(&st, "appears twice");
	st.msrs[0].reserved = 9; refused(&st, "reserved");
	st.msrs[st.nmsrs].index = 0x174; refused(&st, "past nmsrs");
	v = 0x10000; memcpy((uint8_t *)st.xsave + 24, &v, 4); refused(&st, "MXCSR");
	v = 1ull << 63 | 3; memcpy((uint8_t *)st.xsave + 520, &v, 8); refused(&st, "xcomp_bv");
	((uint8_t *)st.xsave)[512 + 40] = 1; refused(&st, "reserved bytes");
	st.xcrs.nr_xcrs = KVM_MAX_XCRS + 1; refused(&st, "nr_xcrs");
	st.xcrs.xcrs[0].xcr = 1; refused(&st, "XCR1");
	st.xcrs.xcrs[0].value = 4 | 1; refused(&st, "XCR0 0x5");
	st.parts &= ~X86_VCPU_HAS_XCRS; refused(&st, "xcrs: set but");
	st.events.flags |= 1u << 9; refused(&st, "vcpu_events.flags");
	st.events.exception.injected = 1; st.events.exception.nr = 32; refused(&st, "exception.nr 32");
	st.events.interrupt.shadow = 4; refused(&st, "vcpu_events.interrupt");
	st.events.nmi.masked = 2; refused(&st, "vcpu_events.nmi");
	st.events.reserved[25] = 1; refused(&st, "vcpu_events.reserved");
	st.tsc_khz = 0; refused(&st, "tsc_khz");
	st.debugregs.flags = 1; refused(&st, "debugregs");
	st.debugregs.dr7 = 1ull << 32; refused(&st, "dr7");
	st.mp_state = KVM_MP_STATE_STOPPED; refused(&st, "mp_state 5");
}

static void host_check_names_what_this_kvm_lacks(void **state)
{
	struct x86_vcpu_state st;
	struct x86_vcpu_caps caps = { 0 };
	struct vmon_error err = { 0 };
	(void)state;

	valid_state(&st);
	caps.xcrs = true;
	caps.nmsrs = x86_saved_msrs_select(pvm_list, NPVM, caps.msrs, X86_VCPU_MAX_MSRS);
	assert_int_equal(x86_vcpu_state_check_host(&st, &caps, &err), 0);
	caps.nmsrs--;                 /* drops the TSC deadline */
	assert_int_equal(x86_vcpu_state_check_host(&st, &caps, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "MSR 0x6e0 (IA32_TSC_DEADLINE)"));
	caps.nmsrs++;
	caps.xcrs = false;
	assert_int_equal(x86_vcpu_state_check_host(&st, &caps, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "KVM_CAP_XCRS"));
}

static void set_refuses_a_bad_state_before_any_ioctl(void **state)
{
	struct x86_vcpu_state st;
	struct x86_vcpu_caps caps = { .xcrs = true, .get_tsc_khz = true };
	struct vmon_error err = { 0 };
	(void)state;

	valid_state(&st);
	caps.nmsrs = x86_saved_msrs_select(pvm_list, NPVM, caps.msrs, X86_VCPU_MAX_MSRS);
	/* fd -1: any ioctl would fail with EBADF; a refusal by the checks comes first. */
	st.sregs.cr8 = 99;
	assert_int_equal(x86_vcpu_state_set(-1, &caps, &st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cr8"));
	/* A good state reaches KVM, and the error names the ioctl that failed. */
	valid_state(&st);
	assert_int_equal(x86_vcpu_state_set(-1, &caps, &st, &err), -EBADF);
	assert_non_null(strstr(err.msg, "KVM_GET_TSC_KHZ"));
	caps.get_tsc_khz = false;
	assert_int_equal(x86_vcpu_state_set(-1, &caps, &st, &err), -EBADF);
	assert_non_null(strstr(err.msg, "KVM_SET_MSRS"));
	assert_int_equal(x86_vcpu_state_get(-1, &caps, &st, &err), -EBADF);
	assert_non_null(strstr(err.msg, "KVM_GET_MP_STATE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(selection_keeps_only_listed_saveable_msrs_in_set_order),
		cmocka_unit_test(selection_stops_at_max_and_handles_empty_lists),
		cmocka_unit_test(only_the_tsc_deadline_waits_for_the_lapic),
		cmocka_unit_test(set_order_respects_kvm_dependencies),
		cmocka_unit_test(check_accepts_a_valid_state),
		cmocka_unit_test(check_names_each_bad_field),
		cmocka_unit_test(host_check_names_what_this_kvm_lacks),
		cmocka_unit_test(set_refuses_a_bad_state_before_any_ioctl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
