"""What the demo prints: numbered steps with their results, flushed at once."""

from __future__ import annotations

import sys
from typing import TextIO


class Printer:
    """Numbered steps on a stream (stdout by default); counts failed steps."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._n = 0
        self.failures = 0

    def section(self, title: str) -> None:
        self.line("")
        self.line(f"== {title}")

    def step(self, title: str, result: str, *, ok: bool = True) -> None:
        self._n += 1
        if not ok:
            self.failures += 1
            result = f"FAILED: {result}"
        self.line(f"[{self._n}] {title}: {result}")

    def detail(self, text: str) -> None:
        self.line(f"      {text}")

    def line(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        print(text, file=stream, flush=True)
