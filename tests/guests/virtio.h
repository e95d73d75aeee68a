/* SPDX-License-Identifier: MIT */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

/*
 * A minimal virtio-mmio version 2 driver for the test guests: discovery,
 * reset, feature negotiation, split virtqueues in static memory, chains,
 * notifications, bounded waits for used buffers, interrupts through the
 * 8259, config space, DEVICE_NEEDS_RESET. Guest-physical = virtual (start.S
 * identity-maps RAM), so buffer addresses are plain pointers.
 *
 * Waits are bounded by the CMOS RTC's seconds (or an iteration count where no
 * RTC answers): a device that never answers fails the guest with
 * VIRTIO_EXIT_TIMEOUT instead of hanging it.
 *
 * The virtio ABI comes from the Linux UAPI headers (no libc needed).
 */

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "lib.h"

/* vmon's windows: device n at VIRTIO_VMON_BASE + n * 4 KiB, GSI virtio_vmon_gsi[n]. */
#define VIRTIO_VMON_BASE   UINT64_C(0xd0000000)
#define VIRTIO_VMON_STRIDE UINT64_C(0x1000)
#define VIRTIO_VMON_SLOTS  8
#define VIRTIO_MMIO_MAGIC  0x74726976u   /* "virt" */
#define VIRTIO_MAX_DEVICES 8

/*
 * debug_exit codes shared by the virtio guests (each guest's own codes stay
 * below 90). Process status 2N+1: 181, 183, 185, 187, 189, 191.
 */
#define VIRTIO_EXIT_NO_DEVICE   90   /* no device of the wanted type, or a malformed virtio_mmio.device= */
#define VIRTIO_EXIT_BAD_DEVICE  91   /* not version 2, no VERSION_1, FEATURES_OK refused, queue unusable */
#define VIRTIO_EXIT_TIMEOUT     92   /* a used buffer (or the end of a reset) never came */
#define VIRTIO_EXIT_NEEDS_RESET 93   /* the device set DEVICE_NEEDS_RESET unexpectedly */
#define VIRTIO_EXIT_BAD_USED    94   /* used element with an unknown id or a length beyond the chain */
#define VIRTIO_EXIT_RING_FULL   95   /* no free descriptors (a guest bug) */

#define VIRTIO_TIMEOUT_S 5u         /* default bound of every wait */

#define VIRTIO_STATUS_NEEDS_RESET 0x40   /* VIRTIO_CONFIG_S_NEEDS_RESET */

struct virtio_dev {
	uint64_t base;              /* the 4 KiB (or 512-byte, QEMU) register window */
	unsigned int irq;           /* ISA IRQ / GSI */
	uint32_t device_id;         /* VIRTIO_ID_* */
	uint64_t offered;           /* device feature bits, read by virtio_negotiate() */
	uint64_t features;          /* negotiated */
	volatile uint32_t irqs;     /* interrupts taken (virtio_irq_attach) */
	volatile uint32_t irq_status_seen;   /* OR of InterruptStatus values acknowledged by the handler */
};

/*
 * One split virtqueue. Keep the struct across resets: its ring memory is
 * taken from a static pool once and reused by later virtq_setup() calls.
 */
#define VQ_MAX_SIZE 64u      /* the rings of one queue then fit one page */

struct vq {
	struct virtio_dev *dev;
	uint16_t index;
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint8_t *mem;               /* one page: desc at 0, avail at 1 KiB, used at 2 KiB */
	uint16_t free_head;
	uint16_t num_free;
	uint16_t avail_idx;         /* shadow of avail->idx */
	uint16_t kicked_idx;        /* avail_idx at the last notification (EVENT_IDX) */
	uint16_t last_used;         /* used entries consumed */
	bool event_idx;
	uint8_t chain_len[VQ_MAX_SIZE];   /* per head: descriptors in flight, 0 = free */
	uint32_t chain_bytes[VQ_MAX_SIZE];   /* per head: device-writable bytes */
};

/* One segment of a chain: device-readable (write = false) or device-writable. */
struct vq_seg {
	const volatile void *addr;
	uint32_t len;
	bool write;
};

enum vq_wait_result {
	VQ_WAIT_USED = 0,
	VQ_WAIT_TIMEOUT = 1,
	VQ_WAIT_NEEDS_RESET = 2,
};

/* ---- messages ------------------------------------------------------------ */

/* Prefix of the library's FAIL messages ("virtio_blk: FAIL: ..."); default "virtio". */
void virtio_set_guest_name(const char *name);
const char *virtio_guest_name(void);
__attribute__((noreturn, format(printf, 2, 3))) void virtio_fail(uint32_t code, const char *fmt, ...);
/*
 * Where virtio_fail sends its message when called at CPL 3, where the serial
 * port and the debug-exit port may be out of reach (some hosts give user mode
 * no port I/O whatever IOPL says): the sink gets the formatted message and
 * must print it and exit from ring 0. NULL (the default): no CPL 3 callers.
 */
typedef void (*virtio_fail_sink_fn)(uint32_t code, const char *message) __attribute__((noreturn));
void virtio_set_fail_sink(virtio_fail_sink_fn sink);
const char *virtio_id_name(uint32_t device_id);

/* ---- bounded waits ------------------------------------------------------- */

struct virtio_deadline {
	uint32_t seconds_left;
	uint32_t spins;
	uint8_t last_second;
	bool rtc;                    /* false: no RTC answered, count iterations instead */
};

void virtio_deadline_start(struct virtio_deadline *d, uint32_t seconds);
/* Call once per poll iteration; reads the RTC now and then. */
bool virtio_deadline_expired(struct virtio_deadline *d);

/* ---- registers and discovery -------------------------------------------- */

static inline uint32_t virtio_read(const struct virtio_dev *dev, uint32_t reg)
{
	return mmio_read32(dev->base + reg);
}

static inline void virtio_write(const struct virtio_dev *dev, uint32_t reg, uint32_t v)
{
	mmio_write32(dev->base + reg, v);
}

/*
 * The nth (0-based) device with device_id. Devices come from the
 * virtio_mmio.device=SIZE@BASE:IRQ words of the cmdline when there are any
 * (the same guest then runs under QEMU), else from vmon's 8 windows (magic
 * "virt" and a non-zero DeviceID). Fails the guest (VIRTIO_EXIT_NO_DEVICE)
 * when there is none, or VIRTIO_EXIT_BAD_DEVICE when it is not version 2.
 * Prints "virtio: found ..." lines.
 */
void virtio_find(const struct boot_info *bi, uint32_t device_id, unsigned int nth, struct virtio_dev *dev);

/* Writes 0 to Status and waits until it reads 0 (fails the guest on timeout). */
void virtio_reset(struct virtio_dev *dev);
/* The same without failing: false when Status never read back 0. */
bool virtio_try_reset(struct virtio_dev *dev);

/*
 * Reset, ACKNOWLEDGE, DRIVER, features = wanted & offered (VERSION_1 is always
 * asked for and must be offered), FEATURES_OK and its check. Fills
 * dev->offered and dev->features. Fails the guest when the device refuses.
 */
void virtio_negotiate(struct virtio_dev *dev, uint64_t wanted);
/* Sets DRIVER_OK (after the queues are set up). */
void virtio_driver_ok(struct virtio_dev *dev);
uint32_t virtio_status(const struct virtio_dev *dev);
bool virtio_needs_reset(const struct virtio_dev *dev);
/* Polls Status for DEVICE_NEEDS_RESET up to `seconds`; true when it came. */
bool virtio_wait_needs_reset(const struct virtio_dev *dev, uint32_t seconds);
static inline bool virtio_has_feature(const struct virtio_dev *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

/* Config space (offset from 0x100). 64-bit reads retry until ConfigGeneration is stable. */
uint8_t virtio_cfg8(const struct virtio_dev *dev, uint32_t off);
uint16_t virtio_cfg16(const struct virtio_dev *dev, uint32_t off);
uint32_t virtio_cfg32(const struct virtio_dev *dev, uint32_t off);
uint64_t virtio_cfg64(const struct virtio_dev *dev, uint32_t off);

/* Reads InterruptStatus and acknowledges what it says; returns it. */
uint32_t virtio_ack_interrupt(struct virtio_dev *dev);

/*
 * Interrupt-driven acknowledgement: the 8259 (remapped to 0x20) delivers
 * dev->irq (< 16) to a handler that reads InterruptStatus, acknowledges it
 * and counts (dev->irqs, dev->irq_status_seen). Unmasks the IRQs of every
 * attached device, puts the LAPIC in virtual-wire mode and sets IF: polling
 * continues as before, interrupts just arrive in between. Returns false (and
 * changes nothing) when the IRQ is not an 8259 input.
 */
bool virtio_irq_attach(struct virtio_dev *dev);

/* ---- virtqueues ---------------------------------------------------------- */

/*
 * Sets up queue `index` with min(size, QueueNumMax) entries (a power of 2),
 * rings zeroed, and sets QueueReady. Fails the guest when the queue does not
 * exist or is already ready. Uses EVENT_IDX when dev->features has it.
 */
void virtq_setup(struct vq *vq, struct virtio_dev *dev, uint16_t index, uint16_t size);

/*
 * Programs the queue registers with arbitrary ring addresses (the evil
 * guest's bad_ring) and sets QueueReady; nothing is checked or zeroed.
 */
void virtq_setup_raw(struct virtio_dev *dev, uint16_t index, uint16_t size, uint64_t desc, uint64_t avail,
		     uint64_t used);

/*
 * Adds a chain of n segments (readable ones first, as the spec requires) and
 * makes it available; returns its head. Fails the guest when the ring is full.
 * No notification: see vq_kick().
 */
uint16_t vq_add(struct vq *vq, const struct vq_seg *segs, unsigned int n);
/* Makes an already written descriptor chain available as is (no checks: the evil guest's). */
void vq_publish(struct vq *vq, uint16_t head);
/* Notifies the device unless it asked not to be (VRING_USED_F_NO_NOTIFY / avail_event). */
void vq_kick(struct vq *vq);
/* Writes index to QueueNotify, whatever the device asked. */
void virtio_notify(struct virtio_dev *dev, uint32_t index);

/*
 * Takes the next used element: true with *head and *len filled, the chain
 * freed. Fails the guest when the device returned an id that is not in
 * flight or wrote more than the chain's writable bytes.
 */
bool vq_get_used(struct vq *vq, uint16_t *head, uint32_t *len);
/* Polls for the next used element up to `seconds`, watching for DEVICE_NEEDS_RESET. */
enum vq_wait_result vq_try_wait_used(struct vq *vq, uint16_t *head, uint32_t *len, uint32_t seconds);
/* The same with VIRTIO_TIMEOUT_S, failing the guest on timeout or NEEDS_RESET; `what` names the request. */
void vq_wait_used(struct vq *vq, uint16_t *head, uint32_t *len, const char *what);

/* Adds the chain, kicks and waits for it; returns the bytes the device wrote. */
uint32_t vq_submit_wait(struct vq *vq, const struct vq_seg *segs, unsigned int n, const char *what);

static inline void virtio_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void compiler_barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

#endif
