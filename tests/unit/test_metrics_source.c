/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "fake_host.h"
#include "vmm/metrics_source.h"
#include "vmm/vm.h"

/*
 * A VM made of the pieces vm_metrics_snapshot reads, without KVM: two vCPUs'
 * exit counters, COM1 and the i8042 driven through their ports, and virtio
 * slots whose models' counters are set directly (the models' own tests
 * check that they count).
 */
struct fixture {
	struct fake_host fh;
	struct vm_config cfg;
	struct virtio_devices virtio;
	struct virtio_blk blk;
	struct virtio_net *net;
	struct virtio_rng rng;
	struct vm vm;
	struct vm_metrics m;
};

static void discard_output(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct uart_8250_callbacks cb = { .output = discard_output };
	struct vmon_error err = { 0 };

	fake_host_init(&f->fh);
	f->vm.ncpus = 2;
	f->vm.vcpus = calloc(2, sizeof(*f->vm.vcpus));
	f->vm.cfg = &f->cfg;
	assert_int_equal(uart_8250_init(&f->vm.legacy.com1, &f->fh.host, 0x3f8, 4, &cb, &err), 0);
	assert_int_equal(i8042_init(&f->vm.legacy.i8042, &f->fh.host, &err), 0);
	f->net = calloc(1, sizeof(*f->net));   /* big (frame scratch): not on the stack */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart_8250_destroy(&f->vm.legacy.com1);
	i8042_destroy(&f->vm.legacy.i8042);
	free(f->vm.vcpus);
	free(f->net);
	free(f);
	return 0;
}

static void a_vm_without_devices_counts_zero(void **state)
{
	struct fixture *f = *state;

	f->vm.ncpus = 1;
	vm_metrics_snapshot(&f->vm, &f->m);
	assert_int_equal(f->m.nvcpus, 1);
	assert_int_equal(f->m.vcpu[0].exits, 0);
	assert_int_equal(f->m.nvirtio, 0);
	assert_int_equal(f->m.uart.tx_bytes, 0);
	assert_int_equal(f->m.i8042.resets, 0);
}

static void vcpu_exits_by_vcpu_direction_and_reason(void **state)
{
	struct fixture *f = *state;
	struct vcpu_stats *s0 = &f->vm.vcpus[0].stats, *s1 = &f->vm.vcpus[1].stats;

	for (int i = 0; i < 3; i++)
		stats_count_exit(s0, KVM_EXIT_IO);
	stats_count_io_exit(s0, STATS_PIO, false);
	stats_count_io_exit(s0, STATS_PIO, false);
	stats_count_io_exit(s0, STATS_PIO, true);
	stats_count_exit(s1, KVM_EXIT_MMIO);
	stats_count_exit(s1, KVM_EXIT_MMIO);
	stats_count_exit(s1, 1000);
	stats_count_io_exit(s1, STATS_MMIO, true);
	stats_count_io_exit(s1, STATS_MMIO, false);
	stats_count_failure(s1);

	vm_metrics_snapshot(&f->vm, &f->m);
	assert_int_equal(f->m.nvcpus, 2);
	assert_int_equal(f->m.vcpu[0].exits, 3);
	assert_int_equal(f->m.vcpu[0].io_in, 2);
	assert_int_equal(f->m.vcpu[0].io_out, 1);
	assert_int_equal(f->m.vcpu[0].mmio_read + f->m.vcpu[0].mmio_write + f->m.vcpu[0].failures, 0);
	assert_int_equal(f->m.vcpu[1].exits, 3);
	assert_int_equal(f->m.vcpu[1].mmio_read, 1);
	assert_int_equal(f->m.vcpu[1].mmio_write, 1);
	assert_int_equal(f->m.vcpu[1].failures, 1);
	assert_int_equal(f->m.exits_by_reason[KVM_EXIT_IO], 3);
	assert_int_equal(f->m.exits_by_reason[KVM_EXIT_MMIO], 2);
	assert_int_equal(f->m.exits_other_reason, 1);
}

static void legacy_devices_count_what_the_guest_did(void **state)
{
	struct fixture *f = *state;
	const uint8_t input = 'x';

	fake_host_outb(&f->fh, 0x3f8, 'h');
	fake_host_outb(&f->fh, 0x3f8, 'i');
	fake_host_outb(&f->fh, 0x3f8 + UART_MCR, UART_MCR_RTS);  /* host input flows once RTS is up */
	assert_int_equal(uart_8250_receive(&f->vm.legacy.com1, &input, 1), 1);
	assert_int_equal(fake_host_inb(&f->fh, 0x3f8), 'x');
	fake_host_inb(&f->fh, 0x3f8);                             /* empty: not a byte received */
	fake_host_outb(&f->fh, I8042_PORT_COMMAND, 0xfe);         /* pulse the reset line */
	fake_host_inb(&f->fh, I8042_PORT_DATA);
	atomic_store(&f->vm.sighup_count, 1);

	vm_metrics_snapshot(&f->vm, &f->m);
	assert_int_equal(f->m.uart.tx_bytes, 2);
	assert_int_equal(f->m.uart.rx_bytes, 1);
	assert_int_equal(f->m.i8042.writes, 1);
	assert_int_equal(f->m.i8042.reads, 1);
	assert_int_equal(f->m.i8042.resets, 1);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->m.signals.sighup, 1);
	assert_int_equal(f->m.signals.sigint + f->m.signals.sigterm, 0);
}

static struct virtio_slot *add_slot(struct fixture *f, const char *kind, const char *name, void *model)
{
	struct virtio_slot *slot = &f->virtio.slots[f->virtio.count++];

	slot->kind = kind;
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->model = model;
	return slot;
}

static void virtio_devices_by_kind_with_drive_ids(void **state)
{
	struct fixture *f = *state;
	f->cfg.ndrives = 1;
	f->cfg.drives[0] = (struct drive_config){ .path = "disk.img", .id = "rootfs" };
	f->vm.virtio = &f->virtio;
	struct virtio_slot *blk = add_slot(f, "virtio-blk", "virtio-blk0", &f->blk);
	struct virtio_slot *net = add_slot(f, "virtio-net", "virtio-net0", f->net);
	add_slot(f, "virtio-rng", "virtio-rng0", &f->rng);
	atomic_store(&f->rng.requests, 3);
	atomic_store(&f->rng.bytes, 96);
	atomic_store(&f->rng.throttle.throttled_events, 2);
	atomic_store(&blk->transport.notifies, 7);
	atomic_store(&blk->transport.interrupts, 6);
	atomic_store(&f->blk.reads, 4);
	atomic_store(&f->blk.bytes_read, 4 * 4096);
	atomic_store(&f->blk.writes, 2);
	atomic_store(&f->blk.bytes_written, 1024);
	atomic_store(&f->blk.flushes, 1);
	atomic_store(&net->transport.ignored_notifies, 1);
	atomic_store(&f->net->tx_frames, 3);
	atomic_store(&f->net->tx_bytes, 180);
	atomic_store(&f->net->rx_frames, 5);
	atomic_store(&f->net->rx_bytes, 900);
	atomic_store(&f->net->rx_no_space, 2);

	vm_metrics_snapshot(&f->vm, &f->m);
	assert_int_equal(f->m.nvirtio, 3);
	const struct vm_metrics_virtio *b = &f->m.virtio[0], *n = &f->m.virtio[1], *r = &f->m.virtio[2];
	assert_int_equal(b->kind, VM_METRICS_VIRTIO_BLK);
	assert_string_equal(b->name, "virtio-blk0");
	assert_string_equal(b->id, "rootfs");
	assert_int_equal(b->notifies, 7);
	assert_int_equal(b->interrupts, 6);
	assert_int_equal(b->blk.reads, 4);
	assert_int_equal(b->blk.bytes_read, 4 * 4096);
	assert_int_equal(b->blk.writes, 2);
	assert_int_equal(b->blk.bytes_written, 1024);
	assert_int_equal(b->blk.flushes, 1);
	assert_int_equal(n->kind, VM_METRICS_VIRTIO_NET);
	assert_string_equal(n->id, "virtio-net0");
	assert_int_equal(n->ignored_notifies, 1);
	assert_int_equal(n->net.tx_frames, 3);
	assert_int_equal(n->net.tx_bytes, 180);
	assert_int_equal(n->net.rx_frames, 5);
	assert_int_equal(n->net.rx_bytes, 900);
	assert_int_equal(n->net.rx_no_space, 2);
	assert_int_equal(r->kind, VM_METRICS_VIRTIO_RNG);
	assert_string_equal(r->kind_name, "virtio-rng");
	assert_int_equal(r->rng.requests, 3);
	assert_int_equal(r->rng.bytes, 96);
	assert_int_equal(r->rng.rate_limiter_throttled_events, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_vm_without_devices_counts_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(vcpu_exits_by_vcpu_direction_and_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(legacy_devices_count_what_the_guest_did, setup, teardown),
		cmocka_unit_test_setup_teardown(virtio_devices_by_kind_with_drive_ids, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
