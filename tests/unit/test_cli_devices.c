/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_devices.h"
#include "cli/cli.h"

#define ARGV(...) ((char *[]){ "vmon", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "vmon", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, devnull, err)

static FILE *devnull;
static struct vm_config cfg;   /* 4 KiB of text: keep it off the test's stack */

static void drives_in_order_with_options(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=/tmp/a.img",
			       "--drive", "path=b.img,readonly=on,id=data", "--drive", "readonly,path=c.img"), CLI_RUN);
	assert_int_equal(cfg.ndrives, 3);
	assert_string_equal(cfg.drives[0].path, "/tmp/a.img");
	assert_false(cfg.drives[0].readonly);
	assert_null(cfg.drives[0].id);
	assert_string_equal(cfg.drives[1].path, "b.img");
	assert_true(cfg.drives[1].readonly);
	assert_string_equal(cfg.drives[1].id, "data");
	assert_string_equal(cfg.drives[2].path, "c.img");
	assert_true(cfg.drives[2].readonly);
}

static void bad_drives_name_the_problem(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "readonly=on"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "path=FILE is required"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=a,readonly=maybe"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "readonly takes on or off"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=a,cache=none"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "unknown option 'cache'"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=a,id=123456789012345678901"),
			 CLI_ERROR);
	assert_non_null(strstr(err.msg, "1 to 20"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=a,id=x", "--drive",
			       "path=b,id=x"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "used twice"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=1", "--drive", "path=2",
			       "--drive", "path=3", "--drive", "path=4", "--drive", "path=5", "--drive", "path=6",
			       "--drive", "path=7", "--drive", "path=8", "--drive", "path=9", "--drive", "path=10",
			       "--drive", "path=11", "--drive", "path=12", "--drive", "path=13"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "at most 12 drives"));
}

static void rate_limiter_keys(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--drive", "path=a,bw=4M,ops=100/500,bw_burst=1G",
			       "--net", "user,tx_bw=1000/10,rx_ops=7,rx_ops_burst=3"), CLI_RUN);
	const struct rate_limiter_config *d = &cfg.drives[0].rate_limiter;
	assert_int_equal(d->bandwidth.size, 4u << 20);
	assert_int_equal(d->bandwidth.refill_time_ms, 1000);
	assert_int_equal(d->bandwidth.one_time_burst, 1u << 30);
	assert_int_equal(d->ops.size, 100);
	assert_int_equal(d->ops.refill_time_ms, 500);
	assert_int_equal(d->ops.one_time_burst, 0);
	const struct net_config *n = &cfg.nets[0];
	assert_int_equal(n->tx_rate_limiter.bandwidth.size, 1000);
	assert_int_equal(n->tx_rate_limiter.bandwidth.refill_time_ms, 10);
	assert_int_equal(n->tx_rate_limiter.ops.size, 0);
	assert_int_equal(n->rx_rate_limiter.ops.size, 7);
	assert_int_equal(n->rx_rate_limiter.ops.one_time_burst, 3);
	assert_int_equal(n->rx_rate_limiter.bandwidth.size, 0);

	static const struct {
		char *option, *value;
		const char *message;
	} bad[] = {
		{ "--drive", "path=a,bw=fast", "bw takes COUNT[/REFILL_MS]" },
		{ "--drive", "path=a,bw=", "bw takes COUNT[/REFILL_MS]" },
		{ "--drive", "path=a,ops", "ops takes COUNT[/REFILL_MS]" },
		{ "--drive", "path=a,ops=5/", "ops takes COUNT[/REFILL_MS]" },
		{ "--drive", "path=a,bw_burst=1/10", "bw_burst takes a count" },
		{ "--drive", "path=a,bw=99999999999999999999", "bw takes COUNT" },
		{ "--drive", "path=a,bw=8G/1", "" },    /* fine: 8 GiB per ms */
		{ "--drive", "path=a,bw=4294967297G", "bw: size exceeds 2^62" },
		{ "--drive", "path=a,ops=1/18446744073709551", "ops: refill_time exceeds 2^64 nanoseconds" },
		{ "--drive", "path=a,rx_bw=1", "unknown option 'rx_bw'" },
		{ "--net", "user,bw=1", "unknown option 'bw'" },
		{ "--net", "user,tx_ops=-1", "tx_ops takes COUNT" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = PARSE(&cfg, &err, "run", "--kernel", "k", bad[i].option, bad[i].value);
		if (!bad[i].message[0]) {
			assert_int_equal(r, CLI_RUN);
			continue;
		}
		assert_int_equal(r, CLI_ERROR);
		if (!strstr(err.msg, bad[i].message))
			fail_msg("%s %s: \"%s\" lacks \"%s\"", bad[i].option, bad[i].value, err.msg, bad[i].message);
	}
}

static void net_user_and_tap(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "user,hostfwd=tcp::8080-:80",
			       "--net", "tap=tap7,mac=02:00:00:aa:bb:cc"), CLI_RUN);
	assert_int_equal(cfg.nnets, 2);
	assert_int_equal(cfg.nets[0].backend, NET_BACKEND_USER);
	assert_int_equal(cfg.nets[0].nhostfwd, 1);
	assert_false(cfg.nets[0].hostfwd[0].udp);
	assert_int_equal(cfg.nets[0].hostfwd[0].host_port, 8080);
	assert_int_equal(cfg.nets[0].hostfwd[0].guest_port, 80);
	assert_int_equal(cfg.nets[0].hostfwd[0].host_addr, 0);
	assert_memory_equal(cfg.nets[0].mac, ((uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }), 6);
	assert_int_equal(cfg.nets[1].backend, NET_BACKEND_TAP);
	assert_string_equal(cfg.nets[1].tap_name, "tap7");
	assert_memory_equal(cfg.nets[1].mac, ((uint8_t[]){ 0x02, 0, 0, 0xaa, 0xbb, 0xcc }), 6);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "tap"), CLI_RUN);
	assert_null(cfg.nets[0].tap_name);
}

static void hostfwd_forms(void **state)
{
	struct net_hostfwd f;
	(void)state;
#define HF(s) config_parse_hostfwd(s, strlen(s), &f)
	assert_int_equal(HF("udp:127.0.0.1:5353-10.0.2.15:53"), 0);
	assert_true(f.udp);
	assert_int_equal(f.host_addr, 0x7f000001);
	assert_int_equal(f.host_port, 5353);
	assert_int_equal(f.guest_addr, 0x0a00020f);
	assert_int_equal(f.guest_port, 53);
	assert_int_equal(HF("tcp::22-:2222"), 0);
	assert_int_equal(f.guest_port, 2222);
	assert_int_equal(HF("tcp::0-:22"), -EINVAL);
	assert_int_equal(HF("tcp::65536-:22"), -EINVAL);
	assert_int_equal(HF("tcp::22"), -EINVAL);
	assert_int_equal(HF("sctp::1-:2"), -EINVAL);
	assert_int_equal(HF("tcp:1.2.3:1-:2"), -EINVAL);
	assert_int_equal(HF("tcp::1x-:2"), -EINVAL);
	assert_int_equal(HF("tcp::1-:"), -EINVAL);
#undef HF
}

static void mac_addresses(void **state)
{
	uint8_t mac[6];
	(void)state;
	assert_int_equal(config_parse_mac("52:54:00:AB:cd:0f", 17, mac), 0);
	assert_memory_equal(mac, ((uint8_t[]){ 0x52, 0x54, 0, 0xab, 0xcd, 0x0f }), 6);
	assert_int_equal(config_parse_mac("01:00:5e:00:00:01", 17, mac), -EINVAL);   /* multicast */
	assert_int_equal(config_parse_mac("52:54:00:ab:cd", 14, mac), -EINVAL);
	assert_int_equal(config_parse_mac("52-54-00-ab-cd-ef", 17, mac), -EINVAL);
	assert_int_equal(config_parse_mac("52:54:00:ab:cd:eg", 17, mac), -EINVAL);
	assert_int_equal(config_parse_mac("52:54:00:ab:c :ef", 17, mac), -EINVAL);
}

static void bad_nets_name_the_problem(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "bridge"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "user or tap"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "tap,hostfwd=tcp::1-:2"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "needs the user backend"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "user,mac=ff:ff:ff:ff:ff:ff"),
			 CLI_ERROR);
	assert_non_null(strstr(err.msg, "mac 'ff:ff:ff:ff:ff:ff'"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "tap=abcdefghijklmnop"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "1 to 15"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--net", "user,hostfwd=tcp::99999-:1"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "hostfwd 'tcp::99999-:1'"));
}

static void rng_and_vconsole(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k"), CLI_RUN);
	assert_false(cfg.rng);
	assert_null(cfg.vconsole_socket);
	assert_int_equal(cfg.ndrives + cfg.nnets, 0);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng", "--vconsole", "socket=/tmp/agent.sock"),
			 CLI_RUN);
	assert_true(cfg.rng);
	assert_false(rate_limiter_config_limits(&cfg.rng_rate_limiter));
	assert_string_equal(cfg.vconsole_socket, "/tmp/agent.sock");
	/* --rng takes --drive's limiter keys, after '=' or as the next word. */
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng=bw=64K/500,ops=10,ops_burst=5", "-v"), CLI_RUN);
	assert_true(cfg.rng);
	assert_int_equal(cfg.rng_rate_limiter.bandwidth.size, 64 * 1024);
	assert_int_equal(cfg.rng_rate_limiter.bandwidth.refill_time_ms, 500);
	assert_int_equal(cfg.rng_rate_limiter.ops.size, 10);
	assert_int_equal(cfg.rng_rate_limiter.ops.refill_time_ms, 1000);
	assert_int_equal(cfg.rng_rate_limiter.ops.one_time_burst, 5);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng", "ops=3/100", "--vconsole", "socket=/s"),
			 CLI_RUN);
	assert_int_equal(cfg.rng_rate_limiter.ops.size, 3);
	assert_int_equal(cfg.rng_rate_limiter.ops.refill_time_ms, 100);
	assert_false(token_bucket_limits(&cfg.rng_rate_limiter.bandwidth));
	assert_string_equal(cfg.vconsole_socket, "/s");
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng", "ops=x"), CLI_ERROR);
	assert_string_equal(err.msg, "--rng 'ops=x': ops takes COUNT[/REFILL_MS] (K, M, G: binary units; refill 1000 ms "
			    "unless given)");
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng=bw=5G/0"), CLI_RUN);   /* refill 0: no limit */
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng=ops=1/18446744073710"), CLI_ERROR);
	assert_string_equal(err.msg, "--rng 'ops=1/18446744073710': ops: refill_time exceeds 2^64 nanoseconds");
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng=rate=1"), CLI_ERROR);
	assert_string_equal(err.msg, "--rng 'rate=1': unknown option 'rate' (expected bw=, bw_burst=, ops=, ops_burst=)");
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--rng", "--rng"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "--rng given twice"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vconsole", "/tmp/x"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "socket=PATH"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vconsole", "socket=a", "--vconsole",
			       "socket=b"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "twice"));
}

static void balloon_options(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k"), CLI_RUN);
	assert_false(cfg.balloon.enabled);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--mem", "256", "--balloon",
			       "amount_mib=64,deflate_on_oom=on,stats_interval=5,free_page_reporting=on"), CLI_RUN);
	assert_true(cfg.balloon.enabled);
	assert_int_equal(cfg.balloon.amount_mib, 64);
	assert_true(cfg.balloon.deflate_on_oom);
	assert_int_equal(cfg.balloon.stats_interval_s, 5);
	assert_true(cfg.balloon.free_page_reporting);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=0"), CLI_RUN);
	assert_false(cfg.balloon.deflate_on_oom);
	assert_int_equal(cfg.balloon.stats_interval_s, 0);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "deflate_on_oom=on"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "amount_mib=N is required"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=-1"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "amount_mib takes a number of MiB"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=1,stats_interval=65536"),
			 CLI_ERROR);
	assert_non_null(strstr(err.msg, "stats_interval takes seconds"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=1,hinting=on"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "unknown option 'hinting'"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=1,deflate_on_oom=yes"),
			 CLI_ERROR);
	assert_non_null(strstr(err.msg, "deflate_on_oom takes on or off"));
	/* More than the guest has: vm_config_check, named by the option. */
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--mem", "128", "--balloon", "amount_mib=129"),
			 CLI_ERROR);
	assert_non_null(strstr(err.msg, "--balloon: balloon amount_mib 129 is more than the guest's 128 MiB"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--balloon", "amount_mib=1", "--balloon",
			       "amount_mib=2"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "twice"));
}

static void vsock_option(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k"), CLI_RUN);
	assert_null(cfg.vsock_uds_path);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vsock", "cid=3,uds=/tmp/v.sock"), CLI_RUN);
	assert_int_equal(cfg.vsock_cid, 3);
	assert_string_equal(cfg.vsock_uds_path, "/tmp/v.sock");
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vsock", "uds=/v,cid=4294967294"), CLI_RUN);
	assert_int_equal(cfg.vsock_cid, 4294967294u);
	static const char *const bad[][2] = {
		{ "cid=2,uds=/v", "reserved" }, { "cid=4294967295,uds=/v", "reserved" }, { "cid=x,uds=/v", "number" },
		{ "cid=3", "expected cid=N,uds=PATH" }, { "uds=/v", "expected cid=N,uds=PATH" },
		{ "cid=3,uds=/v,port=1", "unknown option 'port'" }, { "cid=99999999999999999999,uds=/v", "too large" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char value[64];
		snprintf(value, sizeof(value), "%s", bad[i][0]);    /* argv is not const */
		assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vsock", value), CLI_ERROR);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("--vsock %s: '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
	}
	char arg[200] = "cid=3,uds=/";
	memset(arg + strlen(arg), 'a', 120);
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vsock", arg), CLI_ERROR);
	assert_non_null(strstr(err.msg, "--vsock"));
	assert_non_null(strstr(err.msg, "longer than 96"));
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k", "--vsock", "cid=3,uds=/a", "--vsock",
			       "cid=4,uds=/b"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "twice"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drives_in_order_with_options),
		cmocka_unit_test(bad_drives_name_the_problem),
		cmocka_unit_test(rate_limiter_keys),
		cmocka_unit_test(net_user_and_tap),
		cmocka_unit_test(hostfwd_forms),
		cmocka_unit_test(mac_addresses),
		cmocka_unit_test(bad_nets_name_the_problem),
		cmocka_unit_test(rng_and_vconsole),
		cmocka_unit_test(balloon_options),
		cmocka_unit_test(vsock_option),
	};
	devnull = fopen("/dev/null", "w");
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(devnull);
	return r;
}
