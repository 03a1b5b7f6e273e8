"""The terminal side of the social security card (card contract sections 3, 4, 6, 8, 9).

- `session.SscSession`: one session with the card's SSSE application;
- `security`: the `SecurityModule` port, `PsamSecurityModule`, `KeyServiceSecurityModule`;
- `records`: decoders of EF05 / EF06 into frozen values (`BasicInfo`, `IssuerInfo`);
- `reader_string`: the standard reader-interface string and its error codes;
- `transport.CardTransport`: the connection this package needs (reader_driver provides it);
- `errors`: `CardError` and its family.

Importing this package imports nothing from reader_driver or pyscard.
"""

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
from cardsvc.card.records import BasicInfo, Cardholder, CardIdCode, IssuerInfo, Sex
from cardsvc.card.security import (
    Diversification,
    KeyServiceSecurityModule,
    PsamSecurityModule,
    SecurityModule,
)
from cardsvc.card.session import BasicRead, Df, DfRecord, PinStatus, SscSession
from cardsvc.card.transport import CardTransport

__all__ = [
    "ApplicationBlocked",
    "BasicInfo",
    "BasicRead",
    "CardError",
    "CardFormatError",
    "CardIdCode",
    "CardPermanentlyBlocked",
    "CardStatusError",
    "CardTransport",
    "Cardholder",
    "Df",
    "DfRecord",
    "Diversification",
    "ExternalAuthFailed",
    "ForgedCard",
    "HotlistedCard",
    "InvalidPin",
    "IssuerInfo",
    "KeyServiceSecurityModule",
    "NoSecurityModule",
    "PinBlocked",
    "PinFormatError",
    "PinStatus",
    "PsamSecurityModule",
    "SecurityModule",
    "SecurityModuleError",
    "Sex",
    "SscSession",
    "WrongCardType",
]
