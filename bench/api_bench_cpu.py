"""CPU time per request, for the HTTP API benchmark on a shared machine (Linux /proc).

Requests per second depend on what else the machine runs; CPU seconds spent per
request much less so. :class:`CpuMeter` reads, before and after each slice:

- ``server``: the served app's process tree (uvicorn's supervisor and its workers:
  every descendant of the server's process), from ``/proc/<pid>/stat``;
- ``client``: the load generator: wrk (a finished child: ``RUSAGE_CHILDREN``) and
  this process (the Python client, ``RUSAGE_SELF``);
- ``database``: every ``postgres`` process on the machine (backends, WAL writer,
  checkpointer: what the database server spends on the requests; the benchmark is
  its only client while it runs).

Only deltas are used. A process that ends during a slice loses its last ticks (not
the case here: the servers live for the whole run, and the pools keep their
PostgreSQL connections — the table's "connections opened per 1000 answers" shows
when they do not, and then the database figure is low).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSample:
    server: float
    client: float
    database: float


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, user + system CPU seconds) of `pid`, or None if it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    command = text[text.index("(") + 1 : text.rindex(")")]
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) * _TICK_S


Stats = dict[int, tuple[str, int, float]]


def _all_stats() -> Stats:
    """:func:`_stat` of every process now alive (one pass over /proc)."""
    pids = (int(p.name) for p in _PROC.iterdir() if p.name.isdigit())
    return {pid: s for pid in pids if (s := _stat(pid)) is not None}


def tree_cpu(root: int, stats: Stats | None = None) -> float:
    """CPU seconds of `root` and all its descendants now alive."""
    stats = _all_stats() if stats is None else stats
    wanted = {root}
    changed = True
    while changed:
        changed = False
        for pid, (_, parent, _) in stats.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    return sum(stats[pid][2] for pid in wanted if pid in stats)


def database_cpu(stats: Stats | None = None) -> float:
    """CPU seconds of every process now alive whose command is ``postgres``."""
    stats = _all_stats() if stats is None else stats
    return sum(cpu for command, _, cpu in stats.values() if command == "postgres")


def client_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuMeter:
    """Samples the CPU of one server's process tree and of the load generator."""

    server_pid: int

    def sample(self) -> CpuSample:
        stats = _all_stats()  # one pass over /proc for both figures
        return CpuSample(
            server=tree_cpu(self.server_pid, stats),
            client=client_cpu(),
            database=database_cpu(stats),
        )


def available() -> bool:
    return (_PROC / "self" / "stat").exists()
