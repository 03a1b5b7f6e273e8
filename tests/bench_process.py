"""Run a benchmark script as the smoke tests do: a subprocess that must exit 0 in time.

On a timeout the script gets SIGTERM first (the benchmarks answer it by stopping the
servers, readers and databases they started), then a kill; the test fails saying so.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest


def run_bench_script(
    command: Sequence[str], out: Path, *, cwd: Path, timeout_s: float, grace_s: float = 30.0
) -> tuple[str, dict[str, object]]:
    """Run `command`; returns its standard output and the JSON object it wrote to `out`."""
    proc = subprocess.Popen(
        list(command), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        pytest.fail(f"{Path(command[1]).name} did not finish within {timeout_s:.0f} s")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{stderr}"
    result = json.loads(out.read_text())
    assert isinstance(result, dict)
    return stdout, result
