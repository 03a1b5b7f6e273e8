"""A one-line progress display on stderr, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    """What the seeder reports while it works."""

    def phase(self, label: str, total: int) -> None: ...

    def advance(self, done: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing."""

    def phase(self, label: str, total: int) -> None:
        return None

    def advance(self, done: int) -> None:
        return None

    def finish(self) -> None:
        return None


class TextProgress:
    """``persons  12,000/100,000  12%  3,456/s  eta 25 s`` rewritten in place (\\r).

    Does nothing unless `stream` is a TTY (pass ``force=True`` to draw anyway).
    Redraws at most every `interval_s` seconds.
    """

    def __init__(
        self, stream: TextIO | None = None, *, force: bool = False, interval_s: float = 0.2
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = force or self._stream.isatty()
        self._interval = interval_s
        self._label = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._drawn_at = 0.0
        self._width = 0

    def phase(self, label: str, total: int) -> None:
        self.finish()
        self._label = label
        self._total = max(0, total)
        self._done = 0
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._draw(force=True)

    def advance(self, done: int) -> None:
        self._done = done
        self._draw(force=done >= self._total)

    def finish(self) -> None:
        if self._enabled and self._width:
            self._stream.write("\n")
            self._stream.flush()
        self._width = 0

    def _draw(self, *, force: bool) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        pct = 100 * self._done // self._total if self._total else 100
        line = f"{self._label:<10} {self._done:>11,}/{self._total:,}  {pct:3d}%  {rate:,.0f}/s"
        if 0 < self._done < self._total and rate > 0:
            line += f"  eta {(self._total - self._done) / rate:,.0f} s"
        pad = max(0, self._width - len(line))
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()
        self._width = len(line)
