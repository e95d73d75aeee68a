/* SPDX-License-Identifier: MIT */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/kvm_devices.h"
#include "arch/x86/layout.h"
#include "base/log.h"
#include "base/seccomp_filter.h"
#include "base/thread.h"
#include "virtio/net.h"

static void host_set_irq(void *ctx, unsigned gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		log_warn("KVM_IRQ_LINE gsi %u level %d: %s", gsi, level, strerror(errno));
}

static void host_request_stop(void *ctx, enum vm_stop_reason reason, int exit_status)
{
	vm_request_stop(ctx, reason, exit_status);
}

static int host_add_irqfd(void *ctx, unsigned gsi, int fd)
{
	struct vm *vm = ctx;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static void host_remove_irqfd(void *ctx, unsigned gsi, int fd)
{
	struct vm *vm = ctx;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };

	if (vm->vm_fd >= 0 && ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		log_warn("KVM_IRQFD deassign gsi %u: %s", gsi, strerror(errno));
}

static int ioeventfd(struct vm *vm, uint64_t addr, unsigned len, uint64_t value, int fd, uint32_t flags)
{
	struct kvm_ioeventfd io = {
		.datamatch = value, .addr = addr, .len = len, .fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags,
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int host_add_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	return ioeventfd(ctx, addr, len, value, fd, 0);
}

static void host_remove_ioeventfd(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd)
{
	struct vm *vm = ctx;

	if (vm->vm_fd >= 0 && ioeventfd(vm, addr, len, value, fd, KVM_IOEVENTFD_FLAG_DEASSIGN))
		log_warn("KVM_IOEVENTFD deassign 0x%llx: %s", (unsigned long long)addr, strerror(errno));
}

static int host_alloc_msi_gsi(void *ctx)
{
	struct vm *vm = ctx;

	return kvm_gsi_routes_alloc_msi(&vm->gsi_routes);
}

static int host_set_msi_route(void *ctx, unsigned gsi, uint64_t address, uint32_t data)
{
	struct vm *vm = ctx;

	return kvm_gsi_routes_set_msi(&vm->gsi_routes, gsi, address, data);
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->control_lock);
	if (vm->pause_depth++ == 0) {
		pthread_mutex_lock(&vm->pause_lock);
		atomic_store(&vm->pause_requested, true);
		pthread_mutex_unlock(&vm->pause_lock);
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		pthread_mutex_lock(&vm->pause_lock);
		while (vm->vcpus_parked < vm->vcpus_running)
			pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
		pthread_mutex_unlock(&vm->pause_lock);
		registry_pause(&vm->registry);
	}
	pthread_mutex_unlock(&vm->control_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->control_lock);
	if (vm->pause_depth && --vm->pause_depth == 0) {
		registry_resume(&vm->registry);
		pthread_mutex_lock(&vm->pause_lock);
		atomic_store(&vm->pause_requested, false);
		pthread_cond_broadcast(&vm->pause_cond);
		pthread_mutex_unlock(&vm->pause_lock);
	}
	pthread_mutex_unlock(&vm->control_lock);
}

static struct virtio_blk *drive_at(struct vm *vm, unsigned slot)
{
	return vm->virtio && !strcmp(vm->virtio->slots[slot].kind, "virtio-blk") ? vm->virtio->slots[slot].model : NULL;
}

int vm_lock_images(struct vm *vm, struct vmon_error *err)
{
	unsigned n = vm->virtio ? vm->virtio->count : 0;
	bool taken[X86_VIRTIO_MAX_DEVICES] = { false };

	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk *blk = drive_at(vm, i);
		if (!blk || blk->locked)
			continue;
		int r = virtio_blk_lock(blk, err);
		if (r) {
			while (i--)
				if (taken[i])
					virtio_blk_unlock(drive_at(vm, i));
			return r;
		}
		taken[i] = true;
	}
	return 0;
}

void vm_unlock_images(struct vm *vm)
{
	for (unsigned i = 0; vm->virtio && i < vm->virtio->count; i++)
		if (drive_at(vm, i))
			virtio_blk_unlock(drive_at(vm, i));
}

int vm_replace_drive_image(struct vm *vm, const char *drive_id, const char *path, struct vmon_error *err)
{
	struct virtio_blk *blk = NULL;
	int r;

	for (unsigned i = 0; vm->virtio && i < vm->virtio->count && !blk; i++)
		if (!strcmp(vm->virtio->slots[i].kind, "virtio-blk") &&
		    virtio_blk_has_id(vm->virtio->slots[i].model, drive_id))
			blk = vm->virtio->slots[i].model;
	if (!blk)
		return error_set(err, -ENOENT, "no drive with id %s", drive_id);
	/* Nothing in flight while the image changes: the device's requests are served with the VM running. */
	vm_pause(vm);
	r = virtio_blk_replace_image(blk, path, err);
	vm_resume(vm);
	return r;
}

int vm_set_drive_rate_limiter(struct vm *vm, const char *drive_id, const struct rate_limiter_config *cfg,
			      struct vmon_error *err)
{
	for (unsigned i = 0; vm->virtio && i < vm->virtio->count; i++)
		if (drive_at(vm, i) && virtio_blk_has_id(drive_at(vm, i), drive_id))
			return virtio_blk_set_rate_limiter(drive_at(vm, i), cfg, err);
	return error_set(err, -ENOENT, "no drive with id %s", drive_id);
}

int vm_set_net_rate_limiters(struct vm *vm, const char *iface_id, const struct rate_limiter_config *rx,
			     const struct rate_limiter_config *tx, struct vmon_error *err)
{
	unsigned nth = 0;

	/* The virtio-net slots follow the configuration's interfaces, in order. */
	for (unsigned i = 0; vm->virtio && i < vm->virtio->count; i++) {
		if (strcmp(vm->virtio->slots[i].kind, "virtio-net"))
			continue;
		const char *id = nth < vm->cfg->nnets ? vm->cfg->nets[nth].id : NULL;
		nth++;
		if (id && !strcmp(id, iface_id))
			return virtio_net_set_rate_limiters(vm->virtio->slots[i].model, rx, tx, err);
	}
	return error_set(err, -ENOENT, "no network interface with id %s", iface_id);
}

int vm_send_ctrl_alt_del(struct vm *vm, struct vmon_error *err)
{
	return i8042_press_ctrl_alt_del(&vm->legacy.i8042, err);
}

static int probe_vcpu_caps(struct vm *vm, struct vmon_error *err)
{
	int r;

	if (vm->vcpu_caps_probed)
		return 0;
	if ((r = x86_vcpu_caps_probe(vm->kvm_fd, vm->vm_fd, &vm->vcpu_caps, err)))
		return r;
	vm->vcpu_caps_probed = true;
	return 0;
}

void vm_state_free(struct vm_state *st)
{
	free(st->devices);
	free(st->vcpus);
	memset(st, 0, sizeof(*st));
}

int vm_save(struct vm *vm, struct vm_state *st, struct vmon_error *err)
{
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = probe_vcpu_caps(vm, err)))
		return r;
	st->devices_size = registry_state_size(&vm->registry);
	st->devices = malloc(st->devices_size);
	st->vcpus = calloc(vm->ncpus, sizeof(*st->vcpus));
	st->ncpus = vm->ncpus;
	if (!st->devices || !st->vcpus) {
		vm_state_free(st);
		return error_set(err, -ENOMEM, "out of memory saving the VM's state");
	}
	if (registry_save(&vm->registry, st->devices, st->devices_size) != st->devices_size) {
		vm_state_free(st);
		return error_set(err, -EIO, "saving the devices' states came out short");
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if ((r = vcpu_save(&vm->vcpus[i], &st->vcpus[i], err))) {
			vm_state_free(st);
			return r;
		}
	}
	return 0;
}

int vm_restore(struct vm *vm, const struct vm_state *st, struct vmon_error *err)
{
	int r;

	if (st->ncpus != vm->ncpus)
		return error_set(err, -EINVAL, "the saved state has %u vCPUs, this VM %u", st->ncpus, vm->ncpus);
	if ((r = probe_vcpu_caps(vm, err)))
		return r;
	/* Devices first: the lines they re-drive land on the restored irqchip before the vCPUs look. */
	if ((r = registry_restore(&vm->registry, st->devices, st->devices_size, err)))
		return r;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if ((r = vcpu_restore(&vm->vcpus[i], &st->vcpus[i], err)))
			return r;
	return 0;
}

int vm_test_save_restore(struct vm *vm, struct vmon_error *err)
{
	struct vm_state st;
	int r;

	vm_pause(vm);
	if (!(r = vm_save(vm, &st, err))) {
		/* Wipe what the guest can see, so only a complete restore lets it carry on. */
		registry_reset(&vm->registry);
		for (unsigned i = 0; i < vm->ncpus && !r; i++)
			r = vcpu_scramble(&vm->vcpus[i], err);
		if (!r)
			r = vm_restore(vm, &st, err);
		vm_state_free(&st);
	}
	vm->save_restore_rounds += !r;
	vm_resume(vm);
	return r;
}

void vm_count_running_vcpu(struct vm *vm, int delta)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_running += (unsigned)delta;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_park_vcpu(struct vm *vm)
{
	if (!atomic_load(&vm->pause_requested))
		return;
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->vcpus_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int exit_status)
{
	int expected = VM_STOP_NONE;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		return;
	vm->exit_status = exit_status;
	if (vm->stop_eventfd >= 0 && write(vm->stop_eventfd, &one, sizeof(one)) < 0)
		log_warn("waking the main loop: %s", strerror(errno));
	/* Parked vCPUs wake up and see the stop. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

static int check_kvm(struct vm *vm, struct vmon_error *err)
{
	int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	static const struct { long cap; const char *name; } required[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	};

	if (version != KVM_API_VERSION)
		return error_set(err, -ENOTSUP, "/dev/kvm API version %d, vmon needs %d", version, KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0)
			return error_set(err, -ENOTSUP, "KVM lacks %s, which vmon needs", required[i].name);
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
		return error_set(err, -ENOTSUP, "KVM_GET_VCPU_MMAP_SIZE returned %d", vm->vcpu_mmap_size);
	return 0;
}

int vm_set_memory_slots(struct vm *vm, uint32_t flags, struct vmon_error *err)
{
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct guest_mem_region *region = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = flags,
			.guest_phys_addr = region->gpa,
			.memory_size = region->size,
			.userspace_addr = (uint64_t)(uintptr_t)region->host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return error_set(err, -errno, "KVM_SET_USER_MEMORY_REGION slot %u (gpa 0x%llx, %llu MiB): %s", i,
					 (unsigned long long)region->gpa, (unsigned long long)(region->size >> 20),
					 strerror(errno));
	}
	return 0;
}

/* Registers one of KVM's in-kernel devices (dev NULL: its constructor failed, err says why). */
static int add_kvm_device(struct vm *vm, const char *name, const struct device_ops *ops, void *dev,
			  const struct device_resource *res, unsigned nres, struct vmon_error *err)
{
	if (!dev)
		return err->code ? err->code : -ENOMEM;
	return resources_add_device(vm->resources, &vm->registry, name, ops, dev, res, nres, err);
}

static int setup_platform(struct vm *vm, struct vmon_error *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity_map = X86_KVM_IDENTITY_MAP_ADDR;

	/* VMX needs these for real-mode emulation; they sit in the MMIO hole, clear of RAM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_ADDR) < 0)
		return error_set(err, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0)
		return error_set(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	/*
	 * Where KVM's emulator meets an instruction it cannot run, have it hand
	 * the instruction to vmon instead of failing without the bytes.
	 */
	if (vm->profile.emulated_ring0 &&
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE, .args = { 1 } };
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			log_warn("KVM_CAP_EXIT_ON_EMULATION_FAILURE: %s", strerror(errno));
	}
	/*
	 * In-kernel 8259 PICs + IOAPIC + LAPICs, the 8254 PIT (ports 0x40-0x43,
	 * 0x61) and kvmclock: devices of the registry like any other, first in it
	 * so that a restore re-drives the other devices' lines onto a restored irqchip.
	 */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return error_set(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (add_kvm_device(vm, "kvm-irqchip", &kvm_irqchip_device_ops, kvm_irqchip_dev_create(vm->vm_fd, err),
			   kvm_irqchip_resources, KVM_IRQCHIP_NRES, err))
		return err->code;
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return error_set(err, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	if (add_kvm_device(vm, "kvm-pit", &kvm_pit_device_ops, kvm_pit_dev_create(vm->vm_fd, err), kvm_pit_resources,
			   KVM_PIT_NRES, err) ||
	    add_kvm_device(vm, "kvm-clock", &kvm_clock_device_ops, kvm_clock_dev_create(vm->vm_fd, err), NULL, 0, err))
		return err->code;
	return 0;
}


/*
 * KVM's per-VM vCPU limits (api.rst): KVM_CAP_MAX_VCPUS is the hard one
 * (NR_VCPUS stands in where it is missing, 4 where both are), vCPU IDs must
 * stay below KVM_CAP_MAX_VCPU_ID; above NR_VCPUS (the host's online CPUs)
 * vCPUs share host CPUs, which works but is worth a note.
 */
static int check_vcpu_limits(struct vm *vm, unsigned ncpus, struct vmon_error *err)
{
	int recommended = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	int max_id = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);

	if (recommended <= 0)
		recommended = 4;
	if (max <= 0)
		max = recommended;
	if (max_id <= 0)
		max_id = max;
	if (ncpus > (unsigned)max)
		return error_set(err, -E2BIG, "%u vCPUs: this host's KVM allows at most %d per VM (KVM_CAP_MAX_VCPUS)",
				 ncpus, max);
	if (ncpus > (unsigned)max_id)
		return error_set(err, -E2BIG, "%u vCPUs: this host's KVM takes vCPU IDs below %d only "
				 "(KVM_CAP_MAX_VCPU_ID)", ncpus, max_id);
	if (ncpus > (unsigned)recommended)
		log_info("%u vCPUs on a host whose KVM recommends at most %d (KVM_CAP_NR_VCPUS): they share host CPUs",
			 ncpus, recommended);
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct guest_mem *mem, const struct host_profile *profile,
	      const struct timespec *start, struct resources *resources, struct virtio_devices *virtio,
	      struct vmon_error *err)
{
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->mem = *mem;
	memset(mem, 0, sizeof(*mem));
	vm->profile = *profile;
	vm->kvm_fd = vm->vm_fd = vm->stop_eventfd = -1;
	atomic_init(&vm->stop_reason, VM_STOP_NONE);
	atomic_init(&vm->pause_requested, false);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->control_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->start_time = *start;
	io_bus_init(&vm->pio, "pio");
	io_bus_init(&vm->mmio, "mmio");
	vm->resources = resources;
	registry_init(&vm->registry);
	vm->host = (struct device_host){
		.pio = &vm->pio, .mmio = &vm->mmio, .set_irq = host_set_irq,
		.request_stop = host_request_stop, .mem = &vm->mem, .ctx = vm,
	};
	vm->virtio = virtio;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = error_set(err, -errno, "cannot open /dev/kvm: %s%s", strerror(errno),
			      errno == ENOENT ? " (is the kvm module loaded and does this host allow virtualization?)"
			      : errno == EACCES ? " (add yourself to the 'kvm' group)" : "");
		goto fail;
	}
	if ((r = check_kvm(vm, err)) || (r = check_vcpu_limits(vm, cfg->ncpus, err)))
		goto fail;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		r = error_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0) {
		r = error_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = vm_set_memory_slots(vm, 0, err)) || (r = setup_platform(vm, err)))
		goto fail;
	if ((r = console_init(&vm->console, STDIN_FILENO, STDOUT_FILENO, err)))
		goto fail;
	/* With a PCI bus its host bridge answers ports 0xcf8-0xcff, not the sink. */
	vm->legacy.port_sink.without_pci_config = virtio && virtio->pci_count;
	if ((r = legacy_devices_init(&vm->legacy, &vm->host, &vm->console, &vm->start_time, &vm->registry,
				     vm->resources, err)))
		goto fail;
	vm->legacy.boot_timer.announce = cfg->announce_boot_time;
	/* Without these KVM features virtio still works, through vmon's exits and KVM_IRQ_LINE. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0) {
		vm->host.add_irqfd = host_add_irqfd;
		vm->host.remove_irqfd = host_remove_irqfd;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0) {
		vm->host.add_ioeventfd = host_add_ioeventfd;
		vm->host.remove_ioeventfd = host_remove_ioeventfd;
	}
	/* MSI-X (virtio-pci): a GSI per vector, routed to its message, raised through an irqfd. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) > 0 && vm->host.add_irqfd) {
		kvm_gsi_routes_init(&vm->gsi_routes, vm->vm_fd);
		vm->gsi_routes_ready = true;
		vm->host.alloc_msi_gsi = host_alloc_msi_gsi;
		vm->host.set_msi_route = host_set_msi_route;
	}
	if (virtio && (r = virtio_devices_attach(virtio, &vm->host, &vm->registry, err)))
		goto fail;

	vm->ncpus = cfg->ncpus;
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		r = error_set(err, -ENOMEM, "out of memory for %u vCPUs", vm->ncpus);
		goto fail;
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if ((r = vcpu_create(&vm->vcpus[i], vm, i, err)) || (r = vcpu_configure(&vm->vcpus[i], err)))
			goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}

int vm_boot(struct vm *vm, const struct boot_result *boot, struct vmon_error *err)
{
	if (boot->initrd_decompressed)
		initramfs_report_summary(&boot->initramfs, vm->initrd_summary, sizeof(vm->initrd_summary));
	return vcpu_set_boot_state(&vm->vcpus[0], boot, err);
}

/* Signals the main loop handles; blocked in every thread (vCPU threads inherit the mask). */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1); /* the vCPU kick: only vCPU threads unblock it */
}

static void handle_signal(struct vm *vm, int signal_fd)
{
	struct signalfd_siginfo si;

	if (read(signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("received signal %u; stopping the VM", si.ssi_signo);
	_Atomic uint64_t *count = si.ssi_signo == SIGINT ? &vm->sigint_count : si.ssi_signo == SIGTERM ? &vm->sigterm_count
				  : si.ssi_signo == SIGHUP ? &vm->sighup_count : NULL;
	if (count)
		atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
	vm_request_stop(vm, VM_STOP_USER, 128 + (int)si.ssi_signo);
}

enum { EV_STOP = 1, EV_SIGNAL, EV_CONSOLE_IN, EV_CONSOLE_SPACE, EV_WATCHDOG, EV_SAVE_RESTORE };

/* A periodic timerfd registered as event id, or -1 (the feature then stays off, with a warning). */
static int add_timer(int ep, unsigned id, time_t sec, long nsec)
{
	struct itimerspec period = { .it_interval = { sec, nsec }, .it_value = { sec, nsec } };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = id };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0 || timerfd_settime(fd, 0, &period, NULL) || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		log_warn("timer %u: %s", id, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Only where the host may park a vCPU on an instruction forever (see vcpu_watchdog_tick). */
#define WATCHDOG_PERIOD_S 5

static int event_loop(struct vm *vm, int signal_fd, struct vmon_error *err)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int r = 0;

	if (ep < 0)
		return error_set(err, -errno, "epoll_create1: %s", strerror(errno));
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = EV_STOP };
	epoll_ctl(ep, EPOLL_CTL_ADD, vm->stop_eventfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = EV_SIGNAL };
	epoll_ctl(ep, EPOLL_CTL_ADD, signal_fd, &ev);
	console_register(&vm->console, ep, EV_CONSOLE_IN, EV_CONSOLE_SPACE);
	int watchdog_fd = vm->profile.emulated_ring0 ? add_timer(ep, EV_WATCHDOG, WATCHDOG_PERIOD_S, 0) : -1;
	unsigned sr_ms = vm->cfg->test_save_restore_ms;
	int save_restore_fd = sr_ms ? add_timer(ep, EV_SAVE_RESTORE, sr_ms / 1000, (long)(sr_ms % 1000) * 1000000) : -1;

	while (!vm_stopping(vm)) {
		struct epoll_event events[8];
		int n = epoll_wait(ep, events, 8, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = error_set(err, -errno, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			switch (events[i].data.u32) {
			case EV_SIGNAL:
				handle_signal(vm, signal_fd);
				break;
			case EV_WATCHDOG: {
				uint64_t ticks;
				if (read(watchdog_fd, &ticks, sizeof(ticks)) == sizeof(ticks))
					for (unsigned v = 0; v < vm->ncpus; v++)
						vcpu_watchdog_tick(&vm->vcpus[v]);
				break;
			}
			case EV_SAVE_RESTORE: {
				uint64_t ticks;
				struct vmon_error sr_err = { 0 };

				if (read(save_restore_fd, &ticks, sizeof(ticks)) != sizeof(ticks) || vm_stopping(vm))
					break;
				if (vm_test_save_restore(vm, &sr_err)) {
					log_error("save/restore round %llu: %s",
						  (unsigned long long)vm->save_restore_rounds + 1, sr_err.msg);
					vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
				}
				break;
			}
			case EV_CONSOLE_IN:
			case EV_CONSOLE_SPACE:
				if (console_handle_event(&vm->console, ep, events[i].data.u32 == EV_CONSOLE_IN) ==
				    CONSOLE_QUIT)
					vm_request_stop(vm, VM_STOP_USER, VMON_EXIT_OK);
				break;
			default:
				break;
			}
		}
	}
	if (watchdog_fd >= 0)
		close(watchdog_fd);
	if (save_restore_fd >= 0)
		close(save_restore_fd);
	close(ep);
	return r;
}

struct event_thread {
	pthread_t thread;
	struct vm *vm;
	int signal_fd;
};

static void *event_thread(void *arg)
{
	struct event_thread *et = arg;
	struct vmon_error err = { 0 };

	if (event_loop(et->vm, et->signal_fd, &err)) {
		log_error("%s", err.msg);
		vm_request_stop(et->vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
	}
	return NULL;
}

void vm_time_first_run(struct vm *vm, const struct timespec *since, const char *what)
{
	vm->first_run_since = *since;
	vm->first_run_what = what;
}

int vm_run(struct vm *vm)
{
	struct event_thread events = { .vm = vm };
	bool events_started = false;
	struct vmon_error err = { 0 };
	sigset_t signals;
	int signal_fd;
	int status;

	stop_signals(&signals);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	/*
	 * A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal never reaches a signalfd: take the default disposition back
	 * (harmless while blocked) so `kill -INT` stops the VM cleanly.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0 || vcpu_install_kick_handler(&err)) {
		log_error("cannot set up signal handling: %s", signal_fd < 0 ? strerror(errno) : err.msg);
		if (signal_fd >= 0)
			close(signal_fd);
		return VMON_EXIT_HOST_ERROR;
	}
	console_start(&vm->console);
	if (vm->virtio && virtio_devices_start(vm->virtio, &err)) {
		log_error("%s", err.msg);
		vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
	}
	/* From here vCPU threads look ranges up without a lock: no bus may change until they stopped. */
	io_bus_freeze(&vm->pio);
	io_bus_freeze(&vm->mmio);
	/*
	 * vCPU 0 runs on this thread and the event loop on its own: the guest's
	 * first instruction then waits for no new thread to be scheduled, which
	 * on a loaded host took milliseconds (docs/PERFORMANCE.md, "Start-up").
	 */
	bool vcpu0_here = !vm->cfg->vcpus_on_own_threads;
	if (vcpu0_here)
		vcpu_claim_caller(&vm->vcpus[0]);
	events.signal_fd = signal_fd;
	if (!vm_stopping(vm)) {
		int r = thread_start_without_signals(&events.thread, event_thread, &events, "vmon-events");
		if (r) {
			log_error("cannot start the event loop thread: %s", strerror(r));
			vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
		}
		events_started = r == 0;
	}
	for (unsigned i = vcpu0_here ? 1 : 0; i < vm->ncpus && !vm_stopping(vm); i++) {
		if (vcpu_start(&vm->vcpus[i], &err)) {
			log_error("%s", err.msg);
			vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
			break;
		}
	}
	/*
	 * Every thread of the run exists now: the main thread takes its own
	 * filter last, so no thread inherits it (filters stack). It covers
	 * vCPU 0, which may run here, and the tear-down after the run.
	 */
	if (seccomp_install(SECCOMP_THREAD_MAIN, "main", &err)) {
		log_error("%s", err.msg);
		vm_request_stop(vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
	} else {
		seccomp_selftest(SECCOMP_THREAD_MAIN);
	}
	if (vcpu0_here)
		vcpu_run_here(&vm->vcpus[0]);   /* returns at once when the VM is already stopping */
	if (events_started)
		pthread_join(events.thread, NULL);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	io_bus_thaw(&vm->pio);
	io_bus_thaw(&vm->mmio);
	if (vm->virtio)
		virtio_devices_stop(vm->virtio);
	console_stop(&vm->console);
	close(signal_fd);
	status = vm->exit_status;

	if (vm->cfg->stats)
		vm_print_stats(vm, stderr);
	return status;
}

void vm_destroy(struct vm *vm)
{
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	free(vm->dirty_slot_bits);
	vm->dirty_slot_bits = NULL;
	vm->dirty_logging = false;
	/* The transports deassign their irqfds/ioeventfds: before the VM fd closes. */
	if (vm->virtio)
		virtio_devices_detach(vm->virtio);
	vm->virtio = NULL;
	registry_destroy(&vm->registry);
	if (vm->gsi_routes_ready)
		kvm_gsi_routes_destroy(&vm->gsi_routes);
	vm->gsi_routes_ready = false;
	console_destroy(&vm->console);
	guest_mem_destroy(&vm->mem);
	supported_cpuid_destroy(&vm->supported_cpuid);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->stop_eventfd = vm->vm_fd = vm->kvm_fd = -1;
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->control_lock);
}
