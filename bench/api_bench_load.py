"""Load generators of the HTTP API benchmark (bench/api_bench.py): wrk, or Python.

A target is a base URL and a list of calls (a path and its headers: the bearer
token, a card session) taken in turn. Both generators keep ``connections``
requests in flight (closed loop: a client sends its next request when the last
one is answered) for ``seconds`` and return a :class:`Slice`.

- :func:`run_wrk`: wrk 4 with a generated Lua script. ``request()`` takes the next
  call; ``done()`` writes the counts and a grid of wrk's
  latency percentiles (wrk keeps an exact 1 µs histogram; computing each of its
  percentiles scans it, so a grid of ~210 points is taken instead of all values).
  Use this for throughput: wrk is written in C and leaves the CPU to the servers.
- :func:`run_python`: asyncio + httpx with one task per connection; exact latencies.
  A fallback when wrk is not installed (its Python client costs CPU that the
  servers then lack, so its rates are lower bounds), and the engine of multi-step
  flows (see api_bench_kiosk).

Slices of one target merge into a :class:`Result`: requests/s over the summed
measuring time, and p50/p99 of the merged latency points (weighted quantiles;
with wrk's grid the rank error at p99 is under 0.1 %).
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WRK_TIMEOUT_S = 10
"""wrk's per-request timeout (a request slower than this counts as an error)."""
EXTRA_WAIT_S = 30.0
SHOWN_ERRORS = 5
"""Client errors (no answer) of a Python-client slice printed to stderr with their kind."""
"""How long past its duration a wrk run may take before it is killed."""

# Percentile grid asked of wrk per slice: 0.5 % steps, 0.1 % from p99, and the far tail.
GRID: tuple[float, ...] = (
    *(step / 2 for step in range(1, 198)),  # 0.5 .. 98.5
    *(99.0 + step / 10 for step in range(10)),  # 99.0 .. 99.9
    99.95,
    99.99,
)


class LoadError(Exception):
    """The load generator could not run or its output made no sense."""


@dataclass(frozen=True)
class Call:
    """One request of a target: a path and its headers."""

    path: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Target:
    """What to load: GET `base_url` + each call's path with its headers, in turn."""

    key: str
    base_url: str
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Slice:
    """One measured run of one target."""

    requests: int
    """Answers received (any status)."""
    errors: int
    """Connect/read/write errors and timeouts (no answer)."""
    bad_status: int
    """Answers outside 2xx."""
    seconds: float
    points: tuple[tuple[float, float], ...]
    """(latency in µs, weight in requests), for merging percentiles."""


@dataclass
class Result:
    """The merged slices of one target."""

    key: str
    slices: list[Slice] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.slices)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.slices)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.slices)

    @property
    def bad_status(self) -> int:
        return sum(s.bad_status for s in self.slices)

    @property
    def ok_per_s(self) -> float:
        """Answers with a 2xx status per second of measuring."""
        if self.seconds <= 0:
            return 0.0
        return (self.requests - self.bad_status) / self.seconds

    def percentile_ms(self, q: float) -> float:
        return weighted_quantile([p for s in self.slices for p in s.points], q) / 1000.0


def weighted_quantile(points: Sequence[tuple[float, float]], q: float) -> float:
    """The smallest value whose cumulative weight reaches `q` percent of the total."""
    ordered = sorted(p for p in points if p[1] > 0)
    if not ordered:
        return math.nan
    total = sum(weight for _, weight in ordered)
    rank = q / 100.0 * total
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= rank - 1e-9:
            return value
    return ordered[-1][0]


# --------------------------------------------------------------------------- wrk


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_script(target: Target, out_path: Path) -> str:
    """The Lua script for `target`: the calls in turn; the figures go to `out_path`."""
    calls = ",\n  ".join(
        "{"
        + _lua_string(call.path)
        + ", {"
        + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in call.headers)
        + "}}"
        for call in target.calls
    )
    grid = ", ".join(repr(q) for q in GRID)
    return f"""\
-- generated by bench/api_bench_load.py for target {target.key}
local calls = {{
  {calls}
}}
local grid = {{{grid}}}
local counter = 0

function setup(thread)
  thread:set("offset", math.random(1, #calls))
end

function request()
  counter = counter + 1
  local call = calls[(counter + offset) % #calls + 1]
  return wrk.format("GET", call[1], call[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  local f = io.open({_lua_string(str(out_path))}, "w")
  f:write(string.format(
    '{{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "status": %d, "grid": [',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status))
  for i, q in ipairs(grid) do
    if i > 1 then f:write(", ") end
    f:write(string.format("[%s, %d]", tostring(q), latency:percentile(q)))
  end
  f:write("]}}\\n")
  f:close()
end
"""


def run_wrk(
    target: Target, *, seconds: float, connections: int, threads: int, work_dir: Path
) -> Slice:
    """One wrk run of `target`; raises LoadError if wrk fails or writes nothing."""
    wrk = wrk_path()
    if wrk is None:
        raise LoadError("wrk is not installed (apt-get install wrk), or use --loadgen python")
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / f"wrk-{target.key}.json"
    out.unlink(missing_ok=True)
    script = work_dir / f"wrk-{target.key}.lua"
    script.write_text(wrk_script(target, out))
    duration = max(1, round(seconds))
    args = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s",
        f"--timeout={WRK_TIMEOUT_S}s", "-s", str(script), target.base_url,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=duration + EXTRA_WAIT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadError(
            f"wrk on {target.key} did not finish within {duration + EXTRA_WAIT_S} s"
        ) from None
    if proc.returncode != 0 or not out.exists():
        raise LoadError(f"wrk on {target.key} failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_wrk_output(out.read_text())


def parse_wrk_output(text: str) -> Slice:
    """The Slice from what the Lua script's done() wrote."""
    data = json.loads(text)
    requests = int(data["requests"])
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "timeout"))
    grid: list[tuple[float, float]] = [(float(q), float(us)) for q, us in data["grid"]]
    # Turn the percentile grid into weighted points: each value stands for the requests
    # between the previous grid step and its own.
    points: list[tuple[float, float]] = []
    previous = 0.0
    for q, us in grid:
        points.append((us, (q - previous) / 100.0 * requests))
        previous = q
    if grid:
        points.append((grid[-1][1], (100.0 - previous) / 100.0 * requests))
    return Slice(
        requests=requests,
        errors=errors,
        bad_status=int(data["status"]),
        seconds=int(data["duration_us"]) / 1e6,
        points=tuple(points),
    )


# --------------------------------------------------------------------------- python

Step = Callable[[httpx.AsyncClient, int], Awaitable[bool]]
"""One unit of work (a request or a whole flow) of client `i`; True if it went well."""


async def _closed_loop(
    base_url: str, step: Step, *, seconds: float, connections: int, timeout_s: float
) -> Slice:
    latencies: list[float] = []
    failures = 0
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(index: int) -> None:
            nonlocal failures, errors
            while time.perf_counter() < deadline:
                begin = time.perf_counter()
                try:
                    ok = await step(client, index)
                except httpx.HTTPError as exc:
                    errors += 1
                    if errors <= SHOWN_ERRORS:  # say what they were, not only how many
                        print(f"client error: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                latencies.append((time.perf_counter() - begin) * 1e6)
                if not ok:
                    failures += 1

        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - started
    return Slice(
        requests=len(latencies),
        errors=errors,
        bad_status=failures,
        seconds=elapsed,
        points=tuple((us, 1.0) for us in latencies),
    )


def run_python(
    base_url: str, step: Step, *, seconds: float, connections: int, timeout_s: float = 10.0
) -> Slice:
    """`connections` clients each repeating `step` for `seconds` (closed loop)."""
    return asyncio.run(
        _closed_loop(base_url, step, seconds=seconds, connections=connections, timeout_s=timeout_s)
    )


def get_step(target: Target) -> Step:
    """The Python step for a plain GET target (the calls in turn, as the wrk script)."""
    counter = [0]

    async def step(client: httpx.AsyncClient, index: int) -> bool:
        counter[0] += 1
        call = target.calls[(counter[0] + index) % len(target.calls)]
        response = await client.get(call.path, headers=dict(call.headers))
        return response.is_success

    return step
