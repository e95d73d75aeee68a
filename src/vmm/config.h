/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_CONFIG_H
#define VMON_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/x86/boot.h"
#include "base/error.h"
#include "net/backend.h"
#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "vmm/host_profile.h"

#define VM_CONFIG_MAX_DRIVES 12   /* Kata: the root and 8 placeholders; beyond 8 devices on PCI only */
#define VM_CONFIG_MAX_NETS 2

/*
 * Which transport shows a virtio device to the guest: virtio-mmio windows
 * (described by ACPI and virtio_mmio.device= arguments) or virtio-pci
 * functions on vmon's PCI host bridge (what stock distribution kernels
 * find without arguments). DEFAULT: the machine's choice (vm_config.virtio_transport).
 */
enum virtio_transport_kind {
	VIRTIO_TRANSPORT_DEFAULT = 0,
	VIRTIO_TRANSPORT_MMIO,
	VIRTIO_TRANSPORT_PCI,
};

/*
 * The typed description of one VM. The CLI fills it (later a config file and
 * the REST API will too); the VM is built from this object only.
 */
struct vm_config {
	const char *kernel_path;
	const char *initrd_path;     /* NULL: none */
	const char *cmdline;         /* never NULL after parsing */
	uint64_t mem_size;           /* bytes */
	unsigned ncpus;
	bool stats;                  /* print exit statistics at the end */
	enum boot_protocol protocol;
	bool bzimage_guest_decompress;
	bool initrd_guest_decompress;  /* load the initrd as given instead of decompressing it on the host */
	int verbosity;               /* 0 = warnings, 1 = info, 2 = debug; -1 = errors only */
	enum host_profile_mode host_profile;
	bool linux_device_args;       /* append VMON_LINUX_DEVICE_ARGS to a Linux kernel's command line */
	unsigned ndrives;
	struct drive_config drives[VM_CONFIG_MAX_DRIVES];
	unsigned nnets;
	struct net_config nets[VM_CONFIG_MAX_NETS];
	/*
	 * Transports: the machine's default (MMIO unless set: the CLI sets PCI,
	 * the Firecracker API keeps MMIO unless --enable-pci) and each device's
	 * own choice (DEFAULT: the machine's).
	 */
	enum virtio_transport_kind virtio_transport;
	enum virtio_transport_kind drive_transport[VM_CONFIG_MAX_DRIVES];
	enum virtio_transport_kind net_transport[VM_CONFIG_MAX_NETS];
	bool rng;                     /* --rng: virtio-rng fed by getrandom() */
	struct rate_limiter_config rng_rate_limiter;  /* --rng bw=,ops=... / PUT /entropy rate_limiter */
	const char *vconsole_socket;  /* --vconsole socket=PATH: virtio-console port on a UNIX socket vmon listens on */
	struct balloon_config balloon; /* --balloon / PUT /balloon: virtio-balloon when .enabled */
	/* --vsock cid=N,uds=PATH / PUT /vsock: virtio-vsock with Firecracker's UNIX-socket host side (NULL: none). */
	uint64_t vsock_cid;           /* 3 .. 2^32 - 2 */
	const char *vsock_uds_path;
	/*
	 * Test of the machine model: every this many ms, pause, save every
	 * device's and vCPU's state, reset them all, restore, resume (0: never).
	 */
	unsigned test_save_restore_ms;
	/*
	 * Every vCPU on a thread of its own named "fc_vcpu N" (the API's VMs, as
	 * Firecracker runs them); otherwise vCPU 0 runs on the main thread, which
	 * starts the guest sooner (docs/PERFORMANCE.md, "Start-up").
	 */
	bool vcpus_on_own_threads;
	int seccomp_level;            /* --seccomp-level / --no-seccomp: enum seccomp_level, default 2 */
	bool announce_boot_time;      /* --boot-timer: log the time to the guest's init mark whatever the level */
	/* Storage for the strings split out of option values (no allocation: nothing to free). */
	char text[4096];
	size_t text_used;
};

/*
 * What a Linux guest need not probe on vmon's machine: one UART, no PCI bus,
 * no PS/2 mouse. Saves thousands of exits (a stock kernel made 33 000 PCI
 * config accesses, docs/LINUX.md); --no-linux-device-args turns it off.
 */
#define VMON_LINUX_DEVICE_ARGS "8250.nr_uarts=1 i8042.noaux"
/* Appended too when no device is on PCI (the bus is then absent: nothing to probe). */
#define VMON_LINUX_NO_PCI_ARG "pci=off"

#define VM_CONFIG_DEFAULT_MEM (128ull << 20)
/*
 * vCPUs: one xAPIC ID each (0 .. N-1), and the IOAPIC takes the next ID in the
 * same 8-bit namespace (MADT and MP table); 255 is the broadcast ID. So 254
 * CPUs at most without x2APIC and interrupt remapping. KVM's own limit
 * (KVM_CAP_MAX_VCPUS) is checked when the VM is built.
 */
#define VM_CONFIG_MAX_CPUS 254

/* Process exit statuses of vmon itself; debug-exit statuses (2n+1) are odd. */
enum vmon_exit_status {
	VMON_EXIT_OK = 0,            /* guest reset / powered off / user quit */
	VMON_EXIT_USAGE = 2,         /* bad CLI argument, config or image */
	VMON_EXIT_GUEST_CRASH = 4,   /* triple fault, KVM internal error, failed entry */
	VMON_EXIT_HOST_ERROR = 6,    /* /dev/kvm missing, an ioctl failed, out of memory */
};

/* The transport a device with this choice gets on this machine (never DEFAULT). */
enum virtio_transport_kind vm_config_transport(const struct vm_config *cfg, enum virtio_transport_kind choice);
/* "mmio" / "pci"; parse: 0 or -EINVAL. */
const char *virtio_transport_name(enum virtio_transport_kind kind);
int virtio_transport_parse(const char *s, size_t len, enum virtio_transport_kind *out);

/* A vm_config with every default set and no kernel. */
void vm_config_init(struct vm_config *cfg);

/*
 * The one validation of a machine description, whoever filled it (CLI, config
 * file, API): 0, or -EINVAL/-E2BIG with err saying "FIELD problem", and
 * *field (when not NULL) set to the vm_config field at fault.
 */
int vm_config_check(const struct vm_config *cfg, const char **field, struct vmon_error *err);

#endif
