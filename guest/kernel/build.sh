#!/bin/bash
# Builds vmon's guest kernel: `make tinyconfig` of Debian's linux-source-6.1,
# plus the fragment guest/kernel/vmon.config (merge_config.sh, then
# olddefconfig), checked option by option, then vmlinux and bzImage.
#
# Cached: the results go to $VMON_CACHE/guest-kernel/<key>/ (VMON_CACHE
# defaults to <repo>/.cache), where <key> hashes the fragment, the
# linux-source-6.1 package version and this script. An existing <key>/ is
# reused as is. Prints the result paths as KEY=path lines on stdout:
#   KERNEL_VMLINUX=...  KERNEL_BZIMAGE=...  KERNEL_CONFIG=...
# Everything else goes to stderr.
#
# Environment: VMON_CACHE, VMON_JOBS (make -j; default nproc+1, at most 3
# on our shared 2-core builders unless set), VMON_KEEP_BUILD=1 keeps the
# object tree (<key>/build) after a successful build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${VMON_CACHE:-$repo/.cache}/guest-kernel
fragment=$here/vmon.config
tarball=/usr/src/linux-source-6.1.tar.xz
srcname=linux-source-6.1

say() { printf 'guest-kernel: %s\n' "$*" >&2; }
die() { printf 'guest-kernel: error: %s\n' "$*" >&2; exit 1; }

# --- 1. Build dependencies (idempotent: scripts/install-deps.sh). ---
# What tinyconfig + our fragment needs: gcc/make (build-essential), bc
# (kernel/time/timeconst.bc), bison + flex (kconfig), libelf-dev (objtool,
# which x86-64 runs on every object), zstd (CONFIG_KERNEL_ZSTD), xz-utils
# (the tarball). libssl-dev is not needed: only module signing and the
# system keyring (both off: no CONFIG_MODULES) build host tools with OpenSSL.
packages="build-essential bc bison flex libelf-dev zstd xz-utils linux-source-6.1"
sh "$repo/scripts/install-deps.sh" $packages || die "cannot install:$packages"
[ -f "$tarball" ] || die "$tarball missing (package linux-source-6.1)"
[ -f "$fragment" ] || die "$fragment missing"

# --- 2. Cache key. ---
pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { sha256sum <"$fragment"; echo "$pkgver"; sha256sum <"${BASH_SOURCE[0]}"; } |
	sha256sum | cut -c1-16)
out=$cache_root/$key

print_results() {
	echo "KERNEL_VMLINUX=$out/vmlinux"
	echo "KERNEL_BZIMAGE=$out/bzImage"
	echo "KERNEL_CONFIG=$out/config"
}

if [ -f "$out/.done" ]; then
	say "cached: $out (linux-source $pkgver)"
	print_results
	exit 0
fi

# --- 3. The source tree, shared by all keys of one package version. ---
# Only what the build reads is unpacked (about a third of the 1.3 GB tree):
# Kconfig sources every directory's Kconfig and the top-level Makefiles
# descend into most directories, so for the subsystems we never enable the
# Kconfig files and Makefiles stay and only the sources (*.c, *.h, *.S) are
# left out; the same for the other architectures (crypto/Kconfig sources
# their arch/*/crypto/Kconfig) plus their device trees and defconfigs.
# Documentation's subdirectories (Kconfig sources only Documentation/Kconfig),
# perf and the selftests go entirely. Turning on a subsystem listed here
# means taking it off the list (the source tree is keyed by the list).
p=$srcname
excludes=(
	"$p/Documentation/*/*" "$p/arch/[!x]*/*.dts*" "$p/arch/[!x]*/configs"
	"$p/tools/perf" "$p/tools/testing"
)
for d in "arch/[!x]*" samples drivers/gpu drivers/media drivers/staging drivers/infiniband drivers/scsi \
	drivers/usb drivers/net/ethernet drivers/net/wireless drivers/net/can \
	drivers/net/dsa drivers/iio drivers/clk drivers/pinctrl drivers/mtd \
	drivers/hwmon drivers/crypto drivers/md drivers/s390 \
	drivers/mmc drivers/mfd drivers/regulator drivers/power drivers/bluetooth \
	drivers/isdn drivers/soc drivers/phy drivers/leds drivers/hid drivers/ata \
	drivers/net/phy drivers/thunderbolt drivers/nvme drivers/target \
	drivers/input/touchscreen drivers/input/misc drivers/input/joystick \
	sound fs/btrfs fs/xfs fs/ocfs2 fs/nfs fs/nfsd fs/ceph fs/cifs fs/smb \
	fs/ksmbd fs/f2fs fs/gfs2 fs/ntfs fs/ntfs3 fs/reiserfs fs/jfs fs/nilfs2 \
	fs/ubifs fs/afs fs/dlm fs/orangefs net/wireless net/mac80211 \
	net/bluetooth net/netfilter net/sctp net/tipc net/rxrpc net/ceph; do
	excludes+=("$p/$d/*.[chS]")
done
srcdir=$cache_root/src/$pkgver-$(printf '%s\n' "${excludes[@]}" | sha256sum | cut -c1-8)
ksrc=$srcdir/$srcname
if [ ! -f "$srcdir/.extracted" ]; then
	say "unpacking $tarball (the parts the build needs) into $srcdir ..."
	t0=$(date +%s)
	rm -rf "$srcdir"
	mkdir -p "$srcdir"
	exclude_args=()
	for e in "${excludes[@]}"; do exclude_args+=("--exclude=$e"); done
	tar -xJf "$tarball" -C "$srcdir" --wildcards "${exclude_args[@]}" ||
		die "unpacking $tarball failed"
	touch "$srcdir/.extracted"
	say "unpacked in $(($(date +%s) - t0)) s ($(du -sh "$ksrc" | cut -f1))"
else
	say "source tree $srcdir already unpacked"
fi

# --- 4. Configuration. ---
jobs=${VMON_JOBS:-$(($(nproc) + 1))}
if [ -z "${VMON_JOBS:-}" ] && [ "$jobs" -gt 3 ] && [ "$(nproc)" -le 2 ]; then jobs=3; fi
build=$out/build
log=$out/build.log
rm -rf "$out"
mkdir -p "$build"
: >"$log"
kmake() { make -C "$ksrc" O="$build" ARCH=x86_64 "$@"; }

t_start=$(date +%s)
say "configuring (tinyconfig + $(basename "$fragment")) in $build"
kmake tinyconfig >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "make tinyconfig failed (log: $log)"; }
# -m: merge only; olddefconfig then resolves the dependencies.
(cd "$build" && "$ksrc/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment") \
	>>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "merge_config.sh failed (log: $log)"; }
kmake olddefconfig >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "make olddefconfig failed (log: $log)"; }

# Every option of the fragment must have survived olddefconfig: a missing
# one means an unmet dependency, which the fragment has to state.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) name=${line%%=*} ;;
	"# CONFIG_"*" is not set") name=${line#\# }; name=${name%% *} ;;
	*) continue ;;
	esac
	if [ "${line#\#}" != "$line" ]; then
		# Not set: absent from .config (dependency off) also counts as off.
		if grep -q "^$name=" "$build/.config"; then
			say "fragment wants '$line', config has '$(grep "^$name=" "$build/.config")'"
			bad=1
		fi
	elif ! grep -qxF "$line" "$build/.config"; then
		got=$(grep -E "^$name=|^# $name is not set" "$build/.config" || echo "(absent: dependency unmet)")
		say "fragment wants '$line', config has '$got'"
		bad=1
	fi
done <"$fragment"
[ "$bad" = 0 ] || die "the fragment does not apply as written; add the missing dependencies to $fragment"
say "all $(grep -cE '^(CONFIG_|# CONFIG_)' "$fragment") options of the fragment applied"

# --- 5. Build, make's output summarised: one line per new top-level
# directory, plus the final link and image steps; warnings and errors pass. ---
say "building vmlinux and bzImage with make -j$jobs (log: $log)"
t0=$(date +%s)
set +e
kmake -j"$jobs" vmlinux bzImage 2>&1 | tee -a "$log" | awk -v t0="$t0" '
	function stamp() { s = systime() - t0; return sprintf("[%2d:%02d]", s / 60, s % 60) }
	/^  (CC|AS|AR|LD|HOSTCC|GEN|UPD|SYNC|OBJCOPY|BUILD|ZSTD|XZKERN|VOFFSET|ZOFFSET|MKPIGGY|RELOCS|CPUSTR|MKCAP|SYSMAP|KSYMS|LDS)/ {
		n++
		split($2, part, "/")
		top = part[1]
		if (($1 == "LD" && $2 == "vmlinux") || $1 == "BUILD" || $1 == "ZSTD" || $1 == "SYSMAP") {
			printf "guest-kernel: %s %s %s\n", stamp(), $1, $2 > "/dev/stderr"
		} else if (top != "" && !(top in seen) && $2 ~ /\//) {
			seen[top] = 1
			printf "guest-kernel: %s %s/ ... (%d steps so far)\n", stamp(), top, n > "/dev/stderr"
		}
		next
	}
	/warning:|error:|Error [0-9]|\*\*\*/ { print "guest-kernel: " $0 > "/dev/stderr" }
	END { printf "guest-kernel: %s done, %d steps\n", stamp(), n > "/dev/stderr" }'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 40 "$log" >&2; die "make failed (exit $rc, log: $log)"; }

cp "$build/vmlinux" "$out/vmlinux"
cp "$build/arch/x86/boot/bzImage" "$out/bzImage"
cp "$build/.config" "$out/config"
cp "$build/System.map" "$out/System.map"
[ "${VMON_KEEP_BUILD:-0}" = 1 ] || rm -rf "$build"
t_end=$(date +%s)
{
	echo "seconds=$((t_end - t_start))"
	echo "jobs=$jobs"
	echo "nproc=$(nproc)"
	echo "linux_source=$pkgver"
	echo "vmlinux_bytes=$(stat -c %s "$out/vmlinux")"
	echo "bzimage_bytes=$(stat -c %s "$out/bzImage")"
} >"$out/build-info"
touch "$out/.done"
say "built in $((t_end - t_start)) s: vmlinux $(stat -c %s "$out/vmlinux") bytes, bzImage $(stat -c %s "$out/bzImage") bytes"
print_results
