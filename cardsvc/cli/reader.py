"""`cardsvc readers | watch | read | pin`: the terminal's commands on a PC/SC reader.

This is where the card session (cardsvc.card) is wired to the reader layer
(reader_driver): a `PcscBackend`, a `CardChannel` over each connection, and a
security module (a PSAM in a second reader, or the key service with `--keys`).

Every failure prints one line on stderr saying what to do, and exits 1; bad
usage exits 2. A PIN is read with getpass (never echoed) or, for scripts, from
stdin with `--pin-stdin`; it is never printed nor logged.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from cardsvc.apdu import Command, Ins, sw_text
from cardsvc.card.errors import (
    ApplicationBlocked,
    CardError,
    CardFormatError,
    CardPermanentlyBlocked,
    CardStatusError,
    ExternalAuthFailed,
    ForgedCard,
    HotlistedCard,
    InvalidPin,
    NoSecurityModule,
    PinBlocked,
    PinFormatError,
    SecurityModuleError,
    WrongCardType,
)
from cardsvc.card.reader_string import ENCODING, ReaderStringError, error_code, reader_string
from cardsvc.card.security import (
    PSAM_DF01_AID,
    KeyServiceSecurityModule,
    PsamSecurityModule,
    SecurityModule,
    check_terminal_number,
)
from cardsvc.card.session import BasicRead, SscSession
from cardsvc.card.transport import exchange
from reader_driver.backend import DEFAULT_TIMEOUT, Backend, CardConnection, ReaderInfo
from reader_driver.errors import (
    CardRemoved,
    CardUnresponsive,
    NoCard,
    NoReader,
    PcscdError,
    PcscdUnavailable,
    ReaderBusy,
    ReaderError,
    ReaderTimeout,
    TransportError,
)
from reader_driver.processors import CardChannel

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
_EVENT_POLL_S: Final = 0.2

BackendFactory = Callable[[float], Backend]


def pcsc_backend(timeout: float) -> Backend:
    """The real backend: pcscd through pyscard (imported on first use)."""
    from reader_driver.pcsc import PcscBackend  # noqa: PLC0415 - only when a reader is used

    return PcscBackend(timeout=timeout)


# --- registering -------------------------------------------------------------------------

READ_EPILOG: Final = """\
output:
  --format pipe prints exactly the standard reader-interface string (section 8 of
  the card contract), eleven fields each followed by '|':
    region|SSN|card number|card id code|name|reset info|spec version|issue date|
    expiry date|terminal number|device serial|
  On failure it prints the interface's negative code instead (e.g. -21 forged
  card, -2 no card, -2201 no PSAM, -27266 for status word 6A82) and exits 1.

  GBK on a UTF-8 terminal: the string's bytes depend on --encoding. 'auto' (the
  default) writes GBK bytes (GB 18030, identical to GBK for every GBK character)
  straight to stdout when stdout is a pipe or a file, which is what legacy
  counter software reads, with no newline added; on a terminal it writes the
  terminal's own encoding and a newline so the name shows correctly. Use
  --encoding gbk to force GBK bytes on a terminal (or `| iconv -f gbk`), or
  --encoding utf-8 to get UTF-8 in a pipe.

  --format json prints the decoded fields as UTF-8 JSON, the SSN masked
  (370402********1238) unless --full-id.

security module:
  --sam-reader NAME uses the PSAM in that reader; without it (and without
  --keys) the PSAM is looked for: the first other reader whose card answers
  SELECT D15600000590. --keys demo uses the contract's demo master keys (for
  simulators and tests only, never in production); --keys FILE reads masters
  from JSON {"3DES": {"IRK": hex32, ...}, "SM4": {...}}.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="longest wait for a card or pcscd (default %(default)s)",
    )

    readers = subparsers.add_parser(
        "readers", parents=[common], help="list the readers and whether a card is present"
    )
    readers.set_defaults(func=run_readers)

    watch = subparsers.add_parser(
        "watch",
        parents=[common],
        help="print one line per reader or card event until interrupted (Ctrl-C)",
    )
    watch.add_argument("--count", type=int, default=None, metavar="N", help="stop after N events")
    watch.add_argument(
        "--seconds", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    watch.set_defaults(func=run_watch)

    card = argparse.ArgumentParser(add_help=False)
    card.add_argument(
        "--reader",
        metavar="NAME",
        help="the cardholder's reader (default: the first reader with a card that is "
        "not the SAM reader)",
    )
    sm = card.add_mutually_exclusive_group()
    sm.add_argument("--sam-reader", metavar="NAME", help="the reader holding the PSAM")
    sm.add_argument(
        "--keys",
        metavar="demo|FILE",
        help="use the key service instead of a PSAM: 'demo' masters (tests only) or a key file",
    )
    card.add_argument(
        "--terminal-number",
        metavar="DIGITS",
        help="12-digit terminal number with --keys (a PSAM reports its own)",
    )

    read = subparsers.add_parser(
        "read",
        parents=[common, card],
        help="authenticated basic read of a social security card",
        description="The terminal's basic read (card contract section 9): SELECT, internal "
        "authentication through the security module, external authentication on generation "
        "3, and the issuer and cardholder records.",
        epilog=READ_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    read.add_argument("--format", choices=("json", "pipe"), default="json")
    read.add_argument(
        "--encoding",
        choices=("auto", "gbk", "utf-8"),
        default="auto",
        help="bytes of --format pipe (see below; default %(default)s)",
    )
    read.add_argument(
        "--device-serial",
        default="",
        metavar="TEXT",
        help="the terminal device serial: the last field of the pipe string (default empty)",
    )
    read.add_argument(
        "--full-id", action="store_true", help="show the whole SSN in JSON (masked by default)"
    )
    read.set_defaults(func=run_read)

    pin = subparsers.add_parser(
        "pin",
        help="PIN of a social security card: verify, change, reload (at a counter), status",
    )
    actions = pin.add_subparsers(dest="pin_action", metavar="ACTION", required=True)
    for name, help_text in (
        ("verify", "check the cardholder's PIN"),
        ("change", "change the PIN (old PIN, then the new one twice)"),
        (
            "reload",
            "set a new PIN and reset its counter, also when blocked (needs the PSAM or --keys)",
        ),
        ("status", "show whether the PIN is blocked and the tries left"),
    ):
        action = actions.add_parser(name, parents=[common, card], help=help_text)
        action.add_argument(
            "--pin-stdin",
            action="store_true",
            help="read the PIN(s) from stdin, one per line (for scripts), not from the terminal",
        )
        action.set_defaults(func=run_pin)


# --- advice: one line per failure ------------------------------------------------------


def advice(exc: BaseException, sam_reader: str | None = None) -> str:
    """One line saying what happened and what to do (`sam_reader`: the PSAM's reader)."""
    if isinstance(exc, TransportError) and sam_reader is not None and exc.reader == sam_reader:
        return f"the PSAM stopped answering ({exc}): check it is in {sam_reader} and retry"
    if isinstance(exc, PcscdUnavailable | PcscdError):
        return str(exc)
    if isinstance(exc, NoReader):
        return f"{exc}: plug in a card reader (or start simulated ones: cardsvc sim --pcscd)"
    if isinstance(exc, NoCard):
        return f"{exc}: insert the social security card and try again"
    if isinstance(exc, CardRemoved):
        return "the card was taken out during the operation: insert it again and retry"
    if isinstance(exc, ReaderTimeout):
        return (
            f"{exc}: take the card out, insert it chip first and retry; a card that never "
            "answers is faulty and must be replaced at a counter"
        )
    if isinstance(exc, CardUnresponsive):
        return f"{exc}: insert the card again; a card that never answers must be replaced"
    if isinstance(exc, ReaderBusy):
        return f"{exc}: close the other program using the card and retry"
    if isinstance(exc, ReaderError):
        return f"reader problem ({exc}): reconnect the reader and retry"
    if isinstance(exc, WrongCardType):
        return f"{exc}: insert the cardholder's social security card (not the PSAM)"
    if isinstance(exc, CardFormatError):
        return f"the card's data is malformed ({exc}): the card must be replaced at a counter"
    if isinstance(exc, ForgedCard):
        return (
            "internal authentication failed: the card is forged or from another issuer; "
            "keep it and report it"
        )
    if isinstance(exc, NoSecurityModule):
        return f"{exc}: insert the PSAM and name its reader with --sam-reader, or use --keys"
    if isinstance(exc, SecurityModuleError):
        return f"security module problem: {exc}; check the PSAM or the key file"
    if isinstance(exc, HotlistedCard):
        return f"{exc}; the cardholder must go to a service counter"
    if isinstance(exc, CardPermanentlyBlocked):
        return "the card is permanently blocked: the cardholder needs a new card at a counter"
    if isinstance(exc, ApplicationBlocked):
        return (
            "the card's social security application is blocked (reported lost?): the "
            "cardholder must go to a service counter"
        )
    if isinstance(exc, ExternalAuthFailed):
        return f"{exc}: this terminal's keys do not match the card's issuer; do not retry"
    if isinstance(exc, InvalidPin):
        return f"wrong PIN: {exc.tries_left} tries left before it blocks"
    if isinstance(exc, PinBlocked):
        return "the PIN is blocked: the cardholder must go to a service counter to have it reloaded"
    if isinstance(exc, PinFormatError):
        return f"{exc}: try again"
    if isinstance(exc, CardStatusError):
        return (
            f"the card answered {exc.sw:04X} ({sw_text(exc.sw)}): retry; if it persists, "
            "report the card"
        )
    if isinstance(exc, ReaderStringError):
        return f"{exc}: choose a device serial without '|'"
    return f"{exc}"


_FAILURES: Final = (CardError, ReaderError, ReaderStringError)


def _fail(command: str, exc: BaseException, sam_reader: str | None = None) -> int:
    print(f"cardsvc {command}: {advice(exc, sam_reader)}", file=sys.stderr)
    return EXIT_FAILED


# --- choosing readers ----------------------------------------------------------------------


def _is_psam(backend: Backend, reader: str) -> bool:
    """Whether the card in `reader` answers SELECT D15600000590 with 9000."""
    try:
        connection = backend.connect(reader)
    except ReaderError:
        return False
    try:
        channel = CardChannel(connection)
        select = Command(0x00, Ins.SELECT, 0x04, 0x00, PSAM_DF01_AID)
        return exchange(channel, select).ok
    except (ReaderError, CardError) as exc:
        logger.debug("%s: not a PSAM (%s)", reader, exc)
        return False
    finally:
        connection.disconnect()


def find_sam_reader(backend: Backend, infos: list[ReaderInfo], exclude: str | None) -> str | None:
    """The first reader (other than `exclude`) whose card is a PSAM."""
    for info in infos:
        usable = info.card_present and not info.mute and info.name != exclude
        if usable and _is_psam(backend, info.name):
            return info.name
    return None


@dataclass(frozen=True, slots=True)
class Readers:
    user: str
    sam: str | None


def choose_readers(
    backend: Backend, reader: str | None, sam_reader: str | None, want_sam: bool
) -> Readers:
    """The cardholder's reader and the SAM reader (found when wanted and not given)."""
    infos = backend.readers()
    if not infos:
        raise NoReader("no card reader is connected")
    sam = sam_reader
    with_card = [i for i in infos if i.card_present]
    if sam is None and (want_sam or (reader is None and len(with_card) > 1)):
        sam = find_sam_reader(backend, infos, exclude=reader)
        if sam is None and want_sam:
            raise NoSecurityModule("no PSAM answers in any reader")
    if reader is not None:
        if reader == sam:
            raise WrongCardType(f"{reader} holds the PSAM, not a cardholder's card")
        return Readers(reader, sam)
    for info in with_card:
        if info.name != sam:
            return Readers(info.name, sam)
    raise NoCard("no cardholder's card in any reader")


@contextlib.contextmanager
def _connected(backend: Backend, reader: str) -> Iterator[CardChannel]:
    connection: CardConnection = backend.connect(reader)
    try:
        yield CardChannel(connection)
    finally:
        connection.disconnect()


@contextlib.contextmanager
def security_module(
    backend: Backend, args: argparse.Namespace, readers: Readers
) -> Iterator[SecurityModule]:
    """The PSAM in its reader, or the key service of --keys."""
    number = args.terminal_number
    if number is not None:
        check_terminal_number(number)
    if args.keys is not None:
        if args.keys == "demo":
            yield KeyServiceSecurityModule.demo(number)  # logs a warning
        else:
            yield KeyServiceSecurityModule.from_file(args.keys, number)
        return
    if readers.sam is None:
        raise NoSecurityModule("no PSAM")
    with _connected(backend, readers.sam) as channel:
        yield PsamSecurityModule.open(channel)


# --- commands ----------------------------------------------------------------------------


def run_readers(args: argparse.Namespace, backend_factory: BackendFactory = pcsc_backend) -> int:
    try:
        backend = backend_factory(args.timeout)
        try:
            infos = backend.readers()
        finally:
            backend.close()
    except _FAILURES as exc:
        return _fail("readers", exc)
    if not infos:
        print("no card reader is connected")
        return EXIT_OK
    for info in infos:
        if info.card_present:
            notes = "".join(
                note for flag, note in ((info.mute, " (mute)"), (info.in_use, " (in use)")) if flag
            )
            state = f"card {info.atr.hex().upper() or '(no ATR)'}{notes}"
        else:
            state = "no card"
        print(f"{info.name}\t{state}")
    return EXIT_OK


def run_watch(args: argparse.Namespace, backend_factory: BackendFactory = pcsc_backend) -> int:
    deadline = None if args.seconds is None else dt.datetime.now(dt.UTC).timestamp() + args.seconds
    seen = 0
    try:
        backend = backend_factory(args.timeout)
        try:
            with backend.events(initial=True) as events:
                while args.count is None or seen < args.count:
                    if deadline is not None and dt.datetime.now(dt.UTC).timestamp() >= deadline:
                        break
                    event = events.get(timeout=_EVENT_POLL_S)
                    if event is None:
                        if events.stopped:
                            break
                        continue
                    seen += 1
                    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    atr = f" {event.atr.hex().upper()}" if event.atr else ""
                    reader = f" {event.reader}" if event.reader else ""
                    print(f"{stamp} {event.kind.value}{reader}{atr}", flush=True)
        finally:
            backend.close()
    except _FAILURES as exc:
        return _fail("watch", exc)
    return EXIT_OK


def run_read(args: argparse.Namespace, backend_factory: BackendFactory = pcsc_backend) -> int:
    psam_mode = args.keys is None
    sam_reader: str | None = args.sam_reader if psam_mode else None
    try:
        if args.terminal_number is not None:
            check_terminal_number(args.terminal_number)
        backend = backend_factory(args.timeout)
        try:
            readers = choose_readers(backend, args.reader, args.sam_reader, psam_mode)
            sam_reader = readers.sam if psam_mode else None
            with (
                security_module(backend, args, readers) as sm,
                _connected(backend, readers.user) as channel,
            ):
                result = SscSession(channel, sm).basic_read()
                terminal = sm.terminal_number
        finally:
            backend.close()
        text = reader_string(result, terminal, args.device_serial)
    except _FAILURES as exc:
        _print_failure(args, exc, sam_reader)
        return _fail("read", exc, sam_reader)
    if args.format == "pipe":
        _write_pipe(text, args.encoding)
    else:
        _write_json(_json_fields(result, readers.user, terminal, args))
    return EXIT_OK


def _json_fields(
    result: BasicRead, reader: str, terminal: str | None, args: argparse.Namespace
) -> dict[str, object]:
    return {
        "reader": reader,
        "generation": result.generation,
        "algorithm": result.algorithm.name,
        "region_code": result.region_code,
        "ssn": result.ssn if args.full_id else result.masked_ssn,
        "card_number": result.card_number,
        "card_id_code": str(result.card_id),
        "name": result.name,
        "reset_info": result.reset_info.hex().upper(),
        "spec_version": result.spec_version,
        "issue_date": result.issue_date.isoformat(),
        "expiry_date": result.expiry_date.isoformat(),
        "terminal_number": terminal,
        "device_serial": args.device_serial,
    }


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except ValueError:  # closed
        return False


def _write_pipe(text: str, encoding: str) -> None:
    tty = _stdout_is_tty()
    if encoding == "auto":
        codec = (sys.stdout.encoding or "utf-8") if tty else ENCODING
    else:
        codec = ENCODING if encoding == "gbk" else "utf-8"
    data = text.encode(codec, errors="replace") + (b"\n" if tty else b"")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _write_json(payload: dict[str, object]) -> None:
    data = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _print_failure(args: argparse.Namespace, exc: BaseException, sam_reader: str | None) -> None:
    code = error_code(exc, sam_reader)
    if args.format == "pipe":
        sys.stdout.write(f"{code}\n" if _stdout_is_tty() else str(code))
        sys.stdout.flush()
    else:
        _write_json({"error": {"code": code, "type": type(exc).__name__}})


# --- PIN -------------------------------------------------------------------------------


class _PinInput:
    """PINs from getpass (never echoed) or, with --pin-stdin, one per line of stdin."""

    def __init__(self, from_stdin: bool) -> None:
        self._from_stdin = from_stdin

    def read(self, prompt: str) -> str:
        if self._from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise PinFormatError("stdin ended before the PIN")
            return line.rstrip("\r\n")
        return getpass.getpass(prompt)

    def new_pin(self) -> str:
        first = self.read("New PIN: ")
        if self.read("New PIN again: ") != first:
            raise PinFormatError("the two new PINs differ")
        return first


def run_pin(args: argparse.Namespace, backend_factory: BackendFactory = pcsc_backend) -> int:
    action: str = args.pin_action
    want_sam = action == "reload" and args.keys is None
    sam_reader: str | None = args.sam_reader if want_sam else None
    pins = _PinInput(args.pin_stdin)
    try:
        backend = backend_factory(args.timeout)
        try:
            readers = choose_readers(backend, args.reader, args.sam_reader, want_sam)
            sam_reader = readers.sam if want_sam else None
            if action == "reload":
                with (
                    security_module(backend, args, readers) as sm,
                    _connected(backend, readers.user) as channel,
                ):
                    session = SscSession(channel, sm)
                    new = pins.new_pin()
                    with channel.transaction():
                        session.internal_authenticate()
                        session.reload_pin(new)
                message = "PIN reloaded: the new PIN is set and its counter reset"
            else:
                with _connected(backend, readers.user) as channel:
                    message = _pin_action(SscSession(channel), action, pins)
        finally:
            backend.close()
    except _FAILURES as exc:
        return _fail(f"pin {action}", exc, sam_reader)
    print(message)
    return EXIT_OK


def _pin_action(session: SscSession, action: str, pins: _PinInput) -> str:
    if action == "verify":
        session.verify_pin(pins.read("PIN: "))
        return "PIN verified"
    if action == "change":
        old = pins.read("Current PIN: ")
        new = pins.new_pin()
        session.change_pin(old, new)
        return "PIN changed"
    status = session.pin_status()
    if status.blocked:
        return "PIN blocked: reload it at a service counter"
    if status.verified:
        return "PIN verified in this session"
    return f"PIN not verified: {status.tries_left} tries left"
