"""Smoke test of bench/agent_bench.py: a tiny run through the real stack (private pcscd +
vpcd + simulators + two `cardsvc agent` processes + the API on SQLite) gives whole tables.

No timing thresholds: only that every generation and side is there, the counts are what
was asked for, and the numbers are sane (finite, positive, p50 <= p99, the parts within
the whole). The benchmark runs in a subprocess while this session holds the PC/SC lock
with no pcscd of its own running (`free_machine`), so it is told not to take the lock
itself (--no-lock), as tests/test_basic_read_bench_smoke.py does.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pcsc_harness import PcscSession

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "agent_bench.py"
RUN_TIMEOUT_S = 150.0
N = 2
SIDES = ("psam", "key-service", "bare")


def _run_bench(session: PcscSession, tmp_path: Path) -> tuple[str, dict[str, object]]:
    return session.run_bench(
        BENCH, tmp_path / "bench.json", "--quick", "--n", str(N), timeout_s=RUN_TIMEOUT_S
    )


def _ms(value: object) -> float:
    assert isinstance(value, float), value
    assert math.isfinite(value), value
    assert value > 0, value
    return value


@pytest.mark.pcsc
def test_quick_run_gives_every_side_of_every_generation(
    pcsc_session: PcscSession, tmp_path: Path
) -> None:
    stdout, result = _run_bench(pcsc_session, tmp_path)
    assert result["complete"] is True
    rows = result["rows"]
    assert isinstance(rows, list)
    assert sorted(r["generation"] for r in rows) == [2, 3]
    for r in rows:
        assert r["n"] == N
        for side in SIDES:
            total50 = _ms(r["total_p50_ms"][side])
            assert total50 <= _ms(r["total_p99_ms"][side])
            after50 = _ms(r["after_p50_ms"][side])
            assert after50 <= _ms(r["after_p99_ms"][side])
            assert after50 <= total50  # a part of the whole
            assert r["seen_p50_ms"][side] >= 0
            assert math.isfinite(r["total_ratio_p50"][side])
            assert math.isfinite(r["after_ratio_p50"][side])
        assert r["total_ratio_p50"]["bare"] == 1.0
        for side in SIDES:
            assert f"| {r['generation']} | {N} | {side} | " in stdout
    assert "insertion -> pcscd has the card" in stdout
    machine = result["machine"]
    assert isinstance(machine, dict)
    assert machine["cpus"]
