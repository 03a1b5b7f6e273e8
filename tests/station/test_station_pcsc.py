"""The station through the real PC/SC stack (pcscd + vpcd + simulators, tests/pcsc_harness.py):
the PSAM in slot 1, the cardholder's card in slot 0; removal; a pcscd restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pcsc_harness import PcscSession, PcscStack, Plugger
from station_helpers import Events, TerminalApi, wait_until

from cardsvc.station import Station, StationConfig
from reader_driver import PcscBackend
from simulators.psam import Psam

TIMEOUT = 3.0


@pytest.fixture
def backend() -> Iterator[PcscBackend]:
    b = PcscBackend(timeout=TIMEOUT)
    yield b
    b.close()


def _station(api: TerminalApi, stack: PcscStack, backend: PcscBackend) -> Station:
    device = api.device()
    config = StationConfig(
        api_url=api.url,
        device=str(device.id),
        credential=device.credential,
        reader=stack.readers[0],
        sam_reader=stack.readers[1],
    )
    return Station(backend, config)


@pytest.mark.parametrize("generation", [2, 3])
def test_psam_path_through_pcscd(
    terminal_api: TerminalApi,
    pcsc_stack: PcscStack,
    plug: Plugger,
    backend: PcscBackend,
    generation: int,
) -> None:
    plug(Psam.demo(), 1)
    test_card = terminal_api.card(generation)
    station = _station(terminal_api, pcsc_stack, backend)
    events = Events(station.subscribe())
    with station:
        plugged = plug(test_card.card, 0)
        card = events.wait("card-inserted").data
        assert card["reader"] == pcsc_stack.readers[0]
        assert card["authenticated_by"] == "psam"
        assert card["serve"] is True
        assert card["card_number"] == test_card.card_number
        fields = station.reader_string().split("|")
        assert fields[9] == "370400000001"
        health = station.health()
        assert health["status"] == "ok"
        assert health["sam_reader"] == pcsc_stack.readers[1]
        plugged.remove()
        assert events.wait("card-removed").data == {"reader": pcsc_stack.readers[0]}
        assert station.card() is None


def test_pcscd_restart_is_survived(
    terminal_api: TerminalApi,
    pcsc_session: PcscSession,
    pcsc_stack: PcscStack,
    plug: Plugger,
    backend: PcscBackend,
) -> None:
    if not pcsc_stack.pcscd.owned:
        pytest.skip("the pcscd in use was not started by this test session; cannot restart it")
    plug(Psam.demo(), 1)
    test_card = terminal_api.card(2)
    station = _station(terminal_api, pcsc_stack, backend)
    events = Events(station.subscribe())
    with station:
        plug(test_card.card, 0)
        assert events.wait("card-inserted").data["authenticated_by"] == "psam"
        with pcsc_session.free_machine():  # pcscd is down in here
            events.wait("card-removed")
            wait_until(lambda: station.health(probe_api=False)["pcscd"] is False)
            health = station.health()
            assert health["status"] == "degraded"
            assert health["sam_reader"] is None
        card = events.wait("card-inserted", timeout=30).data  # pcscd back, card seen again
        # by the PSAM, or by the key service when vpcd brought the card back first
        assert card["authenticated_by"] in ("psam", "key-service")
        assert card["serve"] is True
        wait_until(lambda: station.health(probe_api=False)["sam_reader"] == pcsc_stack.readers[1])
        health = station.health()
        assert health["status"] == "ok"
        assert health["pcscd"] is True
