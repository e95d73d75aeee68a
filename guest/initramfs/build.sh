#!/bin/bash
# Builds vmon's guest initramfs: an uncompressed newc cpio with Debian's
# static busybox (every applet as a symlink, made here rather than by
# `busybox --install` at boot), /init (guest/initramfs/init), and
# /bin/vmon-init-reached (guest/initramfs/vmon-init-reached.c) and /bin/vsock-echo
# (guest/initramfs/vsock-echo.c, the guest end of the vsock tests).
#
# No root needed: the archive is written by the kernel's usr/gen_init_cpio
# (one file, taken from Debian's linux-source-6.1 tarball), which records
# owner 0:0 and creates /dev/console and /dev/null as device nodes.
# Uncompressed because under emulation the guest would spend far longer
# inflating it than copying it.
#
# Cached in $VMON_CACHE/guest-initramfs/<key>/initramfs.cpio (VMON_CACHE
# defaults to <repo>/.cache); <key> hashes this script, /init, the C source,
# vmon's src/devices/boot_timer.h (the port it writes), and the versions of
# busybox-static, gcc and linux-source-6.1. Prints
# INITRD=<path> on stdout; everything else goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${VMON_CACHE:-$repo/.cache}/guest-initramfs
tarball=/usr/src/linux-source-6.1.tar.xz
cc=${CC:-gcc}

say() { printf 'guest-initramfs: %s\n' "$*" >&2; }
die() { printf 'guest-initramfs: error: %s\n' "$*" >&2; exit 1; }

# --- Dependencies (idempotent: scripts/install-deps.sh). ---
packages="busybox-static gcc libc6-dev xz-utils linux-source-6.1"
sh "$repo/scripts/install-deps.sh" $packages || die "cannot install:$packages"

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox missing (package busybox-static)"
if LC_ALL=C ldd "$busybox" 2>&1 | grep -q '=>'; then
	die "$busybox is dynamically linked; install busybox-static (it replaces busybox)"
fi

boot_timer_h=$repo/src/devices/boot_timer.h
[ -f "$boot_timer_h" ] || die "$boot_timer_h missing (the boot-timing port's definition)"

# --- Cache key. ---
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
ksrcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
ccver=$("$cc" -dumpfullversion 2>/dev/null || "$cc" -dumpversion)
key=$( { sha256sum <"${BASH_SOURCE[0]}"; sha256sum <"$here/init"
	sha256sum <"$here/vmon-init-reached.c"; sha256sum <"$here/vsock-echo.c"; sha256sum <"$boot_timer_h"; echo "$bbver $ksrcver $cc $ccver"; } |
	sha256sum | cut -c1-16)
out=$cache_root/$key
if [ -f "$out/initramfs.cpio" ]; then
	say "cached: $out/initramfs.cpio"
	echo "INITRD=$out/initramfs.cpio"
	exit 0
fi

# --- gen_init_cpio, one file out of the kernel source tarball. ---
tools=$cache_root/tools/$ksrcver
if [ ! -x "$tools/gen_init_cpio" ]; then
	say "building gen_init_cpio from $tarball ..."
	mkdir -p "$tools"
	tar -xJf "$tarball" -C "$tools" --strip-components=2 linux-source-6.1/usr/gen_init_cpio.c ||
		die "cannot extract usr/gen_init_cpio.c from $tarball"
	"$cc" -O2 -o "$tools/gen_init_cpio.tmp" "$tools/gen_init_cpio.c" ||
		die "building gen_init_cpio failed"
	mv "$tools/gen_init_cpio.tmp" "$tools/gen_init_cpio"
fi

# --- The archive. ---
rm -rf "$out"
mkdir -p "$out"
say "building vmon-init-reached"
"$cc" -std=c17 -Os -Wall -Wextra -Werror -static -nostdlib -ffreestanding \
	-fno-stack-protector -fno-pie -no-pie -fno-asynchronous-unwind-tables \
	-Wl,--build-id=none -Wl,-z,noexecstack -s -I "$repo/src" \
	-o "$out/vmon-init-reached" "$here/vmon-init-reached.c" ||
	die "building vmon-init-reached failed"
say "building vsock-echo"
"$cc" -std=c17 -O2 -Wall -Wextra -Werror -static -nostdlib -ffreestanding \
	-fno-stack-protector -fno-pie -no-pie -fno-asynchronous-unwind-tables -fno-builtin \
	-Wl,--build-id=none -Wl,-z,noexecstack -s \
	-o "$out/vsock-echo" "$here/vsock-echo.c" ||
	die "building vsock-echo failed"

list=$out/initramfs.list
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	for d in /proc /sys /bin /sbin /usr /usr/bin /usr/sbin; do
		echo "dir $d 0755 0 0"
	done
	echo "dir /root 0700 0 0"
	echo "dir /tmp 1777 0 0"
	echo "file /init $here/init 0755 0 0"
	echo "file /bin/busybox $busybox 0755 0 0"
	echo "file /bin/vmon-init-reached $out/vmon-init-reached 0755 0 0"
	echo "file /bin/vsock-echo $out/vsock-echo 0755 0 0"
	# Applets as busybox installs them (bin/sh, sbin/reboot, usr/bin/awk ...).
	"$busybox" --list-full | LC_ALL=C sort | while read -r applet; do
		[ "$applet" = bin/busybox ] && continue
		echo "slink /$applet /bin/busybox 0777 0 0"
	done
} >"$list"
# Fixed timestamp: the same inputs give the same archive.
"$tools/gen_init_cpio" -t 0 "$list" >"$out/initramfs.cpio.tmp" || die "gen_init_cpio failed"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
say "built $out/initramfs.cpio ($(stat -c %s "$out/initramfs.cpio") bytes, $(grep -c '^slink' "$list") applet links)"
echo "INITRD=$out/initramfs.cpio"
