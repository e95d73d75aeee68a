#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Adds up test results from meson's testlog.json files and pytest's JUnit XML
files, prints a per-file line and the closing line CI reads:
`N passed, N failed, N skipped`. Exit status 1 if anything failed or if a
result file is missing (a suite that did not run is not a pass)."""

import json
import sys
import xml.etree.ElementTree as ET


def meson_counts(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            result = json.loads(line)["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def junit_counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failures = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failures += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return tests - failures - skipped, failures, skipped


def main(paths):
    total = [0, 0, 0]
    missing = False
    for path in paths:
        try:
            counts = junit_counts(path) if path.endswith(".xml") else meson_counts(path)
        except (OSError, ValueError, ET.ParseError) as e:
            print(f"summary: {path}: no results ({e})")
            missing = True
            continue
        print(f"summary: {path}: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped")
        total = [t + c for t, c in zip(total, counts)]
    if missing:
        total[1] += 1
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
