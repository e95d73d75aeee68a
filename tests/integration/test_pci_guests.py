# SPDX-License-Identifier: MIT
"""The freestanding PCI guest (tests/guests/pci_evil.c) against vmon's host bridge and virtio-pci.

pci_evil attacks configuration space through both mechanisms and the BARs, the
MSI-X table, the common configuration and the notification area of a virtio-rng
and a virtio-blk on PCI, checking after each group what a correct bridge shows,
then drives virtio-rng end to end with an MSI-X interrupt. Here: vmon survived,
each refusal was logged (once, however often the guest repeated it), and the
guest's own checks passed.
"""

import os
import re
import tempfile

from conftest import describe, guest, vm_case, vmon_run

PASS = 1          # debug_exit(0)
IMAGE = os.path.join(tempfile.mkdtemp(prefix="vmon-pci-"), "evil.img")
with open(IMAGE, "wb") as f:
    f.truncate(1 << 20)

# -v -v: the bridge's and the transport's refusals of odd accesses are debug messages.
vm_case("pci_evil", vmon_run("--kernel", guest("pci_evil"), "--mem", "32M", "--virtio-transport", "pci",
                             "--drive", f"path={IMAGE}", "--rng", "-v", "-v"), timeout=60)

# What the guest does more than once (each BAR move through both mechanisms, several bad entries and
# queues): one line each. Patterns match vmon's messages in src/devices/pci_host.c and src/virtio/pci.c.
LOGGED_ONCE = [
    r"virtio-rng 00:02\.0: BAR 0 at 0x100000 \(0x8000 bytes\) covers guest RAM; not decoded",
    r"virtio-rng 00:02\.0: BAR 0 at 0xe0000000 \(0x8000 bytes\) covers the ECAM window; not decoded",
    r"virtio-rng 00:02\.0: BAR 0 at 0xc0000000 \(0x8000 bytes\) overlaps another BAR; not decoded",
    r"virtio-rng 00:02\.0: BAR 0 at 0x[0-9a-f]+ \(0x8000 bytes\) lies outside the PCI memory window",
    r"virtio-rng 00:02\.0: MSI-X vector 0: address 0x[0-9a-f]+ is not the LAPIC's; message dropped",
    r"virtio-rng 00:02\.0: notification at offset 0x[0-9a-f]+, past the 1 queues; ignored",
    r"virtio-rng 00:02\.0: [0-9]-byte MSI-X table access at 0x[0-9a-f]+; ignored",
    r"virtio-rng 00:02\.0: [0-9]-byte write to common configuration offset 0x[0-9a-f]+; ignored",
    r"pci: [0-9]-byte ECAM (read|write) at 0x[0-9a-f]+ \(unaligned or past bus 0\); ignored",
    r"pci: [0-9]-byte (read|write) at port 0xc[0-9a-f]+ crosses the data dword; ignored",
    r"pci: (read|write) at 0x[0-9a-f]+ hits no BAR; reads all ones",
]


def test_pci_evil_guest_checks_pass_and_vmon_survives(vm_results):
    r = vm_results["pci_evil"]
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert r.returncode == PASS, describe(r)
    for line in ("pci_evil: config space through 0xcf8: ok", "pci_evil: config space through ECAM: ok",
                 "pci_evil: BARs: sizing, refused moves, a good move and decode toggling: ok",
                 "pci_evil: common configuration and notifications past the queues: ok",
                 "pci_evil: all checks passed, vmon kept serving"):
        assert line + "\n" in out, describe(r)
    for what in ("over RAM", "over the ECAM window", "over virtio-blk's BAR", "over the LAPIC",
                 "over the IOAPIC", "ending at 2^32", "ending at 2^64", "above 4 GiB"):
        for mech in ("ECAM", "0xcf8"):
            assert f"pci_evil: BAR 0 {what} through {mech}: refused, back home: ok\n" in out, describe(r)
    assert re.search(r"^pci_evil: virtio-rng serves after the attacks: 64 bytes, [1-9][0-9]* MSI-X interrupt",
                     out, re.M), describe(r)
    assert "AddressSanitizer" not in err and "runtime error" not in err, describe(r)


def test_pci_evil_refusals_are_logged_once_each(vm_results):
    r = vm_results["pci_evil"]
    err = r.stderr.decode(errors="replace")
    for pattern in LOGGED_ONCE:
        lines = [line for line in err.splitlines() if re.search(pattern, line)]
        assert len(lines) == 1, f"want one line matching {pattern!r}, got {len(lines)}\n" + describe(r)
