#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: installs what it needs,
# builds vmon twice (release and ASan+UBSan), runs the unit tests, the test
# guests under QEMU (reference) and under vmon, the CLI tests, and prints
# `N passed, N failed, N skipped`. Exit status 0 only when nothing failed.
#
# vmon's KVM tests need /dev/kvm; on a host without one (our PVM build
# machines) they run inside the KVM sandbox (tests/kvm-sandbox: a QEMU TCG VM
# with nested SVM), prepared here from Debian packages.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
sh scripts/install-deps.sh || exit 1

step "build (release and sanitizers)"
[ -d build ] || meson setup build >/dev/null || exit 1
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
ninja -C build || exit 1
ninja -C build-asan || exit 1

if [ ! -e /dev/kvm ]; then
	step "KVM sandbox (no /dev/kvm on this host)"
	bash tests/kvm-sandbox/prepare.sh || echo "KVM sandbox unavailable: KVM tests will be reported as skipped"
fi

step "guest Linux kernel and initramfs (cached; a first build takes ~7 min on 2 cores)"
if guest=$(sh scripts/build-guest.sh); then
	eval "$guest"
	export VMON_GUEST_BZIMAGE="$BZIMAGE" VMON_GUEST_INITRD="$INITRD"
else
	echo "guest kernel/initramfs build failed: the Linux tests will fail"
fi
export VMON_REQUIRE_LINUX=1

results=""
step "meson tests: release build (unit tests, test guests under QEMU)"
meson test -C build --print-errorlogs
results="$results build/meson-logs/testlog.json"

step "meson tests: sanitizer build (unit tests)"
meson test -C build-asan --suite unit --print-errorlogs
results="$results build-asan/meson-logs/testlog.json"

PYTEST="/usr/bin/python3 -m pytest -q -p no:cacheprovider"
for b in build build-asan; do
	step "integration tests against $b/vmon"
	VMON_BUILD="$ROOT/$b" $PYTEST --junitxml="$ROOT/$b/integration.xml" tests/integration
	results="$results $b/integration.xml"
done

step "summary"
# shellcheck disable=SC2086
/usr/bin/python3 scripts/summarize-tests.py $results
