"""Smoke test of bench/api_bench.py: a tiny run (--quick, SQLite) gives the whole table.

No timing thresholds: every row is there, the answers were all 2xx, and the numbers
are sane (finite, positive, p50 <= p99, the ratios present). The run seeds a small
database, starts `cardsvc serve` and the floor app (one worker each), and measures each
target for about 2 s; wrk drives the GET targets when it is installed, else the
Python client. Plus unit tests of the load module's pure parts (percentile merging,
wrk's output), which need no server.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from bench_process import run_bench_script

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
BENCH = BENCH_DIR / "api_bench.py"
RUN_TIMEOUT_S = 200.0

LABELS = {
    "e02_kiosk": "E02 contributions, kiosk in a verified card session",
    "e02_clerk": "E02 contributions, clerk in site scope",
    "floor": "floor: FastAPI + one primary-key select",
    "healthz": "cardsvc GET /healthz (no database)",
    "kiosk_flow": "kiosk flow: session → proof → E02 + E01 → card out",
}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def _number(row: dict[str, object], name: str) -> float:
    value = row[name]
    assert isinstance(value, int | float), (name, row)
    assert not isinstance(value, bool)
    assert math.isfinite(value), (name, row)
    return float(value)


def _run_quick(tmp_path: Path) -> tuple[str, dict[str, object]]:
    out = tmp_path / "bench.json"
    args = [
        sys.executable, str(BENCH), "--quick", "--engine", "sqlite",
        "--json", str(out), "--work-dir", str(tmp_path / "work"),
    ]  # fmt: skip
    # on a timeout, SIGTERM first: the benchmark stops its servers on it
    return run_bench_script(args, out, cwd=ROOT, timeout_s=RUN_TIMEOUT_S)


@pytest.mark.timeout(RUN_TIMEOUT_S + 40)
def test_quick_run_gives_every_row_with_sane_numbers(tmp_path: Path) -> None:
    stdout, result = _run_quick(tmp_path)

    assert result["engine"] == "sqlite"
    assert result["loadgen"] in {"wrk", "python"}
    assert result["notes"] == [], result["notes"]  # card sessions are served: nothing missing
    rows = {str(row["key"]): row for row in result["rows"]}  # type: ignore[attr-defined]
    assert set(rows) == set(LABELS)
    for key, row in rows.items():
        assert row["label"] == LABELS[key]
        assert f"| {LABELS[key]} |" in stdout, key
        assert _number(row, "answers") > 0, row
        assert row["non_2xx"] == 0, row
        assert row["errors"] == 0, row
        assert _number(row, "per_s") > 0, row
        assert 0 < _number(row, "p50_ms") <= _number(row, "p99_ms"), row
        assert _number(row, "headroom_vs_city_peak") > 0, row
    for key in ("e02_kiosk", "e02_clerk"):
        assert _number(rows[key], "vs_floor") > 0
    assert "vs_floor" not in rows["floor"]
    assert rows["kiosk_flow"]["http_requests_per_answer"] == 5
    # both figures are rounded to 0.1: five times a rounded rate may be off by 5 x 0.05,
    # and the request rate by another 0.05
    assert _number(rows["kiosk_flow"], "http_requests_per_s") == pytest.approx(
        5 * _number(rows["kiosk_flow"], "per_s"), abs=0.31
    )
    # CPU per answer of the server's process tree (on SQLite the database work is in it too).
    for row in rows.values():
        assert _number(row, "server_cpu_ms_per_answer") > 0, row
        assert "postgres_backends" not in row  # pg_stat_activity only on PostgreSQL


def test_weighted_quantile_and_merged_slices() -> None:
    load = _load("api_bench_load")
    points = [(float(v), 1.0) for v in range(1, 101)]
    assert load.weighted_quantile(points, 50) == 50.0
    assert load.weighted_quantile(points, 99) == 99.0
    assert load.weighted_quantile(points, 100) == 100.0
    assert math.isnan(load.weighted_quantile([], 50))
    # Two slices: 90 fast answers in one, 10 slow in the other: p50 fast, p99 slow.
    fast = load.Slice(90, 0, 0, 1.0, ((1000.0, 90.0),))
    slow = load.Slice(10, 0, 2, 1.0, ((50_000.0, 10.0),))
    result = load.Result("x", [fast, slow])
    assert result.percentile_ms(50) == 1.0
    assert result.percentile_ms(99) == 50.0
    assert result.requests == 100
    assert result.ok_per_s == 49.0  # (100 answers - 2 non-2xx) / 2 s


def test_wrk_output_becomes_a_slice() -> None:
    load = _load("api_bench_load")
    grid = [[q, 1000 if q <= 50 else 9000] for q in load.GRID]
    counts = {"requests": 200, "duration_us": 2_000_000, "connect": 0, "read": 1, "write": 0}
    text = json.dumps({**counts, "timeout": 2, "status": 4, "grid": grid})
    piece = load.parse_wrk_output(text)
    assert piece.requests == 200
    assert piece.errors == 3
    assert piece.bad_status == 4
    assert piece.seconds == 2.0
    assert sum(weight for _, weight in piece.points) == pytest.approx(200)
    result = load.Result("x", [piece])
    assert result.percentile_ms(50) == 1.0
    assert result.percentile_ms(99) == 9.0


def test_wrk_script_carries_every_call_and_header(tmp_path: Path) -> None:
    load = _load("api_bench_load")
    target = load.Target(
        "t",
        "http://127.0.0.1:1",
        (
            load.Call("/v1/a", (("Authorization", 'Bearer x"y'),)),
            load.Call("/v1/b", (("X-Card-Session", "0" * 32),)),
        ),
    )
    script = load.wrk_script(target, tmp_path / "out.json")
    assert '{"/v1/a", {["Authorization"] = "Bearer x\\"y"}}' in script
    assert '{"/v1/b", {["X-Card-Session"] = "' + "0" * 32 + '"}}' in script
    assert str(tmp_path / "out.json") in script
    assert "latency:percentile(q)" in script
