"""The demo from start to end: city, readers, the card story, the API, the scripted
sessions, then (without --once) the hand-over until Ctrl-C, and a clean stop.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cardsvc.demo.api_server import ApiServer
from cardsvc.demo.card_story import run_card_story
from cardsvc.demo.city import CLERK, KIOSK_DEVICE, SUPERVISOR, City, build_city, load_card
from cardsvc.demo.errors import DemoError
from cardsvc.demo.output import Printer
from cardsvc.demo.programs import (
    Scene,
    counter_command,
    counter_part,
    kiosk_command,
    kiosk_part,
    write_secrets,
)
from cardsvc.demo.readers import (
    COUNTER,
    KIOSK,
    SAM,
    Readers,
    example_card,
    open_readers,
)
from cardsvc.demo.sessions import counter_session, kiosk_session
from cardsvc.demo.stations import Stations, open_stations
from cardsvc.demo.workdir import WorkDir, open_workdir
from cardsvc.errors import CardsvcError
from reader_driver.errors import ReaderError
from simulators.base import SimulatedCard
from simulators.psam import Psam

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1


@dataclass(frozen=True, slots=True)
class DemoOptions:
    once: bool = False
    in_process: bool = False
    workdir: Path | None = None


def run_demo(options: DemoOptions, out: Printer | None = None) -> int:
    """The whole demo; the exit status (0: every scripted step passed)."""
    out = out or Printer()
    started = time.monotonic()
    with open_workdir(options.workdir) as work, contextlib.ExitStack() as stack:
        out.section("The city: an SQLite database seeded with residents, operators and devices")
        city = _city(work, out)
        out.section("Simulated readers")
        initial: list[SimulatedCard | None] = [
            None,
            example_card("psam.json"),
            None,
            example_card("gen1.json"),
            example_card("gen2.json"),
            example_card("gen3.json"),
        ]
        readers = stack.enter_context(open_readers(initial, in_process=options.in_process, out=out))
        out.section("A terminal and the example cards, on their own")
        ok = run_card_story(readers, out)
        out.section("The service and the stations")
        api = stack.enter_context(ApiServer(city.database_url, work.logs))
        out.step("API", f"{api.url} (uvicorn, pid {api.pid}; OpenAPI at {api.url}/docs)")
        stations = _stations(stack, api, city, readers, out)
        if stations is not None:
            write_secrets(work, city)
            scene = Scene(api.url, stations, readers, city, work, out)
            ok = _part("counter session", counter_part, scene) and ok
            ok = _part("kiosk session", kiosk_part, scene) and ok
        else:
            ok = counter_session(api.url, readers, city, out) and ok
            ok = kiosk_session(api.url, readers, city, out) and ok
        out.line("")
        elapsed = time.monotonic() - started
        if not ok or out.failures:
            out.line(f"demo: a step FAILED (see above) after {elapsed:.0f} s")
            status = EXIT_FAILED
        else:
            out.line(f"demo: all steps passed in {elapsed:.0f} s")
            status = EXIT_OK
        if options.once:
            return status
        _hand_over(work=work, city=city, readers=readers, api=api, stations=stations, out=out)
        _wait_for_interrupt()
        out.line("demo: stopping the readers and the API")
    out.line("demo: stopped")
    return status


def _part(title: str, part: Callable[[Scene], bool], scene: Scene) -> bool:
    """One scripted part; a failure that stops it is a FAILED step, and the demo goes on."""
    try:
        return part(scene)
    except (CardsvcError, ReaderError, OSError) as exc:
        scene.out.step(title, str(exc), ok=False)
        return False


def _stations(
    stack: contextlib.ExitStack, api: ApiServer, city: City, readers: Readers, out: Printer
) -> Stations | None:
    """The counter's and the kiosk's agents; None (and why) when they cannot run."""
    try:
        stations = stack.enter_context(open_stations(api.url, city, readers))
    except (CardsvcError, OSError) as exc:
        out.step("station agents", f"cannot start them: {exc}")
        out.detail("the demo drives the card sessions itself instead")
        return None
    for desk in (stations.counter, stations.kiosk):
        out.step(
            f"{desk.name} station agent",
            f"{desk.url} (device {desk.device}; card reader {desk.reader!r}, "
            + (f"SAM reader {desk.sam_reader!r})" if desk.sam_reader else "no PSAM: key service)"),
        )
    return stations


def _city(work: WorkDir, out: Printer) -> City:
    began = time.monotonic()
    city = build_city(work.database_url, work.cards)
    out.step(
        "seed",
        f"{city.persons} residents as of {city.as_of.isoformat()} in {work.database} "
        f"({time.monotonic() - began:.1f} s); card files in {work.cards}",
    )
    for card in city.cards.values():
        out.detail(
            f"{card.role:<10} {card.path.name:<36} {card.name} {card.masked_ssn} "
            f"{card.state.value}{', application blocked' if card.application_blocked else ''}"
        )
    return city


def _hand_over(
    *,
    work: WorkDir,
    city: City,
    readers: Readers,
    api: ApiServer,
    stations: Stations | None,
    out: Printer,
) -> None:
    def load(slot: int, path: str) -> SimulatedCard:
        if slot == SAM:
            return Psam.from_file(path)
        return load_card(path, city.blocked_numbers)

    control = readers.start_control(load)
    out.line("")
    out.line("The service, the stations and the simulated readers stay up until Ctrl-C. By hand:")
    out.line(f"  API        {api.url}   (OpenAPI {api.url}/docs; log {api.log_path})")
    if stations is not None:
        out.line(f"  counter    agent {stations.counter.url}   (GET /v1/card, /v1/events)")
        out.line(f"  kiosk      agent {stations.kiosk.url}")
    out.line(f"  database   {work.database}; card files and their index: {city.index}")
    if control is not None:
        out.line(f"  simulator  {control}   (GET /slots: every reader and card)")
        out.line("")
        out.line(
            f"Put a seeded resident's card in the counter's reader (slot {COUNTER}) "
            f"or the kiosk's (slot {KIOSK}):"
        )
        for card in city.cards.values():
            out.line(
                f"  curl -s -X POST {control}/slots/{COUNTER}/swap "
                f'-d \'{{"card": "{card.path}"}}\'   # {card.role}: {card.name}'
            )
        out.line(f"  curl -s -X POST {control}/slots/{COUNTER}/remove      # take it out")
    else:
        out.line("  (in-process readers: the cards cannot be swapped from outside this process)")
    out.line("")
    out.line(
        f"Sign in as {CLERK} (or {SUPERVISOR}, reviewer.370402, …), password {city.password}; "
        f"the kiosk is device {KIOSK_DEVICE} (id {city.device_id(KIOSK_DEVICE)}), "
        f"secret {city.device_secret}; every card's PIN is {city.pin}."
    )
    if stations is not None:
        write_secrets(work, city)
        counter = counter_command(api.url, stations.counter, work, script=None)
        kiosk = kiosk_command(api.url, stations.kiosk, work, city, script=None)
        out.line("  " + " ".join(counter))
        out.line("  " + " ".join(kiosk))
    if not readers.in_process:
        counter_reader, sam_reader = readers.names[COUNTER], readers.names[SAM]
        out.line(
            f'  cardsvc read --reader "{counter_reader}" --sam-reader "{sam_reader}" '
            "--format pipe   # also works beside the agents"
        )
    if not work.kept:
        out.line("(the work directory is temporary: run with --workdir DIR to keep it)")


def _wait_for_interrupt() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)


__all__ = ["EXIT_FAILED", "EXIT_OK", "DemoError", "DemoOptions", "run_demo"]
