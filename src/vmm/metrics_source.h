/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_METRICS_SOURCE_H
#define VMON_VMM_METRICS_SOURCE_H

#include <stdint.h>

#include "arch/x86/layout.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "vmm/config.h"
#include "vmm/stats.h"

struct vm;

/*
 * What a running VM has counted, copied into plain data for the metrics
 * (api/metrics.h formats it as Firecracker JSON lines and Prometheus text).
 * Every counter is cumulative since the VM was built.
 *
 * The counters come from where vmon counts anyway: per-vCPU exits
 * (vmm/stats.h), the virtio-mmio transports' notifications and interrupts,
 * virtio-blk requests and bytes, virtio-net frames and bytes, virtio-rng
 * buffers and bytes, the rate limiters' waits, COM1's bytes,
 * the i8042's accesses and resets, the stop signals handled. Each is a
 * relaxed atomic with one writer (or writers under the device's lock), so a
 * snapshot takes no lock a vCPU or the I/O thread holds and never waits for
 * them; the counters are read one by one, not all at one instant.
 */
#define VM_METRICS_MAX_VCPUS VM_CONFIG_MAX_CPUS
#define VM_METRICS_MAX_VIRTIO X86_VIRTIO_MAX_DEVICES

struct vm_metrics_vcpu {
	uint64_t exits;
	uint64_t io_in, io_out;            /* KVM_EXIT_IO exits by direction */
	uint64_t mmio_read, mmio_write;    /* KVM_EXIT_MMIO exits by direction */
	uint64_t failures;                 /* the vCPU stopped on an error */
};

enum vm_metrics_virtio_kind { VM_METRICS_VIRTIO_BLK, VM_METRICS_VIRTIO_NET, VM_METRICS_VIRTIO_RNG, VM_METRICS_VIRTIO_OTHER };

struct vm_metrics_virtio {
	enum vm_metrics_virtio_kind kind;
	char kind_name[24];                /* "virtio-blk", ... */
	char name[24];                     /* the registry's: "virtio-blk0" */
	/*
	 * The name metrics show it by: the drive's id (--drive id=) when it has
	 * one, else name. The API layer may overwrite it with Firecracker's
	 * drive_id / iface_id before formatting.
	 */
	char id[64];
	uint64_t notifies, interrupts, ignored_notifies;
	struct virtio_blk_stats blk;       /* kind VM_METRICS_VIRTIO_BLK */
	struct virtio_net_stats net;       /* kind VM_METRICS_VIRTIO_NET */
	struct virtio_rng_stats rng;       /* kind VM_METRICS_VIRTIO_RNG */
};

struct vm_metrics {
	unsigned nvcpus;
	struct vm_metrics_vcpu vcpu[VM_METRICS_MAX_VCPUS];
	uint64_t exits_by_reason[STATS_MAX_REASONS];   /* all vCPUs; names: stats_exit_reason_name() */
	uint64_t exits_other_reason;
	unsigned nvirtio;
	struct vm_metrics_virtio virtio[VM_METRICS_MAX_VIRTIO];
	struct { uint64_t tx_bytes, rx_bytes; } uart;  /* COM1 */
	struct { uint64_t reads, writes, resets; } i8042;
	struct { uint64_t sigint, sigterm, sighup; } signals;
};

/*
 * Fills *out from vm (any thread). vm must stay built meanwhile: from
 * vm_create() to vm_destroy(); vCPUs may be running.
 */
void vm_metrics_snapshot(struct vm *vm, struct vm_metrics *out);

#endif
