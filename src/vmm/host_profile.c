/* SPDX-License-Identifier: MIT */
#include "vmm/host_profile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/platform/x86.h>
#include <sys/stat.h>

#include "arch/x86/cpuid.h"
#include "base/log.h"

/* True when a "flags" line of cpuinfo names the flag as a whole word. */
static bool flags_have(const char *line, const char *flag)
{
	size_t n = strlen(flag);
	const char *p = strchr(line, ':');

	for (p = p ? p + 1 : line; (p = strstr(p, flag)) != NULL; p += n)
		if ((p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

int host_facts_read(struct host_facts *facts, const char *cpuinfo_path, const char *sys_module_dir,
		    struct vmon_error *err)
{
	char line[8192], path[512];
	struct stat st;
	FILE *f;

	memset(facts, 0, sizeof(*facts));
	f = fopen(cpuinfo_path, "re");
	if (!f)
		return error_set(err, -errno, "%s: %s", cpuinfo_path, strerror(errno));
	/* The first "flags" line speaks for every CPU (they are identical on hosts vmon supports). */
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) == 0) {
			facts->cpu_virt = flags_have(line, "vmx") || flags_have(line, "svm");
			break;
		}
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/kvm_pvm", sys_module_dir);
	facts->pvm_module = stat(path, &st) == 0;
	return 0;
}

bool host_cpuid_has_virt(void)
{
	/*
	 * glibc's copy of the CPUID bits, read once at its start-up: a CPUID
	 * instruction traps to the outer hypervisor where the host is a guest
	 * (~14 us each on the PVM host).
	 */
	return CPU_FEATURE_PRESENT(VMX) || CPU_FEATURE_PRESENT(SVM);
}

int host_facts_detect(struct host_facts *facts, bool cpuid_virt, const char *cpuinfo_path,
		      const char *sys_module_dir, struct vmon_error *err)
{
	char path[512];
	struct stat st;

	if (cpuid_virt)
		return host_facts_read(facts, cpuinfo_path, sys_module_dir, err);
	memset(facts, 0, sizeof(*facts));
	snprintf(path, sizeof(path), "%s/kvm_pvm", sys_module_dir);
	facts->pvm_module = stat(path, &st) == 0;
	return 0;
}

void host_profile_decide(const struct host_facts *facts, enum host_profile_mode mode, struct host_profile *out)
{
	memset(out, 0, sizeof(*out));
	switch (mode) {
	case HOST_PROFILE_NONE:
		snprintf(out->reason, sizeof(out->reason), "host profile switched off (--host-profile=none)");
		return;
	case HOST_PROFILE_PVM:
		out->emulated_ring0 = true;
		snprintf(out->reason, sizeof(out->reason), "requested with --host-profile=pvm");
		break;
	case HOST_PROFILE_AUTO:
		/* With /dev/kvm but no VT-x/AMD-V, KVM runs guest kernel code in software. */
		if (facts->cpu_virt)
			return;
		out->emulated_ring0 = true;
		snprintf(out->reason, sizeof(out->reason), "the CPU has no VT-x/AMD-V%s",
			 facts->pvm_module ? " and KVM is kvm_pvm" : "");
		break;
	}
	/*
	 * xrstor is not emulated and XSAVE cannot be masked by CPUID here, so the
	 * kernel is told not to use it; CX16 masking is honoured, so cmpxchg16b
	 * is hidden instead; the paravirt features whose hypercalls (vmcall)
	 * never return are hidden (kvmclock, which uses MSRs, stays).
	 * nowatchdog: Linux's lockup detectors time kernel code against the wall
	 * clock, and ring 0 runs ~1000x slower here, so every report is false
	 * (docs/ARCHITECTURE.md, host profiles).
	 * clearcpuid=ssse3: KVM's emulator runs no SSSE3 code, and distribution
	 * kernels run some in ring 0 at boot (Debian 6.1's built-in
	 * blake2s_compress_ssse3, random.c's mixing: `movd %ecx,%xmm15` stopped
	 * the guest); their C fallback runs. Clearing CPUID.1:ECX.SSSE3 through
	 * KVM_SET_CPUID2 is not honoured on PVM hosts (measured: the guest's
	 * /proc/cpuinfo still listed ssse3, while cx16 was gone), so the kernel
	 * is told instead (Linux >= 5.19 takes the name).
	 * cryptomgr.notests: the crypto self-tests that a distribution kernel
	 * runs for every algorithm it registers take minutes here, and a user
	 * that waits for one gives up after 60 s: Debian's kernel failed to load
	 * its compiled-in X.509 certificate that way ("Problem loading in-kernel
	 * X.509 certificate (-110)"). FIPS mode runs them regardless.
	 */
	out->linux_args = "noxsave nowatchdog clearcpuid=ssse3 cryptomgr.notests";
	out->leaf1_ecx_clear = CPUID_1_ECX_CX16;
	out->kvm_features_clear = KVM_PV_FEATURE_UNHALT | KVM_PV_FEATURE_TLB_FLUSH | KVM_PV_FEATURE_SEND_IPI |
				  KVM_PV_FEATURE_SCHED_YIELD;
}

void host_profile_for_this_host(enum host_profile_mode mode, struct host_profile *out)
{
	struct vmon_error err = { 0 };
	struct host_facts facts;

	if (host_facts_detect(&facts, host_cpuid_has_virt(), "/proc/cpuinfo", "/sys/module", &err)) {
		log_warn("%s; assuming a host with hardware virtualization", err.msg);
		facts.cpu_virt = true;
		facts.pvm_module = false;
	}
	host_profile_decide(&facts, mode, out);
}

void host_profile_print(const struct host_profile *p, FILE *out)
{
	fprintf(out, "profile: %s\n", p->emulated_ring0 ? "emulated-ring0" : "none");
	fprintf(out, "reason: %s\n", p->reason[0] ? p->reason : "the CPU has VT-x/AMD-V");
	fprintf(out, "linux-args: %s\n", p->emulated_ring0 && p->linux_args ? p->linux_args : "");
	fprintf(out, "cpuid-1-ecx-clear: 0x%08x\n", p->emulated_ring0 ? p->leaf1_ecx_clear : 0);
	fprintf(out, "kvm-features-clear: 0x%08x\n", p->emulated_ring0 ? p->kvm_features_clear : 0);
}

void host_profile_apply_cpuid(const struct host_profile *p, struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e;

	if (!p->emulated_ring0)
		return;
	if ((e = cpuid_find(cpuid, 1, 0)))
		e->ecx &= ~p->leaf1_ecx_clear;
	if ((e = cpuid_find(cpuid, CPUID_KVM_FEATURES_LEAF, 0)))
		e->eax &= ~p->kvm_features_clear;
}
