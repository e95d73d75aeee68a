#!/bin/bash
# Prepare the KVM sandbox: a Debian kernel booted under QEMU TCG with AMD SVM,
# whose kvm_amd gives a real /dev/kvm on hosts that have none.
#
# Idempotent and cached in $KVM_SANDBOX_CACHE (default <repo>/.cache/kvm-sandbox):
#   dl/                   the linux-image .deb (apt-get download)
#   kernel/<version>/     its extracted contents (dpkg-deb -x)
#   vmlinux               the uncompressed kernel, booted through its PVH entry
#                         (skips the ~2.6 s xz decompression under TCG)
#   base.cpio             busybox + KVM modules + tests/kvm-sandbox/init
#   kvm_smoke             static build of tests/kvm-sandbox/kvm_smoke.c
#   ready                 the kernel version, written last
#
# Environment: KVM_SANDBOX_CACHE, KVM_SANDBOX_KERNEL_PKG (default: what
# linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64), CC.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KVM_SANDBOX_CACHE:-$repo/.cache/kvm-sandbox}
cc=${CC:-cc}

say() { printf 'kvm-sandbox: %s\n' "$*" >&2; }
die() { printf 'kvm-sandbox: error: %s\n' "$*" >&2; exit 1; }

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; install the Debian package '$2'"
}

need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd cpio cpio
need_cmd xz xz-utils
need_cmd dpkg-deb dpkg
need_cmd modinfo kmod
need_cmd "$cc" gcc
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "'busybox' not found; install the Debian package 'busybox-static'"
# A dynamic busybox would need its libraries in the initramfs.
if LC_ALL=C ldd "$busybox" 2>&1 | grep -q '=>'; then
	die "$busybox is dynamically linked; install the Debian package 'busybox-static'"
fi

mkdir -p "$cache/dl"

# 1. The kernel package.
pkg=${KVM_SANDBOX_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
	if [ -z "$pkg" ] && [ -f "$cache/ready" ]; then
		pkg=linux-image-$(cat "$cache/ready")
		say "apt-cache gave no kernel package; keeping the cached $pkg"
	fi
	[ -n "$pkg" ] || die "cannot find the kernel package: 'apt-cache depends linux-image-amd64' names none (run apt-get update?)"
fi
kver=${pkg#linux-image-}
kdir=$cache/kernel/$kver

if [ ! -f "$kdir/.extracted" ]; then
	deb=$(find "$cache/dl" -maxdepth 1 -name "${pkg}_*_amd64.deb" | head -n 1)
	if [ -z "$deb" ]; then
		say "downloading $pkg (about 70 MB) ..."
		(cd "$cache/dl" && apt-get download "$pkg") ||
			die "apt-get download $pkg failed"
		deb=$(find "$cache/dl" -maxdepth 1 -name "${pkg}_*_amd64.deb" | head -n 1)
		[ -n "$deb" ] || die "apt-get download left no ${pkg}_*_amd64.deb in $cache/dl"
	fi
	say "extracting $(basename "$deb") ..."
	rm -rf "$kdir"
	mkdir -p "$kdir"
	dpkg-deb -x "$deb" "$kdir" || die "dpkg-deb -x $deb failed"
	touch "$kdir/.extracted"
else
	say "kernel $kver already extracted"
fi

bzimage=$kdir/boot/vmlinuz-$kver
moddir=$kdir/lib/modules/$kver
[ -f "$bzimage" ] || die "$bzimage missing from $pkg"
[ -d "$moddir" ] || die "$moddir missing from $pkg"

# 2. The uncompressed kernel: the payload after the first xz magic.
if [ ! -f "$cache/vmlinux" ] || [ "$(cat "$cache/vmlinux.version" 2>/dev/null)" != "$kver" ]; then
	say "decompressing the kernel for PVH boot ..."
	off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$bzimage" | head -n 1 | cut -d: -f1 || true)
	[ -n "$off" ] || die "no xz stream in $bzimage (kernel not CONFIG_KERNEL_XZ?)"
	# xz complains about the bzImage trailer after the stream; the ELF check decides.
	tail -c +$((off + 1)) "$bzimage" | xz -dcq >"$cache/vmlinux.tmp" 2>/dev/null || true
	head -c 4 "$cache/vmlinux.tmp" | grep -q 'ELF' || die "decompressed kernel is not an ELF file"
	grep -q 'CONFIG_PVH=y' "$kdir/boot/config-$kver" || die "kernel $kver lacks CONFIG_PVH"
	mv "$cache/vmlinux.tmp" "$cache/vmlinux"
	echo "$kver" >"$cache/vmlinux.version"
fi

# 3. Modules: kvm-amd (and tun, for vmon's TAP network backend) with their dependencies, dependencies first.
declare -A mod_seen=()
mod_order=()
mod_path() {
	local f
	f=$(find "$moddir" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1)
	if [ -z "$f" ]; then
		# modinfo names use '_' where file names may use '-'.
		f=$(find "$moddir" -name "${1//_/-}.ko" -o -name "${1//_/-}.ko.xz" -o -name "${1//_/-}.ko.zst" | head -n 1)
	fi
	[ -n "$f" ] || die "module $1 not found under $moddir"
	printf '%s\n' "$f"
}
mod_add() {
	local name=${1//-/_} f dep
	[ -n "${mod_seen[$name]:-}" ] && return 0
	mod_seen[$name]=1
	f=$(mod_path "$name")
	for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
		mod_add "$dep"
	done
	mod_order+=("$name:$f")
}
mod_add kvm_amd
mod_add tun

# 4. The base initramfs.
say "building base.cpio ..."
stage=$(mktemp -d "$cache/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,lib/modules,sandbox,payload}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$here/init" "$stage/init"
: >"$stage/lib/modules/load.list"
for entry in "${mod_order[@]}"; do
	name=${entry%%:*}
	f=${entry#*:}
	case "$f" in
	*.ko.xz) xz -dc "$f" >"$stage/lib/modules/$name.ko" ;;
	*.ko.zst) need_cmd zstd zstd; zstd -dcq "$f" >"$stage/lib/modules/$name.ko" ;;
	*) cp "$f" "$stage/lib/modules/$name.ko" ;;
	esac
	echo "$name" >>"$stage/lib/modules/load.list"
done
say "modules: $(tr '\n' ' ' <"$stage/lib/modules/load.list")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$cache/base.cpio.tmp"
mv "$cache/base.cpio.tmp" "$cache/base.cpio"

# 5. The smoke test, static so it needs nothing from the initramfs.
say "building kvm_smoke ..."
"$cc" -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static \
	-o "$cache/kvm_smoke" "$here/kvm_smoke.c" ||
	die "building kvm_smoke failed (static glibc comes with libc6-dev)"

echo "$kver" >"$cache/ready"
say "ready: kernel $kver, cache $cache"
