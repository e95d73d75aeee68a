#!/bin/bash
# Copy executables and the shared libraries they need into a sandbox payload.
#
#   bundle.sh BINARY... -- DESTDIR
#
# Each BINARY goes to DESTDIR/<its file name>. Every library ldd lists (the
# loader /lib64/ld-linux-x86-64.so.2, libc, liblzma, libasan/libubsan for
# sanitizer builds, ...) goes to DESTDIR/.sandbox-root/<its absolute path>,
# which the sandbox's init copies to / before running the command, so the
# binaries run unchanged. Static binaries and non-ELF files get no libraries.
set -euo pipefail

die() { printf 'bundle.sh: %s\n' "$*" >&2; exit 1; }

bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	bins+=("$1")
	shift
done
if [ $# -ne 2 ] || [ ${#bins[@]} -eq 0 ]; then
	die "usage: bundle.sh BINARY... -- DESTDIR"
fi
dest=$2
mkdir -p "$dest/.sandbox-root"

for bin in "${bins[@]}"; do
	[ -f "$bin" ] || die "'$bin' is not a file"
	cp -L --preserve=mode "$bin" "$dest/$(basename "$bin")"
	# ldd exits non-zero for static executables and non-ELF files.
	libs=$(LC_ALL=C ldd "$bin" 2>/dev/null) || continue
	if grep -q 'not found' <<<"$libs"; then
		die "'$bin' needs libraries ldd cannot find: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
	fi
	# Lines are "name => /path (addr)", "/path (addr)" or "linux-vdso.so.1 (addr)".
	awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$libs" | while read -r lib; do
		target=$dest/.sandbox-root$lib
		[ -e "$target" ] && continue
		mkdir -p "$(dirname "$target")"
		cp -L --preserve=mode "$lib" "$target"
	done
done
