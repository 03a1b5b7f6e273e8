"""The transport a card session needs (a port), and one exchange over it.

`CardTransport` is what cardsvc.card declares; reader_driver's connections
(`InProcessConnection`, `PcscConnection`) and its `CardChannel` satisfy it.
Transport failures (card pulled, no reader, mute card) are the transport's own
exceptions and pass through the session unchanged.

`exchange` sends one command and returns the whole response: it fetches
`61xx` with GET RESPONSE and re-sends after `6Cxx` itself, so a session works
over a raw T=0 connection as well as over a `CardChannel` (which already does
it: then the session never sees 61xx / 6Cxx and adds nothing). `send` is the
same inside a transaction the caller already holds (no nested one: the hot
path of a session, whose every operation holds one).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Final, Protocol

from cardsvc.apdu import SW, ApduFormatError, Command, Ins, split_response
from cardsvc.card.errors import CardFormatError

# A card that keeps answering 61xx is broken: stop after this many GET RESPONSEs.
MAX_GET_RESPONSES: Final = 16


class CardTransport(Protocol):
    """A connection to one card.

    - `atr`: the card's answer to reset;
    - `transmit(apdu)`: one command APDU → the response APDU (data ‖ SW1 SW2);
      raises the transport's own errors when the card or reader fails;
    - `transaction()`: holds the card exclusively for a multi-command sequence
      (no other connection can send anything in between); nests.
    """

    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def transaction(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class Response:
    """A whole response: data and status word."""

    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK


def _split(raw: bytes) -> Response:
    try:
        data, sw = split_response(raw)
    except ApduFormatError:
        raise CardFormatError("response", f"{len(raw)} bytes, no status word") from None
    return Response(data, sw)


def _with_le(apdu: bytes, le: int) -> bytes | None:
    try:
        return replace(Command.parse(apdu), le=le).to_bytes()
    except ApduFormatError:
        return None


def _send(transport: CardTransport, apdu: bytes) -> Response:
    """One command, re-sent once with the Le a `6Cxx` names."""
    response = _split(transport.transmit(apdu))
    if response.sw >> 8 == 0x6C:
        fixed = _with_le(apdu, response.sw & 0xFF or 256)
        if fixed is not None and fixed != apdu:
            response = _split(transport.transmit(fixed))
    return response


def send(transport: CardTransport, apdu: bytes) -> Response:
    """`exchange` of a ready APDU, for a caller that holds the transport's transaction."""
    return finish(transport, apdu, transport.transmit(apdu))


def finish(transport: CardTransport, apdu: bytes, raw: bytes) -> Response:
    """The whole response to `apdu`, whose first answer was `raw` (inside the transaction)."""
    if len(raw) >= 2 and raw[-2] not in (0x61, 0x6C):  # the usual answer: nothing to fetch
        return Response(raw[:-2], (raw[-2] << 8) | raw[-1])
    return _complete(transport, apdu, _split(raw))


def _complete(transport: CardTransport, apdu: bytes, response: Response) -> Response:
    """The rest of an exchange whose first answer is `response` (6Cxx re-sent, 61xx fetched)."""
    if response.sw >> 8 == 0x6C:
        fixed = _with_le(apdu, response.sw & 0xFF or 256)
        if fixed is not None and fixed != apdu:
            response = _split(transport.transmit(fixed))
    if response.sw >> 8 != 0x61:
        return response
    data = bytearray(response.data)
    for _ in range(MAX_GET_RESPONSES):
        get_response = bytes((0x00, Ins.GET_RESPONSE, 0x00, 0x00, response.sw & 0xFF))
        response = _send(transport, get_response)
        data += response.data
        if response.sw >> 8 != 0x61:
            return Response(bytes(data), response.sw)
    raise CardFormatError(
        "response", f"the card answered 61xx to {MAX_GET_RESPONSES} GET RESPONSEs in a row"
    )


def exchange(transport: CardTransport, command: Command | bytes) -> Response:
    """Send one command; the whole response (61xx fetched, 6Cxx re-sent), in a transaction."""
    apdu = command.to_bytes() if isinstance(command, Command) else command
    with transport.transaction():
        return send(transport, apdu)
