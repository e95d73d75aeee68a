#!/bin/bash
# Run a command inside the KVM sandbox (QEMU TCG guest with SVM and kvm_amd).
#
#   run.sh [--timeout SECONDS] PAYLOAD_DIR -- COMMAND [ARG...]
#
# PAYLOAD_DIR's contents appear at /payload in the guest (packed into a cpio
# archive appended to the initramfs). COMMAND runs there with /payload as the
# working directory, as "/bin/sh -c" of its arguments, each one single-quoted:
# write "sh -c '...'" for pipes or redirections. Its stdout and stderr arrive
# on this script's stdout (the guest's second serial port, raw bytes), and
# this script exits with COMMAND's exit status.
#
# Exit statuses of its own: 124 the whole QEMU run timed out, 125 the sandbox
# failed before reporting a status (the console log goes to stderr), 2 usage
# or not prepared. 126 means the guest found no usable /dev/kvm.
#
# Environment: KVM_SANDBOX_CACHE, KVM_SANDBOX_TIMEOUT (default 600 s),
# KVM_SANDBOX_MEM (MiB, default 2048), KVM_SANDBOX_SMP (default 1: with 2, nested KVM under TCG soft-locked the sandbox kernel),
# KVM_SANDBOX_CPU (default max), KVM_SANDBOX_KVM_AMD_ARGS (e.g. "npt=0"),
# KVM_SANDBOX_VERBOSE=1 copies the guest console log to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KVM_SANDBOX_CACHE:-$repo/.cache/kvm-sandbox}
timeout_s=${KVM_SANDBOX_TIMEOUT:-600}

usage() {
	echo "usage: run.sh [--timeout SECONDS] PAYLOAD_DIR -- COMMAND [ARG...]" >&2
	exit 2
}

if [ "${1:-}" = "--timeout" ]; then
	[ $# -ge 2 ] || usage
	timeout_s=$2
	shift 2
fi
if [ $# -lt 3 ] || [ "$2" != "--" ]; then
	usage
fi
payload=$1
shift 2
[ -d "$payload" ] || { echo "run.sh: payload '$payload' is not a directory" >&2; exit 2; }
case "$timeout_s" in
'' | *[!0-9]*) echo "run.sh: timeout '$timeout_s' is not a whole number of seconds" >&2; exit 2 ;;
esac
for f in ready vmlinux base.cpio; do
	if [ ! -f "$cache/$f" ]; then
		echo "run.sh: sandbox not prepared ($cache/$f missing); run tests/kvm-sandbox/prepare.sh" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-sandbox.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The command, each argument single-quoted for the guest's ash.
quote() {
	local s=$1
	printf "'%s'" "${s//\'/\'\\\'\'}"
}
mkdir -p "$work/extra/sandbox"
{
	printf 'exec'
	for arg in "$@"; do
		printf ' '
		quote "$arg"
	done
	printf '\n'
} >"$work/extra/sandbox/cmd.sh"
if [ -n "${KVM_SANDBOX_KVM_AMD_ARGS:-}" ]; then
	# load.list lines are "module args"; the init reads it before cmd.sh.
	mkdir -p "$work/extra/lib/modules"
	sed "s/^kvm_amd\$/kvm_amd ${KVM_SANDBOX_KVM_AMD_ARGS}/" \
		<(cd "$work" && cpio -i --quiet --to-stdout lib/modules/load.list <"$cache/base.cpio") \
		>"$work/extra/lib/modules/load.list"
fi
ln -s "$(cd "$payload" && pwd)" "$work/extra/payload"

# Later archive members replace earlier ones; the kernel skips the zero
# padding between concatenated archives.
{
	cat "$cache/base.cpio"
	(cd "$work/extra" && find -L . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 -L --quiet)
} >"$work/initrd"

: >"$work/status"
: >"$work/console.log"
rc=0
# stdin from /dev/null: the stdio chardev must not take the caller's terminal.
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-machine pc -accel tcg -cpu "${KVM_SANDBOX_CPU:-max}" \
	-m "${KVM_SANDBOX_MEM:-2048}" -smp "${KVM_SANDBOX_SMP:-1}" \
	-nodefaults -no-user-config -display none -monitor none -no-reboot \
	-chardev file,id=con,path="$work/console.log" -serial chardev:con \
	-chardev stdio,id=out -serial chardev:out \
	-chardev file,id=status,path="$work/status" -serial chardev:status \
	-kernel "$cache/vmlinux" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 quiet" \
	</dev/null || rc=$?

if [ "${KVM_SANDBOX_VERBOSE:-0}" = 1 ]; then
	cat "$work/console.log" >&2
fi
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "run.sh: sandbox timed out after $timeout_s s; console log tail:" >&2
	tail -n 20 "$work/console.log" >&2
	exit 124
fi
status=$(sed -n 's/^@@SANDBOX-EXIT \([0-9]*\)@@.*/\1/p' "$work/status" | tail -n 1)
if [ -z "$status" ]; then
	echo "run.sh: sandbox ended without an exit status (qemu status $rc); console log tail:" >&2
	tail -n 40 "$work/console.log" >&2
	exit 125
fi
if [ "$status" = 126 ] || [ "$status" = 127 ]; then
	grep '^sandbox:' "$work/console.log" | grep -v 'payload starts' >&2 || true
fi
exit "$status"
