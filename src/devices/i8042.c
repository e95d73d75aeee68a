/* SPDX-License-Identifier: MIT */
#include "devices/i8042.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct i8042_state) == 48, "i8042_state has no padding");

/* Controller commands (written to 0x64). */
enum {
	CMD_READ_RAM = 0x20,     /* 0x20..0x3f: read RAM byte; 0x20 reads the CTR */
	CMD_WRITE_RAM = 0x60,    /* 0x60..0x7f: write RAM byte from the next data byte */
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_WRITE_KBD_OBUF = 0xd2, /* loop a byte back as if the keyboard sent it */
	CMD_WRITE_AUX_OBUF = 0xd3, /* loop a byte back as if the mouse sent it */
	CMD_WRITE_AUX = 0xd4,      /* send the next data byte to the mouse */
	CMD_PULSE = 0xf0,          /* 0xf0..0xff: pulse output-port bits 0-3 whose mask bit is 0 */
};

#define SELF_TEST_OK    0x55
#define INTERFACE_OK    0x00
#define DEVICE_NAK      0xfe /* what the controller reports when no device answers */

/* What a PC BIOS leaves in the CTR: both interrupts on, POST passed, scancode translation. */
#define CTR_RESET (I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYS | I8042_CTR_XLATE)

static uint8_t *ctr(struct i8042_state *s)
{
	return &s->ram[0];
}

/* One byte in the output buffer; a single byte register, like the real part. */
static void output(struct i8042_state *s, uint8_t val, bool aux, bool timeout)
{
	s->out_data = val;
	s->out_full = 1;
	s->out_aux = aux;
	s->out_timeout = timeout;
}

/* The next queued keyboard byte into the empty output buffer, unless the keyboard side is disabled. */
static void feed_keyboard(struct i8042_state *s)
{
	if (s->out_full || !s->kbd_count || (*ctr(s) & I8042_CTR_KBDDIS))
		return;
	output(s, s->kbd_queue[0], false, false);
	memmove(s->kbd_queue, s->kbd_queue + 1, --s->kbd_count);
}

static void update_irq(struct i8042 *k)
{
	struct i8042_state *s = &k->s;

	feed_keyboard(s);
	int kbd = s->out_full && !s->out_aux && (*ctr(s) & I8042_CTR_KBDINT);
	int aux = s->out_full && s->out_aux && (*ctr(s) & I8042_CTR_AUXINT);

	if (kbd != k->irq_level[0]) {
		k->irq_level[0] = kbd;
		device_set_irq(k->host, I8042_IRQ_KBD, kbd);
	}
	if (aux != k->irq_level[1]) {
		k->irq_level[1] = aux;
		device_set_irq(k->host, I8042_IRQ_AUX, aux);
	}
}

static void bump(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static void request_reset(struct i8042 *k)
{
	bump(&k->resets);
	device_request_stop(k->host, VM_STOP_RESET, 0);
}

static void command(struct i8042 *k, uint8_t cmd)
{
	struct i8042_state *s = &k->s;

	s->pending_cmd = 0;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + 0x20) {
		output(s, s->ram[cmd & 0x1f], false, false);
		return;
	}
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
		s->pending_cmd = cmd;
		return;
	}
	if (cmd >= CMD_PULSE) {
		/* Bit 0 of the mask low pulses the CPU reset line; 0xFE is the classic reboot. */
		if (!(cmd & I8042_OUT_RESET))
			request_reset(k);
		return;
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		*ctr(s) |= I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		*ctr(s) &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case CMD_KBD_DISABLE:
		*ctr(s) |= I8042_CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		*ctr(s) &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		/* Nothing plugged in: clock and data lines float high, which tests good. */
		output(s, INTERFACE_OK, false, false);
		break;
	case CMD_SELF_TEST:
		*ctr(s) |= I8042_CTR_SYS; /* a passed self-test sets the system flag */
		output(s, SELF_TEST_OK, false, false);
		break;
	case CMD_READ_OUTPORT: {
		uint8_t val = s->outport & (uint8_t)~(I8042_OUT_KBD_OBF | I8042_OUT_AUX_OBF);
		if (s->out_full)
			val |= s->out_aux ? I8042_OUT_AUX_OBF : I8042_OUT_KBD_OBF;
		output(s, val, false, false);
		break;
	}
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		s->pending_cmd = cmd;
		break;
	default:
		/* Vendor and obsolete commands (password, input port, ...): ignored, no reply. */
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t val)
{
	struct i8042_state *s = &k->s;
	uint8_t cmd = s->pending_cmd;

	s->pending_cmd = 0;
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
		s->ram[cmd & 0x1f] = val;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		s->outport = val;
		if (!(val & I8042_OUT_RESET))
			request_reset(k);
		break;
	case CMD_WRITE_KBD_OBUF:
		output(s, val, false, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		output(s, val, true, false);
		break;
	case CMD_WRITE_AUX:
		/* No mouse: the transmission times out and the controller NAKs. */
		output(s, DEVICE_NAK, true, true);
		break;
	default:
		/* A byte for the keyboard, which is not there either. */
		output(s, DEVICE_NAK, false, true);
		break;
	}
}

static uint8_t status(struct i8042_state *s)
{
	uint8_t val = I8042_STR_KEYLOCK;

	if (*ctr(s) & I8042_CTR_SYS)
		val |= I8042_STR_SYS;
	if (s->last_was_cmd)
		val |= I8042_STR_CMDDAT;
	if (s->out_full) {
		val |= I8042_STR_OBF;
		if (s->out_aux)
			val |= I8042_STR_AUXDATA;
		if (s->out_timeout)
			val |= I8042_STR_TIMEOUT;
	}
	return val;
}

int i8042_press_ctrl_alt_del(struct i8042 *k, struct vmon_error *err)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53 };  /* LCtrl, LAlt, Delete (extended) */
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71 };
	int r = 0;

	pthread_mutex_lock(&k->lock);
	const uint8_t *codes = (*ctr(&k->s) & I8042_CTR_XLATE) ? set1 : set2;
	if (k->s.kbd_count + sizeof(set1) > I8042_KBD_QUEUE) {
		r = error_set(err, -EBUSY, "i8042: the guest has not read the last key presses yet");
	} else {
		memcpy(k->s.kbd_queue + k->s.kbd_count, codes, sizeof(set1));
		k->s.kbd_count += sizeof(set1);
		feed_keyboard(&k->s);
		update_irq(k);
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

static void finish_read(uint8_t *data, unsigned size, uint8_t val)
{
	data[0] = val;
	if (size > 1)
		memset(data + 1, 0xff, size - 1);
}

void i8042_data_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct i8042 *k = dev;

	(void)offset; /* one-port range */
	if (size == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->s.last_was_cmd = 0;
		data_write(k, data[0]);
		bump(&k->writes);
	} else {
		/* Reading an empty buffer returns the previous byte again. */
		finish_read(data, size, k->s.out_data);
		bump(&k->reads);
		k->s.out_full = 0;
		/* IRQ 1 is edge-triggered at the IOAPIC: lower it so a queued byte raises it anew. */
		if (k->irq_level[0] == 1) {
			k->irq_level[0] = 0;
			device_set_irq(k->host, I8042_IRQ_KBD, 0);
		}
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_command_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct i8042 *k = dev;

	(void)offset; /* one-port range */
	if (size == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->s.last_was_cmd = 1;
		command(k, data[0]);
		bump(&k->writes);
		update_irq(k);
	} else {
		finish_read(data, size, status(&k->s));
	}
	pthread_mutex_unlock(&k->lock);
}

void i8042_scpa_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct i8042 *k = dev;

	(void)offset; /* one-port range */
	if (size == 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		uint8_t old = k->s.scpa;
		/* Bit 1 gates A20 (stored only: KVM never wraps addresses). Bit 0 rising = fast reset. */
		k->s.scpa = data[0];
		if ((data[0] & 1) && !(old & 1))
			request_reset(k);
	} else {
		finish_read(data, size, k->s.scpa);
	}
	pthread_mutex_unlock(&k->lock);
}

/* What a PC BIOS leaves behind. */
static void power_on(struct i8042_state *s)
{
	memset(s, 0, sizeof(*s));
	*ctr(s) = CTR_RESET;
	s->outport = I8042_OUT_RESET | I8042_OUT_A20;
	s->scpa = I8042_OUT_A20; /* A20 enabled, as firmware leaves it */
}

int i8042_init(struct i8042 *k, const struct device_host *host, struct vmon_error *err)
{
	static const struct {
		uint16_t port;
		const char *name;
		io_access_fn fn;
	} ports[] = {
		{ I8042_PORT_DATA, "i8042-data", i8042_data_access },
		{ I8042_PORT_COMMAND, "i8042-command", i8042_command_access },
		{ I8042_PORT_SCPA, "system-control-a", i8042_scpa_access },
	};
	int ret;

	memset(k, 0, sizeof(*k));
	k->host = host;
	power_on(&k->s);
	ret = pthread_mutex_init(&k->lock, NULL);
	if (ret)
		return error_set(err, -ret, "i8042: mutex: %s", strerror(ret));
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		ret = io_bus_register(host->pio, ports[i].port, 1, ports[i].name, ports[i].fn, k, err);
		if (ret) {
			/* The bus cannot unregister; registration happens once at start-up and failure is fatal. */
			pthread_mutex_destroy(&k->lock);
			return ret;
		}
	}
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

unsigned i8042_resources(const struct i8042 *k, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	(void)k;
	res[0] = (struct device_resource){ DEVICE_RES_PIO, I8042_PORT_DATA, 1 };
	res[1] = (struct device_resource){ DEVICE_RES_PIO, I8042_PORT_COMMAND, 1 };
	res[2] = (struct device_resource){ DEVICE_RES_PIO, I8042_PORT_SCPA, 1 };
	res[3] = (struct device_resource){ DEVICE_RES_IRQ, I8042_IRQ_KBD, 1 };
	res[4] = (struct device_resource){ DEVICE_RES_IRQ, I8042_IRQ_AUX, 1 };
	return 5;
}

/* ---- device model ----------------------------------------------------------- */

/* Drives both lines to the levels the state implies, whatever was driven before. */
static void redrive_irqs(struct i8042 *k)
{
	k->irq_level[0] = k->irq_level[1] = -1;
	update_irq(k);
}

static void i8042_reset(void *dev)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	power_on(&k->s);
	redrive_irqs(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_save(void *dev, void *state)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	memcpy(state, &k->s, sizeof(k->s));
	pthread_mutex_unlock(&k->lock);
}

/* A command the controller can be left waiting on for its data byte. */
static bool is_pending_command(uint8_t cmd)
{
	return cmd == 0 || (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) || cmd == CMD_WRITE_OUTPORT ||
	       cmd == CMD_WRITE_KBD_OBUF || cmd == CMD_WRITE_AUX_OBUF || cmd == CMD_WRITE_AUX;
}

static int check_state(const struct i8042_state *s, struct vmon_error *err)
{
	const struct {
		const char *name;
		uint8_t val;
	} flags[] = {
		{ "out_full", s->out_full },
		{ "out_aux", s->out_aux },
		{ "out_timeout", s->out_timeout },
		{ "last_was_cmd", s->last_was_cmd },
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].val > 1)
			return error_set(err, -EINVAL, "i8042 state: %s %u is not 0 or 1", flags[i].name, flags[i].val);
	if (s->kbd_count > I8042_KBD_QUEUE)
		return error_set(err, -EINVAL, "i8042 state: kbd_count %u is over %u", s->kbd_count, I8042_KBD_QUEUE);
	if (!is_pending_command(s->pending_cmd))
		return error_set(err, -EINVAL, "i8042 state: pending_cmd 0x%02x takes no data byte", s->pending_cmd);
	/* ram, outport, out_data and scpa hold whatever the guest wrote: every value is valid. */
	return 0;
}

static int i8042_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct i8042 *k = dev;
	struct i8042_state s;

	memcpy(&s, state, sizeof(s));
	if (check_state(&s, err))
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	k->s = s;
	redrive_irqs(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_destroy_dev(void *dev)
{
	i8042_destroy(dev);
}

const struct device_ops i8042_device_ops = {
	.kind = "i8042",
	.state_version = I8042_STATE_VERSION,
	.state_size = sizeof(struct i8042_state),
	.reset = i8042_reset,
	.save = i8042_save,
	.restore = i8042_restore,
	.destroy = i8042_destroy_dev,
};
