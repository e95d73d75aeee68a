/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_MACHINE_CONFIG_H
#define VMON_SNAPSHOT_MACHINE_CONFIG_H

#include "base/error.h"
#include "vmm/config.h"

/*
 * The machine description a snapshot carries (its "machine-config" section),
 * so that a new process rebuilds the same machine before the saved states go
 * in: RAM size, vCPUs, the host profile mode, and the devices in the order
 * they were created (drives, network interfaces, rng, virtio console), with
 * what their backends need to open again (image paths, TAP names, MACs,
 * forwarded ports). JSON (json-c), versioned; what only booting needs
 * (kernel, initrd, command line) is kept for the record.
 */
#define SNAPSHOT_CONFIG_VERSION 1

/* malloc'd JSON text, or NULL when out of memory. */
char *snapshot_config_encode(const struct vm_config *cfg);

/*
 * Fills cfg (vm_config_init'ed here; its strings live in cfg->text) from
 * text: 0, or -EINVAL with err naming the field ("machine-config: drives[1].path: ...").
 */
int snapshot_config_decode(const char *text, struct vm_config *cfg, struct vmon_error *err);

/* The API's name of the user-mode (libslirp) backend (fc_spec.h's FC_SPEC_USER_NET). */
#define SNAPSHOT_USER_NET "vmon:user"

/*
 * PUT /snapshot/load's network_overrides: the interface iface_id of the
 * decoded description gets another backend (a TAP interface, or the
 * user-mode network for "vmon:user"). 0, or -EINVAL naming the problem
 * (an iface_id the snapshot does not have, a bad name).
 */
/* PUT /snapshot/load's vsock_override: the vsock device (the snapshot must have one) listens on uds_path. */
int snapshot_config_override_vsock(struct vm_config *cfg, const char *uds_path, struct vmon_error *err);
int snapshot_config_override_net(struct vm_config *cfg, const char *iface_id, const char *host_dev_name,
				 struct vmon_error *err);

#endif
