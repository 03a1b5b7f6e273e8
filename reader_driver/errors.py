"""The root of every error the reader_driver package raises on purpose."""

from __future__ import annotations


class ReaderError(Exception):
    """Base class for reader_driver errors; catch this at entry points."""


class PcscdError(ReaderError):
    """pcscd cannot be used: missing, in the way, or failing to start or stop.

    The message says what to do about it.
    """


# --- transport errors (reader_driver.pcsc, reader_driver.inprocess, the processors) ---
# The names follow the reader layer's public vocabulary (NoCard, CardRemoved, ...), so
# they do not end in "Error".


class TransportError(ReaderError):
    """Talking to a reader or a card failed.

    `reader` names the reader when there is one; `code` is the PC/SC result code
    (an SCARD_* value) when the failure came from PC/SC.
    """

    def __init__(self, message: str, *, reader: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.reader = reader
        self.code = code


class PcscdUnavailable(TransportError):  # noqa: N818
    """pcscd does not answer (not running, stopped or restarted); the message says what to do."""


class NoReader(TransportError):  # noqa: N818
    """No reader of that name (or no reader at all)."""


class NoCard(TransportError):  # noqa: N818
    """The reader has no card."""


class CardRemoved(TransportError):  # noqa: N818
    """The card was pulled out (or swapped) while connected; connect again for the next card."""


class CardReset(TransportError):  # noqa: N818
    """Another program reset the card: its security state is gone; connect again."""


class CardUnresponsive(TransportError):  # noqa: N818
    """A card is in the reader but does not answer the reset (mute, unpowered, unsupported)."""


class ReaderTimeout(TransportError):  # noqa: N818
    """No answer within `timeout` seconds (a mute card); the connection is abandoned."""

    def __init__(
        self,
        message: str,
        *,
        timeout: float,
        reader: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, reader=reader, code=code)
        self.timeout = timeout


class ReaderBusy(TransportError):  # noqa: N818
    """Another program (or connection) holds the card: exclusive transaction or connection."""


class ConnectionClosed(TransportError):  # noqa: N818
    """The connection was disconnected or abandoned (after a timeout or a lost card)."""


class InvalidApdu(TransportError, ValueError):  # noqa: N818
    """A command APDU the transport refuses to send (wrong length); says what is wrong."""
