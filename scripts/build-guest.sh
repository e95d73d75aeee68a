#!/bin/sh
# Builds (or takes from the cache) vmon's guest kernel and initramfs and
# prints where they are, one KEY=path line each on stdout:
#   KERNEL=<vmlinux>  BZIMAGE=<bzImage>  INITRD=<initramfs.cpio>
# Progress goes to stderr. Recipes and cache layout: guest/README.md.
# Usage: eval "$(scripts/build-guest.sh)"
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
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
