"""The section-9 basic read through the reader layer, beside raw pyscard (issue 3).

One command, one run, one process tree:

    .venv/bin/python bench/basic_read_bench.py            # N = 500 reads a side a generation
    .venv/bin/python bench/basic_read_bench.py --quick    # a few seconds; for the smoke test
    .venv/bin/python bench/basic_read_bench.py --json out.json

What it sets up (and stops again, whatever happens):

- the machine-wide PC/SC lock (/tmp/cardsvc-pcsc-tests.lock) the test suite takes;
- a private pcscd (`reader_driver.pcscd.PrivatePcscd`) with 2 vpcd entries = 4 slots
  on TCP ports --port .. --port+3 (default 35963);
- our simulators in one separate `cardsvc sim` process: slots 0, 1, 2 the gen 1, 2, 3
  example cards, slot 3 the example PSAM (all T=0). This process is only the terminal.

What it measures, per generation, in rounds (every side reads once per round, the order
rotating; the generations take turns too, so machine noise hits every side alike):

- ours: `SscSession(CardChannel(conn), psam).basic_read()` through `PcscBackend` as shipped
  (watchdog on, timeout 5 s); the PSAM a `PsamSecurityModule` over its own `CardChannel`,
  opened once at the start (SELECT DF01 + READ BINARY EF16 are not part of a read);
- raw: the same PC/SC calls with pyscard's `smartcard.scard` on handles of the same kind
  (own context, SCARD_SHARE_SHARED, T=0|T=1): the SCardBeginTransaction / SCardTransmit /
  SCardEndTransaction sequence of one real read of ours, recorded with a wrapper under
  the `CardChannel` (so GET RESPONSEs and the PSAM's APDUs are in it), replayed byte for
  byte. Each answer is checked only for its status word and length. Internal
  authentication's P and S are replayed as recorded (the card and the PSAM give the same
  answers again). Two fields cannot be replayed as recorded: on gen 3 the card's fresh
  GET CHALLENGE goes into the PSAM's DES INIT, and the PSAM's cryptogram into EXTERNAL
  AUTHENTICATE. Sent as recorded, EXTERNAL AUTHENTICATE would fail (63Cx), EF06 would
  answer 6982, and three failures in a row would block the key (6983) and break ours.
  The replay copies those two 8-byte fields from the live answers: the same bytes on the
  wire, the same answers.
- for the breakdown of ours - raw: ours with the watchdog off (`PcscBackend(timeout=None)`,
  not how it ships), and the same `SscSession` over a bare pyscard connection (no
  reader_driver at all). Then cardsvc.card = bare - raw, reader_driver without its
  watchdog = watchdog off - bare, watchdog = ours - watchdog off (medians).

Reported per generation: APDUs per read (card + PSAM), median and p99 per read of ours and
raw, overhead = ours / raw - 1 (on the medians; target <= 10 %), the breakdown, the process
CPU time per read, and the time the same bytes take on the wire of a real T=0 card at
9,600 and 115,200 bit/s (see `t0_wire` and `Wire.seconds`).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Final

from pcsc_bench_common import (
    EXAMPLES,
    BenchError,
    MachineLock,
    cardsvc_sim,
    check,
    machine,
    percentile,
    raise_on_sigterm,
    wait_present,
)
from smartcard import scard

from cardsvc.apdu import ApduFormatError, Command
from cardsvc.card.security import PsamSecurityModule, SecurityModule
from cardsvc.card.session import SscSession
from cardsvc.card.transport import CardTransport
from reader_driver import CardChannel, CardConnection, PcscBackend
from reader_driver.pcscd import PrivatePcscd

DEFAULT_PORT: Final = 35963
ENTRIES: Final = 2  # vpcd reader.conf entries: 2 slots each
GENERATIONS: Final = (1, 2, 3)
PSAM_SLOT: Final = 3
PRESENT_WAIT_S: Final = 15.0
LAYER_TIMEOUT_S: Final = 5.0  # the reader layer's default watchdog bound

# ISO/IEC 7816-3 character framing: 1 start + 8 data + 1 parity bit + 2 etu guard time.
ETU_PER_CHAR: Final = 12
# Characters sent in opposite directions are at least 16 etu apart (leading edges).
TURNAROUND_EXTRA_ETU: Final = 16 - ETU_PER_CHAR
BIT_RATES: Final = (9_600, 115_200)


# --- recording a read of our layer ------------------------------------------------------


class Kind(enum.Enum):
    BEGIN = "begin"
    TRANSMIT = "transmit"
    END = "end"


@dataclass(frozen=True, slots=True)
class Op:
    """One PC/SC call of a read: a transaction edge or a transmit (with the card's answer)."""

    role: str  # "card" or "psam"
    kind: Kind
    apdu: bytes = b""
    response: bytes = b""


class RecordingConnection:
    """A `CardConnection` that passes everything to `inner` and logs the PC/SC calls it causes.

    Transactions nest in the reader layer, and only the outermost one is an
    SCardBeginTransaction / SCardEndTransaction: so are the logged edges.
    """

    def __init__(self, inner: CardConnection, role: str, log: list[Op]) -> None:
        self._inner = inner
        self._role = role
        self._log = log
        self._depth = 0

    @property
    def reader(self) -> str:
        return self._inner.reader

    @property
    def atr(self) -> bytes:
        return self._inner.atr

    @property
    def closed(self) -> bool:
        return self._inner.closed

    def transmit(self, apdu: bytes) -> bytes:
        response = self._inner.transmit(apdu)
        self._log.append(Op(self._role, Kind.TRANSMIT, bytes(apdu), response))
        return response

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._inner.transaction():
            if self._depth == 0:
                self._log.append(Op(self._role, Kind.BEGIN))
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._log.append(Op(self._role, Kind.END))

    def disconnect(self) -> None:
        """The inner connection belongs to the benchmark: left open."""


@dataclass(frozen=True, slots=True)
class Patch:
    """Command `op`'s bytes [at, at+length) come from the data of op `source`'s live answer."""

    op: int
    at: int
    source: int
    length: int


MIN_PATCH: Final = 8  # challenges and cryptograms are 8 bytes; shorter matches could be chance


def find_patches(ops: Sequence[Op]) -> list[Patch]:
    """Where a later command carries an earlier answer's data (challenge -> DES INIT, ...)."""
    patches = []
    for j, op in enumerate(ops):
        if op.kind is not Kind.TRANSMIT or len(op.apdu) <= 5:
            continue
        for i in range(j):
            data = ops[i].response[:-2]
            if ops[i].kind is not Kind.TRANSMIT or len(data) < MIN_PATCH:
                continue
            at = op.apdu.find(data, 5)
            if at >= 5:
                patches.append(Patch(j, at, i, len(data)))
    return patches


# --- the wire time on a real T=0 card ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wire:
    """What one TPDU puts on a T=0 line: characters each way and changes of direction."""

    terminal_chars: int  # header (5) + command data
    card_chars: int  # procedure byte (INS) + response data + SW1 SW2
    turnarounds: int

    @property
    def chars(self) -> int:
        return self.terminal_chars + self.card_chars

    def __add__(self, other: Wire) -> Wire:
        return Wire(
            self.terminal_chars + other.terminal_chars,
            self.card_chars + other.card_chars,
            self.turnarounds + other.turnarounds,
        )

    def seconds(self, bit_rate: int) -> float:
        """(12 etu x characters + 4 etu x turnarounds) / bit rate, with 1 etu = 1 bit."""
        return (ETU_PER_CHAR * self.chars + TURNAROUND_EXTRA_ETU * self.turnarounds) / bit_rate


NO_WIRE: Final = Wire(0, 0, 0)


def t0_wire(apdu: bytes, response: bytes) -> Wire:
    """The T=0 TPDU of one command/response pair as the card saw it.

    The terminal sends CLA INS P1 P2 P3 (P3 = 00 for case 1, Le for case 2, Lc for
    cases 3 and 4: on T=0 a case-4 Le is not sent, the data comes by 61xx + GET
    RESPONSE, recorded as APDUs of their own). The card sends one procedure byte (INS)
    before any data moves either way, then the response data, then SW1 SW2. Direction
    changes: terminal -> card before the header (after the previous answer), header ->
    procedure byte, procedure byte -> command data, command data -> SW.
    """
    try:
        command = Command.parse(apdu)
    except ApduFormatError as exc:
        raise BenchError(f"recorded APDU {apdu.hex()} does not parse: {exc}") from None
    data_out = len(command.data)
    data_in = max(0, len(response) - 2)
    ack = 1 if data_out or data_in else 0
    turnarounds = 2 + (2 if data_out else 0)
    return Wire(5 + data_out, ack + data_in + 2, turnarounds)


# --- the raw side ------------------------------------------------------------------------


class RawLink:
    """A pyscard handle to one reader with its own context, like a `PcscConnection`."""

    def __init__(self, reader: str, label: str) -> None:
        self.label = label
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        check(hresult, f"establish a PC/SC context for {label}")
        self.context = context
        hresult, hcard, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)
            check(hresult, f"connect to {label} ({reader})")
        self.hcard = hcard
        self.protocol = protocol

    def close(self) -> None:
        scard.SCardDisconnect(self.hcard, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(self.context)


def raw_read(ops: Sequence[Op], links: dict[str, RawLink]) -> Callable[[], None]:
    """The recorded PC/SC calls, replayed with pyscard; each answer's SW and length checked."""
    patches: dict[int, list[Patch]] = {}
    for patch in find_patches(ops):
        patches.setdefault(patch.op, []).append(patch)
    begin, end, transmit = (
        scard.SCardBeginTransaction,
        scard.SCardEndTransaction,
        scard.SCardTransmit,
    )
    leave, ok = scard.SCARD_LEAVE_CARD, scard.SCARD_S_SUCCESS
    # (kind, handle, protocol, apdu as a list, expected SW as a list, expected length, patches)
    steps: list[tuple[Kind, int, int, list[int], list[int], int, list[Patch]]] = []
    for op in ops:
        link = links[op.role]
        steps.append(
            (
                op.kind,
                link.hcard,
                link.protocol,
                list(op.apdu),
                list(op.response[-2:]),
                len(op.response),
                patches.get(len(steps), []),
            )
        )

    def run() -> None:
        answers: list[list[int]] = []
        for kind, hcard, protocol, apdu, sw, length, fixes in steps:
            if kind is Kind.TRANSMIT:
                if fixes:
                    apdu = apdu[:]  # noqa: PLW2901 - a patched copy of the recorded command
                    for fix in fixes:
                        apdu[fix.at : fix.at + fix.length] = answers[fix.source][: fix.length]
                hresult, response = transmit(hcard, protocol, apdu)
                if hresult != ok or len(response) != length or response[-2:] != sw:
                    check(hresult, "raw transmit")
                    raise BenchError(
                        f"raw replay: {bytes(apdu).hex()} answered {bytes(response).hex()}, "
                        f"recorded SW {bytes(sw).hex()} in {length} bytes"
                    )
                answers.append(response)
            else:
                answers.append([])
                if kind is Kind.BEGIN:
                    check(begin(hcard), "raw begin transaction")
                else:
                    check(end(hcard, leave), "raw end transaction")

    return run


# --- the session over bare pyscard (for the breakdown) -------------------------------------


class BareConnection:
    """A `CardConnection` with nothing of reader_driver: pyscard calls, nested transactions.

    No lock, no watchdog, no T=0 handling (the session's own `exchange` fetches 61xx):
    the session over this, minus the raw replay, is what cardsvc.card itself costs.
    """

    def __init__(self, link: RawLink) -> None:
        self._link = link
        self._depth = 0
        hresult, _name, _state, _protocol, atr = scard.SCardStatus(link.hcard)
        check(hresult, f"status of {link.label}")
        self._atr = bytes(atr)

    @property
    def reader(self) -> str:
        return self._link.label

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def closed(self) -> bool:
        return False

    def transmit(self, apdu: bytes) -> bytes:
        hresult, response = scard.SCardTransmit(self._link.hcard, self._link.protocol, list(apdu))
        check(hresult, f"transmit to {self._link.label}")
        return bytes(response)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth == 0:
            check(scard.SCardBeginTransaction(self._link.hcard), "begin a transaction")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                scard.SCardEndTransaction(self._link.hcard, scard.SCARD_LEAVE_CARD)

    def disconnect(self) -> None:
        """The link belongs to the benchmark."""


# --- one generation ----------------------------------------------------------------------


class Side(enum.Enum):
    """What reads the card: our layer (as shipped, and without its watchdog), the session
    over bare pyscard, and the raw replay of the recorded calls."""

    OURS = "ours"
    OURS_NO_WATCHDOG = "ours_no_watchdog"
    SESSION_BARE = "session_bare"
    RAW = "raw"


SIDE_LABELS: Final = {
    Side.OURS: "ours (watchdog 5 s, as shipped)",
    Side.OURS_NO_WATCHDOG: "ours, watchdog off",
    Side.SESSION_BARE: "SscSession over bare pyscard",
    Side.RAW: "raw pyscard replay",
}


@dataclass
class Generation:
    """One generation's card: each side's read, the recorded calls, and what was measured."""

    gen: int
    reads: dict[Side, Callable[[], None]]
    ops: list[Op]
    samples: dict[Side, list[int]] = field(default_factory=lambda: {side: [] for side in Side})
    cpu: dict[Side, list[int]] = field(default_factory=lambda: {side: [] for side in Side})
    failed: str = ""

    def count(self, role: str) -> int:
        return sum(1 for op in self.ops if op.kind is Kind.TRANSMIT and op.role == role)

    @property
    def done(self) -> int:
        return min(len(v) for v in self.samples.values())

    @property
    def pcsc_calls(self) -> int:
        return len(self.ops)

    @property
    def patched(self) -> int:
        return len(find_patches(self.ops))

    def wire(self) -> Wire:
        total = NO_WIRE
        for op in self.ops:
            if op.kind is Kind.TRANSMIT:
                total += t0_wire(op.apdu, op.response)
        return total


def record(gen: int, card: CardConnection, psam_conn: CardConnection, terminal: str) -> list[Op]:
    """One real read through our layer with both connections wrapped: the calls it made."""
    log: list[Op] = []
    channel = CardChannel(RecordingConnection(card, "card", log))
    psam = PsamSecurityModule(CardChannel(RecordingConnection(psam_conn, "psam", log)), terminal)
    result = SscSession(channel, psam).basic_read()
    if result.generation != gen:
        raise BenchError(f"the gen {gen} slot holds a gen {result.generation} card")
    return log


# --- measuring ---------------------------------------------------------------------------


def measure(gens: Sequence[Generation], n: int, warmup: int, deadline: float) -> bool:
    """Warm up, then rounds: every generation, every side once, the order rotating each round.

    Each sample is one whole read (wall clock); the process CPU time it took is kept beside.
    Returns False when the deadline cut the run short.
    """
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    sides = list(Side)
    for g in gens:
        try:
            for _ in range(warmup):
                for side in sides:
                    g.reads[side]()
        except Exception as exc:
            g.failed = f"failed in warm-up: {type(exc).__name__}: {exc}"
    active = [g for g in gens if not g.failed]
    round_no = 0
    while any(g.done < n and not g.failed for g in active):
        if time.monotonic() > deadline:
            return False
        turn = round_no % len(active)
        shift = round_no % len(sides)
        for g in active[turn:] + active[:turn]:
            if g.failed or g.done >= n:
                continue
            for side in sides[shift:] + sides[:shift]:
                read = g.reads[side]
                try:
                    c0, t0 = cpu(), clock()
                    read()
                    t1, c1 = clock(), cpu()
                except Exception as exc:  # one generation failing must not hide the others
                    g.failed = (
                        f"{side.value} failed after {g.done} reads: {type(exc).__name__}: {exc}"
                    )
                    break
                g.samples[side].append(t1 - t0)
                g.cpu[side].append(c1 - c0)
            keep = g.done  # whole rounds only
            for side in sides:
                del g.samples[side][keep:]
                del g.cpu[side][keep:]
        round_no += 1
    return True


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    generation: int
    available: bool
    reads: int
    card_apdus: int
    psam_apdus: int
    pcsc_calls: int
    patched_fields: int
    p50_us: dict[str, float]
    p99_us: dict[str, float]
    cpu_p50_us: dict[str, float]
    overhead_p50: float  # ours / raw - 1, medians
    overhead_mean: float
    extra_us_per_apdu: float
    # where ours - raw goes (medians, µs): cardsvc.card, reader_driver without and with watchdog
    session_us: float
    reader_layer_us: float
    watchdog_us: float
    wire_chars: int
    wire_turnarounds: int
    wire_ms: dict[str, float]
    note: str

    @property
    def apdus(self) -> int:
        return self.card_apdus + self.psam_apdus


def row(g: Generation) -> Row:
    reads = g.done
    p50 = {side: percentile(sorted(g.samples[side]), 50) for side in Side}
    p99 = {side: percentile(sorted(g.samples[side]), 99) for side in Side}
    cpu50 = {side: percentile(sorted(g.cpu[side]), 50) for side in Side}
    ours, raw = p50[Side.OURS], p50[Side.RAW]
    total_raw = sum(g.samples[Side.RAW])
    apdus = g.count("card") + g.count("psam")
    wire = g.wire()
    nan = math.nan
    return Row(
        generation=g.gen,
        available=bool(reads) and not g.failed,
        reads=reads,
        card_apdus=g.count("card"),
        psam_apdus=g.count("psam"),
        pcsc_calls=g.pcsc_calls,
        patched_fields=g.patched,
        p50_us={side.value: v for side, v in p50.items()},
        p99_us={side.value: v for side, v in p99.items()},
        cpu_p50_us={side.value: v for side, v in cpu50.items()},
        overhead_p50=ours / raw - 1 if reads else nan,
        overhead_mean=sum(g.samples[Side.OURS]) / total_raw - 1 if total_raw else nan,
        extra_us_per_apdu=(ours - raw) / apdus if reads and apdus else nan,
        session_us=p50[Side.SESSION_BARE] - raw,
        reader_layer_us=p50[Side.OURS_NO_WATCHDOG] - p50[Side.SESSION_BARE],
        watchdog_us=ours - p50[Side.OURS_NO_WATCHDOG],
        wire_chars=wire.chars,
        wire_turnarounds=wire.turnarounds,
        wire_ms={str(rate): round(wire.seconds(rate) * 1000, 3) for rate in BIT_RATES},
        note=g.failed,
    )


def _num(value: float, digits: int = 0) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 100:+.1f} %"


def markdown(rows: Sequence[Row]) -> str:
    ours, raw = Side.OURS.value, Side.RAW.value
    lines = [
        "| gen | reads | APDUs (card + PSAM) | PC/SC calls | ours p50 µs | ours p99 µs "
        "| raw p50 µs | raw p99 µs | overhead (p50) | overhead (mean) | extra µs per APDU |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.generation} | {r.reads} | {r.apdus} ({r.card_apdus} + {r.psam_apdus}) "
            f"| {r.pcsc_calls} | {_num(r.p50_us[ours])} | {_num(r.p99_us[ours])} "
            f"| {_num(r.p50_us[raw])} | {_num(r.p99_us[raw])} | {_pct(r.overhead_p50)} "
            f"| {_pct(r.overhead_mean)} | {_num(r.extra_us_per_apdu, 1)} |"
        )
    lines += [
        "",
        "| gen | " + " | ".join(f"{SIDE_LABELS[side]} p50 µs" for side in Side) + " "
        "| cardsvc.card µs | reader_driver µs (no watchdog) | watchdog µs "
        "| CPU µs/read ours | CPU µs/read raw |",
        "|--:|" + "--:|" * (len(Side) + 5),
    ]
    for r in rows:
        lines.append(
            f"| {r.generation} | "
            + " | ".join(_num(r.p50_us[side.value]) for side in Side)
            + f" | {_num(r.session_us)} | {_num(r.reader_layer_us)} | {_num(r.watchdog_us)} "
            f"| {_num(r.cpu_p50_us[ours])} | {_num(r.cpu_p50_us[raw])} |"
        )
    lines += [
        "",
        "| gen | characters on the wire | direction changes | wire ms @ 9,600 bit/s "
        "| wire ms @ 115,200 bit/s | ours p50 ms through pcscd + vpcd |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.generation} | {r.wire_chars} | {r.wire_turnarounds} "
            f"| {r.wire_ms['9600']:,.1f} | {r.wire_ms['115200']:,.2f} "
            f"| {_num(r.p50_us[ours] / 1000, 2)} |"
        )
    notes = [f"- gen {r.generation}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


TARGET: Final = 0.10


def verdict(rows: Sequence[Row]) -> str:
    measured = [r for r in rows if r.available]
    if not measured:
        return "overhead: not measured"
    worst = max(measured, key=lambda r: r.overhead_p50)
    met = "met" if worst.overhead_p50 <= TARGET else "NOT met"
    return (
        f"overhead on the median read, worst generation (gen {worst.generation}): "
        f"{worst.overhead_p50 * 100:+.1f} % (target <= {TARGET * 100:.0f} %: {met})"
    )


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    n: int
    warmup: int
    max_seconds: float
    port: int
    lock: bool
    lock_wait: float


def settings_from(args: argparse.Namespace) -> Settings:
    n = args.n if args.n is not None else (20 if args.quick else 500)
    if n < 1:
        raise BenchError("--n must be at least 1")
    return Settings(
        n=n,
        warmup=3 if args.quick else 20,
        max_seconds=args.max_seconds
        if args.max_seconds is not None
        else (45.0 if args.quick else 90.0),
        port=args.port,
        lock=not args.no_lock,
        lock_wait=args.lock_wait,
    )


def _session_read(connection: CardTransport, psam: SecurityModule) -> Callable[[], None]:
    def read() -> None:
        SscSession(connection, psam).basic_read()

    return read


@dataclass
class Stack:
    gens: list[Generation]
    lock_wait_s: float
    setup_s: float


@contextlib.contextmanager
def bench_stack(settings: Settings) -> Iterator[Stack]:
    """Lock, pcscd, `cardsvc sim`, every side's connections, one recorded read per generation."""
    ports = [settings.port + 2 * i for i in range(ENTRIES)]
    asked = time.monotonic()
    with contextlib.ExitStack() as stack:
        if settings.lock:
            stack.enter_context(MachineLock(settings.lock_wait))
        locked = time.monotonic()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cardsvc-bench-")))
        pcscd = stack.enter_context(PrivatePcscd(ports))
        readers = pcscd.reader_names
        stack.enter_context(
            cardsvc_sim(
                workdir,
                port=settings.port,
                cards=[EXAMPLES / f"gen{gen}.json" for gen in GENERATIONS],
                psam=EXAMPLES / "psam.json",
            )
        )
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        check(hresult, "establish a PC/SC context")
        stack.callback(scard.SCardReleaseContext, context)
        wanted = [readers[slot] for slot in (*range(len(GENERATIONS)), PSAM_SLOT)]
        missing = wait_present(context, wanted, PRESENT_WAIT_S)
        if missing:
            raise BenchError(f"pcscd saw no card in {sorted(missing)} within {PRESENT_WAIT_S} s")

        # Our layer as shipped (watchdog on), and again without the watchdog (breakdown only).
        layers = {
            Side.OURS: stack.enter_context(PcscBackend(timeout=LAYER_TIMEOUT_S)),
            Side.OURS_NO_WATCHDOG: stack.enter_context(PcscBackend(timeout=None)),
        }
        psam_conns = {side: backend.connect(readers[PSAM_SLOT]) for side, backend in layers.items()}
        for conn in psam_conns.values():
            stack.callback(conn.disconnect)
        psams = {side: PsamSecurityModule.open(CardChannel(c)) for side, c in psam_conns.items()}
        terminal = psams[Side.OURS].terminal_number

        def link(slot: int, label: str) -> RawLink:
            made = RawLink(readers[slot], label)
            stack.callback(made.close)
            return made

        raw_psam, bare_psam = link(PSAM_SLOT, "PSAM"), link(PSAM_SLOT, "PSAM")
        bare_sm = PsamSecurityModule(BareConnection(bare_psam), terminal)
        gens = []
        for slot, gen in enumerate(GENERATIONS):
            label = f"gen {gen} card"
            reads: dict[Side, Callable[[], None]] = {}
            ops: list[Op] = []
            for side, backend in layers.items():
                conn = backend.connect(readers[slot])
                stack.callback(conn.disconnect)
                if side is Side.OURS:
                    ops = record(gen, conn, psam_conns[side], terminal)
                reads[side] = _session_read(CardChannel(conn), psams[side])
            reads[Side.SESSION_BARE] = _session_read(BareConnection(link(slot, label)), bare_sm)
            reads[Side.RAW] = raw_read(ops, {"card": link(slot, label), "psam": raw_psam})
            reads[Side.RAW]()  # the replay gets the recorded answers (checked) before measuring
            gens.append(Generation(gen, reads, ops))
        yield Stack(gens, locked - asked, time.monotonic() - locked)


def run(settings: Settings, out: IO[str]) -> dict[str, object]:
    """Set up, measure, print the tables; returns the figures (JSON-able)."""
    load_before = os.getloadavg()
    with bench_stack(settings) as stack:
        started = time.monotonic()
        complete = measure(stack.gens, settings.n, settings.warmup, started + settings.max_seconds)
        elapsed = time.monotonic() - started
    for g in stack.gens:
        if not g.failed and g.done < settings.n:
            g.failed = f"cut short by --max-seconds at {g.done} of {settings.n} reads"
    rows = [row(g) for g in stack.gens]
    print(markdown(rows), file=out)
    print(f"\n{verdict(rows)}", file=out)
    print(
        f"(measuring took {elapsed:.1f} s{'' if complete else ', cut short by --max-seconds'}; "
        f"setup {stack.setup_s:.1f} s; waited {stack.lock_wait_s:.1f} s for the PC/SC lock)",
        file=out,
    )
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": asdict(settings),
        "machine": {**machine(), "loadavg_before": load_before},
        "complete": complete,
        "failed": [r.generation for r in rows if not r.available],
        "seconds": {
            "measuring": round(elapsed, 2),
            "setup": round(stack.setup_s, 2),
            "lock_wait": round(stack.lock_wait_s, 2),
        },
        "wire_formula": (
            "seconds = (12 etu x characters + 4 etu x direction changes) / bit rate; "
            "1 etu = 1 bit; T=0 characters = header 5 + command data + procedure byte "
            "(when data moves) + response data + SW1 SW2"
        ),
        "rows": [{**asdict(r), "apdus": r.apdus} for r in rows],
        "verdict": verdict(rows),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The basic read through the reader layer vs raw pyscard, and its wire time"
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help="reads per side per generation (default 500; --quick 20)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the figures and the machine")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="first vpcd TCP port; 4 are used (default %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="measuring stops after this long (default 90; --quick 45)",
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=120.0,
        help="seconds to wait for the PC/SC lock (default %(default)s)",
    )
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="do not take the PC/SC lock (only when the caller holds it, e.g. the test suite)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    try:
        settings = settings_from(args)
        result = run(settings, sys.stdout)
    except BenchError as exc:
        print(f"basic_read_bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("basic_read_bench: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # reader, card and pcscd errors: one line, no traceback
        print(f"basic_read_bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if result["failed"]:
        print(f"basic_read_bench: failed: gen {result['failed']} (see the notes)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
