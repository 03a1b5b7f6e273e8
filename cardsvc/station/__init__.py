"""The station core: the card reader, an optional PSAM, and the API, for one station.

`Station` follows reader events, presents each inserted card to the API as the
station's device (authenticated read, hotlist decision), runs PIN commands on the
card and opens card sessions for callers; `StationConfig` says where and who.
No HTTP server here (that is cardsvc.agent). Importing it has no side effects.
"""

from cardsvc.station.errors import (
    ApiRefused,
    ApiUnavailable,
    CardFailure,
    CardNotServed,
    InvalidPinFormat,
    NoCardPresent,
    PinBlockedError,
    StationError,
    UnknownCard,
    WrongPin,
)
from cardsvc.station.model import StationEvent
from cardsvc.station.station import Station, StationConfig

__all__ = [
    "ApiRefused",
    "ApiUnavailable",
    "CardFailure",
    "CardNotServed",
    "InvalidPinFormat",
    "NoCardPresent",
    "PinBlockedError",
    "Station",
    "StationConfig",
    "StationError",
    "StationEvent",
    "UnknownCard",
    "WrongPin",
]
