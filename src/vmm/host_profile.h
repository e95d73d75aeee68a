/* SPDX-License-Identifier: MIT */
#ifndef VMON_HOST_PROFILE_H
#define VMON_HOST_PROFILE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/*
 * What this host's KVM can and cannot do, decided at run time (never by a
 * build flag). On a PVM host (kvm_pvm, no VT-x/AMD-V: ../shared/notes/host-pvm.md)
 * guest ring-0 code runs in KVM's instruction emulator, which lacks some
 * instructions and whose hypercalls never return; vmon then masks the CPUID
 * features the emulator cannot run where masking is honoured, adds kernel
 * arguments where it is not (Linux kernels only), and emulates the rest
 * itself. On VT-x/AMD-V hosts nothing of this is active.
 */
enum host_profile_mode {
	HOST_PROFILE_AUTO,   /* detect */
	HOST_PROFILE_NONE,   /* never apply workarounds */
	HOST_PROFILE_PVM,    /* apply them whatever the detection says */
};

struct host_facts {
	bool cpu_virt;       /* /proc/cpuinfo lists vmx or svm */
	bool pvm_module;     /* /sys/module/kvm_pvm exists */
};

struct host_profile {
	bool emulated_ring0;         /* guest CPL0 runs in KVM's emulator */
	char reason[160];            /* why, for the log */
	const char *linux_args;      /* appended to a Linux kernel's command line, or NULL */
	uint32_t leaf1_ecx_clear;    /* CPUID.1:ECX bits to clear */
	uint32_t kvm_features_clear; /* CPUID.0x40000001:EAX bits to clear */
};

/* Reads the facts from the given paths (the real ones: "/proc/cpuinfo", "/sys/module"). */
int host_facts_read(struct host_facts *facts, const char *cpuinfo_path, const char *sys_module_dir,
		    struct vmon_error *err);

/* CPUID.1:ECX.VMX or CPUID.80000001h:ECX.SVM, from the CPUID instruction. */
bool host_cpuid_has_virt(void);

/*
 * host_facts_read, without reading cpuinfo when cpuid_virt (host_cpuid_has_virt())
 * is false: cpuinfo's vmx/svm flags are CPUID's minus those the kernel turned
 * off, so neither is there then. Reading /proc/cpuinfo cost ~0.1 ms of vmon's
 * start-up on the PVM host (the kernel samples each CPU's clock through MSRs,
 * each a trap to the outer hypervisor); a VT-x/AMD-V host still reads it.
 */
int host_facts_detect(struct host_facts *facts, bool cpuid_virt, const char *cpuinfo_path,
		      const char *sys_module_dir, struct vmon_error *err);

/* The profile for these facts under the requested mode. */
void host_profile_decide(const struct host_facts *facts, enum host_profile_mode mode, struct host_profile *out);

/*
 * The profile `vmon run` uses on this host under mode: the facts from CPUID,
 * /proc/cpuinfo and /sys/module; where they cannot be read, a warning and the
 * assumption of a VT-x/AMD-V host. `vmon host-profile` prints the same.
 */
void host_profile_for_this_host(enum host_profile_mode mode, struct host_profile *out);

/*
 * Prints the profile as `key: value` lines (profile, reason, linux-args,
 * cpuid-1-ecx-clear, kvm-features-clear), for `vmon host-profile`.
 */
void host_profile_print(const struct host_profile *p, FILE *out);

/* Applies the profile's CPUID masks to a vCPU's CPUID. */
void host_profile_apply_cpuid(const struct host_profile *p, struct kvm_cpuid2 *cpuid);

#define CPUID_1_ECX_CX16 (1u << 13)
/* KVM paravirt features (Documentation/virt/kvm/x86/cpuid.rst) that issue hypercalls. */
#define KVM_PV_FEATURE_UNHALT      (1u << 7)
#define KVM_PV_FEATURE_TLB_FLUSH   (1u << 9)
#define KVM_PV_FEATURE_SEND_IPI    (1u << 11)
#define KVM_PV_FEATURE_SCHED_YIELD (1u << 13)

#endif
