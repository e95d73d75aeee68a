/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/machine_config.h"

/* A machine with one of everything the description carries. */
static void full_config(struct vm_config *cfg)
{
	vm_config_init(cfg);
	cfg->kernel_path = "/boot/vmlinux";
	cfg->cmdline = "console=ttyS0";
	cfg->mem_size = 256ull << 20;
	cfg->ncpus = 3;
	cfg->host_profile = HOST_PROFILE_PVM;
	cfg->ndrives = 2;
	cfg->drives[0] = (struct drive_config){ .path = "/img/root.ext4", .readonly = false, .id = "rootfs",
						.rate_limiter = { .bandwidth = { 4u << 20, 1u << 20, 1000 } } };
	cfg->drives[1] = (struct drive_config){ .path = "/img/data \"quoted\".img", .readonly = true };
	cfg->nnets = 2;
	cfg->nets[0] = (struct net_config){ .backend = NET_BACKEND_TAP, .tap_name = "tap7", .id = "eth0",
					    .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
					    .tx_rate_limiter = { .ops = { 100, 0, 10 } } };
	cfg->nets[1] = (struct net_config){ .backend = NET_BACKEND_USER, .mac = { 2, 0, 0, 0, 0, 0xfe }, .nhostfwd = 1,
					    .hostfwd = { { .udp = true, .host_addr = 0x7f000001, .host_port = 8080,
							   .guest_addr = 0x0a00020f, .guest_port = 80 } } };
	cfg->rng = true;
	cfg->rng_rate_limiter = (struct rate_limiter_config){ .ops = { 20, 5, 500 } };
	cfg->vconsole_socket = "/run/vc.sock";
	cfg->balloon = (struct balloon_config){ .enabled = true, .amount_mib = 64, .deflate_on_oom = true,
						.stats_interval_s = 2, .free_page_reporting = true };
	/* PCI machine, one drive and one NIC on virtio-mmio. */
	cfg->virtio_transport = VIRTIO_TRANSPORT_PCI;
	cfg->drive_transport[1] = VIRTIO_TRANSPORT_MMIO;
	cfg->net_transport[0] = VIRTIO_TRANSPORT_MMIO;
	cfg->vsock_cid = 4294967294u;
	cfg->vsock_uds_path = "/run/v.sock";
}

/* a = the full machine, b = a through the encoder and the decoder. */
static void round_trip(struct vm_config *a, struct vm_config *b)
{
	struct vmon_error err = { 0 };

	full_config(a);
	char *text = snapshot_config_encode(a);
	assert_non_null(text);
	assert_int_equal(snapshot_config_decode(text, b, &err), 0);
	free(text);
}

static void the_description_round_trips(void **state)
{
	struct vm_config a, b;
	struct vmon_error err = { 0 };
	(void)state;

	round_trip(&a, &b);
	assert_int_equal(b.mem_size, a.mem_size);
	assert_int_equal(b.ncpus, 3);
	assert_int_equal(b.host_profile, HOST_PROFILE_PVM);
	assert_string_equal(b.kernel_path, "/boot/vmlinux");
	assert_null(b.initrd_path);
	assert_int_equal(b.ndrives, 2);
	assert_string_equal(b.drives[0].path, "/img/root.ext4");
	assert_string_equal(b.drives[0].id, "rootfs");
	assert_false(b.drives[0].readonly);
	assert_string_equal(b.drives[1].path, "/img/data \"quoted\".img");
	assert_null(b.drives[1].id);
	assert_true(b.drives[1].readonly);
	/* Rate limiters (their configuration; the buckets restart full). */
	assert_memory_equal(&b.drives[0].rate_limiter, &a.drives[0].rate_limiter, sizeof(struct rate_limiter_config));
	assert_false(rate_limiter_config_limits(&b.drives[1].rate_limiter));
	assert_memory_equal(&b.nets[0].tx_rate_limiter, &a.nets[0].tx_rate_limiter, sizeof(struct rate_limiter_config));
	assert_false(rate_limiter_config_limits(&b.nets[0].rx_rate_limiter));
	assert_false(rate_limiter_config_limits(&b.nets[1].tx_rate_limiter));
	assert_memory_equal(&b.rng_rate_limiter, &a.rng_rate_limiter, sizeof(struct rate_limiter_config));
	assert_int_equal(b.nnets, 2);
	assert_int_equal(b.nets[0].backend, NET_BACKEND_TAP);
	assert_string_equal(b.nets[0].tap_name, "tap7");
	assert_string_equal(b.nets[0].id, "eth0");
	assert_null(b.nets[1].id);
	assert_memory_equal(b.nets[0].mac, a.nets[0].mac, 6);
	assert_int_equal(b.nets[1].backend, NET_BACKEND_USER);
	assert_null(b.nets[1].tap_name);
	assert_int_equal(b.nets[1].nhostfwd, 1);
	assert_memory_equal(&b.nets[1].hostfwd[0], &a.nets[1].hostfwd[0], sizeof(struct net_hostfwd));
	assert_true(b.rng);
	assert_string_equal(b.vconsole_socket, "/run/vc.sock");
	assert_memory_equal(&b.balloon, &a.balloon, sizeof(a.balloon));
	/* Transports come back resolved: the machine's default where a device had none. */
	assert_int_equal(b.virtio_transport, VIRTIO_TRANSPORT_PCI);
	assert_int_equal(b.drive_transport[0], VIRTIO_TRANSPORT_PCI);
	assert_int_equal(b.drive_transport[1], VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(b.net_transport[0], VIRTIO_TRANSPORT_MMIO);
	assert_int_equal(b.net_transport[1], VIRTIO_TRANSPORT_PCI);
	assert_int_equal(b.vsock_cid, 4294967294u);
	assert_string_equal(b.vsock_uds_path, "/run/v.sock");
	/* The decoded description is one vmon accepts. */
	assert_int_equal(vm_config_check(&b, NULL, &err), 0);
}

static void expect_refused(const char *text, const char *words)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };

	assert_int_equal(snapshot_config_decode(text, &cfg, &err), -EINVAL);
	if (!strstr(err.msg, words))
		fail_msg("'%s' does not contain '%s'", err.msg, words);
}

static void damaged_descriptions_are_refused_by_field(void **state)
{
	struct vm_config a;
	(void)state;

	full_config(&a);
	char *good = snapshot_config_encode(&a);
	char *bad = malloc(strlen(good) + 64);
	assert_non_null(good);
	assert_non_null(bad);
	expect_refused("not json", "not JSON");
	expect_refused("[]", "not a JSON object");
	expect_refused("{}", "version: missing");
#define MUTATE(from, to, words)                                          \
	do {                                                             \
		char *at = strstr(good, from);                           \
		assert_non_null(at);                                     \
		size_t head = (size_t)(at - good);                       \
		memcpy(bad, good, head);                                 \
		strcpy(bad + head, to);                                  \
		strcat(bad, at + strlen(from));                          \
		expect_refused(bad, words);                              \
	} while (0)
	MUTATE("\"version\":1", "\"version\":2", "version: not a version");
	MUTATE("\"ncpus\":3", "\"ncpus\":-3", "ncpus: out of range");
	MUTATE("\"ncpus\":3", "\"ncpus\":\"3\"", "ncpus: wrong type");
	MUTATE("\"backend\":\"tap\"", "\"backend\":\"vde\"", "nets[0].backend: not tap or user");
	MUTATE("\"mac\":\"52:54:00:12:34:56\"", "\"mac\":\"52:54\"", "nets[0].mac: not a MAC");
	MUTATE("\"host_port\":8080", "\"host_port\":70000", "nets[1].host_port: out of range");
	MUTATE("\"readonly\":true", "\"readonly\":1", "drives[1].readonly: wrong type");
	MUTATE("\"path\":\"/img/root.ext4\",", "", "drives[0].path: missing");
	MUTATE("\"amount_mib\":64", "\"amount_mib\":-1", "balloon.amount_mib: out of range");
	MUTATE("\"stats_interval_s\":2", "\"stats_interval_s\":70000", "balloon.stats_interval_s: out of range");
	MUTATE("\"free_page_reporting\":true", "\"free_page_reporting\":\"yes\"",
	       "balloon.free_page_reporting: wrong type");
	MUTATE("\"balloon\":{", "\"balloon\":7,\"x\":{", "balloon: wrong type");
	MUTATE("\"virtio_transport\":\"pci\"", "\"virtio_transport\":\"isa\"", "virtio_transport: not \"pci\" or");
	MUTATE("\"transport\":\"mmio\"", "\"transport\":7", "transport: not \"pci\" or");
	MUTATE("\"cid\":4294967294", "\"cid\":4294967295", "vsock.cid: out of range");
	MUTATE("\"cid\":4294967294", "\"cid\":2", "vsock.cid: out of range");
	MUTATE("\"uds_path\":\"/run/v.sock\"", "\"uds_path\":7", "vsock.uds_path: wrong type");
	MUTATE("\"vsock\":{", "\"vsock\":7,\"x\":{", "vsock: not an object");
	MUTATE("\"refill_time_ms\":1000", "\"refill_time_ms\":18446744073710", "drives[0].rate_limiter.bandwidth.refill_time_ms: out of range");
	MUTATE("\"size\":100", "\"size\":4611686018427387905", "nets[0].tx_rate_limiter.ops.size: out of range");
	MUTATE("\"rate_limiter\":{", "\"rate_limiter\":[],\"x\":{", "drives[0].rate_limiter: wrong type");
	MUTATE("\"ops\":{\"size\":100", "\"x\":{\"size\":100", "nets[0].tx_rate_limiter.ops: missing");
	MUTATE("\"ops\":{\"size\":20", "\"ops\":{\"size\":-20", "rng_rate_limiter.ops.size: out of range");
	MUTATE("\"rng_rate_limiter\":{", "\"rng_rate_limiter\":7,\"x\":{", "rng_rate_limiter: wrong type");
#undef MUTATE
	free(bad);
	free(good);
}

static void network_overrides_change_the_backend_of_a_named_interface(void **state)
{
	struct vm_config a, b;
	struct vmon_error err = { 0 };
	(void)state;

	round_trip(&a, &b);
	/* eth0 (TAP tap7) to the user-mode network, then to another TAP. */
	assert_int_equal(snapshot_config_override_net(&b, "eth0", "vmon:user", &err), 0);
	assert_int_equal(b.nets[0].backend, NET_BACKEND_USER);
	assert_null(b.nets[0].tap_name);
	assert_int_equal(snapshot_config_override_net(&b, "eth0", "tap9", &err), 0);
	assert_int_equal(b.nets[0].backend, NET_BACKEND_TAP);
	assert_string_equal(b.nets[0].tap_name, "tap9");
	assert_memory_equal(b.nets[0].mac, a.nets[0].mac, 6);   /* the guest's NIC stays the same */
	assert_int_equal(vm_config_check(&b, NULL, &err), 0);
	/* An interface the snapshot does not have, and names no interface can have. */
	assert_int_equal(snapshot_config_override_net(&b, "eth9", "tap1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no network interface \"eth9\""));
	assert_int_equal(snapshot_config_override_net(&b, "eth0", "a/b", &err), -EINVAL);
	assert_int_equal(snapshot_config_override_net(&b, "eth0", "much-too-long-name0", &err), -EINVAL);
	assert_int_equal(snapshot_config_override_net(&b, "eth0", "", &err), -EINVAL);
	assert_string_equal(b.nets[0].tap_name, "tap9");
}

static void vsock_override_moves_the_host_side(void **state)
{
	struct vm_config a, b;
	struct vmon_error err = { 0 };
	(void)state;

	round_trip(&a, &b);
	assert_int_equal(snapshot_config_override_vsock(&b, "/run/other.sock", &err), 0);
	assert_string_equal(b.vsock_uds_path, "/run/other.sock");
	assert_int_equal(b.vsock_cid, 4294967294u);     /* the guest's address stays */
	assert_int_equal(snapshot_config_override_vsock(&b, "", &err), -EINVAL);
	/* A description without vsock (older, or none configured): refused by name. */
	full_config(&a);
	a.vsock_uds_path = NULL;
	char *text = snapshot_config_encode(&a);
	assert_non_null(strstr(text, "\"vsock\":null"));
	assert_int_equal(snapshot_config_decode(text, &b, &err), 0);
	free(text);
	assert_null(b.vsock_uds_path);
	assert_int_equal(snapshot_config_override_vsock(&b, "/run/other.sock", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the snapshot has no vsock device"));
}

/* Descriptions written before the entropy device had a limiter have no rng_rate_limiter: none, and they load. */
static void a_description_without_the_rng_limiter_loads(void **state)
{
	struct vm_config a, b;
	struct vmon_error err = { 0 };
	(void)state;

	full_config(&a);
	a.rng_rate_limiter = (struct rate_limiter_config){ 0 };
	char *text = snapshot_config_encode(&a);
	assert_non_null(text);
	assert_null(strstr(text, "rng_rate_limiter"));
	assert_non_null(strstr(text, "\"rng\":true"));
	b.rng_rate_limiter = (struct rate_limiter_config){ .bandwidth = { 1, 0, 1 } };
	assert_int_equal(snapshot_config_decode(text, &b, &err), 0);
	free(text);
	assert_true(b.rng);
	assert_false(rate_limiter_config_limits(&b.rng_rate_limiter));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_description_round_trips),
		cmocka_unit_test(damaged_descriptions_are_refused_by_field),
		cmocka_unit_test(network_overrides_change_the_backend_of_a_named_interface),
		cmocka_unit_test(vsock_override_moves_the_host_side),
		cmocka_unit_test(a_description_without_the_rng_limiter_loads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
