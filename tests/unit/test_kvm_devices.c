/* SPDX-License-Identifier: MIT */
/*
 * KVM's in-kernel devices (arch/x86/kvm_devices.h) without KVM: their
 * device_ops, the checks a restore applies to a saved state, and errors
 * naming the ioctl when the fd is not a VM. The round trip through a real
 * VM is tests/integration/kvm_state.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/kvm_devices.h"
#include "devices/registry.h"

/* The state KVM_CREATE_IRQCHIP leaves (read on a PVM host): PICs reset, IOAPIC entries masked. */
static void power_on_irqchip(struct kvm_irqchip_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pic[0].elcr_mask = 0xf8;
	s->pic[1].elcr_mask = 0xde;
	s->ioapic.base_address = KVM_IOAPIC_BASE;
	for (int i = 0; i < KVM_IOAPIC_PINS; i++)
		s->ioapic.redirtbl[i] = 1u << 16;
}

static void power_on_pit(struct kvm_pit_dev_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 3; i++) {
		s->channels[i].count = 0x10000;
		s->channels[i].mode = 0xff;
		s->channels[i].gate = i != 2;
	}
}

#define REFUSED(check, s, needle) \
	do { \
		struct vmon_error err_ = { 0 }; \
		assert_int_equal(check(&(s), &err_), -EINVAL); \
		if (!strstr(err_.msg, needle)) \
			fail_msg("error \"%s\" does not name \"%s\"", err_.msg, needle); \
	} while (0)

static void irqchip_check_accepts_power_on_and_programmed_states(void **state)
{
	struct kvm_irqchip_state s;
	(void)state;

	power_on_irqchip(&s);
	assert_int_equal(kvm_irqchip_state_check(&s, NULL), 0);
	/* Linux's programming: vectors 0x30/0x38, cascade, level-triggered IRQ 9-11, entry 2 unmasked. */
	s.pic[0] = (struct kvm_pic_state){ .irq_base = 0x30, .imr = 0xfb, .init4 = 1, .elcr_mask = 0xf8 };
	s.pic[1] = (struct kvm_pic_state){ .irq_base = 0x38, .imr = 0xff, .init4 = 1, .elcr = 0x0e, .elcr_mask = 0xde };
	s.ioapic.redirtbl[2] = 0x30 | (1ull << 56);
	s.ioapic.redirtbl[3] = 0xffffffffffffffffull;     /* reserved bits as a guest may write them */
	s.ioapic.ioregsel = 0x14;
	s.ioapic.irr = 1u << 23;
	assert_int_equal(kvm_irqchip_state_check(&s, NULL), 0);
}

static void irqchip_check_names_each_bad_field(void **state)
{
	struct kvm_irqchip_state s;
	(void)state;

	power_on_irqchip(&s); s.save_errno = EBADF; REFUSED(kvm_irqchip_state_check, s, "KVM_GET_IRQCHIP failed");
	power_on_irqchip(&s); s.pad = 1; REFUSED(kvm_irqchip_state_check, s, "pad");
	power_on_irqchip(&s); s.pic[0].elcr_mask = 0xff; REFUSED(kvm_irqchip_state_check, s, "PIC master: elcr_mask");
	power_on_irqchip(&s); s.pic[1].elcr = 0x01; REFUSED(kvm_irqchip_state_check, s, "PIC slave: elcr 0x01");
	power_on_irqchip(&s); s.pic[0].priority_add = 8; REFUSED(kvm_irqchip_state_check, s, "priority_add 8");
	power_on_irqchip(&s); s.pic[1].irq_base = 0x71; REFUSED(kvm_irqchip_state_check, s, "irq_base 0x71");
	power_on_irqchip(&s); s.pic[0].init_state = 4; REFUSED(kvm_irqchip_state_check, s, "init_state 4");
	power_on_irqchip(&s); s.pic[1].auto_eoi = 2; REFUSED(kvm_irqchip_state_check, s, "PIC slave: a mode flag");
	power_on_irqchip(&s); s.ioapic.base_address = 0xfed00000; REFUSED(kvm_irqchip_state_check, s, "base_address");
	power_on_irqchip(&s); s.ioapic.ioregsel = 0x100; REFUSED(kvm_irqchip_state_check, s, "ioregsel");
	power_on_irqchip(&s); s.ioapic.id = 16; REFUSED(kvm_irqchip_state_check, s, "id 16");
	power_on_irqchip(&s); s.ioapic.irr = 1u << 24; REFUSED(kvm_irqchip_state_check, s, "irr");
	power_on_irqchip(&s); s.ioapic.pad = 3; REFUSED(kvm_irqchip_state_check, s, "IOAPIC: pad");
}

static void pit_check_accepts_reset_and_programmed_channels(void **state)
{
	struct kvm_pit_dev_state s;
	(void)state;

	power_on_pit(&s);
	assert_int_equal(kvm_pit_state_check(&s, NULL), 0);
	/* Channel 0 in mode 2, lobyte/hibyte, count 0x1234, latched mid-read. */
	s.channels[0] = (struct kvm_pit_channel){ .count = 0x1234, .latched_count = 0x1000, .count_latched = 3,
		.read_state = 4, .write_state = 3, .rw_mode = 3, .mode = 2, .gate = 1, .load_age_ns = 1000000 };
	s.flags = KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	assert_int_equal(kvm_pit_state_check(&s, NULL), 0);
}

static void pit_check_names_each_bad_field(void **state)
{
	struct kvm_pit_dev_state s;
	(void)state;

	power_on_pit(&s); s.save_errno = ENOTTY; REFUSED(kvm_pit_state_check, s, "KVM_GET_PIT2 failed");
	power_on_pit(&s); s.flags = 4; REFUSED(kvm_pit_state_check, s, "flags 0x4");
	power_on_pit(&s); s.channels[1].count = 0x10001; REFUSED(kvm_pit_state_check, s, "channel 1: count 0x10001");
	power_on_pit(&s); s.channels[0].mode = 6; REFUSED(kvm_pit_state_check, s, "channel 0: mode 6");
	power_on_pit(&s); s.channels[2].rw_mode = 4; REFUSED(kvm_pit_state_check, s, "channel 2: rw_mode 4");
	power_on_pit(&s); s.channels[2].count_latched = 7; REFUSED(kvm_pit_state_check, s, "count_latched 7");
	power_on_pit(&s); s.channels[0].read_state = 5; REFUSED(kvm_pit_state_check, s, "read_state 5");
	power_on_pit(&s); s.channels[1].gate = 2; REFUSED(kvm_pit_state_check, s, "channel 1: status_latched/bcd/gate");
	power_on_pit(&s); s.channels[0].load_age_ns = -1; REFUSED(kvm_pit_state_check, s, "load_age_ns -1");
}

static void clock_check_names_each_bad_field(void **state)
{
	struct kvm_clock_dev_state s = { .clock_ns = 123456789 };
	(void)state;

	assert_int_equal(kvm_clock_state_check(&s, NULL), 0);
	s.clock_ns = (uint64_t)INT64_MAX + 1; REFUSED(kvm_clock_state_check, s, "clock_ns");
	s.clock_ns = 0; s.pad = 1; REFUSED(kvm_clock_state_check, s, "pad");
	s.pad = 0; s.save_errno = EIO; REFUSED(kvm_clock_state_check, s, "KVM_GET_CLOCK failed");
}

static void ops_are_complete_and_registrable(void **state)
{
	const struct device_ops *ops[] = { &kvm_irqchip_device_ops, &kvm_pit_device_ops, &kvm_clock_device_ops };
	const char *kinds[] = { "kvm-irqchip", "kvm-pit", "kvm-clock" };
	const uint32_t sizes[] = { sizeof(struct kvm_irqchip_state), sizeof(struct kvm_pit_dev_state),
				   sizeof(struct kvm_clock_dev_state) };
	struct device_registry reg;
	static int dummy;
	(void)state;

	registry_init(&reg);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(ops[i]->kind, kinds[i]);
		assert_int_equal(ops[i]->state_size, sizes[i]);
		assert_int_equal(ops[i]->state_version, 1);
	}
	assert_int_equal(registry_add(&reg, "kvm-irqchip", ops[0], &dummy, kvm_irqchip_resources, KVM_IRQCHIP_NRES,
				      NULL), 0);
	assert_int_equal(registry_add(&reg, "kvm-pit", ops[1], &dummy, kvm_pit_resources, KVM_PIT_NRES, NULL), 0);
	assert_int_equal(registry_add(&reg, "kvm-clock", ops[2], &dummy, NULL, 0, NULL), 0);
	assert_int_equal(registry_find(&reg, "kvm-irqchip")->res[3].base, 0xfec00000);
	assert_int_equal(registry_find(&reg, "kvm-pit")->res[2].kind, DEVICE_RES_IRQ);
	/* Only the clock acts on pause/resume (it freezes the guest's kvmclock). */
	assert_null(kvm_irqchip_device_ops.pause);
	assert_null(kvm_pit_device_ops.pause);
	assert_non_null(kvm_clock_device_ops.pause);
	assert_non_null(kvm_clock_device_ops.resume);
	reg.count = 0;                /* the objects are not real: nothing to destroy */
}

static void constructors_name_the_ioctl_an_fd_refuses(void **state)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct vmon_error err = { 0 };
	(void)state;

	assert_true(fd >= 0);
	assert_null(kvm_irqchip_dev_create(fd, &err));
	assert_non_null(strstr(err.msg, "KVM_GET_IRQCHIP (PIC master)"));
	assert_null(kvm_pit_dev_create(fd, &err));
	assert_non_null(strstr(err.msg, "KVM_GET_PIT2"));
	assert_null(kvm_clock_dev_create(-1, &err));
	assert_int_equal(err.code, -EBADF);
	assert_non_null(strstr(err.msg, "KVM_GET_CLOCK"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(irqchip_check_accepts_power_on_and_programmed_states),
		cmocka_unit_test(irqchip_check_names_each_bad_field),
		cmocka_unit_test(pit_check_accepts_reset_and_programmed_channels),
		cmocka_unit_test(pit_check_names_each_bad_field),
		cmocka_unit_test(clock_check_names_each_bad_field),
		cmocka_unit_test(ops_are_complete_and_registrable),
		cmocka_unit_test(constructors_name_the_ioctl_an_fd_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
