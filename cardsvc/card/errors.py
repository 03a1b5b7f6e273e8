"""Errors of the terminal's card session (root: `CardError`).

Each error carries its data (status word, tries left, field). Transport
failures (card pulled, no reader, mute card...) are not translated here: they
come from the connection as the transport raised them (for reader_driver:
`reader_driver.errors.ReaderError` and its family) and pass through unchanged.
"""

from __future__ import annotations

from cardsvc.apdu import sw_text
from cardsvc.crypto import KeyId
from cardsvc.errors import CardsvcError


class CardError(CardsvcError):
    """Root of every error cardsvc.card raises on purpose."""


class CardStatusError(CardError):
    """The card answered a status word the session cannot work with."""

    def __init__(self, sw: int, command: str = "", message: str | None = None) -> None:
        self.sw = sw
        self.command = command
        where = f"{command}: " if command else ""
        super().__init__(message or f"{where}card answered {sw:04X} ({sw_text(sw)})")


class InvalidPin(CardError):  # noqa: N818 - the name yubikit-style callers expect
    """The PIN was wrong; `tries_left` more wrong PINs are allowed before it blocks."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(f"wrong PIN: {tries_left} tries left")


class PinBlocked(CardError):  # noqa: N818
    """The PIN is blocked (no tries left): only RELOAD PIN at a counter unblocks it."""

    def __init__(self, message: str = "the PIN is blocked (no tries left)") -> None:
        super().__init__(message)


class PinFormatError(CardError, ValueError):
    """A PIN that is not 4 to 12 digits (the message never shows it)."""


class ApplicationBlocked(CardStatusError):  # noqa: N818
    """The social security application is blocked (6283 on SELECT, 6985 afterwards).

    EF05 can still be read to identify the card.
    """

    def __init__(self, sw: int = 0x6283, command: str = "") -> None:
        super().__init__(sw, command, "the card's social security application is blocked")


class CardPermanentlyBlocked(CardStatusError):  # noqa: N818
    """The card was blocked for good (9303 to every command)."""

    def __init__(self, command: str = "") -> None:
        super().__init__(0x9303, command, "the card is permanently blocked")


class ForgedCard(CardError):  # noqa: N818
    """INTERNAL AUTHENTICATE failed: the card is forged or belongs to other masters."""

    def __init__(self, message: str = "internal authentication failed") -> None:
        super().__init__(message)


class ExternalAuthFailed(CardStatusError):  # noqa: N818
    """EXTERNAL AUTHENTICATE refused: wrong cryptogram (`tries_left`) or the key is blocked."""

    def __init__(self, kid: KeyId | int, sw: int) -> None:
        self.kid = kid
        blocked = sw == 0x6983
        self.tries_left: int | None = None if blocked else sw & 0x0F
        name = kid.name if isinstance(kid, KeyId) else f"{kid:02X}"
        what = "is blocked" if blocked else f"refused the cryptogram ({self.tries_left} tries left)"
        super().__init__(sw, "EXTERNAL AUTHENTICATE", f"external authentication key {name} {what}")


class WrongCardType(CardError):  # noqa: N818
    """The card is not a social security card (no SSSE application, or an unknown format)."""


class CardFormatError(CardError):
    """Card data that does not follow the contract; names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class NoSecurityModule(CardError):  # noqa: N818
    """The operation needs a security module (PSAM or key service) and none is usable."""

    def __init__(self, message: str = "no security module (PSAM or key service)") -> None:
        super().__init__(message)


class SecurityModuleError(CardError):
    """The security module refused an operation (a PSAM status word, a missing key)."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(message)


class HotlistedCard(CardError):  # noqa: N818
    """The hotlist says the card is lost or cancelled: it was blocked, no service."""

    def __init__(self, card_number: str) -> None:
        self.card_number = card_number
        super().__init__(f"card {card_number} is on the hotlist: application blocked")
