#!/bin/bash
# Proves scripts/install-deps.sh is complete, as a fresh machine would: makes
# a minimal Debian 12 root with debootstrap (--variant=minbase: less than a
# new machine of this project's kind has, so nothing installed there by hand
# can hide a missing package), copies the checkout in (tracked files and
# untracked ones git does not ignore), and there runs scripts/install-deps.sh,
# both builds (release and ASan+UBSan) and the unit tests. Each step's output
# is shown when it fails; the step names what failed.
#
# Cached in $VMON_CACHE/fresh-root (VMON_CACHE defaults to <repo>/.cache):
#   base-KEY.tar.zst  the debootstrap result (KEY: its arguments and mirror)
#   apt-archives/  downloaded .debs, shared by all runs
#   root/          this run's root (removed and remade each run)
# Needs root (chroot, mounts). Usage: check-fresh.sh [--junit FILE]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VMON_CACHE:-$repo/.cache}/fresh-root
junit=""
[ "${1:-}" = "--junit" ] && junit=${2:?--junit needs a file}

say() { printf 'check-fresh: %s\n' "$*" >&2; }
die() { printf 'check-fresh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
sh "$repo/scripts/install-deps.sh" debootstrap zstd || die "cannot install debootstrap"

root=$cache/root
mounts=()
cleanup() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount -l "${mounts[i]}" 2>/dev/null || say "could not unmount ${mounts[i]}"
	done
}
trap cleanup EXIT

# Steps and their outcome, for the JUnit file: name|ok|seconds|message
declare -a outcomes=()
write_junit() {
	[ -n "$junit" ] || return 0
	mkdir -p "$(dirname "$junit")"
	local failures=0 o name ok secs msg
	for o in "${outcomes[@]}"; do [[ $o == *"|fail|"* ]] && failures=$((failures + 1)); done
	{
		printf '<?xml version="1.0" encoding="utf-8"?>\n'
		printf '<testsuite name="fresh-machine" tests="%d" failures="%d" errors="0" skipped="0">\n' \
			"${#outcomes[@]}" "$failures"
		for o in "${outcomes[@]}"; do
			IFS='|' read -r name ok secs msg <<<"$o"
			printf '  <testcase classname="fresh-machine" name="%s" time="%s">' "$name" "$secs"
			[ "$ok" = ok ] || printf '<failure message="%s"/>' "$(printf '%s' "$msg" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/"/\&quot;/g')"
			printf '</testcase>\n'
		done
		printf '</testsuite>\n'
	} >"$junit"
}

# Runs one step; on failure prints its output and records why, then stops.
step() {
	local name=$1 t0=$SECONDS log
	shift
	log=$(mktemp)
	say "$name"
	if "$@" >"$log" 2>&1; then
		outcomes+=("$name|ok|$((SECONDS - t0))|")
		rm -f "$log"
		return 0
	fi
	tail -n 60 "$log" >&2
	local why
	why=$(grep -m1 -E 'not found|Unable to locate|ERROR|[Ee]rror' "$log" || tail -n 1 "$log")
	rm -f "$log"
	outcomes+=("$name|fail|$((SECONDS - t0))|$why")
	say "FAILED: $name: $why"
	for s in "${remaining[@]:1}"; do outcomes+=("$s|fail|0|not run: '$name' failed"); done
	write_junit
	exit 1
}
# The steps still to run, the current one first (each step calls next when it passed).
remaining=("install-deps" "build release" "build sanitizers" "unit tests release" "unit tests sanitizers")
next() { remaining=("${remaining[@]:1}"); }

# --- The base root: debootstrap once, keyed by how it is made. ---
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
debootstrap_args=(--variant=minbase bookworm)
key=$(printf '%s\n' "${debootstrap_args[*]}" "$mirror" | sha256sum | cut -c1-16)
base=$cache/base-$key.tar.zst
if [ ! -f "$base" ]; then
	tmp=$cache/debootstrap.tmp
	rm -rf "$tmp" && mkdir -p "$tmp" "$cache/apt-archives"
	remaining=("debootstrap" "${remaining[@]}")
	step "debootstrap" debootstrap --cache-dir="$cache/apt-archives" "${debootstrap_args[@]}" "$tmp" "$mirror"
	next
	tar -C "$tmp" --zstd -cf "$base.part" . && mv "$base.part" "$base"
	rm -rf "$tmp"
	find "$cache" -maxdepth 1 -name 'base-*.tar.zst' ! -name "base-$key.tar.zst" -delete
fi

# --- This run's root: the base, the host's apt sources, the checkout. ---
if [ -d "$root" ]; then
	grep -q " $root" /proc/mounts && die "$root still has mounts; unmount them first"
	rm -rf "$root"
fi
mkdir -p "$root" "$cache/apt-archives"
tar -C "$root" --zstd -xf "$base"
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null ||
	cp /etc/apt/sources.list "$root/etc/apt/" 2>/dev/null || true
[ -f "$root/etc/apt/sources.list.d/debian.sources" ] && rm -f "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$root/src" -xf -

for m in proc sys dev dev/pts var/cache/apt/archives; do
	mkdir -p "$root/$m"
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	sys) mount -t sysfs sys "$root/sys" ;;
	dev) mount --bind /dev "$root/dev" ;;
	dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" ;;
	var/cache/apt/archives) mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" ;;
	esac
	mounts+=("$root/$m")
done

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	/bin/sh -c "cd /src && $1"; }

step "install-deps" in_root "sh scripts/install-deps.sh"; next
step "build release" in_root "meson setup build && ninja -C build"; next
step "build sanitizers" in_root "meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false && ninja -C build-asan"; next
step "unit tests release" in_root "meson test -C build --suite unit --print-errorlogs"; next
step "unit tests sanitizers" in_root "meson test -C build-asan --suite unit --print-errorlogs"; next
write_junit
say "a bare Debian 12 root installed, built and passed the unit tests"
