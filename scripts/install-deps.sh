#!/bin/sh
# Installs what building and testing vmon needs, from Debian 12 packages.
# Idempotent: installs only what is missing. Needs root (or sudo).
# With arguments, installs those packages instead (the guest recipes use it).
set -eu

DEFAULT_PACKAGES="gcc libc6-dev make pkg-config meson ninja-build python3
liblzma-dev libzstd-dev zlib1g-dev libcmocka-dev
binutils qemu-system-x86 busybox-static cpio xz-utils zstd gzip python3-pytest"
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
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
