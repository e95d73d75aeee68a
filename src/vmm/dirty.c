/* SPDX-License-Identifier: MIT */
#include "vmm/dirty.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/log.h"
#include "vmm/vm.h"

/* KVM's bitmap of one memslot: a bit per page, in whole 64-bit words (the kernel's ALIGN(npages, BITS_PER_LONG)). */
static size_t slot_bitmap_words(const struct guest_mem_region *r)
{
	return (size_t)(((r->size >> GUEST_MEM_PAGE_SHIFT) + 63) / 64);
}

int vm_dirty_log_start(struct vm *vm, struct vmon_error *err)
{
	size_t words = 0;
	int r;

	if (vm->dirty_logging)
		return 0;
	for (unsigned i = 0; i < vm->mem.nregions; i++)
		if (slot_bitmap_words(&vm->mem.regions[i]) > words)
			words = slot_bitmap_words(&vm->mem.regions[i]);
	if (!vm->dirty_slot_bits && !(vm->dirty_slot_bits = calloc(words ? words : 1, sizeof(uint64_t))))
		return error_set(err, -ENOMEM, "out of memory for the dirty page log (%zu words)", words);
	if (guest_mem_track_writes(&vm->mem, true))
		return error_set(err, -ENOMEM, "out of memory for the device-write log of %llu MiB of RAM",
				 (unsigned long long)(vm->mem.ram_size >> 20));
	/* KVM's log starts empty when the flag is set; from here on it sees every guest write. */
	if ((r = vm_set_memory_slots(vm, KVM_MEM_LOG_DIRTY_PAGES, err))) {
		guest_mem_track_writes(&vm->mem, false);
		vm_set_memory_slots(vm, 0, &(struct vmon_error){ 0 });
		error_prefix(err, "starting dirty page logging");
		return r;
	}
	vm->dirty_logging = true;
	return 0;
}

int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap, struct vmon_error *err)
{
	if (!vm->dirty_logging)
		return error_set(err, -EINVAL, "dirty page tracking is off (track_dirty_pages was not set)");
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct guest_mem_region *region = &vm->mem.regions[i];
		size_t words = slot_bitmap_words(region);
		struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = vm->dirty_slot_bits };

		memset(vm->dirty_slot_bits, 0, words * sizeof(uint64_t));
		/* Without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled, this also clears the slot's log and re-protects. */
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return error_set(err, -errno, "KVM_GET_DIRTY_LOG slot %u (gpa 0x%llx, %llu MiB): %s", i,
					 (unsigned long long)region->gpa, (unsigned long long)(region->size >> 20),
					 strerror(errno));
		guest_mem_or_region_bitmap(&vm->mem, i, vm->dirty_slot_bits, bitmap);
	}
	/* After KVM's: a device write racing with the fetch is then either in this fetch or in the next. */
	guest_mem_fetch_written(&vm->mem, bitmap);
	return 0;
}

void vm_dirty_log_stop(struct vm *vm)
{
	struct vmon_error err = { 0 };

	if (!vm->dirty_logging)
		return;
	guest_mem_track_writes(&vm->mem, false);
	if (vm_set_memory_slots(vm, 0, &err))
		log_warn("stopping dirty page logging: %s", err.msg);
	vm->dirty_logging = false;
}

bool vm_dirty_log_active(const struct vm *vm)
{
	return vm->dirty_logging;
}
