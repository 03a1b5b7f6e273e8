"""Simulator throughput through pcscd (issue 2): our cards beside a floor responder and vicc.

One command, one run, everything side by side:

    .venv/bin/python bench/sim_throughput.py            # N = 3000 GET CHALLENGEs per target
    .venv/bin/python bench/sim_throughput.py --quick    # a few seconds; for the smoke test
    .venv/bin/python bench/sim_throughput.py --json out.json

What it sets up (and stops again, whatever happens):

- the machine-wide PC/SC lock the test suite takes (/tmp/cardsvc-pcsc-tests.lock):
  one pcscd per machine, so benchmark and test sessions take turns;
- a private pcscd (`reader_driver.pcscd.PrivatePcscd`) with 4 vpcd entries = 8
  slots on consecutive TCP ports from --port (default 35963);
- our simulators in one separate process (`cardsvc sim`, as a deployment runs them):
  slot 0 the gen 2 example card, 1 the gen 3 example card, 2 the example PSAM,
  3 and 4 floor cards (answer 9000 at once; 4 stands in for the PSAM in the replay);
  with --in-process they run as `VpcdSlot` threads of this process instead;
- vsmartcard's vicc (Debian vsmartcard-vpicc, card type iso7816) in slot 5 through
  bench/vicc_quickack.py (TCP_NODELAY + TCP_QUICKACK like our transport) and, for
  the delayed-ACK effect, plain /usr/bin/vicc in slot 6 (few APDUs: each one waits
  for a delayed ACK). vicc runs under this interpreter with PYTHONPATH at Debian's
  virtualsmartcard folder and needs pycryptodome; without them it is reported as
  unavailable and everything else still runs.

What it measures, with pyscard's low-level `smartcard.scard` (one connection per
reader held for the whole run, one SCardBeginTransaction per batch as a terminal
holds the card across a piece of work):

1. GET CHALLENGE `00 84 00 00 08` on our gen 2 and gen 3 cards, the floor (9000)
   and vicc: APDU/s (APDUs / time inside the batches, transactions included) and
   p50/p99 of single SCardTransmit round trips.
2. The section-9 basic read on our gen 2 and gen 3 cards, verified through the PSAM
   (SELECT DF01 once at the start): SELECT SSSE + GET RESPONSE, READ RECORD EF05 01
   (the region code for F2), INTERNAL AUTHENTICATE + GET RESPONSE, PSAM DES INIT +
   ENCRYPT + GET RESPONSE (compared), gen 3 GET CHALLENGE + PSAM DES INIT + ENCRYPT +
   GET RESPONSE + EXTERNAL AUTHENTICATE, READ RECORD EF05 03 05 06 07 and EF06 08 09
   4E; one transaction on the card and one on the PSAM per read. Its floor replays
   the same command APDUs (recorded from a real read) to the two floor cards.

Targets take turns in rounds (the order rotates every round) so machine noise hits
all of them alike. A deadline (--max-seconds) bounds the run; targets cut short by it
are marked. Prints a Markdown table; --json FILE writes the figures and the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import hmac
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from pcsc_bench_common import (
    BenchError,
    MachineLock,
    child,
    log_tail,
    machine,
    percentile,
    wait_present,
)
from pcsc_bench_common import check as _check
from smartcard import scard

from reader_driver.pcscd import PrivatePcscd
from simulators.base import SimulatedCard

ROOT: Final = Path(__file__).resolve().parent.parent
EXAMPLES: Final = ROOT / "simulators" / "examples"
QUICKACK_WRAPPER: Final = Path(__file__).resolve().parent / "vicc_quickack.py"
VICC_SCRIPT: Final = Path("/usr/bin/vicc")
VICC_LIB: Final = Path("/usr/lib/python3/site-packages/virtualsmartcard")
LOCK_PATH: Final = Path("/tmp/cardsvc-pcsc-tests.lock")
DEFAULT_PORT: Final = 35963
ENTRIES: Final = 4  # vpcd reader.conf entries: 2 slots each

PRESENT_WAIT_S: Final = 15.0
STOP_GRACE_S: Final = 3.0

# --- APDUs of the card contract (byte-exact, shared/ssc-card.md) -------------------

GET_CHALLENGE: Final = bytes.fromhex("0084000008")
SSSE_NAME: Final = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
PSAM_DF01: Final = bytes.fromhex("D15600000590")
ALG_SM4: Final = 0x03
KID_IRK: Final = 0x01
KID_RKSSSE: Final = 0x0A
SM4_INDEX_FLAG: Final = 0x80
USAGE_TWO_LEVELS: Final = 0x48
P2_EF05_BY_TAG: Final = 0x28  # SFI 05 << 3 | 000: record with tag P1
P2_EF06_BY_TAG: Final = 0x30  # SFI 06 << 3 | 000
# Record tag -> value length (EF05, EF06 of generations 2/3).
EF05_TAGS: Final = {0x01: 16, 0x03: 4, 0x05: 4, 0x06: 4, 0x07: 9}
EF06_TAGS: Final = {0x08: 18, 0x09: 30, 0x4E: 20}
SW_OK: Final = 0x9000
GC_CARD_ANSWER: Final = 10  # 8 bytes of challenge + 9000


class Slot(enum.IntEnum):
    """Slot index = offset from --port = index into PrivatePcscd.reader_names."""

    GEN2 = 0
    GEN3 = 1
    PSAM = 2
    FLOOR = 3
    FLOOR_PSAM = 4
    VICC = 5
    VICC_PLAIN = 6


@dataclass(frozen=True, slots=True)
class ViccCheck:
    available: bool
    reason: str = ""


def check_vicc(python: str, vicc_lib: Path) -> ViccCheck:
    """Whether vicc can run here: its modules under `vicc_lib` and pycryptodome in `python`."""
    if not (vicc_lib / "virtualsmartcard" / "VirtualSmartcard.py").is_file():
        return ViccCheck(
            False,
            f"vicc's modules are not in {vicc_lib} (apt-get install python3-virtualsmartcard "
            "vsmartcard-vpicc, or scripts/setup.sh --bench)",
        )
    probe = subprocess.run(
        [python, "-c", "import Crypto.Cipher, virtualsmartcard.VirtualSmartcard"],
        env={**os.environ, "PYTHONPATH": str(vicc_lib)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return ViccCheck(
            False,
            f"vicc's modules do not import under {python} ({last}); pycryptodome is needed: "
            "scripts/setup.sh --bench installs it into .venv",
        )
    return ViccCheck(True)


def vicc_env(vicc_lib: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{vicc_lib}{os.pathsep}{path}" if path else str(vicc_lib)}


# --- PC/SC ---------------------------------------------------------------------------------


class Link:
    """One connection to one reader, held for the whole run."""

    def __init__(self, context: Any, reader: str, label: str) -> None:
        self.label = label
        self.reader = reader
        hresult, hcard, protocol = scard.SCardConnect(
            context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        _check(hresult, f"connect to {label} ({reader})")
        self.hcard = hcard
        self.pci = scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1
        self.protocol = "T=0" if protocol == scard.SCARD_PROTOCOL_T0 else "T=1"
        hresult, _name, _state, _proto, atr = scard.SCardStatus(hcard)
        _check(hresult, f"status of {label}")
        self.atr = bytes(atr)

    def begin(self) -> None:
        _check(scard.SCardBeginTransaction(self.hcard), f"begin transaction on {self.label}")

    def end(self) -> None:
        _check(
            scard.SCardEndTransaction(self.hcard, scard.SCARD_LEAVE_CARD),
            f"end transaction on {self.label}",
        )

    def transmit(self, apdu: bytes) -> bytes:
        hresult, response = scard.SCardTransmit(self.hcard, self.pci, list(apdu))
        _check(hresult, f"transmit to {self.label}")
        return bytes(response)

    def close(self) -> None:
        scard.SCardDisconnect(self.hcard, scard.SCARD_LEAVE_CARD)


@contextlib.contextmanager
def transaction(*links: Link) -> Iterator[None]:
    begun: list[Link] = []
    try:
        for link in links:
            link.begin()
            begun.append(link)
        yield
    finally:
        for link in reversed(begun):
            link.end()


# --- the terminal's side of the basic read -------------------------------------------


def _sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big") if len(response) >= 2 else -1


class Terminal:
    """Sends APDUs the T=0 way (61xx → GET RESPONSE, 6Cxx → again with Le=xx), counting them.

    With `record`, every command APDU is appended as (role, apdu) for the floor replay.
    """

    def __init__(self, record: list[tuple[str, bytes]] | None = None) -> None:
        self.apdus = 0
        self.record = record

    def _send(self, link: Link, role: str, apdu: bytes) -> bytes:
        self.apdus += 1
        if self.record is not None:
            self.record.append((role, apdu))
        return link.transmit(apdu)

    def command(self, link: Link, role: str, apdu: bytes, what: str, *, data: bool = True) -> bytes:
        response = self._send(link, role, apdu)
        sw = _sw(response)
        if sw >> 8 == 0x6C:
            response = self._send(link, role, apdu[:-1] + bytes([sw & 0xFF]))
            sw = _sw(response)
        if sw >> 8 == 0x61:
            response = self._send(link, role, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            sw = _sw(response)
        if sw != SW_OK:
            raise BenchError(f"{what} on {link.label}: SW {sw & 0xFFFF:04X}")
        if data and len(response) <= 2:
            raise BenchError(f"{what} on {link.label}: 9000 without data")
        return response[:-2]


def _region_f2(card_id: bytes) -> bytes:
    """F2 = ASCII of the 6-digit region code (first 3 bytes of the card id, BCD) ‖ "sx"."""
    return card_id[:3].hex().encode("ascii") + b"sx"


def _read_record(term: Terminal, card: Link, p2: int, tag: int, length: int) -> bytes:
    tlv = term.command(
        card, "card", bytes([0x00, 0xB2, tag, p2, length + 2]), f"READ RECORD {tag:02X}"
    )
    if len(tlv) != length + 2 or tlv[0] != tag or tlv[1] != length:
        raise BenchError(f"READ RECORD {tag:02X} on {card.label}: unexpected TLV {tlv.hex()}")
    return tlv


def _psam_cryptogram(
    term: Terminal, psam: Link, kidx: int, *, f1: bytes, f2: bytes, r: bytes, x: bytes
) -> bytes:
    des_init = bytes([0xBF, 0xDE, USAGE_TWO_LEVELS, kidx, 0x18]) + f1 + f2 + r
    term.command(psam, "psam", des_init, "DES INIT", data=False)
    return term.command(psam, "psam", bytes.fromhex("80FA000008") + x, "ENCRYPT")


def basic_read(term: Terminal, card: Link, psam: Link) -> int:
    """Section 9 steps 2-5 on a powered card (PSAM DF01 selected); returns the APDU count."""
    f1 = card.atr[-8:]
    with transaction(card, psam):
        fci = term.command(
            card, "card", bytes([0x00, 0xA4, 0x04, 0x00, len(SSSE_NAME)]) + SSSE_NAME, "SELECT SSSE"
        )
        if len(fci) < 3 or fci[-3:-1] != b"\x86\x01":
            raise BenchError(f"SELECT SSSE on {card.label}: FCI without algorithm: {fci.hex()}")
        alg = fci[-1]
        flag = SM4_INDEX_FLAG if alg == ALG_SM4 else 0
        card_id = _read_record(term, card, P2_EF05_BY_TAG, 0x01, EF05_TAGS[0x01])[2:]
        f2 = _region_f2(card_id)
        p, s = os.urandom(8), os.urandom(8)
        answer = term.command(
            card, "card", bytes.fromhex("0088000110") + p + s, "INTERNAL AUTHENTICATE"
        )
        expected = _psam_cryptogram(term, psam, KID_IRK | flag, f1=f1, f2=f2, r=p, x=s)
        if not hmac.compare_digest(answer, expected):
            raise BenchError(f"INTERNAL AUTHENTICATE on {card.label}: the PSAM does not agree")
        if alg == ALG_SM4:  # generation 3: EF06 needs RKSSSE
            r = term.command(card, "card", GET_CHALLENGE, "GET CHALLENGE")
            x = os.urandom(8)
            c = _psam_cryptogram(term, psam, KID_RKSSSE | flag, f1=f1, f2=f2, r=r, x=x)
            term.command(
                card,
                "card",
                bytes.fromhex("0082000A10") + c + x,
                "EXTERNAL AUTHENTICATE",
                data=False,
            )
        for tag, length in EF05_TAGS.items():
            if tag != 0x01:
                _read_record(term, card, P2_EF05_BY_TAG, tag, length)
        for tag, length in EF06_TAGS.items():
            _read_record(term, card, P2_EF06_BY_TAG, tag, length)
    return term.apdus


def replay(script: Sequence[tuple[str, bytes]], card: Link, psam: Link) -> int:
    """The recorded APDUs of a read, to floor cards (9000 each), with the same transactions."""
    with transaction(card, psam):
        for role, apdu in script:
            response = (card if role == "card" else psam).transmit(apdu)
            if response != b"\x90\x00":
                raise BenchError(f"floor replay: {response.hex()} from {card.label}")
    return len(script)


# --- measuring -----------------------------------------------------------------------------


class Kind(enum.Enum):
    GET_CHALLENGE = "GET CHALLENGE"
    BASIC_READ = "basic read"


@dataclass
class Job:
    """One target of one benchmark: a batch runner and what it measured so far."""

    key: str
    kind: Kind
    label: str
    total: int  # operations to measure
    batch: int
    warmup: int
    run: Callable[[int, list[int]], int]  # (ops, latencies out) -> ns spent (APDUs counted inside)
    apdus_per_op: float = 1.0
    samples: list[int] = field(default_factory=list)
    elapsed_ns: int = 0
    available: bool = True
    note: str = ""

    @property
    def remaining(self) -> int:
        return self.total - len(self.samples) if self.available else 0


def gc_runner(link: Link, expect: int) -> Callable[[int, list[int]], int]:
    """Batches of GET CHALLENGE in one transaction; checks length and SW of every answer."""
    transmit = scard.SCardTransmit
    clock = time.perf_counter_ns
    apdu = list(GET_CHALLENGE)
    hcard, pci = link.hcard, link.pci

    def run(count: int, out: list[int]) -> int:
        start = clock()
        with transaction(link):
            for _ in range(count):
                t0 = clock()
                hresult, response = transmit(hcard, pci, apdu)
                t1 = clock()
                if hresult != 0 or len(response) != expect or response[-2:] != [0x90, 0x00]:
                    _check(hresult, f"GET CHALLENGE on {link.label}")
                    raise BenchError(
                        f"GET CHALLENGE on {link.label}: answer {bytes(response).hex()}"
                    )
                out.append(t1 - t0)
        return clock() - start

    return run


def op_runner(op: Callable[[], int]) -> Callable[[int, list[int]], int]:
    """Batches of a whole operation (one read); each sample is one operation."""
    clock = time.perf_counter_ns

    def run(count: int, out: list[int]) -> int:
        start = clock()
        for _ in range(count):
            t0 = clock()
            op()
            out.append(clock() - t0)
        return clock() - start

    return run


def measure(jobs: Sequence[Job], deadline: float) -> bool:
    """Warm every job up, then run batches in rounds (rotating order); False if cut short."""
    for job in jobs:
        if job.available and job.warmup:
            try:
                job.run(job.warmup, [])
            except BenchError as exc:
                job.available, job.note = False, f"failed in warm-up: {exc}"
    active = [job for job in jobs if job.available]
    round_no = 0
    while any(job.remaining for job in active):
        if time.monotonic() > deadline:
            return False
        turn = round_no % len(active)
        for job in active[turn:] + active[:turn]:
            count = min(job.batch, job.remaining)
            if not count:
                continue
            done = len(job.samples)
            try:
                job.elapsed_ns += job.run(count, job.samples)
            except BenchError as exc:  # one target failing must not hide the others' figures
                del job.samples[done:]
                job.available, job.note = False, f"failed after {done} ops: {exc}"
        round_no += 1
    return True


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    benchmark: str
    target: str
    available: bool
    ops: int
    apdus_per_op: float
    rate: float  # ops/s
    apdu_rate: float
    p50_us: float
    p99_us: float
    vs_floor: float | None
    vs_vicc: float | None
    note: str


FLOOR_OF: Final = {
    "gc_gen2": "gc_floor",
    "gc_gen3": "gc_floor",
    "read_gen2": "read_gen2_floor",
    "read_gen3": "read_gen3_floor",
}
VICC_OF: Final = {"gc_gen2": "gc_vicc", "gc_gen3": "gc_vicc"}
VICC_KEYS: Final = frozenset({"gc_vicc", "gc_vicc_plain"})  # may be unavailable; ours may not


def rows(jobs: Sequence[Job]) -> list[Row]:
    by_key = {job.key: job for job in jobs}

    def rate(job: Job) -> float:
        return (
            len(job.samples) / (job.elapsed_ns / 1e9)
            if job.elapsed_ns and job.available
            else math.nan
        )

    def ratio(key: str, other: str | None) -> float | None:
        if other is None or other not in by_key:
            return None
        a, b = rate(by_key[key]), rate(by_key[other])
        return a / b if b and not math.isnan(a) and not math.isnan(b) else None

    out = []
    for job in jobs:
        ordered = sorted(job.samples)
        r = rate(job)
        out.append(
            Row(
                key=job.key,
                benchmark=job.kind.value,
                target=job.label,
                available=job.available,
                ops=len(job.samples),
                apdus_per_op=job.apdus_per_op,
                rate=r,
                apdu_rate=r * job.apdus_per_op,
                p50_us=percentile(ordered, 50),
                p99_us=percentile(ordered, 99),
                vs_floor=ratio(job.key, FLOOR_OF.get(job.key)),
                vs_vicc=ratio(job.key, VICC_OF.get(job.key)),
                note=job.note,
            )
        )
    return out


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def markdown(table: Sequence[Row]) -> str:
    lines = [
        "| benchmark | target | n | APDUs/op | ops/s | APDU/s | p50 µs | p99 µs "
        "| ours/floor | ours/vicc |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in table:
        if not row.available:
            lines.append(
                f"| {row.benchmark} | {row.target} | – | – | unavailable | – | – | – | – | – |"
            )
            continue
        lines.append(
            f"| {row.benchmark} | {row.target} | {row.ops} | {_num(row.apdus_per_op, 0)} "
            f"| {_num(row.rate)} | {_num(row.apdu_rate)} | {_num(row.p50_us)} | {_num(row.p99_us)} "
            f"| {_num(row.vs_floor, 2)} | {_num(row.vs_vicc, 2)} |"
        )
    notes = [f"- {row.target}: {row.note}" for row in table if row.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def verdict(table: Sequence[Row]) -> str:
    ours = [r for r in table if r.key in ("gc_gen2", "gc_gen3") and r.available]
    if not ours:
        return "GET CHALLENGE target: not measured"
    floor = [r.vs_floor for r in ours if r.vs_floor is not None]
    vicc = [r.vs_vicc for r in ours if r.vs_vicc is not None]
    parts = []
    if floor:
        worst = min(floor)
        parts.append(
            f"ours/floor {worst:.3f} (target ≥ 0.80: {'met' if worst >= 0.8 else 'NOT met'})"
        )
    if vicc:
        worst = min(vicc)
        parts.append(f"ours/vicc {worst:.3f} (target > 1: {'met' if worst > 1 else 'NOT met'})")
    else:
        parts.append("ours/vicc: vicc unavailable")
    return "GET CHALLENGE, worse of gen 2/3: " + "; ".join(parts)


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    n: int
    reads: int
    plain_vicc: int
    gc_batch: int
    read_batch: int
    gc_warmup: int
    read_warmup: int
    max_seconds: float
    port: int
    in_process: bool
    vicc_lib: Path
    lock: bool
    lock_wait: float


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    n = args.n if args.n is not None else (200 if quick else 3000)
    reads = args.reads if args.reads is not None else (20 if quick else 300)
    if n < 1 or reads < 1:
        raise BenchError("--n and --reads must be at least 1")
    return Settings(
        n=n,
        reads=reads,
        plain_vicc=args.plain_vicc if args.plain_vicc is not None else (4 if quick else 30),
        gc_batch=max(1, min(50, n // 20)),  # about 60 rounds at the defaults
        read_batch=max(1, min(5, reads // 20)),
        gc_warmup=20 if quick else 200,
        read_warmup=2 if quick else 20,
        max_seconds=args.max_seconds
        if args.max_seconds is not None
        else (60.0 if quick else 150.0),
        port=args.port,
        in_process=args.in_process,
        vicc_lib=Path(args.vicc_lib),
        lock=not args.no_lock,
        lock_wait=args.lock_wait,
    )


@contextlib.contextmanager
def our_simulators(settings: Settings, workdir: Path) -> Iterator[None]:
    """Gen 2, gen 3, PSAM and two floor cards in slots 0-4 (a `cardsvc sim` process by default)."""
    host = "127.0.0.1"
    if settings.in_process:
        from simulators.floor import FloorCard  # noqa: PLC0415 - only in this mode
        from simulators.psam import Psam  # noqa: PLC0415
        from simulators.ssc_card import UserCard  # noqa: PLC0415
        from simulators.vpcd import VpcdSlot  # noqa: PLC0415

        cards: list[SimulatedCard] = [
            UserCard.from_file(EXAMPLES / "gen2.json"),
            UserCard.from_file(EXAMPLES / "gen3.json"),
            Psam.from_file(EXAMPLES / "psam.json"),
            FloorCard(),
            FloorCard(),
        ]
        slots = [
            VpcdSlot(card, host, settings.port + k, name=f"bench slot {k}")
            for k, card in enumerate(cards)
        ]
        try:
            for slot in slots:
                slot.start()
            yield
        finally:
            for slot in slots:
                slot.stop()
        return
    args = [
        sys.executable, "-m", "cardsvc.cli.main", "sim",
        "--card", str(EXAMPLES / "gen2.json"), "--card", str(EXAMPLES / "gen3.json"),
        "--psam", str(EXAMPLES / "psam.json"), "--floor", "2",
        "--vpcd", f"{host}:{settings.port}", "--no-stdin", "--control-port", "0",
    ]  # fmt: skip
    log = workdir / "cardsvc-sim.log"
    with child(args, log) as proc:
        time.sleep(0.2)
        if proc.poll() is not None:
            raise BenchError(f"cardsvc sim exited with status {proc.returncode}: {log_tail(log)}")
        yield


@dataclass
class Stack:
    """What `bench_stack` set up: a PC/SC context, one link per slot that has a card."""

    context: Any
    links: dict[Slot, Link]
    unavailable: dict[Slot, str]  # slot -> why it has no card (vicc only)
    lock_wait_s: float  # how long the PC/SC lock took (other sessions were using pcscd)
    setup_s: float  # pcscd, simulators, vicc and connections, after the lock


@contextlib.contextmanager
def bench_stack(settings: Settings) -> Iterator[Stack]:
    """Lock, pcscd, our simulators, vicc, connections; all stopped again on the way out."""
    ports = [settings.port + 2 * i for i in range(ENTRIES)]
    vicc = check_vicc(sys.executable, settings.vicc_lib)
    asked = time.monotonic()
    with contextlib.ExitStack() as stack:
        if settings.lock:
            stack.enter_context(MachineLock(settings.lock_wait))
        locked = time.monotonic()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cardsvc-bench-")))
        pcscd = PrivatePcscd(ports)
        stack.enter_context(pcscd)
        readers = pcscd.reader_names
        stack.enter_context(our_simulators(settings, workdir))
        vicc_logs: dict[Slot, Path] = {}
        vicc_procs: dict[Slot, Any] = {}
        if vicc.available:  # after pcscd: vicc connects to vpcd once and exits if it is not there
            env = vicc_env(settings.vicc_lib)
            scripts = ((Slot.VICC, QUICKACK_WRAPPER), (Slot.VICC_PLAIN, VICC_SCRIPT))
            for slot, script in scripts:
                vicc_logs[slot] = workdir / f"vicc-{slot.value}.log"
                port = str(settings.port + slot.value)
                args = [sys.executable, str(script), "-t", "iso7816", "-H", "127.0.0.1", "-P", port]
                vicc_procs[slot] = stack.enter_context(child(args, vicc_logs[slot], env))

        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "establish a PC/SC context")
        stack.callback(scard.SCardReleaseContext, context)
        vicc_slots = (Slot.VICC, Slot.VICC_PLAIN)
        wanted = [readers[s] for s in Slot if vicc.available or s not in vicc_slots]
        missing = wait_present(context, wanted, PRESENT_WAIT_S)
        ours_missing = [readers[s] for s in Slot if s not in vicc_slots and readers[s] in missing]
        if ours_missing:
            raise BenchError(f"pcscd saw no card in {ours_missing} within {PRESENT_WAIT_S:.0f} s")
        unavailable: dict[Slot, str] = {}
        for slot in vicc_slots:
            if not vicc.available:
                unavailable[slot] = vicc.reason
            elif readers[slot] in missing:
                proc = vicc_procs[slot]
                code = proc.poll()
                status = f"exited with status {code}" if code is not None else "still running"
                unavailable[slot] = (
                    f"vicc never appeared in its reader ({status}): {log_tail(vicc_logs[slot])}"
                )

        links: dict[Slot, Link] = {}
        for slot in Slot:
            if slot not in unavailable:
                link = Link(context, readers[slot], slot.name.lower())
                links[slot] = link
                stack.callback(link.close)
        psam = links[Slot.PSAM]
        select_df01 = bytes([0x00, 0xA4, 0x04, 0x00, len(PSAM_DF01)]) + PSAM_DF01
        with transaction(psam):
            Terminal().command(psam, "psam", select_df01, "SELECT DF01", data=False)
        yield Stack(context, links, unavailable, locked - asked, time.monotonic() - locked)


def run(settings: Settings, out: IO[str]) -> dict[str, object]:
    """Set up, measure, print the table; returns the figures (JSON-able)."""
    load_before = os.getloadavg()
    with bench_stack(settings) as stack:
        started = time.monotonic()
        jobs = build_jobs(settings, stack.links, stack.unavailable)
        complete = measure(jobs, started + settings.max_seconds)
        elapsed = time.monotonic() - started
    for job in jobs:
        if job.available and job.remaining:
            cut = f"cut short by --max-seconds at {len(job.samples)} of {job.total}"
            job.note = f"{job.note}; {cut}" if job.note else cut
    table = rows(jobs)
    print(markdown(table), file=out)
    print(f"\n{verdict(table)}", file=out)
    print(
        f"(measuring took {elapsed:.1f} s{'' if complete else ', cut short by --max-seconds'}; "
        f"setup {stack.setup_s:.1f} s; waited {stack.lock_wait_s:.1f} s for the PC/SC lock)",
        file=out,
    )
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "machine": {**machine(), "loadavg_before": load_before},
        "complete": complete,
        "failed": [row.key for row in table if not row.available and row.key not in VICC_KEYS],
        "seconds": {
            "measuring": round(elapsed, 2),
            "setup": round(stack.setup_s, 2),
            "lock_wait": round(stack.lock_wait_s, 2),
        },
        "rows": [asdict(row) for row in table],
        "verdict": verdict(table),
    }


def _unavailable_run(count: int, out: list[int]) -> int:
    raise BenchError("not available")


def build_jobs(
    settings: Settings, links: dict[Slot, Link], unavailable: dict[Slot, str]
) -> list[Job]:
    """The jobs in table order; a first basic read per generation checks the flow and is
    recorded for its floor replay."""
    s = settings
    jobs: list[Job] = []
    gc_targets = (
        ("gc_gen2", Slot.GEN2, "ours, gen 2 card", GC_CARD_ANSWER),
        ("gc_gen3", Slot.GEN3, "ours, gen 3 card", GC_CARD_ANSWER),
        ("gc_floor", Slot.FLOOR, "floor (answers 9000)", 2),
        ("gc_vicc", Slot.VICC, "vicc iso7816, TCP_QUICKACK", GC_CARD_ANSWER),
        ("gc_vicc_plain", Slot.VICC_PLAIN, "vicc iso7816, as shipped", GC_CARD_ANSWER),
    )
    for key, slot, label, expect in gc_targets:
        plain = slot is Slot.VICC_PLAIN  # ~40 ms an APDU: a few, one per round
        job = Job(
            key=key,
            kind=Kind.GET_CHALLENGE,
            label=label,
            total=s.plain_vicc if plain else s.n,
            batch=1 if plain else s.gc_batch,
            warmup=1 if plain else s.gc_warmup,
            run=_unavailable_run,
        )
        link = links.get(slot)
        if link is None:
            job.available, job.note = False, f"unavailable: {unavailable.get(slot, 'no card')}"
        else:
            job.run = gc_runner(link, expect)
        jobs.append(job)

    psam, floor, floor_psam = links[Slot.PSAM], links[Slot.FLOOR], links[Slot.FLOOR_PSAM]
    for gen, slot in ((2, Slot.GEN2), (3, Slot.GEN3)):
        card = links[slot]
        script: list[tuple[str, bytes]] = []
        count = basic_read(Terminal(script), card, psam)

        def read(card: Link = card) -> int:
            return basic_read(Terminal(), card, psam)

        def floor_read(script: list[tuple[str, bytes]] = script) -> int:
            return replay(script, floor, floor_psam)

        for key, label, op in (
            (f"read_gen{gen}", f"ours, gen {gen} card + PSAM", read),
            (f"read_gen{gen}_floor", f"floor replay of the gen {gen} APDUs", floor_read),
        ):
            jobs.append(
                Job(
                    key=key,
                    kind=Kind.BASIC_READ,
                    label=label,
                    total=s.reads,
                    batch=s.read_batch,
                    warmup=s.read_warmup,
                    run=op_runner(op),
                    apdus_per_op=float(count),
                )
            )
    return jobs


# --- entry point ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Simulator throughput through pcscd: our cards vs a floor responder vs vicc",
    )
    parser.add_argument(
        "--n", type=int, default=None, help="GET CHALLENGEs per target (default 3000; --quick 200)"
    )
    parser.add_argument(
        "--reads", type=int, default=None, help="basic reads per target (default 300; --quick 20)"
    )
    parser.add_argument(
        "--plain-vicc",
        type=int,
        default=None,
        metavar="N",
        help="GET CHALLENGEs on plain vicc (slow: delayed ACKs; default 30, --quick 4)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument(
        "--json", metavar="FILE", help="also write the figures and the machine as JSON"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="first vpcd TCP port; 8 are used (default %(default)s)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run our simulators as threads of this process, not as a `cardsvc sim` process",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="measuring stops after this long (default 150; --quick 60)",
    )
    parser.add_argument(
        "--vicc-lib",
        default=str(VICC_LIB),
        help="folder holding vicc's virtualsmartcard package (default %(default)s)",
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


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # so that the finally blocks stop what we started
    try:
        settings = settings_from(args)
        result = run(settings, sys.stdout)
    except BenchError as exc:
        print(f"sim_throughput: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sim_throughput: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # pcscd manager errors and the like: one line, no traceback
        print(f"sim_throughput: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    failed = result["failed"]
    if failed:
        print(f"sim_throughput: failed: {failed} (see the notes under the table)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
