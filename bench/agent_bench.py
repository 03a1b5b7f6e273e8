"""The station agent's card insertion -> `card-inserted` event latency (issue 6).

One command, one run, one process tree:

    .venv/bin/python bench/agent_bench.py             # N = 60 insertions a side a generation
    .venv/bin/python bench/agent_bench.py --quick     # a tiny run; for the smoke test
    .venv/bin/python bench/agent_bench.py --json out.json

What it sets up (and stops again, whatever happens):

- the machine-wide PC/SC lock (/tmp/cardsvc-pcsc-tests.lock) the test suite takes;
- a demo city in SQLite (`cardsvc.demo.city.build_city`: migrations, `cardsvc seed
  --demo`, one card file per generation) and the API on it (`cardsvc serve` on a free
  loopback port, as `cardsvc demo` runs it);
- a private pcscd (`reader_driver.pcscd.PrivatePcscd`) with 2 vpcd entries = 4 slots on
  TCP ports --port .. --port+3 (default 35963), each slot a `VpcdSlot` of this process
  (the simulators: the seeded residents' cards and the example PSAM):
  slot 0 the PSAM agent's card reader, slot 1 the PSAM, slot 2 the key-service agent's
  card reader, slot 3 the bare read's card reader;
- two `cardsvc agent` processes signed in as the demo kiosk: `--reader slot0
  --sam-reader slot1` (the PSAM path) and `--reader slot2 --no-sam` (the key-service
  path: the API's key service checks INTERNAL AUTHENTICATE, and gives RKSSSE to gen 3).
  The bench follows each agent's `GET /v1/events` stream on a thread of its own.

What it measures, in rounds (each side once per round, the order rotating; the
generations take turns, so machine noise hits every side alike):

- agent (psam | key-service): from the moment the card goes into the vpcd slot to the
  moment the bench has read the agent's `card-inserted` event: pcscd noticing the card,
  the agent's SELECT / basic read / authentication, the card session with the API
  (open + prove), the hotlist decision, and the event over HTTP. Checked: the event
  names the card, `serve` is true and `authenticated_by` is the side's.
  The card is then taken out and the bench waits for `card-removed` (not timed).
- bare: the same insertion, then `reader_driver.wait_for_card` on a `PcscBackend` of
  this process, connect, and `SscSession(CardChannel(conn), psam).basic_read()` with the
  same PSAM (its own connection, opened once): no API, no HTTP. Its two parts are also
  reported: insertion -> pcscd has the card (`seen`), and connect + basic read (`read`).

Reported per generation: p50 and p99 of each side, and the ratios agent / bare (p50),
and (agent - bare seen) = what the agent adds after pcscd has the card, beside the bare
read. Timing is measured here, never asserted (docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Final

import httpx
from pcsc_bench_common import (
    EXAMPLES,
    ROOT,
    BenchError,
    MachineLock,
    log_tail,
    machine,
    percentile,
    raise_on_sigterm,
    stop_process,
)

from cardsvc.agent.client import AgentClient, AgentEvent
from cardsvc.card.security import PsamSecurityModule
from cardsvc.card.session import SscSession
from cardsvc.client import ApiProblem
from cardsvc.demo.api_server import ApiServer, free_port
from cardsvc.demo.city import KIOSK_DEVICE, City, build_city
from reader_driver import CardChannel, PcscBackend, wait_for_card
from reader_driver.pcscd import PrivatePcscd
from simulators.psam import Psam
from simulators.ssc_card import UserCard
from simulators.vpcd import VpcdSlot

DEFAULT_PORT: Final = 35963
ENTRIES: Final = 2  # vpcd reader.conf entries: 2 slots each
PSAM_READER_SLOT: Final = 0
SAM_SLOT: Final = 1
KEY_READER_SLOT: Final = 2
BARE_SLOT: Final = 3
GENERATIONS: Final = (2, 3)
SIDES: Final = ("psam", "key-service", "bare")
LAYER_TIMEOUT_S: Final = 5.0
EVENT_WAIT_S: Final = 30.0
READY_WAIT_S: Final = 30.0
PRESENT_WAIT_S: Final = 15.0
PERSONS: Final = 300
POLL_CYCLE_S: Final = 0.4  # pcscd looks for cards in a vpcd reader every 400 ms
PHASE_SEED: Final = 2011


# --- the agents ---------------------------------------------------------------------------


@dataclass
class Agent:
    """A `cardsvc agent` process and the bench's view of its event stream."""

    side: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    events: queue.SimpleQueue[tuple[int, AgentEvent]] = field(default_factory=queue.SimpleQueue)

    def follow(self) -> None:
        """Read the event stream on a daemon thread: (perf_counter_ns on receipt, event)."""
        ready = threading.Event()

        def run() -> None:
            client = AgentClient(self.url, timeout=EVENT_WAIT_S)
            try:
                stream = client.events(timeout=None)
                ready.set()
                for event in stream:
                    self.events.put((time.perf_counter_ns(), event))
            except ApiProblem:
                pass  # the agent stopped: the run is over
            finally:
                ready.set()
                client.close()

        threading.Thread(target=run, name=f"events {self.side}", daemon=True).start()
        ready.wait(READY_WAIT_S)

    def wait(self, kind: str, timeout: float = EVENT_WAIT_S) -> tuple[int, AgentEvent]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event.kind == kind:
                return at, event
            if event.kind == "card-error":
                raise BenchError(f"the {self.side} agent: card-error {event.data}")
        raise BenchError(
            f"the {self.side} agent sent no {kind} within {timeout:g} s: {log_tail(self.log)}"
        )

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.events.get_nowait()


@contextlib.contextmanager
def agent_process(
    side: str, api_url: str, city: City, workdir: Path, options: Sequence[str]
) -> Iterator[Agent]:
    credential = workdir / f"{side}.credential"
    credential.write_text(city.device_secret + "\n")
    credential.chmod(0o600)
    port = free_port()
    log = workdir / f"agent-{side}.log"
    command = [
        sys.executable, "-m", "cardsvc.cli.main", "agent", "--api", api_url,
        "--device", str(city.device_id(KIOSK_DEVICE)), "--credential-file", str(credential),
        "--port", str(port), *options,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
    env["PYTHONPATH"] = str(ROOT)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    agent = Agent(side, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(agent)
        agent.follow()
        yield agent
    finally:
        stop_process(process)


def _wait_ready(agent: Agent) -> None:
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if agent.process.poll() is not None:
            raise BenchError(
                f"the {agent.side} agent exited ({agent.process.returncode}): {log_tail(agent.log)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{agent.url}/v1/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"the {agent.side} agent did not answer: {log_tail(agent.log)}")


# --- the sides ----------------------------------------------------------------------------


@dataclass
class Samples:
    total_ns: list[int] = field(default_factory=list)  # insertion -> event (bare: read done)
    seen_ns: list[int] = field(default_factory=list)  # insertion -> pcscd has the card
    after_ns: list[int] = field(default_factory=list)  # pcscd has the card -> event / read done


@dataclass
class Rig:
    slots: dict[int, VpcdSlot]
    agents: dict[str, Agent]
    backend: PcscBackend
    psam: PsamSecurityModule
    readers: tuple[str, ...]
    cards: dict[int, dict[str, UserCard]]  # generation -> side -> card
    numbers: dict[int, str]
    phase: random.Random  # the wait before each insertion (pcscd polls its readers)

    def insert(self, slot: int, card: UserCard) -> tuple[int, int]:
        """Put `card` in at a random point of pcscd's polling cycle; (inserted, seen) ns."""
        time.sleep(self.phase.uniform(0.0, POLL_CYCLE_S))
        started = time.perf_counter_ns()
        self.slots[slot].swap(card)
        wait_for_card(self.backend, self.readers[slot], timeout=PRESENT_WAIT_S)
        return started, time.perf_counter_ns()


def _wait_absent(backend: PcscBackend, reader: str, timeout: float = PRESENT_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while any(i.name == reader and i.card_present for i in backend.readers()):
        if time.monotonic() > deadline:
            raise BenchError(f"pcscd still sees a card in {reader} after {timeout:g} s")
        time.sleep(0.01)


def agent_insertion(rig: Rig, side: str, generation: int, into: Samples) -> None:
    agent = rig.agents[side]
    number = PSAM_READER_SLOT if side == "psam" else KEY_READER_SLOT
    agent.drain()
    started, seen = rig.insert(number, rig.cards[generation][side])
    at, event = agent.wait("card-inserted")
    data = event.data
    if data.get("card_number") != rig.numbers[generation]:
        raise BenchError(f"the {side} agent presented {data.get('card_number')!r}")
    if data.get("serve") is not True or data.get("authenticated_by") != side:
        raise BenchError(
            f"the {side} agent: serve={data.get('serve')!r}, authenticated_by="
            f"{data.get('authenticated_by')!r}, error={data.get('error')!r}"
        )
    into.total_ns.append(at - started)
    into.seen_ns.append(seen - started)
    into.after_ns.append(at - seen)
    rig.slots[number].remove()
    agent.wait("card-removed")
    _wait_absent(rig.backend, rig.readers[number])


def bare_insertion(rig: Rig, generation: int, into: Samples) -> None:
    reader = rig.readers[BARE_SLOT]
    started, seen = rig.insert(BARE_SLOT, rig.cards[generation]["bare"])
    conn = rig.backend.connect(reader)
    try:
        read = SscSession(CardChannel(conn), rig.psam).basic_read()
    finally:
        conn.disconnect()
    done = time.perf_counter_ns()
    if read.card_number != rig.numbers[generation]:
        raise BenchError(f"the bare read gave card {read.card_number!r}")
    into.total_ns.append(done - started)
    into.seen_ns.append(seen - started)
    into.after_ns.append(done - seen)
    rig.slots[BARE_SLOT].remove()
    _wait_absent(rig.backend, reader)


def one_round(rig: Rig, k: int, samples: dict[tuple[int, str], Samples]) -> None:
    order = SIDES[k % len(SIDES) :] + SIDES[: k % len(SIDES)]
    gens = GENERATIONS if k % 2 == 0 else tuple(reversed(GENERATIONS))
    for generation in gens:
        for side in order:
            into = samples[(generation, side)]
            if side == "bare":
                bare_insertion(rig, generation, into)
            else:
                agent_insertion(rig, side, generation, into)


# --- the stack ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    n: int
    warmup: int
    max_seconds: float
    port: int
    lock: bool
    lock_wait: float
    persons: int


@dataclass
class Stack:
    rig: Rig
    lock_wait_s: float
    setup_s: float


def _card_files(city: City) -> dict[int, tuple[Path, str]]:
    index = json.loads((city.index.parent / "index.json").read_text(encoding="utf-8"))
    found: dict[int, tuple[Path, str]] = {}
    for entry in index["cards"]:
        gen = int(entry["generation"])
        if gen in GENERATIONS and gen not in found:
            found[gen] = (city.index.parent / entry["file"], str(entry["card_number"]))
    missing = [g for g in GENERATIONS if g not in found]
    if missing:
        raise BenchError(f"the seeded city has no card file of generation {missing}")
    return found


@contextlib.contextmanager
def bench_stack(settings: Settings) -> Iterator[Stack]:
    """Lock, city + API, pcscd + slots + PSAM, both agents, the bare side's backend."""
    ports = [settings.port + 2 * i for i in range(ENTRIES)]
    asked = time.monotonic()
    with contextlib.ExitStack() as stack:
        if settings.lock:
            stack.enter_context(MachineLock(settings.lock_wait))
        locked = time.monotonic()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cardsvc-agent-")))
        city = build_city(
            f"sqlite:///{workdir / 'city.db'}", workdir / "cards", persons=settings.persons
        )
        files = _card_files(city)
        api = stack.enter_context(ApiServer(city.database_url, workdir / "logs"))
        pcscd = stack.enter_context(PrivatePcscd(ports))
        readers = pcscd.reader_names
        slots: dict[int, VpcdSlot] = {}
        for k in range(len(readers)):
            slot = VpcdSlot(None, "127.0.0.1", pcscd.slot_ports[k], name=f"bench slot {k}")
            slot.remove()
            slot.start()
            stack.callback(slot.stop)
            slots[k] = slot
        backend = stack.enter_context(PcscBackend(timeout=LAYER_TIMEOUT_S))
        slots[SAM_SLOT].swap(Psam.from_file(EXAMPLES / "psam.json"))
        wait_for_card(backend, readers[SAM_SLOT], timeout=PRESENT_WAIT_S)
        agents = {
            "psam": stack.enter_context(
                agent_process(
                    "psam", api.url, city, workdir,
                    ["--reader", readers[PSAM_READER_SLOT], "--sam-reader", readers[SAM_SLOT]],
                )
            ),
            "key-service": stack.enter_context(
                agent_process(
                    "key-service", api.url, city, workdir,
                    ["--reader", readers[KEY_READER_SLOT], "--no-sam"],
                )
            ),
        }  # fmt: skip
        sam_conn = backend.connect(readers[SAM_SLOT])
        stack.callback(sam_conn.disconnect)
        psam = PsamSecurityModule.open(CardChannel(sam_conn))
        cards = {
            gen: {side: UserCard.from_file(path) for side in SIDES}
            for gen, (path, _number) in files.items()
        }
        numbers = {gen: number for gen, (_path, number) in files.items()}
        rig = Rig(slots, agents, backend, psam, readers, cards, numbers, random.Random(PHASE_SEED))
        yield Stack(rig, locked - asked, time.monotonic() - locked)


# --- figures ------------------------------------------------------------------------------


@dataclass
class Row:
    generation: int
    n: int
    total_p50_ms: dict[str, float]  # insertion -> card-inserted event (bare: read done)
    total_p99_ms: dict[str, float]
    seen_p50_ms: dict[str, float]  # insertion -> pcscd has the card
    after_p50_ms: dict[str, float]  # pcscd has the card -> event (bare: connect + read)
    after_p99_ms: dict[str, float]
    total_ratio_p50: dict[str, float]  # side / bare
    after_ratio_p50: dict[str, float]  # side / bare


def _ms(values: Sequence[int], q: float) -> float:
    return round(percentile(sorted(values), q) / 1000, 2)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else math.nan


def row(generation: int, samples: dict[tuple[int, str], Samples]) -> Row:
    got = {side: samples[(generation, side)] for side in SIDES}
    total50 = {s: _ms(x.total_ns, 50) for s, x in got.items()}
    after50 = {s: _ms(x.after_ns, 50) for s, x in got.items()}
    return Row(
        generation=generation,
        n=len(got["bare"].total_ns),
        total_p50_ms=total50,
        total_p99_ms={s: _ms(x.total_ns, 99) for s, x in got.items()},
        seen_p50_ms={s: _ms(x.seen_ns, 50) for s, x in got.items()},
        after_p50_ms=after50,
        after_p99_ms={s: _ms(x.after_ns, 99) for s, x in got.items()},
        total_ratio_p50={s: _ratio(total50[s], total50["bare"]) for s in SIDES},
        after_ratio_p50={s: _ratio(after50[s], after50["bare"]) for s in SIDES},
    )


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| gen | N | side | insertion -> event p50 / p99 ms | x bare | "
        "pcscd has it -> event p50 / p99 ms | x bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for side in SIDES:
            lines.append(
                f"| {r.generation} | {r.n} | {side} | "
                f"{r.total_p50_ms[side]:.1f} / {r.total_p99_ms[side]:.1f} | "
                f"{r.total_ratio_p50[side]:.2f} | "
                f"{r.after_p50_ms[side]:.1f} / {r.after_p99_ms[side]:.1f} | "
                f"{r.after_ratio_p50[side]:.2f} |"
            )
    lines.append("")
    lines.append(
        "insertion -> pcscd has the card, p50 (all sides): "
        + ", ".join(
            f"gen {r.generation} " + "/".join(f"{r.seen_p50_ms[s]:.0f}" for s in SIDES) + " ms"
            for r in rows
        )
    )
    return "\n".join(lines)


def settings_from(args: argparse.Namespace) -> Settings:
    n = args.n if args.n is not None else (3 if args.quick else 60)
    if n < 1:
        raise BenchError("--n must be at least 1")
    return Settings(
        n=n,
        warmup=1 if args.quick else 3,
        max_seconds=args.max_seconds
        if args.max_seconds is not None
        else (60.0 if args.quick else 600.0),
        port=args.port,
        lock=not args.no_lock,
        lock_wait=args.lock_wait,
        persons=args.persons,
    )


def run(settings: Settings, out: IO[str]) -> dict[str, object]:
    """Set up, measure, print the table; returns the figures (JSON-able)."""
    load_before = os.getloadavg()
    samples = {(g, s): Samples() for g in GENERATIONS for s in SIDES}
    with bench_stack(settings) as stack:
        warm = {(g, s): Samples() for g in GENERATIONS for s in SIDES}
        for k in range(settings.warmup):
            one_round(stack.rig, k, warm)
        started = time.monotonic()
        complete = True
        for k in range(settings.n):
            if time.monotonic() - started > settings.max_seconds:
                complete = False
                break
            one_round(stack.rig, k, samples)
        elapsed = time.monotonic() - started
    rows = [row(g, samples) for g in GENERATIONS]
    print(markdown(rows), file=out)
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
        "seconds": {
            "measuring": round(elapsed, 2),
            "setup": round(stack.setup_s, 2),
            "lock_wait": round(stack.lock_wait_s, 2),
        },
        "rows": [asdict(r) for r in rows],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Card insertion -> the agent's card-inserted event (PSAM and key-service "
        "paths), beside a bare basic read through the same pcscd"
    )
    parser.add_argument(
        "--n", type=int, default=None,
        help="insertions per side per generation (default 60; --quick 3)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument("--json", metavar="FILE", help="also write the figures and the machine")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help="first vpcd TCP port; 4 are used (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--persons", type=int, default=PERSONS,
        help="residents seeded into the city (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-seconds", type=float, default=None,
        help="measuring stops after this long (default 600; --quick 60)",
    )  # fmt: skip
    parser.add_argument(
        "--lock-wait", type=float, default=120.0,
        help="seconds to wait for the PC/SC lock (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--no-lock", action="store_true",
        help="do not take the PC/SC lock (only when the caller holds it, e.g. the test suite)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    try:
        settings = settings_from(args)
        result = run(settings, sys.stdout)
    except BenchError as exc:
        print(f"agent_bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("agent_bench: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # reader, card, pcscd and API errors: one line, no traceback
        print(f"agent_bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
