/* SPDX-License-Identifier: MIT */
#include "devices/uart_8250.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct uart_8250_state) == 28, "uart_8250_state has no padding");

/* Divisor 12 = 9600 baud from the 1.8432 MHz PC clock; the datasheet leaves it undefined at reset. */
#define UART_DEFAULT_DIVISOR 12

static unsigned rx_capacity(const struct uart_8250_state *s)
{
	return (s->fcr & UART_FCR_ENABLE) ? UART_8250_FIFO_SIZE : 1;
}

static void rx_clear(struct uart_8250_state *s)
{
	s->rx_count = 0;
}

/*
 * Hardware flow control, as a host with RTS/CTS on would do it: host input is
 * held back until the guest raises RTS (drivers do when the port is opened and
 * after programming FCR), so input piped in before the guest is ready is
 * neither dropped by a FIFO reset nor lost to a driver not yet listening.
 * Loopback disconnects the receiver from the line.
 */
static bool host_may_send(const struct uart_8250_state *s)
{
	return (s->mcr & UART_MCR_RTS) && !(s->mcr & UART_MCR_LOOP);
}

static bool rx_push(struct uart_8250_state *s, uint8_t byte)
{
	if (s->rx_count >= rx_capacity(s))
		return false;
	s->rx_fifo[(s->rx_head + s->rx_count) % UART_8250_FIFO_SIZE] = byte;
	s->rx_count++;
	return true;
}

static uint8_t rx_pop(struct uart_8250_state *s)
{
	uint8_t byte = s->rx_fifo[s->rx_head % UART_8250_FIFO_SIZE];

	s->rx_head = (uint8_t)((s->rx_head + 1) % UART_8250_FIFO_SIZE);
	s->rx_count--;
	return byte;
}

/* FCR bits 7:6 select how many bytes raise "received data available". */
static unsigned rx_trigger(const struct uart_8250_state *s)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return levels[(s->fcr & UART_FCR_TRIGGER) >> 6];
}

/*
 * The modem input lines. Outside loopback the host end looks like a connected
 * modem (DCD, DSR, CTS asserted, no ring). In loopback the four MCR outputs
 * feed the inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (datasheet 8.6).
 */
static uint8_t modem_inputs(const struct uart_8250_state *s)
{
	uint8_t in = 0;

	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (s->mcr & UART_MCR_DTR)
		in |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_RTS)
		in |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_OUT1)
		in |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		in |= UART_MSR_DCD;
	return in;
}

/* Latches delta bits for every input that changed; TERI only on RI's trailing edge. */
static void update_msr(struct uart_8250_state *s)
{
	uint8_t old = s->msr & 0xf0, in = modem_inputs(s), changed = old ^ in;
	uint8_t delta = s->msr & 0x0f;

	if (changed & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(in & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	if (changed & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	s->msr = in | delta;
}

/*
 * The highest-priority pending and enabled interrupt (datasheet table 4).
 * There is no real time, so the character timeout (IIR 0xC) is reported
 * whenever the RX FIFO holds data below the trigger level.
 */
static uint8_t pending_interrupt(const struct uart_8250_state *s)
{
	if ((s->ier & UART_IER_ELSI) && (s->lsr & (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_ERBFI) && s->rx_count) {
		if (!(s->fcr & UART_FCR_ENABLE) || s->rx_count >= rx_trigger(s))
			return UART_IIR_RDI;
		return UART_IIR_CTI;
	}
	if ((s->ier & UART_IER_ETBEI) && s->thre_pending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_EDSSI) && (s->msr & 0x0f))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/*
 * The INTR pin reaches the PIC through a buffer enabled by OUT2 on a PC. In
 * loopback the OUT2 pin is forced inactive (datasheet 8.6), so no IRQ either.
 */
static void update_irq(struct uart_8250 *u)
{
	const struct uart_8250_state *s = &u->s;
	int level = pending_interrupt(s) != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2) &&
		    !(s->mcr & UART_MCR_LOOP);

	if (level != u->irq_level) {
		u->irq_level = level;
		device_set_irq(u->host, u->gsi, level);
	}
}

/* A byte leaves the shift register; in loopback it arrives at the receiver instead of the line. */
static void transmit(struct uart_8250 *u, uint8_t byte)
{
	struct uart_8250_state *s = &u->s;

	if (!(s->mcr & UART_MCR_LOOP)) {
		u->cb.output(u->cb.ctx, &byte, 1);
		atomic_fetch_add_explicit(&u->tx_bytes, 1, memory_order_relaxed);
		return;
	}
	if (rx_push(s, byte))
		return;
	/*
	 * Overrun. Without FIFOs the new character overwrites RBR; with FIFOs
	 * it is lost in the shift register and the FIFO is kept (datasheet 8.4).
	 */
	s->lsr |= UART_LSR_OE;
	if (!(s->fcr & UART_FCR_ENABLE))
		s->rx_fifo[s->rx_head % UART_8250_FIFO_SIZE] = byte;
}

static void write_fcr(struct uart_8250_state *s, uint8_t val, bool *space_freed)
{
	/* Switching the FIFOs on or off empties them (datasheet 8.5, FCR0). */
	if ((val ^ s->fcr) & UART_FCR_ENABLE) {
		rx_clear(s);
		*space_freed = true;
	}
	/* The other bits are only programmed while FCR0 is 1. */
	if (!(val & UART_FCR_ENABLE)) {
		s->fcr = 0;
		return;
	}
	if (val & UART_FCR_CLEAR_RX) {
		rx_clear(s);
		*space_freed = true;
	}
	/* TX FIFO reset: transmission is instantaneous, the TX FIFO is always empty. */
	s->fcr = val & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER);
}

static void reg_write(struct uart_8250 *u, unsigned reg, uint8_t val, bool *space_freed)
{
	struct uart_8250_state *s = &u->s;
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab) {
			s->dll = val;
			break;
		}
		/* Writing THR clears the THRE interrupt; the byte leaves at once, emptying THR again. */
		s->thre_pending = 0;
		transmit(u, val);
		s->thre_pending = 1;
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = val;
			break;
		}
		/*
		 * Enabling ETBEI while THR is empty raises THRE even if an IIR read
		 * had cleared it; Linux's start-up THRE test and console_write's
		 * IER restore rely on it. THR is always empty here.
		 */
		if ((val ^ s->ier) & UART_IER_ETBEI)
			s->thre_pending = (val & UART_IER_ETBEI) ? 1 : 0;
		s->ier = val & 0x0f; /* bits 7:4 are always 0 on a 16550A */
		break;
	case UART_FCR:
		write_fcr(s, val, space_freed);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR: {
		bool was_open = host_may_send(s);
		s->mcr = val & 0x1f;
		update_msr(s);
		/* Raising RTS or leaving loopback opens the line to host input. */
		if (!was_open && host_may_send(s))
			*space_freed = true;
		break;
	}
	case UART_LSR:
	case UART_MSR:
		/* Read-only (writes are a factory test mode on the real part). */
		break;
	case UART_SCR:
		s->scr = val;
		break;
	}
}

static uint8_t reg_read(struct uart_8250 *u, unsigned reg, bool *space_freed)
{
	struct uart_8250_state *s = &u->s;
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t val = 0;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			return s->dll;
		if (s->rx_count) {
			val = rx_pop(s);
			*space_freed = true;
			atomic_fetch_add_explicit(&u->rx_bytes, 1, memory_order_relaxed);
		} else {
			/* An empty RBR still holds the last character received. */
			val = s->rx_fifo[(s->rx_head + UART_8250_FIFO_SIZE - 1) % UART_8250_FIFO_SIZE];
		}
		return val;
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		val = pending_interrupt(s);
		/* Reading IIR clears THRE when it is the interrupt reported. */
		if (val == UART_IIR_THRI)
			s->thre_pending = 0;
		if (s->fcr & UART_FCR_ENABLE)
			val |= UART_IIR_FIFO;
		return val;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		/*
		 * PE, FE and BI cannot happen on a virtual line, so FIFOE (an
		 * error byte in the FIFO) stays clear. Reading clears the errors.
		 */
		val = (s->lsr & (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)) | UART_LSR_THRE |
		      UART_LSR_TEMT;
		if (s->rx_count)
			val |= UART_LSR_DR;
		s->lsr &= (uint8_t)~(UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI);
		return val;
	case UART_MSR:
		val = s->msr;
		s->msr &= 0xf0; /* delta bits clear on read */
		return val;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

/* Registers as after a hardware reset (the divisor, undefined there, is 9600 baud). */
static void power_on(struct uart_8250_state *s)
{
	memset(s, 0, sizeof(*s));
	s->dll = UART_DEFAULT_DIVISOR;
	s->msr = modem_inputs(s);
}

static size_t rx_space_locked(const struct uart_8250 *u)
{
	if (u->paused || !host_may_send(&u->s))
		return 0;
	return rx_capacity(&u->s) - u->s.rx_count;
}

void uart_8250_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct uart_8250 *u = dev;
	bool space_freed = false, notify;

	if (size == 0)
		return;
	if (offset >= UART_8250_NPORTS) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		reg_write(u, (unsigned)offset, data[0], &space_freed);
	} else {
		data[0] = reg_read(u, (unsigned)offset, &space_freed);
		if (size > 1)
			memset(data + 1, 0xff, size - 1);
	}
	update_irq(u);
	notify = space_freed && rx_space_locked(u) > 0;
	pthread_mutex_unlock(&u->lock);
	/* Outside the lock: the input thread may push more bytes from here. */
	if (notify && u->cb.rx_space_available)
		u->cb.rx_space_available(u->cb.ctx);
}

size_t uart_8250_receive(struct uart_8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	if (rx_space_locked(u) > 0) {
		while (n < len && rx_push(&u->s, buf[n]))
			n++;
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart_8250_rx_space(struct uart_8250 *u)
{
	size_t space;

	pthread_mutex_lock(&u->lock);
	space = rx_space_locked(u);
	pthread_mutex_unlock(&u->lock);
	return space;
}

int uart_8250_init(struct uart_8250 *u, const struct device_host *host, uint16_t base, unsigned gsi,
		   const struct uart_8250_callbacks *cb, struct vmon_error *err)
{
	int ret;

	if (!cb || !cb->output)
		return error_set(err, -EINVAL, "uart at port 0x%x: no output callback", base);
	if ((unsigned)base + UART_8250_NPORTS > 0x10000)
		return error_set(err, -EINVAL, "uart at port 0x%x: ports run past 0xffff", base);
	memset(u, 0, sizeof(*u));
	u->host = host;
	u->cb = *cb;
	u->base = base;
	u->gsi = gsi;
	power_on(&u->s);
	ret = pthread_mutex_init(&u->lock, NULL);
	if (ret)
		return error_set(err, -ret, "uart at port 0x%x: mutex: %s", base, strerror(ret));
	ret = io_bus_register(host->pio, base, UART_8250_NPORTS, "uart_8250", uart_8250_access, u, err);
	if (ret) {
		pthread_mutex_destroy(&u->lock);
		return ret;
	}
	return 0;
}

void uart_8250_destroy(struct uart_8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

unsigned uart_8250_resources(const struct uart_8250 *u, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	res[0] = (struct device_resource){ DEVICE_RES_PIO, u->base, UART_8250_NPORTS };
	res[1] = (struct device_resource){ DEVICE_RES_IRQ, u->gsi, 1 };
	return 2;
}

/* ---- device model ----------------------------------------------------------- */

/* Drives the line to the level the registers imply, whatever was driven before (a fresh host knows nothing). */
static void redrive_irq(struct uart_8250 *u)
{
	u->irq_level = -1;
	update_irq(u);
}

static void uart_reset(void *dev)
{
	struct uart_8250 *u = dev;

	pthread_mutex_lock(&u->lock);
	power_on(&u->s);
	redrive_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_save(void *dev, void *state)
{
	struct uart_8250 *u = dev;

	pthread_mutex_lock(&u->lock);
	memcpy(state, &u->s, sizeof(u->s));
	pthread_mutex_unlock(&u->lock);
}

/* Every field a guest could not have produced is refused, by name. */
static int check_state(const struct uart_8250_state *s, struct vmon_error *err)
{
	if (s->fcr & (uint8_t)~(UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER))
		return error_set(err, -EINVAL, "uart-8250 state: fcr 0x%02x has bits a 16550A does not keep", s->fcr);
	if (s->fcr && !(s->fcr & UART_FCR_ENABLE))
		return error_set(err, -EINVAL, "uart-8250 state: fcr 0x%02x has FIFO settings with the FIFOs off",
				 s->fcr);
	if (s->rx_head >= UART_8250_FIFO_SIZE)
		return error_set(err, -EINVAL, "uart-8250 state: rx_head %u is outside the %d-byte FIFO", s->rx_head,
				 UART_8250_FIFO_SIZE);
	if (s->rx_count > rx_capacity(s))
		return error_set(err, -EINVAL, "uart-8250 state: rx_count %u exceeds the receiver's %u bytes",
				 s->rx_count, rx_capacity(s));
	if (s->ier & 0xf0)
		return error_set(err, -EINVAL, "uart-8250 state: ier 0x%02x has bits 7:4 set", s->ier);
	if (s->mcr & 0xe0)
		return error_set(err, -EINVAL, "uart-8250 state: mcr 0x%02x has bits 7:5 set", s->mcr);
	if (s->lsr & (uint8_t)~UART_LSR_OE)
		return error_set(err, -EINVAL, "uart-8250 state: lsr 0x%02x: only overrun (0x02) is stored", s->lsr);
	if ((s->msr & 0xf0) != modem_inputs(s))
		return error_set(err, -EINVAL, "uart-8250 state: msr 0x%02x: lines 0x%02x do not follow mcr 0x%02x",
				 s->msr, s->msr & 0xf0, s->mcr);
	if (s->thre_pending > 1)
		return error_set(err, -EINVAL, "uart-8250 state: thre_pending %u is not 0 or 1", s->thre_pending);
	return 0;
}

static int uart_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct uart_8250 *u = dev;
	struct uart_8250_state s;
	bool notify;

	memcpy(&s, state, sizeof(s));
	if (check_state(&s, err))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->s = s;
	redrive_irq(u);
	notify = rx_space_locked(u) > 0;
	pthread_mutex_unlock(&u->lock);
	/* The restored guest may take input the input thread holds (never while paused: space is 0 then). */
	if (notify && u->cb.rx_space_available)
		u->cb.rx_space_available(u->cb.ctx);
	return 0;
}

static void uart_pause(void *dev)
{
	struct uart_8250 *u = dev;

	pthread_mutex_lock(&u->lock);
	u->paused = true;
	pthread_mutex_unlock(&u->lock);
}

static void uart_resume(void *dev)
{
	struct uart_8250 *u = dev;
	bool notify;

	pthread_mutex_lock(&u->lock);
	u->paused = false;
	notify = rx_space_locked(u) > 0;
	pthread_mutex_unlock(&u->lock);
	/* Input refused while paused is waiting in the input thread: tell it to try again. */
	if (notify && u->cb.rx_space_available)
		u->cb.rx_space_available(u->cb.ctx);
}

static void uart_destroy_dev(void *dev)
{
	uart_8250_destroy(dev);
}

const struct device_ops uart_8250_device_ops = {
	.kind = "uart-8250",
	.state_version = UART_8250_STATE_VERSION,
	.state_size = sizeof(struct uart_8250_state),
	.reset = uart_reset,
	.save = uart_save,
	.restore = uart_restore,
	.pause = uart_pause,
	.resume = uart_resume,
	.destroy = uart_destroy_dev,
};
