/* SPDX-License-Identifier: MIT */
#include "devices/pci_host.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/pci_regs.h>
#include <stdatomic.h>
#include <string.h>

#include "base/log.h"

/* Guest mistakes logged once per host (h->logged). */
enum {
	LOGGED_ECAM_ACCESS = 1u << 0,
	LOGGED_PORT_ACCESS = 1u << 1,
	LOGGED_WINDOW_MISS = 1u << 2,
	LOGGED_WINDOW_ACCESS = 1u << 3,
};


/* ---- config space helpers ------------------------------------------------------ */

void pci_config_set8(struct pci_function *f, uint32_t off, uint8_t v)
{
	f->config[off] = v;
}

void pci_config_set16(struct pci_function *f, uint32_t off, uint16_t v)
{
	memcpy(&f->config[off], &v, 2);   /* x86 hosts: little-endian like PCI */
}

void pci_config_set32(struct pci_function *f, uint32_t off, uint32_t v)
{
	memcpy(&f->config[off], &v, 4);
}

uint16_t pci_config_get16(const struct pci_function *f, uint32_t off)
{
	uint16_t v;

	memcpy(&v, &f->config[off], 2);
	return v;
}

uint32_t pci_config_get32(const struct pci_function *f, uint32_t off)
{
	uint32_t v;

	memcpy(&v, &f->config[off], 4);
	return v;
}

void pci_wmask_set16(struct pci_function *f, uint32_t off, uint16_t mask)
{
	memcpy(&f->wmask[off], &mask, 2);
}

void pci_wmask_set32(struct pci_function *f, uint32_t off, uint32_t mask)
{
	memcpy(&f->wmask[off], &mask, 4);
}

void pci_function_init_header(struct pci_function *f, uint16_t vendor, uint16_t device, uint32_t class_code,
			      uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	pci_config_set16(f, PCI_VENDOR_ID, vendor);
	pci_config_set16(f, PCI_DEVICE_ID, device);
	pci_config_set8(f, PCI_REVISION_ID, revision);
	pci_config_set8(f, PCI_CLASS_PROG, (uint8_t)class_code);
	pci_config_set16(f, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	pci_config_set8(f, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	pci_config_set16(f, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	pci_config_set16(f, PCI_SUBSYSTEM_ID, subsys_id);
	pci_wmask_set16(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
				       PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Status: the error bits are write-1-to-clear; nothing here ever sets them. */
	uint16_t w1c = PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
		       PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;
	memcpy(&f->w1cmask[PCI_STATUS], &w1c, 2);
	f->wmask[PCI_INTERRUPT_LINE] = 0xff;   /* scratch for the OS */
	f->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	f->wmask[PCI_LATENCY_TIMER] = 0xff;
	pci_config_set8(f, PCI_INTERRUPT_PIN, 0);
}

void pci_function_set_bar(struct pci_function *f, unsigned i, uint64_t size, bool is_64, uint64_t addr)
{
	uint32_t off = PCI_BASE_ADDRESS_0 + 4 * i;
	uint32_t flags = PCI_BASE_ADDRESS_SPACE_MEMORY |
			 (is_64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32);

	f->bar_size[i] = size;
	f->bar_64[i] = is_64;
	pci_config_set32(f, off, (uint32_t)addr | flags);
	pci_wmask_set32(f, off, (uint32_t)~(size - 1) & ~0xfu);
	if (is_64) {
		pci_config_set32(f, off + 4, (uint32_t)(addr >> 32));
		pci_wmask_set32(f, off + 4, (uint32_t)(~(size - 1) >> 32));
	}
}

/* ---- BAR decoding ----------------------------------------------------------------- */

static uint64_t bar_address(const struct pci_function *f, unsigned i)
{
	uint64_t addr = pci_config_get32(f, PCI_BASE_ADDRESS_0 + 4 * i) & PCI_BASE_ADDRESS_MEM_MASK;

	if (f->bar_64[i])
		addr |= (uint64_t)pci_config_get32(f, PCI_BASE_ADDRESS_0 + 4 * (i + 1)) << 32;
	return addr;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a <= b + blen - 1 && b <= a + alen - 1;
}

static bool over_ram(const struct guest_mem *mem, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; mem && i < mem->nregions; i++)
		if (ranges_overlap(addr, len, mem->regions[i].gpa, mem->regions[i].size))
			return true;
	return false;
}

static const char *refusal_text(enum pci_bar_refusal why)
{
	switch (why) {
	case PCI_BAR_OUTSIDE_WINDOW: return "lies outside the PCI memory window";
	case PCI_BAR_OVER_RAM: return "covers guest RAM";
	case PCI_BAR_OVER_ECAM: return "covers the ECAM window";
	case PCI_BAR_OVERLAP: return "overlaps another BAR";
	default: return "wraps around the address space";
	}
}

/* 0 when BAR i of f may be decoded at addr, given the BARs already decoded in this pass. */
static enum pci_bar_refusal check_bar(const struct pci_host *h, const struct pci_function *f, unsigned i,
				      uint64_t addr)
{
	uint64_t len = f->bar_size[i];

	if (addr + len - 1 < addr)
		return PCI_BAR_WRAPS;
	if (over_ram(h->mem, addr, len))
		return PCI_BAR_OVER_RAM;
	if (ranges_overlap(addr, len, h->ecam_base, (uint64_t)PCI_MAX_DEVICES * 8 * PCI_ECAM_FUNCTION_SIZE))
		return PCI_BAR_OVER_ECAM;
	if (addr < h->mmio_base || len > h->mmio_end - h->mmio_base || addr > h->mmio_end - len)   /* no overflow */
		return PCI_BAR_OUTSIDE_WINDOW;
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		const struct pci_function *o = h->functions[d];
		for (unsigned b = 0; o && b < PCI_NUM_BARS; b++)
			if (o->bar_decoded[b] && !(o == f && b == i) &&
			    ranges_overlap(addr, len, o->bar_addr[b], o->bar_size[b]))
				return PCI_BAR_OVERLAP;
	}
	return 0;
}

/*
 * Re-derives which BARs are decoded where, lock held for writing. Every BAR
 * is first taken down, then the candidates are placed in bus order, so the
 * result does not depend on the order of the guest's writes.
 */
static void update_bars_locked(struct pci_host *h)
{
	bool was[PCI_MAX_DEVICES][PCI_NUM_BARS];
	uint64_t was_at[PCI_MAX_DEVICES][PCI_NUM_BARS];

	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		struct pci_function *f = h->functions[d];
		for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
			was[d][b] = f && f->bar_decoded[b];
			was_at[d][b] = f ? f->bar_addr[b] : 0;
			if (f)
				f->bar_decoded[b] = false;
		}
	}
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		struct pci_function *f = h->functions[d];
		if (!f || !(pci_config_get16(f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
			continue;
		for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
			if (!f->bar_size[b])
				continue;
			uint64_t addr = bar_address(f, b);
			enum pci_bar_refusal why = check_bar(h, f, b, addr);
			if (why) {
				if (!(f->refusals_logged & why))
					log_warn("%s: BAR %u at 0x%" PRIx64 " (0x%" PRIx64 " bytes) %s; not decoded",
						 f->name, b, addr, f->bar_size[b], refusal_text(why));
				f->refusals_logged |= why;
				continue;
			}
			f->bar_decoded[b] = true;
			f->bar_addr[b] = addr;
		}
	}
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		struct pci_function *f = h->functions[d];
		for (unsigned b = 0; f && b < PCI_NUM_BARS; b++) {
			bool same = was[d][b] == f->bar_decoded[b] && (!was[d][b] || was_at[d][b] == f->bar_addr[b]);
			if (same || !f->ops->bar_mapped)
				continue;
			if (was[d][b])
				f->ops->bar_mapped(f->dev, b, was_at[d][b], false);
			if (f->bar_decoded[b])
				f->ops->bar_mapped(f->dev, b, f->bar_addr[b], true);
		}
	}
}

void pci_host_update_bars(struct pci_host *h)
{
	pthread_rwlock_wrlock(&h->lock);
	update_bars_locked(h);
	pthread_rwlock_unlock(&h->lock);
}

/* ---- config cycles ------------------------------------------------------------------ */

static bool touches(uint32_t off, unsigned size, uint32_t start, uint32_t len)
{
	return off < start + len && start < off + size;
}

/* One config access to bus 0, lock held for writing; offset/size already checked (aligned, in 4 KiB). */
static void config_cycle(struct pci_host *h, unsigned devfn, uint32_t off, uint8_t *data, unsigned size,
			 bool is_write)
{
	struct pci_function *f = (devfn & 7) ? NULL : h->functions[devfn >> 3];

	atomic_fetch_add_explicit(&h->config_accesses, 1, memory_order_relaxed);
	if (!f) {
		if (!is_write)
			memset(data, 0xff, size);   /* no function: master abort, all ones */
		return;
	}
	if (off >= PCI_CONFIG_SIZE) {
		if (!is_write)
			memset(data, 0, size);      /* conventional PCI function: no extended capabilities */
		return;
	}
	if (!is_write) {
		if (f->ops && f->ops->config_read)
			f->ops->config_read(f->dev, f, off, size);
		memcpy(data, &f->config[off], size);
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		uint8_t *b = &f->config[off + i];
		*b = (uint8_t)((*b & ~f->wmask[off + i]) | (data[i] & f->wmask[off + i]));
		*b &= (uint8_t)~(data[i] & f->w1cmask[off + i]);
	}
	if (f->ops && f->ops->config_write)
		f->ops->config_write(f->dev, f, off, size);
	if (touches(off, size, PCI_COMMAND, 2) || touches(off, size, PCI_BASE_ADDRESS_0, 4 * PCI_NUM_BARS))
		update_bars_locked(h);
}

static bool size_ok(uint64_t off, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && off % size == 0;
}

void pci_host_ecam_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = host;
	unsigned devfn = (unsigned)(offset >> 12) & 0xff;
	uint32_t reg = (uint32_t)(offset & 0xfff);

	pthread_rwlock_wrlock(&h->lock);
	if (offset >= (uint64_t)PCI_MAX_DEVICES * 8 * PCI_ECAM_FUNCTION_SIZE || !size_ok(reg, size)) {
		if (log_first_time(&h->logged, LOGGED_ECAM_ACCESS))
			log_debug("pci: %u-byte ECAM %s at 0x%" PRIx64 " (unaligned or past bus 0); ignored", size,
				  is_write ? "write" : "read", offset);
		if (!is_write)
			memset(data, 0xff, size);
	} else {
		config_cycle(h, devfn, reg, data, size, is_write);
	}
	pthread_rwlock_unlock(&h->lock);
}

void pci_host_port_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = host;

	pthread_rwlock_wrlock(&h->lock);
	if (offset < 4) {
		/* The address register: dword accesses only (byte writes to 0xcf8-0xcfb are mechanism #2's). */
		if (offset == 0 && size == 4) {
			if (is_write)
				memcpy(&h->config_address, data, 4), h->config_address &= 0x80fffffcu;
			else
				memcpy(data, &h->config_address, 4);
		} else if (!is_write) {
			memset(data, 0xff, size);
		}
	} else {
		uint32_t a = h->config_address;
		uint32_t reg = (a & 0xfc) + (uint32_t)(offset - 4);
		bool ok = size_ok(reg, size) && offset - 4 + size <= 4;

		if (!ok && log_first_time(&h->logged, LOGGED_PORT_ACCESS))
			log_debug("pci: %u-byte %s at port 0x%" PRIx64 " crosses the data dword; ignored", size,
				  is_write ? "write" : "read", 0xcf8 + offset);
		if (ok && (a & 0x80000000u) && ((a >> 16) & 0xff) == 0)
			config_cycle(h, (a >> 8) & 0xff, reg, data, size, is_write);
		else if (!is_write)
			memset(data, 0xff, size);   /* disabled, another bus, or a bad access */
	}
	pthread_rwlock_unlock(&h->lock);
}

void pci_host_window_access(void *host, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct pci_host *h = host;
	uint64_t addr = h->mmio_base + offset;

	pthread_rwlock_rdlock(&h->lock);
	for (unsigned d = 0; d < PCI_MAX_DEVICES; d++) {
		struct pci_function *f = h->functions[d];
		for (unsigned b = 0; f && b < PCI_NUM_BARS; b++) {
			if (!f->bar_decoded[b] || addr < f->bar_addr[b] || addr - f->bar_addr[b] >= f->bar_size[b])
				continue;
			uint64_t at = addr - f->bar_addr[b];
			if (size > f->bar_size[b] - at) {
				/* Runs past the BAR's end: hardware would split it; a guest has no reason to. */
				if (!is_write)
					memset(data, 0xff, size);
			} else {
				f->ops->bar_access(f->dev, b, at, data, size, is_write);
			}
			pthread_rwlock_unlock(&h->lock);
			return;
		}
	}
	pthread_rwlock_unlock(&h->lock);
	if (log_first_time(&h->logged, LOGGED_WINDOW_MISS))   /* racy flag, only a log */
		log_debug("pci: %s at 0x%" PRIx64 " hits no BAR; reads all ones", is_write ? "write" : "read", addr);
	if (!is_write)
		memset(data, 0xff, size);
}

/* ---- set-up -------------------------------------------------------------------------- */

int pci_host_init(struct pci_host *h, const struct guest_mem *mem, uint64_t ecam_base, uint64_t mmio_base,
		  uint64_t mmio_end, struct vmon_error *err)
{
	int r;

	memset(h, 0, sizeof(*h));
	if (mmio_end <= mmio_base || ecam_base % (1u << 20))
		return error_set(err, -EINVAL, "pci: window 0x%" PRIx64 "-0x%" PRIx64 " or ECAM 0x%" PRIx64
				 " is not valid", mmio_base, mmio_end, ecam_base);
	if ((r = pthread_rwlock_init(&h->lock, NULL)))
		return error_set(err, -r, "pci: rwlock: %s", strerror(r));
	h->lock_ready = true;
	h->mem = mem;
	h->ecam_base = ecam_base;
	h->mmio_base = mmio_base;
	h->mmio_end = mmio_end;
	pci_function_init_header(&h->bridge, PCI_HOST_VENDOR_ID, PCI_HOST_DEVICE_ID, 0x060000 /* bridge, host */, 0,
				 PCI_HOST_VENDOR_ID, PCI_HOST_DEVICE_ID);
	h->bridge.name = "pci-host-bridge";
	h->functions[0] = &h->bridge;
	return 0;
}

int pci_host_attach(struct pci_host *h, struct io_bus *pio, struct io_bus *mmio, uint16_t config_port,
		    struct vmon_error *err)
{
	int r;

	if ((r = io_bus_register(mmio, h->ecam_base, (uint64_t)PCI_MAX_DEVICES * 8 * PCI_ECAM_FUNCTION_SIZE,
				 "pci-ecam", pci_host_ecam_access, h, err)) ||
	    (r = io_bus_register(mmio, h->mmio_base, h->mmio_end - h->mmio_base, "pci-window",
				 pci_host_window_access, h, err)) ||
	    (r = io_bus_register(pio, config_port, 8, "pci-config", pci_host_port_access, h, err)))
		return r;
	return 0;
}

void pci_host_destroy(struct pci_host *h)
{
	if (h->lock_ready)
		pthread_rwlock_destroy(&h->lock);
	h->lock_ready = false;
}

int pci_host_add_function(struct pci_host *h, unsigned dev, struct pci_function *f, struct vmon_error *err)
{
	if (dev == 0 || dev >= PCI_MAX_DEVICES)
		return error_set(err, -EINVAL, "pci: device number %u (1 to %u)", dev, PCI_MAX_DEVICES - 1);
	if (h->functions[dev])
		return error_set(err, -EEXIST, "pci: 00:%02x.0 is taken by %s", dev, h->functions[dev]->name);
	if (!f->ops || !f->ops->bar_access)
		return error_set(err, -EINVAL, "pci: %s has no BAR handler", f->name);
	f->devfn = dev << 3;
	pthread_rwlock_wrlock(&h->lock);
	h->functions[dev] = f;
	update_bars_locked(h);
	pthread_rwlock_unlock(&h->lock);
	return 0;
}

/* ---- state ------------------------------------------------------------------------------ */

int pci_function_restore_config(struct pci_function *f, const uint8_t config[PCI_CONFIG_SIZE],
				struct vmon_error *err)
{
	for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++) {
		uint8_t fixed = (uint8_t)~(f->wmask[i] | f->w1cmask[i]);
		if ((config[i] & fixed) != (f->config[i] & fixed))
			return error_set(err, -EINVAL, "%s: config byte 0x%02x is 0x%02x; its read-only bits are 0x%02x",
					 f->name, i, config[i], f->config[i] & fixed);
	}
	memcpy(f->config, config, PCI_CONFIG_SIZE);
	return 0;
}

static void host_reset(void *dev)
{
	struct pci_host *h = dev;

	pthread_rwlock_wrlock(&h->lock);
	h->config_address = 0;
	pci_config_set16(&h->bridge, PCI_COMMAND, 0);
	pthread_rwlock_unlock(&h->lock);
}

static void host_save(void *dev, void *state)
{
	struct pci_host *h = dev;
	struct pci_host_state *s = state;

	memset(s, 0, sizeof(*s));
	s->config_address = h->config_address;
	memcpy(s->bridge_config, h->bridge.config, PCI_CONFIG_SIZE);
}

static int host_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct pci_host *h = dev;
	struct pci_host_state s;
	int r = 0;

	memcpy(&s, state, sizeof(s));
	if (s.reserved)
		return error_set(err, -EINVAL, "pci-host state: reserved is 0x%x, not 0", s.reserved);
	if (s.config_address & ~0x80fffffcu)
		return error_set(err, -EINVAL, "pci-host state: config_address 0x%x has reserved bits set",
				 s.config_address);
	pthread_rwlock_wrlock(&h->lock);
	if (!(r = pci_function_restore_config(&h->bridge, s.bridge_config, err)))
		h->config_address = s.config_address;
	pthread_rwlock_unlock(&h->lock);
	return r;
}

const struct device_ops pci_host_device_ops = {
	.kind = "pci-host",
	.state_version = PCI_HOST_STATE_VERSION,
	.state_size = sizeof(struct pci_host_state),
	.reset = host_reset,
	.save = host_save,
	.restore = host_restore,
};
