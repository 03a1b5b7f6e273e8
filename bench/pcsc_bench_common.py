"""Helpers shared by the benchmarks that drive the real PC/SC stack (pcscd + vpcd + simulators).

- `MachineLock`: the machine-wide PC/SC lock the test suite takes
  (/tmp/cardsvc-pcsc-tests.lock, same file and protocol as tests/pcsc_harness.py):
  one pcscd per machine, so benchmark and test sessions take turns;
- `child` / `stop_process` / `log_tail`: child processes stopped (TERM, then KILL)
  on the way out, their output in a log file;
- `cardsvc_sim`: our simulators in one separate `cardsvc sim` process, as a
  deployment runs them;
- `wait_present`: bounded wait until pcscd sees a card in each reader;
- `percentile`, `machine`, `raise_on_sigterm`.

bench/sim_throughput.py predates this module and has its own copies of most of
these (it could import them from here).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from smartcard import scard

ROOT: Final = Path(__file__).resolve().parent.parent
EXAMPLES: Final = ROOT / "simulators" / "examples"
LOCK_PATH: Final = Path("/tmp/cardsvc-pcsc-tests.lock")
STOP_GRACE_S: Final = 3.0
SIM_START_S: Final = 0.2


class BenchError(Exception):
    """The benchmark cannot run or a card answered wrongly; the message says what and why."""


# --- the machine-wide lock ----------------------------------------------------------------


class MachineLock:
    """An exclusive flock on LOCK_PATH, waited for (bounded); the file names the holder."""

    def __init__(self, wait: float, path: Path = LOCK_PATH) -> None:
        self.path = path
        self.wait = wait
        self._file: IO[str] | None = None

    def __enter__(self) -> MachineLock:
        handle = self.path.open("a+")
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    handle.close()
                    raise BenchError(
                        f"pid {holder} has held the PC/SC lock {self.path} for more than "
                        f"{self.wait:.0f} s (a test session or another benchmark): retry when "
                        "it ends, or raise --lock-wait"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


# --- processes ------------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal `proc`, wait STOP_GRACE_S, then kill it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(STOP_GRACE_S)


@contextlib.contextmanager
def child(
    args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with output to `log`, stopped (TERM, then KILL) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


@contextlib.contextmanager
def cardsvc_sim(
    workdir: Path,
    *,
    port: int,
    cards: Sequence[Path] = (),
    psam: Path | None = None,
    floor: int = 0,
    host: str = "127.0.0.1",
) -> Iterator[subprocess.Popen[bytes]]:
    """`cardsvc sim` in its own process: each card, then the PSAM, then floor cards, from `port`."""
    args = [sys.executable, "-m", "cardsvc.cli.main", "sim"]
    for card in cards:
        args += ["--card", str(card)]
    if psam is not None:
        args += ["--psam", str(psam)]
    if floor:
        args += ["--floor", str(floor)]
    args += ["--vpcd", f"{host}:{port}", "--no-stdin", "--control-port", "0"]
    log = workdir / "cardsvc-sim.log"
    with child(args, log) as proc:
        time.sleep(SIM_START_S)
        if proc.poll() is not None:
            raise BenchError(f"cardsvc sim exited with status {proc.returncode}: {log_tail(log)}")
        yield proc


# --- PC/SC ---------------------------------------------------------------------------------


def check(hresult: int, what: str) -> None:
    """BenchError naming `what` unless `hresult` is SCARD_S_SUCCESS."""
    if hresult != scard.SCARD_S_SUCCESS:
        raise BenchError(
            f"{what}: {scard.SCardGetErrorMessage(hresult)} ({hresult & 0xFFFFFFFF:#x})"
        )


def wait_present(context: Any, readers: Sequence[str], timeout: float) -> set[str]:
    """Wait (bounded) until pcscd sees a card in each reader; returns the readers without one."""
    deadline = time.monotonic() + timeout
    missing = set(readers)
    while missing and time.monotonic() < deadline:
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in sorted(missing)]
        )
        if hresult == scard.SCARD_S_SUCCESS:
            for reader, flags, _atr in states:
                if flags & scard.SCARD_STATE_PRESENT:
                    missing.discard(reader)
        if missing:
            time.sleep(0.05)
    return missing


# --- figures --------------------------------------------------------------------------------


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in microseconds (nan when empty)."""
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000


def machine() -> dict[str, object]:
    """CPU, kernel, Python, pcscd and pyscard versions, load average: for the record."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    pcscd = shutil.which("pcscd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    version = ""
    if pcscd:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pcscd, "--version"], capture_output=True, text=True, timeout=5, check=False
            )
            version = (out.stdout.strip().splitlines() or [""])[0]
    pyscard = ""
    with contextlib.suppress(Exception):
        from importlib.metadata import version as dist_version  # noqa: PLC0415

        pyscard = dist_version("pyscard")
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pcscd": version,
        "pyscard": pyscard,
        "loadavg_after": os.getloadavg(),
    }


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def raise_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt, so that the finally blocks stop what was started."""
    signal.signal(signal.SIGTERM, _interrupt)
