"""Smoke test of bench/sim_throughput.py: a tiny run through the real pcscd gives a whole table.

No timing thresholds: only that every row is there, counts are what was asked for,
and the numbers are sane (finite, positive, p50 <= p99). The benchmark runs in a
subprocess while this session holds the PC/SC lock with no pcscd of its own running
(`free_machine`), so it is told not to take the lock itself (--no-lock).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pcsc_harness import PcscSession

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "sim_throughput.py"
RUN_TIMEOUT_S = 100.0

OURS_AND_FLOOR = {
    "gc_gen2": "ours, gen 2 card",
    "gc_gen3": "ours, gen 3 card",
    "gc_floor": "floor (answers 9000)",
    "read_gen2": "ours, gen 2 card + PSAM",
    "read_gen2_floor": "floor replay of the gen 2 APDUs",
    "read_gen3": "ours, gen 3 card + PSAM",
    "read_gen3_floor": "floor replay of the gen 3 APDUs",
}
VICC = {
    "gc_vicc": "vicc iso7816, TCP_QUICKACK",
    "gc_vicc_plain": "vicc iso7816, as shipped",
}


def _bench_module() -> ModuleType:
    if "pcsc_bench_common" not in sys.modules:  # what the script imports from its folder
        common = importlib.util.spec_from_file_location(
            "pcsc_bench_common", BENCH.parent / "pcsc_bench_common.py"
        )
        assert common is not None
        assert common.loader is not None
        shared = importlib.util.module_from_spec(common)
        sys.modules["pcsc_bench_common"] = shared
        common.loader.exec_module(shared)
    spec = importlib.util.spec_from_file_location("sim_throughput", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def _run_bench(session: PcscSession, tmp_path: Path, *extra: str) -> tuple[str, dict[str, object]]:
    return session.run_bench(
        BENCH, tmp_path / "bench.json", "--quick", *extra, timeout_s=RUN_TIMEOUT_S
    )


def _rows(result: dict[str, object]) -> dict[str, dict[str, object]]:
    rows = result["rows"]
    assert isinstance(rows, list)
    return {str(row["key"]): row for row in rows}


def _positive(row: dict[str, object], name: str) -> float:
    value = row[name]
    assert isinstance(value, float), (name, row)
    assert math.isfinite(value), (name, row)
    assert value > 0, (name, row)
    return value


def _assert_sane(row: dict[str, object], ops: int) -> None:
    assert row["available"] is True, row
    assert row["ops"] == ops, row
    _positive(row, "rate")
    _positive(row, "apdu_rate")
    assert _positive(row, "p50_us") <= _positive(row, "p99_us"), row


@pytest.mark.pcsc
def test_quick_run_gives_every_row_with_sane_numbers(
    pcsc_session: PcscSession, tmp_path: Path
) -> None:
    bench = _bench_module()
    vicc = bench.check_vicc(sys.executable, bench.VICC_LIB)
    if not vicc.available:
        pytest.skip(f"vicc cannot run here, so its rows would be empty: {vicc.reason}")

    stdout, result = _run_bench(pcsc_session, tmp_path)

    rows = _rows(result)
    assert set(rows) == set(OURS_AND_FLOOR) | set(VICC)
    for key, label in {**OURS_AND_FLOOR, **VICC}.items():
        assert f"| {label} |" in stdout, key
    for key in ("gc_gen2", "gc_gen3", "gc_floor", "gc_vicc"):
        _assert_sane(rows[key], 200)
        assert rows[key]["apdus_per_op"] == 1.0
    _assert_sane(rows["gc_vicc_plain"], 4)
    for key in ("read_gen2", "read_gen2_floor", "read_gen3", "read_gen3_floor"):
        _assert_sane(rows[key], 20)
    # section 9: 15 APDUs a read on gen 2; gen 3 adds GET CHALLENGE, the PSAM's 3 and EXT AUTH
    assert rows["read_gen2"]["apdus_per_op"] == rows["read_gen2_floor"]["apdus_per_op"] == 15.0
    assert rows["read_gen3"]["apdus_per_op"] == rows["read_gen3_floor"]["apdus_per_op"] == 20.0
    for key in ("gc_gen2", "gc_gen3"):
        _positive(rows[key], "vs_floor")
        _positive(rows[key], "vs_vicc")
    assert result["complete"] is True
    assert "GET CHALLENGE, worse of gen 2/3: ours/floor" in stdout


@pytest.mark.pcsc
def test_without_vicc_the_run_reports_it_unavailable(
    pcsc_session: PcscSession, tmp_path: Path
) -> None:
    stdout, result = _run_bench(pcsc_session, tmp_path, "--vicc-lib", str(tmp_path / "no-vicc"))

    rows = _rows(result)
    for key in VICC:
        assert rows[key]["available"] is False
        assert "vicc's modules are not in" in str(rows[key]["note"])
        assert rows[key]["vs_vicc"] is None
    for key in ("gc_gen2", "gc_gen3", "gc_floor"):
        _assert_sane(rows[key], 200)
    for key in ("read_gen2", "read_gen2_floor", "read_gen3", "read_gen3_floor"):
        _assert_sane(rows[key], 20)
    assert f"| {VICC['gc_vicc']} | – | – | unavailable |" in stdout
    assert "ours/vicc: vicc unavailable" in stdout


def test_vicc_check_names_what_is_missing(tmp_path: Path) -> None:
    check = _bench_module().check_vicc(sys.executable, tmp_path)
    assert check.available is False
    assert str(tmp_path) in check.reason
    assert "python3-virtualsmartcard" in check.reason
