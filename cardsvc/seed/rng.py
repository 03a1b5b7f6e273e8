"""Deterministic random streams: one `random.Random` per purpose, derived from the seed.

Every stream is seeded from a string (`random.Random` hashes str seeds with SHA-512,
so the stream does not depend on PYTHONHASHSEED or the platform). A person's stream
depends only on the seed and the person's global number, never on batch sizes or on
what was generated before, so the content is the same however it is chunked.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

_PREFIX = "cardsvc-seed/v1"


def stream(seed: int, *labels: object) -> random.Random:
    """A random stream for `labels` (e.g. ``stream(seed, "person", 17)``)."""
    # synthetic data, not secrets: a reproducible generator is the point
    return random.Random("/".join([_PREFIX, str(seed), *map(str, labels)]))  # noqa: S311


class WeightedChoice(Generic[T]):
    """Choose from fixed items with fixed weights in O(log n) per draw."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("items and weights must be non-empty and of the same length")
        self.items: tuple[T, ...] = tuple(items)
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]


def chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


def between(rng: random.Random, low: int, high: int) -> int:
    """An integer in low..high (both included); cheaper than `randint`."""
    return low + int(rng.random() * (high - low + 1))


_MASK64 = (1 << 64) - 1


def mix(*values: int) -> float:
    """A deterministic number in [0, 1) from integers (splitmix64 over each value in turn).

    For choices that must not draw from a person's stream (so that adding them leaves
    every earlier choice of the stream as it was).
    """
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state + (value & _MASK64) + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state / 2.0**64
