"""Where an E02 answer spends the server's CPU: cProfile in every thread of one server.

    .venv/bin/python bench/api_bench_profile.py [--requests 2000] [--top 40]

Seeds a database of its own (as bench/api_bench.py does), serves the API in THIS
process (uvicorn, one worker), and sends E02 requests from a clerk, one at a time.
Every server thread (the event loop and the worker threads that run ``def`` routes)
gets its own cProfile profiler; the statistics are merged and printed by own time and
by cumulative time. The client runs in a child process, so its CPU is not counted.

A profile slows Python down unevenly (calls are cheap to count, C code is not): read
it for where the time goes, and measure speed with bench/api_bench.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import api_bench_setup as setup  # noqa: E402

_CLIENT = """
import sys, httpx
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = sys.argv[4:]
with httpx.Client(base_url=base, timeout=30) as c:
    h = {"Authorization": "Bearer " + token}
    for i in range(n):
        r = c.get(paths[i % len(paths)], headers=h)
        if r.status_code != 200:
            raise SystemExit(f"{r.status_code}: {r.text}")
"""


class ThreadProfiles:
    """One cProfile.Profile per thread, created on the thread's first profiled call."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self.active = False

    def _start_here(self) -> None:
        profile = cProfile.Profile()
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        """Installed in every server thread at its start; waits until profiling begins."""
        if self.active:
            sys.setprofile(None)
            self._start_here()

    def stats(self) -> pstats.Stats:
        for profile in self.profiles:
            profile.create_stats()
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--path-suffix", default="/contributions")
    args = parser.parse_args()

    import uvicorn  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415
    from cardsvc.settings import Settings  # noqa: PLC0415

    with setup.bench_database("postgresql", args.pg_url) as url:
        setup.seed(url, args.persons)
        clerk = setup.add_clerks(url, 1)
        persons = setup.in_scope(url, 50)
        env = setup._env(url)
        for key, value in env.items():
            if key.startswith("CARDSVC_"):
                os.environ[key] = value
        app = create_app(Settings.from_env())
        profiles = ThreadProfiles()
        threading.setprofile(profiles.hook)  # every thread started from now on
        port = setup.free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        token = setup.sign_in_operators(base, clerk)[0]
        paths = [f"/v1/persons/{ssn}{args.path_suffix}" for _, ssn in persons]
        # warm up (worker threads exist before profiling starts: profile them too)
        run_client(base, token, 200, paths)

        profiles.active = True
        started = time.perf_counter()
        cpu0 = time.process_time()
        run_client(base, token, args.requests, paths)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - started
        profiles.active = False
        threading.setprofile(None)
        server.should_exit = True
        thread.join(10)
        out = io.StringIO()
        stats = profiles.stats()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
        print(by_package(stats, args.requests))
        print(
            f"{args.requests} requests in {wall:.2f} s; server process CPU "
            f"{cpu * 1000 / args.requests:.2f} ms per request (under the profiler)"
        )
    return 0


_WAITS = ("poll' of 'select.epoll", "acquire' of '_thread.lock", "select' of 'select")


def by_package(stats: pstats.Stats, requests: int) -> str:
    """Own time per package, in ms per request, waits (epoll, lock acquire) left out."""
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        if any(w in name for w in _WAITS):
            continue
        if "site-packages/" in filename:
            package = filename.split("site-packages/")[1].split("/")[0]
        elif "/work/main/" in filename:
            package = "/".join(filename.split("/work/main/")[1].split("/")[:2])
        elif filename == "~":
            package = "builtins: " + name.split(" of ")[0][:40]
        else:
            package = "stdlib " + Path(filename).name
        totals[package] = totals.get(package, 0.0) + tottime
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:30]
    return "\n".join(f"{t * 1000 / requests:8.3f} ms  {name}" for name, t in rows)


def run_client(base: str, token: str, n: int, paths: list[str]) -> None:
    subprocess.run([sys.executable, "-c", _CLIENT, base, token, str(n), *paths], check=True)


if __name__ == "__main__":
    raise SystemExit(main())
