/* SPDX-License-Identifier: MIT */
#ifndef VMON_CONFIG_H
#define VMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/x86/boot.h"
#include "vmm/host_profile.h"
#include "vmm/error.h"

/* --drive path=FILE[,readonly=on|off][,id=NAME] */
struct drive_config {
	const char *path;
	bool readonly;
	const char *id;              /* serial the guest reads with GET_ID (<= 20 bytes); NULL: "vmon-drive<N>" */
};

enum net_backend_kind {
	NET_BACKEND_USER,            /* libslirp user-mode networking (no privileges) */
	NET_BACKEND_TAP,             /* a host TAP interface */
};

/* hostfwd=tcp::HOSTPORT-:GUESTPORT (or udp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT) */
struct net_hostfwd {
	bool udp;
	uint32_t host_addr;          /* IPv4, host byte order; 0 = any */
	uint16_t host_port;
	uint32_t guest_addr;         /* 0 = the guest's DHCP address (10.0.2.15) */
	uint16_t guest_port;
};

#define NET_MAX_HOSTFWD 8

/* --net user[,hostfwd=...][,mac=..] | --net tap[=NAME][,mac=..] */
struct net_config {
	enum net_backend_kind backend;
	const char *tap_name;        /* TAP: existing interface; NULL: create one (needs CAP_NET_ADMIN) */
	uint8_t mac[6];              /* always set after parsing (default 52:54:00:12:34:5N) */
	unsigned nhostfwd;
	struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
};

#define VM_CONFIG_MAX_DRIVES 6
#define VM_CONFIG_MAX_NETS 2

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
	bool rng;                     /* --rng: virtio-rng fed by getrandom() */
	const char *vconsole_socket;  /* --vconsole socket=PATH: virtio-console port on a UNIX socket vmon listens on */
	/* Storage for the strings split out of option values (no allocation: nothing to free). */
	char text[4096];
	size_t text_used;
};

/*
 * What a Linux guest need not probe on vmon's machine: one UART, no PCI bus,
 * no PS/2 mouse. Saves thousands of exits (a stock kernel made 33 000 PCI
 * config accesses, docs/LINUX.md); --no-linux-device-args turns it off.
 */
#define VMON_LINUX_DEVICE_ARGS "8250.nr_uarts=1 pci=off i8042.noaux"

#define VM_CONFIG_DEFAULT_MEM (128ull << 20)
#define VM_CONFIG_MAX_CPUS 1   /* SMP arrives with its own issue */

/* Process exit statuses of vmon itself; debug-exit statuses (2n+1) are odd. */
enum vmon_exit_status {
	VMON_EXIT_OK = 0,            /* guest reset / powered off / user quit */
	VMON_EXIT_USAGE = 2,         /* bad CLI argument, config or image */
	VMON_EXIT_GUEST_CRASH = 4,   /* triple fault, KVM internal error, failed entry */
	VMON_EXIT_HOST_ERROR = 6,    /* /dev/kvm missing, an ioctl failed, out of memory */
};

enum cli_action {
	CLI_RUN,       /* cfg is filled: run the VM */
	CLI_DONE,      /* --help / --version printed: exit 0 */
	CLI_ERROR,     /* err holds the message: exit VMON_EXIT_USAGE */
};

/* Parses argv (argv[0] is the program). Help/version text goes to out. */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, FILE *out, struct vmon_error *err);

/*
 * "128M", "1G", "512K", "2T", optionally followed by "iB"/"B"; a bare number
 * is MiB (as QEMU's -m). Returns 0 or -EINVAL/-ERANGE.
 */
int parse_size(const char *text, uint64_t *bytes);

void cli_print_usage(FILE *out);

#endif
