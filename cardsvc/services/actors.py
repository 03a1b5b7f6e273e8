"""Who is calling a service, and the verified card session a call may act inside.

The API layer (a later task) authenticates operators and devices and builds these
values; the services trust them as given (they do not re-read the operator row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cardsvc.db.models import Channel, DeviceKind, Role

if TYPE_CHECKING:
    from cardsvc.services.person_records import CardAndHolder


@dataclass(frozen=True, slots=True)
class OperatorActor:
    """An operator logged in at a counter of `site_code`."""

    operator_id: int
    username: str
    site_code: str
    roles: frozenset[Role]

    @property
    def channel(self) -> Channel:
        return Channel.COUNTER

    def has(self, role: Role) -> bool:
        return role in self.roles

    def __str__(self) -> str:
        return f"operator {self.username} ({self.operator_id}) at site {self.site_code}"


@dataclass(frozen=True, slots=True)
class DeviceActor:
    """A registered terminal of `site_code`: a self-service kiosk or a counter terminal.

    A counter terminal does no business on its own: items at a counter are done by
    the operator logged in there (an :class:`OperatorActor`).
    """

    device_id: int
    site_code: str
    kind: DeviceKind

    @property
    def channel(self) -> Channel:
        return Channel.KIOSK if self.kind is DeviceKind.KIOSK else Channel.COUNTER

    def __str__(self) -> str:
        return f"{self.kind.value} device {self.device_id} at site {self.site_code}"


Actor = OperatorActor | DeviceActor
"""Whoever calls a service."""


@dataclass(frozen=True, slots=True)
class CardPresence:
    """A card that authenticated in the caller's reader, for one person.

    `pin_verified` is True when the holder also presented the right PIN in this
    session (kiosks need it; at a counter the clerk checks the ID document).
    The PIN itself never reaches the services.
    """

    card_number: str
    person_id: int
    pin_verified: bool
    read: CardAndHolder | None = field(default=None, compare=False, repr=False)
    """The card's state and its holder's values, when they were read with the card
    session in this request (the API's bearer lookup does): an enquiry then uses them
    instead of reading them again. None: the item reads them itself."""


Subject = str | CardPresence
"""Whom an item is for: the person's SSN (typed by a clerk) or a card session."""
