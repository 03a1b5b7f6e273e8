"""An agent (AgentServer on a free loopback port) over a station rig, and its client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from station_helpers import StationRig, TerminalApi, station_rig

from cardsvc.agent import AgentClient
from cardsvc.agent.server import AgentServer
from cardsvc.db.models import DeviceKind

ORIGIN = "https://counter.example"


@dataclass
class AgentRig:
    rig: StationRig
    server: AgentServer
    client: AgentClient

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def agent_rig(
    api: TerminalApi, *, kind: DeviceKind = DeviceKind.KIOSK, psam: bool = False
) -> Iterator[AgentRig]:
    with station_rig(api, kind=kind, psam=psam) as rig:
        # the rig started the station; the server must not start it again
        server = AgentServer(
            rig.station, allowed_origin=ORIGIN, keepalive_s=0.5, manage_station=False
        )
        server.start()
        try:
            with AgentClient(server.url, timeout=20) as client:
                yield AgentRig(rig, server, client)
        finally:
            server.stop()
