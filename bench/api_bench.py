"""HTTP API benchmark (issue 5): an authenticated enquiry against a floor app.

    .venv/bin/python bench/api_bench.py                      # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/api_bench.py --engine sqlite
    .venv/bin/python bench/api_bench.py --quick --engine sqlite --json out.json  (smoke test)

One run, everything on loopback:

1. A database of its own: PostgreSQL ``cardsvc_api_bench_<pid>`` created on
   ``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and
   dropped at the end, or a SQLite file in a temporary directory.
2. ``cardsvc seed --demo --persons N`` (migrations first), card files for the kiosks,
   and the benchmark's own callers at district 370402: ``--connections`` clerks and
   as many kiosks, each signed in over HTTP (its own bearer token, so each has its own
   rate-limit counter as real callers do).
3. Two servers on free loopback ports with the same worker count (``--workers``):
   ``cardsvc serve --workers N`` and the floor app (bench/api_floor_app.py: one
   primary-key select) under uvicorn.
4. Targets, measured in alternating slices (``--seconds`` per target in ``--slices``
   rounds, the order rotating every round), with ``--connections`` concurrent clients:

   - ``e02_kiosk``: ``GET /v1/persons/{ssn}/contributions`` from kiosks, each in its own
     PIN-verified card session (``X-Card-Session``) for its own card (the issue's case);
   - ``e02_clerk``: the same enquiry from clerks of 370402 for persons living there,
     without a card session (site scope);
   - ``floor``: ``GET /persons/{id}`` on the floor app, over the same persons;
   - ``healthz``: ``GET /healthz`` of cardsvc (no database: the framework's ceiling);
   - ``kiosk_flow``: the whole kiosk flow (card session → proof with the simulated
     card's answers → E02 and E01 → card out), flows per second (Python client).

   wrk drives the GET targets (``--loadgen auto``: wrk when installed, else the Python
   client); the kiosk flow always uses the Python client (its steps need the card).
5. A table (Markdown) with requests/s, p50, p99, the ratio to the floor, the headroom
   against the city's estimated peak (200 requests/s), and the server's CPU time per
   answer (its process tree, /proc; robust to a shared machine, unlike requests/s);
   on PostgreSQL also what the database's backends were doing meanwhile (locks, WAL
   syncs, waiting for the application: api_bench_pgwait). ``--json`` writes it all.

SIGTERM or Ctrl-C stop the servers and drop the database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

# the bench directory is not a package: its modules are imported from the path above
from api_bench_cpu import CpuMeter, available
from api_bench_kiosk import (
    KioskError,
    enquiry_paths,
    kiosk_flow,
    load_cards,
    verified_session,
)
from api_bench_load import (
    Call,
    LoadError,
    Result,
    Slice,
    Target,
    get_step,
    run_python,
    run_wrk,
    wrk_path,
)
from api_bench_pgwait import WaitProfile, WaitSampler, merge
from api_bench_setup import (
    SITE,
    Caller,
    Seeded,
    Server,
    SetupError,
    add_clerks,
    add_kiosks,
    bench_database,
    card_files,
    in_scope,
    seed,
    serve_api,
    serve_floor,
    sign_in_devices,
    sign_in_operators,
)

CITY_PEAK_RPS = 200.0
TARGET_RATIO = 0.5
FLOW_REQUESTS = 5  # session, proof, two enquiries, card out
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
SCOPE_PERSONS = 500
WAIT_SHOWN = 0.1
"""Backend states averaging fewer backends than this are summed as "other" in the table."""

LABELS: dict[str, str] = {
    "e02_kiosk": "E02 contributions, kiosk in a verified card session",
    "e02_clerk": "E02 contributions, clerk in site scope",
    "floor": "floor: FastAPI + one primary-key select",
    "healthz": "cardsvc GET /healthz (no database)",
    "kiosk_flow": "kiosk flow: session → proof → E02 + E01 → card out",
}


class BenchError(Exception):
    """The benchmark could not run; the message says why."""


@dataclass(frozen=True)
class Config:
    engine: str
    pg_url: str
    persons: int
    workers: int
    connections: int
    seconds: float
    slices: int
    warmup: float
    loadgen: str
    wrk_threads: int
    keep: bool
    work_dir: Path
    json_out: Path | None


# --------------------------------------------------------------------------- measuring

Runner = Callable[[float], Slice]


@dataclass
class Measured:
    key: str
    run: Runner
    result: Result
    meter: CpuMeter | None = None
    cpu: dict[str, float] = field(
        default_factory=lambda: {"server": 0.0, "client": 0.0, "database": 0.0}
    )
    waits: list[WaitProfile] = field(default_factory=list)
    connections_opened: int | None = None

    def slice(self, seconds: float, sampler: WaitSampler | None) -> Slice:
        """One measured slice, with the CPU time it cost and what PostgreSQL did meanwhile."""
        before = self.meter.sample() if self.meter else None
        sessions = sampler.sessions() if sampler is not None else None
        if sampler is not None:
            sampler.take()  # drop what was sampled between slices
        measured = self.run(seconds)
        if sampler is not None:
            self.waits.append(sampler.take())
            opened = sampler.sessions()
            if sessions is not None and opened is not None:
                self.connections_opened = (self.connections_opened or 0) + opened - sessions
        if self.meter and before:
            after = self.meter.sample()
            self.cpu["server"] += after.server - before.server
            self.cpu["client"] += after.client - before.client
            self.cpu["database"] += after.database - before.database
        return measured


def _wrk_or_python(config: Config, target: Target) -> Runner:
    if config.loadgen == "wrk":

        def by_wrk(seconds: float) -> Slice:
            return run_wrk(
                target, seconds=seconds, connections=config.connections,
                threads=config.wrk_threads, work_dir=config.work_dir,
            )  # fmt: skip

        return by_wrk
    step = get_step(target)

    def by_python(seconds: float) -> Slice:
        return run_python(target.base_url, step, seconds=seconds, connections=config.connections)

    return by_python


def _check_first(target: Target, expect: str) -> None:
    """One request of `target` answers 200 with `expect` in its body, or BenchError."""
    call = target.calls[0]
    response = httpx.get(target.base_url + call.path, headers=dict(call.headers), timeout=30.0)
    if response.status_code != 200 or expect not in response.text:
        raise BenchError(
            f"{target.key}: {call.path} answered {response.status_code}: {response.text[:400]}"
        )


def measure(config: Config, targets: list[Measured], sampler: WaitSampler | None) -> None:
    """Warm each target up, then `slices` rounds of alternating slices (order rotating)."""
    per_slice = config.seconds / config.slices
    for target in targets:
        if config.warmup > 0:
            target.run(config.warmup)
    for round_no in range(config.slices):
        shift = round_no % len(targets)
        for target in targets[shift:] + targets[:shift]:
            target.result.slices.append(target.slice(per_slice, sampler))
            progress(
                f"round {round_no + 1}/{config.slices} {target.key}: "
                f"{target.result.slices[-1].requests} answers"
            )


# --------------------------------------------------------------------------- report


def _row(target: Measured, floor: Result | None, per_answer: int = 1) -> dict[str, object]:
    """One row of the table: `per_answer` HTTP requests make one answer (a kiosk flow: 5)."""
    result = target.result
    rps = result.ok_per_s
    row: dict[str, object] = {
        "key": result.key,
        "label": LABELS[result.key],
        "answers": result.requests,
        "seconds": round(result.seconds, 2),
        "per_s": round(rps, 1),
        "p50_ms": round(result.percentile_ms(50), 2),
        "p99_ms": round(result.percentile_ms(99), 2),
        "non_2xx": result.bad_status,
        "errors": result.errors,
        "http_requests_per_answer": per_answer,
        "http_requests_per_s": round(rps * per_answer, 1),
    }
    if floor is not None and floor.ok_per_s > 0 and result.key.startswith("e02"):
        row["vs_floor"] = round(rps / floor.ok_per_s, 3)
    row["headroom_vs_city_peak"] = round(rps * per_answer / CITY_PEAK_RPS, 2)
    if target.meter is not None and result.requests > 0:
        per = 1000.0 / result.requests
        server_ms = target.cpu["server"] * per
        row["server_cpu_ms_per_answer"] = round(server_ms, 2)
        row["client_cpu_ms_per_answer"] = round(target.cpu["client"] * per, 2)
        row["database_cpu_ms_per_answer"] = round(target.cpu["database"] * per, 2)
        if server_ms > 0:
            # The most the server's Python could do with every core to itself (no database,
            # no client): an upper bound, not a forecast.
            row["server_cpu_bound_per_s"] = round((os.cpu_count() or 1) * 1000.0 / server_ms, 1)
    if target.waits:
        profile = merge(target.waits)
        row["postgres_backends"] = {k: round(v, 2) for k, v in profile.average.items()}
    if target.connections_opened is not None and result.requests > 0:
        # New PostgreSQL connections (a backend process each) per 1000 answers: a pool
        # that closes and reopens connections under load shows here.
        row["pg_connections_opened_per_1000"] = round(
            target.connections_opened * 1000 / result.requests, 1
        )
    return row


def markdown(rows: list[dict[str, object]]) -> str:
    head = (
        "| target | answers | per second (2xx) | p50 ms | p99 ms | non-2xx + errors "
        "| × floor | × city peak (200 req/s) | server CPU ms per answer (client) "
        "| database CPU ms per answer | server CPU-bound per second |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for row in rows:
        ratio = row.get("vs_floor")
        cpu = ""
        if "server_cpu_ms_per_answer" in row:
            cpu = f"{row['server_cpu_ms_per_answer']} ({row['client_cpu_ms_per_answer']})"
        lines.append(
            f"| {row['label']} | {row['answers']} | {row['per_s']} | {row['p50_ms']} "
            f"| {row['p99_ms']} | {row['non_2xx']} + {row['errors']} "
            f"| {'' if ratio is None else ratio} | {row['headroom_vs_city_peak']} "
            f"| {cpu} | {row.get('database_cpu_ms_per_answer', '')} "
            f"| {row.get('server_cpu_bound_per_s', '')} |"
        )
    table = head + "\n".join(lines)
    waits = [row for row in rows if isinstance(row.get("postgres_backends"), dict)]
    if waits:
        table += (
            "\n\nPostgreSQL backends of the benchmark database, average number in each "
            "state while the target ran (pg_stat_activity every 0.1 s; all of them in --json):"
            "\n\n"
            "| target | backends by state |\n|---|---|\n"
        )
        for row in waits:
            states = row["postgres_backends"]
            assert isinstance(states, dict)
            shown = {k: v for k, v in states.items() if v >= WAIT_SHOWN}
            rest = sum(v for k, v in states.items() if k not in shown)
            text = "; ".join(f"{k} {v}" for k, v in shown.items())
            if rest:
                text += f"; other states {round(rest, 2)}"
            opened = row.get("pg_connections_opened_per_1000")
            if opened is not None:
                text += f"; connections opened per 1000 answers: {opened}"
            table += f"| {row['label']} | {text} |\n"
    return table


def machine() -> dict[str, object]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    wrk_version = ""
    wrk = wrk_path()
    if wrk:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [wrk, "-v"], capture_output=True, text=True, timeout=5, check=False
            )
            wrk_version = (out.stdout + out.stderr).strip().splitlines()[0]
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "loadavg_after": os.getloadavg(),
    }


# --------------------------------------------------------------------------- run


@contextlib.contextmanager
def _servers(url: str, config: Config) -> Iterator[tuple[Server, Server]]:
    logs = config.work_dir / "logs"
    with ThreadPoolExecutor(max_workers=2) as pool:  # both start at once
        api_start = pool.submit(serve_api, url, config.workers, logs)
        floor_start = pool.submit(serve_floor, url, config.workers, logs)
        started = [f.result() for f in (api_start, floor_start) if f.exception() is None]
        failure = api_start.exception() or floor_start.exception()
    try:
        if failure is not None:
            raise failure
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def _has_card_sessions(api: Server) -> bool:
    paths = httpx.get(api.url + "/openapi.json", timeout=30.0).json().get("paths", {})
    return "/v1/card-sessions" in paths and "/v1/card-sessions/{session_id}/proof" in paths


@dataclass
class Report:
    """What a run found: the table's rows, notes, and the run's facts."""

    rows: list[dict[str, object]]
    notes: list[str]
    facts: dict[str, object]
    wall_seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {
            **self.facts,
            "wall_seconds": self.wall_seconds,
            "notes": self.notes,
            "machine": machine(),
            "rows": self.rows,
        }


_BEGAN = [time.monotonic()]


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN[0]:6.1f} s] {message}", file=sys.stderr)


def run(config: Config) -> Report:
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    _BEGAN[0] = time.monotonic()
    notes: list[str] = []
    with bench_database(config.engine, config.pg_url, keep=config.keep) as url:
        progress(f"seeding {config.persons} persons ({config.engine})")
        seeded = seed(url, config.persons)
        progress(f"seeded in {seeded.seconds:.1f} s; adding the benchmark's callers")
        clerks = add_clerks(url, config.connections)
        kiosks = add_kiosks(url, config.connections)
        people = in_scope(url, SCOPE_PERSONS)
        progress(f"starting cardsvc serve and the floor app ({config.workers} workers each)")
        with _servers(url, config) as (api, floor):
            progress("signing in")
            clerk_tokens = sign_in_operators(api.url, clerks)
            e02_clerk = Target(
                "e02_clerk",
                api.url,
                tuple(
                    Call(
                        f"/v1/persons/{ssn}/contributions",
                        (("Authorization", "Bearer " + clerk_tokens[i % len(clerk_tokens)]),),
                    )
                    for i, (_, ssn) in enumerate(people)
                ),
            )
            floor_target = Target(
                "floor", floor.url, tuple(Call(f"/persons/{pid}") for pid, _ in people)
            )
            healthz = Target("healthz", api.url, (Call("/healthz"),))
            _check_first(e02_clerk, '"contributions"')
            _check_first(floor_target, '"ssn"')
            _check_first(healthz, '"ok"')
            measured = [
                Measured("floor", _wrk_or_python(config, floor_target), Result("floor")),
                Measured("e02_clerk", _wrk_or_python(config, e02_clerk), Result("e02_clerk")),
                Measured("healthz", _wrk_or_python(config, healthz), Result("healthz")),
            ]
            if _has_card_sessions(api):
                measured[1:1] = _kiosk_targets(
                    config, url=url, seeded=seeded, api=api, kiosks=kiosks, notes=notes
                )
            else:
                notes.append(
                    "the card-session routes (POST /v1/card-sessions, …/proof) are not served: "
                    "e02_kiosk and kiosk_flow were not measured"
                )
            progress(f"measuring {len(measured)} targets, {config.seconds:g} s each")
            if available():
                for target in measured:
                    server = floor if target.key == "floor" else api
                    target.meter = CpuMeter(server.process.pid)
            sampler = None
            if config.engine == "postgresql":
                database = make_url(url).database
                assert database is not None
                sampler = WaitSampler(config.pg_url, database)
                sampler.start()
            try:
                measure(config, measured, sampler)
            finally:
                if sampler is not None:
                    sampler.stop()
                    if sampler.error:
                        notes.append(f"pg_stat_activity sampling stopped: {sampler.error}")
    by_key = {m.key: m for m in measured}
    floor_result = by_key["floor"].result
    order = ["e02_kiosk", "e02_clerk", "floor", "healthz", "kiosk_flow"]
    rows = [
        _row(by_key[key], floor_result, FLOW_REQUESTS if key == "kiosk_flow" else 1)
        for key in order
        if key in by_key
    ]
    facts: dict[str, object] = {
        "benchmark": "api_bench",
        "started": started.isoformat(timespec="seconds"),
        "loadavg_before": load_before,
        "engine": config.engine,
        "persons": seeded.persons,
        "seed_seconds": round(seeded.seconds, 1),
        "scope_persons": len(people),
        "workers": config.workers,
        "connections": config.connections,
        "seconds_per_target": config.seconds,
        "slices": config.slices,
        "loadgen": config.loadgen,
        "wrk_threads": config.wrk_threads,
        "site": SITE,
        "city_peak_rps": CITY_PEAK_RPS,
        "target_ratio": TARGET_RATIO,
    }
    return Report(rows=rows, notes=notes, facts=facts)


def _kiosk_targets(
    config: Config,
    *,
    url: str,
    seeded: Seeded,
    api: Server,
    kiosks: list[Caller],
    notes: list[str],
) -> list[Measured]:
    """e02_kiosk (wrk or Python) and kiosk_flow (Python), for as many kiosks as cards."""
    progress("card files, kiosk sign-in, verified card sessions")
    paths = card_files(url, seeded, config.connections, config.work_dir / "cards")
    cards = load_cards(paths)
    if not cards:
        raise BenchError("the seeded database has no active card to put in a kiosk")
    count = len(cards)
    if count < config.connections:
        notes.append(
            f"only {count} seeded cards for the kiosks: the kiosk rows use {count} clients"
        )
    tokens = sign_in_devices(api.url, kiosks[:count])
    with httpx.Client(base_url=api.url, timeout=30.0) as client:
        sessions = [verified_session(client, cards[i], tokens[i]) for i in range(count)]
    e02_kiosk = Target(
        "e02_kiosk",
        api.url,
        tuple(
            Call(
                enquiry_paths(cards[i].ssn)[0],
                (("Authorization", "Bearer " + tokens[i]), ("X-Card-Session", sessions[i])),
            )
            for i in range(count)
        ),
    )
    _check_first(e02_kiosk, '"contributions"')

    async def flow(client: httpx.AsyncClient, index: int) -> bool:
        return await kiosk_flow(client, cards[index], tokens[index])

    def by_python(seconds: float) -> Slice:
        return run_python(api.url, flow, seconds=seconds, connections=count)

    e02_run = _wrk_or_python(config, e02_kiosk)
    if count < config.connections:
        e02_run = _wrk_or_python(replace(config, connections=count), e02_kiosk)
    return [
        Measured("e02_kiosk", e02_run, Result("e02_kiosk")),
        Measured("kiosk_flow", by_python, Result("kiosk_flow")),
    ]


# --------------------------------------------------------------------------- CLI


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help=f"server URL (default {DEFAULT_PG})")
    parser.add_argument("--persons", type=int, default=2000, help="persons to seed (2000)")
    parser.add_argument("--workers", type=int, default=2, help="server workers, both apps (2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per target (20)")
    parser.add_argument("--slices", type=int, default=4, help="alternating rounds (4)")
    parser.add_argument("--warmup", type=float, default=2.0, help="per target, not counted (2)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--work-dir", type=Path, default=None, help="logs, scripts, card files")
    args = parser.parse_args(argv)
    if args.quick:
        args.persons, args.connections, args.seconds = 40, 2, 2.0
        args.slices, args.warmup, args.workers = 2, 0.0, 1
    for name in ("persons", "workers", "connections", "slices", "wrk_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if wrk_path() else "python"
    elif loadgen == "wrk" and not wrk_path():
        parser.error("wrk is not installed: apt-get install wrk, or --loadgen python")
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="cardsvc-api-bench-"))
    config = Config(
        engine=args.engine, pg_url=args.pg_url, persons=args.persons, workers=args.workers,
        connections=args.connections, seconds=args.seconds, slices=args.slices,
        warmup=args.warmup, loadgen=loadgen, wrk_threads=args.wrk_threads, keep=args.keep,
        work_dir=work_dir, json_out=args.json,
    )  # fmt: skip
    config.work_dir.mkdir(parents=True, exist_ok=True)
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    try:
        result = run(config)
    except (BenchError, SetupError, LoadError, KioskError, httpx.HTTPError) as exc:
        print(f"api_bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("api_bench: interrupted; the servers were stopped", file=sys.stderr)
        return 130
    result.wall_seconds = round(time.monotonic() - began, 1)
    print(markdown(result.rows))
    for note in result.notes:
        print(f"note: {note}")
    if config.json_out is not None:
        config.json_out.write_text(
            json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
