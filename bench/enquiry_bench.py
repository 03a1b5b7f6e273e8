"""Enquiry benchmark (issue 4): E01-E04 service calls at two city sizes, in one run.

    .venv/bin/python bench/enquiry_bench.py \\
        postgresql+psycopg://postgres@127.0.0.1:5432/cardsvc_bench_10k \\
        postgresql+psycopg://postgres@127.0.0.1:5432/cardsvc_bench_1m [--n 200] [--json FILE]

Both databases are seeded by ``cardsvc seed`` (same --seed and --as-of). For each
database the benchmark picks the same kind of sample: persons drawn by a
deterministic random choice of ids (``random.Random(--sample-seed)``) among those
with contributions. It acts as the operator ``supervisor.370400`` (the city site:
its scope covers every resident) and calls, per person, E01 insurance_participation,
E02 contribution_history (first page, limit 50), E03 personal_account and E04
benefit_payments, through the real service functions (one unit of work each).

Fairness: both databases are warmed up equally (``--warmup`` persons each, not
measured), then the sample is split into ``--rounds`` rounds; each round runs a
slice on one database then the other, the order alternating from round to round,
so that drift of the shared machine's load hits both sizes alike.

Every enquiry appends a journal entry (a write, serialised on the journal head row
with SELECT ... FOR UPDATE, then a commit): that is part of the real cost of an
enquiry and is measured with it. The databases grow by one journal entry per call.

Prints a Markdown table (size, item, calls/s, p50, p99) and the ratios large/small
per item; the target is a ratio <= 1.5. ``--json FILE`` writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from cardsvc.db import Database, open_database
from cardsvc.db.models import Operator
from cardsvc.services.actors import OperatorActor
from cardsvc.services.context import ServiceContext
from cardsvc.services.items.enquiries import (
    benefit_payments,
    contribution_history,
    insurance_participation,
    personal_account,
)

OPERATOR = "supervisor.370400"
TARGET_RATIO = 1.5
ITEMS = ("E01", "E02", "E03", "E04")

Enquiry = Callable[[ServiceContext, OperatorActor, str], object]


def _e01(ctx: ServiceContext, actor: OperatorActor, ssn: str) -> object:
    return insurance_participation(ctx, actor, ssn)


def _e02(ctx: ServiceContext, actor: OperatorActor, ssn: str) -> object:
    return contribution_history(ctx, actor, ssn, limit=50, offset=0)


def _e03(ctx: ServiceContext, actor: OperatorActor, ssn: str) -> object:
    return personal_account(ctx, actor, ssn)


def _e04(ctx: ServiceContext, actor: OperatorActor, ssn: str) -> object:
    return benefit_payments(ctx, actor, ssn)


CALLS: dict[str, Enquiry] = {"E01": _e01, "E02": _e02, "E03": _e03, "E04": _e04}


class BenchError(Exception):
    """The benchmark cannot run (a database is not seeded as expected)."""


@dataclass(frozen=True)
class Row:
    size: int
    """Persons in the database."""
    item: str
    calls: int
    calls_per_s: float
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Ratio:
    item: str
    p50_ratio: float
    """Large p50 / small p50."""
    p99_ratio: float
    throughput_ratio: float
    """Small calls/s / large calls/s (above 1: the large city is slower)."""
    ok: bool


@dataclass
class Target:
    url: str
    database: Database
    ctx: ServiceContext
    actor: OperatorActor
    persons: int
    size_bytes: int
    sample: list[str]
    warmup: list[str]
    latencies: dict[str, list[float]]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def _actor(database: Database) -> OperatorActor:
    with database.unit_of_work() as uow:
        op = uow.session.execute(
            select(Operator).where(Operator.username == OPERATOR)
        ).scalar_one_or_none()
        if op is None:
            raise BenchError(f"no operator {OPERATOR}: seed the database with `cardsvc seed`")
        return OperatorActor(
            operator_id=op.id,
            username=op.username,
            site_code=op.site_code,
            roles=frozenset(op.roles),
        )


def _sample(database: Database, n: int, seed: int) -> tuple[int, list[str]]:
    """(persons, SSNs of up to n persons with contributions, in a deterministic random order)."""
    with database.unit_of_work() as uow:
        session = uow.session
        persons = int(session.execute(text("SELECT count(*) FROM persons")).scalar_one())
        top = int(session.execute(text("SELECT coalesce(max(id), 0) FROM persons")).scalar_one())
        if top == 0:
            raise BenchError("the database has no persons: seed it with `cardsvc seed`")
        rng = random.Random(seed)
        want = min(top, 3 * n + 20)
        candidates = rng.sample(range(1, top + 1), want)
        rows = session.execute(
            text(
                "SELECT p.id, p.ssn FROM persons p WHERE p.id = ANY(:ids) "
                "AND EXISTS (SELECT 1 FROM contributions c WHERE c.person_id = p.id)"
            ),
            {"ids": candidates},
        ).all()
    ssn_of = {int(r[0]): str(r[1]) for r in rows}
    chosen = [ssn_of[i] for i in candidates if i in ssn_of][:n]
    if len(chosen) < n:
        raise BenchError(f"only {len(chosen)} persons with contributions found, wanted {n}")
    return persons, chosen


def _size(database: Database) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def open_target(url: str, n: int, warmup: int, seed: int) -> Target:
    database = open_database(url)
    if database.engine.dialect.name != "postgresql":
        database.dispose()
        raise BenchError(f"the benchmark is for PostgreSQL, got {database.engine.dialect.name}")
    actor = _actor(database)
    persons, ssns = _sample(database, n + warmup, seed)
    return Target(
        url=url,
        database=database,
        ctx=ServiceContext(database=database),
        actor=actor,
        persons=persons,
        size_bytes=_size(database),
        sample=ssns[warmup:],
        warmup=ssns[:warmup],
        latencies={item: [] for item in ITEMS},
    )


def _run(target: Target, ssns: Sequence[str], *, record: bool) -> None:
    for ssn in ssns:
        for item in ITEMS:
            call = CALLS[item]
            start = time.perf_counter()
            call(target.ctx, target.actor, ssn)
            elapsed = time.perf_counter() - start
            if record:
                target.latencies[item].append(elapsed)


def run_benchmark(small: Target, large: Target, rounds: int) -> None:
    """Warm both up, then alternate measured slices between them."""
    for target in (small, large):
        _run(target, target.warmup, record=False)
    n = len(small.sample)
    bounds = [n * r // rounds for r in range(rounds + 1)]
    for r in range(rounds):
        order = (small, large) if r % 2 == 0 else (large, small)
        for target in order:
            _run(target, target.sample[bounds[r] : bounds[r + 1]], record=True)


def rows_of(target: Target) -> list[Row]:
    rows: list[Row] = []
    every: list[float] = []
    for item in ITEMS:
        lat = target.latencies[item]
        every.extend(lat)
        rows.append(_row(target.persons, item, lat))
    rows.append(_row(target.persons, "all", every))
    return rows


def _row(size: int, item: str, lat: Sequence[float]) -> Row:
    total = sum(lat)
    return Row(
        size=size,
        item=item,
        calls=len(lat),
        calls_per_s=round(len(lat) / total, 1) if total > 0 else float("nan"),
        p50_ms=round(percentile(lat, 0.50) * 1000, 2),
        p99_ms=round(percentile(lat, 0.99) * 1000, 2),
    )


def ratios(small: Sequence[Row], large: Sequence[Row]) -> list[Ratio]:
    out: list[Ratio] = []
    for s, big in zip(small, large, strict=True):
        p50 = round(big.p50_ms / s.p50_ms, 2) if s.p50_ms > 0 else float("nan")
        p99 = round(big.p99_ms / s.p99_ms, 2) if s.p99_ms > 0 else float("nan")
        thr = round(s.calls_per_s / big.calls_per_s, 2) if big.calls_per_s > 0 else float("nan")
        out.append(Ratio(s.item, p50, p99, thr, p50 <= TARGET_RATIO and thr <= TARGET_RATIO))
    return out


def markdown(small: Sequence[Row], large: Sequence[Row], rat: Sequence[Ratio]) -> str:
    lines = [
        "| persons | item | calls | calls/s | p50 ms | p99 ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in [*small, *large]:
        lines.append(
            f"| {row.size:,} | {row.item} | {row.calls} | {row.calls_per_s:.1f} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} |"
        )
    lines += [
        "",
        f"| item | p50 ratio (large/small) | p99 ratio | throughput ratio (small/large) "
        f"| <= {TARGET_RATIO} |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rat:
        lines.append(
            f"| {r.item} | {r.p50_ratio:.2f} | {r.p99_ratio:.2f} | {r.throughput_ratio:.2f} "
            f"| {'yes' if r.ok else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("small_url", help="database URL of the small city (e.g. 10,000 persons)")
    parser.add_argument("large_url", help="database URL of the large city (e.g. 1,000,000)")
    parser.add_argument("--n", type=int, default=200, help="measured persons per database")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured persons per database")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--sample-seed", type=int, default=4, help="seed of the person sample")
    parser.add_argument("--quick", action="store_true", help="n=10, warmup=2, rounds=2")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.warmup, args.rounds = 10, 2, 2
    if args.n < 1 or args.warmup < 0 or not 1 <= args.rounds <= args.n:
        parser.error("need --n >= 1, --warmup >= 0 and 1 <= --rounds <= --n")

    targets: list[Target] = []
    try:
        try:
            for url in (args.small_url, args.large_url):
                targets.append(open_target(url, args.n, args.warmup, args.sample_seed))
        except BenchError as exc:
            print(f"enquiry_bench: {exc}", file=sys.stderr)
            return 2
        small, large = targets
        started = time.perf_counter()
        run_benchmark(small, large, args.rounds)
        wall = time.perf_counter() - started
        small_rows, large_rows = rows_of(small), rows_of(large)
        rat = ratios(small_rows, large_rows)
        print(markdown(small_rows, large_rows, rat))
        print()
        for t in targets:
            print(
                f"{t.persons:,} persons: database {t.size_bytes / 2**20:,.0f} MiB (before the run)"
            )
        print(f"wall time {wall:.1f} s; verdict: {'PASS' if all(r.ok for r in rat) else 'FAIL'}")
        if args.json is not None:
            payload: dict[str, Any] = {
                "operator": OPERATOR,
                "n": args.n,
                "warmup": args.warmup,
                "rounds": args.rounds,
                "wall_s": round(wall, 1),
                "sizes": {str(t.persons): t.size_bytes for t in targets},
                "rows": [asdict(r) for r in [*small_rows, *large_rows]],
                "ratios": [asdict(r) for r in rat],
                "target_ratio": TARGET_RATIO,
            }
            args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    finally:
        for t in targets:
            t.database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
