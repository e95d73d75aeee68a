#!/bin/sh
# Registered by meson in place of a suite whose tool is missing, so that the
# suite shows up as failed (naming what to install) instead of vanishing.
# Usage: missing_tool.sh SUITE TOOL PACKAGES...
suite=$1 tool=$2
shift 2
echo "$suite: cannot run: '$tool' not found; install the Debian package(s): $* (sh scripts/install-deps.sh)" >&2
exit 1
