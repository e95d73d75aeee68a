/* SPDX-License-Identifier: MIT */
#include "vmm/metrics_source.h"

#include <stdio.h>
#include <string.h>

#include "vmm/vm.h"

static uint64_t rd(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

static void snapshot_vcpus(struct vm *vm, struct vm_metrics *out)
{
	out->nvcpus = vm->vcpus ? vm->ncpus : 0;
	if (out->nvcpus > VM_METRICS_MAX_VCPUS)
		out->nvcpus = VM_METRICS_MAX_VCPUS;
	for (unsigned i = 0; i < out->nvcpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;
		out->vcpu[i] = (struct vm_metrics_vcpu){
			.exits = rd(&s->exits), .io_in = rd(&s->io_in), .io_out = rd(&s->io_out),
			.mmio_read = rd(&s->mmio_read), .mmio_write = rd(&s->mmio_write), .failures = rd(&s->failures),
		};
		for (unsigned r = 0; r < STATS_MAX_REASONS; r++)
			out->exits_by_reason[r] += rd(&s->by_reason[r]);
		out->exits_other_reason += rd(&s->other_reason);
	}
}

static void snapshot_virtio(struct vm *vm, struct vm_metrics *out)
{
	unsigned drives = 0;

	for (unsigned i = 0; vm->virtio && i < vm->virtio->count && out->nvirtio < VM_METRICS_MAX_VIRTIO; i++) {
		const struct virtio_slot *slot = &vm->virtio->slots[i];
		struct vm_metrics_virtio *m = &out->virtio[out->nvirtio++];

		snprintf(m->kind_name, sizeof(m->kind_name), "%s", slot->kind ? slot->kind : "virtio");
		snprintf(m->name, sizeof(m->name), "%s", slot->name);
		snprintf(m->id, sizeof(m->id), "%s", slot->name);
		m->notifies = virtio_slot_notifies(slot);
		m->interrupts = virtio_slot_interrupts(slot);
		m->ignored_notifies = virtio_slot_ignored_notifies(slot);
		m->kind = VM_METRICS_VIRTIO_OTHER;
		if (slot->kind && !strcmp(slot->kind, "virtio-blk") && slot->model) {
			/* Drives are opened in the config's order (virtio_devices_open). */
			const struct drive_config *cfg = vm->cfg && drives < vm->cfg->ndrives ? &vm->cfg->drives[drives] : NULL;
			drives++;
			m->kind = VM_METRICS_VIRTIO_BLK;
			virtio_blk_get_stats(slot->model, &m->blk);
			if (cfg && cfg->id && *cfg->id)
				snprintf(m->id, sizeof(m->id), "%s", cfg->id);
		} else if (slot->kind && !strcmp(slot->kind, "virtio-net") && slot->model) {
			m->kind = VM_METRICS_VIRTIO_NET;
			virtio_net_get_stats(slot->model, &m->net);
		} else if (slot->kind && !strcmp(slot->kind, "virtio-rng") && slot->model) {
			m->kind = VM_METRICS_VIRTIO_RNG;
			virtio_rng_get_stats(slot->model, &m->rng);
		}
	}
}

void vm_metrics_snapshot(struct vm *vm, struct vm_metrics *out)
{
	memset(out, 0, sizeof(*out));
	snapshot_vcpus(vm, out);
	snapshot_virtio(vm, out);
	out->uart.tx_bytes = rd(&vm->legacy.com1.tx_bytes);
	out->uart.rx_bytes = rd(&vm->legacy.com1.rx_bytes);
	out->i8042.reads = rd(&vm->legacy.i8042.reads);
	out->i8042.writes = rd(&vm->legacy.i8042.writes);
	out->i8042.resets = rd(&vm->legacy.i8042.resets);
	out->signals.sigint = rd(&vm->sigint_count);
	out->signals.sigterm = rd(&vm->sigterm_count);
	out->signals.sighup = rd(&vm->sighup_count);
}
