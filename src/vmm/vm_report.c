/* SPDX-License-Identifier: MIT */
/* The --stats report printed when a run ends (apart from vm.c, which runs the machine). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "arch/x86/emulate.h"
#include "vmm/stats.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm.h"

void vm_print_stats(struct vm *vm, FILE *out)
{
	struct vcpu_stats *total = calloc(1, sizeof(*total));
	struct timespec now;
	if (total) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			stats_merge(total, &vm->vcpus[i].stats);
		clock_gettime(CLOCK_MONOTONIC, &now);
		fprintf(out, "vmon: run time: %.3f s\n",
			(double)(now.tv_sec - vm->start_time.tv_sec) +
			(double)(now.tv_nsec - vm->start_time.tv_nsec) / 1e9);
		double init = boot_timer_seconds(&vm->legacy.boot_timer, BOOT_TIMER_INIT_REACHED);
		if (init >= 0)
			fprintf(out, "vmon: guest init reached after %.3f s\n", init);
		if (vm->initrd_summary[0])
			fprintf(out, "vmon: initrd decompressed on the host: %s\n", vm->initrd_summary);
		stats_print(total, out);
		for (unsigned i = 0; vm->virtio && i < vm->virtio->count; i++) {
			const struct virtio_slot *slot = &vm->virtio->slots[i];
			fprintf(out, "vmon: %s at 0x%llx%s: %llu queue notifications, %llu interrupts%s\n",
				slot->kind, (unsigned long long)slot->base,
				slot->transport_kind == VIRTIO_TRANSPORT_PCI ? " (PCI, MSI-X)" : "",
				(unsigned long long)virtio_slot_notifies(slot),
				(unsigned long long)virtio_slot_interrupts(slot),
				virtio_slot_ioeventfd(slot) ? " (ioeventfd)" : "");
		}
		if (vm->virtio && vm->virtio->pci_host_ready) {
			fprintf(out, "vmon: PCI config accesses: %llu\n",
				(unsigned long long)vm->virtio->pci_host.config_accesses);
		}
		if (vm->cfg->test_save_restore_ms)
			fprintf(out, "vmon: save/restore rounds: %llu (every %u ms)\n",
				(unsigned long long)vm->save_restore_rounds, vm->cfg->test_save_restore_ms);
		if (vm->profile.emulated_ring0) {
			struct x86_emu_stats emu = { 0 };
			for (unsigned i = 0; i < vm->ncpus; i++)
				x86_emu_stats_merge(&emu, &vm->vcpus[i].emu_stats);
			x86_emu_stats_print(&emu, out);
		}
		free(total);
	}
}
