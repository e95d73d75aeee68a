/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_FC_SPEC_H
#define VMON_API_FC_SPEC_H

/*
 * Firecracker's pre-boot resources as vmon holds them: what PUT/PATCH request
 * bodies and the --config-file JSON set, validated against the definitions of
 * Firecracker's OpenAPI document (BootSource, Drive, PartialDrive,
 * MachineConfiguration, NetworkInterface, PartialNetworkInterface, Logger,
 * Metrics, EntropyDevice, SerialDevice, MmdsConfig; Vsock and Balloon are
 * refused until issue 12), then turned into vmon's struct vm_config.
 *
 * How each field maps onto vmon, and what vmon refuses (docs/API.md,
 * "Resources and how vmon maps them" and "Deviations"):
 *
 *   machine-config   vcpu_count 1..32 -> ncpus; mem_size_mib 2..1048576
 *                    (vmon's guest memory limits; Firecracker takes 1) ->
 *                    mem_size. smt true refused: vmon's CPUID shows one
 *                    thread per core (leaves 0xb/0x1f), so it cannot give the
 *                    guest sibling threads (Firecracker accepts smt on Intel
 *                    and AMD hosts alike and refuses it only on aarch64).
 *                    track_dirty_pages true refused (no dirty-page tracking
 *                    or diff snapshots yet, issue 11); cpu_template other
 *                    than "None" refused (no CPU templates); huge_pages other
 *                    than "None" refused (guest memory is 4 KiB pages).
 *   boot-source      kernel_image_path, initrd_path (both must open for
 *                    reading, as Firecracker checks at PUT); boot_args ->
 *                    cmdline, FC_SPEC_DEFAULT_BOOT_ARGS when absent.
 *   drives           in order -> vm_config.drives (the root device first, so
 *                    it is /dev/vda, as Firecracker places it): path_on_host
 *                    -> path, is_read_only -> readonly, drive_id -> id (the
 *                    virtio-blk serial: 1..20 bytes of [A-Za-z0-9_]). At most
 *                    one is_root_device: it appends "root=/dev/vda rw" (ro
 *                    when read-only) or "root=PARTUUID=<partuuid> rw|ro" to
 *                    the command line. cache_type Unsafe|Writeback: vmon
 *                    always offers and honours FLUSH (fdatasync), so Unsafe
 *                    is served as Writeback. io_engine Sync|Async: vmon
 *                    serves both synchronously on its I/O thread. socket
 *                    (vhost-user-block) refused. rate_limiter: Firecracker's
 *                    token buckets (bandwidth in bytes, ops), each
 *                    {size, one_time_burst, refill_time ms}; a bucket with
 *                    size or refill_time 0 limits nothing. PATCH replaces
 *                    the buckets it names and keeps the others.
 *   network-interfaces
 *                    host_dev_name -> the TAP backend on that existing
 *                    interface (1..15 bytes, no '/', ':' or space);
 *                    FC_SPEC_USER_NET ("vmon:user", a name no Linux interface
 *                    can have) -> the user-mode (libslirp) backend instead, a
 *                    vmon extension. guest_mac -> mac (unicast only; absent:
 *                    52:54:00:12:34:56 + index). mtu refused (vmon's
 *                    virtio-net does not offer VIRTIO_NET_F_MTU); rate
 *                    limiters (rx_rate_limiter, tx_rate_limiter) as for
 *                    drives, per frame.
 *   entropy          -> rng (virtio-rng); rate_limiter -> rng_rate_limiter
 *                    (each buffer the guest offers costs one op and the
 *                    bytes the device fills in it). No PATCH, as in
 *                    Firecracker.
 *   logger, metrics, serial, mmds-config
 *                    validated and kept here for the controller (the log
 *                    file, the metrics file, the serial output file, the
 *                    MMDS settings; the guest side of MMDS is not there yet).
 *   vsock, balloon   refused: "vsock is not supported yet (issue 12)".
 *
 * Every setter validates the whole body first and changes nothing on error
 * (-EINVAL, or -ENOMEM; err says "field: problem"). Not thread-safe: the
 * caller (the API thread) serializes access.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/token_bucket.h"
#include "vmm/config.h"

/* Firecracker's default boot arguments with its "8250.nr_uarts=0" turned into 1: vmon's console is the 8250. */
#define FC_SPEC_DEFAULT_BOOT_ARGS \
	"reboot=k panic=1 pci=off nomodule 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
/* The same without pci=off, for --enable-pci (the devices are on the PCI bus). */
#define FC_SPEC_DEFAULT_BOOT_ARGS_PCI \
	"reboot=k panic=1 nomodule 8250.nr_uarts=1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"

/* host_dev_name that selects vmon's user-mode network instead of a TAP interface. */
#define FC_SPEC_USER_NET "vmon:user"

#define FC_SPEC_MAX_VCPUS 32
#define FC_SPEC_ID_MAX 20   /* drive_id: the virtio-blk serial (VIRTIO_BLK_ID_BYTES) */
#define FC_SPEC_MMDS_DEFAULT_IPV4 0xa9fea9feu   /* 169.254.169.254 */

enum fc_cache_type { FC_CACHE_UNSAFE, FC_CACHE_WRITEBACK };
enum fc_io_engine { FC_IO_SYNC, FC_IO_ASYNC };
enum fc_log_level { FC_LOG_ERROR, FC_LOG_WARNING, FC_LOG_INFO, FC_LOG_DEBUG, FC_LOG_TRACE, FC_LOG_OFF };
enum fc_mmds_version { FC_MMDS_V1, FC_MMDS_V2 };

struct fc_boot_source {
	bool set;
	char *kernel_image_path;
	char *initrd_path;      /* NULL: none */
	char *boot_args;        /* NULL: FC_SPEC_DEFAULT_BOOT_ARGS */
};

struct fc_drive {
	char *drive_id;
	char *path_on_host;
	char *partuuid;         /* NULL: none */
	bool is_root_device;
	bool is_read_only;
	enum fc_cache_type cache_type;
	enum fc_io_engine io_engine;
	struct rate_limiter_config rate_limiter;
};

struct fc_machine_config {
	unsigned vcpu_count;
	uint64_t mem_size_mib;
	bool track_dirty_pages;   /* dirty page tracking from the start (diff snapshots) */
	/* smt, cpu_template and huge_pages: only their defaults are accepted. */
};

struct fc_net {
	char *iface_id;
	char *host_dev_name;    /* a TAP interface, or FC_SPEC_USER_NET */
	bool has_mac;
	uint8_t guest_mac[6];
	struct rate_limiter_config rx_rate_limiter, tx_rate_limiter;
};

struct fc_logger {
	bool set;
	char *log_path;         /* NULL: none given */
	enum fc_log_level level;
	bool show_level, show_log_origin;
	char *module;           /* NULL: all */
};

struct fc_metrics {
	bool set;
	char *metrics_path;
	bool emit_id;
	unsigned nproperties;
	char **property_keys, **property_values;
};

struct fc_serial {
	bool set;
	char *serial_out_path;  /* NULL: vmon's standard output */
};

struct fc_mmds_config {
	bool set;
	enum fc_mmds_version version;
	unsigned niface_ids;
	char **iface_ids;       /* each names one of the network interfaces */
	uint32_t ipv4_address;  /* host byte order */
	bool imds_compat;
};

struct fc_balloon {
	bool set;
	uint32_t amount_mib;
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s;
	bool free_page_reporting;
};

/* PUT /vsock: virtio-vsock with Firecracker's UNIX-socket host side. */
struct fc_vsock {
	bool set;
	uint64_t guest_cid;     /* 3 .. 2^32 - 2 */
	char *uds_path;
	char *vsock_id;         /* NULL when not given (Firecracker ignores it) */
};

struct fc_spec {
	struct fc_boot_source boot_source;
	struct fc_machine_config machine;
	unsigned ndrives;
	struct fc_drive drives[VM_CONFIG_MAX_DRIVES];   /* the root device, if any, first */
	unsigned nnets;
	struct fc_net nets[VM_CONFIG_MAX_NETS];
	bool entropy;
	struct rate_limiter_config entropy_rate_limiter;   /* per buffer: 1 op and the bytes filled */
	struct fc_logger logger;
	struct fc_metrics metrics;
	struct fc_serial serial;
	struct fc_mmds_config mmds;
	struct fc_balloon balloon;
	struct fc_vsock vsock;
};

/* Firecracker's defaults: 1 vCPU, 128 MiB, smt false, nothing else configured. */
void fc_spec_init(struct fc_spec *s);
/* Frees the strings; s is then as after fc_spec_init. */
void fc_spec_free(struct fc_spec *s);

int fc_spec_put_boot_source(struct fc_spec *s, const char *body, struct vmon_error *err);
/* path_id: the {drive_id} of the path, which the body's drive_id must equal. A known id is replaced in place. */
int fc_spec_put_drive(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err);
/* PartialDrive: path_on_host and/or rate_limiter of an existing drive. */
int fc_spec_patch_drive(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err);
/* PUT: vcpu_count and mem_size_mib required; the optional fields go back to their defaults. */
int fc_spec_put_machine_config(struct fc_spec *s, const char *body, struct vmon_error *err);
/* PATCH: at least one field; the others keep their values. */
int fc_spec_patch_machine_config(struct fc_spec *s, const char *body, struct vmon_error *err);
int fc_spec_put_network_interface(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err);
/* PartialNetworkInterface: rate limiters of an existing interface (the buckets named are replaced). */
int fc_spec_patch_network_interface(struct fc_spec *s, const char *path_id, const char *body,
				    struct vmon_error *err);
int fc_spec_put_logger(struct fc_spec *s, const char *body, struct vmon_error *err);
int fc_spec_put_metrics(struct fc_spec *s, const char *body, struct vmon_error *err);
int fc_spec_put_entropy(struct fc_spec *s, const char *body, struct vmon_error *err);
int fc_spec_put_serial(struct fc_spec *s, const char *body, struct vmon_error *err);
/* network_interfaces must name configured interfaces (at least one). */
int fc_spec_put_mmds_config(struct fc_spec *s, const char *body, struct vmon_error *err);
/* Refused with the issue that will bring it: 400 "vsock is not supported yet (issue 12)". */
int fc_spec_put_vsock(struct fc_spec *s, const char *body, struct vmon_error *err);
/*
 * Balloon: amount_mib 0 .. mem_size_mib, stats_polling_interval_s 0 .. 65535
 * (Firecracker's u16), free_page_hinting refused (not implemented).
 */
int fc_spec_put_balloon(struct fc_spec *s, const char *body, struct vmon_error *err);
/* BalloonUpdate: a new amount_mib (the caller hands it to the running device). */
int fc_spec_patch_balloon(struct fc_spec *s, const char *body, struct vmon_error *err);
/* BalloonStatsUpdate: a new interval; statistics cannot be turned on or off (Firecracker's rule). */
int fc_spec_patch_balloon_stats(struct fc_spec *s, const char *body, struct vmon_error *err);
/* GET /balloon body (Balloon) of the configured balloon, malloc'd; NULL when out of memory. */
char *fc_spec_balloon_json(const struct balloon_config *b);
/* GET /balloon/statistics body (BalloonStats), malloc'd; NULL when out of memory. */
char *fc_spec_balloon_stats_json(const struct balloon_status *st);

/*
 * Firecracker's --config-file JSON (its FullVmConfiguration plus "serial"):
 * "boot-source" (required), "drives", "machine-config", "network-interfaces",
 * "logger", "metrics", "entropy", "serial", "mmds-config", each validated as
 * its PUT body (errors prefixed with the section, e.g. "drives[1]: drive_id:
 * required"); "vsock", "balloon", "cpu-config", "pmem", "memory-hotplug"
 * refused unless null; any other key refused. On success s holds exactly
 * the file's configuration (what s held before is freed); on error s is
 * unchanged.
 */
int fc_spec_load_config_file(struct fc_spec *s, const char *json, struct vmon_error *err);

/* GET /machine-config body (MachineConfiguration), malloc'd; NULL when out of memory. */
char *fc_spec_machine_config_json(const struct fc_spec *s);
/* GET /vm/config body (FullVmConfiguration), malloc'd; fc_spec_load_config_file() takes it back. */
char *fc_spec_vm_config_json(const struct fc_spec *s);

/*
 * Fills cfg's machine description from s: kernel, initrd, cmdline, memory,
 * vCPUs, drives, nets, rng. cfg must have been through vm_config_init(); its
 * host-side fields (verbosity, host profile, ...) are kept, and the strings
 * are copied into cfg->text after what it already holds, so cfg does not
 * point into s. Fails, leaving cfg unchanged, naming what is missing or
 * wrong ("boot-source: no kernel_image_path set (PUT /boot-source first)"),
 * and checks the result with vm_config_check().
 */
int fc_spec_to_vm_config(const struct fc_spec *s, struct vm_config *cfg, struct vmon_error *err);

#endif
