# SPDX-License-Identifier: MIT
"""vmon on a terminal: raw mode, Ctrl-A escapes, and the terminal restored
afterwards. tests/integration/pty_run.c puts vmon on a pseudo-terminal, types
once the guest is ready, and reports whether the settings came back."""

import re

from conftest import PTY_RUN, VMON, describe, guest, vm_case

READY = "send a line"  # uart_irq's banner: its UART is set up


def on_pty(name, typed):
    vm_case(name, [PTY_RUN, "--wait-for", READY, "--timeout", "60", typed, "--",
                   VMON, "run", "--kernel", guest("uart_irq"), "--mem", "32M"], timeout=80)


on_pty("pty_line", r"hello tty\n")
on_pty("pty_quit", r"\x01x")
on_pty("pty_literal_ctrl_a", r"a\x01\x01b\n")
on_pty("pty_help", r"\x01hok\n")


def pty_outcome(r):
    m = re.search(rb"@@PTY status=(\d+) restored=(yes|no)@@", r.stdout)
    assert m, describe(r)
    return int(m.group(1)), m.group(2) == b"yes"


def test_terminal_input_reaches_guest_without_host_echo(vm_results):
    r = vm_results["pty_line"]
    status, restored = pty_outcome(r)
    assert status == 1, describe(r)
    assert restored, describe(r)
    assert b"echo: HELLO TTY" in r.stdout, describe(r)
    # In raw mode the terminal does not echo the typed line itself.
    assert b"hello tty" not in r.stdout, describe(r)


def test_ctrl_a_x_quits_with_status_0_and_restores_terminal(vm_results):
    r = vm_results["pty_quit"]
    assert pty_outcome(r) == (0, True), describe(r)


def test_ctrl_a_ctrl_a_sends_one_ctrl_a(vm_results):
    r = vm_results["pty_literal_ctrl_a"]
    status, restored = pty_outcome(r)
    assert (status, restored) == (1, True), describe(r)
    assert b"echo: A\x01B" in r.stdout, describe(r)


def test_ctrl_a_h_prints_help_and_keeps_running(vm_results):
    r = vm_results["pty_help"]
    status, restored = pty_outcome(r)
    assert (status, restored) == (1, True), describe(r)
    assert b"Ctrl-A x" in r.stdout, describe(r)
    assert b"echo: OK" in r.stdout, describe(r)
