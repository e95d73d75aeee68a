#!/bin/bash
# Debian's stock kernel for vmon: downloads linux-image-<abi>-amd64 (the
# version that linux-image-amd64 depends on, from the apt sources of this
# machine) with `apt-get download`, takes out its vmlinuz, config and modules,
# and builds a small uncompressed initramfs from the kernel's own modules:
#   /init                   guest/debian/init.c (freestanding, a few KiB)
#   /lib/modules/*.ko       the modules needed for a virtio disk and NIC and
#                           ext4, as shipped (signed), with their dependencies
#   /lib/modules/load.list  their load order
# /init loads them, mounts /dev/vda (ext4) as root and runs its /sbin/init.
#
# Which drivers are needed is fixed below (WANTED); whether each is built in
# (=y: nothing to load) or a module (=m) is read from the kernel's config-*,
# and a module's dependencies from modules.dep, made here with depmod.
#
# Cached in $VMON_CACHE/debian-kernel/<version>-<key>/ (VMON_CACHE defaults to
# <repo>/.cache): <version> is the package's, <key> hashes this script,
# init.c, vmon's boot_timer.h and the versions of gcc and linux-source-6.1.
# Prints DEBIAN_VMLINUZ=, DEBIAN_INITRD=, DEBIAN_CONFIG=, DEBIAN_PACKAGE= and
# DEBIAN_PACKAGE_VERSION= lines on stdout (no spaces: eval-able); the rest goes to stderr.
# Environment: VMON_CACHE; VMON_DEBIAN_PACKAGE overrides the package name
# (e.g. linux-image-6.1.0-57-amd64).
# Exit status: 0 built (or cached); 77 the package cannot be had from here (apt
# knows no such package, or the download failed): scripts/test.sh then skips
# the test that needs it; anything else is a failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${VMON_CACHE:-$repo/.cache}/debian-kernel
tarball=/usr/src/linux-source-6.1.tar.xz
cc=${CC:-gcc}

say() { printf 'debian-kernel: %s\n' "$*" >&2; }
die() { printf 'debian-kernel: error: %s\n' "$*" >&2; exit 1; }
unavailable() { printf 'debian-kernel: unavailable: %s\n' "$*" >&2; exit 77; }

# CONFIG option and module name of each driver the initramfs must provide. Order
# matters only among modules that need one another without saying so in
# modules.dep: ext4 and jbd2 ask for "crypto-crc32c" at run time (a softdep), so
# crc32c_generic comes first.
WANTED="CRYPTO_CRC32C:crc32c_generic VIRTIO_MMIO:virtio_mmio VIRTIO_PCI:virtio_pci VIRTIO_BLK:virtio_blk
VIRTIO_NET:virtio_net EXT4_FS:ext4"

# --- Dependencies (idempotent: scripts/install-deps.sh). ---
packages="apt gcc libc6-dev kmod xz-utils linux-source-6.1"
sh "$repo/scripts/install-deps.sh" $packages || die "cannot install:$packages"
boot_timer_h=$repo/src/devices/boot_timer.h
[ -f "$boot_timer_h" ] || die "$boot_timer_h missing (the boot-timing port's definition)"

# --- Which package: linux-image-amd64's dependency, as apt would install it. ---
package=${VMON_DEBIAN_PACKAGE:-}
if [ -z "$package" ]; then
	package=$(apt-cache depends linux-image-amd64 2>&1 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
	[ -n "$package" ] || unavailable "apt-cache knows no linux-image-amd64 dependency (apt sources? apt-get update?): $(apt-cache depends linux-image-amd64 2>&1 | head -n 3)"
fi
version=$(apt-cache policy "$package" 2>&1 | sed -n 's/^ *Candidate: //p')
[ -n "$version" ] && [ "$version" != "(none)" ] || unavailable "no candidate version of $package in apt's lists"
abi=${package#linux-image-}

ksrcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
ccver=$("$cc" -dumpfullversion 2>/dev/null || "$cc" -dumpversion)
key=$( { sha256sum <"${BASH_SOURCE[0]}"; sha256sum <"$here/init.c"; sha256sum <"$boot_timer_h"
	echo "$package $version $ksrcver $cc $ccver"; } | sha256sum | cut -c1-16)
out=$cache_root/$version-$key

print_results() {
	echo "DEBIAN_VMLINUZ=$out/vmlinuz-$abi"
	echo "DEBIAN_INITRD=$out/initramfs.cpio"
	echo "DEBIAN_CONFIG=$out/config-$abi"
	echo "DEBIAN_PACKAGE=$package"
	echo "DEBIAN_PACKAGE_VERSION=$version"
}
if [ -f "$out/.done" ]; then
	say "cached: $out ($package $version)"
	print_results
	exit 0
fi

# --- The package, shared by every key of one version. ---
pkgdir=$cache_root/pkg/$package-$version
if [ ! -f "$pkgdir/.extracted" ]; then
	rm -rf "$pkgdir"
	mkdir -p "$pkgdir/dl"
	say "downloading $package $version with apt-get download ..."
	# apt's sandbox user cannot write to a root-owned cache: download as the caller.
	(cd "$pkgdir/dl" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$package=$version") >&2 ||
		unavailable "apt-get download $package=$version failed (no network or no apt sources?)"
	deb=$(ls "$pkgdir"/dl/*.deb)
	dpkg-deb -x "$deb" "$pkgdir/root" || die "cannot unpack $deb"
	rm -f "$deb"
	touch "$pkgdir/.extracted"
fi
root=$pkgdir/root
moddir=$root/lib/modules/$abi
for f in "$root/boot/vmlinuz-$abi" "$root/boot/config-$abi" "$moddir/modules.order"; do
	[ -f "$f" ] || die "$package has no ${f#"$root"}"
done
[ -f "$moddir/modules.dep" ] || depmod -b "$root" "$abi" || die "depmod -b $root $abi failed"

# --- Modules to load, dependencies first, each once. ---
config=$root/boot/config-$abi
modules=()
add_module() { # $1: path relative to $moddir
	local m
	for m in "${modules[@]}"; do [ "$m" = "$1" ] && return 0; done
	modules+=("$1")
}
for want in $WANTED; do
	option=CONFIG_${want%%:*} name=${want#*:}
	setting=$(sed -n "s/^$option=//p" "$config")
	case $setting in
	y) say "$option=y: $name is built in"; continue ;;
	m) ;;
	*) die "$package has no $option (config-$abi: '${setting:-not set}'); it cannot boot on vmon's devices" ;;
	esac
	line=$(grep -E "(^|/)$name\.ko(\.[a-z]+)?:" "$moddir/modules.dep") ||
		die "$option=m but modules.dep has no $name.ko"
	deps=${line#*:}
	# modules.dep lists the dependencies of a dependency after it: load from the end.
	for dep in $(printf '%s\n' $deps | tac); do add_module "$dep"; done
	add_module "${line%%:*}"
done
for m in "${modules[@]}"; do
	case $m in *.ko) ;; *) die "$m is compressed; vmon's initramfs wants plain .ko (the guest would inflate it)" ;; esac
done

# --- gen_init_cpio, as in guest/initramfs/build.sh. ---
tools=$cache_root/tools/$ksrcver
if [ ! -x "$tools/gen_init_cpio" ]; then
	say "building gen_init_cpio from $tarball ..."
	mkdir -p "$tools"
	tar -xJf "$tarball" -C "$tools" --strip-components=2 linux-source-6.1/usr/gen_init_cpio.c ||
		die "cannot extract usr/gen_init_cpio.c from $tarball"
	"$cc" -O2 -o "$tools/gen_init_cpio.tmp" "$tools/gen_init_cpio.c" || die "building gen_init_cpio failed"
	mv "$tools/gen_init_cpio.tmp" "$tools/gen_init_cpio"
fi

# --- The initramfs. ---
rm -rf "$out"
mkdir -p "$out"
say "building init"
"$cc" -std=c17 -Os -Wall -Wextra -Werror -static -nostdlib -ffreestanding \
	-fno-stack-protector -fno-pie -no-pie -fno-asynchronous-unwind-tables \
	-Wl,--build-id=none -Wl,-z,noexecstack -s -I "$repo/src" \
	-o "$out/init" "$here/init.c" || die "building init failed"
list=$out/initramfs.list
: >"$out/load.list"
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	for d in /proc /root /lib /lib/modules; do echo "dir $d 0755 0 0"; done
	echo "file /init $out/init 0755 0 0"
	for m in "${modules[@]}"; do
		base=$(basename "$m")
		echo "file /lib/modules/$base $moddir/$m 0644 0 0"
		echo "$base" >>"$out/load.list"
	done
	echo "file /lib/modules/load.list $out/load.list 0644 0 0"
} >"$list"
"$tools/gen_init_cpio" -t 0 "$list" >"$out/initramfs.cpio.tmp" || die "gen_init_cpio failed"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
cp "$root/boot/vmlinuz-$abi" "$out/vmlinuz-$abi"
cp "$config" "$out/config-$abi"
touch "$out/.done"
say "built $out: $package $version, initramfs $(stat -c %s "$out/initramfs.cpio") bytes, modules: $(tr '\n' ' ' <"$out/load.list")"
print_results
