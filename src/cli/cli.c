/* SPDX-License-Identifier: MIT */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_devices.h"
#include "base/guest_mem.h"
#include "base/seccomp_filter.h"

int parse_size(const char *text, uint64_t *bytes)
{
	unsigned long long value;
	uint64_t shift = 20;  /* bare number: MiB */
	char *end;

	if (!text || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		case 'T': shift = 40; break;
		default: return -EINVAL;
		}
		end++;
		if (strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0 && *end)
			return -EINVAL;
	}
	if (value > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)value << shift;
	return 0;
}

static int parse_host_profile_mode(const char *text, enum host_profile_mode *mode, struct vmon_error *err)
{
	if (!strcmp(text, "auto"))
		*mode = HOST_PROFILE_AUTO;
	else if (!strcmp(text, "none"))
		*mode = HOST_PROFILE_NONE;
	else if (!strcmp(text, "pvm"))
		*mode = HOST_PROFILE_PVM;
	else
		return error_set(err, -EINVAL, "--host-profile '%s': expected auto, none or pvm", text);
	return 0;
}

void cli_print_usage(FILE *out)
{
	fputs("usage: vmon run --kernel FILE [options]\n"
	      "       vmon host-profile [auto|none|pvm]\n"
	      "       vmon --help | --version\n"
	      "\n"
	      "Runs a guest kernel in a KVM virtual machine with a serial console on stdin/stdout.\n"
	      "\n"
	      "run options:\n"
	      "  -k, --kernel FILE        kernel: ELF vmlinux, bzImage, or an ELF with a PVH note\n"
	      "  -i, --initrd FILE        initial ramdisk\n"
	      "  -c, --cmdline STR        kernel command line\n"
	      "  -m, --mem SIZE           guest RAM, e.g. 128M, 1G (a bare number is MiB; default 128M)\n"
	      "      --cpus N             number of vCPUs, 1 to 254 (default 1)\n"
	      "      --boot-protocol P    auto (default: PVH when the ELF has a PVH note), linux or pvh\n"
	      "      --bzimage-guest-decompress\n"
	      "                           enter a bzImage's own 64-bit entry and let it decompress\n"
	      "                           itself, instead of decompressing its payload on the host\n"
	      "      --initrd-guest-decompress\n"
	      "                           load the initrd as given and let the kernel decompress it,\n"
	      "                           instead of turning its compressed members into plain cpio\n"
	      "                           on the host\n"
	      "      --stats              print exit counts by reason and port when the VM ends\n"
	      "      --seccomp-level L    seccomp-bpf filter per thread (vCPU, I/O, main): 0 off, 1 system\n"
	      "                           calls only, 2 also their arguments (default); a forbidden system\n"
	      "                           call ends vmon with status 148. --no-seccomp: level 0"
	      "      --no-linux-device-args\n"
	      "                           do not append \"" VMON_LINUX_DEVICE_ARGS "\" (and \"" VMON_LINUX_NO_PCI_ARG "\"\n"
	      "                           when no device is on PCI) to a Linux kernel's command line\n"
	      "                           (vmon has one UART, no mouse)\n"
	      "      --host-profile P     auto (default): detect a host whose KVM runs guest kernel code in\n"
	      "                           an instruction emulator (PVM) and work around it; none; pvm\n"
	      "\n"
	      "virtio devices (virtio-pci with MSI-X by default; on virtio-mmio Linux gets the matching\n"
	      "virtio_mmio.device= arguments):\n"
	      "      --virtio-transport pci|mmio\n"
	      "                           the transport of every device without its own transport= (pci)\n"
	      "      --drive path=FILE[,readonly=on|off][,id=SERIAL][,transport=pci|mmio]\n"
	      "              [,bw=BYTES[/MS]][,bw_burst=BYTES][,ops=N[/MS]][,ops_burst=N]\n"
	      "                           virtio-blk disk on a raw image (size a multiple of 512; repeatable);\n"
	      "                           rate limits as Firecracker's token buckets: BYTES or N per MS\n"
	      "                           (1000 unless given; K, M, G binary units), bursts once\n"
	      "      --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT][,mac=MAC][,transport=pci|mmio]\n"
	      "                           virtio-net with user-mode networking (libslirp: guest 10.0.2.15,\n"
	      "                           host 10.0.2.2, DNS 10.0.2.3; needs no privileges)\n"
	      "      --net tap[=NAME][,mac=MAC][,transport=pci|mmio]\n"
	      "                           virtio-net on a host TAP interface (created when no NAME is given)\n"
	      "                           either --net also takes rx_bw=, rx_ops=, tx_bw=, tx_ops= (and\n"
	      "                           _burst=) as --drive's bw= and ops=, per received/sent frame\n"
	      "      --rng[=bw=BYTES[/MS],bw_burst=BYTES,ops=N[/MS],ops_burst=N]\n"
	      "                           virtio-rng fed from the host's getrandom(); rate limits as --drive's,\n"
	      "                           each buffer the guest offers costing 1 op and the bytes filled\n"
	      "      --vconsole socket=PATH\n"
	      "                           virtio-console port on a UNIX socket vmon listens on\n"
	      "      --balloon amount_mib=N[,deflate_on_oom=on][,stats_interval=S][,free_page_reporting=on]\n"
	      "                           virtio-balloon asking the guest for N MiB (vmon ctl balloon changes it);\n"
	      "                           statistics every S s; pages the guest frees go back to the host\n"
	      "      --vsock cid=N,uds=PATH\n"
	      "                           virtio-vsock, guest CID N (3 or more); host side as Firecracker's:\n"
	      "                           connect to PATH and send \"CONNECT <port>\\n\"; guest connections to\n"
	      "                           CID 2 port P go to PATH_P\n"
	      "\n"
	      "testing the machine model:\n"
	      "      --test-save-restore MS\n"
	      "                           every MS ms: pause the VM, save every device's and vCPU's state,\n"
	      "                           reset them all, restore the saved state and resume (the guest\n"
	      "                           must not notice); --stats counts the rounds\n"
	      "\n"
	      "  -v, --verbose            more monitor messages (repeat for debug)\n"
	      "  -q, --quiet              only errors from the monitor\n"
	      "\n"
	      "Console: with a terminal on stdin, Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h helps.\n"
	      "Exit status: 0 guest reset/power-off or quit; 2n+1 the guest wrote n to the debug-exit port\n"
	      "0xf4 (as QEMU's isa-debug-exit); 2 bad usage or image; 4 guest crashed (triple fault,\n"
	      "KVM internal error); 6 host error (no /dev/kvm, ioctl failure); 130/143 on SIGINT/SIGTERM;\n"
	      "148 a thread made a system call its seccomp filter forbids.\n",
	      out);
}

/* A decimal whole number in 1..max, digits only (no sign, space or suffix). */
static int parse_count(const char *text, unsigned long max, unsigned *value)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*value = (unsigned)v;
	return 0;
}

enum {
	OPT_CPUS = 0x100,
	OPT_STATS,
	OPT_BOOT_PROTOCOL,
	OPT_BZIMAGE_GUEST_DECOMPRESS,
	OPT_INITRD_GUEST_DECOMPRESS,
	OPT_HOST_PROFILE,
	OPT_NO_LINUX_DEVICE_ARGS,
	OPT_DRIVE,
	OPT_NET,
	OPT_RNG,
	OPT_VCONSOLE,
	OPT_BALLOON,
	OPT_VIRTIO_TRANSPORT,
	OPT_VSOCK,
	OPT_TEST_SAVE_RESTORE,
	OPT_SECCOMP_LEVEL,
	OPT_NO_SECCOMP,
};

/* vm_config_check(), its message prefixed with the option that sets the field. */
static int check_config(const struct vm_config *cfg, struct vmon_error *err)
{
	static const struct {
		const char *field, *option;
	} options[] = {
		{ "kernel_path", "--kernel" }, { "cmdline", "--cmdline" }, { "mem_size", "--mem" },
		{ "ncpus", "--cpus" }, { "protocol", "--boot-protocol" }, { "host_profile", "--host-profile" },
		{ "drives", "--drive" }, { "nets", "--net" }, { "vconsole_socket", "--vconsole" },
		{ "balloon", "--balloon" },
		{ "vsock", "--vsock" },
		{ "test_save_restore_ms", "--test-save-restore" },
	};
	const char *field = NULL;
	int r = vm_config_check(cfg, &field, err);

	if (!r || !field)
		return r;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		if (strcmp(field, options[i].field))
			continue;
		char msg[sizeof(err->msg)];
		memcpy(msg, err->msg, sizeof(msg));
		/* The prefix (at most 18 bytes) costs a long message its tail. */
		snprintf(err->msg, sizeof(err->msg), "%s: %.*s", options[i].option, (int)sizeof(msg) - 24, msg);
		break;
	}
	return r;
}

enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, FILE *out, struct vmon_error *err)
{
	static const struct option run_options[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "boot-protocol", required_argument, NULL, OPT_BOOT_PROTOCOL },
		{ "bzimage-guest-decompress", no_argument, NULL, OPT_BZIMAGE_GUEST_DECOMPRESS },
		{ "initrd-guest-decompress", no_argument, NULL, OPT_INITRD_GUEST_DECOMPRESS },
		{ "host-profile", required_argument, NULL, OPT_HOST_PROFILE },
		{ "no-linux-device-args", no_argument, NULL, OPT_NO_LINUX_DEVICE_ARGS },
		{ "drive", required_argument, NULL, OPT_DRIVE },
		{ "net", required_argument, NULL, OPT_NET },
		{ "rng", optional_argument, NULL, OPT_RNG },
		{ "vconsole", required_argument, NULL, OPT_VCONSOLE },
		{ "balloon", required_argument, NULL, OPT_BALLOON },
		{ "virtio-transport", required_argument, NULL, OPT_VIRTIO_TRANSPORT },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "test-save-restore", required_argument, NULL, OPT_TEST_SAVE_RESTORE },
		{ "seccomp-level", required_argument, NULL, OPT_SECCOMP_LEVEL },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *command;
	int opt;

	vm_config_init(cfg);
	/* vmon's own CLI: virtio-pci, which stock distribution kernels find without arguments. */
	cfg->virtio_transport = VIRTIO_TRANSPORT_PCI;

	if (argc < 2) {
		error_set(err, -EINVAL, "no command given (try 'vmon --help')");
		return CLI_ERROR;
	}
	command = argv[1];
	if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
		cli_print_usage(out);
		return CLI_DONE;
	}
	if (!strcmp(command, "--version") || !strcmp(command, "-V") || !strcmp(command, "version")) {
		/* "<name> v<semver>" first: what Firecracker prints and its clients parse. */
		fprintf(out, "vmon v%s\n", VMON_VERSION);
		return CLI_DONE;
	}
	if (!strcmp(command, "host-profile")) {
		/* What `run` would decide on this host: tests and users ask instead of guessing. */
		if (argc > 3) {
			error_set(err, -EINVAL, "host-profile takes at most one argument (auto, none or pvm)");
			return CLI_ERROR;
		}
		if (argc == 3 && parse_host_profile_mode(argv[2], &cfg->host_profile, err))
			return CLI_ERROR;
		return CLI_HOST_PROFILE;
	}
	if (strcmp(command, "run")) {
		error_set(err, -EINVAL, "unknown command '%s' (try 'vmon --help')", command);
		return CLI_ERROR;
	}

	/* getopt keeps global state: reset it so cli_parse can be called again (tests). */
	optind = 1;
	opterr = 0;
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, ":k:i:c:m:vqh", run_options, NULL)) != -1) {
		switch (opt) {
		case 'k':
			cfg->kernel_path = optarg;
			break;
		case 'i':
			cfg->initrd_path = optarg;
			break;
		case 'c':
			cfg->cmdline = optarg;
			break;
		case 'm': {
			int r = parse_size(optarg, &cfg->mem_size);
			if (r) {
				error_set(err, r, "--mem '%s': %s", optarg,
					  r == -ERANGE ? "too large" : "not a size (examples: 128M, 1G, 512)");
				return CLI_ERROR;
			}
			break;
		}
		case OPT_CPUS:
			/* Only a sanity bound here: vm_config_check() says what the machine takes. */
			if (parse_count(optarg, 65535, &cfg->ncpus)) {
				error_set(err, -EINVAL, "--cpus '%s': not a number from 1 to %d", optarg, VM_CONFIG_MAX_CPUS);
				return CLI_ERROR;
			}
			break;
		case OPT_STATS:
			cfg->stats = true;
			break;
		case OPT_SECCOMP_LEVEL: {
			enum seccomp_level level;
			if (seccomp_parse_level(optarg, &level, err))
				return CLI_ERROR;
			cfg->seccomp_level = (int)level;
			break;
		}
		case OPT_NO_SECCOMP:
			cfg->seccomp_level = SECCOMP_LEVEL_OFF;
			break;
		case OPT_BOOT_PROTOCOL:
			if (!strcmp(optarg, "auto"))
				cfg->protocol = BOOT_PROTOCOL_AUTO;
			else if (!strcmp(optarg, "linux"))
				cfg->protocol = BOOT_PROTOCOL_LINUX;
			else if (!strcmp(optarg, "pvh"))
				cfg->protocol = BOOT_PROTOCOL_PVH;
			else {
				error_set(err, -EINVAL, "--boot-protocol '%s': expected auto, linux or pvh", optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_NO_LINUX_DEVICE_ARGS:
			cfg->linux_device_args = false;
			break;
		case OPT_HOST_PROFILE:
			if (parse_host_profile_mode(optarg, &cfg->host_profile, err))
				return CLI_ERROR;
			break;
		case OPT_BZIMAGE_GUEST_DECOMPRESS:
			cfg->bzimage_guest_decompress = true;
			break;
		case OPT_INITRD_GUEST_DECOMPRESS:
			cfg->initrd_guest_decompress = true;
			break;
		case OPT_DRIVE:
			if (config_parse_drive(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case OPT_NET:
			if (config_parse_net(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case OPT_RNG:
			/* Its value is optional: "--rng ops=10" as well as "--rng=ops=10". */
			if (!optarg && optind < argc && argv[optind][0] != '-' && strchr(argv[optind], '='))
				optarg = argv[optind++];
			if (config_parse_rng(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case OPT_TEST_SAVE_RESTORE:
			if (parse_count(optarg, UINT_MAX, &cfg->test_save_restore_ms)) {
				error_set(err, -EINVAL, "--test-save-restore '%s': expected a period in ms (1 or more)",
					  optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_VCONSOLE:
			if (config_parse_vconsole(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case OPT_BALLOON:
			if (config_parse_balloon(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case OPT_VIRTIO_TRANSPORT:
			if (virtio_transport_parse(optarg, strlen(optarg), &cfg->virtio_transport)) {
				error_set(err, -EINVAL, "--virtio-transport '%s': expected pci or mmio", optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_VSOCK:
			if (config_parse_vsock(cfg, optarg, err))
				return CLI_ERROR;
			break;
		case 'v':
			cfg->verbosity = cfg->verbosity < 0 ? 1 : cfg->verbosity + 1;
			break;
		case 'q':
			cfg->verbosity = -1;
			break;
		case 'h':
			cli_print_usage(out);
			return CLI_DONE;
		case ':':
			error_set(err, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
			return CLI_ERROR;
		default:
			error_set(err, -EINVAL, "unknown option '%s' (try 'vmon --help')", argv[optind - 1]);
			return CLI_ERROR;
		}
	}
	if (optind < argc) {
		error_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
		return CLI_ERROR;
	}
	return check_config(cfg, err) ? CLI_ERROR : CLI_RUN;
}
