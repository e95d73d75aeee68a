# SPDX-License-Identifier: MIT
"""Snapshot restore with the Uffd memory backend (issue 11): the ticker guest is started through the API,
paused, snapshotted and its vmon killed; a new vmon restores it with guest RAM filled on first touch through
userfaultfd, served in-process from the memory file or by an external handler (tests/integration/
uffd_handler.c) that receives the userfaultfd over a UNIX socket as Firecracker's do: the count continues.
A handler that dies (before answering a fault) stops the VM with an error: vmon exits 6, promptly.
Shell scripts driving `vmon ctl`, so they run in the KVM sandbox too."""

import os
import re

from conftest import UFFD_HANDLER, VMON, describe, guest, vm_case

HOST_ERROR = 6

# Common part: boot the ticker, pause after tick 2, snapshot, kill its vmon. Prints "ticks before: N".
PROLOGUE = r'''
set -u
vmon=$1; kernel=$2; handler=$3; d=$(mktemp -d /tmp/vmon-uffd-XXXXXX)
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt 600 ] && return 1; sleep 0.1; done; }
ctl() { s=$1; shift; "$vmon" ctl --api-sock "$s" --wait 10 "$@"; }
load() { ctl "$1" put /snapshot/load "{\"snapshot_path\": \"$d/snap\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$2\"}, \"resume_vm\": true}" 2>&1; }
"$vmon" --api-sock $d/a.sock >$d/a.out 2>&1 & a=$!
ctl $d/a.sock put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null
ctl $d/a.sock put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' >/dev/null
ctl $d/a.sock start; echo "start: $?"
wait_for $d/a.out "^tick 2" || echo "no tick 2"
ctl $d/a.sock pause; echo "pause: $?"
n=$(grep '^tick [0-9]*$' $d/a.out | tail -1 | cut -d' ' -f2); echo "ticks before: $n"
ctl $d/a.sock put /snapshot/create "{\"snapshot_path\": \"$d/snap\", \"mem_file_path\": \"$d/mem\"}"; echo "create: $?"
kill -9 $a; wait $a 2>/dev/null
'''

RESTORE_SCRIPT = PROLOGUE + r'''
# In-process: backend_path names the memory file.
"$vmon" --api-sock $d/b.sock >$d/b.out 2>&1 & b=$!
load $d/b.sock $d/mem; echo "load in-process: $?"
wait_for $d/b.out "^tick $((n+3))" || echo "in-process: no tick $((n+3))"
kill -TERM $b; wait $b; echo "in-process vmon exit: $?"
sed 's/^/in-process: /' $d/b.out
# External: backend_path names the handler's socket.
"$handler" $d/h.sock $d/mem >$d/h.out 2>&1 & h=$!
wait_for $d/h.out listening || echo "handler: not listening"
"$vmon" --api-sock $d/c.sock >$d/c.out 2>&1 & c=$!
load $d/c.sock $d/h.sock; echo "load external: $?"
wait_for $d/c.out "^tick $((n+3))" || echo "external: no tick $((n+3))"
kill -TERM $c; wait $c; echo "external vmon exit: $?"
wait $h; echo "handler exit: $?"
sed 's/^/external: /' $d/c.out
sed 's/^/handler: /' $d/h.out
# The CLI: vmon restore --uffd, in-process.
"$vmon" restore --snapshot $d/snap --mem $d/mem --uffd >$d/r.out 2>&1 & r=$!
wait_for $d/r.out "^tick $((n+2))" || echo "cli: no tick $((n+2))"
kill -TERM $r; wait $r; echo "cli vmon exit: $?"
sed 's/^/cli: /' $d/r.out
rm -rf $d
'''
vm_case("uffd_restore", ["sh", "-c", RESTORE_SCRIPT, "sh", VMON, guest("ticker"), UFFD_HANDLER], timeout=180)

# Handlers that die: at once (at the first fault) and after serving 3 faults, and one killed while the VM
# runs; then bad backend paths, each refused by the load with a message naming it.
DEATH_SCRIPT = PROLOGUE + r'''
for die in 0 3; do
  "$handler" --die-after $die $d/h$die.sock $d/mem >$d/h$die.out 2>&1 & h=$!
  wait_for $d/h$die.out listening || echo "handler: not listening"
  "$vmon" --api-sock $d/e$die.sock >$d/e$die.out 2>&1 & e=$!
  load $d/e$die.sock $d/h$die.sock >/dev/null
  t0=$(date +%s%N); wait $e; s=$?; t1=$(date +%s%N)
  echo "die-after $die: vmon exit $s after $(( (t1 - t0) / 1000000 )) ms"
  wait $h; echo "die-after $die: handler exit $?"
  sed "s/^/die-after $die: /" $d/e$die.out $d/h$die.out
done
"$handler" $d/k.sock $d/mem >$d/k.out 2>&1 & h=$!
wait_for $d/k.out listening || echo "handler: not listening"
"$vmon" --api-sock $d/f.sock >$d/f.out 2>&1 & f=$!
load $d/f.sock $d/k.sock >/dev/null
wait_for $d/f.out "^tick $((n+1))" || echo "killed: no tick $((n+1))"
kill -9 $h; t0=$(date +%s%N); wait $f; s=$?; t1=$(date +%s%N)
echo "killed: vmon exit $s after $(( (t1 - t0) / 1000000 )) ms"
sed 's/^/killed: /' $d/f.out
# Bad paths: missing, a directory, a socket nobody listens on (the dead handler's), a memory file of the wrong size.
head -c 4096 $d/mem >$d/short
for bad in $d/missing $d $d/h0.sock $d/short; do
  "$vmon" --api-sock $d/g.sock >$d/g.out 2>&1 & g=$!
  echo "bad $bad: $(load $d/g.sock $bad | tr '\n' ' ')"
  kill -TERM $g; wait $g
done
rm -rf $d
'''
vm_case("uffd_death", ["sh", "-c", DEATH_SCRIPT, "sh", VMON, guest("ticker"), UFFD_HANDLER], timeout=180)


def out(r):
    return r.stdout.decode(errors="replace")


def ticks(text, prefix):
    return [int(m) for m in re.findall(rf"^{prefix}: tick (\d+)$", text, re.M)]


def check_continues(text, prefix, before, r):
    """The restored guest counts on from where the snapshot left it, one tick at a time."""
    seen = ticks(text, prefix)
    assert len(seen) >= 2, describe(r)
    # The snapshot may have caught "tick N+1" half printed: then its rest comes first and N+2 next.
    assert before < seen[0] <= before + 2, (before, seen, describe(r))
    assert seen == list(range(seen[0], seen[0] + len(seen))), describe(r)


def test_restore_through_uffd_in_process_and_external_continues_the_count(vm_results):
    r = vm_results["uffd_restore"]
    text = out(r)
    for step in ("start: 0", "pause: 0", "create: 0", "load in-process: 0", "load external: 0", "handler exit: 0"):
        assert step in text, describe(r)
    before = int(re.search(r"ticks before: (\d+)", text).group(1))
    assert before >= 2, describe(r)
    for prefix in ("in-process", "external", "cli"):
        check_continues(text, prefix, before, r)
        assert re.search(rf"^{prefix}: vmon: snapshot .* restored in [\d.]+ ms \(memory: Uffd\)$", text, re.M), \
            describe(r)
    # The in-process handler served the faults (reported at the end); SIGTERM ends both vmons normally.
    assert re.search(r"^in-process: vmon: Uffd backend: [1-9]\d* faults served", text, re.M), describe(r)
    assert "in-process vmon exit: 143" in text and "external vmon exit: 143" in text, describe(r)
    # The external handler got Firecracker's message: one region of 64 MiB at offset 0, 4 KiB pages.
    m = re.search(r"^handler: uffd_handler: 1 mappings: (\[.*\])$", text, re.M)
    assert m, describe(r)
    assert re.fullmatch(r'\[\{"base_host_virt_addr":[1-9]\d*,"size":67108864,"offset":0,"page_size":4096,'
                        r'"page_size_kib":4096\}\]', m.group(1)), describe(r)
    served = int(re.search(r"handler: uffd_handler: the VMM closed the socket; (\d+) faults served", text).group(1))
    assert served > 0, describe(r)


def test_a_dying_handler_stops_vmon_with_an_error_instead_of_a_hang(vm_results):
    r = vm_results["uffd_death"]
    text = out(r)
    assert "create: 0" in text, describe(r)
    for case in ("die-after 0", "die-after 3", "killed"):
        m = re.search(rf"^{case}: vmon exit (\d+) after (\d+) ms$", text, re.M)
        assert m, describe(r)
        assert int(m.group(1)) == HOST_ERROR, describe(r)
        # Noticed at the handler's exit, not after some long timeout (the grace period is 5 s).
        assert int(m.group(2)) < 5000, describe(r)
        assert re.search(rf"^{case}: vmon: error: the Uffd page-fault handler behind \S+ \(pid \d+\) exited: guest "
                         "memory can no longer be served; stopping the VM$", text, re.M), describe(r)
    for die in (0, 3):
        assert f"die-after {die}: handler exit 3" in text, describe(r)
        assert f"die-after {die}: uffd_handler: dying at fault {die + 1} without answering it" in text, describe(r)
    assert ticks(text, "killed"), describe(r)


def test_bad_backend_paths_are_refused_by_name(vm_results):
    r = vm_results["uffd_death"]
    text = out(r)
    bad = dict(re.findall(r"^bad (\S+): (.*)$", text, re.M))
    assert len(bad) == 4, describe(r)
    by_end = {os.path.basename(p): msg for p, msg in bad.items()}
    assert "No such file or directory" in by_end["missing"], describe(r)
    assert "connect: Connection refused" in by_end["h0.sock"], describe(r)
    assert "4096 bytes, the guest has 67108864 bytes of RAM" in by_end["short"], describe(r)
    dir_msg = [msg for p, msg in bad.items() if not os.path.basename(p) in ("missing", "h0.sock", "short")][0]
    assert "neither a UNIX socket (an external Uffd handler) nor a memory file (served in-process)" in dir_msg, \
        describe(r)
