/* SPDX-License-Identifier: MIT */
#include "vmm/config.h"

#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "arch/x86/layout.h"
#include "base/guest_mem.h"
#include "base/seccomp_filter.h"
#include "virtio/vsock.h"

void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = "";
	cfg->mem_size = VM_CONFIG_DEFAULT_MEM;
	cfg->ncpus = 1;
	cfg->protocol = BOOT_PROTOCOL_AUTO;
	cfg->host_profile = HOST_PROFILE_AUTO;
	cfg->linux_device_args = true;
	cfg->virtio_transport = VIRTIO_TRANSPORT_MMIO;
	cfg->seccomp_level = SECCOMP_LEVEL_FILTERED;
}

enum virtio_transport_kind vm_config_transport(const struct vm_config *cfg, enum virtio_transport_kind choice)
{
	if (choice != VIRTIO_TRANSPORT_DEFAULT)
		return choice;
	return cfg->virtio_transport == VIRTIO_TRANSPORT_PCI ? VIRTIO_TRANSPORT_PCI : VIRTIO_TRANSPORT_MMIO;
}

const char *virtio_transport_name(enum virtio_transport_kind kind)
{
	return kind == VIRTIO_TRANSPORT_PCI ? "pci" : kind == VIRTIO_TRANSPORT_MMIO ? "mmio" : "default";
}

int virtio_transport_parse(const char *s, size_t len, enum virtio_transport_kind *out)
{
	if (len == 3 && !strncmp(s, "pci", 3))
		*out = VIRTIO_TRANSPORT_PCI;
	else if (len == 4 && !strncmp(s, "mmio", 4))
		*out = VIRTIO_TRANSPORT_MMIO;
	else
		return -EINVAL;
	return 0;
}

/* Records the field at fault and the message ("FIELD problem"). */
#define BAD(fieldname, code, ...)                                  \
	do {                                                       \
		if (field)                                         \
			*field = (fieldname);                      \
		return error_set(err, (code), __VA_ARGS__);        \
	} while (0)

int vm_config_check(const struct vm_config *cfg, const char **field, struct vmon_error *err)
{
	if (!cfg->kernel_path || !cfg->kernel_path[0])
		BAD("kernel_path", -EINVAL, "kernel_path is required");
	if (!cfg->cmdline)
		BAD("cmdline", -EINVAL, "cmdline is missing");
	if (strlen(cfg->cmdline) >= 0x10000)
		BAD("cmdline", -E2BIG, "cmdline is %zu bytes; at most 65535 fit", strlen(cfg->cmdline));
	if (cfg->mem_size < GUEST_MEM_MIN || cfg->mem_size > GUEST_MEM_MAX)
		BAD("mem_size", -EINVAL, "mem_size %llu bytes: must be between %llu MiB and %llu GiB",
		    (unsigned long long)cfg->mem_size, GUEST_MEM_MIN >> 20, GUEST_MEM_MAX >> 30);
	if (cfg->mem_size % 4096)
		BAD("mem_size", -EINVAL, "mem_size %llu bytes: not a multiple of 4 KiB",
		    (unsigned long long)cfg->mem_size);
	if (cfg->ncpus < 1)
		BAD("ncpus", -EINVAL, "ncpus must be at least 1");
	if (cfg->ncpus > VM_CONFIG_MAX_CPUS)
		BAD("ncpus", -EINVAL, "ncpus %u: at most %d vCPUs are supported (xAPIC IDs 0-253, the IOAPIC "
		    "takes the next ID)", cfg->ncpus, VM_CONFIG_MAX_CPUS);
	if (cfg->protocol != BOOT_PROTOCOL_AUTO && cfg->protocol != BOOT_PROTOCOL_LINUX &&
	    cfg->protocol != BOOT_PROTOCOL_PVH)
		BAD("protocol", -EINVAL, "protocol %d is not a boot protocol", (int)cfg->protocol);
	if (cfg->host_profile != HOST_PROFILE_AUTO && cfg->host_profile != HOST_PROFILE_NONE &&
	    cfg->host_profile != HOST_PROFILE_PVM)
		BAD("host_profile", -EINVAL, "host_profile %d is not auto, none or pvm", (int)cfg->host_profile);
	if (cfg->ndrives > VM_CONFIG_MAX_DRIVES)
		BAD("drives", -EINVAL, "drives: %u given, at most %d", cfg->ndrives, VM_CONFIG_MAX_DRIVES);
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		if (!cfg->drives[i].path || !cfg->drives[i].path[0])
			BAD("drives", -EINVAL, "drives[%u] has no path", i);
		if (cfg->drives[i].id && (!cfg->drives[i].id[0] || strlen(cfg->drives[i].id) > 20))
			BAD("drives", -EINVAL, "drives[%u] id '%s' must be 1 to 20 characters", i, cfg->drives[i].id);
	}
	if (cfg->nnets > VM_CONFIG_MAX_NETS)
		BAD("nets", -EINVAL, "nets: %u given, at most %d", cfg->nnets, VM_CONFIG_MAX_NETS);
	for (unsigned i = 0; i < cfg->nnets; i++) {
		const struct net_config *n = &cfg->nets[i];

		if (n->backend != NET_BACKEND_USER && n->backend != NET_BACKEND_TAP)
			BAD("nets", -EINVAL, "nets[%u] backend %d is not user or tap", i, (int)n->backend);
		if (n->nhostfwd > NET_MAX_HOSTFWD)
			BAD("nets", -EINVAL, "nets[%u]: %u hostfwd rules, at most %d", i, n->nhostfwd, NET_MAX_HOSTFWD);
		if (n->mac[0] & 1)
			BAD("nets", -EINVAL, "nets[%u] mac is a multicast address", i);
	}
	if (cfg->vconsole_socket && strlen(cfg->vconsole_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		BAD("vconsole_socket", -ENAMETOOLONG, "vconsole_socket path is longer than %zu bytes",
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (cfg->vsock_uds_path) {
		if (cfg->vsock_cid < 3 || cfg->vsock_cid >= UINT32_MAX)
			BAD("vsock", -EINVAL, "vsock cid %llu is reserved or too large: use 3 .. %u",
			    (unsigned long long)cfg->vsock_cid, UINT32_MAX - 1);
		if (!cfg->vsock_uds_path[0])
			BAD("vsock", -EINVAL, "vsock uds_path is empty");
		if (strlen(cfg->vsock_uds_path) > VSOCK_UDS_PATH_MAX)
			BAD("vsock", -ENAMETOOLONG, "vsock uds_path is longer than %zu bytes (\"<uds_path>_<port>\" "
			    "must fit a UNIX socket address)", VSOCK_UDS_PATH_MAX);
	}
	if (cfg->test_save_restore_ms > 3600 * 1000)
		BAD("test_save_restore_ms", -EINVAL, "test_save_restore_ms %u: at most one hour (3600000)",
		    cfg->test_save_restore_ms);
	if (cfg->balloon.enabled && cfg->balloon.amount_mib > BALLOON_MAX_MIB)
		BAD("balloon", -EINVAL, "balloon amount_mib %u: at most %u", cfg->balloon.amount_mib, BALLOON_MAX_MIB);
	if (cfg->balloon.enabled && ((uint64_t)cfg->balloon.amount_mib << 20) > cfg->mem_size)
		BAD("balloon", -EINVAL, "balloon amount_mib %u is more than the guest's %llu MiB", cfg->balloon.amount_mib,
		    (unsigned long long)(cfg->mem_size >> 20));
	if (cfg->balloon.enabled && cfg->balloon.stats_interval_s > BALLOON_MAX_STATS_INTERVAL_S)
		BAD("balloon", -EINVAL, "balloon stats_interval %u s: at most %u", cfg->balloon.stats_interval_s,
		    BALLOON_MAX_STATS_INTERVAL_S);
	if (!cfg->balloon.enabled && (cfg->balloon.amount_mib || cfg->balloon.deflate_on_oom ||
				      cfg->balloon.stats_interval_s || cfg->balloon.free_page_reporting))
		BAD("balloon", -EINVAL, "balloon options given without the balloon");
	if (cfg->virtio_transport != VIRTIO_TRANSPORT_MMIO && cfg->virtio_transport != VIRTIO_TRANSPORT_PCI)
		BAD("virtio_transport", -EINVAL, "virtio_transport %d is not mmio or pci", (int)cfg->virtio_transport);
	for (unsigned i = 0; i < VM_CONFIG_MAX_DRIVES; i++)
		if ((unsigned)cfg->drive_transport[i] > VIRTIO_TRANSPORT_PCI)
			BAD("drive_transport", -EINVAL, "drives[%u] transport %d is not mmio or pci", i,
			    (int)cfg->drive_transport[i]);
	for (unsigned i = 0; i < VM_CONFIG_MAX_NETS; i++)
		if ((unsigned)cfg->net_transport[i] > VIRTIO_TRANSPORT_PCI)
			BAD("net_transport", -EINVAL, "nets[%u] transport %d is not mmio or pci", i,
			    (int)cfg->net_transport[i]);
	unsigned others = (cfg->rng ? 1 : 0) + (cfg->vconsole_socket ? 1 : 0) + (cfg->balloon.enabled ? 1 : 0) +
			  (cfg->vsock_uds_path ? 1 : 0);
	unsigned nvirtio = cfg->ndrives + cfg->nnets + others;
	if (nvirtio > X86_VIRTIO_MAX_DEVICES)
		BAD("drives", -EINVAL, "drives, nets, rng, vconsole, balloon and vsock make %u virtio devices; at most %d fit",
		    nvirtio, X86_VIRTIO_MAX_DEVICES);
	/* Each virtio-mmio device needs an interrupt line of its own; rng, vconsole, balloon and vsock follow the machine. */
	unsigned nmmio = vm_config_transport(cfg, VIRTIO_TRANSPORT_DEFAULT) == VIRTIO_TRANSPORT_MMIO ? others : 0;
	for (unsigned i = 0; i < cfg->ndrives && i < VM_CONFIG_MAX_DRIVES; i++)
		nmmio += vm_config_transport(cfg, cfg->drive_transport[i]) == VIRTIO_TRANSPORT_MMIO;
	for (unsigned i = 0; i < cfg->nnets && i < VM_CONFIG_MAX_NETS; i++)
		nmmio += vm_config_transport(cfg, cfg->net_transport[i]) == VIRTIO_TRANSPORT_MMIO;
	if (nmmio > X86_VIRTIO_MAX_MMIO_DEVICES)
		BAD("drives", -EINVAL, "drives, nets, rng, vconsole, balloon and vsock put %u devices on virtio-mmio; its "
		    "interrupt lines fit %d (virtio-pci needs none)", nmmio, X86_VIRTIO_MAX_MMIO_DEVICES);
	return 0;
}
