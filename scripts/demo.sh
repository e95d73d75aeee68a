#!/bin/sh
# The demo, from a fresh Debian 12 machine: installs what it needs, builds vmon,
# the test guests and the guest Linux, and boots them under vmon (inside the KVM sandbox when
# this host has no /dev/kvm).
set -eu
cd "$(dirname "$0")/.."
. scripts/quiet.sh
sh scripts/install-deps.sh
[ -d build ] || quiet meson setup build || { echo "demo: error: meson setup build failed (output above)" >&2; exit 1; }
quiet ninja -C build || { echo "demo: error: the build failed (output above)" >&2; exit 1; }
[ -e /dev/kvm ] || bash tests/kvm-sandbox/prepare.sh
# The guest Linux kernel and initramfs (cached; a first build takes ~7 min on 2 cores).
eval "$(sh scripts/build-guest.sh)"
export VMON_GUEST_BZIMAGE="$BZIMAGE" VMON_GUEST_INITRD="$INITRD"
exec /usr/bin/python3 scripts/demo.py
