/* SPDX-License-Identifier: MIT */
/*
 * What the resources become: the GET bodies (MachineConfiguration,
 * FullVmConfiguration) and vmon's vm_config.
 */
#include "api/fc_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_json.h"
#include "api/fc_spec_schema.h"

/* --- JSON out: every add checked, so that out of memory gives NULL, never a body with a hole --- */

static void put(json_object *o, const char *key, json_object *v, bool *ok)
{
	if (!v) {
		*ok = false;
		return;
	}
	if (json_object_object_add(o, key, v)) {
		json_object_put(v);
		*ok = false;
	}
}

static void put_null(json_object *o, const char *key, bool *ok)
{
	if (json_object_object_add(o, key, NULL))
		*ok = false;
}

static void put_str(json_object *o, const char *key, const char *s, bool *ok)
{
	if (s)
		put(o, key, json_object_new_string(s), ok);
	else
		put_null(o, key, ok);
}

static void append(json_object *array, json_object *v, bool *ok)
{
	if (!v) {
		*ok = false;
		return;
	}
	if (json_object_array_add(array, v)) {
		json_object_put(v);
		*ok = false;
	}
}

static json_object *machine_config_obj(const struct fc_spec *s, bool *ok)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "vcpu_count", json_object_new_int64(s->machine.vcpu_count), ok);
	put(o, "mem_size_mib", json_object_new_int64((int64_t)s->machine.mem_size_mib), ok);
	put(o, "smt", json_object_new_boolean(false), ok);
	put(o, "track_dirty_pages", json_object_new_boolean(s->machine.track_dirty_pages), ok);
	put(o, "huge_pages", json_object_new_string("None"), ok);
	return o;   /* cpu_template "None" is left out, as Firecracker leaves it out */
}

/* Balloon: Firecracker's GET /balloon body (free_page_hinting always false: not implemented). */
static json_object *balloon_obj(const struct balloon_config *b, bool *ok)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "amount_mib", json_object_new_int64(b->amount_mib), ok);
	put(o, "deflate_on_oom", json_object_new_boolean(b->deflate_on_oom), ok);
	put(o, "stats_polling_interval_s", json_object_new_int64(b->stats_interval_s), ok);
	put(o, "free_page_hinting", json_object_new_boolean(false), ok);
	put(o, "free_page_reporting", json_object_new_boolean(b->free_page_reporting), ok);
	return o;
}

/* The body, or NULL (out of memory); drops o. */
static char *finish(json_object *o, bool ok)
{
	char *text = ok && o ? fc_json_to_string(o) : NULL;

	json_object_put(o);
	return text;
}

char *fc_spec_machine_config_json(const struct fc_spec *s)
{
	bool ok = true;
	json_object *o = machine_config_obj(s, &ok);

	return finish(o, ok);
}

static json_object *boot_source_obj(const struct fc_boot_source *b, bool *ok)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	/* Before PUT /boot-source Firecracker shows an empty kernel_image_path; so does vmon. */
	put_str(o, "kernel_image_path", b->set ? b->kernel_image_path : "", ok);
	put_str(o, "initrd_path", b->initrd_path, ok);
	if (b->boot_args)
		put_str(o, "boot_args", b->boot_args, ok);
	return o;
}

/* A TokenBucket, or null when it limits nothing. */
static void put_bucket(json_object *o, const char *key, const struct token_bucket_config *b, bool *ok)
{
	json_object *v;

	if (!token_bucket_limits(b))
		return put_null(o, key, ok);
	if (!(v = json_object_new_object())) {
		*ok = false;
		return;
	}
	put(v, "size", json_object_new_int64((int64_t)b->size), ok);
	put(v, "one_time_burst", json_object_new_int64((int64_t)b->one_time_burst), ok);
	put(v, "refill_time", json_object_new_int64((int64_t)b->refill_time_ms), ok);
	put(o, key, v, ok);
}

/* A RateLimiter, or null when neither bucket limits (Firecracker's GET /vm/config without one). */
static void put_rate_limiter(json_object *o, const char *key, const struct rate_limiter_config *rl, bool *ok)
{
	json_object *v;

	if (!rate_limiter_config_limits(rl))
		return put_null(o, key, ok);
	if (!(v = json_object_new_object())) {
		*ok = false;
		return;
	}
	put_bucket(v, "bandwidth", &rl->bandwidth, ok);
	put_bucket(v, "ops", &rl->ops, ok);
	put(o, key, v, ok);
}

static json_object *drive_obj(const struct fc_drive *d, bool *ok)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put_str(o, "drive_id", d->drive_id, ok);
	put_str(o, "partuuid", d->partuuid, ok);
	put(o, "is_root_device", json_object_new_boolean(d->is_root_device), ok);
	put_str(o, "cache_type", fc_cache_types[d->cache_type], ok);
	put(o, "is_read_only", json_object_new_boolean(d->is_read_only), ok);
	put_str(o, "path_on_host", d->path_on_host, ok);
	put_rate_limiter(o, "rate_limiter", &d->rate_limiter, ok);
	put_str(o, "io_engine", fc_io_engines[d->io_engine], ok);
	put_null(o, "socket", ok);
	return o;
}

static json_object *net_obj(const struct fc_net *n, bool *ok)
{
	json_object *o = json_object_new_object();
	char mac[18];

	if (!o) {
		*ok = false;
		return NULL;
	}
	put_str(o, "iface_id", n->iface_id, ok);
	put_str(o, "host_dev_name", n->host_dev_name, ok);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->guest_mac[0], n->guest_mac[1], n->guest_mac[2],
		 n->guest_mac[3], n->guest_mac[4], n->guest_mac[5]);
	put_str(o, "guest_mac", n->has_mac ? mac : NULL, ok);
	put_rate_limiter(o, "rx_rate_limiter", &n->rx_rate_limiter, ok);
	put_rate_limiter(o, "tx_rate_limiter", &n->tx_rate_limiter, ok);
	return o;
}

static json_object *logger_obj(const struct fc_logger *l, bool *ok)
{
	json_object *o = json_object_new_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put_str(o, "level", fc_log_levels[l->level], ok);
	if (l->log_path)
		put_str(o, "log_path", l->log_path, ok);
	put(o, "show_level", json_object_new_boolean(l->show_level), ok);
	put(o, "show_log_origin", json_object_new_boolean(l->show_log_origin), ok);
	if (l->module)
		put_str(o, "module", l->module, ok);
	return o;
}

static json_object *metrics_obj(const struct fc_metrics *m, bool *ok)
{
	json_object *o = json_object_new_object();
	json_object *props;

	if (!o) {
		*ok = false;
		return NULL;
	}
	put_str(o, "metrics_path", m->metrics_path, ok);
	put(o, "emit_id", json_object_new_boolean(m->emit_id), ok);
	if (m->nproperties) {
		props = json_object_new_object();
		for (unsigned i = 0; props && i < m->nproperties; i++)
			put_str(props, m->property_keys[i], m->property_values[i], ok);
		put(o, "properties", props, ok);
	}
	return o;
}

static json_object *mmds_config_obj(const struct fc_mmds_config *m, bool *ok)
{
	json_object *o = json_object_new_object();
	json_object *ids = json_object_new_array();
	char addr[16];

	if (!o || !ids) {
		json_object_put(o);
		json_object_put(ids);
		*ok = false;
		return NULL;
	}
	put_str(o, "version", fc_mmds_versions[m->version], ok);
	for (unsigned i = 0; i < m->niface_ids; i++)
		append(ids, json_object_new_string(m->iface_ids[i]), ok);
	put(o, "network_interfaces", ids, ok);
	snprintf(addr, sizeof(addr), "%u.%u.%u.%u", m->ipv4_address >> 24, (m->ipv4_address >> 16) & 0xff,
		 (m->ipv4_address >> 8) & 0xff, m->ipv4_address & 0xff);
	put_str(o, "ipv4_address", addr, ok);
	put(o, "imds_compat", json_object_new_boolean(m->imds_compat), ok);
	return o;
}

char *fc_spec_vm_config_json(const struct fc_spec *s)
{
	json_object *o = json_object_new_object();
	json_object *drives = json_object_new_array(), *nets = json_object_new_array(), *pmem = json_object_new_array();
	bool ok = o && drives && nets && pmem;

	if (!ok) {
		json_object_put(drives);
		json_object_put(nets);
		json_object_put(pmem);
		return finish(o, false);
	}
	for (unsigned i = 0; i < s->ndrives; i++)
		append(drives, drive_obj(&s->drives[i], &ok), &ok);
	for (unsigned i = 0; i < s->nnets; i++)
		append(nets, net_obj(&s->nets[i], &ok), &ok);
	if (s->balloon.set) {
		const struct balloon_config b = { .enabled = true, .amount_mib = s->balloon.amount_mib,
			.deflate_on_oom = s->balloon.deflate_on_oom, .stats_interval_s = s->balloon.stats_polling_interval_s,
			.free_page_reporting = s->balloon.free_page_reporting };
		put(o, "balloon", balloon_obj(&b, &ok), &ok);
	} else {
		put_null(o, "balloon", &ok);
	}
	put(o, "drives", drives, &ok);
	put(o, "boot-source", boot_source_obj(&s->boot_source, &ok), &ok);
	put_null(o, "cpu-config", &ok);
	if (s->logger.set)
		put(o, "logger", logger_obj(&s->logger, &ok), &ok);
	else
		put_null(o, "logger", &ok);
	put(o, "machine-config", machine_config_obj(s, &ok), &ok);
	if (s->metrics.set)
		put(o, "metrics", metrics_obj(&s->metrics, &ok), &ok);
	else
		put_null(o, "metrics", &ok);
	put_null(o, "memory-hotplug", &ok);
	if (s->mmds.set)
		put(o, "mmds-config", mmds_config_obj(&s->mmds, &ok), &ok);
	else
		put_null(o, "mmds-config", &ok);
	put(o, "network-interfaces", nets, &ok);
	put(o, "pmem", pmem, &ok);
	if (s->vsock.set) {
		json_object *v = json_object_new_object();
		ok = ok && v;
		if (v) {
			put(v, "guest_cid", json_object_new_int64((int64_t)s->vsock.guest_cid), &ok);
			put(v, "uds_path", json_object_new_string(s->vsock.uds_path), &ok);
			if (s->vsock.vsock_id)
				put(v, "vsock_id", json_object_new_string(s->vsock.vsock_id), &ok);
		}
		put(o, "vsock", v, &ok);
	} else {
		put_null(o, "vsock", &ok);
	}
	if (s->entropy) {
		json_object *e = json_object_new_object();
		ok = ok && e;
		if (e)
			put_rate_limiter(e, "rate_limiter", &s->entropy_rate_limiter, &ok);
		put(o, "entropy", e, &ok);
	} else
		put_null(o, "entropy", &ok);
	/* Not in FullVmConfiguration, but the config file takes it: so that this body loads back whole. */
	if (s->serial.set) {
		json_object *serial = json_object_new_object();
		if (serial && s->serial.serial_out_path)
			put_str(serial, "serial_out_path", s->serial.serial_out_path, &ok);
		put(o, "serial", serial, &ok);
	}
	return finish(o, ok);
}

/* --- vm_config --- */

/* Copies s into cfg->text; NULL (and err set, naming field) when it does not fit. */
static const char *keep(struct vm_config *cfg, const char *field, const char *s, struct vmon_error *err)
{
	size_t n = strlen(s) + 1;
	char *copy;

	if (n > sizeof(cfg->text) - cfg->text_used) {
		error_set(err, -E2BIG, "%s: %zu bytes do not fit in vmon's machine description (%zu bytes left for the "
			  "paths and the command line together)", field, n - 1, sizeof(cfg->text) - cfg->text_used);
		return NULL;
	}
	copy = cfg->text + cfg->text_used;
	memcpy(copy, s, n);
	cfg->text_used += n;
	return copy;
}

/* Firecracker's root argument, appended after the boot arguments: root=/dev/vda or root=PARTUUID=..., then rw|ro. */
static int build_cmdline(const struct fc_spec *s, struct vm_config *cfg, struct vmon_error *err)
{
	const char *base = s->boot_source.boot_args ? s->boot_source.boot_args
			   : cfg->virtio_transport == VIRTIO_TRANSPORT_PCI ? FC_SPEC_DEFAULT_BOOT_ARGS_PCI
									  : FC_SPEC_DEFAULT_BOOT_ARGS;
	const struct fc_drive *root = s->ndrives && s->drives[0].is_root_device ? &s->drives[0] : NULL;
	char *line = NULL;
	int n;

	if (!root) {
		cfg->cmdline = keep(cfg, "boot_args", base, err);
		return cfg->cmdline ? 0 : -E2BIG;
	}
	if (root->partuuid)
		n = asprintf(&line, "%s%sroot=PARTUUID=%s %s", base, base[0] ? " " : "", root->partuuid,
			     root->is_read_only ? "ro" : "rw");
	else
		n = asprintf(&line, "%s%sroot=/dev/vda %s", base, base[0] ? " " : "", root->is_read_only ? "ro" : "rw");
	if (n < 0)
		return error_set(err, -ENOMEM, "boot_args: out of memory");
	cfg->cmdline = keep(cfg, "boot_args", line, err);
	free(line);
	return cfg->cmdline ? 0 : -E2BIG;
}

static bool mac_taken(const struct fc_spec *s, const uint8_t mac[6])
{
	for (unsigned i = 0; i < s->nnets; i++)
		if (s->nets[i].has_mac && !memcmp(s->nets[i].guest_mac, mac, 6))
			return true;
	return false;
}

/* The CLI's default (52:54:00:12:34:56 + index), stepped past any MAC given to another interface. */
static void default_mac(const struct fc_spec *s, unsigned index, uint8_t mac[6])
{
	memcpy(mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) }, 6);
	while (mac_taken(s, mac))
		mac[5]++;
}

static int fill(const struct fc_spec *s, struct vm_config *cfg, struct vmon_error *err)
{
	const struct fc_boot_source *b = &s->boot_source;
	int ret;

	if (!b->set || !b->kernel_image_path)
		return error_set(err, -EINVAL, "boot-source: no kernel_image_path set (PUT /boot-source first)");
	if (!(cfg->kernel_path = keep(cfg, "kernel_image_path", b->kernel_image_path, err)))
		return -E2BIG;
	cfg->initrd_path = NULL;
	if (b->initrd_path && !(cfg->initrd_path = keep(cfg, "initrd_path", b->initrd_path, err)))
		return -E2BIG;
	if ((ret = build_cmdline(s, cfg, err)))
		return ret;
	cfg->ncpus = s->machine.vcpu_count;
	cfg->mem_size = s->machine.mem_size_mib << 20;
	cfg->ndrives = s->ndrives;
	for (unsigned i = 0; i < s->ndrives; i++) {
		struct drive_config *d = &cfg->drives[i];
		memset(d, 0, sizeof(*d));
		d->readonly = s->drives[i].is_read_only;
		d->rate_limiter = s->drives[i].rate_limiter;
		if (!(d->path = keep(cfg, "path_on_host", s->drives[i].path_on_host, err)) ||
		    !(d->id = keep(cfg, "drive_id", s->drives[i].drive_id, err)))
			return -E2BIG;
	}
	cfg->nnets = s->nnets;
	for (unsigned i = 0; i < s->nnets; i++) {
		struct net_config *n = &cfg->nets[i];
		memset(n, 0, sizeof(*n));
		if (!(n->id = keep(cfg, "iface_id", s->nets[i].iface_id, err)))
			return -E2BIG;
		if (!strcmp(s->nets[i].host_dev_name, FC_SPEC_USER_NET)) {
			n->backend = NET_BACKEND_USER;
		} else {
			n->backend = NET_BACKEND_TAP;
			if (!(n->tap_name = keep(cfg, "host_dev_name", s->nets[i].host_dev_name, err)))
				return -E2BIG;
		}
		n->rx_rate_limiter = s->nets[i].rx_rate_limiter;
		n->tx_rate_limiter = s->nets[i].tx_rate_limiter;
		if (s->nets[i].has_mac)
			memcpy(n->mac, s->nets[i].guest_mac, 6);
		else
			default_mac(s, i, n->mac);
	}
	cfg->rng = s->entropy;
	cfg->rng_rate_limiter = s->entropy ? s->entropy_rate_limiter : (struct rate_limiter_config){ 0 };
	memset(&cfg->balloon, 0, sizeof(cfg->balloon));
	if (s->balloon.set)
		cfg->balloon = (struct balloon_config){ .enabled = true, .amount_mib = s->balloon.amount_mib,
			.deflate_on_oom = s->balloon.deflate_on_oom, .stats_interval_s = s->balloon.stats_polling_interval_s,
			.free_page_reporting = s->balloon.free_page_reporting };
	if (s->vsock.set) {
		cfg->vsock_cid = s->vsock.guest_cid;
		if (!(cfg->vsock_uds_path = keep(cfg, "uds_path", s->vsock.uds_path, err)))
			return -E2BIG;
	}
	return 0;
}

int fc_spec_to_vm_config(const struct fc_spec *s, struct vm_config *cfg, struct vmon_error *err)
{
	struct vm_config *trial = malloc(sizeof(*trial));
	int ret;

	if (!trial)
		return error_set(err, -ENOMEM, "vm config: out of memory");
	/* Built and checked on a copy first, so that a refusal leaves cfg as it was. */
	memcpy(trial, cfg, sizeof(*trial));
	ret = fill(s, trial, err);
	if (!ret && (ret = vm_config_check(trial, NULL, err)))
		error_prefix(err, "vm config");
	free(trial);
	if (ret)
		return ret;
	return fill(s, cfg, err);   /* the same inputs: succeeds as the trial did */
}

char *fc_spec_balloon_json(const struct balloon_config *b)
{
	bool ok = true;
	json_object *o = balloon_obj(b, &ok);

	return finish(o, ok);
}

char *fc_spec_balloon_stats_json(const struct balloon_status *st)
{
	json_object *o = json_object_new_object();
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	put(o, "target_pages", json_object_new_int64(st->target_pages), &ok);
	put(o, "actual_pages", json_object_new_int64(st->actual_pages), &ok);
	put(o, "target_mib", json_object_new_int64(st->target_pages >> 8), &ok);
	put(o, "actual_mib", json_object_new_int64(st->actual_pages >> 8), &ok);
	/* Only what the guest reported, as Firecracker leaves out the tags its driver did not send. */
	for (unsigned tag = 0; tag < VIRTIO_BALLOON_NUM_STATS; tag++)
		if (st->stats.valid & (1ull << tag))
			put(o, virtio_balloon_stat_name(tag), json_object_new_int64((int64_t)st->stats.value[tag]), &ok);
	return finish(o, ok);
}
