/* SPDX-License-Identifier: MIT */
/*
 * Values of the device options: --drive, --net, --rng, --vconsole, --balloon. Each is a
 * comma-separated list of key=value words (a path may not contain a comma).
 */
#include "cli/cli_devices.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Copies [s, s+n) into cfg->text; NULL when full. */
static const char *keep_text(struct vm_config *cfg, const char *s, size_t n)
{
	char *copy;

	if (n + 1 > sizeof(cfg->text) - cfg->text_used)
		return NULL;
	copy = cfg->text + cfg->text_used;
	memcpy(copy, s, n);
	copy[n] = '\0';
	cfg->text_used += n + 1;
	return copy;
}

/* The next "key[=value]" word of *p: [key, key+klen), [val, val+vlen) (val NULL without '='). */
struct option_word {
	const char *key, *val;
	size_t klen, vlen;
};

static bool next_word(const char **p, struct option_word *w)
{
	const char *s = *p, *end, *eq;

	if (!*s)
		return false;
	end = strchrnul(s, ',');
	eq = memchr(s, '=', (size_t)(end - s));
	w->key = s;
	w->klen = (size_t)((eq ? eq : end) - s);
	w->val = eq ? eq + 1 : NULL;
	w->vlen = eq ? (size_t)(end - eq - 1) : 0;
	*p = *end ? end + 1 : end;
	return true;
}

static bool key_is(const struct option_word *w, const char *key)
{
	return w->klen == strlen(key) && !strncmp(w->key, key, w->klen);
}

static int parse_on_off(const struct option_word *w, bool *out)
{
	if (w->val && w->vlen == 2 && !strncmp(w->val, "on", 2))
		*out = true;
	else if (w->val && w->vlen == 3 && !strncmp(w->val, "off", 3))
		*out = false;
	else if (!w->val)
		*out = true;   /* "readonly" alone */
	else
		return -EINVAL;
	return 0;
}

/* A decimal count with an optional binary suffix K, M or G; false when it is not one or overflows. */
static bool parse_count(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0, unit = 1;

	if (len && (s[len - 1] == 'K' || s[len - 1] == 'M' || s[len - 1] == 'G')) {
		unit = s[len - 1] == 'K' ? 1ull << 10 : s[len - 1] == 'M' ? 1ull << 20 : 1ull << 30;
		len--;
	}
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]) || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT64_MAX / unit)
		return false;
	*out = v * unit;
	return true;
}

/*
 * The rate-limiter keys after `prefix` ("" for --drive and --rng, "rx_" / "tx_" for
 * --net): bw=BYTES[/REFILL_MS], bw_burst=BYTES, ops=N[/REFILL_MS],
 * ops_burst=N; the refill time defaults to 1000 ms, so bw=4M is 4 MiB/s.
 * 1: taken; 0: not such a key; -EINVAL (err set, naming the option): bad value.
 */
static int parse_limiter_word(const struct option_word *w, const char *prefix, struct rate_limiter_config *rl,
			      const char *option, const char *value, struct vmon_error *err)
{
	static const char *const names[] = { "bw", "bw_burst", "ops", "ops_burst" };
	size_t plen = strlen(prefix);
	int which = -1;

	if (w->klen <= plen || strncmp(w->key, prefix, plen))
		return 0;
	for (int i = 0; i < 4; i++)
		if (w->klen - plen == strlen(names[i]) && !strncmp(w->key + plen, names[i], w->klen - plen))
			which = i;
	if (which < 0)
		return 0;
	struct token_bucket_config *b = which < 2 ? &rl->bandwidth : &rl->ops;
	bool burst = which % 2;
	const char *slash = w->val ? memchr(w->val, '/', w->vlen) : NULL;
	size_t count_len = slash ? (size_t)(slash - w->val) : w->vlen;
	uint64_t count, refill = 1000;
	const char *problem;

	if (!w->val || !parse_count(w->val, count_len, &count) ||
	    (slash && (burst || !parse_count(slash + 1, w->vlen - count_len - 1, &refill))))
		return error_set(err, -EINVAL, "%s '%s': %s%s takes %s", option, value, prefix, names[which],
				 burst ? "a count (K, M, G: binary units)"
				       : "COUNT[/REFILL_MS] (K, M, G: binary units; refill 1000 ms unless given)");
	if (burst)
		b->one_time_burst = count;
	else
		b->size = count, b->refill_time_ms = refill;
	if ((problem = token_bucket_config_problem(b)))
		return error_set(err, -EINVAL, "%s '%s': %s%s: %s", option, value, prefix, names[which], problem);
	return 1;
}

int config_parse_drive(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct drive_config d = { 0 };
	enum virtio_transport_kind transport = VIRTIO_TRANSPORT_DEFAULT;
	struct option_word w;
	const char *p = value;
	int r;

	if (cfg->ndrives >= VM_CONFIG_MAX_DRIVES)
		return error_set(err, -E2BIG, "--drive: at most %d drives", VM_CONFIG_MAX_DRIVES);
	while (next_word(&p, &w)) {
		if ((r = parse_limiter_word(&w, "", &d.rate_limiter, "--drive", value, err))) {
			if (r < 0)
				return r;
		} else if (key_is(&w, "path") && w.val && w.vlen) {
			if (!(d.path = keep_text(cfg, w.val, w.vlen)))
				return error_set(err, -E2BIG, "--drive '%s': options too long", value);
		} else if (key_is(&w, "readonly") || key_is(&w, "ro")) {
			if (parse_on_off(&w, &d.readonly))
				return error_set(err, -EINVAL, "--drive '%s': readonly takes on or off", value);
		} else if (key_is(&w, "transport") && w.val) {
			if (virtio_transport_parse(w.val, w.vlen, &transport))
				return error_set(err, -EINVAL, "--drive '%s': transport '%.*s' is not pci or mmio", value,
						 (int)w.vlen, w.val);
		} else if (key_is(&w, "id") && w.val) {
			if (w.vlen == 0 || w.vlen > 20)
				return error_set(err, -EINVAL, "--drive '%s': id must be 1 to 20 characters (the "
						 "virtio-blk serial)", value);
			if (!(d.id = keep_text(cfg, w.val, w.vlen)))
				return error_set(err, -E2BIG, "--drive '%s': options too long", value);
		} else {
			return error_set(err, -EINVAL, "--drive '%s': unknown option '%.*s' (expected path=FILE, "
					 "readonly=on|off, id=NAME, transport=pci|mmio, bw=, bw_burst=, ops=, ops_burst=)", value, (int)w.klen, w.key);
		}
	}
	if (!d.path)
		return error_set(err, -EINVAL, "--drive '%s': path=FILE is required", value);
	for (unsigned i = 0; i < cfg->ndrives; i++)
		if (d.id && cfg->drives[i].id && !strcmp(d.id, cfg->drives[i].id))
			return error_set(err, -EINVAL, "--drive '%s': id '%s' is used twice", value, d.id);
	cfg->drive_transport[cfg->ndrives] = transport;
	cfg->drives[cfg->ndrives++] = d;
	return 0;
}

int config_parse_rng(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct rate_limiter_config limits = { 0 };
	struct option_word w;
	const char *p = value ? value : "";
	int r;

	if (cfg->rng)
		return error_set(err, -EINVAL, "--rng given twice (one entropy device is supported)");
	while (next_word(&p, &w)) {
		if ((r = parse_limiter_word(&w, "", &limits, "--rng", value, err)) < 0)
			return r;
		if (!r)
			return error_set(err, -EINVAL, "--rng '%s': unknown option '%.*s' (expected bw=, bw_burst=, ops=, "
					 "ops_burst=)", value, (int)w.klen, w.key);
	}
	cfg->rng = true;
	cfg->rng_rate_limiter = limits;
	return 0;
}

int config_parse_mac(const char *text, size_t len, uint8_t mac[6])
{
	unsigned v[6];
	char buf[18];
	int n = 0;

	if (len != 17)
		return -EINVAL;
	memcpy(buf, text, 17);
	buf[17] = '\0';
	for (int i = 0; i < 17; i++)
		if ((i % 3 == 2) ? buf[i] != ':' : !isxdigit((unsigned char)buf[i]))
			return -EINVAL;
	if (sscanf(buf, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &n) != 6 || n != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)
		return -EINVAL;   /* multicast bit: not a station address */
	return 0;
}

/* "ADDR" (dotted IPv4) or "" (0), into host byte order. */
static int parse_ipv4(const char *s, size_t len, uint32_t *addr)
{
	char buf[16];
	struct in_addr in;

	if (len == 0) {
		*addr = 0;
		return 0;
	}
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	*addr = ntohl(in.s_addr);
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* "ADDR:PORT" with ADDR possibly empty. */
static int parse_endpoint(const char *s, size_t len, uint32_t *addr, uint16_t *port)
{
	const char *colon = memrchr(s, ':', len);

	if (!colon)
		return -EINVAL;
	return parse_ipv4(s, (size_t)(colon - s), addr) ?: parse_port(colon + 1, len - (size_t)(colon - s) - 1, port);
}

/* tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (QEMU's hostfwd syntax). */
int config_parse_hostfwd(const char *s, size_t len, struct net_hostfwd *fwd)
{
	const char *dash;

	memset(fwd, 0, sizeof(*fwd));
	if (len > 4 && !strncmp(s, "tcp:", 4)) {
		s += 4, len -= 4;
	} else if (len > 4 && !strncmp(s, "udp:", 4)) {
		fwd->udp = true;
		s += 4, len -= 4;
	} else {
		return -EINVAL;
	}
	dash = memchr(s, '-', len);
	if (!dash)
		return -EINVAL;
	size_t host_len = (size_t)(dash - s);
	if (parse_endpoint(s, host_len, &fwd->host_addr, &fwd->host_port))
		return -EINVAL;
	return parse_endpoint(dash + 1, len - host_len - 1, &fwd->guest_addr, &fwd->guest_port);
}

int config_parse_net(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct net_config n = { 0 };
	enum virtio_transport_kind transport = VIRTIO_TRANSPORT_DEFAULT;
	struct option_word w;
	const char *p = value;
	bool backend_set = false;
	int r;

	if (cfg->nnets >= VM_CONFIG_MAX_NETS)
		return error_set(err, -E2BIG, "--net: at most %d network devices", VM_CONFIG_MAX_NETS);
	/* 52:54:00 is the locally administered prefix QEMU/KVM users know; the last byte tells devices apart. */
	memcpy(n.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + cfg->nnets) }, 6);
	while (next_word(&p, &w)) {
		if (!backend_set && key_is(&w, "user") && !w.val) {
			n.backend = NET_BACKEND_USER;
			backend_set = true;
		} else if (!backend_set && key_is(&w, "tap")) {
			n.backend = NET_BACKEND_TAP;
			backend_set = true;
			if (w.val) {
				if (w.vlen == 0 || w.vlen >= 16)
					return error_set(err, -EINVAL, "--net '%s': a TAP interface name has 1 to 15 "
							 "characters", value);
				if (!(n.tap_name = keep_text(cfg, w.val, w.vlen)))
					return error_set(err, -E2BIG, "--net '%s': options too long", value);
			}
		} else if (!backend_set) {
			return error_set(err, -EINVAL, "--net '%s': starts with the backend: user or tap[=NAME]", value);
		} else if ((r = parse_limiter_word(&w, "rx_", &n.rx_rate_limiter, "--net", value, err)) ||
			   (r = parse_limiter_word(&w, "tx_", &n.tx_rate_limiter, "--net", value, err))) {
			if (r < 0)
				return r;
		} else if (key_is(&w, "mac") && w.val) {
			if (config_parse_mac(w.val, w.vlen, n.mac))
				return error_set(err, -EINVAL, "--net '%s': mac '%.*s' is not a unicast address like "
						 "52:54:00:12:34:56", value, (int)w.vlen, w.val);
		} else if (key_is(&w, "hostfwd") && w.val) {
			if (n.backend != NET_BACKEND_USER)
				return error_set(err, -EINVAL, "--net '%s': hostfwd needs the user backend", value);
			if (n.nhostfwd >= NET_MAX_HOSTFWD)
				return error_set(err, -E2BIG, "--net '%s': at most %d hostfwd rules", value,
						 NET_MAX_HOSTFWD);
			if (config_parse_hostfwd(w.val, w.vlen, &n.hostfwd[n.nhostfwd]))
				return error_set(err, -EINVAL, "--net '%s': hostfwd '%.*s' is not "
						 "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", value,
						 (int)w.vlen, w.val);
			n.nhostfwd++;
		} else if (key_is(&w, "transport") && w.val) {
			if (virtio_transport_parse(w.val, w.vlen, &transport))
				return error_set(err, -EINVAL, "--net '%s': transport '%.*s' is not pci or mmio", value,
						 (int)w.vlen, w.val);
		} else {
			return error_set(err, -EINVAL, "--net '%s': unknown option '%.*s' (expected mac=, hostfwd=, "
					 "transport=, rx_bw=, rx_ops=, tx_bw=, tx_ops= and their _burst=)",
					 value, (int)w.klen, w.key);
		}
	}
	if (!backend_set)
		return error_set(err, -EINVAL, "--net '%s': starts with the backend: user or tap[=NAME]", value);
	cfg->net_transport[cfg->nnets] = transport;
	cfg->nets[cfg->nnets++] = n;
	return 0;
}

int config_parse_vsock(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct option_word w;
	const char *p = value;
	bool have_cid = false;

	if (cfg->vsock_uds_path)
		return error_set(err, -EINVAL, "--vsock given twice (one vsock device is supported)");
	while (next_word(&p, &w)) {
		if (key_is(&w, "cid") && w.val) {
			char num[24], *end;
			if (!w.vlen || w.vlen >= sizeof(num) || w.val[0] < '0' || w.val[0] > '9')
				return error_set(err, -EINVAL, "--vsock '%s': cid must be a number", value);
			memcpy(num, w.val, w.vlen);
			num[w.vlen] = '\0';
			errno = 0;
			unsigned long long cid = strtoull(num, &end, 10);
			if (errno || *end || cid < 3 || cid >= UINT32_MAX)
				return error_set(err, -EINVAL, "--vsock '%s': cid %s is reserved or too large: use 3 .. %u",
						 value, num, UINT32_MAX - 1);
			cfg->vsock_cid = cid;
			have_cid = true;
		} else if (key_is(&w, "uds") && w.val && w.vlen) {
			if (!(cfg->vsock_uds_path = keep_text(cfg, w.val, w.vlen)))
				return error_set(err, -E2BIG, "--vsock '%s': path too long", value);
		} else {
			return error_set(err, -EINVAL, "--vsock '%s': unknown option '%.*s' (expected cid=N,uds=PATH)",
					 value, (int)w.klen, w.key);
		}
	}
	if (!have_cid || !cfg->vsock_uds_path) {
		cfg->vsock_uds_path = NULL;
		return error_set(err, -EINVAL, "--vsock '%s': expected cid=N,uds=PATH", value);
	}
	return 0;
}

int config_parse_vconsole(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct option_word w;
	const char *p = value;

	if (cfg->vconsole_socket)
		return error_set(err, -EINVAL, "--vconsole given twice (one virtio console port is supported)");
	if (!next_word(&p, &w) || !key_is(&w, "socket") || !w.val || !w.vlen || *p)
		return error_set(err, -EINVAL, "--vconsole '%s': expected socket=PATH", value);
	if (!(cfg->vconsole_socket = keep_text(cfg, w.val, w.vlen)))
		return error_set(err, -E2BIG, "--vconsole '%s': path too long", value);
	return 0;
}

/* A decimal number of at most max in [text, text+len). */
static int parse_uint(const char *text, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!text || !len || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)text[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int config_parse_balloon(struct vm_config *cfg, const char *value, struct vmon_error *err)
{
	struct balloon_config b = { .enabled = true };
	struct option_word w;
	const char *p = value;
	bool amount_set = false;

	if (cfg->balloon.enabled)
		return error_set(err, -EINVAL, "--balloon given twice (one balloon is supported)");
	while (next_word(&p, &w)) {
		if (key_is(&w, "amount_mib")) {
			if (parse_uint(w.val, w.vlen, BALLOON_MAX_MIB, &b.amount_mib))
				return error_set(err, -EINVAL, "--balloon '%s': amount_mib takes a number of MiB, 0 to %u",
						 value, BALLOON_MAX_MIB);
			amount_set = true;
		} else if (key_is(&w, "deflate_on_oom")) {
			if (parse_on_off(&w, &b.deflate_on_oom))
				return error_set(err, -EINVAL, "--balloon '%s': deflate_on_oom takes on or off", value);
		} else if (key_is(&w, "free_page_reporting")) {
			if (parse_on_off(&w, &b.free_page_reporting))
				return error_set(err, -EINVAL, "--balloon '%s': free_page_reporting takes on or off", value);
		} else if (key_is(&w, "stats_interval")) {
			if (parse_uint(w.val, w.vlen, BALLOON_MAX_STATS_INTERVAL_S, &b.stats_interval_s))
				return error_set(err, -EINVAL, "--balloon '%s': stats_interval takes seconds, 0 to %u "
						 "(0: no statistics)", value, BALLOON_MAX_STATS_INTERVAL_S);
		} else {
			return error_set(err, -EINVAL, "--balloon '%s': unknown option '%.*s' (expected amount_mib=, "
					 "deflate_on_oom=, stats_interval=, free_page_reporting=)", value, (int)w.klen, w.key);
		}
	}
	if (!amount_set)
		return error_set(err, -EINVAL, "--balloon '%s': amount_mib=N is required", value);
	cfg->balloon = b;
	return 0;
}
