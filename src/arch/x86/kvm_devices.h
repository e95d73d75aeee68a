/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_KVM_DEVICES_H
#define VMON_X86_KVM_DEVICES_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "devices/device.h"

/*
 * KVM's in-kernel devices behind the device model interface
 * (devices/device.h): the 8259 PICs + IOAPIC ("kvm-irqchip"), the 8254 PIT
 * ("kvm-pit") and the VM's kvmclock ("kvm-clock"). Each object holds the
 * VM's fd (a live resource, not owned: the VM closes it); its state struct
 * is plain. They have no bus resources of vmon's: KVM claims their ports and
 * MMIO itself (PIC 0x20-0x21/0xa0-0xa1/ELCR 0x4d0-0x4d1, IOAPIC 0xfec00000,
 * PIT 0x40-0x43 and 0x61).
 *
 * device_ops.save cannot fail, but the KVM_GET ioctls can: a failed save
 * logs the error and records its errno in the state's save_errno, and
 * restore refuses such a state naming the ioctl that failed.
 */

/* ---- kvm-irqchip: PIC master, PIC slave, IOAPIC (KVM_GET/SET_IRQCHIP) ---- */

#define KVM_IRQCHIP_STATE_VERSION 1
#define KVM_IOAPIC_BASE 0xfec00000ull   /* where KVM_CREATE_IRQCHIP put it; it cannot move */
#define KVM_IOAPIC_PINS 24

/* struct kvm_ioapic_state without its bitfield union: the same bytes. */
struct kvm_irqchip_ioapic {
	uint64_t base_address;
	uint32_t ioregsel;
	uint32_t id;
	uint32_t irr;
	uint32_t pad;
	uint64_t redirtbl[KVM_IOAPIC_PINS];  /* redirection entries as the guest wrote them */
};

struct kvm_irqchip_state {
	uint32_t save_errno;                 /* 0, or the errno of the KVM_GET_IRQCHIP that failed */
	uint32_t pad;
	struct kvm_pic_state pic[2];         /* [0] master (ports 0x20), [1] slave (0xa0); all bytes */
	struct kvm_irqchip_ioapic ioapic;
};

/*
 * Call right after KVM_CREATE_IRQCHIP, before any vCPU runs: the state read
 * then is the power-on state reset() goes back to. NULL on error (err set).
 */
void *kvm_irqchip_dev_create(int vm_fd, struct vmon_error *err);
extern const struct device_ops kvm_irqchip_device_ops;

/* What KVM's PICs and IOAPIC occupy (PIC ports, ELCR, IOAPIC window), for the allocator and registry_add. */
#define KVM_IRQCHIP_NRES 4
extern const struct device_resource kvm_irqchip_resources[KVM_IRQCHIP_NRES];

/* Checks a saved irqchip state (what restore does first). 0 or -EINVAL naming the field. */
int kvm_irqchip_state_check(const struct kvm_irqchip_state *s, struct vmon_error *err);

/* ---- GSI routing: KVM's default IRQ routes plus MSI routes ----------------- */

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so vmon keeps it: the routes
 * KVM_CREATE_IRQCHIP set up (GSI 0-15 to the PICs and the IOAPIC, 16-23 to
 * the IOAPIC; kvm/irq_comm.c default_routing) and one MSI route per GSI
 * handed out from KVM_MSI_GSI_BASE up (an MSI-X vector each). Host state:
 * a restore re-programs what the devices ask for again.
 */
#define KVM_MSI_GSI_BASE 24u
#define KVM_MSI_ROUTES_MAX 256u

struct kvm_gsi_routes {
	pthread_mutex_t lock;
	int vm_fd;
	unsigned nmsi;                       /* GSIs handed out: KVM_MSI_GSI_BASE .. + nmsi */
	struct {
		bool set;
		uint64_t address;
		uint32_t data;
	} msi[KVM_MSI_ROUTES_MAX];
};

void kvm_gsi_routes_init(struct kvm_gsi_routes *r, int vm_fd);
void kvm_gsi_routes_destroy(struct kvm_gsi_routes *r);
/* A GSI for one MSI vector (>= KVM_MSI_GSI_BASE), or -ENOSPC. */
int kvm_gsi_routes_alloc_msi(struct kvm_gsi_routes *r);
/* Points gsi at the MSI message and hands the whole table to KVM. 0 or -errno (the old route stays). */
int kvm_gsi_routes_set_msi(struct kvm_gsi_routes *r, unsigned gsi, uint64_t address, uint32_t data);

/* ---- kvm-pit: the 8254 (KVM_GET/SET_PIT2) --------------------------------- */

#define KVM_PIT_STATE_VERSION 1

/* struct kvm_pit_channel_state, with the host's count_load_time made relative. */
struct kvm_pit_channel {
	uint32_t count;           /* reload value, 1..0x10000 (0 reads as 0x10000) */
	uint16_t latched_count;
	uint8_t count_latched;    /* 0 or an access mode 1..3 */
	uint8_t status_latched;
	uint8_t status;
	uint8_t read_state;       /* 0..4 (RW_STATE_LSB..WORD1) */
	uint8_t write_state;
	uint8_t write_latch;
	uint8_t rw_mode;          /* 0..3 */
	uint8_t mode;             /* 0..5, or 0xff: not programmed since reset */
	uint8_t bcd;
	uint8_t gate;
	int64_t load_age_ns;      /* ns since count was loaded, at save time (>= 0) */
};

struct kvm_pit_dev_state {
	uint32_t save_errno;      /* 0, or the errno of the KVM_GET_PIT2 that failed */
	uint32_t flags;           /* KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON */
	struct kvm_pit_channel channels[3];
};

/* Call right after KVM_CREATE_PIT2 (its state then is the power-on state). NULL on error. */
void *kvm_pit_dev_create(int vm_fd, struct vmon_error *err);
extern const struct device_ops kvm_pit_device_ops;

/* Ports 0x40-0x43, the speaker/gate port 0x61 and the PIT's line, IRQ 0. */
#define KVM_PIT_NRES 3
extern const struct device_resource kvm_pit_resources[KVM_PIT_NRES];

int kvm_pit_state_check(const struct kvm_pit_dev_state *s, struct vmon_error *err);

/* ---- kvm-clock: the VM's kvmclock (KVM_GET/SET_CLOCK) ---------------------- */

#define KVM_CLOCK_STATE_VERSION 1

struct kvm_clock_dev_state {
	uint32_t save_errno;      /* 0, or the errno of the KVM_GET_CLOCK that failed */
	uint32_t pad;
	uint64_t clock_ns;        /* the guest's kvmclock (ns since the VM's clock started) */
};

/*
 * The guest's kvmclock continues from the saved value: restore (and resume
 * after pause) sets it back to what it read, so time spent paused or saved
 * is not seen by the guest through kvmclock (QEMU's and Firecracker's
 * semantics; a guest's wall clock catches up through NTP, as after a
 * suspend). KVM_CLOCK_REALTIME, which would add the host time elapsed, is
 * not used. Reset sets the clock to 0, as a new VM starts it. NULL on error.
 */
void *kvm_clock_dev_create(int vm_fd, struct vmon_error *err);
extern const struct device_ops kvm_clock_device_ops;

int kvm_clock_state_check(const struct kvm_clock_dev_state *s, struct vmon_error *err);

#endif
