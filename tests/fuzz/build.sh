#!/bin/sh
# Builds the libFuzzer targets with clang (meson's build uses gcc, which has no libFuzzer).
# Usage: tests/fuzz/build.sh OUTPUT_DIR [TARGET...]   -> OUTPUT_DIR/fuzz_TARGET
#        tests/fuzz/build.sh --list                   -> the targets, one a line
#        tests/fuzz/build.sh --max-len TARGET         -> its -max_len
#        TARGET: see $targets (default: all of them)
set -eu

targets="virtq http api pci uart i8042 rtc mmio loader snapshot migration"
if [ "${1:-}" = --list ]; then
	printf '%s\n' $targets
	exit 0
fi
# Input size bound per target (run.sh, campaign.sh): long enough for the seeds, short enough to stay fast.
if [ "${1:-}" = --max-len ]; then
	case ${2:?usage: $0 --max-len TARGET} in
	pci) echo 1200 ;;     # 100 accesses
	uart | i8042 | rtc) echo 512 ;;  # 128 operations (restores take 7-41 of them)
	mmio) echo 1024 ;;    # 127 operations
	loader | snapshot | migration) echo 16384 ;;  # the bzImage, snapshot and stream seeds are 9-13 KiB
	*) echo 4096 ;;
	esac
	exit 0
fi
out=${1:?usage: $0 OUTPUT_DIR [TARGET...] | --list}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC_FUZZ:-clang-14}
[ $# -gt 0 ] || set -- $targets
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Source groups several targets share, under src/ (build() compiles from the tree's root).
LOG="base/log.c base/error.c"
EVENT_LOOP="base/io_bus.c base/event_loop.c base/thread.c base/seccomp_filter.c base/guest_mem.c"
VIRTQ="virtio/core.c virtio/queue.c"
VIRTIO_MMIO_DEVICES="virtio/mmio.c virtio/iov.c virtio/serve.c virtio/rng.c virtio/blk.c virtio/queue_throttle.c base/token_bucket.c"
# The models behind fuzz_mmio beyond those; virtio-net links its real backends (the fuzzer plugs a fake one).
VIRTIO_HOST_DEVICES="virtio/net.c net/tap.c net/slirp.c net/slirp_lib.c virtio/vsock.c virtio/vsock_conn.c
	virtio/balloon.c virtio/balloon_stats.c base/unix_socket.c"
srcs() { for f; do printf 'src/%s ' "$f"; done; }

build() (
	name=$1
	shift
	cd "$root"
	# libseccomp's SCMP_A*() macros leave the second datum to C's zero-initialisation, which clang
	# reports under -Wextra (gcc does not).
	"$cc" -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-missing-field-initializers \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$root/src" \
		"$@" -o "$out/fuzz_$name"
	echo "built $out/fuzz_$name"
)

legacy_source() {
	case $1 in
	uart) echo uart_8250.c ;;
	*) echo "$1.c" ;;
	esac
}

for target in "$@"; do
	case $target in
	virtq)
		build virtq "$root/tests/fuzz/fuzz_virtq.c" \
			"$root/src/virtio/queue.c" \
			"$root/src/base/guest_mem.c" \
			"$root/src/base/error.c"
		;;
	http)
		# http-parser and json-c are not instrumented: the coverage is that of http_conn.c.
		build http "$root/tests/fuzz/fuzz_http.c" \
			"$root/src/api/http_conn.c" \
			"$root/src/base/utf8.c" \
			-lhttp_parser $(pkg-config --libs json-c)
		;;
	api)
		# The HTTP core and the resource code behind it; open() of the resource code is wrapped
		# (fuzz_api.c keeps it inside its own directory). json-c and http-parser: not instrumented.
		build api "$root/tests/fuzz/fuzz_api.c" \
			"$root/src/api/http_conn.c" \
			"$root/src/api/fc_json.c" \
			"$root/src/api/fc_spec.c" \
			"$root/src/api/fc_spec_file.c" \
			"$root/src/api/fc_spec_rate_limiter.c" \
			"$root/src/api/fc_spec_schema.c" \
			"$root/src/api/fc_spec_vm.c" \
			"$root/src/api/mmds.c" \
			"$root/src/base/token_bucket.c" \
			"$root/src/virtio/balloon_stats.c" \
			"$root/src/vmm/config.c" \
			"$root/src/base/error.c" \
			"$root/src/base/utf8.c" \
			-Wl,--wrap=open \
			-lhttp_parser $(pkg-config --libs json-c)
		;;
	pci)
		# Config space and BAR accesses: the PCI host bridge and a virtio-pci function on it.
		build pci "$root/tests/fuzz/fuzz_pci.c" \
			$(srcs devices/pci_host.c virtio/pci.c $VIRTQ $EVENT_LOOP $LOG) -pthread -lseccomp
		;;
	uart | i8042 | rtc)
		# A legacy device's port handler and its device model (save/restore), on fake buses.
		build "$target" "$root/tests/fuzz/fuzz_$target.c" \
			"$root/src/devices/$(legacy_source "$target")" \
			"$root/src/base/io_bus.c" \
			"$root/src/base/error.c" \
			-pthread
		;;
	mmio)
		# The virtio-mmio transport with virtio-rng, -blk, -net, -vsock or -balloon behind it, kicks
		# served on the event loop. libslirp: its headers only (slirp_lib.c dlopens it; the fuzzer never does).
		build mmio "$root/tests/fuzz/fuzz_mmio.c" "$root/tests/fuzz/fuzz_mmio_models.c" \
			$(srcs $VIRTIO_MMIO_DEVICES $VIRTIO_HOST_DEVICES $VIRTQ $EVENT_LOOP $LOG) \
			$(pkg-config --cflags slirp) -ldl -pthread -lseccomp
		;;
	loader)
		# x86_boot_load and every loader under it; the compression libraries are not instrumented.
		build loader "$root/tests/fuzz/fuzz_loader.c" \
			"$root/src/arch/x86/boot.c" \
			"$root/src/arch/x86/boot_params.c" \
			"$root/src/arch/x86/bzimage.c" \
			"$root/src/arch/x86/decompress.c" \
			"$root/src/arch/x86/elf_loader.c" \
			"$root/src/arch/x86/initramfs.c" \
			"$root/src/arch/x86/pvh.c" \
			"$root/src/base/io_bus.c" \
			"$root/src/base/guest_mem.c" \
			"$root/src/base/log.c" \
			"$root/src/base/error.c" \
			-lz -llzma -lzstd -lbz2 -llz4 -llzo2 -pthread
		;;
	snapshot)
		# The snapshot file and every state reader behind it; json-c and liblzma are not instrumented.
		build snapshot "$root/tests/fuzz/fuzz_snapshot.c" \
			$(srcs snapshot/snapshot_file.c snapshot/machine_config.c vmm/config.c devices/registry.c \
				devices/uart_8250.c devices/i8042.c devices/rtc.c arch/x86/kvm_irqchip.c arch/x86/kvm_pit.c \
				arch/x86/kvm_clock.c arch/x86/vcpu_state_check.c $VIRTIO_MMIO_DEVICES $VIRTQ $EVENT_LOOP $LOG) \
			-DVMON_VERSION=\"fuzz\" -llzma $(pkg-config --libs json-c) -pthread -lseccomp
		;;
	migration)
		# Live migration's stream (destination side) and addresses; liblzma (CRC-64) is not instrumented.
		build migration "$root/tests/fuzz/fuzz_migration.c" \
			"$root/src/snapshot/migration_proto.c" \
			"$root/src/snapshot/snapshot_file.c" \
			"$root/src/base/unix_socket.c" \
			"$root/src/base/guest_mem.c" \
			"$root/src/base/log.c" \
			"$root/src/base/error.c" \
			-DVMON_VERSION=\"fuzz\" -llzma -pthread
		;;
	*)
		echo "$0: unknown target '$target' ($targets)" >&2
		exit 2
		;;
	esac
done
