#!/bin/sh
# Builds (or takes from the cache) vmon's guest kernel and initramfs and
# prints where they are, one KEY=path line each on stdout:
#   KERNEL=<vmlinux>  BZIMAGE=<bzImage>  INITRD=<initramfs.cpio>
# Progress goes to stderr. Recipes and cache layout: guest/README.md.
# Usage: eval "$(scripts/build-guest.sh)"
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)

# One build at a time per cache: a second caller (a parallel test run, a
# benchmark) waits here and then finds the results cached, instead of
# unpacking and building into the same tree under the first one's feet.
# (The lock lives here, not in the recipes, whose own text keys their cache.)
cache=${VMON_CACHE:-$repo/.cache}
mkdir -p "$cache"
exec 9>"$cache/.guest-build.lock"
if ! flock -n 9; then
	echo "build-guest: another guest build holds $cache/.guest-build.lock; waiting for it" >&2
	flock 9
fi
kernel=$("$repo/guest/kernel/build.sh")
initrd=$("$repo/guest/initramfs/build.sh")

value() { printf '%s\n' "$2" | sed -n "s/^$1=//p"; }
vmlinux=$(value KERNEL_VMLINUX "$kernel")
bzimage=$(value KERNEL_BZIMAGE "$kernel")
cpio=$(value INITRD "$initrd")
for f in "$vmlinux" "$bzimage" "$cpio"; do
	[ -f "$f" ] || { echo "build-guest: error: '$f' missing after the build" >&2; exit 1; }
done
echo "KERNEL=$vmlinux"
echo "BZIMAGE=$bzimage"
echo "INITRD=$cpio"
