/* SPDX-License-Identifier: MIT */
/*
 * Firecracker's resources: the request bodies (each checked against its
 * definition of the OpenAPI document, then against what vmon can honour)
 * each applied by an fc_spec_apply_*() that the config file (fc_spec_file.c)
 * shares. Serialization and the vm_config are in fc_spec_vm.c.
 */
#include "api/fc_spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/fc_json.h"
#include "virtio/vsock.h"
#include "api/fc_spec_internal.h"
#include "api/fc_spec_schema.h"
#include "base/guest_mem.h"

void fc_spec_init(struct fc_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->machine.vcpu_count = 1;
	s->machine.mem_size_mib = VM_CONFIG_DEFAULT_MEM >> 20;
	s->logger.level = FC_LOG_INFO;
	s->mmds.ipv4_address = FC_SPEC_MMDS_DEFAULT_IPV4;
}

static void free_strings(char **list, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void drive_free(struct fc_drive *d)
{
	free(d->drive_id);
	free(d->path_on_host);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

static void net_free(struct fc_net *n)
{
	free(n->iface_id);
	free(n->host_dev_name);
	memset(n, 0, sizeof(*n));
}

static void boot_source_free(struct fc_boot_source *b)
{
	free(b->kernel_image_path);
	free(b->initrd_path);
	free(b->boot_args);
	memset(b, 0, sizeof(*b));
}

static void logger_free(struct fc_logger *l)
{
	free(l->log_path);
	free(l->module);
	memset(l, 0, sizeof(*l));
	l->level = FC_LOG_INFO;
}

static void metrics_free(struct fc_metrics *m)
{
	free(m->metrics_path);
	free_strings(m->property_keys, m->nproperties);
	free_strings(m->property_values, m->nproperties);
	memset(m, 0, sizeof(*m));
}

static void mmds_config_free(struct fc_mmds_config *m)
{
	free_strings(m->iface_ids, m->niface_ids);
	memset(m, 0, sizeof(*m));
	m->ipv4_address = FC_SPEC_MMDS_DEFAULT_IPV4;
}

void fc_spec_free(struct fc_spec *s)
{
	boot_source_free(&s->boot_source);
	for (unsigned i = 0; i < s->ndrives; i++)
		drive_free(&s->drives[i]);
	for (unsigned i = 0; i < s->nnets; i++)
		net_free(&s->nets[i]);
	logger_free(&s->logger);
	metrics_free(&s->metrics);
	free(s->serial.serial_out_path);
	free(s->vsock.uds_path);
	free(s->vsock.vsock_id);
	mmds_config_free(&s->mmds);
	fc_spec_init(s);
}

/* --- checks shared by the resources --- */

/* Firecracker's checked_id(): API resource IDs are non-empty [A-Za-z0-9_]. */
static int check_id(const char *field, const char *id, struct vmon_error *err)
{
	if (!id || !id[0])
		return error_set(err, -EINVAL, "%s: must not be empty", field);
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return error_set(err, -EINVAL, "%s: \"%.64s\": API resource IDs can only contain alphanumeric "
					 "characters and underscores", field, id);
	return 0;
}

static int check_path_id(const char *field, const char *path_id, const char *body_id, struct vmon_error *err)
{
	int ret = check_id(field, path_id, err) ?: check_id(field, body_id, err);

	if (ret)
		return ret;
	if (strcmp(path_id, body_id))
		return error_set(err, -EINVAL, "%s: \"%.64s\" in the path but \"%.64s\" in the body", field, path_id,
				 body_id);
	return 0;
}

/* Opens and closes it, as Firecracker does at PUT time, so a bad path is a 400 now rather than at InstanceStart. */
static int check_file(const char *field, const char *path, int flags, struct vmon_error *err)
{
	struct stat st;
	int fd;

	if (!path[0])
		return error_set(err, -EINVAL, "%s: must not be empty", field);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -EINVAL, "%s: cannot open \"%.200s\": %s", field, path, strerror(errno));
	bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
	close(fd);
	if (dir)
		return error_set(err, -EINVAL, "%s: \"%.200s\" is a directory", field, path);
	return 0;
}

/* "xx:xx:xx:xx:xx:xx", unicast (vm_config_check refuses a multicast station address). */
static int parse_mac(const char *text, uint8_t mac[6], struct vmon_error *err)
{
	for (int i = 0; i < 17; i++)
		if (!text[i] || ((i % 3 == 2) ? text[i] != ':' : !isxdigit((unsigned char)text[i])))
			goto bad;
	if (text[17])
		goto bad;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)strtoul((char[]){ text[3 * i], text[3 * i + 1], '\0' }, NULL, 16);
	if (mac[0] & 1)
		return error_set(err, -EINVAL, "guest_mac: %s is a multicast address; a NIC needs a unicast one "
				 "(first byte even)", text);
	return 0;
bad:
	return error_set(err, -EINVAL, "guest_mac: \"%.40s\" is not a MAC address like 06:00:ac:10:00:02", text);
}

/* --- boot source --- */

static int put_boot_source_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct fc_boot_source b = { .set = true };
	bool ok = true;
	int ret;

	if ((ret = check_file("kernel_image_path", fc_json_str(body, "kernel_image_path", ""), O_RDONLY, err)))
		return ret;
	if (fc_json_get(body, "initrd_path") &&
	    (ret = check_file("initrd_path", fc_json_str(body, "initrd_path", ""), O_RDONLY, err)))
		return ret;
	b.kernel_image_path = fc_json_strdup(fc_json_str(body, "kernel_image_path", NULL), &ok);
	b.initrd_path = fc_json_strdup(fc_json_str(body, "initrd_path", NULL), &ok);
	b.boot_args = fc_json_strdup(fc_json_str(body, "boot_args", NULL), &ok);
	if (!ok) {
		boot_source_free(&b);
		return error_set(err, -ENOMEM, "boot-source: out of memory");
	}
	boot_source_free(&s->boot_source);
	s->boot_source = b;
	return 0;
}

/* --- drives --- */

static int find_drive(const struct fc_spec *s, const char *id)
{
	for (unsigned i = 0; i < s->ndrives; i++)
		if (!strcmp(s->drives[i].drive_id, id))
			return (int)i;
	return -1;
}

static int check_drive(const struct fc_spec *s, const char *path_id, json_object *body,
		       struct rate_limiter_config *limiter, struct vmon_error *err)
{
	const char *id = fc_json_str(body, "drive_id", "");
	const char *partuuid = fc_json_str(body, "partuuid", NULL);
	bool root = fc_json_bool(body, "is_root_device", false);
	bool ro = fc_json_bool(body, "is_read_only", false);
	int pos, ret;

	if ((ret = check_path_id("drive_id", path_id, id, err)))
		return ret;
	if (strlen(id) > FC_SPEC_ID_MAX)
		return error_set(err, -EINVAL, "drive_id: \"%s\" is %zu bytes; vmon gives it to the guest as the "
				 "virtio-blk serial, which holds %d", id, strlen(id), FC_SPEC_ID_MAX);
	if (fc_json_get(body, "socket"))
		return error_set(err, -EINVAL, "socket: vhost-user-block is not supported by vmon (give "
				 "path_on_host)");
	if (!fc_json_get(body, "path_on_host"))
		return error_set(err, -EINVAL, "path_on_host: required (vmon's drives are virtio-block)");
	if (partuuid && (!partuuid[0] || strpbrk(partuuid, " \t\n\r\"")))
		return error_set(err, -EINVAL, "partuuid: \"%.64s\" must be a non-empty word (it goes on the kernel "
				 "command line)", partuuid);
	if ((ret = fc_parse_rate_limiter(body, "rate_limiter", limiter, err)))
		return ret;
	pos = find_drive(s, id);
	if (root && s->ndrives && s->drives[0].is_root_device && pos != 0)
		return error_set(err, -EINVAL, "is_root_device: drive \"%s\" is the root device already; at most "
				 "one root device", s->drives[0].drive_id);
	if (pos < 0 && s->ndrives >= VM_CONFIG_MAX_DRIVES)
		return error_set(err, -EINVAL, "drive_id: \"%s\" would be drive %d; vmon takes at most %d", id,
				 VM_CONFIG_MAX_DRIVES + 1, VM_CONFIG_MAX_DRIVES);
	return check_file("path_on_host", fc_json_str(body, "path_on_host", ""), ro ? O_RDONLY : O_RDWR, err);
}

static int put_drive_obj(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err)
{
	struct fc_drive d = { 0 };
	bool ok = true;
	int pos, ret;

	if ((ret = check_drive(s, path_id, body, &d.rate_limiter, err)))
		return ret;
	d.drive_id = fc_json_strdup(fc_json_str(body, "drive_id", NULL), &ok);
	d.path_on_host = fc_json_strdup(fc_json_str(body, "path_on_host", NULL), &ok);
	d.partuuid = fc_json_strdup(fc_json_str(body, "partuuid", NULL), &ok);
	d.is_root_device = fc_json_bool(body, "is_root_device", false);
	d.is_read_only = fc_json_bool(body, "is_read_only", false);
	d.cache_type = (enum fc_cache_type)fc_json_choice(fc_cache_types, fc_json_str(body, "cache_type", "Unsafe"),
							   false);
	d.io_engine = (enum fc_io_engine)fc_json_choice(fc_io_engines, fc_json_str(body, "io_engine", "Sync"), false);
	if (!ok) {
		drive_free(&d);
		return error_set(err, -ENOMEM, "drive: out of memory");
	}
	pos = find_drive(s, d.drive_id);
	if (pos >= 0) {
		drive_free(&s->drives[pos]);
	} else {
		/* A new root device goes first (Firecracker's push_front), the others last. */
		pos = d.is_root_device ? 0 : (int)s->ndrives;
		memmove(&s->drives[pos + 1], &s->drives[pos], (s->ndrives - (unsigned)pos) * sizeof(s->drives[0]));
		s->ndrives++;
	}
	/* A drive updated into the root device moves to the front: the root device is /dev/vda. */
	if (d.is_root_device && pos > 0) {
		memmove(&s->drives[1], &s->drives[0], (unsigned)pos * sizeof(s->drives[0]));
		pos = 0;
	}
	s->drives[pos] = d;
	return 0;
}

static int patch_drive_obj(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err)
{
	const char *id = fc_json_str(body, "drive_id", "");
	const char *path = fc_json_str(body, "path_on_host", NULL);
	struct rate_limiter_config limiter;
	int pos, ret;
	char *copy;

	if ((ret = check_path_id("drive_id", path_id, id, err)))
		return ret;
	if ((pos = find_drive(s, id)) < 0)
		return error_set(err, -EINVAL, "drive_id: no drive \"%.64s\" (PUT /drives/%.64s first)", id, id);
	if (!path && !fc_json_get(body, "rate_limiter"))
		return error_set(err, -EINVAL, "body: nothing to change (give path_on_host or rate_limiter)");
	limiter = s->drives[pos].rate_limiter;
	if ((ret = fc_parse_rate_limiter(body, "rate_limiter", &limiter, err)))
		return ret;
	if (!path) {
		s->drives[pos].rate_limiter = limiter;
		return 0;
	}
	if ((ret = check_file("path_on_host", path, s->drives[pos].is_read_only ? O_RDONLY : O_RDWR, err)))
		return ret;
	if (!(copy = strdup(path)))
		return error_set(err, -ENOMEM, "drive: out of memory");
	s->drives[pos].rate_limiter = limiter;
	free(s->drives[pos].path_on_host);
	s->drives[pos].path_on_host = copy;
	return 0;
}

/* --- machine config --- */

static int machine_config_update(const struct fc_machine_config *base, json_object *body,
				 struct fc_machine_config *out, struct vmon_error *err)
{
	if (fc_json_bool(body, "smt", false))
		return error_set(err, -EINVAL, "smt: vmon cannot enable SMT: its CPUID shows the guest one thread "
				 "per core (leaves 0xb/0x1f), so there are no sibling threads to give");
	if (strcmp(fc_json_str(body, "cpu_template", "None"), "None"))
		return error_set(err, -EINVAL, "cpu_template: vmon has no CPU templates; only \"None\" is accepted "
				 "(got \"%s\")", fc_json_str(body, "cpu_template", ""));
	if (strcmp(fc_json_str(body, "huge_pages", "None"), "None"))
		return error_set(err, -EINVAL, "huge_pages: vmon backs guest memory with 4 KiB pages; only \"None\" "
				 "is accepted (got \"%s\")", fc_json_str(body, "huge_pages", ""));
	out->vcpu_count = (unsigned)fc_json_int(body, "vcpu_count", base->vcpu_count);
	out->mem_size_mib = (uint64_t)fc_json_int(body, "mem_size_mib", (int64_t)base->mem_size_mib);
	out->track_dirty_pages = fc_json_bool(body, "track_dirty_pages", base->track_dirty_pages);
	return 0;
}

static int put_machine_config_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	const struct fc_machine_config defaults = { .vcpu_count = 1, .mem_size_mib = VM_CONFIG_DEFAULT_MEM >> 20 };

	return machine_config_update(&defaults, body, &s->machine, err);
}

/* --- network interfaces --- */

static int find_net(const struct fc_spec *s, const char *id)
{
	for (unsigned i = 0; i < s->nnets; i++)
		if (!strcmp(s->nets[i].iface_id, id))
			return (int)i;
	return -1;
}

/* An existing TAP interface's name: what Linux's dev_valid_name() takes. */
static int check_host_dev_name(const char *name, struct vmon_error *err)
{
	if (!strcmp(name, FC_SPEC_USER_NET))
		return 0;
	if (!name[0] || strlen(name) > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return error_set(err, -EINVAL, "host_dev_name: \"%.64s\" is not an interface name (1 to 15 bytes), "
				 "nor \"%s\" for vmon's user-mode network", name, FC_SPEC_USER_NET);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return error_set(err, -EINVAL, "host_dev_name: \"%s\": an interface name has no '/', ':' or "
					 "spaces", name);
	return 0;
}

static int check_net(const struct fc_spec *s, const char *path_id, json_object *body, struct fc_net *n,
		     struct vmon_error *err)
{
	const char *id = fc_json_str(body, "iface_id", "");
	const char *dev = fc_json_str(body, "host_dev_name", "");
	const char *mac = fc_json_str(body, "guest_mac", NULL);
	int pos, ret;

	if ((ret = check_path_id("iface_id", path_id, id, err)) || (ret = check_host_dev_name(dev, err)))
		return ret;
	if (mac && (ret = parse_mac(mac, n->guest_mac, err)))
		return ret;
	n->has_mac = mac != NULL;
	if (fc_json_get(body, "mtu"))
		return error_set(err, -EINVAL, "mtu: vmon's virtio-net does not offer VIRTIO_NET_F_MTU; leave mtu out "
				 "(the guest then uses 1500)");
	if ((ret = fc_parse_rate_limiter(body, "rx_rate_limiter", &n->rx_rate_limiter, err)) ||
	    (ret = fc_parse_rate_limiter(body, "tx_rate_limiter", &n->tx_rate_limiter, err)))
		return ret;
	pos = find_net(s, id);
	for (unsigned i = 0; i < s->nnets; i++) {
		if ((int)i == pos)
			continue;
		if (strcmp(dev, FC_SPEC_USER_NET) && !strcmp(s->nets[i].host_dev_name, dev))
			return error_set(err, -EINVAL, "host_dev_name: \"%s\" is already used by network interface "
					 "\"%s\"", dev, s->nets[i].iface_id);
		if (mac && s->nets[i].has_mac && !memcmp(s->nets[i].guest_mac, n->guest_mac, 6))
			return error_set(err, -EINVAL, "guest_mac: %s is already used by network interface \"%s\"",
					 mac, s->nets[i].iface_id);
	}
	if (pos < 0 && s->nnets >= VM_CONFIG_MAX_NETS)
		return error_set(err, -EINVAL, "iface_id: \"%s\" would be network interface %d; vmon takes at most %d",
				 id, VM_CONFIG_MAX_NETS + 1, VM_CONFIG_MAX_NETS);
	return 0;
}

static int put_net_obj(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err)
{
	struct fc_net n = { 0 };
	bool ok = true;
	int pos, ret;

	if ((ret = check_net(s, path_id, body, &n, err)))
		return ret;
	n.iface_id = fc_json_strdup(fc_json_str(body, "iface_id", NULL), &ok);
	n.host_dev_name = fc_json_strdup(fc_json_str(body, "host_dev_name", NULL), &ok);
	if (!ok) {
		net_free(&n);
		return error_set(err, -ENOMEM, "network interface: out of memory");
	}
	pos = find_net(s, n.iface_id);
	if (pos >= 0)
		net_free(&s->nets[pos]);
	else
		pos = (int)s->nnets++;
	s->nets[pos] = n;
	return 0;
}

static int patch_net_obj(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err)
{
	const char *id = fc_json_str(body, "iface_id", "");
	struct rate_limiter_config rx, tx;
	int pos, ret;

	if ((ret = check_path_id("iface_id", path_id, id, err)))
		return ret;
	if ((pos = find_net(s, id)) < 0)
		return error_set(err, -EINVAL, "iface_id: no network interface \"%.64s\" (PUT /network-interfaces/%.64s "
				 "first)", id, id);
	rx = s->nets[pos].rx_rate_limiter;
	tx = s->nets[pos].tx_rate_limiter;
	if ((ret = fc_parse_rate_limiter(body, "rx_rate_limiter", &rx, err)) ||
	    (ret = fc_parse_rate_limiter(body, "tx_rate_limiter", &tx, err)))
		return ret;
	s->nets[pos].rx_rate_limiter = rx;
	s->nets[pos].tx_rate_limiter = tx;
	return 0;
}

/* --- logger, metrics, entropy, serial, MMDS config --- */

static int put_logger_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct fc_logger l = { .set = true };
	bool ok = true;

	l.level = (enum fc_log_level)fc_json_choice(fc_log_levels, fc_json_str(body, "level", "Info"), true);
	l.show_level = fc_json_bool(body, "show_level", false);
	l.show_log_origin = fc_json_bool(body, "show_log_origin", false);
	l.log_path = fc_json_strdup(fc_json_str(body, "log_path", NULL), &ok);
	l.module = fc_json_strdup(fc_json_str(body, "module", NULL), &ok);
	if (l.log_path && !l.log_path[0]) {
		logger_free(&l);
		return error_set(err, -EINVAL, "log_path: must not be empty");
	}
	if (!ok) {
		logger_free(&l);
		return error_set(err, -ENOMEM, "logger: out of memory");
	}
	logger_free(&s->logger);
	s->logger = l;
	return 0;
}

static int put_metrics_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct fc_metrics m = { .set = true };
	json_object *props = fc_json_get(body, "properties");
	bool ok = true;

	if (!fc_json_str(body, "metrics_path", "")[0])
		return error_set(err, -EINVAL, "metrics_path: must not be empty");
	m.emit_id = fc_json_bool(body, "emit_id", false);
	m.metrics_path = fc_json_strdup(fc_json_str(body, "metrics_path", NULL), &ok);
	if (props && json_object_object_length(props) > 0) {
		size_t n = (size_t)json_object_object_length(props);
		m.property_keys = calloc(n, sizeof(char *));
		m.property_values = calloc(n, sizeof(char *));
		ok = ok && m.property_keys && m.property_values;
		json_object_object_foreach(props, key, val) {
			if (!ok)
				break;
			m.property_keys[m.nproperties] = fc_json_strdup(key, &ok);
			m.property_values[m.nproperties++] = fc_json_strdup(json_object_get_string(val), &ok);
		}
	}
	if (!ok) {
		metrics_free(&m);
		return error_set(err, -ENOMEM, "metrics: out of memory");
	}
	metrics_free(&s->metrics);
	s->metrics = m;
	return 0;
}

/* A PUT replaces the device whole: a bucket the body leaves out does not limit. */
static int put_entropy_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct rate_limiter_config limiter = { 0 };
	int ret = fc_parse_rate_limiter(body, "rate_limiter", &limiter, err);

	if (ret)
		return ret;
	s->entropy = true;
	s->entropy_rate_limiter = limiter;
	return 0;
}

static int put_vsock_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	int64_t cid = json_object_get_int64(fc_json_get(body, "guest_cid"));
	const char *path = fc_json_str(body, "uds_path", NULL);
	const char *id = fc_json_str(body, "vsock_id", NULL);
	char *path_copy, *id_copy = NULL;

	/* The schema bounds guest_cid to 3 .. 2^32 - 1; U32_MAX itself is VMADDR_CID_ANY. */
	if (cid >= UINT32_MAX)
		return error_set(err, -EINVAL, "guest_cid: %lld is VMADDR_CID_ANY; use 3 .. %u", (long long)cid,
				 UINT32_MAX - 1);
	if (!path || !path[0])
		return error_set(err, -EINVAL, "uds_path: must not be empty");
	if (strlen(path) > VSOCK_UDS_PATH_MAX)
		return error_set(err, -EINVAL, "uds_path: longer than %zu bytes (\"<uds_path>_<port>\" must fit "
				 "a UNIX socket address)", VSOCK_UDS_PATH_MAX);
	if (!(path_copy = strdup(path)) || (id && !(id_copy = strdup(id)))) {
		free(path_copy);
		return error_set(err, -ENOMEM, "vsock: out of memory");
	}
	free(s->vsock.uds_path);
	free(s->vsock.vsock_id);
	s->vsock = (struct fc_vsock){ .set = true, .guest_cid = (uint64_t)cid, .uds_path = path_copy,
				      .vsock_id = id_copy };
	return 0;
}

static int put_serial_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	const char *path = fc_json_str(body, "serial_out_path", NULL);
	char *copy = NULL;
	int ret;

	if ((ret = fc_refuse_bucket(fc_json_get(body, "rate_limiter"), "rate_limiter", "serial device", err)))
		return ret;
	if (path && !path[0])
		return error_set(err, -EINVAL, "serial_out_path: must not be empty");
	if (path && !(copy = strdup(path)))
		return error_set(err, -ENOMEM, "serial: out of memory");
	free(s->serial.serial_out_path);
	s->serial.set = true;
	s->serial.serial_out_path = copy;
	return 0;
}

/* MmdsConfig.ipv4_address's pattern: 169.254.([1-9]|...|25[0-4]).([0-9]|...|25[0-5]), dotted decimal. */
static int parse_mmds_ipv4(const char *text, uint32_t *addr, struct vmon_error *err)
{
	struct in_addr in;

	if (inet_pton(AF_INET, text, &in) != 1)
		goto bad;
	*addr = ntohl(in.s_addr);
	if ((*addr >> 16) != 0xa9fe || ((*addr >> 8) & 0xff) == 0 || ((*addr >> 8) & 0xff) == 255)
		goto bad;
	return 0;
bad:
	return error_set(err, -EINVAL, "ipv4_address: \"%.40s\" is not a link-local address from 169.254.1.0 to "
			 "169.254.254.255", text);
}

static int put_mmds_config_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct fc_mmds_config m = { .set = true, .ipv4_address = FC_SPEC_MMDS_DEFAULT_IPV4 };
	json_object *ifaces = fc_json_get(body, "network_interfaces");
	size_t n = json_object_array_length(ifaces);
	bool ok = true;
	int ret;

	if (n == 0)
		return error_set(err, -EINVAL, "network_interfaces: empty; name at least one network interface");
	for (size_t i = 0; i < n; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ifaces, i));
		if (find_net(s, id) < 0)
			return error_set(err, -EINVAL, "network_interfaces: no network interface \"%.64s\" (PUT "
					 "/network-interfaces/%.64s first)", id, id);
	}
	if (fc_json_get(body, "ipv4_address") &&
	    (ret = parse_mmds_ipv4(fc_json_str(body, "ipv4_address", ""), &m.ipv4_address, err)))
		return ret;
	m.version = (enum fc_mmds_version)fc_json_choice(fc_mmds_versions, fc_json_str(body, "version", "V1"), false);
	m.imds_compat = fc_json_bool(body, "imds_compat", false);
	m.iface_ids = calloc(n, sizeof(char *));
	ok = m.iface_ids != NULL;
	for (size_t i = 0; ok && i < n; i++)
		m.iface_ids[m.niface_ids++] = fc_json_strdup(json_object_get_string(json_object_array_get_idx(ifaces, i)),
							     &ok);
	if (!ok) {
		mmds_config_free(&m);
		return error_set(err, -ENOMEM, "mmds-config: out of memory");
	}
	mmds_config_free(&s->mmds);
	s->mmds = m;
	return 0;
}

/* --- the endpoints: parse, check against the schema, apply --- */

static int request(struct fc_spec *s, const char *path_id, const char *body, const struct fc_json_schema *schema,
		   fc_spec_apply_fn apply, struct vmon_error *err)
{
	json_object *obj;
	int ret = fc_json_parse_object(body, schema, &obj, err);

	if (ret)
		return ret;
	ret = apply(s, path_id, obj, err);
	json_object_put(obj);
	return ret;
}

/* The resources without an id in the path, in fc_spec_apply_fn's shape (the config file calls them too). */
#define APPLY_WITHOUT_ID(name)                                                                        \
	int fc_spec_apply_##name(struct fc_spec *s, const char *id, json_object *b, struct vmon_error *e) \
	{                                                                                             \
		(void)id;                                                                             \
		return put_##name##_obj(s, b, e);                                                     \
	}
APPLY_WITHOUT_ID(boot_source)
APPLY_WITHOUT_ID(machine_config)
APPLY_WITHOUT_ID(logger)
APPLY_WITHOUT_ID(metrics)
APPLY_WITHOUT_ID(entropy)
APPLY_WITHOUT_ID(serial)
APPLY_WITHOUT_ID(mmds_config)
APPLY_WITHOUT_ID(vsock)

int fc_spec_apply_drive(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err)
{
	return put_drive_obj(s, path_id, body, err);
}

int fc_spec_apply_network_interface(struct fc_spec *s, const char *path_id, json_object *body,
				    struct vmon_error *err)
{
	return put_net_obj(s, path_id, body, err);
}

static int patch_machine_config_obj(struct fc_spec *s, const char *id, json_object *body, struct vmon_error *err)
{
	struct fc_machine_config next;
	int ret;

	(void)id;
	if (json_object_object_length(body) == 0)
		return error_set(err, -EINVAL, "body: nothing to change (give at least one of vcpu_count, mem_size_mib, "
				 "smt, track_dirty_pages, cpu_template, huge_pages)");
	if ((ret = machine_config_update(&s->machine, body, &next, err)))
		return ret;
	s->machine = next;
	return 0;
}

/* amount_mib of a body that passed the schema: 0 .. the guest's memory (Firecracker: TooManyPagesRequested). */
static int balloon_amount(const struct fc_spec *s, json_object *body, uint32_t *out, struct vmon_error *err)
{
	int64_t mib = fc_json_int(body, "amount_mib", 0);

	if (mib < 0 || (uint64_t)mib > s->machine.mem_size_mib)
		return error_set(err, -EINVAL, "amount_mib: %lld is outside 0 .. the guest's %llu MiB", (long long)mib,
				 (unsigned long long)s->machine.mem_size_mib);
	*out = (uint32_t)mib;
	return 0;
}

static int balloon_interval(json_object *body, uint32_t *out, struct vmon_error *err)
{
	int64_t s = fc_json_int(body, "stats_polling_interval_s", 0);

	if (s < 0 || s > BALLOON_MAX_STATS_INTERVAL_S)
		return error_set(err, -EINVAL, "stats_polling_interval_s: %lld is outside 0 .. %u", (long long)s,
				 BALLOON_MAX_STATS_INTERVAL_S);
	*out = (uint32_t)s;
	return 0;
}

static int put_balloon_obj(struct fc_spec *s, json_object *body, struct vmon_error *err)
{
	struct fc_balloon b = { .set = true };
	int ret;

	if (fc_json_bool(body, "free_page_hinting", false))
		return error_set(err, -EINVAL, "free_page_hinting: vmon does not implement free page hinting "
				 "(VIRTIO_BALLOON_F_FREE_PAGE_HINT); free_page_reporting gives freed pages back");
	if ((ret = balloon_amount(s, body, &b.amount_mib, err)) || (ret = balloon_interval(body, &b.stats_polling_interval_s, err)))
		return ret;
	b.deflate_on_oom = fc_json_bool(body, "deflate_on_oom", false);
	b.free_page_reporting = fc_json_bool(body, "free_page_reporting", false);
	s->balloon = b;
	return 0;
}

static int patch_balloon_obj(struct fc_spec *s, const char *id, json_object *body, struct vmon_error *err)
{
	uint32_t mib = 0;
	int ret;

	(void)id;
	if (!s->balloon.set)
		return error_set(err, -EINVAL, "the balloon device is not configured (PUT /balloon before the start)");
	if ((ret = balloon_amount(s, body, &mib, err)))
		return ret;
	s->balloon.amount_mib = mib;
	return 0;
}

static int patch_balloon_stats_obj(struct fc_spec *s, const char *id, json_object *body, struct vmon_error *err)
{
	uint32_t interval = 0;
	int ret;

	(void)id;
	if (!s->balloon.set)
		return error_set(err, -EINVAL, "the balloon device is not configured (PUT /balloon before the start)");
	if ((ret = balloon_interval(body, &interval, err)))
		return ret;
	if (!interval != !s->balloon.stats_polling_interval_s)
		return error_set(err, -EINVAL, "stats_polling_interval_s: statistics were %s at the start and cannot "
				 "be turned %s", interval ? "off" : "on", interval ? "on" : "off");
	s->balloon.stats_polling_interval_s = interval;
	return 0;
}

APPLY_WITHOUT_ID(balloon)

int fc_spec_put_boot_source(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_boot_source, fc_spec_apply_boot_source, err);
}

int fc_spec_put_drive(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err)
{
	return request(s, path_id, body, &fc_schema_drive, put_drive_obj, err);
}

int fc_spec_patch_drive(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err)
{
	return request(s, path_id, body, &fc_schema_partial_drive, patch_drive_obj, err);
}

int fc_spec_put_machine_config(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_machine_config, fc_spec_apply_machine_config, err);
}

int fc_spec_patch_machine_config(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_partial_machine_config, patch_machine_config_obj, err);
}

int fc_spec_put_network_interface(struct fc_spec *s, const char *path_id, const char *body, struct vmon_error *err)
{
	return request(s, path_id, body, &fc_schema_network_interface, put_net_obj, err);
}

int fc_spec_patch_network_interface(struct fc_spec *s, const char *path_id, const char *body,
				    struct vmon_error *err)
{
	return request(s, path_id, body, &fc_schema_partial_network_interface, patch_net_obj, err);
}

int fc_spec_put_logger(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_logger, fc_spec_apply_logger, err);
}

int fc_spec_put_metrics(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_metrics, fc_spec_apply_metrics, err);
}

int fc_spec_put_entropy(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_entropy, fc_spec_apply_entropy, err);
}

int fc_spec_put_serial(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_serial, fc_spec_apply_serial, err);
}

int fc_spec_put_mmds_config(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_mmds_config, fc_spec_apply_mmds_config, err);
}

int fc_spec_put_vsock(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_vsock, fc_spec_apply_vsock, err);
}

int fc_spec_put_balloon(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_balloon, fc_spec_apply_balloon, err);
}

int fc_spec_patch_balloon(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_balloon_update, patch_balloon_obj, err);
}

int fc_spec_patch_balloon_stats(struct fc_spec *s, const char *body, struct vmon_error *err)
{
	return request(s, NULL, body, &fc_schema_balloon_stats_update, patch_balloon_stats_obj, err);
}
