"""A small generic card OS shared by the simulated user card and the PSAM.

What it does for a card application:

- a command table keyed by (CLA, INS) dispatching to handlers; an INS that no
  entry knows answers `6D00`, a known INS under a CLA it does not take `6E00`;
- parsing with `cardsvc.apdu.Command.parse` (a malformed APDU answers the status
  word its ApduFormatError carries, `6700`);
- the T=0 / T=1 response rules of card contract section 2/4:
  * T=0: a command that returns data answers `61xx` and the data waits for
    GET RESPONSE `00 C0 00 00 Le` (wrong Le → `6Cxx`, the data keeps waiting;
    no data waiting → `6985`; P1/P2 other than 00 00 → `6A86`). Any command
    other than GET RESPONSE discards waiting data.
  * Case-2 commands (registered with `case2=True`: READ RECORD, GET CHALLENGE,
    READ BINARY) answer the data directly when Le is right and `6Cxx` when it
    is not; Le `00` (and an absent Le, as a T=0 reader sends P3=00) means 256.
  * T=1: data comes back directly. A case-2 command with Le `00`/absent gets
    whatever is there (Le=00 means "up to 256" on T=1); another wrong Le still
    answers `6Cxx`. GET RESPONSE on T=1 answers `6985` (nothing ever waits).
- two hooks for the application: `_before_command(raw)` runs first for every
  APDU, even one too short to parse (card blocked → `9303`, single-use
  challenge bookkeeping), and `_admit(command)` may refuse a parsed command
  (application blocked → `6985`);
- any exception a handler lets out is caught here, logged, and answered `6F00`:
  nothing ever escapes `transmit`.

`transmit`, `power_on`, `power_off`, `reset` and `state` hold one re-entrant
lock, so a transport thread and a control thread may share a card. `transmit`
does not check power: the transport decides when a card can be reached (a card
that was never powered on answers from its fresh, just-reset state).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cardsvc.apdu import SW, ApduFormatError, Command, Ins, redact

logger = logging.getLogger(__name__)


# "No precise diagnosis": what a handler's internal error answers.
SW_INTERNAL_ERROR = 0x6F00

# The most data one short response may carry.
MAX_RESPONSE_DATA = 256


class TransmissionProtocol(enum.Enum):
    """ISO 7816-3 transmission protocol the simulated card answers with."""

    T0 = "T=0"
    T1 = "T=1"


_SW_BYTES: dict[int, bytes] = {}


def sw_bytes(sw: int) -> bytes:
    """The two status-word bytes (memoised: a card answers the same few SWs all day)."""
    cached = _SW_BYTES.get(sw)
    if cached is None:
        cached = _SW_BYTES[sw] = bytes(((sw >> 8) & 0xFF, sw & 0xFF))
    return cached


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers: data (possibly empty) and a status word."""

    sw: int = SW.OK
    data: bytes = b""


OK = Reply()

Handler = Callable[[Command], Reply]


class CommandKind(enum.Enum):
    PLAIN = "plain"  # data comes back through 61xx / GET RESPONSE on T=0
    CASE2 = "case2"  # data comes back directly; Le must be right (6Cxx)
    GET_RESPONSE = "get_response"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    handler: Handler
    kind: CommandKind = CommandKind.PLAIN


def _no_handler(cmd: Command) -> Reply:  # pragma: no cover - GET RESPONSE is handled inline
    return Reply(SW_INTERNAL_ERROR)


class CardOS:
    """Base class of a simulated card: dispatch, T=0/T=1 rules, locking, error containment.

    Subclasses register their commands with `register`, provide `atr`, and
    override `_before_command`, `_admit` and `_clear_volatile_state` as needed.
    """

    def __init__(self, protocol: TransmissionProtocol) -> None:
        self._protocol = protocol
        self._table: dict[tuple[int, int], CommandSpec] = {}
        self._known_ins: set[int] = set()
        self._lock = threading.RLock()
        self._pending: bytes | None = None
        self._powered = False
        self._table[(0x00, Ins.GET_RESPONSE)] = CommandSpec(_no_handler, CommandKind.GET_RESPONSE)
        self._known_ins.add(Ins.GET_RESPONSE)

    # -- for subclasses -------------------------------------------------------------

    def register(self, cla: int, ins: int, handler: Handler, *, case2: bool = False) -> None:
        """Add a command; `case2` marks one whose data comes back directly (Le checked)."""
        kind = CommandKind.CASE2 if case2 else CommandKind.PLAIN
        self._table[(cla, ins)] = CommandSpec(handler, kind)
        self._known_ins.add(ins)

    def _before_command(self, apdu: bytes) -> int | None:
        """Runs first for every APDU; a status word returned here is the whole answer."""
        return None

    def _admit(self, cmd: Command) -> int | None:
        """May refuse a parsed, known command with a status word."""
        return None

    def _clear_volatile_state(self) -> None:
        """Reset and power-off: forget what a real card keeps in RAM."""

    @property
    def atr(self) -> bytes:
        raise NotImplementedError

    # -- SimulatedCard -----------------------------------------------------------

    @property
    def protocol(self) -> TransmissionProtocol:
        return self._protocol

    def power_on(self) -> bytes:
        with self._lock:
            self._powered = True
            self._pending = None
            self._clear_volatile_state()
            return self.atr

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._pending = None
            self._clear_volatile_state()

    def reset(self) -> bytes:
        with self._lock:
            return self.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU; always returns data || SW1 SW2, never raises."""
        with self._lock:
            raw = bytes(apdu)
            try:
                response = self._transmit(raw)
            except Exception:  # a card never lets an exception out: 6F00 and a log line
                logger.exception("internal error processing %s", redact(raw))
                self._pending = None
                response = sw_bytes(SW_INTERNAL_ERROR)
            return response

    def _os_state(self) -> dict[str, object]:
        """The OS part of `state()`."""
        return {
            "protocol": self._protocol.value,
            "powered": self._powered,
            "response_waiting": 0 if self._pending is None else len(self._pending),
        }

    # -- the dispatcher ----------------------------------------------------------

    def _transmit(self, apdu: bytes) -> bytes:
        pending, self._pending = self._pending, None
        early = self._before_command(apdu)
        if early is not None:
            return sw_bytes(early)
        if len(apdu) < 4:
            return sw_bytes(SW.WRONG_LENGTH)
        spec = self._table.get((apdu[0], apdu[1]))
        if spec is None:
            known = apdu[1] in self._known_ins
            return sw_bytes(SW.CLA_NOT_SUPPORTED if known else SW.INS_NOT_SUPPORTED)
        try:
            cmd = Command.parse(apdu)
        except ApduFormatError as exc:
            return sw_bytes(exc.sw)
        refused = self._admit(cmd)
        if refused is not None:
            return sw_bytes(refused)
        if spec.kind is CommandKind.GET_RESPONSE:
            return self._get_response(cmd, pending)
        return self._finish(spec.kind, cmd, spec.handler(cmd))

    def _get_response(self, cmd: Command, pending: bytes | None) -> bytes:
        if cmd.data:
            return sw_bytes(SW.WRONG_LENGTH)
        if cmd.p1 or cmd.p2:
            return sw_bytes(SW.WRONG_P1P2)
        if pending is None:
            return sw_bytes(SW.CONDITIONS_NOT_SATISFIED)
        want = cmd.le if cmd.le is not None else 256
        if want != len(pending):
            self._pending = pending  # still waiting: the terminal re-sends with the right Le
            return sw_bytes(SW.wrong_le(len(pending)))
        return pending + sw_bytes(SW.OK)

    def _finish(self, kind: CommandKind, cmd: Command, reply: Reply) -> bytes:
        data = reply.data
        if len(data) > MAX_RESPONSE_DATA:
            raise RuntimeError(f"handler returned {len(data)} bytes of data")
        if not data:
            return sw_bytes(reply.sw)
        if kind is CommandKind.CASE2:
            want = cmd.le if cmd.le is not None else 256
            t1_any = self._protocol is TransmissionProtocol.T1 and want == 256
            if want == len(data) or t1_any:
                return data + sw_bytes(reply.sw)
            return sw_bytes(SW.wrong_le(len(data)))
        if self._protocol is TransmissionProtocol.T1 or reply.sw != SW.OK:
            return data + sw_bytes(reply.sw)
        self._pending = data
        return sw_bytes(SW.bytes_waiting(len(data)))
