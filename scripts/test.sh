#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: installs what it needs,
# checks that a bare Debian 12 root can build vmon from the install list,
# builds vmon twice (release and ASan+UBSan), runs the unit tests, the fuzzer,
# the test guests under QEMU (reference) and under vmon, the CLI tests, and
# prints `N passed, N failed, N skipped`. Exit status 0 only when nothing failed.
#
# vmon's KVM tests need /dev/kvm; on a host without one (our PVM build
# machines) they run inside the KVM sandbox (tests/kvm-sandbox: a QEMU TCG VM
# with nested SVM), prepared here from Debian packages. If neither can run,
# every KVM test fails (VMON_REQUIRE_KVM=1): the suite never passes by not
# running. VMON_SKIP_FRESH_CHECK=1 leaves out the fresh-machine check.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n=== %s\n' "$*"; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }
. scripts/quiet.sh

step "dependencies"
sh scripts/install-deps.sh || die "installing the dependencies failed (see above)"

# Results of an earlier run must never be summed as this run's.
rm -f build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
	build/integration.xml build-asan/integration.xml build-fresh/result.xml
results=""

if [ "${VMON_SKIP_FRESH_CHECK:-0}" != 1 ]; then
	step "fresh-machine check (bare Debian 12 root: install-deps, both builds, unit tests; cached root)"
	bash scripts/check-fresh.sh --junit "$ROOT/build-fresh/result.xml"
	results="$results build-fresh/result.xml"
fi

step "build (release and sanitizers)"
[ -d build ] || quiet meson setup build || die "meson setup build failed (output above)"
[ -d build-asan ] || quiet meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false ||
	die "meson setup build-asan failed (output above)"
ninja -C build || die "the release build failed (output above)"
ninja -C build-asan || die "the sanitizer build failed (output above)"

if [ ! -e /dev/kvm ]; then
	step "KVM sandbox (no /dev/kvm on this host)"
	bash tests/kvm-sandbox/prepare.sh ||
		echo "test.sh: the KVM sandbox could not be prepared (above): every KVM test will FAIL" >&2
fi
export VMON_REQUIRE_KVM=1

step "guest Linux kernel and initramfs (cached; a first build takes ~7 min on 2 cores)"
if guest=$(sh scripts/build-guest.sh); then
	eval "$guest"
	export VMON_GUEST_BZIMAGE="$BZIMAGE" VMON_GUEST_INITRD="$INITRD"
else
	echo "test.sh: the guest kernel/initramfs build failed (above): the Linux tests will FAIL" >&2
fi
export VMON_REQUIRE_LINUX=1

step "Debian's stock kernel and its initramfs (cached; a first build downloads the package, ~70 MB)"
if debian=$(bash guest/debian/build.sh); then
	eval "$debian"
	export VMON_DEBIAN_VMLINUZ="$DEBIAN_VMLINUZ" VMON_DEBIAN_INITRD="$DEBIAN_INITRD"
elif [ $? = 77 ]; then
	# The one allowed skip: no way to download the package from here.
	export VMON_DEBIAN_KERNEL_UNAVAILABLE="guest/debian/build.sh could not download the package (above)"
	echo "test.sh: $VMON_DEBIAN_KERNEL_UNAVAILABLE: the Debian kernel test will skip" >&2
else
	echo "test.sh: the Debian kernel/initramfs build failed (above): the Debian kernel test will FAIL" >&2
fi
export VMON_REQUIRE_DEBIAN_KERNEL=1
# The API's schema walk reads Firecracker's OpenAPI document from the shared reference folder.
export VMON_REQUIRE_FC_API_YAML=1

PYTEST="/usr/bin/python3 -m pytest -q -p no:cacheprovider"
DEBIAN_TEST=tests/integration/test_debian_kernel.py
# Debian's stock kernel boots once, against the release build, beside everything else: on a PVM
# host that one boot takes ~40 minutes of one core (guest ring 0 emulated; docs/LINUX.md), and the
# guest's speed does not depend on vmon's build. Its output is printed when it has finished.
step "integration test of Debian's stock kernel against build/vmon (in the background)"
VMON_BUILD="$ROOT/build" $PYTEST --junitxml="$ROOT/build/debian-kernel.xml" "$DEBIAN_TEST" \
	>"$ROOT/build/debian-kernel.log" 2>&1 &
debian_test=$!

step "meson tests: release build (unit tests, fuzzer, test guests under QEMU)"
meson test -C build --print-errorlogs
results="$results build/meson-logs/testlog.json"

step "meson tests: sanitizer build (unit tests)"
meson test -C build-asan --suite unit --print-errorlogs
results="$results build-asan/meson-logs/testlog.json"

step "integration tests against build/vmon"
VMON_BUILD="$ROOT/build" $PYTEST --junitxml="$ROOT/build/integration.xml" --ignore="$DEBIAN_TEST" tests/integration
results="$results build/integration.xml"

# The sanitizer pass leaves out the Linux runs of the balloon, vsock and rate limiters (9, 5 and a few
# minutes of emulated guest kernel on a PVM host): their device models run under ASan/UBSan in the unit
# tests on fake guest rings (test_virtio_balloon, test_virtio_vsock, test_token_bucket,
# test_virtio_blk_throttle, test_virtio_net_throttle), and under Linux against the release build.
step "integration tests against build-asan/vmon"
VMON_BUILD="$ROOT/build-asan" $PYTEST --junitxml="$ROOT/build-asan/integration.xml" --ignore="$DEBIAN_TEST" \
	--ignore=tests/integration/test_balloon.py --ignore=tests/integration/test_vsock.py \
	--ignore=tests/integration/test_ratelimit.py tests/integration
results="$results build-asan/integration.xml"

step "waiting for the Debian kernel test"
wait "$debian_test"
cat "$ROOT/build/debian-kernel.log"
results="$results build/debian-kernel.xml"

step "summary"
# shellcheck disable=SC2086
/usr/bin/python3 scripts/summarize-tests.py $results
