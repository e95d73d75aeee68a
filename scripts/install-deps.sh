#!/bin/sh
# Installs what building, testing, fuzzing, benchmarking and the demo of vmon
# need, from Debian 12 packages. Idempotent: installs only what is missing.
# Needs root (or sudo). With arguments, installs those packages instead (the
# guest recipes use it). Checked against a bare Debian 12 root by
# scripts/check-fresh.sh.
set -eu

# build: compiler, Meson/Ninja, the libraries vmon links (their static
# archives: libc6-dev and the compression libraries' -dev packages ship them;
# the compression libraries cover every format Linux takes for a kernel or an
# initramfs), http-parser and json-c for the REST API (static archives too)
# libseccomp's (per-thread seccomp-bpf filters, static archive too)
# and libslirp's headers (vmon loads libslirp0 at run time;
# slirp.pc requires glib-2.0, which --no-install-recommends does not bring)
BUILD="gcc libc6-dev pkg-config meson ninja-build
liblzma-dev libzstd-dev zlib1g-dev libbz2-dev liblz4-dev liblzo2-dev
libhttp-parser-dev libjson-c-dev libseccomp-dev
libslirp-dev libglib2.0-dev"
# unit tests (iasl checks the ACPI tables) and the fuzz suite (libFuzzer needs
# clang's runtime)
UNIT="libcmocka-dev clang-14 libclang-rt-14-dev acpica-tools"
# integration tests: pytest, PyYAML and curl (the API tests read Firecracker's
# OpenAPI document and send its getting-started requests), QEMU (reference runs and the KVM sandbox), tools
# that make test images (ext4, cpio, every initramfs compressor Linux takes),
# the sandbox's busybox and modinfo, depmod for the Debian kernel's modules
# (guest/debian/build.sh, which downloads with apt), the fresh-machine check's debootstrap
TESTS="python3 python3-pytest qemu-system-x86 binutils busybox-static cpio kmod
e2fsprogs xz-utils zstd gzip bzip2 lz4 lzop iproute2 debootstrap
python3-yaml curl"
# benchmarks: TAP set-up and the host-side disk baseline
BENCH="uml-utilities fio"
DEFAULT_PACKAGES="$BUILD $UNIT $TESTS $BENCH"
PACKAGES=${*:-$DEFAULT_PACKAGES}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# Output goes to a log that is shown when a step fails (and only then).
if ! $SUDO apt-get update -q >"$log" 2>&1; then
	cat "$log" >&2; rm -f "$log"
	echo "install-deps: error: 'apt-get update' failed (output above)" >&2
	exit 1
fi
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
	cat "$log" >&2; rm -f "$log"
	echo "install-deps: error: 'apt-get install' of:$missing failed (output above)" >&2
	exit 1
fi
rm -f "$log"
still=""
for p in $missing; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still="$still $p"
done
[ -z "$still" ] || { echo "install-deps: error: still not installed after apt-get:$still" >&2; exit 1; }
