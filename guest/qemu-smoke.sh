#!/bin/bash
# Boots the guest kernel and initramfs under QEMU (KVM when /dev/kvm is
# usable, else TCG) and checks the command-line protocol end to end:
# bzImage and vmlinux (PVH entry), vmon.cmd with both quote styles, the exit
# status line, vmon.cmd64, two CPUs, and the interactive shell. Each case
# must power the guest off (QEMU -no-reboot exits 0 on the i8042 reset).
# Prints one line per case with the wall time and the kernel's timestamp of
# "Run /init"; exits non-zero if any case fails.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Sets KERNEL, BZIMAGE and INITRD.
eval "$("$repo/scripts/build-guest.sh")"
accel=tcg
[ -w /dev/kvm ] && accel=kvm
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
failed=0

# case NAME KERNEL APPEND EXPECTED [QEMU-ARGS...]; stdin goes to the guest.
case_run() {
	local name=$1 kernel=$2 append=$3 expected=$4
	shift 4
	local log=$logdir/$name.log t0 t1 rc=0
	t0=$(date +%s.%N)
	timeout 300 qemu-system-x86_64 -accel "$accel" -m 256M -nographic -no-reboot \
		-kernel "$kernel" -initrd "$INITRD" -append "console=ttyS0 reboot=k $append" \
		"$@" >"$log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	local init_at
	init_at=$(sed -n 's/^\[ *\([0-9.]*\)\] Run \/init.*/\1/p' "$log")
	if [ "$rc" = 0 ] && grep -qF -- "$expected" "$log" && grep -q '^vmon: powering off' "$log"; then
		printf 'ok    %-14s %5.2f s wall, /init at %s s\n' "$name" "$(echo "$t1 - $t0" | bc)" "${init_at:-?}"
	else
		printf 'FAIL  %-14s qemu exit %s, expected "%s"; last lines:\n' "$name" "$rc" "$expected"
		tail -n 15 "$log" | sed 's/^/      /'
		failed=1
	fi
}

# shellcheck disable=SC2016  # the $ are for the guest's shell
cmd64=$(printf 'for i in 1 2 3; do echo "line $i"; done\nexit 7\n' | base64 -w0)
case_run bzimage "$BZIMAGE" "vmon.cmd='uname -a; cat /proc/cpuinfo | head -5'" \
	"Linux (none) 6.1" </dev/null
# shellcheck disable=SC2153  # KERNEL comes from the eval above
case_run pvh-vmlinux "$KERNEL" "vmon.cmd='uname -a; cat /proc/cpuinfo | head -5'" \
	"Linux (none) 6.1" </dev/null
case_run double-quotes "$BZIMAGE" 'vmon.cmd="echo a  b; exit 3"' \
	"vmon: command exited with status 3" </dev/null
case_run cmd64 "$BZIMAGE" "vmon.cmd64=$cmd64" "vmon: command exited with status 7" </dev/null
case_run smp2 "$BZIMAGE" 'vmon.cmd="cat /sys/devices/system/cpu/online"' "0-1" -smp 2 </dev/null
# The shell reads its input once the console is up; give the guest time.
# shellcheck disable=SC2016
{ sleep 10; printf 'echo shell-$((6*7))\nexit\n'; } |
	case_run shell "$BZIMAGE" "" "shell-42"
exit "$failed"
