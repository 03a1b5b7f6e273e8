"""What PostgreSQL's backends are doing during the HTTP API benchmark (pg_stat_activity).

A thread samples ``pg_stat_activity`` for the benchmark's database every
``interval`` seconds (from a connection to another database, so the sampler never
counts itself) and tallies each backend as one of:

- ``active`` (running a statement on the CPU), ``active, waiting <type>:<event>``
  (e.g. ``Lock:transactionid`` — a row lock such as the journal head's —
  ``IO:WALSync``, ``LWLock:WALWrite``);
- ``idle in transaction`` (a transaction is open and the server waits for the
  application: the Python code between two statements);
- ``idle`` (a pooled connection nobody uses).

:meth:`WaitSampler.take` returns the average number of backends in each state since
the last call, i.e. over one slice of one target. Cumulative counters
(pg_stat_database) are not used: backends flush them lazily, up to seconds after a
slice ends. Connection churn shows as the open connections moving about.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

QUERY = text(
    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
    "WHERE datname = :database AND pid <> pg_backend_pid()"
)
SESSIONS = text(
    "SELECT pg_stat_clear_snapshot(), "
    "(SELECT sessions FROM pg_stat_database WHERE datname = :database)"
)


@dataclass(frozen=True)
class WaitProfile:
    samples: int
    average: dict[str, float]
    """State → average number of backends in it."""


def _label(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state == "active":
        return "active" if wait_type is None else f"active, waiting {wait_type}:{wait_event}"
    return state or "unknown"


class WaitSampler:
    """Samples in a daemon thread between start() and stop(); take() per slice."""

    def __init__(self, server_url: str, database: str, interval: float = 0.1) -> None:
        url = make_url(server_url).set(drivername="postgresql+psycopg")
        self._engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5},
        )  # fmt: skip
        self._database = database
        self._interval = interval
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pg-wait-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._engine.dispose()

    def sessions(self) -> int | None:
        """Connections ever opened to the database (pg_stat_database.sessions, PostgreSQL 14+).

        The server publishes these counters with a delay of up to about a second, so a
        5-second slice's difference is close, not exact.
        """
        try:
            with self._engine.connect() as conn:
                row = conn.execute(SESSIONS, {"database": self._database}).one()
        except SQLAlchemyError:
            return None
        return None if row[1] is None else int(row[1])

    def take(self) -> WaitProfile:
        with self._lock:
            samples, counts = self._samples, self._counts
            self._samples, self._counts = 0, Counter()
        average = {k: v / samples for k, v in counts.most_common()} if samples else {}
        return WaitProfile(samples=samples, average=average)

    def _loop(self) -> None:
        try:
            with self._engine.connect() as conn:
                while not self._stop.wait(self._interval):
                    rows = conn.execute(QUERY, {"database": self._database}).all()
                    tally = Counter(_label(r[0], r[1], r[2]) for r in rows)
                    with self._lock:
                        self._counts.update(tally)
                        self._samples += 1
        except SQLAlchemyError as exc:
            self.error = str(exc).splitlines()[0]


def merge(profiles: list[WaitProfile]) -> WaitProfile:
    """Sample-weighted average of several slices' profiles."""
    samples = sum(p.samples for p in profiles)
    totals: dict[str, float] = {}
    for p in profiles:
        for state, value in p.average.items():
            totals[state] = totals.get(state, 0.0) + value * p.samples
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    average = {k: v / samples for k, v in ranked} if samples else {}
    return WaitProfile(samples=samples, average=average)
