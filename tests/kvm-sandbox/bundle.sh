#!/bin/bash
# Copy executables and the shared libraries they need into a sandbox payload.
#
#   bundle.sh BINARY... -- DESTDIR
#
# Each BINARY goes to DESTDIR/<its file name>. Every library ldd lists (the
# loader /lib64/ld-linux-x86-64.so.2, libc, liblzma, libasan/libubsan for
# sanitizer builds, ...) goes to DESTDIR/.sandbox-root/<its absolute path>,
# which the sandbox's init copies to / before running the command, so the
# binaries run unchanged. Libraries a binary loads itself with dlopen (vmon:
# libslirp for `--net user`) come too, with theirs: every versioned soname
# (libNAME.so.N) named in an ELF binary, static or not, that ldconfig knows.
# Non-ELF files get no libraries.
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

# Copies one library to its absolute path under .sandbox-root.
copy_lib() {
	local target=$dest/.sandbox-root$1
	[ -e "$target" ] && return 0
	mkdir -p "$(dirname "$target")"
	cp -L --preserve=mode "$1" "$target"
}

# Copies the libraries ldd lists for an ELF file (none for static ones).
copy_needed() {
	local libs
	# ldd exits non-zero for static executables and non-ELF files.
	libs=$(LC_ALL=C ldd "$1" 2>/dev/null) || return 0
	if grep -q 'not found' <<<"$libs"; then
		die "'$1' needs libraries ldd cannot find: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
	fi
	# Lines are "name => /path (addr)", "/path (addr)" or "linux-vdso.so.1 (addr)".
	awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' <<<"$libs" | while read -r lib; do
		copy_lib "$lib"
	done
}

# Versioned sonames named in an ELF file, with the path ldconfig has for each.
named_sonames() {
	[ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
	# grep finds none in most binaries (exit 1): not an error under pipefail.
	{ grep -ao 'lib[A-Za-z0-9_+-]*\.so\.[0-9][0-9.]*' "$1" || true; } | sort -u | while read -r soname; do
		ldconfig -p | awk -v n="$soname" '$1 == n && /x86-64/ { print $NF; exit }'
	done
}

for bin in "${bins[@]}"; do
	[ -f "$bin" ] || die "'$bin' is not a file"
	cp -L --preserve=mode "$bin" "$dest/$(basename "$bin")"
	copy_needed "$bin"
	named_sonames "$bin" | while read -r lib; do
		copy_lib "$lib"
		copy_needed "$lib"
	done
done
