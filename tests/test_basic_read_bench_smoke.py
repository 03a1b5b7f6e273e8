"""Smoke test of bench/basic_read_bench.py: a tiny run through the real pcscd gives whole tables.

No timing thresholds: only that every generation's row is there, the counts are what
was asked for and what the card contract says, and the numbers are sane (finite,
positive, p50 <= p99). The benchmark runs in a subprocess while this session holds the
PC/SC lock with no pcscd of its own running (`free_machine`), so it is told not to take
the lock itself (--no-lock), as tests/test_bench_smoke.py does.

The T=0 wire-time arithmetic is checked on its own, without pcscd.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pcsc_harness import PcscSession

from cardsvc.card.session import BASIC_READ_APDUS

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
BENCH = BENCH_DIR / "basic_read_bench.py"
RUN_TIMEOUT_S = 100.0
QUICK_READS = 20
PSAM_APDUS = {1: 3, 2: 3, 3: 6}  # DES INIT + ENCRYPT + GET RESPONSE per authentication
SIDES = ("ours", "ours_no_watchdog", "session_bare", "raw")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def _bench_module() -> ModuleType:
    if "pcsc_bench_common" not in sys.modules:  # what the script imports from its folder
        _load("pcsc_bench_common", BENCH_DIR / "pcsc_bench_common.py")
    return _load("basic_read_bench", BENCH)


def _run_bench(session: PcscSession, tmp_path: Path) -> tuple[str, dict[str, object]]:
    return session.run_bench(BENCH, tmp_path / "bench.json", "--quick", timeout_s=RUN_TIMEOUT_S)


def _positive(value: object) -> float:
    assert isinstance(value, float), value
    assert math.isfinite(value), value
    assert value > 0, value
    return value


@pytest.mark.pcsc
def test_quick_run_gives_every_generation_with_sane_numbers(
    pcsc_session: PcscSession, tmp_path: Path
) -> None:
    stdout, result = _run_bench(pcsc_session, tmp_path)

    rows = result["rows"]
    assert isinstance(rows, list)
    by_gen = {row["generation"]: row for row in rows}
    assert sorted(by_gen) == [1, 2, 3]
    for gen, row in by_gen.items():
        assert row["available"] is True, row
        assert row["reads"] == QUICK_READS
        assert row["card_apdus"] == BASIC_READ_APDUS[(gen, "T=0")]
        assert row["psam_apdus"] == PSAM_APDUS[gen]
        assert row["apdus"] == row["card_apdus"] + row["psam_apdus"]
        # every transmit, plus a begin and an end per transaction (1 on the card, 1 per PSAM op)
        assert row["pcsc_calls"] == row["apdus"] + 2 + 2 * (PSAM_APDUS[gen] // 3)
        assert row["patched_fields"] == (2 if gen == 3 else 0)  # challenge and cryptogram
        for side in SIDES:
            p50 = _positive(row["p50_us"][side])
            assert p50 <= _positive(row["p99_us"][side]), (side, row)
            _positive(row["cpu_p50_us"][side])
        assert math.isfinite(row["overhead_p50"])
        assert math.isfinite(row["overhead_mean"])
        wire = row["wire_ms"]
        _positive(row["wire_chars"] * 1.0)
        # same characters at 12x the bit rate: exactly 12x less time
        assert wire["9600"] == pytest.approx(12 * wire["115200"], rel=1e-3)
        assert wire["9600"] > row["p50_us"]["ours"] / 1000  # a real card at 9,600 is slower
        assert f"| {gen} | {QUICK_READS} | {row['apdus']} (" in stdout
    assert result["complete"] is True
    assert result["failed"] == []
    assert "overhead on the median read, worst generation" in stdout
    assert "wire ms @ 9,600 bit/s" in stdout
    machine = result["machine"]
    assert isinstance(machine, dict)
    assert machine["cpus"]


def test_t0_wire_counts_header_procedure_byte_data_and_status() -> None:
    bench = _bench_module()
    ok = bytes.fromhex("9000")
    # case 2 with data back: header, INS, 8 bytes, SW; 2 direction changes
    w = bench.t0_wire(bytes.fromhex("0084000008"), bytes(8) + ok)
    assert (w.terminal_chars, w.card_chars, w.turnarounds) == (5, 1 + 8 + 2, 2)
    # case 2 refused at once: no procedure byte, SW only
    w = bench.t0_wire(bytes.fromhex("00B2012C06"), bytes.fromhex("6A83"))
    assert (w.terminal_chars, w.card_chars, w.turnarounds) == (5, 2, 2)
    # case 3: header, INS, 15 data bytes, SW; 4 direction changes
    select = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
    w = bench.t0_wire(select, bytes.fromhex("611B"))
    assert (w.terminal_chars, w.card_chars, w.turnarounds) == (5 + 15, 1 + 2, 4)
    # case 4 on T=0: Le is not sent (the data comes by GET RESPONSE)
    w = bench.t0_wire(bytes.fromhex("0088000110") + bytes(16) + b"\x08", bytes.fromhex("6108"))
    assert (w.terminal_chars, w.card_chars) == (5 + 16, 1 + 2)
    # (12 etu x 10 characters + 4 etu x 2 turnarounds) / 9,600 bit/s
    w = bench.Wire(5, 5, 2)
    assert w.seconds(9600) == pytest.approx((12 * 10 + 4 * 2) / 9600)


def test_patches_carry_a_live_answer_into_a_later_command() -> None:
    bench = _bench_module()
    challenge = bytes(range(1, 9))
    ops = [
        bench.Op("card", bench.Kind.BEGIN),
        bench.Op("card", bench.Kind.TRANSMIT, bytes.fromhex("0084000008"), challenge + b"\x90\x00"),
        bench.Op(
            "psam",
            bench.Kind.TRANSMIT,
            bytes.fromhex("BFDE480A18") + bytes(16) + challenge,
            b"\x90\x00",
        ),
        bench.Op("card", bench.Kind.END),
    ]
    assert bench.find_patches(ops) == [bench.Patch(op=2, at=5 + 16, source=1, length=8)]
    # a random P || S sent to the card is nobody's answer: replayed as recorded
    assert bench.find_patches(ops[:2]) == []
