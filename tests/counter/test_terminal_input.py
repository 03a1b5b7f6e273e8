"""A person at a real terminal (a pseudo-terminal): commands, a PIN typed without echo,
the idle timeout, and a stop (card out) while waiting."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import sys
from cardsvc.counter.lines import IdleTimeout, TerminalSource
source = TerminalSource(sys.stdin)
print("got:", repr(source.read("cmd> ", timeout=10)))
print("secret length:", len(source.read("PIN: ", secret=True, timeout=10) or ""))
try:
    source.read("idle> ", timeout=0.3)
except IdleTimeout as exc:
    print("idle:", exc)
asked = [0]
def stop():
    asked[0] += 1
    return "card out" if asked[0] > 2 else None
try:
    source.read("stop> ", timeout=10, stop=stop)
except Exception as exc:
    print("stopped:", type(exc).__name__, exc)
print("done")
"""


def _until(fd: int, text: bytes, seen: bytearray, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"no {text!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen.extend(os.read(fd, 1024))
            except OSError:  # the child closed the terminal
                return


def test_terminal_reads_commands_and_a_pin_without_echo() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the program on the pseudo-terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-c", PROGRAM])
    seen = bytearray()
    try:
        _until(fd, b"cmd> ", seen)
        os.write(fd, b"E01\n")
        _until(fd, b"PIN: ", seen)
        os.write(fd, b"271828\n")
        _until(fd, b"done", seen)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    out = seen.decode()
    assert "got: 'E01'" in out
    assert "secret length: 6" in out
    assert "271828" not in out  # the terminal did not echo the PIN
    assert "idle: no input for 0.3 s" in out
    assert "stopped: SessionEnded card out" in out
    assert os.waitstatus_to_exitcode(status) == 0
