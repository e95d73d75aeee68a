/* SPDX-License-Identifier: MIT */
#include "snapshot/machine_config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "virtio/vsock.h"

/* ---- encoding ---------------------------------------------------------------- */

static void put_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void put_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void put_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

/* A rate limiter that limits, under key; none: no key (as descriptions written before vmon had them). */
static void put_limiter(struct json_object *o, const char *key, const struct rate_limiter_config *rl)
{
	const struct token_bucket_config *b[2] = { &rl->bandwidth, &rl->ops };
	static const char *const names[2] = { "bandwidth", "ops" };
	struct json_object *l;

	if (!rate_limiter_config_limits(rl))
		return;
	l = json_object_new_object();
	for (int i = 0; i < 2; i++) {
		struct json_object *bo = json_object_new_object();
		put_u64(bo, "size", b[i]->size);
		put_u64(bo, "one_time_burst", b[i]->one_time_burst);
		put_u64(bo, "refill_time_ms", b[i]->refill_time_ms);
		json_object_object_add(l, names[i], bo);
	}
	json_object_object_add(o, key, l);
}

static struct json_object *encode_net(const struct net_config *n)
{
	struct json_object *o = json_object_new_object(), *fwds = json_object_new_array();
	char mac[18];

	put_str(o, "backend", n->backend == NET_BACKEND_TAP ? "tap" : "user");
	put_str(o, "tap_name", n->tap_name);
	put_str(o, "id", n->id);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2], n->mac[3],
		 n->mac[4], n->mac[5]);
	put_str(o, "mac", mac);
	for (unsigned i = 0; i < n->nhostfwd; i++) {
		const struct net_hostfwd *f = &n->hostfwd[i];
		struct json_object *fo = json_object_new_object();
		put_bool(fo, "udp", f->udp);
		put_u64(fo, "host_addr", f->host_addr);
		put_u64(fo, "host_port", f->host_port);
		put_u64(fo, "guest_addr", f->guest_addr);
		put_u64(fo, "guest_port", f->guest_port);
		json_object_array_add(fwds, fo);
	}
	json_object_object_add(o, "hostfwd", fwds);
	put_limiter(o, "rx_rate_limiter", &n->rx_rate_limiter);
	put_limiter(o, "tx_rate_limiter", &n->tx_rate_limiter);
	return o;
}

char *snapshot_config_encode(const struct vm_config *cfg)
{
	struct json_object *o = json_object_new_object(), *drives = json_object_new_array();
	struct json_object *nets = json_object_new_array();
	char *text;

	put_u64(o, "version", SNAPSHOT_CONFIG_VERSION);
	put_u64(o, "mem_size", cfg->mem_size);
	put_u64(o, "ncpus", cfg->ncpus);
	put_u64(o, "host_profile", (uint64_t)cfg->host_profile);
	put_str(o, "kernel_path", cfg->kernel_path);
	put_str(o, "initrd_path", cfg->initrd_path);
	put_str(o, "cmdline", cfg->cmdline);
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		struct json_object *d = json_object_new_object();
		put_str(d, "path", cfg->drives[i].path);
		put_bool(d, "readonly", cfg->drives[i].readonly);
		put_str(d, "id", cfg->drives[i].id);
		put_str(d, "transport", virtio_transport_name(vm_config_transport(cfg, cfg->drive_transport[i])));
		put_limiter(d, "rate_limiter", &cfg->drives[i].rate_limiter);
		json_object_array_add(drives, d);
	}
	json_object_object_add(o, "drives", drives);
	for (unsigned i = 0; i < cfg->nnets; i++) {
		struct json_object *n = encode_net(&cfg->nets[i]);
		put_str(n, "transport", virtio_transport_name(vm_config_transport(cfg, cfg->net_transport[i])));
		json_object_array_add(nets, n);
	}
	/* The machine's transport: rng and console, and the PCI bus's presence, follow it. */
	put_str(o, "virtio_transport", virtio_transport_name(vm_config_transport(cfg, VIRTIO_TRANSPORT_DEFAULT)));
	json_object_object_add(o, "nets", nets);
	put_bool(o, "rng", cfg->rng);
	put_limiter(o, "rng_rate_limiter", &cfg->rng_rate_limiter);
	put_str(o, "vconsole_socket", cfg->vconsole_socket);
	if (cfg->balloon.enabled) {
		struct json_object *b = json_object_new_object();
		put_u64(b, "amount_mib", cfg->balloon.amount_mib);
		put_bool(b, "deflate_on_oom", cfg->balloon.deflate_on_oom);
		put_u64(b, "stats_interval_s", cfg->balloon.stats_interval_s);
		put_bool(b, "free_page_reporting", cfg->balloon.free_page_reporting);
		json_object_object_add(o, "balloon", b);
	} else {
		json_object_object_add(o, "balloon", NULL);
	}
	if (cfg->vsock_uds_path) {
		struct json_object *v = json_object_new_object();
		put_u64(v, "cid", cfg->vsock_cid);
		put_str(v, "uds_path", cfg->vsock_uds_path);
		json_object_object_add(o, "vsock", v);
	} else {
		json_object_object_add(o, "vsock", NULL);
	}
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

/* ---- decoding ---------------------------------------------------------------- */

struct decoder {
	struct vm_config *cfg;
	struct vmon_error *err;
	char where[64];
};

static int bad(struct decoder *d, const char *key, const char *problem)
{
	return error_set(d->err, -EINVAL, "machine-config: %s%s: %s", d->where, key, problem);
}

static struct json_object *member(struct decoder *d, struct json_object *o, const char *key, enum json_type type,
				  bool nullable, int *r)
{
	struct json_object *v = NULL;

	*r = 0;
	if (!json_object_object_get_ex(o, key, &v)) {
		*r = bad(d, key, "missing");
		return NULL;
	}
	if (!v && nullable)
		return NULL;
	if (!v || !json_object_is_type(v, type))
		*r = bad(d, key, "wrong type");
	return *r ? NULL : v;
}

/* len bytes of text (no NUL among them) into cfg->text, NUL-terminated. */
static int keep(struct decoder *d, const char *key, const char *text, size_t len, const char **out)
{
	struct vm_config *cfg = d->cfg;

	if (len + 1 > sizeof(cfg->text) - cfg->text_used)
		return bad(d, key, "too long for vmon's configuration text");
	if (memchr(text, '\0', len))
		return bad(d, key, "contains a NUL byte");
	char *copy = cfg->text + cfg->text_used;
	memcpy(copy, text, len);
	copy[len] = '\0';
	cfg->text_used += len + 1;
	*out = copy;
	return 0;
}

/* A string member into cfg->text (NULL stays NULL when nullable). */
static int get_str(struct decoder *d, struct json_object *o, const char *key, bool nullable, const char **out)
{
	int r;
	struct json_object *v = member(d, o, key, json_type_string, nullable, &r);

	*out = NULL;
	if (r || !v)
		return r;
	return keep(d, key, json_object_get_string(v), (size_t)json_object_get_string_len(v), out);
}

static int get_u64(struct decoder *d, struct json_object *o, const char *key, uint64_t max, uint64_t *out)
{
	int r;
	struct json_object *v = member(d, o, key, json_type_int, false, &r);

	if (r)
		return r;
	errno = 0;
	uint64_t x = json_object_get_uint64(v);
	if (errno || json_object_get_int64(v) < 0 || x > max)
		return bad(d, key, "out of range");
	*out = x;
	return 0;
}

/*
 * A device's transport, "pci" or "mmio". Absent: mmio — descriptions written
 * before vmon had PCI put every device there.
 */
static int get_transport(struct decoder *d, struct json_object *o, const char *key, enum virtio_transport_kind *out)
{
	struct json_object *v;

	*out = VIRTIO_TRANSPORT_MMIO;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!v || !json_object_is_type(v, json_type_string) ||
	    virtio_transport_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), out))
		return bad(d, key, "not \"pci\" or \"mmio\"");
	return 0;
}

/* An optional rate limiter (absent: none, as in descriptions written before vmon had them). */
static int get_limiter(struct decoder *d, struct json_object *o, const char *key, struct rate_limiter_config *out)
{
	struct token_bucket_config *b[2] = { &out->bandwidth, &out->ops };
	static const char *const names[2] = { "bandwidth", "ops" };
	struct json_object *l;
	int r;

	char outer[sizeof(d->where)];

	*out = (struct rate_limiter_config){ 0 };
	if (!json_object_object_get_ex(o, key, NULL))
		return 0;
	if (!(l = member(d, o, key, json_type_object, false, &r)))
		return r;
	/* Errors inside name the whole path: "drives[0].rate_limiter.ops.size". */
	memcpy(outer, d->where, sizeof(outer));
	r = 0;
	for (int i = 0; i < 2 && !r; i++) {
		snprintf(d->where, sizeof(d->where), "%s%s.", outer, key);
		struct json_object *bo = member(d, l, names[i], json_type_object, false, &r);
		if (!bo)
			break;
		snprintf(d->where, sizeof(d->where), "%s%s.%s.", outer, key, names[i]);
		if ((r = get_u64(d, bo, "size", TOKEN_BUCKET_MAX_TOKENS, &b[i]->size)) ||
		    (r = get_u64(d, bo, "one_time_burst", TOKEN_BUCKET_MAX_TOKENS, &b[i]->one_time_burst)) ||
		    (r = get_u64(d, bo, "refill_time_ms", TOKEN_BUCKET_MAX_REFILL_MS, &b[i]->refill_time_ms)))
			break;
	}
	memcpy(d->where, outer, sizeof(outer));
	return r;
}

static int get_bool(struct decoder *d, struct json_object *o, const char *key, bool *out)
{
	int r;
	struct json_object *v = member(d, o, key, json_type_boolean, false, &r);

	if (!r)
		*out = json_object_get_boolean(v);
	return r;
}

static int decode_net(struct decoder *d, struct json_object *o, struct net_config *n)
{
	const char *backend, *mac;
	struct json_object *fwds;
	uint64_t v;
	int r;

	if ((r = get_str(d, o, "backend", false, &backend)) || (r = get_str(d, o, "tap_name", true, &n->tap_name)) ||
	    (r = get_str(d, o, "id", true, &n->id)) || (r = get_str(d, o, "mac", false, &mac)))
		return r;
	if (!strcmp(backend, "tap"))
		n->backend = NET_BACKEND_TAP;
	else if (!strcmp(backend, "user"))
		n->backend = NET_BACKEND_USER;
	else
		return bad(d, "backend", "not tap or user");
	unsigned m[6];
	char end;
	if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &end) != 6)
		return bad(d, "mac", "not a MAC address");
	for (int i = 0; i < 6; i++)
		n->mac[i] = (uint8_t)m[i];
	if (!(fwds = member(d, o, "hostfwd", json_type_array, false, &r)))
		return r;
	if (json_object_array_length(fwds) > NET_MAX_HOSTFWD)
		return bad(d, "hostfwd", "too many");
	n->nhostfwd = (unsigned)json_object_array_length(fwds);
	for (unsigned i = 0; i < n->nhostfwd; i++) {
		struct json_object *f = json_object_array_get_idx(fwds, i);
		struct net_hostfwd *h = &n->hostfwd[i];
		if (!json_object_is_type(f, json_type_object))
			return bad(d, "hostfwd", "entries must be objects");
		if ((r = get_bool(d, f, "udp", &h->udp)) || (r = get_u64(d, f, "host_addr", UINT32_MAX, &v)))
			return r;
		h->host_addr = (uint32_t)v;
		if ((r = get_u64(d, f, "host_port", UINT16_MAX, &v)))
			return r;
		h->host_port = (uint16_t)v;
		if ((r = get_u64(d, f, "guest_addr", UINT32_MAX, &v)))
			return r;
		h->guest_addr = (uint32_t)v;
		if ((r = get_u64(d, f, "guest_port", UINT16_MAX, &v)))
			return r;
		h->guest_port = (uint16_t)v;
	}
	return get_limiter(d, o, "rx_rate_limiter", &n->rx_rate_limiter) ?:
	       get_limiter(d, o, "tx_rate_limiter", &n->tx_rate_limiter);
}

/* "balloon": null, or the balloon's settings; absent in descriptions written before the balloon (none then). */
static int decode_balloon(struct decoder *d, struct json_object *o, struct balloon_config *b)
{
	struct json_object *v = NULL;
	uint64_t n;
	int r;

	memset(b, 0, sizeof(*b));
	if (!json_object_object_get_ex(o, "balloon", &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return bad(d, "balloon", "wrong type");
	snprintf(d->where, sizeof(d->where), "balloon.");
	if ((r = get_u64(d, v, "amount_mib", BALLOON_MAX_MIB, &n)))
		return r;
	b->amount_mib = (uint32_t)n;
	if ((r = get_u64(d, v, "stats_interval_s", BALLOON_MAX_STATS_INTERVAL_S, &n)))
		return r;
	b->stats_interval_s = (uint32_t)n;
	if ((r = get_bool(d, v, "deflate_on_oom", &b->deflate_on_oom)) ||
	    (r = get_bool(d, v, "free_page_reporting", &b->free_page_reporting)))
		return r;
	d->where[0] = '\0';
	b->enabled = true;
	return 0;
}

static int decode(struct decoder *d, struct json_object *o)
{
	struct vm_config *cfg = d->cfg;
	struct json_object *arr;
	uint64_t v;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return bad(d, "", "not a JSON object");
	if ((r = get_u64(d, o, "version", UINT32_MAX, &v)))
		return r;
	if (v != SNAPSHOT_CONFIG_VERSION)
		return bad(d, "version", "not a version this vmon reads");
	if ((r = get_u64(d, o, "mem_size", UINT64_MAX, &cfg->mem_size)) || (r = get_u64(d, o, "ncpus", 65535, &v)) ||
	    (r = get_transport(d, o, "virtio_transport", &cfg->virtio_transport)))
		return r;
	cfg->ncpus = (unsigned)v;
	if ((r = get_u64(d, o, "host_profile", HOST_PROFILE_PVM, &v)))
		return r;
	cfg->host_profile = (enum host_profile_mode)v;
	if ((r = get_str(d, o, "kernel_path", true, &cfg->kernel_path)) ||
	    (r = get_str(d, o, "initrd_path", true, &cfg->initrd_path)) ||
	    (r = get_str(d, o, "cmdline", false, &cfg->cmdline)) || (r = get_bool(d, o, "rng", &cfg->rng)) ||
	    (r = get_str(d, o, "vconsole_socket", true, &cfg->vconsole_socket)) ||
	    (r = get_limiter(d, o, "rng_rate_limiter", &cfg->rng_rate_limiter)) ||
	    (r = decode_balloon(d, o, &cfg->balloon)))
		return r;
	if (!(arr = member(d, o, "drives", json_type_array, false, &r)))
		return r;
	if (json_object_array_length(arr) > VM_CONFIG_MAX_DRIVES)
		return bad(d, "drives", "too many");
	cfg->ndrives = (unsigned)json_object_array_length(arr);
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		snprintf(d->where, sizeof(d->where), "drives[%u].", i);
		if (!json_object_is_type(e, json_type_object))
			return bad(d, "", "not an object");
		if ((r = get_str(d, e, "path", false, &cfg->drives[i].path)) ||
		    (r = get_bool(d, e, "readonly", &cfg->drives[i].readonly)) ||
		    (r = get_str(d, e, "id", true, &cfg->drives[i].id)) ||
		    (r = get_transport(d, e, "transport", &cfg->drive_transport[i])) ||
		    (r = get_limiter(d, e, "rate_limiter", &cfg->drives[i].rate_limiter)))
			return r;
	}
	d->where[0] = '\0';
	if (!(arr = member(d, o, "nets", json_type_array, false, &r)))
		return r;
	if (json_object_array_length(arr) > VM_CONFIG_MAX_NETS)
		return bad(d, "nets", "too many");
	cfg->nnets = (unsigned)json_object_array_length(arr);
	for (unsigned i = 0; i < cfg->nnets; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		snprintf(d->where, sizeof(d->where), "nets[%u].", i);
		if (!json_object_is_type(e, json_type_object))
			return bad(d, "", "not an object");
		if ((r = decode_net(d, e, &cfg->nets[i])) ||
		    (r = get_transport(d, e, "transport", &cfg->net_transport[i])))
			return r;
	}
	d->where[0] = '\0';
	/* "vsock": absent (descriptions written before it existed) or null: none. */
	struct json_object *vs = NULL;
	if (json_object_object_get_ex(o, "vsock", &vs) && vs) {
		if (!json_object_is_type(vs, json_type_object))
			return bad(d, "vsock", "not an object or null");
		snprintf(d->where, sizeof(d->where), "vsock.");
		if ((r = get_u64(d, vs, "cid", UINT32_MAX - 1, &cfg->vsock_cid)) ||
		    (r = get_str(d, vs, "uds_path", false, &cfg->vsock_uds_path)))
			return r;
		if (cfg->vsock_cid < 3)
			return bad(d, "cid", "out of range");
		d->where[0] = '\0';
	}
	return 0;
}

int snapshot_config_override_vsock(struct vm_config *cfg, const char *uds_path, struct vmon_error *err)
{
	struct decoder d = { .cfg = cfg, .err = err };

	if (!cfg->vsock_uds_path)
		return error_set(err, -EINVAL, "vsock_override: the snapshot has no vsock device");
	if (!uds_path[0] || strlen(uds_path) > VSOCK_UDS_PATH_MAX)
		return error_set(err, -EINVAL, "vsock_override: uds_path must be 1 to %zu bytes", VSOCK_UDS_PATH_MAX);
	return keep(&d, "uds_path", uds_path, strlen(uds_path), &cfg->vsock_uds_path);
}

int snapshot_config_override_net(struct vm_config *cfg, const char *iface_id, const char *host_dev_name,
				 struct vmon_error *err)
{
	struct decoder d = { .cfg = cfg, .err = err };
	struct net_config *n = NULL;

	for (unsigned i = 0; i < cfg->nnets && !n; i++)
		if (cfg->nets[i].id && !strcmp(cfg->nets[i].id, iface_id))
			n = &cfg->nets[i];
	if (!n)
		return error_set(err, -EINVAL, "network_overrides: the snapshot has no network interface \"%s\"",
				 iface_id);
	if (!host_dev_name[0] || strlen(host_dev_name) > 15 || strpbrk(host_dev_name, "/ "))
		return error_set(err, -EINVAL, "network_overrides: host_dev_name \"%s\" is not an interface name",
				 host_dev_name);
	if (!strcmp(host_dev_name, SNAPSHOT_USER_NET)) {
		n->backend = NET_BACKEND_USER;
		n->tap_name = NULL;
		return 0;
	}
	int r = keep(&d, "host_dev_name", host_dev_name, strlen(host_dev_name), &n->tap_name);
	if (!r)
		n->backend = NET_BACKEND_TAP;
	return r;
}

int snapshot_config_decode(const char *text, struct vm_config *cfg, struct vmon_error *err)
{
	struct decoder d = { .cfg = cfg, .err = err };
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	int r;

	vm_config_init(cfg);
	if (!tok)
		return error_set(err, -ENOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (!o || json_tokener_get_error(tok) != json_tokener_success)
		r = error_set(err, -EINVAL, "machine-config: not JSON: %s",
			      json_tokener_error_desc(json_tokener_get_error(tok)));
	else
		r = decode(&d, o);
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}
