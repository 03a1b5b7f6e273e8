"""Smoke test of bench/enquiry_bench.py: a --quick run between two small seeded cities.

PostgreSQL only (the benchmark is about PostgreSQL): set CARDSVC_TEST_DATABASE_URL
to a server URL (as for tests/db). Two databases are created on that server, seeded
with 200 and 400 persons, benchmarked, and dropped. No timing thresholds: the table
has a row per size and item, and the figures are finite and ordered (p50 <= p99).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from cardsvc.db.engine import make_engine, normalise_url
from cardsvc.seed.options import SeedOptions
from cardsvc.seed.runner import seed_database

PG_ENV = "CARDSVC_TEST_DATABASE_URL"
BENCH = Path(__file__).resolve().parent.parent / "bench" / "enquiry_bench.py"
SIZES = (200, 400)
ITEMS = ("E01", "E02", "E03", "E04", "all")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("enquiry_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["enquiry_bench"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_cities() -> Iterator[tuple[str, str]]:
    raw = os.environ.get(PG_ENV, "").strip()
    if not raw:
        pytest.skip(f"the enquiry benchmark needs PostgreSQL: set {PG_ENV}")
    server: URL = normalise_url(raw)
    admin = create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    prefix = f"cardsvc_test_enqbench_{secrets.token_hex(4)}"
    urls: list[str] = []
    try:
        for persons in SIZES:
            name = f"{prefix}_{persons}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = server.set(database=name).render_as_string(hide_password=False)
            urls.append(url)
            engine = make_engine(url)
            try:
                seed_database(
                    engine, SeedOptions(as_of=date(2026, 6, 30), persons=persons, seed=2011)
                )
            finally:
                engine.dispose()
        yield urls[0], urls[1]
    finally:
        with admin.connect() as conn:
            for persons in SIZES:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{prefix}_{persons}" WITH (FORCE)')
        admin.dispose()


def test_quick_run_prints_every_row_and_writes_the_json(
    two_cities: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load()
    out = tmp_path / "enq.json"
    assert bench.main([*two_cities, "--quick", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    for persons in SIZES:
        for item in ITEMS:
            assert f"| {persons:,} | {item} | " in table, (persons, item, table)
    assert "verdict:" in table

    figures = json.loads(out.read_text(encoding="utf-8"))
    rows = figures["rows"]
    assert {(r["size"], r["item"]) for r in rows} == {(s, i) for s in SIZES for i in ITEMS}
    for row in rows:
        assert row["calls"] == (40 if row["item"] == "all" else 10)
        for name in ("calls_per_s", "p50_ms", "p99_ms"):
            assert math.isfinite(row[name]), (name, row)
            assert row[name] > 0, (name, row)
        assert row["p50_ms"] <= row["p99_ms"]
    assert [r["item"] for r in figures["ratios"]] == list(ITEMS)
    for ratio in figures["ratios"]:
        assert math.isfinite(ratio["p50_ratio"])
        assert ratio["p50_ratio"] > 0


def test_asking_for_more_persons_than_the_city_has_is_a_clear_error(
    two_cities: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load()
    assert bench.main([*two_cities, "--n", "100000", "--warmup", "0", "--rounds", "1"]) == 2
    assert "persons with contributions" in capsys.readouterr().err


def test_percentile_is_nearest_rank() -> None:
    bench = _load()
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 0.50) == 50.0
    assert bench.percentile(values, 0.99) == 99.0
    assert bench.percentile([3.0], 0.99) == 3.0
