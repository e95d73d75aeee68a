/* SPDX-License-Identifier: MIT */
#include "vmm/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/cpu_state.h"
#include "arch/x86/memory.h"
#include "arch/x86/mptable.h"
#include "base/file_map.h"
#include "base/log.h"

#define KERNEL_MAX_SIZE (1ull << 30)

int machine_prepare(struct machine *m, const struct vm_config *cfg, const struct timespec *start,
		    struct vmon_error *err)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->start = *start;
	host_profile_for_this_host(cfg->host_profile, &m->profile);

	/* Device backends (images, sockets, networks) before KVM: a bad one is a usage error on any host. */
	m->virtio = calloc(1, sizeof(*m->virtio));
	if (!m->virtio) {
		error_set(err, -ENOMEM, "out of memory");
		return VMON_EXIT_HOST_ERROR;
	}
	resources_init_x86(&m->resources);
	if (virtio_devices_open(m->virtio, cfg, &m->resources, err))
		return err->code == -ENOMEM ? VMON_EXIT_HOST_ERROR : VMON_EXIT_USAGE;
	if (x86_guest_mem_create(&m->mem, cfg->mem_size, err))
		return err->code == -EINVAL ? VMON_EXIT_USAGE : VMON_EXIT_HOST_ERROR;
	return 0;
}

/*
 * Arguments a Linux kernel gets on top of the user's: vmon's device set
 * (legacy, then where the virtio devices are), then the host profile's.
 */
static void linux_extra_args(const struct machine *m, char *out, size_t size)
{
	char virtio_args[X86_VIRTIO_MAX_DEVICES * 48];
	const char *groups[4];

	virtio_devices_linux_args(m->virtio, virtio_args, sizeof(virtio_args));
	groups[0] = m->cfg->linux_device_args ? VMON_LINUX_DEVICE_ARGS : "";
	/* No device on PCI: no host bridge either, nothing for Linux to probe. */
	groups[1] = m->cfg->linux_device_args && !m->virtio->pci_count ? VMON_LINUX_NO_PCI_ARG : "";
	groups[2] = virtio_args;
	groups[3] = m->profile.linux_args ? m->profile.linux_args : "";
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		size_t used = strlen(out);
		if (groups[i][0])
			snprintf(out + used, size - used, "%s%s", used ? " " : "", groups[i]);
	}
}

/*
 * ACPI tables for the machine: the CPUs, the legacy devices, the virtio-mmio
 * devices, power-off/reset. Written next to the MP table, which kernels
 * without CONFIG_ACPI still use.
 */
static int write_acpi_tables(struct machine *m, struct vmon_error *err)
{
	struct acpi_machine am;
	struct acpi_layout layout;

	acpi_machine_x86_defaults(&am, m->cfg->ncpus);
	if (m->virtio->pci_count)
		acpi_machine_add_pci_host(&am);
	for (unsigned i = 0; i < m->virtio->count; i++)
		if (m->virtio->slots[i].transport_kind == VIRTIO_TRANSPORT_MMIO &&
		    acpi_machine_add_virtio_mmio(&am, m->virtio->slots[i].base, VIRTIO_MMIO_WINDOW,
						 m->virtio->slots[i].gsi, err))
			return err->code;
	if (acpi_write(&m->mem, &am, &layout, err))
		return err->code;
	log_debug("ACPI tables at 0x%llx-0x%llx (RSDP first, DSDT at 0x%llx)", (unsigned long long)layout.rsdp,
		  (unsigned long long)layout.end, (unsigned long long)layout.dsdt);
	return 0;
}

/* What became of the initrd: -v tells the members, a fallback is a warning. */
static void log_initrd(const struct boot_result *boot)
{
	const struct initramfs_report *r = &boot->initramfs;
	char line[256];

	if (boot->initrd_note[0])
		log_warn("%s", boot->initrd_note);
	if (!r->members && !r->note[0])
		return;
	initramfs_report_summary(r, line, sizeof(line));
	log_info("initrd: %s: %s", boot->initrd_decompressed ? "decompressed on the host" : "loaded as given",
		 line);
	for (unsigned i = 0; i < r->members && i < INITRAMFS_REPORT_MEMBERS; i++) {
		initramfs_report_member(r, i, line, sizeof(line));
		log_info("initrd: %s", line);
	}
	if (r->note[0])
		log_info("initrd: from offset %llu passed through unchanged: %s",
			 (unsigned long long)r->passthrough_offset, r->note);
}

int machine_load(struct machine *m, struct vmon_error *err)
{
	const struct vm_config *cfg = m->cfg;
	struct file_map kernel = { 0 }, initrd = { 0 };
	char linux_args[X86_VIRTIO_MAX_DEVICES * 48 + 256];
	int status = 0;

	if (file_map_open(&kernel, cfg->kernel_path, "kernel", KERNEL_MAX_SIZE, err) ||
	    (cfg->initrd_path && file_map_open(&initrd, cfg->initrd_path, "initrd", cfg->mem_size, err))) {
		status = VMON_EXIT_USAGE;
		goto out;
	}
	linux_extra_args(m, linux_args, sizeof(linux_args));
	const struct boot_request req = {
		.kernel_name = cfg->kernel_path,
		.kernel = kernel.data,
		.kernel_size = kernel.size,
		.initrd_name = cfg->initrd_path,
		.initrd = initrd.data,
		.initrd_size = initrd.size,
		.cmdline = cfg->cmdline,
		.protocol = cfg->protocol,
		.bzimage_guest_decompress = cfg->bzimage_guest_decompress,
		.initrd_guest_decompress = cfg->initrd_guest_decompress,
		.linux_extra_args = linux_args,
		.acpi_rsdp_addr = X86_ACPI_ADDR,   /* write_acpi_tables() puts the RSDP there */
	};
	if (x86_boot_load(&m->mem, &req, &m->boot, err) || x86_write_boot_tables(&m->mem, err) ||
	    mptable_write(&m->mem, cfg->ncpus, err) || write_acpi_tables(m, err)) {
		status = VMON_EXIT_USAGE;
		goto out;
	}
	m->loaded = true;
	log_info("%s kernel loaded at 0x%llx-0x%llx, entry 0x%llx (%s)", kernel_format_name(m->boot.format),
		 (unsigned long long)m->boot.kernel_start, (unsigned long long)m->boot.kernel_end,
		 (unsigned long long)m->boot.entry,
		 m->boot.mode == BOOT_ENTRY_LONG_MODE ? "64-bit Linux boot protocol" : "32-bit PVH entry");
	log_initrd(&m->boot);
	if (m->profile.emulated_ring0)
		log_warn("this host runs guest kernel code in KVM's instruction emulator (%s): guest kernels run "
			 "about 1000 times slower than on VT-x/AMD-V; working around its gaps%s%s", m->profile.reason,
			 m->boot.is_linux && m->profile.linux_args ? "; Linux command line += " : "",
			 m->boot.is_linux && m->profile.linux_args ? m->profile.linux_args : "");
	if (m->boot.is_linux && linux_args[0])
		log_info("appended to the Linux command line: %s", linux_args);
out:
	/* The image is in guest memory now (or the load failed): drop the file mappings early. */
	file_map_close(&kernel);
	file_map_close(&initrd);
	return status;
}

int machine_build(struct machine *m, struct vmon_error *err)
{
	m->vm = calloc(1, sizeof(*m->vm));
	if (!m->vm) {
		error_set(err, -ENOMEM, "out of memory");
		return VMON_EXIT_HOST_ERROR;
	}
	/* The VM takes the guest memory over, on failure too (and then has cleaned up after itself). */
	if (vm_create(m->vm, m->cfg, &m->mem, &m->profile, &m->start, &m->resources, m->virtio, err)) {
		free(m->vm);
		m->vm = NULL;
		return VMON_EXIT_HOST_ERROR;
	}
	return 0;
}

int machine_boot(struct machine *m, struct vmon_error *err)
{
	if (!m->loaded || !m->vm) {
		error_set(err, -EINVAL, "machine_boot needs a loaded kernel and a built machine");
		return VMON_EXIT_HOST_ERROR;
	}
	return vm_boot(m->vm, &m->boot, err) ? VMON_EXIT_HOST_ERROR : 0;
}

int machine_run(struct machine *m)
{
	return vm_run(m->vm);
}

void machine_destroy(struct machine *m)
{
	if (m->mem_server.stop) {
		m->mem_server.stop(m->mem_server.ctx);
		m->mem_server = (struct machine_mem_server){ 0 };
	}
	if (m->vm) {
		vm_destroy(m->vm);
		free(m->vm);
		m->vm = NULL;
	}
	guest_mem_destroy(&m->mem);
	if (m->virtio) {
		virtio_devices_close(m->virtio);
		free(m->virtio);
		m->virtio = NULL;
	}
}
