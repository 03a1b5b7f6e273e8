"""The station's copy of the API's hotlist (GET /v1/hotlist, incremental).

Used where the API gives the station no card session of its own (a counter terminal:
the API lets only an operator present cards there): the station then decides
block/unblock from this list and, with a PSAM, applies it locally.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cardsvc.client import ApiClient


@dataclass(frozen=True, slots=True)
class Standing:
    on_hotlist: bool
    state: str | None


class HotlistCache:
    """Card number → standing, refreshed from the API on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Standing] = {}
        self._since: str | None = None

    def refresh(self, api: ApiClient) -> None:
        """Fetch what changed since the last refresh (everything the first time)."""
        with self._lock:
            page = api.hotlist(self._since)
            for entry in page.get("entries", []):
                self._entries[str(entry["card_number"])] = Standing(
                    bool(entry["on_hotlist"]), str(entry.get("state") or "") or None
                )
            self._since = str(page["next_since"])

    def standing(self, card_number: str) -> Standing:
        """The card's standing (a card never listed is not on the hotlist)."""
        with self._lock:
            return self._entries.get(card_number, Standing(False, None))
