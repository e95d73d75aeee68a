#!/bin/sh
# The demo, from a fresh Debian 12 machine: installs what it needs, builds vmon
# and the test guests, and boots guests under vmon (inside the KVM sandbox when
# this host has no /dev/kvm).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
[ -e /dev/kvm ] || bash tests/kvm-sandbox/prepare.sh
exec /usr/bin/python3 scripts/demo.py
