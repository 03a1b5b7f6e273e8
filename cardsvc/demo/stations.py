"""The two stations of the demo, each a station core and its agent's HTTP interface,
run on threads of the demo process (like `cardsvc agent`, without a process each).

- the counter (device counter.370402): card reader slot 0, the PSAM in slot 1;
- the kiosk (device kiosk.370402): card reader slot 2 and no PSAM (`no_sam`: the
  API's key service); it opens no other reader, so it leaves the counter's PSAM alone.

Under pcscd each station gets its own PC/SC context; in-process they share the
demo's in-process backend. The agents listen on free loopback ports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from cardsvc.agent.client import AgentClient
from cardsvc.agent.server import AgentServer
from cardsvc.demo.city import COUNTER_DEVICE, KIOSK_DEVICE, City
from cardsvc.demo.readers import COUNTER, KIOSK, SAM, Readers
from cardsvc.station import Station, StationConfig
from reader_driver import PcscBackend
from reader_driver.backend import Backend

DEVICE_SERIAL: Final = "DEMO-0001"


@dataclass(frozen=True, slots=True)
class Desk:
    """One station: who it is, its readers, its agent's URL."""

    name: str
    device: str
    reader: str
    sam_reader: str | None
    url: str

    def client(self) -> AgentClient:
        return AgentClient(self.url)


@dataclass(frozen=True, slots=True)
class Stations:
    counter: Desk
    kiosk: Desk


@contextlib.contextmanager
def open_stations(api_url: str, city: City, readers: Readers) -> Iterator[Stations]:
    """Both stations running; stopped (sessions ended, readers released) on exit."""
    with contextlib.ExitStack() as stack:
        desks = []
        for name, device, slot, sam in (
            ("counter", COUNTER_DEVICE, COUNTER, SAM),
            ("kiosk", KIOSK_DEVICE, KIOSK, None),
        ):
            backend: Backend = readers.backend
            if not readers.in_process:
                backend = PcscBackend()
                stack.callback(backend.close)
            sam_reader = readers.names[sam] if sam is not None else None
            config = StationConfig(
                api_url=api_url,
                device=str(city.device_id(device)),
                credential=city.device_secret,
                reader=readers.names[slot],
                sam_reader=sam_reader,
                device_serial=DEVICE_SERIAL,
                no_sam=sam_reader is None,
            )
            server = stack.enter_context(AgentServer(Station(backend, config)))
            desks.append(Desk(name, device, readers.names[slot], sam_reader, server.url))
        yield Stations(desks[0], desks[1])
