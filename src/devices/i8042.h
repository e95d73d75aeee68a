/* SPDX-License-Identifier: MIT */
#ifndef VMON_I8042_H
#define VMON_I8042_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * i8042 PS/2 keyboard controller with no keyboard and no mouse attached, plus
 * System Control Port A (0x92). It answers every controller command Linux's
 * i8042 driver issues while probing, NAKs bytes sent to the absent devices,
 * and turns the reset line (command 0xFE, output-port bit 0, port 0x92 bit 0)
 * into VM_STOP_RESET. Port 0x61 belongs to KVM's in-kernel PIT and is not
 * claimed. See docs/devices.md.
 */

#define I8042_PORT_DATA    0x60
#define I8042_PORT_COMMAND 0x64
#define I8042_PORT_SCPA    0x92 /* System Control Port A */
#define I8042_IRQ_KBD      1
#define I8042_IRQ_AUX      12

/* Status register (read from 0x64). */
#define I8042_STR_OBF     0x01 /* output buffer full */
#define I8042_STR_IBF     0x02 /* input buffer full (never: commands complete at once) */
#define I8042_STR_SYS     0x04 /* system flag, copied from CTR bit 2 */
#define I8042_STR_CMDDAT  0x08 /* last write was to 0x64 */
#define I8042_STR_KEYLOCK 0x10 /* 1 = keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20 /* output buffer holds aux (mouse) data */
#define I8042_STR_TIMEOUT 0x40 /* the device did not answer */

/* Controller configuration byte (CTR, internal RAM byte 0). */
#define I8042_CTR_KBDINT  0x01
#define I8042_CTR_AUXINT  0x02
#define I8042_CTR_SYS     0x04
#define I8042_CTR_KBDDIS  0x10
#define I8042_CTR_AUXDIS  0x20
#define I8042_CTR_XLATE   0x40

/* Output port (commands 0xD0/0xD1). */
#define I8042_OUT_RESET   0x01 /* 0 = hold the CPU in reset */
#define I8042_OUT_A20     0x02
#define I8042_OUT_KBD_OBF 0x10
#define I8042_OUT_AUX_OBF 0x20

/* Guest-visible state; plain data (the snapshot), 48 bytes, no padding. */
#define I8042_STATE_VERSION 2
#define I8042_KBD_QUEUE 7      /* keyboard bytes waiting behind the output buffer */

struct i8042_state {
	uint8_t ram[32];       /* controller RAM; ram[0] is the CTR */
	uint8_t outport;       /* output port as last written (OBF bits are computed) */
	uint8_t out_data;      /* output buffer (0x60 reads); keeps its value after a read */
	uint8_t out_full;      /* OBF */
	uint8_t out_aux;       /* output buffer holds aux-side data */
	uint8_t out_timeout;   /* output buffer holds a device-timeout NAK */
	uint8_t pending_cmd;   /* command awaiting its data byte on 0x60 (0x60-0x7f, 0xd1-0xd4), or 0 */
	uint8_t last_was_cmd;  /* status bit 3 */
	uint8_t scpa;          /* port 0x92 as last written */
	uint8_t kbd_queue[I8042_KBD_QUEUE]; /* scancodes from the host (Ctrl-Alt-Del), oldest first */
	uint8_t kbd_count;     /* bytes in kbd_queue */
};

struct i8042 {
	struct i8042_state s;
	const struct device_host *host;
	int irq_level[2];      /* levels last driven on IRQ 1 and IRQ 12 */
	pthread_mutex_t lock;  /* vCPU threads of an SMP guest may race; save/restore/reset take it too */
	/* Counters (metrics): bumped under lock, read by any thread without it (relaxed atomics). */
	_Atomic uint64_t reads;    /* bytes the guest read from the data port */
	_Atomic uint64_t writes;   /* bytes the guest wrote to the data and command ports */
	_Atomic uint64_t resets;   /* CPU resets the guest asked for (0xFE, output port, port 0x92) */
};

/* Resets the controller and registers ports 0x60, 0x64 and 0x92 on host->pio. */
int i8042_init(struct i8042 *k, const struct device_host *host, struct vmon_error *err);
void i8042_destroy(struct i8042 *k);

/*
 * io_access_fn for each of the three one-port ranges. Wider accesses act on
 * the byte register; reads fill the remaining bytes with 0xff.
 */
void i8042_data_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
void i8042_command_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
void i8042_scpa_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/*
 * Presses Ctrl, Alt and Del on the (otherwise absent) keyboard: their make
 * codes go to the output buffer one after the other as the guest reads them,
 * with IRQ 1, in scancode set 1 when the controller translates (CTR bit 6,
 * what Linux leaves set) and set 2 otherwise. Linux's atkbd takes them with
 * `i8042.dumbkbd` (no keyboard probe) and reboots. -EBUSY when the bytes of
 * an earlier press are still queued.
 */
int i8042_press_ctrl_alt_del(struct i8042 *k, struct vmon_error *err);

/*
 * The device model (kind "i8042", state struct i8042_state) for the object
 * i8042_init() set up: controller and port 0x92 together. reset: the state a
 * BIOS leaves (CTR 0x47, output port 0x03, A20 on), both IRQ lines driven
 * low; it never asks for a VM reset. restore: checks the flag bytes and the
 * pending command, then drives IRQ 1 and 12 to the levels the state implies.
 * No activity of its own (no pause/resume): it only answers the guest.
 */
extern const struct device_ops i8042_device_ops;
/* Its bus resources: ports 0x60, 0x64, 0x92 (one each), lines 1 and 12. Returns 5. */
unsigned i8042_resources(const struct i8042 *k, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
