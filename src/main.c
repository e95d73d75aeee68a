/* SPDX-License-Identifier: MIT */
/*
 * vmon: parse the command line into a vm_config, build the VM from it, run it,
 * and turn how it ended into the process exit status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/mptable.h"
#include "vmm/config.h"
#include "vmm/file_map.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define KERNEL_MAX_SIZE (1ull << 30)

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

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	struct file_map kernel = { 0 }, initrd = { 0 };
	struct guest_mem mem = { 0 };
	struct boot_result boot;
	struct vm *vm;
	int status;

	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	switch (cli_parse(argc, argv, &cfg, stdout, &err)) {
	case CLI_DONE:
		return VMON_EXIT_OK;
	case CLI_ERROR:
		log_error("%s", err.msg);
		return VMON_EXIT_USAGE;
	case CLI_RUN:
		break;
	}
	log_set_level(cfg.verbosity < 0 ? LOG_ERROR : cfg.verbosity == 0 ? LOG_WARN
		      : cfg.verbosity == 1 ? LOG_INFO : LOG_DEBUG);

	if (file_map_open(&kernel, cfg.kernel_path, "kernel", KERNEL_MAX_SIZE, &err) ||
	    (cfg.initrd_path && file_map_open(&initrd, cfg.initrd_path, "initrd", cfg.mem_size, &err))) {
		log_error("%s", err.msg);
		file_map_close(&kernel);
		return VMON_EXIT_USAGE;
	}

	struct host_profile profile;
	struct host_facts facts;
	if (host_facts_read(&facts, "/proc/cpuinfo", "/sys/module", &err)) {
		log_warn("%s; assuming a host with hardware virtualization", err.msg);
		facts.cpu_virt = true;
		facts.pvm_module = false;
	}
	host_profile_decide(&facts, cfg.host_profile, &profile);

	/* Device backends (images, sockets, networks) before KVM: a bad one is a usage error on any host. */
	struct virtio_devices *virtio = calloc(1, sizeof(*virtio));
	if (!virtio) {
		log_error("out of memory");
		file_map_close(&kernel);
		file_map_close(&initrd);
		return VMON_EXIT_HOST_ERROR;
	}
	if (virtio_devices_open(virtio, &cfg, &err)) {
		log_error("%s", err.msg);
		status = err.code == -ENOMEM ? VMON_EXIT_HOST_ERROR : VMON_EXIT_USAGE;
		goto out_files;
	}

	/*
	 * Arguments a Linux kernel gets on top of the user's: vmon's device set
	 * (legacy, then where the virtio devices are), then the host profile's.
	 */
	char virtio_args[X86_VIRTIO_MAX_DEVICES * 48];
	char linux_args[sizeof(virtio_args) + 256] = "";
	virtio_devices_linux_args(virtio, virtio_args, sizeof(virtio_args));
	const char *arg_groups[] = { cfg.linux_device_args ? VMON_LINUX_DEVICE_ARGS : "", virtio_args,
				     profile.linux_args ? profile.linux_args : "" };
	for (size_t i = 0; i < sizeof(arg_groups) / sizeof(arg_groups[0]); i++) {
		size_t used = strlen(linux_args);
		if (arg_groups[i][0])
			snprintf(linux_args + used, sizeof(linux_args) - used, "%s%s", used ? " " : "", arg_groups[i]);
	}

	/* Load the kernel before touching KVM: a bad image is reported the same on any host. */
	if (guest_mem_create(&mem, cfg.mem_size, &err)) {
		log_error("%s", err.msg);
		status = err.code == -EINVAL ? VMON_EXIT_USAGE : VMON_EXIT_HOST_ERROR;
		goto out_files;
	}
	const struct boot_request req = {
		.kernel_name = cfg.kernel_path,
		.kernel = kernel.data,
		.kernel_size = kernel.size,
		.initrd_name = cfg.initrd_path,
		.initrd = initrd.data,
		.initrd_size = initrd.size,
		.cmdline = cfg.cmdline,
		.protocol = cfg.protocol,
		.bzimage_guest_decompress = cfg.bzimage_guest_decompress,
		.initrd_guest_decompress = cfg.initrd_guest_decompress,
		.linux_extra_args = linux_args,
	};
	if (x86_boot_load(&mem, &req, &boot, &err) || x86_write_boot_tables(&mem, &err) ||
	    mptable_write(&mem, cfg.ncpus, &err)) {
		log_error("%s", err.msg);
		status = VMON_EXIT_USAGE;
		goto out_mem;
	}
	log_info("%s kernel loaded at 0x%llx-0x%llx, entry 0x%llx (%s)", kernel_format_name(boot.format),
		 (unsigned long long)boot.kernel_start, (unsigned long long)boot.kernel_end,
		 (unsigned long long)boot.entry,
		 boot.mode == BOOT_ENTRY_LONG_MODE ? "64-bit Linux boot protocol" : "32-bit PVH entry");
	log_initrd(&boot);
	if (profile.emulated_ring0)
		log_warn("this host runs guest kernel code in KVM's instruction emulator (%s): guest kernels run "
			 "about 1000 times slower than on VT-x/AMD-V; working around its gaps%s%s", profile.reason,
			 boot.is_linux && profile.linux_args ? "; Linux command line += " : "",
			 boot.is_linux && profile.linux_args ? profile.linux_args : "");
	if (boot.is_linux && linux_args[0])
		log_info("appended to the Linux command line: %s", linux_args);
	/* The image is in guest memory now; drop the file mappings early. */
	file_map_close(&kernel);
	file_map_close(&initrd);

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log_error("out of memory");
		status = VMON_EXIT_HOST_ERROR;
		goto out_mem;
	}
	if (vm_create(vm, &cfg, &mem, &boot, &profile, &start, virtio, &err)) {
		log_error("%s", err.msg);
		status = VMON_EXIT_HOST_ERROR;
	} else {
		status = vm_run(vm);
	}
	vm_destroy(vm);
	free(vm);
out_mem:
	guest_mem_destroy(&mem);
out_files:
	virtio_devices_close(virtio);
	free(virtio);
	file_map_close(&kernel);
	file_map_close(&initrd);
	return status;
}
