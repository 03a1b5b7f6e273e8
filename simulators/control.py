"""The control channel of a running simulator: stdin line commands and a local HTTP JSON API.

Both front ends go through one command layer, `SimulatorControl`, which owns
the slots and raises `ControlError` (message, field, HTTP status) for anything
a tester gets wrong. The line front end (`run_line`) turns a line into a call;
the HTTP front end (`ControlServer`, bound to 127.0.0.1 only) turns a request
into a call. Neither shows a traceback for bad input.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Final

from reader_driver.pcscd import vpcd_reader_names
from simulators.base import SimulatedCard
from simulators.errors import SimulatorError
from simulators.faults import FAULT_NAMES, FaultError
from simulators.vpcd import VpcdSlot

logger = logging.getLogger(__name__)

# Loads the card a file describes for slot N (a user card or a PSAM, as the slot holds).
CardLoader = Callable[[int, str], SimulatedCard]

CONTROL_HOST: Final = "127.0.0.1"
_MAX_BODY: Final = 64 * 1024


class ControlError(SimulatorError):
    """A control request that cannot be done; `status` is the HTTP status it maps to."""

    def __init__(
        self, message: str, *, field: str | None = None, status: HTTPStatus = HTTPStatus.BAD_REQUEST
    ) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def to_json(self) -> dict[str, object]:
        return {"error": str(self), "field": self.field}


# --- the command layer -------------------------------------------------------------


def reader_name(slot: int) -> str:
    """The PC/SC reader name of slot k (vpcd entries at PORT, PORT+2, ...; reader_driver.pcscd)."""
    return vpcd_reader_names(slot // 2)[slot % 2]


class SimulatorControl:
    """The slots of one simulator and everything a tester may do to them."""

    def __init__(
        self,
        slots: Sequence[VpcdSlot],
        load_card: CardLoader | None = None,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self._slots = tuple(slots)
        self._load_card = load_card
        self._on_quit = on_quit

    @property
    def slots(self) -> tuple[VpcdSlot, ...]:
        return self._slots

    def slot(self, number: object) -> VpcdSlot:
        """The slot with this number (0-based); ControlError 404 names what exists."""
        index = _slot_number(number)
        if not 0 <= index < len(self._slots):
            last = len(self._slots) - 1
            raise ControlError(
                f"no slot {index}; slots are 0..{last}",
                field="slot",
                status=HTTPStatus.NOT_FOUND,
            )
        return self._slots[index]

    def state(self, number: object) -> dict[str, object]:
        index = _slot_number(number)
        state = self.slot(index).state()
        return {"slot": index, "reader": reader_name(index), **state}

    def list_slots(self) -> list[dict[str, object]]:
        return [self.state(i) for i in range(len(self._slots))]

    def insert(self, number: object) -> dict[str, object]:
        slot = self.slot(number)
        if slot.card is None:
            raise ControlError("the slot has no card; use swap to put one in", field="slot")
        slot.insert()
        return self.state(number)

    def remove(self, number: object) -> dict[str, object]:
        self.slot(number).remove()
        return self.state(number)

    def swap(self, number: object, path: object) -> dict[str, object]:
        slot = self.slot(number)
        if not isinstance(path, str) or not path.strip():
            raise ControlError("give the personalisation file of the new card", field="card")
        if self._load_card is None:
            raise ControlError("this simulator cannot load cards", field="card")
        try:
            card = self._load_card(_slot_number(number), path)
        except OSError as exc:
            raise ControlError(f"cannot read {path}: {exc.strerror or exc}", field="card") from exc
        except SimulatorError as exc:
            field = getattr(exc, "field", None)
            named = getattr(exc, "source", None)  # the error names its file already
            message = str(exc) if named else f"{path}: {exc}"
            raise ControlError(message, field=field or "card") from exc
        slot.swap(card)
        return self.state(number)

    def set_faults(self, number: object, changes: object) -> dict[str, object]:
        """Switch faults of one slot: {"mute": true, "slow_ms": 200, ...}; all or nothing."""
        slot = self.slot(number)
        if not isinstance(changes, Mapping):
            raise ControlError('faults must be a JSON object, e.g. {"mute": true}', field=None)
        if "removed" in changes:
            raise ControlError(
                "'removed' is not a fault switch here: use insert or remove", field="removed"
            )
        settable = [name for name in FAULT_NAMES if name != "removed"]
        for name in changes:
            if name not in settable:
                raise ControlError(
                    f"unknown fault {name!r}; known: {', '.join(settable)}", field=str(name)
                )
        try:
            slot.faults.update({str(k): v for k, v in changes.items()})
        except FaultError as exc:
            raise ControlError(str(exc), field=exc.field) from exc
        return self.state(number)

    def quit(self) -> None:
        if self._on_quit is not None:
            self._on_quit()


def _slot_number(value: object) -> int:
    if isinstance(value, bool):
        raise ControlError(f"slot must be a number, not {value!r}", field="slot")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ControlError(f"slot must be a number like 0, not {value!r}", field="slot")


# --- the line front end (stdin) ---------------------------------------------------------

HELP: Final = """\
commands (slots are numbered from 0, as in `list`):
  help                      this text
  list                      one line per slot
  state N                   the whole state of slot N as JSON
  insert N                  put the card of slot N in
  remove N                  pull the card of slot N out
  swap N FILE               put the card from personalisation FILE into slot N
  fault N mid-remove on|off pull the card after reading the next command
  fault N mute on|off       read commands, never answer
  fault N slow MS|off       wait MS milliseconds before each answer
  fault N corrupt flip|sw|off   flip a byte of each answer / wrong status word
  fault N wrong-atr on|off  answer a different ATR
  fault N clear             every fault off
  quit                      stop the simulator"""

# line name -> faults field
_FAULT_WORDS: Final[dict[str, str]] = {
    "mid-remove": "remove_mid_command",
    "remove-mid-command": "remove_mid_command",
    "remove_mid_command": "remove_mid_command",
    "mute": "mute",
    "slow": "slow_ms",
    "slow_ms": "slow_ms",
    "corrupt": "corrupt",
    "wrong-atr": "wrong_atr",
    "wrong_atr": "wrong_atr",
}
_ON: Final = frozenset({"on", "true", "yes", "1"})
_OFF: Final = frozenset({"off", "false", "no", "0"})


@dataclass(frozen=True, slots=True)
class LineResult:
    """What a line command prints, and whether the simulator should stop."""

    text: str
    quit: bool = False


def _fault_value(word: str, field: str, raw: str) -> object:
    value = raw.lower()
    if field == "slow_ms":
        if value in _OFF:
            return 0
        if value.isdigit():
            return int(value)
        raise ControlError(f"slow takes milliseconds or off, not {raw!r}; e.g. fault 0 slow 200")
    if field == "corrupt":
        return value  # the fault layer names the choices
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ControlError(f"{word} takes on or off, not {raw!r}; e.g. fault 0 {word} on")


def _summary(state: Mapping[str, object]) -> str:
    faults = state.get("faults")
    on: list[str] = []
    if isinstance(faults, Mapping):
        for name, value in faults.items():
            if name == "removed" or value in (False, 0, "off"):
                continue
            on.append(name if value is True else f"{name}={value}")
    card = state.get("card")
    kind = card.get("kind", "card") if isinstance(card, Mapping) else "no card"
    position = "in" if state.get("inserted") else "out"
    link = "connected" if state.get("connected") else "not connected"
    return (
        f"{state['slot']}  {state['reader']!s:<20} {state['address']}  {kind}, {position}, "
        f"{link}, {state['apdus']} APDUs, faults: {', '.join(on) or 'none'}"
    )


def run_line(control: SimulatorControl, line: str) -> LineResult:
    """Do one line command; bad commands give a one-line message with the fix."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return LineResult(f"error: {exc}; type help")
    if not words:
        return LineResult("")
    command, args = words[0].lower(), words[1:]
    try:
        return _dispatch(control, command, args)
    except ControlError as exc:
        return LineResult(f"error: {exc}")


def _need(args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise ControlError(f"usage: {usage}")


def _dispatch(control: SimulatorControl, command: str, args: list[str]) -> LineResult:
    if command in ("help", "?"):
        return LineResult(HELP)
    if command in ("quit", "exit"):
        control.quit()
        return LineResult("stopping", quit=True)
    if command == "list":
        _need(args, 0, "list")
        return LineResult("\n".join(_summary(s) for s in control.list_slots()) or "no slots")
    if command == "state":
        _need(args, 1, "state N")
        return LineResult(json.dumps(control.state(args[0]), indent=2))
    if command == "insert":
        _need(args, 1, "insert N")
        return LineResult(_summary(control.insert(args[0])))
    if command == "remove":
        _need(args, 1, "remove N")
        return LineResult(_summary(control.remove(args[0])))
    if command == "swap":
        _need(args, 2, "swap N FILE")
        return LineResult(_summary(control.swap(args[0], args[1])))
    if command == "fault":
        return _fault_command(control, args)
    return LineResult(f"error: unknown command {command!r}; type help for the commands")


def _fault_command(control: SimulatorControl, args: list[str]) -> LineResult:
    usage = "fault N NAME on|off|VALUE (names: mid-remove, mute, slow, corrupt, wrong-atr)"
    if len(args) == 2 and args[1].lower() == "clear":
        slot = control.slot(args[0])
        slot.faults.clear()
        return LineResult(_summary(control.state(args[0])))
    if len(args) != 3:
        raise ControlError(f"usage: {usage}")
    number, word, raw = args[0], args[1].lower(), args[2]
    control.slot(number)  # a missing slot is reported before a bad fault name
    if word in ("removed", "remove"):
        raise ControlError(
            f"the card position is not a fault: use insert {number} or remove {number}"
        )
    field = _FAULT_WORDS.get(word)
    if field is None:
        raise ControlError(f"unknown fault {word!r}; {usage}")
    return LineResult(_summary(control.set_faults(number, {field: _fault_value(word, field, raw)})))


def run_lines(
    control: SimulatorControl,
    lines: Iterable[str],
    out: IO[str],
    stop: threading.Event | None = None,
) -> bool:
    """Feed lines (e.g. stdin) to `run_line` until `quit`, EOF or `stop`; True on quit."""
    for line in lines:
        if stop is not None and stop.is_set():
            return False
        result = run_line(control, line)
        if result.text:
            print(result.text, file=out, flush=True)
        if result.quit:
            return True
    return False


# --- the HTTP front end -------------------------------------------------------------


def _route(control: SimulatorControl, method: str, path: str, body: object) -> object:
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts or parts[0] != "slots" or len(parts) > 3:
        raise ControlError(
            f"no such resource {path!r}; try GET /slots", field=None, status=HTTPStatus.NOT_FOUND
        )
    if len(parts) == 1:
        _method(method, "GET", path)
        return {"slots": control.list_slots()}
    number = parts[1]
    if len(parts) == 2:
        _method(method, "GET", path)
        return control.state(number)
    action = parts[2]
    _method(method, "POST", path)
    if action == "insert":
        return control.insert(number)
    if action == "remove":
        return control.remove(number)
    if action == "swap":
        if not isinstance(body, Mapping):
            raise ControlError('body must be a JSON object: {"card": "PATH"}', field="card")
        return control.swap(number, body.get("card"))
    if action == "faults":
        return control.set_faults(number, body)
    raise ControlError(
        f"no action {action!r}; actions: insert, remove, swap, faults",
        field=None,
        status=HTTPStatus.NOT_FOUND,
    )


def _method(method: str, allowed: str, path: str) -> None:
    if method != allowed:
        raise ControlError(
            f"{method} is not allowed on {path}; use {allowed}",
            status=HTTPStatus.METHOD_NOT_ALLOWED,
        )


def _handler_class(control: SimulatorControl) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "cardsvc-sim"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            try:
                body = self._body() if method in ("POST", "PUT") else None
                result = _route(control, method, self.path, body)
            except ControlError as exc:
                self._reply(exc.status, exc.to_json())
                return
            self._reply(HTTPStatus.OK, result)

        def _body(self) -> object:
            length_text = self.headers.get("Content-Length", "0") or "0"
            if not length_text.isdigit():
                raise ControlError("Content-Length is not a number", field=None)
            length = int(length_text)
            if length > _MAX_BODY:
                raise ControlError(
                    f"body larger than {_MAX_BODY} bytes",
                    status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                )
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return {}
            try:
                return json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ControlError(f"body is not valid JSON: {exc}", field=None) from exc

        def _reply(self, status: HTTPStatus, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("control %s: " + format, self.address_string(), *args)

    return Handler


class ControlServer:
    """The HTTP JSON endpoint on 127.0.0.1 (port 0 picks a free one), on its own thread."""

    def __init__(self, control: SimulatorControl, port: int = 0) -> None:
        self._control = control
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise ControlError("the control server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{CONTROL_HOST}:{self.port}"

    def start(self) -> int:
        """Bind and serve; returns the port."""
        server = ThreadingHTTPServer(
            (CONTROL_HOST, self._requested_port), _handler_class(self._control)
        )
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-control-http"
        )
        self._thread.start()
        logger.info("control endpoint on %s", self.url)
        return self.port

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(1.0)
        self._server = None
        self._thread = None
