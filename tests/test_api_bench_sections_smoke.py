"""Smoke test of bench/api_bench_sections.py (CPU per part of an E02 answer).

PostgreSQL only, as the script. A tiny run: every section is printed with a finite,
positive figure. No timing thresholds. (The script stopped running once when the bearer
dependency started reading the request; nothing noticed until it was run by hand.)
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "api_bench_sections.py"
SECTIONS = (
    "authenticate (token + rate limit)",
    "floor's work (one primary-key select, read-only session)",
    "endpoint (service E02 + building the model)",
    "TestClient GET, whole request (in-process client too)",
    "TestClient GET /healthz",
)
LINE = re.compile(r"^\s*([0-9.]+) ms  (.+)$")


def test_every_section_is_timed(pg_server_url: URL) -> None:
    server = pg_server_url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "20", "--persons", "60", "--pg-url", server],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = {
        match.group(2).strip(): float(match.group(1))
        for match in map(LINE.match, done.stdout.splitlines())
        if match
    }
    for section in SECTIONS:
        assert section in figures, (section, done.stdout)
        assert math.isfinite(figures[section]), (section, done.stdout)
        assert figures[section] > 0, (section, done.stdout)
