# SPDX-License-Identifier: MIT
"""Issue 11's "Done when", with Linux: a guest that counts, writes its count to an ext4 disk and fetches a
page over the user-mode network each second is

  * snapshotted (`vmon ctl pause` + `vmon ctl snapshot`), its vmon killed, and restored by a new
    `vmon restore`: the count goes on from where it was, the network works again;
  * live-migrated (`vmon ctl migrate`) to a `vmon receive` while it runs: the source exits 0, the
    destination's count goes on without a reset or a gap, the network works again.

Each run ends cleanly: the host's page turns from "go" to "stop", the guest leaves its loop, unmounts the
disk and powers off. Then debugfs reads the count file from the image (it must hold the last count the
guest printed) and `e2fsck -fn` must find the filesystem clean.

The project kernel and initramfs as in test_linux.py; one shell script per scenario through the session
batch, driving vmon with `vmon --api-sock` and `vmon ctl` only, so it also runs in the KVM sandbox. A
Linux boot takes about a minute on a PVM host (guest ring 0 emulated): timeouts are generous."""

import atexit
import base64
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import VMON, describe, vm_case

# As test_linux.py finds them (not imported from there: that would queue its cases too).
BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
HAVE_LINUX = bool(BZIMAGE and INITRD and os.path.exists(BZIMAGE) and os.path.exists(INITRD))
needs_linux = pytest.mark.skipif(not HAVE_LINUX and os.environ.get("VMON_REQUIRE_LINUX") != "1",
                                 reason="guest kernel/initramfs not built (scripts/build-guest.sh)")
DEBUGFS = shutil.which("debugfs") or "/usr/sbin/debugfs"

HTTP_PORT = 19000 + os.getpid() % 1000  # the migration scenario uses the next one
E2FSCK = shutil.which("e2fsck") or "/usr/sbin/e2fsck"

# The guest: count forever, each count on the disk (synced) before it is printed with what the host's
# page said; "stop" from the host ends the loop. A fetch cut by the snapshot or the migration (slirp is
# re-created: its TCP connections are gone) fails within `timeout`, and the next one must work.
GUEST_SCRIPT = """
port=$(sed 's/.* vmon.port=\\([0-9]*\\).*/\\1/' /proc/cmdline)
mkdir -p /mnt
mount -t ext4 /dev/vda /mnt || exit 1
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
i=$(cat /mnt/count.txt)
while :; do
	i=$((i + 1))
	echo $i >/mnt/count.txt
	sync
	page=$(timeout 10 wget -q -O - http://10.0.2.2:$port/page.txt)
	case $page in
	go) http=ok ;;
	stop) http=stop ;;
	*) http=failed ;;
	esac
	echo "count $i http $http"
	[ "$http" = stop ] && break
	sleep 1
done
umount /mnt && echo "disk unmounted"
"""

# $1 vmon $2 bzImage $3 initrd $4 disk $5 guest script (base64) $6 HTTP port $7 debugfs $8 e2fsck
COMMON = r'''
vmon=$1; bzimage=$2; initrd=$3; disk=$4; cmd64=$5; port=$6; debugfs=$7; e2fsck=$8
d=/tmp/vmon-snaplinux-$$; mkdir -p $d; cd $d
echo go >page.txt
busybox httpd -f -p 127.0.0.1:$port -h $d & httpd=$!
ctl() { sock=$1; shift; "$vmon" ctl --api-sock $sock --wait 10 "$@"; }
# wait_for FILE PATTERN SECONDS
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt $(($3 * 10)) ] && return 1; sleep 0.1; done; }
last_count() { grep -o 'count [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }
start_guest() {   # SOCK: configure and start through the API (1 vCPU, 128 MiB, the disk, user-mode net)
	ctl $1 put /boot-source "{\"kernel_image_path\": \"$bzimage\", \"initrd_path\": \"$initrd\", \"boot_args\": \"console=ttyS0 reboot=k panic=-1 vmon.port=$port vmon.cmd64=$cmd64\"}" >/dev/null
	ctl $1 put /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$disk\", \"is_root_device\": false, \"is_read_only\": false}" >/dev/null
	ctl $1 put /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vmon:user"}' >/dev/null
	ctl $1 put /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' >/dev/null
	ctl $1 start; echo "start: $?"
}
# stop_guest PID OUT WHO: the page says stop; the guest ends its loop and powers off (or is killed after 120 s)
stop_guest() {
	echo stop >page.txt
	kill -0 $1 && { wait_for $2 "http stop" 120 || echo "$3: no stop seen"; }
	(trap 'kill $s; exit 0' TERM; sleep 60 & s=$!; wait $s; echo "$3: still running, killed"; kill -KILL $1) &
	watchdog=$!; wait $1; echo "$3 exit: $?"; kill $watchdog; wait $watchdog
}
check_disk() {
	kill $httpd; wait $httpd
	echo "disk count: $("$debugfs" -R "cat /count.txt" "$disk")"
	"$e2fsck" -fn "$disk"; echo "e2fsck: $?"
}
'''

# Snapshot: pause, `vmon ctl snapshot` (a paused VM stays paused), kill -9; `vmon restore` goes on.
SNAPSHOT_SCRIPT = COMMON + r'''
"$vmon" --api-sock a.sock --id snap-src >a.out 2>a.err & src=$!
start_guest a.sock
wait_for a.out 'count 3 http ok' 600 || echo "no count 3 on the source"
ctl a.sock pause; echo "pause: $?"
before=$(last_count a.out); echo "last count before: $before"
ctl a.sock snapshot $d/vm.snap $d/vm.mem; echo "ctl snapshot: $?"
echo "source after snapshot: $(ctl a.sock status)"
kill -KILL $src; wait $src; echo "source exit: $?"
"$vmon" restore --snapshot $d/vm.snap --mem $d/vm.mem >b.out 2>b.err & dst=$!
wait_for b.out "count $((before + 3)) http ok" 300 || echo "no count $((before + 3)) after the restore"
echo "first count after: $(grep -o 'count [0-9]*' b.out | head -1 | cut -d' ' -f2)"
stop_guest $dst b.out restored
check_disk
sed 's/^/src: /' a.out; sed 's/^/src err: /' a.err; sed 's/^/dst: /' b.out; sed 's/^/dst err: /' b.err
rm -rf $d
'''

# Migration: `vmon receive` waits; `vmon ctl migrate` while the guest counts; the source exits 0.
MIGRATE_SCRIPT = COMMON + r'''
"$vmon" --api-sock a.sock --id mig-src >a.out 2>a.err & src=$!
"$vmon" receive --listen unix:$d/mig.sock --api-sock b.sock --id mig-dst >b.out 2>b.err & dst=$!
start_guest a.sock
wait_for a.out 'count 3 http ok' 600 || echo "no count 3 on the source"
ctl a.sock migrate unix:$d/mig.sock >migrate.out 2>&1 || kill -KILL $src   # a failure leaves it running
sed 's/^/outcome: /' migrate.out
wait $src; echo "source exit: $?"
before=$(last_count a.out); echo "last count before: $before"
kill -0 $dst && { wait_for b.out "count $((before + 3)) http ok" 300 || echo "no count $((before + 3)) after the migration"; }
echo "first count after: $(grep -o 'count [0-9]*' b.out | head -1 | cut -d' ' -f2)"
stop_guest $dst b.out destination
check_disk
sed 's/^/src: /' a.out; sed 's/^/src err: /' a.err; sed 's/^/dst: /' b.out; sed 's/^/dst err: /' b.err
rm -rf $d
'''

DISK_DIR = tempfile.mkdtemp(prefix="vmon-snaplinux-")
atexit.register(shutil.rmtree, DISK_DIR, ignore_errors=True)


def _make_disk(name):
    """An 8 MiB ext4 image whose count file starts at 0."""
    content = os.path.join(DISK_DIR, name + ".d")
    os.mkdir(content)
    with open(os.path.join(content, "count.txt"), "w") as f:
        f.write("0\n")
    disk = os.path.join(DISK_DIR, name + ".img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", content, disk, "8M"], check=True, stdout=subprocess.DEVNULL)
    return disk


if HAVE_LINUX and shutil.which("mkfs.ext4"):
    CMD64 = base64.b64encode(GUEST_SCRIPT.encode()).decode()
    for case, script, port in [("snaplinux_restore", SNAPSHOT_SCRIPT, HTTP_PORT),
                               ("snaplinux_migrate", MIGRATE_SCRIPT, HTTP_PORT + 1)]:
        vm_case(case, ["sh", "-c", script, "sh", VMON, BZIMAGE, INITRD, _make_disk(case), CMD64, str(port),
                       DEBUGFS, E2FSCK], timeout=900)


def counts(text):
    """(count, http result) of each count line in text, in order."""
    return [(int(n), h) for n, h in re.findall(r"count (\d+) http (\S+)", text)]


def check_continued(r, out):
    """The source's and the destination's count lines, both checked: one run of consecutive counts, the
    destination's starting right after the source's last (nothing repeated, nothing skipped)."""
    src = counts("\n".join(line[5:] for line in out.splitlines() if line.startswith("src: ")))
    dst = counts("\n".join(line[5:] for line in out.splitlines() if line.startswith("dst: ")))
    print(f"source counts: {src}\ndestination counts: {dst}")
    assert src and dst, describe(r)
    assert [n for n, _ in src] == list(range(1, len(src) + 1)), describe(r)
    assert [n for n, _ in dst] == list(range(src[-1][0] + 1, src[-1][0] + 1 + len(dst))), describe(r)
    assert all(h == "ok" for _, h in src), describe(r)
    # After the switch, at most the fetch the switch cut fails; the rest are answered, the last says stop.
    assert [h for _, h in dst[-3:]] == ["ok", "ok", "stop"], describe(r)
    assert sum(h != "ok" for _, h in dst[:-1]) <= 1, describe(r)
    assert "dst: disk unmounted" in out, describe(r)
    # The disk holds the last count printed, and the filesystem is clean.
    assert f"disk count: {dst[-1][0]}\n" in out, describe(r)
    assert "e2fsck: 0" in out, describe(r)
    return src, dst


@needs_linux
def test_linux_snapshot_restore_in_a_new_process_continues_count_disk_and_network(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["snaplinux_restore"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "start: 0" in out and "pause: 0" in out and "ctl snapshot: 0" in out, describe(r)
    # `vmon ctl snapshot` of a paused VM leaves it paused: nothing runs on the source after the snapshot.
    assert re.search(r'source after snapshot: .*"state":\s*"Paused"', out), describe(r)
    assert "source exit: 137" in out, describe(r)
    src, dst = check_continued(r, out)
    assert int(re.search(r"last count before: (\d+)", out).group(1)) == src[-1][0], describe(r)
    assert "restored exit: 0" in out, describe(r)
    assert re.search(r"dst err: .*restored in [\d.]+ ms", out), describe(r)


@needs_linux
def test_linux_live_migration_continues_count_disk_and_network(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["snaplinux_migrate"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "start: 0" in out and "source exit: 0" in out, describe(r)
    assert re.search(r'outcome: .*"state":\s*"completed"', out), describe(r)
    check_continued(r, out)
    assert re.search(r"src err: .*migration sent: .*downtime [\d.]+ ms", out), describe(r)
    assert "destination exit: 0" in out, describe(r)
