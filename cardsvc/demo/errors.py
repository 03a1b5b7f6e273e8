"""The demo's one root error."""

from __future__ import annotations

from cardsvc.errors import CardsvcError


class DemoError(CardsvcError):
    """A part of the demo cannot start or run; the message says which and why."""
