/* SPDX-License-Identifier: MIT */
#ifndef VMON_UART_8250_H
#define VMON_UART_8250_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * 16550A UART (8250 family) on 8 I/O ports, as Linux's 8250 driver and the
 * early console expect it. Transmission is instantaneous: every byte written
 * to THR goes to the output callback at once, so THR and the TX FIFO are
 * always empty (LSR.THRE and LSR.TEMT always set) and the TX FIFO holds no
 * state. See docs/devices.md for the register-level behaviour.
 */

#define UART_8250_NPORTS    8
#define UART_8250_FIFO_SIZE 16

/* Register offsets from the base port. */
enum {
	UART_RBR = 0, /* read, DLAB=0: receive buffer */
	UART_THR = 0, /* write, DLAB=0: transmit holding */
	UART_DLL = 0, /* DLAB=1: divisor latch low */
	UART_IER = 1, /* DLAB=0: interrupt enable */
	UART_DLM = 1, /* DLAB=1: divisor latch high */
	UART_IIR = 2, /* read: interrupt identification */
	UART_FCR = 2, /* write: FIFO control */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

/* Register bits (PC16550D datasheet names). */
#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* THR empty */
#define UART_IER_ELSI  0x04 /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_CTI    0x0c /* character timeout */
#define UART_IIR_FIFO   0xc0 /* both bits set when FIFOs are enabled */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_DMA      0x08
#define UART_FCR_TRIGGER  0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR    0x01
#define UART_LSR_OE    0x02
#define UART_LSR_PE    0x04
#define UART_LSR_FE    0x08
#define UART_LSR_BI    0x10
#define UART_LSR_THRE  0x20
#define UART_LSR_TEMT  0x40
#define UART_LSR_FIFOE 0x80

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

/*
 * Everything the guest can observe; plain data (the snapshot), 28 bytes with
 * no padding. Bump UART_8250_STATE_VERSION when its layout or meaning changes.
 */
#define UART_8250_STATE_VERSION 1

struct uart_8250_state {
	uint8_t rx_fifo[UART_8250_FIFO_SIZE]; /* ring; capacity 1 (the RBR) while FIFOs are off */
	uint8_t rx_head;                      /* index of the oldest byte */
	uint8_t rx_count;
	uint8_t ier;
	uint8_t fcr;     /* ENABLE, DMA and trigger bits as last programmed */
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr;     /* error bits (OE); DR, THRE, TEMT are derived on read */
	uint8_t msr;     /* modem status lines (high nibble) and delta bits (low nibble) */
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	uint8_t thre_pending; /* THRE interrupt latched (cleared by IIR read / THR write) */
};

struct uart_8250_callbacks {
	/* Bytes the guest transmitted (not called in loopback mode). */
	void (*output)(void *ctx, const uint8_t *buf, size_t len);
	/* The guest drained RX FIFO space; uart_8250_receive() will accept more. May be NULL. */
	void (*rx_space_available)(void *ctx);
	void *ctx;
};

/*
 * Locking: one mutex guards the state; vCPU threads (port access), the input
 * thread (uart_8250_receive) and save/restore/reset/pause/resume take it. output() and the host's
 * set_irq() are called with the mutex held, so they must not call back into
 * this UART; rx_space_available() is called with no lock held and may call
 * uart_8250_receive().
 */
struct uart_8250 {
	struct uart_8250_state s;
	const struct device_host *host;
	struct uart_8250_callbacks cb;
	uint16_t base;
	unsigned gsi;
	int irq_level; /* level last driven on gsi, to skip redundant updates */
	bool paused;   /* between pause and resume: host input is held back */
	pthread_mutex_t lock;
	/* Counters (metrics): bumped under lock, read by any thread without it (relaxed atomics). */
	_Atomic uint64_t tx_bytes;   /* bytes the guest transmitted to the line (not in loopback) */
	_Atomic uint64_t rx_bytes;   /* received bytes the guest read out of RBR */
};

/* Resets the UART and registers ports base..base+7 on host->pio. */
int uart_8250_init(struct uart_8250 *u, const struct device_host *host, uint16_t base, unsigned gsi,
		   const struct uart_8250_callbacks *cb, struct vmon_error *err);
/* Frees the mutex; call after no thread can reach the UART any more. */
void uart_8250_destroy(struct uart_8250 *u);

/*
 * io_access_fn for the 8 ports. Accesses wider than one byte act on the byte
 * register at offset; reads fill the remaining bytes with 0xff.
 */
void uart_8250_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/*
 * Pushes host input into the RX FIFO. Returns how many bytes were taken: up to
 * the free FIFO space (one byte when FIFOs are off, none in loopback mode,
 * where the receiver is disconnected from the line). Never overruns.
 */
size_t uart_8250_receive(struct uart_8250 *u, const uint8_t *buf, size_t len);
/* Bytes uart_8250_receive() would accept now. */
size_t uart_8250_rx_space(struct uart_8250 *u);

/*
 * The device model (kind "uart-8250", state struct uart_8250_state); its
 * object is the struct uart_8250 set up by uart_8250_init(). reset: power-on
 * registers, IRQ line driven low. restore: checks every field (FIFO position
 * and fill, reserved register bits, MSR lines consistent with MCR) and drives
 * the IRQ line to the level the restored registers imply. pause: host input
 * is held back (uart_8250_receive() takes nothing, uart_8250_rx_space() is 0),
 * so no input raises an interrupt; resume calls rx_space_available when the
 * guest can take input, so the input thread retries. destroy: frees the mutex.
 */
extern const struct device_ops uart_8250_device_ops;
/* Its bus resources, for the registry and the allocator: ports base..base+7, line gsi. Returns 2. */
unsigned uart_8250_resources(const struct uart_8250 *u, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
