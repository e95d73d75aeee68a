/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/cpuid.h"
#include "vmm/host_profile.h"

/* A fake /proc/cpuinfo and /sys/module in a temporary directory. */
static void make_host(char *dir, const char *flags, bool pvm, char *cpuinfo)
{
	char path[600];
	FILE *f;

	strcpy(dir, "/tmp/vmon-host-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cpuinfo, 600, "%s/cpuinfo", dir);
	f = fopen(cpuinfo, "w");
	fprintf(f, "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: %s\n\nprocessor\t: 1\n", flags);
	fclose(f);
	snprintf(path, sizeof(path), "%s/module", dir);
	mkdir(path, 0755);
	if (pvm) {
		snprintf(path, sizeof(path), "%s/module/kvm_pvm", dir);
		mkdir(path, 0755);
	}
}

static void remove_host(const char *dir)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void decide(const char *flags, bool pvm, enum host_profile_mode mode, struct host_profile *p)
{
	char dir[64], cpuinfo[600], module[600];
	struct host_facts facts;

	make_host(dir, flags, pvm, cpuinfo);
	snprintf(module, sizeof(module), "%s/module", dir);
	assert_int_equal(host_facts_read(&facts, cpuinfo, module, NULL), 0);
	host_profile_decide(&facts, mode, p);
	remove_host(dir);
}

static void vmx_or_svm_host_runs_natively(void **state)
{
	struct host_profile p;
	(void)state;
	decide("fpu vme de pse tsc msr pae vmx smx est", false, HOST_PROFILE_AUTO, &p);
	assert_false(p.emulated_ring0);
	decide("fpu svm lahf_lm", false, HOST_PROFILE_AUTO, &p);
	assert_false(p.emulated_ring0);
	assert_null(p.linux_args);
}

static void pvm_host_is_detected_with_its_reason(void **state)
{
	struct host_profile p;
	(void)state;
	/* The flags of our build machines: "hypervisor" and "vmmcall", but neither vmx nor svm. */
	decide("fpu vme de cx16 popcnt hypervisor lahf_lm svm_lock vmmcall xsave", true, HOST_PROFILE_AUTO, &p);
	assert_true(p.emulated_ring0);
	assert_non_null(strstr(p.reason, "kvm_pvm"));
	assert_string_equal(p.linux_args, "noxsave nowatchdog clearcpuid=ssse3 cryptomgr.notests");
	assert_true(p.leaf1_ecx_clear & CPUID_1_ECX_CX16);
}

static void mode_none_and_pvm_override_detection(void **state)
{
	struct host_profile p;
	(void)state;
	decide("fpu hypervisor", true, HOST_PROFILE_NONE, &p);
	assert_false(p.emulated_ring0);
	decide("fpu vmx", false, HOST_PROFILE_PVM, &p);
	assert_true(p.emulated_ring0);
}

static void missing_cpuinfo_is_an_error(void **state)
{
	struct host_facts facts;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_not_equal(host_facts_read(&facts, "/nonexistent/cpuinfo", "/sys/module", &err), 0);
	assert_non_null(strstr(err.msg, "/nonexistent/cpuinfo"));
}

static void cpuinfo_is_read_only_when_cpuid_has_vmx_or_svm(void **state)
{
	char dir[64], cpuinfo[600], module[600];
	struct host_facts facts;
	(void)state;
	make_host(dir, "fpu vmx", true, cpuinfo);
	snprintf(module, sizeof(module), "%s/module", dir);
	/* Without VMX/SVM in CPUID the (here contradicting) cpuinfo is not consulted. */
	assert_int_equal(host_facts_detect(&facts, false, cpuinfo, module, NULL), 0);
	assert_false(facts.cpu_virt);
	assert_true(facts.pvm_module);
	assert_int_equal(host_facts_detect(&facts, false, "/nonexistent/cpuinfo", module, NULL), 0);
	assert_false(facts.cpu_virt);
	/* With them, cpuinfo has the last word (the kernel may have turned VT-x off). */
	assert_int_equal(host_facts_detect(&facts, true, cpuinfo, module, NULL), 0);
	assert_true(facts.cpu_virt);
	remove_host(dir);
	make_host(dir, "fpu hypervisor", false, cpuinfo);
	snprintf(module, sizeof(module), "%s/module", dir);
	assert_int_equal(host_facts_detect(&facts, true, cpuinfo, module, NULL), 0);
	assert_false(facts.cpu_virt);
	assert_false(facts.pvm_module);
	remove_host(dir);
}

static void cpuid_masks_clear_cx16_and_hanging_pv_features(void **state)
{
	struct kvm_cpuid2 *c = cpuid_alloc();
	struct host_profile p;
	(void)state;
	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0xffffffff, .edx = 0xffffffff };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = CPUID_KVM_FEATURES_LEAF, .eax = 0xffffffff };
	decide("fpu", false, HOST_PROFILE_AUTO, &p);
	host_profile_apply_cpuid(&p, c);
	assert_int_equal(c->entries[0].ecx, 0xffffffff & ~CPUID_1_ECX_CX16);
	assert_int_equal(c->entries[0].edx, 0xffffffff);
	assert_false(c->entries[1].eax & KVM_PV_FEATURE_SEND_IPI);
	assert_false(c->entries[1].eax & KVM_PV_FEATURE_UNHALT);
	assert_true(c->entries[1].eax & 1); /* KVM_FEATURE_CLOCKSOURCE stays */
	/* A native profile changes nothing. */
	c->entries[0].ecx = 0xffffffff;
	decide("fpu vmx", false, HOST_PROFILE_AUTO, &p);
	host_profile_apply_cpuid(&p, c);
	assert_int_equal(c->entries[0].ecx, 0xffffffff);
	free(c);
}

static void print_to_string(const struct host_profile *p, char *buf, size_t size)
{
	FILE *f = fmemopen(buf, size, "w");

	assert_non_null(f);
	host_profile_print(p, f);
	fclose(f);
}

static void printed_profile_names_mode_reason_and_linux_args(void **state)
{
	struct host_profile p;
	char out[1024];
	(void)state;

	decide("fpu vme svm", false, HOST_PROFILE_AUTO, &p);
	print_to_string(&p, out, sizeof(out));
	assert_string_equal(out, "profile: none\nreason: the CPU has VT-x/AMD-V\nlinux-args: \n"
			    "cpuid-1-ecx-clear: 0x00000000\nkvm-features-clear: 0x00000000\n");

	decide("fpu vme", true, HOST_PROFILE_AUTO, &p);
	print_to_string(&p, out, sizeof(out));
	assert_non_null(strstr(out, "profile: emulated-ring0\n"));
	assert_non_null(strstr(out, "reason: the CPU has no VT-x/AMD-V and KVM is kvm_pvm\n"));
	char want[256];
	snprintf(want, sizeof(want), "linux-args: %s\n", p.linux_args);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "noxsave"));
	snprintf(want, sizeof(want), "cpuid-1-ecx-clear: 0x%08x\n", CPUID_1_ECX_CX16);
	assert_non_null(strstr(out, want));

	decide("fpu vme", true, HOST_PROFILE_NONE, &p);
	print_to_string(&p, out, sizeof(out));
	assert_non_null(strstr(out, "profile: none\nreason: host profile switched off (--host-profile=none)\n"
				     "linux-args: \n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmx_or_svm_host_runs_natively),
		cmocka_unit_test(pvm_host_is_detected_with_its_reason),
		cmocka_unit_test(mode_none_and_pvm_override_detection),
		cmocka_unit_test(cpuinfo_is_read_only_when_cpuid_has_vmx_or_svm),
		cmocka_unit_test(missing_cpuinfo_is_an_error),
		cmocka_unit_test(cpuid_masks_clear_cx16_and_hanging_pv_features),
		cmocka_unit_test(printed_profile_names_mode_reason_and_linux_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
