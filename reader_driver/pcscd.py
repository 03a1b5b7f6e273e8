"""A pcscd with the vpcd readers a caller needs: reuse a matching one, or run a private one.

Debian's pcscd has one fixed socket (/run/pcscd/pcscd.comm), so one pcscd runs
per machine. `PrivatePcscd(ports)` looks at what is there and then:

1. a pcscd answers on the socket and lists the needed "Virtual PCD" readers,
   with vpcd listening on the needed TCP ports: it is reused and left running;
2. nothing is there: it writes a reader.conf.d into a temporary directory,
   starts `pcscd --foreground --config DIR` (output to a log file beside it),
   waits (bounded) until the readers are listed, and on exit stops it (SIGTERM,
   then SIGKILL after a grace period) and removes the directory;
3. something is in the way (a pcscd without the readers, a stale socket, the
   TCP ports held by another program): `ForeignPcscdError`, whose message says
   exactly what to do. It never stops a pcscd it did not start.

Each base port P gives one vpcd reader.conf.d entry and two slots: vpcd listens
on P (slot 0) and P+1 (slot 1). Two facts of Debian's pcscd 1.9.9 and vpcd 0.8
shape the configuration:

- vpcd keeps its connections in one static table indexed by slot, so one loaded
  copy of the driver serves one entry only (a second entry of the same file
  takes over the first one's slots, whose ports then listen for nothing).
  Entry 0 uses the installed driver; entry i > 0 loads its own copy,
  `libifdvpcd-i.so`, from the private directory.
- pcscd does not number entries of different driver files (all would be
  "Virtual PCD 00 xx"), so entry i gets its own friendly name: entry 0 is
  "Virtual PCD" (Debian's default name), entry i > 0 "Virtual PCD i"; see
  `vpcd_reader_names`.

pyscard is imported inside functions only, so importing this module costs
nothing and needs no pcscd.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from reader_driver.errors import PcscdError

logger = logging.getLogger(__name__)

PCSCD_SOCKET: Final = Path("/run/pcscd/pcscd.comm")
PCSCD_PID_FILE: Final = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER: Final = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SYSTEM_CONF: Final = "/etc/reader.conf.d/vpcd"
# Where the configuration suggested for a system pcscd keeps the driver copies.
SYSTEM_DRIVER_COPIES: Final = Path("/usr/local/lib/cardsvc")
VPCD_FRIENDLY_NAME: Final = "Virtual PCD"
# Temporary directories of pcscds started by this module start with this.
TEMP_PREFIX: Final = "cardsvc-pcscd-"
SETUP_HINT: Final = "run scripts/setup.sh, or `apt-get install pcscd vsmartcard-vpcd`"

_SBIN_DIRS: Final = ("/usr/sbin", "/sbin", "/usr/local/sbin")
_PORT_RETRY_S: Final = 75.0  # TIME_WAIT is 60 s on Linux
_PORT_RETRY_WAIT_S: Final = 3.0
_POLL_S: Final = 0.1
_PROBE_TIMEOUT_S: Final = 3.0
_TCP_LISTEN: Final = "0A"
_LOG_TAIL_LINES: Final = 15


class PcscdNotInstalledError(PcscdError):
    """pcscd or the vpcd driver is not installed; the message says how to install it."""


class ForeignPcscdError(PcscdError):
    """Something this process did not start is in the way; the message says what to do."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class PcscdStartError(PcscdError):
    """The private pcscd did not come up; the message has the end of its log."""


class VpcdPortError(PcscdError, ValueError):
    """Base ports that cannot make vpcd readers (out of range, overlapping)."""


# --- readers and ports -----------------------------------------------------------


def vpcd_friendly_name(entry_index: int) -> str:
    """The FRIENDLYNAME of reader.conf.d entry `entry_index`."""
    if entry_index < 0:
        raise VpcdPortError(f"vpcd entry index must be >= 0, not {entry_index}")
    return VPCD_FRIENDLY_NAME if entry_index == 0 else f"{VPCD_FRIENDLY_NAME} {entry_index}"


def vpcd_reader_names(entry_index: int) -> tuple[str, str]:
    """The PC/SC names of the two slots of entry `entry_index` (vpcd ports P and P+1)."""
    name = vpcd_friendly_name(entry_index)
    return f"{name} 00 00", f"{name} 00 01"


@dataclass(frozen=True, slots=True)
class VpcdEntry:
    """One vpcd reader.conf.d entry: two slots on TCP ports `port` and `port + 1`."""

    index: int
    port: int

    @property
    def friendly_name(self) -> str:
        return vpcd_friendly_name(self.index)

    @property
    def slot_ports(self) -> tuple[int, int]:
        return self.port, self.port + 1

    @property
    def reader_names(self) -> tuple[str, str]:
        return vpcd_reader_names(self.index)

    def driver_path(self, driver: Path, copies: Path) -> Path:
        """The driver file this entry loads: `driver` for entry 0, else its own copy."""
        return driver if self.index == 0 else copies / f"libifdvpcd-{self.index}.so"

    def conf(self, libpath: Path) -> str:
        """The reader.conf.d lines of this entry (decimal port; vpcd accepts it)."""
        return (
            f'FRIENDLYNAME "{self.friendly_name}"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {libpath}\n"
            f"CHANNELID    {self.port}\n"
        )


def vpcd_entries(ports: Iterable[int]) -> tuple[VpcdEntry, ...]:
    """Entries for base ports in order; checks that the ports fit and no two slots share one."""
    entries: list[VpcdEntry] = []
    used: dict[int, int] = {}
    for index, port in enumerate(ports):
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65534:
            raise VpcdPortError(f"vpcd base port must be a number 1..65534, not {port!r}")
        for slot_port in (port, port + 1):
            if slot_port in used:
                raise VpcdPortError(
                    f"vpcd base ports {used[slot_port]} and {port} overlap on TCP port "
                    f"{slot_port}: each base port uses itself and the next one"
                )
            used[slot_port] = port
        entries.append(VpcdEntry(index, port))
    if not entries:
        raise VpcdPortError("at least one vpcd base port is needed")
    return tuple(entries)


def reader_conf(
    entries: Iterable[VpcdEntry], driver: Path = VPCD_DRIVER, copies: Path = SYSTEM_DRIVER_COPIES
) -> str:
    """A whole reader.conf.d file for the entries; entries > 0 load driver copies in `copies`."""
    return "\n".join(entry.conf(entry.driver_path(driver, copies)) for entry in entries)


def copy_commands(
    entries: Iterable[VpcdEntry], driver: Path = VPCD_DRIVER, copies: Path = SYSTEM_DRIVER_COPIES
) -> str:
    """Shell commands that make the driver copies `reader_conf` refers to ("" if none)."""
    targets = [e.driver_path(driver, copies) for e in entries if e.index > 0]
    if not targets:
        return ""
    return f"mkdir -p {copies} && " + " && ".join(f"cp {driver} {t}" for t in targets)


# --- what is running -------------------------------------------------------------


@dataclass(frozen=True)
class PcscdSnapshot:
    """What the machine looks like to a PrivatePcscd before it decides (fakes are easy)."""

    socket_exists: bool = False
    pid_file_pid: int | None = None
    # Running processes named pcscd.
    pcscd_pids: tuple[int, ...] = ()
    # Reader names listed by the pcscd on the socket; None when nothing answers there.
    readers: tuple[str, ...] | None = None
    # Needed TCP port -> pid of the process listening on it (None: someone listens, pid unknown).
    # A port nobody listens on is absent.
    port_listeners: Mapping[int, int | None] = field(default_factory=dict)
    # pid -> command line, for the processes above (messages only).
    commands: Mapping[int, str] = field(default_factory=dict)
    # Whether the process named by the pid file is alive (and which one it is).
    pid_file_alive: bool = False


class Verdict(enum.Enum):
    REUSE = "reuse"
    START = "start"
    FOREIGN = "foreign"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    message: str = ""
    pid: int | None = None


def _describe(pid: int | None, commands: Mapping[int, str]) -> str:
    if pid is None:
        return "a process this user cannot see"
    command = commands.get(pid)
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def decide(
    snapshot: PcscdSnapshot,
    entries: Sequence[VpcdEntry],
    *,
    socket_path: Path = PCSCD_SOCKET,
    pid_file: Path = PCSCD_PID_FILE,
    driver: Path = VPCD_DRIVER,
) -> Decision:
    """Reuse, start, or refuse (with what to do); pure, so it can be tested with fakes."""
    slot_ports = [port for entry in entries for port in entry.slot_ports]
    ports_text = ", ".join(str(entry.port) for entry in entries)
    pcscd_pid = (
        snapshot.pid_file_pid
        if snapshot.pid_file_pid is not None and snapshot.pid_file_pid in snapshot.pcscd_pids
        else (snapshot.pcscd_pids[0] if snapshot.pcscd_pids else None)
    )

    if snapshot.readers is not None:
        missing = [
            entry
            for entry in entries
            if not all(name in snapshot.readers for name in entry.reader_names)
        ]
        # A pcscd whose process cannot be seen (another container sharing the socket)
        # has its TCP ports out of sight too: then the reader names must do.
        not_ours = [
            port
            for port in slot_ports
            if snapshot.pcscd_pids
            and (
                port not in snapshot.port_listeners
                or (
                    snapshot.port_listeners[port] is not None
                    and snapshot.port_listeners[port] not in snapshot.pcscd_pids
                )
            )
        ]
        if not missing and not not_ours:
            return Decision(Verdict.REUSE, pid=pcscd_pid)
        who = _describe(pcscd_pid, snapshot.commands)
        command = snapshot.commands.get(pcscd_pid, "") if pcscd_pid is not None else ""
        if TEMP_PREFIX in command:
            message = (
                f"a pcscd started by another cardsvc process ({who}) is running without "
                f"the vpcd readers on ports {ports_text}: wait until that process ends "
                f"(it stops its pcscd), or stop it (`kill {pcscd_pid}`) and retry"
            )
            return Decision(Verdict.FOREIGN, message, pcscd_pid)
        misplaced = [e for e in entries if e not in missing and set(e.slot_ports) & set(not_ours)]
        lacking = [e for e in entries if e in missing or e in misplaced]
        replace_text = (
            " (first remove the entries named "
            + ", ".join(f'"{e.friendly_name}"' for e in misplaced)
            + " there: their vpcd listens on other ports)"
            if misplaced
            else ""
        )
        pid_text = f" (pid {pcscd_pid})" if pcscd_pid is not None else ""
        busy = sorted(p for p in not_ours if p in snapshot.port_listeners)
        busy_text = (
            "; TCP ports "
            + ", ".join(
                f"{p} held by {_describe(snapshot.port_listeners[p], snapshot.commands)}"
                for p in busy
            )
            if busy
            else ""
        )
        copies = copy_commands(lacking, driver)
        copy_text = f" (vpcd needs one driver copy per entry: `{copies}`)" if copies else ""
        message = (
            f"a pcscd not started by cardsvc is running{pid_text} without the vpcd readers "
            f"on ports {ports_text}{busy_text}: stop it (`pkill -x pcscd`) and retry, "
            f"or add these lines to {SYSTEM_CONF}{replace_text}{copy_text} and restart it:\n"
            + reader_conf(lacking, driver)
        )
        return Decision(Verdict.FOREIGN, message, pcscd_pid)

    if snapshot.pcscd_pids:
        who = _describe(pcscd_pid, snapshot.commands)
        message = (
            f"a pcscd is running ({who}) but does not answer on {socket_path}: "
            f"wait until it is up and retry, or stop it (`kill {pcscd_pid}`) and retry"
        )
        return Decision(Verdict.FOREIGN, message, pcscd_pid)

    if snapshot.socket_exists:
        if snapshot.pid_file_pid is None:
            message = (
                f"stale pcscd socket {socket_path} (no pcscd runs and there is no "
                f"{pid_file}): remove it (`rm -f {socket_path}`) and retry"
            )
            return Decision(Verdict.FOREIGN, message)
        if snapshot.pid_file_alive:
            who = _describe(snapshot.pid_file_pid, snapshot.commands)
            message = (
                f"stale pcscd files: {pid_file} names {who}, which is not a pcscd, and no "
                f"pcscd answers on {socket_path}: remove both (`rm -f {socket_path} "
                f"{pid_file}`) and retry"
            )
            return Decision(Verdict.FOREIGN, message, snapshot.pid_file_pid)
        # The pid file names a dead process: pcscd removes both files itself.

    busy = sorted(port for port in slot_ports if port in snapshot.port_listeners)
    if busy:
        holders = "; ".join(
            f"{port} by {_describe(snapshot.port_listeners[port], snapshot.commands)}"
            for port in busy
        )
        message = (
            f"TCP ports needed by the vpcd readers are in use ({holders}): stop that program "
            f"or choose other vpcd base ports than {ports_text}, and retry"
        )
        return Decision(Verdict.FOREIGN, message)

    return Decision(Verdict.START)


def _proc_pids() -> list[int]:
    with contextlib.suppress(OSError):
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return []


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pcscd_pids() -> tuple[int, ...]:
    """Running processes named pcscd (zombies excluded)."""
    found = []
    for pid in _proc_pids():
        if _comm(pid) != "pcscd":
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[:1] != ["Z"]:
            found.append(pid)
    return tuple(found)


def _listening_inodes(ports: Iterable[int]) -> dict[int, set[str]]:
    """TCP port -> socket inodes listening on it (IPv4 and IPv6)."""
    wanted = set(ports)
    found: dict[int, set[str]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != _TCP_LISTEN:
                continue
            port = int(parts[1].rpartition(":")[2], 16)
            if port in wanted:
                found.setdefault(port, set()).add(parts[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        with contextlib.suppress(OSError):
            target = os.readlink(f"{fd_dir}/{name}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def port_listeners(ports: Iterable[int], likely: Iterable[int] = ()) -> dict[int, int | None]:
    """Listening TCP port -> owning pid (None when not visible); ports nobody listens on absent.

    The `likely` pids are looked at first; the whole process table only if needed.
    """
    inodes = _listening_inodes(ports)
    owners: dict[int, int | None] = dict.fromkeys(inodes)
    if not inodes:
        return owners
    by_inode = {inode: port for port, group in inodes.items() for inode in group}
    likely = list(likely)
    for pids in (likely, [pid for pid in _proc_pids() if pid not in likely]):
        for pid in pids:
            for inode in _socket_inodes(pid) & by_inode.keys():
                owners[by_inode.pop(inode)] = pid
            if not by_inode or all(owners[port] is not None for port in owners):
                return owners
    return owners


def _read_pid_file(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def list_pcsc_readers(timeout: float = _PROBE_TIMEOUT_S) -> tuple[str, ...] | None:
    """Reader names from the pcscd on the socket; () if it has none, None if nothing answers.

    Runs on a helper thread so that a pcscd that accepts and never answers cannot
    hang the caller.
    """
    result: list[tuple[str, ...] | None] = []

    def probe() -> None:
        result.append(_list_readers_now())

    thread = threading.Thread(target=probe, name="pcscd-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else None


def _list_readers_now() -> tuple[str, ...] | None:
    from smartcard import scard  # noqa: PLC0415 - pyscard only when a probe runs

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return ()
        if hresult != scard.SCARD_S_SUCCESS:
            return None
        return tuple(str(name) for name in readers)
    finally:
        scard.SCardReleaseContext(context)


def take_snapshot(
    ports: Iterable[int],
    *,
    socket_path: Path = PCSCD_SOCKET,
    pid_file: Path = PCSCD_PID_FILE,
) -> PcscdSnapshot:
    """Look at the machine: pcscd processes, its socket and pid file, readers, TCP ports."""
    pids = pcscd_pids()
    readers = list_pcsc_readers() if socket_path.exists() or pids else None
    pid_file_pid = _read_pid_file(pid_file)
    listeners = port_listeners(ports, pids)
    commands = {pid: _cmdline(pid) for pid in {*pids, *listeners.values()} if pid is not None}
    alive = pid_file_pid is not None and _pid_alive(pid_file_pid)
    if alive and pid_file_pid is not None and pid_file_pid not in commands:
        commands[pid_file_pid] = _cmdline(pid_file_pid)
    return PcscdSnapshot(
        socket_exists=socket_path.exists(),
        pid_file_pid=pid_file_pid,
        pcscd_pids=pids,
        readers=readers,
        port_listeners=listeners,
        commands=commands,
        pid_file_alive=alive,
    )


def find_pcscd(binary: str | None = None) -> str:
    """The pcscd executable (also looked for in the sbin directories a user's PATH may lack)."""
    if binary is not None:
        if Path(binary).is_file() and os.access(binary, os.X_OK):
            return binary
        found = shutil.which(binary)
        if found:
            return found
        raise PcscdNotInstalledError(f"pcscd not found at {binary}: {SETUP_HINT}")
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    found = shutil.which("pcscd", path=path)
    if found is None:
        raise PcscdNotInstalledError(
            f"pcscd is not installed (not on PATH nor in /usr/sbin): {SETUP_HINT}"
        )
    return found


def remove_stale_dirs(root: Path | None = None) -> list[Path]:
    """Remove private directories whose owner process died without cleaning up (e.g. killed).

    Only directories whose `owner` file names a dead process and that no running
    pcscd uses; returns what was removed.
    """
    base = root if root is not None else Path(tempfile.gettempdir())
    in_use = " ".join(_cmdline(pid) for pid in pcscd_pids())
    removed = []
    for path in base.glob(f"{TEMP_PREFIX}*"):
        owner = _read_pid_file(path / "owner")
        if owner is None or _pid_alive(owner) or str(path) in in_use:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        logger.info("removed %d stale private pcscd directories", len(removed))
    return removed


def _log_tail(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    tail = "\n".join(lines[-_LOG_TAIL_LINES:])
    return f"\n--- end of {path} ---\n{tail}" if tail else f" ({path} is empty)"


def _terminate(
    proc: subprocess.Popen[bytes], grace: float, pid_file: Path, socket_path: Path
) -> None:
    """SIGTERM, SIGKILL after `grace` seconds, wait; remove the files a killed pcscd left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            logger.warning("pcscd pid %d ignored SIGTERM for %.1f s; killing it", proc.pid, grace)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    owner = _read_pid_file(pid_file)
    if owner == proc.pid:  # killed before it could clean up after itself
        leftovers: tuple[Path, ...] = (socket_path, pid_file)
    elif owner is None:  # it removed its pid file but exited before its socket
        leftovers = (socket_path,)
    else:  # another pcscd has started since: its files
        leftovers = ()
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            leftover.unlink()


def _abandon(
    proc: subprocess.Popen[bytes],
    grace: float,
    *,
    pid_file: Path,
    socket_path: Path,
    log: IO[bytes],
    tmp: Path,
) -> None:
    """What a forgotten PrivatePcscd does when collected or at exit: stop, close, clean up."""
    _terminate(proc, grace, pid_file, socket_path)
    log.close()
    shutil.rmtree(tmp, ignore_errors=True)


# --- the manager -----------------------------------------------------------------


class PrivatePcscd:
    """A pcscd with vpcd readers on the given base ports, for as long as the context lasts.

    ```
    with PrivatePcscd([35963, 35965]) as pcscd:
        pcscd.reader_names  # ("Virtual PCD 00 00", "Virtual PCD 00 01", "Virtual PCD 1 00 00", ...)
    ```
    """

    def __init__(
        self,
        ports: Sequence[int],
        *,
        pcscd_binary: str | None = None,
        driver: Path = VPCD_DRIVER,
        socket_path: Path = PCSCD_SOCKET,
        pid_file: Path = PCSCD_PID_FILE,
        start_timeout: float = 10.0,
        stop_grace: float = 3.0,
        probe: Callable[[Sequence[int]], PcscdSnapshot] | None = None,
    ) -> None:
        self.entries = vpcd_entries(ports)
        self._binary = pcscd_binary
        self._driver = driver
        self._socket_path = socket_path
        self._pid_file = pid_file
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._probe = probe
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., PrivatePcscd] | None = None
        self._tmp: Path | None = None
        self._log: IO[bytes] | None = None
        self._reused_pid: int | None = None
        self._reused = False

    # --- what it has -------------------------------------------------------------

    @property
    def ports(self) -> tuple[int, ...]:
        """The base ports, one per entry."""
        return tuple(entry.port for entry in self.entries)

    @property
    def slot_ports(self) -> tuple[int, ...]:
        """Every slot's TCP port, in reader order."""
        return tuple(port for entry in self.entries for port in entry.slot_ports)

    @property
    def reader_names(self) -> tuple[str, ...]:
        """Every slot's PC/SC reader name, in the order of `slot_ports`."""
        return tuple(name for entry in self.entries for name in entry.reader_names)

    @property
    def owned(self) -> bool:
        """True while this object runs the pcscd (it started it and will stop it)."""
        return self._proc is not None

    @property
    def reused(self) -> bool:
        """True while this object uses a pcscd someone else runs."""
        return self._reused

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return self._reused_pid

    @property
    def config_dir(self) -> Path | None:
        """The reader.conf.d directory of the private pcscd (None when reused or stopped)."""
        return self._tmp / "reader.conf.d" if self._tmp is not None else None

    @property
    def log_path(self) -> Path | None:
        """The private pcscd's stdout/stderr (None when reused or stopped)."""
        return self._tmp / "pcscd.log" if self._tmp is not None else None

    def __repr__(self) -> str:
        how = "owned" if self.owned else "reused" if self._reused else "idle"
        return f"PrivatePcscd(ports={list(self.ports)}, {how}, pid={self.pid})"

    # --- life cycle ----------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def snapshot(self) -> PcscdSnapshot:
        if self._probe is not None:
            return self._probe(self.slot_ports)
        return take_snapshot(
            self.slot_ports, socket_path=self._socket_path, pid_file=self._pid_file
        )

    def decide(self) -> Decision:
        return decide(
            self.snapshot(),
            self.entries,
            socket_path=self._socket_path,
            pid_file=self._pid_file,
            driver=self._driver,
        )

    def start(self) -> None:
        """Reuse a matching pcscd or start a private one; ForeignPcscdError if one is in the way."""
        if self.owned or self._reused:
            raise PcscdError(f"{self!r} is already started")
        decision = self.decide()
        if decision.verdict is Verdict.REUSE:
            self._reused = True
            self._reused_pid = decision.pid
            logger.info(
                "reusing the running pcscd (pid %s) for vpcd ports %s", decision.pid, self.ports
            )
            return
        if decision.verdict is Verdict.FOREIGN:
            raise ForeignPcscdError(decision.message, decision.pid)
        binary = find_pcscd(self._binary)
        if not self._driver.is_file():
            raise PcscdNotInstalledError(
                f"the vpcd reader driver {self._driver} is missing (package vsmartcard-vpcd): "
                f"{SETUP_HINT}"
            )
        remove_stale_dirs()
        self._tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        try:
            (self._tmp / "owner").write_text(str(os.getpid()))
            conf_dir = self._tmp / "reader.conf.d"
            conf_dir.mkdir()
            copies = self._tmp / "drivers"
            copies.mkdir()
            for entry in self.entries[1:]:
                shutil.copyfile(self._driver, entry.driver_path(self._driver, copies))
            (conf_dir / "vpcd").write_text(reader_conf(self.entries, self._driver, copies))
            self._spawn_retrying(binary)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the private pcscd and remove its directory; forget a reused one (never stops it)."""
        self._reused = False
        self._reused_pid = None
        self._kill()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def restart(self) -> None:
        """Stop the private pcscd and start it again with the same readers (recovery tests)."""
        if self._proc is None or self._tmp is None:
            raise PcscdError(
                f"{self!r}: only a pcscd this object started can be restarted"
                + (f"; pid {self._reused_pid} belongs to someone else" if self._reused else "")
            )
        binary = find_pcscd(self._binary)
        self._kill()
        try:
            self._spawn(binary)
        except BaseException:
            self.stop()
            raise

    # --- internals -----------------------------------------------------------------

    def _spawn_retrying(self, binary: str) -> None:
        """`_spawn`; again while vpcd cannot bind a port a closed one still holds.

        A vpcd port closed moments ago can stay unbindable for up to a minute (TCP
        TIME_WAIT), and pcscd then starts without those readers ("Address already in
        use" in its log). Wait and start again, within `_PORT_RETRY_S`.
        """
        deadline = time.monotonic() + _PORT_RETRY_S
        while True:
            try:
                self._spawn(binary)
            except PcscdStartError as exc:
                if "Address already in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                logger.warning("a vpcd port is still held; starting pcscd again in a moment")
                self._kill()
                time.sleep(_PORT_RETRY_WAIT_S)
            else:
                return

    def _spawn(self, binary: str) -> None:
        assert self._tmp is not None
        log_path = self._tmp / "pcscd.log"
        self._log = log_path.open("ab")
        args = [binary, "--foreground", "--config", str(self._tmp / "reader.conf.d")]
        logger.info("starting %s (log %s)", " ".join(args), log_path)
        self._proc = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        # Stops it and cleans up even if the owner forgets (or the interpreter exits first).
        self._finalizer = weakref.finalize(
            self,
            _abandon,
            self._proc,
            self._stop_grace,
            pid_file=self._pid_file,
            socket_path=self._socket_path,
            log=self._log,
            tmp=self._tmp,
        )
        self._wait_ready(log_path)

    def _wait_ready(self, log_path: Path) -> None:
        proc = self._proc
        assert proc is not None
        needed = set(self.reader_names)
        deadline = time.monotonic() + self._start_timeout
        while True:
            if proc.poll() is not None:
                raise PcscdStartError(
                    f"pcscd exited with status {proc.returncode} right after starting"
                    f"{_log_tail(log_path)}"
                )
            readers = list_pcsc_readers()
            if readers is not None and needed <= set(readers):
                listeners = port_listeners(self.slot_ports, [proc.pid])
                if all(
                    port in listeners and listeners[port] in (proc.pid, None)
                    for port in self.slot_ports
                ):
                    logger.info("pcscd pid %d is up with %d vpcd readers", proc.pid, len(needed))
                    return
            if time.monotonic() > deadline:
                raise PcscdStartError(
                    f"pcscd (pid {proc.pid}) did not list the readers {sorted(needed)} within "
                    f"{self._start_timeout:.0f} s (it lists {list(readers or ())})"
                    f"{_log_tail(log_path)}"
                )
            time.sleep(_POLL_S)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if proc is not None:
            _terminate(proc, self._stop_grace, self._pid_file, self._socket_path)
            logger.info("pcscd pid %d stopped (status %s)", proc.pid, proc.returncode)
        if self._log is not None:
            self._log.close()
            self._log = None
