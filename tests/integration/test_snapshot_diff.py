# SPDX-License-Identifier: MIT
"""Diff snapshots (issue 11): dirty-page tracking, a Diff snapshot's memory file, merging it onto the
full one, and a restore from the merged memory continuing where the Diff snapshot was taken.

Runs through the session batch (vm_case: directly, or in the KVM sandbox): a shell script drives
`vmon --api-sock` with `vmon ctl`, merges with `vmon snapshot-merge` and restores with `vmon restore`.
"""

import re

from conftest import VMON, describe, guest, vm_case

# The ticker counts in guest memory and prints "tick N" about once a second.
# 1. boot with track_dirty_pages; at tick 2 a Full snapshot (ctl snapshot: pause, create, resume);
# 2. run on three ticks, pause, a Diff snapshot (pages dirtied since the Full one), then a second Diff
#    at once (nothing ran in between: it must hold no page), then end that vmon;
# 3. merge the first Diff onto a copy of the Full memory file, restore the Diff's snapshot file with
#    the merged memory in a new vmon: it must print the tick after the last one before the Diff;
#    that vmon tracks no dirty pages, so a Diff of it is refused;
# 4. PUT /snapshot/load of the Full snapshot with the deprecated enable_diff_snapshots: tracking from
#    the load on, so a Diff after a few ticks holds the pages dirtied since the load.
DIFF_SCRIPT = r'''
vmon=$1; kernel=$2; d=$(mktemp -d /tmp/vmon-diff-XXXXXX); sock=$d/api.sock; out=$d/out; out2=$d/out2
"$vmon" --api-sock "$sock" >"$out" 2>&1 & pid=$!
ctl() { "$vmon" ctl --api-sock "$sock" --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$1" "$2"; do i=$((i+1)); [ $i -gt 1200 ] && return 1; sleep 0.1; done; }
last_tick() { grep '^tick' "$1" | tail -n 1 | cut -d' ' -f2; }
diff_body() { printf '{"snapshot_path": "%s", "mem_file_path": "%s", "snapshot_type": "Diff"}' "$1" "$2"; }
ctl put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null; echo "boot-source: $?"
ctl put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64, "track_dirty_pages": true}' >/dev/null
echo "machine-config: $?"
echo "config: $(ctl get /machine-config)"
ctl start; echo "start: $?"
wait_for "^tick 2" "$out" || echo "no tick 2"
ctl snapshot "$d/full.snap" "$d/full.mem"; echo "full snapshot: $?"
t1=$(last_tick "$out")
wait_for "^tick $((t1 + 3))" "$out" || echo "no tick $((t1 + 3))"
ctl pause; echo "pause: $?"
ctl put /snapshot/create "$(diff_body "$d/diff.snap" "$d/diff.mem")"; echo "diff snapshot: $?"
ctl put /snapshot/create "$(diff_body "$d/diff2.snap" "$d/diff2.mem")"; echo "second diff snapshot: $?"
t2=$(last_tick "$out"); echo "last tick before the diff: $t2"
kill $pid; wait $pid
grep 'memory .* bytes written' "$out" | sed 's/^.*snapshot: /written: /'
echo "sizes: full $(stat -c %s "$d/full.mem") diff $(stat -c %s "$d/diff.mem")"
echo "allocated: full $(( $(stat -c '%b * %B' "$d/full.mem") )) diff $(( $(stat -c '%b * %B' "$d/diff.mem") ))"
cp "$d/full.mem" "$d/merged.mem"   # GNU cp keeps the holes; busybox (the sandbox) need not
"$vmon" snapshot-merge "$d/merged.mem" "$d/diff.mem"; echo "merge: $?"
"$vmon" snapshot-merge "$d/merged.mem" "$d/nonexistent.mem"; echo "merge of a missing file: $?"
"$vmon" restore --snapshot "$d/diff.snap" --mem "$d/merged.mem" --api-sock "$d/api2.sock" >"$out2" 2>&1 &
pid2=$!
wait_for "^tick $((t2 + 1))" "$out2" && echo "restored ticks on from $((t2 + 1))"
"$vmon" ctl --api-sock "$d/api2.sock" pause >/dev/null
"$vmon" ctl --api-sock "$d/api2.sock" put /snapshot/create "$(diff_body "$d/x.snap" "$d/x.mem")"
echo "diff without tracking: $?"
kill $pid2; wait $pid2
out3=$d/out3; sock3=$d/api3.sock
"$vmon" --api-sock "$sock3" >"$out3" 2>&1 & pid3=$!
"$vmon" ctl --api-sock "$sock3" --wait 10 put /snapshot/load "{\"snapshot_path\": \"$d/full.snap\",
 \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$d/full.mem\"},
 \"enable_diff_snapshots\": true, \"resume_vm\": true}"; echo "load with tracking: $?"
wait_for "^tick $((t1 + 2))" "$out3" || echo "no tick $((t1 + 2)) after the load"
"$vmon" ctl --api-sock "$sock3" pause >/dev/null
"$vmon" ctl --api-sock "$sock3" put /snapshot/create "$(diff_body "$d/diff3.snap" "$d/diff3.mem")"
echo "diff after the load: $?"
kill $pid3; wait $pid3
grep 'diff3.mem' "$out3" | sed 's/^.*snapshot: /after the load: /'
sed 's/^/restored: /' "$out2" | head -n 20
sed 's/^/console: /' "$out"
rm -rf "$d"
'''
vm_case("snapshot_diff", ["sh", "-c", DIFF_SCRIPT, "sh", VMON, guest("ticker")], timeout=180)


def written(out, kind):
    m = re.search(rf"written: .* {kind} memory \S+ \(\d+ MiB, (\d+) bytes written, (\d+) pages dirty\)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_diff_snapshot_merged_onto_the_full_one_restores_and_continues(vm_results):
    r = vm_results["snapshot_diff"]
    out = r.stdout.decode(errors="replace")
    for step in ("boot-source", "machine-config", "start", "full snapshot", "pause", "diff snapshot",
                 "second diff snapshot", "merge"):
        assert f"{step}: 0" in out, describe(r)
    assert '"track_dirty_pages":true' in out.replace(" ", ""), describe(r)
    # The restored guest's first tick is the one after the last tick before the Diff: the count (in the
    # pages the Diff carried) continued, not the Full snapshot's.
    t2 = int(re.search(r"last tick before the diff: (\d+)", out).group(1))
    assert f"restored ticks on from {t2 + 1}" in out, describe(r)
    assert not re.search(rf"restored: tick {t2}$", out, re.M), describe(r)
    # A merge of a file that is not there is refused with a message naming it.
    assert "merge of a missing file: 2" in out, describe(r)
    assert "nonexistent.mem: cannot open" in r.stderr.decode(errors="replace"), describe(r)
    # Without track_dirty_pages a Diff is refused, naming the setting.
    assert "diff without tracking: 1" in out, describe(r)
    assert "a Diff snapshot needs dirty page tracking: set track_dirty_pages" in out, describe(r)


def test_snapshot_load_with_tracking_allows_a_diff(vm_results):
    r = vm_results["snapshot_diff"]
    out = r.stdout.decode(errors="replace")
    assert "load with tracking: 0" in out and "diff after the load: 0" in out, describe(r)
    m = re.search(r"after the load: .* diff memory \S+ \(\d+ MiB, (\d+) bytes written, (\d+) pages dirty\)", out)
    assert m and int(m.group(2)) > 0 and int(m.group(1)) == int(m.group(2)) * 4096, describe(r)


def test_diff_of_an_idle_guest_is_far_smaller_than_the_full_snapshot(vm_results):
    r = vm_results["snapshot_diff"]
    out = r.stdout.decode(errors="replace")
    full_bytes, _ = written(out, "full")
    diffs = re.findall(r"written: .* diff memory \S+ \(\d+ MiB, (\d+) bytes written, (\d+) pages dirty\)", out)
    assert len(diffs) == 2, describe(r)
    diff_bytes, diff_pages = int(diffs[0][0]), int(diffs[0][1])
    assert diff_bytes == diff_pages * 4096 and diff_pages > 0, describe(r)
    # The ticker writes its stack, counter and the console's state: a few pages, against the whole
    # loaded image (and every page the boot touched) in the full file.
    assert diff_bytes * 10 < full_bytes, describe(r)
    # Nothing ran between the two Diffs: the second holds no page (the first restarted the log).
    assert diffs[1] == ("0", "0"), describe(r)
    sizes = re.search(r"sizes: full (\d+) diff (\d+)", out)
    assert sizes and sizes.group(1) == sizes.group(2) == str(64 << 20), describe(r)
