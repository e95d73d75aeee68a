/* SPDX-License-Identifier: MIT */
#include "vmm/virtio_devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "virtio/balloon.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "base/log.h"

/*
 * A slot for the next device of this kind: its MMIO window and interrupt line
 * come from the machine's allocator, its name is KIND<n> ("virtio-blk0").
 */
static struct virtio_slot *new_slot(struct virtio_devices *d, const char *kind, enum virtio_transport_kind transport,
				    struct vmon_error *err)
{
	struct virtio_slot *slot;
	unsigned same_kind = 0;

	if (d->count >= X86_VIRTIO_MAX_DEVICES) {
		error_set(err, -E2BIG, "too many virtio devices: vmon has room for %d", X86_VIRTIO_MAX_DEVICES);
		return NULL;
	}
	for (unsigned i = 0; i < d->count; i++)
		same_kind += !strcmp(d->slots[i].kind, kind);
	slot = &d->slots[d->count];
	memset(slot, 0, sizeof(*slot));
	slot->kind = kind;
	snprintf(slot->name, sizeof(slot->name), "%s%u", kind, same_kind);
	slot->transport_kind = vm_config_transport(d->cfg, transport);
	if (slot->transport_kind == VIRTIO_TRANSPORT_PCI) {
		/* Device numbers in order from 1 (00:00.0 is the host bridge); BAR 0 from the PCI window. */
		if (!d->pci_count && resources_claim_mmio(d->resources, X86_PCI_ECAM_BASE, X86_PCI_ECAM_SIZE,
							  "pci-ecam", err))
			return NULL;
		slot->pci_dev = ++d->pci_count;
		if (resources_alloc_pci_bar(d->resources, VIRTIO_PCI_BAR_SIZE, slot->name, &slot->base, err))
			return NULL;
		return slot;
	}
	if (resources_alloc_mmio(d->resources, VIRTIO_MMIO_WINDOW, VIRTIO_MMIO_WINDOW, slot->name, &slot->base, err) ||
	    resources_alloc_irq(d->resources, slot->name, &slot->gsi, err))
		return NULL;
	return slot;
}

static void destroy_blk(void *m) { virtio_blk_destroy(m); }
static void destroy_net(void *m) { virtio_net_destroy(m); }
static void stop_net(void *m) { virtio_net_stop(m); }
static void destroy_rng(void *m) { virtio_rng_destroy(m); }
static void destroy_console(void *m) { virtio_console_destroy(m); }
static void stop_balloon(void *m) { virtio_balloon_stop(m); }
static void destroy_balloon(void *m) { virtio_balloon_destroy(m); }
static void destroy_vsock(void *m) { virtio_vsock_destroy(m); }

static int open_drives(struct virtio_devices *d, const struct vm_config *cfg, struct vmon_error *err)
{
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		struct virtio_slot *slot = new_slot(d, "virtio-blk", cfg->drive_transport[i], err);
		struct virtio_blk *blk;
		if (!slot)
			return err->code;
		int r = virtio_blk_create(&blk, &slot->transport.vdev, &cfg->drives[i], i, err);
		if (!r && (r = virtio_blk_attach_loop(blk, &d->loop, err)))
			virtio_blk_destroy(blk);
		if (r) {
			error_prefix(err, "--drive");
			return r;
		}
		slot->ops = virtio_blk_device_ops(blk);
		slot->model = blk;
		slot->destroy_model = destroy_blk;
		d->count++;
	}
	return 0;
}

static int open_nets(struct virtio_devices *d, const struct vm_config *cfg, struct vmon_error *err)
{
	for (unsigned i = 0; i < cfg->nnets; i++) {
		struct virtio_slot *slot = new_slot(d, "virtio-net", cfg->net_transport[i], err);
		struct virtio_net *net;
		if (!slot)
			return err->code;
		int r = virtio_net_create(&net, &slot->transport.vdev, &d->loop, &cfg->nets[i], err);
		if (r) {
			error_prefix(err, "--net %s", cfg->nets[i].backend == NET_BACKEND_USER ? "user" : "tap");
			return r;
		}
		slot->ops = &virtio_net_ops;
		slot->model = net;
		slot->stop_model = stop_net;
		slot->destroy_model = destroy_net;
		d->count++;
	}
	return 0;
}

static int open_rng(struct virtio_devices *d, const struct vm_config *cfg, struct vmon_error *err)
{
	struct virtio_slot *slot = new_slot(d, "virtio-rng", VIRTIO_TRANSPORT_DEFAULT, err);
	struct virtio_rng *rng;

	if (!slot)
		return err->code;
	int r = virtio_rng_create(&rng, &slot->transport.vdev, &cfg->rng_rate_limiter, err);
	if (!r && (r = virtio_rng_attach_loop(rng, &d->loop, err)))
		virtio_rng_destroy(rng);
	if (r) {
		error_prefix(err, "--rng");
		return r;
	}
	slot->ops = &virtio_rng_ops;
	slot->model = rng;
	slot->destroy_model = destroy_rng;
	d->count++;
	return 0;
}

static int open_console(struct virtio_devices *d, const char *path, struct vmon_error *err)
{
	struct virtio_slot *slot = new_slot(d, "virtio-console", VIRTIO_TRANSPORT_DEFAULT, err);
	struct virtio_console *con;

	if (!slot)
		return err->code;
	int r = virtio_console_create(&con, &slot->transport.vdev, &d->loop, path, err);
	if (r) {
		error_prefix(err, "--vconsole socket=%s", path);
		return r;
	}
	slot->ops = &virtio_console_ops;
	slot->model = con;
	slot->destroy_model = destroy_console;
	d->count++;
	return 0;
}

static int open_balloon(struct virtio_devices *d, const struct balloon_config *cfg, struct vmon_error *err)
{
	struct virtio_slot *slot = new_slot(d, "virtio-balloon", VIRTIO_TRANSPORT_DEFAULT, err);
	struct virtio_balloon *b;

	if (!slot)
		return err->code;
	int r = virtio_balloon_create(&b, &slot->transport.vdev, &d->loop, cfg, err);
	if (r) {
		error_prefix(err, "--balloon");
		return r;
	}
	slot->ops = virtio_balloon_device_ops(b);
	slot->model = b;
	slot->stop_model = stop_balloon;
	slot->destroy_model = destroy_balloon;
	d->count++;
	return 0;
}

static int open_vsock(struct virtio_devices *d, const struct vm_config *cfg, struct vmon_error *err)
{
	struct virtio_slot *slot = new_slot(d, "virtio-vsock", VIRTIO_TRANSPORT_DEFAULT, err);
	struct virtio_vsock *vs;

	if (!slot)
		return err->code;
	int r = virtio_vsock_create(&vs, &slot->transport.vdev, &d->loop, cfg->vsock_cid, cfg->vsock_uds_path, err);
	if (r) {
		error_prefix(err, "vsock cid=%llu,uds=%s", (unsigned long long)cfg->vsock_cid, cfg->vsock_uds_path);
		return r;
	}
	slot->ops = &virtio_vsock_ops;
	slot->model = vs;
	slot->destroy_model = destroy_vsock;
	d->count++;
	return 0;
}

struct virtio_balloon *virtio_devices_balloon(const struct virtio_devices *d)
{
	for (unsigned i = 0; d && i < d->count; i++)
		if (!strcmp(d->slots[i].kind, "virtio-balloon"))
			return d->slots[i].model;
	return NULL;
}

int virtio_devices_open(struct virtio_devices *d, const struct vm_config *cfg, struct resources *pool,
			struct vmon_error *err)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->resources = pool;
	d->cfg = cfg;
	if (!cfg->ndrives && !cfg->nnets && !cfg->rng && !cfg->vconsole_socket && !cfg->balloon.enabled &&
	    !cfg->vsock_uds_path)
		return 0;    /* no devices, no I/O thread */
	if ((r = event_loop_init(&d->loop, err)))
		return r;
	d->loop_ready = true;
	if ((r = open_drives(d, cfg, err)) || (r = open_nets(d, cfg, err)) ||
	    (cfg->rng && (r = open_rng(d, cfg, err))) ||
	    (cfg->vconsole_socket && (r = open_console(d, cfg->vconsole_socket, err))) ||
	    (cfg->balloon.enabled && (r = open_balloon(d, &cfg->balloon, err))) ||
	    (cfg->vsock_uds_path && (r = open_vsock(d, cfg, err)))) {
		virtio_devices_close(d);
		return r;
	}
	return 0;
}

int virtio_devices_linux_args(const struct virtio_devices *d, char *buf, size_t size)
{
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	for (unsigned i = 0; i < d->count; i++) {
		if (d->slots[i].transport_kind != VIRTIO_TRANSPORT_MMIO)
			continue;
		/* 4K@0x...:N — the form drivers/virtio/virtio_mmio.c parses (no transport needed yet). */
		int n = snprintf(buf + used, size - used, "%svirtio_mmio.device=4K@0x%llx:%u", used ? " " : "",
				 (unsigned long long)d->slots[i].base, d->slots[i].gsi);
		if (n < 0 || (size_t)n >= size - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

static const struct device_ops *registry_ops(const char *kind)
{
	if (!strcmp(kind, "virtio-blk"))
		return &virtio_blk_registry_ops;
	if (!strcmp(kind, "virtio-net"))
		return &virtio_net_registry_ops;
	if (!strcmp(kind, "virtio-rng"))
		return &virtio_rng_registry_ops;
	if (!strcmp(kind, "virtio-balloon"))
		return &virtio_balloon_registry_ops;
	if (!strcmp(kind, "virtio-vsock"))
		return &virtio_vsock_registry_ops;
	return &virtio_console_registry_ops;
}

/* The PCI host bridge: its config mechanisms and memory window on the buses, its state in reg. */
static int attach_pci_host(struct virtio_devices *d, const struct device_host *host, struct device_registry *reg,
			   struct vmon_error *err)
{
	const struct device_resource res[] = {
		{ DEVICE_RES_PIO, X86_PORT_PCI_CONFIG, 8 },
		{ DEVICE_RES_MMIO, X86_PCI_ECAM_BASE, X86_PCI_ECAM_SIZE },
		{ DEVICE_RES_MMIO, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END - X86_PCI_MMIO_BASE },
	};
	int r;

	if ((r = pci_host_init(&d->pci_host, host->mem, X86_PCI_ECAM_BASE, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END, err)))
		return r;
	d->pci_host_ready = true;
	if ((r = pci_host_attach(&d->pci_host, host->pio, host->mmio, X86_PORT_PCI_CONFIG, err)) ||
	    (r = registry_add(reg, "pci-host", &pci_host_device_ops, &d->pci_host, res, 3, err)))
		return r;
	/* The allocator already holds the ECAM (new_slot) and the BARs inside the window: claim the ports. */
	if ((r = resources_claim_pio(d->resources, X86_PORT_PCI_CONFIG, 8, "pci-host", err)))
		return r;
	log_info("PCI host bridge: ECAM at 0x%llx, memory window 0x%llx-0x%llx, config ports 0x%x",
		 X86_PCI_ECAM_BASE, X86_PCI_MMIO_BASE, X86_PCI_MMIO_END - 1, X86_PORT_PCI_CONFIG);
	return 0;
}

static int attach_pci_slot(struct virtio_devices *d, struct virtio_slot *slot, const struct device_host *host,
			   struct device_registry *reg, struct vmon_error *err)
{
	char section[DEVICE_NAME_MAX];
	int r = virtio_pci_init(&slot->pci, &slot->transport.vdev, host, &d->pci_host, slot->pci_dev, &d->loop,
				slot->base, slot->ops, slot->model, err);

	if (r) {
		error_prefix(err, "%s at 00:%02x.0", slot->kind, slot->pci_dev);
		return r;
	}
	slot->attached = true;
	/* The transport's section first: a restore loads the vectors before the core re-sends what is owed. */
	const struct device_resource res[] = { { DEVICE_RES_MMIO, slot->base, VIRTIO_PCI_BAR_SIZE } };
	snprintf(section, sizeof(section), "%s-pci", slot->name);
	if ((r = registry_add(reg, section, &virtio_pci_device_ops, &slot->pci, res, 1, err)) ||
	    (r = registry_add(reg, slot->name, registry_ops(slot->kind), &slot->transport.vdev, NULL, 0, err)))
		return r;
	log_info("%s at PCI 00:%02x.0, BAR 0x%llx, MSI-X", slot->kind, slot->pci_dev, (unsigned long long)slot->base);
	return 0;
}

int virtio_devices_attach(struct virtio_devices *d, const struct device_host *host, struct device_registry *reg,
			  struct vmon_error *err)
{
	int r;

	if (d->pci_count && (r = attach_pci_host(d, host, reg, err)))
		return r;
	for (unsigned i = 0; i < d->count; i++) {
		struct virtio_slot *slot = &d->slots[i];
		if (slot->transport_kind == VIRTIO_TRANSPORT_PCI) {
			if ((r = attach_pci_slot(d, slot, host, reg, err)))
				return r;
			continue;
		}
		r = virtio_mmio_init(&slot->transport, host, &d->loop, slot->base, slot->gsi, slot->ops,
					 slot->model, err);
		if (r) {
			error_prefix(err, "%s at 0x%llx", slot->kind, (unsigned long long)slot->base);
			return r;
		}
		slot->attached = true;
		/*
		 * The registry saves, restores, pauses and resumes it; tear-down stays
		 * here (its order: I/O loop, backends, transports, models) and the
		 * registry's destroy is a no-op for virtio devices.
		 */
		const struct device_resource res[] = {
			{ DEVICE_RES_MMIO, slot->base, VIRTIO_MMIO_WINDOW },
			{ DEVICE_RES_IRQ, slot->gsi, 1 },
		};
		if ((r = registry_add(reg, slot->name, registry_ops(slot->kind), &slot->transport.vdev, res, 2, err)))
			return r;
		log_info("%s at 0x%llx, IRQ %u%s", slot->kind, (unsigned long long)slot->base, slot->gsi,
			 slot->transport.ioeventfd ? "" : " (notifications through vmon: no ioeventfd)");
	}
	return 0;
}

int virtio_devices_start(struct virtio_devices *d, struct vmon_error *err)
{
	return d->loop_ready ? event_loop_start(&d->loop, err) : 0;
}

void virtio_devices_stop(struct virtio_devices *d)
{
	if (d->loop_ready)
		event_loop_stop(&d->loop);
}

void virtio_devices_detach(struct virtio_devices *d)
{
	virtio_devices_stop(d);
	/* A backend thread (slirp) may still deliver into a transport: stop it before the transports go. */
	for (unsigned i = 0; i < d->count; i++)
		if (d->slots[i].attached && d->slots[i].stop_model)
			d->slots[i].stop_model(d->slots[i].model);
	for (unsigned i = 0; i < d->count; i++) {
		if (d->slots[i].attached && d->slots[i].transport_kind == VIRTIO_TRANSPORT_PCI)
			virtio_pci_destroy(&d->slots[i].pci);
		else if (d->slots[i].attached)
			virtio_mmio_destroy(&d->slots[i].transport);
		d->slots[i].attached = false;
	}
	if (d->pci_host_ready)
		pci_host_destroy(&d->pci_host);
	d->pci_host_ready = false;
}


void virtio_devices_close(struct virtio_devices *d)
{
	virtio_devices_detach(d);
	for (unsigned i = 0; i < d->count; i++)
		d->slots[i].destroy_model(d->slots[i].model);
	d->count = 0;
	if (d->loop_ready)
		event_loop_destroy(&d->loop);
	d->loop_ready = false;
}
