# SPDX-License-Identifier: MIT
"""Snapshots to files and restores in a new process (issue 11), driven the way users drive them: the
Firecracker API (PUT /snapshot/create of a paused VM, PUT /snapshot/load into a fresh vmon), `vmon ctl
snapshot`, and `vmon restore`. The guest is `ticker`, whose count lives in guest memory: after a restore
it must go on from the last tick before the snapshot, not start again.

Each scenario is one shell script run through the session batch (direct, or inside the KVM sandbox:
it uses only vmon and `vmon ctl`)."""

import re

from conftest import VMON, describe, guest, vm_case

COMMON = r'''
vmon=$1; kernel=$2; dir=/tmp/vmon-snap-$$; mkdir -p "$dir"; cd "$dir"
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt 900 ] && return 1; sleep 0.1; done; }
last_tick() { grep -o '^tick [0-9]*' "$1" | tail -1 | cut -d' ' -f2; }
start_ticker() {   # SOCK OUT: a ticker VM started through the API, 2 vCPUs, 64 MiB
	"$vmon" --api-sock "$1" >"$2" 2>"$2.err" &
	"$vmon" ctl --api-sock "$1" --wait 10 put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null
	"$vmon" ctl --api-sock "$1" put /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}' >/dev/null
	"$vmon" ctl --api-sock "$1" start >/dev/null
}
'''

# API: pause, PUT /snapshot/create, the source ends; a new vmon loads it (PUT /snapshot/load, resumed).
API_SCRIPT = COMMON + r'''
start_ticker a.sock a.out; pid=$!
wait_for a.out '^tick 3' || echo "no tick 3"
"$vmon" ctl --api-sock a.sock put /snapshot/create '{"snapshot_path": "x", "mem_file_path": "y"}'
echo "create while running: $?"
"$vmon" ctl --api-sock a.sock pause >/dev/null
before=$(last_tick a.out); echo "last tick before: $before"
"$vmon" ctl --api-sock a.sock put /snapshot/create "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\"}"
echo "create: $?"
kill -TERM $pid; wait $pid; echo "source exit: $?"
"$vmon" --api-sock b.sock --id restored >b.out 2>b.err & pid=$!
"$vmon" ctl --api-sock b.sock --wait 10 put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$dir/vm.mem\"}, \"resume_vm\": true}"
echo "load: $?"
echo "state: $("$vmon" ctl --api-sock b.sock status)"
"$vmon" ctl --api-sock b.sock put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\"}"
echo "second load: $?"
wait_for b.out "^tick $((before + 2))" && echo "ticking on"
echo "first tick after: $(grep -o '^tick [0-9]*' b.out | head -1 | cut -d' ' -f2)"
kill -TERM $pid; wait $pid; echo "restored exit: $?"
grep -o 'restored in [0-9.]* ms' b.err | sed 's/^/log: /'
grep -o 'first KVM_RUN [0-9.]* ms after the [a-z ]*' b.err | sed 's/^/log: /'
'''
vm_case("snap_api", ["sh", "-c", API_SCRIPT, "sh", VMON, guest("ticker")], timeout=120)

# People: `vmon ctl snapshot` (pause, create, resume: the source keeps running), `vmon restore`; and
# `vmon restore --paused` with an API, resumed by `vmon ctl resume`.
CLI_SCRIPT = COMMON + r'''
start_ticker a.sock a.out; pid=$!
wait_for a.out '^tick 2' || echo "no tick 2"
echo "tick before: $(last_tick a.out)"
"$vmon" ctl --api-sock a.sock snapshot "$dir/vm.snap" "$dir/vm.mem"; echo "ctl snapshot: $?"
at=$(last_tick a.out); echo "tick after: $at"
echo "source state: $("$vmon" ctl --api-sock a.sock status)"
wait_for a.out "^tick $((at + 2))" && echo "source ticking on"
"$vmon" ctl --api-sock a.sock pause
"$vmon" ctl --api-sock a.sock snapshot "$dir/p.snap" "$dir/p.mem"; echo "ctl snapshot of a paused VM: $?"
echo "paused source state: $("$vmon" ctl --api-sock a.sock status)"
kill -TERM $pid; wait $pid
"$vmon" restore --snapshot "$dir/vm.snap" --mem "$dir/vm.mem" >c.out 2>c.err & pid=$!
wait_for c.out '^tick' && echo "first tick after restore: $(grep -o '^tick [0-9]*' c.out | head -1 | cut -d' ' -f2)"
kill -TERM $pid; wait $pid; echo "restore exit: $?"
grep -o 'first KVM_RUN [0-9.]* ms after the [a-z ]*' c.err | sed 's/^/cli log: /'
"$vmon" restore --snapshot "$dir/vm.snap" --mem "$dir/vm.mem" --paused --api-sock d.sock >d.out 2>d.err & pid=$!
i=0; until st=$("$vmon" ctl --api-sock d.sock --wait 10 status) && case $st in *Started*|*started*) false;; esac; do
	i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1; done   # the API answers while the restore runs
echo "paused state: $st"
sleep 2; echo "ticks while paused: $(grep -c '^tick' d.out)"
"$vmon" ctl --api-sock d.sock resume; echo "resume: $?"
wait_for d.out '^tick' && echo "resumed ticking"
kill -TERM $pid; wait $pid
echo "paused restore first-run lines: $(grep -c 'first KVM_RUN' d.err)"
'''
vm_case("snap_cli", ["sh", "-c", CLI_SCRIPT, "sh", VMON, guest("ticker")], timeout=120)

# Damaged files: refused with the reason, nothing half restored, the API process stays usable.
DAMAGE_SCRIPT = COMMON + r'''
start_ticker a.sock a.out; pid=$!
wait_for a.out '^tick 1' || echo "no tick 1"
"$vmon" ctl --api-sock a.sock snapshot "$dir/vm.snap" "$dir/vm.mem" >/dev/null; echo "snapshot: $?"
kill -TERM $pid; wait $pid
size=$(wc -c <"$dir/vm.snap")
head -c $((size - 100)) "$dir/vm.snap" >"$dir/truncated.snap"
cp "$dir/vm.snap" "$dir/flipped.snap"; printf 'X' | dd of="$dir/flipped.snap" bs=1 seek=200 conv=notrunc 2>/dev/null
cp "$dir/vm.snap" "$dir/newer.snap"; printf '\011' | dd of="$dir/newer.snap" bs=1 seek=8 conv=notrunc 2>/dev/null
printf 'not a snapshot at all' >"$dir/junk.snap"
head -c 4096 "$dir/vm.mem" >"$dir/short.mem"
for f in truncated flipped newer junk; do
	"$vmon" restore --snapshot "$dir/$f.snap" --mem "$dir/vm.mem" >/dev/null 2>"$dir/$f.err"
	echo "$f: exit $? $(tail -1 "$dir/$f.err")"
done
"$vmon" restore --snapshot "$dir/vm.snap" --mem "$dir/short.mem" >/dev/null 2>"$dir/short.err"
echo "short-mem: exit $? $(tail -1 "$dir/short.err")"
"$vmon" --api-sock b.sock >b.out 2>b.err & pid=$!
"$vmon" ctl --api-sock b.sock --wait 10 put /snapshot/load "{\"snapshot_path\": \"$dir/flipped.snap\", \"mem_file_path\": \"$dir/vm.mem\"}"
echo "api damaged load: $?"
echo "api state: $("$vmon" ctl --api-sock b.sock status)"
"$vmon" ctl --api-sock b.sock put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\", \"resume_vm\": true}"
echo "api good load: $?"
wait_for b.out '^tick' && echo "ticking after the refused load"
kill -TERM $pid; wait $pid
'''
vm_case("snap_damage", ["sh", "-c", DAMAGE_SCRIPT, "sh", VMON, guest("ticker")], timeout=120)


# PUT /snapshot/load's network_overrides: the interface keeps its guest side (MAC, virtio device) and gets
# the backend the override names (here the user-mode network again: no TAP needs privileges); an
# iface_id the snapshot lacks is refused with its name and the vmon can still load.
OVERRIDE_SCRIPT = COMMON + r'''
"$vmon" --api-sock a.sock >a.out 2>a.err & pid=$!
"$vmon" ctl --api-sock a.sock --wait 10 put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null
"$vmon" ctl --api-sock a.sock put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' >/dev/null
"$vmon" ctl --api-sock a.sock put /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "vmon:user", "guest_mac": "AA:FC:00:00:00:01"}'
echo "net: $?"
"$vmon" ctl --api-sock a.sock start >/dev/null
wait_for a.out '^tick 1' || echo "no tick 1"
"$vmon" ctl --api-sock a.sock snapshot "$dir/vm.snap" "$dir/vm.mem" >/dev/null; echo "snapshot: $?"
before=$(last_tick a.out)
kill -TERM $pid; wait $pid
"$vmon" --api-sock b.sock >b.out 2>b.err & pid=$!
"$vmon" ctl --api-sock b.sock --wait 10 put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\", \"network_overrides\": [{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap0\"}]}"
echo "unknown iface load: $?"
"$vmon" ctl --api-sock b.sock put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\", \"network_overrides\": [{\"iface_id\": \"eth0\"}]}"
echo "incomplete override: $?"
"$vmon" ctl --api-sock b.sock put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\", \"resume_vm\": true, \"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"vmon:user\"}]}"
echo "override load: $?"
wait_for b.out "^tick $((before + 1))" && echo "ticking after the override"
kill -TERM $pid; wait $pid
grep -o 'network interface eth0: now on [^ ]*' b.err | sed 's/^/log: /'
'''
vm_case("snap_override", ["sh", "-c", OVERRIDE_SCRIPT, "sh", VMON, guest("ticker")], timeout=120)


# A PCI machine (Firecracker's --enable-pci): virtio-rng on virtio-pci with MSI-X, driven without end by
# pci_ticker, which waits for each request's MSI-X interrupt. Restored in a new process, the count goes
# on and interrupts keep arriving: the restored vmon rebuilt the MSI routes from the saved table.
PCI_SCRIPT = COMMON + r"""
"$vmon" --api-sock a.sock --enable-pci >a.out 2>a.err & pid=$!
"$vmon" ctl --api-sock a.sock --wait 10 put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null
"$vmon" ctl --api-sock a.sock put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' >/dev/null
"$vmon" ctl --api-sock a.sock put /entropy '{}'; echo "entropy: $?"
"$vmon" ctl --api-sock a.sock start >/dev/null
wait_for a.out '^tick 2' || echo "no tick 2"
"$vmon" ctl --api-sock a.sock pause >/dev/null
before=$(last_tick a.out); echo "last tick before: $before"
grep "^tick $before:" a.out | sed 's/^/source: /'
"$vmon" ctl --api-sock a.sock put /snapshot/create "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\"}"
echo "create: $?"
kill -TERM $pid; wait $pid
"$vmon" --api-sock b.sock >b.out 2>b.err & pid=$!
"$vmon" ctl --api-sock b.sock --wait 10 put /snapshot/load "{\"snapshot_path\": \"$dir/vm.snap\", \"mem_file_path\": \"$dir/vm.mem\", \"resume_vm\": true}"
echo "load: $?"
wait_for b.out "^tick $((before + 3))" && echo "ticking on"
kill -TERM $pid; wait $pid
sed 's/^/restored: /' b.out
grep 'at PCI' a.err | sed 's/^/source log: /'; grep 'at PCI' b.err | sed 's/^/restored log: /'
"""
vm_case("snap_pci", ["sh", "-c", PCI_SCRIPT, "sh", VMON, guest("pci_ticker")], timeout=120)


def out_of(r):
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def test_api_snapshot_and_load_continue_the_count(vm_results):
    r = vm_results["snap_api"]
    out = out_of(r)
    assert "create while running: 1" in out and "paused first" in out, describe(r)
    assert "create: 0" in out and "load: 0" in out, describe(r)
    assert '"state":"Running"' in out.replace(" ", ""), describe(r)
    # A second load into a started vmon is refused.
    assert "second load: 1" in out and "not supported after starting" in out, describe(r)
    before = int(re.search(r"last tick before: (\d+)", out).group(1))
    first = int(re.search(r"first tick after: (\d+)", out).group(1))
    assert first == before + 1, describe(r)
    assert "ticking on" in out and "restored exit: 143" in out, describe(r)
    assert re.search(r"log: restored in [\d.]+ ms", out), describe(r)
    # The restore as the guest sees it: the load request's arrival to vCPU 0's first KVM_RUN.
    assert re.search(r"log: first KVM_RUN [\d.]+ ms after the snapshot load request$", out, re.M), describe(r)


def test_ctl_snapshot_keeps_the_source_running_and_restore_continues(vm_results):
    r = vm_results["snap_cli"]
    out = out_of(r)
    assert "ctl snapshot: 0" in out and '"state":"Running"' in out.replace(" ", ""), describe(r)
    assert "source ticking on" in out, describe(r)
    # A VM paused before `vmon ctl snapshot` stays paused (PATCH /vm Paused alone cannot tell).
    assert "ctl snapshot of a paused VM: 0" in out, describe(r)
    assert re.search(r'paused source state: .*"state":\s*"Paused"', out), describe(r)
    before = int(re.search(r"tick before: (\d+)", out).group(1))
    after = int(re.search(r"tick after: (\d+)", out).group(1))
    first = int(re.search(r"first tick after restore: (\d+)", out).group(1))
    # The snapshot was taken between the two readings: the restored guest goes on from there.
    assert before + 1 <= first <= after + 1, describe(r)
    assert '"state":"Paused"' in out.replace(" ", "") and "ticks while paused: 0" in out, describe(r)
    assert "resume: 0" in out and "resumed ticking" in out, describe(r)
    # vmon restore times its first KVM_RUN from its own start; restored paused, it waits for a resume: no figure.
    assert re.search(r"cli log: first KVM_RUN [\d.]+ ms after the start of vmon$", out, re.M), describe(r)
    assert "paused restore first-run lines: 0" in out, describe(r)


def test_damaged_snapshots_are_refused_with_the_reason(vm_results):
    r = vm_results["snap_damage"]
    out = out_of(r)
    assert "snapshot: 0" in out, describe(r)
    for name, words in [("truncated", "truncated"), ("flipped", "checksum"), ("newer", "newer format"),
                        ("junk", "not a"), ("short-mem", "bytes")]:
        m = re.search(rf"^{name}: exit (\d+) (.*)$", out, re.M)
        assert m and m.group(1) == "2" and words in m.group(2), (name, describe(r))
    assert "api damaged load: 1" in out and "checksum" in out, describe(r)
    assert '"state":"Notstarted"' in out.replace(" ", ""), describe(r)
    assert "api good load: 0" in out and "ticking after the refused load" in out, describe(r)


def test_network_overrides_on_load(vm_results):
    r = vm_results["snap_override"]
    out = out_of(r)
    assert "net: 0" in out and "snapshot: 0" in out, describe(r)
    assert "unknown iface load: 1" in out and re.search(r'no network interface \\?"eth9', out), describe(r)
    assert "incomplete override: 1" in out and "host_dev_name: required" in out, describe(r)
    assert "override load: 0" in out and "ticking after the override" in out, describe(r)
    assert "log: network interface eth0: now on vmon:user" in out, describe(r)


def test_pci_machine_restored_keeps_its_msix_device_working(vm_results):
    r = vm_results["snap_pci"]
    out = out_of(r)
    assert "entropy: 0" in out and "create: 0" in out and "load: 0" in out, describe(r)
    for who in ("source", "restored"):
        assert f"{who} log: vmon: virtio-rng at PCI 00:01.0" in out, describe(r)
    assert "ticking on" in out and "FAIL" not in out, describe(r)
    src = re.search(r"^source: tick (\d+): (\d+) requests, (\d+) MSI-X interrupts$", out, re.M)
    ticks = [tuple(map(int, m)) for m in re.findall(r"^restored: tick (\d+): (\d+) requests, (\d+) MSI-X", out, re.M)]
    assert src and len(ticks) >= 3, describe(r)
    tick, requests, irqs = map(int, src.groups())
    # The count goes on from the snapshot (taken at or after that tick), each request with its interrupt.
    assert ticks[0][0] == tick + 1 and ticks[-1][0] == tick + len(ticks), describe(r)
    assert ticks[0][1] > requests and ticks[-1][1] > ticks[0][1], describe(r)
    assert all(t[2] == t[1] for t in ticks) and irqs == requests, describe(r)
