"""Helpers of the station and agent tests: a Station on the in-process backend (a card
reader and a SAM reader), event waiting, the served API (tests/client/client_harness.py)."""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS / "client") not in sys.path:
    sys.path.append(str(_TESTS / "client"))

from client_harness import DeviceLogin, TerminalApi  # noqa: E402

from cardsvc.db.models import DeviceKind  # noqa: E402
from cardsvc.station import Station, StationConfig, StationEvent  # noqa: E402
from reader_driver import InProcessBackend  # noqa: E402
from simulators.psam import Psam  # noqa: E402

CARD_READER = "Card reader"
SAM_READER = "SAM reader"
WAIT_S = 20.0


class Events:
    """A station subscription with bounded waits for one kind of event."""

    def __init__(self, subscription: queue.SimpleQueue[StationEvent]) -> None:
        self._queue = subscription
        self.seen: list[StationEvent] = []

    def wait(self, kind: str, timeout: float = WAIT_S) -> StationEvent:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(event)
            if event.kind == kind:
                return event
        kinds = [e.kind for e in self.seen]
        raise AssertionError(f"no {kind} event within {timeout} s (seen: {kinds})")


@dataclass
class StationRig:
    """A station on the in-process backend, with its device and the API."""

    api: TerminalApi
    backend: InProcessBackend
    station: Station
    device: DeviceLogin
    events: Events

    def insert(self, card: Any, kind: str = "card-inserted") -> StationEvent:
        self.backend.insert(card, CARD_READER)
        return self.events.wait(kind)

    def remove(self) -> StationEvent:
        self.backend.remove(CARD_READER)
        return self.events.wait("card-removed")

    def card(self) -> dict[str, Any]:
        card = self.station.card()
        assert card is not None
        return card


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@contextmanager
def station_rig(
    api: TerminalApi,
    *,
    kind: DeviceKind = DeviceKind.KIOSK,
    psam: bool = False,
    api_url: str | None = None,
    reader: str | None = None,
    sam_reader: str | None = None,
    no_sam: bool = False,
) -> Iterator[StationRig]:
    """A started station; `psam`: a demo PSAM sits in the SAM reader from the start."""
    device = api.device(kind)
    backend = InProcessBackend([CARD_READER, SAM_READER])
    if psam:
        backend.insert(Psam.demo(), SAM_READER)
    config = StationConfig(
        api_url=api_url or api.url,
        device=str(device.id),
        credential=device.credential,
        device_serial="TEST-BOX-1",
        reader=reader,
        sam_reader=sam_reader,
        no_sam=no_sam,
    )
    station = Station(backend, config)
    events = Events(station.subscribe())
    station.start()
    try:
        yield StationRig(api, backend, station, device, events)
    finally:
        station.stop()
        backend.close()


__all__ = [
    "CARD_READER",
    "SAM_READER",
    "Events",
    "StationRig",
    "TerminalApi",
    "station_rig",
    "wait_until",
]
